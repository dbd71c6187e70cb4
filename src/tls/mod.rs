//! HTTPS settings: the certificate and key (`--tls-cert`/`--tls-key`, or
//! one made at start with `--tls-self-signed`), the rustls configuration
//! every connection shares, and reloading the certificate on SIGHUP.
//!
//! rustls with the ring provider; TLS 1.3 and 1.2 with rustls's default
//! (AEAD-only, forward-secret) cipher suites; ALPN `http/1.1`. The
//! certificate is served through a resolver holding the current one, so a
//! reload swaps it for new handshakes while open connections keep the
//! session they have. A file that does not load on reload leaves the old
//! certificate in place.
//!
//! The connection side (handshake, records, buffers) is [`session`].

pub mod session;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::rules::hosts::HostPattern;

/// Largest certificate or key file read: a chain of a few certificates is
/// a few KiB; anything this large is a mistake.
pub(crate) const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The names `--tls-self-signed` makes its certificate for.
pub(crate) const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// HTTPS as configured: what connections handshake with.
pub struct Tls {
    /// Shared by every connection of every loop.
    pub server: Arc<ServerConfig>,
    certs: Arc<Certs>,
    /// Where the certificate came from, for the start-up line.
    pub(crate) source: Source,
}

/// Where the certificate came from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Made at start; its SHA-256 fingerprint (colon-separated hex) and
    /// the base64 SHA-256 of its public key (for Chromium's
    /// `--ignore-certificate-errors-spki-list`).
    SelfSigned {
        fingerprint: String,
        spki: String,
    },
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("source", &self.source).finish()
    }
}

/// The certificate new handshakes get: a `[[site]]`'s own when the
/// client names its host (SNI; exact names before wildcards), else this
/// one.
#[derive(Debug)]
struct Certs {
    current: RwLock<Arc<CertifiedKey>>,
    /// The sites with a certificate of their own (set once, at start).
    sites: std::sync::OnceLock<Vec<(HostPattern, Arc<Tls>)>>,
}

impl Certs {
    fn new(certified: CertifiedKey) -> Certs {
        Certs {
            current: RwLock::new(Arc::new(certified)),
            sites: std::sync::OnceLock::new(),
        }
    }

    /// The site certificate for an SNI name, if one is its.
    fn site(&self, name: &str) -> Option<&Arc<Tls>> {
        let sites = self.sites.get()?;
        let name = name.to_ascii_lowercase();
        let name = name.as_bytes();
        sites
            .iter()
            .find(|(h, _)| h.is_exact() && h.matches(name))
            .or_else(|| sites.iter().find(|(h, _)| h.matches(name)))
            .map(|(_, t)| t)
    }
}

thread_local! {
    /// The SNI name of the ClientHello this thread resolved a certificate
    /// for last: rustls's unbuffered API does not say it, and the
    /// resolver runs inside the session's own call on the same thread,
    /// which takes it from here (`session::Session::sni`).
    static SNI_SEEN: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

/// Forgets the SNI name seen on this thread (before a session's step).
pub(crate) fn forget_sni() {
    SNI_SEEN.with(|s| s.borrow_mut().take());
}

/// The SNI name a certificate was resolved for on this thread since
/// [`forget_sni`], lowercased.
pub(crate) fn take_sni() -> Option<Arc<str>> {
    SNI_SEEN.with(|s| s.borrow_mut().take())
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name: Arc<str> = name.to_ascii_lowercase().into();
            SNI_SEEN.with(|s| *s.borrow_mut() = Some(name));
        }
        let certs = match hello.server_name().and_then(|n| self.site(n)) {
            Some(site) => &site.certs,
            None => self,
        };
        Some(crate::unpoison(certs.current.read()).clone())
    }
}

