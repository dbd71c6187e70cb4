//! From one request to the reply it gets: every HTTP policy decision.
//!
//! The pipeline, top to bottom ([`respond`]):
//! 1. The listener's role ([`Site`]), matched once: the `--redirect-http`
//!    listener answers everything with a 308 to HTTPS; the `--metrics`
//!    listener serves `/metrics` and nothing else (and is neither counted
//!    nor logged); the server's own port goes on: first the health route
//!    (`--health-path`, [`health`]), then the routes (`rules::routes`:
//!    the base path, redirects, rewrites), which name the target served.
//! 2. A CORS preflight from an allowed origin (`--cors`) is answered 204.
//! 3. Credentials (`--htpasswd`, unless the path is `--auth-exempt`): a
//!    verdict already known is used; otherwise the check goes to the
//!    worker pool and the answer is [`NeedsVerdict`] (the
//!    connection parks and asks again when the verdict is in). Missing or
//!    wrong is 401; too many checks under way is 503.
//! 4. The request is counted per path.
//! 5. Method: GET and HEAD are served; `OPTIONS *`, and `OPTIONS` for a
//!    resource that exists, get 200 with `Allow: GET, HEAD, OPTIONS` and
//!    no content; the other standard methods get 405 with that `Allow`;
//!    anything else gets 501. An `Expect` other than `100-continue` is 417.
//! 6. Resolve the target under the root (`files::resolve`), in its one
//!    canonical form ([`canonical_form`]: `--clean-urls`,
//!    `--trailing-slash`): a file, a
//!    redirect for a directory without its slash, a directory to list
//!    (`--list-dirs`: HTML, or JSON when `Accept` prefers it, with
//!    `Vary: Accept`), or an error status. A GET or HEAD for a path where
//!    nothing exists, accepting `text/html`, gets the `--fallback` file.
//!    With `--precompressed`, a file that has `.br`/`.gz` variants is
//!    answered from the variant `Accept-Encoding` weighs highest (`br` on
//!    a tie), with `Content-Encoding`; the original's `Content-Type`; the
//!    variant's own validators, length and ranges (ranges count encoded
//!    bytes). Text files are also compressed on the fly, once per version
//!    on the worker pool, and served identity until that is done. Every
//!    response for such a file, encoded or not, says
//!    `Vary: Accept-Encoding`.
//! 7. Preconditions, in RFC 9110 section 13.2.2's order: `If-Match` (else
//!    `If-Unmodified-Since`) failing is 412; `If-None-Match` matching (else
//!    `If-Modified-Since` not newer) is 304. Unparseable dates, and an
//!    `If-Modified-Since` later than the server's clock, are ignored.
//! 8. `Range`, honoured only when `If-Range` (if any) matches: one range is
//!    a 206 with `Content-Range`, several are `multipart/byteranges`, none
//!    satisfiable is 416; an unusable `Range` is ignored.
//! 9. The reply: status, the fields of its head (with the `--header`,
//!    `--max-age` or `--cache-control` fields that apply, the per-path
//!    `--header` rules its path or file matched, and CORS's), and
//!    the body that follows: a protocol-neutral [`Reply`] that the HTTP/1
//!    writer (`conn`) renders.
//!
//! HTTP/1's own connection policy ([`fate`]): whether the connection
//! persists, whether the request body is read first, `100 Continue`. And
//! what the connection meets on its own (a head that does not parse, a
//! timeout, a malformed chunked body, a file cut short, plain HTTP on the
//! HTTPS port) becomes a reply in one place: [`failed`].
//!
//! Sans-I/O apart from the services it is lent (finding and stat-ing
//! files, small ones read into the cache; the verdicts and encodings
//! made off the loop); never writes anything.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::auth::{Authenticator, Verdict};
use crate::config::Config;
use crate::counts::Tally;
use crate::files::body::FileStream;
use crate::files::cache::{FileSource, ListingAsk, Uncached};
use crate::files::compress::{self, Encodings};
use crate::files::resolve::{Coding, Found, Resolution, Source};
use crate::http::conditional::{
    ETag, Ranges, boundary, if_range_holds, match_holds, none_match_hits, parse_date, parse_range,
};
use crate::http::date::Clock;
use crate::http::date::unix_secs;
use crate::http::negotiate::{accepts_html, coding_weight, wants_json};
use crate::http::request::{Expect, Framing, HeadError, Method, Request};
use crate::http::response::{Extra, Fields, Persist, Status, Vary};
use crate::metrics::Page;
use crate::rules::routes::{self, Routed, TrailingSlash};

