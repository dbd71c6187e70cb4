//! Test harness: temporary document roots, a real server process started on
//! port 0, and a raw-socket HTTP client that reads responses by their
//! framing (so pipelined responses and extra bytes are caught).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any single read in a test may block before the test fails.
/// A bound against hangs, not a speed assertion.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The I/O drivers every scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The event loop, sending large bodies with sendfile.
    Evented,
    /// The event loop with `--no-sendfile`: bodies through the buffer.
    Buffered,
    /// A thread per connection (`--threaded`).
    Threaded,
}

impl Mode {
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Mode::Evented => &[],
            Mode::Buffered => &["--no-sendfile"],
            Mode::Threaded => &["--threaded"],
        }
    }
}

/// Defines a test that runs its body once per driver.
#[macro_export]
macro_rules! each_mode {
    ($(#[$meta:meta])* fn $name:ident($mode:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            fn body($mode: $crate::support::Mode) $body
            #[test]
            fn evented() {
                body($crate::support::Mode::Evented)
            }
            #[test]
            fn buffered() {
                body($crate::support::Mode::Buffered)
            }
            #[test]
            fn threaded() {
                body($crate::support::Mode::Threaded)
            }
        }
    };
}

/// A temporary folder, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "skiff-test-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            tag
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Restore permissions a test may have removed, then delete.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwX")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A file of this repository, as text.
pub fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(repo_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A path inside this repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The standard test site: a few files of known content.
pub fn site() -> TempDir {
    let d = TempDir::new("site");
    d.write("index.html", "<h1>home</h1>\n");
    d.write("a.txt", "hello, skiff\n");
    d.write("dir/index.html", "<p>dir index</p>\n");
    d.mkdir("empty");
    d
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// A running server process; killed (by its own pid) on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub first_line: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    /// Starts `skiff --bind 127.0.0.1 --port 0 --root ROOT ARGS...`.
    pub fn start(mode: Mode, root: &Path, args: &[&str]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(["--bind", "127.0.0.1", "--port", "0", "--root"])
            .arg(root);
        cmd.args(mode.args()).args(args);
        Server::spawn(cmd)
    }

    /// Starts a prepared command that prints the `Listening on` line.
    pub fn spawn(mut cmd: Command) -> Server {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn skiff");
        let (stderr, stderr_closed) = collect_until_closed(child.stderr.take().unwrap());
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        if first.is_empty() {
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!("server did not start: {:?}", stderr.lock().unwrap());
        }
        let first_line = first.trim_end().to_string();
        let addr = parse_listening(&first_line);
        let stdout = collect(out);
        Server {
            child,
            addr,
            first_line,
            stdout,
            stderr,
            stderr_closed,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One GET with `extra` header lines, on a new connection.
    pub fn get_with(&self, path: &str, extra: &str) -> Response {
        self.connect().get_with(path, extra)
    }

    /// Lines the server printed to stdout after the first.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until `pred` holds for stdout lines.
    pub fn wait_stdout(&self, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        wait_for(|| {
            let lines = self.stdout_lines();
            pred(&lines).then_some(lines)
        })
        .unwrap_or_else(|| panic!("stdout never matched: {:?}", self.stdout_lines()))
    }

    pub fn wait_stderr(&self, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        wait_for(|| {
            let lines = self.stderr_lines();
            pred(&lines).then_some(lines)
        })
        .unwrap_or_else(|| panic!("stderr never matched: {:?}", self.stderr_lines()))
    }

    /// Sends a signal to this server process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {sig}");
    }

    /// Everything the server wrote to stderr, once the stream has closed
    /// (call after it exited).
    pub fn all_stderr(&self) -> Vec<String> {
        wait_for(|| self.stderr_closed.load(Ordering::SeqCst).then_some(()))
            .expect("stderr never closed");
        self.stderr_lines()
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_for(|| self.child.try_wait().unwrap()).expect("server did not exit")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Held by the scenarios that open thousands of connections or threads,
/// so that at most one of them runs at a time: together they could exhaust
/// the machine's process ids or descriptors and fail each other.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `f` every 20 ms for up to 10 s.
pub fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + IO_TIMEOUT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                // The URLs under `Listening on every address` are part of
                // the start-up line, not output after it.
                Ok(l) if l.starts_with("  http://") || l.starts_with("  https://") => {}
                Ok(l) => sink.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    });
    lines
}

/// Collects lines, and says when the stream has closed (the process and
/// every child holding it have exited).
fn collect_until_closed(
    r: impl Read + Send + 'static,
) -> (Arc<Mutex<Vec<String>>>, Arc<std::sync::atomic::AtomicBool>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sink, done) = (lines.clone(), closed.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(l) => sink.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
        done.store(true, Ordering::SeqCst);
    });
    (lines, closed)
}

