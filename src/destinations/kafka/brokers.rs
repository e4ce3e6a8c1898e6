//! Kafka destination rules that need no network: the broker list and which
//! partition a key goes to.

/// One bootstrap broker, `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Broker {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Reads `brokers` (`host:port`, comma separated, blanks around entries
/// ignored, as Outpost trims them). Every entry must have a host name or
/// IPv4 address and a port: the client connects to exactly these.
/// IPv6 literals are refused: Kafka clients address brokers as
/// `host:port` and cannot tell the address's colons from the port's; a
/// broker reachable only over IPv6 is named by a host name.
pub fn parse_brokers(brokers: &str) -> Result<Vec<Broker>, String> {
    let mut out: Vec<Broker> = Vec::new();
    for entry in brokers.split(',').map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        let broker = parse_broker(entry)?;
        if !out.contains(&broker) {
            out.push(broker);
        }
    }
    if out.is_empty() {
        return Err("must list at least one broker as host:port".into());
    }
    Ok(out)
}

fn parse_broker(entry: &str) -> Result<Broker, String> {
    if entry.starts_with('[') || entry.matches(':').count() > 1 {
        return Err(format!(
            "{entry:?}: IPv6 addresses are not supported; name the broker by a host name"
        ));
    }
    let Some((host, port)) = entry.split_once(':') else {
        return Err(format!("{entry:?} has no port; write it as host:port"));
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{entry:?} has no valid port (1-65535)"))?;
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid_host {
        return Err(format!("{entry:?} has no valid host name"));
    }
    Ok(Broker {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// The partition (of `count`, numbered from 0) a record with `key` goes
/// to: 32-bit FNV-1a of the key, read as a signed number, modulo `count`,
/// sign dropped. This is Outpost's partitioner (kafka-go's `Hash`, the same
/// as Sarama's), so records keep the partitions they had there.
pub fn partition_for(key: &[u8], count: i32) -> i32 {
    if count <= 1 {
        return 0;
    }
    let mut hash: u32 = 0x811c_9dc5;
    for b in key {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    // `as i32` reinterprets the bits, as Go's int32(h) does.
    ((hash as i32) % count).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_lists_are_read_like_outpost_trims_them() {
        let b = parse_brokers(" a.example.com:9092, b:9093 ,,a.example.com:9092").unwrap();
        assert_eq!(
            b,
            [
                Broker {
                    host: "a.example.com".into(),
                    port: 9092
                },
                Broker {
                    host: "b".into(),
                    port: 9093
                }
            ]
        );
        assert_eq!(b[0].to_string(), "a.example.com:9092");
        assert!(parse_brokers("10.0.0.1:9092").is_ok());
    }

    #[test]
    fn bad_broker_lists_are_refused() {
        for bad in [
            "",
            " , ",
            "broker",
            "broker:",
            "broker:0",
            "broker:70000",
            ":9092",
            "a b:9092",
            "kafka://broker:9092",
            "[::1]:9092",
            "::1:9092",
            "a..b:9092",
        ] {
            assert!(parse_brokers(bad).is_err(), "{bad:?} accepted");
        }
        let err = parse_brokers("ok:9092,broken").unwrap_err();
        assert!(err.contains("\"broken\" has no port"), "{err}");
    }

    #[test]
    fn partitions_follow_kafka_go_hash() {
        // FNV-1a("a") = 0xe40c292c, FNV-1a("foobar") = 0xbf9cf968 (the
        // FNV reference vectors): both negative as i32.
        assert_eq!(partition_for(b"a", 3), 0);
        assert_eq!(partition_for(b"a", 7), 6);
        assert_eq!(partition_for(b"foobar", 3), 0);
        assert_eq!(partition_for(b"foobar", 7), 4);
        assert_eq!(partition_for(b"anything", 1), 0);
        for key in [&b"x"[..], b"evt_1", b"user-42"] {
            let p = partition_for(key, 7);
            assert!((0..7).contains(&p));
            assert_eq!(p, partition_for(key, 7), "stable");
        }
    }
}