pub(crate) mod cors;
mod download;
pub(crate) mod upload;

/// Content type of every error page.
pub(crate) const HTML: &str = "text/html";

/// Largest request body read and thrown away to keep a connection; the
/// answer to a request with a larger one closes the connection unread.
pub(crate) const MAX_DISCARD: u64 = 1024 * 1024;

/// The body of the answer to plain HTTP on the HTTPS port (as nginx
/// answers it: a 400, explained).
pub(crate) const PLAIN_HTTP_TEXT: &[u8] =
    b"This port speaks HTTPS. Ask for the same address with https:// here.\n";

/// Which listener a request came through: its role, matched once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// The server's own port (HTTP, or HTTPS): files.
    Public,
    /// `--redirect-http`: every request gets a 308 to the same URL over
    /// HTTPS on this port.
    Redirect { https_port: u16 },
    /// `--metrics`: the metrics, and nothing else; scrapes are neither
    /// counted among the requests they report nor logged beside them.
    Metrics,
}

/// What a driver lends [`respond`] for one request: where files are
/// found, encodings made, credentials checked, requests counted, and the
/// metrics page. Each is `None` when the server has none.
#[derive(Default)]
pub(crate) struct Services<'a> {
    /// Where files are found (the driver's cache), or `None` to resolve
    /// every request afresh.
    pub(crate) files: Option<&'a mut dyn FileSource>,
    /// Encodings made on the fly (`None` with `--no-compress`).
    pub(crate) encodings: Option<&'a mut dyn Encodings>,
    /// Where credentials are checked (`--htpasswd`).
    pub(crate) auth: Option<&'a mut dyn Authenticator>,
    /// Where requests are counted per path.
    pub(crate) counts: Option<&'a Mutex<Tally>>,
    /// What the `--metrics` listener serves.
    pub(crate) page: Option<&'a Page>,
    /// Where work for this connection runs off the loop (folder
    /// downloads): the worker pool, or in place on a thread of its own.
    pub(crate) offload: Option<&'a mut dyn crate::work::Offload>,
}

/// What [`respond`] decides: the reply, or this.
pub(crate) type Decision = Result<Reply, NeedsVerdict>;

/// The credentials are being checked on the worker pool: the driver
/// brings the connection back when the verdict is in, and the request is
/// decided again then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeedsVerdict;

/// The decision for one request, in terms any protocol can send: a
/// status, the fields of the head, and the body's source.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: Status,
    /// The head's fields.
    pub(crate) fields: Fields,
    /// What follows the head on a GET.
    pub(crate) body: Body,
    /// The head goes out without the body (HEAD, 304).
    pub(crate) head_only: bool,
    /// The access log and the metrics see this reply (not a scrape's).
    pub(crate) observed: bool,
    /// The client a `--trust-proxy` peer named, which the access log
    /// shows instead of the peer.
    pub(crate) client: Option<std::net::IpAddr>,
    /// The `[[site]]` that decided it, whose header sets and error pages
    /// the writer uses (`None`: the default site's).
    pub(crate) site: Option<Arc<Config>>,
    /// An upload (`--upload`) accepted before its body is read: the body
    /// goes to it, and this reply is replaced by the upload's own once it
    /// is stored.
    pub(crate) upload: Option<Box<upload::Accepted>>,
    /// The connection ends after this reply (a body past its bound).
    pub(crate) closes: bool,
}

impl Reply {
    /// The configuration that decided this reply: its site's, or `top`.
    pub(crate) fn config<'a>(&'a self, top: &'a Config) -> &'a Config {
        self.site.as_deref().unwrap_or(top)
    }
}

