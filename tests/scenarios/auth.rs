//! Basic authentication (`--htpasswd`) with files made by the real
//! `htpasswd -B`: missing, malformed, wrong and right credentials, the
//! realm, exempt paths and health checks, and checks that never hold up
//! the loop.

use std::io::Read;
use std::process::Command;

use crate::each_mode;
use crate::support::*;

/// An htpasswd file made by Apache's tool; `None` (and a skip) without it
/// outside CI.
fn htpasswd(dir: &TempDir, users: &[(&str, &str)], cost: u32) -> Option<std::path::PathBuf> {
    if !have("htpasswd") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install apache2-utils (.ci/run does)"
        );
        eprintln!("skipped: htpasswd is not installed");
        return None;
    }
    let path = dir.path.join("users.htpasswd");
    let mut first = true;
    for (user, pass) in users {
        let mut cmd = Command::new("htpasswd");
        cmd.arg("-bB").args(["-C", &cost.to_string()]);
        if first {
            cmd.arg("-c");
        }
        let ok = cmd
            .arg(&path)
            .args([user, pass])
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "htpasswd");
        first = false;
    }
    Some(path)
}

fn basic(user: &str, pass: &str) -> String {
    let token = skiff::base64::encode(format!("{user}:{pass}").as_bytes());
    format!("Authorization: Basic {token}\r\n")
}

each_mode! {
    fn credentials_missing_malformed_wrong_and_right(mode) {
        let site = site();
        let Some(file) = htpasswd(&site, &[("alice", "s3cret pass"), ("bob", "hunter2")], 5) else { return };
        let s = Server::start(mode, &site.path, &["--htpasswd", file.to_str().unwrap()]);
        let mut c = s.connect();
        let r = c.get("/a.txt");
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"skiff\", charset=\"UTF-8\""));
        assert_eq!(r.header("connection"), None, "kept open for the retry");
        assert!(!r.text().contains("hello"));
        // The same connection, now with the right credentials.
        let r = c.get_with("/a.txt", &basic("alice", "s3cret pass"));
        assert_eq!((r.status, &r.body[..]), (200, &b"hello, skiff\n"[..]));
        assert_eq!(r.header("www-authenticate"), None);
        // Again: the verdict is remembered.
        assert_eq!(c.get_with("/a.txt", &basic("alice", "s3cret pass")).status, 200);
        assert_eq!(c.get_with("/a.txt", &basic("bob", "hunter2")).status, 200);
        // Wrong password, wrong user, a user's password for another.
        for (u, p) in [("alice", "s3cret Pass"), ("carol", "hunter2"), ("bob", "s3cret pass"), ("", "")] {
            let r = c.get_with("/a.txt", &basic(u, p));
            assert_eq!(r.status, 401, "{u}:{p}");
            assert!(r.header("www-authenticate").is_some());
        }
        // Malformed headers are 401, never 500.
        for bad in [
            "Authorization: Bearer abc\r\n",
            "Authorization: Basic\r\n",
            "Authorization: Basic !!!!\r\n",
            "Authorization: Basic YWxpY2U\r\n",
            "Authorization: Basic YWxpY2U=\r\n",
            "Authorization: basicYWxpY2U6c2VjcmV0\r\n",
        ] {
            assert_eq!(c.get_with("/a.txt", bad).status, 401, "{bad}");
        }
        // Pipelined requests wait for the check in order.
        let creds = basic("bob", "hunter2");
        c.send(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\n{creds}\r\nGET /nope HTTP/1.1\r\nHost: t\r\n{creds}\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(c.response().status, 200);
        assert_eq!(c.response().status, 404);
        assert_eq!(c.response().status, 401);
        // HEAD gets GET's headers.
        c.send(format!("HEAD /a.txt HTTP/1.1\r\nHost: t\r\n{}\r\n", basic("alice", "s3cret pass")));
        let h = c.head_response();
        assert_eq!((h.status, h.content_length()), (200, 13));
    }
}

