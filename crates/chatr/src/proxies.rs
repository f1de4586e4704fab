//! The client's address behind a reverse proxy: `X-Forwarded-For` is read
//! only when the TCP peer is one of the configured proxies
//! (`CHATR_TRUSTED_PROXIES`), and then from the right: the first address
//! that is not a trusted proxy is the client. Anyone else can write that
//! header, so from anyone else it is ignored — the throttles and rate limits
//! that key on the address rely on it.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// At most this many addresses of the header are looked at, from the right.
const MAX_HOPS: usize = 32;

/// An address range: an address and how many leading bits must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    /// `10.0.0.0/8`, `::1`, `192.168.1.7`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Self { addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address seen through an IPv6 socket as itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses `CHATR_TRUSTED_PROXIES`; the entry that is not an address or range names the error.
pub fn parse_all(entries: &[String]) -> Result<Vec<Net>, String> {
    entries
        .iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            Net::parse(e)
                .ok_or_else(|| format!("CHATR_TRUSTED_PROXIES: {e:?} is not an address or range"))
        })
        .collect()
}

/// The client's address for a request from `peer` with `headers`.
pub fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[Net]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    // Proxies append at the right; what the client wrote is on the left.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev().take(MAX_HOPS) {
        // Not an address: what lies further left cannot be told apart from noise.
        let Ok(hop) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("a header value"));
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn ranges_match_by_prefix() {
        let net = Net::parse("10.0.0.0/8").expect("a range");
        assert!(net.contains(ip("10.200.3.4")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.1.1")),
            "IPv4 seen through IPv6"
        );
        assert!(Net::parse("::1").expect("an address").contains(ip("::1")));
        assert!(
            Net::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert_eq!(Net::parse("10.0.0.0/33"), None);
        assert_eq!(Net::parse("nonsense"), None);
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy_and_from_the_right() {
        let trusted = parse_all(&["127.0.0.1".into(), "10.0.0.0/8".into()]).expect("valid");
        // From a stranger: the header is theirs to invent.
        assert_eq!(
            client(ip("203.0.113.9"), &headers("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // From the proxy: the last address it did not add itself.
        assert_eq!(
            client(ip("127.0.0.1"), &headers("1.2.3.4"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client(
                ip("127.0.0.1"),
                &headers("6.6.6.6, 1.2.3.4, 10.0.0.2"),
                &trusted
            ),
            ip("1.2.3.4"),
            "a client's own X-Forwarded-For in front is not believed"
        );
        assert_eq!(
            client(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client(ip("127.0.0.1"), &headers("junk, 1.2.3.4"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client(ip("127.0.0.1"), &headers("1.2.3.4"), &[]),
            ip("127.0.0.1"),
            "no proxies configured"
        );
    }
}
