//! The thread-per-connection driver: a blocking `std::net` accept loop and
//! one OS thread per connection doing blocking reads and writes.
//!
//! It is the classic design of the assignment servers skiff grew from, kept
//! so the two can be compared. Its only code of its own is the I/O driving:
//! each thread runs the same [`Conn`] (or HTTP/2 core) as the event loop, over a blocking
//! socket whose read and write timeouts are set to the connection's next
//! deadline before every call, so keep-alive, header and send timeouts
//! behave exactly as in the event loop.
//!
//! - **Capacity.** At most `max_connections` threads run at once. When all
//!   are busy the accept loop waits for one to finish; meanwhile new
//!   connections queue in the listen backlog (they are not refused). A
//!   failing `accept` (out of descriptors) backs off for 100 ms.
//! - **Access log.** One log shared by all threads: a line is appended
//!   under a short lock, and a flusher thread writes the buffer out at
//!   least once a second.
//! - **Stopping.** A signal thread (signal-hook's iterator, no work in the
//!   handler) reacts to the first SIGTERM or SIGINT by shutting the
//!   listener down, which wakes the accept loop and refuses new
//!   connections, and by shutting the reading side of idle connections, so
//!   their threads see end-of-stream and exit. Busy connections finish
//!   their response (with `Connection: close`) and close. The process
//!   returns when no connection remains or `--shutdown-timeout` has passed;
//!   a second signal exits at once.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use slab::Slab;

use crate::auth::{Checks, Verdicts};
use crate::config::Config;
use crate::conn::{Conn, Cx, Direction, Next, Timeout, Transport, Why};
use crate::counts::Counts;
use crate::files::cache::SharedCache;
use crate::files::compress::{EncodedCache, OnTheFly};
use crate::hold;
use crate::http::date::Clock;
use crate::log::{AccessLog, FLUSH_INTERVAL, LogSink};
use crate::respond::{Failure, Services, Site};
use crate::server::Listeners;
use crate::server::core::Core;
use crate::server::{ACCEPT_BACKOFF, MAX_SCRAPERS};
use crate::tls::session::{self as tls, Hs, Session, TlsBufs, TlsIo};

/// Stack size of a connection thread. The deepest frame is the parser's
/// 100-slot header array (about 3 KiB); 256 KiB leaves ample room and keeps
/// a thousand threads' address space modest.
pub(crate) const THREAD_STACK: usize = 256 * 1024;

/// After a drain that kept the port open (`--health-path`), how long the
/// connections accepted last have to send their 503.
const LAST_ANSWERS: std::time::Duration = std::time::Duration::from_secs(1);

/// What every thread shares.
struct Shared {
    config: Config,
    log: Option<hold::Shared<AccessLog>>,
    /// One file cache for all threads, locked per lookup.
    cache: SharedCache,
    /// Set by the first signal.
    stopping: AtomicBool,
    /// When the drain ends: set by the first signal.
    drain_until: std::sync::OnceLock<Instant>,
    /// Live connections: each socket's descriptor and whether its thread
    /// is waiting between requests (so stopping may cut its reading side).
    /// INVARIANT: a descriptor in here is open; a thread removes its entry
    /// and closes its socket while holding this lock.
    conns: Mutex<Live>,
    /// Signalled when a connection ends or the server starts stopping.
    changed: Condvar,
    /// Requests per path (one tally for all threads).
    counts: Arc<Counts>,
    /// Compressed variants, one cache for all threads (`--no-compress`:
    /// none).
    encodings: Option<OnTheFly<hold::Shared<EncodedCache>>>,
    /// Password checks (`--htpasswd`): one set of verdicts for all threads.
    auth: Option<Checks<hold::Shared<Verdicts>, crate::auth::Wait>>,
    /// `--metrics`: the counters (one set), and what the listener serves.
    page: Option<crate::metrics::Page>,
    /// The worker pool (folder downloads are made on it).
    pool: Option<crate::work::Pool>,
}

/// The connections open now: each socket's descriptor, whether its thread
/// is waiting between requests, and which listener it came through.
#[derive(Default)]
struct Live {
    slab: Slab<(RawFd, Arc<AtomicBool>, Site)>,
    /// Of them, from the metrics listener.
    scrapers: usize,
}

