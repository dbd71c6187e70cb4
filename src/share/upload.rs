//! Uploads (`--upload`): `PUT /dir/name` with the file as the body, or a
//! `multipart/form-data` POST to a folder (the listing's form), each file
//! streamed to disk on the worker pool.
//!
//! - **Where.** Into an existing folder under the root, or under
//!   `--upload-dir` when it is given. The folder's path must have no
//!   symlink in it (its canonical path is the path asked for), and no
//!   hidden segment unless `--show-hidden`. The name is one path segment:
//!   not empty, `.` or `..`, no control characters, not hidden unless
//!   `--show-hidden`, at most 255 bytes (400 otherwise; 403 for hidden).
//!   A form's file name is cut to its last segment after `/` or `\` and
//!   its control characters dropped before those checks.
//! - **How.** The body goes to a temporary file in the target folder
//!   (`.skiff-upload-` and random hex: hidden, so never listed or served),
//!   written a piece at a time on the worker pool while the connection
//!   reads no more (the client's TCP window closes: backpressure). When
//!   the body is complete the file is renamed into place with
//!   `renameat2(RENAME_NOREPLACE)`, so an existing name is never replaced
//!   (409) unless `--upload-overwrite` (then an atomic `rename`: 204). An
//!   upload that ends early, or fails, leaves nothing behind: the
//!   temporary file is removed when the upload is dropped.
//! - **Answers.** 201 with `Location` for a new file (a form: the first
//!   file's, and a page linking every file stored); 204 for a replaced
//!   file; 409 for a name taken; 413 past `--upload-max-bytes` (the
//!   connection closes); 507 when the disk is full (ENOSPC, EDQUOT); 403
//!   where the file system refuses (EACCES, EPERM, EROFS) or the path has
//!   a symlink; 404 for a folder that does not exist; 400 for a bad name
//!   or a malformed form. A form stops at its first failure: files it
//!   stored before stay.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::files::resolve::is_hidden;
use crate::http::response::Status;
use crate::work::Offload;

/// Longest file name (Linux's NAME_MAX).
pub(crate) const NAME_MAX: usize = 255;
/// Longest part header section of a form.
const MAX_PART_HEAD: usize = 8 * 1024;
/// Prefix of the temporary files.
pub(crate) const TEMP_PREFIX: &str = ".skiff-upload-";

/// Why an upload failed, and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Past `--upload-max-bytes`.
    TooLarge,
    /// The name is taken (and `--upload-overwrite` is off), or is a
    /// folder.
    Exists,
    /// The disk (or the quota) is full.
    Full,
    /// The file system refused, or the path is not allowed.
    Refused,
    /// A bad name, or a malformed form.
    Bad,
    /// No such folder.
    Missing,
    /// Anything else the file system said.
    Io,
}

impl Failed {
    pub(crate) fn status(self) -> Status {
        match self {
            Failed::TooLarge => Status::ContentTooLarge,
            Failed::Exists => Status::Conflict,
            Failed::Full => Status::InsufficientStorage,
            Failed::Refused => Status::Forbidden,
            Failed::Bad => Status::BadRequest,
            Failed::Missing => Status::NotFound,
            Failed::Io => Status::InternalServerError,
        }
    }

    fn of(e: &io::Error) -> Failed {
        match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => Failed::Full,
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => Failed::Refused,
            Some(libc::EEXIST | libc::EISDIR | libc::ENOTEMPTY) => Failed::Exists,
            Some(libc::ENAMETOOLONG) => Failed::Bad,
            Some(libc::ENOENT | libc::ENOTDIR) => Failed::Missing,
            _ => Failed::Io,
        }
    }
}

/// A file stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) name: Vec<u8>,
    /// It replaced a file of that name (`--upload-overwrite`).
    pub(crate) replaced: bool,
    pub(crate) bytes: u64,
}

