//! Accepting: from the server's and the redirect listener while fewer
//! than `max_connections` of theirs are open, pausing (deregistered, the
//! kernel queueing in the backlog) at the cap or after a failed accept;
//! from the metrics listener up to [`MAX_SCRAPERS`], at the cap too.

use std::io;
use std::time::Instant;

use mio::Interest;
use mio::net::TcpStream;

use super::{
    ACCEPTS_PER_TURN, Accepting, EventLoop, LISTENER, Link, MAX_GENERATION, REDIRECT, Slot, token,
};
use crate::conn::Conn;
use crate::respond::Site;
use crate::server::link;
use crate::server::{ACCEPT_BACKOFF, MAX_SCRAPERS};
use crate::timer::later;

impl EventLoop<'_> {
    /// Accepts from the listener and the redirect listener, at most
    /// [`ACCEPTS_PER_TURN`] in all, while fewer than `max_connections` of
    /// theirs are open. (The metrics listener is apart: [`Self::accept_scrapes`].)
    pub(super) fn accept(&mut self) {
        if self.accepting != Accepting::Open {
            return;
        }
        let mut budget = ACCEPTS_PER_TURN;
        let mut more = false;
        let https_port = self.https_port;
        for site in [Site::Public, Site::Redirect { https_port }] {
            loop {
                if self.slots.len() - self.scrapers >= self.max_connections {
                    self.pause_accepting(None);
                    return;
                }
                let listener = match site {
                    Site::Redirect { .. } => &self.redirect_listener,
                    _ => &self.listener,
                };
                let Some(listener) = listener else {
                    break;
                };
                if budget == 0 {
                    more = true;
                    break;
                }
                budget -= 1;
                match listener.accept() {
                    Ok((sock, peer)) => self.admit(sock, peer, site),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if crate::server::accept_error_is_transient(&e) => {}
                    Err(_) => {
                        // Out of descriptors or worse: stop accepting for a
                        // while instead of spinning on it.
                        self.pause_accepting(Some(later(self.clock.now(), ACCEPT_BACKOFF)));
                        return;
                    }
                }
            }
        }
        self.accept_pending = more;
    }

    /// Accepts from the metrics listener, up to [`MAX_SCRAPERS`] open at
    /// once. Scrapes do not count against `--max-connections`, and the
    /// listener stays registered while the others are paused at the cap:
    /// metrics answer exactly when the server is saturated.
    pub(super) fn accept_scrapes(&mut self) {
        self.scrape_pending = false;
        while let Some(listener) = &self.metrics_listener {
            if self.scrapers >= MAX_SCRAPERS {
                // More may wait in the backlog: look again when one closes.
                self.scrape_pending = true;
                return;
            }
            match listener.accept() {
                Ok((sock, peer)) => self.admit(sock, peer, Site::Metrics),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if crate::server::accept_error_is_transient(&e) => {}
                Err(_) => {
                    // Out of descriptors: again when a connection closes.
                    self.scrape_pending = true;
                    return;
                }
            }
        }
    }

    pub(super) fn admit(&mut self, mut sock: TcpStream, peer: std::net::SocketAddr, site: Site) {
        let _ = sock.set_nodelay(true);
        let entry = self.slots.vacant_entry();
        // --max-connections is at most a million: a key always fits.
        let key = entry.key();
        let generation = self.generation;
        self.generation = if generation >= MAX_GENERATION {
            1
        } else {
            generation + 1
        };
        let t = token(key, generation);
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut sock, t, Interest::READABLE | Interest::WRITABLE)
        {
            crate::say!("skiff: register {peer}: {e}");
            return;
        }
        let now = self.clock.now();
        let link = match link::session_for(self.config, site, now) {
            Ok(Some(session)) => Link::Tls(session),
            Ok(None) => Link::Plain,
            Err(e) => {
                crate::say!("skiff: TLS session for {peer}: {e}");
                let _ = self.poll.registry().deregister(&mut sock);
                return;
            }
        };
        if site == Site::Metrics {
            self.scrapers += 1;
        }
        let sendfile = crate::server::sendfile(self.config, matches!(link, Link::Tls(_)));
        entry.insert(Slot {
            conn: crate::server::core::Core::H1(Conn::new(peer, now, sendfile)),
            sock,
            generation: generation as u32,
            timer: None,
            queued: false,
            site,
            link,
        });
        crate::server::admitted(self.config, self.counters(), peer);
        self.arm_timer(key, t);
    }

    pub(super) fn pause_accepting(&mut self, retry: Option<Instant>) {
        if self.accepting == Accepting::Open {
            for listener in [&mut self.listener, &mut self.redirect_listener]
                .into_iter()
                .flatten()
            {
                let _ = self.poll.registry().deregister(listener);
            }
        }
        if self.accepting != Accepting::Closed {
            self.accepting = Accepting::Paused { retry };
        }
        self.accept_pending = false;
    }

    pub(super) fn resume_accepting(&mut self) {
        let Accepting::Paused { .. } = self.accepting else {
            return;
        };
        let Some(listener) = &mut self.listener else {
            return;
        };
        let registry = self.poll.registry();
        let registered = registry
            .register(listener, LISTENER, Interest::READABLE)
            .and_then(|()| match &mut self.redirect_listener {
                Some(l) => registry.register(l, REDIRECT, Interest::READABLE),
                None => Ok(()),
            });
        match registered {
            Ok(()) => {
                self.accepting = Accepting::Open;
                // Connections may have queued while paused; no edge will
                // announce those.
                self.accept_pending = true;
            }
            Err(e) => {
                crate::say!("skiff: listener: {e}");
                self.accepting = Accepting::Paused {
                    retry: Some(later(self.clock.now(), ACCEPT_BACKOFF)),
                };
            }
        }
    }
}
