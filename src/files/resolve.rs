//! From a request target to an open file under the document root.
//!
//! The pipeline, top to bottom:
//! 1. Take the path of the target (origin-form, or absolute-form with its
//!    scheme and authority dropped); the query plays no part in finding the
//!    file.
//! 2. Percent-decode it exactly once. A malformed escape, or a decoded NUL,
//!    CR or LF, is 400. A decoded `/` (`%2F`) separates segments like a literal one.
//! 3. Normalise: drop empty and `.` segments, let `..` remove the segment
//!    before it; a `..` that would climb above the root is 400. A backslash
//!    is an ordinary byte.
//! 4. Join the segments under the canonical root and canonicalise the
//!    result; a path that leaves the root through a symlink is 403.
//! 5. Hidden names: unless `--show-hidden`, a path with any segment that
//!    starts with `.` is 404, both as asked and once symlinks are resolved
//!    (so `a.txt -> .env` is hidden too). `.well-known` (RFC 8615: ACME
//!    challenges, `security.txt`) is the one dot-name that is not hidden.
//! 6. A directory requested without a trailing slash is a 301 to the same
//!    path plus `/` (query kept); with the slash, the first of its index
//!    names that exists (`--index`, default `index.html`) is served (checked
//!    the same way); without one it is listed (`--list-dirs`, see
//!    [`crate::files::listing`]) or 404.
//! 7. Open the file (non-blocking, so a FIFO can never stall the loop, and
//!    without following a last-moment symlink) and check it is a regular
//!    file. Permission denied is 403.
//! 8. With `--precompressed`, `NAME.br` and `NAME.gz` beside the file are
//!    found the same way (all of the checks above) and kept as its
//!    encoded variants; the reply picks one by `Accept-Encoding`.
//!
//! This module must never return a file outside the root, never a hidden
//! one unless asked, and it never reads file contents.

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, CONTROLS, percent_encode};

use crate::http::conditional::ETag;
use crate::http::response::Status;
use crate::http::target::Target;

/// The name served for a directory requested with a trailing slash.
pub(crate) const INDEX: &str = "index.html";

/// Bytes encoded again when a normalised path goes back on the wire (in a
/// `Location`): controls, space, non-ASCII (always), and the characters
/// that would change the meaning of a path.
const PATH_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// How targets are looked up: the root and the flags that change what is
/// found.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// Canonical document root.
    pub root: &'a Path,
    /// Serve and list names starting with `.` (`--show-hidden`).
    pub show_hidden: bool,
    /// A directory without `index.html` is listed, not 404 (`--list-dirs`).
    pub list_dirs: bool,
    /// What a listing offers besides its links (`--archives`, `--upload`).
    pub(crate) offers: crate::files::listing::Offers,
    /// `--upload`'s folder (canonical): listings in it offer the upload
    /// form.
    pub(crate) upload_dir: Option<&'a Path>,
    /// Find `.br` and `.gz` variants beside each file (`--precompressed`).
    pub precompressed: bool,
    /// The names served for a directory, tried in order (`--index`);
    /// `None`: [`INDEX`] alone.
    pub index: Option<&'a [Box<str>]>,
    /// Which site (virtual host) looks: 0 for the default one. A cache
    /// keeps each site's lookups apart.
    pub site: u16,
}

impl<'a> Lookup<'a> {
    /// The defaults: hidden names hidden, no listings, no variants.
    pub fn new(root: &'a Path) -> Lookup<'a> {
        Lookup {
            root,
            show_hidden: false,
            list_dirs: false,
            offers: crate::files::listing::Offers::default(),
            upload_dir: None,
            precompressed: false,
            index: None,
            site: 0,
        }
    }

    /// The index names, in order.
    pub(crate) fn index_names(&self) -> impl Iterator<Item = &str> {
        let default: &[&str] = &[INDEX];
        let (given, default) = match self.index {
            Some(names) => (names, &[][..]),
            None => (&[][..], default),
        };
        given.iter().map(|n| &**n).chain(default.iter().copied())
    }
}

/// Whether a file name is hidden: it starts with `.`, and is not
/// `.well-known`.
pub fn is_hidden(name: &[u8]) -> bool {
    name.first() == Some(&b'.') && name != b".well-known"
}

/// A target's path after decoding and normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized<'t> {
    /// Decoded, normalised, absolute: `/` or `/a/b` (never a trailing
    /// slash, never `.`/`..`/empty segments, never a NUL).
    pub path: Vec<u8>,
    /// The request named a directory: it ended with `/` (or `/.`, `/..`).
    pub(crate) trailing_slash: bool,
    /// The raw query string after `?`, if any.
    pub(crate) query: Option<&'t [u8]>,
}

