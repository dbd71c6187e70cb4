//! Content negotiation: the weighted lists of `Accept` and
//! `Accept-Encoding` (RFC 9110 section 12), read just far enough for the
//! two choices skiff makes: JSON or HTML for a directory listing, and
//! which precompressed variant of a file to send.

use super::trim_ows;

/// The items of a list header with their weights: `(value, q)` where
/// `q` is in thousandths (1000 when no `q=` is given).
fn weighted(header: &[u8]) -> impl Iterator<Item = (&[u8], u16)> {
    header.split(|&c| c == b',').map(|item| {
        let mut parts = item.split(|&c| c == b';');
        let value = trim_ows(parts.next().unwrap_or_default());
        let q = parts
            .find_map(|p| {
                let p = trim_ows(p);
                (p.len() > 2 && p[..2].eq_ignore_ascii_case(b"q=")).then(|| qvalue(&p[2..]))
            })
            .unwrap_or(1000);
        (value, q)
    })
}

/// Whether the client prefers JSON: `application/json` is listed with a
/// non-zero weight at least that of an explicit `text/html`. Wildcards
/// alone (`*/*`, as browsers send) mean HTML.
pub(crate) fn wants_json(accept: Option<&[u8]>) -> bool {
    let Some(accept) = accept else { return false };
    let (mut json, mut html) = (0u16, 0u16);
    for (range, q) in weighted(accept) {
        if range.eq_ignore_ascii_case(b"application/json") {
            json = json.max(q);
        } else if range.eq_ignore_ascii_case(b"text/html") {
            html = html.max(q);
        }
    }
    json > 0 && json >= html
}

/// Whether `Accept` names `text/html` itself with a weight above 0: a
/// browser navigating to a page (`*/*`, what scripts and images send, does
/// not count).
pub(crate) fn accepts_html(accept: Option<&[u8]>) -> bool {
    accept.is_some_and(|h| weighted(h).any(|(v, q)| q > 0 && v.eq_ignore_ascii_case(b"text/html")))
}

/// The weight `Accept-Encoding` gives `coding` (`gzip` also answers to
/// `x-gzip`): its own entry, else `*`'s, else 0. No header at all means
/// identity only here: a client that says nothing gets the file as it is.
pub(crate) fn coding_weight(accept_encoding: Option<&[u8]>, coding: &str) -> u16 {
    let Some(header) = accept_encoding else {
        return 0;
    };
    let mut own = None;
    let mut star = None;
    for (value, q) in weighted(header) {
        if value.eq_ignore_ascii_case(coding.as_bytes())
            || (coding == "gzip" && value.eq_ignore_ascii_case(b"x-gzip"))
        {
            own = Some(own.map_or(q, |o: u16| o.max(q)));
        } else if value == b"*" {
            star = Some(q);
        }
    }
    own.or(star).unwrap_or(0)
}

/// A weight (RFC 9110 section 12.4.2) in thousandths; anything malformed
/// counts as 0 (not acceptable).
pub(crate) fn qvalue(v: &[u8]) -> u16 {
    let mut digits = v.iter();
    let whole = match digits.next() {
        Some(b'0') => 0u16,
        Some(b'1') => 1000,
        _ => return 0,
    };
    match digits.next() {
        None => return whole,
        Some(b'.') => {}
        Some(_) => return 0,
    }
    let mut frac = 0u16;
    let mut scale = 100u16;
    for &d in digits {
        if !d.is_ascii_digit() || scale == 0 {
            return 0;
        }
        frac += u16::from(d - b'0') * scale;
        scale /= 10;
    }
    if whole == 1000 && frac > 0 {
        return 0;
    }
    whole + frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qvalues() {
        for (v, q) in [
            ("1", 1000),
            ("1.0", 1000),
            ("1.000", 1000),
            ("0", 0),
            ("0.5", 500),
            ("0.001", 1),
            ("0.0001", 0),
            ("1.5", 0),
            ("2", 0),
            ("x", 0),
            ("", 0),
        ] {
            assert_eq!(qvalue(v.as_bytes()), q, "{v}");
        }
    }

    #[test]
    fn json_is_chosen_only_when_asked_for() {
        let json = |a: &str| wants_json(Some(a.as_bytes()));
        assert!(json("application/json"));
        assert!(json("application/json, */*"));
        assert!(json("text/html;q=0.5, application/json"));
        assert!(json("Application/JSON;q=0.9"));
        assert!(!json("application/json;q=0"));
        assert!(!json("text/html, application/json;q=0.9"));
        assert!(!json(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!json("*/*"));
        assert!(!wants_json(None));
    }

    #[test]
    fn html_is_accepted_only_when_named() {
        let browser = b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        assert!(accepts_html(Some(browser)));
        assert!(accepts_html(Some(b"TEXT/HTML")));
        assert!(!accepts_html(Some(b"*/*")));
        assert!(!accepts_html(Some(b"image/avif,image/webp,*/*;q=0.8")));
        assert!(!accepts_html(Some(b"text/html;q=0")));
        assert!(!accepts_html(Some(b"application/json")));
        assert!(!accepts_html(None));
    }

    #[test]
    fn coding_weights() {
        let w = |h: &str, c: &str| coding_weight(Some(h.as_bytes()), c);
        assert_eq!(w("gzip, deflate, br, zstd", "br"), 1000);
        assert_eq!(w("gzip, deflate, br, zstd", "gzip"), 1000);
        assert_eq!(w("gzip;q=0.5, br;q=0.8", "gzip"), 500);
        assert_eq!(w("GZIP", "gzip"), 1000);
        assert_eq!(w("x-gzip", "gzip"), 1000);
        assert_eq!(w("br;q=0", "br"), 0);
        assert_eq!(w("*", "br"), 1000);
        assert_eq!(w("*;q=0.3, gzip;q=0", "gzip"), 0);
        assert_eq!(w("*;q=0.3, gzip;q=0", "br"), 300);
        assert_eq!(w("identity", "gzip"), 0);
        assert_eq!(w("", "gzip"), 0);
        assert_eq!(w(" gzip ; q=0.25 ", "gzip"), 250);
        assert_eq!(coding_weight(None, "gzip"), 0);
    }
}
