//! The SSRF guard's address rules.
//!
//! Destinations are customer-supplied URLs, so without a guard any tenant
//! could make `outbound` POST to the cloud metadata service, to the database
//! on the private network, or to an admin port on loopback. The rule is
//! applied to the *resolved* addresses (see `delivery::http_client`), never
//! to the host name, so a DNS name pointing at 10.0.0.1 is refused like the
//! literal.
//!
//! These are pure rules with no I/O, so they live in the domain layer: the
//! HTTP client applies them at connect time, and the API can apply the same
//! rules when a destination is created.
//!
//! [`is_denied`] is the fixed deny list; [`NetworkPolicy`] adds the
//! operator's allowlist (`DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS`), which wins
//! over the deny list so that tests and local development can reach loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why an allowlist entry could not be parsed. The bad entry is quoted so an
/// operator can find it in a long comma-separated setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("invalid network {entry:?}: not an IP address or address/prefix")]
    Invalid { entry: String },
}

/// The guard refused an address. Carries the address for logs; it is not
/// shown to tenants beyond the failure code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("address {0} is not allowed (private, loopback, link-local or reserved)")]
pub struct Blocked(pub IpAddr);

/// Parses one allowlist entry: `a.b.c.d/n`, `x::y/n`, or a bare address (a
/// single-host network, /32 or /128). Host bits are cleared, so `10.1.2.3/8`
/// means `10.0.0.0/8`, as Go's `net.ParseCIDR` treats it.
fn parse_network(entry: &str) -> Result<IpNet, CidrError> {
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| CidrError::Invalid {
            entry: entry.to_owned(),
        })
}

/// Which resolved addresses the webhook client may connect to.
///
/// The default policy (empty allowlist) refuses everything [`is_denied`]
/// refuses. Allowlisted networks are exempt from the deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
}

impl NetworkPolicy {
    /// Parses the `DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS` setting: CIDRs
    /// separated by commas; blanks around entries and empty entries (a
    /// trailing comma, an unset variable) are ignored.
    pub fn parse(setting: &str) -> Result<Self, CidrError> {
        let allowed = setting
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_network)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed })
    }

    /// A policy from already-parsed networks. Host bits are cleared, as
    /// [`NetworkPolicy::parse`] clears them.
    pub fn with_allowed(allowed: Vec<IpNet>) -> Self {
        let allowed = allowed.into_iter().map(|net| net.trunc()).collect();
        Self { allowed }
    }

    /// The allowlisted networks.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether `ip` is in an allowlisted network. IPv4-mapped IPv6
    /// addresses are compared as the IPv4 address they carry, so allowing
    /// 127.0.0.0/8 also allows `::ffff:127.0.0.1`; otherwise IPv4 networks
    /// never contain IPv6 addresses and vice versa.
    pub fn is_allowlisted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// `Ok` if the client may connect to `ip`: allowlisted, or not denied.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        if self.is_allowlisted(ip) || !is_denied(ip) {
            Ok(())
        } else {
            Err(Blocked(ip))
        }
    }
}

/// Whether `ip` is an address a webhook must never be sent to: anything that
/// is not a public unicast address.
pub fn is_denied(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_denied_v4(v4),
        IpAddr::V6(v6) => is_denied_v6(v6),
    }
}

