//! The in-memory transport an HTTP/2 connection's codec runs over: the
//! driver puts what it read from the socket into [`Wire::input`] and
//! takes what the codec wrote out of [`Wire::output`]; the codec sees a
//! [`Pipe`] (tokio's `AsyncRead`/`AsyncWrite`, the only part of tokio
//! skiff uses) that is never ready beyond those buffers. No runtime, no
//! reactor: after putting bytes in or taking bytes out the driver polls
//! the connection again itself.
//!
//! Both buffers are bounded ([`INPUT_CHUNK`] is read at a time, and the
//! pipe refuses writes past [`OUTPUT_LIMIT`], which is the codec's
//! backpressure), and both are returned to the driver's pool whenever
//! they are empty, so an idle connection holds neither.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::conn::BufPool;

/// Bytes read from the socket at a time.
pub(crate) const INPUT_CHUNK: usize = 16 * 1024;
/// Bytes the codec may write ahead of the socket before its writes wait
/// (it then stops reading frames too, until the client reads).
pub(crate) const OUTPUT_LIMIT: usize = 64 * 1024;

/// The buffers between socket and codec.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    /// `input[pos..end]` is read from the socket and not yet taken by the
    /// codec. Once allocated the buffer keeps its length, so it is zeroed
    /// once, not before every read.
    input: Vec<u8>,
    pos: usize,
    end: usize,
    /// The client closed its side: once `input` is taken, reads end.
    pub(crate) eof: bool,
    /// Written by the codec, not yet sent: `output[sent..]`.
    output: Vec<u8>,
    sent: usize,
}

impl Wire {
    /// Whether the codec has taken everything read.
    pub(crate) fn input_taken(&self) -> bool {
        self.pos == self.end
    }

    /// Bytes read and not yet taken.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.input[self.pos..self.end]
    }

    /// Drops what was read and not taken (after a flood: none of it is
    /// looked at).
    pub(crate) fn discard_input(&mut self) {
        self.pos = self.end;
    }

    /// Puts bytes read before the connection became HTTP/2 (the preface
    /// the HTTP/1 reader saw) in front of the codec.
    pub(crate) fn preload(&mut self, bytes: &[u8]) {
        self.input = bytes.to_vec();
        self.pos = 0;
        self.end = bytes.len();
    }

    /// Reads once from `r` into the input (which must be all taken):
    /// what `read` returned.
    pub(crate) fn read_from<R: io::Read>(
        &mut self,
        r: &mut R,
        pool: Option<&mut BufPool>,
    ) -> io::Result<usize> {
        debug_assert!(self.input_taken());
        if self.input.len() != INPUT_CHUNK {
            self.input = pool.map(BufPool::take_h2_input).unwrap_or_default();
            self.input.resize(INPUT_CHUNK, 0);
        }
        self.pos = 0;
        self.end = 0;
        let result = r.read(&mut self.input);
        self.end = *result.as_ref().unwrap_or(&0);
        if let Ok(0) = result {
            self.eof = true;
        }
        result
    }

    /// What the codec wrote and the socket has not taken.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.output[self.sent..]
    }

    /// `n` bytes of [`Wire::pending`] were sent.
    pub(crate) fn sent(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.output.len());
        if self.sent == self.output.len() {
            self.output.clear();
            self.sent = 0;
        }
    }

    /// Gives the buffers back to `pool` while they hold nothing.
    pub(crate) fn release(&mut self, pool: Option<&mut BufPool>) {
        let mut pool = pool;
        if self.input_taken() && self.input.capacity() > 0 {
            let buf = std::mem::take(&mut self.input);
            self.pos = 0;
            self.end = 0;
            if let Some(pool) = pool.as_deref_mut() {
                pool.give_h2_input(buf);
            }
        }
        if self.pending().is_empty() && self.output.capacity() > 0 {
            let buf = std::mem::take(&mut self.output);
            self.sent = 0;
            if let Some(pool) = pool {
                pool.give_output(buf);
            }
        }
    }

    fn take_into(&mut self, buf: &mut ReadBuf<'_>) -> usize {
        let n = buf.remaining().min(self.end - self.pos);
        buf.put_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

/// The codec's end of a [`Wire`].
#[derive(Debug, Clone)]
pub(crate) struct Pipe(pub(crate) Rc<RefCell<Wire>>);

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut wire = self.0.borrow_mut();
        if wire.take_into(buf) > 0 || wire.eof {
            // Nothing put and at the end: end of stream.
            Poll::Ready(Ok(()))
        } else {
            // The driver polls again when it has read more.
            Poll::Pending
        }
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut wire = self.0.borrow_mut();
        let room = OUTPUT_LIMIT.saturating_sub(wire.output.len() - wire.sent);
        if room == 0 {
            // The driver polls again when the socket has taken some.
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        wire.output.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Flushed as far as the codec is concerned: the driver sends it.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
impl Wire {
    /// Bytes of buffer the wire holds (allocated, used or not).
    pub(crate) fn held(&self) -> usize {
        self.input.capacity() + self.output.capacity()
    }
}
