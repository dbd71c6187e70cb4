//! Parsing one request head out of the bytes received so far.
//!
//! This module owns the request-line grammar, the limits on a head and the
//! meaning of the few fields the server acts on. It never does I/O and never
//! allocates: a parsed [`Request`] borrows from the caller's buffer. "Not
//! complete yet" is the value `Ok(None)`, not an error, and every partial
//! head is bounded by the limits below, so a caller that keeps appending
//! bytes and calling [`parse`] either gets a request or an error.
//!
//! The request line is parsed by hand (it decides 400 / 414 / 505 and must
//! be strict about spaces and the version); the header fields are parsed by
//! `httparse::parse_headers`.

use super::{is_tchar, trim_ows};

/// Longest request target accepted; longer gets 414. 8 KiB is what nginx
/// and most clients use as the ceiling of a sane URL.
pub(crate) const MAX_TARGET: usize = 8 * 1024;
/// Longest header section (the fields after the request line, with their
/// line endings); longer gets 431. Generous for cookies, small enough that a
/// connection's buffer stays modest.
pub(crate) const MAX_HEADER_SECTION: usize = 16 * 1024;
/// Most header fields accepted; more gets 431. Real browsers send ~20.
pub(crate) const MAX_HEADERS: usize = 100;
/// Longest method token; any real method is far shorter, so a longer one is
/// garbage and gets 400 without waiting for the rest of the line.
pub(crate) const MAX_METHOD: usize = 32;
/// Empty lines tolerated before a request line (RFC 9112 section 2.2 asks
/// servers to skip at least one, left over from a previous body).
pub(crate) const MAX_LEADING_EMPTY_LINES: usize = 4;
/// Longest request line: method, target, version, separators, CRLF.
pub(crate) const MAX_REQUEST_LINE: usize = MAX_METHOD + 1 + MAX_TARGET + 1 + 8 + 2;
/// Longest head that can still be valid. A buffer this full that has not
/// parsed is over a limit.
pub(crate) const MAX_HEAD: usize =
    MAX_LEADING_EMPTY_LINES * 2 + MAX_REQUEST_LINE + MAX_HEADER_SECTION;

/// The request methods the server distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Trace,
    Connect,
    /// Any other syntactically valid token: 501.
    Other,
}

impl Method {
    pub(crate) fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// Why a head cannot be answered normally. Each maps to exactly one status
/// in `response::Status::from(HeadError)`, and every one of them closes the
/// connection after the answer: after any of them the server cannot be sure
/// where the next request would begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// 400, with a short reason for logs and tests.
    Malformed(&'static str),
    /// 414: the request target is longer than [`MAX_TARGET`].
    UriTooLong,
    /// 431: more than [`MAX_HEADER_SECTION`] bytes or [`MAX_HEADERS`] fields.
    HeadersTooLarge,
    /// 505: an HTTP major version other than 1.
    VersionNotSupported,
    /// 501: a `Transfer-Encoding` naming only codings skiff does not know.
    TransferEncoding,
}

/// How the end of a request's body is found (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length`: exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: ..., chunked`: see [`super::chunked`].
    Chunked,
}

/// What `Expect` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// No `Expect` (or an empty one).
    Nothing,
    /// `100-continue`: the client may hold its body back until it sees
    /// `100 Continue`.
    Continue,
    /// Anything else: 417.
    Other,
}

