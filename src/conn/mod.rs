//! One client connection as a state machine, driven by either I/O driver.
//!
//! A [`Conn`] is two states that overlap (with pipelining a connection
//! reads one request while it still sends the answer to another), after
//! hyper's `Reading` x `Writing`:
//!
//! ```text
//!  Reading:                                         Writing:
//!
//!   Idle --first byte--> Head --head parsed,--> Idle  Idle --reply queued--> Sending
//!    ^                    |      no body               ^                      |  |
//!    |                    |                            +------all sent--------+  |
//!    |                    +--head with a body--> Body                            | all sent,
//!    |                                            |                             | last reply
//!    +---------------- body read (reply queued) --+                             v
//!                                                                              Shut
//!                                                                (write side closed; draining
//!                                                                 the client's input until it
//!                                                                 closes: "lingering")
//! ```
//!
//! Each state carries its own clock: when the head began (`Head`, `Body`:
//! the header timeout), when a write last made progress (`Sending`: the
//! send timeout), when the connection went idle (`Idle`: the keep-alive
//! timeout), when lingering began (`Shut`). So [`Conn::deadline`],
//! [`Conn::is_idle`] and the 408 decision are each one `match`.
//!
//! The driver hands a [`Transport`] (a non-blocking mio socket, or a
//! blocking std socket with timeouts) to [`Conn::drive`], which runs
//!
//! ```text
//!   answer buffered requests -> send -> read more -> answer ...
//! ```
//!
//! until the socket would block (`Next::Wait`), its write budget for this
//! turn is used up (`Next::Yield`) or the connection is over
//! (`Next::Close`, with the reason). Because it reads and writes until
//! `WouldBlock` before returning `Wait`, it is correct under
//! edge-triggered readiness.
//!
//! Rules it keeps:
//! - Responses go out in request order; a pipelined request is answered
//!   from the buffer without waiting for another readiness event.
//! - Nothing more is answered while a response is unsent beyond a soft
//!   limit or a file body is streaming (backpressure).
//! - A request body (`Content-Length` or chunked, up to the limit
//!   [`respond`] sets) is read and thrown away *before* its reply is sent,
//!   so a malformed chunked body can still be answered 400.
//! - HTTP policy (status, fields, keep-alive, HEAD, `100 Continue`) is
//!   [`respond`]'s; this module only moves bytes and keeps time.
//!
//! It never touches mio, never sleeps and never panics on client input.

mod input;
mod output;
mod pool;
#[cfg(any(test, feature = "testing"))]
pub mod scripted;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::http::chunked::{self, ChunkError};
use crate::http::date::Clock;
use crate::http::request::{self, Framing, first_line};
use crate::http::response::{CONTINUE, Status};
use crate::log::{Entry, LogSink, OwnedSaid, Said};
use crate::respond::{
    Context, Failure, Fate, MAX_DISCARD, NeedsVerdict, Reply, Services, Site, failed, fate, respond,
};

pub use crate::close::{Timeout, Why};
use crate::files::produced::PIECE;
use crate::timer::later;
pub use crate::transport::{Direction, Transport};
use input::{Input, head_worth_parsing};
pub(crate) use output::WRITE_BUDGET;
use output::{Budget, Flush, Output, Stall};
pub(crate) use pool::BufPool;

/// After the last response: how long to wait for the client to close before
/// closing anyway, and how much of its remaining input to read and drop.
/// Closing with unread input would send a RST that can destroy the response
/// in flight, so the server half-closes and drains first.
pub(crate) const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
pub(crate) const LINGER_MAX_BYTES: usize = 256 * 1024;

/// What the driver should do after `drive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Blocked on the socket: wait for readiness (or the deadline).
    Wait,
    /// Work remains but the turn is used up: drive again soon.
    Yield,
    /// Close the connection now.
    Close(Why),
    /// The connection's first bytes are the HTTP/2 preface (h2c with
    /// prior knowledge): hand it to the HTTP/2 core, with what was read
    /// ([`Conn::take_preread`]).
    Http2,
}

/// What a driver lends a connection for one call.
pub struct Cx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) clock: &'a Clock,
    /// Which listener the connection came through.
    pub(crate) site: Site,
    pub(crate) log: Option<&'a mut dyn LogSink>,
    /// Set when the server starts stopping: every response from then on is
    /// the last on its connection. Read live, so a blocking driver's call
    /// under way sees it.
    pub(crate) stopping: Option<&'a AtomicBool>,
    /// What [`respond`] is lent: files, encodings, credentials checks,
    /// counts per path, the metrics page.
    pub(crate) services: Services<'a>,
    /// The driver's buffer pool, if it keeps one.
    pub(crate) pool: Option<&'a mut BufPool>,
    /// The TLS version, for a connection over HTTPS (the access log).
    pub(crate) tls: Option<&'static str>,
    /// The host the client named in its TLS handshake (SNI).
    pub(crate) sni: Option<std::sync::Arc<str>>,
    /// Where responses are counted (`--metrics`).
    pub(crate) metrics: Option<&'a crate::metrics::LoopMetrics>,
}