/// What follows the head on a GET (a HEAD sends none of it).
#[derive(Debug)]
pub(crate) enum Body {
    /// Nothing (304, OPTIONS).
    Empty,
    /// The error page for this status (`Config::error_page`).
    Page(Status),
    /// Bytes of a file (the whole of it, one range, or multipart), or of a
    /// listing, or of text made for this reply.
    File(FileStream),
    /// Bytes made on the worker pool as the client takes them, of a
    /// length not known ahead (a folder download); its first piece may
    /// still turn the reply into a 413.
    Stream(crate::files::produced::Produced),
}

impl Reply {
    /// An error reply with its page as the body.
    pub(crate) fn error(status: Status, config: &Config) -> Reply {
        let fields = Fields {
            content_type: Some(HTML),
            content_length: config.error_page(status).len() as u64,
            allow: status == Status::MethodNotAllowed,
            extra: if status == Status::Unauthorized {
                Extra::Challenge
            } else {
                Extra::Common
            },
            ..Fields::default()
        };
        Reply::new(status, fields, Body::Page(status))
    }

    /// A reply with these fields and body.
    pub(crate) fn new(status: Status, fields: Fields, body: Body) -> Reply {
        Reply {
            status,
            fields,
            body,
            head_only: false,
            observed: true,
            client: None,
            site: None,
            upload: None,
            closes: false,
        }
    }

    /// A reply whose body is these bytes.
    fn bytes(status: Status, content_type: &'static str, bytes: Arc<[u8]>) -> Reply {
        let len = bytes.len() as u64;
        let fields = Fields {
            content_type: Some(content_type),
            content_length: len,
            ..Fields::default()
        };
        let body = Body::File(FileStream::window(Source::Bytes(bytes), 0, len));
        Reply::new(status, fields, body)
    }
}

/// What the connection meets on its own, before or instead of a reply
/// [`respond`] decided. [`failed`] is the one place each becomes a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The head could not be parsed (400, 414, 431, 501, 505).
    Head(HeadError),
    /// The head did not arrive within `--header-timeout` (408).
    Timeout,
    /// A chunked request body was malformed (400).
    BadBody,
    /// A file was shorter than its length when its bytes were read (500).
    ShortFile,
    /// Plain HTTP arrived on the HTTPS port (400, explained).
    PlainHttp,
}

impl Failure {
    pub(crate) fn status(self) -> Status {
        match self {
            Failure::Head(e) => Status::from(e),
            Failure::Timeout => Status::RequestTimeout,
            Failure::BadBody | Failure::PlainHttp => Status::BadRequest,
            Failure::ShortFile => Status::InternalServerError,
        }
    }
}

/// The reply to a [`Failure`] on a connection to `site`. The connection
/// ends after it: what follows on the connection can no longer be read as
/// requests.
pub(crate) fn failed(failure: Failure, site: Site, config: &Config) -> (Reply, Fate) {
    let mut reply = match failure {
        Failure::PlainHttp => {
            Reply::bytes(Status::BadRequest, "text/plain", PLAIN_HTTP_TEXT.into())
        }
        other => Reply::error(other.status(), config),
    };
    // Like every reply on the metrics listener, not logged or counted; nor
    // is the answer to plain HTTP on the HTTPS port (no request was read).
    reply.observed = site != Site::Metrics && failure != Failure::PlainHttp;
    (reply, Fate::CLOSE)
}

/// Everything [`respond`] needs besides the request and the services.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) config: &'a Config,
    pub(crate) clock: &'a Clock,
    /// Which listener the request came through.
    pub(crate) site: Site,
    /// The server is stopping (after SIGTERM).
    pub(crate) stopping: bool,
    /// The connection's peer.
    pub(crate) peer: std::net::IpAddr,
    /// The host named in the TLS handshake (SNI), with virtual hosts.
    pub(crate) sni: Option<&'a str>,
}