each_mode! {
    fn the_realm_exempt_paths_and_health_checks(mode) {
        let site = site();
        site.write("healthz", "ok");
        let Some(file) = htpasswd(&site, &[("alice", "pw")], 5) else { return };
        let file = file.to_str().unwrap();
        let s = Server::start(mode, &site.path, &["--htpasswd", file, "--auth-realm", "Team files", "--auth-exempt", "/healthz"]);
        let r = s.connect().get("/a.txt");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Team files\", charset=\"UTF-8\""));
        assert_eq!(s.connect().get("/healthz").status, 200);
        assert_eq!(s.connect().get("/healthz?x=1").status, 200, "the query plays no part");
        assert_eq!(s.connect().get("/healthzz").status, 401, "only that path");
        assert_eq!(s.connect().get("/x/../healthz").status, 200, "as normalised");
        // --health-check asks for an exempt path: healthy.
        let port = s.port().to_string();
        let check = |path: &str| {
            Command::new(bin())
                .args(["--bind", "127.0.0.1", "--port", &port, "--root"])
                .arg(&site.path)
                .args(["--htpasswd", file, "--health-check", path])
                .output()
                .unwrap()
        };
        assert!(check("/healthz").status.success());
        let out = check("/a.txt");
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    }
}

each_mode! {
    fn a_slow_check_holds_up_no_one_else(mode) {
        // Cost 15 takes seconds: long enough that what the loop does in the
        // meantime is plain.
        let site = site();
        site.write("open.txt", "open");
        let Some(file) = htpasswd(&site, &[("alice", "pw")], 15) else { return };
        let s = Server::start(mode, &site.path, &["--htpasswd", file.to_str().unwrap(), "--auth-exempt", "/open.txt"]);
        let mut slow = s.connect();
        slow.send(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\n{}\r\n", basic("alice", "pw")));
        // Others are served while the check runs.
        for _ in 0..5 {
            assert_eq!(s.connect().get("/open.txt").body, b"open");
            assert_eq!(s.connect().get("/a.txt").status, 401);
        }
        slow.stream.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let early = slow.stream.read(&mut b);
        assert!(
            matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "answered before its check could have ended: {early:?}"
        );
        slow.stream.set_nonblocking(false).unwrap();
        // Then it gets its answer.
        let r = slow.response();
        assert_eq!((r.status, &r.body[..]), (200, &b"hello, skiff\n"[..]));
    }
}

#[test]
fn an_unsupported_hash_is_refused_at_start_with_its_line() {
    let site = site();
    let file = site.write("bad.htpasswd", "# users\nalice:$2y$05$h59PpUmBdxKIEHeeRi6zkegIWAtGjZCvubBSMFkr8i5bKSRO2vvJ6\nbob:$apr1$abc$def\n");
    let out = Command::new(bin())
        .args([
            "--root",
            site.path.to_str().unwrap(),
            "--htpasswd",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("line 3") && err.contains("bob") && err.contains("htpasswd -B"),
        "{err}"
    );
    for args in [
        vec!["--htpasswd", "/no/such/file"],
        vec!["--auth-realm", "a\"b"],
        vec!["--auth-exempt", "healthz"],
    ] {
        let out = Command::new(bin())
            .args(["--root", site.path.to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
    }
}

each_mode! {
    /// Regression (threaded mode): a thread whose credentials another
    /// thread was already checking waited out a 10-second channel timeout
    /// before it looked at the verdict. Browsers send the same credentials
    /// on several connections at once. Each client here gives up after 5
    /// seconds: a bound that the stall passed, not a speed requirement.
    fn concurrent_first_requests_with_the_same_credentials_are_all_answered(mode) {
        let site = site();
        // Cost 10: a check long enough (tens of milliseconds) that the
        // eight requests surely arrive while it runs.
        let Some(file) = htpasswd(&site, &[("alice", "pw")], 10) else { return };
        let s = Server::start(mode, &site.path, &["--htpasswd", file.to_str().unwrap()]);
        let creds = basic("alice", "pw");
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let mut c = s.connect();
                c.stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
                let start = start.clone();
                let creds = creds.clone();
                std::thread::spawn(move || {
                    start.wait();
                    let r = c.get_with("/a.txt", &creds);
                    (r.status, r.body)
                })
            })
            .collect();
        for c in clients {
            let (status, body) = c.join().expect("answered within the bound");
            assert_eq!((status, &body[..]), (200, &b"hello, skiff\n"[..]));
        }
    }
}
