//! Site rules: redirects, rewrites, clean URLs, trailing slashes, headers
//! per path, the base path and the health route, each as a client sees
//! it, in every mode.

use std::process::Command;

use crate::each_mode;
use crate::support::*;

fn site_tree() -> TempDir {
    let d = TempDir::new("rules");
    d.write("index.html", "home\n");
    d.write("about.html", "about page\n");
    d.write("docs/index.html", "docs index\n");
    d.write("docs/guide.html", "guide\n");
    d.write("assets/app.js", "app()\n");
    d.write("sw.js", "worker()\n");
    d.write("notes.txt", "notes\n");
    d.write("both.html", "both as a page\n");
    d.write("both/index.html", "both as a folder\n");
    d.write("list/a.txt", "a\n");
    d.write(".env", "SECRET=1\n");
    d.write("inner/page.txt", "inner page\n");
    d
}

fn get(s: &Server, path: &str) -> Response {
    s.connect().get(path)
}

fn moved(s: &Server, path: &str) -> (u16, String) {
    let r = get(s, path);
    (r.status, r.header("location").unwrap_or("").to_string())
}

each_mode! {
    fn redirects_capture_keep_queries_and_take_the_first_match(mode) {
        let site = site_tree();
        let s = Server::start(mode, &site.path, &[
            "--redirect", "/old/*/x=/new/$1",
            "--redirect", "/old/**=/archive/$1 301",
            "--redirect", "/search/*=/find?q=$1 302",
            "--redirect", "/see=/notes.txt 303",
            "--redirect", "/tmp=/notes.txt 307",
            "--redirect", "www.example.test/**=https://example.test/$1",
            "--redirect", "/ext=https://other.example/a?b=1",
        ]);
        // The first rule that matches wins; captures go in place, encoded.
        assert_eq!(moved(&s, "/old/a/x"), (308, "/new/a".into()));
        assert_eq!(moved(&s, "/old/a/b/c"), (301, "/archive/a/b/c".into()));
        assert_eq!(moved(&s, "/old/caf%C3%A9%20x/x"), (308, "/new/caf%C3%A9%20x".into()));
        // The query is kept, unless TO has its own.
        assert_eq!(moved(&s, "/old/a/x?page=2"), (308, "/new/a?page=2".into()));
        assert_eq!(moved(&s, "/search/rust?page=2"), (302, "/find?q=rust".into()));
        assert_eq!(moved(&s, "/see"), (303, "/notes.txt".into()));
        assert_eq!(moved(&s, "/tmp"), (307, "/notes.txt".into()));
        assert_eq!(moved(&s, "/ext?x"), (308, "https://other.example/a?b=1".into()));
        // A host rule matches only its host (any case, any port).
        let r = s.connect().get_with_host("/p/q?r", "WWW.Example.test:8080");
        assert_eq!((r.status, r.header("location")), (308, Some("https://example.test/p/q?r")));
        let r = s.connect().get_with_host("/p/q", "example.test");
        assert_eq!(r.status, 404);
        // What no rule matches is served as ever.
        assert_eq!(get(&s, "/notes.txt").body, b"notes\n");
        let r = get(&s, "/old");
        assert_eq!(r.status, 404, "/old/** does not match /old itself");
    }
}

each_mode! {
    fn rewrites_serve_inside_the_root_and_never_chain(mode) {
        let site = site_tree();
        let outside = TempDir::new("outside");
        outside.write("secret.txt", "outside\n");
        std::os::unix::fs::symlink(outside.path.join("secret.txt"), site.path.join("link.txt")).unwrap();
        let s = Server::start(mode, &site.path, &[
            "--rewrite", "/app/**=/inner/$1",
            "--rewrite", "/inner/**=/notes.txt",
            "--rewrite", "/env=/.env",
            "--rewrite", "/out=/link.txt",
            "--rewrite", "/up/*=/$1/../../x",
            "--rewrite", "/folder=/docs",
        ]);
        let r = get(&s, "/app/page.txt?v=1");
        assert_eq!((r.status, &r.body[..]), (200, &b"inner page\n"[..]));
        assert_eq!(r.header("location"), None);
        // A rewrite's result is not rewritten again.
        assert_eq!(get(&s, "/inner/page.txt").body, b"notes\n");
        // Its result meets every check a request meets.
        assert_eq!(get(&s, "/env").status, 404, "hidden");
        assert_eq!(get(&s, "/out").status, 403, "a symlink out of the root");
        assert_eq!(get(&s, "/up/a").status, 400, "above the root");
        assert_eq!(get(&s, "/app/..%2f..%2fetc%2fpasswd").status, 400);
        assert_eq!(get(&s, "/app/missing").status, 404);
        // A folder is served at the rewritten path without a redirect that
        // would show it.
        let r = get(&s, "/folder");
        assert_eq!((r.status, &r.body[..]), (200, &b"docs index\n"[..]));
    }
}