/// HTTP/2's ALPN protocol name (RFC 9113 section 3.2).
pub(crate) const ALPN_H2: &[u8] = b"h2";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Tls {
    /// HTTPS as the flags ask for it: `--tls-cert` with `--tls-key`, or
    /// `--tls-self-signed`, or neither (plain HTTP). Anything else, or
    /// files that do not load, is a one-line error.
    pub(crate) fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        self_signed: bool,
        http2: bool,
    ) -> Result<Option<Arc<Tls>>, String> {
        let made = match (cert, key, self_signed) {
            (Some(_), _, true) | (_, Some(_), true) => return Err(
                "--tls-self-signed makes its own certificate: give it without --tls-cert and --tls-key".into(),
            ),
            (Some(cert), Some(key), false) => Tls::from_files(cert, key)?,
            (Some(_), None, _) => return Err("--tls-cert needs --tls-key".into()),
            (None, Some(_), _) => return Err("--tls-key needs --tls-cert".into()),
            (None, None, true) => Tls::self_signed()?,
            (None, None, false) => return Ok(None),
        };
        Ok(Some(Arc::new(made.offering_h2(http2))))
    }

    /// ALPN offers `h2` first, then `http/1.1` (`--http2 on`); or only
    /// `http/1.1`. A client that offers only `http/1.1` (or nothing) gets
    /// HTTP/1.1 either way.
    pub(crate) fn offering_h2(mut self, http2: bool) -> Tls {
        let alpn = match http2 {
            true => vec![ALPN_H2.to_vec(), b"http/1.1".to_vec()],
            false => vec![b"http/1.1".to_vec()],
        };
        Arc::make_mut(&mut self.server).alpn_protocols = alpn;
        self
    }

    /// HTTPS with the certificate chain and key in these PEM files.
    pub(crate) fn from_files(cert: &Path, key: &Path) -> Result<Tls, String> {
        let loaded = load(cert, key)?;
        Tls::with(
            loaded,
            Source::Files {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
        )
    }

    /// HTTPS with a new self-signed certificate for localhost, 127.0.0.1
    /// and ::1.
    pub fn self_signed() -> Result<Tls, String> {
        let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| s.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("--tls-self-signed: {e}"))?;
        let der = made.cert.der().clone();
        let fingerprint = fingerprint(&der);
        use rcgen::PublicKeyData;
        let spki = spki_hash(&made.signing_key.subject_public_key_info());
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|e| format!("--tls-self-signed: {e}"))?;
        let certified = CertifiedKey::from_der(vec![der], key, &provider())
            .map_err(|e| format!("--tls-self-signed: {e}"))?;
        Tls::with(certified, Source::SelfSigned { fingerprint, spki })
    }

    fn with(certified: CertifiedKey, source: Source) -> Result<Tls, String> {
        let certs = Arc::new(Certs::new(certified));
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Larger records than this are split; also the default. Stated so
        // the buffers in `session` are sized against it.
        server.max_fragment_size = None;
        Ok(Tls {
            server: Arc::new(server),
            certs,
            source,
        })
    }

    /// Loads the certificate and key again from their files (SIGHUP). On
    /// failure the current certificate stays, and the error says why.
    /// A self-signed certificate has nothing to reload.
    pub(crate) fn reload(&self) -> Result<bool, String> {
        // The sites' own certificates first; each keeps its old one if its
        // files do not load.
        let mut failed = None;
        for (_, site) in self.certs.sites.get().into_iter().flatten() {
            if let Err(e) = site.reload() {
                failed = Some(e);
            }
        }
        let Source::Files { cert, key } = &self.source else {
            return failed.map_or(Ok(false), Err);
        };
        let loaded = load(cert, key)?;
        *crate::unpoison(self.certs.current.write()) = Arc::new(loaded);
        failed.map_or(Ok(true), Err)
    }

    /// The `[[site]]`s with a certificate of their own, chosen by SNI.
    pub(crate) fn serve_sites(&self, sites: Vec<(HostPattern, Arc<Tls>)>) {
        let _ = self.certs.sites.set(sites);
    }

    /// The SHA-256 fingerprint of the certificate served now.
    pub(crate) fn current_fingerprint(&self) -> String {
        let current = crate::unpoison(self.certs.current.read()).clone();
        current.cert.first().map(fingerprint).unwrap_or_default()
    }
}

