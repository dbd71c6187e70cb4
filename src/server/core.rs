//! What a connection's socket (or TLS session) carries: HTTP/1.1
//! ([`Conn`]) or HTTP/2 ([`H2`]). Both drivers hold a [`Core`] and drive
//! it the same way; a plain connection becomes HTTP/2 when its first
//! bytes are the preface (h2c with prior knowledge), an HTTPS one when
//! ALPN chose `h2`.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Config;
use crate::conn::{Conn, Cx, Next};
use crate::http2::H2;
use crate::transport::Transport;

#[derive(Debug)]
pub(crate) enum Core {
    H1(Conn),
    /// Boxed: an idle HTTP/1 connection stays a few words.
    H2(Box<H2>),
}

impl Core {
    /// An HTTPS connection that chose `h2`, or an HTTP/1 one.
    pub(crate) fn after_alpn(peer: SocketAddr, now: Instant, config: &Config, h2: bool) -> Core {
        match h2 {
            true => Core::H2(Box::new(H2::new(peer, now, config, &[]))),
            false => Core::H1(Conn::new(peer, now, false)),
        }
    }

    /// Runs the connection until it blocks, yields or ends; an HTTP/1
    /// connection whose first bytes are the HTTP/2 preface goes on as
    /// HTTP/2 with them.
    pub(crate) fn drive<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        loop {
            let next = match self {
                Core::H1(conn) => conn.drive(io, cx),
                Core::H2(h2) => h2.drive(io, cx),
            };
            let Core::H1(conn) = self else {
                return next;
            };
            if next != Next::Http2 {
                return next;
            }
            let preread = conn.take_preread(cx);
            let h2 = H2::new(conn.peer(), cx.clock.now(), cx.config, &preread);
            *self = Core::H2(Box::new(h2));
        }
    }

    pub(crate) fn on_timeout<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        match self {
            Core::H1(conn) => conn.on_timeout(io, cx),
            Core::H2(h2) => h2.on_timeout(io, cx),
        }
    }

    pub(crate) fn deadline(&self, config: &Config) -> Instant {
        match self {
            Core::H1(conn) => conn.deadline(config),
            Core::H2(h2) => h2.deadline(config),
        }
    }

    /// An HTTP/1 connection whose first request has not begun.
    pub(crate) fn is_new(&self) -> bool {
        match self {
            Core::H1(conn) => conn.is_new(),
            Core::H2(_) => false,
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        match self {
            Core::H1(conn) => conn.is_idle(),
            Core::H2(h2) => h2.is_idle(),
        }
    }

    pub(crate) fn on_close(&mut self, cx: &mut Cx<'_>) {
        match self {
            Core::H1(conn) => conn.on_close(cx),
            Core::H2(h2) => h2.on_close(cx),
        }
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        match self {
            Core::H1(conn) => conn.peer(),
            Core::H2(h2) => h2.peer(),
        }
    }

    /// Whether it speaks HTTP/2.
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Core::H2(_))
    }
}

/// A connection's core for the fuzz targets (`--features testing`): one
/// that begins as HTTP/1 and becomes HTTP/2 on the preface, as on a plain
/// listener. Not part of the server.
#[cfg(any(test, feature = "testing"))]
pub struct Scripted(Core);

#[cfg(any(test, feature = "testing"))]
impl Scripted {
    pub fn new(peer: SocketAddr, now: Instant) -> Scripted {
        Scripted(Core::H1(Conn::new(peer, now, false)))
    }

    pub fn drive<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        self.0.drive(io, cx)
    }

    pub fn on_timeout<T: Transport>(&mut self, io: &mut T, cx: &mut Cx<'_>) -> Next {
        self.0.on_timeout(io, cx)
    }

    pub fn on_close(&mut self, cx: &mut Cx<'_>) {
        self.0.on_close(cx)
    }

    /// Whether it became HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.0.is_h2()
    }
}
