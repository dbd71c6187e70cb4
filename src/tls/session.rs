//! TLS between the socket and the connection core: a [`Session`] per
//! connection, and [`TlsIo`], the [`Transport`] the core is driven over
//! while a session is open. The HTTP code does not know it is there.
//!
//! # Memory
//! rustls's unbuffered API: the session owns no record buffers of its
//! own. It borrows three from the loop's [`TlsBufs`] while it has bytes
//! in them (ciphertext received, ciphertext to send, plaintext decrypted
//! but not yet read) and gives each back as soon as it is empty, so an
//! idle keep-alive TLS connection holds only rustls's state (keys and
//! secrets). The buffers a loop keeps for reuse are bounded
//! ([`TLS_POOL_MAX`] of each kind).
//!
//! # Phases
//! ```text
//!   Handshake --finished--> Open
//!       |  \--plain HTTP--> the driver drops the session and the
//!       |                   connection core answers 400 (`Failure::PlainHttp`)
//!       +-- error, EOF or --header-timeout: closed
//! ```
//! The driver runs [`Session::handshake`] until it says `Done`; its
//! deadline ([`Session::deadline`]) is `--header-timeout` from accept, on
//! the loop's timer wheel like every other deadline. Then the connection
//! core runs over [`TlsIo`].
//!
//! # Writes
//! A write encrypts up to [`MAX_WRITE`] bytes of plaintext (one record)
//! into the outgoing buffer and sends what the socket takes. While ciphertext is
//! still waiting, the next write says `WouldBlock`, so at most one write's
//! worth is held here and the connection's write budget and backpressure
//! work as over a plain socket. Reads first try to send what is waiting,
//! and a blocking driver finishes sending it before it waits for the next
//! request ([`TlsIo::arm`]).
//!
//! sendfile does not apply: file bodies are read in chunks, encrypted and
//! written as the socket accepts them. (kTLS would let the kernel encrypt
//! and bring sendfile back; the kernels this was built on lack it.)

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};

use crate::close::{Timeout, Why};
use crate::http::date::Clock;
use crate::timer::later;
use crate::transport::{Direction, Transport};

/// Largest TLS record on the wire: 2^14 bytes of payload plus the most
/// expansion a cipher may add, plus the header.
pub const RECORD_MAX: usize = (1 << 14) + 256 + 5;
/// Incoming buffer: one whole record. A handshake message split over
/// records is joined in place and may need more; the buffer then grows,
/// up to [`INCOMING_MAX`].
pub(crate) const INCOMING: usize = RECORD_MAX;
/// A handshake message is at most 64 KiB (rustls's limit), plus headers.
pub(crate) const INCOMING_MAX: usize = 64 * 1024 + 4 * RECORD_MAX;
/// Plaintext encrypted per write: one full record per send, as nginx
/// does (`ssl_buffer_size 16k`). Measured on 5 MB bodies over HTTPS (wrk,
/// 64 connections, 3 rounds each, server and client pinned to a core
/// each; docs/https.md): four records per send gave 266-281 responses/s
/// at about 1,650 us of server CPU each; one record per send 282-376 at
/// 1,750-2,980 us. Two records per send (32 KiB) was no better than four,
/// and neither was one record only once a send had come back short. The
/// loopback client is the bottleneck here, and it is kept busier by
/// records arriving one send at a time. The price is more sends: 40 KB
/// bodies took 24 us of CPU instead of 17 (nginx: 35).
pub(crate) const MAX_WRITE: usize = 16 * 1024;
/// Outgoing buffer: one record with its header and tag, or a handshake
/// flight (a larger one grows the buffer, which is then not kept).
pub(crate) const OUTGOING: usize = RECORD_MAX + 1024;
/// Buffers of each kind a loop keeps for reuse.
pub(crate) const TLS_POOL_MAX: usize = 32;

/// Record buffers lent to sessions while they have bytes in them.
#[derive(Debug, Default)]
pub struct TlsBufs {
    incoming: Vec<Vec<u8>>,
    outgoing: Vec<Vec<u8>>,
    plain: Vec<Vec<u8>>,
}

impl TlsBufs {
    pub fn new() -> TlsBufs {
        TlsBufs::default()
    }

    fn take(list: &mut Vec<Vec<u8>>, size: usize) -> Vec<u8> {
        list.pop().unwrap_or_else(|| vec![0; size])
    }