/// Whether `req` must show credentials: `--htpasswd` is on, and it is not
/// a CORS preflight (browsers never send credentials with one) nor for an
/// `--auth-exempt` path.
fn needs_auth(req: &Request<'_>, config: &Config) -> bool {
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

/// Decides the reply to `req` (see the module documentation).
pub(crate) fn respond(req: &Request<'_>, cx: Context<'_>, services: &mut Services<'_>) -> Decision {
    let config = cx.config;
    let mut reply = match cx.site {
        Site::Redirect { https_port } => to_https(req, https_port, config),
        Site::Metrics => {
            let mut reply = metrics_reply(req, services.page, config);
            reply.observed = false;
            reply
        }
        Site::Public => {
            if let Some(reply) = health(req, cx.stopping, config) {
                return Ok(reply);
            }
            // The virtual host (`[[site]]`) the request is for: from here
            // on its configuration decides.
            let host = absolute_authority(req.target).or(req.host);
            let site = config.site_for(host);
            // Over HTTPS the handshake named a host too, and chose the
            // certificate by it: a request for another site is misdirected.
            if let Some(sni) = cx.sni {
                let by_sni = config.site_for(Some(sni.as_bytes()));
                let same = match (by_sni, site) {
                    (None, None) => true,
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    _ => false,
                };
                if !same {
                    let mut reply = Reply::error(Status::MisdirectedRequest, config);
                    reply.head_only = req.method == Method::Head;
                    return Ok(reply);
                }
            }
            let cx = match site {
                Some(site) => Context { config: site, ..cx },
                None => cx,
            };
            let config = cx.config;
            // `--trust-proxy` and `--allow`/`--deny`, decided per request,
            // after the health route.
            let client = config
                .addresses
                .client(cx.peer, req.forwarded_for, req.forwarded);
            let mut reply = if config.addresses.allows(client.unwrap_or(cx.peer)) {
                public(req, host, cx, services)?
            } else {
                Reply::error(Status::Forbidden, config)
            };
            reply.client = client;
            reply.site = site.cloned();
            reply
        }
    };
    reply.head_only = req.method == Method::Head || reply.status == Status::NotModified;
    Ok(reply)
}

/// `--health-path`: GET or HEAD of it is `200 ok` while serving, `503
/// stopping` once the server is stopping, and while stopping every other
/// request is 503 too (the connection closes after it). Neither logged nor
/// counted; asked before credentials, rules and the base path.
fn health(req: &Request<'_>, stopping: bool, config: &Config) -> Option<Reply> {
    let route = config.health_path.as_deref()?;
    let path = match crate::http::target::parse(req.target) {
        Some(crate::http::target::Target::Path { path, .. }) => path,
        _ => b"",
    };
    let mut reply = if path == route && matches!(req.method, Method::Get | Method::Head) {
        let (status, text): (Status, &[u8]) = match stopping {
            false => (Status::Ok, b"ok\n"),
            true => (Status::ServiceUnavailable, b"stopping\n"),
        };
        let mut reply = Reply::bytes(status, "text/plain", text.into());
        reply.observed = false;
        reply
    } else if stopping {
        Reply::error(Status::ServiceUnavailable, config)
    } else {
        return None;
    };
    reply.head_only = req.method == Method::Head;
    Some(reply)
}

/// Steps 2 to 9 of the module documentation, on the server's own port.
/// `host`: the request's authority (absolute-form target, else `Host`).
fn public(
    req: &Request<'_>,
    host: Option<&[u8]>,
    cx: Context<'_>,
    services: &mut Services<'_>,
) -> Decision {
    let config = cx.config;
    let mut reply = match routes::route(&config.routes, req.target, host) {
        Routed::Answer { status, location } => {
            let mut reply = Reply::error(status, config);
            reply.fields.location = location;
            reply
        }
        Routed::Serve { target, rewritten } => {
            let asked = Asked {
                target: &target,
                rewritten,
            };
            let mut served = None;
            let mut reply = match cors::preflight(req, config) {
                Some(reply) => reply,
                None => {
                    let verdict = match (needs_auth(req, config), services.auth.as_deref_mut()) {
                        (false, _) => Verdict::Granted,
                        (true, Some(auth)) => match &config.htpasswd {
                            Some(file) => auth.verdict(file, req.authorization),
                            None => Verdict::Denied,
                        },
                        (true, None) => Verdict::Denied,
                    };
                    match verdict {
                        Verdict::Pending => return Err(NeedsVerdict),
                        Verdict::Granted => {
                            decide(req, asked, &mut served, services, config, cx.clock)
                        }
                        Verdict::Denied => Reply::error(Status::Unauthorized, config),
                        // Too many checks under way.
                        Verdict::Busy => Reply::error(Status::ServiceUnavailable, config),
                    }
                }
            };
            if config.headers.has_path_rules() {
                // The path within the site, and the served file's own.
                let path = routes::rule_path(&target);
                let file = served.as_ref().and_then(|f| config.url_path_of(&f.path));
                let paths: [&[u8]; 2] = [path.as_deref().unwrap_or(b""), file.unwrap_or(b"")];
                reply.fields.path_rules = config.headers.path_rules(&paths);
            }
            reply
        }
    };
    if let Some(tally) = services.counts {
        let mut tally = crate::counts::lock(tally);
        match &config.site_name {
            Some(site) => tally.count_on(site, req.target),
            None => tally.count(req.target),
        }
    }
    if let (Some(base), Some(location)) = (&config.routes.base_path, &mut reply.fields.location) {
        // A path skiff made within the site: the base path goes back.
        if location.starts_with(b"/") {
            location.splice(0..0, base.iter().copied());
        }
    }
    cors::with_cors(req, &mut reply, config);
    Ok(reply)
}

/// What an HTTP/1 exchange does around its reply: whether the connection
/// persists, the request body to read and drop before the reply is sent,
/// and whether to send `100 Continue` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fate {
    pub(crate) persist: Persist,
    /// The request body to read and throw away before the reply is sent
    /// (`Framing::None` when there is none, or when it is too large to
    /// read: then `persist` is `Close`). A chunked body that turns out
    /// malformed replaces the reply with [`Failure::BadBody`]'s.
    pub(crate) discard: Framing,
    /// Send `100 Continue` before reading that body: the client asked
    /// (`Expect: 100-continue`, HTTP/1.1) and may be holding it back.
    pub(crate) send_continue: bool,
    /// A body of unknown length goes out chunked (HTTP/1.1 both ways);
    /// otherwise such a body ends when the connection does.
    pub(crate) chunked: bool,
}

