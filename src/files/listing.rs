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
//! - Directories first, then files; each group by name, byte by byte, or
//!   as `?sort=name|size|time&order=asc|desc` asks (HTML and JSON alike;
//!   ties by name), so a sorted listing is a link that can be shared.
//! - Each name is HTML-escaped where it is shown and percent-encoded
//!   (everything but `A-Z a-z 0-9 - . _ ~`) where it is a link, so any
//!   byte a file system allows (`<`, `&`, `"`, `?`, `#`, `:`, newlines,
//!   invalid UTF-8) is shown as text and links back to that same file.
//! - HTML: sizes in binary units with the exact bytes in a tooltip; times
//!   relative ("5 min ago") with the UTC time in a tooltip; a breadcrumb
//!   of the path; a marker per kind of file. Its style is a file of its own
//!   ([`ASSET_PATH`]), light or dark as the system is, and there is no
//!   script: the page works under a strict Content-Security-Policy.
//! - JSON: sizes in bytes; times are the modification time in UTC.
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
use crate::share::archive::Format;

/// Where a listing's style sheet is served, under the site's root.
pub(crate) const ASSET_PATH: &[u8] = b"/__skiff__/listing.css";

/// The style sheet itself.
pub(crate) const CSS: &str = include_str!("listing.css");
/// Where the listing's script is (with `--upload`: drag and drop).
pub(crate) const SCRIPT_PATH: &[u8] = b"/__skiff__/listing.js";
/// The script: it only enhances the page (see the file).
pub(crate) const SCRIPT: &str = include_str!("listing.js");

