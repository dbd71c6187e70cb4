//! The I/O drivers, and what they share: binding the listener, fitting the
//! connection cap to the open-file limit, and the start-up line.
//!
//! A driver owns sockets and time; everything HTTP is in `conn` and below.

pub mod core;
pub(crate) mod evented;
pub(crate) mod link;
pub(crate) mod threaded;
pub(crate) mod urls;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Socket, Type};

use crate::config::{Config, Mode};
use crate::counts::Counts;
use crate::files::compress::Compressor;
use crate::log::AccessLog;

/// Listen backlog: connections the kernel completes and queues while the
/// loop is busy or paused at its cap (the kernel caps it at
/// `net.core.somaxconn`). std's 128 is too few for thousands of clients
/// arriving at once.
pub(crate) const BACKLOG: i32 = 4096;

/// How long accepting stays paused after accept failed (out of
/// descriptors), unless a connection closes first.
pub(crate) const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Metrics connections open at once, apart from `--max-connections`: a
/// scraper or two and a person with curl. More wait in the backlog. They
/// are not counted against the cap, so scrapes answer when the server is
/// saturated.
pub(crate) const MAX_SCRAPERS: usize = 8;

/// Why the server could not run, as one line.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sorts an `accept` error: `true` for one to simply try again after (the
/// peer gave up, or a signal interrupted), `false` for one to back off
/// from (out of descriptors or memory, or anything unexpected, which is
/// reported once on stderr; running out of descriptors is routine under
/// load and is not).
pub(crate) fn accept_error_is_transient(e: &io::Error) -> bool {
    if matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return true;
    }
    if !matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
        crate::say!("skiff: accept: {e}");
    }
    false
}

/// A non-blocking listening socket on `addr`.
pub(crate) fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Descriptors held back from connections for the listener, the poll
/// instance, the signal pipe, standard streams, the access log, and files
/// being opened: an eighth of the limit, at least 16 and at most 1024.
pub(crate) fn descriptor_reserve(nofile: u64) -> u64 {
    (nofile / 8).clamp(16, 1024)
}

/// The most connections to hold open: `--max-connections` if given and
/// possible, else what the open-file limit allows less the reserve. The
/// second value is a warning when a requested cap had to be lowered.
pub(crate) fn connection_cap(requested: Option<u64>, nofile: u64) -> (usize, Option<String>) {
    let possible = nofile.saturating_sub(descriptor_reserve(nofile)).max(1);
    match requested {
        Some(n) if n > possible => (
            possible as usize,
            Some(format!(
                "--max-connections {n} is more than the open-file limit ({nofile}) allows; using {possible}"
            )),
        ),
        Some(n) => (n as usize, None),
        None => (possible as usize, None),
    }
}

