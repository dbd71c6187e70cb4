//! HTTP/2: h2c with prior knowledge and h2 over TLS (ALPN), spoken by
//! real clients (curl, nghttp, h2load) in every mode; every feature
//! answered the same over HTTP/2 as over HTTP/1.1; what the log, the
//! counts and the metrics say of HTTP/2 requests; `--http2 off`, and
//! `Upgrade: h2c` (ignored).

use std::process::Command;

use crate::each_mode;
use crate::support::*;

/// A site with something for every feature: files, a folder with an
/// index and one without, a hidden file, a precompressed variant, and an
/// error page.
fn full_site() -> TempDir {
    let d = site();
    d.write(".hidden", "secret\n");
    d.write("digits.txt", "0123456789");
    d.write("page.css", "body { color: red }\n".repeat(80));
    d.write("page.css.gz", gzip(&"body { color: red }\n".repeat(80)));
    d.write("listed/one.txt", "1\n");
    d.write("pages/404.html", "<p>custom not found</p>\n");
    d
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut child = Command::new("gzip")
        .args(["-c", "-n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    child.wait().unwrap();
    out
}

/// The fields a response carries, less those that are the connection's
/// own or differ from one response to the next.
fn fields(r: &Response) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| !["date", "connection", "keep-alive"].contains(&n.as_str()))
        .collect();
    f.sort();
    f
}

/// Requests that between them touch every feature, each as curl
/// arguments and a path.
fn requests(etag: &str) -> Vec<(Vec<String>, &'static str)> {
    let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let inm = format!("If-None-Match: {etag}");
    vec![
        (h(&[]), "/"),
        (h(&[]), "/a.txt"),
        (h(&[]), "/a.txt?x=1"),
        (h(&["-I"]), "/a.txt"),
        (h(&["-X", "OPTIONS"]), "/a.txt"),
        (h(&["-X", "DELETE"]), "/a.txt"),
        (h(&["-X", "POST", "-d", "x=1"]), "/a.txt"),
        (h(&["-X", "BREW"]), "/a.txt"),
        (h(&[]), "/dir"),
        (h(&[]), "/dir/"),
        (h(&[]), "/listed/"),
        (h(&["-H", "Accept: application/json"]), "/listed/"),
        (h(&[]), "/missing"),
        (h(&["-H", "Accept: text/html"]), "/app/route"),
        (h(&[]), "/.hidden"),
        (h(&[]), "/../a.txt"),
        (h(&[]), "/%2e%2e/a.txt"),
        (h(&["-H", "Range: bytes=2-5"]), "/digits.txt"),
        (h(&["-H", "Range: bytes=0-1,8-9"]), "/digits.txt"),
        (h(&["-H", "Range: bytes=50-"]), "/digits.txt"),
        (h(&["-H", &inm]), "/digits.txt"),
        (h(&["-H", "If-Match: \"nope\""]), "/digits.txt"),
        (
            h(&["-H", "If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT"]),
            "/digits.txt",
        ),
        (h(&["-H", "Accept-Encoding: gzip"]), "/page.css"),
        (h(&["-H", "Accept-Encoding: identity"]), "/page.css"),
        (h(&["-H", "Origin: https://app.example"]), "/a.txt"),
        (
            h(&[
                "-X",
                "OPTIONS",
                "-H",
                "Origin: https://app.example",
                "-H",
                "Access-Control-Request-Method: GET",
                "-H",
                "Access-Control-Request-Headers: range",
            ]),
            "/a.txt",
        ),
    ]
}