impl Live {
    /// Whether `door` may take no more: the metrics listener at
    /// [`MAX_SCRAPERS`] of its own, the others at `max_connections`
    /// (which scrapes do not count against).
    fn full(&self, site: Site, max_connections: usize) -> bool {
        match site {
            Site::Metrics => self.scrapers >= MAX_SCRAPERS,
            _ => self.slab.len() - self.scrapers >= max_connections,
        }
    }

    fn insert(&mut self, fd: RawFd, idle: Arc<AtomicBool>, site: Site) -> usize {
        self.scrapers += usize::from(site == Site::Metrics);
        self.slab.insert((fd, idle, site))
    }

    fn remove(&mut self, id: usize) {
        if let Some((_, _, site)) = self.slab.try_remove(id) {
            self.scrapers -= usize::from(site == Site::Metrics);
        }
    }
}

impl Shared {
    fn lock_conns(&self) -> std::sync::MutexGuard<'_, Live> {
        crate::unpoison(self.conns.lock())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The counters (`--metrics`): one set for every thread.
    fn metrics(&self) -> Option<&crate::metrics::LoopMetrics> {
        self.page.as_ref().map(|p| p.metrics.of(0))
    }

    /// Starts stopping: idle connections lose their reading side.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let conns = self.lock_conns();
        for (_, (fd, idle, _)) in conns.slab.iter() {
            if idle.load(Ordering::SeqCst) {
                let _ = crate::sys::shutdown_read(*fd);
            }
        }
        drop(conns);
        self.changed.notify_all();
    }
}

/// A connection's socket as its thread drives it. It keeps the idle flag
/// that `Shared::stop` reads: set just before a read between requests
/// (which then gives up at once if the server is stopping), cleared before
/// any other read and the moment request bytes arrive. Either the thread
/// sees the stop flag or `stop` sees it idle (both sides store, then load,
/// sequentially consistent), so an idle thread always notices, and a
/// request that has begun is never cut short.
struct Socket {
    sock: TcpStream,
    idle: Arc<AtomicBool>,
    shared: Arc<Shared>,
    /// No byte has arrived yet (with `--health-path`, such a connection is
    /// still read while stopping).
    fresh: bool,
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        if n > 0 {
            self.idle.store(false, Ordering::SeqCst);
            self.fresh = false;
        }
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.sock.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

impl Transport for Socket {
    const BLOCKING: bool = true;

