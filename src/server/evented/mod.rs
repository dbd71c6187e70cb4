//! The event-loop driver: one `mio::Poll` on one thread owns the
//! listeners (the server's port, and `--redirect-http`'s and `--metrics`'s
//! when set), a `Slab` of connections, a timer wheel, and a mailbox whose
//! waker brings back what the worker pools finish (compressed variants,
//! password verdicts, TLS handshake steps).
//!
//! # The loop
//! Each turn reads the clock once ([`Clock::update`]), handles the ready
//! events, drives the connections that yielded last turn, advances the
//! wheel and fires what is due, flushes the access log if a second has
//! passed, and sleeps in `poll` until the next event or the next deadline,
//! whichever comes first.
//!
//! # Readiness contract
//! - Sockets are registered once, for both reading and writing, and are
//!   edge-triggered: an event says "something may have changed", never how
//!   much. So every handler works until `WouldBlock` ([`Conn::drive`] does)
//!   or until its turn's budget is spent, in which case the connection goes
//!   on the `ready` list and is driven again next turn with a zero poll
//!   timeout (no readiness edge would come for bytes already there).
//! - Every event is a hint: a spurious wakeup costs one failed read.
//! - Tokens carry the slab key and a generation ([`token`]). An event or a
//!   timer for a connection that has closed, or whose slot now holds a
//!   newer one, is ignored. Each connection has at most one timer, and it
//!   is cancelled when the connection closes.
//! - The listeners too are drained until `WouldBlock`, at most
//!   [`ACCEPTS_PER_TURN`] at a time (the metrics listener: up to
//!   `MAX_SCRAPERS` connections).
//!
//! # Accepting, and when not to
//! At `max_connections` open connections, or when accept fails (out of
//! descriptors, `EMFILE`/`ENFILE`, or anything else), the server's and
//! the redirect listener are deregistered (the metrics listener stays, so
//! scrapes answer at the cap): the kernel keeps queueing new connections in the backlog,
//! and the loop does not spin on them. It is registered again when a
//! connection closes (and, after a failure, after [`ACCEPT_BACKOFF`](crate::server::ACCEPT_BACKOFF) at
//! the latest). Open connections are served all the while.
//!
//! # Timers
//! A connection's deadline comes from [`Conn::deadline`]. Timers are lazy:
//! a deadline that moved later leaves the armed timer alone, and when it
//! fires `Conn::on_timeout` re-checks and the timer is re-armed. Only a
//! deadline that moved earlier re-inserts.
//!
//! # Stopping
//! The first SIGTERM or SIGINT closes every listener (new connections
//! are refused; with `--health-path`, the server's port stays open until
//! `--shutdown-timeout` runs out, and every request it reads is answered
//! 503), closes idle connections, and lets the rest finish what they
//! are doing: every response from then on carries `Connection: close`, and
//! each connection is closed as soon as it has nothing left to send. The
//! loop returns when none remain, or when `--shutdown-timeout` runs out
//! (closing what is left). A second signal returns at once. Signals arrive
//! through signal-hook's self-pipe; no work is done in a signal handler.
//! Loop 0 also answers SIGUSR1 (the request counts) and, with HTTPS,
//! SIGHUP (reload the certificate).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::auth::{Authenticator, Checks, Parked, Verdicts};
use crate::config::Config;
use crate::conn::{BufPool, Cx, Next, Why};
use crate::counts::Counts;
use crate::files::cache::FileCache;
use crate::files::compress::{EncodedCache, OnTheFly};
use crate::http::date::Clock;
use crate::log::{AccessLog, FLUSH_INTERVAL, LogSink};
use crate::respond::{Services, Site};
use crate::server::Listeners;
use crate::server::core::Core;
use crate::server::link::{self, Driven};
use crate::timer::later;

mod accept;
use crate::timer::{TimerHandle, TimerWheel};
use crate::tls::session::{self as tls, Session, TlsBufs, TlsIo};
use crate::work::Mailbox;

/// Timer resolution. Timeouts are whole seconds; 50 ms keeps them accurate
/// to a twentieth of a second at twenty wakeups a second at most.
pub(crate) const TICK: Duration = Duration::from_millis(50);
/// Connections accepted per turn before serving the ready ones.
pub(crate) const ACCEPTS_PER_TURN: usize = 256;
/// Readiness events taken per `poll`.
const EVENTS_CAPACITY: usize = 1024;

