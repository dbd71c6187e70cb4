//! Status codes, and response heads and error bodies rendered into bytes.
//!
//! Owns the mapping from a parse error to a status (exactly one function,
//! `From<HeadError> for Status`) and the byte layout of every head the
//! server sends. Renders into a caller's buffer and never allocates on its
//! own; knows nothing of sockets or files.

use std::io::Write;

use super::conditional::ETag;
use super::date::HTTP_DATE_LEN;
use super::request::HeadError;

/// `Server` header value.
pub(crate) const SERVER: &str = concat!("skiff/", env!("CARGO_PKG_VERSION"));

/// Every status the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    NoContent,
    PartialContent,
    MovedPermanently,
    NotModified,
    /// `--redirect-http`: the same request, over HTTPS; and `--redirect`,
    /// clean URLs and trailing slashes by default.
    PermanentRedirect,
    /// `--redirect` rules with code 302, 303 or 307.
    Found,
    SeeOther,
    TemporaryRedirect,
    /// A request over HTTPS for another site than the one its handshake
    /// named (SNI).
    MisdirectedRequest,
    /// An upload made a new file (with `Location`).
    Created,
    /// An upload's name is taken and `--upload-overwrite` is off.
    Conflict,
    /// A request body or a folder download past its bound.
    ContentTooLarge,
    /// The disk filled during an upload.
    InsufficientStorage,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PreconditionFailed,
    UriTooLong,
    RangeNotSatisfiable,
    ExpectationFailed,
    HeaderFieldsTooLarge,
    InternalServerError,
    NotImplemented,
    ServiceUnavailable,
    VersionNotSupported,
}

impl Status {
    /// All statuses, for tables indexed by status.
    pub(crate) const ALL: [Status; 29] = [
        Status::Ok,
        Status::NoContent,
        Status::PartialContent,
        Status::MovedPermanently,
        Status::NotModified,
        Status::BadRequest,
        Status::Unauthorized,
        Status::Forbidden,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::PreconditionFailed,
        Status::UriTooLong,
        Status::RangeNotSatisfiable,
        Status::ExpectationFailed,
        Status::HeaderFieldsTooLarge,
        Status::InternalServerError,
        Status::NotImplemented,
        Status::ServiceUnavailable,
        Status::VersionNotSupported,
        Status::PermanentRedirect,
        Status::Found,
        Status::SeeOther,
        Status::TemporaryRedirect,
        Status::MisdirectedRequest,
        Status::Created,
        Status::Conflict,
        Status::ContentTooLarge,
        Status::InsufficientStorage,
    ];

    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::NoContent => 204,
            Status::PartialContent => 206,
            Status::MovedPermanently => 301,
            Status::NotModified => 304,
            Status::PermanentRedirect => 308,
            Status::Found => 302,
            Status::SeeOther => 303,
            Status::TemporaryRedirect => 307,
            Status::MisdirectedRequest => 421,
            Status::Created => 201,
            Status::Conflict => 409,
            Status::ContentTooLarge => 413,
            Status::InsufficientStorage => 507,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::PreconditionFailed => 412,
            Status::UriTooLong => 414,
            Status::RangeNotSatisfiable => 416,
            Status::ExpectationFailed => 417,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NoContent => "No Content",
            Status::PartialContent => "Partial Content",
            Status::MovedPermanently => "Moved Permanently",
            Status::NotModified => "Not Modified",
            Status::PermanentRedirect => "Permanent Redirect",
            Status::Found => "Found",
            Status::SeeOther => "See Other",
            Status::TemporaryRedirect => "Temporary Redirect",
            Status::MisdirectedRequest => "Misdirected Request",
            Status::Created => "Created",
            Status::Conflict => "Conflict",
            Status::ContentTooLarge => "Content Too Large",
            Status::InsufficientStorage => "Insufficient Storage",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::PreconditionFailed => "Precondition Failed",
            Status::UriTooLong => "URI Too Long",
            Status::RangeNotSatisfiable => "Range Not Satisfiable",
            Status::ExpectationFailed => "Expectation Failed",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// Whether this status is an error that gets an HTML body.
    pub(crate) fn is_error(self) -> bool {
        self.code() >= 400
    }

