//! Statuses, verification details and the events emitted on each transition.

use crate::names::{DomainName, EmailAddress};

/// The status of a verification (of an identity, or of its DKIM setup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum VerificationStatus {
    /// Nothing to verify yet (e.g. a domain without a DKIM setup).
    NotStarted,
    /// Waiting for the records (or the email confirmation) to appear.
    Pending,
    /// Verified.
    Success,
    /// Was verified, but a later check could not confirm it; signing continues during the
    /// grace period.
    TemporaryFailure,
    /// The detection window or grace period ended without success; needs a restart.
    Failed,
}

impl std::fmt::Display for VerificationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerificationStatus::NotStarted => "NotStarted",
            VerificationStatus::Pending => "Pending",
            VerificationStatus::Success => "Success",
            VerificationStatus::TemporaryFailure => "TemporaryFailure",
            VerificationStatus::Failed => "Failed",
        })
    }
}

/// What the last check found wrong (the names SES uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum LastError {
    /// The record's name does not exist (NXDOMAIN).
    HostNotFound,
    /// The name exists but has no record of the expected type.
    TypeNotFound,
    /// A record exists but its value is not the expected one.
    InvalidValue,
    /// The DNS server failed (SERVFAIL, timeout, …): a transient error.
    DnsServerError,
}

impl std::fmt::Display for LastError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LastError::HostNotFound => "HostNotFound",
            LastError::TypeNotFound => "TypeNotFound",
            LastError::InvalidValue => "InvalidValue",
            LastError::DnsServerError => "DnsServerError",
        })
    }
}

/// A status with the facts behind it. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VerificationInfo {
    /// The status.
    pub status: VerificationStatus,
    /// When the current detection window started (creation or restart).
    pub window_start: u64,
    /// When the records were last checked.
    pub last_checked: Option<u64>,
    /// When the records were last seen correct.
    pub last_success: Option<u64>,
    /// What the last unsuccessful check found.
    pub last_error: Option<LastError>,
    /// When the current TemporaryFailure began.
    pub failing_since: Option<u64>,
}

impl VerificationInfo {
    pub(crate) fn new(status: VerificationStatus, now: u64) -> Self {
        VerificationInfo {
            status,
            window_start: now,
            last_checked: None,
            last_success: None,
            last_error: None,
            failing_since: None,
        }
    }

    /// Whether this counts as verified at `now`: Success, or TemporaryFailure within
    /// `grace` seconds of its start.
    pub fn is_verified(&self, now: u64, grace: u64) -> bool {
        match self.status {
            VerificationStatus::Success => true,
            VerificationStatus::TemporaryFailure => self
                .failing_since
                .is_some_and(|since| now < since.saturating_add(grace)),
            _ => false,
        }
    }
}

/// The name of an identity: a domain or an email address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityName {
    /// A domain identity.
    Domain(DomainName),
    /// An email address identity.
    Email(EmailAddress),
}

impl IdentityName {
    /// Parses `alice@example.com` as an email identity and anything else as a domain.
    pub fn parse(s: &str) -> Result<Self, crate::names::NameError> {
        if s.contains('@') {
            EmailAddress::parse(s).map(IdentityName::Email)
        } else {
            DomainName::parse(s).map(IdentityName::Domain)
        }
    }

    /// The domain of the identity (the address's domain for an email identity).
    pub fn domain(&self) -> &DomainName {
        match self {
            IdentityName::Domain(d) => d,
            IdentityName::Email(e) => e.domain(),
        }
    }
}

/// A borrowed identity name (canonical strings), ordered exactly like [`IdentityName`]
/// (same variants in the same order, the same fields compared in the same order), so the
/// registry's map can be searched without building an `IdentityName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum NameRef<'a> {
    /// A domain, canonical.
    Domain(&'a str),
    /// An address: local part, canonical domain.
    Email(&'a str, &'a str),
}

impl NameRef<'_> {
    /// The owned name (the strings are already canonical and valid).
    pub(crate) fn to_name(self) -> IdentityName {
        match self {
            NameRef::Domain(d) => IdentityName::Domain(DomainName::from_canonical(d)),
            NameRef::Email(l, d) => IdentityName::Email(EmailAddress::from_canonical(
                l,
                DomainName::from_canonical(d),
            )),
        }
    }
}

/// A key of the identity map, owned or borrowed.
pub(crate) trait NameKey {
    /// The name as borrowed strings.
    fn key(&self) -> NameRef<'_>;
}

impl NameKey for IdentityName {
    fn key(&self) -> NameRef<'_> {
        match self {
            IdentityName::Domain(d) => NameRef::Domain(d.as_str()),
            IdentityName::Email(e) => NameRef::Email(e.local_part(), e.domain().as_str()),
        }
    }
}

