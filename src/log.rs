//! The access log: one Common Log Format line per response.
//!
//! Owns a buffer and a sink (a file or stdout). Lines are appended to the
//! buffer and written out when it grows large, when [`AccessLog::flush_due`]
//! finds a second has passed since the last write, and at exit. Never does
//! a write per request and never blocks on anything but the sink itself.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::date::Utc;
use crate::http::response::write_u64;

/// Buffered bytes that force a write before the second is up.
const FLUSH_BYTES: usize = 64 * 1024;
/// The longest a line may wait in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// What the log records of a request: its line (`None` when none could
/// be read) and, for the combined format, two of its fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Said<'a> {
    pub line: Option<&'a [u8]>,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

impl Said<'_> {
    /// A copy that outlives the receive buffer (for a response logged
    /// after its request's bytes are gone).
    pub fn to_owned(&self) -> OwnedSaid {
        OwnedSaid {
            line: self.line.map(Box::from),
            referer: self.referer.map(Box::from),
            user_agent: self.user_agent.map(Box::from),
        }
    }
}

/// [`Said`], owned.
#[derive(Debug, Clone, Default)]
pub struct OwnedSaid {
    line: Option<Box<[u8]>>,
    referer: Option<Box<[u8]>>,
    user_agent: Option<Box<[u8]>>,
}

impl OwnedSaid {
    pub fn said(&self) -> Said<'_> {
        Said {
            line: self.line.as_deref(),
            referer: self.referer.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// One response, as the log sees it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub peer: IpAddr,
    pub said: Said<'a>,
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
}

/// Where log lines end up: shared by every buffer that writes to it, each
/// write a whole buffer of whole lines, so lines never interleave.
pub type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Something a connection can record a response into.
pub trait LogSink {
    fn record(&mut self, unix_secs: u64, e: &Entry<'_>);
}

pub struct AccessLog {
    sink: Sink,
    /// Combined Log Format: Referer and User-Agent after the size.
    combined: bool,
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
    pub fn open(target: &str) -> io::Result<AccessLog> {
        let sink: Box<dyn Write + Send> = if target == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(target)?)
        };
        Ok(Self::with_sink(sink))
    }

    pub fn with_sink(sink: Box<dyn Write + Send>) -> AccessLog {
        Self::sharing(Arc::new(Mutex::new(sink)))
    }

    /// Another buffer writing to the same sink (one per event loop).
    pub fn sibling(&self) -> AccessLog {
        Self::sharing(self.sink.clone()).combined(self.combined)
    }

    /// Switches to the Combined Log Format.
    pub fn combined(mut self, on: bool) -> AccessLog {
        self.combined = on;
        self
    }

    fn sharing(sink: Sink) -> AccessLog {
        AccessLog {
            sink,
            combined: false,
            buf: Vec::with_capacity(4096),
            last_flush: Instant::now(),
            stamp_secs: u64::MAX,
            stamp: [b' '; 26],
        }
    }

    /// Appends one line. `unix_secs` is the wall time of the response.
    pub fn record(&mut self, unix_secs: u64, e: &Entry<'_>) {
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
        write_u64(&mut self.buf, u64::from(e.status));
        self.buf.push(b' ');
        write_u64(&mut self.buf, e.bytes);
        if self.combined {
            for field in [e.said.referer, e.said.user_agent] {
                self.buf.extend_from_slice(b" \"");
                match field {
                    Some(v) => escape_into(&mut self.buf, v),
                    None => self.buf.push(b'-'),
                }
                self.buf.push(b'"');
            }
        }
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Writes the buffer out if a second has passed since the last write.
    pub fn flush_due(&mut self, now: Instant) {
        if !self.buf.is_empty() && now.duration_since(self.last_flush) >= FLUSH_INTERVAL {
            self.flush();
        }
    }

    /// Whether lines are waiting (the loop must wake within a second).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Writes everything buffered. A failing sink loses the lines (and says
    /// so on stderr) rather than stopping the server.
    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return;
        }
        let mut sink = crate::unpoison(self.sink.lock());
        if let Err(e) = sink.write_all(&self.buf).and_then(|()| sink.flush()) {
            eprintln!("skiff: access log: {e}");
        }
        drop(sink);
        self.buf.clear();
    }
}

impl LogSink for AccessLog {
    fn record(&mut self, unix_secs: u64, e: &Entry<'_>) {
        AccessLog::record(self, unix_secs, e);
    }
}

/// One access log shared by threads: each line is appended under a short
/// lock; a flusher (`flush_due`) keeps the once-a-second promise.
#[derive(Clone, Debug)]
pub struct SharedLog(pub Arc<Mutex<AccessLog>>);

impl SharedLog {
    pub fn new(log: AccessLog) -> SharedLog {
        SharedLog(Arc::new(Mutex::new(log)))
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut AccessLog) -> T) -> T {
        let mut guard = crate::unpoison(self.0.lock());
        f(&mut guard)
    }
}

impl LogSink for SharedLog {
    fn record(&mut self, unix_secs: u64, e: &Entry<'_>) {
        self.with(|log| log.record(unix_secs, e));
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
        let mut log = AccessLog::with_sink(Box::new(shared.clone()));
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
                status: 200,
                bytes: 380,
            },
        );
        log.record(
            t,
            &Entry {
                peer: "::1".parse().unwrap(),
                said: Said::default(),
                status: 400,
                bytes: 0,
            },
        );
        assert!(
            shared.0.lock().unwrap().is_empty(),
            "buffered, not written per line"
        );
        log.flush();
        let text = String::from_utf8(shared.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /a.txt?q=1 HTTP/1.1\" 200 380\n::1 - - [22/Nov/2026:10:00:00 +0000] \"-\" 400 0\n"
        );
    }

    #[test]
    fn request_lines_cannot_forge_entries() {
        let mut out = Vec::new();
        escape_into(&mut out, b"GET /\"x\n\\ HTTP/1.1");
        assert_eq!(out, b"GET /\\x22x\\x0a\\x5c HTTP/1.1");
    }
}
