//! The load generator: one mio loop on one thread holding every client
//! connection, each keeping `depth` requests in flight (keep-alive; a depth
//! above 1 is pipelining). It talks to any HTTP/1.1 server.
//!
//! Every response is checked: its head is parsed with httparse, its status
//! must be 2xx or 3xx, and its body must be as long as the first response's
//! (the probe's), whether framed by `Content-Length`, chunked, or ended by
//! a close. A response that fails is an error of its kind and is not
//! counted as completed, so a server that answers wrong is not fast.
//!
//! The generator is built to cost less per response than a server: it
//! reads once per readiness unless the read filled its buffer, skips bodies
//! by count, and keeps latencies in a fixed log-linear histogram.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// What to load and how hard.
#[derive(Clone)]
pub struct Spec {
    pub addr: SocketAddr,
    /// The bytes of one request, sent again and again.
    pub request: Vec<u8>,
    pub conns: usize,
    pub depth: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

/// A parsed `http://host:port/path` target.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                format!("{url}: the generator speaks plain HTTP only")
            } else {
                format!("{url}: expected http://HOST[:PORT]/PATH")
            }
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let with_port = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:80")
        } else {
            authority.to_string()
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: the host has no address"))?;
        Ok(Target {
            addr,
            host: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// The request the generator repeats: GET with Host and the extra
    /// header lines given.
    pub fn request(&self, headers: &[String]) -> Vec<u8> {
        let mut r = format!("GET {} HTTP/1.1\r\nHost: {}\r\n", self.path, self.host);
        for h in headers {
            r.push_str(h.trim());
            r.push_str("\r\n");
        }
        r.push_str("\r\n");
        r.into_bytes()
    }
}

/// Errors by kind.
#[derive(Default, Clone, Copy, Debug)]
pub struct Errors {
    /// A connection could not be made (refused, reset or timed out while
    /// connecting).
    pub connect: u64,
    /// A read or write failed, or the server closed with requests still
    /// unanswered and no response under way.
    pub read: u64,
    /// A status that is not 2xx or 3xx.
    pub status: u64,
    /// The connection ended inside a body.
    pub short_body: u64,
    /// A whole body of another length than the probe's.
    pub length: u64,
    /// A response head httparse refused, or bad chunked framing.
    pub malformed: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.status + self.short_body + self.length + self.malformed
    }

    /// "none", or the kinds that happened with their counts.
    pub fn describe(&self) -> String {
        let kinds = [
            ("connect", self.connect),
            ("read", self.read),
            ("status", self.status),
            ("short body", self.short_body),
            ("length", self.length),
            ("malformed", self.malformed),
        ];
        let said: Vec<String> = kinds
            .iter()
            .filter(|k| k.1 > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if said.is_empty() {
            "none".into()
        } else {
            said.join(", ")
        }
    }
}

/// Latencies in nanoseconds, log-linear: exact below 128 ns, then 64
/// buckets per power of two (within 1.6%).
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 128 + 57 * 64],
            total: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < 128 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize;
        let m = (v >> (e - 6)) as usize;
        128 + (e - 7) * 64 + (m - 64)
    }

    fn lower(i: usize) -> u64 {
        if i < 128 {
            return i as u64;
        }
        let e = (i - 128) / 64 + 7;
        let m = ((i - 128) % 64 + 64) as u64;
        m << (e - 6)
    }

    pub fn record(&mut self, nanos: u64) {
        self.counts[Self::index(nanos)] += 1;
        self.total += 1;
    }

    /// The value at quantile `q` (0..=1), in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // The middle of the bucket.
                let lo = Self::lower(i);
                let hi = Self::lower(i + 1).max(lo + 1);
                return (lo + hi) as f64 / 2.0 / 1000.0;
            }
        }
        0.0
    }
}

