//! One HTTP/2 connection, driven by either driver over any transport,
//! like HTTP/1's [`Conn`](crate::conn::Conn), and answered by the same
//! `respond`.
//!
//! The codec (the `h2` crate: frames, HPACK, streams, flow control) runs
//! over in-memory buffers ([`wire`]) the driver fills from the socket and
//! drains into it; its per-connection waker only raises a flag, and
//! [`H2::drive`] polls the codec again until nothing moves. Each turn:
//!
//! ```text
//!   poll the codec: take new streams, answer each (respond -> head ->
//!   body), feed the streams still sending as their windows open
//!     -> send what the codec wrote -> read what the client sent
//!     -> ... until the socket would block (Wait), the turn's byte
//!        budget is spent (Yield), or the connection is over (Close)
//! ```
//!
//! Rules it keeps:
//! - **Bounded.** At most `--http2-max-streams` streams at once (more are
//!   refused by the codec with REFUSED_STREAM); a header list of at most
//!   [`MAX_HEADER_LIST`]; at most [`MAX_SEND_BUFFER`] of a stream's body
//!   queued in the codec, read from its file only as the window allows,
//!   [`CHUNK`] at a time; [`wire::OUTPUT_LIMIT`] written ahead of the
//!   socket. Idle, a connection holds no buffer of its own (the wire's go
//!   back to the pool), only the codec's state.
//! - **Fair.** Each turn reads at most [`READ_BUDGET`] and writes at most
//!   [`WRITE_BUDGET`] before yielding to other connections; within a
//!   connection the codec interleaves the streams' DATA frames, and a
//!   stream without window never holds up the others.
//! - **Cancellable.** A stream the client resets stops at once: its file
//!   is dropped, and a stream parked on a password check leaves the
//!   check (which is not run if no one else waits for it).
//! - **Timed.** The preface and first SETTINGS frame must arrive within
//!   `--header-timeout`; with no stream open the connection gets GOAWAY
//!   after `--keep-alive-timeout`; streams that make no progress for
//!   `--send-timeout` (no window, or a client that does not read; a
//!   shrinking kernel queue counts as progress) close it. One deadline,
//!   one timer, as for HTTP/1.
//! - **Guarded.** Floods the codec cannot rate are counted by [`guard`]
//!   and answered with GOAWAY (ENHANCE_YOUR_CALM).
//! - **Stopping.** The server stopping sends GOAWAY: streams in flight
//!   finish, no new one starts.

mod guard;
mod head;
mod wire;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use bytes::Bytes;
use h2::Reason;
use h2::server::{Connection, Handshake, SendResponse};
use h2::{RecvStream, SendStream};

use crate::close::{Timeout, Why};
use crate::config::Config;
use crate::conn::{Cx, LINGER_TIMEOUT, Next, log};
use crate::files::body::FileStream;
use crate::files::produced::Produced;
use crate::http::request::HeadError;
use crate::log::{OwnedSaid, Said};
use crate::respond::{
    Body, Context as Ctx, Failure, MAX_DISCARD, NeedsVerdict, Reply, failed, respond,
};
use crate::timer::later;
use crate::transport::{Direction, Transport};

pub(crate) use guard::PREFACE;
use guard::{Flood, Guard};
use head::{DateField, Head};
use wire::{Pipe, Wire};

/// The largest header list accepted (decoded, as RFC 9113 counts it);
/// this also bounds a run of CONTINUATION frames.
pub(crate) const MAX_HEADER_LIST: u32 = 16 * 1024;
/// Bytes of one stream's body the codec may hold ahead of its window.
pub(crate) const MAX_SEND_BUFFER: usize = 64 * 1024;
/// Bytes of a file read at a time (one DATA frame at the default frame
/// size).
pub(crate) const CHUNK: usize = 16 * 1024;
/// Largest body copied into one send rather than streamed.
const INLINE_MAX: u64 = CHUNK as u64;
/// Bytes read from the socket per turn.
pub(crate) const READ_BUDGET: usize = 256 * 1024;
/// Bytes written to the socket per turn (as for HTTP/1).
pub(crate) const WRITE_BUDGET: usize = crate::conn::WRITE_BUDGET;
/// Rounds of poll, send and read per turn before yielding regardless.
const ROUNDS_PER_TURN: usize = 64;
/// Flow-control window for what clients send (request bodies, which are
/// read and dropped): the protocol's default.
const RECV_WINDOW: u32 = 65_535;
/// Streams this connection may have to reset for the client's errors
/// before it is answered GOAWAY (MadeYouReset, CVE-2025-8671).
const MAX_LOCAL_RESETS: usize = 128;

/// The waker the codec is given: it only raises a flag, which the driver
/// looks at after each poll.
#[derive(Debug, Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Flag {
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// The codec's state.
enum Codec {
    /// Our SETTINGS going out, the client's preface coming in.
    Handshake(Handshake<Pipe, Bytes>),
    Open(Connection<Pipe, Bytes>),
    /// The codec is done (it sent GOAWAY if there was one to send).
    Done,
}

/// How the connection is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// The codec has finished: send what it wrote, then shut the write
    /// side.
    Ending(Why),
    /// The write side is shut: what the client still sends is read and
    /// dropped until it closes, as after HTTP/1's last response.
    Shut {
        since: Instant,
        drained: usize,
        why: Why,
    },
}

/// A stream being answered.
struct Stream {
    state: StreamState,
    /// The request's body, while the client is still sending it: read and
    /// dropped (its window given back) until it ends. The stream stays
    /// open until then, as the protocol has it, so what the client sends
    /// on it is still checked.
    recv: Option<RecvStream>,
    /// Body bytes read and dropped.
    taken: u64,
    /// The body is an upload's: never read and dropped.
    keep_body: bool,
    /// What the log records when it ends (`None`: not logged).
    said: Option<OwnedSaid>,
}

