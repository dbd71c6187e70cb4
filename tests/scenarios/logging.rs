//! The access log and verbose connection logging.

use crate::each_mode;
use crate::support::*;

/// `127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET /a.txt?q=1 HTTP/1.1" 200 380`
fn check_clf(line: &str, request: &str, status: u16, bytes: u64) {
    let (peer, rest) = line
        .split_once(" - - [")
        .unwrap_or_else(|| panic!("{line:?}"));
    assert_eq!(peer, "127.0.0.1");
    let (stamp, rest) = rest.split_once("] ").unwrap();
    // dd/Mon/yyyy:HH:MM:SS +0000
    assert_eq!(stamp.len(), 26, "{stamp:?}");
    let b = stamp.as_bytes();
    assert!(
        b[0..2].iter().all(u8::is_ascii_digit) && b[2] == b'/' && b[6] == b'/' && b[11] == b':',
        "{stamp:?}"
    );
    assert!(
        [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
        ]
        .contains(&&stamp[3..6])
    );
    assert!(stamp.ends_with(" +0000"));
    assert_eq!(rest, format!("\"{request}\" {status} {bytes}"));
}

each_mode! {
    fn access_log_to_a_file(mode) {
        let site = site();
        let logs = TempDir::new("logs");
        let path = logs.path.join("access.log");
        let s = Server::start(mode, &site.path, &["--access-log", path.to_str().unwrap()]);
        let mut c = s.connect();
        c.get("/a.txt?q=1");
        c.get("/nope");
        c.send("HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        c.head_response();
        let mut bad = s.connect();
        bad.send("NONSENSE\x01\r\n\r\n");
        bad.response();
        // Flushed within about a second, without any further traffic.
        let text = wait_for(|| {
            let t = std::fs::read_to_string(&path).unwrap_or_default();
            (t.lines().count() >= 4).then_some(t)
        })
        .expect("log lines");
        let lines: Vec<&str> = text.lines().collect();
        check_clf(lines[0], "GET /a.txt?q=1 HTTP/1.1", 200, 13);
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(page.contains("\"GET /nope HTTP/1.1\" 404 "));
        check_clf(lines[2], "HEAD /a.txt HTTP/1.1", 200, 0);
        check_clf(lines[3], "NONSENSE\\x01", 400, lines[3].rsplit(' ').next().unwrap().parse().unwrap());
    }
}

each_mode! {
    fn access_log_to_stdout(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--access-log", "-"]);
        s.connect().get("/a.txt");
        let lines = s.wait_stdout(|l| !l.is_empty());
        check_clf(&lines[0], "GET /a.txt HTTP/1.1", 200, 13);
    }
}

each_mode! {
    fn a_streamed_body_is_logged_with_its_size(mode) {
        let site = site();
        site.write("big.bin", vec![1u8; 3_000_000]);
        let s = Server::start(mode, &site.path, &["--access-log", "-"]);
        let r = s.connect().get("/big.bin");
        assert_eq!(r.body.len(), 3_000_000);
        let lines = s.wait_stdout(|l| !l.is_empty());
        check_clf(&lines[0], "GET /big.bin HTTP/1.1", 200, 3_000_000);
    }
}

each_mode! {
    fn verbose_logs_connections(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["-v"]);
        let mut c = s.connect();
        let local = c.stream.local_addr().unwrap().to_string();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        c.response();
        c.expect_closed();
        let lines = s.wait_stderr(|l| l.iter().any(|x| x.contains(&local) && x.contains("closed")));
        assert!(lines.iter().any(|x| x.contains(&local) && x.contains("connected")), "{lines:?}");
    }
}

each_mode! {
    fn sigterm_exits_0_with_the_access_log_flushed(mode) {
        let site = site();
        let logs = TempDir::new("logs");
        let path = logs.path.join("access.log");
        let mut s = Server::start(mode, &site.path, &["--access-log", path.to_str().unwrap()]);
        let mut c = s.connect();
        c.get("/a.txt");
        c.get("/nope");
        s.signal("TERM");
        let status = s.wait_exit();
        assert_eq!(status.code(), Some(0), "{status:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(text.contains("\"GET /nope HTTP/1.1\" 404 "), "{text:?}");
    }
}

each_mode! {
    fn combined_log_format_adds_referer_and_user_agent(mode) {
        let site = site();
        site.write("big.bin", vec![7u8; 200_000]);
        let s = Server::start(mode, &site.path, &["--access-log", "-", "--access-log-format", "combined"]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nReferer: http://example.com/page\r\nUser-Agent: curl/8 \"quoted\"\r\n\r\n");
        c.response();
        c.get("/nope");
        // A streamed body is logged when it ends, with the same fields.
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\nUser-Agent: big-fetcher\r\n\r\n");
        c.response();
        let lines = s.wait_stdout(|l| l.len() >= 3);
        assert!(
            lines[0].ends_with("\"GET /a.txt HTTP/1.1\" 200 13 \"http://example.com/page\" \"curl/8 \\x22quoted\\x22\""),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("\"GET /nope HTTP/1.1\" 404 "), "{}", lines[1]);
        assert!(lines[1].ends_with("\"-\" \"-\""), "{}", lines[1]);
        assert!(lines[2].ends_with("\"GET /big.bin HTTP/1.1\" 200 200000 \"-\" \"big-fetcher\""), "{}", lines[2]);
    }
}

each_mode! {
    fn common_log_format_is_the_default(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--access-log", "-"]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nReferer: http://x/\r\nUser-Agent: ua\r\n\r\n");
        c.response();
        let lines = s.wait_stdout(|l| !l.is_empty());
        assert!(lines[0].ends_with("\"GET /a.txt HTTP/1.1\" 200 13"), "{}", lines[0]);
    }
}