impl<'a> Cx<'a> {
    /// A connection of the server's own port, lent nothing else.
    pub fn new(config: &'a Config, clock: &'a Clock, log: Option<&'a mut dyn LogSink>) -> Cx<'a> {
        Cx {
            config,
            clock,
            site: Site::Public,
            log,
            stopping: None,
            services: Services::default(),
            pool: None,
            tls: None,
            sni: None,
            metrics: None,
        }
    }

    /// Whether the server is stopping.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

/// Records a response in the metrics and the access log; `None` for one
/// they do not see (a scrape's).
pub(crate) fn log(
    cx: &mut Cx<'_>,
    peer: IpAddr,
    said: Option<Said<'_>>,
    status: Status,
    bytes: u64,
) {
    let Some(said) = said else {
        return;
    };
    if cx.metrics.is_none() && cx.log.is_none() {
        return;
    }
    // One clock read for both.
    let duration_us = said
        .started
        .map(|t| Instant::now().saturating_duration_since(t).as_micros() as u64);
    if let Some(m) = cx.metrics {
        m.response(said.method, said.http2, status, bytes, duration_us);
        m.site_response(said.site);
    }
    let secs = cx.clock.unix_secs();
    let tls = cx.tls;
    if let Some(log) = cx.log.as_deref_mut() {
        log.record(
            secs,
            &Entry {
                site: site_name(cx.config, said.site),
                peer: said.client.unwrap_or(peer),
                said,
                status,
                bytes,
                duration_us,
                tls,
            },
        );
    }
}

/// The name the log gives site `id`: `None` without virtual hosts, `-`
/// for the default site.
fn site_name(config: &crate::config::Config, id: u16) -> Option<&str> {
    if config.sites.is_empty() {
        return None;
    }
    let named = usize::from(id)
        .checked_sub(1)
        .and_then(|i| config.sites.get(i))
        .and_then(|v| v.config.site_name.as_deref());
    Some(named.unwrap_or("-"))
}

/// The reading half of a connection.
#[derive(Debug)]
enum Reading {
    /// Between requests, nothing received.
    /// INVARIANT: the input buffer is empty.
    Idle,
    /// A head is arriving: its first byte was looked at at `since`, and
    /// its first `scanned` bytes are known not to end it.
    Head { since: Instant, scanned: u32 },
    /// A request body is being read and thrown away; its reply waits.
    Body(Box<BodyRead>),
    /// An upload's body is being read and stored (`--upload`).
    Upload(Box<UploadRead>),
    /// A head (still in the buffer) waits for its credentials to be
    /// checked off the loop; the driver drives the connection again when
    /// the verdict is in, and the head is read again.
    Parked { since: Instant },
}

/// A request body being discarded, and the reply sent once it is.
#[derive(Debug)]
struct BodyRead {
    /// When its head began: the header timeout covers head and body.
    since: Instant,
    framing: BodyFraming,
    reply: Reply,
    fate: Fate,
    said: Option<OwnedSaid>,
}

/// An upload being read, and what its reply needs.
#[derive(Debug)]
struct UploadRead {
    /// When bytes last arrived (or the head did): the header timeout runs
    /// from here, so a long upload lives as long as it keeps moving.
    progress: Instant,
    framing: BodyFraming,
    accepted: Box<crate::respond::upload::Accepted>,
    site: Option<std::sync::Arc<Config>>,
    client: Option<IpAddr>,
    fate: Fate,
    said: Option<OwnedSaid>,
    /// Bytes gathered for the next piece.
    pending: Vec<u8>,
    /// The whole body has been read.
    ended: bool,
    /// Body bytes read so far.
    received: u64,
}

impl UploadRead {
    /// Reads the body straight into the next piece, when it has a length
    /// and nothing is buffered: `None` when it cannot (chunked, the piece
    /// is full, a piece is being written).
    fn read_direct<T: Transport>(&mut self, io: &mut T, now: Instant) -> Option<io::Result<usize>> {
        let BodyFraming::Length(left) = &mut self.framing else {
            return None;
        };
        let room = PIECE
            .saturating_sub(self.pending.len())
            .min(usize::try_from(*left).unwrap_or(usize::MAX));
        if room == 0
            || self.ended
            || !matches!(
                self.accepted.intake.peek(),
                crate::share::upload::Peek::Ready
            )
        {
            return None;
        }
        let at = self.pending.len();
        self.pending.resize(at + room, 0);
        let read = io.read(&mut self.pending[at..]);
        let n = *read.as_ref().unwrap_or(&0);
        self.pending.truncate(at + n);
        *left -= n as u64;
        self.received += n as u64;
        if n > 0 {
            self.progress = now;
        }
        self.ended = *left == 0;
        Some(read)
    }
}

#[derive(Debug)]
enum BodyFraming {
    /// Bytes still to come.
    Length(u64),
    Chunked(chunked::Decoder),
}

/// The writing half of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    /// Nothing to send since `since`.
    Idle { since: Instant },
    /// Output is queued; `stall` says how sending is going. `last`: the
    /// response that ends the connection is queued, and why it ends it.
    Sending { stall: Stall, last: Option<Why> },
    /// The last response is sent and the write side shut: what the client
    /// still sends is read and dropped until it closes (`drained` bytes so
    /// far, since `since`), then the connection ends for `why`.
    Shut {
        since: Instant,
        drained: usize,
        why: Why,
    },
}

/// Buffers and what is being sent: a connection holds this only while it
/// has something to read, answer or send. Idle, it goes back to the pool.
#[derive(Debug, Default)]
struct Busy {
    input: Input,
    output: Output,
}

/// One connection. Idle, it is a few words; its `Busy` part exists only
/// while there is something to do.
#[derive(Debug)]
pub struct Conn {
    /// The client's address and port, kept apart: an `IpAddr` and a `u16`
    /// take less room than a `SocketAddr` (every idle connection holds
    /// one).
    peer: IpAddr,
    port: u16,
    /// A response was queued on this connection (a 408 is sent only when
    /// none was).
    answered: bool,
    reading: Reading,
    writing: Writing,
    busy: Option<Box<Busy>>,
    /// Large file bodies go out with sendfile: decided once, by the driver
    /// that made the connection (`--no-sendfile`, and whether its
    /// transport can: not through TLS).
    sendfile: bool,
}

enum Step {
    /// A reply was queued.
    Answered,
    /// Bytes were used; go on.
    Progress,
    /// Nothing more can be done without more input.
    NeedInput,
    /// The request waits for a verdict: send what is queued, read nothing.
    Parked,
    /// The first bytes are HTTP/2's preface.
    Http2,
}

impl Conn {
    /// A connection from `peer`, accepted at `now`; `sendfile`: large file
    /// bodies go out with [`Transport::send_file`].
    pub fn new(peer: SocketAddr, now: Instant, sendfile: bool) -> Conn {
        Conn {
            peer: peer.ip(),
            port: peer.port(),
            answered: false,
            reading: Reading::Idle,
            writing: Writing::Idle { since: now },
            busy: None,
            sendfile,
        }
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        SocketAddr::new(self.peer, self.port)
    }

