//! Who the client is: the connection's peer, or, behind reverse proxies of the shop's own, the
//! address they report. A client can write anything into `X-Forwarded-For`; each proxy appends
//! the address it saw, so only the entries the trusted proxies appended — counted from the
//! right — are facts. `X-Real-IP` is read only when configured: a proxy that passes a client's
//! own `X-Real-IP` through would otherwise let anyone pick their address.

use std::net::IpAddr;
use std::sync::Arc;

use poem::Request;

pub use crate::config::ProxyTrust;

/// The setting, parsed once: how to find the client.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Proxies counted from the right (when no list is given).
    hops: usize,
    /// The proxies' own addresses (when given): entries from these are skipped.
    proxies: Vec<IpAddr>,
    /// `TRUST_X_REAL_IP`: the nearest trusted proxy sets `X-Real-IP` itself.
    real_ip: bool,
}

impl Trust {
    pub fn new(setting: &ProxyTrust, real_ip: bool) -> Result<Trust, String> {
        let (hops, proxies) = setting.parse()?;
        Ok(Trust { hops, proxies, real_ip })
    }

    fn any(&self) -> bool {
        self.hops > 0 || !self.proxies.is_empty()
    }

    fn is_proxy(&self, ip: &IpAddr) -> bool {
        self.proxies.contains(ip)
    }

    /// The client's address given the connection's peer and the forwarding headers.
    pub fn client(&self, peer: Option<IpAddr>, forwarded: Option<&str>, real_ip: Option<&str>) -> Option<IpAddr> {
        if !self.any() || (!self.proxies.is_empty() && !peer.is_some_and(|p| self.is_proxy(&p))) {
            return peer;
        }
        if self.real_ip
            && let Some(ip) = real_ip.and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
        // Right to left: the peer, then what each proxy appended.
        let chain: Vec<IpAddr> =
            forwarded.unwrap_or_default().split(',').filter_map(|e| e.trim().parse().ok()).collect();
        if self.proxies.is_empty() {
            // `hops` proxies: the peer is the last of them, and each appended one entry.
            let at = chain.len().checked_sub(self.hops);
            return match at {
                Some(i) => Some(chain[i]),
                // Fewer entries than proxies: the leftmost is as far as the facts go.
                None => chain.first().copied().or(peer),
            };
        }
        chain.iter().rev().find(|ip| !self.is_proxy(ip)).copied().or_else(|| chain.first().copied()).or(peer)
    }
}

/// Request data: how the client's address is found.
#[derive(Debug, Clone, Default)]
pub struct TrustProxy(pub Arc<Trust>);

/// The client's IP as a key (rate limits, lockouts, the audit log).
pub fn client_key(req: &Request) -> String {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let ip = match req.data::<TrustProxy>() {
        Some(t) => t.0.client(peer, req.header("x-forwarded-for"), req.header("x-real-ip")),
        None => peer,
    };
    ip.map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_client_is_counted_from_the_right() {
        let proxy = ip("10.0.0.2");
        let one = Trust::new(&ProxyTrust::Flag(true), false).unwrap();
        // The client wrote 6.6.6.6 itself; the proxy appended what it saw.
        assert_eq!(one.client(proxy, Some("6.6.6.6, 198.51.100.7"), Some("7.7.7.7")), ip("198.51.100.7"));
        let two = Trust::new(&ProxyTrust::Hops(2), false).unwrap();
        assert_eq!(two.client(proxy, Some("6.6.6.6, 198.51.100.7, 10.0.0.1"), None), ip("198.51.100.7"));
        assert_eq!(two.client(proxy, Some("198.51.100.7"), None), ip("198.51.100.7"), "fewer entries than hops");
        let none = Trust::new(&ProxyTrust::Flag(false), false).unwrap();
        assert_eq!(none.client(proxy, Some("6.6.6.6"), Some("7.7.7.7")), proxy, "no proxy: the headers are ignored");
    }

    #[test]
    fn a_list_of_proxies_skips_them_and_trusts_only_them() {
        let list = Trust::new(&ProxyTrust::Proxies("10.0.0.1, 10.0.0.2".into()), false).unwrap();
        assert_eq!(list.client(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.7, 10.0.0.1"), None), ip("198.51.100.7"));
        assert_eq!(list.client(ip("203.0.113.5"), Some("6.6.6.6"), None), ip("203.0.113.5"), "not from a proxy");
        assert!(Trust::new(&ProxyTrust::Proxies("10.0.0.1,proxy".into()), false).is_err());
    }

    #[test]
    fn x_real_ip_only_when_configured() {
        let plain = Trust::new(&ProxyTrust::Flag(true), false).unwrap();
        assert_eq!(plain.client(ip("10.0.0.2"), Some("198.51.100.7"), Some("7.7.7.7")), ip("198.51.100.7"));
        let real = Trust::new(&ProxyTrust::Flag(true), true).unwrap();
        assert_eq!(real.client(ip("10.0.0.2"), Some("198.51.100.7"), Some("7.7.7.7")), ip("7.7.7.7"));
    }
}