impl NameKey for NameRef<'_> {
    fn key(&self) -> NameRef<'_> {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn NameKey + 'a> for IdentityName {
    fn borrow(&self) -> &(dyn NameKey + 'a) {
        self
    }
}

impl std::hash::Hash for dyn NameKey + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

/// An identity name as a key of the registry's hash index: hashed through its borrowed
/// form, so a [`NameRef`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexKey(pub(crate) IdentityName);

impl std::hash::Hash for IndexKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.key().hash(state);
    }
}

impl<'a> std::borrow::Borrow<dyn NameKey + 'a> for IndexKey {
    fn borrow(&self) -> &(dyn NameKey + 'a) {
        &self.0
    }
}

impl PartialEq for dyn NameKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn NameKey + '_ {}

impl PartialOrd for dyn NameKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn NameKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::fmt::Display for IdentityName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityName::Domain(d) => d.fmt(f),
            IdentityName::Email(e) => e.fmt(f),
        }
    }
}

impl From<DomainName> for IdentityName {
    fn from(d: DomainName) -> Self {
        IdentityName::Domain(d)
    }
}

impl From<EmailAddress> for IdentityName {
    fn from(e: EmailAddress) -> Self {
        IdentityName::Email(e)
    }
}

/// Which verification a transition concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Check {
    /// Ownership of the identity (TXT token, DKIM CNAMEs, or email confirmation).
    Identity,
    /// The DKIM setup (Easy DKIM CNAMEs or the bring-your-own-key TXT).
    Dkim,
    /// The extra Ed25519 key of dual signing (its CNAME).
    DualSigning,
    /// A step of an Easy DKIM key rotation. `from` and `to` are both the DKIM status (a
    /// rotation does not change it).
    Rotation(RotationPhase),
}

/// The step of a key rotation an event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RotationPhase {
    /// A rotation started and waits until the next key's TXT is visible through the
    /// tenant's CNAME (reported once, when the wait begins).
    AwaitingNext,
    /// Signing switched to the next key; the former active key stays published as previous.
    Switched,
    /// The overlap ended: the freed token got a fresh key, the new next key, which the
    /// operator must publish.
    NextKeyGenerated,
}

impl std::fmt::Display for RotationPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RotationPhase::AwaitingNext => "waiting for the next key",
            RotationPhase::Switched => "switched to the next key",
            RotationPhase::NextKeyGenerated => "generated a new next key",
        })
    }
}

/// One status transition, emitted exactly once.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The region of the registry.
    pub region: String,
    /// The identity.
    pub identity: IdentityName,
    /// Which verification changed.
    pub check: Check,
    /// The status before.
    pub from: VerificationStatus,
    /// The status after.
    pub to: VerificationStatus,
    /// When (Unix seconds).
    pub at: u64,
    /// What the check found wrong, when it failed.
    pub last_error: Option<LastError>,
}

impl Event {
    /// An event without an error: how a [`RegistryStore`](crate::shared::RegistryStore)
    /// rebuilds the events it keeps, and how tests write the events they expect. The
    /// registry makes its own.
    pub fn new(
        region: impl Into<String>,
        identity: IdentityName,
        check: Check,
        from: VerificationStatus,
        to: VerificationStatus,
        at: u64,
    ) -> Event {
        Event {
            region: region.into(),
            identity,
            check,
            from,
            to,
            at,
            last_error: None,
        }
    }

    /// The same event with `last_error` set.
    #[must_use]
    pub fn with_last_error(mut self, last_error: Option<LastError>) -> Event {
        self.last_error = last_error;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Borrowed lookups find exactly the entries the owned names find: `NameRef` orders
    /// like `IdentityName`.
    #[test]
    fn borrowed_names_find_the_same_entries() {
        let names = [
            "example.com",
            "a.example.com",
            "b.example.com",
            "alice@example.com",
            "alice+x@example.com",
            "bob@a.example.com",
            "zz.example.net",
            "a@zz.example.net",
            "0.example.org",
        ];
        let map: BTreeMap<IdentityName, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (IdentityName::parse(n).unwrap(), i))
            .collect();
        for (i, n) in names.iter().enumerate() {
            let owned = IdentityName::parse(n).unwrap();
            let key = owned.key();
            assert_eq!(map.get(&key as &dyn NameKey), Some(&i), "{n}");
            assert_eq!(key.to_name(), owned);
        }
        for n in ["c.example.com", "carol@example.com", "alice@a.example.com"] {
            let owned = IdentityName::parse(n).unwrap();
            assert_eq!(map.get(&owned.key() as &dyn NameKey), None, "{n}");
        }
        let mut sorted: Vec<NameRef<'_>> = map.keys().map(|k| k.key()).collect();
        let before = sorted.clone();
        sorted.sort();
        assert_eq!(sorted, before, "same order as the owned names");
    }
}
