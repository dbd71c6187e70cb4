//! skiff: a small, fast static file server (HTTP/1.1 and HTTP/2).
//!
//! # Architecture
//! One `mio::Poll` loop on one thread ([`server::evented`]) owns the
//! listener, a `slab::Slab` of connections keyed by their token, and a
//! hashed timer wheel ([`timer`]). Each turn reads the clock once, drives the
//! connections that are ready, fires due timers, and sleeps until the next
//! event or deadline.
//!
//! Each connection is a state machine ([`conn::Conn`]): a `Reading` state
//! (idle, a head arriving, a request body being discarded) and a `Writing`
//! state (idle, sending, shut and lingering), each variant carrying its own
//! clock. It parses requests incrementally from whatever bytes have
//! arrived, answers pipelined requests in order, and sends file bodies in
//! bounded chunks as the socket accepts them, within one write budget per
//! turn, so a slow reader or a fast download never holds up anyone else.
//! Its single deadline (idle, header, send or linger) is one timer on the
//! wheel.
//!
//! The HTTP logic is sans-I/O: [`http::request`] parses a head from bytes
//! ([`http::chunked`] a chunked body), [`files::resolve`] maps a target to
//! a file under the root, and `respond` makes every HTTP decision: from a
//! request value to a protocol-neutral reply (status, typed fields, body
//! source), matched once on the listener's role (`respond::Site`), with
//! authentication, CORS, the fallback, variants, conditionals and ranges;
//! plus HTTP/1's own connection policy (`respond::fate`) and the one map
//! from what a connection meets on its own to a reply (`respond::failed`).
//! The HTTP/1 writer in [`conn`] renders the reply; an HTTP/2 connection
//! (`http2`) answers each stream with the same `respond` and sends the
//! same fields as HEADERS and DATA frames. None of them names mio
//! or a socket; [`conn`] drives them over any `transport` (a
//! non-blocking socket, a blocking one, TLS), which is what lets a
//! thread-per-connection driver share every line of it.
//!
//! Per request in steady state the loop makes two system calls: a read and
//! a write. Lookups and small files come from a per-loop cache revalidated
//! once a second ([`files::cache`]); buffers and a connection's working
//! state return to a per-loop pool while it is idle, so an idle
//! connection costs a few words.
//!
//! Slow work never runs on a loop: text files are compressed once per
//! version, passwords are checked, folder archives made and uploads
//! written (a piece at a time, as the client takes or sends them) by a
//! small pool of threads (`work`),
//! TLS handshakes by a pool of their own; each result comes back to the
//! loop that asked through its mailbox and `mio::Waker`. Until a variant
//! is made, requests are answered identity ([`files::compress`]); until a
//! verdict is in, the connection is parked. What a driver keeps for these
//! services (caches, verdicts, the log) has one shape for both drivers
//! (`hold`): a loop's own, or shared behind a lock by the threaded
//! driver's threads.
//!
//! Module map, from the bottom up (no module uses one above it):
//! - [`sys`]: sendfile, corked writes, a socket's unsent bytes, the
//!   open-file limit, random bytes, socket activation: the only `unsafe`
//! - [`base64`], `close` (why a connection ends), [`timer`] (the wheel,
//!   deadline arithmetic), `hold`, `work` (the worker pool and mailboxes)
//! - [`http`]: request parsing, response heads, the `Date` clock, content
//!   negotiation; [`log`]: the access log and stderr; `metrics`:
//!   Prometheus counters; `counts`: requests per path (SIGUSR1)
//! - `transport`: the byte streams a connection runs over
//! - [`files`]: path resolution, listings, file bodies, the file cache,
//!   compression, bodies made on the pool; `auth`: Basic authentication
//!   (`--htpasswd`)
//! - [`tls`]: the certificate and rustls settings, and per-connection
//!   sessions ([`tls::session`])
//! - `rules`: what configuration adds (header sets and rules per path,
//!   CORS settings, error pages, and the routes: base path, redirects,
//!   rewrites, clean URLs, trailing slashes), compiled at start
//! - `share`: folder archives (`--archives`) and uploads (`--upload`):
//!   what their pool jobs do
//! - [`config`]: flags, variables and the config file -> [`config::Config`]
//! - `respond`: request -> reply
//! - [`conn`]: the per-connection state machine and the HTTP/1 writer
//! - `http2`: an HTTP/2 connection (the `h2` codec run over buffers the
//!   driver fills and drains, its streams answered by `respond`)
//! - [`server`]: the drivers (event loops, threaded), listeners, what a
//!   connection carries (HTTP/1 or HTTP/2), and the TLS link between
//!   socket and connection

#![deny(unsafe_code)]

pub(crate) mod auth;
pub mod base64;
pub(crate) mod close;
pub mod config;
pub mod conn;
pub(crate) mod counts;
pub mod files;
pub(crate) mod hold;
pub mod http;
pub(crate) mod http2;
pub mod log;
pub(crate) mod metrics;
pub(crate) mod respond;
pub(crate) mod rules;
pub mod server;
pub mod share;
pub mod sys;
pub mod timer;
pub mod tls;
pub(crate) mod transport;
pub(crate) mod work;

/// The value behind a lock whose holder panicked. Nothing skiff keeps
/// under a lock (counts, log buffers, the connection registry, the file
/// cache) is left half-updated by a panic in a way that matters more than
/// serving on, so every lock in the crate is taken through this.
pub(crate) fn unpoison<G>(r: std::sync::LockResult<G>) -> G {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}
