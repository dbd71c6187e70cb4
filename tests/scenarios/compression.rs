//! Compression done once (on by default): br, zstd and gzip made off the
//! loop per file version, served from memory, with their own ETags, ranges
//! over the encoded bytes, and never a stale variant.

use std::io::Read;

use crate::each_mode;
use crate::support::*;

/// Text that compresses, but not to nothing: `n` bytes.
fn text(n: usize) -> Vec<u8> {
    let words = [
        "skiff ", "serves ", "folders ", "quickly ", "and ", "small. ", "<p>", "</p>\n",
    ];
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 7u64;
    while out.len() < n {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(words[(i >> 60) as usize % words.len()].as_bytes());
    }
    out.truncate(n);
    out
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::stream::decode_all(body).unwrap(),
        other => panic!("unexpected coding {other}"),
    }
    out
}

/// GETs `path` with `Accept-Encoding: ae` (and `extra` lines) until the
/// response comes encoded as `coding` (bounded); returns it. The first
/// answer for a version not compressed yet is identity.
fn until_encoded(s: &Server, path: &str, ae: &str, coding: &str) -> Response {
    wait_for(|| {
        let r = s.get_with(path, &format!("Accept-Encoding: {ae}\r\n"));
        (r.header("content-encoding") == Some(coding)).then_some(r)
    })
    .unwrap_or_else(|| panic!("{path} never came as {coding}"))
}

each_mode! {
    fn every_encoding_decodes_to_the_file_and_the_first_answer_is_identity(mode) {
        let site = site();
        let page = text(40_000);
        site.write("page.html", &page);
        let s = Server::start(mode, &site.path, &[]);
        // The very first request finds nothing made: identity, at once.
        let first = s.get_with("/page.html", "Accept-Encoding: br\r\n");
        assert_eq!(first.status, 200);
        assert_eq!(first.header("content-encoding"), None);
        assert_eq!(first.header("vary"), Some("Accept-Encoding"));
        assert!(first.body == page);
        for coding in ["br", "zstd", "gzip"] {
            let r = until_encoded(&s, "/page.html", coding, coding);
            assert_eq!(r.header("vary"), Some("Accept-Encoding"));
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert_eq!(r.content_length() as usize, r.body.len());
            assert!(r.body.len() < page.len() / 2, "{coding}: {} bytes", r.body.len());
            assert!(decode(coding, &r.body) == page, "{coding} decodes to the file");
            let etag = r.header("etag").unwrap();
            assert!(etag.ends_with(&format!("-{coding}\"")), "{etag}");
        }
        // curl, a real client, decodes gzip the same way.
        if have("curl") {
            let out = std::process::Command::new("curl")
                .args(["-s", "--compressed", "-H", "Accept-Encoding: gzip"])
                .arg(s.url("/page.html"))
                .output()
                .unwrap();
            assert!(out.stdout == page);
        }
    }
}

each_mode! {
    fn weights_ties_and_refusals(mode) {
        let site = site();
        let page = text(20_000);
        site.write("a.css", &page);
        let s = Server::start(mode, &site.path, &[]);
        for coding in ["br", "zstd", "gzip"] {
            until_encoded(&s, "/a.css", coding, coding);
        }
        let coding = |ae: &str| {
            let r = s.get_with("/a.css", &format!("Accept-Encoding: {ae}\r\n"));
            assert_eq!(r.status, 200);
            r.header("content-encoding").map(str::to_string)
        };
        // A tie goes br, then zstd, then gzip.
        assert_eq!(coding("gzip, deflate, br, zstd").as_deref(), Some("br"));
        assert_eq!(coding("gzip, zstd").as_deref(), Some("zstd"));
        assert_eq!(coding("*").as_deref(), Some("br"));
        // Weights decide before the tie order.
        assert_eq!(coding("br;q=0.5, gzip;q=0.9, zstd;q=0.7").as_deref(), Some("gzip"));
        assert_eq!(coding("x-gzip").as_deref(), Some("gzip"));
        // q=0 refuses; nothing acceptable (even identity;q=0) is identity.
        assert_eq!(coding("br;q=0, gzip;q=0, zstd;q=0"), None);
        assert_eq!(coding("*;q=0"), None);
        assert_eq!(coding("identity;q=0"), None);
        assert_eq!(coding("deflate"), None);
        assert_eq!(coding("identity"), None);
        // No header at all: identity.
        let r = s.connect().get("/a.css");
        assert_eq!(r.header("content-encoding"), None);
        assert!(r.body == page);
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    }
}

