//! Several event loops (`--workers`): one port shared through SO_REUSEPORT,
//! correct answers under concurrent load, one intact access log.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::support::*;

/// CPU time in nanoseconds used by each thread of a process, by thread id
/// (`schedstat`: far finer than the 10 ms ticks of `stat`).
fn thread_cpu_ns(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let entry = entry.unwrap();
        let stat = std::fs::read_to_string(entry.path().join("schedstat")).unwrap_or_default();
        let ns = stat
            .split(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.insert(entry.file_name().to_string_lossy().into_owned(), ns);
    }
    out
}

/// CPU ticks used by each thread of a process.
fn thread_ticks(pid: u32) -> Vec<u64> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(entry.unwrap().path().join("stat")).unwrap_or_default();
        if let Some(i) = stat.rfind(')') {
            let f: Vec<&str> = stat[i + 2..].split(' ').collect();
            out.push(f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0));
        }
    }
    out
}

#[test]
fn four_event_loops_serve_concurrent_load_correctly() {
    let _heavy = heavy();
    let site = site();
    site.write(
        "mid.bin",
        (0..100_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let logs = TempDir::new("workers-log");
    let log = logs.path.join("access.log");
    let mut s = Server::start(
        Mode::Evented,
        &site.path,
        &["--workers", "4", "--access-log", log.to_str().unwrap()],
    );
    let pid = s.child.id();
    // The start-up line comes once the listeners are bound; the loop
    // threads start right after.
    assert!(
        wait_for(|| (thread_ticks(pid).len() >= 4).then_some(())).is_some(),
        "four loop threads"
    );
    let mid: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let before = thread_cpu_ns(pid);
    let clients = 16;
    let per_client = 150;
    std::thread::scope(|scope| {
        for t in 0..clients {
            let s = &s;
            let mid = &mid;
            scope.spawn(move || {
                // Half the clients reuse one connection, half open a new
                // one per request (so the kernel spreads them over loops).
                let mut keep = s.connect();
                for i in 0..per_client {
                    let path = if i % 3 == 0 { "/mid.bin" } else { "/a.txt" };
                    let r = if t % 2 == 0 {
                        keep.get(path)
                    } else {
                        s.connect().get(path)
                    };
                    assert_eq!(r.status, 200);
                    if path == "/mid.bin" {
                        assert!(r.body == *mid);
                    } else {
                        assert_eq!(r.body, b"hello, skiff\n");
                    }
                }
            });
        }
    });
    // More than one loop did the work: at least two threads each used
    // more than 0.2 ms of CPU during the load.
    let after = thread_cpu_ns(pid);
    let used: Vec<u64> = after
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .collect();
    let busy = used.iter().filter(|&&ns| ns > 200_000).count();
    assert!(
        busy >= 2,
        "work spread over loops (ns per thread): {used:?}"
    );
    // Stop: every loop drains and the process exits 0.
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let _ = idle.read(&mut buf).unwrap();
    s.signal("TERM");
    assert_eq!(s.wait_exit().code(), Some(0));
    // One whole line per request, none torn or interleaved.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), clients * per_client + 1);
    assert!(
        lines.iter().all(|l| l.starts_with("127.0.0.1 - - [")
            && (l.ends_with(" 200 13") || l.ends_with(" 200 100000"))),
        "{:?}",
        lines
            .iter()
            .find(|l| !(l.ends_with(" 200 13") || l.ends_with(" 200 100000")))
    );
}

#[test]
fn workers_zero_means_one_per_cpu() {
    let site = site();
    let s = Server::start(Mode::Evented, &site.path, &["--workers", "0"]);
    let cpus = std::thread::available_parallelism().unwrap().get();
    // The start-up line comes once the listeners are bound; the loop
    // threads start right after.
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", s.child.id()))
            .unwrap()
            .count()
    };
    let all = wait_for(|| (threads() >= cpus).then_some(()));
    assert!(all.is_some(), "{} threads for {cpus} CPUs", threads());
    assert_eq!(s.connect().get("/a.txt").status, 200);
}

#[test]
fn threaded_and_workers_do_not_mix() {
    let out = std::process::Command::new(bin())
        .args(["--threaded", "--workers", "2", "--root", "."])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
}