    fn shutdown_write(&mut self) {
        self.sock.shutdown_write();
    }
    fn arm(&mut self, deadline: Instant, clock: &Clock, dir: Direction) -> io::Result<()> {
        let idle = dir == Direction::Idle;
        if dir != Direction::Write {
            self.idle.store(idle, Ordering::SeqCst);
        }
        if idle
            && self.shared.stopping()
            && !(self.fresh && self.shared.config.health_path.is_some())
        {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.sock.arm(deadline, clock, dir)
    }
    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write_more(buf)
    }
    fn send_file(&mut self, file: &File, offset: u64, count: usize) -> io::Result<usize> {
        self.sock.send_file(file, offset, count)
    }
    fn unsent_bytes(&self) -> Option<usize> {
        self.sock.unsent_bytes()
    }
}

/// Serves on `listener` with a thread per connection until a signal stops
/// it (see the module documentation).
pub(crate) fn run(
    config: &Config,
    listeners: Listeners<TcpListener>,
    log: Option<AccessLog>,
    max_connections: usize,
    server: crate::server::Shared,
) -> io::Result<()> {
    let Listeners {
        main: listener,
        redirect,
        metrics,
    } = listeners;
    listener.set_nonblocking(false)?;
    let https_port = listener.local_addr()?.port();
    let listener = Arc::new(listener);
    let blocking = |l: Option<TcpListener>| -> io::Result<Option<Arc<TcpListener>>> {
        match l {
            Some(l) => {
                l.set_nonblocking(false)?;
                Ok(Some(Arc::new(l)))
            }
            None => Ok(None),
        }
    };
    let redirect = blocking(redirect)?;
    let metrics = blocking(metrics)?;
    let cache = SharedCache::default();
    if let Some(p) = &server.metrics {
        cache.lock().count_into(p.metrics.clone(), 0);
    }
    let shared = Arc::new(Shared {
        config: config.clone(),
        log: log.map(hold::Shared::new),
        cache,
        stopping: AtomicBool::new(false),
        drain_until: std::sync::OnceLock::new(),
        conns: Mutex::new(Live::default()),
        changed: Condvar::new(),
        counts: server.counts,
        encodings: server.compressor.map(|c| {
            let mut e = OnTheFly::shared(config.compress_cache, c);
            if let Some(p) = &server.metrics {
                e.count_into(p.metrics.clone(), 0);
            }
            e
        }),
        auth: match (config.any_htpasswd(), &server.pool) {
            (true, Some(pool)) => Some(Checks::shared(pool.clone())),
            _ => None,
        },
        pool: server.pool,
        page: server.metrics,
    });

    let mut signals =
        signal_hook::iterator::Signals::new(super::signals(true, config.tls.is_some()))?;
    {
        let shared = shared.clone();
        let listener = listener.clone();
        let redirect = redirect.clone();
        let metrics = metrics.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut seen = 0;
                for signal in signals.forever() {
                    if !super::on_signal(signal, &shared.counts, &shared.config) {
                        continue;
                    }
                    seen += 1;
                    if seen == 1 {
                        crate::say!(
                            "skiff: stopping: finishing responses in flight, for at most {} s",
                            shared.config.shutdown_timeout.as_secs()
                        );
                        shared.stop();
                        let until =
                            crate::timer::later(Instant::now(), shared.config.shutdown_timeout);
                        let _ = shared.drain_until.set(until);
                        if let Some(r) = &metrics {
                            let _ = socket2::SockRef::from(&**r).shutdown(Shutdown::Both);
                        }
                        // Wakes the blocked accepts and refuses new
                        // connections: at once, or with `--health-path`
                        // when the drain ends (until then every request
                        // is answered 503).
                        let listeners = [Some(listener.clone()), redirect.clone()];
                        let close = move || {
                            for l in listeners.iter().flatten() {
                                let _ = socket2::SockRef::from(&**l).shutdown(Shutdown::Both);
                            }
                        };
                        if shared.config.health_path.is_some() {
                            let _ =
                                std::thread::Builder::new()
                                    .name("drain".into())
                                    .spawn(move || {
                                        std::thread::sleep(
                                            until.saturating_duration_since(Instant::now()),
                                        );
                                        close();
                                    });
                        } else {
                            close();
                        }
                    } else {
                        if let Some(log) = &shared.log {
                            let writer = {
                                let mut l = log.lock();
                                l.flush();
                                l.writer().clone()
                            };
                            writer.finish(crate::server::EXIT_FLUSH);
                        }
                        std::process::exit(0);
                    }
                }
            })?;
    }
    if let Some(log) = shared.log.clone() {
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_INTERVAL / 2);
                    log.lock().flush_due(Instant::now());
                }
            })?;
    }

    for (l, site, name) in [
        (redirect, Site::Redirect { https_port }, "accept-redirect"),
        (metrics, Site::Metrics, "accept-metrics"),
    ] {
        if let Some(l) = l {
            let shared = shared.clone();
            let cap = max_connections.max(1);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || accept_loop(&shared, &l, cap, site))?;
        }
    }
    accept_loop(&shared, &listener, max_connections.max(1), Site::Public);

    // Stopping: wait for the connections still open, within the timeout
    // (after a drain that kept the port open: a moment more, for the last
    // answers).
    let until = match shared.drain_until.get() {
        Some(&t) => t.max(crate::timer::later(Instant::now(), LAST_ANSWERS)),
        None => crate::timer::later(Instant::now(), config.shutdown_timeout),
    };
    let mut conns = shared.lock_conns();
    while !conns.slab.is_empty() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            for (_, (fd, _, _)) in conns.slab.iter() {
                let _ = crate::sys::shutdown_read(*fd);
            }
            break;
        }
        conns = crate::unpoison(shared.changed.wait_timeout(conns, left)).0;
    }
    drop(conns);
    if let Some(log) = &shared.log {
        log.lock().flush();
    }
    Ok(())
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, max_connections: usize, site: Site) {
    loop {
        // Wait for a free place; new connections queue in the backlog.
        {
            let mut conns = shared.lock_conns();
            while conns.full(site, max_connections) && !shared.stopping() {
                conns = crate::unpoison(shared.changed.wait(conns));
            }
        }
        // With `--health-path`, the port is read until the drain ends (the
        // signal thread shuts it down then, and accept fails).
        let keep_open = shared.config.health_path.is_some() && site != Site::Metrics;
        if shared.stopping() && !keep_open {
            return;
        }
        match listener.accept() {
            Ok((sock, peer)) => {
                if shared.stopping() && !keep_open {
                    return;
                }
                spawn_connection(shared, sock, peer, site);
            }
            Err(_) if shared.stopping() => return,
            Err(e) if super::accept_error_is_transient(&e) => {}
            Err(_) => {
                std::thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

fn spawn_connection(shared: &Arc<Shared>, sock: TcpStream, peer: SocketAddr, site: Site) {
    let _ = sock.set_nodelay(true);
    let idle = Arc::new(AtomicBool::new(false));
    let id = shared
        .lock_conns()
        .insert(sock.as_raw_fd(), idle.clone(), site);
    super::admitted(&shared.config, shared.metrics(), peer);
    let thread_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let sock = Socket {
                sock,
                idle,
                shared: thread_shared.clone(),
                fresh: true,
            };
            serve(&thread_shared, id, sock, peer, site)
        });
    if let Err(e) = spawned {
        crate::say!("skiff: cannot start a thread for {peer}: {e}");
        shared.lock_conns().remove(id);
    }
}

/// How a handshake over a blocking socket ended well.
enum Handshaken {
    /// TLS is up: the session and its buffers.
    Tls(Box<Session>, TlsBufs),
    /// Plain HTTP arrived instead: answered over the bare socket.
    Plain,
}

/// The TLS handshake over a blocking socket, within `--header-timeout`
/// from accept: each read is armed with what is left of it.
fn handshake(
    shared: &Shared,
    server: &Arc<rustls::ServerConfig>,
    sock: &mut Socket,
    clock: &mut Clock,
) -> Result<Handshaken, Why> {
    let config = &shared.config;
    let mut session = Box::new(Session::new(server, clock.now()).map_err(|_| Why::Tls)?);
    let mut bufs = TlsBufs::new();
    // A stop cuts a handshake that has not begun, like an idle read.
    sock.idle.store(true, Ordering::SeqCst);
    loop {
        let Some(deadline) = session.deadline(config.header_timeout) else {
            return Ok(Handshaken::Tls(session, bufs));
        };
        if shared.stopping() && sock.idle.load(Ordering::SeqCst) {
            return Err(Why::Shutdown);
        }
        let armed = sock
            .sock
            .arm(deadline, clock, Direction::Read)
            .and_then(|()| sock.sock.arm(deadline, clock, Direction::Write));
        if armed.is_err() {
            let expired = tls::handshake_expired(&session, config.header_timeout, clock.now());
            return Err(expired.unwrap_or(Why::Timeout(Timeout::Handshake)));
        }
        match session.handshake(sock, &mut bufs, false) {
            Ok(Hs::Done) => {
                if let Some(m) = shared.metrics() {
                    m.handshake(true);
                }
                return Ok(Handshaken::Tls(session, bufs));
            }
            Ok(Hs::Wait) => clock.update(),
            // Never asked to (offload is false): a thread of its own.
            Ok(Hs::Process) => {}
            Ok(Hs::Plain) => return Ok(Handshaken::Plain),
            Ok(Hs::Close) => return Err(Why::PeerClosed),
            Err(_) => {
                if let Some(m) = shared.metrics() {
                    m.handshake(false);
                }
                return Err(Why::Tls);
            }
        }
    }
}

/// Drives a connection until it closes, and says why.
fn run_conn<T: Transport>(
    shared: &Shared,
    conn: &mut Core,
    io: &mut T,
    idle_flag: &AtomicBool,
    handles: &mut Handles,
    clock: &mut Clock,
) -> Why {
    loop {
        clock.update();
        let idle = conn.is_idle();
        idle_flag.store(idle, Ordering::SeqCst);
        // An idle HTTP/2 connection is driven once more: it says GOAWAY.
        // With `--health-path`, a new connection is read while stopping
        // (its request gets a 503).
        let keep_new = shared.config.health_path.is_some() && conn.is_new();
        if idle && shared.stopping() && !conn.is_h2() && !keep_new {
            return Why::Shutdown;
        }
        let next = match conn.drive(io, &mut handles.cx(shared, clock)) {
            Next::Wait => {
                // A timeout, or a spurious wakeup: check the deadline.
                clock.update();
                conn.on_timeout(io, &mut handles.cx(shared, clock))
            }
            other => other,
        };
        if let Next::Close(why) = next {
            return why;
        }
    }
}

/// A connection thread's own handles on what all threads share, and what
/// kind of connection it drives.
struct Handles {
    log: Option<hold::Shared<AccessLog>>,
    files: SharedCache,
    encodings: Option<OnTheFly<hold::Shared<EncodedCache>>>,
    auth: Option<Checks<hold::Shared<Verdicts>, crate::auth::Wait>>,
    /// Which listener it came through.
    site: Site,
    /// The TLS version, over HTTPS.
    tls: Option<&'static str>,
    /// The host named in the TLS handshake (SNI).
    sni: Option<Arc<str>>,
    /// Folder downloads are made on the pool while this thread waits.
    offload: crate::work::Waited,
}

impl Handles {
    fn new(shared: &Shared, site: Site) -> Handles {
        Handles {
            log: shared.log.clone(),
            files: shared.cache.clone(),
            encodings: shared.encodings.clone(),
            auth: shared.auth.clone(),
            site,
            tls: None,
            sni: None,
            offload: crate::work::Waited(shared.pool.clone()),
        }
    }

    /// What the thread lends its `Conn` for one call: the shared config,
    /// log, caches and verdicts, and the live stop flag. The one place a
    /// `Cx` is made here.
    fn cx<'a>(&'a mut self, shared: &'a Shared, clock: &'a Clock) -> Cx<'a> {
        Cx {
            config: &shared.config,
            clock,
            site: self.site,
            log: self.log.as_mut().map(|l| l as &mut dyn LogSink),
            stopping: Some(&shared.stopping),
            services: Services {
                files: match shared.config.file_cache {
                    true => Some(&mut self.files),
                    false => None,
                },
                encodings: self
                    .encodings
                    .as_mut()
                    .map(|e| e as &mut dyn crate::files::compress::Encodings),
                auth: self
                    .auth
                    .as_mut()
                    .map(|a| a as &mut dyn crate::auth::Authenticator),
                counts: Some(shared.counts.tally(0)),
                page: shared.page.as_ref(),
                offload: Some(&mut self.offload),
            },
            pool: None,
            tls: self.tls,
            sni: self.sni.clone(),
            metrics: shared.metrics(),
        }
    }
}

