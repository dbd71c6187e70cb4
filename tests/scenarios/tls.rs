//! HTTPS: the scenarios that matter over TLS (keep-alive, pipelining,
//! ranges, conditional requests, large bodies, slow readers), broken and
//! plain-text clients on the TLS port, certificate reload, the redirect
//! listener, and real clients (curl, openssl s_client).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::each_mode;
use crate::support::*;

/// Bytes no compressor shrinks, so sizes are what the file holds.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

each_mode! {
    fn keep_alive_and_pipelining_over_tls(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &[]);
        assert!(s.first_line.starts_with("Listening on https://127.0.0.1:"), "{}", s.first_line);
        let mut c = s.connect_tls(&ca);
        let conn = c.tls.as_ref().unwrap();
        assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        for _ in 0..3 {
            let r = c.get("/a.txt");
            assert_eq!(r.status, 200);
            assert_eq!(r.body, b"hello, skiff\n");
            assert_eq!(r.header("connection"), None, "kept alive");
        }
        // Three requests in one write: three answers, in order.
        c.send(
            "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n\
             GET /missing HTTP/1.1\r\nHost: t\r\n\r\n\
             HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        let a = c.response();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"hello, skiff\n"[..]));
        assert_eq!(c.response().status, 404);
        let h = c.head_response();
        assert_eq!(h.status, 200);
        assert_eq!(h.content_length(), 14);
        // And the connection is still good after all that.
        assert_eq!(c.get("/index.html").body, b"<h1>home</h1>\n");
        c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let last = c.response();
        assert_eq!(last.header("connection"), Some("close"));
        assert_eq!(last.body, b"hello, skiff\n");
        c.expect_closed();
    }
}

each_mode! {
    fn ranges_and_conditional_requests_over_tls(mode) {
        let site = site();
        let body = noise(100_000, 7);
        site.write("blob.bin", &body);
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &[]);
        let mut c = s.connect_tls(&ca);
        let r = c.get_with("/blob.bin", "Range: bytes=1000-1999\r\n");
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-range"), Some("bytes 1000-1999/100000"));
        assert_eq!(r.body, &body[1000..2000]);
        let full = c.get("/blob.bin");
        let etag = full.header("etag").expect("ETag").to_string();
        let modified = full.header("last-modified").expect("Last-Modified").to_string();
        let r = c.get_with("/blob.bin", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        let r = c.get_with("/blob.bin", &format!("If-Modified-Since: {modified}\r\n"));
        assert_eq!(r.status, 304);
        let r = c.get_with("/blob.bin", "Range: bytes=99990-\r\nIf-Range: \"other\"\r\n");
        assert_eq!(r.status, 200, "If-Range that does not match: the whole file");
        assert_eq!(r.body, body);
    }
}

each_mode! {
    fn large_bodies_arrive_byte_for_byte_over_tls(mode) {
        let site = site();
        let big = noise(5 * 1024 * 1024 + 123, 11);
        site.write("big.bin", &big);
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &[]);
        let mut c = s.connect_tls(&ca);
        for _ in 0..2 {
            let r = c.get("/big.bin");
            assert_eq!(r.status, 200);
            assert_eq!(r.body.len(), big.len());
            assert!(r.body == big, "the body differs");
        }
        // A range from the middle of a record boundary.
        let r = c.get_with("/big.bin", "Range: bytes=16380-50000\r\n");
        assert_eq!(r.body, &big[16380..=50000]);
    }
}

