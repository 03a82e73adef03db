//! Notification subscriptions: what makes an endpoint acceptable, and how the messages
//! EventPulse delivers itself are signed.
//!
//! Pure: no resolution, no I/O. The address rules are applied twice: here, to an endpoint
//! as given (an IP literal, `localhost`), and by the local deliverer to every address a name
//! resolves to at delivery time (so a name that later points at 169.254.169.254 still gets
//! nothing); redirects are never followed.

use eventpulse_generated::types::{NotificationKind, SubscriptionProtocol};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Subscriptions one owner may have.
pub const MAX_PER_OWNER: usize = 10;

/// The signature header on every message EventPulse delivers itself.
pub const SIGNATURE_HEADER: &str = "EventPulse-Signature";

/// How far a signature's timestamp may be from the receiver's clock.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Every kind, in the registry's order: the default of a subscription that names none.
/// Read from the published contract (`NotificationKind` in `openapi.yaml`, generated from
/// `schema/notification.schema.json`), so a new kind needs no change here.
pub fn all_kinds() -> &'static [NotificationKind] {
    static ALL: std::sync::LazyLock<Vec<NotificationKind>> = std::sync::LazyLock::new(|| {
        let doc: serde_json::Value =
            serde_json::from_str(eventpulse_generated::OPENAPI_JSON).unwrap_or_default();
        doc["components"]["schemas"]["NotificationKind"]["enum"]
            .as_array()
            .map(|kinds| {
                kinds
                    .iter()
                    .filter_map(|k| k.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    });
    &ALL
}

/// What a deployment lets subscribers point at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointRules {
    /// Loopback addresses and plain `http` are accepted (`eventpulse local
    /// --allow-loopback-webhooks`, for development and tests); never on AWS.
    pub allow_loopback: bool,
    /// Only loopback URLs (and email, which goes to the local mailbox) are accepted: a test
    /// server fuzzed with arbitrary endpoints then never sends anything off the machine.
    /// Implies `allow_loopback`.
    pub loopback_only: bool,
}

impl EndpointRules {
    fn loopback_allowed(self) -> bool {
        self.allow_loopback || self.loopback_only
    }
}

/// Why an address is not one EventPulse sends to, or `None` when it is a public unicast
/// address (or loopback, when `allow_loopback`).
pub fn refused_address(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, allow_loopback),
        IpAddr::V6(v6) => refused_v6(v6, allow_loopback),
    }
}

fn refused_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        return (!allow_loopback).then_some("a loopback address");
    }
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified or 'this network' address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (100, 64..=127, _) => "a shared (carrier-grade NAT) address",
        (169, 254, _) => "a link-local address (such as the cloud metadata service)",
        (192, 0, 0) => "an IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (192, 88, 99) => "a deprecated relay address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved or broadcast address",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    if ip.is_loopback() {
        return (!allow_loopback).then_some("a loopback address");
    }
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    // An IPv4 address carried in IPv6 (mapped, compatible, NAT64) is judged as IPv4.
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4, allow_loopback);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return refused_v4(Ipv4Addr::new(a, b, c, d), allow_loopback)
            .or((s[0] == 0).then_some("a deprecated IPv4-compatible address"));
    }
    Some(match s[0] {
        x if x & 0xfe00 == 0xfc00 => "a unique-local (private) address",
        x if x & 0xffc0 == 0xfe80 => "a link-local address",
        x if x & 0xffc0 == 0xfec0 => "a site-local address",
        x if x & 0xff00 == 0xff00 => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        0x2001 if s[1] < 0x0200 => "an IETF protocol assignment (Teredo, ORCHID, benchmarking)",
        0x2002 => "a 6to4 relay address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only address",
        _ => return None,
    })
}

/// Checks an endpoint for `protocol`; the endpoint to store (trimmed of nothing: exactly as
/// given) or a message for the caller, which names what is wrong.
pub fn check_endpoint(
    protocol: SubscriptionProtocol,
    endpoint: &str,
    rules: EndpointRules,
) -> Result<String, String> {
    if endpoint
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("the endpoint must not contain spaces or control characters".into());
    }
    match protocol {
        SubscriptionProtocol::Https | SubscriptionProtocol::Http => {
            check_url(protocol, endpoint, rules)
        }
        SubscriptionProtocol::Email => check_email(endpoint),
        SubscriptionProtocol::Sqs => check_queue_arn(endpoint),
    }
    .map(|()| endpoint.to_string())
}

fn check_url(
    protocol: SubscriptionProtocol,
    endpoint: &str,
    rules: EndpointRules,
) -> Result<(), String> {
    if protocol == SubscriptionProtocol::Http && !rules.loopback_allowed() {
        return Err("plain `http` endpoints are accepted only by `eventpulse local --allow-loopback-webhooks`; use `https`".into());
    }
    let url = url::Url::parse(endpoint).map_err(|e| format!("the endpoint is not a URL: {e}"))?;
    let scheme = protocol.to_string();
    if url.scheme() != scheme {
        return Err(format!(
            "a `{scheme}` endpoint must be a {scheme}:// URL, not {}://",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the endpoint must not carry credentials (user:password@)".into());
    }
    if url.fragment().is_some() {
        return Err("the endpoint must not have a #fragment".into());
    }
    if rules.loopback_only && !is_loopback_host(url.host()) {
        return Err(
            "this server delivers only to loopback endpoints (--webhooks-loopback-only)".into(),
        );
    }
    match url.host() {
        None => Err("the endpoint has no host".into()),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), rules),
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), rules),
        Some(url::Host::Domain(name)) => check_name(name, rules),
    }
}

