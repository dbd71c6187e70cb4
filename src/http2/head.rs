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

/// An HTTP/2 field list, and this second's `Date` made once.
struct Fields<'a> {
    map: &'a mut HeaderMap,
    date: &'a HeaderValue,
}

/// The name of a field skiff sets itself, without parsing it.
fn known(name: &str) -> Option<HeaderName> {
    use http::header;
    Some(match name {
        "Date" => header::DATE,
        "Server" => header::SERVER,
        "X-Content-Type-Options" => header::X_CONTENT_TYPE_OPTIONS,
        "Content-Type" => header::CONTENT_TYPE,
        "Content-Length" => header::CONTENT_LENGTH,
        "Last-Modified" => header::LAST_MODIFIED,
        "ETag" => header::ETAG,
        "Accept-Ranges" => header::ACCEPT_RANGES,
        "Content-Range" => header::CONTENT_RANGE,
        "Location" => header::LOCATION,
        "Allow" => header::ALLOW,
        "Content-Encoding" => header::CONTENT_ENCODING,
        "Vary" => header::VARY,
        "Cache-Control" => header::CACHE_CONTROL,
        _ => return None,
    })
}

impl Fields<'_> {
    fn name(name: &str) -> Option<HeaderName> {
        // Names are checked tokens (HTTP/2 lowers them).
        known(name).or_else(|| HeaderName::from_bytes(name.as_bytes()).ok())
    }
}

impl FieldSink for Fields<'_> {
    fn field(&mut self, name: &str, value: &[&[u8]]) {
        if name == "Date" {
            self.map.append(http::header::DATE, self.date.clone());
            return;
        }
        // Values were checked for CR, LF and NUL where they came from.
        // Anything the field types still refuse is left out rather than
        // sent broken.
        let Some(name) = Fields::name(name) else {
            return;
        };
        let value = match value {
            [one] => HeaderValue::from_bytes(one),
            parts => HeaderValue::from_bytes(&parts.concat()),
        };
        if let Ok(value) = value {
            self.map.append(name, value);
        }
    }

    fn fixed(&mut self, name: &str, value: &'static str) {
        if let Some(name) = Fields::name(name) {
            self.map.append(name, HeaderValue::from_static(value));
        }
    }
}

/// This second's `Date` field, made once a second.
#[derive(Debug, Default)]
pub(crate) struct DateField {
    made: Option<([u8; crate::http::date::HTTP_DATE_LEN], HeaderValue)>,
}

impl DateField {
    fn get(&mut self, date: &[u8; crate::http::date::HTTP_DATE_LEN]) -> &HeaderValue {
        if self.made.as_ref().is_none_or(|(d, _)| d != date) {
            let value = HeaderValue::from_bytes(date)
                .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
            self.made = Some((*date, value));
        }
        match &self.made {
            Some((_, value)) => value,
            None => unreachable!("made just above"),
        }
    }
}

/// The HTTP/2 response head for `reply`: its status and every field the
/// HTTP/1 writer would send, without the connection's own.
pub(crate) fn response(
    reply: &Reply,
    date: &[u8; crate::http::date::HTTP_DATE_LEN],
    dates: &mut DateField,
    config: &Config,
) -> http::Response<()> {
    let mut head = http::Response::new(());
    *head.status_mut() = http::StatusCode::from_u16(reply.status.code())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let extra = config.extra(&reply.fields);
    let map = head.headers_mut();
    map.reserve(12 + extra.len());
    write_fields(
        &mut Fields {
            map,
            date: dates.get(date),
        },
        reply.status,
        date,
        &reply.fields,
        extra,
    );
    head
}