/// Flags that turn every feature on.
fn full_args(site: &TempDir) -> Vec<String> {
    [
        "--list-dirs",
        "--precompressed",
        "--no-compress",
        "--fallback",
        "index.html",
        "--cors",
        "https://app.example",
        "--header",
        "X-Frame-Options: DENY",
        "--cache-control",
        "/digits.txt=no-cache",
        "--max-age",
        "60",
        "--error-pages",
        &site.path.join("pages").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Every request of [`requests`], over HTTP/1.1 and over HTTP/2, gets
/// the same status, fields and bytes.
fn same_over_both(s: &Server, ca: Option<&TestCa>) {
    let etag = curl(s, "/digits.txt", &[], ca, false)
        .header("etag")
        .expect("an ETag")
        .to_string();
    for (args, path) in requests(&etag) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let one = curl(s, path, &args, ca, false);
        let two = curl(s, path, &args, ca, true);
        let what = format!("{args:?} {path}");
        assert_eq!(one.status, two.status, "{what}");
        assert_eq!(fields(&one), fields(&two), "{what}");
        assert_eq!(one.body, two.body, "{what}");
        for own in ["connection", "keep-alive", "transfer-encoding", "upgrade"] {
            assert_eq!(two.header(own), None, "{what}: {own} over HTTP/2");
        }
    }
}

each_mode! {
    fn every_feature_is_the_same_over_h2c(mode) {
        let site = full_site();
        let args = full_args(&site);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = Server::start(mode, &site.path, &args);
        same_over_both(&s, None);
    }
}

each_mode! {
    fn every_feature_is_the_same_over_h2_with_tls(mode) {
        let site = full_site();
        let ca = TestCa::new();
        let args = full_args(&site);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = Server::start_tls(mode, &site.path, &ca, &args);
        same_over_both(&s, Some(&ca));
    }
}

#[test]
fn every_feature_is_the_same_over_h2c_with_several_loops() {
    let site = full_site();
    let mut args = full_args(&site);
    args.extend(["--workers".to_string(), "2".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(Mode::Evented, &site.path, &args);
    same_over_both(&s, None);
}

each_mode! {
    fn what_http2_answers_looks_like(mode) {
        let site = full_site();
        let args = full_args(&site);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = Server::start(mode, &site.path, &args);
        // GET, HEAD, OPTIONS, 405 and 501, as HTTP/2 heads.
        let r = h2(&s, "/a.txt", &[], None);
        assert_eq!((r.version.as_str(), r.status), ("HTTP/2", 200));
        assert_eq!(r.body, b"hello, skiff\n");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("content-length"), Some("13"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("cache-control"), Some("max-age=60"));
        assert!(r.header("date").is_some() && r.header("etag").is_some());
        let r = h2(&s, "/a.txt", &["-I"], None);
        assert_eq!((r.status, r.header("content-length")), (200, Some("13")));
        assert!(r.body.is_empty());
        let r = h2(&s, "/a.txt", &["-X", "OPTIONS"], None);
        assert_eq!((r.status, r.header("allow")), (200, Some("GET, HEAD, OPTIONS")));
        let r = h2(&s, "/a.txt", &["-X", "PUT", "-d", "x"], None);
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
        assert_eq!(h2(&s, "/a.txt", &["-X", "BREW"], None).status, 501);
        // The custom error page, the fallback, hidden files, containment.
        let r = h2(&s, "/missing", &[], None);
        assert_eq!((r.status, r.text().as_str()), (404, "<p>custom not found</p>\n"));
        let r = h2(&s, "/app/route", &["-H", "Accept: text/html"], None);
        assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>\n"));
        assert_eq!(h2(&s, "/.hidden", &[], None).status, 404);
        assert_eq!(h2(&s, "/../a.txt", &[], None).status, 400);
        // Folders: the index, the redirect to the slash, a listing.
        assert_eq!(h2(&s, "/dir/", &[], None).text(), "<p>dir index</p>\n");
        let r = h2(&s, "/dir", &[], None);
        assert_eq!((r.status, r.header("location")), (301, Some("/dir/")));
        let r = h2(&s, "/listed/", &["-H", "Accept: application/json"], None);
        let listing: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(listing["entries"][0]["name"], "one.txt", "{listing}");
        // Ranges, one and several; conditionals.
        let r = h2(&s, "/digits.txt", &["-H", "Range: bytes=2-5"], None);
        assert_eq!((r.status, r.body.as_slice()), (206, &b"2345"[..]));
        assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
        let r = h2(&s, "/digits.txt", &["-H", "Range: bytes=0-1,8-9"], None);
        assert_eq!(r.status, 206);
        assert!(r.header("content-type").unwrap().starts_with("multipart/byteranges; boundary="));
        let body = r.text();
        assert!(body.contains("Content-Range: bytes 0-1/10\r\n\r\n01\r\n"), "{body}");
        assert!(body.contains("Content-Range: bytes 8-9/10\r\n\r\n89\r\n"), "{body}");
        let r = h2(&s, "/digits.txt", &["-H", "Range: bytes=50-"], None);
        assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */10")));
        let etag = h2(&s, "/digits.txt", &[], None).header("etag").unwrap().to_string();
        let r = h2(&s, "/digits.txt", &["-H", &format!("If-None-Match: {etag}")], None);
        assert_eq!((r.status, r.body.len()), (304, 0));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        let r = h2(&s, "/digits.txt", &["-H", "If-Match: \"nope\""], None);
        assert_eq!(r.status, 412);
        // The precompressed variant, with Vary.
        let r = h2(&s, "/page.css", &["-H", "Accept-Encoding: gzip"], None);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("vary"), Some("Accept-Encoding, Origin"));
        assert_eq!(r.body, std::fs::read(site.path.join("page.css.gz")).unwrap());
        // CORS, and a preflight.
        let r = h2(&s, "/a.txt", &["-H", "Origin: https://app.example"], None);
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        let r = h2(
            &s,
            "/a.txt",
            &[
                "-X", "OPTIONS",
                "-H", "Origin: https://app.example",
                "-H", "Access-Control-Request-Method: GET",
            ],
            None,
        );
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD, OPTIONS"));
    }
}

each_mode! {
    fn text_is_compressed_on_the_fly_over_h2(mode) {
        let site = full_site();
        let s = Server::start(mode, &site.path, &[]);
        let want = "body { color: red }\n".repeat(80);
        // Identity until the variant is made (off the loop), then br.
        let r = wait_for(|| {
            let r = h2(&s, "/page.css", &["-H", "Accept-Encoding: br"], None);
            (r.header("content-encoding") == Some("br")).then_some(r)
        })
        .expect("a br variant");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert!(r.body.len() < want.len() / 4, "{} bytes", r.body.len());
        // curl decodes what it asked for (any coding it knows).
        let r = h2(&s, "/page.css", &["--compressed"], None);
        assert!(r.header("content-encoding").is_some());
        assert_eq!(r.text(), want);
    }
}

each_mode! {
    fn large_files_stream_whole_over_h2_and_h2c(mode) {
        let site = site();
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        site.write("big.bin", &big);
        let ca = TestCa::new();
        let plain = Server::start(mode, &site.path, &[]);
        let r = h2(&plain, "/big.bin", &[], None);
        assert_eq!((r.status, r.body.len()), (200, big.len()));
        assert!(r.body == big, "the bytes of the file");
        let tls = Server::start_tls(mode, &site.path, &ca, &[]);
        let r = h2(&tls, "/big.bin", &["-H", "Range: bytes=1000000-3999999"], Some(&ca));
        assert_eq!((r.status, r.body.len()), (206, 3_000_000));
        assert!(r.body == big[1_000_000..4_000_000], "the bytes of the range");
    }
}

each_mode! {
    fn the_log_counts_and_metrics_name_http2(mode) {
        let site = site();
        let s = Server::start(
            mode,
            &site.path,
            &["--access-log", "-", "--metrics", "127.0.0.1:0"],
        );
        h2(&s, "/a.txt", &["-A", "tester/1"], None);
        h2(&s, "/a.txt", &[], None);
        h2(&s, "/nope", &[], None);
        let lines = s.wait_stdout(|l| l.iter().filter(|l| l.contains("HTTP/2.0")).count() >= 3);
        let logged: Vec<&String> = lines.iter().filter(|l| l.contains("\"GET /a.txt HTTP/2.0\" 200 13")).collect();
        assert_eq!(logged.len(), 2, "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("\"GET /nope HTTP/2.0\" 404 ")), "{lines:?}");
        // Per-path counts.
        s.signal("USR1");
        let err = s.wait_stderr(|l| l.iter().any(|l| l.trim_start().ends_with(" /nope")));
        assert!(err.iter().any(|l| l.trim() == "2 /a.txt"), "{err:?}");
        // Metrics, with the protocol.
        let line = s.wait_stdout(|l| l.iter().any(|l| l.starts_with("Metrics on http://")));
        let line = line.iter().find(|l| l.starts_with("Metrics on http://")).unwrap();
        let addr: std::net::SocketAddr = line
            .trim_start_matches("Metrics on http://")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let text = Client::connect(addr).get("/metrics").text();
        assert!(
            text.contains("skiff_requests_total{method=\"GET\",code=\"200\",protocol=\"HTTP/2\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("skiff_requests_total{method=\"GET\",code=\"404\",protocol=\"HTTP/2\"} 1\n"),
            "{text}"
        );
    }
}

#[test]
fn the_json_log_says_http2() {
    let site = site();
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--access-log", "-", "--access-log-format", "json"],
    );
    h2(&s, "/a.txt", &[], None);
    let lines = s.wait_stdout(|l| l.iter().any(|l| l.starts_with('{')));
    let line = lines.iter().find(|l| l.starts_with('{')).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["protocol"], "HTTP/2.0", "{v}");
    assert_eq!(v["method"], "GET", "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["bytes"], 13, "{v}");
}