/// Binds, prints `Listening on http://ADDR:PORT/ (root: DIR)` on stdout,
/// and serves until a signal stops it.
pub fn run(config: &Config) -> Result<(), RunError> {
    let log = match &config.access_log {
        Some(target) => Some(
            AccessLog::open(target)
                .map_err(|e| RunError(format!("cannot open access log '{target}': {e}")))?
                .format(config.access_log_format),
        ),
        None => None,
    };
    let nofile = crate::sys::raise_nofile_limit().unwrap_or(1024);
    let (cap, warning) = connection_cap(config.max_connections, nofile);
    if let Some(w) = warning {
        crate::say!("skiff: {w}");
    }
    let loops = config.mode.loops();
    let reuse_port = loops > 1;
    let inherited = |fd: i32| {
        crate::sys::inherited_listener(fd)
            .map_err(|e| RunError(format!("cannot serve on descriptor {fd}: {e}")))
    };
    let first = match config.listen_fds.first() {
        Some(&fd) => inherited(fd)?,
        None => bind(config.addr, reuse_port)
            .map_err(|e| RunError(format!("cannot listen on {}: {e}", config.addr)))?,
    };
    let local = first
        .local_addr()
        .map_err(|e| RunError(format!("cannot listen on {}: {e}", config.addr)))?;
    // More loops listen on the very port the first one got (it may have
    // been chosen by the OS), sharing it through SO_REUSEPORT; an inherited
    // socket is shared by descriptor instead.
    let mut others = Vec::new();
    for _ in 1..loops {
        others.push(
            match config.listen_fds.is_empty() {
                true => bind(local, true),
                false => first.try_clone(),
            }
            .map_err(|e| RunError(format!("cannot listen on {local}: {e}")))?,
        );
    }
    // --redirect-http: a plain listener per loop on one more port (or the
    // second inherited socket).
    let mut redirects = Vec::new();
    let mut redirect_local = None;
    if let Some(&fd) = config.listen_fds.get(1) {
        let l = inherited(fd)?;
        redirect_local = l.local_addr().ok();
        for _ in 1..loops {
            redirects.push(
                l.try_clone()
                    .map_err(|e| RunError(format!("descriptor {fd}: {e}")))?,
            );
        }
        redirects.insert(0, l);
    } else if let Some(port) = config.redirect_http {
        let mut addr = config.addr;
        addr.set_port(port);
        let failed =
            |e: io::Error| RunError(format!("cannot listen on {addr} (--redirect-http): {e}"));
        let first = bind(addr, reuse_port).map_err(failed)?;
        let at = first.local_addr().map_err(failed)?;
        redirects.push(first);
        for _ in 1..loops {
            redirects.push(bind(at, true).map_err(failed)?);
        }
        redirect_local = Some(at);
    }
    // With HTTPS, SIGHUP reloads the certificate; like SIGUSR1 it must not
    // end the process before the driver's handler is in place.
    if config.tls.is_some() {
        signal_hook::flag::register(
            signal_hook::consts::SIGHUP,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .map_err(|e| RunError(format!("cannot handle SIGHUP: {e}")))?;
    }
    // SIGUSR1's default action ends the process: take it over before
    // anyone can know the address, so a report asked for right after the
    // start-up line never kills the server. (The driver's own handler
    // prints; this one only sets an unused flag.)
    signal_hook::flag::register(
        signal_hook::consts::SIGUSR1,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .map_err(|e| RunError(format!("cannot handle SIGUSR1: {e}")))?;
    // One pool for all slow work: compression, password checks, and
    // folder downloads.
    let pool = if config.needs_pool() {
        Some(
            crate::work::Pool::new(config.compress_threads)
                .map_err(|e| RunError(format!("cannot start worker threads: {e}")))?,
        )
    } else {
        None
    };
    let compressor = match (&pool, config.compress) {
        (Some(pool), true) => Some(Compressor::new(pool.clone(), config.compress_cache)),
        _ => None,
    };
    // TLS handshakes' key exchange and signature, off the event loops: a
    // pool of their own, so that a handshake never waits behind a file
    // being compressed. One thread per loop.
    let handshakes = match (&config.tls, config.mode) {
        (Some(_), Mode::EventLoops(n)) => Some(
            crate::work::Pool::new(n)
                .map_err(|e| RunError(format!("cannot start handshake threads: {e}")))?,
        ),
        _ => None,
    };
    // --metrics: a listener of its own (on loop 0), and counters per loop.
    let (metrics_listener, page) = match config.metrics {
        Some(addr) => {
            let l = bind(addr, false)
                .map_err(|e| RunError(format!("cannot listen on {addr} (--metrics): {e}")))?;

            let metrics = crate::metrics::Metrics::new(
                loops,
                config.tls.is_some(),
                config.compress,
                config.sites.iter().map(|v| v.host.text().into()).collect(),
            );
            let page = crate::metrics::Page {
                metrics,
                access_log: log.as_ref().map(|l| l.writer().clone()),
            };
            (Some(l), Some(page))
        }
        None => (None, None),
    };
    let metrics_local = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    announce(local, config, redirect_local, metrics_local);
    let counts = Arc::new(Counts::new(others.len() + 1));
    let shared = Shared {
        counts: counts.clone(),
        compressor,
        pool,
        handshakes,
        metrics: page,
    };
    // From here on, messages on stderr never block serving (`log::say`).
    crate::log::start_stderr()
        .map_err(|e| RunError(format!("cannot start the stderr writer: {e}")))?;
    let log_writer = log.as_ref().map(|l| l.writer().clone());
    let bound = Bound {
        first,
        others,
        redirects,
        metrics: metrics_listener,
    };
    let result = serve(config, bound, log, cap, &shared);
    if result.is_ok() && config.verbose {
        counts.print();
    }
    // The last lines, unless nobody reads them.
    for w in log_writer.iter().chain(crate::log::stderr_writer()) {
        w.finish(EXIT_FLUSH);
    }
    result
}

/// The sockets one driver (or one event loop) accepts on.
pub(crate) struct Listeners<L> {
    /// The server's port.
    pub(crate) main: L,
    /// `--redirect-http`.
    pub(crate) redirect: Option<L>,
    /// `--metrics` (one loop has it).
    pub(crate) metrics: Option<L>,
}

/// Whether large file bodies of a new connection go out with sendfile:
/// not with `--no-sendfile`, not where the system lacks it, and not
/// through TLS (the kernel does not encrypt here). Decided once per
/// connection.
pub(crate) fn sendfile(config: &Config, tls: bool) -> bool {
    config.sendfile && crate::sys::HAS_SENDFILE && !tls
}

/// A connection was accepted: counted (`--metrics`) and, with
/// `--verbose`, said.
pub(crate) fn admitted(
    config: &Config,
    metrics: Option<&crate::metrics::LoopMetrics>,
    peer: SocketAddr,
) {
    if let Some(m) = metrics {
        m.accepted();
    }
    if config.verbose {
        crate::say!("skiff: {peer} connected");
    }
}

/// A connection ended for `why`: counted and, with `--verbose`, said.
pub(crate) fn closed(
    config: &Config,
    metrics: Option<&crate::metrics::LoopMetrics>,
    peer: SocketAddr,
    why: crate::conn::Why,
) {
    if let Some(m) = metrics {
        m.closed(why);
    }
    if config.verbose {
        crate::say!("skiff: {peer} closed: {why}");
    }
}

/// How long the exit waits for the access log and stderr to be written.
pub(crate) const EXIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// What every driver of one server shares.
#[derive(Clone)]
pub(crate) struct Shared {
    /// Requests per path.
    pub(crate) counts: Arc<Counts>,
    /// The compression workers (none with `--no-compress`).
    pub(crate) compressor: Option<Arc<Compressor>>,
    /// The worker pool (for password checks; the compressor has it too).
    pub(crate) pool: Option<crate::work::Pool>,
    /// Workers for TLS handshakes (event loops with HTTPS only).
    pub(crate) handshakes: Option<crate::work::Pool>,
    /// `--metrics`: the counters, and what the metrics listener serves.
    pub(crate) metrics: Option<crate::metrics::Page>,
}

/// Runs the configured driver(s) until they stop.
/// The sockets a server listens on.
struct Bound {
    /// The server's listener, and its siblings for the other loops.
    first: std::net::TcpListener,
    others: Vec<std::net::TcpListener>,
    /// `--redirect-http`, one per loop.
    redirects: Vec<std::net::TcpListener>,
    /// `--metrics`.
    metrics: Option<std::net::TcpListener>,
}

fn serve(
    config: &Config,
    bound: Bound,
    log: Option<AccessLog>,
    cap: usize,
    shared: &Shared,
) -> Result<(), RunError> {
    let Bound {
        first,
        others,
        redirects,
        metrics,
    } = bound;
    let failed = |e: io::Error| RunError(format!("event loop: {e}"));
    let mut redirects = redirects.into_iter();
    if config.mode == Mode::Threaded {
        let listeners = Listeners {
            main: first,
            redirect: redirects.next(),
            metrics,
        };
        return threaded::run(config, listeners, log, cap, shared.clone())
            .map_err(|e| RunError(format!("threaded server: {e}")));
    }
    let mio_listener = mio::net::TcpListener::from_std;
    // The metrics listener is loop 0's.
    let metrics = metrics.map(mio_listener);
    if others.is_empty() {
        let listener = mio_listener(first);
        let redirect = redirects.next().map(mio_listener);
        let doors = Listeners {
            main: listener,
            redirect,
            metrics,
        };
        return evented::EventLoop::new(config, doors, log, cap, shared.clone(), 0)
            .and_then(|mut l| l.run())
            .map_err(failed);
    }
    let first_redirect = redirects.next().map(mio_listener);
    // Several event loops: each its own thread, poll, slab, wheel, listener
    // and log buffer (over one shared sink), and a share of the cap.
    let each = (cap / config.mode.loops()).max(1);
    let result = std::thread::scope(|scope| {
        let handles: Vec<_> = others
            .into_iter()
            .enumerate()
            .map(|(i, listener)| {
                let log = log.as_ref().map(AccessLog::sibling);
                let shared = shared.clone();
                let redirect = redirects.next().map(mio_listener);
                scope.spawn(move || {
                    let doors = Listeners {
                        main: mio_listener(listener),
                        redirect,
                        metrics: None,
                    };
                    evented::EventLoop::new(config, doors, log, each, shared, i + 1)
                        .and_then(|mut l| l.run())
                })
            })
            .collect();
        let doors = Listeners {
            main: mio_listener(first),
            redirect: first_redirect,
            metrics,
        };
        let mut result = evented::EventLoop::new(config, doors, log, each, shared.clone(), 0)
            .and_then(|mut l| l.run());
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("an event loop panicked")));
            result = result.and(r);
        }
        result
    });
    result.map_err(failed)
}

