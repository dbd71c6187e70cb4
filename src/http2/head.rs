//! HTTP/2 heads in and out: a request's pseudo-headers and fields (as the
//! codec decoded them) become the same [`Request`] value HTTP/1's parser
//! makes, and a [`Reply`]'s status and fields become an HTTP/2 response
//! head with exactly the fields the HTTP/1 writer sends, less what
//! HTTP/2 forbids (`Connection`, `Keep-Alive`).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::Config;
use crate::http::request::{HeadError, MAX_TARGET, Method, Request, valid_field_value, valid_host};
use crate::http::response::{FieldSink, write_fields};
use crate::http::trim_ows;
use crate::respond::Reply;

/// A request head as received, kept while its stream waits (for a
/// verdict) and read again each time it is answered.
#[derive(Debug)]
pub(crate) struct Head {
    parts: http::request::Parts,
    /// `METHOD TARGET HTTP/2.0`, the request line the access log shows.
    line: Box<[u8]>,
}

impl Head {
    pub(crate) fn new(parts: http::request::Parts) -> Head {
        let target = target_of(&parts);
        let mut line = Vec::with_capacity(parts.method.as_str().len() + target.len() + 10);
        line.extend_from_slice(parts.method.as_str().as_bytes());
        line.push(b' ');
        line.extend_from_slice(target);
        line.extend_from_slice(b" HTTP/2.0");
        Head {
            parts,
            line: line.into(),
        }
    }

    /// The request line the log shows.
    pub(crate) fn line(&self) -> &[u8] {
        &self.line
    }

    /// The request as `respond` takes it, or why it cannot be answered
    /// normally (the same errors HTTP/1 answers with 400 and 414).
    /// Framing and keep-alive are HTTP/1's and stay at their defaults.
    pub(crate) fn request(&self) -> Result<Request<'_>, HeadError> {
        let parts = &self.parts;
        let target = target_of(parts);
        if target.len() > MAX_TARGET {
            return Err(HeadError::UriTooLong);
        }
        let method = Method::from_bytes(parts.method.as_str().as_bytes());
        let line = &self.line[..];
        let mut req = Request::bare(method, line, target);
        for (name, value) in &parts.headers {
            let value = trim_ows(value.as_bytes());
            if !valid_field_value(value) {
                return Err(HeadError::Malformed("control byte in field value"));
            }
            req.field(name.as_str().as_bytes(), value);
        }
        // `:authority`, else `Host` (RFC 9113 section 8.3.1).
        let host = match parts.uri.authority() {
            Some(a) => Some(a.as_str().as_bytes()),
            None => parts
                .headers
                .get(http::header::HOST)
                .map(|h| trim_ows(h.as_bytes())),
        };
        if let Some(host) = host {
            if host.is_empty() || !valid_host(host) {
                return Err(HeadError::Malformed("Host"));
            }
            req.host = Some(host);
        }
        Ok(req)
    }
}

/// The request target: `:path` (origin-form, or `*`); for CONNECT, which
/// has none, the authority.
fn target_of(parts: &http::request::Parts) -> &[u8] {
    match parts.uri.path_and_query() {
        Some(p) => p.as_str().as_bytes(),
        None => parts
            .uri
            .authority()
            .map_or(&b"/"[..], |a| a.as_str().as_bytes()),
    }
}

/// An HTTP/2 field list.
struct Fields<'a>(&'a mut HeaderMap);

impl FieldSink for Fields<'_> {
    fn field(&mut self, name: &str, value: &[&[u8]]) {
        // Names are checked tokens (HTTP/2 lowers them); values were
        // checked for CR, LF and NUL where they came from. Anything the
        // field types still refuse is left out rather than sent broken.
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return;
        };
        let value = match value {
            [one] => HeaderValue::from_bytes(one),
            parts => HeaderValue::from_bytes(&parts.concat()),
        };
        if let Ok(value) = value {
            self.0.append(name, value);
        }
    }
}

/// The HTTP/2 response head for `reply`: its status and every field the
/// HTTP/1 writer would send, without the connection's own.
pub(crate) fn response(reply: &Reply, date: &[u8], config: &Config) -> http::Response<()> {
    let mut head = http::Response::new(());
    *head.status_mut() = http::StatusCode::from_u16(reply.status.code())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let extra = config.extra(reply.fields.extra);
    write_fields(
        &mut Fields(head.headers_mut()),
        reply.status,
        date,
        &reply.fields,
        extra,
    );
    head
}