impl Normalized<'_> {
    /// The path relative to the root (no leading slash).
    pub fn relative(&self) -> &OsStr {
        OsStr::from_bytes(&self.path[1..])
    }

    /// The last segment ("" for the root).
    pub(crate) fn file_name(&self) -> &[u8] {
        match self.path.iter().rposition(|&c| c == b'/') {
            Some(i) => &self.path[i + 1..],
            None => &self.path,
        }
    }
}

/// Steps 1 to 3: pure, no file system.
pub fn normalize(target: &[u8]) -> Result<Normalized<'_>, Status> {
    let (raw_path, query) = match crate::http::target::parse(target) {
        Some(Target::Path { path, query }) => (path, query),
        Some(Target::Asterisk) | None => return Err(Status::BadRequest),
    };
    let decoded = percent_decode_strict(raw_path)?;
    // NUL cannot be in a file name; a decoded CR or LF would end a line of
    // a log or a header the path is copied into.
    if decoded.iter().any(|&c| matches!(c, 0 | b'\r' | b'\n')) {
        return Err(Status::BadRequest);
    }
    let mut path = Vec::with_capacity(decoded.len());
    let mut trailing_slash = false;
    for seg in decoded.split(|&c| c == b'/') {
        trailing_slash = false;
        match seg {
            b"" | b"." => trailing_slash = true,
            b".." => {
                if path.is_empty() {
                    return Err(Status::BadRequest);
                }
                let cut = path.iter().rposition(|&c| c == b'/').unwrap_or(0);
                path.truncate(cut);
                trailing_slash = true;
            }
            _ => {
                path.push(b'/');
                path.extend_from_slice(seg);
            }
        }
    }
    if path.is_empty() {
        path.push(b'/');
        trailing_slash = true;
    }
    Ok(Normalized {
        path,
        trailing_slash,
        query,
    })
}

/// Decodes `%XX` escapes once; a `%` not followed by two hex digits is 400.
fn percent_decode_strict(raw: &[u8]) -> Result<Vec<u8>, Status> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(Status::BadRequest),
            }
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// What a target resolves to.
#[derive(Debug)]
pub enum Resolution {
    /// A regular file under the root (shared: a cache hands out clones).
    File(Arc<Found>),
    /// A directory asked for without its slash: the `Location` to send.
    Redirect(Vec<u8>),
    /// A directory without an index, to be listed (`--list-dirs` only).
    Directory {
        /// Its canonical path.
        dir: PathBuf,
        /// The normalised request path (`/` or `/a/b`), for the title.
        path: Vec<u8>,
    },
}

/// A content coding a variant is stored in (on disk with
/// `--precompressed`: br and gzip; made on the fly: all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Coding {
    Br,
    Zstd,
    Gzip,
}

impl Coding {
    /// In the order a tie between equal weights goes: br compresses web
    /// text smallest (its built-in dictionary is made of web content),
    /// zstd is close behind and decodes fastest, gzip is what every client
    /// has.
    pub(crate) const PREFERENCE: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

    /// The `Content-Encoding` value.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of the file holding it.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Zstd => ".zst",
            Coding::Gzip => ".gz",
        }
    }

    /// Position in [`Coding::PREFERENCE`].
    pub(crate) fn index(self) -> usize {
        match self {
            Coding::Br => 0,
            Coding::Zstd => 1,
            Coding::Gzip => 2,
        }
    }
}