const LISTENER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);
/// The workers' results (compressed variants, verdicts, handshake
/// steps) are in the mailbox.
const WAKER: Token = Token(usize::MAX - 2);
/// The `--redirect-http` listener.
const REDIRECT: Token = Token(usize::MAX - 3);
/// The `--metrics` listener.
const METRICS: Token = Token(usize::MAX - 4);

const KEY_BITS: u32 = 32;
const KEY_MASK: usize = (1 << KEY_BITS) - 1;
/// Generations run 1..=MAX_GENERATION and wrap, so no connection token can
/// equal `LISTENER` or `SIGNALS`.
const MAX_GENERATION: usize = 1 << 31;

/// The token of the connection in slab slot `key` with `generation`.
pub(crate) fn token(key: usize, generation: usize) -> Token {
    debug_assert!(key <= KEY_MASK && (1..=MAX_GENERATION).contains(&generation));
    Token(generation << KEY_BITS | key)
}

/// `(key, generation)` of a connection token.
pub(crate) fn untoken(t: Token) -> (usize, usize) {
    (t.0 & KEY_MASK, t.0 >> KEY_BITS)
}

struct Slot {
    /// HTTP/1 or HTTP/2.
    conn: Core,
    sock: TcpStream,
    /// At most `MAX_GENERATION` (2^31): a `u32` keeps the slot small.
    generation: u32,
    /// The armed timer and its tick.
    timer: Option<(TimerHandle, u64)>,
    /// In the `ready` list.
    /// INVARIANT: true exactly while the slot's token is in `ready` once.
    queued: bool,
    /// Which listener it came through.
    site: Site,
    /// What lies between the socket and `conn`.
    link: Link,
}

/// What lies between a connection's socket and its core.
enum Link {
    /// Nothing: plain TCP.
    Plain,
    /// HTTPS: the TLS session.
    Tls(Box<Session>),
    /// The TLS session is on a worker, processing handshake records: the
    /// connection is left alone until it comes back through the mailbox.
    Away,
}

impl Slot {
    /// Nothing to lose by closing now: the connection core is between
    /// requests and no TLS record is still waiting to be sent.
    fn is_idle(&self) -> bool {
        self.conn.is_idle()
            && match &self.link {
                Link::Plain => true,
                Link::Tls(s) => s.handshaking() || s.pending() == 0,
                Link::Away => true,
            }
    }

    /// When this connection's timer should fire: the handshake's deadline
    /// while there is one, else the connection core's.
    fn deadline(&self, config: &Config) -> Instant {
        match &self.link {
            Link::Tls(s) => s.deadline(config.header_timeout),
            _ => None,
        }
        .unwrap_or_else(|| self.conn.deadline(config))
    }
}

/// Whether the listener is being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepting {
    /// Registered with the poll.
    Open,
    /// Deregistered: at the cap (`retry: None`) or after a failure (retry
    /// at the instant given); either way again when a connection closes.
    Paused { retry: Option<Instant> },
    /// Closed for good: the server is stopping.
    Closed,
}

