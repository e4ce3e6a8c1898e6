//! Rules of the AWS destination types that need no network: which region
//! names are plausible, what an SQS queue URL says (its region, whether the
//! queue is FIFO), which S3 bucket names and storage classes exist, and the
//! default endpoint of each service in a region.
//!
//! A region is checked for *plausibility*, not against a list of the
//! regions that exist today: AWS opens new ones every year, and a release
//! of outbound should not have to follow. A plausible region is an area
//! AWS uses (`us`, `eu`, `ap`, …), a compass direction (`east`,
//! `southeast`, `central`, …) and a number, so `eu-south-3` passes and the
//! typos `us-easy-1` and `ue-west-1` do not.

/// The area prefixes of AWS regions (including the China regions).
const AREAS: &[&str] = &["af", "ap", "ca", "cn", "eu", "il", "me", "mx", "sa", "us"];

/// The direction words of AWS region names.
const DIRECTIONS: &[&str] = &[
    "central",
    "north",
    "south",
    "east",
    "west",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// S3 storage classes, as S3 spells them. A destination may give any case
/// (as Outpost accepts); the canonical spelling is what is sent.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
    "FSX_ONTAP",
];

/// Checks that `region` looks like an AWS region (`eu-west-1`).
pub fn check_region(region: &str) -> Result<(), String> {
    let mut parts = region.split('-');
    let (Some(area), Some(direction), Some(number), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "{region:?} is not an AWS region name (like us-east-1)"
        ));
    };
    if !AREAS.contains(&area) {
        return Err(format!(
            "{region:?} is not an AWS region: no region starts with {area:?}"
        ));
    }
    if !DIRECTIONS.contains(&direction) {
        return Err(format!(
            "{region:?} is not an AWS region: {direction:?} is not a region's direction"
        ));
    }
    let plausible_number = !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    if !plausible_number {
        return Err(format!(
            "{region:?} is not an AWS region: it must end in a number such as 1"
        ));
    }
    Ok(())
}

/// The DNS suffix of AWS endpoints in `region`.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// What an SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`)
/// says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrl {
    /// `scheme://host[:port]`: where SendMessage goes, unless the
    /// deployment points SQS elsewhere.
    pub endpoint: String,
    /// The region the host names, if it names one (an emulator's host
    /// usually does not).
    pub region: Option<String>,
    /// A FIFO queue (`.fifo`): messages need a group id and a
    /// deduplication id.
    pub fifo: bool,
}

/// Reads a queue URL: an http(s) URL whose path is `/<account>/<queue>`,
/// the account id digits (12 on AWS; fewer are let through for hand-made
/// emulator URLs) and the queue name at most 80 letters, digits,
/// `-` and `_` (the last five may be `.fifo`). On an AWS host the region is
/// the host's label that is a region (`sqs.eu-west-1.amazonaws.com`, or
/// the legacy `eu-west-1.queue.amazonaws.com`); the legacy
/// `queue.amazonaws.com` is us-east-1.
pub fn parse_queue_url(text: &str) -> Result<QueueUrl, String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    let Some(host) = url.host_str() else {
        return Err("has no host".into());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    let segments: Vec<&str> = url.path().trim_start_matches('/').split('/').collect();
    let [account, name] = segments[..] else {
        return Err("must end in /<account id>/<queue name>".into());
    };
    if account.is_empty() || account.len() > 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "account id {account:?} must be the 12-digit AWS account id (the URL ends in /<account id>/<queue name>)"
        ));
    }
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    if stem.is_empty()
        || name.len() > 80
        || !stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "queue name {name:?} must be 1 to 80 letters, digits, '-' or '_' (FIFO queues end in .fifo)"
        ));
    }
    let host = host.to_ascii_lowercase();
    let labeled = host.split('.').find(|l| check_region(l).is_ok());
    let aws_host = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
    let region = match (labeled, aws_host) {
        (Some(r), _) => Some(r.to_string()),
        (None, true) if host == "queue.amazonaws.com" => Some("us-east-1".to_string()),
        (None, true) => {
            return Err(format!(
                "host {host} names no AWS region (expected sqs.<region>.amazonaws.com)"
            ))
        }
        (None, false) => None,
    };
    let endpoint = match url.port() {
        Some(port) => format!("{}://{}:{port}", url.scheme(), host_for_url(&url)),
        None => format!("{}://{}", url.scheme(), host_for_url(&url)),
    };
    Ok(QueueUrl {
        endpoint,
        region,
        fifo: name.ends_with(".fifo"),
    })
}

