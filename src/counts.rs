//! Requests counted per path, as the original assignment did: `SIGUSR1`
//! prints the counts to stderr, most requested first, and so does a clean
//! stop when `--verbose` is on.
//!
//! - **What is counted.** Every request whose head parsed, whatever its
//!   method and status (a path that keeps getting 404 is worth seeing), by
//!   the path of its target as the client sent it: no query, no scheme or
//!   host of an absolute-form target, not percent-decoded (as the access
//!   log shows it).
//! - **Bounded.** Each tally tracks at most [`MAX_PATHS`] distinct paths;
//!   requests for further new paths are added up in one "other paths"
//!   line, so a client inventing paths cannot grow memory.
//! - **No contention.** Each event loop counts into its own tally (its own
//!   mutex, which only the report takes as well). The threaded driver's
//!   threads share one. A report merges them all.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};

/// Most distinct paths one tally tracks.
pub(crate) const MAX_PATHS: usize = 10_000;

/// One driver's counts.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    paths: HashMap<Box<[u8]>, u64>,
    /// Requests for paths past [`MAX_PATHS`].
    other: u64,
}

impl Tally {
    /// Counts one request for `target`.
    pub(crate) fn count(&mut self, target: &[u8]) {
        self.count_path(crate::http::target::path_of(target));
    }

    /// Counts a request of a `[[site]]`: under its host and path
    /// (`a.example.com/index.html`).
    pub(crate) fn count_on(&mut self, site: &str, target: &[u8]) {
        let path = crate::http::target::path_of(target);
        // The key on the stack when it is short (no allocation per
        // request), else on the heap.
        let mut buf = [0u8; 512];
        let n = site.len() + path.len();
        match buf.get_mut(..n) {
            Some(key) => {
                key[..site.len()].copy_from_slice(site.as_bytes());
                key[site.len()..].copy_from_slice(path);
                self.count_path(&buf[..n]);
            }
            None => self.count_path(&[site.as_bytes(), path].concat()),
        }
    }

    fn count_path(&mut self, path: &[u8]) {
        if let Some(n) = self.paths.get_mut(path) {
            *n += 1;
        } else if self.paths.len() < MAX_PATHS {
            self.paths.insert(path.into(), 1);
        } else {
            self.other += 1;
        }
    }
}

/// The tallies of every driver of one server.
#[derive(Debug)]
pub(crate) struct Counts {
    tallies: Box<[Mutex<Tally>]>,
}

impl Counts {
    /// `n` tallies (one per event loop; one for the threaded driver).
    pub(crate) fn new(n: usize) -> Counts {
        Counts {
            tallies: (0..n.max(1)).map(|_| Mutex::default()).collect(),
        }
    }

    /// Tally `i` (wrapping: never out of range).
    pub(crate) fn tally(&self, i: usize) -> &Mutex<Tally> {
        &self.tallies[i % self.tallies.len()]
    }

    /// The report: a title line, then `COUNT PATH` per path, most requested
    /// first (ties by path), then the untracked rest if any.
    pub(crate) fn report(&self) -> Vec<u8> {
        let mut merged: HashMap<Box<[u8]>, u64> = HashMap::new();
        let mut other = 0;
        for t in &self.tallies {
            let t = lock(t);
            for (path, n) in &t.paths {
                *merged.entry(path.clone()).or_default() += n;
            }
            other += t.other;
        }
        let mut rows: Vec<(Box<[u8]>, u64)> = merged.into_iter().collect();
        rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let total: u64 = rows.iter().map(|r| r.1).sum::<u64>() + other;
        let mut out = Vec::with_capacity(64 + rows.len() * 32);
        let _ = writeln!(
            out,
            "skiff: request counts, most requested first ({} paths, {total} requests):",
            rows.len()
        );
        for (path, n) in &rows {
            let _ = write!(out, "{n:>10} ");
            crate::log::escape_into(&mut out, path);
            out.push(b'\n');
        }
        if other > 0 {
            let _ = writeln!(
                out,
                "{other:>10} (other paths: more than {MAX_PATHS} distinct paths)"
            );
        }
        out
    }

    /// Writes the report to stderr in one write.
    pub(crate) fn print(&self) {
        let report = self.report();
        // Through the stderr writer once the server runs: never blocks.
        if let Some(w) = crate::log::stderr_writer() {
            w.submit(report);
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(&report);
        let _ = err.flush();
    }
}

/// Counting goes on even if a thread panicked holding a tally.
pub(crate) fn lock(t: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    crate::unpoison(t.lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_most_requested_first_and_bounded() {
        let counts = Counts::new(2);
        for (i, target) in ["/b", "/a?1", "/a?2", "/c", "/b", "/a"].iter().enumerate() {
            lock(counts.tally(i)).count(target.as_bytes());
        }
        lock(counts.tally(1)).count(b"/bad\x01\"");
        let text = String::from_utf8(counts.report()).unwrap();
        assert_eq!(
            text,
            "skiff: request counts, most requested first (4 paths, 7 requests):\n\
             \x20        3 /a\n\
             \x20        2 /b\n\
             \x20        1 /bad\\x01\\x22\n\
             \x20        1 /c\n"
        );
        let mut t = Tally::default();
        for i in 0..MAX_PATHS + 5 {
            t.count(format!("/{i}").as_bytes());
        }
        t.count(b"/0");
        assert_eq!(t.paths.len(), MAX_PATHS);
        assert_eq!((t.paths[&b"/0"[..]], t.other), (2, 5));
    }
}
