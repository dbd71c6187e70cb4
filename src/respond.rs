//! From one parsed request to the reply it gets.
//!
//! The pipeline, top to bottom:
//! 1. Method: GET and HEAD are served; the other standard methods get 405
//!    with `Allow: GET, HEAD`; anything else gets 501.
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
//!    `If-Modified-Since` not newer) is 304. Unparseable dates are ignored.
//! 4. `Range`, honoured only when `If-Range` (if any) matches: one range is
//!    a 206 with `Content-Range`, several are `multipart/byteranges`, none
//!    satisfiable is 416; an unusable `Range` is ignored.
//! 5. The reply: status, the fields of its head, and the body that follows.
//!
//! Sans-I/O apart from opening and stat-ing the file; never reads file
//! contents and never writes anything.

use std::time::{Instant, SystemTime};

use crate::config::Config;
use crate::files::body::FileStream;
use crate::files::cache::{FileSource, Uncached};
use crate::files::listing;
use crate::files::resolve::{Coding, Found, Resolution, Source};
use crate::http::conditional::{
    ETag, Ranges, boundary, if_range_holds, match_holds, none_match_hits, parse_date, parse_range,
};
use crate::http::date::unix_secs;
use crate::http::negotiate::{coding_weight, wants_json};
use crate::http::request::{Method, Request};
use crate::http::response::Status;

/// Content type of every error page.
pub const HTML: &str = "text/html";

/// The decision for one request.
#[derive(Debug)]
pub struct Reply {
    pub status: Status,
    pub content_type: &'static str,
    /// `Content-Length`: the body's length, or for HEAD and 304 the length
    /// a GET would have had.
    pub length: u64,
    pub last_modified: Option<SystemTime>,
    /// The same, rendered for the header.
    pub last_modified_text: Option<[u8; crate::http::date::HTTP_DATE_LEN]>,
    pub etag: Option<ETag>,
    /// Send `Accept-Ranges: bytes` (every file response).
    pub accept_ranges: bool,
    /// `Content-Range: bytes a-b/len` (single-range 206).
    pub content_range: Option<(u64, u64, u64)>,
    /// `Content-Range: bytes */len` (416).
    pub unsatisfied_range: Option<u64>,
    pub location: Option<Vec<u8>>,
    /// Send `Allow: GET, HEAD`.
    pub allow: bool,
    /// `Content-Encoding` (a precompressed variant).
    pub content_encoding: Option<&'static str>,
    /// `Vary`: the request fields the choice of this body depended on.
    pub vary: Option<&'static str>,
    pub body: Body,
    /// This reply ends the connection whatever the request asked.
    pub close: bool,
}

/// What follows the head on a GET (a HEAD sends none of it).
#[derive(Debug)]
pub enum Body {
    /// Nothing (304).
    Empty,
    /// The error page for this status (`Config::error_page`).
    Page(Status),
    /// Bytes of a file: the whole of it, one range, or multipart.
    File(FileStream),
}

impl Reply {
    /// An error reply with its page as the body.
    pub fn error(status: Status, config: &Config) -> Reply {
        Reply {
            status,
            content_type: HTML,
            length: config.error_page(status).len() as u64,
            last_modified: None,
            last_modified_text: None,
            etag: None,
            accept_ranges: false,
            content_range: None,
            unsatisfied_range: None,
            location: None,
            allow: status == Status::MethodNotAllowed,
            content_encoding: None,
            vary: None,
            body: Body::Page(status),
            close: status == Status::BadRequest,
        }
    }
}