    /// Position in [`Status::ALL`] (a unit test keeps the two in step).
    pub(crate) fn index(self) -> usize {
        match self {
            Status::Ok => 0,
            Status::NoContent => 1,
            Status::PartialContent => 2,
            Status::MovedPermanently => 3,
            Status::NotModified => 4,
            Status::BadRequest => 5,
            Status::Unauthorized => 6,
            Status::Forbidden => 7,
            Status::NotFound => 8,
            Status::MethodNotAllowed => 9,
            Status::RequestTimeout => 10,
            Status::PreconditionFailed => 11,
            Status::UriTooLong => 12,
            Status::RangeNotSatisfiable => 13,
            Status::ExpectationFailed => 14,
            Status::HeaderFieldsTooLarge => 15,
            Status::InternalServerError => 16,
            Status::NotImplemented => 17,
            Status::ServiceUnavailable => 18,
            Status::VersionNotSupported => 19,
            Status::PermanentRedirect => 20,
            Status::Found => 21,
            Status::SeeOther => 22,
            Status::TemporaryRedirect => 23,
            Status::MisdirectedRequest => 24,
            Status::Created => 25,
            Status::Conflict => 26,
            Status::ContentTooLarge => 27,
            Status::InsufficientStorage => 28,
        }
    }
}

impl From<HeadError> for Status {
    fn from(e: HeadError) -> Status {
        match e {
            HeadError::Malformed(_) => Status::BadRequest,
            HeadError::UriTooLong => Status::UriTooLong,
            HeadError::HeadersTooLarge => Status::HeaderFieldsTooLarge,
            HeadError::VersionNotSupported => Status::VersionNotSupported,
            HeadError::TransferEncoding => Status::NotImplemented,
        }
    }
}

/// The protocol version on the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// What the response says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// The connection stays open: `Keep-Alive: timeout=N`, plus
    /// `Connection: keep-alive` when the request was HTTP/1.0.
    KeepAlive {
        timeout_secs: u64,
        http10_request: bool,
    },
    /// The last response on the connection: `Connection: close`.
    Close,
}

/// The interim response sent before reading a body the client holds back
/// for it (`Expect: 100-continue`).
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The methods every resource allows (`Allow`, and `OPTIONS`).
pub(crate) const ALLOW: &str = "GET, HEAD, OPTIONS";

/// Everything a head says besides the status line, `Date`, `Server` and
/// the connection's fate. Owns its values: respond's `Reply`
/// carries one, and nothing copies it field by field.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// MIME type; `charset=utf-8` is appended for text types. `None` for a
    /// response with no content at all (no `Content-Type`).
    pub content_type: Option<&'static str>,
    /// `Content-Length`: the body's length, or for HEAD and 304 the length
    /// a GET would have had.
    pub content_length: u64,
    /// `Last-Modified`, already an HTTP date.
    pub last_modified: Option<[u8; HTTP_DATE_LEN]>,
    pub etag: Option<ETag>,
    pub accept_ranges: bool,
    /// `Content-Range: bytes a-b/len` (`Some((a, b, len))`) on a 206.
    pub content_range: Option<(u64, u64, u64)>,
    /// `Content-Range: bytes */len` on a 416.
    pub unsatisfied_range: Option<u64>,
    pub location: Option<Vec<u8>>,
    /// `Allow: GET, HEAD, OPTIONS` (405, OPTIONS).
    pub allow: bool,
    /// `Allow: GET, HEAD` instead (a 405 from the `--metrics` listener).
    pub allow_read_only: bool,
    /// `Content-Encoding` (a precompressed variant).
    pub content_encoding: Option<&'static str>,
    /// `Vary`: the request fields the choice of this body depended on.
    pub vary: Vary,
    /// Which of the configured header sets this reply carries.
    pub extra: Extra,
    /// The `--header 'GLOB=...'` rules its path matched (positions in
    /// `Config::headers.paths`); empty, and unallocated, for most.
    pub path_rules: Vec<u16>,
    /// What CORS adds, for a request from an allowed origin (`--cors`).
    pub cors: Option<CorsFields>,
    /// `Content-Disposition` (a folder download's file name).
    pub content_disposition: Option<Vec<u8>>,
    /// The body's length is not known before it is sent (a folder
    /// download): no `Content-Length`.
    pub unknown_length: bool,
    /// HTTP/1.1 sends that body chunked (`Transfer-Encoding: chunked`);
    /// set by the HTTP/1 writer.
    pub chunked: bool,
}

