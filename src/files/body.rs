//! What follows a response head: nothing, bytes, or a window of a file.
//!
//! A [`FileBody`] is a cursor (offset, remaining) over an open file; it is
//! read in bounded chunks with positioned reads, so a large file is never
//! held in memory and the file's own seek position is never used. A file
//! that has shrunk since it was measured is an error, never padding: the
//! length promised in the head has to be the length sent, or the connection
//! must end.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// A window of an open file still to be sent.
#[derive(Debug)]
pub struct FileBody {
    file: File,
    /// INVARIANT: `offset + remaining` is the end of the promised window.
    offset: u64,
    remaining: u64,
}

impl FileBody {
    pub fn new(file: File, offset: u64, len: u64) -> FileBody {
        FileBody {
            file,
            offset,
            remaining: len,
        }
    }

    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Records that `n` bytes were sent by other means (sendfile).
    pub fn advance(&mut self, n: u64) {
        debug_assert!(n <= self.remaining);
        self.offset += n;
        self.remaining -= n;
    }

    /// Appends up to `max` bytes from the cursor to `out` and advances.
    /// Returns the count appended (0 only when nothing remains). A file
    /// that ends before the window does is `UnexpectedEof`.
    pub fn read_into(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let want = self.remaining.min(max as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let start = out.len();
        out.resize(start + want, 0);
        let mut got = 0;
        while got < want {
            match self
                .file
                .read_at(&mut out[start + got..], self.offset + got as u64)
            {
                Ok(0) => {
                    out.truncate(start);
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        self.advance(got as u64);
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> (File, std::path::PathBuf) {
        let path =
            std::env::temp_dir().join(format!("skiff-body-{}-{}", std::process::id(), bytes.len()));
        let mut f = File::create(&path).unwrap();
        f.write_all(bytes).unwrap();
        (File::open(&path).unwrap(), path)
    }

    #[test]
    fn reads_a_window_in_chunks() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let (file, path) = temp_file(&data);
        let mut body = FileBody::new(file, 100, 5000);
        let mut out = Vec::new();
        while body.read_into(&mut out, 1024).unwrap() > 0 {}
        assert_eq!(out, &data[100..5100]);
        assert_eq!(body.remaining(), 0);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_shrunk_file_is_an_error_not_padding() {
        let (file, path) = temp_file(&[7u8; 100]);
        let mut body = FileBody::new(file, 0, 200);
        let mut out = vec![1, 2, 3];
        assert_eq!(
            body.read_into(&mut out, 1000).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(out, vec![1, 2, 3]);
        std::fs::remove_file(path).unwrap();
    }
}
