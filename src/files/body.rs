//! What follows a response head when it comes from a file: a stream of
//! segments, each either literal bytes (multipart part headers) or a window
//! of the open file.
//!
//! A whole file or a single range is one window; `multipart/byteranges` is
//! header, window, header, window, ..., closing delimiter. Windows are read
//! in bounded chunks with positioned reads (or handed to sendfile by the
//! caller), so a large file is never held in memory and the file's own seek
//! position is never used. A file that has shrunk since it was measured is
//! an error, never padding: the length promised in the head has to be the
//! length sent, or the connection must end. A file that grew is sent for
//! exactly the promised length.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::files::resolve::Source;
use crate::http::response::needs_charset;

#[derive(Debug)]
enum Segment {
    /// Literal bytes; `pos` of them already taken.
    Bytes { data: Vec<u8>, pos: usize },
    /// `len` bytes of the file from `offset`.
    Window { offset: u64, len: u64 },
}

/// The segments still to send: one window needs no allocation (the
/// common case), multipart needs a queue.
#[derive(Debug)]
enum Segments {
    Empty,
    One(Segment),
    Many(VecDeque<Segment>),
}

impl Segments {
    fn front(&self) -> Option<&Segment> {
        match self {
            Segments::Empty => None,
            Segments::One(s) => Some(s),
            Segments::Many(q) => q.front(),
        }
    }

    fn front_mut(&mut self) -> Option<&mut Segment> {
        match self {
            Segments::Empty => None,
            Segments::One(s) => Some(s),
            Segments::Many(q) => q.front_mut(),
        }
    }

    fn pop_front(&mut self) {
        match self {
            Segments::Empty => {}
            Segments::One(_) => *self = Segments::Empty,
            Segments::Many(q) => {
                q.pop_front();
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Segments::Empty => 0,
            Segments::One(_) => 1,
            Segments::Many(q) => q.len(),
        }
    }
}

/// The body of a file response still to be sent.
#[derive(Debug)]
pub(crate) struct FileStream {
    source: Source,
    segments: Segments,
    /// INVARIANT: the sum of what the segments still hold.
    remaining: u64,
}

impl FileStream {
    /// `len` bytes of `file` from `offset`.
    pub(crate) fn window(source: Source, offset: u64, len: u64) -> FileStream {
        let segments = if len > 0 {
            Segments::One(Segment::Window { offset, len })
        } else {
            Segments::Empty
        };
        FileStream {
            source,
            segments,
            remaining: len,
        }
    }

    /// A `multipart/byteranges` body of the inclusive `ranges` of a
    /// representation of `total` bytes whose type is `mime`.
    pub(crate) fn multipart(
        source: Source,
        ranges: &[(u64, u64)],
        total: u64,
        mime: &str,
        boundary: &str,
    ) -> FileStream {
        let charset = if needs_charset(mime) {
            "; charset=utf-8"
        } else {
            ""
        };
        let mut segments = VecDeque::with_capacity(ranges.len() * 2 + 1);
        let mut remaining = 0;
        for (i, &(first, last)) in ranges.iter().enumerate() {
            let mut head = Vec::with_capacity(128);
            let lead = if i == 0 { "" } else { "\r\n" };
            let _ = write!(
                head,
                "{lead}--{boundary}\r\nContent-Type: {mime}{charset}\r\nContent-Range: bytes {first}-{last}/{total}\r\n\r\n"
            );
            let len = last - first + 1;
            remaining += head.len() as u64 + len;
            segments.push_back(Segment::Bytes { data: head, pos: 0 });
            segments.push_back(Segment::Window { offset: first, len });
        }
        let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
        remaining += tail.len() as u64;
        segments.push_back(Segment::Bytes { data: tail, pos: 0 });
        FileStream {
            source,
            segments: Segments::Many(segments),
            remaining,
        }
    }

    /// Bytes still to send.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    pub(crate) fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// The open file, when the bytes come from one.
    pub(crate) fn file(&self) -> Option<&File> {
        match &self.source {
            Source::File(f) => Some(f),
            Source::Bytes(_) => None,
        }
    }

    /// The whole stream as one slice of in-memory content, when it is
    /// exactly that (a small cached file, whole or one range): `(content,
    /// start, end)`, to be sent without copying.
    pub(crate) fn as_shared_slice(&self) -> Option<(&std::sync::Arc<[u8]>, usize, usize)> {
        match (&self.source, self.segments.len(), self.segments.front()) {
            (Source::Bytes(b), 1, Some(&Segment::Window { offset, len })) => {
                Some((b, offset as usize, (offset + len) as usize))
            }
            _ => None,
        }
    }

    /// When the next bytes come from an open file: `(offset, len)` of that
    /// window, for a caller that sends it by other means (sendfile).
    pub(crate) fn front_window(&self) -> Option<(u64, u64)> {
        match (&self.source, self.segments.front()) {
            (Source::File(_), Some(&Segment::Window { offset, len })) => Some((offset, len)),
            _ => None,
        }
    }

