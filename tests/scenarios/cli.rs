//! The command line: the start-up line, flags, legacy spellings, and
//! one-line errors for bad input.

use std::process::Command;

use crate::each_mode;
use crate::support::*;

each_mode! {
    fn startup_line_names_the_real_port_and_root(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        let root = std::fs::canonicalize(&site.path).unwrap();
        assert_ne!(s.port(), 0);
        assert_eq!(
            s.first_line,
            format!("Listening on http://127.0.0.1:{}/ (root: {})", s.port(), root.display())
        );
    }
}

each_mode! {
    fn legacy_assignment_flags(mode) {
        let site = site();
        let mut cmd = Command::new(bin());
        cmd.arg("-document_root").arg(&site.path).args(["-port", "0", "--bind", "127.0.0.1"]);
        cmd.args(mode.args());
        let s = Server::spawn(cmd);
        assert_eq!(s.connect().get("/a.txt").body, b"hello, skiff\n");
    }
}

each_mode! {
    fn ipv6_loopback(mode) {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        }
        let site = site();
        let mut cmd = Command::new(bin());
        cmd.args(["--bind", "::1", "--port", "0", "--root"]).arg(&site.path).args(mode.args());
        let s = Server::spawn(cmd);
        assert!(s.first_line.starts_with("Listening on http://[::1]:"), "{}", s.first_line);
        assert_eq!(s.connect().get("/a.txt").status, 200);
    }
}

/// Runs skiff expecting it to fail at once; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
    assert!(err.starts_with("skiff: "), "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    err
}

#[test]
fn bad_command_lines_fail_with_one_line() {
    let site = site();
    let root = site.path.to_str().unwrap();
    let e = fails(&["--root", "/no/such/folder/anywhere"]);
    assert!(e.contains("does not exist"), "{e}");
    let file = site.path.join("a.txt");
    let e = fails(&["--root", file.to_str().unwrap()]);
    assert!(e.contains("not a directory"), "{e}");
    fails(&["--root", root, "--port", "eighty"]);
    fails(&["--root", root, "--port", "65536"]);
    fails(&["--root", root, "--bind", "999.1.1.1"]);
    fails(&["--root", root, "--protocol", "2.0"]);
    fails(&["--root", root, "--keep-alive-timeout", "-3"]);
    fails(&["--root", root, "--no-such-flag"]);
    let e = fails(&["--root", root, "--error-pages", "/no/such/pages"]);
    assert!(e.contains("error pages"), "{e}");
}

#[test]
fn port_in_use_fails_with_one_line() {
    let site = site();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let e = fails(&[
        "--root",
        site.path.to_str().unwrap(),
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    assert!(e.contains("cannot listen"), "{e}");
}

#[test]
fn help_lists_every_flag() {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--root",
        "--port",
        "--bind",
        "--keep-alive-timeout",
        "--protocol",
        "--access-log",
        "--verbose",
        "--error-pages",
        "--header-timeout",
        "--send-timeout",
        "--no-sendfile",
        "--max-connections",
        "--shutdown-timeout",
        "--threaded",
        "--workers",
        "--no-file-cache",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}