/// Which configured header fields a reply carries (each set is made once
/// at start: see `Config::headers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Extra {
    /// `--header` fields: every reply but the ones below.
    #[default]
    Common,
    /// A file's reply (it has validators): `--header` plus `--max-age`'s
    /// `Cache-Control`.
    File,
    /// A file's reply whose path matches `--cache-control` rule `n`.
    Rule(usize),
    /// A 401: `--header` plus the `WWW-Authenticate` challenge.
    Challenge,
}

/// A header field the configuration adds: a token name, and a value
/// without CR, LF or NUL (checked at start). Kept as a name and a value,
/// so any protocol's writer can send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Box<str>,
    pub value: Box<str>,
}

impl Header {
    pub(crate) fn new(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    /// A `--header 'Name: value'` spec: a token name that skiff does not
    /// set itself, and a value without CR, LF or NUL (trimmed); or why not,
    /// in one line.
    pub(crate) fn parse(spec: &str) -> Result<Header, String> {
        let Some((name, value)) = spec.split_once(':') else {
            return Err(format!("--header '{spec}': expected 'Name: value'"));
        };
        let value = value.trim_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(super::is_tchar) {
            return Err(format!(
                "--header '{spec}': '{name}' is not a valid header name"
            ));
        }
        if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
            return Err(format!(
                "--header '{spec}': the value may not contain CR, LF or NUL"
            ));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("--header '{spec}': skiff sets {name} itself"));
        }
        Ok(Header::new(name, value))
    }
}

/// The configured fields a reply carries: its set ([`Extra`]), then the
/// `--header 'GLOB=Name: value'` rules that matched its path, each of
/// which replaces a field of the set with the same name (so a rule's
/// `Cache-Control` wins over `--max-age` and `--cache-control`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Added<'a> {
    pub set: &'a [Header],
    /// Every path rule's field.
    pub rules: &'a [Header],
    /// The rules that matched, as positions in `rules`.
    pub chosen: &'a [u16],
}

impl<'a> Added<'a> {
    /// Just a set.
    pub fn set(set: &'a [Header]) -> Added<'a> {
        Added {
            set,
            ..Added::default()
        }
    }

    /// How many fields, at most.
    pub(crate) fn len(&self) -> usize {
        self.set.len() + self.chosen.len()
    }

    fn chosen(&self) -> impl Iterator<Item = &'a Header> + '_ {
        self.chosen
            .iter()
            .filter_map(|&i| self.rules.get(usize::from(i)))
    }

    fn write(&self, out: &mut impl FieldSink) {
        for h in self.set {
            if !self.chosen().any(|r| r.name.eq_ignore_ascii_case(&h.name)) {
                out.field(&h.name, &[h.value.as_bytes()]);
            }
        }
        for h in self.chosen() {
            out.field(&h.name, &[h.value.as_bytes()]);
        }
    }
}

/// Headers `--header` may not set: skiff sets them itself, and framing or
/// caching would break if they were overridden.
const RESERVED_HEADERS: [&str; 9] = [
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "date",
    "content-type",
    "content-range",
    "server",
];

/// What CORS adds to a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsFields {
    /// `Access-Control-Allow-Origin`: the request's origin, or `None` for
    /// `*`.
    pub allow_origin: Option<Box<[u8]>>,
    /// A preflight's answer: the requested headers that are allowed,
    /// joined (maybe empty). `None` on any other reply.
    pub preflight: Option<Vec<u8>>,
    /// `Access-Control-Expose-Headers` (not on a preflight).
    pub expose: Option<std::sync::Arc<str>>,
}