/// What a run measured, over the measured window only.
#[derive(Default)]
pub struct Report {
    pub completed: u64,
    /// Body bytes of completed responses (decoded length when chunked).
    pub body_bytes: u64,
    pub errors: Errors,
    pub latency: Histogram,
    /// Connections opened again after the server closed one (an error, or
    /// a `Connection: close`).
    pub reconnects: u64,
    /// Connections that had their first response by the end of the ramp.
    pub ready_conns: usize,
    pub window: Duration,
    /// What every response in the window was checked against.
    pub expect: Option<Expect>,
    /// Times the generator went to sleep waiting for the server in the
    /// window (its voluntary context switches): how often the server's
    /// sends have to wake the client.
    pub client_sleeps: u64,
    /// `poll` calls in the window that returned readiness events, and the
    /// events they returned.
    pub polls: u64,
    pub events: u64,
}

impl Report {
    pub fn rps(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64().max(1e-9)
    }
    pub fn bytes_per_sec(&self) -> f64 {
        self.body_bytes as f64 / self.window.as_secs_f64().max(1e-9)
    }
}

/// What the first response said: every later one must match it.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    pub status: u16,
    pub body_len: u64,
}

/// Sends the request once on a fresh connection and reads the whole
/// response: its status (which must be 2xx or 3xx) and body length become
/// what every response of the run must match.
pub fn probe(addr: SocketAddr, request: &[u8]) -> Result<Expect, String> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(request)
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut p = Parser::default();
    let mut buf = vec![0u8; 64 * 1024];
    // A body that never ends (no length, never closed) is not measurable.
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        if Instant::now() > give_up {
            return Err(format!(
                "{addr} did not finish its answer to the probe in 30 s"
            ));
        }
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("no response from {addr}: {e}"))?;
        let mut out = Vec::new();
        if n == 0 {
            p.eof(&mut out);
        } else {
            p.feed(&buf[..n], &mut out);
        }
        match out.first() {
            Some(Event::Done { status, body, .. }) => {
                if !(200..400).contains(status) {
                    return Err(format!("{addr} answered the probe with status {status}"));
                }
                return Ok(Expect {
                    status: *status,
                    body_len: *body,
                });
            }
            Some(Event::Bad(kind)) => {
                return Err(format!("{addr} answered the probe wrongly ({kind:?})"));
            }
            None if n == 0 => return Err(format!("{addr} closed without answering the probe")),
            None => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bad {
    Malformed,
    ShortBody,
}

enum Event {
    /// A whole response: `close` when it asked to close the connection.
    Done {
        status: u16,
        body: u64,
        close: bool,
    },
    Bad(Bad),
}

#[derive(Clone, Copy)]
enum Chunk {
    /// Reading a chunk-size line; the size so far and whether the digits
    /// have ended (an extension or whitespace follows).
    Size { size: u64, digits: u32, ended: bool },
    /// Inside chunk data.
    Data(u64),
    /// The CRLF after chunk data: how many of its bytes are still to come.
    DataEnd(u8),
    /// Trailer lines after the last chunk; whether the current line is
    /// empty so far.
    Trailer { empty: bool },
}

#[derive(Clone, Copy)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    /// No framing: the body ends when the connection does.
    UntilClose,
}

/// Incremental response parser for one connection.
#[derive(Default)]
struct Parser {
    /// A response head split across reads.
    head: Vec<u8>,
    /// The response under way once its head is parsed.
    body: Option<(Body, u16, u64, bool)>,
}

impl Parser {
    fn idle(&self) -> bool {
        self.head.is_empty() && self.body.is_none()
    }

