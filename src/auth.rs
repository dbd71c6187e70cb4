//! Basic authentication (`--htpasswd`): who may read, checked without ever
//! running bcrypt on an event loop.
//!
//! - **The file.** An Apache htpasswd file of bcrypt entries
//!   (`htpasswd -B`: `name:$2y$...`). Blank lines and `#` comments are
//!   skipped; any other hash format is refused at start, with its line.
//! - **A request.** Its `Authorization: Basic ...` is decoded; missing or
//!   malformed is a 401. A verdict already known (a salted SHA-256 of the
//!   header value is the key) is used at once. Otherwise the check is a
//!   job for the worker pool: the event loop parks the connection until the
//!   verdict comes back through its mailbox and waker, then answers; the
//!   threaded driver's thread waits for it.
//! - **Bounded.** At most [`MAX_REMEMBERED`] verdicts are remembered, and at
//!   most [`MAX_IN_FLIGHT`] checks run at once per driver; past that, 503.
//! - **Constant time.** bcrypt compares in constant time; an unknown user
//!   is checked against a dummy hash, so a wrong name costs what a wrong
//!   password does; the remembered keys are compared whole.
//! - **Exempt paths** (`--auth-exempt`, for health checks and the like) need
//!   no credentials.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::hold::{Hold, Shared};

use sha2::{Digest, Sha256};

use crate::work::Pool;

/// Verdicts remembered, right and wrong. A browser sends the same header
/// with every request: after the first check each costs a hash.
pub(crate) const MAX_REMEMBERED: usize = 1024;
/// Checks under way at once, per driver; more get 503 at once.
pub(crate) const MAX_IN_FLIGHT: usize = 64;
/// Longest `Authorization` value looked at.
const MAX_HEADER: usize = 4096;

/// A bcrypt hash of a password no one has, checked for unknown users.
/// (Made with `htpasswd -nbB -C 5`; the cost of the entries of a file
/// made with the default `htpasswd -B`.)
const DUMMY_HASH: &str = "$2y$05$N5TMrYbpTskjkSa.gM1isu2DpB/VNVeSDr6towez3R9Po/e3ZzuJu";

/// The users and their hashes, as read at start.
#[derive(Debug, Clone)]
pub(crate) struct Htpasswd {
    users: HashMap<String, String>,
    /// Salt of the verdict keys: random per process.
    salt: [u8; 16],
}

impl Htpasswd {
    /// Reads and parses `--htpasswd FILE`; an error is one line naming the
    /// file (and the line).
    pub(crate) fn load(path: &std::path::Path) -> Result<Htpasswd, String> {
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("--htpasswd '{shown}': {e}"))?;
        Htpasswd::parse(&text).map_err(|e| format!("--htpasswd '{shown}' {e}"))
    }

    /// Parses an htpasswd file's text; an error names the line.
    pub(crate) fn parse(text: &str) -> Result<Htpasswd, String> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let n = i + 1;
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {n}: expected 'name:hash'"));
            };
            let bcrypt = ["$2a$", "$2b$", "$2y$", "$2x$"]
                .iter()
                .any(|p| hash.starts_with(p))
                && hash.len() == 60
                && hash.parse::<bcrypt::HashParts>().is_ok();
            if !bcrypt {
                let kind = if hash.starts_with("$apr1$") {
                    "an MD5 (apr1) hash"
                } else if hash.starts_with("{SHA}") {
                    "a SHA-1 hash"
                } else if hash.starts_with('$') {
                    "an unsupported hash"
                } else {
                    "a crypt or plain-text password"
                };
                return Err(format!(
                    "line {n}: {kind} for '{user}'; only bcrypt is accepted (make it with htpasswd -B)"
                ));
            }
            if user.is_empty() {
                return Err(format!("line {n}: an empty user name"));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            salt: random_salt(),
        })
    }

    /// The key a header value is remembered by.
    fn key(&self, header: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(header);
        h.finalize().into()
    }

    /// Runs bcrypt (slow: a worker's job). True when `user` has `password`.
    pub(crate) fn verify(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                // The same work as a real check, then no.
                let _ = bcrypt::verify(password, DUMMY_HASH);
                false
            }
        }
    }
}

fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    crate::sys::random_bytes(&mut salt);
    salt
}

/// `Basic <base64(user:password)>` -> (user, password); `None` when
/// malformed (not Basic, bad base64, no colon, not UTF-8 in the name).
pub(crate) fn credentials(header: &[u8]) -> Option<(String, Vec<u8>)> {
    if header.len() > MAX_HEADER {
        return None;
    }
    let (scheme, rest) = header.split_at(header.iter().position(|&c| c == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = crate::base64::decode(crate::http::trim_ows(rest))?;
    let colon = decoded.iter().position(|&c| c == b':')?;
    let user = std::str::from_utf8(&decoded[..colon]).ok()?.to_string();
    Some((user, decoded[colon + 1..].to_vec()))
}

/// `--auth-exempt` paths, normalised as request targets are, so that
/// `/x/../healthz` is `/healthz`; anything that is not an absolute path
/// is a one-line error.
pub(crate) fn exempt_paths(paths: &[String]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for path in paths {
        match crate::files::resolve::normalize(path.as_bytes()) {
            Ok(n) if path.starts_with('/') => out.push(n.path),
            _ => {
                return Err(format!(
                    "--auth-exempt '{path}': expected a path such as /healthz"
                ));
            }
        }
    }
    Ok(out)
}

/// What a request gets, as far as authentication goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Right credentials (or none needed).
    Granted,
    /// Missing, malformed or wrong: 401.
    Denied,
    /// Too many checks under way: 503.
    Busy,
    /// Being checked: the connection waits for the answer.
    Pending,
}

/// What [`Verdicts::known`] says of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Verdict(Verdict),
    /// A check of it is under way (its key).
    Running([u8; 32]),
    /// Nothing yet: start a check under this key.
    Ask([u8; 32]),
}

/// Verdicts remembered, and checks under way: one per driver, for every
/// password file (each file salts its keys differently, so one file's
/// verdicts never answer for another's: a `[[site]]` may have its own).
#[derive(Default)]
pub(crate) struct Verdicts {
    remembered: HashMap<[u8; 32], bool>,
    /// Insertion order, for dropping the oldest.
    order: std::collections::VecDeque<[u8; 32]>,
    /// Checks under way, each with a flag that cancels it if it has not
    /// started yet (every request waiting for it went away).
    running: HashMap<[u8; 32], Arc<AtomicBool>>,
}

impl Verdicts {
    pub(crate) fn new() -> Verdicts {
        Verdicts::default()
    }

    /// What is known of `authorization` against `file` now.
    pub(crate) fn known(&self, file: &Htpasswd, authorization: Option<&[u8]>) -> Known {
        let Some(header) = authorization else {
            return Known::Verdict(Verdict::Denied);
        };
        let key = file.key(header);
        if let Some(&ok) = self.remembered.get(&key) {
            return Known::Verdict(if ok {
                Verdict::Granted
            } else {
                Verdict::Denied
            });
        }
        if self.running.contains_key(&key) {
            return Known::Running(key);
        }
        if credentials(header).is_none() {
            return Known::Verdict(Verdict::Denied);
        }
        if self.running.len() >= MAX_IN_FLIGHT {
            return Known::Verdict(Verdict::Busy);
        }
        Known::Ask(key)
    }

    /// Starts a check of `authorization` on `pool`; `done(key, ok)` is
    /// called on a worker when it ends (`None`: cancelled before it began).
    /// False if the pool refused it.
    pub(crate) fn start(
        &mut self,
        file: &Arc<Htpasswd>,
        pool: &Pool,
        key: [u8; 32],
        authorization: &[u8],
        done: impl FnOnce([u8; 32], Option<bool>) + Send + 'static,
    ) -> bool {
        let Some((user, password)) = credentials(authorization) else {
            return false;
        };
        let file = file.clone();
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = cancelled.clone();
        let started = pool.spawn(move || {
            let ok = match flag.load(Ordering::Relaxed) {
                true => None,
                false => Some(file.verify(&user, &password)),
            };
            done(key, ok);
        });
        if started {
            self.running.insert(key, cancelled);
        }
        started
    }

