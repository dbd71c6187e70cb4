//! `--allow`, `--deny` and `--trust-proxy`: which client addresses may be
//! served, and which peers (proxies) are believed when they name the
//! client in `X-Forwarded-For` or `Forwarded`. Checked once at start;
//! applied per request by `respond`, after the health route, so a refused
//! address still reaches it.
//!
//! - The rules are read in the order given (command line, or the config
//!   file's order); the first whose network holds the client decides.
//!   With any `--allow`, an address no rule holds is refused; with only
//!   `--deny` rules, it is served.
//! - Without `--trust-proxy`, the client is the peer of the connection,
//!   whatever the headers say. A request from a trusted peer names its
//!   client in `X-Forwarded-For` (read right to left, skipping trusted
//!   proxies: the first address not trusted is the client) or, without
//!   one, in `Forwarded`'s `for=`. A header that does not parse is
//!   ignored (the peer is the client). IPv4-mapped IPv6 addresses compare
//!   as IPv4.

use std::net::IpAddr;

use ipnet::IpNet;

/// One `--allow` or `--deny` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) allow: bool,
    pub(crate) net: IpNet,
}

/// The address rules and the trusted proxies.
#[derive(Debug, Clone, Default)]
pub(crate) struct Addresses {
    rules: Vec<Rule>,
    /// The same rules as integers, by family, each in the given order (an
    /// address is only ever held by rules of its own family, so the first
    /// match within the family is the first match): network, mask, allow.
    v4: Vec<(u32, u32, bool)>,
    v6: Vec<(u128, u128, bool)>,
    /// With any `--allow`, what no rule holds is refused.
    default_deny: bool,
    trusted: Vec<IpNet>,
}

/// A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
fn parse_net(flag: &str, spec: &str) -> Result<IpNet, String> {
    let s = spec.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    match s.parse::<IpAddr>() {
        Ok(ip) => Ok(IpNet::from(canonical(ip))),
        Err(_) => Err(format!(
            "{flag} '{spec}': expected an address or a network such as 10.0.0.0/8 or 2001:db8::/32"
        )),
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl Addresses {
    /// From the rules in order (`true`: `--allow`) and `--trust-proxy`'s
    /// networks; a bad one is a one-line error naming its flag.
    pub(crate) fn new(rules: &[(bool, String)], trusted: &[String]) -> Result<Addresses, String> {
        let mut out = Vec::new();
        for (allow, spec) in rules {
            let flag = if *allow { "--allow" } else { "--deny" };
            out.push(Rule {
                allow: *allow,
                net: parse_net(flag, spec)?,
            });
        }
        let trusted = trusted
            .iter()
            .map(|s| parse_net("--trust-proxy", s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for r in &out {
            match r.net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.netmask()), r.allow)),
                IpNet::V6(n) => {
                    v6.push((u128::from(n.network()), u128::from(n.netmask()), r.allow))
                }
            }
        }
        Ok(Addresses {
            default_deny: out.iter().any(|r| r.allow),
            rules: out,
            v4,
            v6,
            trusted,
        })
    }

    /// Whether `client` may be served.
    pub(crate) fn allows(&self, client: IpAddr) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        let found = match canonical(client) {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .find(|&&(net, mask, _)| a & mask == net)
                    .map(|r| r.2)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .find(|&&(net, mask, _)| a & mask == net)
                    .map(|r| r.2)
            }
        };
        found.unwrap_or(!self.default_deny)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request from `peer` with these `X-Forwarded-For`
    /// and `Forwarded` values: `Some` only when it is not the peer (a
    /// trusted proxy named it).
    pub(crate) fn client(
        &self,
        peer: IpAddr,
        forwarded_for: Option<&[u8]>,
        forwarded: Option<&[u8]>,
    ) -> Option<IpAddr> {
        if self.trusted.is_empty() || !self.trusts(peer) {
            return None;
        }
        let hops: Vec<IpAddr> = match (forwarded_for, forwarded) {
            (Some(xff), _) => xff_hops(xff)?,
            (None, Some(f)) => forwarded_hops(f)?,
            (None, None) => return None,
        };
        // Right to left: the nearest hop first; the first one not trusted
        // is the client (all trusted: the farthest).
        let client = hops
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(hops.first())
            .copied()?;
        Some(canonical(client))
    }
}

/// `X-Forwarded-For: 203.0.113.7, 10.0.0.2`: every entry an address
/// (with or without a port); `None` if any is not.
fn xff_hops(value: &[u8]) -> Option<Vec<IpAddr>> {
    let text = std::str::from_utf8(value).ok()?;
    text.split(',').map(|e| node(e.trim())).collect()
}

