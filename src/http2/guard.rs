//! Flood detection for an HTTP/2 connection: a reader of frame headers
//! (nine bytes each; payloads are skipped, never parsed) that watches the
//! bytes on their way from the socket to the codec.
//!
//! The codec bounds what it can see one frame at a time (concurrent
//! streams, header lists, CONTINUATION runs, resets of streams not yet
//! accepted, streams it had to reset, small DATA frames). What needs a
//! rate is counted here, per second of the connection's life:
//! - frames that ask for work but carry none (PING, SETTINGS, PRIORITY,
//!   WINDOW_UPDATE, RST_STREAM, unknown types): at most
//!   [`CONTROL_PER_SEC`] a second, plus what the connection earns by
//!   being useful: [`EARNED_PER_REQUEST`] for each request, one for each
//!   [`EARN_BYTES`] sent (a fast download's window updates pay for
//!   themselves);
//! - RST_STREAM on its own, the rapid-reset attack: at most
//!   [`RESETS_PER_SEC`] a second;
//! - empty frames in a row that do not end anything (DATA without
//!   END_STREAM, HEADERS or CONTINUATION without END_HEADERS): at most
//!   [`EMPTY_RUN`].
//!
//! Past any of them the connection gets GOAWAY with ENHANCE_YOUR_CALM and
//! is closed. It also tells when the client's preface and first SETTINGS
//! frame have arrived whole (the handshake deadline ends there).

use std::time::{Duration, Instant};

/// The client's connection preface (RFC 9113 section 3.4).
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Control frames a second a connection may send for nothing.
pub(crate) const CONTROL_PER_SEC: u32 = 1000;
/// Control frames a request earns (its own WINDOW_UPDATE, PRIORITY and a
/// cancel, with room to spare).
pub(crate) const EARNED_PER_REQUEST: u32 = 8;
/// Bytes sent that earn one more control frame.
pub(crate) const EARN_BYTES: u64 = 8 * 1024;
/// RST_STREAM frames a second.
pub(crate) const RESETS_PER_SEC: u32 = 200;
/// Empty frames in a row that end nothing.
pub(crate) const EMPTY_RUN: u32 = 32;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
#[cfg(test)]
const SETTINGS: u8 = 0x4;
#[cfg(test)]
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Which rate a connection went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flood {
    Control,
    Resets,
    Empty,
}

#[derive(Debug)]
pub(crate) struct Guard {
    /// Bytes of the preface still to pass.
    preface_left: u8,
    /// The frame header being collected.
    head: [u8; 9],
    have: u8,
    /// Payload bytes of the current frame still to pass.
    skip: u32,
    /// Frames seen whole so far (the first must be SETTINGS).
    frames: u32,
    /// The current second of counting began here.
    window: Instant,
    control: u32,
    resets: u32,
    /// What this second's allowance has grown by.
    earned: u32,
    empty_run: u32,
    /// Bytes sent, not yet turned into allowance.
    sent: u64,
}

impl Guard {
    /// A guard for a connection whose client preface is still to come.
    pub(crate) fn new(now: Instant) -> Guard {
        Guard {
            preface_left: PREFACE.len() as u8,
            head: [0; 9],
            have: 0,
            skip: 0,
            frames: 0,
            window: now,
            control: 0,
            resets: 0,
            earned: 0,
            empty_run: 0,
            sent: 0,
        }
    }

    /// Whether the preface and a whole first frame (the codec checks it is
    /// SETTINGS) have arrived.
    pub(crate) fn greeted(&self) -> bool {
        self.frames > 0
    }