/// `--health-check PATH`: a HEAD request for PATH to the server `config`
/// describes, over loopback when it binds every address. Success is a 2xx
/// or 3xx status within [`HEALTH_TIMEOUT`] for each step.
pub fn health_check(config: &Config, path: &str) -> Result<(), String> {
    use io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};
    let mut addr = config.addr;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        _ => {}
    }
    let fail = |what: &str, e: io::Error| format!("{what} {addr}: {e}");
    let mut stream =
        TcpStream::connect_timeout(&addr, HEALTH_TIMEOUT).map_err(|e| fail("connect to", e))?;
    stream
        .set_read_timeout(Some(HEALTH_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(HEALTH_TIMEOUT)))
        .map_err(|e| fail("set up", e))?;
    let request = format!(
        "HEAD {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: skiff-health-check\r\nConnection: close\r\n\r\n"
    );
    // Over HTTPS when the server speaks it (see `tls::health_check_client`).
    let mut tls = match &config.tls {
        Some(tls) => {
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let conn = rustls::ClientConnection::new(crate::tls::health_check_client(tls), name)
                .map_err(|e| fail("set up TLS for", io::Error::other(e)))?;
            Some(conn)
        }
        None => None,
    };
    let mut io: Box<dyn ReadWrite + '_> = match &mut tls {
        Some(conn) => Box::new(rustls::Stream::new(conn, &mut stream)),
        None => Box::new(&mut stream),
    };
    io.write_all(request.as_bytes())
        .and_then(|()| io.flush())
        .map_err(|e| fail("send to", e))?;
    // The response head, parsed by httparse as it arrives.
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    let code = loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut fields);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => break response.code,
            Ok(httparse::Status::Partial) if head.len() < HEALTH_HEAD_MAX => {}
            _ => break None,
        }
        match io.read(&mut chunk) {
            Ok(0) => break None,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail("read from", e)),
        }
    };
    let line = head.split(|&c| c == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    match code {
        Some(200..=399) => Ok(()),
        Some(_) => Err(format!("{addr} answered {path} with '{line}'")),
        None => Err(format!("{addr} did not answer {path} with HTTP")),
    }
}

