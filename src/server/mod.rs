//! The I/O drivers, and what they share: binding the listener and the
//! start-up line.
//!
//! A driver owns sockets and time; everything HTTP is in `conn` and below.

pub mod evented;

use std::io;

use crate::config::Config;
use crate::log::AccessLog;

/// Why the server could not run, as one line.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Binds, prints `Listening on http://ADDR:PORT/ (root: DIR)` on stdout,
/// and serves until the loop fails.
pub fn run(config: &Config) -> Result<(), RunError> {
    let log = match &config.access_log {
        Some(target) => Some(
            AccessLog::open(target)
                .map_err(|e| RunError(format!("cannot open access log '{target}': {e}")))?,
        ),
        None => None,
    };
    let listener = mio::net::TcpListener::bind(config.addr)
        .map_err(|e| RunError(format!("cannot listen on {}: {e}", config.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| RunError(format!("cannot listen on {}: {e}", config.addr)))?;
    announce(local, config);
    let mut event_loop = evented::EventLoop::new(config, listener, log)
        .map_err(|e| RunError(format!("event loop: {e}")))?;
    event_loop
        .run()
        .map_err(|e| RunError(format!("event loop: {e}")))
}

fn announce(local: std::net::SocketAddr, config: &Config) {
    use io::Write;
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "Listening on http://{local}/ (root: {})",
        config.root.display()
    );
    let _ = out.flush();
}