    /// Whether the connection is between requests with nothing to send.
    /// Idle and never answered: a new connection whose first request has
    /// not begun.
    pub(crate) fn is_new(&self) -> bool {
        !self.answered && self.is_idle()
    }

    pub(crate) fn is_idle(&self) -> bool {
        matches!(
            (&self.reading, &self.writing),
            (Reading::Idle, Writing::Idle { .. })
        )
    }

    /// The instant this connection must be dealt with if nothing happens
    /// first, and which timeout that is.
    pub(crate) fn timer(&self, config: &Config) -> (Instant, Timeout) {
        match (&self.reading, &self.writing) {
            (_, Writing::Shut { since, .. }) => (later(*since, LINGER_TIMEOUT), Timeout::Linger),
            (_, Writing::Sending { stall, .. }) => {
                (later(stall.progress, config.send_timeout), Timeout::Send)
            }
            (Reading::Head { since, .. }, _) => {
                (later(*since, config.header_timeout), Timeout::Header)
            }
            (Reading::Body(b), _) => (later(b.since, config.header_timeout), Timeout::Header),
            (Reading::Upload(u), _) => (later(u.progress, config.header_timeout), Timeout::Header),
            (Reading::Parked { since }, _) => {
                (later(*since, config.header_timeout), Timeout::Header)
            }
            (Reading::Idle, Writing::Idle { since }) => {
                // A new connection that sends nothing is idle too; with
                // keep-alive off it gets the header timeout.
                let idle = config.keep_alive.unwrap_or(config.header_timeout);
                (later(*since, idle), Timeout::Idle)
            }
        }
    }

    /// The instant this connection must be dealt with if nothing happens
    /// first (see [`Conn::timer`]).
    pub(crate) fn deadline(&self, config: &Config) -> Instant {
        self.timer(config).0
    }

    fn busy(&mut self, cx: &mut Cx<'_>) -> &mut Busy {
        self.busy.get_or_insert_with(
            || match cx.pool.as_deref_mut().and_then(BufPool::take_busy) {
                Some(mut b) => {
                    *b = Busy::default();
                    b
                }
                None => Box::default(),
            },
        )
    }

    /// Gives the busy part back once there is nothing left to do.
    fn settle(&mut self, next: Next, cx: &mut Cx<'_>) {
        if next != Next::Wait || !self.is_idle() {
            return;
        }
        if let Some(mut b) = self.busy.take() {
            if b.input.eof || !b.input.is_empty() {
                self.busy = Some(b);
                return;
            }
            let pool = cx.pool.as_deref_mut();
            b.input.release(pool);
            b.output.release(cx);
            if let Some(pool) = cx.pool.as_deref_mut() {
                pool.give_busy(b);
            }
        }
    }

