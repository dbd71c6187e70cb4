//! Cross-origin resource sharing (`--cors`): simple requests, preflights,
//! allowed and refused origins, methods and headers, and a real browser
//! fetching across ports.

use crate::each_mode;
use crate::support::*;

const APP: &str = "http://app.example:3000";

fn get_from(s: &Server, path: &str, origin: &str) -> Response {
    s.get_with(path, &format!("Origin: {origin}\r\n"))
}

each_mode! {
    fn listed_origins_get_their_origin_back_and_others_nothing(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--cors", &format!("{APP}, https://other.example")]);
        let r = get_from(&s, "/a.txt", APP);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        assert_eq!(r.header("vary"), Some("Origin"));
        assert_eq!(r.header("access-control-expose-headers"), None);
        // Origins compare without regard to case.
        let r = get_from(&s, "/a.txt", "HTTP://APP.EXAMPLE:3000");
        assert_eq!(r.header("access-control-allow-origin"), Some("HTTP://APP.EXAMPLE:3000"));
        // Errors carry it too, so the page can see the status.
        assert_eq!(get_from(&s, "/missing", APP).header("access-control-allow-origin"), Some(APP));
        // Another origin, a different port, no Origin: no CORS headers,
        // and the answer still varies by Origin.
        for origin in ["https://evil.example", "http://app.example:3001", "null"] {
            let r = get_from(&s, "/a.txt", origin);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
            assert_eq!(r.header("vary"), Some("Origin"));
        }
        let r = s.get_with("/a.txt", "");
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), Some("Origin"));
    }
}

each_mode! {
    fn any_origin_with_a_star_and_exposed_headers(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--cors", "*", "--cors-expose-headers", "ETag, Content-Range"]);
        let r = get_from(&s, "/a.txt", "https://anyone.example");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header("access-control-expose-headers"), Some("ETag, Content-Range"));
        assert_eq!(r.header("vary"), None, "the answer does not depend on Origin");
        // Without --cors there is nothing.
        let s = Server::start(mode, &site.path, &[]);
        let r = get_from(&s, "/a.txt", "https://anyone.example");
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
}

each_mode! {
    fn preflights_list_what_is_allowed_and_nothing_else(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &["--cors", APP]);
        let mut c = s.connect();
        c.send(format!(
            "OPTIONS /a.txt HTTP/1.1\r\nHost: t\r\nOrigin: {APP}\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range, x-custom, if-none-match\r\n\r\n"
        ));
        let r = c.response();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.header("access-control-allow-headers"), Some("range, if-none-match"));
        assert_eq!(r.header("access-control-max-age"), Some("7200"));
        assert_eq!(r.header("content-length"), None, "a 204 has no length");
        assert_eq!(r.header("content-type"), None);
        assert!(r.body.is_empty());
        // A method skiff does not have is not listed: the browser stops.
        c.send(format!(
            "OPTIONS /a.txt HTTP/1.1\r\nHost: t\r\nOrigin: {APP}\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: x-custom\r\n\r\n"
        ));
        let r = c.response();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.header("access-control-allow-headers"), None, "x-custom is not allowed");
        // The connection is still in step.
        assert_eq!(c.get("/a.txt").body, b"hello, skiff\n");
        // From an origin that is not allowed: a plain OPTIONS, no CORS.
        c.send("OPTIONS /a.txt HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("access-control-allow-methods"), None);
        // --cors-allow-headers replaces the default list.
        let s = Server::start(mode, &site.path, &["--cors", APP, "--cors-allow-headers", "X-Custom"]);
        let mut c = s.connect();
        c.send(format!(
            "OPTIONS /a.txt HTTP/1.1\r\nHost: t\r\nOrigin: {APP}\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range, x-custom\r\n\r\n"
        ));
        assert_eq!(c.response().header("access-control-allow-headers"), Some("x-custom"));
    }
}

#[test]
fn bad_cors_values_are_one_line_errors() {
    let site = site();
    let root = site.path.to_str().unwrap();
    for args in [
        vec!["--cors", "example.com"],
        vec!["--cors", "https://a.example/path"],
        vec!["--cors", "https://a.example,"],
        vec!["--cors", "*", "--cors-allow-headers", "bad header"],
        vec!["--cors", "*", "--cors-expose-headers", "a:b"],
    ] {
        let out = std::process::Command::new(bin())
            .args(["--root", root])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--cors"), "{args:?}: {err}");
    }
}