each_mode! {
    fn incompressible_types_and_small_files_stay_identity(mode) {
        let site = site();
        let big = text(50_000);
        for name in ["a.png", "a.woff2", "a.pdf", "a.mp4", "a.zip", "a.gz"] {
            site.write(name, &big);
        }
        site.write("small.txt", text(1000));
        let s = Server::start(mode, &site.path, &[]);
        for path in ["/a.png", "/a.woff2", "/a.pdf", "/a.mp4", "/a.zip", "/a.gz", "/small.txt"] {
            for _ in 0..3 {
                let r = s.get_with(path, "Accept-Encoding: gzip, br, zstd\r\n");
                assert_eq!(r.status, 200, "{path}");
                assert_eq!(r.header("content-encoding"), None, "{path}");
                assert_eq!(r.header("vary"), None, "{path}: nothing varies");
            }
        }
    }
}

each_mode! {
    fn each_variant_has_its_own_validator(mode) {
        let site = site();
        let page = text(30_000);
        site.write("v.js", &page);
        let s = Server::start(mode, &site.path, &[]);
        let identity = s.connect().get("/v.js");
        let id_tag = identity.header("etag").unwrap().to_string();
        let br = until_encoded(&s, "/v.js", "br", "br");
        let br_tag = br.header("etag").unwrap().to_string();
        let gz = until_encoded(&s, "/v.js", "gzip", "gzip");
        let gz_tag = gz.header("etag").unwrap().to_string();
        assert!(id_tag != br_tag && br_tag != gz_tag && id_tag != gz_tag);
        let get = |ae: &str, inm: &str| {
            s.get_with("/v.js", &format!("Accept-Encoding: {ae}\r\nIf-None-Match: {inm}\r\n"))
        };
        // Each validates its own representation: 304 with that encoding.
        let r = get("br", &br_tag);
        assert_eq!((r.status, r.header("content-encoding")), (304, Some("br")));
        assert_eq!(r.header("etag"), Some(br_tag.as_str()));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert!(r.body.is_empty());
        let r = get("gzip", &gz_tag);
        assert_eq!((r.status, r.header("content-encoding")), (304, Some("gzip")));
        // An identity tag never validates a compressed body, nor the reverse.
        let r = get("br", &id_tag);
        assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")));
        assert!(decode("br", &r.body) == page);
        let r = get("identity", &br_tag);
        assert_eq!((r.status, r.header("content-encoding")), (200, None));
        assert!(r.body == page);
        let r = get("gzip", &br_tag);
        assert_eq!((r.status, r.header("content-encoding")), (200, Some("gzip")));
        // A list holding the right one validates.
        let r = get("gzip", &format!("{id_tag}, {gz_tag}"));
        assert_eq!(r.status, 304);
    }
}

each_mode! {
    fn ranges_and_head_apply_to_the_encoded_bytes(mode) {
        let site = site();
        let page = text(30_000);
        site.write("r.txt", &page);
        let s = Server::start(mode, &site.path, &["--access-log", "-"]);
        let whole = until_encoded(&s, "/r.txt", "br", "br");
        let n = whole.body.len();
        let r = s.get_with("/r.txt", "Accept-Encoding: br\r\nRange: bytes=0-9\r\n");
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-encoding"), Some("br"));
        assert_eq!(r.header("content-range"), Some(format!("bytes 0-9/{n}").as_str()));
        assert_eq!(r.body, whole.body[..10]);
        let tag = whole.header("etag").unwrap();
        let r = s.get_with("/r.txt", &format!("Accept-Encoding: br\r\nRange: bytes=-5\r\nIf-Range: {tag}\r\n"));
        assert_eq!((r.status, &r.body[..]), (206, &whole.body[n - 5..]));
        // If-Range with the identity tag: the whole encoded body.
        let id_tag = s.connect().get("/r.txt").header("etag").unwrap().to_string();
        let r = s.get_with("/r.txt", &format!("Accept-Encoding: br\r\nRange: bytes=0-9\r\nIf-Range: {id_tag}\r\n"));
        assert_eq!((r.status, r.body.len()), (200, n));
        let r = s.get_with("/r.txt", &format!("Accept-Encoding: br\r\nRange: bytes={n}-\r\n"));
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), Some(format!("bytes */{n}").as_str()));
        // HEAD: GET's headers, no body.
        let mut c = s.connect();
        c.send("HEAD /r.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n\r\n");
        let h = c.head_response();
        assert_eq!(h.header("content-encoding"), Some("br"));
        assert_eq!(h.content_length() as usize, n);
        assert_eq!(h.header("etag"), Some(tag));
        // The access log records the encoded bytes sent.
        s.wait_stdout(|lines| lines.iter().any(|l| l.ends_with(&format!("\"GET /r.txt HTTP/1.1\" 200 {n}"))));
        s.wait_stdout(|lines| lines.iter().any(|l| l.ends_with("\"GET /r.txt HTTP/1.1\" 206 10")));
    }
}

