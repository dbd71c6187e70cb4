//! One client connection as a state machine, driven by either I/O driver.
//!
//! A [`Conn`] owns what a connection has received and not yet answered
//! ([`Input`]) and what it has answered and not yet sent ([`Output`]). The
//! driver hands it a [`Transport`] (a non-blocking mio socket, or a blocking
//! std socket with read timeouts) and calls [`Conn::drive`]; `drive` runs
//! the cycle
//!
//! ```text
//!   answer buffered requests -> send -> read more -> answer ...
//! ```
//!
//! until the socket would block (`Next::Wait`), its fair share of work for
//! this turn is used up (`Next::Yield`) or the connection is over
//! (`Next::Close`). Because it always reads and writes until `WouldBlock`
//! before returning `Wait`, it is correct under edge-triggered readiness.
//!
//! Rules it keeps:
//! - Responses go out in request order; a pipelined request is answered
//!   from the buffer without waiting for another readiness event.
//! - Nothing more is read while a response is unsent (backpressure), and
//!   nothing more is answered while a file body is streaming (it must be
//!   the last thing in the output).
//! - A file body is sent in chunks of at most [`CHUNK`]; small bodies are
//!   copied whole into the output so pipelined replies leave in one write.
//! - The connection's single deadline ([`Conn::deadline`]) depends on what
//!   it is doing: idle, reading a head, sending, or lingering after the
//!   last response. The driver arms one timer for it and calls
//!   [`Conn::on_timeout`] when it fires.
//!
//! It never touches mio, never sleeps and never panics on client input.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::files::body::FileStream;
use crate::http::date::Clock;
use crate::http::request::{self, HeadError, MAX_HEAD, Method, first_line};
use crate::http::response::{Fields, Persist, Status, write_head};
use crate::log::{Entry, LogSink, Said};
use crate::respond::{Body, Reply, respond};

/// Bytes of a file read per chunk, and the largest body copied whole into
/// the output buffer. 64 KiB matches a typical socket send buffer burst.
pub const CHUNK: usize = 64 * 1024;
/// Requests answered per `drive` call before yielding to other
/// connections, so a deep pipeline cannot starve them.
pub const REQUESTS_PER_TURN: u32 = 64;
/// Bytes written per `drive` call before yielding to other connections,
/// so one fast download cannot starve them.
pub const WRITE_BUDGET: usize = 1024 * 1024;
/// Unsent output beyond which no further pipelined request is answered
/// until the client reads.
pub const OUTPUT_SOFT_LIMIT: usize = 64 * 1024;
/// Largest file body copied into the output buffer when sendfile could
/// send it: above it, sendfile's copy-free path is cheaper than a copy.
pub const INLINE_MAX: usize = 16 * 1024;
/// Smallest in-memory body sent by reference (`writev`) rather than copied
/// into the output buffer: below it, a copy is cheaper than an extra slice.
pub const SHARE_MIN: usize = 1024;
/// Most slices handed to one `writev`.
const MAX_IOV: usize = 32;
/// Largest request body read and thrown away to keep a connection alive;
/// a larger one is answered and the connection closed unread.
pub const MAX_DISCARD: u64 = 1024 * 1024;
/// After the last response: how long to wait for the client to close before
/// closing anyway, and how much of its remaining input to read and drop.
/// Closing with unread input would send a RST that can destroy the response
/// in flight, so the server half-closes and drains first.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
pub const LINGER_MAX_BYTES: usize = 256 * 1024;
/// First allocation of the receive buffer; it doubles up to the head limit.
const INPUT_INITIAL: usize = 4096;
/// The receive buffer never grows past this: one byte more than the largest
/// valid head, so an over-limit head is always seen as one.
pub const INPUT_MAX: usize = MAX_HEAD + 1;

/// A byte stream the connection can be driven over.
pub trait Transport: Read + Write {
    /// Whether reads and writes block (so the clock must be read again
    /// after them). False for the event loop's non-blocking sockets.
    const BLOCKING: bool = false;

    /// Half-closes the sending side (FIN after the queued bytes).
    fn shutdown_write(&mut self);

