//! From one parsed request to the reply it gets.
//!
//! The pipeline, top to bottom:
//! 1. Method: GET and HEAD are served; `OPTIONS *`, and `OPTIONS` for a
//!    resource that exists, get 200 with `Allow: GET, HEAD, OPTIONS` and
//!    no content; the other standard methods get 405 with that `Allow`;
//!    anything else gets 501. An `Expect` other than `100-continue` is 417.
//! 2. Resolve the target under the root (`files::resolve`): a file, a
//!    redirect for a directory without its slash, a directory to list
//!    (`--list-dirs`: HTML, or JSON when `Accept` prefers it, with
//!    `Vary: Accept`), or an error status. With `--precompressed`, a file
//!    that has `.br`/`.gz` variants is answered from the variant
//!    `Accept-Encoding` weighs highest (`br` on a tie), with
//!    `Content-Encoding`; the original's `Content-Type`; the variant's own
//!    validators, length and ranges (ranges count encoded bytes). Every
//!    response for such a file, encoded or not, says
//!    `Vary: Accept-Encoding`.
//! 3. Preconditions, in RFC 9110 section 13.2.2's order: `If-Match` (else
//!    `If-Unmodified-Since`) failing is 412; `If-None-Match` matching (else
//!    `If-Modified-Since` not newer) is 304. Unparseable dates, and an
//!    `If-Modified-Since` later than the server's clock, are ignored.
//! 4. `Range`, honoured only when `If-Range` (if any) matches: one range is
//!    a 206 with `Content-Range`, several are `multipart/byteranges`, none
//!    satisfiable is 416; an unusable `Range` is ignored.
//! 5. The reply: status, the fields of its head, and the body that follows.
//! 6. The connection (`finish`): whether it persists (HTTP/1.1 or 1.0
//!    keep-alive, not stopping, not a 400, a request body small enough to
//!    read), whether the body goes out (not for HEAD and 304), and the
//!    request body to read and drop first (`Content-Length` up to
//!    [`MAX_DISCARD`], or chunked), after `100 Continue` when asked for.
//!
//! Sans-I/O apart from opening and stat-ing the file; never reads file
//! contents and never writes anything.

use std::time::Instant;

use crate::auth::Verdict;
use crate::config::Config;
use crate::files::body::FileStream;
use crate::files::cache::{FileSource, ListingAsk, Uncached};
use std::sync::Arc;

use crate::files::compress::{self, Encodings};
use crate::files::resolve::{Coding, Found, Resolution, Source};
use crate::http::conditional::{
    ETag, Ranges, boundary, if_range_holds, match_holds, none_match_hits, parse_date, parse_range,
};
use crate::http::date::Clock;
use crate::http::date::unix_secs;
use crate::http::negotiate::{accepts_html, coding_weight, wants_json};
use crate::http::request::{Expect, Framing, HeadError, Method, Request};
use crate::http::response::{Fields, Persist, Status, Vary, write_head};

/// Content type of every error page.
pub const HTML: &str = "text/html";

/// Largest request body read and thrown away to keep a connection; the
/// answer to a request with a larger one closes the connection unread.
pub const MAX_DISCARD: u64 = 1024 * 1024;

/// The decision for one request: everything the connection sends, and
/// what becomes of the connection. The connection only moves the bytes.
#[derive(Debug)]
pub struct Reply {
    pub status: Status,
    /// The head's fields.
    pub fields: Fields,
    /// What follows the head on a GET.
    pub body: Body,
    /// Whether the connection stays open after this reply.
    pub persist: Persist,
    /// The head goes out without the body (HEAD, 304).
    pub head_only: bool,
    /// The request body to read and throw away before this reply is sent
    /// (`Framing::None` when there is none, or when it is too large to
    /// read: then `persist` is `Close`). A chunked body that turns out
    /// malformed replaces this reply with a 400 ([`Reply::bad_body`]).
    pub discard: Framing,
    /// Send `100 Continue` before reading that body: the client asked
    /// (`Expect: 100-continue`, HTTP/1.1) and may be holding it back.
    pub send_continue: bool,
    /// The `--cache-control` rule that applies (its index), if any.
    pub cache_rule: Option<usize>,
    /// CORS headers, for a request from an allowed origin.
    pub cors: Option<CorsReply>,
}

