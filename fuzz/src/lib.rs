//! What the fuzz targets share: the fixture roots, the connection harness
//! and its checks, and what each target's outcome is as a status (for the
//! `reach` replay, which counts a corpus by status).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use skiff::config::Config;
use skiff::conn::scripted::ScriptedPeer;
use skiff::conn::{Conn, Cx, Next};
use skiff::files::resolve::{Lookup, Resolution, resolve_with};
use skiff::http::date::Clock;
use skiff::http::request::parse;
use skiff::http::response::Status;
use skiff::log::{Entry, LogSink};
use skiff::server::core::Scripted;

/// The document root of the connection target: small and large files,
/// a folder with an index, a folder to list, a hidden file.
pub fn site() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("skiff-fuzz-site-{}", std::process::id()));
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::create_dir_all(root.join("list")).unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::write(root.join("mid.txt"), vec![b'm'; 3000]).unwrap();
        std::fs::write(root.join("big.bin"), vec![b'b'; 200_000]).unwrap();
        std::fs::write(root.join("dir/index.html"), "<p>x</p>").unwrap();
        std::fs::write(root.join("list/one.txt"), "1").unwrap();
        std::fs::write(root.join(".env"), "hidden").unwrap();
        std::fs::canonicalize(root).unwrap()
    })
}

/// The connection target's configuration: listings, the fallback, CORS,
/// cache rules and two index names on, so all of them are reached.
pub fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let root = site().to_str().unwrap().to_string();
        Config::parse_from([
            "skiff",
            "--root",
            &root,
            "--list-dirs",
            "--fallback",
            "dir/index.html",
            "--cors",
            "http://a.example,http://b.example",
            "--cache-control",
            "/dir/**=no-cache",
            "--index",
            "index.html,index.htm",
            // Site rules, so every fuzzed request goes through them too.
            "--redirect",
            "/r/*=/dir/$1",
            "--redirect",
            "h.example/**=https://x.example/$1 301",
            "--rewrite",
            "/w/**=/$1",
            "--clean-urls",
            "--trailing-slash",
            "always",
            "--header",
            "/**/*.html=X-Rule: 1",
            "--allow",
            "127.0.0.0/8",
            "--deny",
            "10.0.0.0/8",
            "--trust-proxy",
            "127.0.0.1",
        ])
        .unwrap()
    })
}

/// A root with a subfolder, an index, variants, hidden files, and symlinks
/// pointing out of it, and a secret next to it (the `resolve_path` target).
pub fn resolve_root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("skiff-fuzz-resolve-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        std::fs::write(root.join("index.html"), "i").unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        std::fs::write(root.join("sub/a.txt.gz"), "gz").unwrap();
        std::fs::write(root.join("sub/.env"), "hidden").unwrap();
        std::fs::write(root.join(".a.txt.br"), "hidden").unwrap();
        let _ = std::os::unix::fs::symlink(".env", root.join("sub/b.txt"));
        let _ = std::os::unix::fs::symlink("sub/.env", root.join("a.txt.br"));
        let _ = std::os::unix::fs::symlink(&base, root.join("out"));
        let _ = std::os::unix::fs::symlink(base.join("secret.txt"), root.join("sub/s.txt"));
        std::fs::canonicalize(root).unwrap()
    })
}

/// The lookup the `resolve_path` target uses: everything on.
pub fn resolve_lookup(root: &Path) -> Lookup<'_> {
    let mut lookup = Lookup::new(root);
    lookup.precompressed = true;
    lookup.list_dirs = true;
    lookup
}

/// What a parse of `data` comes to, as a status: 200 for a request,
/// 0 for "not complete yet", else the error's status.
pub fn parse_outcome(data: &[u8]) -> u16 {
    match parse(data) {
        Ok(Some(_)) => 200,
        Ok(None) => 0,
        Err(e) => Status::from(e).code(),
    }
}