each_mode! {
    fn clean_urls_serve_pages_without_html_and_redirect_to_them(mode) {
        let site = site_tree();
        let s = Server::start(mode, &site.path, &["--clean-urls"]);
        let r = get(&s, "/about");
        assert_eq!((r.status, &r.body[..]), (200, &b"about page\n"[..]));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(moved(&s, "/about.html?x=1"), (308, "/about?x=1".into()));
        assert_eq!(moved(&s, "/docs/index.html"), (308, "/docs/".into()));
        assert_eq!(moved(&s, "/index.html"), (308, "/".into()));
        assert_eq!(moved(&s, "/docs/guide.html"), (308, "/docs/guide".into()));
        assert_eq!(get(&s, "/docs/guide").body, b"guide\n");
        // A folder wins over a page of the same name, and the page keeps
        // its .html name (no redirect to what would serve the folder).
        assert_eq!(moved(&s, "/both"), (301, "/both/".into()));
        assert_eq!(get(&s, "/both.html").body, b"both as a page\n");
        // Without the .html file there is nothing to serve.
        assert_eq!(get(&s, "/nothing").status, 404);
        assert_eq!(get(&s, "/notes").status, 404, "only .html pages");
        assert_eq!(get(&s, "/.env").status, 404);
        // Without the flag, none of it.
        let plain = Server::start(mode, &site.path, &[]);
        assert_eq!(get(&plain, "/about").status, 404);
        assert_eq!(get(&plain, "/about.html").status, 200);
    }
}

each_mode! {
    fn each_trailing_slash_policy_has_one_form_per_path(mode) {
        let site = site_tree();
        // auto: today's behaviour.
        let s = Server::start(mode, &site.path, &["--clean-urls"]);
        assert_eq!(moved(&s, "/docs?q"), (301, "/docs/?q".into()));
        assert_eq!(get(&s, "/notes.txt/").status, 404);
        assert_eq!(moved(&s, "/about/"), (308, "/about".into()));
        // always: folders and clean pages end with a slash, files never.
        let s = Server::start(mode, &site.path, &["--clean-urls", "--trailing-slash", "always"]);
        assert_eq!(moved(&s, "/docs?q"), (308, "/docs/?q".into()));
        assert_eq!(get(&s, "/docs/").body, b"docs index\n");
        assert_eq!(moved(&s, "/about"), (308, "/about/".into()));
        assert_eq!(get(&s, "/about/").body, b"about page\n");
        assert_eq!(moved(&s, "/about.html"), (308, "/about/".into()));
        assert_eq!(moved(&s, "/notes.txt/"), (308, "/notes.txt".into()));
        assert_eq!(get(&s, "/notes.txt").body, b"notes\n");
        assert_eq!(get(&s, "/").body, b"home\n");
        // never: only the root ends with a slash.
        let s = Server::start(mode, &site.path, &[
            "--clean-urls", "--trailing-slash", "never", "--list-dirs",
        ]);
        assert_eq!(moved(&s, "/docs/?q"), (308, "/docs?q".into()));
        let r = get(&s, "/docs");
        assert_eq!((r.status, &r.body[..]), (200, &b"docs index\n"[..]));
        assert_eq!(moved(&s, "/about/"), (308, "/about".into()));
        assert_eq!(moved(&s, "/notes.txt/"), (308, "/notes.txt".into()));
        assert_eq!(moved(&s, "/docs/index.html"), (308, "/docs".into()));
        assert_eq!(get(&s, "/").body, b"home\n");
        // A listing served without its slash still links right.
        let r = get(&s, "/list");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("<base href=\"/list/\">"), "{}", r.text());
        assert!(r.text().contains("href=\"a.txt\""), "{}", r.text());
        // Without clean URLs, a page keeps its name under every policy.
        let s = Server::start(mode, &site.path, &["--trailing-slash", "always"]);
        assert_eq!(get(&s, "/about.html").body, b"about page\n");
    }
}

