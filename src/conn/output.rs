//! Bytes answered and not yet sent ([`Queue`]), and the file body that
//! streams after them ([`Streaming`]).
//!
//! A reply's head, and a small body, are copied into the queue; an
//! in-memory body of [`SHARE_MIN`] or more is queued by reference and goes
//! out with `writev`; a larger file body streams: with sendfile straight
//! from the page cache when the transport can, otherwise read in
//! [`CHUNK`]s into the queue as it drains. Every write, of any kind, takes
//! from the one [`Budget`] the connection has for this turn.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::{Cx, Direction, Transport, Why, is_blocked, log};
use crate::files::body::FileStream;
use crate::files::cache::MAX_IN_MEMORY;
use crate::files::produced::Produced;
use crate::http::response::{Persist, Status, write_head};
use crate::log::{OwnedSaid, Said};
use crate::respond::{Body, Fate, Reply};

/// A file was shorter than its length when a small body was read: nothing
/// of its reply was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ShortFile;

/// Bytes of a file read per chunk when it cannot go out with sendfile, and
/// the largest such body copied whole into the queue. 64 KiB matches a
/// typical socket send buffer burst.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Requests answered per turn of a connection before it yields to the
/// others, so a deep pipeline cannot starve them.
pub(crate) const REQUESTS_PER_TURN: u32 = 64;
/// Bytes written per turn of a connection, by every path together (heads,
/// `writev`, sendfile), before it yields to the others, so one fast
/// download cannot starve them. 256 KiB is a few hundred microseconds of
/// loopback bandwidth: large enough that a lone download loses little to
/// yielding, small enough that a small request behind two downloads waits
/// well under a millisecond per turn.
pub(crate) const WRITE_BUDGET: usize = 256 * 1024;
/// Unsent output beyond which no further pipelined request is answered
/// until the client reads.
pub(crate) const OUTPUT_SOFT_LIMIT: usize = 64 * 1024;
/// Smallest in-memory body sent by reference (`writev`) rather than copied
/// into the queue: below it, a copy is cheaper than an extra slice.
pub(crate) const SHARE_MIN: usize = 1024;
/// Most slices handed to one `writev`.
const MAX_IOV: usize = 32;

/// How a response's sending is going: when a write last made progress,
/// and what the kernel held for the client when the stall since then
/// began (`SIOCOUTQ`; `u32::MAX` when not known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stall {
    pub(crate) progress: Instant,
    pub(crate) queued: u32,
}

impl Stall {
    pub(crate) fn new(now: Instant) -> Stall {
        Stall {
            progress: now,
            queued: u32::MAX,
        }
    }

    /// A write went through: a new stall, if any, starts from here.
    fn progressed(&mut self, now: Instant) {
        *self = Stall::new(now);
    }
}

/// What one connection may still do in this turn.
#[derive(Debug)]
pub(super) struct Budget {
    pub(crate) requests: u32,
    pub(crate) bytes: usize,
}

impl Budget {
    pub(crate) fn per_turn() -> Budget {
        Budget {
            requests: REQUESTS_PER_TURN,
            bytes: WRITE_BUDGET,
        }
    }
}

/// How a flush ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// Everything queued is sent.
    Done,
    /// The socket would block.
    Blocked,
    /// The turn's byte budget is spent.
    Budget,
    /// A body being made on the worker pool has nothing ready: the
    /// driver drives the connection again when it has.
    Waiting,
    /// The connection cannot go on.
    Failed(Why),
}

/// In-memory content sent by reference: after `buf[..at]` comes
/// `data[start..end]`.
#[derive(Debug)]
struct Mark {
    at: usize,
    data: Held,
    start: usize,
    end: usize,
}

/// Bytes queued by reference: shared (a cached file, a page), or owned
/// (a piece of a body made on the worker pool, sent without a copy).
#[derive(Debug)]
enum Held {
    Shared(Arc<[u8]>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Held {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Held::Shared(a) => a,
            Held::Owned(v) => v,
        }
    }
}