/// A complete, valid request head. Borrows the receive buffer.
#[derive(Debug, Clone)]
pub struct Request<'b> {
    pub(crate) method: Method,
    /// The request line without its line ending (for the access log).
    pub(crate) line: &'b [u8],
    /// The request target exactly as sent.
    pub target: &'b [u8],
    /// HTTP/1.`minor`; 1.2 and later are read as 1.1 (RFC 9110 2.5).
    pub(crate) minor: u8,
    /// Whether the client asks to keep the connection (1.1: unless
    /// `Connection: close`; 1.0: only with `Connection: keep-alive`).
    pub(crate) keep_alive: bool,
    /// Where the body after the head ends.
    pub framing: Framing,
    pub(crate) if_modified_since: Option<&'b [u8]>,
    pub(crate) if_unmodified_since: Option<&'b [u8]>,
    pub(crate) if_match: Option<&'b [u8]>,
    pub(crate) if_none_match: Option<&'b [u8]>,
    pub(crate) if_range: Option<&'b [u8]>,
    pub(crate) range: Option<&'b [u8]>,
    pub(crate) user_agent: Option<&'b [u8]>,
    pub(crate) referer: Option<&'b [u8]>,
    pub(crate) accept: Option<&'b [u8]>,
    pub(crate) accept_encoding: Option<&'b [u8]>,
    /// `Authorization` (`--htpasswd`).
    pub(crate) authorization: Option<&'b [u8]>,
    /// `Origin` (a cross-origin request from a browser).
    pub(crate) origin: Option<&'b [u8]>,
    /// `X-Forwarded-For` and `Forwarded` (the last line of each): read
    /// only from a `--trust-proxy` peer.
    pub(crate) forwarded_for: Option<&'b [u8]>,
    pub(crate) forwarded: Option<&'b [u8]>,
    /// `Access-Control-Request-Method` (a CORS preflight).
    pub(crate) ac_request_method: Option<&'b [u8]>,
    /// `Access-Control-Request-Headers`.
    pub(crate) ac_request_headers: Option<&'b [u8]>,
    pub(crate) expect: Expect,
    /// `Content-Type` (an upload's form).
    pub(crate) content_type: Option<&'b [u8]>,
    /// `Host`, checked to hold only host characters (`--redirect-http`).
    pub(crate) host: Option<&'b [u8]>,
    /// Bytes of the buffer the head occupies, leading empty lines included.
    pub head_len: usize,
}

impl<'b> Request<'b> {
    /// A request of either protocol with none of the fields below yet.
    /// HTTP/1's parser fills in the framing and connection fields itself.
    pub(crate) fn bare(method: Method, line: &'b [u8], target: &'b [u8]) -> Request<'b> {
        Request {
            method,
            line,
            target,
            minor: 1,
            keep_alive: true,
            framing: Framing::None,
            if_modified_since: None,
            if_unmodified_since: None,
            if_match: None,
            if_none_match: None,
            if_range: None,
            range: None,
            user_agent: None,
            referer: None,
            content_type: None,
            accept: None,
            accept_encoding: None,
            authorization: None,
            origin: None,
            forwarded_for: None,
            forwarded: None,
            ac_request_method: None,
            ac_request_headers: None,
            expect: Expect::Nothing,
            host: None,
            head_len: 0,
        }
    }

    /// Takes in a field that means the same in every protocol (the
    /// conditionals, `Range`, content negotiation, credentials, CORS,
    /// `Expect`, and what the log records), its value already trimmed and
    /// checked; any other field is ignored. A field sent twice counts
    /// once, the last one.
    pub(crate) fn field(&mut self, name: &[u8], value: &'b [u8]) {
        let slot = if name.eq_ignore_ascii_case(b"if-modified-since") {
            &mut self.if_modified_since
        } else if name.eq_ignore_ascii_case(b"if-unmodified-since") {
            &mut self.if_unmodified_since
        } else if name.eq_ignore_ascii_case(b"if-match") {
            &mut self.if_match
        } else if name.eq_ignore_ascii_case(b"if-none-match") {
            &mut self.if_none_match
        } else if name.eq_ignore_ascii_case(b"if-range") {
            &mut self.if_range
        } else if name.eq_ignore_ascii_case(b"range") {
            &mut self.range
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            &mut self.user_agent
        } else if name.eq_ignore_ascii_case(b"referer") {
            &mut self.referer
        } else if name.eq_ignore_ascii_case(b"content-type") {
            &mut self.content_type
        } else if name.eq_ignore_ascii_case(b"accept") {
            &mut self.accept
        } else if name.eq_ignore_ascii_case(b"accept-encoding") {
            &mut self.accept_encoding
        } else if name.eq_ignore_ascii_case(b"authorization") {
            &mut self.authorization
        } else if name.eq_ignore_ascii_case(b"origin") {
            &mut self.origin
        } else if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            &mut self.forwarded_for
        } else if name.eq_ignore_ascii_case(b"forwarded") {
            &mut self.forwarded
        } else if name.eq_ignore_ascii_case(b"access-control-request-method") {
            &mut self.ac_request_method
        } else if name.eq_ignore_ascii_case(b"access-control-request-headers") {
            &mut self.ac_request_headers
        } else {
            if name.eq_ignore_ascii_case(b"expect") {
                for item in value.split(|&c| c == b',').map(trim_ows) {
                    if item.eq_ignore_ascii_case(b"100-continue") {
                        if self.expect == Expect::Nothing {
                            self.expect = Expect::Continue;
                        }
                    } else if !item.is_empty() {
                        self.expect = Expect::Other;
                    }
                }
            }
            return;
        };
        *slot = Some(value);
    }
}