    /// Consumes bytes, pushing each response completed (or found bad).
    /// After a `Bad`, the rest of the bytes are ignored.
    fn feed(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let mut pos = 0;
        while pos < data.len() {
            if let Some((body, status, got, close)) = &mut self.body {
                let rest = &data[pos..];
                let (used, fin) = match body {
                    Body::Length(left) => {
                        let n = (*left).min(rest.len() as u64);
                        *left -= n;
                        *got += n;
                        (n as usize, *left == 0)
                    }
                    Body::UntilClose => {
                        *got += rest.len() as u64;
                        (rest.len(), false)
                    }
                    Body::Chunked(c) => match chunked(c, rest, got) {
                        Ok(r) => r,
                        Err(()) => {
                            out.push(Event::Bad(Bad::Malformed));
                            self.body = None;
                            return;
                        }
                    },
                };
                pos += used;
                if fin {
                    out.push(Event::Done {
                        status: *status,
                        body: *got,
                        close: *close,
                    });
                    self.body = None;
                }
                continue;
            }
            // A head: parse in place when it came whole.
            let rest = &data[pos..];
            let whole = if self.head.is_empty() {
                match parse_head(rest) {
                    Ok(Some(h)) => Some(h),
                    Ok(None) => {
                        self.head.extend_from_slice(rest);
                        return;
                    }
                    Err(()) => {
                        out.push(Event::Bad(Bad::Malformed));
                        return;
                    }
                }
            } else {
                let old = self.head.len();
                self.head.extend_from_slice(rest);
                match parse_head(&self.head) {
                    Ok(Some(mut h)) => {
                        h.len -= old;
                        self.head.clear();
                        Some(h)
                    }
                    Ok(None) => {
                        if self.head.len() > 64 * 1024 {
                            out.push(Event::Bad(Bad::Malformed));
                        }
                        return;
                    }
                    Err(()) => {
                        out.push(Event::Bad(Bad::Malformed));
                        return;
                    }
                }
            };
            let h = whole.expect("parsed above");
            pos += h.len;
            // 1xx responses (100 Continue) precede the real one.
            if (100..200).contains(&h.status) {
                continue;
            }
            match h.body {
                Body::Length(0) => out.push(Event::Done {
                    status: h.status,
                    body: 0,
                    close: h.close,
                }),
                b => self.body = Some((b, h.status, 0, h.close)),
            }
        }
    }

    /// The connection ended: a response framed by the close completes;
    /// one cut short inside its body is a short body.
    fn eof(&mut self, out: &mut Vec<Event>) {
        match self.body.take() {
            Some((Body::UntilClose, status, got, _)) => out.push(Event::Done {
                status,
                body: got,
                close: true,
            }),
            Some(_) => out.push(Event::Bad(Bad::ShortBody)),
            None if !self.head.is_empty() => out.push(Event::Bad(Bad::ShortBody)),
            None => {}
        }
        self.head.clear();
    }
}

struct Head {
    len: usize,
    status: u16,
    body: Body,
    close: bool,
}

/// `Ok(None)` when the head is not complete yet.
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let status = r.code.ok_or(())?;
    let mut length = None;
    let mut chunked = false;
    let mut close = r.version == Some(0);
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| ())?;
            length = Some(v.trim().parse::<u64>().map_err(|_| ())?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let t = token.trim_ascii();
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
    }
    // GET only: 204 and 304 have no body.
    let body = if status == 204 || status == 304 {
        Body::Length(0)
    } else if chunked {
        Body::Chunked(Chunk::Size {
            size: 0,
            digits: 0,
            ended: false,
        })
    } else if let Some(n) = length {
        Body::Length(n)
    } else {
        close = true;
        Body::UntilClose
    };
    Ok(Some(Head {
        len,
        status,
        body,
        close,
    }))
}

/// Steps the chunked decoder over `rest`: how many bytes it used and
/// whether the body ended.
fn chunked(c: &mut Chunk, rest: &[u8], got: &mut u64) -> Result<(usize, bool), ()> {
    let mut i = 0;
    while i < rest.len() {
        match c {
            Chunk::Data(left) => {
                let n = (*left).min((rest.len() - i) as u64);
                *left -= n;
                *got += n;
                i += n as usize;
                if *left == 0 {
                    *c = Chunk::DataEnd(2);
                }
            }
            Chunk::DataEnd(k) => {
                let want = if *k == 2 { b'\r' } else { b'\n' };
                if rest[i] != want {
                    return Err(());
                }
                i += 1;
                *k -= 1;
                if *k == 0 {
                    *c = Chunk::Size {
                        size: 0,
                        digits: 0,
                        ended: false,
                    };
                }
            }
            Chunk::Size {
                size,
                digits,
                ended,
            } => {
                let b = rest[i];
                i += 1;
                if b == b'\n' {
                    if *digits == 0 {
                        return Err(());
                    }
                    *c = if *size == 0 {
                        Chunk::Trailer { empty: true }
                    } else {
                        Chunk::Data(*size)
                    };
                } else if !*ended && b.is_ascii_hexdigit() {
                    if *digits >= 15 {
                        return Err(());
                    }
                    *size = *size * 16 + (b as char).to_digit(16).unwrap() as u64;
                    *digits += 1;
                } else {
                    // An extension, whitespace or the CR: ignored to the LF.
                    *ended = true;
                }
            }
            Chunk::Trailer { empty } => {
                let b = rest[i];
                i += 1;
                if b == b'\n' {
                    if *empty {
                        return Ok((i, true));
                    }
                    *empty = true;
                } else if b != b'\r' {
                    *empty = false;
                }
            }
        }
    }
    Ok((i, false))
}