/// Heads, pages and small bodies, with shared slices interleaved.
#[derive(Debug, Default)]
struct Queue {
    buf: Vec<u8>,
    /// INVARIANT: pos <= buf.len(); `buf[pos..]` is unsent.
    pos: usize,
    /// INVARIANT: `at` never decreases along the queue and is >= `pos` for
    /// every mark after the first; `buf` is never compacted while marks
    /// are queued.
    marks: VecDeque<Mark>,
    /// Bytes of the marks not yet sent.
    shared_unsent: usize,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.pos == self.buf.len() && self.marks.is_empty()
    }

    fn unsent(&self) -> usize {
        self.buf.len() - self.pos + self.shared_unsent
    }

    /// Writes at most `limit` bytes from the front: one `write` (with
    /// `MSG_MORE` when `corked`), or one `writev` when marks are queued.
    fn write<T: Transport>(&self, io: &mut T, limit: usize, corked: bool) -> io::Result<usize> {
        if self.marks.is_empty() {
            let end = self.buf.len().min(self.pos.saturating_add(limit));
            let bytes = &self.buf[self.pos..end];
            return if corked {
                io.write_more(bytes)
            } else {
                io.write(bytes)
            };
        }
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut n = 0;
        let mut left = limit;
        let mut cur = self.pos;
        let mut complete = true;
        for m in &self.marks {
            if n + 2 > MAX_IOV || left == 0 {
                complete = false;
                break;
            }
            if m.at > cur {
                let take = (m.at - cur).min(left);
                iov[n] = IoSlice::new(&self.buf[cur..cur + take]);
                n += 1;
                left -= take;
                if take < m.at - cur {
                    complete = false;
                    break;
                }
                cur = m.at;
            }
            let take = (m.end - m.start).min(left);
            if take == 0 {
                complete = false;
                break;
            }
            iov[n] = IoSlice::new(&m.data[m.start..m.start + take]);
            n += 1;
            left -= take;
            if take < m.end - m.start {
                complete = false;
                break;
            }
        }
        if complete && cur < self.buf.len() && left > 0 && n < MAX_IOV {
            let take = (self.buf.len() - cur).min(left);
            iov[n] = IoSlice::new(&self.buf[cur..cur + take]);
            n += 1;
        }
        io.write_vectored(&iov[..n])
    }

    /// Records `k` bytes written from the front.
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

    /// Whether a streaming body may append a chunk: little is unsent, and
    /// no marks (which forbid moving `buf`).
    fn can_refill(&self) -> bool {
        self.buf.len() - self.pos < CHUNK / 2 && self.marks.is_empty()
    }

    /// Drops the sent bytes at the front (only with no marks queued).
    fn compact(&mut self) {
        debug_assert!(self.marks.is_empty());
        self.buf.drain(..self.pos);
        self.pos = 0;
    }
}

/// What streams after the queue.
#[derive(Debug)]
enum Flow {
    /// A file body (or a window of one).
    File(FileStream),
    /// A body made on the worker pool, and the reply whose head waits for
    /// its first piece.
    Made(Made),
}

#[derive(Debug)]
struct Made {
    produced: Produced,
    /// The reply and fate whose head is written when the maker's verdict
    /// comes (`None` once it is written).
    pending: Option<Box<(Reply, Fate)>>,
    /// Pieces go out as HTTP/1.1 chunks (else until the connection
    /// closes).
    chunked: bool,
    /// Everything is queued (the last chunk too).
    ended: bool,
}

impl Flow {
    fn is_done(&self) -> bool {
        match self {
            Flow::File(f) => f.is_done(),
            Flow::Made(m) => m.ended,
        }
    }

    fn front_window(&self) -> Option<(u64, u64)> {
        match self {
            Flow::File(f) => f.front_window(),
            Flow::Made(_) => None,
        }
    }
}

/// A body streaming after the queue, and its log line, written when
/// the body is all sent (or the connection ends first).
#[derive(Debug)]
struct Streaming {
    body: Flow,
    /// `None`: not logged.
    said: Option<OwnedSaid>,
    status: Status,
    /// Body bytes handed to the socket or copied into the queue so far.
    loaded: u64,
}

/// What a connection has answered and not yet sent.
#[derive(Debug, Default)]
pub(super) struct Output {
    queue: Queue,
    /// Streams after everything in the queue; while it is set nothing else
    /// is queued.
    stream: Option<Streaming>,
}

