//! Where webhooks may go, and how hard we try.
//!
//! The webhook URL comes from users, and the request is made from inside our network, so an
//! unchecked URL would let anyone make the worker call internal services or the cloud metadata
//! endpoint (SSRF). Every address a host name resolves to is checked, and the connection is
//! made only to checked addresses: the check lives in the HTTP client's DNS resolver, so a name
//! that resolves differently between the check and the connection (DNS rebinding) gains nothing.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use url::{Host, Url};

/// Limits for webhook delivery: which addresses may be called, and the retry schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Allow private addresses (RFC 1918, CGNAT 100.64/10, fc00::/7). Off by default: user
    /// URLs must not reach our internal network; on for deployments whose receivers live there.
    pub allow_private: bool,
    /// Allow loopback addresses. Off by default for the same reason; tests and `transflow dev`
    /// turn it on to reach a receiver on the same machine.
    pub allow_loopback: bool,
    /// Time for one attempt, connection included; a slow receiver must not hold a worker.
    pub timeout: Duration,
    /// How long a delivery may last from the start of its first attempt: no retry starts and
    /// no attempt runs past it. Bounds the work one dead or slow receiver can cause.
    pub retry_window: Duration,
    /// Upper bound of the random delay before the first retry; it doubles per retry.
    pub initial_backoff: Duration,
    /// Upper bound of any backoff delay, however many retries came before.
    pub max_backoff: Duration,
    /// Attempts in all, the first one included (which is always made, even when this is 0).
    pub max_attempts: u32,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy {
            allow_private: false,
            allow_loopback: false,
            timeout: Duration::from_secs(10),
            retry_window: Duration::from_secs(60 * 60),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5 * 60),
            max_attempts: 10,
        }
    }
}

/// What kind of address an IP is, as far as webhooks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressKind {
    Public,
    Loopback,
    Private,
    /// Never a valid webhook target, whatever the policy says.
    Forbidden(&'static str),
}

fn classify(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if a == 0 {
        // 0.0.0.0/8, "this network": 0.0.0.0 itself reaches the local host on Linux.
        AddressKind::Forbidden("unspecified")
    } else if ip.is_link_local() {
        // 169.254/16 holds the cloud metadata endpoint 169.254.169.254.
        AddressKind::Forbidden("link-local")
    } else if ip.is_broadcast() {
        AddressKind::Forbidden("broadcast")
    } else if ip.is_multicast() {
        AddressKind::Forbidden("multicast")
    } else if a >= 240 {
        AddressKind::Forbidden("reserved")
    } else if ip == Ipv4Addr::new(100, 100, 100, 200) {
        // Alibaba Cloud's metadata endpoint sits inside the CGNAT range.
        AddressKind::Forbidden("cloud metadata")
    } else if ip.is_private() || (a == 100 && (b & 0b1100_0000) == 64) {
        // RFC 1918, and CGNAT 100.64/10, which clouds use for internal networks too.
        AddressKind::Private
    } else {
        AddressKind::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressKind {
    let segments = ip.segments();
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if ip.is_unspecified() {
        AddressKind::Forbidden("unspecified")
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:a.b.c.d reaches the IPv4 address a.b.c.d.
        classify_v4(v4)
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[0] == 0x2002 {
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address that a gateway reaches.
        let embedded =
            if segments[0] == 0x2002 { [segments[1], segments[2]] } else { [segments[6], segments[7]] };
        let [hi, lo] = embedded.map(u16::to_be_bytes);
        classify_v4(Ipv4Addr::new(hi[0], hi[1], lo[0], lo[1]))
    } else if segments[..6] == [0; 6] {
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        AddressKind::Forbidden("reserved")
    } else if ip.is_multicast() {
        AddressKind::Forbidden("multicast")
    } else if ip.is_unicast_link_local() {
        AddressKind::Forbidden("link-local")
    } else if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
        // AWS's IPv6 metadata endpoint sits inside the unique-local range.
        AddressKind::Forbidden("cloud metadata")
    } else if ip.is_unique_local() || (segments[0] & 0xffc0) == 0xfec0 {
        // fc00::/7, and the deprecated site-local fec0::/10 that some networks still route.
        AddressKind::Private
    } else {
        AddressKind::Public
    }
}

/// The address rules of a [`WebhookPolicy`], small enough to copy into the resolver.
#[derive(Debug, Clone, Copy)]
pub(super) struct AddressRules {
    allow_private: bool,
    allow_loopback: bool,
}

impl From<&WebhookPolicy> for AddressRules {
    fn from(policy: &WebhookPolicy) -> Self {
        AddressRules { allow_private: policy.allow_private, allow_loopback: policy.allow_loopback }
    }
}

/// The policy refused a target. The message names the host and address but never the full
/// URL, whose path or query may carry a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refused(pub(super) String);

impl AddressRules {
    /// Refuses `host` unless every address it resolved to is allowed: one bad address is
    /// enough, because the connector may pick any of them.
    fn check(self, host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
        for &ip in addrs {
            let refused = match classify(ip) {
                AddressKind::Public => None,
                AddressKind::Loopback if self.allow_loopback => None,
                AddressKind::Private if self.allow_private => None,
                AddressKind::Loopback => Some("loopback"),
                AddressKind::Private => Some("private"),
                AddressKind::Forbidden(kind) => Some(kind),
            };
            if let Some(kind) = refused {
                let target = if host == ip.to_string() {
                    format!("webhook address {ip} is")
                } else {
                    format!("webhook host {host} resolves to {ip},")
                };
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                return Err(Refused(format!(
                    "{target} {article} {kind} address; webhooks may only go to public addresses"
                )));
            }
        }
        Ok(())
    }

    /// Checks what can be checked without DNS: the scheme, the presence of a host, and the
    /// address when the host is an IP literal (the HTTP client connects to literals without
    /// asking its resolver, so they must be vetted here).
    pub(super) fn check_url(self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw).map_err(|e| Refused(format!("the webhook URL is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "webhook URLs must use http or https, not {}",
                // The scheme is the part before ':', so it holds no secret.
                url.scheme()
            )));
        }
        match url.host() {
            None => Err(Refused("the webhook URL has no host".to_owned())),
            Some(Host::Ipv4(ip)) => self.check(&ip.to_string(), &[IpAddr::V4(ip)]).map(|()| url),
            Some(Host::Ipv6(ip)) => self.check(&ip.to_string(), &[IpAddr::V6(ip)]).map(|()| url),
            Some(Host::Domain(_)) => Ok(url),
        }
    }
}