each_mode! {
    fn header_rules_combine_and_replace_cache_control(mode) {
        let site = site_tree();
        let s = Server::start(mode, &site.path, &[
            "--clean-urls",
            "--max-age", "600",
            "--header", "X-Everywhere: 1",
            "--header", "/**/*.html=Content-Security-Policy: script-src 'none'",
            "--header", "/sw.js=Cache-Control: no-cache",
            "--header", "/assets/**=Cache-Control: public, max-age=31536000, immutable",
            "--header", "/**=X-Frame-Options: DENY",
            "--header", "/docs/**=Link: </docs/guide>; rel=next",
            "--header", "/docs/**=X-Docs: yes",
        ]);
        let r = get(&s, "/about");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-security-policy"), Some("script-src 'none'"), "matched by the file served");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("x-everywhere"), Some("1"));
        assert_eq!(r.header("cache-control"), Some("max-age=600"));
        let r = get(&s, "/sw.js");
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert_eq!(r.header_count("cache-control"), 1, "the rule replaces --max-age");
        assert_eq!(r.header("content-security-policy"), None);
        let r = get(&s, "/assets/app.js");
        assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
        let r = get(&s, "/docs/");
        assert_eq!(r.header("content-security-policy"), Some("script-src 'none'"));
        assert_eq!(r.header("link"), Some("</docs/guide>; rel=next"));
        assert_eq!(r.header("x-docs"), Some("yes"));
        let r = get(&s, "/notes.txt");
        assert_eq!(r.header("content-security-policy"), None);
        assert_eq!(r.header("x-docs"), None);
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        // Errors on a matching path carry the rule's field too.
        let r = get(&s, "/docs/missing");
        assert_eq!((r.status, r.header("x-docs")), (404, Some("yes")));
    }
}

each_mode! {
    fn the_base_path_prefixes_everything_and_refuses_the_rest(mode) {
        let site = site_tree();
        let s = Server::start(mode, &site.path, &[
            "--base-path", "/app",
            "--list-dirs",
            "--clean-urls",
            "--redirect", "/old=/about",
        ]);
        assert_eq!(get(&s, "/app/").body, b"home\n");
        assert_eq!(get(&s, "/app/notes.txt").body, b"notes\n");
        assert_eq!(get(&s, "/app/about").body, b"about page\n");
        assert_eq!(moved(&s, "/app?x=1"), (308, "/app/?x=1".into()));
        assert_eq!(moved(&s, "/app/docs"), (301, "/app/docs/".into()));
        assert_eq!(moved(&s, "/app/about.html"), (308, "/app/about".into()));
        assert_eq!(moved(&s, "/app/old"), (308, "/app/about".into()));
        let r = get(&s, "/app/list/");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("Index of /app/list/"), "{}", r.text());
        assert!(r.text().contains("<base href=\"/app/list/\">"), "{}", r.text());
        // Outside the base path: 404, with the error page.
        for path in ["/", "/notes.txt", "/apple", "/app/../notes.txt"] {
            let r = get(&s, path);
            assert_eq!(r.status, 404, "{path}");
            assert!(r.text().contains("404 Not Found"), "{path}");
        }
        let r = get(&s, "/app/missing.txt");
        assert!(r.status == 404 && r.text().contains("404 Not Found"));
    }
}

