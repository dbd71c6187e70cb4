//! Partial and cached responses: ETag, If-None-Match, If-Match,
//! If-Unmodified-Since, Range (one, several, unsatisfiable, malformed,
//! overflowing), If-Range, HEAD with Range, files that change mid-send.

use std::io::Read;

use crate::each_mode;
use crate::support::*;

fn digits(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"0123456789abcdefghijklmnopqrstuvwxyz"[i % 36])
        .collect()
}

fn ranged() -> TempDir {
    let d = TempDir::new("ranges");
    d.write("d.txt", digits(100));
    d.write("v.bin", digits(1_000_000));
    d.write("empty.txt", "");
    d
}

fn req(c: &mut Client, extra: &str) -> Response {
    c.send(format!("GET /d.txt HTTP/1.1\r\nHost: t\r\n{extra}\r\n"));
    c.response()
}

each_mode! {
    fn file_responses_carry_accept_ranges_and_an_etag_that_follows_the_file(mode) {
        let site = ranged();
        // Without the file cache, so every change is seen at once.
        let s = Server::start(mode, &site.path, &["--no-file-cache"]);
        let mut c = s.connect();
        let r = c.get("/d.txt");
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        let tag = r.header("etag").unwrap().to_string();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2, "strong tag: {tag}");
        assert_eq!(c.get("/d.txt").header("etag"), Some(tag.as_str()), "stable");
        // Same size, new content: a new tag.
        std::thread::sleep(std::time::Duration::from_millis(20));
        site.write("d.txt", digits(100).iter().rev().copied().collect::<Vec<u8>>());
        let t2 = c.get("/d.txt").header("etag").unwrap().to_string();
        assert_ne!(t2, tag);
        // New size: a new tag again.
        site.write("d.txt", digits(101));
        assert_ne!(c.get("/d.txt").header("etag").unwrap(), t2);
        // Different files differ.
        assert_ne!(c.get("/v.bin").header("etag"), c.get("/d.txt").header("etag"));
    }
}

each_mode! {
    fn if_none_match(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let full = c.get("/d.txt");
        let tag = full.header("etag").unwrap().to_string();
        let lm = full.header("last-modified").unwrap().to_string();
        for value in [tag.clone(), format!("\"nope\", {tag}"), format!("W/{tag}"), "*".into()] {
            let r = req(&mut c, &format!("If-None-Match: {value}\r\n"));
            assert_eq!(r.status, 304, "{value}");
            assert_eq!(r.header("etag"), Some(tag.as_str()));
            assert!(r.body.is_empty());
        }
        let r = req(&mut c, "If-None-Match: \"other\"\r\n");
        assert_eq!((r.status, r.body.len()), (200, 100));
        // With If-None-Match present, If-Modified-Since is ignored.
        let r = req(&mut c, &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {lm}\r\n"));
        assert_eq!(r.status, 200);
        // HEAD too.
        c.send(format!("HEAD /d.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: {tag}\r\n\r\n"));
        assert_eq!(c.head_response().status, 304);
        assert_eq!(c.get("/d.txt").body, digits(100));
    }
}

each_mode! {
    fn if_match_and_if_unmodified_since(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let tag = c.get("/d.txt").header("etag").unwrap().to_string();
        assert_eq!(req(&mut c, &format!("If-Match: {tag}\r\n")).status, 200);
        assert_eq!(req(&mut c, "If-Match: *\r\n").status, 200);
        let r = req(&mut c, "If-Match: \"stale\"\r\n");
        assert_eq!(r.status, 412);
        assert!(r.text().contains("412 Precondition Failed"));
        assert_eq!(req(&mut c, &format!("If-Match: W/{tag}\r\n")).status, 412, "strong comparison");
        assert_eq!(req(&mut c, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n").status, 412);
        assert_eq!(req(&mut c, "If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n").status, 200);
        assert_eq!(req(&mut c, "If-Unmodified-Since: bogus\r\n").status, 200);
    }
}

each_mode! {
    fn single_ranges(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let all = digits(100);
        for (spec, first, last) in [
            ("0-9", 0, 9),
            ("10-", 10, 99),
            ("-7", 93, 99),
            ("95-500", 95, 99),
            ("-500", 0, 99),
            ("42-42", 42, 42),
        ] {
            let r = req(&mut c, &format!("Range: bytes={spec}\r\n"));
            assert_eq!(r.status, 206, "{spec}");
            assert_eq!(r.reason, "Partial Content");
            assert_eq!(r.header("content-range"), Some(format!("bytes {first}-{last}/100").as_str()), "{spec}");
            assert_eq!(r.body, &all[first..=last], "{spec}");
            assert_eq!(r.content_length(), (last - first + 1) as u64);
            assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
            assert!(r.header("etag").is_some() && r.header("last-modified").is_some());
        }
    }
}

each_mode! {
    fn a_large_range_streams_exactly(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /v.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-899999\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 206);
        assert!(r.body == digits(1_000_000)[1000..900_000], "bytes differ");
        assert_eq!(c.get("/d.txt").status, 200, "connection still in step");
    }
}

each_mode! {
    fn unsatisfiable_ranges_are_416(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for spec in ["100-", "100-200", "-0", "500-600, 700-"] {
            let r = req(&mut c, &format!("Range: bytes={spec}\r\n"));
            assert_eq!(r.status, 416, "{spec}");
            assert_eq!(r.reason, "Range Not Satisfiable");
            assert_eq!(r.header("content-range"), Some("bytes */100"), "{spec}");
            assert_eq!(r.body.len() as u64, r.content_length());
        }
        c.send("GET /empty.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-0\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */0")));
        assert_eq!(c.get("/d.txt").status, 200, "connection kept");
    }
}

