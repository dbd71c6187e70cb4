//! `--upload`: the reply to a PUT or a form POST (`share::upload`), decided
//! before its body is read (a bad name, a taken name, a folder that is
//! not there, a body past the bound: answered at once), and the reply once
//! the body is stored.

use std::sync::Arc;

use crate::config::{Config, Uploads};
use crate::files::resolve::{is_hidden, normalize};
use crate::http::request::{Framing, Method, Request};
use crate::http::response::{Fields, Status};
use crate::share::upload::{Failed, Intake, Kind, Stored, Upload, check_name};

use super::{Body, Reply};

/// Where an accepted upload goes, for its final reply.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) intake: Intake,
    /// The folder's URL path (with the base path), ending in `/`.
    pub(crate) folder: Vec<u8>,
    /// A PUT (one file) rather than a form.
    pub(crate) put: bool,
    /// `--upload-max-bytes`.
    pub(crate) max_bytes: u64,
}

/// The reply to an upload of `target`: an error now, or a reply carrying
/// the [`Accepted`] upload that reads the body.
pub(crate) fn reply(req: &Request<'_>, target: &[u8], up: &Uploads, config: &Config) -> Reply {
    let refuse = |f: Failed| {
        let mut reply = Reply::error(f.status(), config);
        if f == Failed::TooLarge {
            reply.closes = true;
        }
        reply
    };
    if let Framing::Length(n) = req.framing {
        if n > up.max_bytes {
            return refuse(Failed::TooLarge);
        }
    }
    let normalized = match normalize(crate::http::target::path_of(target)) {
        Ok(n) => n,
        Err(status) => return Reply::error(status, config),
    };
    let path = normalized.path;
    let put = req.method == Method::Put;
    let (folder, name) = if put {
        if normalized.trailing_slash || path == b"/" {
            return refuse(Failed::Bad);
        }
        let cut = path.iter().rposition(|&c| c == b'/').unwrap_or(0);
        (path[..cut].to_vec(), Some(path[cut + 1..].to_vec()))
    } else {
        (path.clone(), None)
    };
    // The folder: no hidden segment (unless shown), no symlink on the way,
    // inside the upload folder, and there.
    let segments = || folder.split(|&c| c == b'/').filter(|s| !s.is_empty());
    if !config.show_hidden && segments().any(is_hidden) {
        return Reply::error(Status::NotFound, config);
    }
    let mut lexical = config.root.clone();
    for s in segments() {
        use std::os::unix::ffi::OsStrExt;
        lexical.push(std::ffi::OsStr::from_bytes(s));
    }
    let dir = match std::fs::canonicalize(&lexical) {
        Ok(c) if c != lexical => return refuse(Failed::Refused),
        Ok(c) if !c.starts_with(&up.dir) => return refuse(Failed::Refused),
        Ok(c) if !c.is_dir() => return refuse(Failed::Missing),
        Ok(c) => c,
        Err(_) => return refuse(Failed::Missing),
    };
    let kind = match name {
        Some(name) => {
            if let Err(f) = check_name(&name, config.show_hidden) {
                return refuse(f);
            }
            use std::os::unix::ffi::OsStrExt;
            match dir
                .join(std::ffi::OsStr::from_bytes(&name))
                .symlink_metadata()
            {
                Ok(m) if m.file_type().is_symlink() => return refuse(Failed::Refused),
                Ok(m) if m.is_dir() => return refuse(Failed::Exists),
                Ok(_) if !up.overwrite => return refuse(Failed::Exists),
                _ => {}
            }
            Kind::Put { name }
        }
        None => match boundary(req.content_type) {
            Some(boundary) => Kind::Form { boundary },
            None => return refuse(Failed::Bad),
        },
    };
    let mut url = config
        .routes
        .base_path
        .clone()
        .map(|b| b.to_vec())
        .unwrap_or_default();
    url.extend_from_slice(&folder);
    url.push(b'/');
    let upload = Upload::new(dir, kind, up.overwrite, config.show_hidden);
    let mut reply = Reply::new(Status::Created, Fields::default(), Body::Empty);
    reply.upload = Some(Box::new(Accepted {
        intake: Intake::new(upload),
        folder: url,
        put,
        max_bytes: up.max_bytes,
    }));
    reply
}

