//! Bytes received and not yet consumed, and where the end of the head
//! being received might be.

use std::io::{self, Read};

use super::pool::{BufPool, INPUT_INITIAL};
use crate::http::request::MAX_HEAD;

/// The receive buffer never grows past this: one byte more than the largest
/// valid head, so an over-limit head is always seen as one.
pub(crate) const INPUT_MAX: usize = MAX_HEAD + 1;

#[derive(Debug, Default)]
pub(super) struct Input {
    /// Allocated storage; `buf[start..end]` is unconsumed input.
    /// INVARIANT: start <= end <= buf.len() <= INPUT_MAX
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The peer has sent FIN: what is buffered is all there will be.
    pub(crate) eof: bool,
}

impl Input {
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len() >= INPUT_MAX
    }

    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops everything buffered (nothing more will be parsed).
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    pub(crate) fn read_from<R: Read>(
        &mut self,
        r: &mut R,
        pool: Option<&mut BufPool>,
    ) -> io::Result<usize> {
        if self.buf.is_empty() {
            if let Some(pool) = pool {
                self.buf = pool.take_input();
            }
        }
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).clamp(INPUT_INITIAL, INPUT_MAX);
            if grown == self.buf.len() {
                return Err(io::Error::other("receive buffer full"));
            }
            self.buf.resize(grown, 0);
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Frees the buffer while nothing is in it (idle connections cost no
    /// buffer memory).
    pub(crate) fn release(&mut self, pool: Option<&mut BufPool>) {
        if self.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            if let Some(pool) = pool {
                pool.give_input(buf);
            }
            self.clear();
        }
    }
}

/// Whether a head whose first `scanned` bytes were already looked at is
/// worth parsing now that `data` holds it: on the first look (garbage is
/// refused at once), when the request line has just ended (its errors are
/// answered without waiting for the fields), when the end of the head
/// (`LF CRLF` or `LF LF`) may be among the new bytes, or when the buffer
/// is full (to name the limit that was passed). Each byte is searched
/// once, so a head that trickles in costs linear time, not quadratic.
pub(super) fn head_worth_parsing(data: &[u8], scanned: usize) -> bool {
    if scanned == 0 || data.len() >= INPUT_MAX {
        return true;
    }
    let new = &data[scanned.min(data.len())..];
    if !new.contains(&b'\n') {
        return false;
    }
    // The request line ends at the first LF of the buffer: parse if that
    // is among the new bytes.
    if !data[..scanned].contains(&b'\n') {
        return true;
    }
    // An end of head finishes with LF, one or two bytes after another LF:
    // look back two bytes into what was scanned before.
    let from = scanned.saturating_sub(2);
    let window = &data[from..];
    window.windows(2).any(|w| w == b"\n\n") || window.windows(3).any(|w| w == b"\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_parsed_at_its_first_byte_its_first_line_and_its_end() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n";
        let mut parses = Vec::new();
        let mut scanned = 0;
        for end in 1..=head.len() {
            if head_worth_parsing(&head[..end], scanned) {
                parses.push(end);
            }
            scanned = end;
        }
        // The first byte, the request line's LF, and the final LF.
        assert_eq!(parses, [1, 16, head.len()]);
        // Bare LF endings, and an end split across reads.
        let lf = b"GET / HTTP/1.1\nHost: x\n\n";
        assert!(head_worth_parsing(lf, lf.len() - 1));
        assert!(head_worth_parsing(lf, 20));
        assert!(!head_worth_parsing(&lf[..lf.len() - 1], 20));
        assert!(head_worth_parsing(head, head.len() - 2));
        assert!(head_worth_parsing(head, head.len() - 1));
    }
}
