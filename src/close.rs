//! Why a connection ends, and which of its deadlines passed: values the
//! connection core, the drivers, the access log's `--verbose` lines and
//! the metrics all name. Below all of them; depends on nothing.

/// Which deadline a connection is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Between requests (`--keep-alive-timeout`).
    Idle,
    /// A head (or a request body) arriving (`--header-timeout`).
    Header,
    /// A response the client does not take (`--send-timeout`).
    Send,
    /// After the last response, waiting for the client to close.
    Linger,
    /// A TLS handshake finishing (`--header-timeout` from accept).
    Handshake,
}

/// Why a connection ended, for `--verbose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The client closed its side.
    PeerClosed,
    /// A reset, broken pipe or other socket error.
    Reset,
    Timeout(Timeout),
    /// A request was refused (400, 408, 414, 431, 501, 505 ...) and the
    /// connection could not go on after it.
    Protocol(u16),
    /// The last response (`Connection: close`) was sent.
    Done,
    /// The server is stopping.
    Shutdown,
    /// A file could not be read to the length promised.
    FileError,
    /// The TLS handshake failed, or a record did not decrypt.
    Tls,
    /// Plain HTTP arrived on the HTTPS port (answered 400).
    PlainHttp,
    /// An HTTP/2 connection ended with GOAWAY for this error code: the
    /// client broke the protocol (1, PROTOCOL_ERROR, and others), or
    /// flooded it (11, ENHANCE_YOUR_CALM). A byte, so that `Why` (which
    /// every connection holds) stays four bytes: the codes defined are 0
    /// to 13, and any other is shown as 255.
    Http2(u8),
}

impl Why {
    /// A short name of each kind of reason, for metrics; [`Why::index`]
    /// is a position in it.
    pub(crate) const LABELS: [&'static str; 14] = [
        "peer_closed",
        "reset",
        "idle_timeout",
        "header_timeout",
        "send_timeout",
        "linger_timeout",
        "handshake_timeout",
        "protocol_error",
        "done",
        "shutdown",
        "file_error",
        "tls_error",
        "plain_http",
        "http2_error",
    ];

    /// Position in [`Why::LABELS`].
    pub(crate) fn index(self) -> usize {
        match self {
            Why::PeerClosed => 0,
            Why::Reset => 1,
            Why::Timeout(Timeout::Idle) => 2,
            Why::Timeout(Timeout::Header) => 3,
            Why::Timeout(Timeout::Send) => 4,
            Why::Timeout(Timeout::Linger) => 5,
            Why::Timeout(Timeout::Handshake) => 6,
            Why::Protocol(_) => 7,
            Why::Done => 8,
            Why::Shutdown => 9,
            Why::FileError => 10,
            Why::Tls => 11,
            Why::PlainHttp => 12,
            Why::Http2(_) => 13,
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::PeerClosed => f.write_str("the client closed"),
            Why::Reset => f.write_str("reset by the client"),
            Why::Timeout(Timeout::Idle) => f.write_str("idle timeout"),
            Why::Timeout(Timeout::Header) => f.write_str("header timeout"),
            Why::Timeout(Timeout::Send) => f.write_str("send timeout"),
            Why::Timeout(Timeout::Linger) => f.write_str("linger timeout"),
            Why::Timeout(Timeout::Handshake) => f.write_str("TLS handshake timeout"),
            Why::Protocol(code) => write!(f, "protocol error ({code})"),
            Why::Done => f.write_str("last response sent"),
            Why::Shutdown => f.write_str("server stopping"),
            Why::FileError => f.write_str("file error"),
            Why::Tls => f.write_str("TLS error"),
            Why::PlainHttp => f.write_str("plain HTTP on the HTTPS port"),
            Why::Http2(code) => write!(
                f,
                "HTTP/2 GOAWAY ({:?})",
                h2::Reason::from(u32::from(*code))
            ),
        }
    }
}
