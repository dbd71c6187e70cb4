//! Folder downloads (`--archives`): `GET /photos/?download=tar`, `tar.gz`
//! or `zip` streams the folder as one archive, made on the worker pool a
//! piece at a time ([`crate::files::produced`]).
//!
//! - **What goes in.** What the listing shows: hidden names only with
//!   `--show-hidden`; a symlink only when what it points to is inside the
//!   root (and followed then; a folder already on the way down is not
//!   entered twice); regular files and folders only (never a FIFO or a
//!   device). Names are in byte order; every entry sits under one top
//!   folder named after the folder downloaded, so extracting never
//!   scatters files.
//! - **Counted first.** The folder is walked once before the first byte
//!   ([`Produce::start`]): past `--archive-max-files` entries or
//!   `--archive-max-bytes` of file content the request is answered 413.
//!   A file that grows past the bound while the archive streams cuts the
//!   stream (the connection closes without the last chunk) and the log
//!   says why.
//! - **Names.** tar: GNU format; a name longer than the header's 100
//!   bytes goes in a GNU long-name entry (GNU tar, bsdtar and Python read
//!   it), any bytes but NUL kept as they are; sizes past 8 GiB in GNU's
//!   base-256 form. zip: every name is flagged UTF-8 (bit 11); a name
//!   that is not valid UTF-8 is stored with U+FFFD in place of the bad
//!   bytes and listed in the notes entry; sizes and offsets past 4 GiB
//!   use ZIP64.
//! - **Files that change.** A file is opened before its entry begins, so
//!   one renamed or deleted meanwhile is read whole from the open file,
//!   and one gone before that is left out. One whose size, modification
//!   or change time differs after it was read was changed while read: its
//!   entry is written to the length its header promised (zeros after an
//!   early end, so the archive stays readable), and it is read again at
//!   the end of the archive as a second entry of the same name, which
//!   extractors keep. In a zip only the whole copy is in the central
//!   directory, so a reader sees only it; a file that changes again is
//!   left out of a zip, and in a tar its last copy may be mixed. Every
//!   file left out or changed is named in a last entry,
//!   `skiff-archive-notes.txt`, written only when there is something to
//!   say.
//! - **Bounded memory.** The list of entries (the bounds cap it), one
//!   piece ([`PIECE`]), the read buffer, and the compressor's state.
//!   `.tar.gz` is gzip level 1; in a `.zip`, text is deflated (level 1)
//!   and everything else stored.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};

use crate::files::produced::{PIECE, Produce, Refused};
use crate::files::resolve::{Lookup, contained, is_hidden};

/// The name of the entry that lists files left out or changed.
pub(crate) const NOTES: &str = "skiff-archive-notes.txt";
/// Folders deeper than this are not entered (a tree that deep is a loop
/// or an attack).
const MAX_DEPTH: usize = 64;

/// An archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Tar,
    TarGz,
    Zip,
}

impl Format {
    /// `?download=` values.
    pub(crate) const ALL: [Format; 3] = [Format::Tar, Format::TarGz, Format::Zip];

    pub(crate) fn parse(value: &[u8]) -> Option<Format> {
        match value {
            b"tar" => Some(Format::Tar),
            b"tar.gz" | b"tgz" => Some(Format::TarGz),
            b"zip" => Some(Format::Zip),
            _ => None,
        }
    }

    /// The query value and the file name suffix.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::Zip => "zip",
        }
    }

    pub(crate) fn mime(self) -> &'static str {
        match self {
            Format::Tar => "application/x-tar",
            Format::TarGz => "application/gzip",
            Format::Zip => "application/zip",
        }
    }
}

/// `--archive-max-files` and `--archive-max-bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

#[derive(Debug)]
struct Item {
    /// Path inside the archive, under the top folder; `/`-separated, a
    /// folder's ending in `/`.
    name: Box<[u8]>,
    /// Where to read it (a folder's is not needed).
    source: Option<Box<Path>>,
    mode: u32,
    mtime: i64,
}

