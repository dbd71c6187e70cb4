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
pub(crate) fn fails(args: &[&str]) -> String {
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

each_mode! {
    fn every_flag_can_come_from_the_environment(mode) {
        let site = site();
        let mut cmd = Command::new(bin());
        cmd.env("SKIFF_ROOT", &site.path)
            .env("SKIFF_PORT", "0")
            .env("SKIFF_BIND", "127.0.0.1")
            .env("SKIFF_PROTOCOL", "1.0")
            .env("SKIFF_VERBOSE", "true")
            .args(mode.args());
        let s = Server::spawn(cmd);
        let mut c = s.connect();
        let r = c.get("/a.txt");
        assert_eq!((r.version.as_str(), r.status), ("HTTP/1.0", 200));
        assert_eq!(r.body, b"hello, skiff\n");
        s.wait_stderr(|l| l.iter().any(|x| x.contains("connected")));
    }
}

each_mode! {
    fn flags_win_over_the_environment(mode) {
        let site = site();
        let mut cmd = Command::new(bin());
        cmd.env("SKIFF_PROTOCOL", "1.0")
            .env("SKIFF_KEEP_ALIVE_TIMEOUT", "3")
            .env("SKIFF_ROOT", "/no/such/root/at/all")
            .args(["--protocol", "1.1", "--bind", "127.0.0.1", "--port", "0", "--root"])
            .arg(&site.path)
            .args(mode.args());
        let s = Server::spawn(cmd);
        let r = s.connect().get("/a.txt");
        assert_eq!(r.version, "HTTP/1.1");
        // Not overridden by a flag: taken from the environment.
        assert_eq!(r.header("keep-alive"), Some("timeout=3"));
    }
}

#[test]
fn a_bad_environment_value_is_a_one_line_error() {
    let site = site();
    let out = Command::new(bin())
        .env("SKIFF_PORT", "eighty")
        .args(["--root", site.path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("eighty"), "{err}");
}

#[test]
fn help_names_the_environment_variable_of_every_flag() {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("--") || l.trim_start().starts_with("-v"))
    {
        let flag = line
            .split_whitespace()
            .find(|w| w.starts_with("--"))
            .unwrap()
            .trim_end_matches(',');
        // Actions, not settings: an environment variable must never turn
        // every server in a container into a probe.
        if flag == "--help" || flag == "--version" || flag == "--health-check" {
            continue;
        }
        let var = format!(
            "SKIFF_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        assert!(line.contains(&format!("[env: {var}=]")), "{flag}: {line}");
    }
}

/// The docs' flags table (docs/flags.md, which the README points to) and
/// `skiff --help` name the same flags, with the same defaults, so neither
/// can drift from the other.
#[test]
fn readme_flags_table_matches_help() {
    let readme = repo_file("docs/flags.md");
    let table: Vec<(String, String)> = readme
        .split("## Flags")
        .nth(1)
        .expect("a Flags section")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and rule
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let flag = cells[0]
                .split('`')
                .nth(1)
                .unwrap()
                .split_whitespace()
                .find(|w| w.starts_with("--"))
                .unwrap()
                .to_string();
            (flag, cells[1].to_string())
        })
        .collect();

    let out = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let mut from_help = Vec::new();
    for line in help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
    {
        let flag = line
            .split_whitespace()
            .find(|w| w.starts_with("--"))
            .unwrap()
            .trim_end_matches(',')
            .to_string();
        if flag == "--help" || flag == "--version" {
            continue;
        }
        let default = line
            .split("[default: ")
            .nth(1)
            .map(|d| d[..d.find(']').unwrap()].to_string());
        from_help.push((flag, default));
    }
    let mut readme_flags: Vec<&str> = table.iter().map(|(f, _)| f.as_str()).collect();
    let mut help_flags: Vec<&str> = from_help.iter().map(|(f, _)| f.as_str()).collect();
    readme_flags.sort_unstable();
    help_flags.sort_unstable();
    assert_eq!(readme_flags, help_flags, "README table vs --help");
    for (flag, default) in &from_help {
        let cell = &table.iter().find(|(f, _)| f == flag).unwrap().1;
        if let Some(d) = default {
            assert!(
                cell.contains(&format!("`{d}`")) || cell == d,
                "{flag}: --help says default {d}, README says {cell}"
            );
        }
    }
}

/// Every numeric flag, its environment variable, and its largest value.
const NUMERIC_FLAGS: [(&str, &str, &str); 10] = [
    ("--port", "SKIFF_PORT", "65535"),
    ("--compress-threads", "SKIFF_COMPRESS_THREADS", "64"),
    ("--compress-cache", "SKIFF_COMPRESS_CACHE", "65536"),
    ("--keep-alive-timeout", "SKIFF_KEEP_ALIVE_TIMEOUT", "86400"),
    ("--header-timeout", "SKIFF_HEADER_TIMEOUT", "86400"),
    ("--send-timeout", "SKIFF_SEND_TIMEOUT", "86400"),
    ("--max-connections", "SKIFF_MAX_CONNECTIONS", "1000000"),
    ("--shutdown-timeout", "SKIFF_SHUTDOWN_TIMEOUT", "86400"),
    ("--max-age", "SKIFF_MAX_AGE", "2147483648"),
    ("--workers", "SKIFF_WORKERS", "256"),
];

