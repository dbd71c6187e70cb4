//! The chunked transfer coding of a request body (RFC 9112 section 7.1),
//! decoded incrementally and thrown away.
//!
//! skiff never uses a request body, but it must find where one ends to
//! keep the connection (and to answer a pipelined request behind it). The
//! [`Decoder`] takes whatever bytes have arrived, says how many it used,
//! and keeps its place between calls, so a body split at any byte gives the
//! same answer. It never allocates and never looks at a byte twice, except
//! in the trailer section, which (like a head) is parsed once it is whole.
//!
//! It is strict, because a lenient chunk parser in front of a strict one is
//! how requests get smuggled:
//! - a chunk size is 1 to 16 hex digits, nothing else: no `0x`, sign, `_`
//!   or whitespace before it; whitespace after it only before a `;`;
//! - an extension is `;` name [`=` token or quoted-string], with optional
//!   whitespace around `;` and `=`; a bare `;`, a name that is not a token,
//!   or a control byte is an error;
//! - every line of the framing ends in CRLF (a bare CR or LF is an error),
//!   and chunk data must be followed by exactly CRLF;
//! - the trailer section obeys the rules a head's fields obey.
//!
//! Data beyond [`Decoder::new`]'s limit is [`ChunkError::TooLarge`]: not
//! a malformed request, but one whose body will not be read to the end.

use super::is_tchar;

/// Longest size line (digits, extensions and CRLF) accepted. Extensions
/// carry nothing skiff uses; 4 KiB is far more than any real client sends.
pub(crate) const MAX_SIZE_LINE: usize = 4096;
/// Longest trailer section, as for a head's fields.
pub(crate) const MAX_TRAILERS: usize = super::request::MAX_HEADER_SECTION;
/// Most hex digits in a chunk size: 16 is all of a u64.
pub(crate) const MAX_SIZE_DIGITS: u8 = 16;

/// Why a chunked body cannot be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// 400: the framing is malformed (the reason is for logs and tests).
    Malformed(&'static str),
    /// The data is longer than the limit: answer and close, unread.
    TooLarge,
}

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size {
        digits: u8,
        size: u64,
    },
    /// Whitespace after the size or an extension: only `;` may follow.
    AfterSize {
        size: u64,
    },
    /// After `;`: optional whitespace, then an extension name.
    ExtName {
        size: u64,
        len: u16,
    },
    /// After an extension name and whitespace: `=`, `;` or the line end.
    AfterName {
        size: u64,
    },
    /// After `=`: optional whitespace, then a token or a quoted string.
    ExtValue {
        size: u64,
    },
    ExtToken {
        size: u64,
    },
    ExtQuoted {
        size: u64,
        escaped: bool,
    },
    /// After a quoted value's closing quote: `;` or the line end.
    AfterQuoted {
        size: u64,
    },
    /// The CR of a size line was seen: LF must follow.
    SizeLf {
        size: u64,
    },
    /// Chunk data still to come.
    Data {
        remaining: u64,
    },
    /// Data done: CR must follow, then LF.
    DataCr,
    DataLf,
    /// After the last chunk: trailer fields, then an empty line.
    Trailers,
    Done,
}

/// Decodes (and discards) one chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoder {
    state: State,
    /// Bytes of the current size line so far.
    line: usize,
    /// Data bytes still allowed.
    /// INVARIANT: never more than the limit given to `new`.
    allowed: u64,
}

impl Decoder {
    /// A decoder that accepts at most `limit` bytes of chunk data.
    pub(crate) fn new(limit: u64) -> Decoder {
        Decoder {
            state: State::Size { digits: 0, size: 0 },
            line: 0,
            allowed: limit,
        }
    }

    /// Whether the whole body (trailers included) has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `buf`; returns how many bytes belong to
    /// the body. When the body is done, the bytes after that count belong
    /// to the next request. Otherwise all of `buf` was used except, in
    /// the trailer section, an incomplete trailer, which is looked at
    /// again with more bytes behind it.
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Result<usize, ChunkError> {
        self.feed_with(buf, &mut |_| {})
    }

