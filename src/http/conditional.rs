//! Validators and partial requests: ETags, the conditional header fields,
//! and `Range` (RFC 9110 sections 8.8, 13 and 14).
//!
//! Owns the rules, as pure functions of header bytes and file metadata;
//! never touches a file's contents or a socket. Every number read from a
//! header saturates instead of overflowing, so no input can panic or wrap.
//!
//! Choices:
//! - The `ETag` is strong: `"<inode>-<size>-<mtime in ns>"` in hex. Any
//!   write that changes the size or the modification time changes it, and
//!   modification times are nanosecond-precise on the file systems skiff
//!   targets, which is what makes a strong claim honest.
//! - A `Range` with more than [`MAX_RANGES`] ranges, or whose ranges
//!   overlap, is ignored: the whole file is sent with 200. That bounds the
//!   work and memory a single request can ask for.

use crate::http::date::unix_secs;
use crate::http::trim_ows;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

/// Most ranges served as multipart/byteranges; more gets the whole file.
pub(crate) const MAX_RANGES: usize = 16;

/// A strong entity tag, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ETag {
    buf: [u8; 64],
    len: u8,
}

impl std::fmt::Debug for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ETag({})", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl ETag {
    /// The tag of a file: identity (inode), size and modification time.
    pub(crate) fn of(meta: &Metadata) -> ETag {
        let mtime_ns = (meta.mtime() as i128) * 1_000_000_000 + meta.mtime_nsec() as i128;
        Self::from_parts(meta.ino(), meta.len(), mtime_ns as u128 as u64)
    }

    pub fn from_parts(ino: u64, size: u64, mtime_ns: u64) -> ETag {
        use std::io::Write;
        let mut buf = [0u8; 64];
        let mut cursor = &mut buf[..];
        // At most 2 + 3*16 + 2 = 52 bytes, 57 with the longest coding: always fits.
        let _ = write!(cursor, "\"{ino:x}-{size:x}-{mtime_ns:x}\"");
        let len = 64 - cursor.len();
        ETag {
            buf,
            len: len as u8,
        }
    }

    /// The tag of this representation encoded with `coding`: the same
    /// with `-token` before the closing quote, so no encoding's tag ever
    /// matches another's, or the identity one.
    pub(crate) fn encoded(&self, token: &str) -> ETag {
        let mut tag = *self;
        let len = self.len as usize;
        let add = token.len() + 1;
        if len + add > tag.buf.len() || len < 2 {
            return tag;
        }
        tag.buf[len - 1] = b'-';
        tag.buf[len..len + token.len()].copy_from_slice(token.as_bytes());
        tag.buf[len + token.len()] = b'"';
        tag.len = (len + add) as u8;
        tag
    }

    /// The tag as sent, quotes included.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// One entity-tag from a header: `(weak, opaque tag with quotes)`.
fn parse_tags(value: &[u8]) -> Option<Vec<(bool, &[u8])>> {
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        while let [b' ' | b'\t' | b',', r @ ..] = rest {
            rest = r;
        }
        if rest.is_empty() {
            return Some(tags);
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = &rest[2..];
        }
        if rest.first() != Some(&b'"') {
            return None;
        }
        let close = rest[1..].iter().position(|&c| c == b'"')? + 1;
        tags.push((weak, &rest[..=close]));
        rest = &rest[close + 1..];
        match rest.first() {
            None | Some(b' ' | b'\t' | b',') => {}
            _ => return None,
        }
    }
}

/// `If-None-Match` against our tag, weak comparison: true means "matches"
/// (answer 304). `*` matches any existing file; a malformed value matches
/// nothing.
pub(crate) fn none_match_hits(value: &[u8], tag: &ETag) -> bool {
    if value == b"*" {
        return true;
    }
    parse_tags(value).is_some_and(|tags| tags.iter().any(|&(_, t)| t == tag.as_bytes()))
}

/// `If-Match` against our tag, strong comparison: true means the
/// precondition holds. `*` holds for any existing file.
pub(crate) fn match_holds(value: &[u8], tag: &ETag) -> bool {
    if value == b"*" {
        return true;
    }
    parse_tags(value).is_some_and(|tags| tags.iter().any(|&(weak, t)| !weak && t == tag.as_bytes()))
}

/// An HTTP date header value, to whole seconds since the epoch.
pub(crate) fn parse_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let t = httpdate::parse_http_date(text).ok()?;
    Some(unix_secs(t))
}

