//! Prometheus metrics (`--metrics ADDR:PORT`): counters kept per event
//! loop (or one set for the threaded driver), each a relaxed atomic, so
//! the request path takes no lock and a loop's counters are never
//! contended; a scrape reads and sums every loop's set and renders the
//! text exposition format 0.0.4.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::close::Why;
use crate::http::request::Method;
use crate::http::response::Status;

/// Request methods counted by name; anything else is `other`.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "other",
];

/// The position of a method in [`METHODS`].
fn method_index(method: Option<Method>) -> usize {
    match method {
        Some(Method::Get) => 0,
        Some(Method::Head) => 1,
        Some(Method::Options) => 2,
        Some(Method::Post) => 3,
        Some(Method::Put) => 4,
        Some(Method::Delete) => 5,
        Some(Method::Patch) => 6,
        Some(Method::Trace) => 7,
        Some(Method::Connect) => 8,
        Some(Method::Other) | None => 9,
    }
}

/// Upper bounds of the request-duration histogram, in microseconds: from
/// 100 us (a cached small file) to 10 s (a large download).
pub(crate) const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

const STATUSES: usize = Status::ALL.len();

/// The `protocol` label's values: HTTP/1.0 and 1.1, and HTTP/2.
pub(crate) const PROTOCOLS: [&str; 2] = ["HTTP/1", "HTTP/2"];

/// One loop's counters.
#[derive(Debug)]
pub(crate) struct LoopMetrics {
    /// By protocol ([`PROTOCOLS`]), method and status.
    requests: [[[AtomicU64; STATUSES]; METHODS.len()]; PROTOCOLS.len()],
    response_bytes: AtomicU64,
    /// Files stored by uploads, and their bytes.
    uploaded_files: AtomicU64,
    uploaded_bytes: AtomicU64,
    accepted: AtomicU64,
    closed: [AtomicU64; Why::LABELS.len()],
    /// One more than the bounds: the last counts what is over 10 s, so
    /// the count is the sum of them all.
    duration_buckets: [AtomicU64; BUCKETS_US.len() + 1],
    duration_sum_us: AtomicU64,
    file_cache_hits: AtomicU64,
    file_cache_misses: AtomicU64,
    compress_hits: AtomicU64,
    compress_misses: AtomicU64,
    /// Bytes of compressed variants this loop's cache holds (a gauge).
    compress_held: AtomicU64,
    tls_handshakes: AtomicU64,
    tls_failures: AtomicU64,
    /// Responses by site (`[[site]]`): the default site first, then each
    /// in the file's order.
    sites: Box<[AtomicU64]>,
}

/// Adds to a counter: a relaxed atomic add. Each event loop has its own
/// set, so the cache line is never contended there; the threaded driver's
/// one set is written by every thread. (A plain load and store would save
/// the locked instruction on the loops, about 20 cycles a counter, but
/// would need a second way of counting for the threaded driver.)
fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Default for LoopMetrics {
    fn default() -> Self {
        LoopMetrics {
            requests: std::array::from_fn(|_| {
                std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))
            }),
            response_bytes: AtomicU64::new(0),
            uploaded_files: AtomicU64::new(0),
            uploaded_bytes: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            closed: std::array::from_fn(|_| AtomicU64::new(0)),
            duration_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            duration_sum_us: AtomicU64::new(0),
            file_cache_hits: AtomicU64::new(0),
            file_cache_misses: AtomicU64::new(0),
            compress_hits: AtomicU64::new(0),
            compress_misses: AtomicU64::new(0),
            compress_held: AtomicU64::new(0),
            tls_handshakes: AtomicU64::new(0),
            tls_failures: AtomicU64::new(0),
            sites: Box::new([]),
        }
    }
}

impl LoopMetrics {
    /// A response: its request's method (`None` when no head was read),
    /// its status, body bytes sent, and how long it took (when a head was
    /// read).
    /// Files stored by an upload, and their bytes.
    pub(crate) fn uploads(&self, files: u64, bytes: u64) {
        add(&self.uploaded_files, files);
        add(&self.uploaded_bytes, bytes);
    }

