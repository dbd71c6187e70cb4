//! The container image's contract, checked without a container engine: the
//! Dockerfile's directives, and the binary run with exactly the environment
//! and health check command the image declares.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::*;

/// The final stage's instructions (after the last FROM), continuation
/// lines joined.
fn final_stage() -> Vec<String> {
    let text = repo_file("Dockerfile");
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let last_from = joined.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    joined.split_off(last_from)
}

fn directive<'a>(stage: &'a [String], name: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .map(str::trim)
        .collect()
}

/// `ENV A=1 B=2` lines as a map.
fn env_of(stage: &[String]) -> BTreeMap<String, String> {
    directive(stage, "ENV")
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn the_image_is_scratch_plus_the_binary_and_www_run_as_nobody() {
    let stage = final_stage();
    assert_eq!(stage[0], "FROM scratch");
    let copies = directive(&stage, "COPY");
    assert_eq!(copies, ["--from=build /out/skiff /skiff", "www /srv/www"]);
    assert_eq!(directive(&stage, "USER"), ["65534:65534"]);
    assert_eq!(directive(&stage, "EXPOSE"), ["8080"]);
    assert_eq!(directive(&stage, "STOPSIGNAL"), ["SIGTERM"]);
    assert_eq!(directive(&stage, "ENTRYPOINT"), ["[\"/skiff\"]"]);
    let env = env_of(&stage);
    assert_eq!(env["SKIFF_ROOT"], "/srv/www");
    assert_eq!(env["SKIFF_BIND"], "0.0.0.0");
    assert_eq!(env["SKIFF_PORT"], "8080");
    assert_eq!(env["SKIFF_ACCESS_LOG"], "-");
    // The context holds only what the build copies.
    let ignore = repo_file(".dockerignore");
    let rules: Vec<&str> = ignore
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        rules,
        [
            "*",
            "!Cargo.toml",
            "!Cargo.lock",
            "!src/",
            "!benches/",
            "!www/",
            "!deploy/startup.order"
        ]
    );
}

/// The image's environment and HEALTHCHECK command, run against the real
/// binary: healthy while it serves, unhealthy once it has stopped.
#[test]
fn the_declared_environment_serves_and_the_health_check_tells_up_from_down() {
    let stage = final_stage();
    let env = env_of(&stage);
    let health = directive(&stage, "HEALTHCHECK");
    let cmd_json = health[0].split_once("CMD ").unwrap().1;
    let argv: Vec<String> = serde_json::from_str(cmd_json).expect("exec-form CMD");
    assert_eq!(argv[0], "/skiff");

    let www = repo_path("www");
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .envs(&env)
        // What a test cannot take from the image: its root path and port.
        .env("SKIFF_ROOT", &www)
        .env("SKIFF_PORT", "0");
    let mut s = Server::spawn(cmd);
    let r = s.connect().get("/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("skiff"));
    // SKIFF_ACCESS_LOG=-: one line on stdout.
    let lines = s.wait_stdout(|l| !l.is_empty());
    assert!(lines[0].contains("\"GET / HTTP/1.1\" 200 "), "{lines:?}");

    let probe = |port: u16| {
        Command::new(bin())
            .args(&argv[1..])
            .env_clear()
            .envs(&env)
            .env("SKIFF_ROOT", &www)
            .env("SKIFF_PORT", port.to_string())
            .output()
            .unwrap()
    };
    let up = probe(s.port());
    assert!(up.status.success(), "{up:?}");
    assert!(up.stdout.is_empty() && up.stderr.is_empty());
    // The probe is a request like any other.
    s.wait_stdout(|l| l.iter().any(|l| l.contains("\"HEAD / HTTP/1.1\" 200 0")));

    let port = s.port();
    s.signal("TERM");
    assert!(s.wait_exit().success());
    let down = probe(port);
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let err = String::from_utf8(down.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("skiff: health check: connect to 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn a_health_check_of_a_missing_path_fails_with_the_status() {
    let site = site();
    let s = Server::start(Mode::Evented, &site.path, &[]);
    let run = |path: &str| {
        Command::new(bin())
            .args(["--root", site.path.to_str().unwrap(), "--bind", "127.0.0.1"])
            .args(["--port", &s.port().to_string(), "--health-check", path])
            .output()
            .unwrap()
    };
    assert!(run("/a.txt").status.success());
    // A directory without its slash redirects: 3xx counts as up.
    assert!(run("/dir").status.success());
    let out = run("/missing.txt");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "skiff: health check: 127.0.0.1:{} answered /missing.txt with 'HTTP/1.1 404 Not Found'\n",
            s.port()
        )
    );
    let bad = run("no-slash");
    assert_eq!(bad.status.code(), Some(2));
}

/// `key: value` (YAML) or `key=value` (unit file) lines' values.
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix(':').or_else(|| r.strip_prefix('=')))
        })
        .map(|v| v.trim().trim_matches('"'))
        .collect()
}

