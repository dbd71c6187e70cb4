//! Virtual hosts: `[[site]]` tables in the config file, each with its own
//! root and settings, picked by `Host` (and over HTTPS by SNI, which
//! picks the certificate and must agree with `Host`).

use std::io::Write;
use std::process::Command;

use crate::each_mode;
use crate::support::*;

/// The folders, kept until the test ends.
struct Sites {
    top: TempDir,
    _a: TempDir,
    _b: TempDir,
    _conf: TempDir,
}

fn sites(extra_top: &str, extra_a: &str) -> (Sites, std::path::PathBuf) {
    let top = TempDir::new("vh-top");
    top.write("index.html", "default site\n");
    top.write("only-top.txt", "top\n");
    top.write("same.txt", "top same\n");
    let a = TempDir::new("vh-a");
    a.write("index.html", "site a\n");
    a.write("page.html", "a page\n");
    a.write("same.txt", "a same\n");
    let b = TempDir::new("vh-b");
    b.write("index.html", "site b\n");
    b.write("x.txt", "b x\n");
    b.write("same.txt", "b same\n");
    let conf = TempDir::new("vh-conf");
    let file = conf.write(
        "skiff.toml",
        format!(
            "header = ['X-Top: 1']\n{extra_top}\n\
             [[site]]\nhost = \"a.test\"\nroot = \"{}\"\nheader = ['X-Site: a']\nclean-urls = true\n{extra_a}\n\
             [[site]]\nhost = \"*.b.test\"\nroot = \"{}\"\nredirect = ['/old=/x.txt 301']\nlist-dirs = true\n\
             [[site]]\nhost = \"www.b.test\"\nroot = \"{}\"\n",
            a.path.display(),
            b.path.display(),
            a.path.display(),
        ),
    );
    (
        Sites {
            top,
            _a: a,
            _b: b,
            _conf: conf,
        },
        file,
    )
}

fn get(s: &Server, host: &str, path: &str) -> Response {
    s.connect().get_with_host(path, host)
}

each_mode! {
    fn each_host_gets_its_own_root_and_settings(mode) {
        let (d, file) = sites("", "");
        let s = Server::start(mode, &d.top.path, &["--config", file.to_str().unwrap()]);
        let r = get(&s, "a.test", "/");
        assert_eq!((r.status, &r.body[..]), (200, &b"site a\n"[..]));
        assert_eq!(r.header("x-site"), Some("a"));
        assert_eq!(r.header("x-top"), None, "a site's header list replaces the top level's");
        assert_eq!(get(&s, "A.Test:8080", "/page").body, b"a page\n", "clean URLs, any case, any port");
        assert_eq!(get(&s, "a.test", "/only-top.txt").status, 404);
        // A wildcard, with its own redirect; an exact name wins over it.
        let r = get(&s, "cdn.b.test", "/");
        assert_eq!(r.body, b"site b\n");
        assert_eq!(r.header("x-top"), Some("1"), "what a site leaves out comes from the top");
        let r = get(&s, "cdn.b.test", "/old");
        assert_eq!((r.status, r.header("location")), (301, Some("/x.txt")));
        assert_eq!(get(&s, "www.b.test", "/").body, b"site a\n");
        // Everything else is the default site.
        for host in ["b.test", "other.test", "127.0.0.1"] {
            let r = get(&s, host, "/");
            assert_eq!(r.body, b"default site\n", "{host}");
            assert_eq!(get(&s, host, "/page").status, 404, "{host}: no clean URLs there");
        }
        // An error page on a site carries the site's fields.
        let r = get(&s, "a.test", "/missing");
        assert_eq!((r.status, r.header("x-site")), (404, Some("a")));
        // The file cache keeps the sites apart.
        for _ in 0..3 {
            assert_eq!(get(&s, "a.test", "/same.txt").body, b"a same\n");
            assert_eq!(get(&s, "x.b.test", "/same.txt").body, b"b same\n");
            assert_eq!(get(&s, "none.test", "/same.txt").body, b"top same\n");
        }
        // Over HTTP/2 too, by :authority.
        let r = h2(&s, "/", &["-H", "Host: a.test"], None);
        assert_eq!(r.body, b"site a\n");
    }
}

each_mode! {
    fn the_log_the_counts_and_the_metrics_name_the_site(mode) {
        let (d, file) = sites("", "");
        let s = Server::start(mode, &d.top.path, &[
            "--config", file.to_str().unwrap(), "--access-log", "-", "--metrics", "127.0.0.1:0",
        ]);
        let lines = s.wait_stdout(|l| l.iter().any(|l| l.starts_with("Metrics on http://")));
        let at = lines
            .iter()
            .find_map(|l| l.strip_prefix("Metrics on http://"))
            .map(|r| r.trim_end_matches("/metrics").to_string())
            .unwrap();
        get(&s, "a.test", "/");
        get(&s, "x.b.test", "/x.txt");
        get(&s, "other", "/");
        let requests = |l: &[String]| -> Vec<String> {
            l.iter().filter(|l| l.contains(" HTTP/1.1\" ")).cloned().collect()
        };
        let log = requests(&s.wait_stdout(|l| requests(l).len() >= 3));
        assert!(log[0].ends_with("\"GET / HTTP/1.1\" 200 7 \"a.test\""), "{log:?}");
        assert!(log[1].ends_with(" \"*.b.test\""), "{log:?}");
        assert!(log[2].ends_with(" \"-\""), "{log:?}");
        s.signal("USR1");
        let lines = s.wait_stderr(|l| l.iter().any(|l| l.contains("a.test/")));
        assert!(lines.iter().any(|l| l.contains("*.b.test/x.txt")), "{lines:?}");
        let text = Client::connect(at.parse().unwrap()).get("/metrics").text();
        assert!(text.contains("skiff_site_requests_total{site=\"a.test\"} 1\n"), "{text}");
        assert!(text.contains("skiff_site_requests_total{site=\"*.b.test\"} 1\n"), "{text}");
        assert!(text.contains("skiff_site_requests_total{site=\"_default\"} 1\n"), "{text}");
    }
}