    /// Records that `n` bytes of the front window were sent by other means.
    pub(crate) fn advance_window(&mut self, n: u64) {
        if let Some(Segment::Window { offset, len }) = self.segments.front_mut() {
            let n = n.min(*len);
            *offset += n;
            *len -= n;
            self.remaining -= n;
            if *len == 0 {
                self.segments.pop_front();
            }
        }
    }

    /// Appends up to `max` bytes to `out` and advances. With `windows`
    /// false it stops at the first file window (the caller will sendfile
    /// it). Returns the count appended. A file that ends before its window
    /// does is `UnexpectedEof`, and `out` is left as it was.
    pub(crate) fn read_into(
        &mut self,
        out: &mut Vec<u8>,
        max: usize,
        windows: bool,
    ) -> io::Result<usize> {
        let start = out.len();
        while out.len() - start < max {
            let room = max - (out.len() - start);
            match self.segments.front_mut() {
                None => break,
                Some(Segment::Bytes { data, pos }) => {
                    let n = room.min(data.len() - *pos);
                    out.extend_from_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    self.remaining -= n as u64;
                    if *pos == data.len() {
                        self.segments.pop_front();
                    }
                }
                Some(Segment::Window { .. })
                    if !windows && matches!(self.source, Source::File(_)) =>
                {
                    break;
                }
                Some(Segment::Window { offset, len }) => {
                    let want = (*len).min(room as u64) as usize;
                    match &self.source {
                        Source::File(file) => {
                            let at = out.len();
                            out.resize(at + want, 0);
                            if let Err(e) = read_exact_at(file, &mut out[at..], *offset) {
                                out.truncate(start);
                                return Err(e);
                            }
                        }
                        Source::Bytes(bytes) => {
                            let from = *offset as usize;
                            match bytes.get(from..from + want) {
                                Some(chunk) => out.extend_from_slice(chunk),
                                None => {
                                    out.truncate(start);
                                    return Err(io::ErrorKind::UnexpectedEof.into());
                                }
                            }
                        }
                    }
                    let n = want as u64;
                    *offset += n;
                    *len -= n;
                    self.remaining -= n;
                    if *len == 0 {
                        self.segments.pop_front();
                    }
                }
            }
        }
        Ok(out.len() - start)
    }
}

/// Fills `buf` from `file` at `offset` with positioned reads (the file's
/// own position is never used, so a shared descriptor is safe). A file
/// that ends first is `UnexpectedEof`: it shrank since it was measured.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being sent",
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(tag: &str, bytes: &[u8]) -> (File, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("skiff-body-{}-{tag}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        (File::open(&path).unwrap(), path)
    }

    fn drain(s: &mut FileStream, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while s.read_into(&mut out, chunk, true).unwrap() > 0 {}
        out
    }

    #[test]
    fn reads_a_window_in_chunks() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let (file, path) = temp_file("window", &data);
        let mut s = FileStream::window(Source::File(std::sync::Arc::new(file)), 100, 5000);
        assert_eq!(s.remaining(), 5000);
        assert_eq!(drain(&mut s, 1024), &data[100..5100]);
        assert!(s.is_done());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn multipart_layout_and_length() {
        let (file, path) = temp_file("multi", b"0123456789");
        let mut s = FileStream::multipart(
            Source::File(std::sync::Arc::new(file)),
            &[(0, 1), (8, 9)],
            10,
            "text/plain",
            "B",
        );
        let want = "--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/10\r\n\r\n01\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 8-9/10\r\n\r\n89\r\n--B--\r\n";
        assert_eq!(s.remaining(), want.len() as u64);
        assert_eq!(String::from_utf8(drain(&mut s, 7)).unwrap(), want);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn windows_can_be_left_to_the_caller() {
        let (file, path) = temp_file("caller", b"0123456789");
        let mut s = FileStream::multipart(
            Source::File(std::sync::Arc::new(file)),
            &[(2, 4)],
            10,
            "image/png",
            "B",
        );
        let mut out = Vec::new();
        s.read_into(&mut out, 1000, false).unwrap();
        assert!(out.ends_with(b"bytes 2-4/10\r\n\r\n"));
        assert_eq!(s.front_window(), Some((2, 3)));
        s.advance_window(3);
        s.read_into(&mut out, 1000, false).unwrap();
        assert!(out.ends_with(b"\r\n\r\n\r\n--B--\r\n"));
        assert!(s.is_done());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_shrunk_file_is_an_error_not_padding() {
        let (file, path) = temp_file("shrunk", &[7u8; 100]);
        let mut s = FileStream::window(Source::File(std::sync::Arc::new(file)), 0, 200);
        let mut out = vec![1, 2, 3];
        assert_eq!(
            s.read_into(&mut out, 1000, true).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(out, vec![1, 2, 3]);
        std::fs::remove_file(path).unwrap();
    }
}
