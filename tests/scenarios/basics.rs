//! Serving files: headers, bodies, HEAD, index files, redirects,
//! content types, conditionals.

use crate::each_mode;
use crate::support::*;

fn assert_imf_fixdate(v: &str) {
    assert_eq!(v.len(), 29, "{v:?}");
    assert!(v.ends_with(" GMT"), "{v:?}");
    httpdate::parse_http_date(v).unwrap_or_else(|_| panic!("not an HTTP date: {v:?}"));
}

each_mode! {
    fn get_a_file_has_every_header(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let r = s.connect().get("/a.txt");
        assert_eq!(r.version, "HTTP/1.1");
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.body, b"hello, skiff\n");
        assert_eq!(r.header("content-length"), Some("13"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("server"), Some(concat!("skiff/", env!("CARGO_PKG_VERSION"))));
        assert_imf_fixdate(r.header("date").unwrap());
        let lm = r.header("last-modified").unwrap();
        assert_imf_fixdate(lm);
        let mtime = std::fs::metadata(site.path.join("a.txt")).unwrap().modified().unwrap();
        let secs = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs(httpdate::parse_http_date(lm).unwrap()), secs(mtime));
        assert_eq!(r.header("keep-alive"), Some("timeout=10"));
        assert_eq!(r.header("connection"), None);
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

each_mode! {
    fn head_has_gets_headers_and_no_body_then_get_on_same_connection(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.send("HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let head = c.head_response();
        let get = c.get("/a.txt");
        assert_eq!(head.status, 200);
        let strip = |r: &Response| -> Vec<(String, String)> {
            r.headers.iter().filter(|(n, _)| n != "Date").cloned().collect()
        };
        assert_eq!(strip(&head), strip(&get));
        assert_eq!(head.content_length(), 13);
        assert_eq!(get.body, b"hello, skiff\n");
        // Had HEAD sent a body, it would have been read as this response.
        let again = c.get("/a.txt");
        assert_eq!(again.status, 200);
    }
}

each_mode! {
    fn root_and_directories_serve_index_html(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"<h1>home</h1>\n");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let r = c.get("/dir/");
        assert_eq!((r.status, r.text().as_str()), (200, "<p>dir index</p>\n"));
        let r = c.get("/empty/");
        assert_eq!(r.status, 404);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(r.text().contains("404 Not Found"));
    }
}

each_mode! {
    fn directory_without_slash_redirects_with_query_kept(mode) {
        let site = site();
        site.mkdir("my dir");
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let r = c.get("/dir?x=1&y=2");
        assert_eq!(r.status, 301);
        assert_eq!(r.header("location"), Some("/dir/?x=1&y=2"));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.body.len() as u64, r.content_length());
        // Built from the normalised path: never a protocol-relative "//host".
        let r = c.get("//dir");
        assert_eq!(r.header("location"), Some("/dir/"));
        let r = c.get("//evil.example/../dir");
        assert_eq!(r.header("location"), Some("/dir/"));
        let r = c.get("/my%20dir");
        assert_eq!(r.header("location"), Some("/my%20dir/"));
        // The redirect target works.
        assert_eq!(c.get("/my%20dir/").status, 404);
    }
}

each_mode! {
    fn content_types(mode) {
        let site = TempDir::new("types");
        let cases = [
            ("f.html", "text/html; charset=utf-8"),
            ("f.txt", "text/plain; charset=utf-8"),
            ("f.jpg", "image/jpeg"),
            ("f.jpeg", "image/jpeg"),
            ("f.gif", "image/gif"),
            ("f.png", "image/png"),
            ("f.mp4", "video/mp4"),
            ("f.pdf", "application/pdf"),
            ("f.css", "text/css; charset=utf-8"),
            ("f.js", "text/javascript; charset=utf-8"),
            ("f.svg", "image/svg+xml; charset=utf-8"),
            ("f.json", "application/json; charset=utf-8"),
            ("f.xml", "text/xml; charset=utf-8"),
            ("f.qqq", "application/octet-stream"),
            ("noext", "application/octet-stream"),
        ];
        for (name, _) in cases {
            site.write(name, b"x");
        }
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for (name, want) in cases {
            let r = c.get(&format!("/{name}"));
            assert_eq!(r.status, 200, "{name}");
            assert_eq!(r.header("content-type"), Some(want), "{name}");
        }
    }
}

