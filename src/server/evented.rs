//! The event-loop driver: one `mio::Poll` on one thread owns the listener,
//! a `Slab` of connections and a timer wheel.
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
//! - Tokens carry the slab key and a generation. An event or a timer for a
//!   connection that has closed, or whose slot now holds a newer one, is
//!   ignored. Each connection has at most one timer, cancelled on close.
//! - The listener too is drained until `WouldBlock`, at most
//!   [`ACCEPTS_PER_TURN`] at a time. When accept fails for lack of
//!   descriptors (or at all), the listener is deregistered and accepting
//!   resumes when a connection closes or after [`ACCEPT_BACKOFF`]: never a
//!   busy loop, and the open connections keep being served.
//!
//! # Timers
//! A connection's deadline comes from [`Conn::deadline`]. Timers are lazy:
//! a deadline that moved later leaves the armed timer alone, and when it
//! fires `Conn::on_timeout` re-checks and the timer is re-armed. Only a
//! deadline that moved earlier re-inserts.

use std::io;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::config::Config;
use crate::conn::{Conn, Cx, Next};
use crate::http::date::Clock;
use crate::log::{AccessLog, FLUSH_INTERVAL};
use crate::timer::{TimerHandle, TimerWheel};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// Timer resolution. Timeouts are whole seconds; 50 ms keeps them accurate
/// to a twentieth of a second at twenty wakeups a second at most.
pub const TICK: Duration = Duration::from_millis(50);
/// Connections accepted per turn before serving the ready ones.
pub const ACCEPTS_PER_TURN: usize = 256;
/// How long accepting stays paused after accept failed, unless a
/// connection closes first.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Readiness events taken per `poll`.
const EVENTS_CAPACITY: usize = 1024;

const LISTENER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);
const KEY_BITS: u32 = 32;
const KEY_MASK: usize = (1 << KEY_BITS) - 1;

crate::conn::socket_transport!(TcpStream);

struct Slot {
    conn: Conn,
    sock: TcpStream,
    generation: usize,
    /// The armed timer and its tick.
    timer: Option<(TimerHandle, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepting {
    Yes,
    PausedUntil(Instant),
}

/// The event loop and everything it owns.
pub struct EventLoop<'c> {
    config: &'c Config,
    poll: Poll,
    listener: TcpListener,
    accepting: Accepting,
    /// More connections may be waiting in the backlog (the accept budget
    /// ran out): accept again next turn without waiting for an edge.
    accept_pending: bool,
    slots: Slab<Slot>,
    /// Generation of the next connection: 1..2^31, wrapping.
    generation: usize,
    wheel: TimerWheel<Token>,
    epoch: Instant,
    clock: Clock,
    log: Option<AccessLog>,
    /// Connections that yielded: driven again next turn.
    ready: Vec<Token>,
    /// SIGTERM and SIGINT, delivered as readiness through a self-pipe.
    signals: Signals,
}

impl<'c> EventLoop<'c> {
    pub fn new(
        config: &'c Config,
        mut listener: TcpListener,
        log: Option<AccessLog>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let clock = Clock::new();
        Ok(EventLoop {
            config,
            poll,
            listener,
            accepting: Accepting::Yes,
            accept_pending: true,
            slots: Slab::new(),
            generation: 1,
            wheel: TimerWheel::new(0),
            epoch: clock.now,
            clock,
            log,
            ready: Vec::new(),
            signals,
        })
    }

    /// Runs until SIGTERM or SIGINT (then `Ok`, with the access log
    /// flushed) or until `poll` itself fails.
    pub fn run(&mut self) -> io::Result<()> {
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

            let mut stop = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    SIGNALS => stop |= self.signals.pending().next().is_some(),
                    token => self.drive(token),
                }
            }
            if stop {
                if let Some(log) = &mut self.log {
                    log.flush();
                }
                return Ok(());
            }
            if self.accept_pending && self.accepting == Accepting::Yes {
                self.accept();
            }

            std::mem::swap(&mut self.ready, &mut yielded);
            for token in yielded.drain(..) {
                self.drive(token);
            }

            let tick = self.tick_floor(self.clock.now);
            self.wheel.advance(tick, &mut fired);
            for token in fired.drain(..) {
                self.expire(token);
            }

            if let Accepting::PausedUntil(until) = self.accepting {
                if self.clock.now >= until {
                    self.resume_accepting();
                }
            }
            if let Some(log) = &mut self.log {
                log.flush_due(self.clock.now);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() || (self.accept_pending && self.accepting == Accepting::Yes) {
            return Some(Duration::ZERO);
        }
        let tick_nanos = TICK.as_nanos() as u64;
        let mut wake = self
            .wheel
            .next_deadline()
            .map(|t| self.epoch + Duration::from_nanos(t.saturating_mul(tick_nanos)));
        let mut earliest = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Accepting::PausedUntil(until) = self.accepting {
            earliest(until);
        }
        if self.log.as_ref().is_some_and(AccessLog::has_pending) {
            earliest(self.clock.now + FLUSH_INTERVAL);
        }
        wake.map(|w| w.saturating_duration_since(Instant::now()))
    }

