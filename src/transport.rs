//! The byte streams a connection is driven over: the [`Transport`] trait,
//! and its implementations for mio's non-blocking `TcpStream` (the event
//! loop) and std's blocking one (the threaded driver, with a timeout
//! armed before every call). TLS (`tls::session::TlsIo`) and the tests'
//! scripted peer implement it too. Below the connection core; knows no
//! HTTP.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::Instant;

use crate::http::date::Clock;

/// A byte stream the connection can be driven over. The drivers implement
/// it for their sockets (`server::transport`); the tests and fuzz targets
/// for a scripted peer.
pub trait Transport: Read + Write {
    /// Whether reads and writes block (so the clock must be read again
    /// after them). False for the event loop's non-blocking sockets.
    const BLOCKING: bool = false;

    /// Half-closes the sending side (FIN after the queued bytes).
    fn shutdown_write(&mut self);

    /// Writes bytes that file data will follow at once, so the system may
    /// send them in the same segments (`MSG_MORE`).
    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write(buf)
    }

    /// Called before every read or write with the connection's deadline
    /// (before reads only when `BLOCKING`). A non-blocking transport
    /// ignores it (the default). A blocking one bounds the coming call by
    /// it, refreshing `clock`, and answers `TimedOut` once it has passed,
    /// so a slow trickle of bytes cannot stretch a timeout.
    fn arm(&mut self, deadline: Instant, clock: &Clock, dir: Direction) -> io::Result<()> {
        let _ = (deadline, clock, dir);
        Ok(())
    }

    /// Sends `count` bytes of `file` from `offset` without copying them
    /// through user space. `Ok(0)`: the file ends early.
    fn send_file(&mut self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize> {
        let _ = (file, offset, count);
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Bytes written but not yet acknowledged by the peer (`SIOCOUTQ`), if
    /// the transport can tell. A queue that shrinks is a client reading,
    /// even while the socket is not writable yet.
    fn unsent_bytes(&self) -> Option<usize> {
        None
    }
}

/// Which way a blocking call goes (see [`Transport::arm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Reading the rest of a request (or a body being discarded).
    Read,
    /// Reading while idle between requests: nothing is lost if the
    /// connection is closed now.
    Idle,
    Write,
}

/// The longest one blocking write waits before the connection looks at its
/// deadline and the kernel's queue again.
pub(crate) const WRITE_SLICE: std::time::Duration = std::time::Duration::from_secs(1);

/// Implements [`Transport`] for a TCP socket type with `shutdown` and a
/// raw descriptor; `blocking` adds read and write timeouts armed from the
/// connection's deadline.
macro_rules! socket_transport {
    (blocking $socket:ty) => {
        socket_transport!(@impl $socket, {
            const BLOCKING: bool = true;

            fn arm(&mut self, deadline: Instant, clock: &Clock, dir: Direction) -> io::Result<()> {
                clock.refresh();
                let left = deadline.saturating_duration_since(clock.now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                match dir {
                    // At most a second per blocked write, so that a stall's
                    // start is seen near its start (see `Conn::on_timeout`).
                    Direction::Write => self.set_write_timeout(Some(left.min(WRITE_SLICE))),
                    _ => self.set_read_timeout(Some(left)),
                }
            }
        });
    };
    ($socket:ty) => {
        socket_transport!(@impl $socket, {});
    };
    (@impl $socket:ty, { $($arm:tt)* }) => {
        impl Transport for $socket {
            $($arm)*

            fn shutdown_write(&mut self) {
                let _ = self.shutdown(std::net::Shutdown::Write);
            }

            fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
                crate::sys::send_more(self, buf)
            }

            fn send_file(&mut self, file: &File, offset: u64, count: usize) -> io::Result<usize> {
                crate::sys::sendfile(self, file, offset, count)
            }

            fn unsent_bytes(&self) -> Option<usize> {
                crate::sys::unsent_bytes(self)
            }
        }
    };
}

socket_transport!(mio::net::TcpStream);
socket_transport!(blocking std::net::TcpStream);