/// `If-Range`: true when the range may be honoured. An entity-tag must
/// match strongly; a date must equal the modification time exactly.
pub(crate) fn if_range_holds(value: &[u8], tag: &ETag, modified: Option<SystemTime>) -> bool {
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return parse_tags(value)
            .is_some_and(|tags| tags.len() == 1 && !tags[0].0 && tags[0].1 == tag.as_bytes());
    }
    match (parse_date(value), modified) {
        (Some(d), Some(m)) => d == unix_secs(m),
        _ => false,
    }
}

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// No usable Range: send the whole representation (200).
    Whole,
    /// Syntactically valid but nothing in it overlaps the content (416).
    Unsatisfiable,
    /// Inclusive `(first, last)` byte positions, in request order, all
    /// within the content, none overlapping (206).
    Parts(Vec<(u64, u64)>),
}

/// Evaluates a `Range` header value against a length.
pub(crate) fn parse_range(value: &[u8], len: u64) -> Ranges {
    let Some(set) = strip_unit(value) else {
        return Ranges::Whole;
    };
    let mut parts: Vec<(u64, u64)> = Vec::new();
    let mut specs = 0;
    for spec in set.split(|&c| c == b',') {
        let spec = trim_ows(spec);
        if spec.is_empty() {
            continue;
        }
        specs += 1;
        if specs > MAX_RANGES {
            return Ranges::Whole;
        }
        let Some((first, last)) = split_dash(spec) else {
            return Ranges::Whole;
        };
        let range = match (first.is_empty(), last.is_empty()) {
            // -N: the last N bytes.
            (true, false) => {
                let Some(n) = digits(last) else {
                    return Ranges::Whole;
                };
                (n > 0 && len > 0).then(|| (len - n.min(len), len - 1))
            }
            // A- : from A to the end.
            (false, true) => {
                let Some(a) = digits(first) else {
                    return Ranges::Whole;
                };
                (a < len).then(|| (a, len - 1))
            }
            // A-B
            (false, false) => {
                let (Some(a), Some(b)) = (digits(first), digits(last)) else {
                    return Ranges::Whole;
                };
                if b < a {
                    return Ranges::Whole; // invalid: the whole field is ignored
                }
                (a < len).then(|| (a, b.min(len - 1)))
            }
            (true, true) => return Ranges::Whole,
        };
        if let Some(r) = range {
            parts.push(r);
        }
    }
    if specs == 0 {
        return Ranges::Whole;
    }
    if parts.is_empty() {
        return Ranges::Unsatisfiable;
    }
    let overlap = parts
        .iter()
        .enumerate()
        .any(|(i, a)| parts[i + 1..].iter().any(|b| a.0 <= b.1 && b.0 <= a.1));
    if overlap {
        return Ranges::Whole;
    }
    Ranges::Parts(parts)
}

/// `bytes=` (the unit is case-insensitive), or `None` for any other unit.
fn strip_unit(value: &[u8]) -> Option<&[u8]> {
    let value = trim_ows(value);
    let eq = value.iter().position(|&c| c == b'=')?;
    trim_ows(&value[..eq])
        .eq_ignore_ascii_case(b"bytes")
        .then(|| &value[eq + 1..])
}

fn split_dash(spec: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = spec.iter().position(|&c| c == b'-')?;
    Some((trim_ows(&spec[..i]), trim_ows(&spec[i + 1..])))
}

/// One or more ASCII digits; a value too large for u64 saturates.
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |acc, &c| {
        acc.saturating_mul(10).saturating_add(u64::from(c - b'0'))
    }))
}

