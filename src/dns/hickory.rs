//! A [`DnsVerifier`] on [hickory-resolver](https://docs.rs/hickory-resolver) (feature
//! `hickory`).
//!
//! [`HickoryDnsVerifier`] asks real DNS servers: the ones in the system configuration
//! (`/etc/resolv.conf` on Unix) or name servers you list. It maps the answers onto
//! [`DnsError`] the way the registry's checks expect:
//!
//! | DNS answer                                               | result                        |
//! |----------------------------------------------------------|-------------------------------|
//! | records of the type asked for                            | `Ok(values)`                  |
//! | NXDOMAIN                                                 | [`DnsError::NoSuchName`]      |
//! | NOERROR without a record of that type (NODATA)           | [`DnsError::NoRecords`]       |
//! | SERVFAIL, REFUSED, any other error code                  | [`DnsError::Transient`]       |
//! | timeout, network error, unparsable answer, bare referral | [`DnsError::Transient`]       |
//!
//! # Caching
//!
//! By default the verifier keeps **no cache of its own**: every `txt`/`cname` call is sent
//! to the configured servers, so a record a tenant has just fixed (or removed) is seen by the
//! next `refresh` as soon as the servers see it. A recursive server in between still caches
//! by TTL, as it would for any client. To let hickory cache answers in process (respecting
//! TTLs, negative answers by the SOA minimum), set
//! [`HickoryDnsVerifierBuilder::cache_size`] to the number of answers to keep.
//!
//! # Runtime
//!
//! hickory runs on Tokio: call the verifier from inside a Tokio runtime (any flavour) and
//! keep using the same runtime for a given verifier, since it keeps its sockets between
//! calls.
//!
//! # Example
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! use easydkim::hickory::HickoryDnsVerifier;
//! use easydkim::{unix_now, IdentityRegistry, RegistryConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = IdentityRegistry::new(RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?);
//! registry.create_domain("example.com", unix_now())?;
//!
//! // The resolvers of /etc/resolv.conf ...
//! let dns = HickoryDnsVerifier::from_system_conf()?;
//! // ... or name servers of your own, each lookup bounded by a timeout.
//! let servers: [SocketAddr; 1] = ["127.0.0.1:53".parse()?];
//! let _local = HickoryDnsVerifier::with_name_servers(&servers, Duration::from_secs(3))?;
//!
//! // Run this periodically.
//! let report = registry.refresh(&dns, unix_now()).await;
//! for event in report.events {
//!     println!("{}: {:?} {} -> {}", event.identity, event.check, event.from, event.to);
//! }
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use super::{DnsError, DnsResult, DnsVerifier};

/// Default number of attempts per lookup for [`HickoryDnsVerifier::with_name_servers`].
const DEFAULT_ATTEMPTS: usize = 2;

/// The resolver could not be set up (for example, the system configuration could not be
/// read).
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver setup failed: {source}")]
pub struct ResolverSetupError {
    #[source]
    source: NetError,
}

/// Where a [`HickoryDnsVerifierBuilder`] sends its queries.
#[derive(Clone, Debug)]
enum Servers {
    System,
    Explicit(Vec<SocketAddr>),
}

/// Settings of a [`HickoryDnsVerifier`]; start from
/// [`HickoryDnsVerifier::builder_system_conf`] or
/// [`HickoryDnsVerifier::builder_with_name_servers`].
#[derive(Clone, Debug)]
pub struct HickoryDnsVerifierBuilder {
    servers: Servers,
    timeout: Option<Duration>,
    attempts: Option<usize>,
    cache_size: u64,
}