/// Checks a file name: one segment, not `.`/`..`, no control bytes or
/// NUL, not hidden (unless `show_hidden`), at most [`NAME_MAX`] bytes.
pub(crate) fn check_name(name: &[u8], show_hidden: bool) -> Result<(), Failed> {
    if name.is_empty()
        || name == b"."
        || name == b".."
        || name.len() > NAME_MAX
        || name.iter().any(|&c| c == b'/' || c < 0x20 || c == 0x7f)
    {
        return Err(Failed::Bad);
    }
    if !show_hidden && is_hidden(name) {
        return Err(Failed::Refused);
    }
    Ok(())
}

/// A form's file name made safe: its last segment after `/` or `\`, its
/// control characters dropped.
pub(crate) fn sanitise(name: &[u8]) -> Vec<u8> {
    let last = name
        .rsplit(|&c| c == b'/' || c == b'\\')
        .next()
        .unwrap_or_default();
    last.iter()
        .copied()
        .filter(|&c| c >= 0x20 && c != 0x7f)
        .collect()
}

/// What an upload writes into.
#[derive(Debug)]
pub(crate) enum Kind {
    /// The body is the file.
    Put { name: Vec<u8> },
    /// A `multipart/form-data` body with this boundary.
    Form { boundary: Vec<u8> },
}

/// The file being written.
struct Temp {
    file: File,
    path: PathBuf,
    name: Vec<u8>,
    bytes: u64,
}

/// One upload, moved to a worker for each piece.
pub(crate) struct Upload {
    dir: PathBuf,
    overwrite: bool,
    show_hidden: bool,
    kind: Kind,
    temp: Option<Temp>,
    stored: Vec<Stored>,
    form: FormParser,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(t) = self.temp.take() {
            let _ = std::fs::remove_file(&t.path);
        }
    }
}

impl Upload {
    /// An upload into `dir` (canonical, checked).
    pub(crate) fn new(dir: PathBuf, kind: Kind, overwrite: bool, show_hidden: bool) -> Upload {
        let form = match &kind {
            Kind::Form { boundary } => FormParser::new(boundary),
            Kind::Put { .. } => FormParser::new(b""),
        };
        Upload {
            dir,
            overwrite,
            show_hidden,
            kind,
            temp: None,
            stored: Vec::new(),
            form,
        }
    }

    fn begin(&mut self, name: Vec<u8>) -> Result<(), Failed> {
        check_name(&name, self.show_hidden)?;
        if !self.overwrite
            && self
                .dir
                .join(std::ffi::OsStr::from_bytes(&name))
                .symlink_metadata()
                .is_ok()
        {
            return Err(Failed::Exists);
        }
        let (file, path) = temp_file(&self.dir).map_err(|e| Failed::of(&e))?;
        self.temp = Some(Temp {
            file,
            path,
            name,
            bytes: 0,
        });
        Ok(())
    }

    fn write_file(&mut self, data: &[u8]) -> Result<(), Failed> {
        let Some(t) = &mut self.temp else {
            return Ok(());
        };
        t.file.write_all(data).map_err(|e| Failed::of(&e))?;
        t.bytes += data.len() as u64;
        Ok(())
    }

    /// Renames the temporary file into place.
    fn end(&mut self) -> Result<(), Failed> {
        let Some(t) = self.temp.take() else {
            return Ok(());
        };
        let target = self.dir.join(std::ffi::OsStr::from_bytes(&t.name));
        let result = place(&t.path, &target, self.overwrite);
        match result {
            Ok(replaced) => {
                self.stored.push(Stored {
                    name: t.name,
                    replaced,
                    bytes: t.bytes,
                });
                Ok(())
            }
            Err(f) => {
                let _ = std::fs::remove_file(&t.path);
                Err(f)
            }
        }
    }