enum StreamState {
    /// The request's body is arriving: it is read and dropped, and the
    /// request answered once it has ended, as HTTP/1 does (so a request is
    /// never answered while the client may still send on its stream);
    /// at once past [`MAX_DISCARD`] bytes.
    Receiving {
        head: Box<Head>,
        respond: SendResponse<Bytes>,
        since: Instant,
    },
    /// Waiting for a password check; the head is answered again when the
    /// connection is driven after the verdict.
    Parked {
        head: Box<Head>,
        respond: SendResponse<Bytes>,
        since: Instant,
    },
    /// A file body streaming as the window opens.
    Sending {
        send: SendStream<Bytes>,
        body: FileStream,
        status: crate::http::response::Status,
        /// Body bytes handed to the codec.
        loaded: u64,
    },
    /// A body made on the worker pool (a folder download): the head waits
    /// for the maker's verdict.
    Making {
        respond: SendResponse<Bytes>,
        reply: Box<Reply>,
        produced: Produced,
    },
    /// That body streaming: the piece being sent (`carry`) and the rest
    /// to come from the maker.
    Producing {
        send: SendStream<Bytes>,
        produced: Produced,
        carry: Bytes,
        status: crate::http::response::Status,
        loaded: u64,
    },
    /// An upload's body arriving (`--upload`): gathered a piece at a
    /// time and handed to the worker pool; its window is given back only
    /// as the pieces are taken, so a slow disk slows the client.
    Uploading {
        respond: SendResponse<Bytes>,
        up: Box<Uploading>,
    },
    /// The response is all sent (or the stream was reset).
    Sent,
}

/// What an uploading stream keeps.
struct Uploading {
    accepted: Box<crate::respond::upload::Accepted>,
    site: Option<Arc<Config>>,
    client: Option<IpAddr>,
    pending: Vec<u8>,
    /// The whole body has arrived.
    ended: bool,
    received: u64,
    /// When body bytes last arrived.
    progress: Instant,
}

/// One HTTP/2 connection.
pub(crate) struct H2 {
    peer: IpAddr,
    port: u16,
    codec: Codec,
    wire: Rc<RefCell<Wire>>,
    flag: Arc<Flag>,
    waker: Waker,
    guard: Guard,
    streams: Vec<Stream>,
    phase: Phase,
    /// When the connection was accepted, or last had no stream open.
    since: Instant,
    /// When a stream last made progress (a start, a window, an end), and
    /// the kernel's queue for the client when the socket last blocked
    /// (`u32::MAX`: not known).
    progress: Instant,
    queued: u32,
    /// GOAWAY was asked of the codec (stopping, idle, a flood).
    going_away: bool,
    /// Why, when it was a flood.
    flood: Option<Flood>,
    /// The GOAWAY that ends the connection at once was asked for.
    ended_now: bool,
    /// This second's `Date` field.
    dates: DateField,
}

impl std::fmt::Debug for H2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2")
            .field("peer", &self.peer)
            .field("streams", &self.streams.len())
            .field("phase", &self.phase)
            .finish()
    }
}

impl H2 {
    /// A connection from `peer` that speaks HTTP/2 from its first byte,
    /// some of which (`preread`, at most the preface) were already read.
    pub(crate) fn new(peer: SocketAddr, now: Instant, config: &Config, preread: &[u8]) -> H2 {
        let wire = Rc::new(RefCell::new(Wire::default()));
        wire.borrow_mut().preload(preread);
        let mut guard = Guard::new(now);
        let _ = guard.scan(preread, now);
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(config.http2_max_streams)
            .max_header_list_size(MAX_HEADER_LIST)
            .max_send_buffer_size(MAX_SEND_BUFFER)
            .initial_window_size(RECV_WINDOW)
            .max_local_error_reset_streams(Some(MAX_LOCAL_RESETS));
        let flag = Arc::new(Flag::default());
        H2 {
            peer: peer.ip(),
            port: peer.port(),
            codec: Codec::Handshake(builder.handshake(Pipe(wire.clone()))),
            wire,
            waker: Waker::from(flag.clone()),
            flag,
            guard,
            streams: Vec::new(),
            phase: Phase::Serving,
            since: now,
            progress: now,
            queued: u32::MAX,
            going_away: false,
            flood: None,
            ended_now: false,
            dates: DateField::default(),
        }
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        SocketAddr::new(self.peer, self.port)
    }

    /// Nothing to lose by closing now: no stream open, nothing unsent.
    pub(crate) fn is_idle(&self) -> bool {
        self.streams.is_empty()
            && !self.codec_busy()
            && self.wire.borrow().pending().is_empty()
            && self.phase == Phase::Serving
    }

    /// The codec still has streams open: ours are all answered, but it
    /// holds body bytes the client's window has not let out yet.
    fn codec_busy(&self) -> bool {
        match &self.codec {
            Codec::Open(conn) => conn.has_streams(),
            _ => false,
        }
    }

    /// The instant this connection must be dealt with if nothing happens
    /// first, and which timeout that is.
    pub(crate) fn timer(&self, config: &Config) -> (Instant, Timeout) {
        if let Phase::Shut { since, .. } = self.phase {
            return (later(since, LINGER_TIMEOUT), Timeout::Linger);
        }
        if !self.guard.greeted() {
            return (later(self.since, config.header_timeout), Timeout::Header);
        }
        let sending = self.streams.iter().any(|s| {
            matches!(
                s.state,
                StreamState::Parked { .. }
                    | StreamState::Sending { .. }
                    | StreamState::Making { .. }
                    | StreamState::Producing { .. }
            )
        });
        // Request bodies arriving have the header timeout, as in HTTP/1:
        // from the request's start, or from the last progress for a body
        // still arriving after its answer.
        let receiving = self
            .streams
            .iter()
            .map(|s| match &s.state {
                StreamState::Receiving { since, .. } => *since,
                StreamState::Uploading { up, .. } => up.progress,
                _ => self.progress,
            })
            .min()
            .map(|t| (later(t, config.header_timeout), Timeout::Header));
        if sending || self.codec_busy() || !self.wire.borrow().pending().is_empty() {
            let send = (later(self.progress, config.send_timeout), Timeout::Send);
            return receiving.filter(|r| r.0 < send.0).unwrap_or(send);
        }
        if let Some(receiving) = receiving {
            return receiving;
        }
        let idle = config.keep_alive.unwrap_or(config.header_timeout);
        (later(self.since, idle), Timeout::Idle)
    }

    pub(crate) fn deadline(&self, config: &Config) -> Instant {
        self.timer(config).0
    }

