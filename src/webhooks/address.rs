//! Where a webhook may go. A URL an admin gives is a way into the shop's own network (the
//! metadata service, a database's admin port), so private, loopback, link-local, shared and
//! metadata addresses are refused, as they are or written as IPv4-mapped or NAT64 IPv6, and a
//! name is judged by every address it resolves to. The check runs at registration and again
//! on each try, on the addresses the try then connects to (a name may resolve elsewhere
//! later: DNS rebinding). `WEBHOOKS_ALLOW_PRIVATE=true` lifts it, for tests and private
//! networks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why a URL is refused, for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Why a host cannot be reached now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// The name does not resolve (now): a later try may do better.
    Lookup(String),
    /// It resolves to an address no delivery may reach.
    Refused(Refusal),
}

impl Unreachable {
    pub fn message(self) -> String {
        match self {
            Unreachable::Lookup(m) | Unreachable::Refused(Refusal(m)) => m,
        }
    }
}

/// Whether a delivery may reach `ip`.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, with fd00:ec2::254 (a metadata service)
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some)
                || s[0] == 0x2001 && s[1] == 0x0db8 // documentation
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254/16, with 169.254.169.254
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// The host and port of a URL, or why it is not one a webhook can take.
pub fn target(url: &str) -> Result<(String, u16), Refusal> {
    let parsed = url::Url::parse(url).map_err(|e| Refusal(format!("Not a URL: {e}")))?;
    let port = match parsed.scheme() {
        "https" | "http" => parsed.port_or_known_default().unwrap_or(443),
        other => return Err(Refusal(format!("Only http and https URLs, not {other}"))),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refusal("A webhook URL has no user or password (sign with the secret instead)".into()));
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Refusal("The URL has no host".into())),
    };
    Ok((host, port))
}

/// Resolves `host` and returns its addresses when every one of them may be reached (or any
/// when `allow_private`); refused when none resolve or one is private.
pub async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, Unreachable> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Unreachable::Lookup(format!("{host} does not resolve: {e}")))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Unreachable::Lookup(format!("{host} has no address")));
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !public(a.ip())) {
        return Err(Unreachable::Refused(Refusal(format!(
            "{host} is (or resolves to) {}, a private, loopback, link-local or metadata address",
            bad.ip()
        ))));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused_in_every_spelling() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "fd00:ec2::254",
            "fe80::1",
            "::127.0.0.1",
        ] {
            assert!(!public(bad.parse().unwrap()), "{bad} is refused");
        }
        for good in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"] {
            assert!(public(good.parse().unwrap()), "{good} is allowed");
        }
    }

    #[test]
    fn urls_need_http_and_a_host_without_credentials() {
        assert_eq!(target("https://hooks.example.com/x").unwrap(), ("hooks.example.com".into(), 443));
        assert_eq!(target("http://[::1]:8080/").unwrap(), ("::1".into(), 8080));
        assert!(target("ftp://example.com/").is_err());
        assert!(target("https://user:pw@example.com/").is_err());
        assert!(target("not a url").is_err());
    }
}