each_mode! {
    fn a_changed_file_is_never_served_from_a_stale_variant(mode) {
        let site = site();
        let old = text(20_000);
        site.write("c.html", &old);
        // Every request looks at the file system, so a change is seen at once.
        let s = Server::start(mode, &site.path, &["--no-file-cache"]);
        until_encoded(&s, "/c.html", "br", "br");
        let mut new = text(25_000);
        new.reverse();
        site.write("c.html", &new);
        // From the first request after the change, only the new content,
        // identity until its own variant is made, then that.
        let r = wait_for(|| {
            let r = s.get_with("/c.html", "Accept-Encoding: br\r\n");
            let body = match r.header("content-encoding") {
                Some(c) => decode(c, &r.body),
                None => r.body.clone(),
            };
            assert!(body == new, "a stale variant after the change");
            r.header("content-encoding").is_some().then_some(r)
        })
        .expect("the new version gets its variant");
        assert!(decode("br", &r.body) == new);
    }
}

each_mode! {
    fn no_compress_turns_it_off(mode) {
        let site = site();
        site.write("p.html", text(20_000));
        let s = Server::start(mode, &site.path, &["--no-compress"]);
        for _ in 0..5 {
            let r = s.get_with("/p.html", "Accept-Encoding: br, gzip, zstd\r\n");
            assert_eq!(r.header("content-encoding"), None);
            assert_eq!(r.header("vary"), None);
        }
    }
}

each_mode! {
    fn an_on_disk_variant_wins(mode) {
        let site = site();
        let page = text(20_000);
        site.write("d.js", &page);
        // A deliberately different (but valid) gzip on disk.
        let mut disk = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut disk, &page).unwrap();
        let disk = disk.finish().unwrap();
        site.write("d.js.gz", &disk);
        let s = Server::start(mode, &site.path, &["--precompressed"]);
        for _ in 0..3 {
            let r = s.get_with("/d.js", "Accept-Encoding: gzip\r\n");
            assert_eq!(r.header("content-encoding"), Some("gzip"));
            assert!(r.body == disk, "the file on disk, not one made here");
        }
        // An encoding the disk lacks is still made on the fly.
        let r = until_encoded(&s, "/d.js", "zstd", "zstd");
        assert!(decode("zstd", &r.body) == page);
    }
}

each_mode! {
    fn the_cache_bound_holds_with_many_files(mode) {
        // Text that barely compresses (base64 of noise), 300 KB a file,
        // so a 1 MiB cache holds three or four encodings at most.
        let site = site();
        let mut seed = 1u64;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for i in 0..8 {
            let body: Vec<u8> = (0..300_000)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    alphabet[(seed >> 58) as usize]
                })
                .collect();
            site.write(&format!("f{i}.txt"), body);
        }
        let s = Server::start(mode, &site.path, &["--compress-cache", "1"]);
        for i in 0..8 {
            until_encoded(&s, &format!("/f{i}.txt"), "gzip", "gzip");
        }
        // The first ones were evicted to make room: identity again (and
        // asked for anew).
        let r = s.get_with("/f0.txt", "Accept-Encoding: gzip\r\n");
        assert_eq!(r.header("content-encoding"), None, "f0 was evicted");
        // The last one is still there.
        let r = s.get_with("/f7.txt", "Accept-Encoding: gzip\r\n");
        assert_eq!(r.header("content-encoding"), Some("gzip"));
    }
}
