//! A scripted peer for driving a [`Conn`](crate::conn::Conn) without a
//! socket: shared by the unit tests and the fuzz targets. Not part of the
//! server.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::Transport;

/// Reads come from `incoming`, one chunk per call (a chunk longer than the
/// reader's buffer is split; an empty chunk reads as `WouldBlock`; nothing
/// left reads as end of stream). Writes accept at most `window` bytes per
/// call (`WouldBlock` when it is 0) and collect in `sent`.
#[derive(Debug, Default)]
pub struct ScriptedPeer {
    pub incoming: VecDeque<Vec<u8>>,
    pub sent: Vec<u8>,
    pub window: usize,
    /// The connection half-closed its sending side.
    pub shut: bool,
    /// What the kernel would say it still holds for the peer (`SIOCOUTQ`).
    pub queued: Option<usize>,
}

impl Read for ScriptedPeer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.incoming.pop_front() {
            None => Ok(0),
            Some(c) if c.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            Some(mut c) => {
                let n = c.len().min(buf.len());
                buf[..n].copy_from_slice(&c[..n]);
                if n < c.len() {
                    self.incoming.push_front(c.split_off(n));
                }
                Ok(n)
            }
        }
    }
}

impl Write for ScriptedPeer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.window == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.window);
        self.sent.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for ScriptedPeer {
    fn shutdown_write(&mut self) {
        self.shut = true;
    }

    fn unsent_bytes(&self) -> Option<usize> {
        self.queued
    }
}
