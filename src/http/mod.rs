//! The HTTP/1.1 wire format: request heads and chunked bodies in, response
//! heads out, plus dates and content negotiation.
//!
//! Sans-I/O: nothing in here names a socket, a file or mio.

pub(crate) mod chunked;
pub mod conditional;
pub mod date;
pub(crate) mod negotiate;
pub mod request;
pub mod response;
pub(crate) mod target;

/// Strips optional whitespace (RFC 9110 `OWS`: spaces and tabs) from both
/// ends of a field value or list element.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// RFC 9110 `tchar`: the bytes of a token (method, field name, coding).
pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}