each_mode! {
    fn the_health_route_says_ok_then_503_through_the_drain(mode) {
        let site = site_tree();
        let users = TempDir::new("users");
        let file = users.write(
            "users.htpasswd",
            "alice:$2y$05$h59PpUmBdxKIEHeeRi6zkegIWAtGjZCvubBSMFkr8i5bKSRO2vvJ6\n",
        );
        let mut s = Server::start(mode, &site.path, &[
            "--health-path", "/healthz",
            "--shutdown-timeout", "3",
            "--access-log", "-",
            "--htpasswd", file.to_str().unwrap(),
            "--base-path", "/app",
        ]);
        // Exempt from credentials and from the base path; never logged.
        let r = get(&s, "/healthz");
        assert_eq!((r.status, &r.body[..]), (200, &b"ok\n"[..]));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let mut c = s.connect();
        c.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.head_response();
        assert_eq!((r.status, r.body.len()), (200, 0));
        assert_eq!(get(&s, "/app/notes.txt").status, 401);
        let mut idle = s.connect();
        idle.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(idle.response().status, 200);
        s.signal("TERM");
        s.wait_stderr(|l| l.iter().any(|l| l.contains("stopping")));
        // The port stays open: the route says 503, and so does every other
        // request, each closing its connection.
        let mut c = s.connect();
        let r = c.get("/healthz");
        assert_eq!((r.status, &r.body[..]), (503, &b"stopping\n"[..]));
        assert_eq!(r.header("connection"), Some("close"));
        c.expect_closed();
        let r = get(&s, "/app/notes.txt");
        assert_eq!(r.status, 503);
        assert_eq!(r.header("connection"), Some("close"));
        let status = s.wait_exit();
        assert!(status.success(), "{status:?}");
        let log = s.stdout_lines();
        assert!(log.iter().all(|l| !l.contains("/healthz")), "{log:?}");
        assert!(log.iter().any(|l| l.contains("GET /app/notes.txt HTTP/1.1\" 401")), "{log:?}");
    }
}

each_mode! {
    fn without_the_health_route_stopping_refuses_new_connections(mode) {
        let site = site_tree();
        let mut s = Server::start(mode, &site.path, &["--shutdown-timeout", "3"]);
        assert_eq!(get(&s, "/healthz").status, 404);
        let port = s.port();
        s.signal("TERM");
        let status = s.wait_exit();
        assert!(status.success());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

#[test]
fn the_health_check_asks_the_health_route() {
    let site = site_tree();
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--health-path", "/healthz", "--base-path", "/app"],
    );
    let port = s.port().to_string();
    let root = site.path.to_str().unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec!["--root", root, "--port", &port, "--bind", "127.0.0.1"];
        args.extend_from_slice(extra);
        Command::new(bin())
            .args(&args)
            .output()
            .unwrap()
            .status
            .code()
    };
    // Without a path it asks /healthz (200); / is outside the base path.
    assert_eq!(
        check(&["--health-path", "/healthz", "--health-check"]),
        Some(0)
    );
    assert_eq!(check(&["--health-check"]), Some(1));
    assert_eq!(check(&["--health-check", "/app/"]), Some(0));
}

#[test]
fn rules_work_over_http2_too() {
    let site = site_tree();
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &[
            "--base-path",
            "/app",
            "--redirect",
            "/old/*=/new/$1",
            "--clean-urls",
            "--header",
            "/**/*.html=Content-Security-Policy: default-src 'self'",
            "--health-path",
            "/healthz",
        ],
    );
    let r = h2(&s, "/app/old/x?q=1", &[], None);
    assert_eq!(
        (r.status, r.header("location")),
        (308, Some("/app/new/x?q=1"))
    );
    let r = h2(&s, "/app/about", &[], None);
    assert_eq!((r.status, &r.body[..]), (200, &b"about page\n"[..]));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    let r = h2(&s, "/healthz", &[], None);
    assert_eq!((r.status, &r.body[..]), (200, &b"ok\n"[..]));
    assert_eq!(h2(&s, "/about", &[], None).status, 404);
}

#[test]
fn rules_come_from_the_config_file_and_variables() {
    let site = site_tree();
    let confs = TempDir::new("rules-conf");
    let conf = confs.write(
        "skiff.toml",
        "redirect = ['/old/*=/new/$1 301']\nrewrite = ['/r=/notes.txt']\nclean-urls = true\n\
         trailing-slash = 'always'\nbase-path = '/app'\nhealth-path = '/up'\n\
         header = ['/sw.js=Cache-Control: no-cache', 'X-A: 1']\n",
    );
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--config", conf.to_str().unwrap()],
    );
    assert_eq!(moved(&s, "/app/old/a"), (301, "/app/new/a".into()));
    assert_eq!(get(&s, "/app/r").body, b"notes\n");
    assert_eq!(moved(&s, "/app/about"), (308, "/app/about/".into()));
    assert_eq!(get(&s, "/up").status, 200);
    let r = get(&s, "/app/sw.js");
    assert_eq!(
        (r.header("cache-control"), r.header("x-a")),
        (Some("no-cache"), Some("1"))
    );
    let mut cmd = Command::new(bin());
    cmd.args([
        "--root",
        site.path.to_str().unwrap(),
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
    ])
    .env("SKIFF_REDIRECT", "/a=/b\n/c=/d 302")
    .env("SKIFF_CLEAN_URLS", "true");
    let s = Server::spawn(cmd);
    assert_eq!(moved(&s, "/c"), (302, "/d".into()));
    assert_eq!(moved(&s, "/a"), (308, "/b".into()));
    assert_eq!(get(&s, "/about").status, 200);
}