    pub(crate) fn response(
        &self,
        method: Option<Method>,
        http2: bool,
        status: Status,
        bytes: u64,
        duration_us: Option<u64>,
    ) {
        let method = method_index(method);
        add(
            &self.requests[usize::from(http2)][method][status.index()],
            1,
        );
        add(&self.response_bytes, bytes);
        if let Some(us) = duration_us {
            let i = BUCKETS_US
                .iter()
                .position(|&b| us <= b)
                .unwrap_or(BUCKETS_US.len());
            add(&self.duration_buckets[i], 1);
            add(&self.duration_sum_us, us);
        }
    }

    /// A response of site `site` (0: the default one).
    pub(crate) fn site_response(&self, site: u16) {
        if let Some(c) = self.sites.get(usize::from(site)) {
            add(c, 1);
        }
    }

    pub(crate) fn accepted(&self) {
        add(&self.accepted, 1);
    }

    pub(crate) fn closed(&self, why: Why) {
        add(&self.closed[why.index()], 1);
    }

    pub(crate) fn file_cache(&self, hit: bool) {
        add(
            if hit {
                &self.file_cache_hits
            } else {
                &self.file_cache_misses
            },
            1,
        );
    }

    /// A compressed variant was asked for: in memory, or not (yet).
    pub(crate) fn compression(&self, hit: bool) {
        add(
            if hit {
                &self.compress_hits
            } else {
                &self.compress_misses
            },
            1,
        );
    }

    /// The compression cache now holds `bytes`.
    pub(crate) fn compression_held(&self, bytes: u64) {
        self.compress_held.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn handshake(&self, ok: bool) {
        add(
            if ok {
                &self.tls_handshakes
            } else {
                &self.tls_failures
            },
            1,
        );
    }
}

/// `--metrics ADDR:PORT`: where the metrics listener binds.
pub(crate) fn listen_addr(spec: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    spec.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("--metrics '{spec}': expected ADDR:PORT, e.g. 127.0.0.1:9100"))
}

/// Every loop's counters, and what a scrape adds.
#[derive(Debug)]
pub(crate) struct Metrics {
    loops: Box<[LoopMetrics]>,
    /// The `[[site]]` hosts, in order (none without virtual hosts).
    site_names: Box<[Box<str>]>,
    started: SystemTime,
    /// The server speaks HTTPS (the TLS metrics are shown).
    tls: bool,
    /// The compressor is on (its metrics are shown).
    compress: bool,
}

impl Metrics {
    /// `loops` sets of counters, each written by one event loop (or, for
    /// the threaded driver, one set all its threads write).
    /// `sites`: the `[[site]]` hosts, counted apart.
    pub(crate) fn new(
        loops: usize,
        tls: bool,
        compress: bool,
        sites: Vec<Box<str>>,
    ) -> Arc<Metrics> {
        let counters = if sites.is_empty() { 0 } else { sites.len() + 1 };
        Arc::new(Metrics {
            loops: (0..loops.max(1))
                .map(|_| LoopMetrics {
                    sites: (0..counters).map(|_| AtomicU64::new(0)).collect(),
                    ..LoopMetrics::default()
                })
                .collect(),
            site_names: sites.into(),
            started: SystemTime::now(),
            tls,
            compress,
        })
    }

    /// Loop `i`'s counters.
    pub(crate) fn of(&self, i: usize) -> &LoopMetrics {
        &self.loops[i.min(self.loops.len() - 1)]
    }

    fn sum(&self, f: impl Fn(&LoopMetrics) -> &AtomicU64) -> u64 {
        self.loops.iter().map(|l| get(f(l))).sum()
    }

