//! DNS access through the caller's resolver.
//!
//! easydkim never opens a socket of its own: the registry's verification checks and the
//! verifier's key lookups go through a [`DnsVerifier`] the caller supplies. [`StaticDns`] is
//! an in-memory implementation for examples and tests.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;

#[cfg(feature = "hickory")]
#[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
pub mod hickory;
mod verify;
mod zone;

pub use zone::ZoneError;

/// Why a lookup returned no records.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN): a definite answer.
    #[error("no such name")]
    NoSuchName,
    /// The name exists but has no record of the type asked for (NODATA): a definite answer.
    #[error("no record of that type")]
    NoRecords,
    /// The answer could not be had now (SERVFAIL, REFUSED, timeout, network error); asking
    /// again later may succeed.
    #[error("transient DNS failure: {0}")]
    Transient(String),
}

impl DnsError {
    /// True for [`DnsError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, DnsError::Transient(_))
    }
}

/// The answer to one lookup.
pub type DnsResult<T> = Result<T, DnsError>;

/// The DNS lookups easydkim needs. Implement it over your resolver.
///
/// Names are given without a trailing dot. Implementations should follow CNAME chains for
/// `txt` (as any recursive resolver does), join the strings of a multi-string TXT record into
/// one value, and return [`DnsError::NoRecords`] rather than an empty list.
#[async_trait]
pub trait DnsVerifier: Send + Sync {
    /// The TXT records at `name`, each record's strings joined.
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>>;
    /// The CNAME target(s) at `name` (without following them), without trailing dots.
    async fn cname(&self, name: &str) -> DnsResult<Vec<String>>;
}

#[async_trait]
impl<T: DnsVerifier + ?Sized> DnsVerifier for &T {
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>> {
        (**self).txt(name).await
    }
    async fn cname(&self, name: &str) -> DnsResult<Vec<String>> {
        (**self).cname(name).await
    }
}

#[async_trait]
impl<T: DnsVerifier + ?Sized> DnsVerifier for std::sync::Arc<T> {
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>> {
        (**self).txt(name).await
    }
    async fn cname(&self, name: &str) -> DnsResult<Vec<String>> {
        (**self).cname(name).await
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    txt: Vec<String>,
    cname: Option<String>,
    failure: Option<DnsError>,
}

/// An in-memory, mutable DNS for examples and tests. Names are case-insensitive and a
/// trailing dot is ignored; `txt` follows CNAMEs (up to 8 deep) like a recursive resolver.
///
/// ```
/// # tokio_test_block_on(async {
/// use easydkim::{DnsVerifier, StaticDns, DnsError};
/// let dns = StaticDns::new();
/// dns.add_cname("tok._domainkey.example.com", "tok.dkim.operator.net.");
/// dns.add_txt("tok.dkim.operator.net", "v=DKIM1; p=abc");
/// assert_eq!(dns.txt("TOK._domainkey.example.com").await.unwrap(), vec!["v=DKIM1; p=abc"]);
/// assert_eq!(dns.txt("nothing.example.com").await, Err(DnsError::NoSuchName));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Default)]
pub struct StaticDns {
    nodes: RwLock<HashMap<String, Node>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl StaticDns {
    /// An empty zone.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_node<R>(&self, name: &str, f: impl FnOnce(&mut Node) -> R) -> R {
        let mut nodes = crate::sync::write(&self.nodes);
        f(nodes.entry(key(name)).or_default())
    }

    /// Adds a TXT record at `name`.
    pub fn add_txt(&self, name: &str, value: &str) {
        self.with_node(name, |n| n.txt.push(value.to_string()));
    }

    /// Sets the CNAME at `name` to `target`.
    pub fn add_cname(&self, name: &str, target: &str) {
        self.with_node(name, |n| n.cname = Some(key(target)));
    }

    /// Makes every lookup of `name` fail with `error` (until [`clear_failure`](Self::clear_failure)).
    pub fn set_failure(&self, name: &str, error: DnsError) {
        self.with_node(name, |n| n.failure = Some(error));
    }