/// Precompressed copies of a file (`--precompressed`), each a file found
/// with every check a request gets.
#[derive(Debug, Clone, Default)]
pub struct Variants {
    pub br: Option<Arc<Found>>,
    pub gzip: Option<Arc<Found>>,
}

impl Variants {
    pub(crate) fn get(&self, coding: Coding) -> Option<&Arc<Found>> {
        match coding {
            Coding::Br => self.br.as_ref(),
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Zstd => None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.br.is_none() && self.gzip.is_none()
    }
}

/// Where a found file's bytes come from: shared, so a cached file serves
/// many responses at once.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The whole content, held in memory (small cached files).
    Bytes(Arc<[u8]>),
    /// An open file, read with positioned reads or sendfile (which never
    /// move a shared file position).
    File(Arc<File>),
}

/// A regular file under the root and what the response needs to know
/// about it.
#[derive(Debug, Clone)]
pub struct Found {
    pub(crate) source: Source,
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
    /// `modified` as an HTTP date, rendered once.
    pub(crate) modified_text: Option<[u8; crate::http::date::HTTP_DATE_LEN]>,
    pub(crate) etag: ETag,
    /// Its content type, from the name the client asked for.
    pub(crate) mime: &'static str,
    /// The canonical path (under the root).
    pub path: PathBuf,
    /// Device, inode, size and modification time: what says the file on
    /// disk is still this one.
    pub(crate) identity: (u64, u64, u64, i64, i64),
    /// Its precompressed variants (none unless `--precompressed`).
    pub variants: Variants,
}