    /// Runs the connection until it blocks, yields or ends (see the
    /// module documentation).
    pub(crate) fn drive<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        // A stream waiting for a password check must not hold up the
        // others: a thread of its own asks again rather than waits.
        if let Some(auth) = cx.services.auth.as_deref_mut() {
            auth.never_wait();
        }
        let next = self.run(io, cx);
        if next == Next::Wait {
            self.wire.borrow_mut().release(cx.pool.as_deref_mut());
        }
        next
    }

    fn run<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        let mut read_budget = READ_BUDGET;
        let mut write_budget = WRITE_BUDGET;
        // A read that would block ends reading for this turn: readiness is
        // edge-triggered, so new bytes bring a new event.
        let mut read_blocked = false;
        for _ in 0..ROUNDS_PER_TURN {
            if let Phase::Shut { .. } = self.phase {
                return self.linger(io, cx);
            }
            if self.phase == Phase::Serving {
                self.work(cx);
            }
            // Send.
            let mut moved = false;
            loop {
                let wire = self.wire.borrow();
                let pending = wire.pending();
                if pending.is_empty() {
                    break;
                }
                if write_budget == 0 {
                    return Next::Yield;
                }
                let n = pending.len().min(write_budget);
                let deadline = later(self.progress, cx.config.send_timeout);
                if io.arm(deadline, cx.clock, Direction::Write).is_err() {
                    drop(wire);
                    return self.blocked(io);
                }
                let result = io.write(&pending[..n]);
                drop(wire);
                match result {
                    Ok(0) => return Next::Close(Why::Reset),
                    Ok(n) => {
                        self.wire.borrow_mut().sent(n);
                        self.guard.earn_sent(n);
                        write_budget -= n;
                        moved = true;
                        self.queued = u32::MAX;
                    }
                    Err(e) if is_blocked(&e) => return self.blocked(io),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Next::Close(Why::Reset),
                }
            }
            if let Phase::Ending(why) = self.phase {
                // Everything the codec wrote (its GOAWAY too) is sent.
                io.shutdown_write();
                self.phase = Phase::Shut {
                    since: cx.clock.now(),
                    drained: 0,
                    why,
                };
                continue;
            }
            // A blocking read would wait for the client: not while there is
            // still something to send.
            if T::BLOCKING && (moved || self.flag.0.load(Ordering::Relaxed)) {
                continue;
            }
            // Read, once the codec has taken what was read before.
            let taken = self.wire.borrow().input_taken();
            if taken && !self.wire.borrow().eof && !read_blocked {
                if read_budget == 0 {
                    return Next::Yield;
                }
                if T::BLOCKING {
                    let dir = match self.streams.is_empty() {
                        true => Direction::Idle,
                        false => Direction::Read,
                    };
                    if let Err(e) = io.arm(self.read_deadline(cx), cx.clock, dir) {
                        return match is_blocked(&e) {
                            true => Next::Wait,
                            false => Next::Close(Why::Reset),
                        };
                    }
                }
                let read = self.wire.borrow_mut().read_from(io, cx.pool.as_deref_mut());
                if T::BLOCKING {
                    cx.clock.refresh();
                }
                match read {
                    Ok(n) => {
                        read_budget = read_budget.saturating_sub(n);
                        moved = true;
                        let now = cx.clock.now();
                        let flood = {
                            let wire = self.wire.borrow();
                            self.guard.scan(wire.unread(), now)
                        };
                        if let Err(flood) = flood {
                            self.flooded(flood, cx);
                        }
                    }
                    Err(e) if is_blocked(&e) => read_blocked = !T::BLOCKING,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => moved = true,
                    Err(_) => return Next::Close(Why::Reset),
                }
            }
            if !moved && !self.flag.take() {
                return Next::Wait;
            }
        }
        Next::Yield
    }

    /// The socket would take no more: note what the kernel holds for the
    /// client when this stall began, and wait.
    fn blocked<T: Transport>(&mut self, io: &T) -> Next {
        if self.queued == u32::MAX {
            self.queued = io
                .unsent_bytes()
                .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX - 1));
        }
        Next::Wait
    }

    /// A blocking read waits until the connection's deadline, but only a
    /// short while when a stream waits for a verdict (the threaded driver
    /// has no waker to bring it back).
    fn read_deadline(&self, cx: &Cx<'_>) -> Instant {
        let deadline = self.deadline(cx.config);
        let parked = self
            .streams
            .iter()
            .any(|s| matches!(s.state, StreamState::Parked { .. }));
        match parked {
            true => deadline.min(later(cx.clock.now(), PARKED_POLL)),
            false => deadline,
        }
    }

    /// Polls the codec and the streams until neither has more to do
    /// without I/O.
    fn work(&mut self, cx: &mut Cx<'_>) {
        let waker = self.waker.clone();
        let mut task = Context::from_waker(&waker);
        for _ in 0..ROUNDS_PER_TURN {
            self.flag.take();
            if cx.is_stopping() {
                // GOAWAY: at once when nothing is in flight; otherwise the
                // streams finish first, and then it ends at once.
                let quiet = self.streams.is_empty() && !self.codec_busy();
                if !self.going_away || (quiet && !self.ended_now) {
                    self.go_away(quiet);
                }
            }
            self.poll_codec(&mut task, cx);
            self.advance(&mut task, cx);
            if self.streams.is_empty() && self.since < self.progress {
                self.since = cx.clock.now();
            }
            if !self.flag.take() || self.phase != Phase::Serving {
                break;
            }
            // Woken by its own sends: poll again, so they reach the wire.
            self.flag.0.store(true, Ordering::Relaxed);
            if !matches!(self.codec, Codec::Open(_)) {
                break;
            }
        }
    }

    /// GOAWAY: `now`, with no stream in flight (the codec ends at once);
    /// otherwise gracefully (streams in flight finish).
    fn go_away(&mut self, now: bool) {
        self.going_away = true;
        self.ended_now |= now;
        if let Codec::Open(conn) = &mut self.codec {
            match now {
                true => conn.abrupt_shutdown(Reason::NO_ERROR),
                false => conn.graceful_shutdown(),
            }
        }
    }

    /// A flood: GOAWAY (ENHANCE_YOUR_CALM), and nothing more of what the
    /// client sent is read.
    fn flooded(&mut self, flood: Flood, cx: &mut Cx<'_>) {
        if cx.config.verbose {
            crate::say!("skiff: {}: HTTP/2 flood ({flood:?}): GOAWAY", self.peer());
        }
        self.wire.borrow_mut().discard_input();
        self.going_away = true;
        self.flood = Some(flood);
        match &mut self.codec {
            Codec::Open(conn) => conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM),
            _ => {
                self.codec = Codec::Done;
                self.phase = Phase::Ending(Why::Http2(code(Reason::ENHANCE_YOUR_CALM)));
            }
        }
    }

    /// The codec's turn: the handshake, then new streams, each answered
    /// as it comes.
    fn poll_codec(&mut self, task: &mut Context<'_>, cx: &mut Cx<'_>) {
        if let Codec::Handshake(hs) = &mut self.codec {
            match Pin::new(hs).poll(task) {
                Poll::Ready(Ok(conn)) => self.codec = Codec::Open(conn),
                Poll::Ready(Err(e)) => return self.end(&e),
                Poll::Pending => return,
            }
        }
        loop {
            let Codec::Open(conn) = &mut self.codec else {
                return;
            };
            match conn.poll_accept(task) {
                Poll::Ready(Some(Ok((req, respond)))) => self.start(req, respond, cx),
                Poll::Ready(Some(Err(e))) => return self.end(&e),
                Poll::Ready(None) => {
                    self.codec = Codec::Done;
                    let why = match (self.flood, self.going_away, cx.is_stopping()) {
                        (Some(_), _, _) => Why::Http2(code(Reason::ENHANCE_YOUR_CALM)),
                        (None, _, true) => Why::Shutdown,
                        (None, true, false) => Why::Timeout(Timeout::Idle),
                        (None, false, false) => Why::PeerClosed,
                    };
                    self.phase = Phase::Ending(why);
                    return;
                }
                Poll::Pending => return,
            }
        }
    }

    /// The codec ended with an error (it has written its GOAWAY, if any).
    fn end(&mut self, e: &h2::Error) {
        self.codec = Codec::Done;
        let why = match e.reason() {
            Some(r) if e.is_go_away() || e.is_reset() => Why::Http2(code(r)),
            _ if e.is_io() => Why::Reset,
            Some(r) => Why::Http2(code(r)),
            None => Why::PeerClosed,
        };
        let why = match (why, self.wire.borrow().eof) {
            (Why::Http2(0), true) => Why::PeerClosed,
            (why, _) => why,
        };
        self.phase = Phase::Ending(why);
    }

    /// A new stream: answer it now, or park it.
    fn start(
        &mut self,
        req: http::Request<RecvStream>,
        respond: SendResponse<Bytes>,
        cx: &mut Cx<'_>,
    ) {
        let (parts, body) = req.into_parts();
        let now = cx.clock.now();
        self.progress = now;
        let head = Box::new(Head::new(parts));
        // An upload is answered now (or refused before its body), and its
        // body kept for it.
        let upload = !body.is_end_stream()
            && (cx.config.upload.is_some()
                || cx.config.sites.iter().any(|v| v.config.upload.is_some()))
            && head.request().is_ok_and(|r| {
                matches!(
                    r.method,
                    crate::http::request::Method::Put | crate::http::request::Method::Post
                )
            });
        let stream = match body.is_end_stream() {
            true => answer(head, respond, now, cx, self.peer, &mut self.dates),
            false if upload => {
                let mut stream = answer(head, respond, now, cx, self.peer, &mut self.dates);
                // Kept for the upload; after a refusal, read and dropped
                // (as HTTP/1 does), so the client sees its answer whole.
                stream.keep_body = matches!(
                    stream.state,
                    StreamState::Uploading { .. } | StreamState::Parked { .. }
                );
                stream.recv = Some(body);
                stream
            }
            false => Stream {
                state: StreamState::Receiving {
                    head,
                    respond,
                    since: now,
                },
                recv: Some(body),
                taken: 0,
                keep_body: false,
                said: None,
            },
        };
        if !stream.is_over() {
            self.streams.push(stream);
        }
    }

    /// Moves every stream along: parked ones ask again, sending ones
    /// send as far as their window allows, request bodies are read and
    /// dropped; reset ones stop.
    fn advance(&mut self, task: &mut Context<'_>, cx: &mut Cx<'_>) {
        let mut i = 0;
        while i < self.streams.len() {
            let stream = &mut self.streams[i];
            if let (Some(recv), false) = (&mut stream.recv, stream.keep_body) {
                let (ended, n) = drain(recv, task);
                stream.taken += n;
                if ended {
                    stream.recv = None;
                }
            }
            let moved = match &mut stream.state {
                StreamState::Receiving { respond, .. } => {
                    if respond.poll_reset(task).is_ready() {
                        stream.state = StreamState::Sent;
                        stream.recv = None;
                        false
                    } else if stream.recv.is_none() || stream.taken > MAX_DISCARD {
                        stream.answer(cx, self.peer, &mut self.dates);
                        true
                    } else {
                        false
                    }
                }
                StreamState::Parked { respond, head, .. } => {
                    if respond.poll_reset(task).is_ready() {
                        // Reset while its password is checked: the check
                        // is not run if nothing else waits for it.
                        let gone = authorization(head);
                        // The password file of the request's site.
                        let file = head
                            .request()
                            .ok()
                            .map_or(cx.config, |r| {
                                cx.config.site_for(r.host).map_or(cx.config, |s| s)
                            })
                            .htpasswd
                            .clone();
                        let others = self.streams.iter().enumerate().any(|(j, s)| {
                            j != i
                                && matches!(&s.state, StreamState::Parked { head, .. }
                                    if authorization(head) == gone)
                        });
                        if !others {
                            if let (Some(auth), Some(file)) =
                                (cx.services.auth.as_deref_mut(), &file)
                            {
                                auth.cancel(file, gone.as_deref());
                            }
                        }
                        let stream = &mut self.streams[i];
                        stream.state = StreamState::Sent;
                        stream.recv = None;
                        false
                    } else {
                        stream.answer(cx, self.peer, &mut self.dates);
                        !matches!(stream.state, StreamState::Parked { .. })
                    }
                }
                StreamState::Sending { .. } => match feed(stream, task, cx, self.peer) {
                    Fed::More => false,
                    Fed::Progress => true,
                    Fed::Done => {
                        stream.state = StreamState::Sent;
                        true
                    }
                    Fed::Stopped => {
                        let stream = std::mem::replace(&mut stream.state, StreamState::Sent);
                        cancel(stream, self.streams[i].said.take(), cx, self.peer);
                        self.streams[i].recv = None;
                        true
                    }
                },
                StreamState::Making { .. } => {
                    let peer = self.peer;
                    match make_head(stream, task, cx, peer, &mut self.dates) {
                        Fed::More => false,
                        Fed::Progress | Fed::Done => true,
                        Fed::Stopped => {
                            stream.state = StreamState::Sent;
                            stream.recv = None;
                            true
                        }
                    }
                }
                StreamState::Uploading { .. } => {
                    let peer = self.peer;
                    match feed_upload(stream, task, cx, peer, &mut self.dates) {
                        Fed::More => false,
                        Fed::Progress | Fed::Done => true,
                        Fed::Stopped => {
                            stream.state = StreamState::Sent;
                            stream.recv = None;
                            true
                        }
                    }
                }
                StreamState::Producing { .. } => match feed_made(stream, task, cx, self.peer) {
                    Fed::More => false,
                    Fed::Progress => true,
                    Fed::Done => {
                        stream.state = StreamState::Sent;
                        true
                    }
                    Fed::Stopped => {
                        let stream = std::mem::replace(&mut stream.state, StreamState::Sent);
                        cancel(stream, self.streams[i].said.take(), cx, self.peer);
                        self.streams[i].recv = None;
                        true
                    }
                },
                StreamState::Sent => false,
            };
            if moved {
                self.progress = cx.clock.now();
            }
            let stream = &mut self.streams[i];
            if stream.is_over() {
                self.streams.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// The deadline passed (this re-checks). A send timeout while the
    /// kernel's queue keeps shrinking is progress; an idle connection gets
    /// GOAWAY; anything else closes.
    pub(crate) fn on_timeout<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        let now = cx.clock.now();
        let (deadline, kind) = self.timer(cx.config);
        if now < deadline {
            return Next::Wait;
        }
        match kind {
            Timeout::Send => match io
                .unsent_bytes()
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX - 1))
            {
                Some(queued) if queued < self.queued => {
                    self.progress = now;
                    self.queued = queued;
                    Next::Wait
                }
                _ => Next::Close(Why::Timeout(Timeout::Send)),
            },
            // A request body that did not arrive in time: 408 on that
            // stream, as HTTP/1 answers a head that does not.
            Timeout::Header if self.guard.greeted() && self.phase == Phase::Serving => {
                self.expire_bodies(now, cx);
                self.drive(io, cx)
            }
            Timeout::Idle if self.phase == Phase::Serving => {
                self.go_away(true);
                self.drive(io, cx)
            }
            Timeout::Linger => match self.phase {
                Phase::Shut { why, .. } => Next::Close(why),
                _ => Next::Close(Why::Timeout(kind)),
            },
            _ => Next::Close(Why::Timeout(kind)),
        }
    }

    /// Streams whose request body has taken longer than `--header-timeout`:
    /// those not yet answered get 408; those answered stop being read.
    fn expire_bodies(&mut self, now: Instant, cx: &mut Cx<'_>) {
        let timeout = cx.config.header_timeout;
        let progress = self.progress;
        for stream in &mut self.streams {
            match &stream.state {
                StreamState::Receiving { since, .. } if later(*since, timeout) <= now => {
                    let StreamState::Receiving {
                        head,
                        respond,
                        since,
                    } = std::mem::replace(&mut stream.state, StreamState::Sent)
                    else {
                        unreachable!("matched above");
                    };
                    let (reply, said) = refused_with(Failure::Timeout, &head, since, cx);
                    let said = reply.observed.then_some(said);
                    let answered = send_reply(reply, said, respond, cx, self.peer, &mut self.dates);
                    stream.state = answered.state;
                    stream.said = answered.said;
                    stream.recv = None;
                }
                StreamState::Receiving { .. } => {}
                _ if later(progress, timeout) <= now => stream.recv = None,
                _ => {}
            }
        }
        self.streams.retain(|s| !s.is_over());
        self.progress = now;
    }

    /// After GOAWAY went out: read and drop input until the client closes.
    fn linger<T: Transport>(&mut self, io: &mut T, cx: &Cx<'_>) -> Next {
        let Phase::Shut {
            since,
            drained,
            why,
        } = &mut self.phase
        else {
            unreachable!("linger is called in Shut");
        };
        crate::conn::linger(io, cx, *since, drained, *why)
    }

    /// The connection is being dropped: log the streams cut short.
    pub(crate) fn on_close(&mut self, cx: &mut Cx<'_>) {
        for stream in self.streams.drain(..) {
            cancel(stream.state, stream.said, cx, self.peer);
        }
    }
}