/// `Listening on http://127.0.0.1:PORT/ (root: DIR)` (or `https://`) ->
/// the address.
pub fn parse_listening(line: &str) -> SocketAddr {
    // Bound to every address: reached on loopback at that port.
    if let Some(rest) = line.strip_prefix("Listening on every address, port ") {
        let port: u16 = rest.split(' ').next().unwrap().parse().unwrap();
        return SocketAddr::from(([127, 0, 0, 1], port));
    }
    let rest = line
        .strip_prefix("Listening on http://")
        .or_else(|| line.strip_prefix("Listening on https://"))
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let end = rest.find('/').unwrap();
    rest[..end].parse().unwrap()
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_length(&self) -> u64 {
        self.header("content-length")
            .expect("Content-Length")
            .parse()
            .unwrap()
    }
}

/// A raw HTTP/1.x client over one TCP connection, in the clear or over
/// TLS (rustls, verifying the server against a test CA).
pub struct Client {
    pub stream: TcpStream,
    pub tls: Option<rustls::ClientConnection>,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            tls: None,
            buf: Vec::new(),
        }
    }

    /// Connects and completes a TLS handshake for `name`, trusting `ca`.
    pub fn connect_tls(addr: SocketAddr, ca: &TestCa, name: &str) -> Client {
        let mut c = Client::connect(addr);
        let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let mut conn = rustls::ClientConnection::new(ca.client_config(), name).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut c.stream).expect("TLS handshake");
        }
        c.tls = Some(conn);
        c
    }

    /// The certificate the server presented (TLS only).
    pub fn peer_certificate(&self) -> Vec<u8> {
        let conn = self.tls.as_ref().expect("a TLS client");
        conn.peer_certificates().expect("certificates")[0].to_vec()
    }

    /// Reads from the connection (through TLS if on). A TLS stream that
    /// ends without close_notify reads as its end.
    fn raw_read(&mut self, into: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.tls {
            None => self.stream.read(into),
            Some(conn) => match rustls::Stream::new(conn, &mut self.stream).read(into) {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        match &mut self.tls {
            None => self.stream.write_all(bytes.as_ref()).expect("send"),
            Some(conn) => {
                let mut s = rustls::Stream::new(conn, &mut self.stream);
                s.write_all(bytes.as_ref()).expect("send");
                s.flush().expect("send");
            }
        }
        self
    }

    /// A GET with Host, keep-alive, and `extra` header lines (each ending
    /// in CRLF).
    pub fn get_with(&mut self, path: &str, extra: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"));
        self.response()
    }

    /// A GET with this Host, keep-alive.
    pub fn get_with_host(&mut self, path: &str, host: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        self.response()
    }

    /// A GET with Host, keep-alive.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"));
        self.response()
    }

    /// Reads one response (to a request that was not HEAD).
    pub fn response(&mut self) -> Response {
        self.read_response(false)
    }

    /// Reads one response to a HEAD request (no body whatever it says).
    pub fn head_response(&mut self) -> Response {
        self.read_response(true)
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 65536];
        let n = loop {
            match self.raw_read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.expect("read (timed out?)"),
            }
        };
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    pub fn read_response(&mut self, head: bool) -> Response {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill() == 0 {
                panic!(
                    "connection closed before a response head; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        };
        let head_text = String::from_utf8(self.buf[..end].to_vec()).expect("head is UTF-8");
        self.buf.drain(..end);
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap().to_string();
        let status: u16 = parts.next().unwrap().parse().unwrap();
        let reason = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header line {l:?}"));
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let mut r = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if head || status == 304 || status == 204 || (100..200).contains(&status) {
            return r;
        }
        if r.header("transfer-encoding") == Some("chunked") {
            assert_eq!(r.header("content-length"), None, "chunked with a length");
            r.body = self.read_chunked();
            return r;
        }
        if r.header("content-length").is_none() {
            // Delimited by the connection's end.
            r.body = self.read_to_close();
            return r;
        }
        let len = r.content_length() as usize;
        while self.buf.len() < len {
            if self.fill() == 0 {
                panic!(
                    "connection closed after {} of {len} body bytes",
                    self.buf.len()
                );
            }
        }
        r.body = self.buf.drain(..len).collect();
        r
    }

    /// A chunked body, checked strictly: hex sizes, CRLF after each chunk,
    /// the last chunk and an empty trailer.
    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                assert!(self.fill() > 0, "closed inside a chunk size line");
            };
            let size_text = String::from_utf8(self.buf[..line_end].to_vec()).unwrap();
            let size = usize::from_str_radix(&size_text, 16)
                .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                assert!(self.fill() > 0, "closed inside a chunk");
            }
            assert_eq!(
                &self.buf[size..size + 2],
                b"\r\n",
                "chunk not ended by CRLF"
            );
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return body;
            }
        }
    }

    /// Asserts the server closes the connection with no further bytes.
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.read_rest(&mut rest) {
            Ok(_) => {}
            // A reset after the server closed also means closed.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the server to close, got {e}"),
        }
        self.buf.extend_from_slice(&rest);
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }

    /// Asserts nothing arrives and the connection stays open for `d`.
    pub fn expect_open_for(&mut self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
        let mut b = [0u8; 1];
        match self.raw_read(&mut b) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected an open, silent connection, got {other:?}"),
        }
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    }

    pub fn shutdown_write(&mut self) {
        self.stream.shutdown(Shutdown::Write).unwrap();
    }

    /// Everything left on the connection until the server closes it.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        let _ = self.read_rest(&mut rest);
        let mut all = std::mem::take(&mut self.buf);
        all.extend_from_slice(&rest);
        all
    }
}