impl HickoryDnsVerifierBuilder {
    /// Bounds each `txt`/`cname` call: it returns [`DnsError::Transient`] once `timeout` has
    /// passed without an answer. The attempts share the budget (each attempt waits at most
    /// `timeout / attempts`). Without it, the system configuration's per-attempt timeout
    /// applies (5 s by default, `options timeout:` in resolv.conf).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times a query is sent before giving up (at least 1; default 2, or
    /// `options attempts:` from resolv.conf).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = Some(attempts.max(1));
        self
    }

    /// Number of answers hickory may cache in process, by TTL (default 0: no cache of its
    /// own; see the [module documentation](self)).
    pub fn cache_size(mut self, answers: u64) -> Self {
        self.cache_size = answers;
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> Result<HickoryDnsVerifier, ResolverSetupError> {
        let mut builder = match &self.servers {
            Servers::System => {
                TokioResolver::builder_tokio().map_err(|source| ResolverSetupError { source })?
            }
            Servers::Explicit(addrs) => {
                let name_servers = addrs
                    .iter()
                    .map(|addr| {
                        let mut udp = ConnectionConfig::udp();
                        udp.port = addr.port();
                        let mut tcp = ConnectionConfig::tcp();
                        tcp.port = addr.port();
                        NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                    })
                    .collect();
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(name_servers),
                    TokioRuntimeProvider::default(),
                )
            }
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        if let Servers::Explicit(_) = self.servers {
            opts.attempts = DEFAULT_ATTEMPTS;
            // Only the listed servers: never /etc/hosts.
            opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        }
        if let Some(attempts) = self.attempts {
            opts.attempts = attempts;
        }
        opts.attempts = opts.attempts.max(1);
        if let Some(timeout) = self.timeout {
            let per_attempt = timeout / u32::try_from(opts.attempts).unwrap_or(u32::MAX);
            opts.timeout = per_attempt.max(Duration::from_millis(1));
        }
        opts.cache_size = self.cache_size;
        if self.cache_size == 0 {
            // hickory's cache may hold an entry briefly even at capacity 0; a zero TTL
            // makes every entry expire at once.
            opts.positive_max_ttl = Some(Duration::ZERO);
            opts.negative_max_ttl = Some(Duration::ZERO);
        }
        // Every CNAME of a chain stays in the answer, so `txt` sees the whole chain.
        opts.preserve_intermediates = true;
        let resolver = builder
            .build()
            .map_err(|source| ResolverSetupError { source })?;
        Ok(HickoryDnsVerifier {
            resolver,
            timeout: self.timeout,
        })
    }
}

/// A [`DnsVerifier`] that asks real DNS servers through hickory-resolver.
///
/// * `txt(name)` follows CNAME chains (hickory re-queries the target when a server returns
///   only the CNAME) and joins the character-strings of each TXT record into one value, so
///   a 4096-bit key split into several strings comes back whole.
/// * `cname(name)` returns the CNAME target(s) at `name` itself, without following them and
///   without the trailing dot; a name with only other records (a TXT, say) is
///   [`DnsError::NoRecords`].
///
/// Names are always queried as fully qualified (no search domains are appended). See the
/// [module documentation](self) for the error mapping, caching and an example.
#[derive(Clone)]
pub struct HickoryDnsVerifier {
    resolver: TokioResolver,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for HickoryDnsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryDnsVerifier")
            .field("options", self.resolver.options())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HickoryDnsVerifier {
    /// A verifier using the system's resolvers and options (`/etc/resolv.conf` on Unix),
    /// without an in-process cache.
    pub fn from_system_conf() -> Result<Self, ResolverSetupError> {
        Self::builder_system_conf().build()
    }

    /// A verifier asking only `servers` (UDP, falling back to TCP for long answers), each
    /// `txt`/`cname` call bounded by `timeout`, two attempts, no in-process cache.
    pub fn with_name_servers(
        servers: &[SocketAddr],
        timeout: Duration,
    ) -> Result<Self, ResolverSetupError> {
        Self::builder_with_name_servers(servers)
            .timeout(timeout)
            .build()
    }

    /// A builder starting from the system configuration.
    pub fn builder_system_conf() -> HickoryDnsVerifierBuilder {
        HickoryDnsVerifierBuilder {
            servers: Servers::System,
            timeout: None,
            attempts: None,
            cache_size: 0,
        }
    }

    /// A builder asking only `servers` (5 s timeout per call unless set).
    pub fn builder_with_name_servers(servers: &[SocketAddr]) -> HickoryDnsVerifierBuilder {
        HickoryDnsVerifierBuilder {
            servers: Servers::Explicit(servers.to_vec()),
            timeout: Some(Duration::from_secs(5)),
            attempts: None,
            cache_size: 0,
        }
    }

    /// A verifier over a resolver you configured yourself (its cache settings apply).
    pub fn from_resolver(resolver: TokioResolver) -> Self {
        HickoryDnsVerifier {
            resolver,
            timeout: None,
        }
    }

    /// The underlying resolver.
    pub fn resolver(&self) -> &TokioResolver {
        &self.resolver
    }

    async fn lookup(&self, name: &str, record_type: RecordType) -> DnsResult<Lookup> {
        let Some(fqdn) = fqdn(name) else {
            // A name that cannot be encoded cannot exist.
            return Err(DnsError::NoSuchName);
        };
        let query = self.resolver.lookup(fqdn, record_type);
        let result = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, query).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(DnsError::Transient(format!(
                        "{record_type} {name}: no answer within {limit:?}"
                    )))
                }
            },
            None => query.await,
        };
        result.map_err(|e| map_error(name, record_type, &e))
    }
}

/// `name` as an absolute hickory name (`None` if it is not a valid DNS name).
fn fqdn(name: &str) -> Option<Name> {
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return None;
    }
    let mut n = Name::from_ascii(name).ok()?;
    n.set_fqdn(true);
    Some(n)
}