/// Device, inode, size and modification time: what says a file is
/// still the version that was looked at.
pub(crate) fn identity_of(meta: &Metadata) -> (u64, u64, u64, i64, i64) {
    (
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

impl Found {
    fn new(file: File, meta: &Metadata, mime: &'static str, path: PathBuf) -> Found {
        let modified = meta.modified().ok();
        Found {
            source: Source::File(Arc::new(file)),
            len: meta.len(),
            modified,
            modified_text: modified.map(crate::http::date::http_date_text),
            etag: ETag::of(meta),
            mime,
            path,
            identity: identity_of(meta),
            variants: Variants::default(),
        }
    }

    /// The same file on disk, with the same variants: nothing a response
    /// would show has changed.
    pub(crate) fn same_as(&self, other: &Found) -> bool {
        let same_variant = |a: Option<&Arc<Found>>, b: Option<&Arc<Found>>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_as(b),
            _ => false,
        };
        self.identity == other.identity
            && self.path == other.path
            && same_variant(self.variants.br.as_ref(), other.variants.br.as_ref())
            && same_variant(self.variants.gzip.as_ref(), other.variants.gzip.as_ref())
    }
}

/// Steps 1 to 7 with the defaults of [`Lookup::new`]. `root` must be
/// canonical.
pub fn resolve(root: &Path, target: &[u8]) -> Result<Resolution, Status> {
    resolve_with(&Lookup::new(root), target)
}

/// Steps 1 to 8. `lookup.root` must be canonical.
pub fn resolve_with(lookup: &Lookup<'_>, target: &[u8]) -> Result<Resolution, Status> {
    let norm = normalize(target)?;
    if !lookup.show_hidden && norm.path.split(|&c| c == b'/').any(is_hidden) {
        return Err(Status::NotFound);
    }
    let asked = lookup.root.join(norm.relative());
    let canonical = contained(lookup, &asked)?;
    let meta = std::fs::metadata(&canonical).map_err(|e| io_status(&e))?;
    if meta.is_dir() {
        if !norm.trailing_slash {
            return Ok(Resolution::Redirect(location_with_slash(&norm)));
        }
        // The first index name that is there (any other error, a symlink
        // out or a forbidden file, is the answer).
        for name in lookup.index_names() {
            let index_path = canonical.join(name);
            match contained(lookup, &index_path) {
                Err(Status::NotFound) => continue,
                Err(status) => return Err(status),
                Ok(index) => {
                    let found = open_regular(index, mime_for(name.as_bytes()))?;
                    return Ok(Resolution::File(with_variants(lookup, found, &index_path)));
                }
            }
        }
        return if lookup.list_dirs {
            Ok(Resolution::Directory {
                dir: canonical,
                path: norm.path,
            })
        } else {
            Err(Status::NotFound)
        };
    }
    if norm.trailing_slash {
        // `/file.txt/` names a directory that is not one.
        return Err(Status::NotFound);
    }
    let found = open_regular(canonical, mime_for(norm.file_name()))?;
    Ok(Resolution::File(with_variants(lookup, found, &asked)))
}

/// Step 8: finds `asked.br` and `asked.gz` when `--precompressed` is on.
fn with_variants(lookup: &Lookup<'_>, mut found: Found, asked: &Path) -> Arc<Found> {
    if lookup.precompressed {
        let variant = |coding: Coding| {
            let mut name = asked.as_os_str().to_owned();
            name.push(coding.suffix());
            let path = contained(lookup, Path::new(&name)).ok()?;
            open_regular(path, found.mime).ok().map(Arc::new)
        };
        found.variants = Variants {
            br: variant(Coding::Br),
            gzip: variant(Coding::Gzip),
        };
    }
    Arc::new(found)
}

/// Canonicalises `path` and checks it is still under the root (else 403),
/// and not hidden once symlinks are resolved (else 404, unless hidden names
/// are shown).
pub(crate) fn contained(lookup: &Lookup<'_>, path: &Path) -> Result<PathBuf, Status> {
    let canonical = std::fs::canonicalize(path).map_err(|e| io_status(&e))?;
    let Ok(inside) = canonical.strip_prefix(lookup.root) else {
        return Err(Status::Forbidden);
    };
    if !lookup.show_hidden
        && inside
            .components()
            .any(|c| is_hidden(c.as_os_str().as_bytes()))
    {
        return Err(Status::NotFound);
    }
    Ok(canonical)
}

fn open_regular(path: PathBuf, mime: &'static str) -> Result<Found, Status> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| io_status(&e))?;
    let meta = file.metadata().map_err(|e| io_status(&e))?;
    if !meta.is_file() {
        return Err(if meta.is_dir() {
            Status::NotFound
        } else {
            Status::Forbidden
        });
    }
    Ok(Found::new(file, &meta, mime, path))
}

/// The status for a file-system error met while resolving.
pub(crate) fn io_status(e: &io::Error) -> Status {
    match e.kind() {
        io::ErrorKind::NotFound => Status::NotFound,
        io::ErrorKind::PermissionDenied => Status::Forbidden,
        _ => match e.raw_os_error() {
            Some(libc::ENOTDIR) | Some(libc::ENAMETOOLONG) => Status::NotFound,
            // A symlink where O_NOFOLLOW met one, or a loop of them.
            Some(libc::ELOOP) => Status::Forbidden,
            // Out of descriptors: a passing overload, not a broken file.
            Some(libc::EMFILE) | Some(libc::ENFILE) => Status::ServiceUnavailable,
            _ => Status::InternalServerError,
        },
    }
}

/// Appends decoded path bytes to a URL path, percent-encoded where a
/// byte would change its meaning (`/` stays).
pub(crate) fn encode_path(path: &[u8], out: &mut Vec<u8>) {
    for chunk in percent_encode(path, PATH_ENCODE) {
        out.extend_from_slice(chunk.as_bytes());
    }
}

/// `Location` for a directory: the normalised path, encoded, plus `/`,
/// plus the query as sent. Starts with exactly one `/`.
fn location_with_slash(norm: &Normalized<'_>) -> Vec<u8> {
    let mut loc: Vec<u8> = Vec::with_capacity(norm.path.len() + 8);
    for chunk in percent_encode(&norm.path, PATH_ENCODE) {
        loc.extend_from_slice(chunk.as_bytes());
    }
    loc.push(b'/');
    if let Some(q) = norm.query {
        loc.push(b'?');
        loc.extend_from_slice(q);
    }
    loc
}

/// The content type for a file name, by its extension.
pub(crate) fn mime_for(name: &[u8]) -> &'static str {
    const OCTET: &str = "application/octet-stream";
    let Some(dot) = name.iter().rposition(|&c| c == b'.') else {
        return OCTET;
    };
    let Ok(ext) = std::str::from_utf8(&name[dot + 1..]) else {
        return OCTET;
    };
    match ext.to_ascii_lowercase().as_str() {
        // mime_guess says text/javascript for .js in some versions and
        // application/javascript in others; pin the RFC 9239 one.
        "js" | "mjs" => "text/javascript",
        _ => mime_guess::from_ext(ext).first_raw().unwrap_or(OCTET),
    }
}