    /// The text exposition format, version 0.0.4.
    pub(crate) fn render(&self, dropped: &[(&str, u64)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        let o = &mut out;
        header(
            o,
            "skiff_requests_total",
            "counter",
            "Responses sent, by request method, status code and protocol.",
        );
        for (p, protocol) in PROTOCOLS.iter().enumerate() {
            for (m, method) in METHODS.iter().enumerate() {
                for (s, status) in Status::ALL.iter().enumerate() {
                    let n = self.sum(|l| &l.requests[p][m][s]);
                    if n > 0 {
                        let _ = writeln!(
                            o,
                            "skiff_requests_total{{method=\"{method}\",code=\"{}\",protocol=\"{protocol}\"}} {n}",
                            status.code()
                        );
                    }
                }
            }
        }
        counter(
            o,
            "skiff_response_bytes_total",
            "Body bytes sent.",
            self.sum(|l| &l.response_bytes),
        );
        counter(
            o,
            "skiff_uploaded_files_total",
            "Files stored by uploads (--upload).",
            self.sum(|l| &l.uploaded_files),
        );
        counter(
            o,
            "skiff_uploaded_bytes_total",
            "Bytes of the files stored by uploads.",
            self.sum(|l| &l.uploaded_bytes),
        );
        if !self.site_names.is_empty() {
            header(
                o,
                "skiff_site_requests_total",
                "counter",
                "Responses by virtual host ([[site]]); _default is the top level's.",
            );
            let names = std::iter::once("_default").chain(self.site_names.iter().map(|n| &**n));
            for (i, name) in names.enumerate() {
                let n: u64 = self
                    .loops
                    .iter()
                    .filter_map(|l| l.sites.get(i).map(get))
                    .sum();
                let _ = writeln!(o, "skiff_site_requests_total{{site=\"{name}\"}} {n}");
            }
        }
        let accepted = self.sum(|l| &l.accepted);
        counter(
            o,
            "skiff_connections_accepted_total",
            "Connections accepted.",
            accepted,
        );
        let closed: Vec<u64> = (0..Why::LABELS.len())
            .map(|i| self.sum(|l| &l.closed[i]))
            .collect();
        header(
            o,
            "skiff_connections_open",
            "gauge",
            "Connections open now.",
        );
        let _ = writeln!(
            o,
            "skiff_connections_open {}",
            accepted.saturating_sub(closed.iter().sum())
        );
        header(
            o,
            "skiff_connections_closed_total",
            "counter",
            "Connections closed, by reason.",
        );
        for (label, n) in Why::LABELS.iter().zip(&closed) {
            let _ = writeln!(
                o,
                "skiff_connections_closed_total{{reason=\"{label}\"}} {n}"
            );
        }
        header(
            o,
            "skiff_timeouts_total",
            "counter",
            "Connections closed by a timeout, by kind.",
        );
        for (label, n) in Why::LABELS.iter().zip(&closed) {
            if let Some(kind) = label.strip_suffix("_timeout") {
                let _ = writeln!(o, "skiff_timeouts_total{{kind=\"{kind}\"}} {n}");
            }
        }
        header(
            o,
            "skiff_request_duration_seconds",
            "histogram",
            "From a request head's first byte to its response complete in the server's hands.",
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            cumulative += self.sum(|l| &l.duration_buckets[i]);
            let _ = writeln!(
                o,
                "skiff_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
                seconds(*bound)
            );
        }
        let count = cumulative + self.sum(|l| &l.duration_buckets[BUCKETS_US.len()]);
        let _ = writeln!(
            o,
            "skiff_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "skiff_request_duration_seconds_sum {}",
            seconds(self.sum(|l| &l.duration_sum_us))
        );
        let _ = writeln!(o, "skiff_request_duration_seconds_count {count}");
        counter(
            o,
            "skiff_file_cache_hits_total",
            "Lookups answered from the file cache.",
            self.sum(|l| &l.file_cache_hits),
        );
        counter(
            o,
            "skiff_file_cache_misses_total",
            "Lookups that went to the file system.",
            self.sum(|l| &l.file_cache_misses),
        );
        if self.compress {
            counter(
                o,
                "skiff_compression_cache_hits_total",
                "Compressed variants asked for and found in memory.",
                self.sum(|l| &l.compress_hits),
            );
            counter(
                o,
                "skiff_compression_cache_misses_total",
                "Compressed variants asked for and not made yet.",
                self.sum(|l| &l.compress_misses),
            );
            header(
                o,
                "skiff_compression_cache_bytes",
                "gauge",
                "Bytes of compressed variants held in memory.",
            );
            let held = self.sum(|l| &l.compress_held);
            let _ = writeln!(o, "skiff_compression_cache_bytes {held}");
        }
        if self.tls {
            counter(
                o,
                "skiff_tls_handshakes_total",
                "TLS handshakes completed.",
                self.sum(|l| &l.tls_handshakes),
            );
            counter(
                o,
                "skiff_tls_handshake_failures_total",
                "TLS handshakes that failed.",
                self.sum(|l| &l.tls_failures),
            );
        }
        header(
            o,
            "skiff_log_lines_dropped_total",
            "counter",
            "Log lines dropped because their reader could not keep up.",
        );
        for (stream, n) in dropped {
            let _ = writeln!(
                o,
                "skiff_log_lines_dropped_total{{stream=\"{stream}\"}} {n}"
            );
        }
        header(
            o,
            "process_start_time_seconds",
            "gauge",
            "When the server started, in seconds since the Unix epoch.",
        );
        let start = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let _ = writeln!(o, "process_start_time_seconds {start:.3}");
        header(
            o,
            "skiff_build_info",
            "gauge",
            "The version of skiff running.",
        );
        let _ = writeln!(
            o,
            "skiff_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

fn header(o: &mut Vec<u8>, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(o: &mut Vec<u8>, name: &str, help: &str, n: u64) {
    header(o, name, "counter", help);
    let _ = writeln!(o, "{name} {n}");
}

/// Microseconds as decimal seconds, exactly.
fn seconds(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(100), "0.0001");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(10_000_000), "10");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn a_response_is_counted_once_in_each_place() {
        let m = Metrics::new(2, false, false, Vec::new());
        m.of(0)
            .response(Some(Method::Get), false, Status::Ok, 13, Some(150));
        m.of(1).response(
            Some(Method::Other),
            false,
            Status::NotImplemented,
            0,
            Some(20_000_000),
        );
        m.of(1).response(None, false, Status::BadRequest, 5, None);
        let text = String::from_utf8(m.render(&[])).unwrap();
        assert!(
            text.contains(
                "skiff_requests_total{method=\"GET\",code=\"200\",protocol=\"HTTP/1\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "skiff_requests_total{method=\"other\",code=\"501\",protocol=\"HTTP/1\"} 1\n"
        ));
        assert!(text.contains(
            "skiff_requests_total{method=\"other\",code=\"400\",protocol=\"HTTP/1\"} 1\n"
        ));
        assert!(text.contains("skiff_response_bytes_total 18\n"));
        assert!(text.contains("skiff_request_duration_seconds_bucket{le=\"0.0001\"} 0\n"));
        assert!(text.contains("skiff_request_duration_seconds_bucket{le=\"0.00025\"} 1\n"));
        assert!(text.contains("skiff_request_duration_seconds_bucket{le=\"10\"} 1\n"));
        assert!(text.contains("skiff_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("skiff_request_duration_seconds_count 2\n"));
        assert!(text.contains("skiff_request_duration_seconds_sum 20.00015\n"));
    }
}

/// What the `--metrics` listener's connections are lent: the counters, and
/// the drop counts of the log writers.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) access_log: Option<Arc<crate::log::Writer>>,
}

impl Page {
    /// The exposition text now.
    pub(crate) fn render(&self) -> Vec<u8> {
        let mut dropped = Vec::new();
        if let Some(w) = &self.access_log {
            dropped.push(("access_log", w.dropped()));
        }
        if let Some(w) = crate::log::stderr_writer() {
            dropped.push(("stderr", w.dropped()));
        }
        self.metrics.render(&dropped)
    }
}