impl Client {
    /// Reads until the end of the stream.
    fn read_rest(&mut self, into: &mut Vec<u8>) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16384];
        let mut total = 0;
        loop {
            match self.raw_read(&mut chunk) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    into.extend_from_slice(&chunk[..n]);
                    total += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A certificate authority made for one test, and a server certificate
/// it signed for localhost, 127.0.0.1 and ::1, written as PEM files.
pub struct TestCa {
    pub dir: TempDir,
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    /// Base64 SHA-256 of the default server certificate's public key
    /// (what Chromium's `--ignore-certificate-errors-spki-list` takes).
    pub spki: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "skiff test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = TempDir::new("tls");
        let ca_pem = cert.pem();
        dir.write("ca.pem", &ca_pem);
        let mut ca = TestCa {
            dir,
            ca_pem,
            ca_der: cert.der().to_vec(),
            spki: String::new(),
            issuer: rcgen::Issuer::new(params, key),
        };
        ca.issue("cert.pem", "key.pem", &["localhost", "127.0.0.1", "::1"]);
        let key_pem = std::fs::read_to_string(ca.dir.path.join("key.pem")).unwrap();
        let pair = rcgen::KeyPair::from_pem(&key_pem).unwrap();
        ca.spki = skiff::tls::spki_hash(&rcgen::PublicKeyData::subject_public_key_info(&pair));
        ca
    }

    /// Signs a server certificate for `names`, written to `cert`/`key`
    /// in the CA's folder; returns the certificate's DER.
    pub fn issue(&self, cert: &str, key: &str, names: &[&str]) -> Vec<u8> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let pair = rcgen::KeyPair::generate().unwrap();
        let made = params.signed_by(&pair, &self.issuer).unwrap();
        self.dir.write(cert, made.pem());
        self.dir.write(key, pair.serialize_pem());
        made.der().to_vec()
    }

    pub fn path(&self, rel: &str) -> String {
        self.dir.path.join(rel).display().to_string()
    }

    /// `--tls-cert CERT --tls-key KEY` for the default certificate.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.path("cert.pem"),
            "--tls-key".into(),
            self.path("key.pem"),
        ]
    }

    /// A rustls client configuration trusting only this CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(self.ca_der.clone()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Server {
    /// Starts an HTTPS server with the CA's certificate and `args`.
    pub fn start_tls(mode: Mode, root: &Path, ca: &TestCa, args: &[&str]) -> Server {
        let mut all: Vec<String> = ca.args();
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        Server::start(mode, root, &all)
    }

    pub fn connect_tls(&self, ca: &TestCa) -> Client {
        Client::connect_tls(self.addr, ca, "localhost")
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether this process runs as root (so file permissions do not bind it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Whether an external program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// One HTTP/2 request made by curl: h2c with prior knowledge to a plain
/// server, or h2 over TLS (ALPN) trusting `ca`. `args` go to curl as
/// they are (`-H`, `-X`, `-I`, ...). The response is read back from
/// curl's `-i` output, and curl's own `%{http_version}` must say 2.
pub fn h2(s: &Server, path: &str, args: &[&str], ca: Option<&TestCa>) -> Response {
    curl(s, path, args, ca, true)
}

/// The same request as [`h2`] made over HTTP/1.1 (`http2` false), or over
/// HTTP/2; curl must report the version asked for.
pub fn curl(s: &Server, path: &str, args: &[&str], ca: Option<&TestCa>, http2: bool) -> Response {
    let out = curl_out(s.port(), path, args, ca, http2);
    let (version, response) = out.split_once(b"\n\n", b"\r\n\r\n");
    let want = if http2 { "2" } else { "1.1" };
    assert_eq!(version, want, "curl spoke HTTP/{version}");
    response
}

fn curl_out(port: u16, path: &str, args: &[&str], ca: Option<&TestCa>, http2: bool) -> CurlOut {
    assert!(have("curl"), "curl is needed (.ci/run installs it)");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-S", "-i", "--path-as-is", "--max-time", "20"]);
    let url = match ca {
        Some(ca) => {
            cmd.args(["--cacert", &ca.path("ca.pem")]);
            cmd.arg(if http2 { "--http2" } else { "--http1.1" });
            format!("https://localhost:{port}{path}")
        }
        None => {
            cmd.arg(if http2 {
                "--http2-prior-knowledge"
            } else {
                "--http1.1"
            });
            format!("http://127.0.0.1:{port}{path}")
        }
    };
    cmd.args(args).args(["-w", "\n\n%{http_version}"]).arg(url);
    let out = cmd.output().expect("curl runs");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    CurlOut(out.stdout)
}

/// What `curl -i -w '\n\n%{http_version}'` printed.
struct CurlOut(Vec<u8>);

impl CurlOut {
    /// The protocol version curl reports, and the response (head, then
    /// body).
    fn split_once(&self, tail: &[u8], blank: &[u8]) -> (String, Response) {
        let at = self.0.len() - self.0.iter().rev().position(|&c| c == b'\n').unwrap_or(0);
        let version = String::from_utf8_lossy(&self.0[at..]).trim().to_string();
        let raw = &self.0[..at.saturating_sub(tail.len())];
        let end = find(raw, blank).expect("a head");
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut words = status_line.split(' ');
        let proto = words.next().unwrap_or_default().to_string();
        let status = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let response = Response {
            version: proto,
            status,
            reason: String::new(),
            headers,
            body: raw[end + blank.len()..].to_vec(),
        };
        (version, response)
    }
}