/// A client configuration for `--health-check` over HTTPS: it asks the
/// server these flags describe, on loopback, and accepts exactly the
/// certificate they name (with `--tls-self-signed`, which makes a new one
/// in every process, any certificate: the check is about being up).
pub(crate) fn health_check_client(tls: &Tls) -> Arc<rustls::ClientConfig> {
    let expected = match tls.source {
        Source::Files { .. } => crate::unpoison(tls.certs.current.read())
            .cert
            .first()
            .map(|c| c.to_vec()),
        Source::SelfSigned { .. } => None,
    };
    let provider = provider();
    let verifier = Arc::new(Pinned {
        expected,
        provider: provider.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Accepts one certificate (or any, when `expected` is `None`); the
/// handshake signature is still checked against it.
#[derive(Debug)]
struct Pinned {
    expected: Option<Vec<u8>>,
    provider: Arc<CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match &self.expected {
            Some(der) if der.as_slice() != end_entity.as_ref() => Err(rustls::Error::General(
                "the server's certificate is not the one configured".into(),
            )),
            _ => Ok(rustls::client::danger::ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Reads a PEM certificate chain and private key and checks that they
/// belong together. Errors name the file.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let cert_pem = read_pem(cert, "--tls-cert")?;
    let key_pem = read_pem(key, "--tls-key")?;
    let shown = cert.display();
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert '{shown}': not a PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert '{shown}': no certificate in it"));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("--tls-key '{}': not a PEM private key: {e}", key.display()))?;
    CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| {
        format!(
            "--tls-cert '{shown}' with --tls-key '{}': {e}",
            key.display()
        )
    })
}

fn read_pem(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{flag} '{shown}': {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{flag} '{shown}': {e}"))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "{flag} '{shown}': larger than {MAX_PEM_BYTES} bytes"
        ));
    }
    Ok(bytes)
}

/// SHA-256 of a certificate, as colon-separated uppercase hex (the form
/// `openssl x509 -fingerprint -sha256` prints).
pub(crate) fn fingerprint(der: &CertificateDer<'_>) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(der.as_ref());
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Base64 of the SHA-256 of a DER SubjectPublicKeyInfo.
pub fn spki_hash(spki_der: &[u8]) -> String {
    use sha2::Digest;
    crate::base64::encode(&sha2::Sha256::digest(spki_der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_and_fingerprinted() {
        let tls = Tls::self_signed().unwrap();
        let Source::SelfSigned { fingerprint, spki } = &tls.source else {
            panic!("self-signed");
        };
        assert_eq!(fingerprint.len(), 32 * 3 - 1);
        assert_eq!(*fingerprint, tls.current_fingerprint());
        assert_eq!(spki.len(), 44);
        assert_eq!(tls.server.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(tls.reload(), Ok(false), "nothing to reload");
    }

    #[test]
    fn files_that_are_missing_or_wrong_are_one_line_errors() {
        let dir = std::env::temp_dir().join(format!("skiff-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = Tls::from_files(&dir.join("no.pem"), &dir.join("no.key")).unwrap_err();
        assert!(missing.starts_with("--tls-cert '"), "{missing}");
        std::fs::write(dir.join("junk.pem"), "not pem at all").unwrap();
        std::fs::write(dir.join("junk.key"), "not pem either").unwrap();
        let junk = Tls::from_files(&dir.join("junk.pem"), &dir.join("junk.key")).unwrap_err();
        assert!(junk.contains("no certificate"), "{junk}");

        // A certificate with someone else's key.
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        std::fs::write(dir.join("a.pem"), a.cert.pem()).unwrap();
        std::fs::write(dir.join("b.key"), b.signing_key.serialize_pem()).unwrap();
        let mismatch = Tls::from_files(&dir.join("a.pem"), &dir.join("b.key")).unwrap_err();
        assert!(mismatch.contains("with --tls-key"), "{mismatch}");
        assert!(!mismatch.contains('\n'));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
