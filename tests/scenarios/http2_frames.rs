//! HTTP/2 at the frame level, through `tests/fixtures/h2probe.py` (Python's
//! `h2` libraries: hyperframe and hpack): the known floods, each answered
//! with GOAWAY (ENHANCE_YOUR_CALM) and a close while a second,
//! well-behaved client keeps being answered; malformed requests; stream
//! limits; cancelling; parked password checks; the timers; stopping.
//! Load from real clients (nghttp, h2load) at the end.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::each_mode;
use crate::support::*;

const PROBE: &str = "tests/fixtures/h2probe.py";

/// Whether Python's `h2` libraries are there (CI installs them).
fn have_probe() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import h2, hpack, hyperframe"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Python's h2 (.ci/run does)"
        );
        eprintln!("skipped: Python's h2 is not installed");
    }
    ok
}

/// Runs one probe scenario against `port` and parses what it printed.
fn probe(port: u16, scenario: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(repo_path(PROBE))
        .arg(port.to_string())
        .arg(scenario)
        .args(args)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{scenario}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{scenario}: {e}: {text}"))
}

/// Runs `scenario` while a well-behaved client on another connection
/// asks for `/a.txt` again and again; every one of its requests must be
/// answered 200 (how long each took is printed, never asserted).
fn probe_beside_a_good_client(s: &Server, scenario: &str, args: &[&str]) -> serde_json::Value {
    let mut child = Command::new("python3")
        .arg(repo_path(PROBE))
        .arg(s.port().to_string())
        .arg(scenario)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut latencies = Vec::new();
    let mut good = s.connect();
    loop {
        let t = Instant::now();
        let r = good.get("/a.txt");
        latencies.push(t.elapsed());
        assert_eq!(r.status, 200, "{scenario}: the other client was not served");
        if child.try_wait().unwrap().is_some() || latencies.len() >= 2000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let r = good.get("/a.txt");
    assert_eq!(
        r.status, 200,
        "{scenario}: the other client after the flood"
    );
    let worst = latencies.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{scenario}: the other client was answered {} times, the slowest in {worst:?}",
        latencies.len()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{scenario}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{scenario}: {e}: {text}"))
}

const ENHANCE_YOUR_CALM: u64 = 11;
const PROTOCOL_ERROR: u64 = 1;
const REFUSED_STREAM: u64 = 7;
const NO_ERROR: u64 = 0;

fn floods_site() -> TempDir {
    let site = site();
    site.write("big.bin", vec![7u8; 5_000_000]);
    site
}

each_mode! {
    fn every_flood_gets_goaway_and_a_close_while_others_are_served(mode) {
        if !have_probe() {
            return;
        }
        let site = floods_site();
        let s = Server::start(mode, &site.path, &["--verbose"]);
        for scenario in [
            "ping",
            "settings",
            "priority",
            "rapid-reset",
            "made-you-reset",
            "empty-data",
            "empty-headers",
            "continuation",
            "hpack-bomb",
        ] {
            // 3,000 frames: past every rate, and few enough that the
            // server drains them all after its GOAWAY (more, and it stops
            // reading and closes with a reset, which may throw the GOAWAY
            // away before the client reads it).
            let out = probe_beside_a_good_client(&s, scenario, &["--wait", "10", "--count", "3000"]);
            assert_eq!(out["goaway"], ENHANCE_YOUR_CALM, "{scenario}: {out}");
            assert_eq!(out["closed"], true, "{scenario}: {out}");
        }
        let lines = s.wait_stderr(|l| l.iter().filter(|l| l.contains("ENHANCE_YOUR_CALM")).count() >= 9);
        assert!(lines.iter().any(|l| l.contains("HTTP/2 flood")), "{lines:?}");
    }
}

each_mode! {
    fn malformed_requests_are_reset_and_big_header_lists_get_431(mode) {
        if !have_probe() {
            return;
        }
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let out = probe(s.port(), "connection-header", &[]);
        assert_eq!(out["resets"]["1"], PROTOCOL_ERROR, "{out}");
        assert_eq!(out["resets"]["3"], PROTOCOL_ERROR, "{out}");
        assert_eq!(out["statuses"]["5"], 200, "TE: trailers is allowed: {out}");
        let out = probe(s.port(), "big-headers", &[]);
        assert_eq!(out["statuses"]["1"], 431, "{out}");
        assert_eq!(out["closed"], false, "{out}");
    }
}

each_mode! {
    fn streams_beyond_the_limit_are_refused_and_the_connection_goes_on(mode) {
        if !have_probe() {
            return;
        }
        let site = site();
        let s = Server::start(mode, &site.path, &["--http2-max-streams", "8"]);
        let out = probe_beside_a_good_client(&s, "streams", &["--count", "40"]);
        let served = out["statuses"].as_object().unwrap().len();
        let refused = out["resets"].as_object().unwrap();
        assert!(refused.values().all(|c| c == REFUSED_STREAM), "{out}");
        assert!(!refused.is_empty(), "more than 8 at once must be refused: {out}");
        // The 40, and the one after them.
        assert_eq!(served + refused.len(), 41, "{out}");
        assert_eq!(out["statuses"]["81"], 200, "{out}");
        assert_eq!(out["closed"], false, "{out}");
    }
}

each_mode! {
    fn a_cancelled_stream_stops_and_the_connection_goes_on(mode) {
        if !have_probe() {
            return;
        }
        let site = floods_site();
        let s = Server::start(mode, &site.path, &[]);
        let out = probe(s.port(), "cancel", &["--path", "/big.bin"]);
        assert_eq!(out["statuses"]["3"], 200, "{out}");
        assert!(out["data"]["1"].as_u64().unwrap() < 5_000_000, "{out}");
        assert_eq!(out["closed"], false, "{out}");
    }
}

each_mode! {
    fn a_password_check_never_holds_up_other_streams(mode) {
        if !have_probe() {
            return;
        }
        let site = site();
        site.write("open.txt", "open\n");
        // A slow bcrypt cost: the check takes long enough that a stream
        // waiting behind it would be seen waiting.
        let hash = bcrypt::hash("secret", 13).unwrap();
        let file = site.write("users", format!("alice:{hash}\n"));
        let s = Server::start(
            mode,
            &site.path,
            &["--htpasswd", file.to_str().unwrap(), "--auth-exempt", "/open.txt"],
        );
        let creds = format!("Basic {}", skiff::base64::encode(b"alice:secret"));
        let out = probe(s.port(), "auth-order", &["--header", &creds]);
        assert_eq!(out["statuses"]["1"], 200, "{out}");
        assert_eq!(out["statuses"]["3"], 200, "{out}");
        assert_eq!(out["order"], serde_json::json!([3, 1]), "{out}");
    }
}

each_mode! {
    fn the_preface_and_settings_must_arrive_in_time(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--header-timeout", "1"]);
        // The preface without the SETTINGS frame that must follow.
        let mut c = s.connect();
        c.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let t = Instant::now();
        let bytes = c.read_to_close();
        assert!(t.elapsed() < IO_TIMEOUT, "closed");
        // Only the server's own SETTINGS frame came (type 4), no answer.
        assert!(bytes.len() >= 9 && bytes[3] == 4, "{bytes:?}");
    }
}

each_mode! {
    fn a_first_line_that_is_neither_http1_nor_a_preface_is_closed(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        // h2spec's invalid preface: HTTP/2's answer (its SETTINGS, then a
        // close), not an HTTP/1 400.
        let mut c = s.connect();
        c.send("INVALID CONNECTION PREFACE\r\n\r\n");
        let bytes = c.read_to_close();
        assert!(!bytes.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&bytes));
        assert!(bytes.len() >= 9 && bytes[3] == 4, "a SETTINGS frame first: {bytes:?}");
        // A version that begins like HTTP's is HTTP/1's to refuse.
        let mut c = s.connect();
        c.send("GET / HTTPS/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().status, 400);
    }
}

each_mode! {
    fn a_request_body_that_never_ends_gets_408_on_its_stream(mode) {
        if !have_probe() {
            return;
        }
        let site = site();
        let s = Server::start(mode, &site.path, &["--header-timeout", "1"]);
        let out = probe(s.port(), "unfinished-body", &["--wait", "8"]);
        assert_eq!(out["statuses"]["3"], 200, "{out}");
        assert_eq!(out["statuses"]["1"], 408, "{out}");
        assert_eq!(out["order"][0], 3, "{out}");
    }
}

each_mode! {
    fn an_idle_connection_gets_goaway(mode) {
        if !have_probe() {
            return;
        }
        let site = site();
        let s = Server::start(mode, &site.path, &["--keep-alive-timeout", "1"]);
        let out = probe(s.port(), "idle", &["--wait", "8"]);
        assert_eq!(out["statuses"]["1"], 200, "{out}");
        assert_eq!(out["goaway"], NO_ERROR, "{out}");
        assert_eq!(out["closed"], true, "{out}");
    }
}

each_mode! {
    fn zero_windows_and_clients_that_do_not_read_are_closed(mode) {
        if !have_probe() {
            return;
        }
        let site = floods_site();
        let s = Server::start(mode, &site.path, &["--send-timeout", "1", "--verbose"]);
        let out = probe_beside_a_good_client(&s, "zero-window", &["--path", "/big.bin", "--wait", "8"]);
        assert_eq!(out["statuses"]["1"], 200, "{out}");
        assert_eq!(out["closed"], true, "{out}");
        let out = probe_beside_a_good_client(&s, "slow-read", &["--path", "/big.bin", "--wait", "4"]);
        assert_eq!(out["closed"], true, "{out}");
        let lines = s.wait_stderr(|l| l.iter().filter(|l| l.contains("closed: send timeout")).count() >= 2);
        assert!(lines.iter().filter(|l| l.contains("closed: send timeout")).count() >= 2);
    }
}

each_mode! {
    fn sigterm_sends_goaway_and_lets_streams_finish(mode) {
        if !have_probe() {
            return;
        }
        let site = floods_site();
        let mut s = Server::start(mode, &site.path, &[]);
        // A download in flight (slowly), and an idle connection.
        let mut download = Command::new("curl")
            .args(["-s", "--http2-prior-knowledge", "--limit-rate", "2M", "-o", "-"])
            .arg(s.url("/big.bin"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let idle = std::thread::spawn({
            let port = s.port();
            move || probe(port, "idle", &["--wait", "15"])
        });
        std::thread::sleep(Duration::from_millis(700));
        s.signal("TERM");
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut download.stdout.take().unwrap(), &mut body).unwrap();
        assert!(download.wait().unwrap().success());
        assert_eq!(body.len(), 5_000_000, "the download in flight finished");
        let out = idle.join().unwrap();
        assert_eq!(out["goaway"], NO_ERROR, "{out}");
        assert_eq!(out["closed"], true, "{out}");
        assert!(s.wait_exit().success());
    }
}

each_mode! {
    fn nghttp_and_h2load_are_served(mode) {
        if !have("h2load") || !have("nghttp") {
            assert!(std::env::var_os("CI").is_none(), "CI must install nghttp2-client (.ci/run does)");
            eprintln!("skipped: nghttp2-client is not installed");
            return;
        }
        let site = site();
        site.write("style.css", "p { color: red }\n");
        site.write("page.html", "<link rel=stylesheet href=style.css><p>x</p>\n");
        let ca = TestCa::new();
        for tls in [false, true] {
            let s = match tls {
                true => Server::start_tls(mode, &site.path, &ca, &[]),
                false => Server::start(mode, &site.path, &[]),
            };
            let base = match tls {
                true => format!("https://localhost:{}", s.port()),
                false => format!("http://127.0.0.1:{}", s.port()),
            };
            // nghttp fetches the page and what it links to (-a), one
            // connection, several streams.
            let out = Command::new("nghttp")
                .args(["-a", "-s", "-n"])
                .arg(format!("{base}/page.html"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            assert!(text.contains("/style.css"), "{text}");
            // h2load: many streams on a few connections, every one 2xx.
            let out = Command::new("h2load")
                .args(["-n", "400", "-c", "4", "-m", "16"])
                .arg(format!("{base}/a.txt"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("400 succeeded, 0 failed, 0 errored"), "{text}");
            assert!(text.contains("status codes: 400 2xx"), "{text}");
            assert!(text.contains("Application protocol: h2"), "{text}");
        }
    }
}

each_mode! {
    fn an_upload_refused_for_its_password_still_takes_its_body(mode) {
        if !have_probe() {
            return;
        }
        let site = site();
        std::fs::create_dir_all(site.path.join("in")).unwrap();
        let hash = bcrypt::hash("secret", 4).unwrap();
        let file = site.write("users", format!("alice:{hash}\n"));
        let s = Server::start(mode, &site.path, &["--upload", "--htpasswd", file.to_str().unwrap()]);
        let creds = format!("Basic {}", skiff::base64::encode(b"alice:wrong"));
        let out = probe(s.port(), "refused-upload", &["--header", &creds, "--path", "/in/x.bin", "--wait", "5"]);
        assert_eq!(out["statuses"]["1"], 401, "{out}");
        // The body the upload would have taken is read and dropped: the
        // stream's window comes back, so the client can finish.
        assert!(out["windows"]["1"].as_u64().unwrap_or(0) > 0, "{out}");
        assert!(!site.path.join("in/x.bin").exists());
    }
}
