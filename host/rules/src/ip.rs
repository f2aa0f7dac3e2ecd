//! IP addresses and CIDR ranges: the ClientIP matcher, and anyone who needs an allow-list.

use std::net::IpAddr;

/// A set of addresses and CIDR ranges.
#[derive(Debug, Clone, Default)]
pub struct IpSet {
    ranges: Box<[(IpAddr, u8)]>,
}

/// Parses `1.2.3.4`, `::1`, `10.0.0.0/8` or `fd00::/8` into a range.
///
/// IPv4-mapped IPv6 addresses are treated as IPv4, so `::ffff:10.0.0.1`
/// and `10.0.0.1` are the same client. Host bits in a CIDR are ignored.
pub fn parse_range(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => {
            let len: u8 = l
                .parse()
                .map_err(|_| format!("invalid prefix length {l:?} in CIDR"))?;
            (a, Some(len))
        }
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        "expected an IP address (10.0.0.1) or a CIDR range (10.0.0.0/8)".to_string()
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    if len > max {
        return Err(format!("prefix length /{len} is too long for this address"));
    }
    // An IPv4-mapped IPv6 range becomes the equivalent IPv4 range.
    match ip {
        IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => Ok((IpAddr::V4(v4), len - 96)),
            None => Ok((ip, len)),
        },
        _ => Ok((ip, len)),
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn contains((net, len): (IpAddr, u8), ip: IpAddr) -> bool {
    if net.is_ipv4() != ip.is_ipv4() {
        return false;
    }
    let ((a, width), (b, _)) = (bits(net), bits(ip));
    if len == 0 {
        return true;
    }
    let shift = width - len;
    (a >> shift) == (b >> shift)
}

impl IpSet {
    /// Builds a set from textual addresses and ranges.
    pub fn parse(values: &[String]) -> Result<IpSet, (usize, String)> {
        let ranges = values
            .iter()
            .enumerate()
            .map(|(i, v)| parse_range(v).map_err(|e| (i, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpSet {
            ranges: ranges.into(),
        })
    }

    /// Whether `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|r| contains(*r, ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> IpSet {
        IpSet::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn membership() {
        let s = set(&["127.0.0.1", "192.168.1.0/24", "10::/16"]);
        assert!(s.contains("127.0.0.1".parse().unwrap()));
        assert!(s.contains("192.168.1.100".parse().unwrap()));
        assert!(!s.contains("192.168.2.1".parse().unwrap()));
        assert!(s.contains("10::10".parse().unwrap()));
        assert!(!s.contains("11::".parse().unwrap()));
        assert!(s.contains("::ffff:192.168.1.7".parse().unwrap()));
        assert!(set(&["0.0.0.0/0"]).contains("8.8.8.8".parse().unwrap()));
        assert!(!set(&["0.0.0.0/0"]).contains("::1".parse().unwrap()));
        assert!(set(&["::ffff:10.0.0.0/104"]).contains("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn errors() {
        assert!(parse_range("1").is_err());
        assert!(parse_range("invalid").is_err());
        assert!(parse_range("10.0.0.0/33").is_err());
        assert!(parse_range("10.0.0.0/x").is_err());
        assert!(parse_range("10.1").is_err());
    }
}