    /// [`Decoder::feed`], handing each run of chunk data to `data` (an
    /// upload keeps the body it decodes).
    pub(crate) fn feed_with(
        &mut self,
        buf: &[u8],
        data: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < buf.len() {
            match self.state {
                State::Done => return Ok(i),
                State::Trailers => return self.trailers(&buf[i..]).map(|n| i + n),
                State::Data { remaining } => {
                    let n = remaining.min((buf.len() - i) as u64);
                    data(&buf[i..i + n as usize]);
                    i += n as usize;
                    self.state = if n == remaining {
                        State::DataCr
                    } else {
                        State::Data {
                            remaining: remaining - n,
                        }
                    };
                    continue;
                }
                _ => {}
            }
            let c = buf[i];
            i += 1;
            self.step(c)?;
        }
        Ok(i)
    }

    /// One byte of framing (anything but data and trailers).
    fn step(&mut self, c: u8) -> Result<(), ChunkError> {
        use ChunkError::Malformed;
        if !matches!(self.state, State::DataCr | State::DataLf) {
            self.line += 1;
            if self.line > MAX_SIZE_LINE {
                return Err(Malformed("chunk size line too long"));
            }
        }
        self.state = match self.state {
            State::Size { digits, size } => match hex(c) {
                Some(_) if digits == MAX_SIZE_DIGITS => {
                    return Err(Malformed("chunk size too long"));
                }
                Some(v) => State::Size {
                    digits: digits + 1,
                    size: size << 4 | u64::from(v),
                },
                None if digits == 0 => return Err(Malformed("chunk size")),
                None => match c {
                    b' ' | b'\t' => State::AfterSize { size },
                    b';' => State::ExtName { size, len: 0 },
                    b'\r' => State::SizeLf { size },
                    _ => return Err(Malformed("chunk size")),
                },
            },
            State::AfterSize { size } => match c {
                b' ' | b'\t' => State::AfterSize { size },
                b';' => State::ExtName { size, len: 0 },
                _ => return Err(Malformed("whitespace after chunk size")),
            },
            State::ExtName { size, len } => match c {
                b' ' | b'\t' if len == 0 => State::ExtName { size, len },
                c if is_tchar(c) => State::ExtName {
                    size,
                    len: len.saturating_add(1),
                },
                _ if len == 0 => return Err(Malformed("chunk extension without a name")),
                b' ' | b'\t' => State::AfterName { size },
                b'=' => State::ExtValue { size },
                b';' => State::ExtName { size, len: 0 },
                b'\r' => State::SizeLf { size },
                _ => return Err(Malformed("chunk extension name")),
            },
            State::AfterName { size } => match c {
                b' ' | b'\t' => State::AfterName { size },
                b'=' => State::ExtValue { size },
                b';' => State::ExtName { size, len: 0 },
                _ => return Err(Malformed("chunk extension")),
            },
            State::ExtValue { size } => match c {
                b' ' | b'\t' => State::ExtValue { size },
                b'"' => State::ExtQuoted {
                    size,
                    escaped: false,
                },
                c if is_tchar(c) => State::ExtToken { size },
                _ => return Err(Malformed("chunk extension value")),
            },
            State::ExtToken { size } => match c {
                c if is_tchar(c) => State::ExtToken { size },
                b' ' | b'\t' => State::AfterSize { size },
                b';' => State::ExtName { size, len: 0 },
                b'\r' => State::SizeLf { size },
                _ => return Err(Malformed("chunk extension value")),
            },
            State::ExtQuoted { size, escaped } => match c {
                // qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text.
                b'\t' | b' '..=b'~' | 0x80..=0xff if escaped => State::ExtQuoted {
                    size,
                    escaped: false,
                },
                b'"' => State::AfterQuoted { size },
                b'\\' => State::ExtQuoted {
                    size,
                    escaped: true,
                },
                b'\t' | b' '..=b'~' | 0x80..=0xff => State::ExtQuoted {
                    size,
                    escaped: false,
                },
                _ => return Err(Malformed("control byte in a chunk extension")),
            },
            State::AfterQuoted { size } => match c {
                b' ' | b'\t' => State::AfterSize { size },
                b';' => State::ExtName { size, len: 0 },
                b'\r' => State::SizeLf { size },
                _ => return Err(Malformed("chunk extension value")),
            },
            State::SizeLf { size } => {
                if c != b'\n' {
                    return Err(Malformed("bare CR in a chunk size line"));
                }
                self.line = 0;
                if size > self.allowed {
                    return Err(ChunkError::TooLarge);
                }
                self.allowed -= size;
                if size == 0 {
                    State::Trailers
                } else {
                    State::Data { remaining: size }
                }
            }
            State::DataCr if c == b'\r' => State::DataLf,
            State::DataLf if c == b'\n' => State::Size { digits: 0, size: 0 },
            State::DataCr | State::DataLf => {
                return Err(Malformed("chunk data not followed by CRLF"));
            }
            State::Data { .. } | State::Trailers | State::Done => unreachable!("handled by feed"),
        };
        Ok(())
    }

