//! Buffers a driver keeps for reuse, so a busy keep-alive connection that
//! is briefly idle between requests does not free and allocate (and zero)
//! its buffers every time. Bounded: idle connections hold no buffer and
//! the pool holds at most [`POOL_MAX`] of each kind.

use super::Busy;

/// First allocation of a receive buffer (the size the pool keeps); it
/// doubles up to `INPUT_MAX` while a head needs more.
pub(crate) const INPUT_INITIAL: usize = 4096;

/// Buffers of each kind a pool keeps.
pub(crate) const POOL_MAX: usize = 128;
/// Output buffers larger than this are freed rather than pooled.
const POOL_OUTPUT_MAX: usize = 32 * 1024;

#[derive(Debug, Default)]
pub(crate) struct BufPool {
    input: Vec<Vec<u8>>,
    output: Vec<Vec<u8>>,
    /// HTTP/2's receive buffers (`http2::wire::INPUT_CHUNK` long).
    h2_input: Vec<Vec<u8>>,
    // The boxes themselves are what is reused: a connection that becomes
    // busy takes one without allocating.
    #[allow(clippy::vec_box)]
    busy: Vec<Box<Busy>>,
}

impl BufPool {
    pub(crate) fn new() -> BufPool {
        BufPool::default()
    }

    pub(super) fn take_input(&mut self) -> Vec<u8> {
        self.input.pop().unwrap_or_default()
    }

    /// Input buffers keep their length (they are read into whole), so a
    /// reused one is not zeroed again.
    pub(super) fn give_input(&mut self, buf: Vec<u8>) {
        if buf.len() == INPUT_INITIAL && self.input.len() < POOL_MAX {
            self.input.push(buf);
        }
    }

    /// An HTTP/2 receive buffer, kept at its length (not zeroed again).
    pub(crate) fn take_h2_input(&mut self) -> Vec<u8> {
        self.h2_input.pop().unwrap_or_default()
    }

    pub(crate) fn give_h2_input(&mut self, buf: Vec<u8>) {
        if self.h2_input.len() < POOL_MAX {
            self.h2_input.push(buf);
        }
    }

    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        self.output.pop().unwrap_or_default()
    }

    pub(crate) fn give_output(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > 0 && buf.capacity() <= POOL_OUTPUT_MAX && self.output.len() < POOL_MAX {
            buf.clear();
            self.output.push(buf);
        }
    }

    pub(super) fn take_busy(&mut self) -> Option<Box<Busy>> {
        self.busy.pop()
    }

    pub(super) fn give_busy(&mut self, busy: Box<Busy>) {
        if self.busy.len() < POOL_MAX {
            self.busy.push(busy);
        }
    }
}