each_mode! {
    fn the_redirect_listener_and_health_check_with_http2(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--redirect-http", "0"]);
        let line = s.wait_stdout(|l| l.iter().any(|l| l.starts_with("Redirecting http://")));
        let line = line.iter().find(|l| l.starts_with("Redirecting")).unwrap();
        let at: std::net::SocketAddr = line
            .trim_start_matches("Redirecting http://")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // h2c to the redirect listener: a 308 to the HTTPS URL.
        let out = Command::new("curl")
            .args(["-s", "-i", "--http2-prior-knowledge"])
            .arg(format!("http://localhost:{}/a.txt?x=1", at.port()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/2 308"), "{text}");
        assert!(
            text.contains(&format!("location: https://localhost:{}/a.txt?x=1\r\n", s.port())),
            "{text}"
        );
        // The health check against a server that offers h2.
        let mut args: Vec<String> = ca.args();
        args.extend(["--root".into(), site.path.display().to_string()]);
        args.extend(["--port".into(), s.port().to_string(), "--bind".into(), "127.0.0.1".into()]);
        let status = Command::new(bin())
            .args(&args)
            .arg("--health-check")
            .status()
            .unwrap();
        assert!(status.success());
        // The HTTPS port itself says h2 to a client that offers it.
        assert_eq!(h2(&s, "/a.txt", &[], Some(&ca)).status, 200);
    }
}

each_mode! {
    fn http2_off_and_upgrade_h2c_stay_http1(mode) {
        let site = site();
        let ca = TestCa::new();
        // Upgrade: h2c is ignored: the answer is HTTP/1.1.
        let s = Server::start(mode, &site.path, &[]);
        let out = Command::new("curl")
            .args(["-s", "-i", "--http2", &s.url("/a.txt")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(!text.contains("101"), "{text}");
        // A client that offers only http/1.1 over TLS gets HTTP/1.1.
        let tls = Server::start_tls(mode, &site.path, &ca, &[]);
        assert_eq!(curl(&tls, "/a.txt", &[], Some(&ca), false).status, 200);
        // --http2 off: the preface is an HTTP/1 request for version 2.0
        // (505), and ALPN offers only http/1.1.
        let off = Server::start(mode, &site.path, &["--http2", "off"]);
        let mut c = off.connect();
        c.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(c.response().status, 505);
        let tls_off = Server::start_tls(mode, &site.path, &ca, &["--http2", "off"]);
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_version}", "--http2"])
            .args(["--cacert", &ca.path("ca.pem")])
            .arg(format!("https://localhost:{}/a.txt", tls_off.port()))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "1.1");
    }
}

#[test]
fn http2_false_in_the_config_file_turns_it_off() {
    let site = site();
    let file = site.write("skiff.toml", "http2 = false\n");
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--config", file.to_str().unwrap()],
    );
    let mut c = s.connect();
    c.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(
        c.response().status,
        505,
        "HTTP/2 is off: the preface is an HTTP/1 request"
    );
    let file = site.write("on.toml", "http2 = true\n");
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--config", file.to_str().unwrap()],
    );
    assert_eq!(h2(&s, "/a.txt", &[], None).status, 200);
}

