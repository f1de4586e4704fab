//! Push endpoints are URLs a client chooses and the server then calls: a
//! server-side request forgery waiting to happen. So an endpoint must be
//! `https`, and every address it leads to must be a public one — checked
//! on the literal when the host is an address, and on every address the
//! name resolves to, at the moment of connecting (the resolver below hands
//! the connector only the addresses that pass, so a name that changes its
//! answer between the check and the call gains nothing). Redirects are not
//! followed. `CHATR_PUSH_ALLOW_INSECURE` (tests) lets `http` and loopback in,
//! and nothing else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::Uri;

use crate::error::{Error, Result};

/// Longer endpoints than any push service issues are refused.
pub const MAX_ENDPOINT_BYTES: usize = 1024;

/// The endpoint as a URI the server may call, or why not.
pub fn check_endpoint(endpoint: &str, insecure: bool) -> Result<Uri> {
    let refuse = |why: &str| Error::invalid_field("endpoint", format!("endpoint {why}"));
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(refuse("is too long"));
    }
    let uri: Uri = endpoint.parse().map_err(|_| refuse("is not a URL"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if insecure => {}
        _ => return Err(refuse("must be an https URL")),
    }
    let authority = uri.authority().ok_or_else(|| refuse("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(refuse("must not carry credentials"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(refuse("has no host"));
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && !allowed(ip, insecure)
    {
        return Err(refuse("points at a private or reserved address"));
    }
    Ok(uri)
}

/// Whether the server may connect to `ip` on a client's say-so: public
/// unicast only (loopback too when `insecure`).
pub fn allowed(ip: IpAddr, insecure: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => allowed_v4(v4, insecure),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return allowed_v4(v4, insecure);
            }
            allowed_v6(v6, insecure)
        }
    }
}

fn allowed_v4(ip: Ipv4Addr, insecure: bool) -> bool {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        return insecure;
    }
    !(ip.is_unspecified()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: the cloud metadata services live here
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240 // reserved
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))) // benchmarking
}

fn allowed_v6(ip: Ipv6Addr, insecure: bool) -> bool {
    if ip.is_loopback() {
        return insecure;
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is a metadata address)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64: could reach private v4
        || ip.to_ipv4().is_some()) // IPv4-compatible, deprecated
}

/// The resolver of the push client: a name resolves to its allowed
/// addresses only, and to an error when none is left.
pub struct Resolver {
    pub insecure: bool,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let insecure = self.insecure;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| allowed(a.ip(), insecure)).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_endpoints_pass() {
        assert!(check_endpoint("https://fcm.googleapis.com/fcm/send/abc", false).is_ok());
        assert!(
            check_endpoint(
                "https://updates.push.services.mozilla.com/wpush/v2/x",
                false
            )
            .is_ok()
        );
        for bad in [
            "http://push.example.com/x",
            "ftp://push.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[fd00:ec2::254]/x",
            "https://[::ffff:192.168.0.1]/x",
            "https://user:pw@push.example.com/x",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "not a url",
            "/relative",
        ] {
            assert!(check_endpoint(bad, false).is_err(), "{bad}");
        }
        assert!(check_endpoint(&format!("https://a.example/{}", "x".repeat(2000)), false).is_err());
    }

    #[test]
    fn insecure_mode_lets_in_http_and_loopback_only() {
        assert!(check_endpoint("http://127.0.0.1:9999/push/1", true).is_ok());
        assert!(check_endpoint("http://[::1]:9999/push/1", true).is_ok());
        assert!(check_endpoint("http://10.0.0.1/push", true).is_err());
        assert!(check_endpoint("http://169.254.169.254/", true).is_err());
    }
}