/// One connection's thread: the same `Conn` as the event loop, driven over
/// a blocking socket; `Conn` arms the socket's timeouts with its deadline
/// before every call (`Transport::arm`). With HTTPS, the handshake comes
/// first, within `--header-timeout`, then the same `Conn` runs over TLS.
fn serve(shared: &Shared, id: usize, mut sock: Socket, peer: SocketAddr, site: Site) {
    let config = &shared.config;
    let mut clock = Clock::new();
    let tls = matches!((&config.tls, site), (Some(_), Site::Public));
    let mut conn = Core::H1(Conn::new(peer, clock.now(), super::sendfile(config, tls)));
    let mut handles = Handles::new(shared, site);
    let idle = sock.idle.clone();
    // With HTTPS, the handshake first: TLS, or plain HTTP refused (the
    // core answers it over the bare socket), or the end.
    let handshaken = match &config.tls {
        Some(tls) if site == Site::Public => {
            Some(handshake(shared, &tls.server, &mut sock, &mut clock))
        }
        _ => None,
    };
    let why = match handshaken {
        Some(Err(why)) => why,
        Some(Ok(Handshaken::Tls(mut session, mut bufs))) => {
            conn = Core::after_alpn(peer, clock.now(), config, session.is_h2());
            handles.tls = session.version();
            handles.sni = session.sni().cloned();
            let mut io = TlsIo {
                session: &mut session,
                sock: &mut sock,
                bufs: &mut bufs,
            };
            run_conn(shared, &mut conn, &mut io, &idle, &mut handles, &mut clock)
        }
        plain => {
            if let (Some(Ok(Handshaken::Plain)), Core::H1(conn)) = (plain, &mut conn) {
                conn.refuse(Failure::PlainHttp, &mut handles.cx(shared, &clock));
            }
            run_conn(
                shared,
                &mut conn,
                &mut sock,
                &idle,
                &mut handles,
                &mut clock,
            )
        }
    };
    conn.on_close(&mut handles.cx(shared, &clock));
    {
        // Close under the lock (see `Shared::conns`).
        let mut conns = shared.lock_conns();
        conns.remove(id);
        drop(sock);
    }
    super::closed(config, shared.metrics(), peer, why);
    shared.changed.notify_all();
}