/// `Forwarded: for=203.0.113.7;proto=https, for="[2001:db8::1]:4711"`:
/// each element's `for=`; `None` if any element lacks one or it is not an
/// address (`unknown`, an obfuscated name).
fn forwarded_hops(value: &[u8]) -> Option<Vec<IpAddr>> {
    let text = std::str::from_utf8(value).ok()?;
    text.split(',')
        .map(|element| {
            let pair = element
                .split(';')
                .map(str::trim)
                .find(|p| p.len() > 4 && p[..4].eq_ignore_ascii_case("for="))?;
            node(pair[4..].trim_matches('"'))
        })
        .collect()
}

/// An address as a node: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`.
fn node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return ip.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (ip, port) = s.rsplit_once(':')?;
    is_port(port)
        .then(|| ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))
        .flatten()
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rules(list: &[(bool, &str)], trusted: &[&str]) -> Addresses {
        let list: Vec<(bool, String)> = list.iter().map(|(a, s)| (*a, s.to_string())).collect();
        let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
        Addresses::new(&list, &trusted).unwrap()
    }

    #[test]
    fn the_first_match_wins_and_any_allow_denies_the_rest() {
        let a = rules(
            &[(false, "10.0.0.5"), (true, "10.0.0.0/8"), (true, "::1")],
            &[],
        );
        assert!(!a.allows(ip("10.0.0.5")));
        assert!(a.allows(ip("10.9.9.9")));
        assert!(a.allows(ip("::1")));
        assert!(!a.allows(ip("192.0.2.1")), "default deny with an --allow");
        assert!(
            a.allows(ip("::ffff:10.1.1.1")),
            "mapped addresses compare as IPv4"
        );
        let d = rules(&[(false, "192.0.2.0/24")], &[]);
        assert!(!d.allows(ip("192.0.2.9")));
        assert!(
            d.allows(ip("198.51.100.1")),
            "only --deny: the rest is served"
        );
        assert!(
            rules(&[], &[]).allows(ip("192.0.2.1")),
            "no rules: everyone"
        );
        // A host part beyond the prefix is dropped, as routers do.
        assert!(rules(&[(false, "10.1.2.3/8")], &[]).allows(ip("11.0.0.1")));
        assert!(!rules(&[(false, "10.1.2.3/8")], &[]).allows(ip("10.200.0.1")));
    }

    #[test]
    fn bad_rules_name_their_flag() {
        for (list, trusted, flag) in [
            (vec![(true, "10.0.0.0/33")], vec![], "--allow '10.0.0.0/33'"),
            (vec![(false, "example.com")], vec![], "--deny 'example.com'"),
            (vec![], vec!["10.0.0.0/8x"], "--trust-proxy '10.0.0.0/8x'"),
        ] {
            let list: Vec<(bool, String)> = list.iter().map(|(a, s)| (*a, s.to_string())).collect();
            let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
            let e = Addresses::new(&list, &trusted).unwrap_err();
            assert!(e.starts_with(flag), "{e}");
        }
    }

    #[test]
    fn only_trusted_peers_name_the_client() {
        let a = rules(&[], &["127.0.0.1", "10.0.0.0/8"]);
        let xff = |v: &str| a.client(ip("127.0.0.1"), Some(v.as_bytes()), None);
        assert_eq!(xff("203.0.113.7"), Some(ip("203.0.113.7")));
        assert_eq!(
            xff("198.51.100.1, 203.0.113.7, 10.0.0.2"),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            xff("10.0.0.3, 10.0.0.2"),
            Some(ip("10.0.0.3")),
            "all trusted: the farthest"
        );
        assert_eq!(xff("203.0.113.7:5555"), Some(ip("203.0.113.7")));
        assert_eq!(xff("[2001:db8::7]:80"), Some(ip("2001:db8::7")));
        assert_eq!(xff("nonsense"), None);
        assert_eq!(xff("203.0.113.7, "), None);
        // From a peer not trusted, the header changes nothing.
        assert_eq!(a.client(ip("192.0.2.1"), Some(b"203.0.113.7"), None), None);
        let fwd = |v: &str| a.client(ip("127.0.0.1"), None, Some(v.as_bytes()));
        assert_eq!(fwd("for=203.0.113.7;proto=https"), Some(ip("203.0.113.7")));
        assert_eq!(fwd("For=\"[2001:db8::1]:4711\""), Some(ip("2001:db8::1")));
        assert_eq!(
            fwd("for=198.51.100.2, for=10.0.0.9"),
            Some(ip("198.51.100.2"))
        );
        assert_eq!(fwd("for=unknown"), None);
        assert_eq!(fwd("proto=https"), None);
        // X-Forwarded-For wins over Forwarded.
        assert_eq!(
            a.client(
                ip("127.0.0.1"),
                Some(b"203.0.113.1"),
                Some(b"for=203.0.113.2")
            ),
            Some(ip("203.0.113.1"))
        );
        assert_eq!(
            rules(&[], &[]).client(ip("127.0.0.1"), Some(b"203.0.113.7"), None),
            None
        );
    }
}