/// How long a blocking read waits while a stream is parked on a verdict,
/// before the thread asks again.
const PARKED_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// How far [`feed`] got with a stream.
enum Fed {
    /// Waiting for window.
    More,
    /// Sent some, and waiting for window.
    Progress,
    /// All sent and logged.
    Done,
    /// Reset (by the client, or for a file cut short): drop it.
    Stopped,
}

/// Answers a stream's head: the reply's head and, for a small or
/// in-memory body, the body too. What still has to stream comes back as a
/// stream to feed; a head waiting for a verdict comes back parked.
fn answer(
    head: Box<Head>,
    sender: SendResponse<Bytes>,
    since: Instant,
    cx: &mut Cx<'_>,
    peer: IpAddr,
    dates: &mut DateField,
) -> Stream {
    let decided = match head.request() {
        Ok(req) => {
            let context = Ctx {
                config: cx.config,
                clock: cx.clock,
                site: cx.site,
                stopping: cx.is_stopping(),
                peer,
                sni: cx.sni.as_deref(),
            };
            match respond(&req, context, &mut cx.services) {
                Ok(reply) => {
                    let said = Said {
                        method: Some(req.method),
                        line: Some(head.line()),
                        referer: req.referer,
                        user_agent: req.user_agent,
                        started: Some(since),
                        http2: true,
                        client: reply.client,
                        site: reply.site.as_ref().map_or(0, |c| c.site_id),
                        received: 0,
                    };
                    Ok((reply, said.to_owned()))
                }
                Err(NeedsVerdict) => Err(()),
            }
        }
        Err(e) => Ok(refused(e, &head, since, cx)),
    };
    let (reply, said) = match decided {
        Ok(decided) => decided,
        Err(()) => {
            return Stream {
                state: StreamState::Parked {
                    head,
                    respond: sender,
                    since,
                },
                recv: None,
                taken: 0,
                keep_body: false,
                said: None,
            };
        }
    };
    let said = reply.observed.then_some(said);
    send_reply(reply, said, sender, cx, peer, dates)
}