    /// Runs the connection until it blocks, yields or ends. See the module
    /// documentation.
    pub fn drive<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        let mut budget = Budget::per_turn();
        // The busy part, acquired once and lent down for the whole turn.
        self.busy(cx);
        let Some(mut busy) = self.busy.take() else {
            unreachable!("acquired just above");
        };
        let next = self.run(io, cx, &mut budget, &mut busy);
        self.busy = Some(busy);
        self.settle(next, cx);
        next
    }

    fn run<T: Transport>(
        &mut self,
        io: &mut T,
        cx: &mut Cx<'_>,
        budget: &mut Budget,
        busy: &mut Busy,
    ) -> Next {
        loop {
            if let Writing::Shut { .. } = self.writing {
                return self.linger(io, cx);
            }
            // 1. Answer what is already buffered, while there is room.
            let mut need_input = false;
            let mut parked = false;
            while budget.requests > 0 && self.accepts_more(busy) {
                match self.next_request(cx, busy) {
                    Step::Answered => budget.requests -= 1,
                    Step::Progress => {}
                    Step::NeedInput => {
                        need_input = true;
                        break;
                    }
                    Step::Parked => {
                        parked = true;
                        break;
                    }
                    Step::Http2 => return Next::Http2,
                }
            }
            // 2. Send it.
            if let Some(next) = self.send(io, cx, budget, busy) {
                return next;
            }
            if let Writing::Shut { .. } = self.writing {
                continue;
            }
            if parked {
                return Next::Wait;
            }
            if !need_input {
                if budget.requests == 0 {
                    return Next::Yield;
                }
                continue;
            }
            if busy.input.eof {
                return Next::Close(Why::PeerClosed);
            }
            // 3. Read more. Only a blocking transport needs the deadline
            // (and whether this read waits between requests); for the
            // event loop's sockets the call would do nothing, so skip
            // computing its arguments.
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
                        Next::Close(Why::Reset)
                    };
                }
            }
            // An upload's body goes straight into its next piece: one
            // large read instead of many through the head buffer.
            let direct = match &mut self.reading {
                Reading::Upload(up) if busy.input.is_empty() => up.read_direct(io, cx.clock.now()),
                _ => None,
            };
            let read = match direct {
                Some(read) => read,
                None => busy.input.read_from(io, cx.pool.as_deref_mut()),
            };
            if T::BLOCKING {
                // The read may have waited: what follows needs the time now.
                cx.clock.refresh();
            }
            match read {
                Ok(0) => busy.input.eof = true,
                Ok(_) => {}
                Err(e) if is_blocked(&e) => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close(Why::Reset),
            }
        }
    }

    /// Whether another request may be answered behind what is queued.
    fn accepts_more(&self, busy: &Busy) -> bool {
        let last = matches!(
            self.writing,
            Writing::Sending { last: Some(_), .. } | Writing::Shut { .. }
        );
        !last && busy.output.accepts_more()
    }

    /// Flushes the output. `None`: everything is sent (and, after the last
    /// response, the write side is shut); otherwise what to return.
    fn send<T: Transport>(
        &mut self,
        io: &mut T,
        cx: &mut Cx<'_>,
        budget: &mut Budget,
        busy: &mut Busy,
    ) -> Option<Next> {
        let Writing::Sending { stall, last } = &mut self.writing else {
            return None;
        };
        let peer = self.peer;
        match busy
            .output
            .flush(io, cx, peer, budget, stall, self.sendfile)
        {
            Flush::Done => {}
            Flush::Blocked => {
                // A stall begins: note what the kernel holds for the client
                // (a blocking transport's writes are armed for at most a
                // second, so this is near its start there too).
                if stall.queued == u32::MAX {
                    stall.queued = io
                        .unsent_bytes()
                        .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX - 1));
                }
                return Some(Next::Wait);
            }
            Flush::Budget => return Some(Next::Yield),
            Flush::Waiting => return Some(Next::Wait),
            Flush::Failed(why) => return Some(Next::Close(why)),
        }
        let now = cx.clock.now();
        match *last {
            None => {
                self.writing = Writing::Idle { since: now };
                None
            }
            Some(why) if busy.input.eof => Some(Next::Close(why)),
            Some(why) => {
                io.shutdown_write();
                busy.input.clear();
                self.reading = Reading::Idle;
                self.writing = Writing::Shut {
                    since: now,
                    drained: 0,
                    why,
                };
                None
            }
        }
    }

    /// Answers a [`Failure`] the connection met on its own, as the last
    /// reply on it: the 408 to a head that never finished, or the 400 to
    /// plain HTTP on the HTTPS port.
    pub(crate) fn refuse(&mut self, failure: Failure, cx: &mut Cx<'_>) {
        let line = self
            .busy
            .as_ref()
            .and_then(|b| first_line(b.input.data()))
            .map(<[u8]>::to_vec);
        self.busy(cx).input.clear();
        self.reading = Reading::Idle;
        let ending = match failure {
            Failure::Timeout => Why::Timeout(Timeout::Header),
            Failure::PlainHttp => Why::PlainHttp,
            other => Why::Protocol(other.status().code()),
        };
        let (reply, fate) = failed(failure, cx.site, cx.config);
        let said = Said {
            line: line.as_deref(),
            ..Said::default()
        };
        let Conn {
            peer,
            answered,
            writing,
            busy,
            sendfile,
            ..
        } = self;
        let Some(busy) = busy.as_deref_mut() else {
            return;
        };
        let out = Out {
            output: &mut busy.output,
            writing,
            answered,
            peer: *peer,
            sendfile: *sendfile,
        };
        let said = reply.observed.then_some(said);
        out.queue(reply, fate, said, ending, cx);
    }

    /// Moves the reading half along with what is buffered: begins a head,
    /// parses and answers it, or reads and drops a request body.
    fn next_request(&mut self, cx: &mut Cx<'_>, busy: &mut Busy) -> Step {
        let now = cx.clock.now();
        let Conn {
            peer,
            answered,
            reading,
            writing,
            sendfile,
            ..
        } = self;
        let Busy { input, output } = busy;
        let out = Out {
            output,
            writing,
            answered,
            peer: *peer,
            sendfile: *sendfile,
        };
        match reading {
            Reading::Idle if input.is_empty() => Step::NeedInput,
            Reading::Idle => {
                *reading = Reading::Head {
                    since: now,
                    scanned: 0,
                };
                Step::Progress
            }
            Reading::Parked { since } => {
                // Driven again: the verdict may be in. Read the head anew.
                *reading = Reading::Head {
                    since: *since,
                    scanned: 0,
                };
                Step::Progress
            }
            // h2c with prior knowledge: only as a connection's first bytes.
            Reading::Head { .. } if cx.config.http2 && !*out.answered => {
                match preface(input.data()) {
                    Preface::Whole => Step::Http2,
                    Preface::Partial => Step::NeedInput,
                    Preface::Not => read_head(reading, input, out, cx, now),
                }
            }
            Reading::Head { .. } => read_head(reading, input, out, cx, now),
            Reading::Body(_) => read_body(reading, input, out, cx, now),
            Reading::Upload(_) => read_upload(reading, input, out, cx, now),
        }
    }

    /// What was read before the connection turned out to be HTTP/2 (the
    /// preface, and whatever followed it); the buffers go back to the
    /// pool.
    pub(crate) fn take_preread(&mut self, cx: &mut Cx<'_>) -> Vec<u8> {
        let Some(mut busy) = self.busy.take() else {
            return Vec::new();
        };
        let bytes = busy.input.data().to_vec();
        busy.input.clear();
        busy.input.release(cx.pool.as_deref_mut());
        busy.output.release(cx);
        if let Some(pool) = cx.pool.as_deref_mut() {
            pool.give_busy(busy);
        }
        self.reading = Reading::Idle;
        bytes
    }

    /// After the last response: read and drop input until the client
    /// closes, then close.
    fn linger<T: Transport>(&mut self, io: &mut T, cx: &Cx<'_>) -> Next {
        let Writing::Shut {
            since,
            drained,
            why,
        } = &mut self.writing
        else {
            unreachable!("linger is called in Shut");
        };
        linger(io, cx, *since, drained, *why)
    }

    /// The deadline passed (the driver checks nothing; this re-checks).
    /// Before it: `Wait` (re-arm the timer). A send timeout while the
    /// kernel's queue for the client keeps shrinking is progress, not a
    /// stall. A head still incomplete on a connection that has had no
    /// answer yet gets 408; anything else closes.
    pub fn on_timeout<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        let now = cx.clock.now();
        let (deadline, kind) = self.timer(cx.config);
        if now < deadline {
            return Next::Wait;
        }
        let next = match (kind, &mut self.writing) {
            (Timeout::Send, Writing::Sending { stall, .. }) => match io
                .unsent_bytes()
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX - 1))
            {
                // The client is reading what the kernel holds: not stalled.
                Some(queued) if queued < stall.queued => {
                    *stall = Stall {
                        progress: now,
                        queued,
                    };
                    Next::Wait
                }
                _ => Next::Close(Why::Timeout(Timeout::Send)),
            },
            (Timeout::Header, Writing::Idle { .. }) if !self.answered => {
                self.refuse(Failure::Timeout, cx);
                self.drive(io, cx)
            }
            // Lingering ends for the reason the connection was ending.
            (_, Writing::Shut { why, .. }) => Next::Close(*why),
            _ => Next::Close(Why::Timeout(kind)),
        };
        self.settle(next, cx);
        next
    }

    /// The connection is being dropped: log a transfer cut short.
    pub fn on_close(&mut self, cx: &mut Cx<'_>) {
        let peer = self.peer;
        if let Some(b) = &mut self.busy {
            b.output.abort(cx, peer);
        }
    }
}

