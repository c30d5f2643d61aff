//! The identity registry: identities, records, statuses, resolution and `sign`.
//!
//! An [`IdentityRegistry`] serves one region. All its methods take `&self` and it is
//! `Send + Sync`. Its state is an immutable snapshot behind an `Arc`: signing clones the
//! `Arc` and then holds no lock while hashing or signing; every mutation is an explicit
//! [`Change`] applied in one short critical section; `refresh` does its DNS I/O on a
//! snapshot with no lock held, then applies each result only if the identity has not changed
//! meanwhile, so every transition is applied and reported exactly once even when two
//! `refresh` calls race.

mod checks;
mod config;
mod diagnose;
mod dual;
mod error;
mod identity;
mod key_length;
mod lifecycle;
mod method;
mod notify;
mod observe;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
mod records;
mod refresh;
mod regions;
mod replication;
mod resolve;
mod rotation;
mod rules;
pub mod shared;
mod sign;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod snapshot;
mod state;
mod stats;
mod status;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod store;
mod test_email;

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::key::SigningKey;
use crate::names::Selector;

pub use config::{OsTokenSource, RegistryConfig, TokenSource};
pub use diagnose::{Finding, FindingKind};
pub use error::RegistryError;
pub use identity::{
    DkimSetup, DualKey, EasyKey, EasyState, Identity, KeyRole, KeySlot, RotationState, Token,
};
pub use key_length::KEY_SPEC_CHANGE_INTERVAL;
pub use notify::{EmailNotifier, MailTransport, Notifier, OutgoingEmail, RecipientFn};
pub use records::{DnsRecord, Publisher, Purpose, RecordChange, RecordType};
pub use regions::Regions;
pub use resolve::{ChainStep, Decision, Resolution, SigningChoice, StepOutcome, UnsignedReason};
pub use rotation::RotationStep;
pub use sign::{SignOutcome, TenantSignature};
pub use state::{Change, State};
pub use stats::{SignCounts, SigningStats, UnsignedCounts};
pub use status::{
    Check, Event, IdentityName, LastError, RotationPhase, VerificationInfo, VerificationStatus,
};
pub use test_email::{Delivery, TestEmailReport, TestSignature};

/// The current time in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How a new domain identity signs.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum DomainSetup {
    /// Easy DKIM with three new keys of the configured spec (the default).
    #[default]
    EasyDkim,
    /// Easy DKIM with these tokens and keys (migration, tests).
    EasyDkimWith(Vec<EasyKey>),
    /// Bring your own key: the tenant publishes `<selector>._domainkey.<domain>`.
    BringYourOwnKey {
        /// The selector.
        selector: Selector,
        /// The key (any format [`SigningKey::load`] reads).
        key: SigningKey,
    },
    /// No DKIM: verification by TXT only; DKIM can be added later.
    None,
}

/// What one `refresh` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshReport {
    /// Identities whose DNS was checked.
    pub checked: usize,
    /// Transitions applied by this call, in order (each is reported by exactly one call).
    pub events: Vec<Event>,
    /// The automatic rotation steps this call took, with the operator-zone record changes
    /// each asks for (see [`docs::rotation`](crate::docs::rotation)).
    pub rotations: Vec<(IdentityName, RotationStep)>,
}

/// Identities, records and statuses of one region, and `sign` for its messages.
pub struct IdentityRegistry {
    config: RegistryConfig,
    state: RwLock<Arc<State>>,
    notifier: RwLock<Option<Arc<dyn Notifier>>>,
    /// Transitions made by synchronous calls (`confirm_email`, `restart`), waiting to be
    /// handed to the notifier by the next `refresh` or `flush_notifications`.
    queued: std::sync::Mutex<Vec<Event>>,
    /// On a journaling registry (a shared node's workspace), every change applied, in
    /// order: the explicit change values a [`SharedRegistry`](shared::SharedRegistry)
    /// commits to its store and then applies to its own registry.
    journal: Option<std::sync::Mutex<Vec<Change>>>,
    /// The registry's total signing counters (each identity's are in its index entry).
    counters: stats::Counters,
}