impl Output {
    /// Whether anything is left to send.
    pub(crate) fn is_pending(&self) -> bool {
        !self.queue.is_empty() || self.stream.is_some()
    }

    /// Whether another response may be queued behind what is there.
    pub(crate) fn accepts_more(&self) -> bool {
        self.stream.is_none() && self.queue.unsent() < OUTPUT_SOFT_LIMIT
    }

    fn buffer(&mut self, cx: &mut Cx<'_>) -> &mut Vec<u8> {
        if self.queue.buf.capacity() == 0 {
            if let Some(pool) = cx.pool.as_deref_mut() {
                self.queue.buf = pool.take_output();
            }
        }
        &mut self.queue.buf
    }

    /// Queues `data[start..end]`: by reference from [`SHARE_MIN`] bytes,
    /// copied below that.
    fn push_shared(&mut self, data: &Arc<[u8]>, start: usize, end: usize) {
        if end - start >= SHARE_MIN {
            self.queue.marks.push_back(Mark {
                at: self.queue.buf.len(),
                data: Held::Shared(data.clone()),
                start,
                end,
            });
            self.queue.shared_unsent += end - start;
        } else {
            self.queue.buf.extend_from_slice(&data[start..end]);
        }
    }

    /// Queues an interim response (`100 Continue`).
    pub(crate) fn push_interim(&mut self, bytes: &[u8], cx: &mut Cx<'_>) {
        self.buffer(cx).extend_from_slice(bytes);
    }

    /// The HTTP/1 writer: renders `reply` (head and, unless head-only,
    /// body) behind what is queued, with the connection's `fate` in its
    /// head, and logs it (now, or when its streamed body ends; `said` is
    /// `None` for a reply nobody logs). `sendfile`: large file bodies will
    /// go out with sendfile. Returns whether this response ends the
    /// connection; `Err` (with nothing queued) when the file turned out
    /// shorter than its length as a small body was read.
    pub(crate) fn queue(
        &mut self,
        reply: Reply,
        fate: Fate,
        said: Option<Said<'_>>,
        peer: IpAddr,
        sendfile: bool,
        cx: &mut Cx<'_>,
    ) -> Result<bool, ShortFile> {
        let closes = fate.persist == Persist::Close;
        let mut reply = reply;
        reply.fields.chunked = fate.chunked;
        if let (Body::Stream(_), false) = (&reply.body, reply.head_only) {
            // Its head waits for the maker's verdict (200, or 413).
            self.buffer(cx);
            let Body::Stream(produced) = std::mem::replace(&mut reply.body, Body::Empty) else {
                unreachable!("matched above");
            };
            self.stream = Some(Streaming {
                body: Flow::Made(Made {
                    produced,
                    chunked: fate.chunked,
                    pending: Some(Box::new((reply, fate))),
                    ended: false,
                }),
                said: said.map(|s| s.to_owned()),
                status: Status::Ok,
                loaded: 0,
            });
            return Ok(closes);
        }
        let buf = self.buffer(cx);
        let start = buf.len();
        render_head(buf, &reply, fate, cx);
        let config = reply.config(cx.config);
        let code = reply.status;
        if reply.head_only {
            log(cx, peer, said, code, 0);
            return Ok(closes);
        }
        match reply.body {
            // Handled above.
            Body::Stream(_) => log(cx, peer, said, code, 0),
            Body::Empty => log(cx, peer, said, code, 0),
            Body::Page(status) => {
                let page = config.error_page(status);
                self.push_shared(page, 0, page.len());
                log(cx, peer, said, code, page.len() as u64);
            }
            Body::File(mut body) => {
                let len = body.remaining();
                if let Some((data, start, end)) = body.as_shared_slice() {
                    self.push_shared(data, start, end);
                    log(cx, peer, said, code, len);
                    return Ok(closes);
                }
                // Small bodies are copied whole into the queue (one write
                // for head and body, pipelined replies batched). Larger
                // file bodies stream, with sendfile when it can: no copy.
                let inline_max = if sendfile && body.file().is_some() {
                    MAX_IN_MEMORY as usize
                } else {
                    CHUNK
                };
                if len <= inline_max as u64 {
                    if body.read_into(&mut self.queue.buf, CHUNK, true).is_err() {
                        // Nothing of this response has been sent yet: take
                        // the head back.
                        self.queue.buf.truncate(start);
                        return Err(ShortFile);
                    }
                    log(cx, peer, said, code, len);
                } else {
                    self.stream = Some(Streaming {
                        body: Flow::File(body),
                        said: said.map(|s| s.to_owned()),
                        status: code,
                        loaded: 0,
                    });
                }
            }
        }
        Ok(closes)
    }