    /// Removes a failure set with [`set_failure`](Self::set_failure).
    pub fn clear_failure(&self, name: &str) {
        self.with_node(name, |n| n.failure = None);
    }

    /// Removes every record at `name`.
    pub fn remove(&self, name: &str) {
        let mut nodes = crate::sync::write(&self.nodes);
        nodes.remove(&key(name));
    }

    /// Removes every record.
    pub fn clear(&self) {
        crate::sync::write(&self.nodes).clear();
    }

    /// Loads records from zone-file text: the lines [`DnsRecord::to_zone`](crate::DnsRecord::to_zone) and the
    /// registry's examples print (`name. IN TXT "..." "..."`, `name. IN CNAME target.`),
    /// standard master-file syntax for TXT and CNAME (optional TTL and class, quoted
    /// character-strings concatenated with `\"`, `\\` and `\DDD` escapes, `;` comments,
    /// parentheses across lines, `$ORIGIN`, `@` and relative names, an owner left blank for
    /// the previous one), and the `NAME<TAB>TXT-VALUE` lines of the test vectors (`#`
    /// comments). Entries of other types (SOA, NS, A, ...) are skipped. A line it cannot
    /// read is an error naming its line number: nothing is loaded silently wrong.
    ///
    /// ```
    /// use easydkim::StaticDns;
    /// let dns = StaticDns::from_zone(
    ///     "sel._domainkey.example.com. 300 IN TXT \"v=DKIM1; k=ed25519; \" \"p=...\"\n",
    /// )?;
    /// let err = StaticDns::from_zone("sel._domainkey.example.com v=DKIM1; p=...").unwrap_err();
    /// assert_eq!(err.line, 1);
    /// # Ok::<(), easydkim::ZoneError>(())
    /// ```
    pub fn from_zone(text: &str) -> Result<Self, ZoneError> {
        let dns = StaticDns::new();
        for r in zone::parse(text)? {
            match r {
                zone::ZoneRecord::Txt(name, value) => dns.add_txt(&name, &value),
                zone::ZoneRecord::Cname(name, target) => dns.add_cname(&name, &target),
            }
        }
        Ok(dns)
    }

    /// Publishes records as they are listed (tenant, operator or rotation records): each
    /// TXT added at its name, each CNAME set.
    pub fn publish(&self, records: &[crate::DnsRecord]) {
        for r in records {
            match r.record_type {
                crate::RecordType::Txt => self.add_txt(&r.name, &r.value),
                crate::RecordType::Cname => self.add_cname(&r.name, &r.value),
            }
        }
    }

    fn lookup_txt(&self, name: &str) -> DnsResult<Vec<String>> {
        let nodes = crate::sync::read(&self.nodes);
        let mut name = key(name);
        for _ in 0..8 {
            let node = nodes.get(&name).ok_or(DnsError::NoSuchName)?;
            if let Some(e) = &node.failure {
                return Err(e.clone());
            }
            if let Some(target) = &node.cname {
                name = target.clone();
                continue;
            }
            return if node.txt.is_empty() {
                Err(DnsError::NoRecords)
            } else {
                Ok(node.txt.clone())
            };
        }
        Err(DnsError::Transient("CNAME chain too long".into()))
    }

    fn lookup_cname(&self, name: &str) -> DnsResult<Vec<String>> {
        let nodes = crate::sync::read(&self.nodes);
        let node = nodes.get(&key(name)).ok_or(DnsError::NoSuchName)?;
        if let Some(e) = &node.failure {
            return Err(e.clone());
        }
        node.cname
            .clone()
            .map(|c| vec![c])
            .ok_or(DnsError::NoRecords)
    }
}

#[async_trait]
impl DnsVerifier for StaticDns {
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>> {
        self.lookup_txt(name)
    }

    async fn cname(&self, name: &str) -> DnsResult<Vec<String>> {
        self.lookup_cname(name)
    }
}