each_mode! {
    fn a_slow_reader_gets_every_byte_over_tls(mode) {
        let site = site();
        let big = noise(3 * 1024 * 1024, 3);
        site.write("big.bin", &big);
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--send-timeout", "3"]);
        let mut c = s.connect_tls(&ca);
        c.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .unwrap();
        c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        // Read in small sips with pauses: the socket and the server's TLS
        // buffer fill up and the server must wait, several times, for
        // longer than a write would take.
        let mut got = Vec::new();
        let mut sip = [0u8; 8192];
        let conn = c.tls.as_mut().unwrap();
        let mut stream = rustls::Stream::new(conn, &mut c.stream);
        let mut pauses = 0;
        loop {
            let n = match stream.read(&mut sip) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => panic!("read: {e}"),
            };
            if n == 0 {
                break;
            }
            got.extend_from_slice(&sip[..n]);
            if got.len() % (512 * 1024) < n && pauses < 6 {
                pauses += 1;
                std::thread::sleep(Duration::from_millis(400));
            }
        }
        let head_end = find(&got, b"\r\n\r\n").expect("a head") + 4;
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(got.len() - head_end, big.len());
        assert!(got[head_end..] == big[..], "the body differs");
    }
}

each_mode! {
    fn plain_http_on_the_https_port_gets_a_plain_400_and_is_closed(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--verbose"]);
        let mut c = s.connect();
        let r = c.get("/a.txt");
        assert_eq!(r.status, 400);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(
            r.text(),
            "This port speaks HTTPS. Ask for the same address with https:// here.\n"
        );
        c.expect_closed();
        s.wait_stderr(|l| l.iter().any(|l| l.ends_with("closed: plain HTTP on the HTTPS port")));
        // The server goes on serving HTTPS.
        assert_eq!(s.connect_tls(&ca).get("/a.txt").status, 200);
    }
}

each_mode! {
    fn garbage_instead_of_a_client_hello_is_closed_without_a_reply(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--verbose"]);
        for junk in [
            &b"\x16\x03\x01\x00\x05hello"[..],          // a handshake record that is not a hello
            &b"\x00\x01\x02\x03\x04\x05\x06\x07"[..],   // no TLS at all
            &[0x16u8; 300][..],                          // a record header claiming too much
        ] {
            let mut c = s.connect();
            c.send(junk);
            c.shutdown_write();
            let rest = c.read_to_close();
            // At most a TLS alert record, never HTTP.
            assert!(!rest.starts_with(b"HTTP/"), "{rest:?}");
            assert!(rest.is_empty() || rest[0] == 0x15, "only an alert: {rest:?}");
        }
        assert_eq!(s.connect_tls(&ca).get("/a.txt").status, 200);
    }
}

each_mode! {
    fn a_handshake_that_stops_halfway_is_cut_at_the_header_timeout(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--header-timeout", "1", "--verbose"]);
        // The first half of a real ClientHello, then silence.
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(ca.client_config(), name).unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        assert!(hello.len() > 100);
        let mut c = s.connect();
        c.send(&hello[..hello.len() / 2]);
        let rest = c.read_to_close();
        assert!(rest.is_empty(), "nothing is sent for half a hello: {rest:?}");
        s.wait_stderr(|l| l.iter().any(|l| l.ends_with("closed: TLS handshake timeout")));
        // A connection that sends nothing at all is cut the same way.
        let mut idle = s.connect();
        assert!(idle.read_to_close().is_empty());
        assert_eq!(s.connect_tls(&ca).get("/a.txt").status, 200);
    }
}