#[test]
fn bad_rules_are_one_line_errors_naming_the_flag() {
    let site = site_tree();
    let root = site.path.to_str().unwrap();
    for (args, says) in [
        (
            vec!["--redirect", "/a"],
            "--redirect '/a': expected 'FROM=TO'",
        ),
        (vec!["--redirect", "/a/*=/b/$2"], "FROM has 1 wildcard"),
        (vec!["--redirect", "/a=/b 304"], "'304' is not one of"),
        (vec!["--redirect", "/a=/a"], "redirects to itself"),
        (vec!["--redirect", "/a=/b", "--redirect", "/b=/a"], "a loop"),
        (vec!["--redirect", "/a[=/b"], "without its ']'"),
        (
            vec!["--rewrite", "/a=https://x/"],
            "--rewrite '/a=https://x/'",
        ),
        (vec!["--base-path", "app"], "--base-path 'app'"),
        (vec!["--base-path", "/a/../b"], "--base-path"),
        (vec!["--trailing-slash", "sometimes"], "--trailing-slash"),
        (
            vec!["--header", "/x=Content-Length: 5"],
            "skiff sets Content-Length itself",
        ),
        (vec!["--header", "/x[=X-A: 1"], "--header '/x[=X-A: 1'"),
        (vec!["--header", "/x"], "a rule is 'GLOB=Name: value'"),
        (vec!["--health-path", "healthz"], "--health-path 'healthz'"),
    ] {
        let mut all = vec!["--root", root, "--port", "0"];
        all.extend_from_slice(&args);
        let out = Command::new(bin()).args(&all).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// The README's site-rules example, as written there, does what the README
/// says it does.
#[test]
fn the_readme_site_example_works_as_described() {
    let readme = repo_file("README.md");
    let section = readme
        .split("## Site rules")
        .nth(1)
        .expect("a Site rules section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|t| t.split("```").next())
        .expect("a toml block");
    let dist = TempDir::new("dist");
    dist.write("index.html", "<div id=app></div>\n");
    dist.write("pricing.html", "pricing\n");
    dist.write("assets/app.1234.js", "app()\n");
    dist.write("sw.js", "worker()\n");
    let confs = TempDir::new("readme-conf");
    let conf = confs.write("site.toml", toml);
    let s = Server::start(
        Mode::Evented,
        &dist.path,
        &["--config", conf.to_str().unwrap()],
    );
    let r = get(&s, "/app/pricing");
    assert_eq!((r.status, &r.body[..]), (200, &b"pricing\n"[..]));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(moved(&s, "/app/pricing.html"), (308, "/app/pricing".into()));
    assert_eq!(moved(&s, "/app/old-pricing"), (301, "/app/pricing".into()));
    assert_eq!(get(&s, "/pricing").status, 404);
    let r = get(&s, "/app/assets/app.1234.js");
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        get(&s, "/app/sw.js").header("cache-control"),
        Some("no-cache")
    );
    let r = s
        .connect()
        .get_with("/app/settings", "Accept: text/html\r\n");
    assert_eq!((r.status, &r.body[..]), (200, &b"<div id=app></div>\n"[..]));
    assert_eq!(get(&s, "/healthz").body, b"ok\n");
}

/// A server on `::1` with these flags.
fn start_v6(mode: Mode, root: &std::path::Path, args: &[&str]) -> Server {
    let mut cmd = Command::new(bin());
    cmd.args(["--bind", "::1", "--port", "0", "--root"])
        .arg(root)
        .args(mode.args())
        .args(args);
    Server::spawn(cmd)
}

each_mode! {
    fn allow_and_deny_take_the_first_match_over_ipv4_and_ipv6(mode) {
        let site = site_tree();
        let status = |s: &Server| get(s, "/notes.txt").status;
        // Any --allow refuses what no rule holds.
        let s = Server::start(mode, &site.path, &["--allow", "10.0.0.0/8", "--health-path", "/healthz"]);
        let r = get(&s, "/notes.txt");
        assert_eq!(r.status, 403);
        assert!(r.text().contains("403 Forbidden"));
        // The health route is not subject to them.
        assert_eq!(get(&s, "/healthz").status, 200);
        // The first matching rule decides, in the order given.
        let s = Server::start(mode, &site.path, &["--deny", "127.0.0.1", "--allow", "127.0.0.0/8"]);
        assert_eq!(status(&s), 403);
        let s = Server::start(mode, &site.path, &["--allow", "127.0.0.1/32", "--deny", "127.0.0.0/8"]);
        assert_eq!(status(&s), 200);
        // Only --deny: the rest is served.
        let s = Server::start(mode, &site.path, &["--deny", "192.0.2.0/24"]);
        assert_eq!(status(&s), 200);
        // IPv6.
        let s = start_v6(mode, &site.path, &["--allow", "::1/128"]);
        assert_eq!(status(&s), 200);
        let s = start_v6(mode, &site.path, &["--deny", "::1", "--allow", "::/0"]);
        assert_eq!(status(&s), 403);
        let s = start_v6(mode, &site.path, &["--allow", "127.0.0.0/8"]);
        assert_eq!(status(&s), 403);
    }
}

each_mode! {
    fn a_trusted_proxy_names_the_client_and_anyone_else_is_ignored(mode) {
        let site = site_tree();
        let s = Server::start(mode, &site.path, &[
            "--trust-proxy", "127.0.0.1",
            "--allow", "203.0.113.0/24",
            "--access-log", "-",
        ]);
        let r = s.connect().get_with("/notes.txt", "X-Forwarded-For: 198.51.100.9, 203.0.113.7\r\n");
        assert_eq!((r.status, &r.body[..]), (200, &b"notes\n"[..]));
        let r = s.connect().get_with("/notes.txt", "Forwarded: for=\"203.0.113.8:4711\";proto=https\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(get(&s, "/notes.txt").status, 403, "the proxy itself is not allowed");
        let r = s.connect().get_with("/notes.txt", "X-Forwarded-For: not-an-address\r\n");
        assert_eq!(r.status, 403, "a header that does not parse is ignored");
        let log = s.wait_stdout(|l| l.len() >= 4);
        assert!(log[0].starts_with("203.0.113.7 "), "{log:?}");
        assert!(log[1].starts_with("203.0.113.8 "), "{log:?}");
        assert!(log[2].starts_with("127.0.0.1 "), "{log:?}");
        // A spoofed header from a peer that is not trusted changes nothing.
        let s = Server::start(mode, &site.path, &[
            "--trust-proxy", "10.0.0.0/8",
            "--allow", "203.0.113.0/24",
            "--access-log", "-",
        ]);
        let r = s.connect().get_with("/notes.txt", "X-Forwarded-For: 203.0.113.7\r\n");
        assert_eq!(r.status, 403);
        let log = s.wait_stdout(|l| !l.is_empty());
        assert!(log[0].starts_with("127.0.0.1 "), "{log:?}");
    }
}

#[test]
fn address_rules_keep_the_config_files_order_and_refuse_bad_networks() {
    let site = site_tree();
    let confs = TempDir::new("addr-conf");
    let deny_first = confs.write("a.toml", "deny = ['127.0.0.1']\nallow = ['127.0.0.0/8']\n");
    let allow_first = confs.write("b.toml", "allow = ['127.0.0.1']\ndeny = ['127.0.0.0/8']\n");
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--config", deny_first.to_str().unwrap()],
    );
    assert_eq!(get(&s, "/notes.txt").status, 403);
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--config", allow_first.to_str().unwrap()],
    );
    assert_eq!(get(&s, "/notes.txt").status, 200);
    let r = h2(&s, "/notes.txt", &[], None);
    assert_eq!(r.status, 200);
    for (flag, value) in [
        ("--allow", "10.0.0.0/33"),
        ("--deny", "example.com"),
        ("--trust-proxy", "1.2.3"),
    ] {
        let out = Command::new(bin())
            .args([
                "--root",
                site.path.to_str().unwrap(),
                "--port",
                "0",
                flag,
                value,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("{flag} '{value}'")), "{err}");
    }
}