    /// Sends what is queued, and the streaming body after it, until it is
    /// all sent, the socket would block, or `budget` runs out. `stall`
    /// records when a write last made progress (a blocking transport is
    /// armed with the send timeout from it). `sendfile`: as the
    /// connection decided when it was made.
    pub(crate) fn flush<T: Transport>(
        &mut self,
        io: &mut T,
        cx: &mut Cx<'_>,
        peer: IpAddr,
        budget: &mut Budget,
        stall: &mut Stall,
        sendfile: bool,
    ) -> Flush {
        loop {
            if let Some(s) = &mut self.stream {
                if let Flow::Made(made) = &mut s.body {
                    if !made.ended && self.queue.can_refill() {
                        match take_piece(made, &mut self.queue, cx) {
                            Taken::Data(n) => s.loaded += n,
                            Taken::Status(status) => s.status = status,
                            Taken::Nothing => {}
                            // Busy: the driver drives the connection again
                            // once the pool has room.
                            Taken::Wait | Taken::Busy if self.queue.is_empty() => {
                                return Flush::Waiting;
                            }
                            Taken::Wait | Taken::Busy => {}
                            Taken::Cut => return Flush::Failed(Why::FileError),
                        }
                    }
                }
                match s.body.front_window() {
                    // Everything before the window is out: send the window
                    // itself straight from the page cache.
                    Some((offset, len)) if sendfile && self.queue.is_empty() => {
                        match send_window(io, s, offset, len, cx, budget, stall) {
                            Flush::Done => continue,
                            other => return other,
                        }
                    }
                    // First write out what precedes it (corked).
                    Some(_) if sendfile => {}
                    _ if !s.body.is_done() && self.queue.can_refill() => {
                        if let Flow::File(body) = &mut s.body {
                            self.queue.compact();
                            let room = CHUNK - self.queue.buf.len();
                            match body.read_into(&mut self.queue.buf, room, !sendfile) {
                                Ok(n) => s.loaded += n as u64,
                                Err(_) => return Flush::Failed(Why::FileError),
                            }
                        }
                    }
                    _ => {}
                }
            }
            if self.queue.is_empty() {
                match self.stream.take() {
                    Some(s) if s.body.is_done() => {
                        log(
                            cx,
                            peer,
                            s.said.as_ref().map(OwnedSaid::said),
                            s.status,
                            s.loaded,
                        );
                    }
                    Some(s) => {
                        self.stream = Some(s);
                        continue; // the stream has more to give
                    }
                    None => {}
                }
                self.queue.buf.clear();
                self.queue.pos = 0;
                return Flush::Done;
            }
            if budget.bytes == 0 {
                return Flush::Budget;
            }
            // Bytes that a sendfile window follows go out corked with it.
            let corked = sendfile
                && self
                    .stream
                    .as_ref()
                    .is_some_and(|s| s.body.front_window().is_some());
            let deadline = super::later(stall.progress, cx.config.send_timeout);
            if io.arm(deadline, cx.clock, Direction::Write).is_err() {
                return Flush::Blocked;
            }
            match self.queue.write(io, budget.bytes, corked) {
                Ok(0) => return Flush::Failed(Why::Reset),
                Ok(n) => {
                    self.queue.advance(n);
                    budget.bytes = budget.bytes.saturating_sub(n);
                    stall.progressed(cx.clock.now());
                }
                Err(e) if is_blocked(&e) => return Flush::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flush::Failed(Why::Reset),
            }
        }
    }

    /// The connection is ending: log a streamed body cut short, with the
    /// bytes that reached the socket.
    pub(crate) fn abort(&mut self, cx: &mut Cx<'_>, peer: IpAddr) {
        if let Some(s) = self.stream.take() {
            let unsent = (self.queue.buf.len() - self.queue.pos) as u64;
            log(
                cx,
                peer,
                s.said.as_ref().map(OwnedSaid::said),
                s.status,
                s.loaded.saturating_sub(unsent),
            );
        }
    }

