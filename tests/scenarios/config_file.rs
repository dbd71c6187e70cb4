//! `--config FILE`: every flag as a TOML key, below flags and variables in
//! precedence, with one-line errors naming the key.

use std::process::Command;

use crate::support::*;

/// The long names of every flag, from `--help`.
fn flags() -> Vec<String> {
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    help.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("-v, ").unwrap_or(l);
            let l = l.strip_prefix("--")?;
            Some(l.split([' ', '[']).next()?.to_string())
        })
        .collect()
}

#[test]
fn the_example_file_names_every_setting_and_only_settings() {
    let example = repo_file("deploy/skiff.toml");
    // The top level's keys (a [[site]] table's are a site's).
    let keys: Vec<String> = example
        .lines()
        .take_while(|l| !l.contains("[[site]]"))
        .map(|l| l.trim_start_matches("# "))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.to_string()))
        .collect();
    let flags = flags();
    for flag in &flags {
        if ["config", "health-check", "help", "version"].contains(&flag.as_str()) {
            continue;
        }
        assert!(keys.contains(flag), "deploy/skiff.toml lacks {flag}");
    }
    for key in &keys {
        assert!(
            flags.contains(key),
            "deploy/skiff.toml has {key}, which is no flag"
        );
    }
}

#[test]
fn the_example_file_serves_with_the_command_line_on_top() {
    let site = site();
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(repo_path("deploy/skiff.toml"))
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            "1",
            "--root",
        ])
        .arg(&site.path);
    let s = Server::spawn(cmd);
    assert_eq!(s.connect().get("/a.txt").body, b"hello, skiff\n");
    // access-log = "-" came from the file.
    s.wait_stdout(|l| {
        l.iter()
            .any(|l| l.contains("\"GET /a.txt HTTP/1.1\" 200 13"))
    });
}

#[test]
fn flags_then_variables_then_the_file_then_defaults() {
    let site = site();
    let file = site.write(
        "skiff.toml",
        "keep-alive-timeout = 7\nheader = ['X-One: 1', 'X-Two: 2']\nlist-dirs = true\nshow-hidden = false\nmax-age = 60\n",
    );
    let start = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&file)
            .args(["--bind", "127.0.0.1", "--port", "0", "--root"])
            .arg(&site.path)
            .args(args)
            .envs(env.iter().copied());
        Server::spawn(cmd)
    };
    let s = start(&[], &[]);
    let r = s.connect().get("/a.txt");
    assert_eq!(r.header("keep-alive"), Some("timeout=7"), "from the file");
    assert_eq!(r.header("x-one"), Some("1"));
    assert_eq!(r.header("x-two"), Some("2"));
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    assert_eq!(s.connect().get("/empty/").status, 200, "list-dirs = true");
    drop(s);
    let s = start(&[("SKIFF_KEEP_ALIVE_TIMEOUT", "8")], &[]);
    let r = s.connect().get("/a.txt");
    assert_eq!(
        r.header("keep-alive"),
        Some("timeout=8"),
        "the variable wins"
    );
    assert_eq!(r.header("x-one"), Some("1"), "the rest still from the file");
    drop(s);
    let s = start(
        &[("SKIFF_KEEP_ALIVE_TIMEOUT", "8")],
        &["--keep-alive-timeout", "9", "--header", "X-Three: 3"],
    );
    let r = s.connect().get("/a.txt");
    assert_eq!(r.header("keep-alive"), Some("timeout=9"), "the flag wins");
    assert_eq!(r.header("x-three"), Some("3"));
    assert_eq!(
        r.header("x-one"),
        None,
        "a repeated flag on the command line replaces the file's list"
    );
    // Without the file: the default.
    let mut cmd = Command::new(bin());
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--root"])
        .arg(&site.path);
    let s = Server::spawn(cmd);
    assert_eq!(
        s.connect().get("/a.txt").header("keep-alive"),
        Some("timeout=10")
    );
}

#[test]
fn bad_files_are_one_line_naming_the_key() {
    use super::cli::fails;
    let site = site();
    let root = site.path.to_str().unwrap();
    for (text, says) in [
        (
            "kep-alive-timeout = 5\n",
            "key 'kep-alive-timeout': not a setting",
        ),
        ("port = 'eighty'\n", "key 'port': invalid value 'eighty'"),
        ("port = 70000\n", "key 'port': invalid value '70000'"),
        ("keep-alive-timeout = 86401\n", "key 'keep-alive-timeout'"),
        (
            "list-dirs = 'yes'\n",
            "key 'list-dirs': expected true or false",
        ),
        (
            "port = 1.5\n",
            "key 'port': expected a string or a whole number",
        ),
        (
            "header = [1.5]\n",
            "key 'header': expected a string or a whole number",
        ),
        ("[server]\nport = 1\n", "key 'server'"),
        ("config = 'other.toml'\n", "key 'config': not a setting"),
        ("health-check = '/'\n", "key 'health-check': not a setting"),
        ("http2 = 'maybe'\n", "key 'http2': invalid value 'maybe'"),
        (
            "http2 = 1.5\n",
            "key 'http2': expected \"on\", \"off\", true or false",
        ),
        (
            "http2-max-streams = 0\n",
            "key 'http2-max-streams': invalid value '0'",
        ),
        ("port = \n", "line 1"),
        ("root = 'x'\nroot = 'y'\n", "line 2"),
    ] {
        let file = site.write("bad.toml", text);
        let e = fails(&["--root", root, "--config", file.to_str().unwrap()]);
        assert!(e.contains("--config '"), "{text:?}: {e}");
        assert!(e.contains(says), "{text:?}: {e}");
    }
    let e = fails(&["--root", root, "--config", "/no/such.toml"]);
    assert!(e.contains("--config '/no/such.toml'"), "{e}");
    // Through the variable too.
    let file = site.write("bad.toml", "nope = 1\n");
    let out = Command::new(bin())
        .args(["--root", root])
        .env("SKIFF_CONFIG", &file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("key 'nope'"), "{err}");
}

#[test]
fn help_states_the_precedence() {
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("Each setting comes from the command line, else its SKIFF_* variable, else the --config file, else its default."),
        "{help}"
    );
}