/// What resolving `data` comes to: 200 a file, 301 a redirect, 299 a
/// directory to list, else the error's status.
pub fn resolve_outcome(data: &[u8]) -> u16 {
    let root = resolve_root();
    match resolve_with(&resolve_lookup(root), data) {
        Ok(Resolution::File(_)) => 200,
        Ok(Resolution::Redirect(_)) => 301,
        Ok(Resolution::Directory { .. }) => 299,
        Err(s) => s.code(),
    }
}

/// Access log lines as `(status, body bytes)`, in order.
#[derive(Default)]
struct Collect(Vec<(u16, u64)>);

impl LogSink for Collect {
    fn record(&mut self, _unix_secs: u64, e: &Entry<'_>) {
        self.0.push((e.status.code(), e.bytes));
    }
}

/// Runs one connection through a program read from `data`, then checks
/// what it sent. Returns the statuses sent, in order.
///
/// The program is a list of operations, each a byte and an argument:
/// - `0..=3`, `n`: the client sends the next `n + 1` bytes (one read);
/// - `4`, `n`: the client sends the next `(n + 1) * 256` bytes (to reach
///   the head limits);
/// - `5`, `w`: the socket accepts at most `w * 97` bytes per write from now
///   on (`0`: no write can go through);
/// - `6`, `t`: `t * 250 ms` pass, and the connection's timer is looked at;
/// - `7`: the client ends its stream (every later read is end of stream).
///
/// Checks, once the client has read everything: every response parses; a
/// response's body is as long as its `Content-Length` (none for 1xx, and
/// for what the log says went out head-only); responses come in the order
/// the access log recorded them; nothing else was sent; and only the last
/// response may be cut short.
pub fn run_connection(data: &[u8]) -> Vec<u16> {
    let config = config();
    let mut clock = Clock::new();
    let t0 = clock.now();
    let mut elapsed = Duration::ZERO;
    let mut log = Collect::default();
    let mut conn = Conn::new("127.0.0.1:9".parse().unwrap(), t0, false);
    let mut peer = ScriptedPeer {
        incoming: VecDeque::from([Vec::new()]),
        window: usize::MAX,
        ..ScriptedPeer::default()
    };
    let mut eof = false;
    let mut closed = false;
    let mut rest = data;
    let mut steps = 0;
    while let [op, arg, tail @ ..] = rest {
        rest = tail;
        steps += 1;
        assert!(steps < 100_000, "no end");
        let next = match op % 8 {
            0..=4 => {
                let n = read_len(*op, *arg, rest);
                if eof || n == 0 {
                    continue;
                }
                peer.incoming.push_front(rest[..n].to_vec());
                rest = &rest[n..];
                drive(&mut conn, &mut peer, config, &clock, &mut log)
            }
            5 => {
                peer.window = usize::from(*arg) * 97;
                drive(&mut conn, &mut peer, config, &clock, &mut log)
            }
            6 => {
                elapsed += Duration::from_millis(250) * u32::from(*arg);
                clock.set(t0 + elapsed, SystemTime::now());
                let mut cx = Cx::new(config, &clock, Some(&mut log));
                conn.on_timeout(&mut peer, &mut cx)
            }
            _ => {
                if !eof {
                    eof = true;
                    peer.incoming.pop_back(); // no WouldBlock after the data
                }
                drive(&mut conn, &mut peer, config, &clock, &mut log)
            }
        };
        if let Next::Close(_) = next {
            closed = true;
            break;
        }
    }
    // The client now reads everything: the connection sends what it has.
    if !closed {
        peer.window = usize::MAX;
        for _ in 0..10_000 {
            match drive(&mut conn, &mut peer, config, &clock, &mut log) {
                Next::Yield => {}
                _ => break,
            }
        }
    }
    let mut cx = Cx::new(config, &clock, Some(&mut log));
    conn.on_close(&mut cx);
    check_responses(&peer.sent, &log.0, closed)
}

/// How many bytes a program's read operation (`op` 0 to 4) sends: `arg +
/// 1`, or `(arg + 1) * 256` for op 4, at most what the input has left.
fn read_len(op: u8, arg: u8, rest: &[u8]) -> usize {
    let n = usize::from(arg) + 1;
    if op % 8 == 4 { n * 256 } else { n }.min(rest.len())
}

