//! What start-up prints for a listener bound to every address (`0.0.0.0`
//! or `::`): a URL per address other devices (or this one) can use,
//! loopback first, then the LAN addresses, read from the interfaces
//! (`getifaddrs`, through the if-addrs crate); and, with `--qr`, the first
//! LAN URL as a QR code for a phone's camera.

use std::net::{IpAddr, SocketAddr};

/// The URLs of a listener bound to `local`, given the machine's interface
/// addresses; `None` when it is bound to one address (that is its URL).
/// `dual_stack`: a `::` listener also takes IPv4. Link-local IPv6
/// addresses are left out (a URL would need the interface's zone).
pub(crate) fn wildcard_urls(
    local: SocketAddr,
    scheme: &str,
    interfaces: &[IpAddr],
    dual_stack: bool,
) -> Option<Vec<String>> {
    if !local.ip().is_unspecified() {
        return None;
    }
    let v6_listener = local.is_ipv6();
    let usable = |ip: &IpAddr| match ip {
        IpAddr::V4(_) => !v6_listener || dual_stack,
        IpAddr::V6(v6) => v6_listener && (v6.segments()[0] & 0xffc0) != 0xfe80,
    };
    let mut ips: Vec<IpAddr> = interfaces.iter().copied().filter(usable).collect();
    // Loopback first, IPv4 before IPv6, then in the interfaces' order.
    ips.sort_by_key(|ip| (!ip.is_loopback(), ip.is_ipv6()));
    ips.dedup();
    Some(
        ips.into_iter()
            .map(|ip| format!("{scheme}://{}/", SocketAddr::new(ip, local.port())))
            .collect(),
    )
}

/// The machine's interface addresses (none if they cannot be read).
pub(crate) fn interface_addresses() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|list| list.iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

/// Whether a `::` listener takes IPv4 too (Linux's `bindv6only`, 0 by
/// default; skiff does not set `IPV6_V6ONLY` itself).
pub(crate) fn dual_stack() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
        .map(|s| s.trim() == "0")
        .unwrap_or(true)
}

/// The first URL another device can use: not loopback.
pub(crate) fn lan_url(urls: &[String]) -> Option<&str> {
    urls.iter()
        .map(String::as_str)
        .find(|u| !u.contains("://127.") && !u.contains("://[::1]"))
}

/// `url` as a QR code in text: two rows of modules per line, with the
/// quiet zone, light modules drawn (for the usual dark terminal; phones
/// read either way round).
pub(crate) fn qr(url: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn loopback_first_then_the_lan_without_link_local() {
        let all = ips(&[
            "192.168.1.20",
            "127.0.0.1",
            "fe80::1",
            "::1",
            "2001:db8::5",
            "10.0.0.3",
        ]);
        let v4 = wildcard_urls("0.0.0.0:8080".parse().unwrap(), "http", &all, true).unwrap();
        assert_eq!(
            v4,
            [
                "http://127.0.0.1:8080/",
                "http://192.168.1.20:8080/",
                "http://10.0.0.3:8080/"
            ]
        );
        let v6 = wildcard_urls("[::]:8443".parse().unwrap(), "https", &all, true).unwrap();
        assert_eq!(
            v6,
            [
                "https://127.0.0.1:8443/",
                "https://[::1]:8443/",
                "https://192.168.1.20:8443/",
                "https://10.0.0.3:8443/",
                "https://[2001:db8::5]:8443/",
            ]
        );
        let only6 = wildcard_urls("[::]:1".parse().unwrap(), "http", &all, false).unwrap();
        assert_eq!(only6, ["http://[::1]:1/", "http://[2001:db8::5]:1/"]);
        assert!(wildcard_urls("127.0.0.1:1".parse().unwrap(), "http", &all, true).is_none());
        assert_eq!(lan_url(&v4), Some("http://192.168.1.20:8080/"));
        assert_eq!(lan_url(&v4[..1]), None);
    }

    #[test]
    fn the_qr_code_has_its_quiet_zone_and_blocks() {
        let text = qr("http://192.168.1.20:8080/").unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Version 2 (25 modules) plus a 4-module quiet zone each side.
        assert_eq!(lines[0].chars().count(), 33);
        assert!(lines.len() >= 16);
        assert!(text.contains('█') && text.contains('▀'));
    }
}