/// After a connection's last bytes went out and its write side was shut
/// at `since`: reads and drops what the client still sends (`drained`
/// bytes so far) until it closes, [`LINGER_TIMEOUT`] passes or
/// [`LINGER_MAX_BYTES`] have come, then the connection ends for `why`.
/// HTTP/1 after its last response and HTTP/2 after its GOAWAY both end
/// this way, so what the client sent meanwhile cannot reset what is still
/// on its way to it.
pub(crate) fn linger<T: Transport>(
    io: &mut T,
    cx: &Cx<'_>,
    since: Instant,
    drained: &mut usize,
    why: Why,
) -> Next {
    let mut scratch = [0u8; 4096];
    loop {
        if io
            .arm(later(since, LINGER_TIMEOUT), cx.clock, Direction::Read)
            .is_err()
        {
            return Next::Close(why);
        }
        match io.read(&mut scratch) {
            Ok(0) => return Next::Close(why),
            Ok(n) => {
                *drained += n;
                if *drained > LINGER_MAX_BYTES {
                    return Next::Close(why);
                }
            }
            Err(e) if is_blocked(&e) => return Next::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close(why),
        }
    }
}

/// A head is arriving: parse it when it may be whole, and answer it (or
/// refuse it), or begin reading its body.
fn read_head(
    reading: &mut Reading,
    input: &mut Input,
    out: Out<'_>,
    cx: &mut Cx<'_>,
    now: Instant,
) -> Step {
    let Reading::Head { since, scanned } = reading else {
        unreachable!("called in Head");
    };
    let since = *since;
    let data = input.data();
    if !head_worth_parsing(data, *scanned as usize) {
        *scanned = data.len() as u32;
        return Step::NeedInput;
    }
    let req = match request::parse(data) {
        Ok(None) => {
            // The buffer holds one byte more than the longest
            // valid head, and parse names every head over a
            // limit (a property test checks this).
            debug_assert!(!input.is_full(), "parse left a full buffer partial");
            *scanned = data.len() as u32;
            return Step::NeedInput;
        }
        Ok(Some(req)) => req,
        Err(e) => {
            // The head is refused: nothing after it can be read.
            let line = first_line(input.data()).map(<[u8]>::to_vec);
            input.clear();
            *reading = Reading::Idle;
            let failure = Failure::Head(e);
            let (reply, fate) = failed(failure, cx.site, cx.config);
            let said = Said {
                line: line.as_deref(),
                started: Some(since),
                ..Said::default()
            };
            let ending = Why::Protocol(failure.status().code());
            let said = reply.observed.then_some(said);
            out.queue(reply, fate, said, ending, cx);
            return Step::Answered;
        }
    };
    let context = Context {
        config: cx.config,
        clock: cx.clock,
        site: cx.site,
        stopping: cx.is_stopping(),
        peer: out.peer,
        sni: cx.sni.as_deref(),
    };
    let reply = match respond(&req, context, &mut cx.services) {
        Ok(reply) => reply,
        Err(NeedsVerdict) => {
            *reading = Reading::Parked { since };
            return Step::Parked;
        }
    };
    let fate = fate(&req, &reply, cx.config, cx.is_stopping());
    let said = reply.observed.then_some(Said {
        method: Some(req.method),
        line: Some(req.line),
        referer: req.referer,
        user_agent: req.user_agent,
        started: Some(since),
        http2: false,
        client: reply.client,
        site: reply.site.as_ref().map_or(0, |c| c.site_id),
        received: 0,
    });
    let head_len = req.head_len;
    if reply.upload.is_some() {
        // `--upload`: the body goes to the upload, which answers.
        let mut reply = reply;
        let Some(accepted) = reply.upload.take() else {
            unreachable!("checked above");
        };
        let framing = match req.framing {
            Framing::None => BodyFraming::Length(0),
            Framing::Length(n) => BodyFraming::Length(n),
            Framing::Chunked => BodyFraming::Chunked(chunked::Decoder::new(accepted.max_bytes)),
        };
        if fate.send_continue {
            continue_now(out.output, out.writing, cx, now);
        }
        let said = said.map(|s| s.to_owned());
        input.consume(head_len);
        *reading = Reading::Upload(Box::new(UploadRead {
            progress: now,
            framing,
            accepted,
            site: reply.site.take(),
            client: reply.client,
            fate,
            said,
            pending: Vec::new(),
            ended: false,
            received: 0,
        }));
        return Step::Progress;
    }
    let framing = match fate.discard {
        Framing::None => {
            out.queue(reply, fate, said, Why::Done, cx);
            input.consume(head_len);
            *reading = next_head(input, now);
            return Step::Answered;
        }
        Framing::Length(n) => BodyFraming::Length(n.min(MAX_DISCARD)),
        Framing::Chunked => BodyFraming::Chunked(chunked::Decoder::new(MAX_DISCARD)),
    };
    let said = said.map(|s| s.to_owned());
    if fate.send_continue {
        continue_now(out.output, out.writing, cx, now);
    }
    input.consume(head_len);
    *reading = Reading::Body(Box::new(BodyRead {
        since,
        framing,
        reply,
        fate,
        said,
    }));
    Step::Progress
}

