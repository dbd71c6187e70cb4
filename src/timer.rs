//! A hashed timer wheel: the event loop's only source of timeouts.
//!
//! It owns a ring of buckets, each holding the timers whose deadline tick
//! falls on it modulo the ring size, and it never reads a clock: every
//! operation takes the current tick as an argument, so the tests are exact
//! and sleep-free. It must never hand out a value twice or hand out a value
//! whose timer was cancelled; handles carry a generation so a stale one (for
//! a timer that already fired or was cancelled) is refused, even when its
//! storage slot has been reused.
//!
//! Costs: `insert` and `cancel` are O(1); `advance` visits each bucket passed
//! (at most one full ring per call) and each timer in it; `next_deadline`
//! walks forward from the current tick to the first bucket holding a timer.

use std::time::{Duration, Instant};

use slab::Slab;

/// `t + d`, or a moment far enough away to mean "never" if that would
/// overflow. Every deadline is computed through this.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);
    t.checked_add(d).or_else(|| t.checked_add(FAR)).unwrap_or(t)
}

/// Buckets in the ring. A power of two so the bucket of a tick is a mask.
/// With the event loop's 50 ms tick one rotation is 51.2 s, longer than any
/// default timeout, so a timer is usually looked at only when it is due.
pub(crate) const BUCKETS: usize = 1024;

/// Refers to one inserted timer. Stale handles are harmless: `cancel`
/// refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerHandle {
    key: usize,
    generation: u64,
}

#[derive(Debug)]
struct Entry<T> {
    deadline: u64,
    generation: u64,
    value: T,
}

/// The wheel. `T` is what comes back when a timer fires (the event loop uses
/// the connection's token).
#[derive(Debug)]
pub struct TimerWheel<T> {
    /// `(entry key, generation)` per bucket. A pair whose generation no
    /// longer matches the entry is a cancelled timer, swept lazily.
    buckets: Vec<Vec<(usize, u64)>>,
    entries: Slab<Entry<T>>,
    /// INVARIANT: every live entry has `deadline > now` or is in a bucket
    /// that the next `advance` will visit.
    now: u64,
    next_generation: u64,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T> TimerWheel<T> {
    /// An empty wheel whose current tick is `now`.
    pub fn new(now: u64) -> Self {
        TimerWheel {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            entries: Slab::new(),
            now,
            next_generation: 1,
        }
    }

    /// Live timers (tests look; the loop never needs to).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Schedules `value` to fire at `deadline` (a tick). A deadline at or
    /// before the current tick fires on the next `advance`.
    pub fn insert(&mut self, deadline: u64, value: T) -> TimerHandle {
        let deadline = deadline.max(self.now + 1);
        let generation = self.next_generation;
        self.next_generation += 1;
        let key = self.entries.insert(Entry {
            deadline,
            generation,
            value,
        });
        self.buckets[bucket_of(deadline)].push((key, generation));
        TimerHandle { key, generation }
    }

    /// Cancels a timer, giving back its value; `None` for a stale handle.
    pub fn cancel(&mut self, handle: TimerHandle) -> Option<T> {
        match self.entries.get(handle.key) {
            Some(e) if e.generation == handle.generation => {
                Some(self.entries.remove(handle.key).value)
            }
            _ => None,
        }
    }

    /// Moves time forward to `now` and pushes the value of every timer with
    /// `deadline <= now` onto `fired`, in no particular order. Moving
    /// backwards does nothing.
    pub fn advance(&mut self, now: u64, fired: &mut Vec<T>) {
        if now <= self.now {
            return;
        }
        let steps = (now - self.now).min(BUCKETS as u64);
        for step in 1..=steps {
            let bucket = bucket_of(self.now + step);
            let list = &mut self.buckets[bucket];
            let entries = &mut self.entries;
            list.retain(|&(key, generation)| match entries.get(key) {
                Some(e) if e.generation == generation => {
                    if e.deadline <= now {
                        fired.push(entries.remove(key).value);
                        false
                    } else {
                        true
                    }
                }
                _ => false, // cancelled
            });
            if list.capacity() > 64 && list.len() < list.capacity() / 4 {
                list.shrink_to(list.len() * 2);
            }
        }
        self.now = now;
    }

    /// The earliest deadline of any live timer, or `None` when there are
    /// none. Walks forward bucket by bucket from the current tick and stops
    /// at the first bucket that holds a timer due within one rotation;
    /// timers further out than one rotation are found by a full scan.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.entries.is_empty() {
            return None;
        }
        let horizon = self.now + BUCKETS as u64;
        for step in 1..=BUCKETS as u64 {
            let tick = self.now + step;
            let mut best: Option<u64> = None;
            for &(key, generation) in &self.buckets[bucket_of(tick)] {
                if let Some(e) = self.entries.get(key) {
                    if e.generation == generation && e.deadline <= horizon {
                        best = Some(best.map_or(e.deadline, |b| b.min(e.deadline)));
                    }
                }
            }
            if best.is_some() {
                return best;
            }
        }
        self.entries.iter().map(|(_, e)| e.deadline).min()
    }
}

