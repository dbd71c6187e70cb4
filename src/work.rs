//! The worker pool: work that can take more than microseconds (compressing
//! a file version, checking a password) never runs on an event loop. TLS
//! handshakes have a pool of their own, of the same kind.
//!
//! A driver hands the pool a job (a closure); one of a few threads runs it,
//! and the job delivers its own result back to whoever asked: for an event
//! loop, into the loop's [`Mailbox`] and then a `mio::Waker`, so the loop
//! wakes and takes it; for the threaded driver, straight into the state
//! its threads share. Nothing here knows what a job does.
//!
//! Bounded: at most [`MAX_QUEUED`] jobs wait; past that, `spawn` refuses
//! and the caller carries on without the result (it asks again later).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

/// Jobs waiting at most. Each is one file version to compress: far more
/// than a site has files changing at once.
pub(crate) const MAX_QUEUED: usize = 1024;

/// Work for the pool.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// The pool; clones share it. The threads end when the last clone is
/// dropped (after the jobs already queued).
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
    _threads: Arc<Threads>,
}

/// Closes the queue when the last pool handle goes.
struct Threads(Arc<Inner>);

impl Drop for Threads {
    fn drop(&mut self) {
        crate::unpoison(self.0.queue.lock()).closed = true;
        self.0.ready.notify_all();
    }
}

impl Pool {
    /// A pool of `threads` threads (at least one).
    pub(crate) fn new(threads: usize) -> std::io::Result<Pool> {
        let inner = Arc::new(Inner {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        });
        for i in 0..threads.max(1) {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name(format!("skiff-work-{i}"))
                .spawn(move || work(&inner))?;
        }
        Ok(Pool {
            _threads: Arc::new(Threads(inner.clone())),
            inner,
        })
    }

    /// Queues `job`; false (and the job dropped) when the queue is full.
    pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.try_spawn(job).is_ok()
    }

    /// Queues `job`, or hands it back when the queue is full (for a job
    /// that owns something the caller must not lose: it can run it).
    pub(crate) fn try_spawn<F: FnOnce() + Send + 'static>(&self, job: F) -> Result<(), F> {
        let mut q = crate::unpoison(self.inner.queue.lock());
        if q.jobs.len() >= MAX_QUEUED || q.closed {
            return Err(job);
        }
        q.jobs.push_back(Box::new(job));
        drop(q);
        self.inner.ready.notify_one();
        Ok(())
    }
}

fn work(inner: &Inner) {
    loop {
        let job = {
            let mut q = crate::unpoison(inner.queue.lock());
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.closed {
                    return;
                }
                q = crate::unpoison(inner.ready.wait(q));
            }
        };
        job();
    }
}

/// How a connection has work done off its driver's thread, and is driven
/// again when it is done: an event loop queues the job on the pool and
/// posts the connection's token to its mailbox afterwards; the threaded
/// driver's connection thread waits for it ([`Waited`]).
pub(crate) trait Offload {
    /// Runs `job` off the loop; the job is handed back when the pool's
    /// queue is full.
    fn spawn(&mut self, job: Job) -> Result<(), Job>;
}

/// The threaded driver's [`Offload`]: the job runs on the pool (whose
/// threads have full-sized stacks, unlike a connection's) while the
/// connection's own thread waits for it; in place without a pool.
pub(crate) struct Waited(pub(crate) Option<Pool>);

impl Offload for Waited {
    fn spawn(&mut self, job: Job) -> Result<(), Job> {
        let Some(pool) = &self.0 else {
            job();
            return Ok(());
        };
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        let mut run: Job = Box::new(move || {
            job();
            let _ = done.send(());
        });
        // A full queue is waited out here (for ten seconds at most): this
        // thread is the connection's own, and asking again at once would
        // spin.
        for _ in 0..10_000 {
            match pool.try_spawn(run) {
                Ok(()) => {
                    let _ = wait.recv();
                    return Ok(());
                }
                Err(back) => {
                    run = back;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
        Err(run)
    }
}

/// Results waiting for an event loop, and how to wake it.
pub(crate) struct Mailbox<T> {
    items: Mutex<Vec<T>>,
    waker: mio::Waker,
}

impl<T> Mailbox<T> {
    pub(crate) fn new(waker: mio::Waker) -> Mailbox<T> {
        Mailbox {
            items: Mutex::new(Vec::new()),
            waker,
        }
    }

    /// Delivers `item` and wakes the loop.
    pub(crate) fn post(&self, item: T) {
        crate::unpoison(self.items.lock()).push(item);
        let _ = self.waker.wake();
    }

    /// Everything delivered so far.
    pub(crate) fn take(&self) -> Vec<T> {
        std::mem::take(&mut *crate::unpoison(self.items.lock()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_off_the_calling_thread_and_deliver_back() {
        let pool = Pool::new(2).unwrap();
        let (tx, rx) = mpsc::channel();
        let caller = std::thread::current().id();
        for i in 0..10 {
            let tx = tx.clone();
            assert!(pool.spawn(move || {
                tx.send((i, std::thread::current().id())).unwrap();
            }));
        }
        let mut got: Vec<_> = (0..10)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap())
            .collect();
        assert!(got.iter().all(|(_, t)| *t != caller));
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(
            got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_queue_is_bounded() {
        let pool = Pool::new(1).unwrap();
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        // Occupy the only thread until the test lets go.
        assert!(pool.spawn(move || {
            started_tx.send(()).unwrap();
            let _ = hold_rx.recv();
        }));
        started_rx.recv().unwrap();
        for _ in 0..MAX_QUEUED {
            assert!(pool.spawn(|| {}));
        }
        assert!(!pool.spawn(|| {}), "full");
        drop(hold_tx);
    }

    #[test]
    fn a_mailbox_wakes_its_poll() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(7)).unwrap();
        let mailbox = Arc::new(Mailbox::new(waker));
        let pool = Pool::new(1).unwrap();
        let m = mailbox.clone();
        assert!(pool.spawn(move || m.post(42)));
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(std::time::Duration::from_secs(10)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == mio::Token(7)));
        assert_eq!(mailbox.take(), [42]);
        assert!(mailbox.take().is_empty());
    }
}