/// Queues `100 Continue`.
fn continue_now(output: &mut Output, writing: &mut Writing, cx: &mut Cx<'_>, now: Instant) {
    output.push_interim(CONTINUE, cx);
    if let Writing::Idle { .. } = writing {
        *writing = Writing::Sending {
            stall: Stall::new(now),
            last: None,
        };
    }
}

/// An upload's body is arriving: it is gathered a piece at a time and
/// each piece handed to the worker pool, reading nothing more while one is
/// written; once the upload has ended, its reply is queued.
fn read_upload(
    reading: &mut Reading,
    input: &mut Input,
    out: Out<'_>,
    cx: &mut Cx<'_>,
    now: Instant,
) -> Step {
    use crate::share::upload::{Failed, State};
    let Reading::Upload(up) = reading else {
        unreachable!("called in Upload");
    };
    let outcome = match up.accepted.intake.state() {
        State::Away => return Step::Parked,
        State::Over(outcome) => Some(outcome),
        State::Ready => None,
    };
    let mut failure = None;
    if outcome.is_none() && !up.ended {
        let data = input.data();
        let room = PIECE.saturating_sub(up.pending.len());
        let before = up.pending.len();
        let used = match &mut up.framing {
            BodyFraming::Length(left) => {
                let n = (*left).min(data.len() as u64).min(room as u64) as usize;
                up.pending.extend_from_slice(&data[..n]);
                *left -= n as u64;
                up.ended = *left == 0;
                n
            }
            BodyFraming::Chunked(d) => {
                let pending = &mut up.pending;
                let limit = data.len().min(room);
                match d.feed_with(&data[..limit], &mut |b| pending.extend_from_slice(b)) {
                    Ok(n) => {
                        up.ended = d.is_done();
                        n
                    }
                    Err(ChunkError::TooLarge) => {
                        failure = Some(Failed::TooLarge);
                        0
                    }
                    Err(ChunkError::Malformed(_)) => {
                        failure = Some(Failed::Bad);
                        0
                    }
                }
            }
        };
        input.consume(used);
        let got = (up.pending.len() - before) as u64;
        up.received += got;
        if used > 0 {
            up.progress = now;
        }
        if up.received > up.accepted.max_bytes {
            failure = Some(Failed::TooLarge);
        }
    }
    let outcome = match (outcome, failure) {
        (Some(o), _) => o,
        (None, Some(f)) => Err(f),
        (None, None) => {
            if up.ended || up.pending.len() >= PIECE {
                let bytes = std::mem::take(&mut up.pending);
                let last = up.ended;
                let offload = cx.services.offload.as_deref_mut();
                if let Err(bytes) = up.accepted.intake.push(bytes, last, offload) {
                    // The pool is full: the driver drives the connection
                    // again soon, and the piece is handed over then.
                    up.pending = bytes;
                }
                return Step::Parked;
            }
            return Step::NeedInput;
        }
    };
    answer_upload(reading, input, out, cx, now, outcome)
}