/// How a listing is ordered (`?sort=...&order=...`); folders always come
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Sort {
    pub(crate) key: SortKey,
    pub(crate) desc: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum SortKey {
    #[default]
    Name,
    Size,
    Time,
}

impl Sort {
    /// From a query string: `sort=name|size|time`, `order=asc|desc`;
    /// anything else is the default (name, ascending).
    pub(crate) fn from_query(query: Option<&[u8]>) -> Sort {
        let mut sort = Sort::default();
        for pair in query.unwrap_or_default().split(|&c| c == b'&') {
            match pair {
                b"sort=name" => sort.key = SortKey::Name,
                b"sort=size" => sort.key = SortKey::Size,
                b"sort=time" => sort.key = SortKey::Time,
                b"order=asc" => sort.desc = false,
                b"order=desc" => sort.desc = true,
                _ => {}
            }
        }
        sort
    }

    fn query(key: SortKey, desc: bool) -> String {
        let k = match key {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Time => "time",
        };
        format!("?sort={k}&order={}", if desc { "desc" } else { "asc" })
    }

    /// Folders first; then by the key (ties by name), reversed for desc.
    fn apply(self, entries: &mut [Entry]) {
        entries.sort_by(|a, b| {
            let by = match self.key {
                SortKey::Name => a.name.cmp(&b.name),
                SortKey::Size => a.size.cmp(&b.size).then_with(|| a.name.cmp(&b.name)),
                SortKey::Time => a
                    .modified
                    .cmp(&b.modified)
                    .then_with(|| a.name.cmp(&b.name)),
            };
            b.is_dir
                .cmp(&a.is_dir)
                .then(if self.desc { by.reverse() } else { by })
        });
    }
}

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

/// What a listing page offers besides its links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Offers {
    /// Each folder as `.tar`, `.tar.gz` and `.zip` (`--archives`).
    pub(crate) archives: bool,
    /// A form to upload files into this folder (`--upload`), and the
    /// script that adds drag and drop.
    pub(crate) upload: bool,
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
/// `base`: the site's base path (`--base-path`), which the breadcrumb
/// starts at and the style sheet is under.
pub(crate) fn render(
    lookup: &Lookup<'_>,
    dir: &Path,
    path: &[u8],
    json: bool,
    sort: Sort,
    base: &[u8],
) -> io::Result<Vec<u8>> {
    let mut list = read(lookup, dir)?;
    sort.apply(&mut list.entries);
    let now = crate::http::date::unix_secs(SystemTime::now());
    Ok(if json {
        self::json(path, &list)
    } else {
        let offers = Offers {
            upload: lookup.upload_dir.is_some_and(|u| dir.starts_with(u)),
            ..lookup.offers
        };
        html(path, &list, sort, base, now, offers)
    })
}

/// Bytes in binary units: `512 B`, `4.2 KiB`, `3.0 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// How long ago `then` was at `now` (both Unix seconds): `just now`,
/// `5 min ago`, `3 h ago`, `12 days ago`; past 30 days, the date.
pub(crate) fn ago(now: u64, then: u64) -> String {
    let d = now.saturating_sub(then);
    match d {
        0..=59 => "just now".into(),
        60..=3_599 => format!("{} min ago", d / 60),
        3_600..=86_399 => format!("{} h ago", d / 3_600),
        86_400..=172_799 => "yesterday".into(),
        172_800..=2_591_999 => format!("{} days ago", d / 86_400),
        _ => {
            let text = crate::http::date::Utc::from_unix(then).iso(b' ');
            String::from_utf8_lossy(&text[..10]).into_owned()
        }
    }
}

/// A marker for a kind of file, by its name's extension: a short label
/// the style sheet colours (text, not an emoji: it needs no font the
/// reader may lack).
fn marker(e: &Entry) -> (&'static str, &'static str) {
    if e.is_dir {
        return ("dir", "DIR");
    }
    let ext = e
        .name
        .iter()
        .rposition(|&c| c == b'.')
        .map(|i| e.name[i + 1..].to_ascii_lowercase())
        .unwrap_or_default();
    match &ext[..] {
        b"png" | b"jpg" | b"jpeg" | b"gif" | b"webp" | b"svg" | b"avif" | b"bmp" | b"ico" => {
            ("img", "IMG")
        }
        b"mp4" | b"webm" | b"mkv" | b"mov" | b"avi" => ("vid", "VID"),
        b"mp3" | b"ogg" | b"flac" | b"wav" | b"m4a" | b"opus" => ("aud", "AUD"),
        b"zip" | b"tar" | b"gz" | b"tgz" | b"xz" | b"zst" | b"br" | b"7z" | b"bz2" => {
            ("zip", "ZIP")
        }
        b"pdf" => ("pdf", "PDF"),
        b"html" | b"htm" | b"css" | b"js" | b"mjs" | b"json" | b"xml" | b"rs" | b"py" | b"c"
        | b"h" | b"sh" | b"toml" | b"yaml" | b"yml" | b"md" | b"txt" | b"csv" => ("txt", "TXT"),
        _ => ("bin", "FILE"),
    }
}

/// The directory's path as shown: `/` or `/a/b/`.
fn shown_path(path: &[u8]) -> Vec<u8> {
    let mut p = path.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p
}

/// The HTML page for `listing` of the directory at request path `path`
/// (`base`: the site's base path), sorted by `sort`, its times relative
/// to `now` (Unix seconds).
pub(crate) fn html(
    path: &[u8],
    listing: &Listing,
    sort: Sort,
    base: &[u8],
    now: u64,
    offers: Offers,
) -> Vec<u8> {
    let shown = shown_path(path);
    let title = escape_html(&String::from_utf8_lossy(&shown));
    // The links are relative to the folder's own path with its slash, also
    // when it is served without one (`--trailing-slash never`).
    let mut href_base = Vec::new();
    crate::files::resolve::encode_path(&shown, &mut href_base);
    let href_base = String::from_utf8_lossy(&href_base);
    let mut css = Vec::new();
    crate::files::resolve::encode_path(base, &mut css);
    css.extend_from_slice(ASSET_PATH);
    let css = String::from_utf8_lossy(&css);
    let mut script = Vec::new();
    crate::files::resolve::encode_path(base, &mut script);
    script.extend_from_slice(SCRIPT_PATH);
    let script = String::from_utf8_lossy(&script);
    let mut out = String::with_capacity(1024 + listing.entries.len() * 240);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <base href=\"{href_base}\"><title>Index of {title}</title>\n\
         <link rel=\"stylesheet\" href=\"{css}\">"
    );
    if offers.upload {
        let _ = write!(out, "<script src=\"{script}\" defer></script>");
    }
    out.push_str("</head>\n<body>\n");
    // The breadcrumb: the site's root, then each folder down to this one.
    out.push_str("<nav class=\"crumbs\">");
    let within = shown.strip_prefix(base).unwrap_or(&shown);
    let mut link = base.to_vec();
    let _ = write!(
        out,
        "<a href=\"{}/\">Home</a>",
        escape_html(&String::from_utf8_lossy(&encoded(&link)))
    );
    for seg in within.split(|&c| c == b'/').filter(|s| !s.is_empty()) {
        link.push(b'/');
        link.extend_from_slice(seg);
        let _ = write!(
            out,
            "<span class=\"sep\">/</span><a href=\"{}/\">{}</a>",
            escape_html(&String::from_utf8_lossy(&encoded(&link))),
            escape_html(&String::from_utf8_lossy(seg))
        );
    }
    out.push_str("</nav>\n");
    if offers.archives {
        // This folder as one download, in each format.
        out.push_str("<p class=\"downloads\">Download this folder:");
        download_links(&mut out, "", ".");
        out.push_str("</p>\n");
    }
    if offers.upload {
        // Posts to this folder (the page's base); works without script.
        out.push_str(
            "<form class=\"upload\" method=\"post\" enctype=\"multipart/form-data\" action=\"./\">\
             <label>Upload files here: <input type=\"file\" name=\"file\" multiple></label> \
             <button type=\"submit\">Upload</button> <span class=\"status\" role=\"status\">or drop files on this page</span></form>\n",
        );
    }
    out.push_str("<table>\n<tr>");
    for (key, label, class) in [
        (SortKey::Name, "Name", "name"),
        (SortKey::Size, "Size", "size"),
        (SortKey::Time, "Modified", "time"),
    ] {
        // A column's link sorts by it; on the sorted column it flips.
        let on = sort.key == key;
        let desc = on && !sort.desc;
        let arrow = match (on, sort.desc) {
            (false, _) => "",
            (true, false) => " ↑",
            (true, true) => " ↓",
        };
        let _ = write!(
            out,
            "<th class=\"{class}\"><a{} href=\"{}\">{label}{arrow}</a></th>",
            if on { " class=\"on\"" } else { "" },
            Sort::query(key, desc).replace('&', "&amp;")
        );
    }
    out.push_str("</tr>\n");
    if within.iter().any(|&c| c != b'/') {
        out.push_str("<tr><td class=\"name\"><span class=\"kind k-up\" aria-hidden=\"true\">UP</span><a href=\"../\">../</a></td><td class=\"size\"></td><td class=\"time\"></td></tr>\n");
    }
    for e in &listing.entries {
        let slash = if e.is_dir { "/" } else { "" };
        let href = percent_encode(&e.name, NAME_ENCODE);
        let name = escape_html(&String::from_utf8_lossy(&e.name));
        let size = if e.is_dir {
            "<td class=\"size\">-</td>".to_string()
        } else {
            format!(
                "<td class=\"size\" title=\"{} bytes\">{}</td>",
                e.size,
                human_size(e.size)
            )
        };
        let when = match e.modified {
            Some(m) => format!(
                "<td class=\"time\" title=\"{} UTC\">{}</td>",
                utc(m, ' '),
                ago(now, crate::http::date::unix_secs(m))
            ),
            None => "<td class=\"time\"></td>".to_string(),
        };
        let (kind, label) = marker(e);
        // A folder's own downloads, beside its name.
        let mut downloads = String::new();
        if offers.archives && e.is_dir {
            downloads.push_str("<span class=\"dls\">");
            download_links(&mut downloads, &format!("{href}/"), "");
            downloads.push_str("</span>");
        }
        let _ = writeln!(
            out,
            "<tr><td class=\"name\"><span class=\"kind k-{kind}\" aria-hidden=\"true\">{label}</span>\
             <a href=\"{href}{slash}\">{name}{slash}</a>{downloads}</td>{size}{when}</tr>"
        );
    }
    out.push_str("</table>\n");
    if listing.truncated {
        let _ = writeln!(
            out,
            "<p class=\"note\">Only the first {MAX_ENTRIES} entries are listed.</p>"
        );
    }
    let _ = writeln!(out, "<footer>{SERVER}</footer></body></html>");
    out.into_bytes()
}