/// The boundary of a `multipart/form-data` content type (1 to 70
/// characters, RFC 2046), if that is what it is.
fn boundary(content_type: Option<&[u8]>) -> Option<Vec<u8>> {
    let value = content_type?;
    let (mime, params) = match value.iter().position(|&c| c == b';') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &b""[..]),
    };
    if !crate::http::trim_ows(mime).eq_ignore_ascii_case(b"multipart/form-data") {
        return None;
    }
    for p in params.split(|&c| c == b';') {
        let p = crate::http::trim_ows(p);
        let Some(eq) = p.iter().position(|&c| c == b'=') else {
            continue;
        };
        if !p[..eq].eq_ignore_ascii_case(b"boundary") {
            continue;
        }
        let v = &p[eq + 1..];
        let v = v
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(v);
        if (1..=70).contains(&v.len()) && v.iter().all(|&c| (0x20..0x7f).contains(&c)) {
            return Some(v.to_vec());
        }
        return None;
    }
    None
}

/// Says what an upload stored: a line on stderr per file (with the
/// client's address `from`), and the metrics' counts.
pub(crate) fn record(
    outcome: &Result<Vec<Stored>, Failed>,
    accepted: &Accepted,
    from: std::net::IpAddr,
    metrics: Option<&crate::metrics::LoopMetrics>,
) {
    let Ok(stored) = outcome else {
        return;
    };
    for s in stored {
        crate::say!(
            "skiff: upload stored {}{} ({} bytes) from {from}",
            String::from_utf8_lossy(&accepted.folder),
            String::from_utf8_lossy(&s.name),
            s.bytes,
        );
    }
    if let Some(m) = metrics {
        m.uploads(stored.len() as u64, stored.iter().map(|s| s.bytes).sum());
    }
}

/// The reply once the body is in: 201 (with `Location`, and for a form a
/// page linking what was stored), 204 for a replaced file, or the failure's
/// status.
pub(crate) fn done(
    outcome: Result<Vec<Stored>, Failed>,
    accepted: &Accepted,
    config: &Config,
) -> Reply {
    let stored = match outcome {
        Ok(stored) => stored,
        Err(f) => {
            let mut reply = Reply::error(f.status(), config);
            reply.closes = f == Failed::TooLarge;
            return reply;
        }
    };
    crate::files::cache::changed();
    let location = |name: &[u8]| {
        let mut url = Vec::new();
        crate::files::resolve::encode_path(&accepted.folder, &mut url);
        crate::files::resolve::encode_path(name, &mut url);
        url
    };
    if accepted.put {
        if let Some(s) = stored.first() {
            if s.replaced {
                return Reply::new(Status::NoContent, Fields::default(), Body::Empty);
            }
            let mut reply =
                Reply::bytes(Status::Created, "text/plain", Arc::from(&b"created\n"[..]));
            reply.fields.location = Some(location(&s.name));
            return reply;
        }
    }
    // A form: a page linking each file, and the folder.
    let escape = |b: &[u8]| crate::files::listing::escape_html(&String::from_utf8_lossy(b));
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Uploaded</title></head>\n<body>\n<h1>Uploaded</h1>\n<ul>\n",
    );
    for s in &stored {
        page.push_str(&format!(
            "<li><a href=\"{}\">{}</a> ({} bytes{})</li>\n",
            escape(&location(&s.name)),
            escape(&s.name),
            s.bytes,
            if s.replaced { ", replaced" } else { "" }
        ));
    }
    page.push_str(&format!(
        "</ul>\n<p><a href=\"{}\">Back to the folder</a></p>\n</body></html>\n",
        escape(&location(b""))
    ));
    let mut reply = Reply::bytes(Status::Created, super::HTML, Arc::from(page.into_bytes()));
    reply.fields.location = stored.first().map(|s| location(&s.name));
    reply
}
