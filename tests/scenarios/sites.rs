//! Serving built web apps: index names, the single-page-app fallback, and
//! Cache-Control rules by path.

use crate::each_mode;
use crate::support::*;

/// What a browser sends when it navigates to a page.
const NAVIGATE: &str =
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n";

fn app() -> TempDir {
    let d = TempDir::new("app");
    d.write("index.html", "<div id=app></div>\n");
    d.write("assets/app.js", "console.log('app')\n");
    d.write("assets/logo.png", "PNG");
    d.write("docs/index.htm", "<p>docs htm</p>\n");
    d.write("docs/default.html", "<p>docs default</p>\n");
    d.write("mixed/default.html", "<p>mixed default</p>\n");
    d.write(".env", "SECRET=1\n");
    d
}

each_mode! {
    fn index_names_are_tried_in_order(mode) {
        let site = app();
        let s = Server::start(mode, &site.path, &["--index", "index.htm, default.html,index.html"]);
        let mut c = s.connect();
        assert_eq!(c.get("/docs/").body, b"<p>docs htm</p>\n");
        assert_eq!(c.get("/mixed/").body, b"<p>mixed default</p>\n");
        let r = c.get("/");
        assert_eq!((r.status, &r.body[..]), (200, &b"<div id=app></div>\n"[..]));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        // The default is index.html alone.
        let s = Server::start(mode, &site.path, &[]);
        assert_eq!(s.connect().get("/docs/").status, 404);
        // With --list-dirs, a folder with none of the names is listed.
        let s = Server::start(mode, &site.path, &["--index", "nothing.html", "--list-dirs"]);
        let r = s.connect().get("/docs/");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("default.html") && r.text().contains("index.htm"), "{}", r.text());
    }
}

each_mode! {
    fn the_fallback_serves_html_navigations_and_never_assets(mode) {
        let site = app();
        let s = Server::start(mode, &site.path, &["--fallback", "index.html"]);
        let mut c = s.connect();
        // A browser navigating to a client-side route gets the app.
        let r = c.get_with("/settings/profile", NAVIGATE);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"<div id=app></div>\n");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(r.header("vary").unwrap().contains("Accept"));
        let tag = r.header("etag").unwrap().to_string();
        // Conditional requests apply to the fallback file.
        let r = c.get_with("/settings/profile", &format!("{NAVIGATE}If-None-Match: {tag}\r\n"));
        assert_eq!(r.status, 304);
        // HEAD gets GET's headers.
        c.send(format!("HEAD /settings HTTP/1.1\r\nHost: t\r\n{NAVIGATE}\r\n"));
        let h = c.head_response();
        assert_eq!((h.status, h.content_length()), (200, 19));
        // A missing asset fetched by a script or an image is still 404.
        for (path, accept) in [
            ("/assets/missing.js", "*/*"),
            ("/assets/missing.png", "image/avif,image/webp,*/*;q=0.8"),
            ("/api/data", "application/json"),
        ] {
            let r = c.get_with(path, &format!("Accept: {accept}\r\n"));
            assert_eq!(r.status, 404, "{path}");
            assert!(r.header("vary").unwrap().contains("Accept"));
        }
        assert_eq!(c.get("/no/accept/header").status, 404);
        // Files that exist are served as themselves.
        assert_eq!(c.get_with("/assets/app.js", NAVIGATE).body, b"console.log('app')\n");
        // Hidden paths keep their 404, even for a browser.
        for path in ["/.env", "/.git/config", "/assets/.hidden"] {
            assert_eq!(c.get_with(path, NAVIGATE).status, 404, "{path}");
        }
        // Other methods are not served the fallback.
        c.send(format!("POST /route HTTP/1.1\r\nHost: t\r\n{NAVIGATE}\r\n"));
        assert_eq!(c.response().status, 405);
    }
}

each_mode! {
    fn a_forbidden_path_keeps_its_403_under_the_fallback(mode) {
        // A symlink out of the root is 403 for anyone (root included).
        let outside = TempDir::new("outside");
        outside.write("secret.txt", "SECRET");
        let site = app();
        std::os::unix::fs::symlink(outside.path.join("secret.txt"), site.path.join("link.txt")).unwrap();
        let s = Server::start(mode, &site.path, &["--fallback", "/index.html"]);
        let r = s.connect().get_with("/link.txt", NAVIGATE);
        assert_eq!(r.status, 403);
    }
}

#[test]
fn a_fallback_outside_the_root_or_missing_is_refused_at_start() {
    let site = app();
    let root = site.path.to_str().unwrap();
    for (file, why) in [
        ("nope.html", "No such file"),
        ("../../etc/passwd", "not under the root"),
        ("assets", "not a regular file"),
    ] {
        let out = std::process::Command::new(bin())
            .args(["--root", root, "--fallback", file])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("--fallback") && err.contains(why),
            "{file}: {err}"
        );
    }
}

each_mode! {
    fn cache_control_rules_match_paths_in_order(mode) {
        let site = app();
        site.write("assets/deep/x.css", "x");
        let s = Server::start(
            mode,
            &site.path,
            &[
                "--cache-control", "/assets/*.js=public, max-age=60",
                "--cache-control", "/assets/**=public, max-age=31536000, immutable",
                "--cache-control", "/*.html=no-cache",
                "--max-age", "5",
            ],
        );
        let mut c = s.connect();
        let cc = |c: &mut Client, path: &str| c.get(path).header("cache-control").map(str::to_string);
        assert_eq!(cc(&mut c, "/assets/app.js").as_deref(), Some("public, max-age=60"));
        assert_eq!(cc(&mut c, "/assets/logo.png").as_deref(), Some("public, max-age=31536000, immutable"));
        assert_eq!(cc(&mut c, "/assets/deep/x.css").as_deref(), Some("public, max-age=31536000, immutable"));
        assert_eq!(cc(&mut c, "/index.html").as_deref(), Some("no-cache"));
        // `*` stays within a segment; unmatched files get --max-age.
        assert_eq!(cc(&mut c, "/docs/index.htm").as_deref(), Some("max-age=5"));
        // Matched on the URL path as decoded, query ignored.
        assert_eq!(cc(&mut c, "/assets/%61pp.js?v=3").as_deref(), Some("public, max-age=60"));
        // Errors carry none.
        assert_eq!(cc(&mut c, "/assets/missing.js"), None);
        // One header, never two.
        assert_eq!(c.get("/assets/app.js").header_count("cache-control"), 1);
    }
}

#[test]
fn bad_cache_control_rules_are_one_line_errors() {
    let site = app();
    let root = site.path.to_str().unwrap();
    for spec in ["/assets/**", "/a[=x", "/a=", "/a=x\u{1}y"] {
        let out = std::process::Command::new(bin())
            .args(["--root", root, "--cache-control", spec])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{spec}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--cache-control"), "{spec}: {err}");
    }
}