each_mode! {
    fn malformed_or_foreign_ranges_are_ignored(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for value in ["items=0-5", "bytes=5-1", "bytes=--1", "bytes=abc", "bytes=", "bytes 0-5", "bytes=0-5,3-9"] {
            let r = req(&mut c, &format!("Range: {value}\r\n"));
            assert_eq!(r.status, 200, "{value}");
            assert_eq!(r.body, digits(100), "{value}");
            assert_eq!(r.header("content-range"), None);
        }
        // More than 16 ranges: the whole file.
        let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 3, i * 3)).collect();
        let r = req(&mut c, &format!("Range: bytes={}\r\n", many.join(",")));
        assert_eq!((r.status, r.body.len()), (200, 100));
    }
}

each_mode! {
    fn overflowing_numbers_neither_panic_nor_wrap(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let r = req(&mut c, "Range: bytes=0-18446744073709551616\r\n");
        assert_eq!((r.status, r.header("content-range")), (206, Some("bytes 0-99/100")));
        assert_eq!(r.body, digits(100));
        let r = req(&mut c, "Range: bytes=18446744073709551615-18446744073709551616\r\n");
        assert_eq!(r.status, 416);
        let r = req(&mut c, "Range: bytes=-18446744073709551616\r\n");
        assert_eq!((r.status, r.body.len()), (206, 100));
        let r = req(&mut c, "Range: bytes=-0\r\n");
        assert_eq!(r.status, 416);
        let r = req(&mut c, "Range: bytes=--1\r\n");
        assert_eq!(r.status, 200);
        let r = req(&mut c, &format!("Range: bytes=0-{}\r\n", "9".repeat(4000)));
        assert_eq!(r.status, 206);
        assert_eq!(s.connect().get("/d.txt").status, 200, "server alive");
    }
}

/// One part of a multipart body: its header fields and its bytes.
type Part = (Vec<(String, String)>, Vec<u8>);

/// Splits a multipart/byteranges body into its parts.
fn multipart(r: &Response) -> Vec<Part> {
    let ct = r.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ct}"));
    let delim = format!("--{boundary}");
    let body = &r.body;
    let mut parts = Vec::new();
    let mut pos = find(body, delim.as_bytes()).expect("first delimiter");
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            assert_eq!(&body[pos..], b"--\r\n", "closing delimiter ends the body");
            break;
        }
        assert!(body[pos..].starts_with(b"\r\n"));
        pos += 2;
        let head_end = pos + find(&body[pos..], b"\r\n\r\n").unwrap();
        let headers: Vec<(String, String)> = std::str::from_utf8(&body[pos..head_end])
            .unwrap()
            .split("\r\n")
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let data_start = head_end + 4;
        let next =
            data_start + find(&body[data_start..], format!("\r\n{delim}").as_bytes()).unwrap();
        parts.push((headers, body[data_start..next].to_vec()));
        pos = next + 2;
    }
    parts
}

each_mode! {
    fn several_ranges_are_multipart_byteranges(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let r = req(&mut c, "Range: bytes=90-94, 0-2, -3\r\n");
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-range"), None);
        assert_eq!(r.body.len() as u64, r.content_length());
        let parts = multipart(&r);
        let all = digits(100);
        let want = [(90, 94), (0, 2), (97, 99)];
        assert_eq!(parts.len(), 3);
        for ((headers, data), (a, b)) in parts.iter().zip(want) {
            let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            assert_eq!(get("content-type"), Some("text/plain; charset=utf-8"));
            assert_eq!(get("content-range"), Some(format!("bytes {a}-{b}/100").as_str()));
            assert_eq!(data, &all[a..=b]);
        }
        // Large windows inside a multipart body, through the streaming path.
        c.send("GET /v.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-199999,500000-899999\r\n\r\n");
        let r = c.response();
        let parts = multipart(&r);
        let all = digits(1_000_000);
        assert!(parts[0].1 == all[..200_000] && parts[1].1 == all[500_000..900_000]);
        assert_eq!(c.get("/d.txt").status, 200, "connection still in step");
    }
}