    /// Gives the buffer back while nothing is pending.
    pub(crate) fn release(&mut self, cx: &mut Cx<'_>) {
        if !self.is_pending() {
            let buf = std::mem::take(&mut self.queue.buf);
            if let Some(pool) = cx.pool.as_deref_mut() {
                pool.give_output(buf);
            }
            self.queue = Queue::default();
        }
    }
}

/// Renders `reply`'s HTTP/1 head into `buf`, with its site's fields and
/// the connection's `fate`.
fn render_head(buf: &mut Vec<u8>, reply: &Reply, fate: Fate, cx: &Cx<'_>) {
    let date = cx.clock.http_date();
    let config = reply.config(cx.config);
    let extra = config.extra(&reply.fields);
    write_head(
        buf,
        config.version,
        reply.status,
        &date,
        &reply.fields,
        extra,
        fate.persist,
    );
}

/// What [`take_piece`] did.
enum Taken {
    /// Body bytes queued.
    Data(u64),
    /// The head went out with this status.
    Status(Status),
    /// The end (or nothing worth saying).
    Nothing,
    /// Nothing is made yet; the driver will be told.
    Wait,
    /// The pool is full: try next turn.
    Busy,
    /// The body was cut short: the connection must end.
    Cut,
}

/// Takes the next piece of a made body into the queue: the head (the
/// reply's, or a 413 in its place), a chunk, or the end.
fn take_piece(made: &mut Made, queue: &mut Queue, cx: &mut Cx<'_>) -> Taken {
    use crate::files::produced::{Next, Piece};
    let piece = match made.produced.next(cx.services.offload.as_deref_mut()) {
        Next::Piece(piece) => piece,
        Next::Waiting => return Taken::Wait,
        Next::Busy => return Taken::Busy,
    };
    queue.compact();
    match piece {
        Piece::Head(verdict) => {
            let Some(pending) = made.pending.take() else {
                return Taken::Nothing;
            };
            let (reply, fate) = *pending;
            match verdict {
                Ok(()) => {
                    render_head(&mut queue.buf, &reply, fate, cx);
                    Taken::Status(reply.status)
                }
                Err(refused) => {
                    crate::say!("skiff: folder download refused (413): {}", refused.why);
                    let config = reply.config(cx.config);
                    let mut refusal = Reply::error(Status::ContentTooLarge, config);
                    refusal.site = reply.site.clone();
                    render_head(&mut queue.buf, &refusal, fate, cx);
                    let page = refusal
                        .config(cx.config)
                        .error_page(Status::ContentTooLarge);
                    queue.buf.extend_from_slice(page);
                    made.ended = true;
                    Taken::Status(Status::ContentTooLarge)
                }
            }
        }
        Piece::Data(bytes) => {
            if bytes.is_empty() {
                return Taken::Nothing;
            }
            let len = bytes.len();
            if made.chunked {
                queue
                    .buf
                    .extend_from_slice(format!("{len:x}\r\n").as_bytes());
            }
            // Sent from the piece itself (writev), not copied.
            queue.marks.push_back(Mark {
                at: queue.buf.len(),
                data: Held::Owned(bytes),
                start: 0,
                end: len,
            });
            queue.shared_unsent += len;
            if made.chunked {
                queue.buf.extend_from_slice(b"\r\n");
            }
            Taken::Data(len as u64)
        }
        Piece::End(Ok(())) => {
            if made.chunked {
                queue.buf.extend_from_slice(b"0\r\n\r\n");
            }
            made.ended = true;
            Taken::Nothing
        }
        Piece::End(Err(why)) => {
            crate::say!("skiff: folder download cut short: {why}");
            Taken::Cut
        }
    }
}

