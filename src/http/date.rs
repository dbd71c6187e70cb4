//! The clock a driver reads once per turn of its loop, and the `Date`
//! header formatted from it at most once a second.
//!
//! Owns nothing but timestamps; never sleeps and never blocks.

use std::cell::Cell;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const HTTP_DATE_LEN: usize = 29;

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
    pub(crate) fn update(&mut self) {
        self.refresh();
    }

    /// The same through a shared reference, for drivers whose one call can
    /// block.
    pub(crate) fn refresh(&self) {
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
        self.date.set(Utc::from_unix(secs).http_date());
    }

    /// Monotonic time as last read.
    pub fn now(&self) -> Instant {
        self.now.get()
    }

    /// The current `Date` header value.
    pub(crate) fn http_date(&self) -> [u8; HTTP_DATE_LEN] {
        self.date.get()
    }

    /// Whole seconds since the Unix epoch, wall time.
    pub(crate) fn unix_secs(&self) -> u64 {
        self.secs.get()
    }
}

/// Seconds since the epoch; a clock set before 1970 reads as 0.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An IMF-fixdate for `t` (whole seconds), as its 29 bytes.
pub fn http_date_text(t: SystemTime) -> [u8; HTTP_DATE_LEN] {
    Utc::from_unix(unix_secs(t)).http_date()
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];

/// A whole second in UTC, broken into calendar fields: every date skiff
/// writes (`Date`, `Last-Modified`, the access log, listings) is rendered
/// from one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    pub(crate) year: i64,
    /// 1..=12
    pub(crate) month: u32,
    /// 1..=31
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    /// 0 = Sunday.
    pub(crate) weekday: u32,
}

impl Utc {
    /// The calendar fields of `secs` seconds after the Unix epoch.
    pub(crate) fn from_unix(secs: u64) -> Utc {
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 4) % 7) as u32,
        }
    }

    /// The month's three-letter English name.
    pub(crate) fn month_name(&self) -> &'static [u8; 3] {
        MONTHS[(self.month - 1) as usize % 12]
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 section 5.6.7).
    pub(crate) fn http_date(&self) -> [u8; HTTP_DATE_LEN] {
        let mut out = [b' '; HTTP_DATE_LEN];
        out[..3].copy_from_slice(WEEKDAYS[self.weekday as usize % 7]);
        out[3] = b',';
        two(&mut out[5..7], self.day);
        out[8..11].copy_from_slice(self.month_name());
        four(&mut out[12..16], self.year);
        self.write_time(&mut out[17..25]);
        out[26..29].copy_from_slice(b"GMT");
        out
    }

    /// `HH:MM:SS` into 8 bytes.
    pub(crate) fn write_time(&self, out: &mut [u8]) {
        two(&mut out[0..2], self.hour);
        out[2] = b':';
        two(&mut out[3..5], self.minute);
        out[5] = b':';
        two(&mut out[6..8], self.second);
    }

    /// `YYYY-MM-DD<sep>HH:MM:SS` (listings; `T` makes it RFC 3339).
    pub(crate) fn iso(&self, sep: u8) -> [u8; 19] {
        let mut out = [0u8; 19];
        four(&mut out[0..4], self.year);
        out[4] = b'-';
        two(&mut out[5..7], self.month);
        out[7] = b'-';
        two(&mut out[8..10], self.day);
        out[10] = sep;
        self.write_time(&mut out[11..19]);
        out
    }
}

fn two(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Years past 9999 are out of any file time's range; they wrap here.
fn four(out: &mut [u8], y: i64) {
    let y = y.rem_euclid(10_000) as u32;
    two(&mut out[0..2], y / 100);
    two(&mut out[2..4], y % 100);
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm):
/// (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
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
        assert_eq!(
            &http_date_text(UNIX_EPOCH + Duration::from_millis(784_111_777_900)),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn agrees_with_httpdate_across_the_calendar() {
        // Every weekday, leap days, century years, and the last second of
        // a year, against an independent implementation.
        let mut secs = 0u64;
        while secs < 4_102_444_800 {
            let ours = Utc::from_unix(secs).http_date();
            let theirs = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(std::str::from_utf8(&ours).unwrap(), theirs, "{secs}");
            secs += 86_400 * 3 + 3_599;
        }
        assert_eq!(
            &Utc::from_unix(951_827_696).iso(b'T'),
            b"2000-02-29T12:34:56"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