each_mode! {
    /// `skiff --access-log - | (a reader that stops reading)`: the server
    /// goes on answering; lines past the writer's bound are dropped and
    /// counted, and once the reader drains, one stderr line says how many.
    /// Every request is either a line the reader got or one of those.
    fn a_stalled_log_reader_never_stops_serving(mode) {
        use std::io::{BufRead, BufReader, Read};
        use std::process::{Command, Stdio};
        let site = site();
        let mut child = Command::new(bin())
            .args(["--bind", "127.0.0.1", "--port", "0", "--root"])
            .arg(&site.path)
            .args(mode.args())
            .args(["--access-log", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let mut child = Kill(child);
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        // The start-up line, byte by byte: nothing after it is read.
        let mut first = Vec::new();
        let mut b = [0u8; 1];
        while first.last() != Some(&b'\n') {
            assert_eq!(out.read(&mut b).unwrap(), 1, "the start-up line");
            first.push(b[0]);
        }
        let addr = parse_listening(String::from_utf8(first).unwrap().trim_end());

        // About 6 KB of log per request: 1,200 of them are far more than
        // the pipe and the writer's 4 MiB hold while nobody reads.
        let target = format!("/a.txt?{}", "q".repeat(6000));
        let total = 1200;
        let mut c = Client::connect(addr);
        for _ in 0..total - 1 {
            let r = c.get(&target);
            assert_eq!((r.status, r.body.as_slice()), (200, &b"hello, skiff\n"[..]));
        }
        // A new connection is served too.
        assert_eq!(Client::connect(addr).get(&target).status, 200);

        // The reader comes back.
        let reader = std::thread::spawn(move || {
            BufReader::new(out).lines().map_while(Result::ok).count() as u64
        });
        let dropped = |lines: &[String]| -> u64 {
            lines
                .iter()
                .filter_map(|l| l.strip_prefix("skiff: access log: "))
                .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        wait_for(|| (dropped(&stderr.lock().unwrap()) > 0).then_some(()))
            .unwrap_or_else(|| panic!("no drop report: {:?}", stderr.lock().unwrap()));
        let ok = std::process::Command::new("kill")
            .args(["-s", "TERM", &child.0.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        wait_for(|| child.0.try_wait().unwrap()).expect("exits");
        let received = reader.join().unwrap();
        let lost = dropped(&stderr.lock().unwrap());
        assert!(received > 0, "lines written once the reader came back");
        assert_eq!(received + lost, total, "{received} lines read, {lost} dropped");
    }
}

each_mode! {
    /// `--access-log-format json`: one object per line, every line parsed
    /// by a real JSON parser, hostile request bytes included.
    fn json_lines_parse_whatever_the_client_sends(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--access-log", "-", "--access-log-format", "json"]);
        let mut c = s.connect();
        c.send("GET /a.txt?q=1&r=%22 HTTP/1.1\r\nHost: t\r\nReferer: http://x/\"quoted\"\\\r\nUser-Agent: t\u{e9}st/1.0 \u{2028}\r\n\r\n");
        assert_eq!(c.response().status, 200);
        // Bytes that are not UTF-8, quotes and backslashes in the target.
        c.send(b"GET /\xff\xfe\"\\x HTTP/1.1\r\nHost: t\r\n\r\n".as_slice());
        let second = c.response().status;
        // A line the parser refuses is still logged.
        let mut bad = s.connect();
        bad.send(b"GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n".as_slice());
        assert_eq!(bad.response().status, 400);
        let lines = s.wait_stdout(|l| l.len() >= 3);
        let v: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect();
        let first = &v[0];
        assert_eq!(first["remote"], "127.0.0.1");
        assert_eq!(first["method"], "GET");
        assert_eq!(first["path"], "/a.txt");
        assert_eq!(first["query"], "q=1&r=%22");
        assert_eq!(first["protocol"], "HTTP/1.1");
        assert_eq!(first["status"], 200);
        assert_eq!(first["bytes"], 13);
        assert!(first["duration_us"].as_u64().is_some(), "{first}");
        assert_eq!(first["referer"], "http://x/\"quoted\"\\");
        assert_eq!(first["user_agent"], "t\u{e9}st/1.0 \u{2028}");
        assert_eq!(first["tls"], serde_json::Value::Null);
        let t = first["time"].as_str().unwrap();
        assert!(t.len() == 20 && t.ends_with('Z') && &t[10..11] == "T", "{t}");
        assert_eq!(v[1]["path"], "/\u{ff}\u{fe}\"\\x");
        assert_eq!(v[1]["status"], second);
        assert_eq!(v[2]["status"], 400);
        assert_eq!(v[2]["path"], "/\u{1}");
    }
}

each_mode! {
    fn the_json_log_names_the_tls_version(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--access-log", "-", "--access-log-format", "json"]);
        assert_eq!(s.connect_tls(&ca).get("/a.txt").status, 200);
        let lines = s.wait_stdout(|l| !l.is_empty());
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["tls"], "TLSv1.3");
        assert_eq!(v["path"], "/a.txt");
    }
}