/// The URL's host as it is written in a URL (IPv6 in brackets).
fn host_for_url(url: &url::Url) -> String {
    match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    }
}

/// Checks an S3 bucket name by AWS's rules for general purpose buckets:
/// 3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with
/// a letter or digit, no two periods in a row, not an IP address, and none
/// of the prefixes and suffixes AWS reserves. (Buckets made in us-east-1
/// before March 2018 may have capitals and `_`; no new one can, and such a
/// name cannot be addressed virtual-host style, so it is refused too.)
pub fn check_bucket(bucket: &str) -> Result<(), String> {
    const RULES: &str =
        "3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit";
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-');
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !bucket.bytes().all(allowed)
        || !edge(bucket.bytes().next())
        || !edge(bucket.bytes().last())
    {
        return Err(format!("{bucket:?} is not an S3 bucket name ({RULES})"));
    }
    if bucket.contains("..") {
        return Err(format!(
            "{bucket:?} is not an S3 bucket name (no two periods in a row)"
        ));
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!(
            "{bucket:?} is not an S3 bucket name (it may not be an IP address)"
        ));
    }
    const PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if let Some(p) = PREFIXES.iter().find(|p| bucket.starts_with(**p)) {
        return Err(format!(
            "{bucket:?} is not an S3 bucket name (AWS reserves the prefix {p:?})"
        ));
    }
    if let Some(x) = SUFFIXES.iter().find(|x| bucket.ends_with(**x)) {
        return Err(format!(
            "{bucket:?} is not an S3 bucket name (AWS reserves the suffix {x:?})"
        ));
    }
    Ok(())
}

/// The canonical spelling of `storage_class` (any case); the default,
/// STANDARD, when none is given.
pub fn storage_class(given: Option<&str>) -> Result<&'static str, String> {
    let given = given.map(str::trim).filter(|s| !s.is_empty());
    let Some(given) = given else {
        return Ok("STANDARD");
    };
    STORAGE_CLASSES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(given))
        .copied()
        .ok_or_else(|| {
            format!(
                "{given:?} is not an S3 storage class (one of {})",
                STORAGE_CLASSES.join(", ")
            )
        })
}

