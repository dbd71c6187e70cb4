//! The sockets the connection core is driven over: [`Transport`] for
//! mio's non-blocking `TcpStream` (the event loop) and std's blocking one
//! (the threaded driver, with a timeout armed before every call).

use std::fs::File;
use std::io;
use std::time::Instant;

use crate::conn::{Direction, Transport};
use crate::http::date::Clock;

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