/// A stream the health check can speak through, TLS or not.
trait ReadWrite: io::Read + io::Write {}
impl<T: io::Read + io::Write> ReadWrite for T {}

/// The longest response head the health check reads.
const HEALTH_HEAD_MAX: usize = 16 * 1024;

/// How long the health check waits for each of connect, send and reply.
pub(crate) const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The start-up line, `Listening on http://ADDR:PORT/ (root: DIR)` (or
/// `https://`); with `--tls-self-signed` the certificate's fingerprint on
/// the next line; with `--redirect-http` the redirect listener's address.
fn announce(
    local: SocketAddr,
    config: &Config,
    redirect: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
) {
    use io::Write;
    let mut out = io::stdout().lock();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let interfaces = urls::interface_addresses();
    let everywhere = urls::wildcard_urls(local, scheme, &interfaces, urls::dual_stack());
    match &everywhere {
        // Bound to every address: a URL for each one a browser can use.
        Some(list) => {
            let _ = writeln!(
                out,
                "Listening on every address, port {} (root: {}):",
                local.port(),
                config.root.display()
            );
            for url in list {
                let _ = writeln!(out, "  {url}");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "Listening on {scheme}://{local}/ (root: {})",
                config.root.display()
            );
        }
    }
    if let Some(up) = &config.upload {
        let _ = writeln!(
            out,
            "Uploads into {} (each at most {}; {})",
            up.dir.display(),
            crate::files::listing::human_size(up.max_bytes),
            if up.overwrite {
                "a file of the same name is replaced"
            } else {
                "no file is ever replaced"
            }
        );
        if config.htpasswd.is_none() {
            let _ = writeln!(
                out,
                "Warning: uploads without --htpasswd: anyone who can reach this server can add files"
            );
        }
        if everywhere.is_some() {
            let _ = writeln!(
                out,
                "Warning: uploads on every address: anyone on these networks can reach them (--bind 127.0.0.1 keeps them on this machine)"
            );
        }
    }
    if config.qr {
        let own = format!("{scheme}://{local}/");
        let url = match &everywhere {
            Some(list) => urls::lan_url(list),
            None if !local.ip().is_loopback() => Some(own.as_str()),
            None => None,
        };
        match url.and_then(|u| urls::qr(u).map(|code| (u, code))) {
            Some((url, code)) => {
                let _ = write!(out, "{code}\n{url}\n");
            }
            None => {
                let _ = writeln!(
                    out,
                    "--qr: no address another device can reach (bind 0.0.0.0 or a LAN address)"
                );
            }
        }
    }
    if let Some(tls) = &config.tls {
        if let crate::tls::Source::SelfSigned { fingerprint, spki } = &tls.source {
            let _ = writeln!(
                out,
                "Self-signed certificate for localhost, 127.0.0.1 and ::1; SHA-256 fingerprint {fingerprint} (public key SHA-256 {spki})"
            );
        }
    }
    if let Some(at) = redirect {
        let _ = writeln!(out, "Redirecting http://{at}/ to https://");
    }
    if let Some(at) = metrics {
        let _ = writeln!(out, "Metrics on http://{at}/metrics");
    }
    let _ = out.flush();
}

/// The signals a driver answers: every event loop stops on SIGTERM and
/// SIGINT; the first loop (or the threaded driver) also answers SIGUSR1
/// and, with HTTPS, SIGHUP, for the whole server.
pub(crate) fn signals(first: bool, tls: bool) -> &'static [i32] {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    match (first, tls) {
        (true, true) => &[SIGTERM, SIGINT, SIGUSR1, SIGHUP],
        (true, false) => &[SIGTERM, SIGINT, SIGUSR1],
        (false, _) => &[SIGTERM, SIGINT],
    }
}

