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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why an allowlist entry could not be parsed. The bad entry is quoted so an
/// operator can find it in a long comma-separated setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("invalid network {entry:?}: {reason}")]
    Invalid { entry: String, reason: &'static str },
}

/// The guard refused an address. Carries the address for logs; it is not
/// shown to tenants beyond the failure code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("address {0} is not allowed (private, loopback, link-local or reserved)")]
pub struct Blocked(pub IpAddr);

/// An IP network: an address and a prefix length. The address is stored
/// with its host bits cleared, so `contains` is a single masked compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Builds a network, clearing host bits (`10.1.2.3/8` is `10.0.0.0/8`,
    /// as Go's `net.ParseCIDR` treats it). `None` if the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(prefix)))
            }
            IpAddr::V6(a) if prefix <= 128 => {
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(prefix)))
            }
            _ => return None,
        };
        Some(Self { addr, prefix })
    }

    /// Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a single-host
    /// network, /32 or /128).
    pub fn parse(entry: &str) -> Result<Self, CidrError> {
        let invalid = |reason| CidrError::Invalid {
            entry: entry.to_owned(),
            reason,
        };
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| invalid("not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| invalid("prefix length is not a number"))?,
        };
        Self::new(addr, prefix)
            .ok_or_else(|| invalid("prefix length too long for the address family"))
    }

    /// Whether `ip` is inside this network. IPv4 and IPv6 never match each
    /// other here; callers canonicalise IPv4-mapped addresses first.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_v4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_v6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask_v4(prefix: u8) -> u32 {
    // `checked_shl` because shifting a u32 by 32 overflows (prefix 0).
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Which resolved addresses the webhook client may connect to.
///
/// The default policy (empty allowlist) refuses everything [`is_denied`]
/// refuses. Allowlisted networks are exempt from the deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<Cidr>,
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
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed })
    }

    /// A policy from already-parsed networks.
    pub fn with_allowed(allowed: Vec<Cidr>) -> Self {
        Self { allowed }
    }

    /// The allowlisted networks.
    pub fn allowed(&self) -> &[Cidr] {
        &self.allowed
    }

    /// Whether `ip` is in an allowlisted network. IPv4-mapped IPv6
    /// addresses are compared as the IPv4 address they carry, so allowing
    /// 127.0.0.0/8 also allows `::ffff:127.0.0.1`.
    pub fn is_allowlisted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allowed.iter().any(|net| net.contains(ip))
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
const DENIED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),  // "this network", incl. unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8), // private
    (Ipv4Addr::new(100, 64, 0, 0), 10), // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16), // link-local, incl. 169.254.169.254 metadata
    (Ipv4Addr::new(172, 16, 0, 0), 12), // private
    (Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24), // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 168, 0, 0), 16), // private
    (Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24), // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, incl. broadcast 255.255.255.255
];

fn is_denied_v4(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    DENIED_V4
        .iter()
        .any(|&(net, prefix)| ip & mask_v4(prefix) == u32::from(net))
}

/// IPv6 networks denied outright. Ranges that embed an IPv4 address are
/// handled separately in [`is_denied_v6`], because whether they are denied
/// depends on the IPv4 address inside.
const DENIED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),     // discard-only
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local, incl. fd00:ec2::254 metadata
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

fn is_denied_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    // Addresses that carry an IPv4 address reach that IPv4 host one way or
    // another (dual-stack sockets, NAT64 gateways, 6to4 relays), so they are
    // judged by it: `::ffff:10.0.0.1` is as private as `10.0.0.1`.
    if let Some(v4) = embedded_v4(bits) {
        return is_denied_v4(v4);
    }
    DENIED_V6
        .iter()
        .any(|&(net, prefix)| bits & mask_v6(prefix) == u128::from(net))
}

/// The IPv4 address carried by an IPv4-mapped (`::ffff:0:0/96`),
/// IPv4-compatible (`::/96`, which also covers `::` and `::1`: they map to
/// 0.0.0.0 and 0.0.0.1, both denied), NAT64 (`64:ff9b::/96`) or 6to4
/// (`2002::/16`) address.
fn embedded_v4(bits: u128) -> Option<Ipv4Addr> {
    const MAPPED: u128 = 0xffff << 32;
    const NAT64: u128 = 0x0064_ff9b << 96;
    let high96 = bits & !u128::from(u32::MAX);
    if high96 == 0 || high96 == MAPPED || high96 == NAT64 {
        // Truncation keeps exactly the low 32 bits, which is the point.
        return Some(Ipv4Addr::from(bits as u32));
    }
    if bits >> 112 == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
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
            let cidr = Cidr::parse(net).unwrap();
            assert_eq!(cidr.contains(ip(addr)), inside, "{net} ∋ {addr}");
        }
        assert_eq!(Cidr::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
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
            let err = Cidr::parse(bad).unwrap_err();
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