fn drive(
    conn: &mut Conn,
    peer: &mut ScriptedPeer,
    config: &Config,
    clock: &Clock,
    log: &mut Collect,
) -> Next {
    let mut cx = Cx::new(config, clock, Some(log));
    let mut next = conn.drive(peer, &mut cx);
    let mut turns = 0;
    while next == Next::Yield {
        turns += 1;
        assert!(turns < 100_000, "yields forever");
        next = conn.drive(peer, &mut cx);
    }
    next
}

/// Walks `sent` response by response against the log (see
/// [`run_connection`]); returns the statuses. `cut`: the connection was
/// closed (a timeout, an error), so what it sent may stop anywhere in its
/// last response.
fn check_responses(sent: &[u8], log: &[(u16, u64)], cut: bool) -> Vec<u16> {
    let mut statuses = Vec::new();
    let mut pos = 0;
    let mut logged = log.iter();
    while pos < sent.len() {
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut fields);
        let head_len = match response.parse(&sent[pos..]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if cut => break,
            Ok(httparse::Status::Partial) => panic!("a response head cut short"),
            Err(e) => panic!(
                "not a response ({e}): {:?}",
                String::from_utf8_lossy(&sent[pos..sent.len().min(pos + 60)])
            ),
        };
        assert_eq!(response.version, Some(1), "HTTP/1.1 on every status line");
        let code = response.code.expect("a status");
        statuses.push(code);
        pos += head_len;
        if code == 100 {
            assert_eq!(head_len, b"HTTP/1.1 100 Continue\r\n\r\n".len());
            continue;
        }
        let length: u64 = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
            .expect("Content-Length on every final response");
        let &(status, bytes) = logged.next().expect("every response is logged, in order");
        assert_eq!(status, code, "responses in the order they were logged");
        let left = (sent.len() - pos) as u64;
        if bytes == 0 && length > 0 && left >= length {
            // Head-only (HEAD, 304), unless the whole body follows and the
            // log says none went out: then the log is wrong.
            let next_is_head = sent[pos..].starts_with(b"HTTP/1.1 ") || pos == sent.len();
            assert!(next_is_head, "a head-only response followed by body bytes");
            continue;
        }
        if bytes == 0 && length > 0 {
            continue; // head-only at the end of what was sent
        }
        if bytes < length {
            // Cut short: only ever the last response, ending where the
            // log says.
            assert_eq!(left, bytes, "a response cut short is the last thing sent");
            break;
        }
        assert_eq!(bytes, length, "logged bytes are the Content-Length");
        if left < length {
            assert!(cut, "a whole body unless the connection was cut");
            break;
        }
        pos += length as usize;
    }
    statuses
}

/// The HTTPS configuration of the TLS target (a certificate made once).
pub fn tls() -> &'static skiff::tls::Tls {
    static TLS: OnceLock<skiff::tls::Tls> = OnceLock::new();
    TLS.get_or_init(|| skiff::tls::Tls::self_signed().expect("a certificate"))
}