/// Queues an upload's reply; the connection goes on only if its body was
/// read to the end.
fn answer_upload(
    reading: &mut Reading,
    input: &mut Input,
    out: Out<'_>,
    cx: &mut Cx<'_>,
    now: Instant,
    outcome: Result<Vec<crate::share::upload::Stored>, crate::share::upload::Failed>,
) -> Step {
    let Reading::Upload(up) = std::mem::replace(reading, Reading::Idle) else {
        unreachable!("called in Upload");
    };
    let UploadRead {
        accepted,
        site,
        client,
        fate,
        mut said,
        ended,
        received,
        ..
    } = *up;
    let config = site.as_deref().unwrap_or(cx.config);
    crate::respond::upload::record(&outcome, &accepted, client.unwrap_or(out.peer), cx.metrics);
    let mut reply = crate::respond::upload::done(outcome, &accepted, config);
    reply.site = site;
    reply.client = client;
    if let Some(s) = &mut said {
        s.received = received;
    }
    let fate = if ended && !reply.closes {
        *reading = next_head(input, now);
        fate
    } else {
        input.clear();
        fate.closing()
    };
    out.queue(
        reply,
        fate,
        said.as_ref().map(OwnedSaid::said),
        Why::Done,
        cx,
    );
    Step::Answered
}

