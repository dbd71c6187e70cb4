//! Directory listings (`--list-dirs`): an HTML page, or JSON for a client
//! that asks for `application/json`.
//!
//! What a listing shows, and why:
//! - Regular files and directories only (a FIFO or a device is never
//!   served, so it is not offered either). A symlink is listed as what it
//!   points to, and only when that is inside the root and not hidden: a
//!   listing never reveals the size or date of a file outside the root.
//! - Names starting with `.` are left out unless `--show-hidden`
//!   (`.well-known` excepted, as in [`super::resolve::is_hidden`]).
//! - Directories first, then files; each group by name, byte by byte.
//! - Each name is HTML-escaped where it is shown and percent-encoded
//!   (everything but `A-Z a-z 0-9 - . _ ~`) where it is a link, so any
//!   byte a file system allows (`<`, `&`, `"`, `?`, `#`, `:`, newlines,
//!   invalid UTF-8) is shown as text and links back to that same file.
//! - Sizes in bytes; times are the modification time in UTC.
//! - At most [`MAX_ENTRIES`] entries; a longer directory is cut off (after
//!   sorting what was read) and says so.
//!
//! Listings carry no validators. A rendered listing is kept by the file
//! cache and read again from the directory at most once a second (the
//! rule every cached lookup follows), so a folder of 10,000 files costs
//! one `readdir` and its `stat`s per second, not per request.

use std::fmt::Write as _;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use super::resolve::{Lookup, contained, is_hidden};
use crate::http::response::SERVER;

/// Most entries listed; bounds the work and the page a request can cause.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Everything but the unreserved characters is encoded in a link.
const NAME_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One listed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The name as the file system has it (any bytes but `/` and NUL).
    pub(crate) name: Vec<u8>,
    pub(crate) is_dir: bool,
    /// Bytes (files only).
    pub(crate) size: u64,
    pub(crate) modified: Option<SystemTime>,
}

/// What a directory holds, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    pub(crate) entries: Vec<Entry>,
    /// More than [`MAX_ENTRIES`] were there.
    pub(crate) truncated: bool,
}

/// Reads `dir` (canonical, under `lookup.root`).
pub(crate) fn read(lookup: &Lookup<'_>, dir: &Path) -> io::Result<Listing> {
    let mut entries = Vec::new();
    let mut truncated = false;
    for item in std::fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let name = item.file_name().as_bytes().to_vec();
        if !lookup.show_hidden && is_hidden(&name) {
            continue;
        }
        let Ok(kind) = item.file_type() else { continue };
        let meta = if kind.is_symlink() {
            match contained(lookup, &item.path()) {
                Ok(target) => std::fs::metadata(&target),
                Err(_) => continue,
            }
        } else {
            item.metadata()
        };
        let Ok(meta) = meta else { continue };
        if !meta.is_dir() && !meta.is_file() {
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            truncated = true;
            break;
        }
        entries.push(Entry {
            name,
            is_dir: meta.is_dir(),
            size: if meta.is_file() { meta.len() } else { 0 },
            modified: meta.modified().ok(),
        });
    }
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    Ok(Listing { entries, truncated })
}

/// Reads `dir` and renders it as JSON or HTML, for the request path
/// `path`.
pub(crate) fn render(
    lookup: &Lookup<'_>,
    dir: &Path,
    path: &[u8],
    json: bool,
) -> io::Result<Vec<u8>> {
    let list = read(lookup, dir)?;
    Ok(if json {
        self::json(path, &list)
    } else {
        html(path, &list)
    })
}

/// The directory's path as shown: `/` or `/a/b/`.
fn shown_path(path: &[u8]) -> Vec<u8> {
    let mut p = path.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p
}

/// The HTML page for `listing` of the directory at request path `path`.
pub(crate) fn html(path: &[u8], listing: &Listing) -> Vec<u8> {
    let title = escape_html(&String::from_utf8_lossy(&shown_path(path)));
    // The links are relative to the folder's own path with its slash, also
    // when it is served without one (`--trailing-slash never`).
    let mut base = Vec::new();
    crate::files::resolve::encode_path(&shown_path(path), &mut base);
    let base = String::from_utf8_lossy(&base);
    let mut out = String::with_capacity(1024 + listing.entries.len() * 160);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <base href=\"{base}\"><title>Index of {title}</title>\n<style>body{{font-family:system-ui,sans-serif;margin:2em}}\
         th,td{{padding:.15em 1.5em .15em 0;text-align:left}}td.size{{text-align:right}}</style>\
         </head>\n<body><h1>Index of {title}</h1>\n<table>\n\
         <tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr>\n"
    );
    if path != b"/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in &listing.entries {
        let slash = if e.is_dir { "/" } else { "" };
        let href = percent_encode(&e.name, NAME_ENCODE);
        let name = escape_html(&String::from_utf8_lossy(&e.name));
        let size = if e.is_dir {
            "-".to_string()
        } else {
            e.size.to_string()
        };
        let when = e.modified.map(|m| utc(m, ' ')).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{href}{slash}\">{name}{slash}</a></td>\
             <td class=\"size\">{size}</td><td>{when}</td></tr>"
        );
    }
    out.push_str("</table>\n");
    if listing.truncated {
        let _ = writeln!(
            out,
            "<p>Only the first {MAX_ENTRIES} entries are listed.</p>"
        );
    }
    let _ = writeln!(out, "<hr><p>{SERVER}</p></body></html>");
    out.into_bytes()
}