/// A head that cannot be answered normally: its error reply.
fn refused(e: HeadError, head: &Head, since: Instant, cx: &Cx<'_>) -> (Reply, OwnedSaid) {
    refused_with(Failure::Head(e), head, since, cx)
}

/// The reply to a request that fails this way.
fn refused_with(failure: Failure, head: &Head, since: Instant, cx: &Cx<'_>) -> (Reply, OwnedSaid) {
    let (reply, _) = failed(failure, cx.site, cx.config);
    let said = Said {
        line: Some(head.line()),
        started: Some(since),
        http2: true,
        ..Said::default()
    };
    (reply, said.to_owned())
}

/// What follows a response head.
enum Follow {
    Nothing,
    /// Bytes sent at once (shared, or a small file read whole).
    Bytes(Bytes),
    /// A file body fed as the window opens.
    Stream(FileStream),
    /// A body made on the worker pool.
    Made(Produced),
}

/// Sends `reply`: the head, and what follows it or a stream to feed it.
fn send_reply(
    reply: Reply,
    said: Option<OwnedSaid>,
    mut sender: SendResponse<Bytes>,
    cx: &mut Cx<'_>,
    peer: IpAddr,
    dates: &mut DateField,
) -> Stream {
    let (mut reply, follow) = match follow(reply, cx) {
        Ok(answer) => answer,
        Err(()) => {
            // A small file turned out shorter than its length.
            let (reply, _) = failed(Failure::ShortFile, cx.site, cx.config);
            follow(reply, cx).unwrap_or_else(|()| unreachable!("a page is in memory"))
        }
    };
    let date = cx.clock.http_date();
    let head = head::response(&reply, &date, dates, reply.config(cx.config));
    let status = reply.status;
    if let Some(accepted) = reply.upload.take() {
        // The body goes to the upload; its reply comes when it is stored.
        return Stream {
            state: StreamState::Uploading {
                respond: sender,
                up: Box::new(Uploading {
                    accepted,
                    site: reply.site.take(),
                    client: reply.client,
                    pending: Vec::new(),
                    ended: false,
                    received: 0,
                    progress: cx.clock.now(),
                }),
            },
            recv: None,
            taken: 0,
            keep_body: true,
            said,
        };
    }
    if let Follow::Made(produced) = follow {
        // The head waits for the maker's verdict.
        return Stream {
            state: StreamState::Making {
                respond: sender,
                reply: Box::new(reply),
                produced,
            },
            recv: None,
            taken: 0,
            keep_body: false,
            said,
        };
    }
    let end = matches!(follow, Follow::Nothing);
    let sent = |said| Stream {
        state: StreamState::Sent,
        recv: None,
        taken: 0,
        keep_body: false,
        said,
    };
    let Ok(mut send) = sender.send_response(head, end) else {
        // The stream was reset meanwhile.
        return sent(None);
    };
    let bytes = match follow {
        Follow::Nothing => 0,
        Follow::Bytes(bytes) => {
            let len = bytes.len() as u64;
            if send.send_data(bytes, true).is_err() {
                return sent(None);
            }
            len
        }
        Follow::Made(_) => unreachable!("returned above"),
        Follow::Stream(body) => {
            return Stream {
                state: StreamState::Sending {
                    send,
                    body,
                    status,
                    loaded: 0,
                },
                recv: None,
                taken: 0,
                keep_body: false,
                said,
            };
        }
    };
    log(cx, peer, said.as_ref().map(OwnedSaid::said), status, bytes);
    sent(None)
}