/// IPv4 networks that are not public unicast destinations (IANA special
/// purpose registry, trimmed to what matters for an outbound client).
const DENIED_V4: &[Ipv4Net] = &[
    net4(Ipv4Addr::new(0, 0, 0, 0), 8), // "this network", incl. unspecified
    net4(Ipv4Addr::new(10, 0, 0, 0), 8), // private
    net4(Ipv4Addr::new(100, 64, 0, 0), 10), // carrier-grade NAT
    net4(Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    net4(Ipv4Addr::new(169, 254, 0, 0), 16), // link-local, incl. 169.254.169.254 metadata
    net4(Ipv4Addr::new(172, 16, 0, 0), 12), // private
    net4(Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments
    net4(Ipv4Addr::new(192, 0, 2, 0), 24), // documentation (TEST-NET-1)
    net4(Ipv4Addr::new(192, 168, 0, 0), 16), // private
    net4(Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    net4(Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    net4(Ipv4Addr::new(203, 0, 113, 0), 24), // documentation (TEST-NET-3)
    net4(Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    net4(Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, incl. broadcast 255.255.255.255
];

fn is_denied_v4(ip: Ipv4Addr) -> bool {
    DENIED_V4.iter().any(|net| net.contains(&ip))
}

/// IPv6 networks denied outright. Ranges that embed an IPv4 address are
/// handled separately in [`is_denied_v6`], because whether they are denied
/// depends on the IPv4 address inside.
const DENIED_V6: &[Ipv6Net] = &[
    net6(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    net6(Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),     // discard-only
    net6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    net6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local, incl. fd00:ec2::254 metadata
    net6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    net6(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    net6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

fn is_denied_v6(ip: Ipv6Addr) -> bool {
    // Addresses that carry an IPv4 address reach that IPv4 host one way or
    // another (dual-stack sockets, NAT64 gateways, 6to4 relays), so they are
    // judged by it: `::ffff:10.0.0.1` is as private as `10.0.0.1`.
    if let Some(v4) = embedded_v4(ip) {
        return is_denied_v4(v4);
    }
    DENIED_V6.iter().any(|net| net.contains(&ip))
}

/// Networks whose last 32 bits are an IPv4 address: IPv4-compatible
/// (`::/96`, which also covers `::` and `::1`: they map to 0.0.0.0 and
/// 0.0.0.1, both denied), IPv4-mapped, IPv4-translated (SIIT, RFC 2765:
/// `::ffff:0:7f00:1` is 127.0.0.1) and NAT64.
const CARRY_V4_IN_LOW_32: &[Ipv6Net] = &[
    net6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),
    net6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
    net6(Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96),
    net6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96),
];

/// 6to4: the IPv4 address is the 32 bits after the /16 prefix.
const SIX_TO_FOUR: Ipv6Net = net6(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);

/// Teredo (RFC 4380): the client's IPv4 address is the last 32 bits,
/// inverted; packets reach it through a relay.
const TEREDO: Ipv6Net = net6(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32);

/// The IPv4 address carried by an IPv4-compatible, IPv4-mapped,
/// IPv4-translated, NAT64, 6to4 or Teredo address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    if CARRY_V4_IN_LOW_32.iter().any(|net| net.contains(&ip)) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if SIX_TO_FOUR.contains(&ip) {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    if TEREDO.contains(&ip) {
        return Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]));
    }
    None
}

/// DNS: a host name of at most 253 characters, labels of at most 63.
const MAX_HOST_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// Refuses a URL whose host is a literal address the policy refuses, or a
/// name that always means this machine (`localhost`, RFC 6761). Literal
/// forms are read as a browser reads them (WHATWG URL): `2130706433`,
/// `0x7f.1`, `[::ffff:127.0.0.1]` are all 127.0.0.1.
pub fn reachable_url(url: &str, policy: &NetworkPolicy) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a valid URL: {e}"))?;
    let ip = match parsed.host() {
        None => return Err("has no host".into()),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            host_name_fits_dns(&name)?;
            if name != "localhost" && !name.ends_with(".localhost") {
                return Ok(());
            }
            // localhost is loopback on every machine; allowed only when the
            // operator allows loopback.
            let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
            return match policy.check(v4).or_else(|_| policy.check(v6)) {
                Ok(()) => Ok(()),
                Err(_) => Err(format!("host {name} is this machine (loopback), which destinations may not reach unless the service's operator allows that network")),
            };
        }
    };
    policy.check(ip).map_err(|_| {
        format!(
            "host {ip} is a loopback, private, link-local or reserved address, which destinations may not reach unless the service's operator allows that network"
        )
    })
}

/// A host name DNS can hold: at most 253 characters, labels of 1 to 63.
fn host_name_fits_dns(name: &str) -> Result<(), String> {
    if name.len() > MAX_HOST_NAME {
        return Err(format!(
            "host name is {} characters long; DNS names have at most {MAX_HOST_NAME}",
            name.len()
        ));
    }
    if let Some(label) = name.split('.').find(|l| l.len() > MAX_LABEL) {
        return Err(format!(
            "host name has a label of {} characters ({}…); DNS labels have at most {MAX_LABEL}",
            label.len(),
            &label[..16]
        ));
    }
    Ok(())
}

// Table entries. Evaluated at compile time, so a prefix length too long for
// the family fails the build rather than a request.
const fn net4(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(addr, prefix)
}