#[test]
fn every_numeric_flag_refuses_values_past_its_bound_by_name_and_by_environment() {
    let site = site();
    let root = site.path.to_str().unwrap();
    for (flag, var, max) in NUMERIC_FLAGS {
        let past = (max.parse::<u128>().unwrap() + 1).to_string();
        for bad in [
            past.as_str(),
            "18446744073709551615",
            "99999999999999999999999",
            "-1",
            "1e3",
            "",
        ] {
            let e = fails(&["--root", root, &format!("{flag}={bad}")]);
            assert!(e.contains(flag), "{flag} {bad:?}: {e}");
            let out = Command::new(bin())
                .args(["--root", root])
                .env(var, bad)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{var}={bad:?}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "{var}={bad:?}: {err:?}");
            assert!(
                err.contains(flag) && !err.contains("panicked"),
                "{var}={bad:?}: {err}"
            );
        }
        let e = fails(&["--root", root, flag, &past]);
        assert!(e.contains(max), "{flag}: the error names the bound: {e}");
    }
}

#[test]
fn the_largest_value_of_every_timeout_serves_and_stops() {
    // The largest timeouts once overflowed `Instant` at the first
    // connection, or at SIGTERM.
    let site = site();
    let mut s = Server::start(
        Mode::Evented,
        &site.path,
        &[
            "--keep-alive-timeout",
            "86400",
            "--header-timeout",
            "86400",
            "--send-timeout",
            "86400",
            "--shutdown-timeout",
            "86400",
            "--max-age",
            "2147483648",
            "--max-connections",
            "1000000",
            "--compress-threads",
            "64",
            "--compress-cache",
            "65536",
        ],
    );
    let r = s.connect().get("/a.txt");
    assert_eq!(
        (r.status, r.header("keep-alive")),
        (200, Some("timeout=86400"))
    );
    assert_eq!(r.header("cache-control"), Some("max-age=2147483648"));
    s.signal("TERM");
    assert!(s.wait_exit().success());
    let mut cmd = Command::new(bin());
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--root"])
        .arg(&site.path)
        .args(["--threaded"]);
    for (_, var, max) in NUMERIC_FLAGS {
        if var != "SKIFF_PORT" && var != "SKIFF_WORKERS" {
            cmd.env(var, max);
        }
    }
    let mut s = Server::spawn(cmd);
    assert_eq!(s.connect().get("/a.txt").status, 200);
    s.signal("TERM");
    assert!(s.wait_exit().success());
}

#[test]
fn an_oversized_error_page_is_refused_at_start_and_a_large_one_is_served_whole() {
    let site = site();
    let pages = TempDir::new("pages");
    pages.write("404.html", vec![b'x'; 256 * 1024 + 1]);
    let e = fails(&[
        "--root",
        site.path.to_str().unwrap(),
        "--error-pages",
        pages.path.to_str().unwrap(),
    ]);
    assert!(
        e.contains("404.html") && e.contains("262145 bytes") && e.contains("262144"),
        "{e}"
    );
    // At the limit it is served, byte for byte, on a kept connection.
    let page: Vec<u8> = (0..256 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    pages.write("404.html", &page);
    let s = Server::start(
        Mode::Evented,
        &site.path,
        &["--error-pages", pages.path.to_str().unwrap()],
    );
    let mut c = s.connect();
    for _ in 0..3 {
        let r = c.get("/missing");
        assert_eq!(r.status, 404);
        assert!(r.body == page);
    }
    assert_eq!(c.get("/a.txt").body, b"hello, skiff\n");
}

/// The flags `skiff --help` lists, as `--name` (without `--help` and
/// `--version`).
fn help_flags() -> Vec<String> {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("--"))
                .unwrap()
                .trim_end_matches(',')
                .to_string()
        })
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

/// `skiff generate man` is a man page naming every flag, made from the
/// flags themselves; `skiff generate completions SHELL` completes every
/// flag in each shell clap knows; anything else is one line and exit 2.
#[test]
fn the_generated_man_page_and_completions_name_every_flag() {
    let flags = help_flags();
    assert!(flags.len() > 40, "{flags:?}");
    let generate = |args: &[&str]| {
        Command::new(bin())
            .arg("generate")
            .args(args)
            .output()
            .unwrap()
    };
    let man = generate(&["man"]);
    assert!(man.status.success());
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(man.contains(".TH skiff 1"));
    for flag in &flags {
        // roff escapes each '-' as '\-'.
        let roff = flag.replace('-', "\\-");
        assert!(
            man.contains(&format!("\\fB{roff}\\fR")),
            "the man page lacks {flag}"
        );
    }
    for shell in ["bash", "elvish", "fish", "powershell", "zsh"] {
        let out = generate(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        for flag in &flags {
            let name = flag.trim_start_matches("--");
            assert!(text.contains(name), "{shell} completions lack {flag}");
        }
    }
    for bad in [
        &[][..],
        &["manual"],
        &["completions"],
        &["completions", "tcsh"],
        &["man", "extra"],
    ] {
        let out = generate(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
        assert!(err.starts_with("skiff: generate"), "{err}");
    }
}