/// How long a browser may keep a preflight's answer. Chromium caps it at
/// two hours, Firefox at a day.
pub(crate) const CORS_MAX_AGE_SECS: u64 = 7200;

/// The request fields a response depended on (`Vary`), any of three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vary {
    pub accept: bool,
    pub accept_encoding: bool,
    pub origin: bool,
}

impl Vary {
    /// `Vary: Accept` alone.
    pub(crate) const ACCEPT: Vary = Vary {
        accept: true,
        accept_encoding: false,
        origin: false,
    };

    /// The field's value, if any request field is named: `Accept,
    /// Accept-Encoding, Origin` or a part of that.
    fn value(self, out: &mut [u8; 32]) -> Option<usize> {
        let names = [
            (self.accept, &b"Accept"[..]),
            (self.accept_encoding, b"Accept-Encoding"),
            (self.origin, b"Origin"),
        ];
        let mut len = 0;
        for (on, name) in names {
            if on {
                if len > 0 {
                    out[len..len + 2].copy_from_slice(b", ");
                    len += 2;
                }
                out[len..len + name.len()].copy_from_slice(name);
                len += name.len();
            }
        }
        (len > 0).then_some(len)
    }
}

/// Where a response head's fields go: the HTTP/1 writer's buffer
/// ([`write_head`]), or an HTTP/2 header list (`http2`). Names come in
/// their usual case; a value may come in parts, to be joined.
pub(crate) trait FieldSink {
    fn field(&mut self, name: &str, value: &[&[u8]]);

    /// A field whose value is a constant (HTTP/2 keeps it without a copy).
    fn fixed(&mut self, name: &str, value: &'static str) {
        self.field(name, &[value.as_bytes()]);
    }
}

/// HTTP/1: `\r\nName: value`.
impl FieldSink for Vec<u8> {
    fn field(&mut self, name: &str, value: &[&[u8]]) {
        self.extend_from_slice(b"\r\n");
        self.extend_from_slice(name.as_bytes());
        self.extend_from_slice(b": ");
        for part in value {
            self.extend_from_slice(part);
        }
    }
}

