//! The access log: one Common Log Format line per response; and the
//! server's own messages on stderr ([`say`]).
//!
//! An [`AccessLog`] owns a buffer. Lines are appended to it and handed on
//! when it grows large, when [`AccessLog::flush_due`] finds a second has
//! passed since the last hand-over, and at exit. Never a write per request.
//!
//! # Output never blocks serving
//! Buffers go to a [`Writer`]: a thread of its own that owns the sink (a
//! file, stdout or stderr) and writes whatever it is handed, blocking there
//! and nowhere else. At most [`LOG_QUEUE_BYTES`] wait for it. When a reader
//! stalls (a pipe nobody reads, `less` not scrolled, a container's log
//! reader stuck) or the disk is full, the queue fills and further lines
//! are dropped and counted, never waited for; once a write goes through
//! again, one line on stderr says how many were lost
//! (`skiff: access log: N lines dropped ...`). [`Writer::dropped`] has the
//! total.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::hold::Hold;
use std::time::{Duration, Instant};

use crate::http::date::Utc;
use crate::http::request::Method;
use crate::http::response::{Status, write_u64};

/// Buffered bytes that force a write before the second is up.
const FLUSH_BYTES: usize = 64 * 1024;
/// The longest a line may wait in the buffer.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// What the log records of a request: its line (`None` when none could
/// be read) and, for the combined format, two of its fields.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Said<'a> {
    /// The request's method, when its head was read.
    pub(crate) method: Option<Method>,
    pub(crate) line: Option<&'a [u8]>,
    pub(crate) referer: Option<&'a [u8]>,
    pub(crate) user_agent: Option<&'a [u8]>,
    /// When the head's first byte was read (for the JSON log's duration).
    pub(crate) started: Option<Instant>,
    /// It came over HTTP/2 (the metrics' protocol label).
    pub(crate) http2: bool,
    /// The client a trusted proxy named (`--trust-proxy`), logged instead
    /// of the peer.
    pub(crate) client: Option<std::net::IpAddr>,
    /// The `[[site]]` that answered (0: the default site).
    pub(crate) site: u16,
    /// Bytes of an upload's body stored (`--upload`).
    pub(crate) received: u64,
}

impl Said<'_> {
    /// A copy that outlives the receive buffer (for a response logged
    /// after its request's bytes are gone).
    pub(crate) fn to_owned(self) -> OwnedSaid {
        OwnedSaid {
            method: self.method,
            line: self.line.map(Box::from),
            referer: self.referer.map(Box::from),
            user_agent: self.user_agent.map(Box::from),
            started: self.started,
            http2: self.http2,
            client: self.client,
            site: self.site,
            received: self.received,
        }
    }
}

/// [`Said`], owned.
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnedSaid {
    method: Option<Method>,
    line: Option<Box<[u8]>>,
    referer: Option<Box<[u8]>>,
    user_agent: Option<Box<[u8]>>,
    started: Option<Instant>,
    http2: bool,
    client: Option<IpAddr>,
    site: u16,
    pub(crate) received: u64,
}

impl OwnedSaid {
    pub(crate) fn said(&self) -> Said<'_> {
        Said {
            method: self.method,
            line: self.line.as_deref(),
            referer: self.referer.as_deref(),
            user_agent: self.user_agent.as_deref(),
            started: self.started,
            http2: self.http2,
            client: self.client,
            site: self.site,
            received: self.received,
        }
    }
}

/// One response, as the log sees it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub(crate) peer: IpAddr,
    pub(crate) said: Said<'a>,
    pub status: Status,
    /// Body bytes sent.
    pub bytes: u64,
    /// From the head's first byte to the response being complete in the
    /// server's hands (queued whole, or its last byte given to the
    /// socket), in microseconds; `None` when no head was read.
    pub(crate) duration_us: Option<u64>,
    /// The TLS version, over HTTPS.
    pub(crate) tls: Option<&'static str>,
    /// With `[[site]]` tables: the host of the site that answered (`-` for
    /// the default site); `None` without virtual hosts.
    pub(crate) site: Option<&'a str>,
}