#[test]
fn the_deployment_examples_hold_together() {
    let k8s = repo_file("deploy/kubernetes.yaml");
    // The grace period outlasts the preStop pause plus skiff's own drain.
    let grace: u64 = values(&k8s, "terminationGracePeriodSeconds")[0]
        .parse()
        .unwrap();
    let pause: u64 = values(&k8s, "seconds")[0].parse().unwrap();
    let lines: Vec<&str> = k8s.lines().map(str::trim).collect();
    let drain_at = lines
        .iter()
        .position(|l| *l == "- name: SKIFF_SHUTDOWN_TIMEOUT")
        .unwrap();
    let drain: u64 = values(lines[drain_at + 1], "value")[0].parse().unwrap();
    assert!(grace > pause + drain, "{grace} <= {pause} + {drain}");
    assert_eq!(values(&k8s, "readOnlyRootFilesystem"), ["true"]);
    assert_eq!(values(&k8s, "runAsNonRoot"), ["true"]);
    assert_eq!(values(&k8s, "runAsUser"), ["65534"]);
    assert_eq!(values(&k8s, "allowPrivilegeEscalation"), ["false"]);
    assert_eq!(values(&k8s, "containerPort"), ["8080"]);
    // Both probes ask for a file the image really has.
    let probes = values(&k8s, "path");
    assert_eq!(probes.len(), 2);
    for p in probes {
        let file = repo_path(&format!("www{p}"));
        assert!(file.is_file(), "probe path {p} is not in www/");
    }

    let unit = repo_file("deploy/skiff.service");
    let env: BTreeMap<&str, &str> = values(&unit, "Environment")
        .into_iter()
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    let stop: u64 = values(&unit, "TimeoutStopSec")[0].parse().unwrap();
    let drain: u64 = env["SKIFF_SHUTDOWN_TIMEOUT"].parse().unwrap();
    assert!(stop > drain, "TimeoutStopSec {stop} <= {drain}");
    assert_eq!(values(&unit, "KillSignal"), ["SIGTERM"]);
    assert_eq!(values(&unit, "DynamicUser"), ["yes"]);
    // Every variable the unit sets is one skiff reads (a typo would be
    // silently ignored otherwise).
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let image_env = env_of(&final_stage());
    for var in env
        .keys()
        .copied()
        .chain(image_env.keys().map(String::as_str))
    {
        assert!(
            help.contains(&format!("[env: {var}=")),
            "{var} is not a skiff variable"
        );
    }
    for var in lines
        .iter()
        .filter_map(|l| l.strip_prefix("- name: SKIFF_"))
    {
        assert!(help.contains(&format!("[env: SKIFF_{var}=")), "SKIFF_{var}");
    }
    // The socket unit hands one socket to this service.
    let socket = repo_file("deploy/skiff.socket");
    assert_eq!(values(&socket, "Accept"), ["no"]);
    assert_eq!(values(&socket, "Service"), ["skiff.service"]);
    assert_eq!(values(&socket, "ListenStream").len(), 1);
    // The commented-out HTTPS example names real variables too.
    let commented: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("#Environment="))
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(commented.contains(&"SKIFF_TLS_CERT"), "{commented:?}");
    for var in commented {
        assert!(
            help.contains(&format!("[env: {var}=")),
            "{var} is not a skiff variable"
        );
    }
}

/// The image's build lays the functions run at start side by side, from the
/// committed list `deploy/startup-order.sh` writes (RSS at start).
#[test]
fn the_build_orders_the_start_up_functions_from_the_committed_list() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("COPY deploy/startup.order ./deploy/"));
    assert!(dockerfile.contains("--symbol-ordering-file=$PWD/deploy/startup.order"));
    // Only where the linker is LLD (x86_64); other linkers lack the flag.
    assert!(dockerfile.contains(r#"if [ "$(uname -m)" = x86_64 ]"#));
    let order = repo_file("deploy/startup.order");
    let names: Vec<&str> = order.lines().collect();
    assert!(names.len() >= 100, "{} names", names.len());
    assert!(
        names
            .iter()
            .all(|n| !n.is_empty() && !n.contains(char::is_whitespace))
    );
    assert!(names.contains(&"main"));
    assert!(
        names.iter().any(|n| n.contains("5skiff6config")),
        "skiff's own start-up is listed"
    );
    assert!(repo_file("deploy/startup-order.sh").contains("--symbol-ordering-file"));
}