impl Fate {
    /// The last reply on its connection, with no body to read.
    pub(crate) const CLOSE: Fate = Fate {
        persist: Persist::Close,
        discard: Framing::None,
        send_continue: false,
        chunked: false,
    };

    /// This fate, but the last on its connection (a request body grew
    /// past [`MAX_DISCARD`] while being read).
    pub(crate) fn closing(self) -> Fate {
        Fate {
            persist: Persist::Close,
            ..self
        }
    }
}

/// HTTP/1 connection policy for `reply` to `req`: keep-alive (HTTP/1.1 or
/// 1.0 keep-alive, not `draining`, not a 400, a request body small enough
/// to read), the request body to read and drop first (`Content-Length`
/// up to [`MAX_DISCARD`], or chunked), and `100 Continue` when asked for.
pub(crate) fn fate(req: &Request<'_>, reply: &Reply, config: &Config, draining: bool) -> Fate {
    // An upload reads its whole body (to its own bound); a body past a
    // bound is not read at all (the connection closes after the reply).
    let readable = reply.upload.is_some()
        || (!reply.closes
            && match req.framing {
                Framing::None | Framing::Chunked => true,
                Framing::Length(n) => n <= MAX_DISCARD,
            });
    // A body of unknown length is chunked for HTTP/1.1; for HTTP/1.0 it
    // ends with the connection.
    let chunked = reply.fields.unknown_length
        && req.minor >= 1
        && config.version == crate::http::response::Version::Http11;
    let delimited = !reply.fields.unknown_length || chunked || reply.head_only;
    let keep = config.keep_alive_enabled()
        && req.keep_alive
        && !reply.closes
        && reply.status != Status::BadRequest
        && !draining
        && readable
        && delimited;
    let persist = match config.keep_alive {
        Some(timeout) if keep => Persist::KeepAlive {
            timeout_secs: timeout.as_secs(),
            http10_request: req.minor == 0,
        },
        _ => Persist::Close,
    };
    let discard = match req.framing {
        Framing::Length(0) => Framing::None,
        framing if readable => framing,
        _ => Framing::None,
    };
    Fate {
        persist,
        discard,
        // RFC 9110 section 10.1.1: an HTTP/1.0 client's 100-continue is
        // ignored (it cannot parse a 1xx).
        send_continue: req.expect == Expect::Continue && req.minor >= 1 && discard != Framing::None,
        chunked: chunked && !reply.head_only,
    }
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
fn metrics_reply(req: &Request<'_>, page: Option<&Page>, config: &Config) -> Reply {
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
    match page {
        Some(page) => Reply::bytes(
            Status::Ok,
            "text/plain; version=0.0.4",
            page.render().into(),
        ),
        None => Reply::error(Status::NotFound, config),
    }
}

/// The authority of an absolute-form target (`http://host:port/p`),
/// checked like `Host`.
fn absolute_authority(target: &[u8]) -> Option<&[u8]> {
    // Origin-form (`/...`), the usual, is no absolute form.
    if target.first() == Some(&b'/') {
        return None;
    }
    let starts = |p: &[u8]| {
        target
            .get(..p.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(p))
    };
    let rest = if starts(b"http://") {
        &target[7..]
    } else if starts(b"https://") {
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

/// The target a request is served from: the request's own (less the base
/// path), or a rewrite's, which is served without the redirects that
/// would show it to the client.
#[derive(Clone, Copy)]
struct Asked<'t> {
    target: &'t [u8],
    rewritten: bool,
}

fn decide(
    req: &Request<'_>,
    asked: Asked<'_>,
    served: &mut Option<Arc<Found>>,
    services: &mut Services<'_>,
    config: &Config,
    clock: &Clock,
) -> Reply {
    let target = asked.target;
    let files = services.files.as_deref_mut();
    let encodings = services.encodings.as_deref_mut();
    match req.method {
        Method::Get | Method::Head | Method::Options => {}
        Method::Post | Method::Put if config.upload.is_some() => {
            if req.expect == Expect::Other {
                return Reply::error(Status::ExpectationFailed, config);
            }
            let Some(up) = &config.upload else {
                unreachable!("matched above");
            };
            return upload::reply(req, target, up, config);
        }
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
    // The listings' style sheet, wherever listings are on.
    if config.list_dirs
        && matches!(req.method, Method::Get | Method::Head)
        && crate::http::target::path_of(target) == crate::files::listing::ASSET_PATH
    {
        return listing_css();
    }
    if config.list_dirs
        && config.upload.is_some()
        && matches!(req.method, Method::Get | Method::Head)
        && crate::http::target::path_of(target) == crate::files::listing::SCRIPT_PATH
    {
        return listing_script();
    }
    // `--archives`: a folder as one download.
    if config.archives && matches!(req.method, Method::Get | Method::Head) {
        let query = match crate::http::target::parse(req.target) {
            Some(crate::http::target::Target::Path { query, .. }) => query,
            _ => None,
        };
        if let Some(value) = download::asked(query) {
            return download::reply(target, value, config);
        }
    }
    if req.method == Method::Options {
        let exists = match crate::http::target::parse(target) {
            Some(crate::http::target::Target::Asterisk) => Ok(()),
            _ => find(files, config, target, now).map(|_| ()),
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
    let first = find(files.as_deref_mut(), config, target, now);
    let routes = &config.routes;
    let resolved =
        if routes.clean_urls || routes.trailing_slash != TrailingSlash::Auto || asked.rewritten {
            match canonical_form(first, asked, files.as_deref_mut(), config, now) {
                Shaped::Moved(location) => {
                    let mut reply = Reply::error(Status::PermanentRedirect, config);
                    reply.fields.location = Some(location);
                    return reply;
                }
                Shaped::Found(r) => r,
            }
        } else {
            first
        };
    let mut reply = match resolved {
        Err(Status::NotFound) if config.fallback.is_some() => {
            match fallback(req, target, files.as_deref_mut(), config, now) {
                Some(found) => {
                    *served = Some(found.clone());
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
        Ok(Resolution::File(found)) => {
            *served = Some(found.clone());
            file_reply(req, found, config, clock.unix_secs(), encodings)
        }
        Ok(Resolution::Directory { dir, path }) => {
            let json = wants_json(req.accept);
            let shown = match &routes.base_path {
                Some(base) if !asked.rewritten => [&base[..], &path[..]].concat(),
                _ => path,
            };
            let query = match crate::http::target::parse(req.target) {
                Some(crate::http::target::Target::Path { query, .. }) => query,
                _ => None,
            };
            let base: &[u8] = match &routes.base_path {
                Some(base) if !asked.rewritten => base,
                _ => b"",
            };
            let ask = ListingAsk {
                dir: &dir,
                path: &shown,
                json,
                sort: crate::files::listing::Sort::from_query(query),
                base,
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
    if reply.fields.etag.is_some() && !reply.status.is_error() {
        reply.fields.extra = match cache_rule(target, config) {
            Some(i) => Extra::Rule(i),
            None => Extra::File,
        };
    }
    reply
}

/// What [`canonical_form`] makes of a lookup.
enum Shaped {
    /// Served (or refused) as found.
    Found(Result<Resolution, Status>),
    /// A 308 to the path's one form (a `Location` within the site).
    Moved(Vec<u8>),
}

/// `--clean-urls` and `--trailing-slash` applied to `first`, the lookup of
/// `asked` (see `rules::routes::TrailingSlash`):
/// - a folder without its slash: `always` redirects (308), `never` serves
///   it (and a rewrite's result is served as under `never`), `auto` keeps
///   the 301;
/// - a folder with its slash: `never` redirects to the path without it;
/// - with clean URLs, `/a.html` redirects to `/a` and `/d/index.html` to
///   `/d/` (when those would serve the same file), and a missing `/a` is
///   served from `a.html` (redirected to `/a/` under `always`);
/// - a missing path with a slash whose slashless form is a file (or a
///   clean page) redirects there, unless the policy is `auto`.
///
/// Folders win over clean pages: with both `a/` and `a.html`, `/a` is the
/// folder.
fn canonical_form(
    first: Result<Resolution, Status>,
    asked: Asked<'_>,
    mut files: Option<&mut (dyn FileSource + '_)>,
    config: &Config,
    now: Instant,
) -> Shaped {
    use crate::files::resolve::{encode_path, normalize};
    use crate::http::target::{Target, parse};
    let routes = &config.routes;
    let policy = routes.trailing_slash;
    // The common case, with nothing to decode: a file asked for by a
    // plain path that neither ends with a slash nor names a page.
    if let (Ok(Resolution::File(_)), Some(Target::Path { path, .. })) =
        (&first, parse(asked.target))
    {
        if routes::is_plain(path) && !path.ends_with(b"/") && !path.ends_with(b".html") {
            return Shaped::Found(first);
        }
    }
    let Ok(norm) = normalize(asked.target) else {
        return Shaped::Found(first);
    };
    let root = norm.path == b"/";
    let slash = norm.trailing_slash && !root;
    let inner = asked.rewritten;
    // `path` (decoded), with or without a slash, plus the query: a target
    // to look up, or a `Location`.
    let url = |path: &[u8], with_slash: bool| {
        let mut out = Vec::with_capacity(path.len() + 8);
        encode_path(path, &mut out);
        if with_slash && out.last() != Some(&b'/') {
            out.push(b'/');
        }
        if let Some(q) = norm.query {
            out.push(b'?');
            out.extend_from_slice(q);
        }
        out
    };
    let mut lookup = |target: &[u8]| find(files.as_deref_mut(), config, target, now);
    match first {
        Ok(Resolution::Redirect(location)) => match (policy, inner) {
            (TrailingSlash::Never, _) | (_, true) => Shaped::Found(lookup(&url(&norm.path, true))),
            (TrailingSlash::Always, false) => Shaped::Moved(location),
            (TrailingSlash::Auto, false) => Shaped::Found(Ok(Resolution::Redirect(location))),
        },
        Ok(_) if slash && policy == TrailingSlash::Never && !inner => {
            Shaped::Moved(url(&norm.path, false))
        }
        Ok(Resolution::File(found)) if routes.clean_urls && !inner && !slash => {
            let name = norm.file_name();
            let Some(stem) = name.strip_suffix(b".html") else {
                return Shaped::Found(Ok(Resolution::File(found)));
            };
            let parent = &norm.path[..norm.path.len() - name.len()];
            let (clean, with_slash) = if stem == b"index" {
                (parent, policy != TrailingSlash::Never || parent == b"/")
            } else {
                (
                    &norm.path[..norm.path.len() - ".html".len()],
                    policy == TrailingSlash::Always,
                )
            };
            let clean = if clean.len() > 1 {
                clean.strip_suffix(b"/").unwrap_or(clean)
            } else {
                clean
            };
            let moved = url(clean, with_slash);
            // Only where the clean URL comes back to this same file.
            let same = match lookup(&url(clean, stem == b"index")) {
                Ok(Resolution::File(f)) => f.path == found.path,
                Err(Status::NotFound) => stem != b"index",
                _ => false,
            };
            if same {
                Shaped::Moved(moved)
            } else {
                Shaped::Found(Ok(Resolution::File(found)))
            }
        }
        Err(Status::NotFound) if !root => {
            if routes.clean_urls {
                let mut page = norm.path.clone();
                page.extend_from_slice(b".html");
                if let Ok(Resolution::File(found)) = lookup(&url(&page, false)) {
                    let canonical_slash = policy == TrailingSlash::Always;
                    return if inner || slash == canonical_slash {
                        Shaped::Found(Ok(Resolution::File(found)))
                    } else {
                        Shaped::Moved(url(&norm.path, canonical_slash))
                    };
                }
            }
            if slash && policy != TrailingSlash::Auto && !inner {
                if let Ok(Resolution::File(_)) = lookup(&url(&norm.path, false)) {
                    return Shaped::Moved(url(&norm.path, false));
                }
            }
            Shaped::Found(Err(Status::NotFound))
        }
        other => Shaped::Found(other),
    }
}

/// The listings' style sheet: built in, shared, with an ETag of its own.
fn listing_css() -> Reply {
    static CSS: std::sync::OnceLock<(Arc<[u8]>, ETag)> = std::sync::OnceLock::new();
    builtin(crate::files::listing::CSS, "text/css", &CSS)
}

/// The listings' script (with `--upload`), the same way.
fn listing_script() -> Reply {
    static JS: std::sync::OnceLock<(Arc<[u8]>, ETag)> = std::sync::OnceLock::new();
    builtin(crate::files::listing::SCRIPT, "text/javascript", &JS)
}

/// A file built into skiff, made once into `cell` with an ETag from its
/// bytes (FNV-1a).
fn builtin(
    text: &'static str,
    mime: &'static str,
    cell: &'static std::sync::OnceLock<(Arc<[u8]>, ETag)>,
) -> Reply {
    let (bytes, tag) = cell.get_or_init(|| {
        let b = text.as_bytes();
        let sum = b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
            (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
        });
        (b.into(), ETag::from_parts(sum, b.len() as u64, 0))
    });
    let mut reply = Reply::bytes(Status::Ok, mime, bytes.clone());
    reply.fields.etag = Some(*tag);
    reply
}

/// The `--fallback` file for a request that found nothing, if it gets
/// one: GET or HEAD, accepting `text/html` (a browser navigating, not a
/// script or an image fetching an asset), for a path that is not hidden
/// and where nothing at all exists (a forbidden or hidden file keeps its
/// status).
fn fallback(
    req: &Request<'_>,
    target: &[u8],
    files: Option<&mut (dyn FileSource + '_)>,
    config: &Config,
    now: Instant,
) -> Option<Arc<Found>> {
    let page = config.fallback.as_deref()?;
    if !matches!(req.method, Method::Get | Method::Head) || !accepts_html(req.accept) {
        return None;
    }
    let norm = crate::files::resolve::normalize(target).ok()?;
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
    match find(files, config, page, now) {
        Ok(Resolution::File(found)) => Some(found),
        _ => None,
    }
}

/// The first `--cache-control` rule whose glob matches the target's path.
fn cache_rule(target: &[u8], config: &Config) -> Option<usize> {
    if config.headers.rules.is_empty() {
        return None;
    }
    let norm = crate::files::resolve::normalize(target).ok()?;
    config
        .headers
        .rule_for(std::str::from_utf8(&norm.path).ok()?)
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