/// The multipart boundary of this process: random per start, so content
/// cannot be crafted to contain it.
pub(crate) fn boundary() -> &'static str {
    static B: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        let mut r = [0u8; 16];
        crate::sys::random_bytes(&mut r);
        format!("skiff-{:032x}", u128::from_le_bytes(r))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn parts(v: &str, len: u64) -> Ranges {
        parse_range(v.as_bytes(), len)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(parts("bytes=0-4", 10), Ranges::Parts(vec![(0, 4)]));
        assert_eq!(parts("bytes=5-", 10), Ranges::Parts(vec![(5, 9)]));
        assert_eq!(parts("bytes=-3", 10), Ranges::Parts(vec![(7, 9)]));
        assert_eq!(parts("bytes=-30", 10), Ranges::Parts(vec![(0, 9)]));
        assert_eq!(parts("bytes=8-100", 10), Ranges::Parts(vec![(8, 9)]));
        assert_eq!(parts("BYTES = 1-1 ", 10), Ranges::Parts(vec![(1, 1)]));
        assert_eq!(parts("bytes=9-9", 10), Ranges::Parts(vec![(9, 9)]));
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parts("bytes=10-", 10), Ranges::Unsatisfiable);
        assert_eq!(parts("bytes=10-20", 10), Ranges::Unsatisfiable);
        assert_eq!(parts("bytes=-0", 10), Ranges::Unsatisfiable);
        assert_eq!(parts("bytes=0-0", 0), Ranges::Unsatisfiable);
        assert_eq!(parts("bytes=-5", 0), Ranges::Unsatisfiable);
        assert_eq!(
            parts("bytes=18446744073709551616-", 10),
            Ranges::Unsatisfiable
        );
    }

    #[test]
    fn ignored() {
        for v in [
            "items=0-4",
            "bytes",
            "bytes=",
            "bytes=--1",
            "bytes=a-b",
            "bytes=5-4",
            "bytes=1-2-3",
            "bytes=-",
            "bytes=0x1-2",
            "bytes=+1-2",
            "bytes=1 2-3",
            "=0-1",
            "bytes=0-1,0-1",
            "bytes=0-5,3-8",
        ] {
            assert_eq!(parts(v, 10), Ranges::Whole, "{v}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert_eq!(
            parts(&format!("bytes={}", many.join(",")), 100),
            Ranges::Whole
        );
        let sixteen: Vec<String> = (0..16).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert!(
            matches!(parts(&format!("bytes={}", sixteen.join(",")), 100), Ranges::Parts(p) if p.len() == 16)
        );
    }

    #[test]
    fn overflow_saturates() {
        assert_eq!(
            parts("bytes=0-18446744073709551616", 10),
            Ranges::Parts(vec![(0, 9)])
        );
        assert_eq!(
            parts("bytes=0-99999999999999999999999999999", 10),
            Ranges::Parts(vec![(0, 9)])
        );
        assert_eq!(
            parts("bytes=-18446744073709551616", 10),
            Ranges::Parts(vec![(0, 9)])
        );
        assert_eq!(
            parts("bytes=18446744073709551615-18446744073709551615", u64::MAX),
            Ranges::Unsatisfiable
        );
        assert_eq!(
            parts("bytes=-1", u64::MAX),
            Ranges::Parts(vec![(u64::MAX - 1, u64::MAX - 1)])
        );
    }

    #[test]
    fn multiple_ranges_keep_request_order_and_drop_unsatisfiable_ones() {
        assert_eq!(
            parts("bytes=5-6, 0-1, 50-60", 10),
            Ranges::Parts(vec![(5, 6), (0, 1)])
        );
        assert_eq!(
            parts("bytes=0-0,,-1", 10),
            Ranges::Parts(vec![(0, 0), (9, 9)])
        );
    }

    #[test]
    fn etags() {
        let t = ETag::from_parts(0x1234, 380, 0xabc);
        assert_eq!(t.as_bytes(), b"\"1234-17c-abc\"");
        let max = ETag::from_parts(u64::MAX, u64::MAX, u64::MAX);
        assert_eq!(max.as_bytes().len(), 2 + 16 * 3 + 2);
        assert!(none_match_hits(b"\"1234-17c-abc\"", &t));
        assert!(
            none_match_hits(b"W/\"1234-17c-abc\"", &t),
            "weak comparison"
        );
        assert!(none_match_hits(b"\"x\", W/\"1234-17c-abc\"", &t));
        assert!(none_match_hits(b"*", &t));
        assert!(!none_match_hits(b"\"1234-17c-abd\"", &t));
        assert!(
            !none_match_hits(b"1234-17c-abc", &t),
            "unquoted is malformed"
        );
        assert!(match_holds(b"\"1234-17c-abc\"", &t));
        assert!(!match_holds(b"W/\"1234-17c-abc\"", &t), "strong comparison");
        assert!(match_holds(b"*", &t));
        assert!(!match_holds(b"\"nope\"", &t));
    }

    #[test]
    fn encoded_tags_differ_from_each_other_and_identity() {
        let t = ETag::from_parts(u64::MAX, u64::MAX, u64::MAX);
        let br = t.encoded("br");
        let zstd = t.encoded("zstd");
        assert_eq!(
            br.as_bytes(),
            format!(
                "{}-br\"",
                &String::from_utf8_lossy(t.as_bytes())[..t.as_bytes().len() - 1]
            )
            .as_bytes()
        );
        assert_ne!(br, t);
        assert_ne!(br, zstd);
        assert_ne!(zstd, t);
        assert!(zstd.as_bytes().ends_with(b"-zstd\""));
        assert!(!none_match_hits(t.as_bytes(), &br));
        assert!(!none_match_hits(br.as_bytes(), &t));
        assert!(none_match_hits(zstd.as_bytes(), &zstd));
    }

    #[test]
    fn if_range() {
        let t = ETag::from_parts(1, 2, 3);
        let m = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert!(if_range_holds(t.as_bytes(), &t, Some(m)));
        assert!(
            !if_range_holds(b"W/\"1-2-3\"", &t, Some(m)),
            "weak never matches"
        );
        assert!(!if_range_holds(b"\"1-2-4\"", &t, Some(m)));
        assert!(if_range_holds(
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            &t,
            Some(m)
        ));
        assert!(!if_range_holds(
            b"Sun, 06 Nov 1994 08:49:38 GMT",
            &t,
            Some(m)
        ));
        assert!(!if_range_holds(b"garbage", &t, Some(m)));
    }
}
