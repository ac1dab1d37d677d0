//! Which addresses issuer fetches may reach. On the public network (every issuer unless
//! `allow_private_network: true`) https never reaches a loopback, private, link-local or otherwise non-public
//! address: IP literals are refused before connecting ([`reaches_allowed_host`]), and names are checked on the
//! addresses they resolve to, the very ones connected to ([`PublicResolver`]), so DNS rebinding cannot slip
//! past. Plain http is loopback-only anyway (`fetch::is_allowed_url`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which addresses an issuer's fetches may reach over https.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// Public addresses only (the default).
    #[default]
    Public,
    /// Any address (`allow_private_network: true`: GitHub Enterprise Server, self-managed GitLab).
    Private,
}

/// Resolves names to public addresses only (`localhost` to loopback, which only plain-http URLs may name).
pub(super) struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = public_addresses(&host, resolved)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The addresses a name may be connected to on the public network; an error when none is left.
pub fn public_addresses(host: &str, resolved: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let loopback_name = host.eq_ignore_ascii_case("localhost");
    let kept: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|addr| is_public_ip(addr.ip()) || (loopback_name && addr.ip().is_loopback()))
        .collect();
    if kept.is_empty() {
        return Err(format!("{host:?} resolves to no public address (allow_private_network is off)"));
    }
    Ok(kept)
}

/// Whether a URL's host may be reached on `network` before any name is resolved: on the public network an
/// https URL may not name a non-public IP literal or `localhost`. (Plain http is loopback-only anyway.)
pub fn reaches_allowed_host(url: &Url, network: Network) -> bool {
    if network == Network::Private || url.scheme() != "https" {
        return true;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public_ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
        None => false,
    }
}

/// A globally reachable unicast address: not loopback, private (RFC 1918, fc00::/7), link-local (169.254/16,
/// fe80::/10), shared (100.64/10), unspecified, broadcast, multicast, documentation, benchmarking or reserved;
/// IPv4-mapped and NAT64 IPv6 addresses are judged by their IPv4 address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            if segments.first() == Some(&0x64) && segments.get(1) == Some(&0xff9b) {
                let octets = v6.octets();
                let tail = octets.get(12..16).and_then(|t| <[u8; 4]>::try_from(t).ok()).unwrap_or([0; 4]);
                return is_public_v4(Ipv4Addr::from(tail));
            }
            let first = segments.first().copied().unwrap_or(0);
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && segments.get(1) == Some(&0x0db8))
                || v6 == Ipv6Addr::UNSPECIFIED)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_only() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "140.82.112.3", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
        let addr = |text: &str| SocketAddr::new(text.parse().unwrap(), 443);
        assert_eq!(public_addresses("a.example", vec![addr("10.0.0.1"), addr("8.8.8.8")]), Ok(vec![addr("8.8.8.8")]));
        assert!(public_addresses("rebind.example", vec![addr("127.0.0.1"), addr("169.254.169.254")]).is_err());
        assert_eq!(public_addresses("localhost", vec![addr("127.0.0.1")]), Ok(vec![addr("127.0.0.1")]));
    }

    #[test]
    fn https_to_private_hosts_needs_the_private_network() {
        let cases = [
            ("https://10.0.0.1/jwks", false),
            ("https://[fd00::1]/jwks", false),
            ("https://169.254.169.254/latest", false),
            ("https://127.0.0.1:8443/jwks", false),
            ("https://localhost/jwks", false),
            ("https://x.localhost/jwks", false),
            ("https://issuer.example.com/jwks", true),
            ("https://8.8.8.8/jwks", true),
            ("http://127.0.0.1:8080/jwks", true),
        ];
        for (url, public_ok) in cases {
            let url = Url::parse(url).unwrap();
            assert_eq!(reaches_allowed_host(&url, Network::Public), public_ok, "{url}");
            assert!(reaches_allowed_host(&url, Network::Private), "{url}");
        }
    }
}
