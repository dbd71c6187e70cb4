//! Virtual hosts: which `[[site]]` of the config file a request is for,
//! by its `Host` (or `:authority`, or an absolute-form target's
//! authority). A name matches exactly, without case and without the port;
//! `*.example.com` matches any name under `example.com` (not the name
//! itself). Exact names are tried before wildcards, each in the file's
//! order; a request no site matches is the top level's, the default site.

/// A site's `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// `example.com`.
    Exact(Box<str>),
    /// `*.example.com`, kept as `.example.com`.
    Under(Box<str>),
}

impl HostPattern {
    /// `example.com` or `*.example.com` (lowercased), or why not.
    pub(crate) fn parse(spec: &str) -> Result<HostPattern, String> {
        let lower = spec.trim().to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-')
            });
        if !ok {
            return Err(format!(
                "host '{spec}' is not a name like example.com or *.example.com"
            ));
        }
        Ok(match wild {
            true => HostPattern::Under(format!(".{name}").into()),
            false => HostPattern::Exact(name.into()),
        })
    }

    /// Whether `host` (lowercase, without the port) is this one.
    pub(crate) fn matches(&self, host: &[u8]) -> bool {
        match self {
            HostPattern::Exact(name) => host == name.as_bytes(),
            HostPattern::Under(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_bytes())
            }
        }
    }

    pub(crate) fn is_exact(&self) -> bool {
        matches!(self, HostPattern::Exact(_))
    }

    /// As written in the file (`*.example.com`).
    pub(crate) fn text(&self) -> String {
        match self {
            HostPattern::Exact(n) => n.to_string(),
            HostPattern::Under(s) => format!("*{s}"),
        }
    }
}

/// A `Host` value without its port (an IPv6 literal keeps its brackets),
/// lowercased into `buf`; `None` if it does not fit.
pub(crate) fn lower_host<'b>(host: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let name = match host.first() {
        Some(b'[') => {
            &host[..host
                .iter()
                .position(|&c| c == b']')
                .map_or(host.len(), |e| e + 1)]
        }
        _ => host.split(|&c| c == b':').next().unwrap_or_default(),
    };
    let out = buf.get_mut(..name.len())?;
    for (o, c) in out.iter_mut().zip(name) {
        *o = c.to_ascii_lowercase();
    }
    Some(out)
}

/// A request's host as a site's name: [`lower_host`], without a trailing
/// dot; `None` if there is none, it does not fit, or it is an IPv6
/// literal (which names no site).
pub(crate) fn request_host<'b>(host: Option<&[u8]>, buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
    let name = lower_host(host?, buf)?;
    if name.first() == Some(&b'[') {
        return None;
    }
    Some(name.strip_suffix(b".").unwrap_or(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wildcards() {
        let exact = HostPattern::parse("Example.COM").unwrap();
        assert!(exact.matches(b"example.com"));
        assert!(!exact.matches(b"www.example.com"));
        let under = HostPattern::parse("*.example.com").unwrap();
        assert!(under.matches(b"www.example.com"));
        assert!(under.matches(b"a.b.example.com"));
        assert!(!under.matches(b"example.com"));
        assert!(!under.matches(b"badexample.com"));
        assert_eq!(under.text(), "*.example.com");
        for bad in [
            "",
            "*.",
            "a b",
            "example.com:80",
            "*.*.x",
            "a..b",
            "http://x",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
        let mut buf = [0u8; 256];
        assert_eq!(
            request_host(Some(b"WWW.Example.com:8080"), &mut buf),
            Some(&b"www.example.com"[..])
        );
        assert_eq!(
            request_host(Some(b"example.com."), &mut buf),
            Some(&b"example.com"[..])
        );
        assert_eq!(request_host(Some(b"[::1]:80"), &mut buf), None);
        assert_eq!(request_host(None, &mut buf), None);
    }
}