/// Parses a request head from the start of `buf`.
///
/// `Ok(None)`: more bytes are needed (and the bytes so far are within every
/// limit). `Ok(Some(r))`: a complete request whose head is
/// `buf[..r.head_len]`. `Err(e)`: the head is invalid; answer and close.
pub fn parse(buf: &[u8]) -> Result<Option<Request<'_>>, HeadError> {
    // Leading empty lines.
    let mut pos = 0;
    let mut empty = 0;
    loop {
        match buf.get(pos..) {
            Some([b'\n', ..]) => pos += 1,
            Some([b'\r', b'\n', ..]) => pos += 2,
            Some([b'\r']) | Some([]) => return Ok(None),
            Some([b'\r', ..]) => return Err(HeadError::Malformed("bare CR")),
            _ => break,
        }
        empty += 1;
        if empty > MAX_LEADING_EMPTY_LINES {
            return Err(HeadError::Malformed("empty lines before the request line"));
        }
    }
    let line_start = pos;

    // Method: a token, then one space.
    let method_end = loop {
        match buf.get(pos) {
            None if pos - line_start > MAX_METHOD => {
                return Err(HeadError::Malformed("method too long"));
            }
            None => return Ok(None),
            Some(b' ') if pos == line_start => return Err(HeadError::Malformed("empty method")),
            Some(b' ') => break pos,
            Some(&c) if is_tchar(c) => pos += 1,
            Some(_) => return Err(HeadError::Malformed("method")),
        }
        if pos - line_start > MAX_METHOD {
            return Err(HeadError::Malformed("method too long"));
        }
    };
    pos += 1;

    // Target: visible ASCII, then one space.
    let target_start = pos;
    let target_end = loop {
        match buf.get(pos) {
            None if pos - target_start > MAX_TARGET => return Err(HeadError::UriTooLong),
            None => return Ok(None),
            Some(b' ') if pos == target_start => return Err(HeadError::Malformed("empty target")),
            Some(b' ') => break pos,
            // A fragment is the client's business, never part of a target.
            Some(b'#') => return Err(HeadError::Malformed("fragment in request target")),
            Some(&c) if (0x21..=0x7e).contains(&c) => pos += 1,
            Some(b'\r' | b'\n') => return Err(HeadError::Malformed("no HTTP version")),
            Some(_) => return Err(HeadError::Malformed("request target")),
        }
    };
    if target_end - target_start > MAX_TARGET {
        return Err(HeadError::UriTooLong);
    }
    pos += 1;

    // Version: exactly HTTP/D.D, then CRLF or LF.
    let rest = &buf[pos..];
    const PREFIX: &[u8] = b"HTTP/";
    let have = rest.len().min(PREFIX.len());
    if rest[..have] != PREFIX[..have] {
        return Err(HeadError::Malformed("version"));
    }
    let (major, minor) = match rest {
        [b'H', b'T', b'T', b'P', b'/', ma, b'.', mi, ..]
            if ma.is_ascii_digit() && mi.is_ascii_digit() =>
        {
            (ma - b'0', mi - b'0')
        }
        _ if rest.len() < 8 => {
            // Fail early on what can never become a version.
            let ok = rest[have..]
                .iter()
                .enumerate()
                .all(|(i, &c)| match i + have {
                    5 | 7 => c.is_ascii_digit(),
                    6 => c == b'.',
                    _ => true,
                });
            return if ok {
                Ok(None)
            } else {
                Err(HeadError::Malformed("version"))
            };
        }
        _ => return Err(HeadError::Malformed("version")),
    };
    pos += 8;
    let line_end = pos;
    match buf.get(pos..) {
        Some([b'\r', b'\n', ..]) => pos += 2,
        Some([b'\n', ..]) => pos += 1,
        Some([b'\r']) | Some([]) => return Ok(None),
        _ => return Err(HeadError::Malformed("request line")),
    }
    if major != 1 {
        return Err(HeadError::VersionNotSupported);
    }
    let minor = minor.min(1);

    // Header fields.
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let fields_start = pos;
    let (len, headers) = match httparse::parse_headers(&buf[fields_start..], &mut storage) {
        Ok(httparse::Status::Complete((len, headers))) => (len, headers),
        Ok(httparse::Status::Partial) => {
            return if buf.len() - fields_start > MAX_HEADER_SECTION {
                Err(HeadError::HeadersTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadersTooLarge),
        Err(_) => {
            return if buf.len() - fields_start > MAX_HEADER_SECTION {
                Err(HeadError::HeadersTooLarge)
            } else {
                Err(HeadError::Malformed("header field"))
            };
        }
    };
    if len > MAX_HEADER_SECTION {
        return Err(HeadError::HeadersTooLarge);
    }

    let mut req = Request::bare(
        Method::from_bytes(&buf[line_start..method_end]),
        &buf[line_start..line_end],
        &buf[target_start..target_end],
    );
    req.minor = minor;
    req.keep_alive = minor >= 1;
    req.head_len = fields_start + len;
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut codings = Codings::default();
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    for h in headers.iter() {
        let value = trim_ows(h.value);
        if !valid_field_value(value) {
            return Err(HeadError::Malformed("control byte in field value"));
        }
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            // An http URI with an empty host is invalid (RFC 9110 4.2.1).
            if value.is_empty() || !valid_host(value) {
                return Err(HeadError::Malformed("Host"));
            }
            req.host = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(HeadError::Malformed("Content-Length twice"));
            }
            content_length =
                Some(parse_decimal(value).ok_or(HeadError::Malformed("Content-Length"))?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.add(value)?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&c| c == b',') {
                let token = trim_ows(token);
                if token.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    conn_keep_alive = true;
                }
            }
        } else {
            req.field(name, value);
        }
    }
    req.framing = match (codings.seen, content_length) {
        (false, None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
        (true, Some(_)) => {
            return Err(HeadError::Malformed(
                "Transfer-Encoding with Content-Length",
            ));
        }
        (true, None) if minor == 0 => {
            return Err(HeadError::Malformed("Transfer-Encoding in HTTP/1.0"));
        }
        (true, None) => codings.framing()?,
    };
    if (minor >= 1 && hosts != 1) || hosts > 1 {
        return Err(HeadError::Malformed("Host"));
    }
    req.keep_alive = if conn_close {
        false
    } else {
        minor >= 1 || conn_keep_alive
    };
    Ok(Some(req))
}

