//! Precompressed variants (`--precompressed`): `FILE.br` and `FILE.gz`
//! chosen by `Accept-Encoding`.

use std::process::Command;

use crate::each_mode;
use crate::support::*;

const ORIGINAL: &str = "console.log('hello from skiff');\n";

/// `app.js` with stand-in `.br` and `.gz` bytes (the server never decodes
/// them), `both.css` with a real gzip only, and a `.gz` with no original.
fn compressed_site() -> TempDir {
    let d = site();
    d.write("app.js", ORIGINAL);
    d.write("app.js.br", "BROTLI-BYTES-0123456789");
    d.write("app.js.gz", "GZIP-BYTES-01234");
    d.write("orphan.txt.gz", "no original");
    d.write("dir/index.html.gz", "GZ-INDEX");
    d
}

fn ae(v: &str) -> String {
    format!("Accept-Encoding: {v}\r\n")
}

each_mode! {
    fn variants_are_chosen_by_accept_encoding(mode) {
        let d = compressed_site();
        let s = Server::start(mode, &d.path, &["--precompressed", "--max-age", "60"]);
        let plain = s.get_with("/app.js", "");
        assert_eq!(plain.text(), ORIGINAL);
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(plain.header("vary"), Some("Accept-Encoding"));

        for (accept, want) in [
            ("gzip", Some("gzip")),
            ("x-gzip", Some("gzip")),
            ("gzip, deflate, br, zstd", Some("br")),
            ("br;q=0.5, gzip", Some("gzip")),
            ("*", Some("br")),
            ("*;q=0.5, br;q=0", Some("gzip")),
            ("identity", None),
            ("br;q=0, gzip;q=0", None),
            ("", None),
            ("deflate", None),
        ] {
            let r = s.get_with("/app.js", &ae(accept));
            assert_eq!(r.status, 200, "{accept}");
            assert_eq!(r.header("content-encoding"), want, "{accept}");
            assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{accept}");
            // The original's type, the variant's bytes and length.
            assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"));
            assert_eq!(r.header("cache-control"), Some("max-age=60"));
            let body = match want {
                Some("br") => "BROTLI-BYTES-0123456789",
                Some("gzip") => "GZIP-BYTES-01234",
                _ => ORIGINAL,
            };
            assert_eq!(r.text(), body, "{accept}");
            assert_eq!(r.content_length(), body.len() as u64);
        }

        // Each variant has its own validator, and it works as one.
        let gz = s.get_with("/app.js", &ae("gzip"));
        let br = s.get_with("/app.js", &ae("br"));
        let tags = [plain.header("etag"), gz.header("etag"), br.header("etag")];
        assert!(tags.iter().all(Option::is_some));
        assert_ne!(tags[0], tags[1]);
        assert_ne!(tags[1], tags[2]);
        assert_ne!(tags[0], tags[2]);
        let tag = gz.header("etag").unwrap();
        let r = s.get_with("/app.js", &format!("{}If-None-Match: {tag}\r\n", ae("gzip")));
        assert_eq!(r.status, 304);
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        // The gzip tag does not match the identity or br representation.
        let r = s.get_with("/app.js", &format!("If-None-Match: {tag}\r\n"));
        assert_eq!((r.status, r.text().as_str()), (200, ORIGINAL));

        // HEAD: the same head.
        let mut c = s.connect();
        c.send("HEAD /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n\r\n");
        let h = c.head_response();
        assert_eq!(h.header("content-encoding"), Some("br"));
        assert_eq!(h.content_length(), 23);

        // An index's variant is found too; a variant without its original
        // is not served in its place.
        let r = s.get_with("/dir/", &ae("gzip"));
        assert_eq!((r.text().as_str(), r.header("content-encoding")), ("GZ-INDEX", Some("gzip")));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(s.get_with("/orphan.txt", &ae("gzip")).status, 404);
        // The variant itself is an ordinary file when asked for by name.
        let r = s.get_with("/app.js.gz", &ae("gzip"));
        assert_eq!(r.text(), "GZIP-BYTES-01234");
        assert_eq!(r.header("content-encoding"), None);
        // A file without variants does not vary.
        let r = s.get_with("/a.txt", &ae("gzip, br"));
        assert_eq!((r.header("vary"), r.header("content-encoding")), (None, None));
    }
}

each_mode! {
    fn ranges_count_encoded_bytes(mode) {
        let d = compressed_site();
        let s = Server::start(mode, &d.path, &["--precompressed"]);
        let r = s.get_with("/app.js", &format!("{}Range: bytes=7-12\r\n", ae("br")));
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-encoding"), Some("br"));
        assert_eq!(r.header("content-range"), Some("bytes 7-12/23"));
        assert_eq!(r.text(), "BYTES-");
        // If-Range with the variant's tag holds; with another's it does not.
        let tag = s.get_with("/app.js", &ae("br")).header("etag").unwrap().to_string();
        let r = s.get_with("/app.js", &format!("{}Range: bytes=0-5\r\nIf-Range: {tag}\r\n", ae("br")));
        assert_eq!((r.status, r.text().as_str()), (206, "BROTLI"));
        let r = s.get_with("/app.js", &format!("{}Range: bytes=0-5\r\nIf-Range: {tag}\r\n", ae("gzip")));
        assert_eq!((r.status, r.text().as_str()), (200, "GZIP-BYTES-01234"));
        // Past the encoded length: 416, with the encoded length, no encoding
        // on the error page.
        let r = s.get_with("/app.js", &format!("{}Range: bytes=100-\r\n", ae("gzip")));
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), Some("bytes */16"));
        assert_eq!(r.header("content-encoding"), None);
    }
}

each_mode! {
    fn off_by_default(mode) {
        let d = compressed_site();
        let s = Server::start(mode, &d.path, &[]);
        let r = s.get_with("/app.js", &ae("gzip, br"));
        assert_eq!(r.text(), ORIGINAL);
        assert_eq!((r.header("vary"), r.header("content-encoding")), (None, None));
    }
}

/// A real gzip file decoded by a real client: curl asks for gzip and
/// decodes what it gets, and must end up with the original.
#[test]
fn curl_decodes_a_real_gzip_variant() {
    if !have("curl") || !have("gzip") {
        panic!("curl and gzip are needed (.ci/run installs them)");
    }
    let d = site();
    let text = "skiff ".repeat(5000);
    d.write("big.txt", &text);
    let ok = Command::new("gzip")
        .args(["-k", "-9"])
        .arg(d.path.join("big.txt"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let gz_len = std::fs::metadata(d.path.join("big.txt.gz")).unwrap().len();
    assert!(gz_len < 1000, "{gz_len}");
    let s = Server::start(Mode::Evented, &d.path, &["--precompressed"]);
    let out = Command::new("curl")
        .args(["-s", "--compressed", "-D", "-", &s.url("/big.txt")])
        .output()
        .unwrap();
    let all = String::from_utf8(out.stdout).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {gz_len}")),
        "{head}"
    );
    assert_eq!(body, text);
}