    /// Writes bytes that file data will follow at once, so the system may
    /// send them in the same segments (`MSG_MORE`).
    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write(buf)
    }

    /// Called before every read or write with the connection's deadline
    /// (before reads only when `BLOCKING`, so the event loop does not even
    /// compute the arguments). A non-blocking transport ignores it (the
    /// default). A blocking one
    /// bounds the coming call by it, refreshing `clock`, and answers
    /// `TimedOut` once it has passed, so a slow trickle of bytes cannot
    /// stretch a timeout.
    fn arm(&mut self, deadline: Instant, clock: &Clock, dir: Direction) -> io::Result<()> {
        let _ = (deadline, clock, dir);
        Ok(())
    }

    /// Sends `count` bytes of `file` from `offset` without copying them
    /// through user space. `Unsupported` (the default) makes the caller read
    /// the file into its buffer instead. `Ok(0)`: the file ends early.
    fn send_file(&mut self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize> {
        let _ = (file, offset, count);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Which way a blocking call goes (see [`Transport::arm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Reading the rest of a request (or a body being discarded).
    Read,
    /// Reading while idle between requests: nothing is lost if the
    /// connection is closed now.
    Idle,
    Write,
}

/// Implements [`Transport`] for a TCP socket type with `shutdown` and a raw
/// descriptor: `socket_transport!(T)` for a non-blocking one (the mio
/// driver applies it to mio's, so this module never names mio),
/// `socket_transport!(blocking T)` for one with read and write timeouts.
macro_rules! socket_transport {
    (blocking $socket:ty) => {
        $crate::conn::socket_transport!(@impl $socket, {
            const BLOCKING: bool = true;

            fn arm(
                &mut self,
                deadline: std::time::Instant,
                clock: &$crate::http::date::Clock,
                dir: $crate::conn::Direction,
            ) -> std::io::Result<()> {
                clock.refresh();
                let left = deadline.saturating_duration_since(clock.now());
                if left.is_zero() {
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
                match dir {
                    $crate::conn::Direction::Write => self.set_write_timeout(Some(left)),
                    _ => self.set_read_timeout(Some(left)),
                }
            }
        });
    };
    ($socket:ty) => {
        $crate::conn::socket_transport!(@impl $socket, {});
    };
    (@impl $socket:ty, { $($arm:tt)* }) => {
        impl $crate::conn::Transport for $socket {
            $($arm)*

            fn shutdown_write(&mut self) {
                let _ = self.shutdown(std::net::Shutdown::Write);
            }

            fn write_more(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                $crate::sys::send_more(self, buf)
            }

            fn send_file(
                &mut self,
                file: &std::fs::File,
                offset: u64,
                count: usize,
            ) -> std::io::Result<usize> {
                $crate::sys::sendfile(self, file, offset, count)
            }
        }
    };
}
pub(crate) use socket_transport;

socket_transport!(blocking std::net::TcpStream);

/// What the driver should do after `drive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Blocked on the socket: wait for readiness (or the deadline).
    Wait,
    /// Work remains but the turn is used up: drive again soon.
    Yield,
    /// Close the connection now.
    Close,
}

/// What a driver lends a connection for one call.
pub struct Cx<'a> {
    pub config: &'a Config,
    pub clock: &'a Clock,
    pub log: Option<&'a mut dyn LogSink>,
    /// The server is stopping: every response is the last on its connection.
    pub draining: bool,
    /// The same, read live: a blocking driver's stop flag, which can be set
    /// while a call is under way.
    pub stop_flag: Option<&'a std::sync::atomic::AtomicBool>,
    /// Where files are found (the driver's cache), or `None` to resolve
    /// every request afresh.
    pub files: Option<&'a mut dyn crate::files::cache::FileSource>,
    /// The driver's buffer pool, if it keeps one.
    pub pool: Option<&'a mut BufPool>,
    /// The peer of the connection being driven (set by `Conn`).
    pub peer: Option<SocketAddr>,
    /// Where requests are counted per path, if anywhere.
    pub counts: Option<&'a std::sync::Mutex<crate::counts::Tally>>,
}

impl<'a> Cx<'a> {
    pub fn new(config: &'a Config, clock: &'a Clock, log: Option<&'a mut dyn LogSink>) -> Cx<'a> {
        Cx {
            config,
            clock,
            log,
            draining: false,
            stop_flag: None,
            files: None,
            pool: None,
            peer: None,
            counts: None,
        }
    }
}

/// Bytes received and not yet consumed.
#[derive(Debug, Default)]
struct Input {
    /// Allocated storage; `buf[start..end]` is unconsumed input.
    /// INVARIANT: start <= end <= buf.len() <= INPUT_MAX
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Request-body bytes still to read and drop before the next head.
    skip: u64,
    /// The peer has sent FIN.
    eof: bool,
}

impl Input {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn is_full(&self) -> bool {
        self.end - self.start >= INPUT_MAX
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops buffered request-body bytes. True when the body is done.
    fn discard(&mut self) -> bool {
        let n = self.skip.min((self.end - self.start) as u64);
        self.consume(n as usize);
        self.skip -= n;
        self.skip == 0
    }

    fn read_from<R: Read>(&mut self, r: &mut R, pool: Option<&mut BufPool>) -> io::Result<usize> {
        if self.buf.is_empty() {
            if let Some(pool) = pool {
                self.buf = pool.take_input();
            }
        }
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).clamp(INPUT_INITIAL, INPUT_MAX);
            if grown == self.buf.len() {
                return Err(io::Error::other("receive buffer full"));
            }
            self.buf.resize(grown, 0);
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Frees the buffer while nothing is in it (idle connections cost no
    /// buffer memory).
    fn release(&mut self, pool: Option<&mut BufPool>) {
        if self.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            if let Some(pool) = pool {
                pool.give_input(buf);
            }
            self.start = 0;
            self.end = 0;
        }
    }
}

/// Buffers a driver keeps for reuse, so a busy keep-alive connection that
/// is briefly idle between requests does not free and allocate (and zero)
/// its buffers every time. Bounded: idle connections hold no buffer and
/// the pool holds at most [`POOL_MAX`] of each kind.
#[derive(Debug, Default)]
pub struct BufPool {
    input: Vec<Vec<u8>>,
    output: Vec<Vec<u8>>,
    // The boxes themselves are what is reused: a connection that becomes
    // busy takes one without allocating.
    #[allow(clippy::vec_box)]
    busy: Vec<Box<Busy>>,
}

/// Buffers of each kind a pool keeps.
pub const POOL_MAX: usize = 128;
/// Output buffers larger than this are freed rather than pooled.
const POOL_OUTPUT_MAX: usize = 32 * 1024;

impl BufPool {
    pub fn new() -> BufPool {
        BufPool::default()
    }

    fn take_input(&mut self) -> Vec<u8> {
        self.input.pop().unwrap_or_default()
    }

    /// Input buffers keep their length (they are read into whole), so a
    /// reused one is not zeroed again.
    fn give_input(&mut self, buf: Vec<u8>) {
        if buf.len() == INPUT_INITIAL && self.input.len() < POOL_MAX {
            self.input.push(buf);
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        self.output.pop().unwrap_or_default()
    }

    fn give_output(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > 0 && buf.capacity() <= POOL_OUTPUT_MAX && self.output.len() < POOL_MAX {
            buf.clear();
            self.output.push(buf);
        }
    }
}

/// A response whose log line waits for its streamed body to end.
#[derive(Debug)]
struct PendingLog {
    line: Option<Vec<u8>>,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
    status: u16,
    /// Body bytes copied into the output so far.
    loaded: u64,
}

impl PendingLog {
    fn said(&self) -> Said<'_> {
        Said {
            line: self.line.as_deref(),
            referer: self.referer.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// In-memory content sent by reference: after `buf[..at]` comes
/// `data[start..end]`.
#[derive(Debug)]
struct Mark {
    at: usize,
    data: std::sync::Arc<[u8]>,
    start: usize,
    end: usize,
}

/// Bytes answered and not yet sent, and a file body that follows them.
#[derive(Debug)]
struct Output {
    buf: Vec<u8>,
    /// INVARIANT: pos <= buf.len(); `buf[pos..]` is unsent.
    pos: usize,
    /// Shared slices interleaved with `buf`, in order.
    /// INVARIANT: `at` never decreases along the queue and is >= `pos` for
    /// every mark after the first; `buf` is never compacted while marks
    /// are queued.
    marks: std::collections::VecDeque<Mark>,
    /// Bytes of the marks not yet sent.
    shared_unsent: usize,
    /// Streams after everything in `buf`; while it is set nothing else is
    /// queued.
    body: Option<FileStream>,
    /// The transport said it cannot sendfile: read files into `buf`.
    no_sendfile: bool,
    pending_log: Option<PendingLog>,
    /// The last response is queued: close once it is sent.
    close: bool,
    /// When a write last made progress (or output became pending).
    last_progress: Instant,
    /// When the output last became empty (the connection went idle).
    idle_since: Instant,
}

enum Flush {
    Done,
    Blocked,
    Budget,
    Failed,
}

impl Output {
    fn new(now: Instant) -> Output {
        Output {
            buf: Vec::new(),
            pos: 0,
            marks: std::collections::VecDeque::new(),
            shared_unsent: 0,
            body: None,
            no_sendfile: false,
            pending_log: None,
            close: false,
            last_progress: now,
            idle_since: now,
        }
    }

    /// Everything queued before the body (heads, pages, shared slices) is
    /// sent.
    fn all_sent(&self) -> bool {
        self.pos == self.buf.len() && self.marks.is_empty()
    }

    fn unsent(&self) -> usize {
        self.buf.len() - self.pos + self.shared_unsent
    }

    fn is_pending(&self) -> bool {
        !self.all_sent() || self.body.is_some()
    }

    /// Whether another response may be queued behind what is there.
    fn accepts_more(&self) -> bool {
        !self.close && self.body.is_none() && self.unsent() < OUTPUT_SOFT_LIMIT
    }

    /// Writes `buf` and the marks interleaved, with one `writev`.
    fn write_marks<T: Transport>(&self, io: &mut T) -> io::Result<usize> {
        let mut iov = [io::IoSlice::new(&[]); MAX_IOV];
        let mut n = 0;
        let mut cur = self.pos;
        let mut all = true;
        for m in &self.marks {
            if n + 2 > MAX_IOV {
                all = false;
                break;
            }
            if m.at > cur {
                iov[n] = io::IoSlice::new(&self.buf[cur..m.at]);
                n += 1;
                cur = m.at;
            }
            iov[n] = io::IoSlice::new(&m.data[m.start..m.end]);
            n += 1;
        }
        if all && cur < self.buf.len() {
            iov[n] = io::IoSlice::new(&self.buf[cur..]);
            n += 1;
        }
        io.write_vectored(&iov[..n])
    }

    /// Records `k` bytes written by `write_marks`.
    fn advance(&mut self, mut k: usize) {
        while k > 0 {
            match self.marks.front_mut() {
                Some(m) if m.at <= self.pos => {
                    let t = k.min(m.end - m.start);
                    m.start += t;
                    self.shared_unsent -= t;
                    k -= t;
                    if m.start == m.end {
                        self.marks.pop_front();
                    }
                }
                Some(m) => {
                    let t = k.min(m.at - self.pos);
                    self.pos += t;
                    k -= t;
                }
                None => {
                    let t = k.min(self.buf.len() - self.pos);
                    self.pos += t;
                    k -= t;
                    if t == 0 {
                        break;
                    }
                }
            }
        }
    }

    fn flush<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Flush {
        let mut written = 0;
        let was_pending = self.is_pending();
        loop {
            if let Some(body) = &mut self.body {
                let sendfile = cx.config.sendfile && !self.no_sendfile;
                match body.front_window() {
                    Some((offset, len))
                        if sendfile && self.pos == self.buf.len() && self.marks.is_empty() =>
                    {
                        // Everything before the window is out: send the
                        // window itself straight from the page cache.
                        if written >= WRITE_BUDGET {
                            return Flush::Budget;
                        }
                        let count = (len as usize).min(WRITE_BUDGET);
                        let deadline = self.last_progress + cx.config.send_timeout;
                        if io.arm(deadline, cx.clock, Direction::Write).is_err() {
                            return Flush::Blocked;
                        }
                        let sent = match body.file() {
                            Some(file) => io.send_file(file, offset, count),
                            None => Err(io::ErrorKind::Unsupported.into()),
                        };
                        match sent {
                            // The file shrank: the promised length can no
                            // longer be met, so the connection must end.
                            Ok(0) => return Flush::Failed,
                            Ok(n) => {
                                body.advance_window(n as u64);
                                written += n;
                                self.last_progress = cx.clock.now();
                                if let Some(p) = &mut self.pending_log {
                                    p.loaded += n as u64;
                                }
                                if body.is_done() {
                                    self.body = None;
                                }
                                continue;
                            }
                            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                                self.no_sendfile = true;
                                continue;
                            }
                            Err(e) if is_blocked(&e) => return Flush::Blocked,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(_) => return Flush::Failed,
                        }
                    }
                    Some(_) if sendfile => {} // first write out what precedes it
                    _ => {
                        let unsent = self.buf.len() - self.pos;
                        // Never compact under queued marks (see `marks`).
                        if unsent < CHUNK / 2 && self.marks.is_empty() {
                            self.buf.drain(..self.pos);
                            self.pos = 0;
                            match body.read_into(&mut self.buf, CHUNK - unsent, !sendfile) {
                                Ok(n) => {
                                    if let Some(p) = &mut self.pending_log {
                                        p.loaded += n as u64;
                                    }
                                }
                                Err(_) => return Flush::Failed,
                            }
                            if body.is_done() {
                                self.body = None;
                            }
                        }
                    }
                }
            }
            if self.all_sent() {
                if self.body.is_some() {
                    continue; // the stream has more to give
                }
                self.buf.clear();
                self.pos = 0;
                if let Some(p) = self.pending_log.take() {
                    log(cx, p.said(), p.status, p.loaded);
                }
                if was_pending {
                    self.idle_since = cx.clock.now();
                }
                return Flush::Done;
            }
            if written >= WRITE_BUDGET {
                return Flush::Budget;
            }
            // Bytes that a sendfile window follows go out corked with it.
            let corked = self
                .body
                .as_ref()
                .is_some_and(|b| b.front_window().is_some())
                && cx.config.sendfile
                && !self.no_sendfile;
            let deadline = self.last_progress + cx.config.send_timeout;
            if io.arm(deadline, cx.clock, Direction::Write).is_err() {
                return Flush::Blocked;
            }
            let result = if !self.marks.is_empty() {
                self.write_marks(io)
            } else if corked {
                io.write_more(&self.buf[self.pos..])
            } else {
                io.write(&self.buf[self.pos..])
            };
            match result {
                Ok(0) => return Flush::Failed,
                Ok(n) => {
                    self.advance(n);
                    written += n;
                    self.last_progress = cx.clock.now();
                }
                Err(e) if e.kind() == io::ErrorKind::Unsupported => self.no_sendfile = true,
                Err(e) if is_blocked(&e) => return Flush::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flush::Failed,
            }
        }
    }

    /// Renders `reply` (head and, unless `head_only`, body) behind what is
    /// queued, and logs it (now, or when its streamed body ends).
    fn queue(
        &mut self,
        reply: Reply,
        said: Said<'_>,
        head_only: bool,
        persist: Persist,
        cx: &mut Cx<'_>,
    ) {
        if !self.is_pending() {
            self.last_progress = cx.clock.now();
        }
        if self.buf.capacity() == 0 {
            if let Some(pool) = cx.pool.as_deref_mut() {
                self.buf = pool.take_output();
            }
        }
        let start = self.buf.len();
        let fields = Fields {
            content_type: reply.content_type,
            content_length: reply.length,
            last_modified: reply.last_modified_text.as_ref().map(|t| &t[..]),
            etag: reply.etag.as_ref().map(|t| t.as_bytes()),
            accept_ranges: reply.accept_ranges,
            content_range: reply.content_range,
            unsatisfied_range: reply.unsatisfied_range,
            location: reply.location.as_deref(),
            allow: reply.allow,
            content_encoding: reply.content_encoding,
            vary: reply.vary,
            // File responses (they carry validators) get Cache-Control too.
            extra: if reply.etag.is_some() && !reply.status.is_error() {
                &cx.config.file_headers
            } else {
                &cx.config.extra_headers
            },
        };
        write_head(
            &mut self.buf,
            cx.config.version,
            reply.status,
            &cx.clock.http_date(),
            &fields,
            persist,
        );
        if persist == Persist::Close {
            self.close = true;
        }
        let code = reply.status.code();
        if head_only {
            log(cx, said, code, 0);
            return;
        }
        match reply.body {
            Body::Empty => log(cx, said, code, 0),
            Body::Page(status) => {
                let page = cx.config.error_page(status);
                self.buf.extend_from_slice(page);
                log(cx, said, code, page.len() as u64);
            }
            Body::File(mut body) => {
                let len = body.remaining();
                if let Some((data, start, end)) = body.as_shared_slice() {
                    if end - start >= SHARE_MIN {
                        self.marks.push_back(Mark {
                            at: self.buf.len(),
                            data: data.clone(),
                            start,
                            end,
                        });
                        self.shared_unsent += end - start;
                        log(cx, said, code, len);
                        return;
                    }
                }
                // Small bodies are copied whole into the buffer (one write
                // for head and body, pipelined replies batched). Larger file
                // bodies stream, with sendfile when allowed: no copy at all.
                let inline_max = if cx.config.sendfile && body.file().is_some() {
                    INLINE_MAX
                } else {
                    CHUNK
                };
                if len <= inline_max as u64 {
                    if body.read_into(&mut self.buf, CHUNK, true).is_err() {
                        // Nothing of this response has been sent yet: take
                        // the head back and answer 500 instead.
                        self.buf.truncate(start);
                        let reply = Reply::error(Status::InternalServerError, cx.config);
                        self.queue(reply, said, false, Persist::Close, cx);
                        return;
                    }
                    log(cx, said, code, len);
                } else {
                    self.body = Some(body);
                    self.pending_log = Some(PendingLog {
                        line: said.line.map(<[u8]>::to_vec),
                        referer: said.referer.map(<[u8]>::to_vec),
                        user_agent: said.user_agent.map(<[u8]>::to_vec),
                        status: code,
                        loaded: 0,
                    });
                }
            }
        }
    }

    /// Body bytes of the streaming response that reached the socket, for
    /// logging a transfer cut short.
    fn abort_log(&mut self, cx: &mut Cx<'_>) {
        if let Some(p) = self.pending_log.take() {
            let unsent = (self.buf.len() - self.pos) as u64;
            log(cx, p.said(), p.status, p.loaded.saturating_sub(unsent));
        }
    }

    fn release(&mut self, pool: Option<&mut BufPool>) {
        if !self.is_pending() {
            let buf = std::mem::take(&mut self.buf);
            if let Some(pool) = pool {
                pool.give_output(buf);
            }
            self.pos = 0;
            self.marks = std::collections::VecDeque::new();
        }
    }
}

fn log(cx: &mut Cx<'_>, said: Said<'_>, status: u16, bytes: u64) {
    let peer = cx.peer_ip();
    let secs = cx.clock.unix_secs();
    if let Some(log) = cx.log.as_deref_mut() {
        log.record(
            secs,
            &Entry {
                peer,
                said,
                status,
                bytes,
            },
        );
    }
}

impl Cx<'_> {
    /// Whether the server is stopping (so this response is the last).
    pub fn is_draining(&self) -> bool {
        self.draining
            || self
                .stop_flag
                .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn peer_ip(&self) -> std::net::IpAddr {
        self.peer
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |p| p.ip())
    }
}

/// What a connection holds only while it has something to do: its buffers,
/// what it is sending, and the timing of the request under way. Dropped
/// (back into the pool) whenever the connection is idle.
#[derive(Debug)]
struct Busy {
    peer: SocketAddr,
    input: Input,
    output: Output,
    /// When the first byte of the head being read arrived (also covers a
    /// request body being discarded).
    head_started: Option<Instant>,
    /// Set once the last response is sent and the write side shut down.
    lingering: Option<(Instant, usize)>,
    /// Responses queued so far.
    responses: u64,
}

enum Step {
    Queued,
    NeedInput,
}

impl Busy {
    fn new(peer: SocketAddr, now: Instant) -> Busy {
        Busy {
            peer,
            input: Input::default(),
            output: Output::new(now),
            head_started: None,
            lingering: None,
            responses: 0,
        }
    }

    /// Whether the connection is between requests with nothing to send.
    fn is_idle(&self) -> bool {
        self.lingering.is_none()
            && !self.output.is_pending()
            && self.input.is_empty()
            && self.input.skip == 0
    }

    fn drive<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        cx.peer = Some(self.peer);
        let next = self.run(io, cx);
        if next == Next::Wait && self.is_idle() {
            self.input.release(cx.pool.as_deref_mut());
            self.output.release(cx.pool.as_deref_mut());
        }
        next
    }

    fn run<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        let mut budget = REQUESTS_PER_TURN;
        loop {
            if self.lingering.is_some() {
                return self.linger(io, cx);
            }
            // 1. Answer what is already buffered, while there is room.
            let mut need_input = false;
            while budget > 0 && self.output.accepts_more() {
                match self.next_request(cx) {
                    Step::Queued => budget -= 1,
                    Step::NeedInput => {
                        need_input = true;
                        break;
                    }
                }
            }
            // 2. Send it.
            match self.output.flush(io, cx) {
                Flush::Done => {}
                Flush::Blocked => return Next::Wait,
                Flush::Budget => return Next::Yield,
                Flush::Failed => return Next::Close,
            }
            if self.output.close {
                if self.input.eof {
                    return Next::Close;
                }
                io.shutdown_write();
                self.lingering = Some((cx.clock.now(), 0));
                continue;
            }
            if !need_input {
                if budget == 0 {
                    return Next::Yield;
                }
                continue;
            }
            if self.input.eof {
                return Next::Close;
            }
            // 3. Read more.
            // Only a blocking transport needs the deadline (and whether this
            // read waits between requests); for the event loop's sockets the
            // call would do nothing, so skip computing its arguments.
            if T::BLOCKING {
                let dir = if self.is_idle() {
                    Direction::Idle
                } else {
                    Direction::Read
                };
                if let Err(e) = io.arm(self.deadline(cx.config), cx.clock, dir) {
                    return if is_blocked(&e) {
                        Next::Wait
                    } else {
                        Next::Close
                    };
                }
            }
            let read = self.input.read_from(io, cx.pool.as_deref_mut());
            if T::BLOCKING {
                // The read may have waited: what follows needs the time now.
                cx.clock.refresh();
            }
            match read {
                Ok(0) => self.input.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// Parses and answers one request from the buffer, if one is complete.
    fn next_request(&mut self, cx: &mut Cx<'_>) -> Step {
        let now = cx.clock.now();
        if self.input.skip > 0 && !self.input.discard() {
            self.head_started.get_or_insert(now);
            return Step::NeedInput;
        }
        if self.input.is_empty() {
            self.head_started = None;
            return Step::NeedInput;
        }
        self.head_started.get_or_insert(now);
        let parsed = match request::parse(self.input.data()) {
            Ok(None) if self.input.is_full() => {
                // Cannot happen with the limits as they are (parse reports
                // an over-limit head itself); kept as a backstop.
                Err(if first_line(self.input.data()).is_some() {
                    HeadError::HeadersTooLarge
                } else {
                    HeadError::UriTooLong
                })
            }
            Ok(None) => return Step::NeedInput,
            other => other,
        };
        self.responses += 1;
        self.head_started = None;
        match parsed {
            Ok(Some(req)) => {
                if let Some(tally) = cx.counts {
                    crate::counts::lock(tally).count(req.target);
                }
                let files = cx.files.as_deref_mut();
                let reply = respond(&req, cx.config, files, cx.clock.now());
                let persist = if cx.config.keep_alive_enabled()
                    && req.keep_alive
                    && !reply.close
                    && !cx.is_draining()
                    && req.content_length <= MAX_DISCARD
                    // The body may never come (we send no 100 Continue), so
                    // its end cannot be found: answer and close instead.
                    && !(req.expect_continue && req.content_length > 0)
                {
                    Persist::KeepAlive {
                        timeout_secs: cx.config.keep_alive.as_secs(),
                        http10_request: req.minor == 0,
                    }
                } else {
                    Persist::Close
                };
                let head_only = req.method == Method::Head || reply.status == Status::NotModified;
                let (head_len, body_len) = (req.head_len, req.content_length);
                let said = Said {
                    line: Some(req.line),
                    referer: req.referer,
                    user_agent: req.user_agent,
                };
                self.output.queue(reply, said, head_only, persist, cx);
                self.input.consume(head_len);
                self.input.skip = body_len;
            }
            Ok(None) => unreachable!("partial heads return above"),
            Err(e) => {
                let reply = Reply::error(Status::from(e), cx.config);
                let line = first_line(self.input.data());
                let said = Said {
                    line,
                    ..Said::default()
                };
                self.output.queue(reply, said, false, Persist::Close, cx);
            }
        }
        Step::Queued
    }

    /// After the last response: read and drop input until the client
    /// closes, then close.
    fn linger<T: Transport>(&mut self, io: &mut T, cx: &Cx<'_>) -> Next {
        let mut scratch = [0u8; 4096];
        loop {
            if let Some((since, _)) = self.lingering {
                if io
                    .arm(since + LINGER_TIMEOUT, cx.clock, Direction::Read)
                    .is_err()
                {
                    return Next::Close;
                }
            }
            match io.read(&mut scratch) {
                Ok(0) => return Next::Close,
                Ok(n) => {
                    if let Some((_, total)) = &mut self.lingering {
                        *total += n;
                        if *total > LINGER_MAX_BYTES {
                            return Next::Close;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// The instant this connection must be dealt with if nothing happens
    /// first: the end of lingering, the send timeout while output is
    /// pending, the header timeout while a head (or a discarded body) is
    /// arriving, or the idle timeout between requests.
    fn deadline(&self, config: &Config) -> Instant {
        if let Some((since, _)) = self.lingering {
            since + LINGER_TIMEOUT
        } else if self.output.is_pending() {
            self.output.last_progress + config.send_timeout
        } else if let Some(started) = self.head_started {
            started + config.header_timeout
        } else if !self.input.is_empty() {
            // Bytes arrived but were not looked at yet (a yielded turn).
            self.output.idle_since + config.header_timeout
        } else {
            idle_deadline(self.output.idle_since, config)
        }
    }

    /// The deadline passed (the driver checks nothing; this re-checks).
    /// Before it: `Wait` (re-arm the timer). A head still incomplete on a
    /// connection that has had no answer yet gets 408; anything else closes.
    fn on_timeout<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        if cx.clock.now() < self.deadline(cx.config) {
            return Next::Wait;
        }
        let reading_head = self.lingering.is_none()
            && !self.output.is_pending()
            && self.head_started.is_some()
            && !self.input.is_empty();
        if reading_head && self.responses == 0 {
            self.responses += 1;
            self.head_started = None;
            let line = first_line(self.input.data()).map(<[u8]>::to_vec);
            let reply = Reply::error(Status::RequestTimeout, cx.config);
            cx.peer = Some(self.peer);
            self.output.queue(
                reply,
                Said {
                    line: line.as_deref(),
                    ..Said::default()
                },
                false,
                Persist::Close,
                cx,
            );
            return self.drive(io, cx);
        }
        Next::Close
    }

    /// The connection is being dropped: log a transfer cut short.
    fn on_close(&mut self, cx: &mut Cx<'_>) {
        cx.peer = Some(self.peer);
        self.output.abort_log(cx);
    }
}

/// When an idle connection (nothing received, nothing to send) is closed:
/// after the keep-alive timeout, or the header timeout when keep-alive is
/// off (a new connection that sends nothing is idle too).
fn idle_deadline(idle_since: Instant, config: &Config) -> Instant {
    let idle = if config.keep_alive.is_zero() {
        config.header_timeout
    } else {
        config.keep_alive
    };
    idle_since + idle
}

/// One connection. Idle, it is a few words (an idle keep-alive connection
/// costs well under 100 bytes here); its [`Busy`] part exists only while
/// there is something to read, answer or send.
#[derive(Debug)]
pub struct Conn {
    peer: SocketAddr,
    /// When it last had nothing to do.
    idle_since: Instant,
    /// Responses queued so far (a 408 is sent only when none was).
    responses: u64,
    busy: Option<Box<Busy>>,
}

impl Conn {
    pub fn new(peer: SocketAddr, now: Instant) -> Conn {
        Conn {
            peer,
            idle_since: now,
            responses: 0,
            busy: None,
        }
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the connection is between requests with nothing to send.
    pub fn is_idle(&self) -> bool {
        self.busy.as_ref().is_none_or(|b| b.is_idle())
    }

    fn busy(&mut self, cx: &mut Cx<'_>) -> &mut Busy {
        let (peer, responses, idle_since) = (self.peer, self.responses, self.idle_since);
        self.busy.get_or_insert_with(|| {
            let fresh = Busy::new(peer, idle_since);
            let mut b = match cx.pool.as_deref_mut().and_then(|p| p.busy.pop()) {
                Some(mut b) => {
                    *b = fresh;
                    b
                }
                None => Box::new(fresh),
            };
            b.responses = responses;
            b
        })
    }

    /// Gives the busy part back once there is nothing left to do.
    fn settle(&mut self, next: Next, cx: &mut Cx<'_>) {
        if next != Next::Wait || !self.busy.as_ref().is_some_and(|b| b.is_idle()) {
            return;
        }
        if let Some(b) = self.busy.take() {
            self.responses = b.responses;
            self.idle_since = b.output.idle_since;
            if let Some(pool) = cx.pool.as_deref_mut() {
                if pool.busy.len() < POOL_MAX {
                    pool.busy.push(b);
                }
            }
        }
    }

    /// Runs the connection until it blocks, yields or ends. See the module
    /// documentation.
    pub fn drive<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        let next = self.busy(cx).drive(io, cx);
        self.settle(next, cx);
        next
    }

    /// The instant this connection must be dealt with if nothing happens
    /// first: the end of lingering, the send timeout while output is
    /// pending, the header timeout while a head (or a discarded body) is
    /// arriving, or the idle timeout between requests.
    pub fn deadline(&self, config: &Config) -> Instant {
        match &self.busy {
            Some(b) => b.deadline(config),
            None => idle_deadline(self.idle_since, config),
        }
    }

    /// The deadline passed (the driver checks nothing; this re-checks).
    /// Before it: `Wait` (re-arm the timer). A head still incomplete on a
    /// connection that has had no answer yet gets 408; anything else closes.
    pub fn on_timeout<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        let next = match &mut self.busy {
            Some(b) => b.on_timeout(io, cx),
            None if cx.clock.now() < idle_deadline(self.idle_since, cx.config) => Next::Wait,
            None => Next::Close,
        };
        self.settle(next, cx);
        next
    }

    /// The connection is being dropped: log a transfer cut short.
    pub fn on_close(&mut self, cx: &mut Cx<'_>) {
        if let Some(b) = &mut self.busy {
            b.on_close(cx);
        }
    }
}

fn is_blocked(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::ScriptedPeer as Script;

    fn config() -> (Config, std::path::PathBuf) {
        // One root per test: tests run in parallel and rewrite their files.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("skiff-conn-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), b"hello").unwrap();
        let c = Config::parse_from(["skiff", "--root", dir.to_str().unwrap()]).unwrap();
        (c, dir)
    }

    fn run(chunks: &[&[u8]], window: usize) -> (String, Next, bool) {
        let (config, dir) = config();
        let clock = Clock::new();
        let out = run_on(&config, &clock, chunks, window);
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    /// Drives one connection through scripted input on a given config and
    /// clock: again after every Wait while scripted input remains, as a
    /// driver does on the next readiness event.
    fn run_on(
        config: &Config,
        clock: &Clock,
        chunks: &[&[u8]],
        window: usize,
    ) -> (String, Next, bool) {
        let mut cx = Cx::new(config, clock, None);
        let mut conn = Conn::new("127.0.0.1:1".parse().unwrap(), clock.now());
        let mut s = Script {
            incoming: chunks.iter().map(|c| c.to_vec()).collect(),
            sent: Vec::new(),
            window,
            shut: false,
        };
        loop {
            let before = s.incoming.len();
            let next = conn.drive(&mut s, &mut cx);
            let progressed = s.incoming.len() != before;
            if next == Next::Close || (next == Next::Wait && (s.incoming.is_empty() || !progressed))
            {
                break (String::from_utf8_lossy(&s.sent).into_owned(), next, s.shut);
            }
        }
    }

    #[test]
    fn any_split_of_a_pipeline_gives_the_same_bytes() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config as Cases, TestRunner};
        let one = (
            prop_oneof![Just("GET"), Just("HEAD"), Just("POST"), Just("BREW")],
            prop_oneof![Just("/a.txt"), Just("/nope"), Just("/"), Just("/a.txt?q=1")],
            prop_oneof![
                Just(""),
                Just("Connection: close\r\n"),
                Just("Range: bytes=1-2\r\n"),
                Just("Content-Length: 3\r\n"),
                Just("If-None-Match: *\r\n"),
            ],
            any::<bool>(),
        )
            .prop_map(|(m, p, extra, lf)| {
                let mut r = format!("{m} {p} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
                if extra.starts_with("Content-Length") {
                    r.push_str("abc");
                }
                if lf {
                    r = r.replace("\r\n", "\n");
                }
                r
            });
        let pipeline = proptest::collection::vec(one, 1..4).prop_map(|v| v.concat().into_bytes());
        let (config, dir) = config();
        let clock = Clock::new();
        let mut runner = TestRunner::new(Cases {
            cases: 48,
            ..Cases::default()
        });
        let result = runner.run(&pipeline, |raw| {
            let whole = run_on(&config, &clock, &[&raw, b""], usize::MAX);
            for i in 1..raw.len() {
                let split = run_on(&config, &clock, &[&raw[..i], b"", &raw[i..], b""], 7);
                prop_assert_eq!(&split, &whole, "split at {}", i);
            }
            Ok(())
        });
        let _ = std::fs::remove_dir_all(&dir);
        result.unwrap();
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_in_one_turn() {
        let (out, next, _) = run(
            &[b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", b""],
            usize::MAX,
        );
        assert_eq!(next, Next::Wait);
        let statuses: Vec<&str> = out
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i + 9..i + 12])
            .collect();
        assert_eq!(statuses, ["200", "404", "200"]);
        assert!(out.contains("\r\n\r\nhello"));
        assert!(out.ends_with("\r\n\r\n"), "HEAD has no body");
    }

    #[test]
    fn one_byte_at_a_time() {
        let raw = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
        let chunks: Vec<&[u8]> = raw.chunks(1).flat_map(|c| [c, &b""[..]]).collect();
        let (out, next, _) = run(&chunks, usize::MAX);
        assert_eq!(next, Next::Wait);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(out.ends_with("hello"));
    }

    #[test]
    fn bad_request_closes_after_answer() {
        let (out, next, shut) = run(&[b"GET / HTTP/1.1\r\n\r\n"], usize::MAX);
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(out.contains("Connection: close\r\n"));
        assert!(shut, "write side shut before lingering");
        assert_eq!(next, Next::Close);
    }

    #[test]
    fn a_blocked_writer_waits_and_reads_nothing_more() {
        let (out, next, _) = run(
            &[
                b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /a.txt HTTP/1.1\r\n",
            ],
            0,
        );
        assert_eq!(out, "");
        assert_eq!(next, Next::Wait);
    }

    #[test]
    fn half_close_still_gets_the_response() {
        // Request then EOF in the same burst.
        let (out, next, _) = run(&[b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"], usize::MAX);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(out.ends_with("hello"));
        assert_eq!(next, Next::Close);
    }

    #[test]
    fn a_file_shorter_than_promised_is_a_500_not_padding() {
        let (config, dir) = config();
        let clock = Clock::new();
        let mut cx = Cx::new(&config, &clock, None);
        let mut out = Output::new(clock.now());
        let file = std::fs::File::open(dir.join("a.txt")).unwrap();
        let reply = Reply {
            status: Status::Ok,
            content_type: "text/plain",
            length: 100,
            last_modified: None,
            last_modified_text: None,
            location: None,
            allow: false,
            etag: None,
            accept_ranges: false,
            content_range: None,
            unsatisfied_range: None,
            content_encoding: None,
            vary: None,
            body: Body::File(FileStream::window(
                crate::files::resolve::Source::File(std::sync::Arc::new(file)),
                0,
                100,
            )),
            close: false,
        };
        let keep = Persist::KeepAlive {
            timeout_secs: 10,
            http10_request: false,
        };
        let said = Said {
            line: Some(b"GET /a.txt HTTP/1.1"),
            ..Said::default()
        };
        out.queue(reply, said, false, keep, &mut cx);
        let text = String::from_utf8_lossy(&out.buf).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(!text.contains("200 OK"));
        assert!(out.close);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn discarded_body_is_not_parsed_as_a_request() {
        let (out, _, _) = run(
            &[b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 22\r\n\r\nGET /nope HTTP/1.1\r\n\r\n", b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", b""],
            usize::MAX,
        );
        let statuses: Vec<&str> = out
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i + 9..i + 12])
            .collect();
        assert_eq!(statuses, ["200", "200"]);
    }
}