/// What says a file is still the version that was opened.
fn identity(m: &Metadata) -> (u64, u64, i64, i64, i64, i64) {
    (
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// A file being copied into the archive.
struct Open {
    item: usize,
    file: File,
    /// The length its header promised.
    len: u64,
    done: u64,
    /// Read short, or failed: the rest is zeros.
    short: bool,
    seen: (u64, u64, i64, i64, i64, i64),
    /// Its zip entry: where the local header began, the CRC so far,
    /// bytes written after the header, and the deflater if it is
    /// compressed.
    zip: Option<ZipEntry>,
    /// The second try at a file that changed.
    retry: bool,
}

struct ZipEntry {
    offset: u64,
    crc: flate2::Crc,
    /// Bytes of the file taken in, and written out after the header.
    size: u64,
    written: u64,
    deflate: Option<DeflateEncoder<Vec<u8>>>,
    deflated: bool,
    zip64: bool,
    name: Vec<u8>,
    mtime: i64,
    mode: u32,
}

/// One folder being archived.
pub(crate) struct Archive {
    format: Format,
    limits: Limits,
    root: PathBuf,
    dir: PathBuf,
    show_hidden: bool,
    top: Vec<u8>,
    items: Vec<Item>,
    /// The next item to begin.
    next: usize,
    /// Items to read again at the end, and whether that pass has begun.
    again: Vec<usize>,
    second_pass: Option<usize>,
    open: Option<Open>,
    /// Bytes of file content in the archive so far.
    content: u64,
    notes: Vec<String>,
    finished: bool,
    buf: Vec<u8>,
    gz: Option<GzEncoder<Vec<u8>>>,
    /// Everything written so far (the zip's offsets).
    written: u64,
    /// The zip's central directory, and its entries.
    central: Vec<u8>,
    entries: u64,
    /// Every ZIP64 record even where 32 bits would do (tests reach the
    /// ZIP64 code without 4 GiB of files).
    zip64_always: bool,
}

impl Archive {
    /// An archive of `dir` (canonical, under `lookup.root`), its top folder
    /// named `top`.
    pub(crate) fn new(
        format: Format,
        limits: Limits,
        lookup: &Lookup<'_>,
        dir: PathBuf,
        top: Vec<u8>,
    ) -> Archive {
        Archive {
            format,
            limits,
            root: lookup.root.to_path_buf(),
            dir,
            show_hidden: lookup.show_hidden,
            top,
            items: Vec::new(),
            next: 0,
            again: Vec::new(),
            second_pass: None,
            open: None,
            content: 0,
            notes: Vec::new(),
            finished: false,
            buf: Vec::new(),
            // Made on the worker, in `start` (its state is large).
            gz: None,
            written: 0,
            central: Vec::new(),
            entries: 0,
            zip64_always: false,
        }
    }

    /// Walks `dir` into `self.items`: `Err` past a bound.
    fn walk(&mut self) -> Result<(), Refused> {
        let root = self.root.clone();
        let lookup = Lookup {
            show_hidden: self.show_hidden,
            ..Lookup::new(&root)
        };
        let mut bytes = 0u64;
        let top = self.top.clone();
        let mut on_path = Vec::new();
        let meta = std::fs::metadata(&self.dir).map_err(|e| Refused {
            why: format!("cannot read the folder: {e}"),
        })?;
        self.items.push(Item {
            name: [&top[..], b"/"].concat().into(),
            source: None,
            mode: 0o755,
            mtime: meta.mtime(),
        });
        on_path.push((meta.dev(), meta.ino()));
        let dir = self.dir.clone();
        self.walk_dir(&lookup, &dir, &top, &mut on_path, &mut bytes)
    }

    fn walk_dir(
        &mut self,
        lookup: &Lookup<'_>,
        dir: &Path,
        prefix: &[u8],
        on_path: &mut Vec<(u64, u64)>,
        bytes: &mut u64,
    ) -> Result<(), Refused> {
        if on_path.len() > MAX_DEPTH {
            self.notes.push(format!(
                "left out (deeper than {MAX_DEPTH} folders): {}",
                show(prefix)
            ));
            return Ok(());
        }
        let Ok(read) = std::fs::read_dir(dir) else {
            self.notes
                .push(format!("left out (cannot be read): {}/", show(prefix)));
            return Ok(());
        };
        let mut names: Vec<_> = read
            .filter_map(Result::ok)
            .map(|e| (e.file_name(), e.file_type().ok()))
            .filter(|(n, _)| self.show_hidden || !is_hidden(n.as_bytes()))
            .collect();
        names.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (name, kind) in names {
            let Some(kind) = kind else { continue };
            let path = dir.join(&name);
            let (source, meta) = if kind.is_symlink() {
                match contained(lookup, &path) {
                    Ok(target) => match std::fs::metadata(&target) {
                        Ok(m) => (target, m),
                        Err(_) => continue,
                    },
                    Err(_) => continue,
                }
            } else {
                match std::fs::symlink_metadata(&path) {
                    Ok(m) => (path, m),
                    Err(_) => continue,
                }
            };
            if !meta.is_dir() && !meta.is_file() {
                continue;
            }
            let mut entry = Vec::with_capacity(prefix.len() + name.len() + 2);
            entry.extend_from_slice(prefix);
            entry.push(b'/');
            entry.extend_from_slice(name.as_bytes());
            if self.items.len() as u64 >= self.limits.files {
                return Err(Refused {
                    why: format!(
                        "more than --archive-max-files {} entries",
                        self.limits.files
                    ),
                });
            }
            if meta.is_dir() {
                let id = (meta.dev(), meta.ino());
                if on_path.contains(&id) {
                    self.notes.push(format!(
                        "left out (a link to a folder above it): {}/",
                        show(&entry)
                    ));
                    continue;
                }
                let mut folder = entry.clone();
                folder.push(b'/');
                self.items.push(Item {
                    name: folder.into(),
                    source: None,
                    mode: 0o755,
                    mtime: meta.mtime(),
                });
                on_path.push(id);
                self.walk_dir(lookup, &source, &entry, on_path, bytes)?;
                on_path.pop();
            } else {
                *bytes += meta.len();
                if *bytes > self.limits.bytes {
                    return Err(Refused {
                        why: format!(
                            "more than --archive-max-bytes {} bytes of files",
                            self.limits.bytes
                        ),
                    });
                }
                self.items.push(Item {
                    name: entry.into(),
                    source: Some(source.into()),
                    mode: meta.mode() & 0o777,
                    mtime: meta.mtime(),
                });
            }
        }
        Ok(())
    }

    /// Raw archive bytes (before gzip).
    fn emit(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
    }

    /// Begins the next entry; false when there are none left.
    fn begin_next(&mut self) -> Result<bool, String> {
        let index = match self.second_pass {
            None if self.next < self.items.len() => {
                self.next += 1;
                self.next - 1
            }
            None => {
                self.second_pass = Some(0);
                return Ok(true);
            }
            Some(k) if k < self.again.len() => {
                self.second_pass = Some(k + 1);
                self.again[k]
            }
            Some(_) => return Ok(false),
        };
        let retry = self.second_pass.is_some();
        let item = &self.items[index];
        let Some(source) = item.source.clone() else {
            let (name, mtime) = (item.name.to_vec(), item.mtime);
            self.folder_entry(&name, mtime);
            return Ok(true);
        };
        let lookup = Lookup {
            show_hidden: self.show_hidden,
            ..Lookup::new(&self.root)
        };
        // Still inside the root, still a regular file: opened before its
        // entry begins, so a file gone since the walk is simply left out.
        let opened = contained(&lookup, &source)
            .map_err(|_| io::Error::from(io::ErrorKind::NotFound))
            .and_then(|path| {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(path)
            })
            .and_then(|f| {
                let m = f.metadata()?;
                match m.is_file() {
                    true => Ok((f, m)),
                    false => Err(io::Error::from(io::ErrorKind::InvalidInput)),
                }
            });
        let (file, meta) = match opened {
            Ok(x) => x,
            Err(e) => {
                let name = show(&self.items[index].name);
                self.notes
                    .push(format!("left out ({}): {name}", reason(&e)));
                return Ok(true);
            }
        };
        let len = meta.len();
        self.content += len;
        if self.content > self.limits.bytes {
            return Err(format!(
                "cut: past --archive-max-bytes {} (files grew while archived)",
                self.limits.bytes
            ));
        }
        let item = &self.items[index];
        let (name, mtime, mode) = (item.name.to_vec(), meta.mtime(), item.mode);
        let zip = match self.format {
            Format::Zip => {
                let mime = crate::files::resolve::mime_for(&name);
                let text = crate::files::compress::compressible(mime);
                Some(self.zip_local(&name, mtime, mode, len, text))
            }
            _ => {
                self.tar_header(&name, tar::EntryType::Regular, len, mtime, mode);
                None
            }
        };
        self.open = Some(Open {
            item: index,
            file,
            len,
            done: 0,
            short: false,
            seen: identity(&meta),
            zip,
            retry,
        });
        Ok(true)
    }

    fn folder_entry(&mut self, name: &[u8], mtime: i64) {
        match self.format {
            Format::Zip => {
                let entry = self.zip_local(name, mtime, 0o755, 0, false);
                self.zip_close(entry, true);
            }
            _ => self.tar_header(name, tar::EntryType::Directory, 0, mtime, 0o755),
        }
    }

    /// A tar header (a GNU long-name entry first when the name needs it).
    fn tar_header(&mut self, name: &[u8], kind: tar::EntryType, len: u64, mtime: i64, mode: u32) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(len);
        h.set_mode(mode);
        h.set_mtime(mtime.max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        let path = Path::new(std::ffi::OsStr::from_bytes(name));
        if name.len() > 100 || h.set_path(path).is_err() {
            let mut long = tar::Header::new_gnu();
            if let Some(g) = long.as_gnu_mut() {
                g.name[..13].copy_from_slice(b"././@LongLink");
            }
            long.set_entry_type(tar::EntryType::GNULongName);
            long.set_size(name.len() as u64 + 1);
            long.set_mode(0o644);
            long.set_mtime(0);
            long.set_cksum();
            self.emit(long.as_bytes());
            self.emit(name);
            self.emit(&[0]);
            self.pad(name.len() as u64 + 1);
            // The header keeps the first 100 bytes.
            if let Some(g) = h.as_gnu_mut() {
                let n = name.len().min(100);
                g.name = [0; 100];
                g.name[..n].copy_from_slice(&name[..n]);
            }
        }
        h.set_cksum();
        self.emit(h.as_bytes());
    }

    /// Zeros up to the next 512-byte block after `len` bytes.
    fn pad(&mut self, len: u64) {
        let rest = (512 - len % 512) % 512;
        self.emit(&[0u8; 512][..rest as usize]);
    }

    /// Copies the open file's next bytes; true when its entry is complete.
    fn copy(&mut self, room: usize) -> bool {
        let Some(open) = &mut self.open else {
            return true;
        };
        let want = (open.len - open.done).min(room as u64) as usize;
        // Read straight into the archive's buffer (after an early end the
        // rest stays zeros).
        let at = self.buf.len();
        if !open.short {
            // The file's own position: this entry alone reads it, in
            // order. `read_to_end` fills spare capacity without zeroing it
            // first.
            self.buf.reserve(want);
            let read = io::Read::read_to_end(
                &mut io::Read::take(&mut open.file, want as u64),
                &mut self.buf,
            );
            if read.is_err() || self.buf.len() < at + want {
                open.short = true;
            }
        }
        // After an early end the rest is zeros.
        self.buf.resize(at + want, 0);
        open.done += want as u64;
        let complete = open.done == open.len;
        match &mut open.zip {
            Some(z) => {
                let chunk = &self.buf[at..];
                z.crc.update(chunk);
                z.size += want as u64;
                match &mut z.deflate {
                    Some(d) => {
                        let _ = d.write_all(chunk);
                        self.buf.truncate(at);
                        let out = std::mem::take(d.get_mut());
                        z.written += out.len() as u64;
                        self.buf.extend_from_slice(&out);
                        self.written += out.len() as u64;
                        // The deflater's buffer keeps its room.
                        let mut out = out;
                        out.clear();
                        *d.get_mut() = out;
                    }
                    None => {
                        z.written += want as u64;
                        self.written += want as u64;
                    }
                }
            }
            None => self.written += want as u64,
        }
        if !complete {
            return false;
        }
        let Some(open) = self.open.take() else {
            return true;
        };
        let changed =
            open.short || open.file.metadata().map(|m| identity(&m)).ok() != Some(open.seen);
        let name = show(&self.items[open.item].name);
        if changed {
            if open.retry {
                self.notes.push(match self.format {
                    Format::Zip => format!("left out (changed while read, twice): {name}"),
                    _ => format!(
                        "changed while read, twice: its last copy here may mix versions: {name}"
                    ),
                });
            } else {
                self.again.push(open.item);
            }
        } else if open.retry {
            self.notes.push(format!(
                "changed while read: read again whole at the end: {name}"
            ));
        }
        match open.zip {
            Some(z) => self.zip_close(z, !changed),
            None => self.pad(open.len),
        }
        true
    }

    /// A zip local header for a file of `len` bytes (data descriptor after
    /// the data: flag bit 3).
    fn zip_local(
        &mut self,
        name: &[u8],
        mtime: i64,
        mode: u32,
        len: u64,
        deflate: bool,
    ) -> ZipEntry {
        let (name, lossy) = zip_name(name);
        if lossy {
            self.notes.push(format!(
                "a name that is not UTF-8 is stored with U+FFFD: {}",
                String::from_utf8_lossy(&name)
            ));
        }
        let deflate = (deflate && len > 0)
            .then(|| DeflateEncoder::new(Vec::with_capacity(PIECE), Compression::fast()));
        // Deflate can grow incompressible input a little: ZIP64 early.
        let zip64 = len >= 0xF000_0000 || self.zip64_always;
        let (time, date) = dos_time(mtime);
        let mut h = Vec::with_capacity(30 + name.len() + 32);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        h.extend_from_slice(&(1u16 << 3 | 1 << 11).to_le_bytes());
        h.extend_from_slice(&(if deflate.is_some() { 8u16 } else { 0 }).to_le_bytes());
        h.extend_from_slice(&time.to_le_bytes());
        h.extend_from_slice(&date.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // CRC: in the descriptor
        let unknown = if zip64 { 0xFFFF_FFFFu32 } else { 0 };
        h.extend_from_slice(&unknown.to_le_bytes());
        h.extend_from_slice(&unknown.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        let extra = ut_extra(mtime);
        let extra_len = extra.len() + if zip64 { 20 } else { 0 };
        h.extend_from_slice(&(extra_len as u16).to_le_bytes());
        h.extend_from_slice(&name);
        h.extend_from_slice(&extra);
        if zip64 {
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&[0u8; 16]);
        }
        let offset = self.written;
        self.emit(&h);
        ZipEntry {
            offset,
            crc: flate2::Crc::new(),
            size: 0,
            written: 0,
            deflated: deflate.is_some(),
            deflate,
            zip64,
            name,
            mtime,
            mode,
        }
    }

    /// Ends a zip entry: the rest of its deflate stream, its data
    /// descriptor, and (when `keep`) its central directory record.
    fn zip_close(&mut self, mut z: ZipEntry, keep: bool) {
        if let Some(d) = z.deflate.take() {
            if let Ok(rest) = d.finish() {
                z.written += rest.len() as u64;
                self.emit(&rest);
            }
        }
        let size = z.size;
        let crc = z.crc.sum();
        let mut d = Vec::with_capacity(24);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        if z.zip64 {
            d.extend_from_slice(&z.written.to_le_bytes());
            d.extend_from_slice(&size.to_le_bytes());
        } else {
            d.extend_from_slice(&(z.written as u32).to_le_bytes());
            d.extend_from_slice(&(size as u32).to_le_bytes());
        }
        self.emit(&d);
        if !keep {
            return;
        }
        let always = self.zip64_always;
        let big = |n: u64| n >= 0xFFFF_FFFF || always;
        let mut zip64 = Vec::new();
        if big(size) || z.zip64 {
            zip64.extend_from_slice(&size.to_le_bytes());
        }
        if big(z.written) || z.zip64 {
            zip64.extend_from_slice(&z.written.to_le_bytes());
        }
        if big(z.offset) {
            zip64.extend_from_slice(&z.offset.to_le_bytes());
        }
        let dir = z.name.ends_with(b"/");
        let (time, date) = dos_time(z.mtime);
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&(3u16 << 8 | 45).to_le_bytes()); // made by Unix
        let needed: u16 = if zip64.is_empty() { 20 } else { 45 };
        c.extend_from_slice(&needed.to_le_bytes());
        c.extend_from_slice(&(1u16 << 3 | 1 << 11).to_le_bytes());
        let method: u16 = if z.deflated { 8 } else { 0 };
        c.extend_from_slice(&method.to_le_bytes());
        c.extend_from_slice(&time.to_le_bytes());
        c.extend_from_slice(&date.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        let field = |n: u64, forced: bool| {
            if big(n) || forced {
                0xFFFF_FFFFu32
            } else {
                n as u32
            }
        };
        c.extend_from_slice(&field(z.written, z.zip64).to_le_bytes());
        c.extend_from_slice(&field(size, z.zip64).to_le_bytes());
        c.extend_from_slice(&(z.name.len() as u16).to_le_bytes());
        let ut = ut_extra(z.mtime);
        let extra_len = ut.len() + if zip64.is_empty() { 0 } else { 4 + zip64.len() };
        c.extend_from_slice(&(extra_len as u16).to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes()); // comment
        c.extend_from_slice(&0u16.to_le_bytes()); // disk
        c.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        let kind = if dir { 0o040000 } else { 0o100000 };
        let external = ((kind | z.mode) << 16) | if dir { 0x10 } else { 0 };
        c.extend_from_slice(&external.to_le_bytes());
        c.extend_from_slice(&field(z.offset, false).to_le_bytes());
        c.extend_from_slice(&z.name);
        c.extend_from_slice(&ut);
        if !zip64.is_empty() {
            c.extend_from_slice(&1u16.to_le_bytes());
            c.extend_from_slice(&(zip64.len() as u16).to_le_bytes());
            c.extend_from_slice(&zip64);
        }
        self.entries += 1;
    }

    /// The notes entry (if any) and the archive's end.
    fn finish(&mut self) {
        if !self.notes.is_empty() {
            let mut text = String::from(
                "skiff: some files were left out of this archive, or changed while it was made:\n",
            );
            for n in &self.notes {
                text.push_str(n);
                text.push('\n');
            }
            let name = [&self.top[..], b"/", NOTES.as_bytes()].concat();
            let now = crate::http::date::unix_secs(std::time::SystemTime::now()) as i64;
            match self.format {
                Format::Zip => {
                    let mut z = self.zip_local(&name, now, 0o644, text.len() as u64, false);
                    z.crc.update(text.as_bytes());
                    z.size = text.len() as u64;
                    z.written = text.len() as u64;
                    self.emit(text.as_bytes());
                    self.zip_close(z, true);
                }
                _ => {
                    let len = text.len() as u64;
                    self.tar_header(&name, tar::EntryType::Regular, len, now, 0o644);
                    self.emit(text.as_bytes());
                    self.pad(len);
                }
            }
        }
        match self.format {
            Format::Zip => {
                let start = self.written;
                let central = std::mem::take(&mut self.central);
                self.emit(&central);
                let size = central.len() as u64;
                let end = self.written;
                let n = self.entries;
                if n >= 0xFFFF || start >= 0xFFFF_FFFF || size >= 0xFFFF_FFFF || self.zip64_always {
                    let mut e = Vec::with_capacity(76);
                    e.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
                    e.extend_from_slice(&44u64.to_le_bytes());
                    e.extend_from_slice(&(3u16 << 8 | 45).to_le_bytes());
                    e.extend_from_slice(&45u16.to_le_bytes());
                    e.extend_from_slice(&0u32.to_le_bytes());
                    e.extend_from_slice(&0u32.to_le_bytes());
                    e.extend_from_slice(&n.to_le_bytes());
                    e.extend_from_slice(&n.to_le_bytes());
                    e.extend_from_slice(&size.to_le_bytes());
                    e.extend_from_slice(&start.to_le_bytes());
                    e.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
                    e.extend_from_slice(&0u32.to_le_bytes());
                    e.extend_from_slice(&end.to_le_bytes());
                    e.extend_from_slice(&1u32.to_le_bytes());
                    self.emit(&e);
                }
                let clamp16 = |n: u64| n.min(0xFFFF) as u16;
                let clamp32 = |n: u64| n.min(0xFFFF_FFFF) as u32;
                let mut e = Vec::with_capacity(22);
                e.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
                e.extend_from_slice(&0u16.to_le_bytes());
                e.extend_from_slice(&0u16.to_le_bytes());
                e.extend_from_slice(&clamp16(n).to_le_bytes());
                e.extend_from_slice(&clamp16(n).to_le_bytes());
                e.extend_from_slice(&clamp32(size).to_le_bytes());
                e.extend_from_slice(&clamp32(start).to_le_bytes());
                e.extend_from_slice(&0u16.to_le_bytes());
                self.emit(&e);
            }
            _ => self.emit(&[0u8; 1024]),
        }
    }

    /// Moves what was made into `out` (through gzip for `.tar.gz`).
    fn deliver(&mut self, out: &mut Vec<u8>, last: bool) -> Result<(), String> {
        match &mut self.gz {
            None if out.is_empty() => std::mem::swap(out, &mut self.buf),
            None => out.append(&mut self.buf),
            Some(gz) => {
                gz.write_all(&self.buf).map_err(|e| e.to_string())?;
                self.buf.clear();
                out.append(gz.get_mut());
                if last {
                    if let Some(gz) = self.gz.take() {
                        let rest = gz.finish().map_err(|e| e.to_string())?;
                        out.extend_from_slice(&rest);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Produce for Archive {
    fn start(&mut self) -> Result<(), Refused> {
        self.walk()?;
        if self.format == Format::TarGz {
            self.gz = Some(GzEncoder::new(
                Vec::with_capacity(PIECE),
                Compression::fast(),
            ));
        }
        Ok(())
    }

    fn fill(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
        if self.finished {
            return Ok(true);
        }
        while self.buf.len() < PIECE {
            if self.open.is_some() {
                let room = PIECE - self.buf.len();
                self.copy(room.max(4096));
                continue;
            }
            if !self.begin_next()? {
                self.finish();
                self.finished = true;
                self.deliver(out, true)?;
                return Ok(true);
            }
        }
        self.deliver(out, false)?;
        Ok(false)
    }
}

/// A name for the notes, readable whatever its bytes.
fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).replace('\n', "\\n")
}

fn reason(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => "gone",
        io::ErrorKind::PermissionDenied => "not readable",
        io::ErrorKind::InvalidInput => "no longer a regular file",
        _ => "cannot be read",
    }
}

/// A zip entry's name: UTF-8, with U+FFFD for bytes that are not (and
/// whether any were replaced).
fn zip_name(name: &[u8]) -> (Vec<u8>, bool) {
    match std::str::from_utf8(name) {
        Ok(_) => (name.to_vec(), false),
        Err(_) => (
            String::from_utf8_lossy(name).into_owned().into_bytes(),
            true,
        ),
    }
}

/// The "extended timestamp" extra field (0x5455): the modification time
/// in Unix seconds, which unzip and Python prefer to the DOS time.
fn ut_extra(mtime: i64) -> Vec<u8> {
    let mut e = Vec::with_capacity(9);
    e.extend_from_slice(&0x5455u16.to_le_bytes());
    e.extend_from_slice(&5u16.to_le_bytes());
    e.push(1);
    e.extend_from_slice(&(mtime.clamp(0, u32::MAX as i64) as u32).to_le_bytes());
    e
}

/// MS-DOS time and date (UTC; two-second steps; 1980 at the earliest).
fn dos_time(mtime: i64) -> (u16, u16) {
    let secs = mtime.max(315_532_800); // 1980-01-01
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let time = (((rem / 3600) << 11) | ((rem % 3600 / 60) << 5) | ((rem % 60) / 2)) as u16;
    let date = ((((y - 1980).min(127)) << 9) | (m << 5) | d) as u16;
    (time, date)
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's
/// algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times() {
        // 2024-02-29 13:45:30 UTC
        let (time, date) = dos_time(1_709_214_330);
        assert_eq!(date >> 9, 2024 - 1980);
        assert_eq!((date >> 5) & 0xF, 2);
        assert_eq!(date & 0x1F, 29);
        assert_eq!(time >> 11, 13);
        assert_eq!((time >> 5) & 0x3F, 45);
        assert_eq!((time & 0x1F) * 2, 30);
        assert_eq!(dos_time(0).1, 1 << 5 | 1);
    }

    /// Makes the whole archive of `dir` in memory.
    fn archive(dir: &Path, format: Format, zip64: bool) -> Vec<u8> {
        let lookup = Lookup::new(dir);
        let mut a = Archive::new(
            format,
            Limits {
                files: 100,
                bytes: 1 << 30,
            },
            &lookup,
            dir.to_path_buf(),
            b"top".to_vec(),
        );
        a.zip64_always = zip64;
        a.start().unwrap();
        let mut out = Vec::new();
        loop {
            let mut piece = Vec::new();
            let done = a.fill(&mut piece).unwrap();
            out.extend_from_slice(&piece);
            if done {
                return out;
            }
        }
    }

    #[test]
    fn zip64_records_read_back_in_python_and_unzip() {
        let dir = std::env::temp_dir().join(format!("skiff-zip64-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let big: Vec<u8> = (0..600_000u32).map(|i| (i * 31 % 256) as u8).collect();
        std::fs::write(dir.join("sub/big.bin"), &big).unwrap();
        std::fs::write(dir.join("notes.txt"), "text is deflated\n".repeat(500)).unwrap();
        std::fs::write(dir.join("empty"), "").unwrap();
        let dir = std::fs::canonicalize(&dir).unwrap();
        for zip64 in [true, false] {
            let bytes = archive(&dir, Format::Zip, zip64);
            // ZIP64 end records are there exactly when forced.
            let has = bytes.windows(4).any(|w| w == 0x0606_4b50u32.to_le_bytes());
            assert_eq!(has, zip64);
            let file = dir.join(format!("../skiff-zip64-{}-{zip64}.zip", std::process::id()));
            std::fs::write(&file, &bytes).unwrap();
            let check = "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nfor i in z.infolist(): print(i.filename, i.file_size, i.compress_type)";
            let out = std::process::Command::new("python3")
                .args(["-c", check])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listed = String::from_utf8(out.stdout).unwrap();
            assert!(listed.contains("top/sub/big.bin 600000 0"), "{listed}");
            assert!(listed.contains("top/notes.txt 8500 8"), "{listed}");
            assert!(listed.contains("top/empty 0 0"), "{listed}");
            if std::process::Command::new("unzip")
                .arg("-v")
                .output()
                .is_ok()
            {
                let t = std::process::Command::new("unzip")
                    .arg("-tq")
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stdout));
            }
            std::fs::remove_file(&file).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn formats_parse() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.name().as_bytes()), Some(f));
        }
        assert_eq!(Format::parse(b"rar"), None);
    }
}
