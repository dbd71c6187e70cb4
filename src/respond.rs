//! From one parsed request to the reply it gets.
//!
//! The pipeline:
//! 1. Method: GET and HEAD are served; the other standard methods get 405
//!    with `Allow: GET, HEAD`; anything else gets 501.
//! 2. Resolve the target under the root (`files::resolve`): a file, a
//!    redirect for a directory without its slash, or an error status.
//! 3. Conditionals: `If-Modified-Since` (ignored when unparseable) turns a
//!    200 into a 304.
//! 4. The reply: status, the fields of its head, and what body follows.
//!
//! Sans-I/O apart from opening and stat-ing the file; never reads file
//! contents and never writes anything.

use std::fs::File;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::files::resolve::{Found, Resolution, resolve};
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
    pub location: Option<Vec<u8>>,
    /// Send `Allow: GET, HEAD`.
    pub allow: bool,
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
    /// `len` bytes of `file` from `offset`.
    File { file: File, offset: u64, len: u64 },
}

impl Reply {
    /// An error reply with its page as the body.
    pub fn error(status: Status, config: &Config) -> Reply {
        Reply {
            status,
            content_type: HTML,
            length: config.error_page(status).len() as u64,
            last_modified: None,
            location: None,
            allow: status == Status::MethodNotAllowed,
            body: Body::Page(status),
            close: status == Status::BadRequest,
        }
    }
}

/// Decides the reply to `req`.
pub fn respond(req: &Request<'_>, config: &Config) -> Reply {
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
    match resolve(&config.root, req.target) {
        Err(status) => Reply::error(status, config),
        Ok(Resolution::Redirect(location)) => Reply {
            location: Some(location),
            ..Reply::error(Status::MovedPermanently, config)
        },
        Ok(Resolution::File(found)) => file_reply(req, found),
    }
}

fn file_reply(req: &Request<'_>, found: Found) -> Reply {
    let len = found.meta.len();
    let modified = found.meta.modified().ok();
    let not_modified = match (modified, req.if_modified_since) {
        (Some(m), Some(ims)) => not_modified_since(m, ims),
        _ => false,
    };
    Reply {
        status: if not_modified {
            Status::NotModified
        } else {
            Status::Ok
        },
        content_type: found.mime,
        length: len,
        last_modified: modified,
        location: None,
        allow: false,
        body: if not_modified {
            Body::Empty
        } else {
            Body::File {
                file: found.file,
                offset: 0,
                len,
            }
        },
        close: false,
    }
}

/// `If-Modified-Since`: true when the file is not newer than the date, to
/// the second. An unparseable date is ignored (false).
pub fn not_modified_since(modified: SystemTime, header: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    let Ok(since) = httpdate::parse_http_date(text) else {
        return false;
    };
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    secs(modified) <= secs(since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
