//! The clock a driver reads once per turn of its loop, and the `Date`
//! header formatted from it at most once a second.
//!
//! Owns nothing but timestamps; never sleeps and never blocks.

use std::cell::Cell;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// Monotonic and wall time for one turn of a loop, plus the `Date` value.
///
/// Every field is a `Cell` so a driver whose single call can block (the
/// threaded one) can bring the clock up to date through a shared reference
/// ([`Clock::refresh`]) in the middle of that call.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Monotonic time: every timeout is measured on this.
    now: Cell<Instant>,
    /// Wall time: for `Date` and the access log only.
    wall: Cell<SystemTime>,
    secs: Cell<u64>,
    date: Cell<[u8; HTTP_DATE_LEN]>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        let c = Clock {
            now: Cell::new(Instant::now()),
            wall: Cell::new(SystemTime::now()),
            secs: Cell::new(u64::MAX),
            date: Cell::new([b' '; HTTP_DATE_LEN]),
        };
        c.format_date();
        c
    }

    /// Reads both clocks; reformats `Date` only when the second changed.
    pub fn update(&mut self) {
        self.refresh();
    }

    /// The same through a shared reference, for drivers whose one call can
    /// block.
    pub fn refresh(&self) {
        self.now.set(Instant::now());
        self.wall.set(SystemTime::now());
        self.format_date();
    }

    /// Sets the clock to given values (tests, and drivers that already
    /// read the time).
    pub fn set(&mut self, now: Instant, wall: SystemTime) {
        self.now.set(now);
        self.wall.set(wall);
        self.format_date();
    }

    fn format_date(&self) {
        let secs = unix_secs(self.wall.get());
        if secs == self.secs.get() {
            return;
        }
        self.secs.set(secs);
        let text = httpdate::HttpDate::from(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        let mut date = [b' '; HTTP_DATE_LEN];
        let mut cursor = &mut date[..];
        // An HttpDate always renders as exactly 29 ASCII bytes.
        let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{text}"));
        self.date.set(date);
    }

    /// Monotonic time as last read.
    pub fn now(&self) -> Instant {
        self.now.get()
    }

    /// Wall time as last read.
    pub fn wall(&self) -> SystemTime {
        self.wall.get()
    }

    /// The current `Date` header value.
    pub fn http_date(&self) -> [u8; HTTP_DATE_LEN] {
        self.date.get()
    }

    /// Whole seconds since the Unix epoch, wall time.
    pub fn unix_secs(&self) -> u64 {
        self.secs.get()
    }
}

/// Seconds since the epoch; a clock set before 1970 reads as 0.
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An IMF-fixdate for `t` (whole seconds), as its 29 bytes.
pub fn http_date_text(t: SystemTime) -> [u8; HTTP_DATE_LEN] {
    let mut v = Vec::with_capacity(HTTP_DATE_LEN);
    write_http_date(&mut v, t);
    let mut out = [b' '; HTTP_DATE_LEN];
    let n = v.len().min(HTTP_DATE_LEN);
    out[..n].copy_from_slice(&v[..n]);
    out
}

/// Writes an IMF-fixdate for `t` (whole seconds) into `out`.
pub fn write_http_date(out: &mut Vec<u8>, t: SystemTime) {
    use std::io::Write;
    let secs = UNIX_EPOCH + std::time::Duration::from_secs(unix_secs(t));
    let _ = write!(out, "{}", httpdate::HttpDate::from(secs));
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm):
/// (year, month 1..=12, day 1..=31).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_imf_fixdate() {
        let mut c = Clock::new();
        c.set(
            Instant::now(),
            UNIX_EPOCH + Duration::from_secs(784_111_777),
        );
        assert_eq!(&c.http_date(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        let mut v = Vec::new();
        write_http_date(&mut v, UNIX_EPOCH + Duration::from_millis(784_111_777_900));
        assert_eq!(v, b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