/// The decimal digits of `n`, on the stack.
pub(crate) struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    pub(crate) fn new(mut n: u64) -> Digits {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Digits { buf, start: i }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Every field of a response head besides the status line and what
/// concerns the connection (HTTP/1's `Connection` and `Keep-Alive`), in
/// order: `Date`, `Server`, `X-Content-Type-Options`, then what `f` says,
/// the configured `extra` set, and CORS's. Both protocols' writers send
/// exactly these.
pub(crate) fn write_fields(
    out: &mut impl FieldSink,
    status: Status,
    date: &[u8],
    f: &Fields,
    extra: Added<'_>,
) {
    out.field("Date", &[date]);
    out.fixed("Server", SERVER);
    // Browsers must trust the Content-Type, never guess another from the
    // bytes (an uploaded .txt must not run as HTML).
    out.fixed("X-Content-Type-Options", "nosniff");
    if let Some(content_type) = f.content_type {
        match (needs_charset(content_type), with_charset(content_type)) {
            (false, _) => out.fixed("Content-Type", content_type),
            (true, Some(whole)) => out.fixed("Content-Type", whole),
            (true, None) => out.field(
                "Content-Type",
                &[content_type.as_bytes(), b"; charset=utf-8"],
            ),
        }
    }
    // A 204 has no content, and says no length (RFC 9110 8.6).
    if status != Status::NoContent && !f.unknown_length {
        out.field(
            "Content-Length",
            &[Digits::new(f.content_length).as_bytes()],
        );
    }
    if let Some(t) = &f.last_modified {
        out.field("Last-Modified", &[t]);
    }
    if let Some(tag) = &f.etag {
        out.field("ETag", &[tag.as_bytes()]);
    }
    if f.accept_ranges {
        out.fixed("Accept-Ranges", "bytes");
    }
    if let Some((a, b, len)) = f.content_range {
        out.field(
            "Content-Range",
            &[
                b"bytes ",
                Digits::new(a).as_bytes(),
                b"-",
                Digits::new(b).as_bytes(),
                b"/",
                Digits::new(len).as_bytes(),
            ],
        );
    }
    if let Some(len) = f.unsatisfied_range {
        out.field("Content-Range", &[b"bytes */", Digits::new(len).as_bytes()]);
    }
    if let Some(loc) = &f.location {
        out.field("Location", &[loc]);
    }
    if f.allow_read_only {
        out.fixed("Allow", "GET, HEAD");
    } else if f.allow {
        out.fixed("Allow", ALLOW);
    }
    if let Some(coding) = f.content_encoding {
        out.fixed("Content-Encoding", coding);
    }
    if let Some(d) = &f.content_disposition {
        out.field("Content-Disposition", &[d]);
    }
    let mut vary = [0u8; 32];
    if let Some(len) = f.vary.value(&mut vary) {
        out.field("Vary", &[&vary[..len]]);
    }
    extra.write(out);
    if let Some(cors) = &f.cors {
        write_cors(out, cors);
    }
}

/// Renders a complete HTTP/1 response head (through the blank line) into
/// `out`. `extra` is the configured header set `f.extra` names.
pub fn write_head(
    out: &mut Vec<u8>,
    version: Version,
    status: Status,
    date: &[u8],
    f: &Fields,
    extra: Added<'_>,
    persist: Persist,
) {
    out.extend_from_slice(match version {
        Version::Http10 => b"HTTP/1.0 ",
        Version::Http11 => b"HTTP/1.1 ",
    });
    write_u64(out, u64::from(status.code()));
    out.push(b' ');
    out.extend_from_slice(status.reason().as_bytes());
    write_fields(out, status, date, f, extra);
    if f.chunked {
        out.field("Transfer-Encoding", &[b"chunked"]);
    }
    match persist {
        Persist::KeepAlive {
            timeout_secs,
            http10_request,
        } => {
            if http10_request || version == Version::Http10 {
                out.field("Connection", &[b"keep-alive"]);
            }
            out.field(
                "Keep-Alive",
                &[b"timeout=", Digits::new(timeout_secs).as_bytes()],
            );
        }
        Persist::Close => out.field("Connection", &[b"close"]),
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// The CORS fields of a reply.
fn write_cors(out: &mut impl FieldSink, cors: &CorsFields) {
    out.field(
        "Access-Control-Allow-Origin",
        &[cors.allow_origin.as_deref().unwrap_or(b"*")],
    );
    match &cors.preflight {
        Some(headers) => {
            out.fixed("Access-Control-Allow-Methods", ALLOW);
            if !headers.is_empty() {
                out.field("Access-Control-Allow-Headers", &[headers]);
            }
            out.field(
                "Access-Control-Max-Age",
                &[Digits::new(CORS_MAX_AGE_SECS).as_bytes()],
            );
        }
        None => {
            if let Some(expose) = &cors.expose {
                out.field("Access-Control-Expose-Headers", &[expose.as_bytes()]);
            }
        }
    }
}

/// The most common text types with their charset, as constants.
fn with_charset(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "text/html" => "text/html; charset=utf-8",
        "text/plain" => "text/plain; charset=utf-8",
        "text/css" => "text/css; charset=utf-8",
        "application/javascript" => "application/javascript; charset=utf-8",
        "text/javascript" => "text/javascript; charset=utf-8",
        "application/json" => "application/json; charset=utf-8",
        "image/svg+xml" => "image/svg+xml; charset=utf-8",
        "application/xml" => "application/xml; charset=utf-8",
        "text/xml" => "text/xml; charset=utf-8",
        _ => return None,
    })
}

/// Text types are declared UTF-8: `text/*`, JavaScript, JSON, XML, SVG.
pub(crate) fn needs_charset(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "application/xml"
        || mime.ends_with("+xml")
        || mime.ends_with("+json")
}

/// The built-in error page for `status`.
pub(crate) fn write_builtin_error_page(out: &mut Vec<u8>, status: Status) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n<body><h1>{code} {reason}</h1><hr><p>{server}</p></body></html>\n",
        code = status.code(),
        reason = status.reason(),
        server = SERVER,
    );
}

