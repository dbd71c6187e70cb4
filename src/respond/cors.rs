//! Cross-origin resource sharing (`--cors`): what the settings
//! (`rules::cors`) add to a reply: a preflight's 204, and
//! `Access-Control-Allow-Origin` (with `Vary: Origin` when origins are
//! listed) on everything else.

use super::{Body, Reply};
use crate::config::Config;
use crate::http::request::{Method, Request};
use crate::http::response::{CorsFields, Fields, Status};
use crate::rules::cors::Cors;

/// The `Access-Control-Allow-Origin` value for `origin` under `cors`:
/// `Some(None)` for `*`, `Some(Some(origin))` for a listed one, `None`
/// when it is not allowed.
fn allowed_origin(origin: &[u8], cors: &Cors) -> Option<Option<Box<[u8]>>> {
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
pub(super) fn preflight(req: &Request<'_>, config: &Config) -> Option<Reply> {
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
    let fields = Fields {
        cors: Some(CorsFields {
            allow_origin,
            preflight: Some(headers),
            expose: None,
        }),
        ..Fields::default()
    };
    Some(Reply::new(Status::NoContent, fields, Body::Empty))
}

/// CORS on any other reply: `Access-Control-Allow-Origin` (and expose
/// headers) for an allowed origin, and `Vary: Origin` on every reply when
/// origins are listed (the answer depends on it).
pub(super) fn with_cors(req: &Request<'_>, reply: &mut Reply, config: &Config) {
    let Some(cors) = &config.cors else {
        return;
    };
    reply.fields.vary.origin |= cors.origins.is_some();
    if reply.fields.cors.is_none() {
        if let Some(allow_origin) = req.origin.and_then(|o| allowed_origin(o, cors)) {
            reply.fields.cors = Some(CorsFields {
                allow_origin,
                preflight: None,
                expose: cors.expose_headers.clone(),
            });
        }
    }
}