/// What CORS adds to a reply (`--cors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsReply {
    /// `Access-Control-Allow-Origin`: `*`, or the request's origin.
    pub allow_origin: Option<Box<[u8]>>,
    /// A preflight's answer: the requested headers that are allowed,
    /// joined (maybe empty).
    pub preflight: Option<Vec<u8>>,
}

/// What follows the head on a GET (a HEAD sends none of it).
#[derive(Debug)]
pub enum Body {
    /// Nothing (304, OPTIONS).
    Empty,
    /// The error page for this status (`Config::error_page`).
    Page(Status),
    /// Bytes of a file (the whole of it, one range, or multipart), or of a
    /// listing.
    File(FileStream),
}

impl Reply {
    /// An error reply with its page as the body. It closes the connection
    /// unless [`respond`] (which knows the request) decides otherwise.
    pub fn error(status: Status, config: &Config) -> Reply {
        let fields = Fields {
            content_type: Some(HTML),
            content_length: config.error_page(status).len() as u64,
            allow: status == Status::MethodNotAllowed,
            ..Fields::default()
        };
        Reply::new(status, fields, Body::Page(status))
    }

    /// A reply with these fields and body, closing the connection unless
    /// [`respond`] (which knows the request) decides otherwise.
    pub fn new(status: Status, fields: Fields, body: Body) -> Reply {
        Reply {
            status,
            fields,
            body,
            persist: Persist::Close,
            head_only: false,
            discard: Framing::None,
            send_continue: false,
            cache_rule: None,
            cors: None,
        }
    }

    /// The answer to a head that could not be parsed: after it the next
    /// request's start is unknown, so the connection closes.
    pub fn refuse(e: HeadError, config: &Config) -> Reply {
        Reply::error(Status::from(e), config)
    }

    /// The answer to a request whose chunked body was malformed, sent in
    /// place of the reply decided from its head.
    pub fn bad_body(config: &Config) -> Reply {
        Reply::error(Status::BadRequest, config)
    }

    /// This reply, but the last on its connection: its request body grew
    /// past [`MAX_DISCARD`] while being read.
    pub fn closing(self) -> Reply {
        Reply {
            persist: Persist::Close,
            ..self
        }
    }

    /// The fields `--header` and `--max-age` add to this reply: file
    /// responses (those with validators) get `Cache-Control` too.
    pub fn extra_headers<'c>(&self, config: &'c Config) -> &'c [u8] {
        if self.status == Status::Unauthorized {
            return &config.auth_challenge;
        }
        if self.fields.etag.is_some() && !self.status.is_error() {
            match self.cache_rule {
                Some(i) => &config.cache_rules[i].1,
                None => &config.file_headers,
            }
        } else {
            &config.extra_headers
        }
    }

    /// Renders the head into `out`.
    pub fn write_head(&self, out: &mut Vec<u8>, config: &Config, date: &[u8]) {
        let extra = self.extra_headers(config);
        let with_cors;
        let extra = match (&self.cors, &config.cors) {
            (Some(cors), Some(settings)) => {
                with_cors = cors_headers(extra, cors, settings);
                &with_cors[..]
            }
            _ => extra,
        };
        write_head(
            out,
            config.version,
            self.status,
            date,
            &self.fields,
            extra,
            self.persist,
        );
    }
}

/// `extra` plus the CORS fields of `cors`.
fn cors_headers(extra: &[u8], cors: &CorsReply, settings: &crate::config::Cors) -> Vec<u8> {
    let mut out = Vec::with_capacity(extra.len() + 160);
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\nAccess-Control-Allow-Origin: ");
    out.extend_from_slice(cors.allow_origin.as_deref().unwrap_or(b"*"));
    match &cors.preflight {
        Some(headers) => {
            out.extend_from_slice(b"\r\nAccess-Control-Allow-Methods: ");
            out.extend_from_slice(crate::http::response::ALLOW.as_bytes());
            if !headers.is_empty() {
                out.extend_from_slice(b"\r\nAccess-Control-Allow-Headers: ");
                out.extend_from_slice(headers);
            }
            out.extend_from_slice(b"\r\nAccess-Control-Max-Age: ");
            crate::http::response::write_u64(&mut out, crate::config::CORS_MAX_AGE_SECS);
        }
        None => {
            if let Some(expose) = &settings.expose_headers {
                out.extend_from_slice(b"\r\nAccess-Control-Expose-Headers: ");
                out.extend_from_slice(expose.as_bytes());
            }
        }
    }
    out
}