    fn give(list: &mut Vec<Vec<u8>>, buf: Vec<u8>, size: usize) {
        if buf.len() == size && list.len() < TLS_POOL_MAX {
            list.push(buf);
        }
    }
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake { since: Instant },
    Open,
}

/// Closing the write side: a close_notify, then FIN once it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    No,
    /// close_notify is queued; shut the socket once the queue is sent.
    Flushing,
    Shut,
}

/// What the handshake did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hs {
    /// Finished: the connection core takes over.
    Done,
    /// Waiting for the socket.
    Wait,
    /// Over: the client went away.
    Close,
    /// The first bytes are plain text, not TLS: the session is done with,
    /// and the connection core answers (see [`refuse_plain`]).
    Plain,
    /// New handshake bytes arrived: process them off the loop
    /// ([`Session::process_away`]), then drive the handshake again.
    Process,
}

/// One step of rustls's state machine.
enum Got {
    /// Something changed (plaintext taken, a record encoded or sent, the
    /// peer's close_notify): step again.
    Again,
    /// Records to send, and the socket is full.
    Blocked,
    /// More input is needed to get anywhere.
    NeedInput,
    /// Traffic may flow; `n` bytes of plaintext were encrypted.
    Open(usize),
    Closed,
}

/// What to do in the `WriteTraffic` state.
#[derive(Clone, Copy)]
enum Put<'a> {
    Nothing,
    Data(&'a [u8]),
    CloseNotify,
}