/// How each response is written down (`--access-log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Format {
    #[default]
    Common,
    /// Common plus the quoted Referer and User-Agent.
    Combined,
    /// One JSON object per line.
    Json,
}

/// Where log lines end up: shared by every buffer that writes to it, each
/// write a whole buffer of whole lines, so lines never interleave.
pub(crate) type Sink = Arc<Writer>;

/// Bytes of output that may wait for a slow reader (per stream: the access
/// log, stderr) before lines are dropped: 4 MiB, about 40,000 access log
/// lines.
pub(crate) const LOG_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// A thread that writes buffers of whole lines to a sink, fed through a
/// bounded queue (see the module documentation).
pub(crate) struct Writer {
    inner: Arc<WriterInner>,
    /// What the drop report calls this stream ("access log", "stderr").
    name: &'static str,
}

struct WriterInner {
    queue: Mutex<WriterQueue>,
    /// Work arrived, or the queue is closing.
    ready: std::sync::Condvar,
    /// The queue emptied (for [`Writer::finish`]).
    idle: std::sync::Condvar,
}

#[derive(Default)]
struct WriterQueue {
    bufs: std::collections::VecDeque<Vec<u8>>,
    bytes: usize,
    /// A buffer is being written now.
    writing: bool,
    /// Lines dropped since the last report.
    unreported: u64,
    /// Lines dropped since start.
    dropped: u64,
    closed: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("name", &self.name).finish()
    }
}

fn lines_in(buf: &[u8]) -> u64 {
    buf.iter().filter(|&&c| c == b'\n').count() as u64
}

impl Writer {
    /// Starts the thread writing to `sink`. Its drop reports go to stderr
    /// (through [`say`]), or into `sink` itself when it is stderr.
    pub(crate) fn spawn(
        sink: Box<dyn Write + Send>,
        name: &'static str,
    ) -> io::Result<Arc<Writer>> {
        let inner = Arc::new(WriterInner {
            queue: Mutex::new(WriterQueue::default()),
            ready: std::sync::Condvar::new(),
            idle: std::sync::Condvar::new(),
        });
        let thread_inner = inner.clone();
        std::thread::Builder::new()
            .name(format!("skiff-{}", name.replace(' ', "-")))
            .spawn(move || write_out(&thread_inner, sink, name))?;
        Ok(Arc::new(Writer { inner, name }))
    }

    /// Hands over a buffer of whole lines; never blocks. Past
    /// [`LOG_QUEUE_BYTES`] waiting, the lines are dropped and counted.
    pub(crate) fn submit(&self, buf: Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        let mut q = crate::unpoison(self.inner.queue.lock());
        if q.closed || q.bytes + buf.len() > LOG_QUEUE_BYTES {
            let n = lines_in(&buf);
            q.unreported += n;
            q.dropped += n;
            return;
        }
        q.bytes += buf.len();
        q.bufs.push_back(buf);
        drop(q);
        self.inner.ready.notify_one();
    }

    /// Lines dropped since start.
    pub(crate) fn dropped(&self) -> u64 {
        crate::unpoison(self.inner.queue.lock()).dropped
    }

    /// Waits until everything handed over is written, for at most
    /// `timeout` (a reader that never reads must not stop the exit).
    pub(crate) fn finish(&self, timeout: Duration) {
        let until = Instant::now() + timeout;
        let mut q = crate::unpoison(self.inner.queue.lock());
        while !q.bufs.is_empty() || q.writing {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            q = crate::unpoison(self.inner.idle.wait_timeout(q, left)).0;
        }
    }
}

