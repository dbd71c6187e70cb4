//! `?download=tar|tar.gz|zip` on a folder (`--archives`): the reply that
//! streams it as one archive (`share::archive`).

use crate::config::Config;
use crate::files::produced::Produced;
use crate::files::resolve::{contained, normalize};
use crate::http::response::{Fields, Status};
use crate::share::archive::{Archive, Format};

use super::{Body, Reply};

/// The `download` value of a query, if it has one.
pub(crate) fn asked(query: Option<&[u8]>) -> Option<&[u8]> {
    query?
        .split(|&c| c == b'&')
        .find_map(|pair| pair.strip_prefix(b"download="))
}

/// The reply to a folder download of `target` in format `value`: 400 for
/// an unknown format, 404 when the target is not a folder that can be
/// served (hidden, outside the root, missing), else a 200 whose body is
/// made on the worker pool (413 then, if it is past a bound).
pub(crate) fn reply(target: &[u8], value: &[u8], config: &Config) -> Reply {
    let Some(format) = Format::parse(value) else {
        return Reply::error(Status::BadRequest, config);
    };
    let normalized = match normalize(crate::http::target::path_of(target)) {
        Ok(n) => n,
        Err(status) => return Reply::error(status, config),
    };
    let lookup = config.lookup();
    let dir = match contained(&lookup, &lookup.root.join(normalized.relative())) {
        Ok(dir) => dir,
        Err(status) => return Reply::error(status, config),
    };
    let path = normalized.path;
    if !std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Reply::error(Status::NotFound, config);
    }
    let top = top_name(&path, lookup.root);
    let disposition = disposition(&top, format);
    let fields = Fields {
        content_type: Some(format.mime()),
        unknown_length: true,
        content_disposition: Some(disposition),
        ..Fields::default()
    };
    let archive = Archive::new(format, config.archive_limits, &lookup, dir, top);
    Reply::new(
        Status::Ok,
        fields,
        Body::Stream(Produced::new(Box::new(archive))),
    )
}

/// The archive's top folder: the folder's own name, or the root's for
/// `/` (`files` if it has none).
fn top_name(path: &[u8], root: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let last = path.rsplit(|&c| c == b'/').find(|s| !s.is_empty());
    match last {
        Some(name) => name.to_vec(),
        None => root
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| b"files".to_vec()),
    }
}

/// `attachment; filename="NAME.tar.gz"`, with RFC 6266's `filename*` in
/// UTF-8 when the name is not plain ASCII (the plain `filename` then has
/// `_` for each character it cannot hold).
pub(crate) fn disposition(top: &[u8], format: Format) -> Vec<u8> {
    let name = [top, b".", format.name().as_bytes()].concat();
    let plain = name
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\');
    let mut out = b"attachment; filename=\"".to_vec();
    let text = String::from_utf8_lossy(&name);
    for ch in text.chars() {
        match ch {
            ' '..='~' if ch != '"' && ch != '\\' => out.push(ch as u8),
            _ => out.push(b'_'),
        }
    }
    out.push(b'"');
    if !plain {
        out.extend_from_slice(b"; filename*=UTF-8''");
        for &b in text.as_bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                out.push(b);
            } else {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions() {
        assert_eq!(
            disposition(b"photos", Format::TarGz),
            b"attachment; filename=\"photos.tar.gz\""
        );
        assert_eq!(
            String::from_utf8(disposition("été \"x\"".as_bytes(), Format::Zip)).unwrap(),
            "attachment; filename=\"_t_ _x_.zip\"; filename*=UTF-8''%C3%A9t%C3%A9%20%22x%22.zip"
        );
    }

    #[test]
    fn the_download_parameter() {
        assert_eq!(asked(Some(b"a=1&download=zip")), Some(&b"zip"[..]));
        assert_eq!(asked(Some(b"sort=name")), None);
        assert_eq!(asked(None), None);
    }
}
