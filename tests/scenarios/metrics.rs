//! `--metrics ADDR:PORT`: Prometheus text on a listener of its own, read
//! back with an independent parser of the exposition format, with exact
//! values after a known sequence of requests.

use std::net::SocketAddr;

use crate::each_mode;
use crate::support::*;

/// The metrics listener's address, from its start-up line.
fn metrics_addr(s: &Server) -> SocketAddr {
    let lines = s.wait_stdout(|l| l.iter().any(|l| l.starts_with("Metrics on http://")));
    let line = lines
        .iter()
        .find(|l| l.starts_with("Metrics on http://"))
        .unwrap();
    line["Metrics on http://".len()..]
        .trim_end_matches("/metrics")
        .parse()
        .unwrap()
}

/// One scrape, parsed.
fn scrape(at: SocketAddr) -> prometheus_parse::Scrape {
    let r = Client::connect(at).get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The value of the sample `name` whose labels include `labels`.
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{name}: {other:?}"),
        })
}

each_mode! {
    fn a_known_sequence_of_requests_reads_back_exactly(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--metrics", "127.0.0.1:0"]);
        let at = metrics_addr(&s);
        let mut c = s.connect();
        let ok = c.get("/a.txt");
        let missing = c.get("/missing");
        c.send("HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.head_response().status, 200);
        c.send("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        let refused = c.response();
        assert_eq!(refused.status, 405);
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let last = c.response();
        drop(c);
        // Once the connection is counted closed, everything is in.
        let m = wait_for(|| {
            let m = scrape(at);
            (value(&m, "skiff_connections_closed_total", &[("reason", "done")]) == Some(1.0)
                || value(&m, "skiff_connections_closed_total", &[("reason", "peer_closed")]) == Some(1.0))
            .then_some(m)
        })
        .expect("the connection is counted closed");
        let req = |method: &str, code: &str| value(&m, "skiff_requests_total", &[("method", method), ("code", code)]);
        assert_eq!(req("GET", "200"), Some(2.0));
        assert_eq!(req("GET", "404"), Some(1.0));
        assert_eq!(req("HEAD", "200"), Some(1.0));
        assert_eq!(req("POST", "405"), Some(1.0));
        let total: f64 = m.samples.iter().filter(|x| x.metric == "skiff_requests_total").map(|x| match x.value {
            prometheus_parse::Value::Counter(v) => v,
            _ => 0.0,
        }).sum();
        assert_eq!(total, 5.0, "scrapes are not counted");
        let bytes = ok.body.len() + missing.body.len() + refused.body.len() + last.body.len();
        assert_eq!(value(&m, "skiff_response_bytes_total", &[]), Some(bytes as f64));
        // The test's connection and this scrape's (the earlier scrapes
        // closed); only this scrape's is open.
        let accepted = value(&m, "skiff_connections_accepted_total", &[]).unwrap();
        assert!(accepted >= 2.0);
        assert_eq!(value(&m, "skiff_connections_open", &[]), Some(1.0));
        // The histogram: all five requests had a head.
        let hist = m
            .samples
            .iter()
            .find(|x| x.metric == "skiff_request_duration_seconds")
            .expect("histogram");
        let prometheus_parse::Value::Histogram(buckets) = &hist.value else {
            panic!("{:?}", hist.value);
        };
        assert_eq!(buckets.len(), 17, "16 bounds and +Inf");
        assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "cumulative");
        assert_eq!(buckets.last().unwrap().count, 5.0);
        assert!(buckets.last().unwrap().less_than.is_infinite());
        // The file cache: /a.txt was looked up three times, found twice.
        assert_eq!(value(&m, "skiff_file_cache_misses_total", &[]).map(|v| v >= 1.0), Some(true));
        assert_eq!(value(&m, "skiff_file_cache_hits_total", &[]).map(|v| v >= 1.0), Some(true));
        assert_eq!(value(&m, "skiff_timeouts_total", &[("kind", "idle")]), Some(0.0));
        let start = value(&m, "process_start_time_seconds", &[]).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(start <= now && start > now - 3600.0, "{start} {now}");
        assert_eq!(value(&m, "skiff_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    }
}

each_mode! {
    fn the_metrics_port_serves_get_and_head_of_metrics_and_nothing_else(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--metrics", "127.0.0.1:0"]);
        let at = metrics_addr(&s);
        let mut c = Client::connect(at);
        c.send("HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        let h = c.head_response();
        assert_eq!(h.status, 200);
        assert!(h.content_length() > 100);
        assert_eq!(c.get("/metrics?x=1").status, 200, "the query plays no part");
        assert_eq!(c.get("/a.txt").status, 404, "no files here");
        assert_eq!(c.get("/").status, 404);
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
            c.send(format!("{method} /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
            let r = c.response();
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
        c.send("BREW /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().status, 501);
        // And the public port has no metrics.
        assert_eq!(s.connect().get("/metrics").status, 404);
    }
}

#[test]
fn tls_handshakes_and_failures_are_counted() {
    let site = site();
    let ca = TestCa::new();
    let s = Server::start_tls(
        Mode::Evented,
        &site.path,
        &ca,
        &["--metrics", "127.0.0.1:0"],
    );
    let at = metrics_addr(&s);
    assert_eq!(s.connect_tls(&ca).get("/a.txt").status, 200);
    let mut junk = s.connect();
    junk.send(b"\x16\x03\x01\x00\x05hello".as_slice());
    let _ = junk.read_to_close();
    let m = wait_for(|| {
        let m = scrape(at);
        (value(&m, "skiff_tls_handshake_failures_total", &[]) == Some(1.0)).then_some(m)
    })
    .expect("the failure is counted");
    assert_eq!(value(&m, "skiff_tls_handshakes_total", &[]), Some(1.0));
}

#[test]
fn a_bad_metrics_address_is_one_line() {
    use super::cli::fails;
    let site = site();
    let root = site.path.to_str().unwrap();
    for bad in ["9100", "nowhere:abc", ""] {
        let e = fails(&["--root", root, &format!("--metrics={bad}")]);
        assert!(e.contains("--metrics"), "{bad:?}: {e}");
    }
}

#[test]
fn the_compression_cache_is_counted() {
    let site = site();
    site.write("big.txt", "compress me, ".repeat(2000));
    let s = Server::start(Mode::Evented, &site.path, &["--metrics", "127.0.0.1:0"]);
    let at = metrics_addr(&s);
    // The first ask misses (the variant is being made); a later one hits.
    let first = s.get_with("/big.txt", "Accept-Encoding: br\r\n");
    assert_eq!(first.header("content-encoding"), None);
    wait_for(|| {
        (s.get_with("/big.txt", "Accept-Encoding: br\r\n")
            .header("content-encoding")
            == Some("br"))
        .then_some(())
    })
    .expect("compressed in the end");
    let m = scrape(at);
    assert!(value(&m, "skiff_compression_cache_misses_total", &[]).unwrap() >= 1.0);
    assert!(value(&m, "skiff_compression_cache_hits_total", &[]).unwrap() >= 1.0);
    let held = value(&m, "skiff_compression_cache_bytes", &[]).unwrap();
    assert!(held > 0.0 && held < 26_000.0, "{held}");
}

#[test]
fn a_log_on_a_full_disk_loses_lines_counted_and_never_stops_serving() {
    // /dev/full: every write fails with "no space left on device".
    if !std::path::Path::new("/dev/full").exists() {
        panic!("/dev/full is needed");
    }
    let site = site();
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--access-log", "/dev/full", "--metrics", "127.0.0.1:0"],
    );
    let at = metrics_addr(&s);
    let mut c = s.connect();
    for _ in 0..50 {
        assert_eq!(c.get("/a.txt").status, 200);
    }
    // The log is written at least once a second; each failed write is
    // counted, never retried into a hang.
    let m = wait_for(|| {
        let m = scrape(at);
        (value(
            &m,
            "skiff_log_lines_dropped_total",
            &[("stream", "access_log")],
        ) == Some(50.0))
        .then_some(m)
    })
    .unwrap_or_else(|| {
        let m = scrape(at);
        panic!(
            "all 50 lines counted as dropped: {:?}",
            value(
                &m,
                "skiff_log_lines_dropped_total",
                &[("stream", "access_log")]
            )
        )
    });
    assert_eq!(
        value(
            &m,
            "skiff_requests_total",
            &[("method", "GET"), ("code", "200")]
        ),
        Some(50.0)
    );
    assert_eq!(c.get("/a.txt").status, 200, "still serving");
}

each_mode! {
    /// Regression: at the connection cap the metrics listener stopped
    /// accepting with the others, and scrapes counted against the cap, so
    /// metrics failed exactly when the server was saturated.
    fn the_metrics_port_answers_at_the_connection_cap(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--metrics", "127.0.0.1:0", "--max-connections", "2", "--keep-alive-timeout", "60"]);
        let at = metrics_addr(&s);
        // Two connections hold the cap (kept open well past the clients'
        // read timeout), each seen to be served.
        let mut held: Vec<Client> = (0..2).map(|_| s.connect()).collect();
        for c in &mut held {
            assert_eq!(c.get("/a.txt").status, 200);
        }
        // A third waits in the backlog, unserved.
        let mut waiting = s.connect();
        waiting.send("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        // Scrapes, one after another and several open at once, answer.
        for _ in 0..3 {
            let m = scrape(at);
            assert!(value(&m, "skiff_requests_total", &[("method", "GET"), ("code", "200")]).is_some());
        }
        let mut open: Vec<Client> = (0..3).map(|_| Client::connect(at)).collect();
        for c in &mut open {
            assert_eq!(c.get("/metrics").status, 200);
        }
        // Once a place is free, the waiting client is served.
        drop(held.pop());
        assert_eq!(waiting.response().status, 200);
    }
}

each_mode! {
    /// A request to the metrics port that cannot be read (a 400) is, like
    /// every scrape, neither counted among the requests the metrics report
    /// nor written to the access log.
    fn a_malformed_request_to_the_metrics_port_is_neither_counted_nor_logged(mode) {
        let site = site();
        let log = site.path.join("access.log");
        let s = Server::start(mode, &site.path, &["--metrics", "127.0.0.1:0", "--access-log", log.to_str().unwrap()]);
        let at = metrics_addr(&s);
        let mut bad = Client::connect(at);
        bad.send("GET /metrics HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n");
        assert_eq!(bad.response().status, 400);
        // One request on the public port, to see that the log is written.
        assert_eq!(s.connect().get("/a.txt").status, 200);
        let m = scrape(at);
        let counted: Vec<_> = m
            .samples
            .iter()
            .filter(|x| x.metric == "skiff_requests_total")
            .map(|x| (x.labels.get("method").map(str::to_string), x.labels.get("code").map(str::to_string)))
            .collect();
        assert_eq!(counted, [(Some("GET".to_string()), Some("200".to_string()))], "only the public request");
        let lines = wait_for(|| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            (!text.is_empty()).then_some(text)
        })
        .expect("the access log is written within its flush interval");
        assert_eq!(lines.lines().count(), 1, "{lines}");
        assert!(lines.contains("\"GET /a.txt HTTP/1.1\" 200"), "{lines}");
    }
}