fn bucket_of(tick: u64) -> usize {
    (tick as usize) & (BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(w: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.advance(now, &mut out);
        out.sort();
        out
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut w = TimerWheel::new(0);
        w.insert(10, 1);
        w.insert(20, 2);
        assert_eq!(fire(&mut w, 9), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 10), vec![1]);
        assert_eq!(fire(&mut w, 19), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 25), vec![2]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn cancelled_timer_never_fires_and_stale_handle_is_refused() {
        let mut w = TimerWheel::new(0);
        let a = w.insert(5, 1);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None);
        // The slot is reused by a new timer; the old handle must not touch it.
        let b = w.insert(5, 2);
        assert_eq!(w.cancel(a), None);
        assert_eq!(fire(&mut w, 5), vec![2]);
        assert_eq!(w.cancel(b), None, "fired handle is stale");
    }

    #[test]
    fn deadlines_beyond_one_rotation_wait_for_their_round() {
        let mut w = TimerWheel::new(0);
        let far = BUCKETS as u64 * 3 + 7;
        w.insert(far, 9);
        w.insert(7, 1); // same bucket, first round
        assert_eq!(fire(&mut w, 7), vec![1]);
        assert_eq!(fire(&mut w, BUCKETS as u64 + 7), Vec::<u32>::new());
        assert_eq!(w.next_deadline(), Some(far));
        assert_eq!(fire(&mut w, far - 1), Vec::<u32>::new());
        assert_eq!(fire(&mut w, far), vec![9]);
    }

    #[test]
    fn a_big_jump_fires_everything_due() {
        let mut w = TimerWheel::new(100);
        for i in 0..3000u32 {
            w.insert(101 + u64::from(i), i);
        }
        let fired = fire(&mut w, 100 + 5000);
        assert_eq!(fired.len(), 3000);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn past_deadline_fires_on_next_advance() {
        let mut w = TimerWheel::new(50);
        w.insert(3, 1);
        assert_eq!(w.next_deadline(), Some(51));
        assert_eq!(fire(&mut w, 51), vec![1]);
    }

    #[test]
    fn next_deadline_is_the_minimum_and_ignores_cancelled() {
        let mut w = TimerWheel::new(0);
        assert_eq!(w.next_deadline(), None);
        let a = w.insert(30, 1);
        w.insert(40, 2);
        assert_eq!(w.next_deadline(), Some(30));
        w.cancel(a);
        assert_eq!(w.next_deadline(), Some(40));
        assert_eq!(w.cancel(a), None, "gone");
    }

    #[test]
    fn going_backwards_does_nothing() {
        let mut w = TimerWheel::new(10);
        w.insert(12, 1);
        assert_eq!(fire(&mut w, 5), Vec::<u32>::new());
        assert_eq!(w.now, 10);
        assert_eq!(fire(&mut w, 12), vec![1]);
    }

    #[test]
    fn many_timers_in_one_bucket() {
        let mut w = TimerWheel::new(0);
        let handles: Vec<_> = (0..1000u32).map(|i| w.insert(8, i)).collect();
        for h in handles.iter().step_by(2) {
            w.cancel(*h);
        }
        let fired = fire(&mut w, 8);
        assert_eq!(fired.len(), 500);
        assert!(fired.iter().all(|v| v % 2 == 1));
    }
}