/// Maps a hickory error onto [`DnsError`] (see the module documentation's table).
fn map_error(name: &str, record_type: RecordType, error: &NetError) -> DnsError {
    match error {
        NetError::Dns(HickoryDnsError::NoRecordsFound(NoRecords {
            response_code,
            soa,
            ns,
            ..
        })) => match *response_code {
            ResponseCode::NXDomain => DnsError::NoSuchName,
            // A bare referral (NS, no SOA) from a non-recursive server is not an answer.
            ResponseCode::NoError if soa.is_none() && ns.is_some() => DnsError::Transient(format!(
                "{record_type} {name}: referral without an answer (is the server recursive?)"
            )),
            ResponseCode::NoError => DnsError::NoRecords,
            code => DnsError::Transient(format!("{record_type} {name}: {code}")),
        },
        other => DnsError::Transient(format!("{record_type} {name}: {other}")),
    }
}

/// Joins one TXT record's character-strings (RFC 7208 3.3 / RFC 6376 3.6.2.2).
fn join_txt(strings: &[Box<[u8]>]) -> String {
    let bytes: Vec<u8> = strings.iter().flat_map(|s| s.iter().copied()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[async_trait]
impl DnsVerifier for HickoryDnsVerifier {
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>> {
        let lookup = self.lookup(name, RecordType::TXT).await?;
        let values: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(join_txt(&txt.txt_data)),
                _ => None,
            })
            .collect();
        if values.is_empty() {
            // Only a CNAME chain came back (its end has no TXT).
            Err(DnsError::NoRecords)
        } else {
            Ok(values)
        }
    }

    async fn cname(&self, name: &str) -> DnsResult<Vec<String>> {
        let lookup = self.lookup(name, RecordType::CNAME).await?;
        let owner = fqdn(name);
        let targets: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|r| owner.as_ref().is_none_or(|o| *o == r.name))
            .filter_map(|r| match &r.data {
                RData::CNAME(target) => Some(target.0.to_ascii().trim_end_matches('.').to_string()),
                _ => None,
            })
            .collect();
        if targets.is_empty() {
            Err(DnsError::NoRecords)
        } else {
            Ok(targets)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_absolute() {
        let n = fqdn("x._domainkey.example.com.").unwrap();
        assert!(n.is_fqdn());
        assert_eq!(n.to_ascii(), "x._domainkey.example.com.");
        assert!(fqdn("").is_none());
        assert!(fqdn(&"a".repeat(64)).is_none());
    }

    #[test]
    fn options_follow_the_builder() {
        let servers = ["127.0.0.1:5353".parse().unwrap()];
        let dns = HickoryDnsVerifier::builder_with_name_servers(&servers)
            .timeout(Duration::from_secs(1))
            .attempts(4)
            .build()
            .unwrap();
        let opts = dns.resolver().options();
        assert_eq!(opts.attempts, 4);
        assert_eq!(opts.timeout, Duration::from_millis(250));
        assert_eq!(opts.cache_size, 0);
        assert_eq!(opts.negative_max_ttl, Some(Duration::ZERO));
        let cached = HickoryDnsVerifier::builder_with_name_servers(&servers)
            .cache_size(100)
            .build()
            .unwrap();
        assert_eq!(cached.resolver().options().cache_size, 100);
        assert_eq!(cached.resolver().options().negative_max_ttl, None);
        if std::path::Path::new("/etc/resolv.conf").exists() {
            let system = HickoryDnsVerifier::from_system_conf().unwrap();
            assert_eq!(system.resolver().options().cache_size, 0);
            assert!(format!("{system:?}").contains("HickoryDnsVerifier"));
        }
    }

    #[test]
    fn txt_strings_are_joined() {
        let strings: Vec<Box<[u8]>> = vec![b"v=DKIM1; p=ab".to_vec().into(), b"cd".to_vec().into()];
        assert_eq!(join_txt(&strings), "v=DKIM1; p=abcd");
    }

    #[test]
    fn error_mapping() {
        use hickory_resolver::proto::op::Query;
        let q = Query::query(fqdn("a.example.com").unwrap(), RecordType::TXT);
        let nx: NetError = NoRecords::new(q.clone(), ResponseCode::NXDomain).into();
        assert_eq!(map_error("a", RecordType::TXT, &nx), DnsError::NoSuchName);
        let nodata: NetError = NoRecords::new(q, ResponseCode::NoError).into();
        assert_eq!(
            map_error("a", RecordType::TXT, &nodata),
            DnsError::NoRecords
        );
        let servfail = NetError::Dns(HickoryDnsError::ResponseCode(ResponseCode::ServFail));
        assert!(map_error("a", RecordType::TXT, &servfail).is_transient());
        assert!(map_error("a", RecordType::TXT, &NetError::Timeout).is_transient());
    }
}