each_mode! {
    fn if_modified_since(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let lm = c.get("/a.txt").header("last-modified").unwrap().to_string();

        c.send(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {lm}\r\n\r\n"));
        let r = c.response();
        assert_eq!(r.status, 304);
        assert_eq!(r.reason, "Not Modified");
        assert_eq!(r.header("last-modified"), Some(lm.as_str()));
        assert!(r.header("date").is_some());

        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello, skiff\n"[..]));

        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: not a date\r\n\r\n");
        assert_eq!(c.response().status, 200);

        // 304 has no body: the next response on the connection is intact.
        c.send(format!("HEAD /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {lm}\r\n\r\n"));
        assert_eq!(c.head_response().status, 304);
        assert_eq!(c.get("/a.txt").body, b"hello, skiff\n");
    }
}

each_mode! {
    fn a_touched_file_is_modified_again(mode) {
        let site = site();
        // Without the file cache, so the change is seen at once.
        let s = Server::start(mode, &site.path, &["--no-file-cache"]);
        let mut c = s.connect();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        assert_eq!(c.response().status, 200);
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        let f = std::fs::File::options().write(true).open(site.path.join("a.txt")).unwrap();
        f.set_modified(old).unwrap();
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        assert_eq!(c.response().status, 304);
    }
}

each_mode! {
    fn query_string_plays_no_part_in_finding_the_file(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        assert_eq!(c.get("/a.txt?x=/../../etc/passwd").body, b"hello, skiff\n");
        assert_eq!(c.get("/a.txt?").body, b"hello, skiff\n");
        assert_eq!(c.get("/?q").body, b"<h1>home</h1>\n");
    }
}

each_mode! {
    fn absolute_form_target(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        assert_eq!(c.get("http://example.com/a.txt").body, b"hello, skiff\n");
    }
}

each_mode! {
    fn large_file_arrives_intact_and_a_slow_reader_stalls_no_one(mode) {
        let site = site();
        let big: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        site.write("big.bin", &big);
        let s = Server::start(mode, &site.path, &[]);
        // A client that asks for the big file and does not read.
        let mut slow = s.connect();
        slow.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        std::thread::sleep(std::time::Duration::from_millis(300));
        // Others are served meanwhile.
        for _ in 0..5 {
            assert_eq!(s.connect().get("/a.txt").status, 200);
        }
        let r = slow.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.content_length(), big.len() as u64);
        assert!(r.body == big, "body differs");
        // And the connection is still good.
        assert_eq!(slow.get("/a.txt").status, 200);
    }
}

each_mode! {
    fn files_of_many_sizes(mode) {
        let site = TempDir::new("sizes");
        let sizes = [0usize, 1, 4095, 4096, 65535, 65536, 65537, 200_000, 1_000_003];
        for n in sizes {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            site.write(&format!("f{n}"), data);
        }
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        for n in sizes {
            let r = c.get(&format!("/f{n}"));
            let want: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            assert_eq!(r.content_length(), n as u64);
            assert!(r.body == want, "size {n}");
        }
    }
}

each_mode! {
    fn the_file_cache_notices_a_change_within_about_a_second(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        let first = c.get("/a.txt");
        assert_eq!(first.body, b"hello, skiff\n");
        site.write("a.txt", "changed, and longer\n");
        // Revalidation happens at most once a second; give it a little more.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = c.get("/a.txt");
        assert_eq!(second.body, b"changed, and longer\n");
        assert_ne!(second.header("etag"), first.header("etag"));
        std::fs::remove_file(site.path.join("a.txt")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(c.get("/a.txt").status, 404);
    }
}

each_mode! {
    fn the_date_is_current_after_an_idle_wait(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let mut c = s.connect();
        c.get("/a.txt");
        std::thread::sleep(std::time::Duration::from_millis(2200));
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let r = c.get("/a.txt");
        let date = httpdate::parse_http_date(r.header("date").unwrap()).unwrap();
        let date = date.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(date >= before, "Date {date} is older than the request ({before})");
    }
}

each_mode! {
    fn max_age_and_extra_headers(mode) {
        let site = site();
        let s = Server::start(
            mode,
            &site.path,
            &[
                "--max-age",
                "3600",
                "--header",
                "Access-Control-Allow-Origin: *",
                "--header",
                "X-Frame-Options:   DENY  ",
            ],
        );
        let mut c = s.connect();
        let r = c.get("/a.txt");
        assert_eq!(r.header("cache-control"), Some("max-age=3600"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let lm = r.header("last-modified").unwrap().to_string();
        c.send(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {lm}\r\n\r\n"));
        let r = c.response();
        assert_eq!((r.status, r.header("cache-control")), (304, Some("max-age=3600")));
        // Errors: the extra headers, but nothing that would cache them.
        let r = c.get("/nope");
        assert_eq!(r.status, 404);
        assert_eq!(r.header("cache-control"), None);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header_count("x-frame-options"), 1);
    }
}

#[test]
fn bad_header_flags_are_one_line_errors() {
    let site = site();
    for spec in [
        "no colon",
        "Bad Name: x",
        ": empty",
        "Content-Length: 5",
        "connection: close",
    ] {
        let out = std::process::Command::new(bin())
            .args(["--root", site.path.to_str().unwrap(), "--header", spec])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{spec}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{spec}: {err}");
        assert!(err.starts_with("skiff: --header"), "{spec}: {err}");
    }
}