/// A TLS connection's state.
pub struct Session {
    conn: UnbufferedServerConnection,
    phase: Phase,
    /// Ciphertext received: `incoming[..in_len]`.
    incoming: Vec<u8>,
    in_len: usize,
    /// Ciphertext to send: `outgoing[out_pos..out_end]`.
    outgoing: Vec<u8>,
    out_pos: usize,
    out_end: usize,
    /// Decrypted, not yet read: `plain[plain_pos..]`.
    plain: Vec<u8>,
    plain_pos: usize,
    closing: Closing,
    peer_closed: bool,
    /// No byte has arrived yet (for the plain-HTTP check).
    fresh: bool,
    /// The host the client named in its ClientHello (SNI), lowercased.
    sni: Option<Arc<str>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.phase)
            .finish()
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Session {
    pub fn new(config: &Arc<ServerConfig>, now: Instant) -> io::Result<Session> {
        Ok(Session {
            conn: UnbufferedServerConnection::new(config.clone()).map_err(other)?,
            phase: Phase::Handshake { since: now },
            incoming: Vec::new(),
            in_len: 0,
            outgoing: Vec::new(),
            out_pos: 0,
            out_end: 0,
            plain: Vec::new(),
            plain_pos: 0,
            closing: Closing::No,
            peer_closed: false,
            fresh: true,
            sni: None,
        })
    }

    /// Whether the connection core is not running yet (or never will).
    pub(crate) fn handshaking(&self) -> bool {
        self.phase != Phase::Open
    }

    /// The deadline of the handshake (`--header-timeout` from accept);
    /// `None` once open.
    pub(crate) fn deadline(&self, header_timeout: Duration) -> Option<Instant> {
        match self.phase {
            Phase::Handshake { since } => Some(later(since, header_timeout)),
            Phase::Open => None,
        }
    }

    /// The negotiated protocol version, once known ("TLSv1.3").
    pub(crate) fn version(&self) -> Option<&'static str> {
        self.conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "TLS",
        })
    }

    /// The host the client named (SNI), if it named one.
    pub(crate) fn sni(&self) -> Option<&Arc<str>> {
        self.sni.as_ref()
    }

    /// Whether ALPN chose HTTP/2.
    pub(crate) fn is_h2(&self) -> bool {
        self.conn.alpn_protocol() == Some(crate::tls::ALPN_H2)
    }

    /// Ciphertext waiting to be sent.
    pub(crate) fn pending(&self) -> usize {
        self.out_end - self.out_pos
    }

    /// Gives back the buffers that hold nothing.
    pub fn release(&mut self, bufs: &mut TlsBufs) {
        if self.in_len == 0 && !self.incoming.is_empty() {
            TlsBufs::give(
                &mut bufs.incoming,
                std::mem::take(&mut self.incoming),
                INCOMING,
            );
        }
        if self.out_pos == self.out_end && !self.outgoing.is_empty() {
            self.out_pos = 0;
            self.out_end = 0;
            TlsBufs::give(
                &mut bufs.outgoing,
                std::mem::take(&mut self.outgoing),
                OUTGOING,
            );
        }
        if self.plain_pos == self.plain.len() && self.plain.capacity() > 0 {
            let mut plain = std::mem::take(&mut self.plain);
            self.plain_pos = 0;
            if plain.capacity() <= RECORD_MAX && bufs.plain.len() < TLS_POOL_MAX {
                plain.clear();
                bufs.plain.push(plain);
            }
        }
    }

    /// Sends waiting ciphertext. `Ok(true)`: none is left.
    fn flush<S: Write>(&mut self, sock: &mut S) -> io::Result<bool> {
        let sent = send(&self.outgoing, &mut self.out_pos, &mut self.out_end, sock)?;
        if sent && self.closing == Closing::Flushing {
            self.closing = Closing::Shut;
        }
        Ok(sent)
    }

    /// Reads what the socket has into the incoming buffer: `Ok(0)` at the
    /// end of the stream.
    fn fill<S: Read>(&mut self, sock: &mut S, bufs: &mut TlsBufs) -> io::Result<usize> {
        if self.incoming.is_empty() {
            self.incoming = TlsBufs::take(&mut bufs.incoming, INCOMING);
        }
        if self.in_len == self.incoming.len() {
            // Only a handshake message joined over records gets here.
            if self.incoming.len() >= INCOMING_MAX {
                return Err(other("a TLS message larger than 64 KiB"));
            }
            let grown = (self.incoming.len() * 2).min(INCOMING_MAX);
            self.incoming.resize(grown, 0);
        }
        let n = sock.read(&mut self.incoming[self.in_len..])?;
        self.in_len += n;
        Ok(n)
    }

    /// One step of rustls: processes the records received, and does what
    /// the state it reaches asks (take plaintext, encode a handshake
    /// record, send, or encrypt `put`).
    fn step<S: Write>(
        &mut self,
        sock: &mut S,
        bufs: &mut TlsBufs,
        put: Put<'_>,
    ) -> io::Result<Got> {
        let handshaking = matches!(self.phase, Phase::Handshake { .. });
        if handshaking {
            crate::tls::forget_sni();
        }
        let status = self
            .conn
            .process_tls_records(&mut self.incoming[..self.in_len]);
        if handshaking {
            if let Some(name) = crate::tls::take_sni() {
                self.sni = Some(name);
            }
        }
        let discard = status.discard;
        let got = match status.state {
            Err(e) => Err(other(e)),
            Ok(ConnectionState::ReadTraffic(mut records)) => {
                let mut got = Ok(Got::Again);
                while let Some(record) = records.next_record() {
                    match record {
                        Ok(record) => {
                            if self.plain.capacity() == 0 {
                                self.plain = bufs.plain.pop().unwrap_or_default();
                            }
                            self.plain.extend_from_slice(record.payload);
                        }
                        Err(e) => {
                            got = Err(other(e));
                            break;
                        }
                    }
                }
                got
            }
            Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                let (out, end) = (&mut self.outgoing, &mut self.out_end);
                encode_into(out, end, bufs, |b| encode.encode(b).map_err(encode_short))
                    .map(|()| Got::Again)
            }
            Ok(ConnectionState::TransmitTlsData(transmit)) => {
                match send(&self.outgoing, &mut self.out_pos, &mut self.out_end, sock) {
                    Ok(true) => {
                        transmit.done();
                        Ok(Got::Again)
                    }
                    Ok(false) => Ok(Got::Blocked),
                    Err(e) => Err(e),
                }
            }
            Ok(ConnectionState::BlockedHandshake) => Ok(Got::NeedInput),
            Ok(ConnectionState::WriteTraffic(mut traffic)) => match put {
                Put::Nothing => Ok(Got::Open(0)),
                Put::Data(data) => {
                    let data = &data[..data.len().min(MAX_WRITE)];
                    let (out, end) = (&mut self.outgoing, &mut self.out_end);
                    encode_into(out, end, bufs, |b| {
                        traffic.encrypt(data, b).map_err(encrypt_short)
                    })
                    .map(|()| Got::Open(data.len()))
                }
                Put::CloseNotify => {
                    let (out, end) = (&mut self.outgoing, &mut self.out_end);
                    encode_into(out, end, bufs, |b| {
                        traffic.queue_close_notify(b).map_err(encrypt_short)
                    })
                    .map(|()| Got::Open(0))
                }
            },
            Ok(ConnectionState::PeerClosed) => {
                self.peer_closed = true;
                Ok(Got::Again)
            }
            Ok(ConnectionState::Closed) => Ok(Got::Closed),
            Ok(ConnectionState::ReadEarlyData(mut early)) => {
                // Never offered (no 0-RTT): drop it.
                while early.next_record().is_some() {}
                Ok(Got::Again)
            }
            Ok(_) => Ok(Got::Closed),
        };
        if discard > 0 {
            self.incoming.copy_within(discard..self.in_len, 0);
            self.in_len -= discard;
        }
        got
    }

    /// Runs the handshake as far as the socket allows. A client speaking
    /// plain HTTP is [`Hs::Plain`]; errors (a broken ClientHello, no
    /// shared version or cipher) end the connection.
    ///
    /// With `offload`, bytes read are not processed here: the call returns
    /// [`Hs::Process`] and the caller has [`Session::process_away`] run on
    /// a worker (the handshake's key exchange and signature take tens of
    /// microseconds with ECDSA, milliseconds with RSA). Everything this
    /// call then does itself is cheap: sending what was encoded, and
    /// noticing the handshake is over.
    pub fn handshake<S: Transport>(
        &mut self,
        sock: &mut S,
        bufs: &mut TlsBufs,
        offload: bool,
    ) -> io::Result<Hs> {
        loop {
            match self.step(sock, bufs, Put::Nothing)? {
                Got::Again => {}
                Got::Blocked => return Ok(Hs::Wait),
                Got::Open(_) => {
                    self.phase = Phase::Open;
                    return Ok(Hs::Done);
                }
                Got::Closed => return Ok(Hs::Close),
                Got::NeedInput => {
                    let n = match self.fill(sock, bufs) {
                        Ok(0) => return Ok(Hs::Close),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Hs::Wait),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    if std::mem::take(&mut self.fresh)
                        && n > 0
                        && self.incoming[0].is_ascii_uppercase()
                    {
                        return Ok(Hs::Plain);
                    }
                    if offload {
                        return Ok(Hs::Process);
                    }
                    if S::BLOCKING {
                        // A blocking read waits afresh each call: back to
                        // the driver, which arms the next read with what
                        // is left of the handshake's deadline, so a
                        // trickle cannot stretch it.
                        return Ok(Hs::Wait);
                    }
                }
            }
        }
    }

    /// Processes the handshake records received, without any I/O: on a
    /// worker thread, between two [`Hs::Process`] handshake calls. It
    /// stops where rustls needs the socket (to send what it encoded, or
    /// for more input) or the handshake is over.
    pub fn process_away(&mut self) -> io::Result<()> {
        let mut bufs = TlsBufs::new();
        loop {
            match self.step(&mut Nowhere, &mut bufs, Put::Nothing)? {
                Got::Again => {}
                _ => return Ok(()),
            }
        }
    }
}