    /// Records a finished check (`None`: it was cancelled, and nothing is
    /// learnt).
    pub(crate) fn record(&mut self, key: [u8; 32], ok: Option<bool>) {
        self.running.remove(&key);
        let Some(ok) = ok else {
            return;
        };
        if self.remembered.insert(key, ok).is_none() {
            self.order.push_back(key);
            while self.order.len() > MAX_REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.remembered.remove(&old);
                }
            }
        }
    }
}

/// How a driver checks credentials, as the connection sees it.
pub(crate) trait Authenticator {
    /// The verdict on a request with this `Authorization` (if any): known
    /// now, or `Pending` after a check was started (the driver will drive
    /// the connection again when it ends).
    /// `file` is the password file that decides (the request's site's).
    fn verdict(&mut self, file: &Arc<Htpasswd>, authorization: Option<&[u8]>) -> Verdict;

    /// The request waiting for the check of `authorization` against
    /// `file` went away (an HTTP/2 stream was reset): unless another
    /// request of another connection waits for it too, a check that has
    /// not begun is not run.
    fn cancel(&mut self, file: &Arc<Htpasswd>, authorization: Option<&[u8]>) {
        let _ = (file, authorization);
    }

    /// From now on a check under way is `Pending` rather than waited for,
    /// where waiting is what the driver would do (a thread of its own):
    /// an HTTP/2 connection's other streams go on meanwhile, and it asks
    /// again shortly.
    fn never_wait(&mut self) {}
}

/// What is called, on a worker, when a check ends: with its key and
/// whether the password was right (`None`: cancelled before it began).
pub(crate) type Done = Arc<dyn Fn([u8; 32], Option<bool>) + Send + Sync>;

/// A driver's password checks: the verdicts it remembers, held by `H` (an
/// event loop's own [`Verdicts`], or one [`Shared`] by the threaded
/// driver's threads); the pool that runs checks; where a finished check
/// goes; and `P`, how a request waits for a check under way.
pub(crate) struct Checks<H, P> {
    verdicts: H,
    pool: Pool,
    done: Done,
    parked: P,
}

impl<H: Clone, P: Clone> Clone for Checks<H, P> {
    fn clone(&self) -> Self {
        Checks {
            verdicts: self.verdicts.clone(),
            pool: self.pool.clone(),
            done: self.done.clone(),
            parked: self.parked.clone(),
        }
    }
}

impl<H: Hold<Verdicts>, P> Checks<H, P> {
    /// The verdict on `authorization` if it is known (or cannot be had:
    /// `Busy`); otherwise the key of the check under way, started now if
    /// none was.
    fn lookup(
        &mut self,
        file: &Arc<Htpasswd>,
        authorization: Option<&[u8]>,
    ) -> Result<Verdict, [u8; 32]> {
        let mut v = self.verdicts.hold();
        match v.known(file, authorization) {
            Known::Verdict(verdict) => Ok(verdict),
            Known::Running(key) => Err(key),
            Known::Ask(key) => {
                let header = authorization.unwrap_or_default();
                let done = self.done.clone();
                match v.start(file, &self.pool, key, header, move |key, ok| done(key, ok)) {
                    true => Err(key),
                    false => Ok(Verdict::Busy),
                }
            }
        }
    }
}

/// How an event loop waits for a check: the connection parks, and is
/// driven again when the verdict comes back through the loop's mailbox.
#[derive(Default)]
pub(crate) struct Parked {
    /// The connection being driven now (its token, set before each call).
    pub(crate) current: usize,
    /// The connections parked on each check under way.
    waiting: HashMap<[u8; 32], Vec<usize>>,
}

impl Checks<Verdicts, Parked> {
    /// An event loop's checks; `done` posts a result to the loop, which
    /// then calls [`Checks::record`].
    pub(crate) fn owned(pool: Pool, done: Done) -> Self {
        Checks {
            verdicts: Verdicts::new(),
            pool,
            done,
            parked: Parked::default(),
        }
    }

    /// Notes whose turn it is (the token of the connection driven next).
    pub(crate) fn turn(&mut self, token: usize) {
        self.parked.current = token;
    }

    /// Records a finished check; the connections parked on it, to drive.
    pub(crate) fn record(&mut self, key: [u8; 32], ok: Option<bool>) -> Vec<usize> {
        self.verdicts.record(key, ok);
        self.parked.waiting.remove(&key).unwrap_or_default()
    }
}

