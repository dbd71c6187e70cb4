//! Hostile and unlucky clients: strict parsing, limits, slow clients,
//! descriptor exhaustion, resets, and graceful shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::each_mode;
use crate::support::*;

/// Sends `bytes` on a fresh connection; expects `status` and a close.
fn rejected(s: &Server, bytes: &[u8], status: u16) {
    let mut c = s.connect();
    c.send(bytes);
    let r = c.response();
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(bytes));
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "{:?}",
        String::from_utf8_lossy(bytes)
    );
    c.expect_closed();
}

each_mode! {
    fn malformed_field_lines_are_400(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let cases: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost : t\r\n\r\n",              // space before colon
            b"GET / HTTP/1.1\r\nHost\t: t\r\n\r\n",             // tab before colon
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n", // obs-fold
            b"GET / HTTP/1.1\r\nHost: t\r\n\tfolded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: t\r\n: no name\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: t\r\nBad(Name): x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", // NUL in a value
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",   // CR in a value
            b"GET / HTTP/1.1\rHost: t\r\n\r\n",                  // bare CR after the request line
            b"GET / HTTP/1.1\r\nHost: t\r\r\n\r\n",              // bare CR before CRLF
            b"GET / HTTP/1.1\r\nHost: t\r\n\r\r\n",              // bare CR in the blank line
            b"\rGET / HTTP/1.1\r\nHost: t\r\n\r\n",              // bare CR before the request line
        ];
        for case in cases {
            rejected(&s, case, 400);
        }
    }
}