/// `localhost` and `*.localhost`: this machine, whatever DNS says (RFC 6761).
fn is_local_name(name: &str) -> bool {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    lower == "localhost" || lower.ends_with(".localhost")
}

fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => is_local_name(name),
        None => false,
    }
}

fn check_ip(ip: IpAddr, rules: EndpointRules) -> Result<(), String> {
    match refused_address(ip, rules.loopback_allowed()) {
        Some(why) => Err(format!(
            "the endpoint's host {ip} is {why}; EventPulse delivers only to public addresses"
        )),
        None => Ok(()),
    }
}

/// Names that always mean this machine, whatever DNS says.
fn check_name(name: &str, rules: EndpointRules) -> Result<(), String> {
    if is_local_name(name) {
        return if rules.loopback_allowed() {
            Ok(())
        } else {
            Err(format!(
                "the endpoint's host {name} is this machine (loopback); EventPulse delivers only to public addresses"
            ))
        };
    }
    if !name.trim_end_matches('.').contains('.') {
        return Err(format!(
            "the endpoint's host {name} is not a fully qualified domain name"
        ));
    }
    Ok(())
}

fn check_email(endpoint: &str) -> Result<(), String> {
    let Some((local, domain)) = endpoint.rsplit_once('@') else {
        return Err("an `email` endpoint must be an address such as alice@example.com".into());
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err("the address's local part must be 1 to 64 characters, without '@'".into());
    }
    if endpoint.len() > 254 {
        return Err("an email address is at most 254 characters".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(format!(
            "the address's domain {domain} is not a domain name"
        ));
    }
    Ok(())
}

/// `arn:{partition}:sqs:{region}:{account}:{queue}`.
fn check_queue_arn(endpoint: &str) -> Result<(), String> {
    let parts: Vec<&str> = endpoint.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        && parts[2] == "sqs"
        && !parts[3].is_empty()
        && parts[3]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && (1..=80).contains(&parts[5].len())
        && parts[5]
            .strip_suffix(".fifo")
            .unwrap_or(parts[5])
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err("an `sqs` endpoint must be a queue ARN: arn:aws:sqs:REGION:ACCOUNT:QUEUE".into())
    }
}

/// The kinds a subscription delivers: those asked for, without repeats, in the registry's
/// order; every kind when none is named.
pub fn kinds_of(requested: Option<&[NotificationKind]>) -> Vec<NotificationKind> {
    match requested {
        Some(k) if !k.is_empty() => all_kinds()
            .iter()
            .copied()
            .filter(|a| k.contains(a))
            .collect(),
        _ => all_kinds().to_vec(),
    }
}

/// A new signing secret: 256 random bits from the OS.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

/// A new unguessable token (confirmations): 256 random bits, URL-safe.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(hex::encode(bytes))
}

fn mac(secret: &str, unix_seconds: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `EventPulse-Signature` value for `body` sent at `unix_seconds`:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (Stripe's scheme).
pub fn sign(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let tag = mac(secret, unix_seconds, body).finalize().into_bytes();
    format!("t={unix_seconds},v1={}", hex::encode(tag))
}

/// Why a delivery's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error(
        "the signature's timestamp is {0} s away from this clock (at most {SIGNATURE_TOLERANCE_SECS} s)"
    )]
    Stale(i64),
    #[error("no v1 signature matches the body under this secret")]
    Mismatch,
}