    /// The trailer section: parsed once whole, with the rules of a head's
    /// fields. Returns the bytes used (0 while incomplete).
    fn trailers(&mut self, buf: &[u8]) -> Result<usize, ChunkError> {
        use ChunkError::Malformed;
        let mut storage = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::parse_headers(buf, &mut storage);
        let mut big;
        if let Err(httparse::Error::TooManyHeaders) = parsed {
            big = vec![httparse::EMPTY_HEADER; super::request::MAX_HEADERS];
            parsed = httparse::parse_headers(buf, &mut big);
        }
        match parsed {
            Ok(httparse::Status::Complete((len, fields))) => {
                if len > MAX_TRAILERS {
                    return Err(Malformed("trailer section too large"));
                }
                if fields
                    .iter()
                    .any(|f| !super::request::valid_field_value(f.value))
                {
                    return Err(Malformed("control byte in a trailer field"));
                }
                self.state = State::Done;
                Ok(len)
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_TRAILERS => {
                Err(Malformed("trailer section too large"))
            }
            Ok(httparse::Status::Partial) => Ok(0),
            Err(_) => Err(Malformed("trailer field")),
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 1 << 20;

    /// Feeds `raw` whole: the bytes used and whether the body ended.
    fn whole(raw: &[u8]) -> Result<(usize, bool), ChunkError> {
        let mut d = Decoder::new(LIMIT);
        let n = d.feed(raw)?;
        Ok((n, d.is_done()))
    }

    fn bad(raw: &[u8]) {
        assert!(
            matches!(whole(raw), Err(ChunkError::Malformed(_))),
            "{:?} should be malformed, got {:?}",
            String::from_utf8_lossy(raw),
            whole(raw)
        );
    }

    #[test]
    fn valid_bodies_end_where_they_end() {
        for raw in [
            &b"0\r\n\r\n"[..],
            b"5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            b"A\r\n0123456789\r\n0\r\n\r\n",
            b"a;name\r\n0123456789\r\n0\r\n\r\n",
            b"5;a=b;c=\"q \\\" d\"\r\nhello\r\n0\r\n\r\n",
            b"5 ; a = b\r\nhello\r\n0\r\n\r\n",
            b"5;a;b=\"\";c\r\nhello\r\n0\r\n\r\n",
            b"0000000000000005\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other: two\r\n\r\n",
        ] {
            let mut next = raw.to_vec();
            next.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(whole(&next), Ok((raw.len(), true)), "{raw:?}");
        }
    }

    #[test]
    fn every_split_gives_the_same_answer() {
        let raw: &[u8] = b"5;x=\"y\"\r\nhello\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\nNEXT";
        let body = raw.len() - 4;
        for cut in 0..=raw.len() {
            let mut d = Decoder::new(LIMIT);
            let first = d.feed(&raw[..cut]).unwrap();
            // Unused bytes (an incomplete trailer) are offered again.
            let rest = d.feed(&raw[first..]).unwrap();
            assert!(d.is_done(), "cut {cut}");
            assert_eq!(first + rest, body, "cut {cut}");
        }
        // One byte at a time.
        let mut d = Decoder::new(LIMIT);
        let mut pos = 0;
        let mut end = 1;
        while !d.is_done() {
            pos += d.feed(&raw[pos..end]).unwrap();
            end += 1;
        }
        assert_eq!(pos, body);
    }

    #[test]
    fn sizes_are_plain_hex() {
        bad(b"0x5\r\nhello\r\n0\r\n\r\n");
        bad(b"+5\r\nhello\r\n0\r\n\r\n");
        bad(b"-5\r\nhello\r\n0\r\n\r\n");
        bad(b"5_0\r\nhello\r\n0\r\n\r\n");
        bad(b" 5\r\nhello\r\n0\r\n\r\n");
        bad(b"5 \r\nhello\r\n0\r\n\r\n");
        bad(b"5\t\r\nhello\r\n0\r\n\r\n");
        bad(b"\r\nhello\r\n0\r\n\r\n");
        bad(b"g\r\n");
        bad(b"00000000000000005\r\nhello\r\n0\r\n\r\n");
    }

    #[test]
    fn extensions_are_checked() {
        bad(b"5;\r\nhello\r\n0\r\n\r\n");
        bad(b"5;;\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a b\r\nhello\r\n0\r\n\r\n");
        bad(b"5;=b\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a=\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a=b c\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a@=b\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a=\"b\rc\"\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a\x7f\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a\rb\r\nhello\r\n0\r\n\r\n");
        bad(b"5;a \r\nhello\r\n0\r\n\r\n");
        bad(b"5;a=b \r\nhello\r\n0\r\n\r\n");
        bad(b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n");
        let long = format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(MAX_SIZE_LINE));
        bad(long.as_bytes());
    }

    #[test]
    fn data_must_match_its_size_and_end_in_crlf() {
        bad(b"5\r\nhello!\r\n0\r\n\r\n");
        bad(b"5\r\nhell\r\n0\r\n\r\n");
        bad(b"5\r\nhello\n0\r\n\r\n");
        bad(b"5\r\nhello\r0\r\n\r\n");
        bad(b"5\r\nhellox");
    }

    #[test]
    fn line_ends_are_crlf() {
        bad(b"5\nhello\r\n0\r\n\r\n");
        bad(b"5\rhello\r\n0\r\n\r\n");
        bad(b"0\r\n\r\r\n");
    }

    #[test]
    fn trailers_follow_the_field_rules() {
        bad(b"0\r\nBad Name: x\r\n\r\n");
        bad(b"0\r\nX: a\r\n folded\r\n\r\n");
        bad(b"0\r\nnocolon\r\n\r\n");
        bad(b"0\r\nX: a\x00b\r\n\r\n");
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        bad(format!("0\r\n{many}\r\n").as_bytes());
        let big = format!("0\r\nX: {}\r\n\r\n", "v".repeat(MAX_TRAILERS));
        bad(big.as_bytes());
        // Incomplete trailers wait, unused.
        let mut d = Decoder::new(LIMIT);
        assert_eq!(d.feed(b"0\r\nX: partial"), Ok(3));
        assert!(!d.is_done());
    }

    #[test]
    fn the_limit_counts_data_only() {
        let mut d = Decoder::new(10);
        assert_eq!(d.feed(b"a\r\n0123456789\r\n"), Ok(15));
        assert_eq!(d.feed(b"1\r\n"), Err(ChunkError::TooLarge));
        let mut d = Decoder::new(10);
        assert_eq!(d.feed(b"ffffffffffffffff\r\n"), Err(ChunkError::TooLarge));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        use proptest::prelude::*;
        proptest!(|(data in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512)| {
            let mut d = Decoder::new(LIMIT);
            let cut = cut.min(data.len());
            if let Ok(n) = d.feed(&data[..cut]) {
                prop_assert!(n <= cut);
                let _ = d.feed(&data[n..]);
            }
        });
    }
}