    /// Takes the next bytes of the body.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), Failed> {
        match &self.kind {
            Kind::Put { name } => {
                if self.temp.is_none() && self.stored.is_empty() {
                    let name = name.clone();
                    self.begin(name)?;
                }
                self.write_file(data)
            }
            Kind::Form { .. } => self.parse(data),
        }
    }

    /// The body is complete: the files stored.
    pub(crate) fn finish(&mut self) -> Result<Vec<Stored>, Failed> {
        match &self.kind {
            Kind::Put { name } => {
                if self.temp.is_none() && self.stored.is_empty() {
                    let name = name.clone();
                    self.begin(name)?;
                }
                self.end()?;
            }
            Kind::Form { .. } => {
                if !self.form.is_done() {
                    return Err(Failed::Bad);
                }
            }
        }
        Ok(std::mem::take(&mut self.stored))
    }

    /// Runs the form parser over `data`, into files.
    fn parse(&mut self, data: &[u8]) -> Result<(), Failed> {
        let mut form = std::mem::replace(&mut self.form, FormParser::new(b""));
        let result = form.feed(data, self);
        self.form = form;
        result
    }
}

impl Parts for Upload {
    fn begin(&mut self, name: Vec<u8>) -> Result<(), Failed> {
        Upload::begin(self, sanitise(&name))
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        self.write_file(bytes)
    }

    fn end(&mut self) -> Result<(), Failed> {
        Upload::end(self)
    }
}

/// Where a form's files go as [`FormParser`] finds them.
pub trait Parts {
    /// A part with a file name begins (the name as sent).
    fn begin(&mut self, name: Vec<u8>) -> Result<(), Failed>;
    /// Bytes of the current file (none for a part without a file name).
    fn data(&mut self, bytes: &[u8]) -> Result<(), Failed>;
    /// The current part ended (whether or not it had a file name).
    fn end(&mut self) -> Result<(), Failed>;
}

/// A `multipart/form-data` body (RFC 7578), parsed as it arrives in any
/// pieces: sans-I/O, the files go to a [`Parts`]. Strict where it matters
/// (the first line is the boundary, a delimiter is followed by `--` or
/// CRLF, a part's head ends within 8 KiB) and silent about the preamble
/// and epilogue, as the RFC asks.
pub struct FormParser {
    /// `\r\n--` and the boundary.
    delimiter: Vec<u8>,
    state: Form,
    /// Inside a part with a file name.
    in_file: bool,
}

impl FormParser {
    pub fn new(boundary: &[u8]) -> FormParser {
        FormParser {
            delimiter: [&b"\r\n--"[..], boundary].concat(),
            state: Form::Preamble { matched: 0 },
            in_file: false,
        }
    }