/// The same as JSON: `{"path": ..., "truncated": ..., "entries": [{"name",
/// "url", "type": "file"|"directory", "size" (null for directories),
/// "modified" (RFC 3339, UTC)}]}`. Names that are not UTF-8 are shown with
/// U+FFFD in `name`; `url` always has the exact bytes.
pub(crate) fn json(path: &[u8], listing: &Listing) -> Vec<u8> {
    let mut out = String::with_capacity(256 + listing.entries.len() * 128);
    out.push_str("{\"path\":");
    json_string(&mut out, &String::from_utf8_lossy(&shown_path(path)));
    let _ = write!(out, ",\"truncated\":{},\"entries\":[", listing.truncated);
    for (i, e) in listing.entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_string(&mut out, &String::from_utf8_lossy(&e.name));
        let _ = write!(
            out,
            ",\"url\":\"{}{}\",\"type\":\"{}\",\"size\":",
            percent_encode(&e.name, NAME_ENCODE),
            if e.is_dir { "/" } else { "" },
            if e.is_dir { "directory" } else { "file" },
        );
        if e.is_dir {
            out.push_str("null");
        } else {
            let _ = write!(out, "{}", e.size);
        }
        out.push_str(",\"modified\":");
        match e.modified {
            Some(m) => {
                let _ = write!(out, "\"{}Z\"", utc(m, 'T'));
            }
            None => out.push_str("null"),
        }
        out.push('}');
    }
    out.push_str("]}\n");
    out.into_bytes()
}

/// `<`, `>`, `&`, `"` and `'` as character references.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON string literal: quotes, backslashes and control characters
/// escaped.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `YYYY-MM-DD<sep>HH:MM:SS` in UTC (times before 1970 show as 1970).
pub(crate) fn utc(t: SystemTime, sep: char) -> String {
    let secs = crate::http::date::unix_secs(t);
    let text = crate::http::date::Utc::from_unix(secs).iso(sep as u8);
    String::from_utf8_lossy(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(UNIX_EPOCH, ' '), "1970-01-01 00:00:00");
        // 2000-02-29 (a leap day of a century year) 12:34:56.
        let t = UNIX_EPOCH + Duration::from_secs(951_827_696);
        assert_eq!(utc(t, 'T'), "2000-02-29T12:34:56");
        // Every 7,001st second over two centuries, against httpdate.
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        for secs in (0..6_400_000_000u64).step_by(7_001 * 3_001) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let http = httpdate::fmt_http_date(t); // "Wed, 18 Nov 2026 11:06:40 GMT"
            let f: Vec<&str> = http.split(' ').collect();
            let month = MONTHS.iter().position(|&m| m == f[2]).unwrap() + 1;
            let want = format!("{}-{month:02}-{} {}", f[3], f[1], f[4]);
            assert_eq!(utc(t, ' '), want, "{secs}");
        }
    }

    #[test]
    fn names_are_escaped_and_encoded() {
        let listing = Listing {
            entries: vec![
                Entry {
                    name: b"<b>&\"'.txt".to_vec(),
                    is_dir: false,
                    size: 7,
                    modified: Some(UNIX_EPOCH),
                },
                Entry {
                    name: b"a b?#:\xff".to_vec(),
                    is_dir: true,
                    size: 0,
                    modified: None,
                },
            ],
            truncated: false,
        };
        let page = String::from_utf8(html(b"/x&y", &listing)).unwrap();
        assert!(page.contains("<title>Index of /x&amp;y/</title>"), "{page}");
        assert!(page.contains(
            "<a href=\"%3Cb%3E%26%22%27.txt\">&lt;b&gt;&amp;&quot;&#39;.txt</a></td><td class=\"size\">7</td><td>1970-01-01 00:00:00</td>"
        ), "{page}");
        assert!(
            page.contains("<a href=\"a%20b%3F%23%3A%FF/\">a b?#:\u{fffd}/</a>"),
            "{page}"
        );
        assert!(page.contains("<a href=\"../\">"));
        let body = String::from_utf8(json(b"/", &listing)).unwrap();
        assert_eq!(
            body,
            "{\"path\":\"/\",\"truncated\":false,\"entries\":[\
             {\"name\":\"<b>&\\\"'.txt\",\"url\":\"%3Cb%3E%26%22%27.txt\",\"type\":\"file\",\"size\":7,\"modified\":\"1970-01-01T00:00:00Z\"},\
             {\"name\":\"a b?#:\u{fffd}\",\"url\":\"a%20b%3F%23%3A%FF/\",\"type\":\"directory\",\"size\":null,\"modified\":null}]}\n"
        );
        let mut s = String::new();
        json_string(&mut s, "a\u{1}\nb");
        assert_eq!(s, "\"a\\u0001\\nb\"");
    }
}
