//! A body made off the loop, a bounded piece at a time, as the client
//! takes it: a folder download (`share::archive`).
//!
//! The maker ([`Produce`]) lives in a slot both sides share. When the
//! connection has taken what was made and wants more, it hands the maker
//! to the worker pool through the driver's [`Offload`] for one piece; the
//! job puts the piece and the maker back, and the driver drives the
//! connection again. So:
//! - nothing is made that the client has not nearly asked for: at most
//!   [`AHEAD`] pieces of at most [`PIECE`] bytes wait, and a slow client
//!   holds no worker (backpressure: the maker is simply not asked);
//! - the loop only moves pieces; reading files and compressing happen in
//!   the job;
//! - a download whose connection went away stops at the next piece.
//!
//! The first thing a maker gives is its verdict ([`Piece::Head`]): made
//! on the pool too (walking a folder to count it can take a while), so a
//! request past a bound can still be answered 413 before any byte is sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::work::Offload;

/// The most one piece holds (a little more with a format's framing).
pub(crate) const PIECE: usize = 256 * 1024;
/// Pieces made ahead of what the connection has taken.
pub(crate) const AHEAD: usize = 2;

/// Why a produced body is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// For the log: which bound, and by how much.
    pub(crate) why: String,
}

/// Makes a body in pieces, on a worker.
pub(crate) trait Produce: Send {
    /// The first step: whether the body can be made at all.
    fn start(&mut self) -> Result<(), Refused>;

    /// Appends the next bytes (about [`PIECE`] at most) to `out`: `Ok(true)`
    /// when the body is complete, `Err(why)` when it must be cut here.
    fn fill(&mut self, out: &mut Vec<u8>) -> Result<bool, String>;
}

/// What the connection takes, in order: one `Head`, `Data` pieces, one
/// `End`.
#[derive(Debug)]
pub(crate) enum Piece {
    Head(Result<(), Refused>),
    Data(Vec<u8>),
    /// `Err`: cut short, and why.
    End(Result<(), String>),
}

struct Slot {
    /// `None` while a worker has it, or once it is done.
    maker: Option<Box<dyn Produce>>,
    ready: VecDeque<Piece>,
    started: bool,
    finished: bool,
    /// A job is queued or running.
    away: bool,
}

/// The connection's handle on a body being made.
pub(crate) struct Produced {
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for Produced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Produced")
    }
}

/// What [`Produced::next`] found.
#[derive(Debug)]
pub(crate) enum Next {
    Piece(Piece),
    /// Being made: the driver drives the connection when it is.
    Waiting,
    /// The pool is full: the driver drives the connection again once it
    /// has room (an event loop keeps it in a list; the threaded driver
    /// waits).
    Busy,
}

impl Produced {
    pub(crate) fn new(maker: Box<dyn Produce>) -> Produced {
        Produced {
            slot: Arc::new(Mutex::new(Slot {
                maker: Some(maker),
                ready: VecDeque::new(),
                started: false,
                finished: false,
                away: false,
            })),
        }
    }