/// The writer thread: takes buffers and writes them, then reports drops
/// once a write has gone through.
fn write_out(inner: &WriterInner, mut sink: Box<dyn Write + Send>, name: &'static str) {
    loop {
        let buf = {
            let mut q = crate::unpoison(inner.queue.lock());
            loop {
                if let Some(buf) = q.bufs.pop_front() {
                    q.writing = true;
                    break buf;
                }
                q.writing = false;
                inner.idle.notify_all();
                if q.closed {
                    return;
                }
                q = crate::unpoison(inner.ready.wait(q));
            }
        };
        let written = sink.write_all(&buf).and_then(|()| sink.flush());
        let mut q = crate::unpoison(inner.queue.lock());
        q.bytes -= buf.len();
        match written {
            Ok(()) => {
                let lost = std::mem::take(&mut q.unreported);
                drop(q);
                if lost > 0 {
                    let line = format!(
                        "skiff: {name}: {lost} lines dropped while the output could not keep up\n"
                    );
                    if name == "stderr" {
                        let _ = sink.write_all(line.as_bytes()).and_then(|()| sink.flush());
                    } else {
                        say(line.trim_end().to_string());
                    }
                }
            }
            Err(_) => {
                // A full disk, a closed pipe: the lines are lost, and said
                // so once a write goes through again.
                let n = lines_in(&buf);
                q.unreported += n;
                q.dropped += n;
            }
        }
    }
}

/// The stderr writer, once the server runs (before that, messages go
/// straight to stderr).
static STDERR: std::sync::OnceLock<Arc<Writer>> = std::sync::OnceLock::new();

/// Starts the stderr writer; messages from now on never block.
pub(crate) fn start_stderr() -> io::Result<()> {
    if STDERR.get().is_none() {
        let _ = STDERR.set(Writer::spawn(Box::new(io::stderr()), "stderr")?);
    }
    Ok(())
}

/// The stderr writer, if started (its drop count is a metric).
pub(crate) fn stderr_writer() -> Option<&'static Arc<Writer>> {
    STDERR.get()
}

/// One line to stderr (without its newline): through the stderr writer
/// once started, so a stalled stderr never blocks serving.
pub(crate) fn say(mut line: String) {
    match STDERR.get() {
        Some(w) => {
            line.push('\n');
            w.submit(line.into_bytes());
        }
        None => eprintln!("{line}"),
    }
}

/// Like `eprintln!`, through [`say`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::log::say(format!($($arg)*))
    };
}

/// Something a connection can record a response into.
pub trait LogSink {
    fn record(&mut self, unix_secs: u64, e: &Entry<'_>);
}

pub(crate) struct AccessLog {
    sink: Sink,
    format: Format,
    buf: Vec<u8>,
    last_flush: Instant,
    stamp_secs: u64,
    /// `22/Nov/2026:10:00:00 +0000`
    stamp: [u8; 26],
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl AccessLog {
    /// `-` is stdout; anything else a file opened for appending.
    pub(crate) fn open(target: &str) -> io::Result<AccessLog> {
        let sink: Box<dyn Write + Send> = if target == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(target)?)
        };
        Self::with_sink(sink)
    }

    /// A log writing to `sink` from a writer thread of its own.
    pub(crate) fn with_sink(sink: Box<dyn Write + Send>) -> io::Result<AccessLog> {
        Ok(Self::sharing(Writer::spawn(sink, "access log")?))
    }

    /// The writer the log's lines go through (drop counts, exit).
    pub(crate) fn writer(&self) -> &Arc<Writer> {
        &self.sink
    }

    /// Another buffer writing to the same sink (one per event loop).
    pub(crate) fn sibling(&self) -> AccessLog {
        Self::sharing(self.sink.clone()).format(self.format)
    }

    /// Switches the line format.
    pub(crate) fn format(mut self, format: Format) -> AccessLog {
        self.format = format;
        self
    }