    /// `bytes` were sent to the client: room for more control frames.
    pub(crate) fn earn_sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
        let earned = self.sent / EARN_BYTES;
        self.sent %= EARN_BYTES;
        self.earned = self.earned.saturating_add(earned as u32);
    }

    /// Watches `bytes` on their way to the codec, at `now`.
    pub(crate) fn scan(&mut self, mut bytes: &[u8], now: Instant) -> Result<(), Flood> {
        if now.saturating_duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.control = 0;
            self.resets = 0;
            self.earned = 0;
        }
        while !bytes.is_empty() {
            if self.preface_left > 0 {
                let n = bytes.len().min(usize::from(self.preface_left));
                self.preface_left -= n as u8;
                bytes = &bytes[n..];
                continue;
            }
            if self.skip > 0 {
                let n = bytes.len().min(self.skip as usize);
                self.skip -= n as u32;
                bytes = &bytes[n..];
                if self.skip == 0 {
                    self.frames = self.frames.saturating_add(1);
                }
                continue;
            }
            let n = bytes.len().min(9 - usize::from(self.have));
            self.head[usize::from(self.have)..usize::from(self.have) + n]
                .copy_from_slice(&bytes[..n]);
            self.have += n as u8;
            bytes = &bytes[n..];
            if self.have == 9 {
                self.have = 0;
                self.frame()?;
            }
        }
        Ok(())
    }

    /// A whole frame header has arrived.
    fn frame(&mut self) -> Result<(), Flood> {
        let [l0, l1, l2, kind, flags, ..] = self.head;
        let len = u32::from_be_bytes([0, l0, l1, l2]);
        self.skip = len;
        if len == 0 {
            self.frames = self.frames.saturating_add(1);
        }
        let empty = len == 0
            && match kind {
                DATA => flags & END_STREAM == 0,
                HEADERS | CONTINUATION => flags & END_HEADERS == 0,
                _ => false,
            };
        if empty {
            self.empty_run += 1;
            if self.empty_run > EMPTY_RUN {
                return Err(Flood::Empty);
            }
        } else if matches!(kind, DATA | HEADERS | CONTINUATION) {
            self.empty_run = 0;
        }
        match kind {
            HEADERS => {
                self.earned = self.earned.saturating_add(EARNED_PER_REQUEST);
            }
            DATA | CONTINUATION | GOAWAY => {}
            _ => {
                self.control += 1;
                if self.control > CONTROL_PER_SEC.saturating_add(self.earned) {
                    return Err(Flood::Control);
                }
                if kind == RST_STREAM {
                    self.resets += 1;
                    if self.resets > RESETS_PER_SEC {
                        return Err(Flood::Resets);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.push(kind);
        f.push(flags);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn greeted_once_the_preface_and_a_whole_first_frame_are_in_however_split() {
        let mut all = PREFACE.to_vec();
        all.extend(frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
        for split in 1..all.len() {
            let now = Instant::now();
            let mut g = Guard::new(now);
            g.scan(&all[..split], now).unwrap();
            assert!(!g.greeted(), "split {split}");
            g.scan(&all[split..], now).unwrap();
            assert!(g.greeted(), "split {split}");
        }
    }

    #[test]
    fn a_ping_flood_is_seen_and_requests_earn_room() {
        let now = Instant::now();
        let mut g = Guard::new(now);
        g.scan(PREFACE, now).unwrap();
        let ping = frame(PING, 0, 0, &[0; 8]);
        for _ in 0..CONTROL_PER_SEC {
            g.scan(&ping, now).unwrap();
        }
        assert_eq!(g.scan(&ping, now), Err(Flood::Control));
        // A second later the count starts again.
        let later = now + Duration::from_secs(1);
        let mut g2 = Guard::new(now);
        g2.scan(PREFACE, now).unwrap();
        for _ in 0..CONTROL_PER_SEC {
            g2.scan(&ping, now).unwrap();
        }
        g2.scan(&ping, later).unwrap();
        // Requests earn room.
        let mut g3 = Guard::new(now);
        g3.scan(PREFACE, now).unwrap();
        g3.scan(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x82]), now)
            .unwrap();
        for _ in 0..CONTROL_PER_SEC + EARNED_PER_REQUEST {
            g3.scan(&ping, now).unwrap();
        }
        assert_eq!(g3.scan(&ping, now), Err(Flood::Control));
    }

    #[test]
    fn resets_and_empty_frames_have_their_own_limits() {
        let now = Instant::now();
        let mut g = Guard::new(now);
        g.scan(PREFACE, now).unwrap();
        let mut result = Ok(());
        for i in 0..=RESETS_PER_SEC {
            let id = 2 * i + 1;
            g.scan(&frame(HEADERS, END_HEADERS | END_STREAM, id, &[0x82]), now)
                .unwrap();
            result = g.scan(&frame(RST_STREAM, 0, id, &[0, 0, 0, 8]), now);
        }
        assert_eq!(result, Err(Flood::Resets));

        let mut g = Guard::new(now);
        g.scan(PREFACE, now).unwrap();
        let empty = frame(DATA, 0, 1, &[]);
        for _ in 0..EMPTY_RUN {
            g.scan(&empty, now).unwrap();
        }
        // A frame with content breaks the run.
        g.scan(&frame(DATA, 0, 1, b"x"), now).unwrap();
        for _ in 0..EMPTY_RUN {
            g.scan(&empty, now).unwrap();
        }
        assert_eq!(g.scan(&empty, now), Err(Flood::Empty));
        // An empty DATA frame that ends its stream is not empty talk.
        let mut g = Guard::new(now);
        g.scan(PREFACE, now).unwrap();
        for _ in 0..EMPTY_RUN * 2 {
            g.scan(&frame(DATA, END_STREAM, 1, &[]), now).unwrap();
        }
    }
}