/// What follows `reply`'s head; `Err` when a small file read whole turned
/// out short.
fn follow(reply: Reply, cx: &Cx<'_>) -> Result<(Reply, Follow), ()> {
    if reply.head_only {
        return Ok((reply, Follow::Nothing));
    }
    let mut reply = reply;
    let body = std::mem::replace(&mut reply.body, Body::Empty);
    let follow = match body {
        Body::Empty => Follow::Nothing,
        Body::Stream(produced) => Follow::Made(produced),
        Body::Page(status) => {
            let page = reply.config(cx.config).error_page(status);
            match page.is_empty() {
                true => Follow::Nothing,
                false => Follow::Bytes(Bytes::from_owner(page.clone())),
            }
        }
        Body::File(mut body) => {
            if body.is_done() {
                Follow::Nothing
            } else if let Some((data, start, end)) = body.as_shared_slice() {
                Follow::Bytes(Bytes::from_owner(data.clone()).slice(start..end))
            } else if body.remaining() <= INLINE_MAX {
                let mut whole = Vec::with_capacity(body.remaining() as usize);
                body.read_into(&mut whole, CHUNK, true).map_err(|_| ())?;
                Follow::Bytes(Bytes::from(whole))
            } else {
                Follow::Stream(body)
            }
        }
    };
    Ok((reply, follow))
}

/// Sends a streaming body as far as the stream's window (and the codec's
/// send buffer) allows, a chunk at a time.
fn feed(stream: &mut Stream, task: &mut Context<'_>, cx: &mut Cx<'_>, peer: IpAddr) -> Fed {
    let StreamState::Sending {
        send,
        body,
        status,
        loaded,
    } = &mut stream.state
    else {
        return Fed::More;
    };
    let mut progressed = false;
    // At most one window's worth per call, so one stream cannot keep the
    // loop; the codec wakes the connection when it has room again.
    for _ in 0..(MAX_SEND_BUFFER / CHUNK).max(1) * 4 {
        if send.poll_reset(task).is_ready() {
            return Fed::Stopped;
        }
        let want = body.remaining().min(CHUNK as u64) as usize;
        let room = match window(send, want, task) {
            Room::Bytes(n) => n,
            Room::Again => continue,
            Room::Later => break,
            Room::Gone => return Fed::Stopped,
        };
        let mut chunk = Vec::with_capacity(room.min(want));
        if body.read_into(&mut chunk, room.min(want), true).is_err() {
            // The file shrank: the promised length cannot be met.
            send.send_reset(Reason::INTERNAL_ERROR);
            return Fed::Stopped;
        }
        *loaded += chunk.len() as u64;
        let done = body.is_done();
        if send.send_data(Bytes::from(chunk), done).is_err() {
            return Fed::Stopped;
        }
        progressed = true;
        if done {
            let said = stream.said.take();
            log(
                cx,
                peer,
                said.as_ref().map(OwnedSaid::said),
                *status,
                *loaded,
            );
            return Fed::Done;
        }
    }
    match progressed {
        true => Fed::Progress,
        false => Fed::More,
    }
}