    /// Whether the closing delimiter has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, Form::Done)
    }

    /// Takes the next bytes of the body.
    pub fn feed(&mut self, mut data: &[u8], parts: &mut dyn Parts) -> Result<(), Failed> {
        let delimiter = &self.delimiter;
        while !data.is_empty() {
            match &mut self.state {
                Form::Preamble { matched } => {
                    // The body starts with "--boundary" (the CRLF before it
                    // is taken as read).
                    let want = &delimiter[2..];
                    let n = (want.len() - *matched).min(data.len());
                    if data[..n] != want[*matched..*matched + n] {
                        return Err(Failed::Bad);
                    }
                    *matched += n;
                    data = &data[n..];
                    if *matched == want.len() {
                        self.state = Form::AfterDelimiter { seen: Vec::new() };
                    }
                }
                Form::AfterDelimiter { seen } => {
                    // "--" ends the body; CRLF begins a part.
                    let n = (2 - seen.len()).min(data.len());
                    seen.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if seen.len() == 2 {
                        self.state = match &seen[..] {
                            b"--" => Form::Done,
                            b"\r\n" => Form::Head { head: Vec::new() },
                            _ => return Err(Failed::Bad),
                        };
                    }
                }
                Form::Head { head } => {
                    let before = head.len();
                    let take = data.len().min(MAX_PART_HEAD + 4 - before);
                    head.extend_from_slice(&data[..take]);
                    match find(head, b"\r\n\r\n") {
                        Some(end) => {
                            let used = end + 4 - before;
                            let name = part_file_name(&head[..end]);
                            data = &data[used..];
                            self.state = Form::Body { held: Vec::new() };
                            self.in_file = name.is_some();
                            if let Some(name) = name {
                                parts.begin(name)?;
                            }
                        }
                        None if head.len() > MAX_PART_HEAD => return Err(Failed::Bad),
                        None => data = &data[take..],
                    }
                }
                Form::Body { held } => {
                    // Bytes that may begin the delimiter are held back.
                    let mut buf = std::mem::take(held);
                    buf.extend_from_slice(data);
                    data = &[];
                    match find(&buf, delimiter) {
                        Some(at) => {
                            if self.in_file {
                                parts.data(&buf[..at])?;
                            }
                            parts.end()?;
                            self.in_file = false;
                            self.state = Form::AfterDelimiter { seen: Vec::new() };
                            // Go on with what followed the delimiter.
                            let rest = buf[at + delimiter.len()..].to_vec();
                            return self.feed(&rest, parts);
                        }
                        None => {
                            let keep = partial_suffix(&buf, delimiter);
                            let cut = buf.len() - keep;
                            if self.in_file {
                                parts.data(&buf[..cut])?;
                            }
                            if let Form::Body { held } = &mut self.state {
                                held.extend_from_slice(&buf[cut..]);
                            }
                        }
                    }
                }
                // The epilogue is ignored.
                Form::Done => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Where the form parser is.
#[derive(Debug)]
enum Form {
    /// Matching the first "--boundary".
    Preamble { matched: usize },
    /// After a delimiter: "--" or CRLF.
    AfterDelimiter { seen: Vec<u8> },
    /// A part's header section.
    Head { head: Vec<u8> },
    /// A part's content; `held` may begin a delimiter.
    Body { held: Vec<u8> },
    /// The closing delimiter was read.
    Done,
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The longest end of `buf` that is a start of `delimiter`.
fn partial_suffix(buf: &[u8], delimiter: &[u8]) -> usize {
    let max = buf.len().min(delimiter.len() - 1);
    (1..=max)
        .rev()
        .find(|&k| buf[buf.len() - k..] == delimiter[..k])
        .unwrap_or(0)
}

/// A part's `filename` from its `Content-Disposition: form-data` (a part
/// without one is a plain field, and skipped).
fn part_file_name(head: &[u8]) -> Option<Vec<u8>> {
    for line in head.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        if !line[..colon].eq_ignore_ascii_case(b"content-disposition") {
            continue;
        }
        let value = &line[colon + 1..];
        return param(value, b"filename").filter(|n| !n.is_empty());
    }
    None
}

/// The value of parameter `name` (quoted or a token) in a header value.
fn param(value: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < value.len() {
        // Find "; name=" (a parameter begins after ';').
        let semi = value[i..].iter().position(|&c| c == b';')?;
        i += semi + 1;
        while value.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
            i += 1;
        }
        let key_end = i + value[i..].iter().position(|&c| c == b'=')?;
        let key = crate::http::trim_ows(&value[i..key_end]);
        i = key_end + 1;
        let mut out = Vec::new();
        if value.get(i) == Some(&b'"') {
            i += 1;
            while i < value.len() {
                match value[i] {
                    // Only `\"` is taken as an escape: browsers send a
                    // Windows path's backslashes as they are.
                    b'\\' if value.get(i + 1) == Some(&b'"') => {
                        out.push(b'"');
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        break;
                    }
                    c => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            let end = value[i..]
                .iter()
                .position(|&c| c == b';')
                .map_or(value.len(), |p| i + p);
            out.extend_from_slice(crate::http::trim_ows(&value[i..end]));
            i = end;
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(out);
        }
    }
    None
}

/// A new temporary file in `dir` (created exclusively, 0644).
fn temp_file(dir: &Path) -> io::Result<(File, PathBuf)> {
    for _ in 0..16 {
        let mut random = [0u8; 8];
        crate::sys::random_bytes(&mut random);
        let mut name = String::from(TEMP_PREFIX);
        for b in random {
            name.push_str(&format!("{b:02x}"));
        }
        let path = dir.join(&name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}

/// Moves `temp` to `target`: never over an existing name unless
/// `overwrite`. Whether it replaced a file.
fn place(temp: &Path, target: &Path, overwrite: bool) -> Result<bool, Failed> {
    if overwrite {
        let existed = match target.symlink_metadata() {
            Ok(m) if m.is_dir() => return Err(Failed::Exists),
            Ok(m) if m.file_type().is_symlink() => return Err(Failed::Refused),
            Ok(_) => true,
            Err(_) => false,
        };
        std::fs::rename(temp, target).map_err(|e| Failed::of(&e))?;
        return Ok(existed);
    }
    crate::sys::rename_noreplace(temp, target).map_err(|e| Failed::of(&e))?;
    Ok(false)
}

/// The connection's handle on an upload: the bytes it hands over, made
/// into files on the worker pool one piece at a time.
pub(crate) struct Intake {
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Intake")
    }
}

struct Slot {
    upload: Option<Box<Upload>>,
    /// The bytes for the job queued (and whether they end the body).
    incoming: Option<(Vec<u8>, bool)>,
    away: bool,
    outcome: Option<Result<Vec<Stored>, Failed>>,
}

/// [`Intake::peek`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peek {
    Ready,
    Away,
    Over,
}

/// What an [`Intake`] can take now.
#[derive(Debug)]
pub(crate) enum State {
    /// More bytes.
    Ready,
    /// A piece is being written.
    Away,
    /// It ended: the files stored, or why not.
    Over(Result<Vec<Stored>, Failed>),
}

impl Intake {
    pub(crate) fn new(upload: Upload) -> Intake {
        Intake {
            slot: Arc::new(Mutex::new(Slot {
                upload: Some(Box::new(upload)),
                incoming: None,
                away: false,
                outcome: None,
            })),
        }
    }

    /// Whether bytes can be handed over now (without taking an outcome).
    pub(crate) fn peek(&self) -> Peek {
        let slot = crate::unpoison(self.slot.lock());
        match (slot.outcome.is_some(), slot.away) {
            (true, _) => Peek::Over,
            (false, true) => Peek::Away,
            (false, false) => Peek::Ready,
        }
    }

    pub(crate) fn state(&self) -> State {
        let mut slot = crate::unpoison(self.slot.lock());
        if let Some(outcome) = slot.outcome.take() {
            return State::Over(outcome);
        }
        match slot.away {
            true => State::Away,
            false => State::Ready,
        }
    }

    /// Hands `bytes` (and, when `last`, the end of the body) to a worker;
    /// the bytes back when the pool is full (ask again).
    pub(crate) fn push(
        &self,
        bytes: Vec<u8>,
        last: bool,
        offload: Option<&mut (dyn Offload + '_)>,
    ) -> Result<(), Vec<u8>> {
        {
            let mut slot = crate::unpoison(self.slot.lock());
            slot.incoming = Some((bytes, last));
            slot.away = true;
        }
        let shared = self.slot.clone();
        let job: crate::work::Job = Box::new(move || write(&shared));
        let sent = match offload {
            Some(o) => o.spawn(job),
            None => Err(job),
        };
        if sent.is_err() {
            let mut slot = crate::unpoison(self.slot.lock());
            slot.away = false;
            return Err(slot.incoming.take().map(|(b, _)| b).unwrap_or_default());
        }
        Ok(())
    }
}

/// One job: write the incoming bytes, and finish at the body's end.
fn write(shared: &Arc<Mutex<Slot>>) {
    let (upload, incoming) = {
        let mut slot = crate::unpoison(shared.lock());
        (slot.upload.take(), slot.incoming.take())
    };
    let (Some(mut upload), Some((bytes, last))) = (upload, incoming) else {
        crate::unpoison(shared.lock()).away = false;
        return;
    };
    if Arc::strong_count(shared) == 1 {
        // The connection is gone: dropping the upload removes its file.
        return;
    }
    let mut result = upload.write(&bytes).map(|()| None);
    if last && result.is_ok() {
        result = upload.finish().map(Some);
    }
    let mut slot = crate::unpoison(shared.lock());
    slot.away = false;
    match result {
        Ok(None) => slot.upload = Some(upload),
        Ok(Some(stored)) => slot.outcome = Some(Ok(stored)),
        Err(f) => {
            drop(upload);
            slot.outcome = Some(Err(f));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A [`Parts`] that keeps the files in memory.
    #[derive(Debug, Default, PartialEq)]
    struct Kept {
        files: Vec<(Vec<u8>, Vec<u8>)>,
        open: bool,
        parts: usize,
    }

    impl Parts for Kept {
        fn begin(&mut self, name: Vec<u8>) -> Result<(), Failed> {
            self.files.push((name, Vec::new()));
            self.open = true;
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) -> Result<(), Failed> {
            assert!(self.open, "data outside a file");
            self.files.last_mut().unwrap().1.extend_from_slice(bytes);
            Ok(())
        }
        fn end(&mut self) -> Result<(), Failed> {
            self.open = false;
            self.parts += 1;
            Ok(())
        }
    }

    fn parse_in(body: &[u8], cuts: &[usize]) -> (Result<(), Failed>, Kept, bool) {
        let mut p = FormParser::new(b"XyZ");
        let mut kept = Kept::default();
        let mut at = 0;
        let mut result = Ok(());
        for &c in cuts.iter().chain(std::iter::once(&body.len())) {
            let c = c.clamp(at, body.len());
            result = p.feed(&body[at..c], &mut kept);
            at = c;
            if result.is_err() {
                break;
            }
        }
        (result, kept, p.is_done())
    }

    proptest! {
        /// Any body, cut anywhere, gives what it gives whole: never a
        /// panic, and the same files.
        #[test]
        fn any_split_gives_the_same_parts(
            files in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..40), proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'X'), Just(b'y'), Just(b'Z'), any::<u8>()], 0..200)),
                0..4,
            ),
            cuts in proptest::collection::vec(0usize..2000, 0..12),
        ) {
            let mut body = Vec::new();
            for (name, content) in &files {
                body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"");
                body.extend(name.iter().filter(|&&c| c != b'"' && c != b'\\' && c != b'\r' && c != b'\n'));
                body.extend_from_slice(b"\"\r\n\r\n");
                body.extend_from_slice(content);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"--XyZ--\r\n");
            let mut cuts = cuts;
            cuts.sort_unstable();
            let whole = parse_in(&body, &[]);
            let split = parse_in(&body, &cuts);
            prop_assert_eq!(&whole, &split);
            // A content holding the delimiter ends its part early; any
            // other comes out exactly.
            let clean = files.iter().all(|(_, c)| !c.windows(6).any(|w| w == b"\r\n--Xy"));
            if clean {
                prop_assert_eq!(whole.0, Ok(()));
                prop_assert!(whole.2);
                let got: Vec<&Vec<u8>> = whole.1.files.iter().map(|(_, c)| c).collect();
                let want: Vec<&Vec<u8>> = files.iter().filter(|(n, _)| n.iter().any(|&c| c != b'"' && c != b'\\' && c != b'\r' && c != b'\n')).map(|(_, c)| c).collect();
                prop_assert_eq!(got, want);
            }
        }

        /// Bytes that are not a form never panic, whatever the cuts.
        #[test]
        fn garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..600), cuts in proptest::collection::vec(0usize..600, 0..8)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let _ = parse_in(&body, &cuts);
        }
    }

    fn form(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, body) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(f) => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("skiff-upload-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_form_split_at_every_byte_gives_the_same_files() {
        let boundary = "----WebKitFormBoundaryAbC123";
        let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        // Content that looks like the delimiter's start.
        let tricky = b"line\r\n--not-it\r\n------WebKitFormBoundaryAbC12 almost".to_vec();
        let body = form(
            boundary,
            &[
                ("note", None, b"a plain field"),
                ("f", Some("one.bin"), &big),
                ("f", Some("C:\\Users\\me\\two.txt"), &tricky),
                ("f", Some("empty.txt"), b""),
            ],
        );
        for step in [1usize, 2, 7, 64, 1000, body.len()] {
            let d = dir(&format!("form{step}"));
            let mut up = Upload::new(
                d.clone(),
                Kind::Form {
                    boundary: boundary.as_bytes().to_vec(),
                },
                false,
                false,
            );
            for piece in body.chunks(step) {
                up.write(piece).unwrap();
            }
            let stored = up.finish().unwrap();
            let names: Vec<_> = stored
                .iter()
                .map(|s| String::from_utf8_lossy(&s.name).into_owned())
                .collect();
            assert_eq!(names, ["one.bin", "two.txt", "empty.txt"], "step {step}");
            assert_eq!(std::fs::read(d.join("one.bin")).unwrap(), big);
            assert_eq!(std::fs::read(d.join("two.txt")).unwrap(), tricky);
            assert_eq!(std::fs::read(d.join("empty.txt")).unwrap(), b"");
            // Nothing else is left (no temporary file).
            assert_eq!(std::fs::read_dir(&d).unwrap().count(), 3);
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn malformed_forms_are_bad_and_leave_nothing() {
        let d = dir("bad");
        for body in [
            &b"garbage"[..],
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nno end",
        ] {
            let mut up = Upload::new(
                d.clone(),
                Kind::Form {
                    boundary: b"b".to_vec(),
                },
                false,
                false,
            );
            let r = up.write(body).and_then(|()| up.finish().map(|_| ()));
            assert_eq!(r, Err(Failed::Bad), "{:?}", String::from_utf8_lossy(body));
            drop(up);
            assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        }
        // A part head that never ends.
        let mut up = Upload::new(
            d.clone(),
            Kind::Form {
                boundary: b"b".to_vec(),
            },
            false,
            false,
        );
        let long = [&b"--b\r\nX-Long: "[..], &vec![b'a'; MAX_PART_HEAD + 10]].concat();
        assert_eq!(up.write(&long), Err(Failed::Bad));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn names() {
        assert_eq!(check_name(b"a.txt", false), Ok(()));
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"a\nb",
            b"a\0b",
            &[b'x'; 256],
        ] {
            assert_eq!(check_name(bad, false), Err(Failed::Bad), "{bad:?}");
        }
        assert_eq!(check_name(b".env", false), Err(Failed::Refused));
        assert_eq!(check_name(b".env", true), Ok(()));
        assert_eq!(sanitise(b"C:\\x\\..\\evil\r\n.txt"), b"evil.txt");
        assert_eq!(sanitise(b"../../etc/passwd"), b"passwd");
        assert_eq!(sanitise(b"dir/"), b"");
        assert_eq!(
            part_file_name(
                b"Content-Disposition: form-data; name=\"f\"; filename=\"a \\\"q\\\".txt\""
            ),
            Some(b"a \"q\".txt".to_vec())
        );
        assert_eq!(
            part_file_name(b"Content-Disposition: form-data; name=\"f\""),
            None
        );
    }

    #[test]
    fn a_put_never_replaces_unless_asked() {
        let d = dir("put");
        std::fs::write(d.join("taken.txt"), "old").unwrap();
        let mut up = Upload::new(
            d.clone(),
            Kind::Put {
                name: b"taken.txt".to_vec(),
            },
            false,
            false,
        );
        assert_eq!(up.write(b"new"), Err(Failed::Exists));
        drop(up);
        let mut up = Upload::new(
            d.clone(),
            Kind::Put {
                name: b"taken.txt".to_vec(),
            },
            true,
            false,
        );
        up.write(b"new").unwrap();
        let stored = up.finish().unwrap();
        assert!(stored[0].replaced);
        assert_eq!(std::fs::read(d.join("taken.txt")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