impl WebhookPolicy {
    /// Refuses a webhook URL this policy would never deliver to, resolving its host now, so a
    /// client learns at once instead of from a failed delivery. Delivery checks again: DNS
    /// answers may change in between.
    pub async fn check_target(&self, raw: &str) -> Result<(), String> {
        let rules = AddressRules::from(self);
        let url = rules.check_url(raw).map_err(|refused| refused.0)?;
        let Some(Host::Domain(host)) = url.host() else { return Ok(()) };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("webhook host {host} cannot be resolved: {e}"))?
            .map(|addr| addr.ip())
            .collect();
        rules.check(host, &addrs).map_err(|refused| refused.0)
    }
}

/// The HTTP client's DNS resolver: resolves with the system resolver, then refuses the whole
/// name if any address is not allowed, so the connector only ever sees vetted addresses.
#[derive(Debug)]
pub(super) struct VettingResolver(pub(super) AddressRules);

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the connector puts in the URL's port.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            rules.check(&host, &ips)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> AddressKind {
        classify(ip.parse().expect("an IP address"))
    }

    #[test]
    fn classifies_addresses() {
        for public in ["93.184.215.14", "8.8.8.8", "100.63.255.255", "100.128.0.1", "2606:4700::1111"] {
            assert_eq!(kind(public), AddressKind::Public, "{public}");
        }
        for loopback in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(kind(loopback), AddressKind::Loopback, "{loopback}");
        }
        for private in
            ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.254"]
                .into_iter()
                .chain(["fc00::1", "fd12:3456::1", "::ffff:10.1.2.3", "64:ff9b::a00:1", "2002:c0a8:101::1"])
        {
            assert_eq!(kind(private), AddressKind::Private, "{private}");
        }
        let forbidden = [
            ("169.254.169.254", "link-local"),
            ("::ffff:169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("::", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("::10.0.0.1", "reserved"),
            ("100.100.100.200", "cloud metadata"),
            ("fd00:ec2::254", "cloud metadata"),
        ];
        for (ip, why) in forbidden {
            assert_eq!(kind(ip), AddressKind::Forbidden(why), "{ip}");
        }
    }

    #[test]
    fn rules_follow_the_policy() {
        let strict = AddressRules::from(&WebhookPolicy::default());
        let open = AddressRules::from(&WebhookPolicy {
            allow_private: true,
            allow_loopback: true,
            ..WebhookPolicy::default()
        });
        let ips = |s: &[&str]| s.iter().map(|ip| ip.parse().expect("an IP address")).collect::<Vec<IpAddr>>();

        assert!(strict.check("example.com", &ips(&["93.184.215.14", "2606:2800::1"])).is_ok());
        // One bad address among good ones refuses the host.
        let err = strict.check("evil.test", &ips(&["93.184.215.14", "10.0.0.1"])).expect_err("refused");
        assert!(err.0.contains("10.0.0.1, a private address"), "{err}");
        assert!(strict.check("localhost", &ips(&["127.0.0.1"])).is_err());

        assert!(open.check("localhost", &ips(&["127.0.0.1", "::1"])).is_ok());
        assert!(open.check("internal", &ips(&["10.0.0.1", "fd00::1"])).is_ok());
        // Some addresses stay closed whatever the policy says.
        assert!(open.check("metadata", &ips(&["169.254.169.254"])).is_err());
        assert!(open.check("metadata", &ips(&["fd00:ec2::254"])).is_err());
        let unspecified = open.check("any", &ips(&["0.0.0.0"])).expect_err("refused");
        assert_eq!(
            unspecified.0,
            "webhook host any resolves to 0.0.0.0, an unspecified address; webhooks may only go to public addresses"
        );
    }

    #[tokio::test]
    async fn targets_are_resolved_and_checked_before_any_delivery() {
        let strict = WebhookPolicy::default();
        let refused = strict.check_target("http://localhost:9/hook").await.expect_err("loopback refused");
        assert!(refused.starts_with("webhook host localhost resolves to "), "{refused}");
        assert!(strict.check_target("http://[::]/").await.expect_err("refused").contains("an unspecified"));
        let loopback_allowed = WebhookPolicy { allow_loopback: true, ..WebhookPolicy::default() };
        assert_eq!(loopback_allowed.check_target("http://127.0.0.1:9/hook").await, Ok(()));
        assert!(loopback_allowed.check_target("gopher://127.0.0.1/").await.is_err());
    }

    #[test]
    fn urls_are_vetted_before_any_lookup() {
        let strict = AddressRules::from(&WebhookPolicy::default());
        assert!(strict.check_url("https://hooks.example.com/transflow?x=1").is_ok());
        for refused in [
            "ftp://example.com/file",
            "file:///etc/passwd",
            "not a url",
            "http://127.0.0.1:8080/",
            // The URL parser normalises other spellings of an IPv4 address.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
        ] {
            assert!(strict.check_url(refused).is_err(), "{refused}");
        }
    }
}