/// A non-blocking call that cannot go on yet: the socket is full or
/// empty, or still connecting.
fn not_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
    )
}

/// One client connection.
struct Conn {
    stream: Option<TcpStream>,
    /// Requests not yet written.
    out: Vec<u8>,
    out_pos: usize,
    parser: Parser,
    /// When each request in flight was queued, oldest first.
    sent_at: std::collections::VecDeque<Instant>,
    /// No byte has come back on this connection yet.
    fresh: bool,
    /// It has completed a response (so it counts as ready).
    answered: bool,
    /// Reconnect on the next pass (after a close or an error).
    dead: bool,
}

impl Conn {
    fn connect(addr: SocketAddr, registry: &mio::Registry, token: Token) -> io::Result<TcpStream> {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        registry.register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(s)
    }

    fn queue(&mut self, request: &[u8], n: usize, now: Instant) {
        for _ in 0..n {
            self.out.extend_from_slice(request);
            self.sent_at.push_back(now);
        }
    }

    /// Writes what is queued; `Ok` also when the socket is full or still
    /// connecting.
    fn flush(&mut self) -> io::Result<()> {
        let Some(s) = self.stream.as_mut() else {
            return Ok(());
        };
        while self.out_pos < self.out.len() {
            match s.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if not_yet(&e) => {
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// The connection failed: counts it (in the window) as a connect error
    /// if nothing had come back on it yet, a read error otherwise, and
    /// closes it to be opened again.
    fn lost(&mut self, count: bool, errors: &mut Errors, registry: &mio::Registry) {
        if count {
            if self.fresh {
                errors.connect += 1;
            } else {
                errors.read += 1;
            }
        }
        self.reset(registry);
    }

    fn reset(&mut self, registry: &mio::Registry) {
        if let Some(mut s) = self.stream.take() {
            let _ = registry.deregister(&mut s);
        }
        self.out.clear();
        self.out_pos = 0;
        self.parser = Parser::default();
        self.sent_at.clear();
        self.fresh = true;
        self.dead = true;
    }
}

/// How the window is being counted.
struct Window {
    opens: Option<Instant>,
    ends: Option<Instant>,
}

impl Window {
    fn counts(&self, now: Instant) -> bool {
        matches!((self.opens, self.ends), (Some(o), Some(e)) if now >= o && now < e)
    }
}

/// Runs the load: `spec.conns` connections, `spec.depth` requests in flight
/// on each: a ramp until every connection has had a response (at most
/// 20 s), then `warmup`, then the measured window of `measure`. `on_open`
/// is called when the window opens, `on_close` when it ends.
///
/// In the window every response must have the status and body length of
/// `expect`, or of the last good response of the warm-up when there was
/// one: a server may answer its first request differently (skiff sends
/// the identity body while it compresses a file for the next requests).
pub fn run(
    spec: &Spec,
    mut expect: Expect,
    mut on_open: impl FnMut(),
    mut on_close: impl FnMut(),
) -> io::Result<Report> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let mut conns: Vec<Conn> = Vec::with_capacity(spec.conns);
    let start = Instant::now();
    let mut report = Report::default();
    for i in 0..spec.conns {
        let mut c = Conn {
            stream: None,
            out: Vec::with_capacity(spec.request.len() * spec.depth),
            out_pos: 0,
            parser: Parser::default(),
            sent_at: Default::default(),
            fresh: true,
            answered: false,
            dead: false,
        };
        match Conn::connect(spec.addr, poll.registry(), Token(i)) {
            Ok(s) => {
                c.stream = Some(s);
                c.queue(&spec.request, spec.depth, start);
            }
            Err(_) => {
                report.errors.connect += 1;
                c.dead = true;
            }
        }
        conns.push(c);
    }
    let mut window = Window {
        opens: None,
        ends: None,
    };
    let mut ready = 0usize;
    let mut dead: Vec<usize> = (0..spec.conns).filter(|&i| conns[i].dead).collect();
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = Vec::new();
    let mut errors = Errors::default();
    let mut last_good = None;
    let mut gate_at: Option<Instant> = None;
    let mut sleeps_before = 0;
    let mut parked: Vec<usize> = Vec::new();
    loop {
        let now = Instant::now();
        // Ramp: each connection makes one request and then waits until
        // every connection has had its answer (or 20 s have passed), so the
        // warm-up and the window run with all of them busy.
        if gate_at.is_none() && (ready >= spec.conns || now >= start + Duration::from_secs(20)) {
            gate_at = Some(now);
            report.ready_conns = ready;
            for i in parked.drain(..) {
                let c = &mut conns[i];
                if c.stream.is_some() {
                    c.queue(&spec.request, 1, now);
                    if c.flush().is_err() {
                        c.reset(poll.registry());
                        dead.push(i);
                    }
                }
            }
        }
        if window.opens.is_none()
            && let Some(g) = gate_at
            && now >= g + spec.warmup
        {
            on_open();
            sleeps_before = voluntary_switches();
            if let Some(e) = last_good {
                expect = e;
            }
            report.expect = Some(expect);
            // Errors during the warm-up are not the window's.
            errors = Errors::default();
            let now = Instant::now();
            window.opens = Some(now);
            window.ends = Some(now + spec.measure);
        }
        if let Some(e) = window.ends
            && now >= e
        {
            on_close();
            report.client_sleeps = voluntary_switches().saturating_sub(sleeps_before);
            break;
        }
        // Connections to open again: at most 256 a pass, so a server that
        // refuses does not turn this into a busy loop of connects.
        if !dead.is_empty() {
            let take = dead.len().min(256);
            for i in dead.drain(..take).collect::<Vec<_>>() {
                let c = &mut conns[i];
                match Conn::connect(spec.addr, poll.registry(), Token(i)) {
                    Ok(s) => {
                        c.stream = Some(s);
                        c.dead = false;
                        c.queue(&spec.request, spec.depth, now);
                        if window.counts(now) {
                            report.reconnects += 1;
                        }
                    }
                    Err(_) => {
                        errors.connect += 1;
                        dead.push(i);
                    }
                }
            }
        }
        let timeout = if dead.is_empty() { 50 } else { 10 };
        poll.poll(&mut events, Some(Duration::from_millis(timeout)))?;
        let n = events.iter().count() as u64;
        if n > 0 && window.counts(Instant::now()) {
            report.polls += 1;
            report.events += n;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            if c.stream.is_none() {
                continue;
            }
            if c.flush().is_err() {
                c.lost(window.counts(Instant::now()), &mut errors, poll.registry());
                dead.push(i);
                continue;
            }
            if !ev.is_readable() && !ev.is_read_closed() && !ev.is_error() {
                continue;
            }
            while let Some(s) = c.stream.as_mut() {
                let r = s.read(&mut buf);
                let now = Instant::now();
                let n = match r {
                    Ok(n) => n,
                    Err(e) if not_yet(&e) => {
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => 0,
                };
                let errored = r.is_err();
                if n == 0 {
                    c.parser.eof(&mut done);
                } else {
                    c.fresh = false;
                    c.parser.feed(&buf[..n], &mut done);
                }
                let mut close = n == 0;
                let counting = window.counts(now);
                for ev in done.drain(..) {
                    match ev {
                        Event::Done {
                            status,
                            body,
                            close: asked,
                        } => {
                            let sent = c.sent_at.pop_front().unwrap_or(now);
                            if !c.answered {
                                c.answered = true;
                                ready += 1;
                            }
                            if window.opens.is_none() && (200..400).contains(&status) {
                                last_good = Some(Expect {
                                    status,
                                    body_len: body,
                                });
                            }
                            if counting {
                                if !(200..400).contains(&status) {
                                    errors.status += 1;
                                } else if body != expect.body_len {
                                    errors.length += 1;
                                } else {
                                    report.completed += 1;
                                    report.body_bytes += body;
                                    report.latency.record(
                                        now.duration_since(sent).as_nanos().min(u64::MAX as u128)
                                            as u64,
                                    );
                                }
                            }
                            if asked {
                                close = true;
                            } else if gate_at.is_none() {
                                parked.push(i);
                            } else {
                                c.queue(&spec.request, 1, now);
                            }
                        }
                        Event::Bad(kind) => {
                            // A wrong answer is still an answer: the ramp
                            // does not wait for this connection.
                            if !c.answered {
                                c.answered = true;
                                ready += 1;
                            }
                            if counting {
                                match kind {
                                    Bad::Malformed => errors.malformed += 1,
                                    Bad::ShortBody => errors.short_body += 1,
                                }
                            }
                            close = true;
                        }
                    }
                }
                if close {
                    // A close with requests unanswered and nothing under
                    // way: the server dropped them.
                    let dropped = (errored || !c.sent_at.is_empty()) && c.parser.idle();
                    c.lost(dropped && counting, &mut errors, poll.registry());
                    dead.push(i);
                    break;
                }
                if c.flush().is_err() {
                    c.lost(counting, &mut errors, poll.registry());
                    dead.push(i);
                    break;
                }
                // A short read emptied the socket; the next bytes bring a
                // new edge. Not so a close that came with the last bytes:
                // read on to see it.
                if n < buf.len() && !ev.is_read_closed() {
                    break;
                }
            }
        }
    }
    report.errors = errors;
    report.window = spec.measure;
    Ok(report)
}

/// Voluntary context switches of the calling thread so far.
fn voluntary_switches() -> u64 {
    // SAFETY: `ru` is a plain-data struct the kernel fills in.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_THREAD, &mut ru) == 0 {
            ru.ru_nvcsw as u64
        } else {
            0
        }
    }
}

/// Opens `n` connections, sends the request once on each and reads its
/// response, then leaves them open and idle: the caller measures the
/// server while they are held, and they close when the returned value is
/// dropped. Returns the connections and how many were answered in full.
pub fn hold_idle(
    addr: SocketAddr,
    request: &[u8],
    n: usize,
    limit: Duration,
) -> io::Result<(Vec<TcpStream>, usize)> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let mut conns = Vec::with_capacity(n);
    let now = Instant::now();
    for i in 0..n {
        let mut c = Conn {
            stream: Some(Conn::connect(addr, poll.registry(), Token(i))?),
            out: Vec::new(),
            out_pos: 0,
            parser: Parser::default(),
            sent_at: Default::default(),
            fresh: true,
            answered: false,
            dead: false,
        };
        c.queue(request, 1, now);
        conns.push(c);
    }
    let mut answered = 0;
    let mut finished = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = Vec::new();
    let ends = Instant::now() + limit;
    while finished < n && Instant::now() < ends {
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.answered || c.dead {
                continue;
            }
            if c.flush().is_err() {
                c.dead = true;
                finished += 1;
                continue;
            }
            let Some(s) = c.stream.as_mut() else { continue };
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        c.dead = true;
                        finished += 1;
                        break;
                    }
                    Ok(k) => {
                        c.parser.feed(&buf[..k], &mut done);
                        if let Some(e) = done.drain(..).next() {
                            if matches!(e, Event::Done { status, .. } if (200..400).contains(&status))
                            {
                                answered += 1;
                            }
                            c.answered = true;
                            finished += 1;
                            break;
                        }
                    }
                    Err(e) if not_yet(&e) => {
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        c.dead = true;
                        finished += 1;
                        break;
                    }
                }
            }
        }
    }
    let streams = conns.into_iter().filter_map(|c| c.stream).collect();
    Ok((streams, answered))
}