impl Authenticator for Checks<Verdicts, Parked> {
    fn cancel(&mut self, file: &Arc<Htpasswd>, authorization: Option<&[u8]>) {
        let Some(header) = authorization else {
            return;
        };
        let key = file.key(header);
        let token = self.parked.current;
        if let Some(waiting) = self.parked.waiting.get_mut(&key) {
            waiting.retain(|&t| t != token);
            if waiting.is_empty() {
                self.parked.waiting.remove(&key);
                if let Some(flag) = self.verdicts.running.get(&key) {
                    flag.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    fn verdict(&mut self, file: &Arc<Htpasswd>, authorization: Option<&[u8]>) -> Verdict {
        match self.lookup(file, authorization) {
            Ok(verdict) => verdict,
            Err(key) => {
                let token = self.parked.current;
                let waiting = self.parked.waiting.entry(key).or_default();
                if !waiting.contains(&token) {
                    waiting.push(token);
                }
                Verdict::Pending
            }
        }
    }
}

/// The longest a thread waits for a check under way: far longer than any
/// bcrypt cost a file holds takes, so only a pool that never runs the job
/// (stopped) gets here; then the answer is 503.
pub(crate) const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Checks<Shared<Verdicts>, Wait> {
    /// The threaded driver's: one set of verdicts for all threads; a
    /// finished check is recorded by the worker and wakes every thread
    /// waiting on the set.
    pub(crate) fn shared(pool: Pool) -> Self {
        let verdicts = Shared::new(Verdicts::new());
        let into = verdicts.clone();
        Checks {
            verdicts,
            pool,
            done: Arc::new(move |key, ok| into.update(|v| v.record(key, ok))),
            parked: Wait(true),
        }
    }
}

/// Whether a thread waits for a check under way (`true`), or is told
/// `Pending` and asks again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait(bool);

impl Authenticator for Checks<Shared<Verdicts>, Wait> {
    fn never_wait(&mut self) {
        self.parked = Wait(false);
    }

    /// A connection's own thread may wait: for its own check, or for the
    /// same header's check another thread started.
    fn verdict(&mut self, file: &Arc<Htpasswd>, authorization: Option<&[u8]>) -> Verdict {
        if let Ok(verdict) = self.lookup(file, authorization) {
            return verdict;
        }
        if !self.parked.0 {
            return Verdict::Pending;
        }
        let until = crate::timer::later(std::time::Instant::now(), CHECK_WAIT);
        self.verdicts
            .wait_until(until, |v| match v.known(file, authorization) {
                Known::Running(_) => None,
                Known::Verdict(verdict) => Some(verdict),
                // Dropped from memory at once (a flood of other headers):
                // not worth a second check.
                Known::Ask(_) => Some(Verdict::Busy),
            })
            .unwrap_or(Verdict::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bcrypt_entries_are_accepted_and_errors_name_the_line() {
        let good =
            "# users\nalice:$2y$05$h59PpUmBdxKIEHeeRi6zkegIWAtGjZCvubBSMFkr8i5bKSRO2vvJ6\n\n";
        let file = Htpasswd::parse(good).unwrap();
        assert!(file.verify("alice", b"secret"));
        assert!(!file.verify("alice", b"Secret"));
        assert!(!file.verify("bob", b"secret"));
        for (text, line, what) in [
            ("a:$apr1$x$y\n", 1, "apr1"),
            ("# c\nb:{SHA}abc=\n", 2, "SHA-1"),
            ("\n\nc:plain\n", 3, "plain"),
            ("d:$2y$05$short\n", 1, "bcrypt"),
            ("no colon\n", 1, "name:hash"),
        ] {
            let e = Htpasswd::parse(text).unwrap_err();
            assert!(
                e.starts_with(&format!("line {line}:")) && e.contains(what),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn credentials_are_decoded_strictly() {
        // alice:secret
        assert_eq!(
            credentials(b"Basic YWxpY2U6c2VjcmV0"),
            Some(("alice".into(), b"secret".to_vec()))
        );
        assert_eq!(
            credentials(b"basic   YWxpY2U6c2VjcmV0"),
            Some(("alice".into(), b"secret".to_vec()))
        );
        // a password may hold colons: "u:p:q"
        assert_eq!(
            credentials(b"Basic dTpwOnE="),
            Some(("u".into(), b"p:q".to_vec()))
        );
        for bad in [
            &b"Bearer YWxpY2U6c2VjcmV0"[..],
            b"Basic",
            b"Basic ",
            b"Basic YWxpY2U",           // bad length
            b"Basic YWxpY2U6c2VjcmV0=", // bad padding
            b"Basic @@@@",
            b"Basic YWxpY2U=", // no colon ("alice")
            b"BasicYWxpY2U6c2VjcmV0",
        ] {
            assert_eq!(credentials(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn verdicts_are_remembered_bounded_and_in_flight_is_capped() {
        let file = Arc::new(
            Htpasswd::parse("alice:$2y$05$h59PpUmBdxKIEHeeRi6zkegIWAtGjZCvubBSMFkr8i5bKSRO2vvJ6\n")
                .unwrap(),
        );
        let mut v = Verdicts::new();
        assert_eq!(v.known(&file, None), Known::Verdict(Verdict::Denied));
        assert_eq!(
            v.known(&file, Some(b"Basic !!!!")),
            Known::Verdict(Verdict::Denied)
        );
        let header = b"Basic YWxpY2U6c2VjcmV0";
        let Known::Ask(key) = v.known(&file, Some(header)) else {
            panic!("unknown at first");
        };
        v.running.insert(key, Arc::default());
        assert_eq!(v.known(&file, Some(header)), Known::Running(key));
        v.record(key, Some(true));
        assert_eq!(
            v.known(&file, Some(header)),
            Known::Verdict(Verdict::Granted)
        );
        // Cap on checks under way.
        for i in 0..MAX_IN_FLIGHT {
            v.running.insert([i as u8 + 1; 32], Arc::default());
        }
        assert_eq!(
            v.known(&file, Some(b"Basic Ym9iOng=")),
            Known::Verdict(Verdict::Busy)
        );
        v.running.clear();
        // Bounded memory.
        for i in 0..MAX_REMEMBERED + 10 {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            k[31] = 7;
            v.record(k, Some(false));
        }
        assert_eq!(v.remembered.len(), MAX_REMEMBERED);
        assert!(
            matches!(v.known(&file, Some(header)), Known::Ask(_)),
            "the oldest verdict was dropped"
        );
    }

    #[test]
    fn a_check_cancelled_before_it_begins_is_not_run() {
        let file = Arc::new(
            Htpasswd::parse("alice:$2y$05$h59PpUmBdxKIEHeeRi6zkegIWAtGjZCvubBSMFkr8i5bKSRO2vvJ6\n")
                .unwrap(),
        );
        let pool = Pool::new(1).unwrap();
        // The one worker is busy until told.
        let (go, wait) = std::sync::mpsc::channel::<()>();
        assert!(pool.spawn(move || {
            let _ = wait.recv();
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let done: Done = Arc::new(move |key, ok| {
            let _ = tx.send((key, ok));
        });
        let mut checks = Checks::owned(pool, done);
        let header = &b"Basic YWxpY2U6c2VjcmV0"[..];
        // Two connections wait for the same check; one goes away: it runs.
        checks.turn(1);
        assert_eq!(checks.verdict(&file, Some(header)), Verdict::Pending);
        checks.turn(2);
        assert_eq!(checks.verdict(&file, Some(header)), Verdict::Pending);
        checks.cancel(&file, Some(header));
        // The other goes away too: it is cancelled, and says so.
        checks.turn(1);
        checks.cancel(&file, Some(header));
        go.send(()).unwrap();
        let (key, ok) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(ok, None, "not run");
        assert!(checks.record(key, ok).is_empty());
        // Asked again, it is checked anew, and this time it runs.
        checks.turn(3);
        assert_eq!(checks.verdict(&file, Some(header)), Verdict::Pending);
        let (key, ok) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(ok, Some(true));
        assert_eq!(checks.record(key, ok), vec![3]);
        assert_eq!(checks.verdict(&file, Some(header)), Verdict::Granted);
    }
}
