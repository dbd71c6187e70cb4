//! skiff: a small, fast HTTP/1.1 static file server.
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
//! a file under the root, [`respond`] decides the reply and everything about
//! the connection's fate (keep-alive, HEAD, the request body, `100
//! Continue`), and [`http::response`] renders its head.
//! None of them names mio or a socket; [`conn`] drives them over any
//! `Read + Write`, which is what lets a thread-per-connection driver share
//! every line of it.
//!
//! Per request in steady state the loop makes two system calls: a read and
//! a write. Lookups and small files come from a per-loop cache revalidated
//! once a second ([`files::cache`]); buffers and a connection's working
//! state return to a per-loop pool while it is idle, so an idle
//! connection costs a few words.
//!
//! Slow work never runs on a loop: text files are compressed once per
//! version by a small pool of threads ([`work`]), which hand each result
//! back to the loop that asked through its mailbox and `mio::Waker`; until
//! then requests are answered identity ([`files::compress`]).
//!
//! Module map:
//! - [`auth`]: Basic authentication (`--htpasswd`), checked on the worker
//!   pool
//! - [`config`]: flags -> validated [`config::Config`]
//! - [`http`]: request parsing, response heads, the `Date` clock, content
//!   negotiation
//! - [`files`]: path resolution (hidden names, precompressed variants),
//!   directory listings, file bodies, the file cache, compression
//! - [`work`]: the worker pool and the mailboxes results come back through
//! - [`respond`]: request -> reply (methods, authentication, CORS,
//!   redirects, listings, the fallback, variants, conditionals, ranges,
//!   cache rules) and the connection's fate
//! - [`conn`]: the per-connection state machine
//! - [`timer`]: the timer wheel
//! - [`log`]: the access log
//! - [`counts`]: requests per path, printed on SIGUSR1
//! - [`server`]: the I/O drivers and the socket transports
//! - [`sys`]: sendfile, corked writes, a socket's unsent bytes, the open-file
//!   limit: the only `unsafe` code

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
pub mod log;
pub(crate) mod metrics;
pub(crate) mod respond;
pub(crate) mod rules;
pub mod server;
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