/// The `Access-Control-Allow-Origin` value for `origin` under `cors`:
/// `Some(None)` for `*`, `Some(Some(origin))` for a listed one, `None`
/// when it is not allowed.
fn allowed_origin(origin: &[u8], cors: &crate::config::Cors) -> Option<Option<Box<[u8]>>> {
    match &cors.origins {
        None => Some(None),
        Some(list) => list
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
            .then(|| Some(origin.into())),
    }
}

/// A CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`) from an allowed origin: 204 with the
/// methods skiff has, the requested headers `--cors-allow-headers` permits
/// (a browser refuses the real request if its method or a header is
/// missing), and how long to keep this answer. From any other origin it is
/// a plain `OPTIONS`.
fn preflight(req: &Request<'_>, config: &Config) -> Option<Reply> {
    let cors = config.cors.as_ref()?;
    if req.method != Method::Options || req.ac_request_method.is_none() {
        return None;
    }
    let allow_origin = allowed_origin(req.origin?, cors)?;
    let mut headers = Vec::new();
    for name in req
        .ac_request_headers
        .unwrap_or_default()
        .split(|&c| c == b',')
        .map(crate::http::trim_ows)
        .filter(|n| !n.is_empty())
    {
        if cors
            .allow_headers
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(name))
        {
            if !headers.is_empty() {
                headers.extend_from_slice(b", ");
            }
            headers.extend_from_slice(name);
        }
    }
    Some(Reply {
        cors: Some(CorsReply {
            allow_origin,
            preflight: Some(headers),
        }),
        ..Reply::new(Status::NoContent, Fields::default(), Body::Empty)
    })
}

/// CORS on any other reply: `Access-Control-Allow-Origin` (and expose
/// headers) for an allowed origin, and `Vary: Origin` on every reply when
/// origins are listed (the answer depends on it).
fn with_cors(req: &Request<'_>, reply: &mut Reply, config: &Config) {
    let Some(cors) = &config.cors else {
        return;
    };
    reply.fields.vary.origin |= cors.origins.is_some();
    if reply.cors.is_none() {
        if let Some(allow_origin) = req.origin.and_then(|o| allowed_origin(o, cors)) {
            reply.cors = Some(CorsReply {
                allow_origin,
                preflight: None,
            });
        }
    }
}

/// Everything [`respond`] needs besides the request and the files.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    pub clock: &'a Clock,
    /// The server is stopping: every reply is the last on its connection.
    pub draining: bool,
    /// What authentication said of this request (`Granted` when none is
    /// needed: see [`needs_auth`]).
    pub auth: Verdict,
    /// The request came to the `--redirect-http` listener: answer it with
    /// a 308 to HTTPS on this port.
    pub redirect: Option<u16>,
    /// The request came to the `--metrics` listener: it gets the metrics,
    /// and nothing else.
    pub metrics: Option<&'a crate::metrics::Page>,
}

/// Whether `req` must show credentials: `--htpasswd` is on, and it is not
/// a CORS preflight (browsers never send credentials with one) nor for an
/// `--auth-exempt` path.
pub fn needs_auth(req: &Request<'_>, config: &Config) -> bool {
    if config.htpasswd.is_none() {
        return false;
    }
    if req.method == Method::Options && req.ac_request_method.is_some() && req.origin.is_some() {
        return false;
    }
    if config.auth_exempt.is_empty() {
        return true;
    }
    match crate::files::resolve::normalize(req.target) {
        Ok(n) => !config.auth_exempt.contains(&n.path),
        Err(_) => true,
    }
}