    /// The next piece if one is made; otherwise (and whenever fewer than
    /// [`AHEAD`] wait) the maker is sent for more.
    pub(crate) fn next(&mut self, offload: Option<&mut (dyn Offload + '_)>) -> Next {
        let mut offload = offload;
        // Twice at most: an offload that waits for the job (the threaded
        // driver) has the piece ready the second time.
        for _ in 0..2 {
            let (piece, send) = {
                let mut slot = crate::unpoison(self.slot.lock());
                let piece = slot.ready.pop_front();
                let send = !slot.away
                    && !slot.finished
                    && slot.ready.len() < AHEAD
                    && slot.maker.is_some();
                if send {
                    slot.away = true;
                }
                (piece, send)
            };
            if send {
                let shared = self.slot.clone();
                let run: crate::work::Job = Box::new(move || make(&shared));
                let sent = match offload.as_deref_mut() {
                    Some(o) => o.spawn(run),
                    None => Err(run),
                };
                if sent.is_err() {
                    // No room on the pool: the maker is still in the slot.
                    crate::unpoison(self.slot.lock()).away = false;
                    if piece.is_none() {
                        return Next::Busy;
                    }
                }
            }
            if let Some(piece) = piece {
                return Next::Piece(piece);
            }
        }
        Next::Waiting
    }
}

/// One job: the verdict first, else the next piece; then everything goes
/// back into the slot. A body nobody waits for any more (the connection
/// closed) is dropped instead.
fn make(shared: &Arc<Mutex<Slot>>) {
    let (maker, started) = {
        let mut slot = crate::unpoison(shared.lock());
        let started = std::mem::replace(&mut slot.started, true);
        (slot.maker.take(), started)
    };
    let Some(mut maker) = maker else {
        crate::unpoison(shared.lock()).away = false;
        return;
    };
    if Arc::strong_count(shared) == 1 {
        return;
    }
    let (piece, more) = if !started {
        let verdict = maker.start();
        let ok = verdict.is_ok();
        (Piece::Head(verdict), ok)
    } else {
        let mut out = Vec::with_capacity(PIECE + 4096);
        match maker.fill(&mut out) {
            Ok(false) => (Piece::Data(out), true),
            Ok(true) => {
                let mut slot = crate::unpoison(shared.lock());
                if !out.is_empty() {
                    slot.ready.push_back(Piece::Data(out));
                }
                slot.ready.push_back(Piece::End(Ok(())));
                slot.finished = true;
                slot.away = false;
                return;
            }
            Err(why) => (Piece::End(Err(why)), false),
        }
    };
    let mut slot = crate::unpoison(shared.lock());
    slot.ready.push_back(piece);
    slot.away = false;
    if more {
        slot.maker = Some(maker);
    } else {
        slot.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count {
        left: u32,
        refuse: bool,
    }

    impl Produce for Count {
        fn start(&mut self) -> Result<(), Refused> {
            match self.refuse {
                true => Err(Refused { why: "no".into() }),
                false => Ok(()),
            }
        }
        fn fill(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
            out.push(b'0' + self.left as u8);
            self.left -= 1;
            Ok(self.left == 0)
        }
    }

    /// Runs each job in place.
    fn inline() -> crate::work::Waited {
        crate::work::Waited(None)
    }

    fn all(p: &mut Produced) -> Vec<Piece> {
        let mut out = Vec::new();
        loop {
            match p.next(Some(&mut inline())) {
                Next::Piece(piece) => {
                    let end = matches!(piece, Piece::End(_));
                    out.push(piece);
                    if end {
                        return out;
                    }
                }
                other => panic!("inline never waits: {other:?}"),
            }
        }
    }

    #[test]
    fn head_then_pieces_then_end() {
        let mut p = Produced::new(Box::new(Count {
            left: 3,
            refuse: false,
        }));
        let got = all(&mut p);
        assert!(matches!(got[0], Piece::Head(Ok(()))));
        let data: Vec<u8> = got
            .iter()
            .filter_map(|p| match p {
                Piece::Data(d) => Some(d.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(data, b"321");
        assert!(matches!(got.last(), Some(Piece::End(Ok(())))));
    }

    #[test]
    fn a_refusal_ends_it() {
        let mut p = Produced::new(Box::new(Count {
            left: 3,
            refuse: true,
        }));
        assert!(matches!(
            p.next(Some(&mut inline())),
            Next::Piece(Piece::Head(Err(_)))
        ));
        assert!(matches!(p.next(Some(&mut inline())), Next::Waiting));
    }

    #[test]
    fn without_an_offload_it_is_busy_not_made_here() {
        let mut p = Produced::new(Box::new(Count {
            left: 1,
            refuse: false,
        }));
        assert!(matches!(p.next(None), Next::Busy));
        assert!(matches!(
            p.next(Some(&mut inline())),
            Next::Piece(Piece::Head(Ok(())))
        ));
    }
}