/// A stream that ends before its body did (reset, or the connection
/// closing): logged with what reached the codec.
fn cancel(state: StreamState, said: Option<OwnedSaid>, cx: &mut Cx<'_>, peer: IpAddr) {
    let (status, loaded) = match state {
        StreamState::Sending { status, loaded, .. }
        | StreamState::Producing { status, loaded, .. } => (status, loaded),
        StreamState::Making { reply, .. } => (reply.status, 0),
        _ => return,
    };
    if let Some(said) = said {
        log(cx, peer, Some(said.said()), status, loaded);
    }
}

/// Moves an upload along: gathers what has arrived of its body (giving
/// the window back as it is taken), hands full pieces and the end to the
/// worker pool, and once the upload has ended sends its reply (and resets
/// the stream if the body was not all read).
fn feed_upload(
    stream: &mut Stream,
    task: &mut Context<'_>,
    cx: &mut Cx<'_>,
    peer: IpAddr,
    dates: &mut DateField,
) -> Fed {
    use crate::files::produced::PIECE;
    use crate::share::upload::{Failed, State};
    let StreamState::Uploading { respond, up } = &mut stream.state else {
        return Fed::More;
    };
    if respond.poll_reset(task).is_ready() {
        return Fed::Stopped;
    }
    let mut outcome = match up.accepted.intake.state() {
        State::Away => return Fed::More,
        State::Over(outcome) => Some(outcome),
        State::Ready => None,
    };
    let mut progressed = false;
    if outcome.is_none() {
        while !up.ended && up.pending.len() < PIECE {
            let Some(recv) = &mut stream.recv else {
                up.ended = true;
                break;
            };
            match recv.poll_data(task) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = recv.flow_control().release_capacity(data.len());
                    up.received += data.len() as u64;
                    up.pending.extend_from_slice(&data);
                    up.progress = cx.clock.now();
                    progressed = true;
                }
                Poll::Ready(None) => up.ended = true,
                Poll::Ready(Some(Err(_))) => return Fed::Stopped,
                Poll::Pending => {
                    if recv.is_end_stream() {
                        up.ended = true;
                    }
                    break;
                }
            }
        }
        if up.received > up.accepted.max_bytes {
            outcome = Some(Err(Failed::TooLarge));
        } else if up.ended || up.pending.len() >= PIECE {
            let bytes = std::mem::take(&mut up.pending);
            let offload = cx.services.offload.as_deref_mut();
            if let Err(bytes) = up.accepted.intake.push(bytes, up.ended, offload) {
                up.pending = bytes;
            }
            return Fed::Progress;
        }
    }
    let Some(outcome) = outcome else {
        return match progressed {
            true => Fed::Progress,
            false => Fed::More,
        };
    };
    let StreamState::Uploading { respond, up } =
        std::mem::replace(&mut stream.state, StreamState::Sent)
    else {
        unreachable!("matched above");
    };
    let config = up.site.as_deref().unwrap_or(cx.config);
    crate::respond::upload::record(
        &outcome,
        &up.accepted,
        up.client.unwrap_or(peer),
        cx.metrics,
    );
    let mut reply = crate::respond::upload::done(outcome, &up.accepted, config);
    reply.site = up.site.clone();
    reply.client = up.client;
    let mut said = stream.said.take();
    if let Some(s) = &mut said {
        s.received = up.received;
    }
    let too_large = reply.closes;
    let recv = stream.recv.take();
    *stream = send_reply(reply, said, respond, cx, peer, dates);
    // The rest of a body is read and dropped, but not past a bound: then
    // the stream is reset.
    if !too_large {
        stream.recv = recv;
    }
    Fed::Done
}

/// A made body's head: sent once the maker's verdict is in (the reply's
/// own head, or a 413 in its place).
fn make_head(
    stream: &mut Stream,
    task: &mut Context<'_>,
    cx: &mut Cx<'_>,
    peer: IpAddr,
    dates: &mut DateField,
) -> Fed {
    use crate::files::produced::{Next as Made, Piece};
    let StreamState::Making {
        respond, produced, ..
    } = &mut stream.state
    else {
        return Fed::More;
    };
    if respond.poll_reset(task).is_ready() {
        return Fed::Stopped;
    }
    let verdict = match produced.next(cx.services.offload.as_deref_mut()) {
        Made::Piece(Piece::Head(verdict)) => verdict,
        Made::Piece(_) => Err(crate::files::produced::Refused {
            why: "no verdict".into(),
        }),
        Made::Waiting | Made::Busy => return Fed::More,
    };
    let StreamState::Making {
        respond,
        reply,
        produced,
    } = std::mem::replace(&mut stream.state, StreamState::Sent)
    else {
        unreachable!("matched above");
    };
    let said = stream.said.take();
    match verdict {
        Err(refused) => {
            crate::say!("skiff: folder download refused (413): {}", refused.why);
            let mut refusal = Reply::error(
                crate::http::response::Status::ContentTooLarge,
                reply.config(cx.config),
            );
            refusal.site = reply.site.clone();
            *stream = send_reply(refusal, said, respond, cx, peer, dates);
            Fed::Done
        }
        Ok(()) => {
            let mut respond = respond;
            let date = cx.clock.http_date();
            let head = head::response(&reply, &date, dates, reply.config(cx.config));
            let Ok(send) = respond.send_response(head, false) else {
                return Fed::Stopped;
            };
            stream.said = said;
            stream.state = StreamState::Producing {
                send,
                produced,
                carry: Bytes::new(),
                status: reply.status,
                loaded: 0,
            };
            Fed::Progress
        }
    }
}

/// What a stream may send now.
enum Room {
    Bytes(usize),
    /// Asked for; look again.
    Again,
    /// None until the codec wakes the connection.
    Later,
    /// The stream is gone.
    Gone,
}

/// Asks for `want` bytes of the stream's window and says how many it may
/// send now.
fn window(send: &mut SendStream<Bytes>, want: usize, task: &mut Context<'_>) -> Room {
    send.reserve_capacity(want);
    match send.capacity() {
        0 => match send.poll_capacity(task) {
            Poll::Ready(Some(Ok(0))) => Room::Again,
            Poll::Ready(Some(Ok(n))) => Room::Bytes(n),
            Poll::Ready(Some(Err(_)) | None) => Room::Gone,
            Poll::Pending => Room::Later,
        },
        n => Room::Bytes(n),
    }
}