/// Decides the reply to `req`, finding files through `files` (a cache, or
/// `None` to look at the file system every time).
pub fn respond(
    req: &Request<'_>,
    config: &Config,
    files: Option<&mut (dyn FileSource + '_)>,
    now: Instant,
) -> Reply {
    match req.method {
        Method::Get | Method::Head => {}
        Method::Post
        | Method::Put
        | Method::Delete
        | Method::Patch
        | Method::Options
        | Method::Trace
        | Method::Connect => return Reply::error(Status::MethodNotAllowed, config),
        Method::Other => return Reply::error(Status::NotImplemented, config),
    }
    let lookup = config.lookup();
    let found = match files {
        Some(files) => files.find(&lookup, req.target, now),
        None => Uncached.find(&lookup, req.target, now),
    };
    match found {
        Err(status) => Reply::error(status, config),
        Ok(Resolution::Redirect(location)) => Reply {
            location: Some(location),
            ..Reply::error(Status::MovedPermanently, config)
        },
        Ok(Resolution::File(found)) => file_reply(req, found, config),
        Ok(Resolution::Directory { dir, path }) => match listing::read(&lookup, &dir) {
            Err(e) => Reply::error(crate::files::resolve::io_status(&e), config),
            Ok(list) => {
                let (body, content_type) = if wants_json(req.accept) {
                    (listing::json(&path, &list), "application/json")
                } else {
                    (listing::html(&path, &list), HTML)
                };
                let len = body.len() as u64;
                Reply {
                    status: Status::Ok,
                    content_type,
                    length: len,
                    vary: Some("Accept"),
                    body: Body::File(FileStream::window(Source::Bytes(body.into()), 0, len)),
                    close: false,
                    ..Reply::error(Status::Ok, config)
                }
            }
        },
    }
}

/// The variant of `found` to send for `Accept-Encoding`: the coding with
/// the highest non-zero weight, `br` before `gzip` on a tie.
fn choose_variant(found: &Found, accept_encoding: Option<&[u8]>) -> Option<Coding> {
    let mut best: Option<(Coding, u16)> = None;
    for coding in [Coding::Br, Coding::Gzip] {
        if found.variants.get(coding).is_none() {
            continue;
        }
        let q = coding_weight(accept_encoding, coding.token());
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((coding, q));
        }
    }
    best.map(|(c, _)| c)
}

/// The `Content-Type` of a multipart/byteranges body.
fn multipart_type() -> &'static str {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    T.get_or_init(|| format!("multipart/byteranges; boundary={}", boundary()))
}

fn file_reply(req: &Request<'_>, found: std::sync::Arc<Found>, config: &Config) -> Reply {
    // 2a. A precompressed variant, or the file itself.
    let mime = found.mime;
    let vary = (!found.variants.is_empty()).then_some("Accept-Encoding");
    let coding = choose_variant(&found, req.accept_encoding);
    let found = match coding.and_then(|c| found.variants.get(c)) {
        Some(v) => v.clone(),
        None => found,
    };
    let len = found.len;
    let modified = found.modified;
    let tag: ETag = found.etag;
    // Error pages (412, 416) are not encoded, but which validators they
    // carry still depended on Accept-Encoding.
    let validators = |r: Reply| Reply {
        last_modified: modified,
        last_modified_text: found.modified_text,
        etag: Some(tag),
        accept_ranges: true,
        vary,
        ..r
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
            (Some(date), Some(m)) => unix_secs(m) <= date,
            _ => false,
        },
        (None, None) => false,
    };
    let whole = Reply {
        status: Status::Ok,
        content_type: mime,
        length: len,
        last_modified: modified,
        last_modified_text: found.modified_text,
        etag: Some(tag),
        accept_ranges: true,
        content_range: None,
        unsatisfied_range: None,
        location: None,
        allow: false,
        content_encoding: coding.map(Coding::token),
        vary,
        body: Body::Empty,
        close: false,
    };
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
        Ranges::Unsatisfiable => validators(Reply {
            unsatisfied_range: Some(len),
            ..Reply::error(Status::RangeNotSatisfiable, config)
        }),
        Ranges::Parts(parts) if parts.len() == 1 => {
            let (first, last) = parts[0];
            Reply {
                status: Status::PartialContent,
                length: last - first + 1,
                content_range: Some((first, last, len)),
                body: Body::File(FileStream::window(
                    found.source.clone(),
                    first,
                    last - first + 1,
                )),
                ..whole
            }
        }
        Ranges::Parts(parts) => {
            let stream = FileStream::multipart(found.source.clone(), &parts, len, mime, boundary());
            Reply {
                status: Status::PartialContent,
                content_type: multipart_type(),
                length: stream.remaining(),
                body: Body::File(stream),
                ..whole
            }
        }
    }
}

/// `If-Modified-Since`: true when the file is not newer than the date, to
/// the second. An unparseable date is ignored (false).
pub fn not_modified_since(modified: SystemTime, header: &[u8]) -> bool {
    parse_date(header).is_some_and(|date| unix_secs(modified) <= date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn if_modified_since_compares_whole_seconds() {
        let m = UNIX_EPOCH + Duration::from_millis(784_111_777_500);
        assert!(not_modified_since(m, b"Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(not_modified_since(m, b"Sun, 06 Nov 1994 08:49:38 GMT"));
        assert!(!not_modified_since(m, b"Sun, 06 Nov 1994 08:49:36 GMT"));
        assert!(!not_modified_since(m, b"yesterday"));
        assert!(!not_modified_since(m, b"\xff"));
        // The obsolete formats parse too.
        assert!(not_modified_since(m, b"Sunday, 06-Nov-94 08:49:37 GMT"));
    }
}