each_mode! {
    /// Regression (threaded mode): a ClientHello trickled a byte at a time
    /// kept the handshake alive past `--header-timeout`, as if each read
    /// restarted the clock. The deadline counts from accept, in every mode:
    /// the server cuts the connection while bytes are still arriving.
    fn a_trickled_client_hello_is_cut_at_the_header_timeout(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--header-timeout", "2", "--verbose"]);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(ca.client_config(), name).unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        // 30 bytes, one every 0.4 s: 12 s of trickle, against a 2 s limit.
        assert!(hello.len() > 30);
        let mut c = s.connect();
        let mut cut = None;
        for (i, byte) in hello[..30].iter().enumerate() {
            if c.stream.write_all(std::slice::from_ref(byte)).is_err() {
                cut = Some(i);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
        assert!(cut.is_some(), "the server let a 12-second handshake go on");
        s.wait_stderr(|l| l.iter().any(|l| l.ends_with("closed: TLS handshake timeout")));
        assert_eq!(s.connect_tls(&ca).get("/a.txt").status, 200);
    }
}

each_mode! {
    fn sighup_reloads_the_certificate_for_new_connections_only(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &[]);
        let mut old = s.connect_tls(&ca);
        let first = old.peer_certificate();
        assert_eq!(old.get("/a.txt").status, 200);

        // A new certificate in the same files: new connections get it.
        let second = ca.issue("cert.pem", "key.pem", &["localhost"]);
        assert_ne!(first, second);
        s.signal("HUP");
        s.wait_stderr(|l| l.iter().any(|l| l.starts_with("skiff: SIGHUP: reloaded the TLS certificate")));
        let mut new = s.connect_tls(&ca);
        assert_eq!(new.peer_certificate(), second);
        assert_eq!(new.get("/a.txt").status, 200);
        // The connection opened before keeps its session.
        assert_eq!(old.get("/a.txt").body, b"hello, skiff\n");

        // A broken file: one line, and the current certificate stays.
        ca.dir.write("key.pem", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
        s.signal("HUP");
        let lines = s.wait_stderr(|l| l.iter().any(|l| l.starts_with("skiff: SIGHUP: kept the current TLS certificate")));
        let kept = lines.iter().find(|l| l.contains("kept the current")).unwrap();
        assert!(kept.contains("--tls-key"), "{kept}");
        let mut after = s.connect_tls(&ca);
        assert_eq!(after.peer_certificate(), second);
        assert_eq!(after.get("/a.txt").status, 200);
    }
}

each_mode! {
    fn the_redirect_listener_answers_everything_with_308_to_https(mode) {
        let site = site();
        let ca = TestCa::new();
        let s = Server::start_tls(mode, &site.path, &ca, &["--redirect-http", "0"]);
        let line = s.wait_stdout(|l| l.iter().any(|l| l.starts_with("Redirecting http://")));
        let line = line.iter().find(|l| l.starts_with("Redirecting")).unwrap();
        let at: std::net::SocketAddr = line
            .trim_start_matches("Redirecting http://")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let https = s.port();
        let mut c = Client::connect(at);
        let r = c.get_with("/a.txt?x=1", "");
        assert_eq!(r.status, 308);
        assert_eq!(r.header("location").unwrap(), format!("https://t:{https}/a.txt?x=1"));
        // The Host's port is replaced; the connection stays usable.
        c.send("HEAD /dir/ HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        let h = c.head_response();
        assert_eq!(h.status, 308);
        assert_eq!(h.header("location").unwrap(), format!("https://example.com:{https}/dir/"));
        // Any method, an IPv6 literal, an absolute-form target.
        c.send("POST /up HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(c.response().header("location").unwrap(), format!("https://[::1]:{https}/up"));
        c.send("GET http://other.example/p HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().header("location").unwrap(), format!("https://other.example:{https}/p"));
        // Files are never served here, even ones that exist.
        assert!(!c.get("/index.html").text().contains("home"));
        // HTTP/1.0 without Host: nowhere to send it.
        let mut old = Client::connect(at);
        old.send("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(old.response().status, 400);
        // And TLS on the main port is unaffected.
        assert_eq!(s.connect_tls(&ca).get("/a.txt").status, 200);
    }
}

#[test]
fn several_event_loops_share_one_tls_configuration() {
    let site = site();
    let ca = TestCa::new();
    let s = Server::start_tls(Mode::Evented, &site.path, &ca, &["--workers", "2"]);
    for _ in 0..8 {
        let mut c = s.connect_tls(&ca);
        assert_eq!(c.get("/a.txt").body, b"hello, skiff\n");
    }
}

#[test]
fn self_signed_prints_the_fingerprint_of_the_certificate_it_serves() {
    let site = site();
    let s = Server::start(Mode::Evented, &site.path, &["--tls-self-signed"]);
    assert!(
        s.first_line.starts_with("Listening on https://"),
        "{}",
        s.first_line
    );
    let lines = s.wait_stdout(|l| !l.is_empty());
    let second = &lines[0];
    let fingerprint = second
        .split("SHA-256 fingerprint ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no fingerprint in {second:?}"));
    // Trust the certificate it serves as its own root, and compare.
    let mut probe = TcpStream::connect(s.addr).unwrap();
    probe.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let cert = presented_certificate(&mut probe);
    assert_eq!(fingerprint, sha256_colons(&cert));
}

/// The certificate a TLS server presents, taken from a handshake that
/// accepts anything (the test then checks it by hand).
fn presented_certificate(stream: &mut TcpStream) -> Vec<u8> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    #[derive(Debug)]
    struct Anything(std::sync::Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for Anything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(Anything(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(stream).unwrap();
    }
    conn.peer_certificates().unwrap()[0].to_vec()
}

fn sha256_colons(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn curl_verifies_the_certificate_against_the_test_ca() {
    if !have("curl") {
        panic!("curl is needed (.ci/run installs it)");
    }
    let site = site();
    let ca = TestCa::new();
    let s = Server::start_tls(Mode::Evented, &site.path, &ca, &[]);
    let url = format!("https://localhost:{}/a.txt", s.port());
    let out = Command::new("curl")
        .args(["-sS", "--cacert", &ca.path("ca.pem"), "--resolve"])
        .arg(format!("localhost:{}:127.0.0.1", s.port()))
        .args(["-w", "\\n%{http_code} %{http_version}", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // curl offers h2 first, and skiff chooses it.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello, skiff\n\n200 2"
    );
    // Without the CA, curl refuses the server: verification is real.
    let out = Command::new("curl")
        .args(["-sS", "--resolve"])
        .arg(format!("localhost:{}:127.0.0.1", s.port()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // And a name the certificate is not for is refused too.
    let wrong = format!("https://127.0.0.2.nip:{}/a.txt", s.port());
    let out = Command::new("curl")
        .args(["-sS", "--cacert", &ca.path("ca.pem"), "--resolve"])
        .arg(format!("127.0.0.2.nip:{}:127.0.0.1", s.port()))
        .arg(&wrong)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// `openssl s_client` with `args`; its standard output.
fn s_client(port: u16, ca: &TestCa, args: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost", "-CAfile", &ca.path("ca.pem")])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = wait_for(|| child.try_wait().unwrap()).expect("openssl s_client exits");
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    (out.success(), text)
}

#[test]
fn openssl_s_client_negotiates_tls13_tls12_and_alpn_and_nothing_older() {
    if !have("openssl") {
        panic!("openssl is needed (.ci/run installs it)");
    }
    let site = site();
    let ca = TestCa::new();
    let s = Server::start_tls(Mode::Evented, &site.path, &ca, &[]);
    let (ok, out) = s_client(s.port(), &ca, &["-alpn", "http/1.1", "-ign_eof"]);
    assert!(ok, "{out}");
    assert!(out.contains("New, TLSv1.3, Cipher is"), "{out}");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("hello, skiff"), "{out}");

    let (ok, out) = s_client(s.port(), &ca, &["-tls1_2", "-ign_eof"]);
    assert!(ok, "{out}");
    assert!(out.contains("New, TLSv1.2, Cipher is ECDHE-"), "{out}");
    assert!(out.contains("hello, skiff"), "{out}");

    for old in ["-tls1_1", "-tls1"] {
        let (_, out) = s_client(s.port(), &ca, &[old]);
        assert!(!out.contains("hello, skiff"), "{old}: {out}");
        assert!(!out.contains("Cipher is ECDHE"), "{old}: {out}");
    }
}

#[test]
fn bad_tls_flags_are_one_line_errors() {
    use super::cli::fails;
    let site = site();
    let root = site.path.to_str().unwrap();
    let ca = TestCa::new();
    let (cert, key) = (ca.path("cert.pem"), ca.path("key.pem"));
    let e = fails(&["--root", root, "--tls-cert", &cert]);
    assert!(e.contains("--tls-cert needs --tls-key"), "{e}");
    let e = fails(&["--root", root, "--tls-key", &key]);
    assert!(e.contains("--tls-key needs --tls-cert"), "{e}");
    let e = fails(&[
        "--root",
        root,
        "--tls-self-signed",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    assert!(e.contains("--tls-self-signed"), "{e}");
    let e = fails(&[
        "--root",
        root,
        "--tls-cert",
        "/no/such.pem",
        "--tls-key",
        &key,
    ]);
    assert!(e.contains("--tls-cert '/no/such.pem'"), "{e}");
    // The key in place of the certificate, and the other way round.
    let e = fails(&["--root", root, "--tls-cert", &key, "--tls-key", &key]);
    assert!(e.contains("--tls-cert"), "{e}");
    let e = fails(&["--root", root, "--tls-cert", &cert, "--tls-key", &cert]);
    assert!(e.contains("--tls-key"), "{e}");
    // Someone else's key.
    ca.issue("other.pem", "other.key", &["localhost"]);
    let e = fails(&[
        "--root",
        root,
        "--tls-cert",
        &cert,
        "--tls-key",
        &ca.path("other.key"),
    ]);
    assert!(e.contains("with --tls-key"), "{e}");
    // A file far too large to be a certificate is not read whole.
    let huge = site.write("huge.pem", vec![b'A'; 2 * 1024 * 1024]);
    let e = fails(&[
        "--root",
        root,
        "--tls-cert",
        huge.to_str().unwrap(),
        "--tls-key",
        &key,
    ]);
    assert!(e.contains("larger than"), "{e}");

    let e = fails(&["--root", root, "--redirect-http", "8081"]);
    assert!(e.contains("--redirect-http needs HTTPS"), "{e}");
    let e = fails(&[
        "--root",
        root,
        "--tls-self-signed",
        "--port",
        "9443",
        "--redirect-http",
        "9443",
    ]);
    assert!(e.contains("is the HTTPS port itself"), "{e}");
    for bad in ["70000", "-1", "eighty", ""] {
        let e = fails(&[
            "--root",
            root,
            "--tls-self-signed",
            &format!("--redirect-http={bad}"),
        ]);
        assert!(e.contains("--redirect-http"), "{bad:?}: {e}");
    }

    // The same through the environment.
    let out = Command::new(bin())
        .args(["--root", root])
        .env("SKIFF_TLS_CERT", "/no/such.pem")
        .env("SKIFF_TLS_KEY", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--tls-cert '/no/such.pem'"), "{err}");
    let out = Command::new(bin())
        .args(["--root", root])
        .env("SKIFF_REDIRECT_HTTP", "99999")
        .env("SKIFF_TLS_SELF_SIGNED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redirect-http"));
}

#[test]
fn a_redirect_port_in_use_is_one_line_and_exit_1() {
    let site = site();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(bin())
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--tls-self-signed",
            "--redirect-http",
            &port,
            "--root",
        ])
        .arg(&site.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--redirect-http"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no start-up line when it cannot listen"
    );
}

#[test]
fn the_health_check_speaks_https_and_knows_the_certificate() {
    let site = site();
    let ca = TestCa::new();
    let s = Server::start_tls(Mode::Evented, &site.path, &ca, &[]);
    let port = s.port().to_string();
    let check = |cert: &str, key: &str| {
        Command::new(bin())
            .args(["--bind", "127.0.0.1", "--port", &port, "--root"])
            .arg(&site.path)
            .args([
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--health-check",
                "/a.txt",
            ])
            .output()
            .unwrap()
    };
    let up = check(&ca.path("cert.pem"), &ca.path("key.pem"));
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    // Flags naming another certificate: this is not the server they describe.
    ca.issue("other.pem", "other.key", &["localhost"]);
    let other = check(&ca.path("other.pem"), &ca.path("other.key"));
    assert_eq!(other.status.code(), Some(1));
    // And plain HTTP flags against the HTTPS port fail too.
    let plain = Command::new(bin())
        .args(["--bind", "127.0.0.1", "--port", &port, "--root"])
        .arg(&site.path)
        .args(["--health-check", "/a.txt"])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(1));
}