/// Sends (part of) the front window of a streaming body with sendfile.
/// `Done` means some was sent and there may be more to do.
fn send_window<T: Transport>(
    io: &mut T,
    s: &mut Streaming,
    offset: u64,
    len: u64,
    cx: &mut Cx<'_>,
    budget: &mut Budget,
    stall: &mut Stall,
) -> Flush {
    let count = usize::try_from(len).unwrap_or(usize::MAX).min(budget.bytes);
    if count == 0 {
        return Flush::Budget;
    }
    let deadline = super::later(stall.progress, cx.config.send_timeout);
    if io.arm(deadline, cx.clock, Direction::Write).is_err() {
        return Flush::Blocked;
    }
    let Some(file) = (match &s.body {
        Flow::File(body) => body.file(),
        Flow::Made(_) => None,
    }) else {
        return Flush::Failed(Why::FileError);
    };
    match io.send_file(file, offset, count) {
        // The file shrank: the promised length can no longer be met, so
        // the connection must end.
        Ok(0) => Flush::Failed(Why::FileError),
        Ok(n) => {
            if let Flow::File(body) = &mut s.body {
                body.advance_window(n as u64);
            }
            s.loaded += n as u64;
            budget.bytes = budget.bytes.saturating_sub(n);
            stall.progressed(cx.clock.now());
            Flush::Done
        }
        Err(e) if is_blocked(&e) => Flush::Blocked,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Flush::Done,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => Flush::Failed(Why::FileError),
        Err(_) => Flush::Failed(Why::Reset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::scripted::ScriptedPeer;

    /// `HEAD1`, a shared `shared-one`, `HEAD2`, a shared `shared-two`,
    /// `tail`: marks however short (the queue itself takes any size).
    fn queue_with_marks() -> Queue {
        let mut q = Queue::default();
        for (head, shared) in [
            (&b"HEAD1"[..], &b"shared-one"[..]),
            (b"HEAD2", b"shared-two"),
        ] {
            q.buf.extend_from_slice(head);
            q.marks.push_back(Mark {
                at: q.buf.len(),
                data: Held::Shared(Arc::from(shared)),
                start: 0,
                end: shared.len(),
            });
            q.shared_unsent += shared.len();
        }
        q.buf.extend_from_slice(b"tail");
        q
    }

    #[test]
    fn writes_never_exceed_the_limit_and_come_out_in_order() {
        let whole = b"HEAD1shared-oneHEAD2shared-twotail";
        for limit in 1..=whole.len() + 1 {
            for window in [1, 3, 7, 100] {
                let mut q = queue_with_marks();
                let mut peer = ScriptedPeer {
                    window,
                    ..ScriptedPeer::default()
                };
                while !q.is_empty() {
                    let n = q.write(&mut peer, limit, false).unwrap();
                    assert!(n <= limit, "limit {limit}: wrote {n}");
                    assert!(n > 0);
                    q.advance(n);
                }
                assert_eq!(peer.sent, whole, "limit {limit} window {window}");
            }
        }
    }

    #[test]
    fn a_large_error_page_is_queued_by_reference_a_small_one_copied() {
        let dir = std::env::temp_dir().join(format!("skiff-pages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("404.html"), vec![b'p'; 100_000]).unwrap();
        let root = std::env::temp_dir();
        let config = crate::config::Config::parse_from([
            "skiff",
            "--root",
            root.to_str().unwrap(),
            "--error-pages",
            dir.to_str().unwrap(),
        ])
        .unwrap();
        let clock = crate::http::date::Clock::new();
        let peer: IpAddr = [127, 0, 0, 1].into();
        let queued = |status| {
            let mut out = Output::default();
            let mut cx = Cx::new(&config, &clock, None);
            let _ = out.queue(
                Reply::error(status, &config),
                Fate::CLOSE,
                Some(Said::default()),
                peer,
                true,
                &mut cx,
            );
            out
        };
        let status = crate::http::response::Status::NotFound;
        let out = queued(status);
        assert_eq!(out.queue.marks.len(), 1, "the 100 KB page is shared");
        assert!(matches!(&out.queue.marks[0].data,
            Held::Shared(a) if Arc::ptr_eq(a, config.error_page(status))));
        assert!(out.queue.buf.len() < 1024, "only the head was copied");
        let status = crate::http::response::Status::Forbidden;
        let out = queued(status);
        assert!(out.queue.marks.is_empty(), "the built-in 403 page is small");
        assert!(out.queue.buf.ends_with(config.error_page(status)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