/// `--index a.html,b.htm` -> the names. Each is one file name: not empty,
/// no `/`, not `.` or `..`.
pub(crate) fn parse_index(spec: &str) -> Result<Box<[Box<str>]>, String> {
    let names: Vec<Box<str>> = spec.split(',').map(|n| n.trim().into()).collect();
    for name in &names {
        if name.is_empty()
            || name.contains('/')
            || name.contains('\0')
            || &**name == "."
            || &**name == ".."
        {
            return Err(format!("--index '{spec}': '{name}' is not a file name"));
        }
    }
    Ok(names.into_boxed_slice())
}

/// `--fallback FILE` (relative to the root, with or without a leading
/// `/`) -> the request target that finds it, checked now: a regular file
/// under the root.
pub(crate) fn fallback_target(root: &std::path::Path, file: &str) -> Result<Box<[u8]>, String> {
    let rel = file.trim_start_matches('/');
    let path = root.join(rel);
    let shown = || format!("--fallback '{file}'");
    let canonical = std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", shown()))?;
    if !canonical.starts_with(root) {
        return Err(format!("{}: not under the root", shown()));
    }
    if !std::fs::metadata(&canonical)
        .map(|m| m.is_file())
        .unwrap_or(false)
    {
        return Err(format!("{}: not a regular file", shown()));
    }
    let mut target = Vec::new();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        target.push(b'/');
        target.extend(
            percent_encoding::utf8_percent_encode(seg, percent_encoding::NON_ALPHANUMERIC)
                .flat_map(|s| s.bytes()),
        );
    }
    Ok(target.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(t: &str) -> Result<(String, bool), Status> {
        normalize(t.as_bytes()).map(|n| {
            (
                String::from_utf8_lossy(&n.path).into_owned(),
                n.trailing_slash,
            )
        })
    }

    #[test]
    fn plain_paths() {
        assert_eq!(norm("/"), Ok(("/".into(), true)));
        assert_eq!(norm("/a.txt"), Ok(("/a.txt".into(), false)));
        assert_eq!(norm("/dir/"), Ok(("/dir".into(), true)));
        assert_eq!(norm("//a//b"), Ok(("/a/b".into(), false)));
        assert_eq!(norm("/a/./b/."), Ok(("/a/b".into(), true)));
        assert_eq!(norm("/a/b/../c"), Ok(("/a/c".into(), false)));
        assert_eq!(norm("/a/.."), Ok(("/".into(), true)));
    }

    #[test]
    fn query_is_split_off() {
        let n = normalize(b"/a.txt?x=1&y=/../..").unwrap();
        assert_eq!(n.path, b"/a.txt");
        assert_eq!(n.query, Some(&b"x=1&y=/../.."[..]));
    }

    #[test]
    fn escapes_above_root_are_refused_in_every_encoding() {
        for t in [
            "/..",
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/..%2f..%2fx",
            "/.%2e/x",
            "/a/%2e%2e/%2e%2e/x",
        ] {
            assert_eq!(norm(t), Err(Status::BadRequest), "{t}");
        }
        // Decoded once only: %252e is the literal name "%2e".
        assert_eq!(norm("/%252e%252e/x"), Ok(("/%2e%2e/x".into(), false)));
        // A backslash is an ordinary byte.
        assert_eq!(norm("/..\\x"), Ok(("/..\\x".into(), false)));
    }

    #[test]
    fn bad_escapes_and_nul() {
        for t in [
            "/a%",
            "/a%2",
            "/a%zz",
            "/a%00b",
            "/a%0Db",
            "/a%0ab",
            "/a%0d%0aX: y",
            "a.txt",
            "*",
        ] {
            assert_eq!(norm(t), Err(Status::BadRequest), "{t}");
        }
        assert_eq!(norm("/caf%C3%A9"), Ok(("/café".into(), false)));
    }

    #[test]
    fn absolute_form() {
        assert_eq!(
            norm("http://example.com/a.txt"),
            Ok(("/a.txt".into(), false))
        );
        assert_eq!(norm("HTTP://example.com"), Ok(("/".into(), true)));
        assert_eq!(norm("https://h:1/x/?q"), Ok(("/x".into(), true)));
        assert_eq!(norm("ftp://h/x"), Err(Status::BadRequest));
    }

    #[test]
    fn redirect_location() {
        let n = normalize(b"//sub%20dir/../my%20dir?x=1").unwrap();
        assert_eq!(location_with_slash(&n), b"/my%20dir/?x=1");
        let n = normalize(b"/a/").unwrap();
        assert!(!location_with_slash(&n).starts_with(b"//"));
    }

    #[test]
    fn mime_types() {
        let cases = [
            ("a.html", "text/html"),
            ("a.htm", "text/html"),
            ("a.txt", "text/plain"),
            ("a.jpg", "image/jpeg"),
            ("a.JPEG", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.png", "image/png"),
            ("a.mp4", "video/mp4"),
            ("a.pdf", "application/pdf"),
            ("a.css", "text/css"),
            ("a.js", "text/javascript"),
            ("a.svg", "image/svg+xml"),
            ("a.json", "application/json"),
            ("a.unknownext", "application/octet-stream"),
            ("noext", "application/octet-stream"),
        ];
        for (name, want) in cases {
            assert_eq!(mime_for(name.as_bytes()), want, "{name}");
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        use std::path::Component;

        /// Targets built from the pieces traversal attempts are made of.
        fn hostile_target() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just("/"),
                    Just("."),
                    Just(".."),
                    Just("%2e"),
                    Just("%2E"),
                    Just("%2f"),
                    Just("%2F"),
                    Just("%5c"),
                    Just("\\"),
                    Just("%00"),
                    Just("%"),
                    Just("%25"),
                    Just("?"),
                    Just("a"),
                    Just("sub"),
                    Just("link"),
                    Just("secret.txt"),
                    Just("index.html"),
                    Just("%c0%ae"),
                ],
                0..24,
            )
            .prop_map(|parts| parts.concat())
        }

        proptest! {
            #[test]
            fn normalised_paths_never_climb(target in hostile_target()) {
                if let Ok(n) = normalize(target.as_bytes()) {
                    prop_assert!(n.path.starts_with(b"/"));
                    prop_assert!(!n.path.contains(&0));
                    let joined = Path::new("/root").join(n.relative());
                    prop_assert!(joined.starts_with("/root"));
                    prop_assert!(joined.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_))));
                }
            }
        }

        #[test]
        fn resolution_never_leaves_the_root() {
            let base = std::env::temp_dir().join(format!("skiff-prop-{}", std::process::id()));
            let root = base.join("root");
            std::fs::create_dir_all(root.join("sub")).unwrap();
            std::fs::write(base.join("secret.txt"), "secret").unwrap();
            std::fs::write(root.join("index.html"), "i").unwrap();
            std::fs::write(root.join("sub/index.html"), "s").unwrap();
            let _ = std::os::unix::fs::symlink(&base, root.join("link"));
            let _ =
                std::os::unix::fs::symlink(base.join("secret.txt"), root.join("sub/secret.txt"));
            let root = std::fs::canonicalize(&root).unwrap();
            let mut runner = TestRunner::default();
            let result = runner.run(&hostile_target(), |target| {
                if let Ok(Resolution::File(found)) = resolve(&root, target.as_bytes()) {
                    prop_assert!(
                        found.path.starts_with(&root),
                        "{} -> {:?}",
                        target,
                        found.path
                    );
                }
                Ok(())
            });
            std::fs::remove_dir_all(&base).unwrap();
            result.unwrap();
        }
    }
}
