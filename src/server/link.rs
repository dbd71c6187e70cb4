//! What lies between a connection's socket and its core, as both drivers
//! run it: over HTTPS, the handshake first (on the socket), then the core
//! over [`TlsIo`] (HTTP/2 when ALPN chose `h2`); plain HTTP arriving on the HTTPS port handed to the
//! core to answer over the bare socket.

use std::time::Instant;

use crate::config::Config;
use crate::conn::{Cx, Next, Why};
use crate::respond::{Failure, Site};
use crate::server::core::Core;
use crate::tls::session::{Hs, Session, TlsBufs, TlsIo};
use crate::transport::Transport;

/// Drives a TLS connection one turn: the handshake while it lasts, then
/// the connection core over [`TlsIo`]. Buffers that hold nothing go back
/// to `bufs` whenever the connection waits.
pub(crate) fn drive<S: Transport>(
    session: &mut Session,
    conn: &mut Core,
    sock: &mut S,
    cx: &mut Cx<'_>,
    bufs: &mut TlsBufs,
    offload: bool,
) -> Driven {
    if session.handshaking() {
        match session.handshake(sock, bufs, offload) {
            // The keep-alive clock starts when the handshake ends.
            Ok(Hs::Done) => {
                if let Some(m) = cx.metrics {
                    m.handshake(true);
                }
                cx.tls = session.version();
                *conn = Core::after_alpn(conn.peer(), cx.clock.now(), cx.config, session.is_h2());
            }
            Ok(Hs::Wait) => {
                session.release(bufs);
                return Driven::Next(Next::Wait);
            }
            Ok(Hs::Process) => return Driven::Process,
            Ok(Hs::Plain) => return Driven::Plain,
            Ok(Hs::Close) => return Driven::Next(Next::Close(Why::PeerClosed)),
            Err(_) => {
                if let Some(m) = cx.metrics {
                    m.handshake(false);
                }
                return Driven::Next(Next::Close(Why::Tls));
            }
        }
    }
    let next = conn.drive(
        &mut TlsIo {
            session: &mut *session,
            sock,
            bufs: &mut *bufs,
        },
        cx,
    );
    if next == Next::Wait {
        session.release(bufs);
    }
    Driven::Next(next)
}

/// What [`drive`] asks of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driven {
    Next(Next),
    /// Hand the session to a worker for [`Session::process_away`].
    Process,
    /// Plain HTTP: drop the session and [`refuse_plain`] over the socket.
    Plain,
}

/// Plain HTTP arrived on the HTTPS port: the connection core answers it
/// (400, explained: [`Failure::PlainHttp`]) over the bare socket, then
/// shuts its write side and lingers as after any last response.
pub(crate) fn refuse_plain<S: Transport>(conn: &mut Core, sock: &mut S, cx: &mut Cx<'_>) -> Next {
    if let Core::H1(conn) = conn {
        conn.refuse(Failure::PlainHttp, cx);
    }
    conn.drive(sock, cx)
}

/// A new connection's TLS session: one for HTTPS on the server's own
/// port, none otherwise.
pub(crate) fn session_for(
    config: &Config,
    site: Site,
    now: Instant,
) -> std::io::Result<Option<Box<Session>>> {
    match (&config.tls, site) {
        (Some(tls), Site::Public) => Ok(Some(Box::new(Session::new(&tls.server, now)?))),
        _ => Ok(None),
    }
}