    fn tick_floor(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.epoch).as_nanos() / TICK.as_nanos()) as u64
    }

    fn tick_ceil(&self, t: Instant) -> u64 {
        let n = t.saturating_duration_since(self.epoch).as_nanos();
        n.div_ceil(TICK.as_nanos()) as u64
    }

    fn key_of(&self, token: Token) -> Option<usize> {
        let key = token.0 & KEY_MASK;
        let generation = token.0 >> KEY_BITS;
        self.slots
            .get(key)
            .filter(|s| s.generation == generation)
            .map(|_| key)
    }

    fn accept(&mut self) {
        for _ in 0..ACCEPTS_PER_TURN {
            match self.listener.accept() {
                Ok((sock, peer)) => self.admit(sock, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_pending = false;
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: stop
                    // accepting for a while instead of spinning on it.
                    if !matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                        eprintln!("skiff: accept: {e}");
                    }
                    self.pause_accepting();
                    return;
                }
            }
        }
        self.accept_pending = true;
    }

    fn admit(&mut self, mut sock: TcpStream, peer: std::net::SocketAddr) {
        let _ = sock.set_nodelay(true);
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        if key > KEY_MASK {
            return; // unreachable in practice: 4 billion connections
        }
        let generation = self.generation;
        self.generation = if self.generation >= (1 << 31) {
            1
        } else {
            self.generation + 1
        };
        let token = Token(generation << KEY_BITS | key);
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
        {
            eprintln!("skiff: register {peer}: {e}");
            return;
        }
        entry.insert(Slot {
            conn: Conn::new(peer, self.clock.now),
            sock,
            generation,
            timer: None,
        });
        if self.config.verbose {
            eprintln!("skiff: {peer} connected");
        }
        self.arm_timer(key, token);
    }

    fn pause_accepting(&mut self) {
        if self.accepting == Accepting::Yes {
            let _ = self.poll.registry().deregister(&mut self.listener);
        }
        self.accepting = Accepting::PausedUntil(self.clock.now + ACCEPT_BACKOFF);
        self.accept_pending = false;
    }

    fn resume_accepting(&mut self) {
        if self.accepting != Accepting::Yes {
            match self
                .poll
                .registry()
                .register(&mut self.listener, LISTENER, Interest::READABLE)
            {
                Ok(()) => {
                    self.accepting = Accepting::Yes;
                    self.accept_pending = true;
                }
                Err(e) => {
                    eprintln!("skiff: listener: {e}");
                    self.accepting = Accepting::PausedUntil(self.clock.now + ACCEPT_BACKOFF);
                }
            }
        }
    }

    fn drive(&mut self, token: Token) {
        let Some(key) = self.key_of(token) else {
            return;
        };
        let slot = &mut self.slots[key];
        let mut cx = Cx::new(self.config, &self.clock, self.log.as_mut());
        let next = slot.conn.drive(&mut slot.sock, &mut cx);
        self.after(key, token, next);
    }

    fn expire(&mut self, token: Token) {
        let Some(key) = self.key_of(token) else {
            return;
        };
        let slot = &mut self.slots[key];
        slot.timer = None;
        let mut cx = Cx::new(self.config, &self.clock, self.log.as_mut());
        let next = slot.conn.on_timeout(&mut slot.sock, &mut cx);
        self.after(key, token, next);
    }

    fn after(&mut self, key: usize, token: Token, next: Next) {
        match next {
            Next::Close => self.close(key),
            Next::Yield => {
                self.ready.push(token);
                self.arm_timer(key, token);
            }
            Next::Wait => self.arm_timer(key, token),
        }
    }

    fn arm_timer(&mut self, key: usize, token: Token) {
        let tick = self.tick_ceil(self.slots[key].conn.deadline(self.config));
        let slot = &mut self.slots[key];
        match slot.timer {
            // Fires no later than needed; on_timeout re-checks.
            Some((_, armed)) if armed <= tick => return,
            Some((handle, _)) => {
                self.wheel.cancel(handle);
            }
            None => {}
        }
        slot.timer = Some((self.wheel.insert(tick, token), tick));
    }

    fn close(&mut self, key: usize) {
        let mut slot = self.slots.remove(key);
        if let Some((handle, _)) = slot.timer {
            self.wheel.cancel(handle);
        }
        let mut cx = Cx::new(self.config, &self.clock, self.log.as_mut());
        slot.conn.on_close(&mut cx);
        let _ = self.poll.registry().deregister(&mut slot.sock);
        if self.config.verbose {
            eprintln!("skiff: {} closed", slot.conn.peer());
        }
        drop(slot);
        if self.accepting != Accepting::Yes {
            self.resume_accepting();
        }
    }
}