each_mode! {
    fn content_length_must_be_one_plain_number(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        for bad in ["+5", "-1", "0x5", "5 5", "1,2", "", "5.0", " ", "18446744073709551616"] {
            rejected(&s, format!("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: {bad}\r\n\r\n").as_bytes(), 400);
        }
        rejected(&s, b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400);
        rejected(&s, b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
    }
}

each_mode! {
    fn transfer_encoding_closes_either_way(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        rejected(&s, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400);
        rejected(&s, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
        rejected(&s, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo\r\n\r\n0\r\n\r\n", 501);
        rejected(&s, b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501);
    }
}

each_mode! {
    fn request_line_shapes(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        for line in [
            "GET / HTTP/1.1 extra",
            "GET / / HTTP/1.1",
            "GET HTTP/1.1",
            "GET  HTTP/1.1",
            "GET /",
            "GET / HTTP/1",
            "GET / HTTP/01.1",
            "GET / HTTP/1.01",
            "GET / HTTP/1.1.1",
            "GET / HTTPS/1.1",
            "GET /\tHTTP/1.1",
        ] {
            rejected(&s, format!("{line}\r\nHost: t\r\n\r\n").as_bytes(), 400);
        }
    }
}

each_mode! {
    fn a_valid_request_then_garbage_in_one_packet(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        for garbage in [&b"\x00\x01\x02\x03garbage"[..], b"GARBAGE\r\n\r\n", b"{\"json\": true}\r\n\r\n"] {
            let mut c = s.connect();
            let mut packet = b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
            packet.extend_from_slice(garbage);
            c.send(&packet);
            let ok = c.response();
            assert_eq!((ok.status, ok.body.as_slice()), (200, &b"hello, skiff\n"[..]));
            let bad = c.response();
            assert_eq!(bad.status, 400, "{:?}", String::from_utf8_lossy(garbage));
            assert_eq!(bad.header("connection"), Some("close"));
            c.expect_closed();
        }
    }
}

each_mode! {
    fn a_header_section_in_tiny_writes_meets_the_same_limit(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET / HTTP/1.1\r\nHost: t\r\n");
        // 100-byte fields, a few at a time, well past 16 KiB in all.
        let field = format!("X-Pad: {}\r\n", "p".repeat(91));
        let mut answered = None;
        for _ in 0..200 {
            if c.stream.write_all(field.repeat(2).as_bytes()).is_err() {
                break;
            }
            c.stream.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            let mut b = [0u8; 1];
            if let Ok(1) = c.stream.read(&mut b) {
                answered = Some(b[0]);
                break;
            }
        }
        c.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        assert_eq!(answered, Some(b'H'), "answered before the fields ran out");
        let rest = c.read_to_close();
        let text = String::from_utf8_lossy(&rest);
        assert!(text.starts_with("TTP/1.1 431 "), "{text}");
    }
}

each_mode! {
    fn a_body_up_to_1_mib_is_discarded_and_the_connection_kept(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let body = vec![b'z'; 1024 * 1024];
        c.send(format!("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()));
        c.send(&body);
        let r = c.response();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("connection"), None);
        assert_eq!(c.get("/a.txt").body, b"hello, skiff\n");
        // One byte more and the connection closes after the answer.
        let mut c = s.connect();
        c.send(format!("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len() + 1));
        let r = c.response();
        assert_eq!((r.status, r.header("connection")), (405, Some("close")));
    }
}

each_mode! {
    fn slowloris_trickling_a_head_gets_408_and_is_closed(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--header-timeout", "1"]);
        let mut c = s.connect();
        let mut w = c.stream.try_clone().unwrap();
        // Keep trickling for longer than the read timeout would allow if
        // each byte extended the deadline.
        let trickler = std::thread::spawn(move || {
            let _ = w.write_all(b"GET /a.txt HTTP/1.1\r\n");
            for i in 0..100 {
                std::thread::sleep(Duration::from_millis(150));
                if w.write_all(format!("X-{i}: y\r\n").as_bytes()).is_err() {
                    break;
                }
            }
        });
        let r = c.response();
        assert_eq!(r.status, 408);
        assert_eq!(r.reason, "Request Timeout");
        assert_eq!(r.header("connection"), Some("close"));
        let _ = c.read_to_close();
        trickler.join().unwrap();
        // The server is fine.
        assert_eq!(s.connect().get("/a.txt").status, 200);
    }
}

each_mode! {
    fn a_stalled_head_after_a_response_is_closed_without_408(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--header-timeout", "1", "--keep-alive-timeout", "30"]);
        let mut c = s.connect();
        assert_eq!(c.get("/a.txt").status, 200);
        c.send("GET /a.txt HTTP/1.1\r\nHo");
        c.expect_closed(); // no bytes at all: a 408 only when nothing was answered
    }
}

each_mode! {
    fn a_client_that_stops_reading_is_dropped_after_the_send_timeout(mode) {
        let site = site();
        let size = 64 * 1024 * 1024;
        site.write("big.bin", vec![b'q'; size]);
        let s = Server::start(mode, &site.path, &["--send-timeout", "1"]);
        let mut c = s.connect();
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        std::thread::sleep(Duration::from_millis(3000));
        let got = c.read_to_close();
        assert!(got.len() < size, "closed long before the whole body: {}", got.len());
        assert_eq!(s.connect().get("/a.txt").status, 200);
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// CPU time (user + system) the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

each_mode! {
    fn thousands_of_idle_connections_while_requests_still_succeed(mode) {
        let _heavy = heavy();
        let site = site();
        // Idle connections must outlive the test however loaded the machine
        // is, so they are not closed for idleness halfway through.
        let s = Server::start(mode, &site.path, &["--keep-alive-timeout", "120"]);
        // This process holds 2,100 sockets too.
        skiff::sys::raise_nofile_limit().unwrap();
        let mut idle = Vec::new();
        for i in 0..2100 {
            let mut c = s.connect();
            if i % 2 == 0 {
                // Half have been served once and sit in keep-alive.
                assert_eq!(c.get("/a.txt").status, 200);
            }
            idle.push(c);
        }
        for _ in 0..20 {
            assert_eq!(s.connect().get("/a.txt").body, b"hello, skiff\n");
        }
        // The idle ones are all still served too.
        for c in idle.iter_mut().step_by(97) {
            assert_eq!(c.get("/").status, 200);
        }
    }
}

each_mode! {
    fn a_small_descriptor_limit_pauses_accepting_without_spinning(mode) {
        let _heavy = heavy();
        let site = site();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
            .arg(bin())
            .args(["--bind", "127.0.0.1", "--port", "0", "--root"])
            .arg(&site.path)
            .args(mode.args());
        let s = Server::spawn(cmd);
        let pid = s.child.id();
        // 200 clients: far more than 64 descriptors. Those past the cap
        // wait in the listen backlog.
        let mut clients: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(300));
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_millis(2000));
        let used = cpu_ticks(pid) - before;
        // A loop spinning on the listener would burn the whole 2 s (200
        // ticks at 100 Hz); waiting costs next to nothing.
        assert!(used < 50, "server used {used} ticks of CPU while paused");
        assert!(open_fds(pid) <= 64);
        // Service resumes as connections close: every client is answered.
        for c in clients.iter_mut() {
            c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        }
        for c in clients.iter_mut() {
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut all = Vec::new();
            c.read_to_end(&mut all).unwrap();
            assert!(all.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&all));
            assert!(all.ends_with(b"hello, skiff\n"));
        }
    }
}

each_mode! {
    fn running_out_of_descriptors_backs_off_and_recovers(mode) {
        let _heavy = heavy();
        let site = site();
        site.write("big.bin", vec![b'b'; 32 * 1024 * 1024]);
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
            .arg(bin())
            // Without the file cache every download holds a descriptor of
            // its own, which is what runs the server out of them.
            .args(["--bind", "127.0.0.1", "--port", "0", "--max-connections", "48", "--no-file-cache", "--root"])
            .arg(&site.path)
            .args(mode.args());
        let s = Server::spawn(cmd);
        let pid = s.child.id();
        // Each stalled download holds a socket and a file, so 40 of them
        // need more descriptors than 64: accept (or a file open) fails
        // with EMFILE before the connection cap is reached.
        let mut clients: Vec<TcpStream> = (0..40)
            .map(|_| {
                let mut c = TcpStream::connect(s.addr).unwrap();
                c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                c
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_millis(2000));
        let used = cpu_ticks(pid) - before;
        assert!(used < 50, "server used {used} ticks of CPU while out of descriptors");
        let mut statuses = Vec::new();
        for c in clients.iter_mut() {
            c.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let mut head = [0u8; 12];
            statuses.push(match c.read_exact(&mut head) {
                Ok(()) => String::from_utf8_lossy(&head[9..12]).into_owned(),
                Err(_) => "waiting".to_string(),
            });
        }
        assert!(statuses.iter().any(|s| s == "200"), "{statuses:?}");
        assert!(statuses.iter().any(|s| s != "200"), "the limit was reached: {statuses:?}");
        assert!(statuses.iter().all(|s| ["200", "503", "waiting"].contains(&s.as_str())), "{statuses:?}");
        drop(clients);
        // Once they are gone, service resumes.
        let r = wait_for(|| {
            let mut c = TcpStream::connect(s.addr).ok()?;
            c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").ok()?;
            let mut all = Vec::new();
            c.read_to_end(&mut all).ok()?;
            all.starts_with(b"HTTP/1.1 200 OK\r\n").then_some(())
        });
        assert!(r.is_some(), "service resumed");
    }
}

each_mode! {
    fn resets_mid_transfer_free_everything(mode) {
        let _heavy = heavy();
        let site = site();
        site.write("big.bin", vec![b'r'; 16 * 1024 * 1024]);
        let s = Server::start(mode, &site.path, &[]);
        let pid = s.child.id();
        assert_eq!(s.connect().get("/a.txt").status, 200);
        // The file cache keeps one descriptor for big.bin: count it in.
        let _ = s.connect().get("/big.bin");
        let baseline = open_fds(pid);
        for _ in 0..50 {
            let mut c = s.connect();
            c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
            let mut some = [0u8; 4096];
            c.stream.read_exact(&mut some).unwrap();
            socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO)).unwrap();
            drop(c); // RST
        }
        let settled = wait_for(|| (open_fds(pid) <= baseline).then_some(()));
        assert!(settled.is_some(), "descriptors back to {baseline}, now {}", open_fds(pid));
        assert_eq!(s.connect().get("/a.txt").status, 200);
    }
}

each_mode! {
    fn thousands_of_aborted_connections_leak_nothing(mode) {
        let _heavy = heavy();
        let site = site();
        site.write("big.bin", vec![b'a'; 4 * 1024 * 1024]);
        let s = Server::start(mode, &site.path, &[]);
        let pid = s.child.id();
        let warm = |n: usize| {
            for i in 0..n {
                let mut c = TcpStream::connect(s.addr).unwrap();
                let req: &[u8] = match i % 4 {
                    0 => b"GET /a.txt HTTP/1.1\r\nHo",
                    1 => b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
                    2 => b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTT",
                    _ => b"",
                };
                let _ = c.write_all(req);
                if i % 2 == 0 {
                    let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
                }
            }
        };
        // A first round fills whatever caches grow with peak concurrency
        // (the allocator's arenas, glibc's cache of thread stacks); a leak
        // shows as growth from one round to the next.
        warm(3000);
        wait_for(|| (open_fds(pid) < 20).then_some(()));
        let fds = open_fds(pid);
        let rss = rss_kb(pid);
        warm(3000);
        let settled = wait_for(|| (open_fds(pid) <= fds).then_some(()));
        assert!(settled.is_some(), "descriptors back to {fds}, now {}", open_fds(pid));
        let grown = rss_kb(pid).saturating_sub(rss);
        assert!(grown < 4096, "RSS grew by {grown} kB after 3000 aborted connections");
        assert_eq!(s.connect().get("/a.txt").status, 200);
    }
}

each_mode! {
    fn sigterm_during_a_download_finishes_it_refuses_new_ones_and_exits_0(mode) {
        let site = site();
        let size = 32 * 1024 * 1024;
        site.write("big.bin", vec![b'd'; size]);
        let mut s = Server::start(mode, &site.path, &[]);
        let mut idle = s.connect();
        assert_eq!(idle.get("/a.txt").status, 200);
        let mut c = s.connect();
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut first = vec![0u8; 1024 * 1024];
        c.stream.read_exact(&mut first).unwrap();
        s.signal("TERM");
        // New connections are refused.
        let refused = wait_for(|| TcpStream::connect(s.addr).is_err().then_some(()));
        assert!(refused.is_some(), "listener still open");
        // The idle keep-alive connection is closed.
        idle.expect_closed();
        // The download completes.
        let mut rest = Vec::new();
        c.stream.read_to_end(&mut rest).unwrap();
        first.extend_from_slice(&rest);
        let head_end = find(&first, b"\r\n\r\n").unwrap() + 4;
        assert_eq!(first.len() - head_end, size);
        assert!(first[head_end..].iter().all(|&b| b == b'd'));
        assert_eq!(s.wait_exit().code(), Some(0));
    }
}

each_mode! {
    fn a_request_arriving_while_stopping_is_answered_with_close(mode) {
        let site = site();
        let mut s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHo"); // in flight, not idle
        std::thread::sleep(Duration::from_millis(200));
        s.signal("TERM");
        std::thread::sleep(Duration::from_millis(200));
        c.send("st: t\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        c.expect_closed();
        assert_eq!(s.wait_exit().code(), Some(0));
    }
}

each_mode! {
    fn the_shutdown_timeout_bounds_the_wait(mode) {
        let site = site();
        site.write("big.bin", vec![b's'; 64 * 1024 * 1024]);
        let mut s = Server::start(mode, &site.path, &["--shutdown-timeout", "1"]);
        let mut c = s.connect();
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"); // and never read
        std::thread::sleep(Duration::from_millis(200));
        s.signal("TERM");
        assert_eq!(s.wait_exit().code(), Some(0));
        let got = c.read_to_close();
        assert!(got.len() < 64 * 1024 * 1024);
    }
}

each_mode! {
    fn a_second_signal_exits_at_once(mode) {
        let site = site();
        site.write("big.bin", vec![b's'; 64 * 1024 * 1024]);
        // A shutdown timeout far past the harness's 10 s wait: only the
        // second signal can end the process in time.
        let mut s = Server::start(mode, &site.path, &["--shutdown-timeout", "60"]);
        let mut c = s.connect();
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        std::thread::sleep(Duration::from_millis(200));
        s.signal("TERM");
        std::thread::sleep(Duration::from_millis(200));
        assert!(s.child.try_wait().unwrap().is_none(), "still draining");
        s.signal("INT");
        assert!(s.wait_exit().success());
    }
}