/// Checks a custom endpoint (`config.endpoint`): an absolute http(s) URL
/// with a host and no credentials.
pub fn check_endpoint(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_plausible_or_refused() {
        for ok in [
            "us-east-1",
            "eu-west-3",
            "ap-southeast-7",
            "cn-northwest-1",
            "il-central-1",
            "mx-central-1",
            "eu-south-3", // not open yet, but plausible
        ] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        for bad in [
            "us-easy-1",
            "ue-west-1",
            "us-east-0",
            "us-east-100",
            "us-east",
            "useast1",
            "us-gov-west-1x",
            "US-EAST-1",
            "",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queue_urls() {
        let q = parse_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/orders").unwrap();
        assert_eq!(
            q,
            QueueUrl {
                endpoint: "https://sqs.eu-west-1.amazonaws.com".into(),
                region: Some("eu-west-1".into()),
                fifo: false,
            }
        );
        let q =
            parse_queue_url("https://us-west-2.queue.amazonaws.com/123456789012/a.fifo").unwrap();
        assert_eq!(q.region.as_deref(), Some("us-west-2"));
        assert!(q.fifo);
        let q = parse_queue_url("https://queue.amazonaws.com/123456789012/a").unwrap();
        assert_eq!(q.region.as_deref(), Some("us-east-1"));
        let q = parse_queue_url("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/a").unwrap();
        assert_eq!(q.region.as_deref(), Some("cn-north-1"));
        let q = parse_queue_url("http://127.0.0.1:5000/123456789012/local-q").unwrap();
        assert_eq!(q.endpoint, "http://127.0.0.1:5000");
        assert_eq!(q.region, None);
        let q = parse_queue_url("http://[::1]:4566/000000000000/q").unwrap();
        assert_eq!(q.endpoint, "http://[::1]:4566");
        for (bad, says) in [
            ("sqs.us-east-1.amazonaws.com/123456789012/q", "valid URL"),
            ("ftp://sqs.us-east-1.amazonaws.com/123456789012/q", "http"),
            (
                "https://sqs.us-east-1.amazonaws.com/q",
                "/<account id>/<queue name>",
            ),
            (
                "https://sqs.us-east-1.amazonaws.com/123456789012/q/x",
                "/<account id>",
            ),
            (
                "https://sqs.us-east-1.amazonaws.com/1234567890123/q",
                "12-digit",
            ),
            ("https://sqs.us-east-1.amazonaws.com/acct/q", "12-digit"),
            (
                "https://sqs.us-east-1.amazonaws.com/123456789012/a%20b",
                "queue name",
            ),
            (
                "https://sqs.us-east-1.amazonaws.com/123456789012/.fifo",
                "queue name",
            ),
            (
                "https://sqs.amazonaws.com/123456789012/q",
                "names no AWS region",
            ),
            (
                "https://sqs.us-easy-1.amazonaws.com/123456789012/q",
                "names no AWS region",
            ),
            (
                "https://k:s@sqs.us-east-1.amazonaws.com/123456789012/q",
                "user name",
            ),
            (
                "https://sqs.us-east-1.amazonaws.com/123456789012/q?x=1",
                "query",
            ),
        ] {
            let err = parse_queue_url(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let long = format!(
            "https://sqs.us-east-1.amazonaws.com/123456789012/{}",
            "a".repeat(81)
        );
        assert!(parse_queue_url(&long).is_err());
    }

    #[test]
    fn buckets_storage_classes_and_endpoints() {
        let longest = "b".repeat(63);
        for ok in [
            "my-bucket",
            "logs.example.com",
            "abc",
            "1.2.3.bucket",
            &longest,
        ] {
            assert_eq!(check_bucket(ok), Ok(()), "{ok}");
        }
        let too_long = "b".repeat(64);
        for (bad, says) in [
            ("ab", "3 to 63"),
            (too_long.as_str(), "3 to 63"),
            ("-bucket", "3 to 63"),
            ("bucket-", "3 to 63"),
            ("a/b", "3 to 63"),
            ("a b", "3 to 63"),
            ("bücket", "3 to 63"),
            ("Legacy_Bucket", "3 to 63"),
            ("my..bucket", "two periods"),
            ("192.168.5.4", "IP address"),
            ("xn--bucket", "prefix"),
            ("sthree-bucket", "prefix"),
            ("bucket-s3alias", "suffix"),
            ("bucket--ol-s3", "suffix"),
        ] {
            let message = check_bucket(bad).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
        }
        assert_eq!(storage_class(None), Ok("STANDARD"));
        assert_eq!(storage_class(Some("")), Ok("STANDARD"));
        assert_eq!(storage_class(Some("glacier_ir")), Ok("GLACIER_IR"));
        assert!(storage_class(Some("COLD"))
            .unwrap_err()
            .contains("DEEP_ARCHIVE"));
        assert_eq!(check_endpoint("http://localhost:4566"), Ok(()));
        assert_eq!(
            check_endpoint("https://kinesis.vpce.amazonaws.com/"),
            Ok(())
        );
        assert!(check_endpoint("localhost:4566").is_err());
        assert!(check_endpoint("https://u:p@h/").is_err());
        assert_eq!(dns_suffix("cn-north-1"), "amazonaws.com.cn");
        assert_eq!(dns_suffix("eu-west-1"), "amazonaws.com");
    }
}