/// Why rustls wrote no record into the buffer it was given.
enum Short {
    /// The buffer must have this many bytes free.
    Need(usize),
    Failed(io::Error),
}

fn encode_short(e: EncodeError) -> Short {
    match e {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Short::Need(required_size)
        }
        e => Short::Failed(other(e)),
    }
}

fn encrypt_short(e: EncryptError) -> Short {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Short::Need(required_size)
        }
        e => Short::Failed(other(e)),
    }
}

/// Has `write` put one record (handshake data, encrypted data or a
/// close_notify) at `outgoing[*end..]`, borrowing a buffer from `bufs`
/// first if the session has none, and growing it as often as rustls asks.
fn encode_into(
    outgoing: &mut Vec<u8>,
    end: &mut usize,
    bufs: &mut TlsBufs,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Short>,
) -> io::Result<()> {
    loop {
        if outgoing.is_empty() {
            *outgoing = TlsBufs::take(&mut bufs.outgoing, OUTGOING);
        }
        match write(&mut outgoing[*end..]) {
            Ok(n) => {
                *end += n;
                return Ok(());
            }
            Err(Short::Need(required)) => {
                let need = *end + required;
                outgoing.resize(need.max(outgoing.len()), 0);
            }
            Err(Short::Failed(e)) => return Err(e),
        }
    }
}

/// A socket that is always full: records are encoded but not sent.
struct Nowhere;