each_mode! {
    fn if_range(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let full = c.get("/d.txt");
        let tag = full.header("etag").unwrap().to_string();
        let lm = full.header("last-modified").unwrap().to_string();
        let r = req(&mut c, &format!("Range: bytes=0-4\r\nIf-Range: {tag}\r\n"));
        assert_eq!((r.status, r.body.len()), (206, 5));
        let r = req(&mut c, "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n");
        assert_eq!((r.status, r.body.len()), (200, 100));
        let r = req(&mut c, &format!("Range: bytes=0-4\r\nIf-Range: W/{tag}\r\n"));
        assert_eq!(r.status, 200, "a weak tag never matches");
        let r = req(&mut c, &format!("Range: bytes=0-4\r\nIf-Range: {lm}\r\n"));
        assert_eq!((r.status, r.body.len()), (206, 5));
        let r = req(&mut c, "Range: bytes=0-4\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
        assert_eq!((r.status, r.body.len()), (200, 100));
    }
}

each_mode! {
    fn head_with_range_answers_like_get_without_a_body(mode) {
        let site = ranged();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for range in ["bytes=10-19", "bytes=0-1,5-6", "bytes=500-"] {
            c.send(format!("HEAD /d.txt HTTP/1.1\r\nHost: t\r\nRange: {range}\r\n\r\n"));
            let head = c.head_response();
            let get = req(&mut c, &format!("Range: {range}\r\n"));
            assert_eq!(head.status, get.status, "{range}");
            let strip = |r: &Response| -> Vec<(String, String)> {
                r.headers.iter().filter(|(n, _)| n != "Date").cloned().collect()
            };
            assert_eq!(strip(&head), strip(&get), "{range}");
        }
    }
}

each_mode! {
    fn curl_resumes_a_download(mode) {
        if !have("curl") {
            eprintln!("skipped: curl is not installed");
            return;
        }
        let site = ranged();
        let logs = TempDir::new("resume");
        let s = Server::start(mode, &site.path, &["--access-log", "-"]);
        let dest = logs.path.join("v.bin");
        let all = digits(1_000_000);
        std::fs::write(&dest, &all[..300_000]).unwrap();
        let out = std::process::Command::new("curl")
            .args(["-sS", "-C", "-", "-o"])
            .arg(&dest)
            .args(["-w", "%{http_code}", &s.url("/v.bin")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"206");
        assert!(std::fs::read(&dest).unwrap() == all, "resumed file differs");
        let lines = s.wait_stdout(|l| !l.is_empty());
        assert!(lines[0].ends_with("\"GET /v.bin HTTP/1.1\" 206 700000"), "{lines:?}");
    }
}

each_mode! {
    fn a_file_that_shrinks_mid_send_ends_the_connection(mode) {
        let site = TempDir::new("shrink");
        let size = 64 * 1024 * 1024;
        site.write("big.bin", vec![b'x'; size]);
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        // Let the server fill the socket buffers, then cut the file short.
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::OpenOptions::new().write(true).open(site.path.join("big.bin")).unwrap().set_len(1000).unwrap();
        let got = c.read_to_close();
        let head_end = find(&got, b"\r\n\r\n").unwrap() + 4;
        let body = &got[head_end..];
        assert!(body.len() < size, "the promised length was not padded: {}", body.len());
        assert!(find(body, b"HTTP/1.1").is_none(), "no second response inside the body");
        match mode {
            Mode::Buffered => assert!(body.iter().all(|&b| b == b'x'), "only file bytes"),
            // sendfile hands page-cache pages to the kernel; pages still in
            // flight when the file is truncated can read as zeros. Nothing
            // else may appear: no padding of ours, no other response.
            _ => assert!(body.iter().all(|&b| b == b'x' || b == 0), "only file bytes"),
        }
    }
}

each_mode! {
    fn a_file_that_grows_mid_send_is_sent_for_its_announced_length(mode) {
        let site = TempDir::new("grow");
        let size = 8 * 1024 * 1024;
        site.write("big.bin", vec![b'a'; size]);
        // Without the file cache, so the follow-up request sees the growth.
        let s = Server::start(mode, &site.path, &["--no-file-cache"]);
        let mut c = s.connect();
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        std::thread::sleep(std::time::Duration::from_millis(200));
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(site.path.join("big.bin")).unwrap();
            f.write_all(&vec![b'b'; 1024 * 1024]).unwrap();
        }
        let r = c.response();
        assert_eq!(r.content_length(), size as u64);
        assert!(r.body.iter().all(|&b| b == b'a'));
        // The next response starts exactly where the body ended.
        let next = c.get("/big.bin");
        assert_eq!(next.content_length(), (size + 1024 * 1024) as u64);
        let mut rest = [0u8; 1];
        c.stream.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
        assert!(c.stream.read(&mut rest).is_err(), "no stray bytes");
    }
}