/// Sends a made body as its pieces come and the window allows.
fn feed_made(stream: &mut Stream, task: &mut Context<'_>, cx: &mut Cx<'_>, peer: IpAddr) -> Fed {
    use crate::files::produced::{Next as Made, Piece};
    let StreamState::Producing {
        send,
        produced,
        carry,
        status,
        loaded,
    } = &mut stream.state
    else {
        return Fed::More;
    };
    let mut progressed = false;
    for _ in 0..(MAX_SEND_BUFFER / CHUNK).max(1) * 4 {
        if send.poll_reset(task).is_ready() {
            return Fed::Stopped;
        }
        if carry.is_empty() {
            match produced.next(cx.services.offload.as_deref_mut()) {
                Made::Piece(Piece::Data(bytes)) => *carry = Bytes::from(bytes),
                Made::Piece(Piece::End(Ok(()))) | Made::Piece(Piece::Head(_)) => {
                    if send.send_data(Bytes::new(), true).is_err() {
                        return Fed::Stopped;
                    }
                    let said = stream.said.take();
                    log(
                        cx,
                        peer,
                        said.as_ref().map(OwnedSaid::said),
                        *status,
                        *loaded,
                    );
                    return Fed::Done;
                }
                Made::Piece(Piece::End(Err(why))) => {
                    crate::say!("skiff: folder download cut short: {why}");
                    send.send_reset(Reason::INTERNAL_ERROR);
                    return Fed::Stopped;
                }
                Made::Waiting | Made::Busy => break,
            }
            continue;
        }
        let room = match window(send, carry.len().min(CHUNK), task) {
            Room::Bytes(n) => n,
            Room::Again => continue,
            Room::Later => break,
            Room::Gone => return Fed::Stopped,
        };
        let part = carry.split_to(room.min(carry.len()).min(CHUNK));
        *loaded += part.len() as u64;
        if send.send_data(part, false).is_err() {
            return Fed::Stopped;
        }
        progressed = true;
    }
    match progressed {
        true => Fed::Progress,
        false => Fed::More,
    }
}

/// Reads and drops what has arrived of a request body, giving its window
/// back: whether it has ended (or the stream was reset), and the bytes
/// dropped.
fn drain(recv: &mut RecvStream, task: &mut Context<'_>) -> (bool, u64) {
    let mut n = 0;
    loop {
        match recv.poll_data(task) {
            Poll::Ready(Some(Ok(data))) => {
                n += data.len() as u64;
                let _ = recv.flow_control().release_capacity(data.len());
            }
            Poll::Ready(Some(Err(_)) | None) => return (true, n),
            Poll::Pending => return (recv.is_end_stream(), n),
        }
    }
}

/// An HTTP/2 error code as [`Why::Http2`] keeps it.
fn code(reason: Reason) -> u8 {
    u8::try_from(u32::from(reason)).unwrap_or(u8::MAX)
}

/// A parked request's credentials.
fn authorization(head: &Head) -> Option<Vec<u8>> {
    head.request().ok()?.authorization.map(<[u8]>::to_vec)
}

impl Stream {
    /// Answers the head of a stream that was receiving its body or parked
    /// on a verdict (it may park again).
    fn answer(&mut self, cx: &mut Cx<'_>, peer: IpAddr, dates: &mut DateField) {
        let (StreamState::Receiving {
            head,
            respond,
            since,
        }
        | StreamState::Parked {
            head,
            respond,
            since,
        }) = std::mem::replace(&mut self.state, StreamState::Sent)
        else {
            unreachable!("called with a head to answer");
        };
        let answered = answer(head, respond, since, cx, peer, dates);
        self.state = answered.state;
        self.said = answered.said;
        // A body kept for an upload that was refused after all (wrong
        // password) is read and dropped instead.
        self.keep_body = matches!(
            self.state,
            StreamState::Uploading { .. } | StreamState::Parked { .. }
        );
    }

    /// Nothing left to do: the response is sent and the request ended.
    fn is_over(&self) -> bool {
        matches!(self.state, StreamState::Sent) && self.recv.is_none()
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
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::conn::scripted::ScriptedPeer;
    use crate::http::date::Clock;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.push(kind);
        f.push(flags);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// `GET /big.bin` as an HPACK block: indexed :method GET, :scheme
    /// http, a literal :authority and :path.
    fn get(path: &str) -> Vec<u8> {
        let mut block = vec![0x82, 0x86, 0x41, 0x01, b't', 0x44, path.len() as u8];
        block.extend_from_slice(path.as_bytes());
        frame(1, 0x4 | 0x1, 1, &block)
    }

    #[test]
    fn an_idle_connection_holds_no_buffer_of_its_own() {
        let root = std::env::temp_dir().join(format!("skiff-h2-idle-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("big.bin"), vec![7u8; 300_000]).unwrap();
        let config = Config::parse_from(["skiff", "--root", root.to_str().unwrap()]).unwrap();
        let clock = Clock::new();
        let mut pool = crate::conn::BufPool::new();
        let mut h2 = H2::new("127.0.0.1:9".parse().unwrap(), clock.now(), &config, &[]);
        let mut input = PREFACE.to_vec();
        input.extend(frame(4, 0, 0, &[]));
        input.extend(get("/big.bin"));
        let mut peer = ScriptedPeer {
            incoming: [input, Vec::new()].into(),
            window: usize::MAX,
            ..ScriptedPeer::default()
        };
        let mut next = Next::Yield;
        for _ in 0..1000 {
            let mut cx = Cx::new(&config, &clock, None);
            cx.pool = Some(&mut pool);
            next = h2.drive(&mut peer, &mut cx);
            if next == Next::Wait {
                break;
            }
        }
        assert_eq!(next, Next::Wait);
        // The response head and 64 KiB of the body (the client's window),
        // then the stream waits for window; its body buffers are the
        // codec's. Open the window: the rest goes, and the stream ends.
        let mut update = frame(8, 0, 0, &1_000_000u32.to_be_bytes());
        update.extend(frame(8, 0, 1, &1_000_000u32.to_be_bytes()));
        peer.incoming = [update, Vec::new()].into();
        for _ in 0..1000 {
            let mut cx = Cx::new(&config, &clock, None);
            cx.pool = Some(&mut pool);
            next = h2.drive(&mut peer, &mut cx);
            if next == Next::Wait && h2.is_idle() {
                break;
            }
        }
        assert!(h2.is_idle(), "{h2:?}");
        assert!(peer.sent.len() > 300_000, "{}", peer.sent.len());
        assert!(h2.streams.is_empty());
        assert_eq!(
            h2.wire.borrow().held(),
            0,
            "the wire's buffers went back to the pool"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
