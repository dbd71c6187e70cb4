//! Every error status the core sends, and what happens to the connection.

use crate::each_mode;
use crate::support::*;

/// Sends raw bytes on a fresh connection; returns the response.
fn raw(s: &Server, bytes: &[u8]) -> (Response, Client) {
    let mut c = s.connect();
    c.send(bytes);
    let r = c.response();
    (r, c)
}

fn assert_error_page(r: &Response, code: u16) {
    assert_eq!(r.status, code);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body.len() as u64, r.content_length());
    assert!(r.text().contains(&format!("<h1>{code} ")), "{}", r.text());
    assert!(r.header("date").is_some() && r.header("server").is_some());
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

each_mode! {
    fn malformed_requests_get_400_and_close(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let cases: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n\r\n",                             // no Host
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",       // two Hosts
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET a.txt HTTP/1.1\r\nHost: a\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",       // a TLS hello
        ];
        for case in cases {
            let (r, mut c) = raw(&s, case);
            assert_error_page(&r, 400);
            assert_eq!(r.header("connection"), Some("close"), "{:?}", String::from_utf8_lossy(case));
            c.expect_closed();
        }
    }
}

each_mode! {
    fn http10_needs_no_host(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let (r, _) = raw(&s, b"GET /a.txt HTTP/1.0\r\n\r\n");
        assert_eq!(r.status, 200);
    }
}

each_mode! {
    fn missing_file_is_404_and_keeps_the_connection(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let r = c.get("/nope.txt");
        assert_error_page(&r, 404);
        assert_eq!(r.header("connection"), None);
        assert_eq!(c.get("/a.txt/").status, 404, "a file is not a directory");
        assert_eq!(c.get("/a.txt/x").status, 404);
        assert_eq!(c.get("/a.txt").status, 200);
    }
}

each_mode! {
    fn other_standard_methods_get_405_with_allow(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for m in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
            c.send(format!("{m} /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
            let r = c.response();
            assert_error_page(&r, 405);
            assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"), "{m}");
        }
        c.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
        // A POST body is read and dropped, not taken for a request.
        c.send("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 26\r\n\r\nGET /nope.txt HTTP/1.1\r\n\r\n");
        assert_eq!(c.response().status, 405);
        assert_eq!(c.get("/a.txt").status, 200);
    }
}

each_mode! {
    fn unknown_methods_get_501(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for m in ["BREW", "PROPFIND", "get"] {
            c.send(format!("{m} /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
            let r = c.response();
            assert_error_page(&r, 501);
            assert_eq!(r.header("allow"), None);
        }
    }
}

each_mode! {
    fn unsupported_major_version_is_505(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        for v in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9"] {
            let (r, mut c) = raw(&s, format!("GET / {v}\r\nHost: t\r\n\r\n").as_bytes());
            assert_error_page(&r, 505);
            c.expect_closed();
        }
        // HTTP/1.x with a higher minor is served as 1.1.
        let (r, _) = raw(&s, b"GET /a.txt HTTP/1.7\r\nHost: t\r\n\r\n");
        assert_eq!((r.version.as_str(), r.status), ("HTTP/1.1", 200));
    }
}

each_mode! {
    fn long_target_is_414(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let long = format!("/{}", "a".repeat(8 * 1024 + 1));
        let (r, mut c) = raw(&s, format!("GET {long} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_error_page(&r, 414);
        c.expect_closed();
        // Just under the limit is an ordinary 404.
        let ok = format!("/{}", "a".repeat(8 * 1024 - 1));
        let (r, _) = raw(&s, format!("GET {ok} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, 404);
    }
}

each_mode! {
    fn big_or_many_headers_are_431(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let big = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "v".repeat(17 * 1024));
        let (r, mut c) = raw(&s, big.as_bytes());
        assert_error_page(&r, 431);
        c.expect_closed();

        let mut many = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
        for i in 0..100 {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        let (r, mut c) = raw(&s, format!("{many}\r\n").as_bytes());
        assert_error_page(&r, 431);
        c.expect_closed();

        // Exactly 100 fields is fine.
        let mut hundred = String::from("GET /a.txt HTTP/1.1\r\nHost: t\r\n");
        for i in 0..99 {
            hundred.push_str(&format!("X-{i}: y\r\n"));
        }
        let (r, _) = raw(&s, format!("{hundred}\r\n").as_bytes());
        assert_eq!(r.status, 200);
    }
}

each_mode! {
    fn transfer_encoding_is_501_or_400_and_closes(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        // A coding skiff does not know: 501.
        let (r, mut c) = raw(&s, b"GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: br\r\n\r\n0\r\n\r\n");
        assert_error_page(&r, 501);
        assert_eq!(r.header("connection"), Some("close"));
        c.expect_closed();
        let (r, mut c) = raw(
            &s,
            b"GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        );
        assert_error_page(&r, 400);
        c.expect_closed();
    }
}

each_mode! {
    fn symlink_out_of_the_root_is_403(mode) {
        let outside = TempDir::new("outside");
        outside.write("secret.txt", "SECRET");
        let site = site();
        std::os::unix::fs::symlink(outside.path.join("secret.txt"), site.path.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(&outside.path, site.path.join("linkdir")).unwrap();
        std::os::unix::fs::symlink(site.path.join("a.txt"), site.path.join("inside.txt")).unwrap();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for p in ["/link.txt", "/linkdir/secret.txt", "/linkdir/", "/linkdir"] {
            let r = c.get(p);
            assert_error_page(&r, 403);
            assert!(!r.text().contains("SECRET"));
        }
        // A symlink that stays inside the root is followed.
        assert_eq!(c.get("/inside.txt").body, b"hello, skiff\n");
    }
}

each_mode! {
    fn unreadable_file_is_403_and_the_server_goes_on(mode) {
        use std::os::unix::fs::PermissionsExt;
        let site = site();
        let p = site.write("private.txt", "private");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        let locked = site.mkdir("locked");
        site.write("locked/in.txt", "x");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads anything: run the server as nobody then.
        let s = if is_root() {
            std::fs::set_permissions(&site.path, std::fs::Permissions::from_mode(0o755)).unwrap();
            let mut cmd = std::process::Command::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]);
            cmd.args(["--bind", "127.0.0.1", "--port", "0", "--root"]).arg(&site.path);
            cmd.args(mode.args());
            Server::spawn(cmd)
        } else {
            Server::start(mode, &site.path, &[])
        };
        let mut c = s.connect();
        let r = c.get("/private.txt");
        assert_error_page(&r, 403);
        assert_eq!(c.get("/locked/in.txt").status, 403);
        assert_eq!(c.get("/a.txt").body, b"hello, skiff\n");
        assert_eq!(s.connect().get("/").status, 200);
    }
}

each_mode! {
    fn fifo_is_never_opened_for_reading(mode) {
        let site = site();
        let fifo = site.path.join("pipe.txt");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success();
        assert!(ok);
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        assert_eq!(c.get("/pipe.txt").status, 403);
        assert_eq!(c.get("/a.txt").status, 200);
    }
}

each_mode! {
    fn custom_error_pages(mode) {
        let site = site();
        let pages = TempDir::new("pages");
        pages.write("404.html", "<p>custom missing</p>\n");
        let s = Server::start(mode, &site.path, &["--error-pages", pages.path.to_str().unwrap()]);
        let mut c = s.connect();
        let r = c.get("/nope");
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"<p>custom missing</p>\n");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        // No 405.html: the built-in page.
        c.send("POST / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(c.response().text().contains("405 Method Not Allowed"));
    }
}