/// The event loop and everything it owns.
pub(crate) struct EventLoop<'c> {
    config: &'c Config,
    poll: Poll,
    listener: Option<TcpListener>,
    /// `--redirect-http`: plain HTTP answered with redirects to HTTPS.
    redirect_listener: Option<TcpListener>,
    /// `--metrics` (loop 0 only).
    metrics_listener: Option<TcpListener>,
    /// Counters (`--metrics`), and what the metrics listener serves.
    page: Option<crate::metrics::Page>,
    /// The HTTPS port redirects point to.
    https_port: u16,
    accepting: Accepting,
    /// More connections may be waiting in the backlog (the accept budget
    /// ran out): accept again next turn without waiting for an edge.
    accept_pending: bool,
    /// The most connections through the server's and the redirect
    /// listener (metrics connections are not counted).
    max_connections: usize,
    /// Open connections from the metrics listener.
    scrapers: usize,
    /// Scrapes may wait in the metrics backlog (it was left at
    /// [`MAX_SCRAPERS`](crate::server::MAX_SCRAPERS), or out of descriptors): accept when one closes.
    scrape_pending: bool,
    slots: Slab<Slot>,
    /// Generation of the next connection.
    generation: usize,
    wheel: TimerWheel<Token>,
    epoch: Instant,
    clock: Clock,
    log: Option<AccessLog>,
    /// Connections that yielded: driven again next turn, each once.
    ready: Vec<Token>,
    /// SIGTERM and SIGINT (and on loop 0 SIGUSR1, and SIGHUP with HTTPS),
    /// delivered as readiness through a self-pipe.
    signals: Signals,
    /// Set by the first signal: when to give up on connections still open.
    draining_until: Option<Instant>,
    /// The same fact as connections read it (set with `draining_until`).
    stopping: std::sync::atomic::AtomicBool,
    /// Files found lately (unless `--no-file-cache`).
    cache: FileCache,
    /// Connection buffers kept for reuse.
    pool: BufPool,
    /// Requests per path: this loop counts into tally `tally`; loop 0 also
    /// prints them all on SIGUSR1.
    counts: Arc<Counts>,
    tally: usize,
    /// Compressed variants: this loop's cache, filled by the workers
    /// through its mailbox and waker.
    encodings: Option<OnTheFly<EncodedCache>>,
    /// Credentials checks (`--htpasswd`), answered through the mailbox.
    auth: Option<Checks<Verdicts, Parked>>,
    /// Work for a connection on the pool (folder downloads), which wakes
    /// it through the mailbox when done.
    offload: Option<ToLoop>,
    /// What the workers hand back; its waker wakes this loop.
    mailbox: Option<Arc<Mailbox<Mail>>>,
    /// Record buffers lent to TLS sessions while they are busy.
    tls_bufs: TlsBufs,
    /// Workers for TLS handshakes (`None`: no HTTPS).
    handshakes: Option<crate::work::Pool>,
}

/// The loop's [`Offload`](crate::work::Offload): a job on the pool,
/// then the connection it was for (`token`, set before each drive) is
/// driven again.
struct ToLoop {
    pool: crate::work::Pool,
    mailbox: Arc<Mailbox<Mail>>,
    token: Token,
    /// Connections the full pool turned away: driven again on the loop's
    /// next turns (at least every tick), not in a spin.
    waiting: Vec<Token>,
}

