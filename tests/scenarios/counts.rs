//! Request counts per path: SIGUSR1 prints them to stderr, and so does a
//! clean stop with --verbose.

use crate::each_mode;
use crate::support::*;

const TITLE: &str = "skiff: request counts, most requested first";

/// The report lines after the `n`-th title line in `lines` (0-based), as
/// (count, path).
fn report(lines: &[String], n: usize) -> Vec<(u64, String)> {
    let start = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with(TITLE))
        .nth(n)
        .map(|(i, _)| i)
        .expect("a report");
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("skiff:"))
        .map(|l| {
            let (n, path) = l.trim_start().split_once(' ').unwrap();
            (n.parse().unwrap(), path.to_string())
        })
        .collect()
}

fn titles(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.starts_with(TITLE)).count()
}

fn traffic(s: &Server) {
    let mut c = s.connect();
    c.get("/a.txt");
    c.get("/a.txt?x=1");
    c.get("/");
    c.get("/nope");
    c.get("/");
    c.send("HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    c.head_response();
    c.get("http://t/a.txt");
}

each_mode! {
    fn sigusr1_prints_counts_most_requested_first(mode) {
        let site = site();
        let s = Server::start(mode, &site.path, &[]);
        traffic(&s);
        s.signal("USR1");
        let lines = s.wait_stderr(|l| l.iter().any(|l| l.starts_with(TITLE)) && l.len() >= 4);
        assert!(lines.iter().any(|l| l == &format!("{TITLE} (3 paths, 7 requests):")), "{lines:?}");
        assert_eq!(
            report(&lines, 0),
            [(4, "/a.txt".to_string()), (2, "/".to_string()), (1, "/nope".to_string())]
        );
        // Still serving; counting goes on; a second report has the new
        // numbers.
        let mut c = s.connect();
        assert_eq!(c.get("/nope").status, 404);
        c.get("/nope");
        c.get("/nope");
        s.signal("USR1");
        let lines = s.wait_stderr(|l| titles(l) == 2 && l.len() >= 8);
        assert_eq!(
            report(&lines, 1),
            [(4, "/a.txt".to_string()), (4, "/nope".to_string()), (2, "/".to_string())]
        );
        assert_eq!(c.get("/a.txt").status, 200);
    }
}

each_mode! {
    fn a_verbose_stop_prints_the_counts(mode) {
        let site = site();
        let mut s = Server::start(mode, &site.path, &["--verbose"]);
        traffic(&s);
        s.signal("TERM");
        assert!(s.wait_exit().success());
        let lines = s.all_stderr();
        assert_eq!(titles(&lines), 1, "{lines:?}");
        assert_eq!(report(&lines, 0)[0], (4, "/a.txt".to_string()));

        // Without --verbose a stop prints none.
        let mut quiet = Server::start(mode, &site.path, &[]);
        traffic(&quiet);
        quiet.signal("TERM");
        assert!(quiet.wait_exit().success());
        assert_eq!(titles(&quiet.all_stderr()), 0);
    }
}

#[test]
fn several_loops_print_one_merged_report() {
    let site = site();
    let mut s = Server::start(Mode::Evented, &site.path, &["--workers", "3"]);
    // Many connections, so SO_REUSEPORT spreads them over the loops (all
    // 30 on one loop has odds of 3^-29).
    for _ in 0..30 {
        s.connect().get("/a.txt");
    }
    s.signal("USR1");
    s.wait_stderr(|l| titles(l) == 1 && l.len() >= 2);
    // Stop it, so that all it will ever print is there to check: one
    // report, not one per loop.
    s.signal("TERM");
    assert!(s.wait_exit().success());
    let lines = s.all_stderr();
    assert_eq!(titles(&lines), 1, "{lines:?}");
    assert_eq!(report(&lines, 0), [(30, "/a.txt".to_string())]);
}