impl std::fmt::Debug for IdentityRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRegistry")
            .field("config", &self.config)
            .field("identities", &self.snapshot().identities.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn secs(d: Duration) -> u64 {
    d.as_secs()
}

impl IdentityRegistry {
    /// An empty registry.
    pub fn new(config: RegistryConfig) -> Self {
        Self::with_state(config, State::default())
    }

    /// A registry over an existing state (e.g. restored from a snapshot). Its signing
    /// counters start at zero, even if `state` came from another registry.
    pub fn with_state(config: RegistryConfig, mut state: State) -> Self {
        state.detach_counters();
        Self::over(config, state)
    }

    /// A registry over `state`, sharing the signing counters `state` holds.
    fn over(config: RegistryConfig, state: State) -> Self {
        IdentityRegistry {
            config,
            state: RwLock::new(Arc::new(state)),
            notifier: RwLock::new(None),
            queued: std::sync::Mutex::new(Vec::new()),
            journal: None,
            counters: stats::Counters::default(),
        }
    }

    /// A registry over `state` that records every change it applies (see
    /// [`take_journal`](Self::take_journal)).
    pub(crate) fn journaling(config: RegistryConfig, state: State) -> Self {
        IdentityRegistry {
            journal: Some(std::sync::Mutex::new(Vec::new())),
            ..Self::over(config, state)
        }
    }

    /// The changes applied since the last call, in order (empty unless journaling).
    pub(crate) fn take_journal(&self) -> Vec<Change> {
        self.journal
            .as_ref()
            .map(|j| std::mem::take(&mut *crate::sync::lock(j)))
            .unwrap_or_default()
    }

    /// The one way an operation changes the state (under the caller's write lock): the
    /// change is applied and, on a journaling registry, recorded.
    pub(crate) fn apply_change(&self, state: &mut State, change: Change) {
        if let Some(journal) = &self.journal {
            crate::sync::lock(journal).push(change.clone());
        }
        state.apply(change);
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// Installs the notifier that receives each transition.
    pub fn set_notifier(&self, notifier: Option<Arc<dyn Notifier>>) {
        *crate::sync::write(&self.notifier) = notifier;
    }

    /// The current state (a cheap `Arc` clone; it does not change under you).
    pub fn snapshot(&self) -> Arc<State> {
        crate::sync::read(&self.state).clone()
    }

    /// Runs `f` on the state under the write lock.
    pub(crate) fn apply_with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = crate::sync::write(&self.state);
        f(Arc::make_mut(&mut guard))
    }

    /// Takes the transitions queued by synchronous calls, without notifying.
    pub(crate) fn take_queued(&self) -> Vec<Event> {
        std::mem::take(&mut *crate::sync::lock(&self.queued))
    }

    /// The notifier, if one is installed.
    pub(crate) fn notifier(&self) -> Option<Arc<dyn Notifier>> {
        crate::sync::read(&self.notifier).clone()
    }

    /// Applies `f` to the identity `name` under the write lock; `f` returns the new identity.
    pub(crate) fn update<T>(
        &self,
        name: &IdentityName,
        f: impl FnOnce(&Identity) -> Result<(Identity, T), RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut guard = crate::sync::write(&self.state);
        let current = guard
            .identities
            .get(name)
            .ok_or_else(|| RegistryError::UnknownIdentity(name.clone()))?;
        let (mut next, out) = f(current)?;
        next.version = current.version + 1;
        self.apply_change(Arc::make_mut(&mut guard), Change::Upsert(Arc::new(next)));
        Ok(out)
    }

    /// Like [`update`](Self::update), but `f` may leave the identity unchanged (None).
    pub(crate) fn update_maybe<T>(
        &self,
        name: &IdentityName,
        f: impl FnOnce(&Identity) -> Result<(Option<Identity>, T), RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut guard = crate::sync::write(&self.state);
        let current = guard
            .identities
            .get(name)
            .ok_or_else(|| RegistryError::UnknownIdentity(name.clone()))?;
        let (next, out) = f(current)?;
        if let Some(mut next) = next {
            next.version = current.version + 1;
            self.apply_change(Arc::make_mut(&mut guard), Change::Upsert(Arc::new(next)));
        }
        Ok(out)
    }

    pub(crate) fn insert_new(&self, identity: Identity) -> Result<Arc<Identity>, RegistryError> {
        let mut guard = crate::sync::write(&self.state);
        if guard.identities.contains_key(&identity.name) {
            return Err(RegistryError::IdentityExists(identity.name));
        }
        let identity = Arc::new(identity);
        self.apply_change(Arc::make_mut(&mut guard), Change::Upsert(identity.clone()));
        Ok(identity)
    }

    /// One identity.
    pub fn get(&self, name: &IdentityName) -> Option<Arc<Identity>> {
        self.snapshot().identities.get(name).cloned()
    }

    /// One identity by its text form (`example.com` or `alice@example.com`).
    pub fn get_str(&self, name: &str) -> Result<Arc<Identity>, RegistryError> {
        let name = IdentityName::parse(name)?;
        self.get(&name).ok_or(RegistryError::UnknownIdentity(name))
    }

    /// All identities, sorted by name.
    pub fn list(&self) -> Vec<Arc<Identity>> {
        self.snapshot().identities.values().cloned().collect()
    }

    /// The records the tenant publishes for an identity: the verification TXT, then the
    /// three Easy DKIM CNAMEs (and the dual-signing CNAME, when on) or the
    /// bring-your-own-key TXT. Empty for email identities. The CNAME targets are in the
    /// setup's own signing zone (the parent's, for a replica), so a replica's records are
    /// its parent's.
    pub fn tenant_records(&self, identity: &Identity) -> Vec<DnsRecord> {
        records::tenant_records_of(&self.config, identity)
    }

    /// The records the operator publishes in its signing zone for an identity: one key TXT
    /// per Easy DKIM token (and one for the dual-signing token, when on), in the setup's
    /// own signing zone. A replica's are its parent's records (publish them once).
    pub fn operator_records(&self, identity: &Identity) -> Vec<DnsRecord> {
        identity
            .dkim
            .as_ref()
            .map(records::operator_records_of)
            .unwrap_or_default()
    }
}