/// Decimal digits of `n`, without `fmt`.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_keep_alive_head() {
        let mut out = Vec::new();
        let f = Fields {
            content_type: Some("text/plain"),
            content_length: 380,
            ..Fields::default()
        };
        write_head(
            &mut out,
            Version::Http11,
            Status::Ok,
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            &f,
            Added::default(),
            Persist::KeepAlive {
                timeout_secs: 10,
                http10_request: false,
            },
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!(
                "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: {SERVER}\r\nX-Content-Type-Options: nosniff\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 380\r\nKeep-Alive: timeout=10\r\n\r\n"
            )
        );
    }

    #[test]
    fn http10_close_and_allow() {
        let mut out = Vec::new();
        let f = Fields {
            content_type: Some("text/html"),
            content_length: 0,
            allow: true,
            ..Fields::default()
        };
        write_head(
            &mut out,
            Version::Http10,
            Status::MethodNotAllowed,
            b"D",
            &f,
            Added::set(&[Header::new("X-A", "b")]),
            Persist::Close,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.0 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\nX-A: b\r\n"));
        assert!(text.ends_with("\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn index_is_the_position_in_all() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(s.index(), i, "{s:?}");
        }
    }

    #[test]
    fn no_content_type_without_one() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            Version::Http11,
            Status::Ok,
            b"D",
            &Fields::default(),
            Added::default(),
            Persist::Close,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("\r\nContent-Type:"), "{text}");
        assert!(text.contains("\r\nContent-Length: 0\r\n"), "{text}");
    }

    #[test]
    fn vary_lists_what_was_consulted() {
        let render = |vary: Vary| {
            let mut out = Vec::new();
            let mut value = [0u8; 32];
            if let Some(len) = vary.value(&mut value) {
                out.field("Vary", &[&value[..len]]);
            }
            String::from_utf8(out).unwrap()
        };
        assert_eq!(render(Vary::default()), "");
        assert_eq!(render(Vary::ACCEPT), "\r\nVary: Accept");
        assert_eq!(
            render(Vary {
                accept: true,
                accept_encoding: true,
                origin: true
            }),
            "\r\nVary: Accept, Accept-Encoding, Origin"
        );
        assert_eq!(
            render(Vary {
                accept_encoding: true,
                origin: true,
                ..Vary::default()
            }),
            "\r\nVary: Accept-Encoding, Origin"
        );
    }

    #[test]
    fn charset_rules() {
        for t in [
            "text/html",
            "application/javascript",
            "application/json",
            "image/svg+xml",
            "application/xml",
        ] {
            assert!(needs_charset(t), "{t}");
        }
        for t in [
            "image/png",
            "video/mp4",
            "application/pdf",
            "application/octet-stream",
        ] {
            assert!(!needs_charset(t), "{t}");
        }
    }

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 380, u64::MAX] {
            let mut v = Vec::new();
            write_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }

    #[test]
    fn builtin_error_page_names_the_status() {
        let mut v = Vec::new();
        write_builtin_error_page(&mut v, Status::NotFound);
        assert!(String::from_utf8(v).unwrap().contains("404 Not Found"));
    }
}
