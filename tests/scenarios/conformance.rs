//! RFC 9110 / 9112 points beyond the basics: chunked request bodies,
//! `OPTIONS`, `Expect`, empty `Host`, fragments and encoded line breaks in
//! targets, `If-Modified-Since` from the future, why connections close,
//! and a client that reads slowly but steadily.

use std::io::{Read, Write};
use std::time::Duration;

use crate::each_mode;
use crate::support::*;

/// Sends `bytes` on a fresh connection; expects `status` and a close.
fn rejected(s: &Server, bytes: &[u8], status: u16) {
    let mut c = s.connect();
    c.send(bytes);
    let r = c.response();
    let shown = String::from_utf8_lossy(bytes);
    assert_eq!(r.status, status, "{shown:?}");
    assert_eq!(r.header("connection"), Some("close"), "{shown:?}");
    c.expect_closed();
}

const HELLO: &[u8] = b"hello, skiff\n";

each_mode! {
    fn chunked_bodies_are_read_and_dropped_and_the_next_request_answered(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        // A body in several chunks with extensions and a trailer, then a
        // pipelined request in the same packet.
        c.send(
            "POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
             5;name=value\r\nGET /\r\n\
             18;q=\"quoted \\\" string\"\r\nHTTP/1.1\r\nHost: evil\r\n\r\n\r\n\
             0\r\nX-Checksum: abc\r\n\r\n\
             GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        let r = c.response();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("connection"), None, "kept open");
        let r = c.response();
        assert_eq!((r.status, &r.body[..]), (200, HELLO));
        // GET with a chunked body, arriving a few bytes at a time.
        let raw = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        for piece in raw.chunks(7) {
            c.send(piece);
            std::thread::sleep(Duration::from_millis(2));
        }
        let r = c.response();
        assert_eq!((r.status, &r.body[..]), (200, HELLO));
        assert_eq!(c.get("/a.txt").status, 200, "still in step");
    }
}

each_mode! {
    fn malformed_chunked_bodies_are_400_and_close(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let bodies: &[&[u8]] = &[
            b"0x5\r\nhello\r\n0\r\n\r\n",          // 0x prefix
            b"+5\r\nhello\r\n0\r\n\r\n",           // sign
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"5_0\r\nhello\r\n0\r\n\r\n",          // underscore
            b" 5\r\nhello\r\n0\r\n\r\n",           // leading whitespace
            b"5 \r\nhello\r\n0\r\n\r\n",           // trailing whitespace
            b"00000000000000005\r\nhello\r\n0\r\n\r\n", // 17 hex digits
            b"5;\r\nhello\r\n0\r\n\r\n",           // bare ;
            b"5;a@b\r\nhello\r\n0\r\n\r\n",        // name not a token
            b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", // control byte
            b"5;a\rb\r\nhello\r\n0\r\n\r\n",       // bare CR in an extension
            b"5\r\nhello!\r\n0\r\n\r\n",           // data longer than its size
            b"5\r\nhell\r\n0\r\n\r\n",             // shorter
            b"5\r\nhelloXY0\r\n\r\n",              // not followed by CRLF
            b"5\rhello\r\n0\r\n\r\n",              // bare CR as a line end
            b"5\nhello\r\n0\r\n\r\n",              // bare LF
            b"0\r\nBad Name: x\r\n\r\n",           // trailer breaking the field rules
            b"0\r\nX: a\r\n folded\r\n\r\n",
        ];
        for body in bodies {
            let mut raw = b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            raw.extend_from_slice(body);
            rejected(&s, &raw, 400);
        }
        for te in ["chunked, gzip", "chunked, chunked", "gzip"] {
            rejected(&s, format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n").as_bytes(), 400);
        }
        rejected(
            &s,
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        );
        rejected(&s, b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
        rejected(&s, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo\r\n\r\n", 501);
    }
}

each_mode! {
    fn a_chunked_body_past_the_limit_is_answered_and_the_connection_closed(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
        // Exactly 1 MiB in 16 chunks is within the limit; one byte more is not.
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..16 {
            c.send(b"10000\r\n");
            c.send(&chunk);
            c.send(b"\r\n");
        }
        c.send(b"1\r\n");
        let r = c.response();
        assert_eq!((r.status, &r.body[..]), (200, HELLO));
        assert_eq!(r.header("connection"), Some("close"));
        c.expect_closed();
        // One chunk announcing more than the limit.
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("connection")), (200, Some("close")));
        c.expect_closed();
    }
}

each_mode! {
    fn options_answers_with_allow(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for target in ["*", "/a.txt", "/", "/dir", "/dir/"] {
            c.send(format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n\r\n"));
            let r = c.response();
            assert_eq!(r.status, 200, "{target}");
            assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"), "{target}");
            assert_eq!(r.header("content-length"), Some("0"), "{target}");
            assert_eq!(r.header("content-type"), None, "{target}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("connection"), None, "kept open");
        }
        c.send("OPTIONS /nope.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().status, 404);
        // The connection is still in step.
        assert_eq!(c.get("/a.txt").body, HELLO);
        // `*` is for OPTIONS only.
        rejected(&s, b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    }
}

each_mode! {
    fn an_empty_host_is_400(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        rejected(&s, b"GET /a.txt HTTP/1.1\r\nHost:\r\n\r\n", 400);
        rejected(&s, b"GET /a.txt HTTP/1.1\r\nHost:   \r\n\r\n", 400);
        rejected(&s, b"GET /a.txt HTTP/1.0\r\nHost:\r\n\r\n", 400);
        // HTTP/1.0 may leave Host out altogether.
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.0\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }
}

each_mode! {
    fn fragments_and_encoded_line_breaks_in_targets_are_400(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        for target in ["/a.txt#top", "/#", "/a.txt?x#y", "/a%0D.txt", "/a%0a.txt", "/a%0d%0aX-Injected:%20yes", "/a%00.txt"] {
            rejected(&s, format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(), 400);
        }
    }
}

each_mode! {
    fn unknown_expectations_get_417(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for expect in ["200-ok", "100-continue, extra", "foo=bar"] {
            c.send(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nExpect: {expect}\r\n\r\n"));
            let r = c.response();
            assert_eq!(r.status, 417, "{expect}");
            assert!(r.text().contains("417 Expectation Failed"));
        }
        assert_eq!(c.get("/a.txt").status, 200, "kept open");
    }
}

each_mode! {
    fn expect_100_continue_gets_100_then_the_body_is_read_and_the_connection_kept(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        // The client holds its body back until it sees 100 Continue.
        c.send("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        let interim = c.response();
        assert_eq!((interim.version.as_str(), interim.status, interim.reason.as_str()), ("HTTP/1.1", 100, "Continue"));
        assert!(interim.headers.is_empty(), "{:?}", interim.headers);
        c.send("hello");
        let r = c.response();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("connection"), None);
        assert_eq!(c.get("/a.txt").body, HELLO);
        // The same with a chunked body.
        c.send("PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(c.response().status, 100);
        c.send("3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(c.response().status, 405);
        assert_eq!(c.get("/a.txt").body, HELLO);
        // No body, no 100.
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, &r.body[..]), (200, HELLO));
        // HTTP/1.0 clients never get a 1xx (the expectation is ignored).
        let mut c = s.connect();
        c.send("POST /a.txt HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello");
        assert_eq!(c.response().status, 405);
        // A body too large to read is not asked for: answered at once, closed.
        let mut c = s.connect();
        c.send("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("connection")), (405, Some("close")));
        c.expect_closed();
    }
}

each_mode! {
    fn if_modified_since_in_the_future_is_ignored(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let future = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(86_400));
        let r = c.get_with("/a.txt", &format!("If-Modified-Since: {future}\r\n"));
        assert_eq!((r.status, &r.body[..]), (200, HELLO));
        // A date the client could have had from us still works.
        let lm = c.get("/a.txt").header("last-modified").unwrap().to_string();
        let r = c.get_with("/a.txt", &format!("If-Modified-Since: {lm}\r\n"));
        assert_eq!(r.status, 304);
    }
}

each_mode! {
    fn verbose_close_lines_say_why(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--verbose", "--keep-alive-timeout", "1"]);
        // The client closes.
        let mut c = s.connect();
        assert_eq!(c.get("/a.txt").status, 200);
        drop(c);
        s.wait_stderr(|l| l.iter().any(|l| l.ends_with("closed: the client closed")));
        // A protocol error.
        rejected(&s, b"GET / HTTP/1.1\r\n\r\n", 400);
        s.wait_stderr(|l| l.iter().any(|l| l.ends_with("closed: protocol error (400)")));
        // Connection: close.
        let mut c = s.connect();
        let r = c.get_with("/a.txt", "Connection: close\r\n");
        assert_eq!(r.status, 200);
        c.expect_closed();
        s.wait_stderr(|l| l.iter().any(|l| l.ends_with("closed: last response sent")));
        // Idle past the keep-alive timeout.
        let mut c = s.connect();
        assert_eq!(c.get("/a.txt").status, 200);
        c.expect_closed();
        s.wait_stderr(|l| l.iter().any(|l| l.ends_with("closed: idle timeout")));
    }
}

each_mode! {
    fn a_slow_but_steady_reader_gets_the_whole_file_past_the_send_timeout(mode) {
        // Loopback socket buffers hold megabytes, and the socket reports
        // writable again only after a third of the send buffer drains: at
        // 150 KB/s that is several seconds without a single write, far
        // past the 3 s send timeout. The client is reading all the while
        // (the kernel's queue for it shrinks each time it opens its
        // window), so it must get every byte.
        let site = site();
        let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        site.write("big.bin", &big);
        let s = Server::start(mode, &site.path, &["--send-timeout", "3"]);
        let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 15 * 1024];
        // 8 s at 15 KB every 100 ms.
        for _ in 0..80 {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "closed early after {} bytes", got.len());
            got.extend_from_slice(&chunk[..n]);
            std::thread::sleep(Duration::from_millis(100));
        }
        stream.read_to_end(&mut got).unwrap();
        let end = find(&got, b"\r\n\r\n").unwrap() + 4;
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(got.len() - end, big.len(), "the whole body");
        assert!(got[end..] == big[..]);
    }
}