    fn sharing(sink: Sink) -> AccessLog {
        AccessLog {
            sink,
            format: Format::Common,
            buf: Vec::with_capacity(4096),
            last_flush: Instant::now(),
            stamp_secs: u64::MAX,
            stamp: [b' '; 26],
        }
    }

    /// Appends one line. `unix_secs` is the wall time of the response.
    pub(crate) fn record(&mut self, unix_secs: u64, e: &Entry<'_>) {
        if self.format == Format::Json {
            write_json(&mut self.buf, unix_secs, e);
            if self.buf.len() >= FLUSH_BYTES {
                self.flush();
            }
            return;
        }
        if unix_secs != self.stamp_secs {
            self.stamp_secs = unix_secs;
            self.stamp = clf_time(unix_secs);
        }
        write_ip(&mut self.buf, e.peer);
        self.buf.extend_from_slice(b" - - [");
        self.buf.extend_from_slice(&self.stamp);
        self.buf.extend_from_slice(b"] \"");
        match e.said.line {
            Some(line) => escape_into(&mut self.buf, line),
            None => self.buf.push(b'-'),
        }
        self.buf.extend_from_slice(b"\" ");
        write_u64(&mut self.buf, u64::from(e.status.code()));
        self.buf.push(b' ');
        write_u64(&mut self.buf, e.bytes);
        if self.format == Format::Combined {
            for field in [e.said.referer, e.said.user_agent] {
                self.buf.extend_from_slice(b" \"");
                match field {
                    Some(v) => escape_into(&mut self.buf, v),
                    None => self.buf.push(b'-'),
                }
                self.buf.push(b'"');
            }
        }
        // Virtual hosts: the site last, quoted (host names need no
        // escaping).
        if let Some(site) = e.site {
            self.buf.extend_from_slice(b" \"");
            self.buf.extend_from_slice(site.as_bytes());
            self.buf.push(b'"');
        }
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Writes the buffer out if a second has passed since the last write.
    pub(crate) fn flush_due(&mut self, now: Instant) {
        if !self.buf.is_empty() && now.duration_since(self.last_flush) >= FLUSH_INTERVAL {
            self.flush();
        }
    }

    /// Whether lines are waiting (the loop must wake within a second).
    pub(crate) fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Hands everything buffered to the writer thread; never blocks (see
    /// the module documentation for what happens when it cannot keep up).
    pub(crate) fn flush(&mut self) {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return;
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(4096));
        self.sink.submit(full);
    }
}

/// An event loop's own log, and the one the threaded driver's threads
/// share (each line appended under a short lock; a flusher keeps the
/// once-a-second promise).
impl<H: Hold<AccessLog>> LogSink for H {
    fn record(&mut self, unix_secs: u64, e: &Entry<'_>) {
        self.hold().record(unix_secs, e);
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Bytes a log line cannot hold literally (controls, quotes, backslash,
/// non-ASCII) become `\xHH`, so a request line cannot forge log lines.
pub(crate) fn escape_into(out: &mut Vec<u8>, raw: &[u8]) {
    let plain = |c: u8| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\';
    if raw.iter().all(|&c| plain(c)) {
        out.extend_from_slice(raw);
        return;
    }
    for &c in raw {
        if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
            out.push(c);
        } else {
            let _ = write!(out, "\\x{c:02x}");
        }
    }
}

/// One JSON object: `time` (RFC 3339, UTC), `remote`, `method`, `path`,
/// `query`, `protocol` (from the request line; `null` when it could not
/// be read), `status`, `bytes`, `duration_us`, `referer`, `user_agent`,
/// `tls` (the version over HTTPS, else `null`).
fn write_json(out: &mut Vec<u8>, unix_secs: u64, e: &Entry<'_>) {
    let mut parts = e.said.line.map(|l| l.splitn(3, |&c| c == b' '));
    let method = parts.as_mut().and_then(Iterator::next);
    let target = parts.as_mut().and_then(Iterator::next);
    let protocol = parts.as_mut().and_then(Iterator::next);
    let (path, query) = match target {
        Some(t) => match t.iter().position(|&c| c == b'?') {
            Some(i) => (Some(&t[..i]), Some(&t[i + 1..])),
            None => (Some(t), None),
        },
        None => (None, None),
    };
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(&Utc::from_unix(unix_secs).iso(b'T'));
    out.extend_from_slice(b"Z\",\"remote\":\"");
    write_ip(out, e.peer);
    out.push(b'"');
    for (name, value) in [
        ("method", method),
        ("path", path),
        ("query", query),
        ("protocol", protocol),
    ] {
        json_field(out, name, value);
    }
    out.extend_from_slice(b",\"status\":");
    write_u64(out, u64::from(e.status.code()));
    out.extend_from_slice(b",\"bytes\":");
    write_u64(out, e.bytes);
    if e.said.received > 0 {
        out.extend_from_slice(b",\"received\":");
        write_u64(out, e.said.received);
    }
    out.extend_from_slice(b",\"duration_us\":");
    match e.duration_us {
        Some(us) => write_u64(out, us),
        None => out.extend_from_slice(b"null"),
    }
    json_field(out, "referer", e.said.referer);
    json_field(out, "user_agent", e.said.user_agent);
    json_field(out, "tls", e.tls.map(str::as_bytes));
    if let Some(site) = e.site {
        json_field(out, "site", Some(site.as_bytes()));
    }
    out.extend_from_slice(b"}\n");
}

/// `,"name":"value"` (escaped) or `,"name":null`.
fn json_field(out: &mut Vec<u8>, name: &str, value: Option<&[u8]>) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    match value {
        Some(v) => {
            out.push(b'"');
            json_escape_into(out, v);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string's content for any bytes: valid UTF-8 as it is (with `"`,
/// `\` and control characters escaped), each byte that is not UTF-8 as
/// `\u00XX`. The result is always valid JSON, and one line.
pub(crate) fn json_escape_into(out: &mut Vec<u8>, raw: &[u8]) {
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                // Controls, DEL and the line separators some parsers
                // treat as line ends.
                c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        for &b in chunk.invalid() {
            let _ = write!(out, "\\u{b:04x}");
        }
    }
}

/// An IP address as text; IPv4 without `fmt` (the common case).
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                write_u64(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `22/Nov/2026:10:00:00 +0000`
fn clf_time(unix_secs: u64) -> [u8; 26] {
    let t = Utc::from_unix(unix_secs);
    let mut out = *b"00/Jan/0000:00:00:00 +0000";
    out[..2].copy_from_slice(&t.iso(b' ')[8..10]);
    out[3..6].copy_from_slice(t.month_name());
    out[7..11].copy_from_slice(&t.iso(b' ')[..4]);
    t.write_time(&mut out[12..20]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn common_log_format() {
        let shared = Shared::default();
        let mut log = AccessLog::with_sink(Box::new(shared.clone())).unwrap();
        // 2026-11-22 10:00:00 UTC
        let t = 1_795_341_600;
        log.record(
            t,
            &Entry {
                peer: "127.0.0.1".parse().unwrap(),
                said: Said {
                    line: Some(b"GET /a.txt?q=1 HTTP/1.1"),
                    ..Said::default()
                },
                status: Status::Ok,
                bytes: 380,
                duration_us: None,
                tls: None,
                site: None,
            },
        );
        log.record(
            t,
            &Entry {
                peer: "::1".parse().unwrap(),
                said: Said::default(),
                status: Status::BadRequest,
                bytes: 0,
                duration_us: None,
                tls: None,
                site: None,
            },
        );
        assert!(
            shared.0.lock().unwrap().is_empty(),
            "buffered, not written per line"
        );
        log.flush();
        log.writer().finish(Duration::from_secs(10));
        let text = String::from_utf8(shared.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /a.txt?q=1 HTTP/1.1\" 200 380\n::1 - - [22/Nov/2026:10:00:00 +0000] \"-\" 400 0\n"
        );
    }

    /// A sink that blocks every write until it is opened.
    #[derive(Clone)]
    struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>, Shared);
    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.1.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_sink_never_blocks_and_drops_past_the_bound() {
        let gate = Gate(Arc::default(), Shared::default());
        let writer = Writer::spawn(Box::new(gate.clone()), "access log").unwrap();
        // One buffer is taken by the blocked thread; then the queue fills.
        let line = vec![b'x'; 1023]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        let lines = 2 * LOG_QUEUE_BYTES / line.len();
        // Submitting never waits for the sink (or this would not return).
        for _ in 0..lines {
            writer.submit(line.clone());
        }
        let dropped = writer.dropped();
        assert!(
            dropped > 0 && (dropped as usize) < lines,
            "{dropped} of {lines}"
        );
        // The reader comes back: everything queued is written, nothing of
        // what was dropped, and the count adds up.
        *gate.0.0.lock().unwrap() = true;
        gate.0.1.notify_all();
        writer.finish(Duration::from_secs(10));
        let written = lines_in(&gate.1.0.lock().unwrap());
        assert_eq!(written + dropped, lines as u64);
    }

    /// A sink that fails (a full disk): lines are lost and counted, and the
    /// writer goes on.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("no space left on device"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_sink_loses_lines_and_counts_them() {
        let writer = Writer::spawn(Box::new(Full), "access log").unwrap();
        writer.submit(b"a\nb\n".to_vec());
        writer.submit(b"c\n".to_vec());
        writer.finish(Duration::from_secs(10));
        assert_eq!(writer.dropped(), 3);
    }

    #[test]
    fn a_json_line_holds_every_field() {
        let mut out = Vec::new();
        write_json(
            &mut out,
            1_795_341_600,
            &Entry {
                peer: "::1".parse().unwrap(),
                said: Said {
                    method: Some(Method::Get),
                    line: Some(b"GET /a b?q=1&x=\"2\" HTTP/1.1"),
                    referer: Some(b"http://r/\xff"),
                    user_agent: None,
                    started: None,
                    http2: false,
                    client: None,
                    site: 0,
                    received: 0,
                },
                status: Status::Ok,
                bytes: 13,
                duration_us: Some(42),
                tls: Some("TLSv1.3"),
                site: None,
            },
        );
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"], "2026-11-22T10:00:00Z");
        assert_eq!(v["remote"], "::1");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/a");
        assert_eq!(v["query"], serde_json::Value::Null);
        assert_eq!(
            v["protocol"], "b?q=1&x=\"2\" HTTP/1.1",
            "split at spaces: the line is as sent"
        );
        assert_eq!(v["status"], 200);
        assert_eq!(v["bytes"], 13);
        assert_eq!(v["duration_us"], 42);
        assert_eq!(v["referer"], "http://r/\u{ff}");
        assert_eq!(v["user_agent"], serde_json::Value::Null);
        assert_eq!(v["tls"], "TLSv1.3");
    }

    proptest::proptest! {
        /// Any bytes make valid JSON, on one line; UTF-8 comes back as it
        /// was sent.
        #[test]
        fn any_bytes_escape_to_a_valid_json_string(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut out = b"\"".to_vec();
            json_escape_into(&mut out, &raw);
            out.push(b'"');
            proptest::prop_assert!(!out.contains(&b'\n'));
            let back: String = serde_json::from_slice(&out).unwrap();
            if let Ok(text) = std::str::from_utf8(&raw) {
                proptest::prop_assert_eq!(back, text);
            }
        }
    }

    #[test]
    fn request_lines_cannot_forge_entries() {
        let mut out = Vec::new();
        escape_into(&mut out, b"GET /\"x\n\\ HTTP/1.1");
        assert_eq!(out, b"GET /\\x22x\\x0a\\x5c HTTP/1.1");
    }
}