impl Write for Nowhere {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `buf[*pos..*end]`; `Ok(true)` once all is sent (both reset),
/// `Ok(false)` if the socket would block first.
fn send<S: Write>(buf: &[u8], pos: &mut usize, end: &mut usize, sock: &mut S) -> io::Result<bool> {
    while *pos < *end {
        match sock.write(&buf[*pos..*end]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    *pos = 0;
    *end = 0;
    Ok(true)
}

/// The connection core's transport over an open session.
pub(crate) struct TlsIo<'a, S> {
    pub(crate) session: &'a mut Session,
    pub(crate) sock: &'a mut S,
    pub(crate) bufs: &'a mut TlsBufs,
}

impl<S: Transport> TlsIo<'_, S> {
    /// Sends waiting ciphertext, and shuts the socket's write side once a
    /// queued close_notify has gone.
    fn flush_out(&mut self) -> io::Result<bool> {
        let was = self.session.closing;
        let done = self.session.flush(self.sock)?;
        if was == Closing::Flushing && self.session.closing == Closing::Shut {
            self.sock.shutdown_write();
        }
        Ok(done)
    }

    fn encrypt(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.flush_out()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        loop {
            match self.session.step(self.sock, self.bufs, Put::Data(data))? {
                Got::Open(n) => {
                    // The bytes are taken; an error shows next call.
                    let _ = self.flush_out();
                    return Ok(n);
                }
                Got::Again => {}
                Got::Blocked | Got::NeedInput => return Err(io::ErrorKind::WouldBlock.into()),
                Got::Closed => return Err(io::ErrorKind::BrokenPipe.into()),
            }
        }
    }
}

impl<S: Transport> Read for TlsIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let s = &mut *self.session;
            if s.plain_pos < s.plain.len() {
                let n = buf.len().min(s.plain.len() - s.plain_pos);
                buf[..n].copy_from_slice(&s.plain[s.plain_pos..s.plain_pos + n]);
                s.plain_pos += n;
                if s.plain_pos == s.plain.len() {
                    s.plain.clear();
                    s.plain_pos = 0;
                }
                return Ok(n);
            }
            if s.peer_closed || buf.is_empty() {
                return Ok(0);
            }
            match self.flush_out() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.session.step(self.sock, self.bufs, Put::Nothing)? {
                Got::Again => {}
                Got::Blocked => return Err(io::ErrorKind::WouldBlock.into()),
                Got::Closed => return Ok(0),
                Got::NeedInput | Got::Open(_) => {
                    if self.session.fill(self.sock, self.bufs)? == 0 {
                        // End of stream without close_notify: the
                        // request bytes already read are all there is.
                        return Ok(0);
                    }
                }
            }
        }
    }
}