each_mode! {
    fn a_site_can_have_its_own_passwords(mode) {
        let users = TempDir::new("vh-users");
        let pw = users.write(
            "users.htpasswd",
            "alice:$2y$05$h59PpUmBdxKIEHeeRi6zkegIWAtGjZCvubBSMFkr8i5bKSRO2vvJ6\n",
        );
        let (d, file) = sites("", &format!("htpasswd = \"{}\"\nauth-realm = \"A only\"", pw.display()));
        let s = Server::start(mode, &d.top.path, &["--config", file.to_str().unwrap()]);
        let r = get(&s, "a.test", "/");
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"A only\", charset=\"UTF-8\""));
        assert_eq!(get(&s, "x.b.test", "/").status, 200);
        assert_eq!(get(&s, "other", "/").status, 200);
    }
}

// Two sites with their own certificates, chosen by SNI; a request whose
// Host names another site than the handshake did is 421.
each_mode! {
    fn over_https_sni_picks_each_sites_certificate(mode) {
    let ca = TestCa::new();
    ca.issue("a.pem", "a.key", &["a.test"]);
    ca.issue("b.pem", "b.key", &["*.b.test"]);
    let (d, file) = sites(
        &format!(
            "tls-cert = \"{}\"\ntls-key = \"{}\"",
            ca.path("cert.pem"),
            ca.path("key.pem")
        ),
        &format!(
            "tls-cert = \"{}\"\ntls-key = \"{}\"",
            ca.path("a.pem"),
            ca.path("a.key")
        ),
    );
    // The *.b.test site gets its own certificate too.
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "list-dirs = true\n",
        &format!(
            "list-dirs = true\ntls-cert = \"{}\"\ntls-key = \"{}\"\n",
            ca.path("b.pem"),
            ca.path("b.key")
        ),
    );
    std::fs::write(&file, text).unwrap();
    let s = Server::start(mode,
        &d.top.path,
        &["--config", file.to_str().unwrap()],
    );
    // The rustls client checks each certificate against the name it asked.
    let mut c = Client::connect_tls(s.addr, &ca, "a.test");
    assert_eq!(c.get_with_host("/", "a.test").body, b"site a\n");
    let mut c = Client::connect_tls(s.addr, &ca, "cdn.b.test");
    assert_eq!(c.get_with_host("/", "cdn.b.test").body, b"site b\n");
    let mut c = Client::connect_tls(s.addr, &ca, "localhost");
    assert_eq!(c.get_with_host("/", "localhost").body, b"default site\n");
    // Host and SNI disagree: 421.
    let mut c = Client::connect_tls(s.addr, &ca, "a.test");
    let r = c.get_with_host("/", "cdn.b.test");
    assert_eq!(r.status, 421);
    // openssl s_client sees each certificate by -servername.
    for (name, expect_ok) in [("a.test", true), ("x.b.test", true), ("localhost", true)] {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", s.port())])
            .args([
                "-servername",
                name,
                "-verify_hostname",
                name,
                "-verify_return_error",
            ])
            .args(["-CAfile", &ca.path("ca.pem")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(
                format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.success(), expect_ok, "{name}: {text}");
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "{name}: {text}"
        );
    }
    // Asking a.test's name on the default certificate fails verification.
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", s.port())])
        .args([
            "-servername",
            "nobody.test",
            "-verify_hostname",
            "a.test",
            "-verify_return_error",
        ])
        .args(["-CAfile", &ca.path("ca.pem")])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
}
}

#[test]
fn bad_sites_are_one_line_errors_with_the_file_and_line() {
    let root = TempDir::new("vh-bad");
    let conf = TempDir::new("vh-bad-conf");
    for (text, says) in [
        (
            "[[site]]\nhost = \"a.test\"\n[[site]]\nhost = \"A.test\"\n",
            "line 3: site 'A.test': a second site with this host",
        ),
        ("[[site]]\nroot = \"/\"\n", "line 1: a [[site]] needs host"),
        (
            "[[site]]\nhost = \"a b\"\n",
            "site 'a b': host 'a b' is not a name",
        ),
        (
            "[[site]]\nhost = \"a.test\"\nport = 80\n",
            "line 3: site 'a.test': key 'port': not a setting a site can have",
        ),
        (
            "[[site]]\nhost = \"a.test\"\nredirect = ['/a=/a']\n",
            "line 3: site 'a.test': key 'redirect': --redirect '/a=/a': redirects to itself",
        ),
        (
            "[[site]]\nhost = \"a.test\"\nroot = \"/no/such/dir\"\n",
            "site 'a.test': key 'root'",
        ),
        (
            "[[site]]\nhost = \"a.test\"\ntls-cert = \"c.pem\"\ntls-key = \"k.pem\"\n",
            "tls-cert needs HTTPS at the top level",
        ),
        ("site = 3\n", "'site' is a list of tables"),
        (
            "redirect = ['/a']\n",
            "line 1: key 'redirect': --redirect '/a': expected 'FROM=TO'",
        ),
    ] {
        let file = conf.write("bad.toml", text);
        let out = Command::new(bin())
            .args([
                "--root",
                root.path.to_str().unwrap(),
                "--port",
                "0",
                "--config",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert_eq!(err.lines().count(), 1, "{text}: {err}");
        assert!(err.contains(says), "{text}: {err}");
    }
}