/// Verifies a signature header against `body` at `now_unix`, in constant time; any of
/// several `v1=` values may match (a sender rotating secrets sends one per secret).
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let mut t: Option<i64> = None;
    let mut tags: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {} // other schemes, ignored
            None => return Err(SignatureError::Malformed),
        }
    }
    let (Some(t), false) = (t, tags.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    let skew = (now_unix - t).abs();
    if skew > SIGNATURE_TOLERANCE_SECS {
        return Err(SignatureError::Stale(skew));
    }
    if tags
        .iter()
        .any(|tag| mac(secret, t, body).verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: EndpointRules = EndpointRules {
        allow_loopback: true,
        loopback_only: false,
    };
    const PROD: EndpointRules = EndpointRules {
        allow_loopback: false,
        loopback_only: false,
    };
    const TEST: EndpointRules = EndpointRules {
        allow_loopback: false,
        loopback_only: true,
    };

    fn refused(ip: &str) -> bool {
        refused_address(ip.parse().unwrap(), false).is_some()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "fec0::1",
            "2001:db8::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::a9fe:a9fe",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "192.169.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn loopback_only_with_the_development_flag() {
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(refused_address(ip.parse().unwrap(), true).is_none(), "{ip}");
        }
        // The flag opens loopback, nothing else.
        for ip in ["10.0.0.1", "169.254.169.254", "fe80::1", "0.0.0.0"] {
            assert!(refused_address(ip.parse().unwrap(), true).is_some(), "{ip}");
        }
    }

    fn check(p: SubscriptionProtocol, e: &str, r: EndpointRules) -> Result<String, String> {
        check_endpoint(p, e, r)
    }

    #[test]
    fn urls() {
        use SubscriptionProtocol::{Http, Https};
        assert!(check(Https, "https://hooks.example.com/ep?x=1", PROD).is_ok());
        assert!(check(Https, "https://8.8.8.8:8443/ep", PROD).is_ok());
        for (p, e, why) in [
            (
                Https,
                "https://169.254.169.254/latest/meta-data",
                "link-local",
            ),
            (Https, "https://[::ffff:169.254.169.254]/", "link-local"),
            (Https, "https://10.0.0.1/", "private"),
            (Https, "https://127.0.0.1/", "loopback"),
            (Https, "https://localhost/", "loopback"),
            (Https, "https://api.localhost./", "loopback"),
            (Https, "https://[::1]:9/", "loopback"),
            (Https, "https://0x7f000001/", "loopback"),
            (Https, "https://2130706433/", "loopback"),
            (Https, "https://intranet/", "fully qualified"),
            (Https, "http://hooks.example.com/", "https:// URL"),
            (
                Http,
                "http://hooks.example.com/",
                "--allow-loopback-webhooks",
            ),
            (Https, "https://u:p@hooks.example.com/", "credentials"),
            (Https, "https://hooks.example.com/#x", "fragment"),
            (Https, "https://hooks.example.com/a b", "spaces"),
            (Https, "not a url", "spaces"),
            (Https, "hooks.example.com/x", "not a URL"),
        ] {
            let err = check(p, e, PROD).expect_err(e);
            assert!(err.contains(why), "{e}: {err}");
        }
        assert!(check(Http, "http://127.0.0.1:9000/hook", DEV).is_ok());
        assert!(check(Https, "https://localhost:9000/hook", DEV).is_ok());
        assert!(check(Http, "http://10.0.0.1/hook", DEV).is_err());
        // A fuzzed test server accepts loopback only.
        assert!(check(Http, "http://127.0.0.1:9/x", TEST).is_ok());
        assert!(check(Https, "https://localhost/x", TEST).is_ok());
        for e in [
            "https://8.8.8.8/",
            "https://hooks.example.com/",
            "https://10.0.0.1/",
        ] {
            assert!(check(Https, e, TEST).is_err(), "{e}");
        }
        assert!(check(SubscriptionProtocol::Email, "a@example.com", TEST).is_ok());
    }

    #[test]
    fn emails_and_queues() {
        use SubscriptionProtocol::{Email, Sqs};
        assert!(check(Email, "alice@example.com", PROD).is_ok());
        for e in [
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a@b@c.com",
            "a@-x.com",
        ] {
            assert!(check(Email, e, PROD).is_err(), "{e}");
        }
        assert!(check(Sqs, "arn:aws:sqs:eu-west-1:123456789012:alice-events", PROD).is_ok());
        assert!(check(Sqs, "arn:aws:sqs:eu-west-1:123456789012:q.fifo", PROD).is_ok());
        for e in [
            "arn:aws:sns:eu-west-1:123456789012:x",
            "arn:aws:sqs:eu-west-1:12345:x",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/x",
            "arn:aws:sqs:eu-west-1:123456789012:",
        ] {
            assert!(check(Sqs, e, PROD).is_err(), "{e}");
        }
    }

    #[test]
    fn kinds_default_to_all_and_lose_repeats() {
        use NotificationKind::*;
        // Every kind of the contract, in its order.
        assert_eq!(
            kinds_of(None),
            vec![ObjectQuarantined, ExportDone, ExportFailed]
        );
        assert_eq!(kinds_of(Some(&[])), all_kinds().to_vec());
        assert_eq!(
            kinds_of(Some(&[ExportDone, ObjectQuarantined, ExportDone])),
            vec![ObjectQuarantined, ExportDone]
        );
    }

    #[test]
    fn signatures_round_trip_and_refuse_tampering() {
        let secret = new_secret().unwrap();
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
        let body = br#"{"kind":"object_quarantined"}"#;
        let header = sign(&secret, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        verify(&secret, &header, body, 1_700_000_100).unwrap();
        assert_eq!(
            verify(&secret, &header, b"{}", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_other", &header, body, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, &header, body, 1_700_000_301),
            Err(SignatureError::Stale(301))
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = header.replace("t=1700000000", "t=1700000200");
        assert_eq!(
            verify(&secret, &moved, body, 1_700_000_200),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "v1=00", "t=1", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(&secret, bad, body, 1),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // A known vector, so receivers in other languages can check their code.
        assert_eq!(
            sign("whsec_test", 1, b"{}"),
            format!("t=1,v1={}", {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"whsec_test").unwrap();
                m.update(b"1.{}");
                hex::encode(m.finalize().into_bytes())
            })
        );
    }
}