/// A link per archive format to the folder at `href` (relative, with its
/// slash; empty for this one), each shown as `dot` and the format's name.
fn download_links(out: &mut String, href: &str, dot: &str) {
    for f in Format::ALL {
        let _ = write!(
            out,
            " <a class=\"dl\" href=\"{href}?download={0}\" download>{dot}{0}</a>",
            f.name()
        );
    }
}

/// A path's bytes percent-encoded for a link (`/` kept).
fn encoded(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    crate::files::resolve::encode_path(path, &mut out);
    out
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
    fn sizes_times_and_sorting() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(4300), "4.2 KiB");
        assert_eq!(human_size(5_162_143), "4.9 MiB");
        assert_eq!(human_size(50 * 1024 * 1024), "50 MiB");
        assert_eq!(human_size(u64::MAX), "16 EiB");
        assert_eq!(ago(1000, 990), "just now");
        assert_eq!(ago(10_000, 10_000 - 300), "5 min ago");
        assert_eq!(ago(100_000, 100_000 - 7_200), "2 h ago");
        assert_eq!(ago(1_000_000, 1_000_000 - 90_000), "yesterday");
        assert_eq!(ago(10_000_000, 10_000_000 - 5 * 86_400), "5 days ago");
        assert_eq!(ago(1_764_000_000, 0), "1970-01-01");
        assert_eq!(ago(0, 100), "just now", "a time in the future");
        let q = |s: &str| Sort::from_query(Some(s.as_bytes()));
        assert_eq!(
            q("sort=size&order=desc"),
            Sort {
                key: SortKey::Size,
                desc: true
            }
        );
        assert_eq!(
            q("order=desc&x=1&sort=time"),
            Sort {
                key: SortKey::Time,
                desc: true
            }
        );
        assert_eq!(q("sort=bogus"), Sort::default());
        let e = |name: &str, dir: bool, size: u64, t: u64| Entry {
            name: name.as_bytes().to_vec(),
            is_dir: dir,
            size,
            modified: Some(UNIX_EPOCH + Duration::from_secs(t)),
        };
        let mut list = vec![
            e("b", false, 1, 30),
            e("z", true, 0, 5),
            e("a", false, 9, 20),
            e("c", false, 9, 10),
        ];
        let names = |l: &[Entry]| {
            l.iter()
                .map(|x| String::from_utf8(x.name.clone()).unwrap())
                .collect::<Vec<_>>()
        };
        q("sort=size&order=desc").apply(&mut list);
        assert_eq!(
            names(&list),
            ["z", "c", "a", "b"],
            "folders first, ties reversed by name too"
        );
        q("sort=time").apply(&mut list);
        assert_eq!(names(&list), ["z", "c", "a", "b"]);
        q("sort=name&order=desc").apply(&mut list);
        assert_eq!(names(&list), ["z", "c", "b", "a"]);
    }

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
        let page = String::from_utf8(html(
            b"/x&y",
            &listing,
            Sort::default(),
            b"",
            0,
            Offers::default(),
        ))
        .unwrap();
        assert!(page.contains("<title>Index of /x&amp;y/</title>"), "{page}");
        assert!(page.contains(
            "<a href=\"%3Cb%3E%26%22%27.txt\">&lt;b&gt;&amp;&quot;&#39;.txt</a></td><td class=\"size\" title=\"7 bytes\">7 B</td><td class=\"time\" title=\"1970-01-01 00:00:00 UTC\">just now</td>"
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
