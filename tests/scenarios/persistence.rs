//! Connection persistence, pipelining, partial input, the idle timeout and
//! the HTTP/1.0 mode.

use std::time::Duration;

use crate::each_mode;
use crate::support::*;

each_mode! {
    fn http11_connections_persist(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for _ in 0..20 {
            let r = c.get("/a.txt");
            assert_eq!(r.status, 200);
            assert_eq!(r.header("keep-alive"), Some("timeout=10"));
        }
    }
}

each_mode! {
    fn connection_close_is_honoured(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.header("keep-alive"), None);
        c.expect_closed();
    }
}

each_mode! {
    fn http10_closes_unless_keep_alive_is_asked(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.0\r\n\r\n");
        let r = c.response();
        assert_eq!((r.version.as_str(), r.status), ("HTTP/1.1", 200));
        assert_eq!(r.header("connection"), Some("close"));
        c.expect_closed();

        let mut c = s.connect();
        for _ in 0..3 {
            c.send("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            let r = c.response();
            assert_eq!(r.header("connection"), Some("keep-alive"));
            assert_eq!(r.header("keep-alive"), Some("timeout=10"));
            assert_eq!(r.body, b"hello, skiff\n");
        }
    }
}

each_mode! {
    fn pipelined_requests_are_answered_in_order(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let mut burst = String::new();
        let paths = ["/a.txt", "/nope", "/", "/dir", "/dir/", "/a.txt"];
        for p in paths {
            burst.push_str(&format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n"));
        }
        burst.push_str("HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        burst.push_str("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        c.send(burst);
        let statuses: Vec<u16> = paths.iter().map(|_| c.response().status).collect();
        assert_eq!(statuses, [200, 404, 200, 301, 200, 200]);
        let head = c.head_response();
        assert_eq!(head.content_length(), 13);
        let last = c.response();
        assert_eq!(last.body, b"hello, skiff\n");
        assert_eq!(last.header("connection"), Some("close"));
        c.expect_closed();
    }
}

each_mode! {
    fn many_pipelined_requests(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let n = 500;
        let one = "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
        let writer = {
            let mut w = c.stream.try_clone().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                w.write_all(one.repeat(n).as_bytes()).unwrap();
            })
        };
        for _ in 0..n {
            assert_eq!(c.response().body, b"hello, skiff\n");
        }
        writer.join().unwrap();
    }
}

each_mode! {
    fn a_request_sent_one_byte_at_a_time(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for b in b"GET /a.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: slow\r\n\r\n" {
            c.send([*b]);
            std::thread::sleep(Duration::from_millis(2));
        }
        let r = c.response();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello, skiff\n"[..]));
    }
}

each_mode! {
    fn bare_lf_line_endings(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\nHost: t\n\nGET / HTTP/1.1\nHost: t\n\n");
        assert_eq!(c.response().body, b"hello, skiff\n");
        assert_eq!(c.response().body, b"<h1>home</h1>\n");
    }
}

each_mode! {
    fn a_get_body_is_discarded_not_parsed(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let smuggled = "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n";
        c.send(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", smuggled.len()));
        std::thread::sleep(Duration::from_millis(50));
        c.send(smuggled);
        assert_eq!(c.response().status, 200);
        // The smuggled request was body, so the next answer is for this one.
        assert_eq!(c.get("/").body, b"<h1>home</h1>\n");
    }
}

each_mode! {
    fn an_oversized_body_is_answered_then_closed(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\nxxxx");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        c.expect_closed();
    }
}

each_mode! {
    fn idle_connections_close_after_the_keep_alive_timeout(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--keep-alive-timeout", "1"]);
        let mut c = s.connect();
        let r = c.get("/a.txt");
        assert_eq!(r.header("keep-alive"), Some("timeout=1"));
        // Closed by the server (EOF), well before the harness's 10 s read
        // timeout would fail this.
        c.expect_closed();
        // A connection that never sends anything is idle too.
        let mut silent = s.connect();
        silent.expect_closed();
    }
}

each_mode! {
    fn activity_keeps_a_connection_open(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--keep-alive-timeout", "2"]);
        let mut c = s.connect();
        for _ in 0..4 {
            assert_eq!(c.get("/a.txt").status, 200);
            std::thread::sleep(Duration::from_millis(700));
        }
        assert_eq!(c.get("/a.txt").status, 200);
    }
}

each_mode! {
    fn keep_alive_zero_turns_persistence_off(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--keep-alive-timeout", "0"]);
        let mut c = s.connect();
        let r = c.get("/a.txt");
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.header("keep-alive"), None);
        c.expect_closed();
    }
}

each_mode! {
    fn protocol_10_mode(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--protocol", "1.0"]);
        for req in [
            "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n",
            "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        ] {
            let mut c = s.connect();
            c.send(req);
            let r = c.response();
            assert_eq!(r.version, "HTTP/1.0");
            assert_eq!(r.status, 200);
            assert_eq!(r.header("connection"), Some("close"));
            assert_eq!(r.body, b"hello, skiff\n");
            c.expect_closed();
        }
        let mut c = s.connect();
        let r = c.get("/missing");
        assert_eq!((r.version.as_str(), r.status), ("HTTP/1.0", 404));
    }
}

each_mode! {
    fn half_closed_client_still_gets_its_response(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        c.shutdown_write();
        assert_eq!(c.response().body, b"hello, skiff\n");
        c.expect_closed();
    }
}

each_mode! {
    fn a_partial_head_then_disconnect_harms_no_one(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        for _ in 0..20 {
            let mut c = s.connect();
            c.send("GET /a.txt HTTP/1.1\r\nHo");
            drop(c);
        }
        assert_eq!(s.connect().get("/a.txt").status, 200);
    }
}