/// Does what `signal` asks: SIGUSR1 prints the request counts, SIGHUP
/// reloads the certificate; `true` for SIGTERM or SIGINT, which the
/// driver answers by stopping (gracefully the first time).
pub(crate) fn on_signal(signal: i32, counts: &Counts, config: &Config) -> bool {
    match signal {
        signal_hook::consts::SIGUSR1 => {
            counts.print();
            false
        }
        signal_hook::consts::SIGHUP => {
            reload_tls(config);
            false
        }
        _ => true,
    }
}

/// SIGHUP with HTTPS: loads the certificate and key files again, on a
/// thread of its own (reading and checking a key is not work for the event
/// loop), and says in one line what came of it. A file that does not load
/// leaves the current certificate in place.
pub(crate) fn reload_tls(config: &Config) {
    let Some(tls) = config.tls.clone() else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("tls-reload".into())
        .spawn(move || match tls.reload() {
            Ok(true) => crate::say!(
                "skiff: SIGHUP: reloaded the TLS certificate (SHA-256 {})",
                tls.current_fingerprint()
            ),
            Ok(false) => {
                crate::say!("skiff: SIGHUP: a self-signed certificate has no files to reload")
            }
            Err(e) => crate::say!("skiff: SIGHUP: kept the current TLS certificate: {e}"),
        });
    if let Err(e) = spawned {
        crate::say!("skiff: SIGHUP: cannot reload the TLS certificate: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_descriptor_limit() {
        assert_eq!(connection_cap(None, 64), (48, None));
        assert_eq!(connection_cap(None, 20_000), (18_976, None));
        assert_eq!(connection_cap(None, 1 << 20), ((1 << 20) - 1024, None));
        assert_eq!(connection_cap(Some(10), 64), (10, None));
        let (cap, warning) = connection_cap(Some(100), 64);
        assert_eq!(cap, 48);
        assert!(warning.unwrap().contains("--max-connections 100"));
        assert_eq!(connection_cap(None, 3).0, 1, "never zero");
    }
}