/// Decides the reply to `req`: status, fields, body, and the fate of the
/// request body and of the connection. Files are found through `files` (a
/// cache), or with `None` by looking at the file system every time;
/// encodings made on the fly through `encodings` (`None`: none are).
pub fn respond(
    req: &Request<'_>,
    cx: Context<'_>,
    files: Option<&mut (dyn FileSource + '_)>,
    encodings: Option<&mut (dyn Encodings + '_)>,
) -> Reply {
    if let Some(port) = cx.redirect {
        let mut reply = to_https(req, port, cx.config);
        finish(req, &mut reply, cx.config, cx.draining);
        return reply;
    }
    if let Some(page) = cx.metrics {
        let mut reply = metrics_reply(req, page, cx.config);
        finish(req, &mut reply, cx.config, cx.draining);
        return reply;
    }
    let reply = match (preflight(req, cx.config), cx.auth) {
        (Some(reply), _) => reply,
        (None, Verdict::Granted) => decide(req, files, encodings, cx.config, cx.clock),
        (None, Verdict::Denied) => Reply::error(Status::Unauthorized, cx.config),
        // The check could not start (too many under way) or had no answer.
        (None, Verdict::Busy | Verdict::Pending) => {
            Reply::error(Status::ServiceUnavailable, cx.config)
        }
    };
    let mut reply = reply;
    finish(req, &mut reply, cx.config, cx.draining);
    with_cors(req, &mut reply, cx.config);
    reply
}

/// `--redirect-http`: a 308 to the same URL over HTTPS on `port`. The
/// host is the target's authority (absolute-form) or `Host` without its
/// port; a request with neither (HTTP/1.0 without `Host`) gets 400, as
/// there is no name to send it to.
fn to_https(req: &Request<'_>, port: u16, config: &Config) -> Reply {
    use crate::http::target::{Target, parse};
    let authority = absolute_authority(req.target).or(req.host);
    let (Some(authority), Some(target)) = (authority, parse(req.target)) else {
        return Reply::error(Status::BadRequest, config);
    };
    let host = match authority.first() {
        Some(b'[') => match authority.iter().position(|&c| c == b']') {
            Some(end) => &authority[..=end],
            None => return Reply::error(Status::BadRequest, config),
        },
        _ => authority.split(|&c| c == b':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Reply::error(Status::BadRequest, config);
    }
    let mut location = b"https://".to_vec();
    location.extend_from_slice(host);
    if port != 443 {
        location.push(b':');
        crate::http::response::write_u64(&mut location, u64::from(port));
    }
    match target {
        Target::Asterisk => location.push(b'/'),
        Target::Path { path, query } => {
            location.extend_from_slice(path);
            if let Some(q) = query {
                location.push(b'?');
                location.extend_from_slice(q);
            }
        }
    }
    let mut reply = Reply::error(Status::PermanentRedirect, config);
    reply.fields.location = Some(location);
    reply
}

/// The `--metrics` listener: `GET`/`HEAD /metrics` (any query) gets the
/// Prometheus text; any other method is refused (405 with `Allow: GET,
/// HEAD`, or 501 for one unknown), any other path is 404.
fn metrics_reply(req: &Request<'_>, page: &crate::metrics::Page, config: &Config) -> Reply {
    use crate::http::target::{Target, parse};
    match req.method {
        Method::Get | Method::Head => {}
        Method::Other => return Reply::error(Status::NotImplemented, config),
        _ => {
            let mut reply = Reply::error(Status::MethodNotAllowed, config);
            reply.fields.allow_read_only = true;
            return reply;
        }
    }
    if !matches!(
        parse(req.target),
        Some(Target::Path {
            path: b"/metrics",
            ..
        })
    ) {
        return Reply::error(Status::NotFound, config);
    }
    let text: Arc<[u8]> = page.render().into();
    let len = text.len() as u64;
    let fields = Fields {
        content_type: Some("text/plain; version=0.0.4"),
        content_length: len,
        ..Fields::default()
    };
    Reply::new(
        Status::Ok,
        fields,
        Body::File(FileStream::window(Source::Bytes(text), 0, len)),
    )
}

/// The authority of an absolute-form target (`http://host:port/p`),
/// checked like `Host`.
fn absolute_authority(target: &[u8]) -> Option<&[u8]> {
    let lower = |n: usize| target.get(..n).map(|p| p.to_ascii_lowercase());
    let rest = if lower(7).as_deref() == Some(b"http://") {
        &target[7..]
    } else if lower(8).as_deref() == Some(b"https://") {
        &target[8..]
    } else {
        return None;
    };
    let end = rest
        .iter()
        .position(|&c| c == b'/' || c == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let ok = !authority.is_empty()
        && !authority.contains(&b'@')
        && authority
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"-._~%:[]".contains(&c));
    ok.then_some(authority)
}

/// Connection policy: keep-alive, HEAD, the request body and `100
/// Continue`, for a reply decided from a request.
fn finish(req: &Request<'_>, reply: &mut Reply, config: &Config, draining: bool) {
    let readable = match req.framing {
        Framing::None | Framing::Chunked => true,
        Framing::Length(n) => n <= MAX_DISCARD,
    };
    let keep = config.keep_alive_enabled()
        && req.keep_alive
        && reply.status != Status::BadRequest
        && !draining
        && readable;
    reply.persist = if keep {
        Persist::KeepAlive {
            timeout_secs: config.keep_alive.as_secs(),
            http10_request: req.minor == 0,
        }
    } else {
        Persist::Close
    };
    reply.head_only = req.method == Method::Head || reply.status == Status::NotModified;
    reply.discard = match req.framing {
        Framing::Length(0) => Framing::None,
        framing if readable => framing,
        _ => Framing::None,
    };
    // RFC 9110 section 10.1.1: an HTTP/1.0 client's 100-continue is
    // ignored (it cannot parse a 1xx).
    reply.send_continue =
        req.expect == Expect::Continue && req.minor >= 1 && reply.discard != Framing::None;
}

fn decide(
    req: &Request<'_>,
    files: Option<&mut (dyn FileSource + '_)>,
    encodings: Option<&mut (dyn Encodings + '_)>,
    config: &Config,
    clock: &Clock,
) -> Reply {
    match req.method {
        Method::Get | Method::Head | Method::Options => {}
        Method::Post
        | Method::Put
        | Method::Delete
        | Method::Patch
        | Method::Trace
        | Method::Connect => return Reply::error(Status::MethodNotAllowed, config),
        Method::Other => return Reply::error(Status::NotImplemented, config),
    }
    if req.expect == Expect::Other {
        return Reply::error(Status::ExpectationFailed, config);
    }
    let now = clock.now();
    if req.method == Method::Options {
        let exists = match crate::http::target::parse(req.target) {
            Some(crate::http::target::Target::Asterisk) => Ok(()),
            _ => find(files, config, req.target, now).map(|_| ()),
        };
        return match exists {
            Ok(()) => {
                let fields = Fields {
                    allow: true,
                    ..Fields::default()
                };
                Reply::new(Status::Ok, fields, Body::Empty)
            }
            Err(status) => Reply::error(status, config),
        };
    }
    let lookup = config.lookup();
    let mut files = files;
    let mut reply = match find(files.as_deref_mut(), config, req.target, now) {
        Err(Status::NotFound) if config.fallback.is_some() => {
            match fallback(req, files.as_deref_mut(), config, now) {
                Some(found) => {
                    let mut reply = file_reply(req, found, config, clock.unix_secs(), encodings);
                    reply.fields.vary.accept = true;
                    reply
                }
                None => {
                    // Whether this is a 404 depended on Accept too.
                    let mut reply = Reply::error(Status::NotFound, config);
                    reply.fields.vary.accept = true;
                    reply
                }
            }
        }
        Err(status) => Reply::error(status, config),
        Ok(Resolution::Redirect(location)) => {
            let mut reply = Reply::error(Status::MovedPermanently, config);
            reply.fields.location = Some(location);
            reply
        }
        Ok(Resolution::File(found)) => file_reply(req, found, config, clock.unix_secs(), encodings),
        Ok(Resolution::Directory { dir, path }) => {
            let json = wants_json(req.accept);
            let ask = ListingAsk {
                dir: &dir,
                path: &path,
                json,
            };
            let body = match files {
                Some(files) => files.listing(&lookup, ask, now),
                None => Uncached.listing(&lookup, ask, now),
            };
            match body {
                Err(e) => Reply::error(crate::files::resolve::io_status(&e), config),
                Ok(body) => {
                    let len = body.len() as u64;
                    let fields = Fields {
                        content_type: Some(if json { "application/json" } else { HTML }),
                        content_length: len,
                        vary: Vary::ACCEPT,
                        ..Fields::default()
                    };
                    let body = Body::File(FileStream::window(Source::Bytes(body), 0, len));
                    Reply::new(Status::Ok, fields, body)
                }
            }
        }
    };
    if reply.fields.etag.is_some() && !reply.status.is_error() && !config.cache_rules.is_empty() {
        reply.cache_rule = cache_rule(req.target, config);
    }
    reply
}

/// The `--fallback` file for a request that found nothing, if it gets
/// one: GET or HEAD, accepting `text/html` (a browser navigating, not a
/// script or an image fetching an asset), for a path that is not hidden
/// and where nothing at all exists (a forbidden or hidden file keeps its
/// status).
fn fallback(
    req: &Request<'_>,
    files: Option<&mut (dyn FileSource + '_)>,
    config: &Config,
    now: Instant,
) -> Option<Arc<Found>> {
    let target = config.fallback.as_deref()?;
    if !matches!(req.method, Method::Get | Method::Head) || !accepts_html(req.accept) {
        return None;
    }
    let norm = crate::files::resolve::normalize(req.target).ok()?;
    if !config.show_hidden
        && norm
            .path
            .split(|&c| c == b'/')
            .any(crate::files::resolve::is_hidden)
    {
        return None;
    }
    let asked = config.root.join(norm.relative());
    match std::fs::symlink_metadata(&asked) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        _ => return None,
    }
    match find(files, config, target, now) {
        Ok(Resolution::File(found)) => Some(found),
        _ => None,
    }
}

/// The first `--cache-control` rule whose glob matches the target's path.
fn cache_rule(target: &[u8], config: &Config) -> Option<usize> {
    let norm = crate::files::resolve::normalize(target).ok()?;
    let path = std::str::from_utf8(&norm.path).ok()?;
    config
        .cache_rules
        .iter()
        .position(|(glob, _)| glob.is_match(path))
}

fn find(
    files: Option<&mut (dyn FileSource + '_)>,
    config: &Config,
    target: &[u8],
    now: Instant,
) -> Result<Resolution, Status> {
    let lookup = config.lookup();
    match files {
        Some(files) => files.find(&lookup, target, now),
        None => Uncached.find(&lookup, target, now),
    }
}

/// The variant of `found` to send for `Accept-Encoding`: among the
/// codings it has on disk, and (when it is eligible) those made on the
/// fly, the acceptable ones by weight, ties in [`Coding::PREFERENCE`]
/// order. The first of them that exists now is sent; the best one is
/// asked for if it does not (and sent once it is made). `identity;q=0`
/// with nothing else acceptable is still answered identity: a 406 would
/// help nobody, and RFC 9110 12.5.3 lets a server ignore the header.
fn choose_variant(
    found: &Arc<Found>,
    accept_encoding: Option<&[u8]>,
    mut encodings: Option<&mut (dyn Encodings + '_)>,
) -> Option<(Coding, Arc<Found>)> {
    let on_the_fly = encodings.is_some() && compress::eligible(found);
    // At most three candidates: kept on the stack, no allocation.
    let mut ranked = [(Coding::Br, 0u16); 3];
    let mut n = 0;
    for c in Coding::PREFERENCE {
        if on_the_fly || found.variants.get(c).is_some() {
            let q = coding_weight(accept_encoding, c.token());
            if q > 0 {
                ranked[n] = (c, q);
                n += 1;
            }
        }
    }
    let ranked = &mut ranked[..n];
    // Stable: equal weights keep the preference order.
    ranked.sort_by_key(|&(_, q)| std::cmp::Reverse(q));
    for (i, &(coding, _)) in ranked.iter().enumerate() {
        if let Some(v) = found.variants.get(coding) {
            return Some((coding, v.clone()));
        }
        if let Some(e) = encodings.as_deref_mut() {
            // Only the best is asked for; a lesser one already made is
            // still served meanwhile.
            if i == 0 || e.has(found, coding) {
                if let Some(v) = e.get(found, coding) {
                    return Some((coding, v));
                }
            }
        }
    }
    None
}

/// The `Content-Type` of a multipart/byteranges body.
fn multipart_type() -> &'static str {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    T.get_or_init(|| format!("multipart/byteranges; boundary={}", boundary()))
}

fn file_reply(
    req: &Request<'_>,
    found: Arc<Found>,
    config: &Config,
    now_secs: u64,
    encodings: Option<&mut (dyn Encodings + '_)>,
) -> Reply {
    // 2a. A variant (on disk, or made on the fly), or the file itself.
    let mime = found.mime;
    let varies = !found.variants.is_empty() || (encodings.is_some() && compress::eligible(&found));
    let vary = Vary {
        accept_encoding: varies,
        ..Vary::default()
    };
    let (coding, found) = match choose_variant(&found, req.accept_encoding, encodings) {
        Some((coding, variant)) => (Some(coding), variant),
        None => (None, found),
    };
    let len = found.len;
    let modified = found.modified;
    let tag: ETag = found.etag;
    // Error pages (412, 416) are not encoded, but which validators they
    // carry still depended on Accept-Encoding.
    let validators = |mut r: Reply| {
        r.fields.last_modified = found.modified_text;
        r.fields.etag = Some(tag);
        r.fields.accept_ranges = true;
        r.fields.vary = vary;
        r
    };

    // 3. Preconditions.
    let precondition_failed = match (req.if_match, req.if_unmodified_since) {
        (Some(v), _) => !match_holds(v, &tag),
        (None, Some(v)) => match (parse_date(v), modified) {
            (Some(date), Some(m)) => unix_secs(m) > date,
            _ => false,
        },
        (None, None) => false,
    };
    if precondition_failed {
        return validators(Reply::error(Status::PreconditionFailed, config));
    }
    let not_modified = match (req.if_none_match, req.if_modified_since) {
        (Some(v), _) => none_match_hits(v, &tag),
        (None, Some(v)) => match (parse_date(v), modified) {
            // A date in the future is not a date the client could have
            // got from us: ignored, as Apache does (RFC 7232 called it
            // invalid).
            (Some(date), Some(m)) if date <= now_secs => unix_secs(m) <= date,
            _ => false,
        },
        (None, None) => false,
    };
    let fields = Fields {
        content_type: Some(mime),
        content_length: len,
        last_modified: found.modified_text,
        etag: Some(tag),
        accept_ranges: true,
        content_encoding: coding.map(Coding::token),
        vary,
        ..Fields::default()
    };
    let whole = Reply::new(Status::Ok, fields, Body::Empty);
    if not_modified {
        return Reply {
            status: Status::NotModified,
            ..whole
        };
    }

    // 4. Range.
    let ranges = match req.range {
        Some(r)
            if req
                .if_range
                .is_none_or(|v| if_range_holds(v, &tag, modified)) =>
        {
            parse_range(r, len)
        }
        _ => Ranges::Whole,
    };
    match ranges {
        Ranges::Whole => Reply {
            body: Body::File(FileStream::window(found.source.clone(), 0, len)),
            ..whole
        },
        Ranges::Unsatisfiable => {
            let mut reply = validators(Reply::error(Status::RangeNotSatisfiable, config));
            reply.fields.unsatisfied_range = Some(len);
            reply
        }
        Ranges::Parts(parts) if parts.len() == 1 => {
            let (first, last) = parts[0];
            let mut reply = Reply {
                status: Status::PartialContent,
                body: Body::File(FileStream::window(
                    found.source.clone(),
                    first,
                    last - first + 1,
                )),
                ..whole
            };
            reply.fields.content_length = last - first + 1;
            reply.fields.content_range = Some((first, last, len));
            reply
        }
        Ranges::Parts(parts) => {
            let stream = FileStream::multipart(found.source.clone(), &parts, len, mime, boundary());
            let mut reply = Reply {
                status: Status::PartialContent,
                ..whole
            };
            reply.fields.content_type = Some(multipart_type());
            reply.fields.content_length = stream.remaining();
            reply.body = Body::File(stream);
            reply
        }
    }
}