impl<S: Transport> Write for TlsIo<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.encrypt(buf)
    }

    /// Pieces (a head and its body, pipelined responses) fill a record
    /// together instead of one record each.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let first = bufs.iter().find(|b| !b.is_empty());
        match first {
            None => Ok(0),
            Some(first) if first.len() >= MAX_WRITE || first.len() == total => self.write(first),
            Some(_) => {
                let mut gathered = [0u8; MAX_WRITE];
                let mut n = 0;
                for b in bufs {
                    let take = b.len().min(MAX_WRITE - n);
                    gathered[n..n + take].copy_from_slice(&b[..take]);
                    n += take;
                    if n == MAX_WRITE {
                        break;
                    }
                }
                self.encrypt(&gathered[..n])
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.flush_out()? {
            true => Ok(()),
            false => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: Transport> Transport for TlsIo<'_, S> {
    const BLOCKING: bool = S::BLOCKING;

    /// A close_notify, then FIN once everything before it is sent.
    fn shutdown_write(&mut self) {
        if self.session.closing != Closing::No {
            return;
        }
        let queued = loop {
            match self.session.step(self.sock, self.bufs, Put::CloseNotify) {
                Ok(Got::Open(_)) => break true,
                Ok(Got::Again) => {}
                _ => break false,
            }
        };
        self.session.closing = Closing::Flushing;
        if !queued {
            // No session to close politely: just FIN.
            self.session.out_pos = self.session.out_end;
        }
        let _ = self.flush_out();
    }

    /// A blocking driver sends what is waiting before it waits to read:
    /// the end of a response may still be here.
    fn arm(&mut self, deadline: Instant, clock: &Clock, dir: Direction) -> io::Result<()> {
        if S::BLOCKING && dir != Direction::Write {
            while self.session.pending() > 0 {
                self.sock.arm(deadline, clock, Direction::Write)?;
                match self.flush_out() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.sock.arm(deadline, clock, dir)
    }

    fn unsent_bytes(&self) -> Option<usize> {
        self.sock.unsent_bytes().map(|n| n + self.session.pending())
    }
}

/// Why a handshake still under way at `now` ends: its deadline
/// (`--header-timeout` from accept) has passed. `None` before it.
pub(crate) fn handshake_expired(
    session: &Session,
    header_timeout: Duration,
    now: Instant,
) -> Option<Why> {
    match session.deadline(header_timeout) {
        Some(d) if now >= d => Some(Why::Timeout(Timeout::Handshake)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client on another thread asks twice over one connection; between
    /// the requests the server's session gives every buffer back.
    #[test]
    fn an_idle_session_holds_no_buffers_and_borrows_them_again() {
        let tls = crate::tls::Tls::self_signed().unwrap();
        let client_config = crate::tls::health_check_client(&tls);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut sock = std::net::TcpStream::connect(addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut conn = rustls::ClientConnection::new(client_config, name).unwrap();
            let mut answers = Vec::new();
            for ask in [&b"one"[..], b"two"] {
                let mut stream = rustls::Stream::new(&mut conn, &mut sock);
                stream.write_all(ask).unwrap();
                let mut got = [0u8; 64];
                let n = stream.read(&mut got).unwrap();
                answers.push(got[..n].to_vec());
            }
            answers
        });
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut bufs = TlsBufs::new();
        let mut session = Session::new(&tls.server, Instant::now()).unwrap();
        while session.handshake(&mut sock, &mut bufs, false).unwrap() != Hs::Done {}
        assert_eq!(session.version(), Some("TLSv1.3"));
        for _ in 0..2 {
            let mut io = TlsIo {
                session: &mut session,
                sock: &mut sock,
                bufs: &mut bufs,
            };
            let mut got = [0u8; 64];
            let n = io.read(&mut got).unwrap();
            let mut answer = b"re: ".to_vec();
            answer.extend_from_slice(&got[..n]);
            assert_eq!(io.write(&answer).unwrap(), answer.len());
            io.flush().unwrap();
            session.release(&mut bufs);
            assert_eq!(session.incoming.capacity(), 0, "no incoming buffer");
            assert_eq!(session.outgoing.capacity(), 0, "no outgoing buffer");
            assert_eq!(session.plain.capacity(), 0, "no plaintext buffer");
            assert_eq!(bufs.incoming.len(), 1, "the buffers went back to the pool");
            assert_eq!(bufs.outgoing.len(), 1);
        }
        assert_eq!(
            client.join().unwrap(),
            [b"re: one".to_vec(), b"re: two".to_vec()]
        );
    }

    /// With `offload`, the handshake never processes records itself: it
    /// reads, says `Process`, and the records are processed elsewhere (on
    /// another thread here, as on a worker).
    #[test]
    fn an_offloaded_handshake_processes_records_on_another_thread() {
        let tls = crate::tls::Tls::self_signed().unwrap();
        let client_config = crate::tls::health_check_client(&tls);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut sock = std::net::TcpStream::connect(addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut conn = rustls::ClientConnection::new(client_config, name).unwrap();
            let mut stream = rustls::Stream::new(&mut conn, &mut sock);
            stream.write_all(b"ping").unwrap();
            let mut got = [0u8; 16];
            let n = stream.read(&mut got).unwrap();
            got[..n].to_vec()
        });
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut bufs = TlsBufs::new();
        let mut session = Box::new(Session::new(&tls.server, Instant::now()).unwrap());
        let mut away = 0;
        loop {
            match session.handshake(&mut sock, &mut bufs, true).unwrap() {
                Hs::Done => break,
                Hs::Process => {
                    away += 1;
                    session = std::thread::spawn(move || {
                        session.process_away().unwrap();
                        session
                    })
                    .join()
                    .unwrap();
                }
                Hs::Wait => {}
                Hs::Close | Hs::Plain => panic!("closed"),
            }
        }
        assert!(
            away >= 2,
            "the hello and the finish were processed away: {away}"
        );
        let mut io = TlsIo {
            session: &mut session,
            sock: &mut sock,
            bufs: &mut bufs,
        };
        let mut got = [0u8; 16];
        let n = io.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"ping");
        io.write_all(b"pong").unwrap();
        assert_eq!(client.join().unwrap(), b"pong");
    }
}