/// The codings of every `Transfer-Encoding` line of a request, in order.
#[derive(Debug, Default)]
struct Codings {
    /// A `Transfer-Encoding` field was present.
    seen: bool,
    chunked: u8,
    /// The last coding is chunked.
    chunked_last: bool,
    /// Some coding is neither chunked nor a content coding skiff knows.
    unknown: bool,
    /// The last coding is one skiff does not know.
    unknown_last: bool,
}

impl Codings {
    /// Codings a body may carry under chunked: skiff throws bodies away,
    /// so it need not decode them, only know them.
    const KNOWN: [&'static [u8]; 5] = [b"gzip", b"x-gzip", b"deflate", b"compress", b"x-compress"];

    fn add(&mut self, value: &[u8]) -> Result<(), HeadError> {
        self.seen = true;
        for item in value.split(|&c| c == b',').map(trim_ows) {
            if item.is_empty() {
                continue; // empty list elements are allowed (RFC 9110 5.6.1)
            }
            // A coding may carry parameters; only its name matters here.
            let name = trim_ows(item.split(|&c| c == b';').next().unwrap_or_default());
            if name.is_empty() || !name.iter().all(|&c| is_tchar(c)) {
                return Err(HeadError::Malformed("Transfer-Encoding"));
            }
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            if chunked {
                if name.len() != item.len() {
                    return Err(HeadError::Malformed("parameters on chunked"));
                }
                self.chunked = self.chunked.saturating_add(1);
            }
            let known = chunked || Self::KNOWN.iter().any(|k| name.eq_ignore_ascii_case(k));
            self.unknown |= !known;
            self.unknown_last = !known;
            self.chunked_last = chunked;
        }
        Ok(())
    }

    /// RFC 9112 section 6.3: chunked must come last, and once; a body
    /// whose end cannot be found is 400. Codings skiff does not know
    /// are 501 (when nothing else is wrong).
    fn framing(&self) -> Result<Framing, HeadError> {
        if self.chunked > 1 {
            return Err(HeadError::Malformed("chunked twice"));
        }
        if !self.chunked_last {
            return Err(if self.chunked == 0 && self.unknown_last {
                HeadError::TransferEncoding
            } else {
                HeadError::Malformed("Transfer-Encoding does not end in chunked")
            });
        }
        if self.unknown {
            return Err(HeadError::TransferEncoding);
        }
        Ok(Framing::Chunked)
    }
}

/// The first line of `buf` if it holds a whole one, for logging a request
/// that failed to parse. Bounded by [`MAX_REQUEST_LINE`].
pub fn first_line(buf: &[u8]) -> Option<&[u8]> {
    let window = &buf[..buf.len().min(MAX_REQUEST_LINE)];
    let start = window.iter().position(|&c| c != b'\r' && c != b'\n')?;
    let end = start + window[start..].iter().position(|&c| c == b'\n')?;
    let line = &window[start..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Whether a field value (of a head or a trailer section) is free of the
/// bytes httparse lets through but a field may not hold: CR, LF, NUL.
pub(crate) fn valid_field_value(value: &[u8]) -> bool {
    !value.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0)
}

/// Plain decimal digits, at least one, fitting in u64.
pub(crate) fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// `Host = uri-host [ ":" port ]`: reg-name / IPv4 / IP-literal characters.
/// The caller refuses an empty value.
pub(crate) fn valid_host(v: &[u8]) -> bool {
    const OK: [bool; 256] = {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = b.is_ascii_alphanumeric();
            c += 1;
        }
        let extra = b"-._~%!$&'()*+,;=:[]";
        let mut i = 0;
        while i < extra.len() {
            t[extra[i] as usize] = true;
            i += 1;
        }
        t
    };
    v.iter().all(|&c| OK[c as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &[u8]) -> Request<'_> {
        match parse(raw) {
            Ok(Some(r)) => r,
            other => panic!("expected a request from {raw:?}, got {other:?}"),
        }
    }

    fn err(raw: &[u8]) -> HeadError {
        match parse(raw) {
            Err(e) => e,
            other => panic!("expected an error from {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let raw = b"GET /a.txt?q=1 HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
        let r = ok(raw);
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.target, b"/a.txt?q=1");
        assert_eq!(r.line, b"GET /a.txt?q=1 HTTP/1.1");
        assert_eq!(r.minor, 1);
        assert!(r.keep_alive);
        assert_eq!(r.head_len, raw.len() - 4);
    }

    #[test]
    fn every_prefix_is_partial_and_the_whole_parses() {
        let raw: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n\r\n";
        for i in 0..raw.len() {
            assert_eq!(
                parse(&raw[..i]).map(|r| r.is_some()),
                Ok(false),
                "prefix {i}"
            );
        }
        let r = ok(raw);
        assert_eq!(r.head_len, raw.len());
        assert_eq!(r.user_agent, Some(&b"t"[..]));
    }

    #[test]
    fn bare_lf_is_accepted() {
        let r = ok(b"HEAD / HTTP/1.1\nHost: x\n\n");
        assert_eq!(r.method, Method::Head);
        assert_eq!(r.head_len, 25);
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let r = ok(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.line, b"GET / HTTP/1.1");
    }

    #[test]
    fn connection_semantics() {
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(
            !ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n").keep_alive
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), HeadError::Malformed("Host"));
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            HeadError::Malformed("Host")
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            HeadError::Malformed("Host")
        );
        // An empty host is not a host (RFC 9110 4.2.1).
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            HeadError::Malformed("Host")
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost:  \r\n\r\n"),
            HeadError::Malformed("Host")
        );
        assert_eq!(
            err(b"GET / HTTP/1.0\r\nHost:\r\n\r\n"),
            HeadError::Malformed("Host")
        );
        ok(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
        ok(b"GET / HTTP/1.0\r\n\r\n");
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n").framing,
            Framing::Length(5)
        );
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").framing,
            Framing::None
        );
        for bad in ["+5", "-1", "0x5", "5 5", "1,2", "", "18446744073709551616"] {
            let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n");
            assert!(
                matches!(parse(raw.as_bytes()), Err(HeadError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
    }

    fn te(values: &[&str]) -> Result<Option<Framing>, HeadError> {
        let mut raw = String::from("POST / HTTP/1.1\r\nHost: x\r\n");
        for v in values {
            raw.push_str(&format!("Transfer-Encoding: {v}\r\n"));
        }
        raw.push_str("\r\n");
        parse(raw.as_bytes()).map(|r| r.map(|r| r.framing))
    }

    #[test]
    fn transfer_encoding() {
        for ok in [
            &["chunked"][..],
            &["Chunked"],
            &["gzip, chunked"],
            &["gzip", "chunked"],
            &["gzip,,chunked"],
        ] {
            assert_eq!(te(ok), Ok(Some(Framing::Chunked)), "{ok:?}");
        }
        for bad in [
            &["chunked, gzip"][..],
            &["chunked", "gzip"],
            &["chunked, chunked"],
            &["chunked", "chunked"],
            &["gzip"],
            &[""],
            &["chunked;a=b"],
            &["chu nked"],
            &["foo, gzip"],
        ] {
            assert!(
                matches!(te(bad), Err(HeadError::Malformed(_))),
                "{bad:?}: {:?}",
                te(bad)
            );
        }
        for unknown in [&["foo"][..], &["foo, chunked"], &["x-custom"]] {
            assert_eq!(te(unknown), Err(HeadError::TransferEncoding), "{unknown:?}");
        }
        assert!(matches!(
            err(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadError::Malformed(_)
        ));
    }

    #[test]
    fn expectations() {
        let expect = |v: &str| {
            ok(format!("GET / HTTP/1.1\r\nHost: x\r\nExpect: {v}\r\n\r\n").as_bytes()).expect
        };
        assert_eq!(expect("100-continue"), Expect::Continue);
        assert_eq!(expect("100-Continue"), Expect::Continue);
        assert_eq!(expect(""), Expect::Nothing);
        assert_eq!(expect("200-ok"), Expect::Other);
        assert_eq!(expect("100-continue, foo"), Expect::Other);
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect,
            Expect::Nothing
        );
    }

    #[test]
    fn fragments_are_refused() {
        assert!(matches!(
            err(b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            err(b"GET /a?q#b HTTP/1.1\r\nHost: x\r\n\r\n"),
            HeadError::Malformed(_)
        ));
    }

    #[test]
    fn versions() {
        assert_eq!(
            err(b"GET / HTTP/2.0\r\n\r\n"),
            HeadError::VersionNotSupported
        );
        assert_eq!(
            err(b"GET / HTTP/0.9\r\n\r\n"),
            HeadError::VersionNotSupported
        );
        assert_eq!(ok(b"GET / HTTP/1.2\r\nHost: x\r\n\r\n").minor, 1);
        for bad in [
            &b"GET / HTTP/1\r\n\r\n"[..],
            b"GET / HTTP/01.1\r\n\r\n",
            b"GET / http/1.1\r\n\r\n",
            b"GET / HTTP/1.1x\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HeadError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn request_line_shape() {
        for bad in [
            &b"GET  / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET /\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
            b"GET\r\n\r\n",
            b"G\x00T / HTTP/1.1\r\n\r\n",
            b"GET /a\x7fb HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\rHost: x\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HeadError::Malformed(_))),
                "{bad:?}"
            );
        }
        // Garbage fails at once, without waiting for more bytes.
        assert!(matches!(
            parse(b"\x16\x03\x01"),
            Err(HeadError::Malformed(_))
        ));
    }

    #[test]
    fn header_field_shape() {
        for bad in [
            &b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\x00c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HeadError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits() {
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(MAX_TARGET)
        );
        assert_eq!(err(long.as_bytes()), HeadError::UriTooLong);
        // Detected before the line is complete.
        let partial = format!("GET /{}", "a".repeat(MAX_TARGET + 1));
        assert_eq!(err(partial.as_bytes()), HeadError::UriTooLong);
        let at_limit = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(MAX_TARGET - 1)
        );
        ok(at_limit.as_bytes());

        let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..MAX_HEADERS {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(err(many.as_bytes()), HeadError::HeadersTooLarge);

        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "v".repeat(MAX_HEADER_SECTION)
        );
        assert_eq!(err(big.as_bytes()), HeadError::HeadersTooLarge);
        let big_partial = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}",
            "v".repeat(MAX_HEADER_SECTION)
        );
        assert_eq!(err(big_partial.as_bytes()), HeadError::HeadersTooLarge);
    }

    #[test]
    fn methods() {
        assert_eq!(
            ok(b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n").method,
            Method::Delete
        );
        assert_eq!(
            ok(b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n").method,
            Method::Other
        );
        assert_eq!(
            ok(b"get / HTTP/1.1\r\nHost: x\r\n\r\n").method,
            Method::Other
        );
    }

    #[test]
    fn first_line_for_logs() {
        assert_eq!(
            first_line(b"\r\nGET / HTTP/9.9\r\nX"),
            Some(&b"GET / HTTP/9.9"[..])
        );
        assert_eq!(first_line(b"GET / HT"), None);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// A valid request head: GET or HEAD, a path, Host, a few fields,
        /// CRLF or bare LF line endings.
        pub(crate) fn valid_head() -> impl Strategy<Value = Vec<u8>> {
            (
                prop_oneof![Just("GET"), Just("HEAD")],
                "/[a-z0-9._~-]{0,12}(/[a-z0-9._~-]{0,8}){0,3}(\\?[a-z0-9=&]{0,10})?",
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just("User-Agent"),
                            Just("Accept"),
                            Just("X-Custom"),
                            Just("If-None-Match"),
                            Just("Range"),
                            Just("Cookie"),
                        ],
                        "[!-~]([ -~]{0,30}[!-~])?",
                    ),
                    0..6,
                ),
                any::<bool>(),
            )
                .prop_map(|(method, path, fields, lf)| {
                    let eol = if lf { "\n" } else { "\r\n" };
                    let mut s = format!("{method} {path} HTTP/1.1{eol}Host: example.com{eol}");
                    for (n, v) in fields {
                        s.push_str(&format!("{n}: {v}{eol}"));
                    }
                    s.push_str(eol);
                    s.into_bytes()
                })
        }

        proptest! {
            #[test]
            fn a_buffer_past_the_longest_head_is_never_partial(
                leading in 0usize..=MAX_LEADING_EMPTY_LINES + 1,
                method in "[A-Z]{1,40}",
                target_len in 0usize..MAX_TARGET + 40,
                version in prop_oneof![Just(" HTTP/1.1"), Just(" HTTP/1."), Just(""), Just(" ")],
                eol in prop_oneof![Just("\r\n"), Just("\n")],
                field in "[A-Za-z-]{1,20}: [ -~]{0,200}",
                filler in any::<u8>(),
            ) {
                let mut raw = eol.repeat(leading).into_bytes();
                raw.extend_from_slice(method.as_bytes());
                raw.push(b' ');
                raw.push(b'/');
                raw.extend(std::iter::repeat_n(b'a', target_len));
                raw.extend_from_slice(version.as_bytes());
                raw.extend_from_slice(eol.as_bytes());
                while raw.len() <= MAX_HEAD {
                    raw.extend_from_slice(field.as_bytes());
                    raw.extend_from_slice(eol.as_bytes());
                }
                raw.truncate(MAX_HEAD + 1);
                prop_assert!(!matches!(parse(&raw), Ok(None)), "a full buffer stayed partial");
                // Any byte at the end instead.
                *raw.last_mut().unwrap() = filler;
                prop_assert!(!matches!(parse(&raw), Ok(None)));
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
                let _ = parse(&data);
                let _ = first_line(&data);
            }

            #[test]
            fn near_valid_heads_never_panic(
                data in "[A-Z]{0,8}[ \t]{0,2}[ -~]{0,30}[ ]{0,2}(HTTP/[0-9]\\.[0-9])?\r?\n([!-~ :\t\r]{0,30}\r?\n){0,6}\r?\n?"
            ) {
                if let Ok(Some(r)) = parse(data.as_bytes()) {
                    prop_assert!(r.head_len <= data.len());
                }
            }

            #[test]
            fn every_prefix_of_a_valid_head_is_partial_and_the_whole_parses(raw in valid_head()) {
                for i in 0..raw.len() {
                    prop_assert_eq!(parse(&raw[..i]).map(|r| r.is_some()), Ok(false), "prefix {}", i);
                }
                let whole = parse(&raw).unwrap().unwrap();
                prop_assert_eq!(whole.head_len, raw.len());
                // Bytes after the head change nothing about it.
                let mut more = raw.clone();
                more.extend_from_slice(b"GET / HTTP/1.1\r\n");
                let again = parse(&more).unwrap().unwrap();
                prop_assert_eq!(again.head_len, whole.head_len);
                prop_assert_eq!(again.target, whole.target);
                prop_assert_eq!(again.range, whole.range);
            }
        }
    }
}