/// Runs a TLS handshake on a client's bytes read from a program, and
/// checks what the server sent. Returns an outcome: 200 the handshake
/// finished, 400 plain HTTP was refused, 0 it closed, 1 it is still
/// waiting, 2 an error ended it.
///
/// The program is a list of operations, each a byte and an argument:
/// - `0..=3`, `n`: the client sends the next `n + 1` bytes (one read);
/// - `4`, `n`: the client sends the next `(n + 1) * 256` bytes;
/// - `5`: from now on, records are processed as on a worker
///   (`Session::process_away`), or no longer;
/// - `6`, `7`: the client ends its stream.
///
/// Checks: it never panics or spins; the session sends nothing to a
/// plain-HTTP client (the connection core answers it); anything else sent
/// is whole TLS records (a known
/// content type, version 3.x, a length within the limit).
pub fn run_tls(data: &[u8]) -> u16 {
    use skiff::tls::session::{Hs, RECORD_MAX, Session, TlsBufs};
    let mut session = Session::new(&tls().server, std::time::Instant::now()).unwrap();
    let mut bufs = TlsBufs::new();
    let mut peer = ScriptedPeer {
        window: usize::MAX,
        ..ScriptedPeer::default()
    };
    let mut offload = false;
    let mut eof = false;
    let mut outcome = 1;
    let mut rest = data;
    'program: while let [op, arg, tail @ ..] = rest {
        rest = tail;
        match op % 8 {
            0..=4 => {
                let n = read_len(*op, *arg, rest);
                if eof || n == 0 {
                    continue;
                }
                peer.incoming.push_back(rest[..n].to_vec());
                rest = &rest[n..];
            }
            5 => offload = !offload,
            _ => eof = true,
        }
        if !eof {
            peer.incoming.push_back(Vec::new()); // then the socket is empty
        }
        for _ in 0..1_000 {
            match session.handshake(&mut peer, &mut bufs, offload) {
                Ok(Hs::Process) => {
                    if session.process_away().is_err() {
                        outcome = 2;
                        break 'program;
                    }
                }
                Ok(Hs::Wait) => {
                    // Every read chunk is consumed before WouldBlock.
                    peer.incoming.retain(|c| !c.is_empty());
                    break;
                }
                Ok(Hs::Done) => {
                    outcome = 200;
                    break 'program;
                }
                Ok(Hs::Plain) => {
                    outcome = 400;
                    break 'program;
                }
                Ok(Hs::Close) => {
                    outcome = 0;
                    break 'program;
                }
                Err(_) => {
                    outcome = 2;
                    break 'program;
                }
            }
        }
    }
    if outcome == 400 {
        // The connection core answers plain HTTP, over the bare socket.
        assert!(peer.sent.is_empty(), "the session sends nothing to it");
        return 400;
    }
    let mut pos = 0;
    while pos < peer.sent.len() {
        let head = &peer.sent[pos..];
        assert!(head.len() >= 5, "a record header cut short");
        assert!((20..=23).contains(&head[0]), "content type {}", head[0]);
        assert_eq!(head[1], 3, "record version");
        let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
        assert!(5 + len <= RECORD_MAX, "record of {len} bytes");
        assert!(head.len() >= 5 + len, "a record cut short");
        pos += 5 + len;
    }
    session.release(&mut bufs);
    outcome
}