/// A request body is being read and dropped: once it is all here, its
/// reply is queued.
fn read_body(
    reading: &mut Reading,
    input: &mut Input,
    out: Out<'_>,
    cx: &mut Cx<'_>,
    now: Instant,
) -> Step {
    let Reading::Body(body) = reading else {
        unreachable!("called in Body");
    };
    let data = input.data();
    let (used, outcome) = match &mut body.framing {
        BodyFraming::Length(left) => {
            let n = (*left).min(data.len() as u64);
            *left -= n;
            (n as usize, Ok(*left == 0))
        }
        BodyFraming::Chunked(d) => match d.feed(data) {
            Ok(n) => (n, Ok(d.is_done())),
            Err(e) => (0, Err(e)),
        },
    };
    input.consume(used);
    if outcome == Ok(false) {
        return Step::NeedInput;
    }
    let Reading::Body(body) = std::mem::replace(reading, Reading::Idle) else {
        unreachable!("matched above");
    };
    let BodyRead {
        reply, fate, said, ..
    } = *body;
    let (reply, fate, ending) = match outcome {
        Ok(_) => {
            *reading = next_head(input, now);
            (reply, fate, Why::Done)
        }
        // Answer as decided, but the next request cannot be
        // found: the connection ends after the reply.
        Err(ChunkError::TooLarge) => {
            input.clear();
            (reply, fate.closing(), Why::Done)
        }
        Err(ChunkError::Malformed(_)) => {
            input.clear();
            let (reply, fate) = failed(Failure::BadBody, cx.site, cx.config);
            (reply, fate, Why::Protocol(400))
        }
    };
    out.queue(reply, fate, said.as_ref().map(OwnedSaid::said), ending, cx);
    Step::Answered
}

/// The writing side of a connection, borrowed to queue one reply (apart
/// from the input buffer, which the request it answers may still borrow).
struct Out<'c> {
    output: &'c mut Output,
    writing: &'c mut Writing,
    answered: &'c mut bool,
    peer: IpAddr,
    /// Large file bodies go out with sendfile.
    sendfile: bool,
}

impl Out<'_> {
    /// Renders a reply into the output (the HTTP/1 writer: [`Output::queue`])
    /// and moves the writing half to `Sending`. `ending`: why the
    /// connection ends, if this reply ends it. A file that turns out short
    /// while a small body is read is answered with [`Failure::ShortFile`]
    /// instead.
    fn queue(self, reply: Reply, fate: Fate, said: Option<Said<'_>>, ending: Why, cx: &mut Cx<'_>) {
        *self.answered = true;
        let now = cx.clock.now();
        let closes = match self
            .output
            .queue(reply, fate, said, self.peer, self.sendfile, cx)
        {
            Ok(closes) => closes,
            Err(output::ShortFile) => {
                let (reply, fate) = failed(Failure::ShortFile, cx.site, cx.config);
                let _ = self
                    .output
                    .queue(reply, fate, said, self.peer, self.sendfile, cx);
                true
            }
        };
        let ending = closes.then(|| {
            if cx.is_stopping() && ending == Why::Done {
                Why::Shutdown
            } else {
                ending
            }
        });
        *self.writing = match *self.writing {
            Writing::Idle { .. } => Writing::Sending {
                stall: Stall::new(now),
                last: ending,
            },
            Writing::Sending { stall, last } => Writing::Sending {
                stall,
                last: last.or(ending),
            },
            shut @ Writing::Shut { .. } => shut,
        };
    }
}

/// How far the input matches HTTP/2's connection preface.
enum Preface {
    Whole,
    /// All of it so far; more is needed to tell.
    Partial,
    Not,
}

/// A connection's first line is the preface, or a start of it; or it
/// cannot be HTTP/1 either because where the version goes (after two
/// spaces) something that does not even begin `HTTP` stands: then it is
/// taken for a
/// broken preface, and the HTTP/2 side refuses it (GOAWAY with
/// PROTOCOL_ERROR), as RFC 9113 section 3.4 asks of an invalid preface.
fn preface(data: &[u8]) -> Preface {
    let p = crate::http2::PREFACE;
    if data.starts_with(p) {
        return Preface::Whole;
    }
    if p.starts_with(data) {
        return Preface::Partial;
    }
    let line = data
        .split(|&c| c == b'\r' || c == b'\n')
        .next()
        .unwrap_or_default();
    let mut tokens = line.splitn(3, |&c| c == b' ');
    if let (Some(method), Some(target), Some(version)) =
        (tokens.next(), tokens.next(), tokens.next())
    {
        let n = version.len().min(4);
        let words = !method.is_empty() && !target.is_empty() && !version.contains(&b' ');
        if words && n > 0 && version[..n] != b"HTTP"[..n] {
            return Preface::Whole;
        }
    }
    Preface::Not
}

/// After a request: the next head, if any bytes of it are here, begins now.
fn next_head(input: &Input, now: Instant) -> Reading {
    if input.is_empty() {
        Reading::Idle
    } else {
        Reading::Head {
            since: now,
            scanned: 0,
        }
    }
}

/// A write that would block, or a blocking call that timed out.
fn is_blocked(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests;