const fn net6(addr: Ipv6Addr, prefix: u8) -> Ipv6Net {
    Ipv6Net::new_assert(addr, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn deny_list() {
        let cases = [
            // IPv4
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("10.0.0.1", true),
            ("10.255.255.255", true),
            ("100.64.0.1", true),
            ("100.127.255.255", true),
            ("100.128.0.1", false),
            ("127.0.0.1", true),
            ("127.255.0.1", true),
            ("169.254.169.254", true),
            ("169.254.0.1", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("172.32.0.1", false),
            ("172.15.255.255", false),
            ("192.0.0.1", true),
            ("192.0.2.1", true),
            ("192.168.1.1", true),
            ("198.18.0.1", true),
            ("198.19.255.255", true),
            ("198.20.0.1", false),
            ("224.0.0.1", true),
            ("239.255.255.250", true),
            ("240.0.0.1", true),
            ("255.255.255.255", true),
            ("8.8.8.8", false),
            ("1.1.1.1", false),
            ("93.184.216.34", false),
            ("11.0.0.1", false),
            // IPv6
            ("::", true),
            ("::1", true),
            ("fd00:ec2::254", true),
            ("fc00::1", true),
            ("fdff::1", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("ff02::1", true),
            ("2001:db8::1", true),
            ("100::1", true),
            ("64:ff9b:1::1", true),
            ("2606:4700:4700::1111", false),
            ("2001:4860:4860::8888", false),
            // IPv4 inside IPv6
            ("::ffff:10.0.0.1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:8.8.8.8", false),
            ("::10.0.0.1", true),
            ("::8.8.8.8", false),
            ("64:ff9b::10.0.0.1", true),
            ("64:ff9b::169.254.169.254", true),
            ("64:ff9b::8.8.8.8", false),
            ("2002:0a00:0001::1", true),
            ("2002:0808:0808::1", false),
            // IPv4-translated (SIIT): ::ffff:0:127.0.0.1
            ("::ffff:0:7f00:1", true),
            ("::ffff:0:a00:1", true),
            ("::ffff:0:808:808", false),
            // Teredo: the client's address, inverted, in the last 32 bits
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", true), // 127.0.0.1
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", true), // 192.0.2.45
            ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", false), // 8.8.8.8
        ];
        for (addr, denied) in cases {
            assert_eq!(is_denied(ip(addr)), denied, "{addr}");
        }
    }

    #[test]
    fn cidr_parse_and_contains() {
        let cases = [
            ("127.0.0.0/8", "127.1.2.3", true),
            ("127.0.0.0/8", "128.0.0.1", false),
            ("10.1.2.3/8", "10.200.0.1", true), // host bits are cleared
            ("10.0.0.5", "10.0.0.5", true),     // bare address = /32
            ("10.0.0.5", "10.0.0.6", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::1", false), // families never mix
            ("::1/128", "::1", true),
            ("::1", "::2", false),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe00::1", false),
            ("::/0", "2001:db8::1", true),
        ];
        for (net, addr, inside) in cases {
            let parsed = parse_network(net).unwrap();
            assert_eq!(parsed.contains(&ip(addr)), inside, "{net} ∋ {addr}");
            let policy = NetworkPolicy::parse(net).unwrap();
            assert_eq!(policy.is_allowlisted(ip(addr)), inside, "{net} ∋ {addr}");
        }
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("10.0.0.5").unwrap().to_string(),
            "10.0.0.5/32"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        let policy = NetworkPolicy::with_allowed(vec!["10.1.2.3/8".parse().unwrap()]);
        assert_eq!(policy.allowed()[0].to_string(), "10.0.0.0/8");
    }

    #[test]
    fn cidr_parse_errors_name_the_entry() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "host/8",
            "10.0.0.0/-1",
        ] {
            let err = parse_network(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let err = NetworkPolicy::parse("127.0.0.0/8, 10.0.0.0/99").unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/99"), "{err}");
    }

    #[test]
    fn policy_parse() {
        assert_eq!(NetworkPolicy::parse("").unwrap(), NetworkPolicy::default());
        assert_eq!(
            NetworkPolicy::parse(" , ").unwrap(),
            NetworkPolicy::default()
        );
        let policy = NetworkPolicy::parse(" 127.0.0.0/8 ,::1/128,").unwrap();
        assert_eq!(policy.allowed().len(), 2);
    }

    #[test]
    fn policy_check() {
        let policy = NetworkPolicy::parse("127.0.0.0/8,10.1.0.0/16,fd00::/8").unwrap();
        let cases = [
            (&NetworkPolicy::default(), "127.0.0.1", false),
            (&NetworkPolicy::default(), "8.8.8.8", true),
            (&policy, "127.0.0.1", true),
            (&policy, "::ffff:127.0.0.1", true), // mapped form of an allowed address
            (&policy, "::1", false),             // not in the allowlist
            (&policy, "10.1.2.3", true),
            (&policy, "10.2.0.1", false),
            (&policy, "fd00:ec2::254", true),
            (&policy, "169.254.169.254", false),
            (&policy, "8.8.8.8", true), // public stays allowed
        ];
        for (policy, addr, allowed) in cases {
            let result = policy.check(ip(addr));
            assert_eq!(result.is_ok(), allowed, "{addr} with {policy:?}");
            if let Err(Blocked(blocked)) = result {
                assert_eq!(blocked, ip(addr));
            }
        }
    }
}