#[test]
fn bad_http2_flags_are_one_line_errors() {
    let site = site();
    for (flag, value) in [
        ("--http2", "maybe"),
        ("--http2-max-streams", "0"),
        ("--http2-max-streams", "1025"),
        ("--http2-max-streams", "x"),
    ] {
        let out = Command::new(bin())
            .args(["--root", &site.path.display().to_string(), flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}

each_mode! {
    fn basic_auth_over_http2(mode) {
        let site = site();
        let hash = bcrypt::hash("secret", 4).unwrap();
        let file = site.write("users", format!("alice:{hash}\n"));
        let s = Server::start(mode, &site.path, &["--htpasswd", file.to_str().unwrap()]);
        let r = h2(&s, "/a.txt", &[], None);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"skiff\", charset=\"UTF-8\""));
        let two = h2(&s, "/a.txt", &["-u", "alice:wrong"], None);
        assert_eq!(two.status, 401);
        let r = h2(&s, "/a.txt", &["-u", "alice:secret"], None);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello, skiff\n"[..]));
        // The same answer as over HTTP/1.1.
        let one = curl(&s, "/a.txt", &["-u", "alice:wrong"], None, false);
        assert_eq!(
            (one.status, one.header("www-authenticate"), &one.body),
            (two.status, two.header("www-authenticate"), &two.body)
        );
    }
}