impl crate::work::Offload for ToLoop {
    fn spawn(&mut self, job: crate::work::Job) -> Result<(), crate::work::Job> {
        let mailbox = self.mailbox.clone();
        let token = self.token;
        // A job refused is handed back whole: the wrapper owns it, so keep
        // it apart until the pool has taken the wrapper.
        let slot = Arc::new(std::sync::Mutex::new(Some(job)));
        let inner = slot.clone();
        let wrapped = move || {
            let job = crate::unpoison(inner.lock()).take();
            if let Some(job) = job {
                job();
            }
            mailbox.post(Mail::Wake(token));
        };
        match self.pool.try_spawn(wrapped) {
            Ok(()) => Ok(()),
            Err(_) => {
                // Full: the connection asks again on a later turn.
                if !self.waiting.contains(&token) {
                    self.waiting.push(token);
                }
                match crate::unpoison(slot.lock()).take() {
                    Some(job) => Err(job),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What the workers hand back to a loop.
enum Mail {
    /// Work for this connection is done: drive it.
    Wake(Token),
    Compressed(crate::files::compress::Done),
    Verified {
        key: [u8; 32],
        /// `None`: cancelled before it began.
        ok: Option<bool>,
    },
    /// A TLS session back from processing handshake records.
    Handshake {
        token: Token,
        session: Box<Session>,
        ok: bool,
    },
}

impl<'c> EventLoop<'c> {
    pub(crate) fn new(
        config: &'c Config,
        listeners: Listeners<TcpListener>,
        log: Option<AccessLog>,
        max_connections: usize,
        shared: crate::server::Shared,
        tally: usize,
    ) -> io::Result<Self> {
        let Listeners {
            main: mut listener,
            redirect: mut redirect_listener,
            metrics: mut metrics_listener,
        } = listeners;
        let poll = Poll::new()?;
        // One waker per poll: compression results and verdicts share it.
        let mailbox = match (&shared.pool, &shared.handshakes) {
            (None, None) => None,
            _ => Some(Arc::new(Mailbox::new(mio::Waker::new(
                poll.registry(),
                WAKER,
            )?))),
        };
        let encodings = match (&shared.compressor, &mailbox) {
            (Some(compressor), Some(mailbox)) => {
                let mailbox = mailbox.clone();
                let deliver: crate::files::compress::Deliver =
                    Arc::new(move |done| mailbox.post(Mail::Compressed(done)));
                let mut e = OnTheFly::owned(config.compress_cache, compressor.clone(), deliver);
                if let Some(p) = &shared.metrics {
                    e.count_into(p.metrics.clone(), tally);
                }
                Some(e)
            }
            _ => None,
        };
        let auth = match (config.any_htpasswd(), &shared.pool, &mailbox) {
            (true, Some(pool), Some(mailbox)) => {
                let mailbox = mailbox.clone();
                let done: crate::auth::Done =
                    Arc::new(move |key, ok| mailbox.post(Mail::Verified { key, ok }));
                Some(Checks::owned(pool.clone(), done))
            }
            _ => None,
        };
        let offload = match (&shared.pool, &mailbox) {
            (Some(pool), Some(mailbox)) => Some(ToLoop {
                pool: pool.clone(),
                mailbox: mailbox.clone(),
                token: Token(0),
                waiting: Vec::new(),
            }),
            _ => None,
        };
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        if let Some(l) = &mut redirect_listener {
            poll.registry().register(l, REDIRECT, Interest::READABLE)?;
        }
        if let Some(l) = &mut metrics_listener {
            poll.registry().register(l, METRICS, Interest::READABLE)?;
        }
        let mut cache = FileCache::new();
        if let Some(m) = &shared.metrics {
            cache.count_into(m.metrics.clone(), tally);
        }
        let https_port = listener.local_addr()?.port();
        // One loop answers SIGUSR1 and, with HTTPS, SIGHUP (for all of
        // them); every loop stops on SIGTERM and SIGINT.
        let mut signals = Signals::new(super::signals(tally == 0, config.tls.is_some()))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let clock = Clock::new();
        Ok(EventLoop {
            config,
            poll,
            listener: Some(listener),
            redirect_listener,
            metrics_listener,
            page: shared.metrics.clone(),
            https_port,
            accepting: Accepting::Open,
            accept_pending: true,
            max_connections: max_connections.max(1),
            scrapers: 0,
            scrape_pending: false,
            slots: Slab::new(),
            generation: 1,
            wheel: TimerWheel::new(0),
            epoch: clock.now(),
            clock,
            log,
            ready: Vec::new(),
            signals,
            draining_until: None,
            stopping: std::sync::atomic::AtomicBool::new(false),
            cache,
            pool: BufPool::new(),
            counts: shared.counts,
            tally,
            encodings,
            auth,
            offload,
            mailbox,
            tls_bufs: TlsBufs::new(),
            handshakes: shared.handshakes,
        })
    }

    /// Serves until stopped by a signal (see the module documentation),
    /// then returns `Ok` with the access log flushed; or until `poll`
    /// itself fails.
    pub(crate) fn run(&mut self) -> io::Result<()> {
        let result = self.serve();
        if let Some(log) = &mut self.log {
            log.flush();
        }
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut fired = Vec::new();
        let mut yielded = Vec::new();
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            self.clock.update();

            let mut signalled = 0;
            for event in events.iter() {
                match event.token() {
                    LISTENER | REDIRECT => self.accept(),
                    METRICS => self.accept_scrapes(),
                    SIGNALS => {
                        for signal in self.signals.pending() {
                            if super::on_signal(signal, &self.counts, self.config) {
                                signalled += 1;
                            }
                        }
                    }
                    WAKER => self.take_mail(),
                    token => self.on_event(token),
                }
            }
            if signalled > 0 {
                if self.draining_until.is_some() || signalled > 1 {
                    return Ok(()); // a second signal: stop at once
                }
                self.start_draining();
            }
            if self.accept_pending && self.accepting == Accepting::Open {
                self.accept();
            }

            self.drive_ready(&mut yielded);

            // Connections the full worker pool turned away ask again.
            let waiting = self
                .offload
                .as_mut()
                .map(|o| std::mem::take(&mut o.waiting))
                .unwrap_or_default();
            for t in waiting {
                self.on_event(t);
            }

            let tick = self.tick_floor(self.clock.now());
            self.wheel.advance(tick, &mut fired);
            for token in fired.drain(..) {
                self.expire(token);
            }

            if let Accepting::Paused { retry: Some(at) } = self.accepting {
                if self.clock.now() >= at {
                    self.resume_accepting();
                }
            }
            if let Some(log) = &mut self.log {
                log.flush_due(self.clock.now());
            }
            if let Some(until) = self.draining_until {
                if self.slots.is_empty() && self.config.health_path.is_none() {
                    return Ok(());
                }
                if self.clock.now() >= until {
                    let keys: Vec<usize> = self.slots.iter().map(|(k, _)| k).collect();
                    for key in keys {
                        self.close(key, Why::Shutdown);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() || (self.accept_pending && self.accepting == Accepting::Open) {
            return Some(Duration::ZERO);
        }
        let tick_nanos = TICK.as_nanos() as u64;
        let mut wake = self.wheel.next_deadline().map(|t| {
            later(
                self.epoch,
                Duration::from_nanos(t.saturating_mul(tick_nanos)),
            )
        });
        let mut earliest = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Accepting::Paused { retry: Some(at) } = self.accepting {
            earliest(at);
        }
        if self.log.as_ref().is_some_and(AccessLog::has_pending) {
            earliest(later(self.clock.now(), FLUSH_INTERVAL));
        }
        if let Some(until) = self.draining_until {
            earliest(until);
        }
        if self.offload.as_ref().is_some_and(|o| !o.waiting.is_empty()) {
            earliest(later(self.clock.now(), TICK));
        }
        wake.map(|w| w.saturating_duration_since(Instant::now()))
    }

    /// This loop's counters (`--metrics`).
    fn counters(&self) -> Option<&crate::metrics::LoopMetrics> {
        self.page.as_ref().map(|p| p.metrics.of(self.tally))
    }

    fn tick_floor(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.epoch).as_nanos() / TICK.as_nanos()) as u64
    }

    fn tick_ceil(&self, t: Instant) -> u64 {
        let n = t.saturating_duration_since(self.epoch).as_nanos();
        n.div_ceil(TICK.as_nanos()) as u64
    }

    /// The slab key of a token's connection, if it is still the one the
    /// token was made for.
    fn key_of(&self, t: Token) -> Option<usize> {
        let (key, generation) = untoken(t);
        self.slots
            .get(key)
            .filter(|s| s.generation as usize == generation)
            .map(|_| key)
    }

    fn start_draining(&mut self) {
        let in_flight = self.slots.iter().filter(|(_, s)| !s.is_idle()).count();
        crate::say!(
            "skiff: stopping: finishing {in_flight} response(s) in flight, for at most {} s",
            self.config.shutdown_timeout.as_secs()
        );
        self.draining_until = Some(later(self.clock.now(), self.config.shutdown_timeout));
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // With `--health-path`, the port stays open for the whole drain:
        // the health route says 503, and so does every other request, so
        // a load balancer stops sending before the port closes.
        if self.config.health_path.is_none() {
            for mut listener in [self.listener.take(), self.redirect_listener.take()]
                .into_iter()
                .flatten()
            {
                if self.accepting == Accepting::Open {
                    let _ = self.poll.registry().deregister(&mut listener);
                }
            }
            self.accepting = Accepting::Closed;
            self.accept_pending = false;
        }
        if let Some(mut listener) = self.metrics_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        } // dropped: new connections are refused from here on
        let idle: Vec<usize> = self
            .slots
            .iter()
            .filter(|(_, s)| s.is_idle())
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            // An HTTP/2 connection is driven once more: it says GOAWAY,
            // and lingers like any connection ending, so what the client
            // sends meanwhile (window updates) cannot reset what is still
            // on its way to it.
            if self.slots[key].conn.is_h2() {
                let t = token(key, self.slots[key].generation as usize);
                self.drive(key, t);
            } else {
                self.close(key, Why::Shutdown);
            }
        }
    }

    /// What this loop lends the connection in slot `key` (with token `t`)
    /// for one call: the one place a `Cx` is made. The parked password
    /// checks learn whose turn it is.
    fn cx(&mut self, key: usize, t: Token) -> (Cx<'_>, &mut Slot, &mut TlsBufs) {
        if let Some(auth) = &mut self.auth {
            auth.turn(t.0);
        }
        if let Some(o) = &mut self.offload {
            o.token = t;
        }
        let slot = &mut self.slots[key];
        let cx = Cx {
            config: self.config,
            clock: &self.clock,
            site: slot.site,
            log: self.log.as_mut().map(|l| l as &mut dyn LogSink),
            stopping: Some(&self.stopping),
            services: Services {
                files: match self.config.file_cache {
                    true => Some(&mut self.cache),
                    false => None,
                },
                encodings: self
                    .encodings
                    .as_mut()
                    .map(|e| e as &mut dyn crate::files::compress::Encodings),
                auth: self.auth.as_mut().map(|a| a as &mut dyn Authenticator),
                counts: Some(self.counts.tally(self.tally)),
                page: self.page.as_ref(),
                offload: self
                    .offload
                    .as_mut()
                    .map(|o| o as &mut dyn crate::work::Offload),
            },
            pool: Some(&mut self.pool),
            tls: match &slot.link {
                Link::Tls(s) => s.version(),
                _ => None,
            },
            // Only virtual hosts ask for it.
            sni: match &slot.link {
                Link::Tls(s) if !self.config.sites.is_empty() => s.sni().cloned(),
                _ => None,
            },
            metrics: self.page.as_ref().map(|p| p.metrics.of(self.tally)),
        };
        (cx, slot, &mut self.tls_bufs)
    }

    /// Takes what the workers delivered: compressed variants into the
    /// cache, verdicts into the auth state, and the connections parked on
    /// those verdicts are driven.
    fn take_mail(&mut self) {
        let Some(mailbox) = &self.mailbox else {
            return;
        };
        for mail in mailbox.take() {
            match mail {
                Mail::Wake(token) => self.on_event(token),
                Mail::Compressed(done) => {
                    if let Some(e) = &mut self.encodings {
                        e.record(done);
                    }
                }
                Mail::Verified { key, ok } => {
                    let Some(auth) = &mut self.auth else {
                        continue;
                    };
                    for t in auth.record(key, ok) {
                        self.on_event(Token(t));
                    }
                }
                Mail::Handshake { token, session, ok } => {
                    // The connection may have closed meanwhile (stopping).
                    let Some(key) = self.key_of(token) else {
                        continue;
                    };
                    self.slots[key].link = Link::Tls(session);
                    if ok {
                        self.drive(key, token);
                    } else {
                        if let Some(m) = self.counters() {
                            m.handshake(false);
                        }
                        self.close(key, Why::Tls);
                    }
                }
            }
        }
    }

    /// A readiness event. A connection already in the `ready` list is left
    /// to it: it is driven once per turn, whatever woke it.
    fn on_event(&mut self, t: Token) {
        if let Some(key) = self.key_of(t) {
            let slot = &self.slots[key];
            if !slot.queued && !matches!(slot.link, Link::Away) {
                self.drive(key, t);
            }
        }
    }

    /// Drives, once each, the connections that yielded last turn.
    fn drive_ready(&mut self, yielded: &mut Vec<Token>) {
        std::mem::swap(&mut self.ready, yielded);
        for t in yielded.drain(..) {
            if let Some(key) = self.key_of(t) {
                debug_assert!(self.slots[key].queued);
                self.slots[key].queued = false;
                self.drive(key, t);
            }
        }
    }

    fn drive(&mut self, key: usize, t: Token) {
        let offload = self.handshakes.is_some();
        let (mut cx, slot, bufs) = self.cx(key, t);
        let next = match &mut slot.link {
            Link::Plain => slot.conn.drive(&mut slot.sock, &mut cx),
            Link::Tls(session) => {
                let sock = &mut slot.sock;
                match link::drive(session, &mut slot.conn, sock, &mut cx, bufs, offload) {
                    Driven::Next(next) => next,
                    Driven::Plain => {
                        slot.link = Link::Plain;
                        link::refuse_plain(&mut slot.conn, &mut slot.sock, &mut cx)
                    }
                    Driven::Process => {
                        self.process_away(key, t);
                        return;
                    }
                }
            }
            Link::Away => Next::Wait,
        };
        self.after(key, t, next);
    }

    /// Hands a connection's TLS session to a handshake worker; it comes
    /// back as `Mail::Handshake`. When the workers' queue is full the work
    /// is done here instead, and comes back the same way.
    fn process_away(&mut self, key: usize, t: Token) {
        let (Some(pool), Some(mailbox)) = (&self.handshakes, &self.mailbox) else {
            return;
        };
        let slot = &mut self.slots[key];
        let Link::Tls(mut session) = std::mem::replace(&mut slot.link, Link::Away) else {
            return;
        };
        let mailbox = mailbox.clone();
        let job = move || {
            let ok = session.process_away().is_ok();
            mailbox.post(Mail::Handshake {
                token: t,
                session,
                ok,
            });
        };
        if let Err(job) = pool.try_spawn(job) {
            job();
        }
    }

    fn expire(&mut self, t: Token) {
        let Some(key) = self.key_of(t) else {
            return;
        };
        self.slots[key].timer = None;
        if let Link::Away = self.slots[key].link {
            // Back soon from a worker, and driven then; look again a tick
            // later.
            let tick = self.tick_floor(self.clock.now()) + 1;
            let slot = &mut self.slots[key];
            slot.timer = Some((self.wheel.insert(tick, t), tick));
            return;
        }
        let (mut cx, slot, bufs) = self.cx(key, t);
        let next = match &mut slot.link {
            Link::Tls(session) if session.handshaking() => {
                match tls::handshake_expired(session, cx.config.header_timeout, cx.clock.now()) {
                    Some(why) => Next::Close(why),
                    None => Next::Wait,
                }
            }
            Link::Tls(session) => {
                let mut io = TlsIo {
                    session,
                    sock: &mut slot.sock,
                    bufs,
                };
                slot.conn.on_timeout(&mut io, &mut cx)
            }
            _ => slot.conn.on_timeout(&mut slot.sock, &mut cx),
        };
        self.after(key, t, next);
    }

    fn after(&mut self, key: usize, t: Token, next: Next) {
        match next {
            Next::Close(why) => self.close(key, why),
            // Stopping, nothing left to do; but with `--health-path` a new
            // connection is read (its request gets a 503).
            Next::Wait
                if self.draining_until.is_some()
                    && self.slots[key].is_idle()
                    && !(self.config.health_path.is_some() && self.slots[key].conn.is_new()) =>
            {
                self.close(key, Why::Shutdown);
            }
            Next::Yield => {
                let slot = &mut self.slots[key];
                if !slot.queued {
                    slot.queued = true;
                    self.ready.push(t);
                }
                self.arm_timer(key, t);
            }
            Next::Wait => self.arm_timer(key, t),
            // Taken care of by `Core::drive`.
            Next::Http2 => self.close(key, Why::Reset),
        }
    }

    fn arm_timer(&mut self, key: usize, t: Token) {
        let tick = self.tick_ceil(self.slots[key].deadline(self.config));
        let slot = &mut self.slots[key];
        match slot.timer {
            // Fires no later than needed; on_timeout re-checks.
            Some((_, armed)) if armed <= tick => return,
            Some((handle, _)) => {
                self.wheel.cancel(handle);
            }
            None => {}
        }
        slot.timer = Some((self.wheel.insert(tick, t), tick));
    }

    fn close(&mut self, key: usize, why: Why) {
        let t = token(key, self.slots[key].generation as usize);
        let (mut cx, slot, _) = self.cx(key, t);
        slot.conn.on_close(&mut cx);
        let mut slot = self.slots.remove(key);
        if let Some((handle, _)) = slot.timer {
            self.wheel.cancel(handle);
        }
        let _ = self.poll.registry().deregister(&mut slot.sock);
        let metrics = self.counters();
        super::closed(self.config, metrics, slot.conn.peer(), why);
        let site = slot.site;
        drop(slot);
        if site == Site::Metrics {
            self.scrapers -= 1;
        } else {
            self.resume_accepting();
        }
        if self.scrape_pending {
            self.accept_scrapes();
        }
    }
}

#[cfg(test)]
mod tests;