/// The HTTP/2 preface and an empty SETTINGS frame: what every program of
/// [`run_http2`] starts with, so the fuzzer spends its time on frames.
const H2_START: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// An HTTP/2 connection driven by a program (the operations of
/// [`run_connection`]) whose bytes follow the preface: it must never
/// panic or spin, and what it sends must be whole HTTP/2 frames of at most
/// the default size, beginning with its SETTINGS. Returns the frame types
/// sent.
pub fn run_http2(data: &[u8]) -> Vec<u8> {
    let config = config();
    let mut clock = Clock::new();
    let t0 = clock.now();
    let mut elapsed = Duration::ZERO;
    let mut log = Collect::default();
    let mut core = Scripted::new("127.0.0.1:9".parse().unwrap(), t0);
    let mut peer = ScriptedPeer {
        incoming: VecDeque::from([H2_START.to_vec(), Vec::new()]),
        window: usize::MAX,
        ..ScriptedPeer::default()
    };
    let mut eof = false;
    let mut closed = false;
    let mut rest = data;
    let mut steps = 0;
    let drive_core =
        |core: &mut Scripted, peer: &mut ScriptedPeer, clock: &Clock, log: &mut Collect| {
            let mut cx = Cx::new(config, clock, Some(log));
            let mut next = core.drive(peer, &mut cx);
            let mut turns = 0;
            while next == Next::Yield {
                turns += 1;
                assert!(turns < 100_000, "yields forever");
                next = core.drive(peer, &mut cx);
            }
            next
        };
    // The preface is read first, whatever the program does next.
    if let Next::Close(_) = drive_core(&mut core, &mut peer, &clock, &mut log) {
        closed = true;
        rest = &[];
    }
    assert!(core.is_h2(), "the preface makes it HTTP/2");
    while let [op, arg, tail @ ..] = rest {
        rest = tail;
        steps += 1;
        assert!(steps < 100_000, "no end");
        let next = match op % 8 {
            0..=4 => {
                let n = read_len(*op, *arg, rest);
                if eof || n == 0 {
                    continue;
                }
                peer.incoming.push_front(rest[..n].to_vec());
                rest = &rest[n..];
                drive_core(&mut core, &mut peer, &clock, &mut log)
            }
            5 => {
                peer.window = usize::from(*arg) * 97;
                drive_core(&mut core, &mut peer, &clock, &mut log)
            }
            6 => {
                elapsed += Duration::from_millis(250) * u32::from(*arg);
                clock.set(t0 + elapsed, SystemTime::now());
                let mut cx = Cx::new(config, &clock, Some(&mut log));
                core.on_timeout(&mut peer, &mut cx)
            }
            _ => {
                if !eof {
                    eof = true;
                    peer.incoming.pop_back();
                }
                drive_core(&mut core, &mut peer, &clock, &mut log)
            }
        };
        if let Next::Close(_) = next {
            closed = true;
            break;
        }
    }
    if !closed {
        peer.window = usize::MAX;
        let _ = drive_core(&mut core, &mut peer, &clock, &mut log);
    }
    let mut cx = Cx::new(config, &clock, Some(&mut log));
    core.on_close(&mut cx);
    check_frames(&peer.sent)
}

/// Walks `sent` frame by frame: whole frames (the last may be cut only
/// where the connection closed), none longer than 16,384 bytes, the first
/// a SETTINGS frame.
fn check_frames(sent: &[u8]) -> Vec<u8> {
    let mut kinds = Vec::new();
    let mut pos = 0;
    while pos + 9 <= sent.len() {
        let len = u32::from_be_bytes([0, sent[pos], sent[pos + 1], sent[pos + 2]]) as usize;
        let kind = sent[pos + 3];
        assert!(len <= 16_384, "a frame of {len} bytes");
        if kinds.is_empty() {
            assert_eq!(kind, 4, "SETTINGS first");
        }
        kinds.push(kind);
        pos += 9 + len;
    }
    kinds
}

/// Feeds `data` to a form parser (boundary `XyZ`) in pieces whose sizes
/// come from the data itself, and whole to another: neither may panic, and
/// both must find the same parts (a piece's bounds never change a form).
pub fn run_form(data: &[u8]) {
    use skiff::share::upload::{Failed, FormParser, Parts};

    #[derive(Default, PartialEq, Debug)]
    struct Kept {
        files: Vec<(Vec<u8>, Vec<u8>)>,
        open: bool,
    }
    impl Parts for Kept {
        fn begin(&mut self, name: Vec<u8>) -> Result<(), Failed> {
            self.files.push((name, Vec::new()));
            self.open = true;
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) -> Result<(), Failed> {
            assert!(self.open, "data outside a file part");
            if let Some(f) = self.files.last_mut() {
                f.1.extend_from_slice(bytes);
            }
            Ok(())
        }
        fn end(&mut self) -> Result<(), Failed> {
            self.open = false;
            Ok(())
        }
    }

    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;
    let mut whole = Kept::default();
    let mut p = FormParser::new(b"XyZ");
    let r1 = p.feed(body, &mut whole);
    let done1 = p.is_done();
    let mut split = Kept::default();
    let mut q = FormParser::new(b"XyZ");
    let mut r2 = Ok(());
    for piece in body.chunks(step) {
        r2 = q.feed(piece, &mut split);
        if r2.is_err() {
            break;
        }
    }
    assert_eq!(r1, r2, "the result depends on the pieces");
    if r1.is_ok() {
        assert_eq!(whole, split, "the parts depend on the pieces");
        assert_eq!(done1, q.is_done());
    }
}
