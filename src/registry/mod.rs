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
mod diagnose;
mod identity;
mod notify;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
mod records;
mod refresh;
mod resolve;
mod rotation;
mod rules;
pub mod shared;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod snapshot;
mod status;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod store;
mod test_email;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rand::RngCore;

use crate::dns::DnsVerifier;
use crate::error::{KeyError, MessageError, SignError};
use crate::key::{KeySpec, SigningKey};
use crate::message::{Message, Warning};
use crate::names::{DomainName, EmailAddress, NameError, Selector};
use crate::signer::{sign_parsed, Profile, Signer};

pub use diagnose::{Finding, FindingKind};
pub use identity::{
    DkimSetup, DualKey, EasyKey, EasyState, Identity, KeyRole, KeySlot, RotationState, Token,
};
pub use notify::{EmailNotifier, MailTransport, Notifier, OutgoingEmail, RecipientFn};
pub use records::{DnsRecord, Publisher, Purpose, RecordChange, RecordType};
pub use resolve::{ChainStep, Decision, Resolution, SigningChoice, StepOutcome, UnsignedReason};
pub use rotation::{RotationStep, KEY_SPEC_CHANGE_INTERVAL};
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

/// Where random bytes for tokens come from (the OS CSPRNG by default; inject a fixed
/// source to get reproducible tokens in tests).
pub trait TokenSource: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsTokenSource;

impl TokenSource for OsTokenSource {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// Settings of one region's registry. Build with [`RegistryConfig::new`] and adjust fields.
///
/// New Easy DKIM keys are RSA-2048 by default (today's SES default; RFC 8301 asks for at
/// least 1024 and recommends 2048). The original Easy DKIM setup, 1024-bit keys, is one
/// line:
///
/// ```
/// use easydkim::{KeySpec, RegistryConfig};
///
/// let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
/// config.key_spec = KeySpec::Rsa1024; // the original Easy DKIM: 1024-bit RSA keys
/// # Ok::<(), easydkim::RegistryError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Region name, e.g. `eu-west-1` (validated by [`RegistryConfig::new`]; read with
    /// [`RegistryConfig::region`]).
    region: String,
    /// The operator's zone for key records, e.g. `dkim.mail.example.net`.
    pub signing_zone: DomainName,
    /// Label of the verification TXT (default `_easydkim`; see
    /// [`RegistryConfig::with_verification_record`]).
    verification_label: String,
    /// Prefix accepted on the verification TXT value (default `easydkim:`).
    verification_prefix: String,
    /// Spec of new Easy DKIM keys (default RSA-2048; RSA-1024 as in the original Easy DKIM).
    /// Each identity starts with it as its `next_key_spec`, which
    /// [`set_next_key_spec`](IdentityRegistry::set_next_key_spec) changes.
    pub key_spec: KeySpec,
    /// How long records may take to appear before a setup fails (default 72 h).
    pub detection_window: Duration,
    /// How long signing continues after records vanish (default 72 h).
    pub grace_period: Duration,
    /// How long an email confirmation token is valid (default 24 h).
    pub email_confirmation_lifetime: Duration,
    /// Shape of tenant signatures (default [`Profile::Standard`]). With
    /// [`Profile::SesCompatible`] the operator signature takes SES's own shape too
    /// ([`Profile::SesOperator`]: the tenant's `h=` plus `Feedback-ID`).
    pub profile: Profile,
    /// A signature in the operator's own domain added to every message (like SES's
    /// `d=amazonses.com`), with whatever options the signer carries (its shape follows
    /// `profile` when that is `SesCompatible`).
    pub operator_signer: Option<Signer>,
    /// Source of randomness for tokens.
    pub token_source: Arc<dyn TokenSource>,
    /// How many identities `refresh` checks at once (default 64; each check makes up to
    /// five lookups, themselves concurrent).
    pub refresh_concurrency: usize,
    /// Time budget for one identity's checks (default 30 s); past it the check counts as a
    /// transient DNS error, which never fails a setup by itself.
    pub check_budget: Duration,
    /// With `auto_rotate`, `refresh` starts a key rotation once the active key has been
    /// signing this long (default 180 days).
    pub rotation_age: Duration,
    /// How long the former active key stays published, unchanged, after a switch before
    /// the freed token gets a fresh key (default 7 days).
    pub rotation_overlap: Duration,
    /// Whether `refresh` starts rotations by age and advances started ones (default true).
    /// Without it, only [`rotate`](IdentityRegistry::rotate) moves a rotation.
    pub auto_rotate: bool,
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("region", &self.region)
            .field("signing_zone", &self.signing_zone)
            .field("verification_label", &self.verification_label)
            .field("verification_prefix", &self.verification_prefix)
            .field("key_spec", &self.key_spec)
            .field("detection_window", &self.detection_window)
            .field("grace_period", &self.grace_period)
            .field(
                "email_confirmation_lifetime",
                &self.email_confirmation_lifetime,
            )
            .field("profile", &self.profile)
            .field("operator_signer", &self.operator_signer)
            .field("refresh_concurrency", &self.refresh_concurrency)
            .field("check_budget", &self.check_budget)
            .field("rotation_age", &self.rotation_age)
            .field("rotation_overlap", &self.rotation_overlap)
            .field("auto_rotate", &self.auto_rotate)
            .finish_non_exhaustive()
    }
}

impl RegistryConfig {
    /// Defaults for a region and signing zone. The region is a name of 1 to 64 ASCII
    /// letters, digits, `-` and `_` (it names the registry in events, snapshots and the
    /// shared store); the zone a domain name.
    pub fn new(region: &str, signing_zone: &str) -> Result<Self, RegistryError> {
        let valid_region = !region.is_empty()
            && region.len() <= 64
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_region {
            return Err(RegistryError::InvalidRegion(region.to_string()));
        }
        Ok(RegistryConfig {
            region: region.to_string(),
            signing_zone: DomainName::parse(signing_zone)?,
            verification_label: "_easydkim".into(),
            verification_prefix: "easydkim:".into(),
            key_spec: KeySpec::Rsa2048,
            detection_window: Duration::from_secs(72 * 3600),
            grace_period: Duration::from_secs(72 * 3600),
            email_confirmation_lifetime: Duration::from_secs(24 * 3600),
            profile: Profile::Standard,
            operator_signer: None,
            token_source: Arc::new(OsTokenSource),
            refresh_concurrency: 64,
            check_budget: Duration::from_secs(30),
            rotation_age: Duration::from_secs(180 * 24 * 3600),
            rotation_overlap: Duration::from_secs(7 * 24 * 3600),
            auto_rotate: true,
        })
    }

    /// The region name.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The label of the verification TXT (`<label>.<domain>`) and the prefix of its value.
    pub fn verification_record(&self) -> (&str, &str) {
        (&self.verification_label, &self.verification_prefix)
    }

    /// Sets the verification TXT's label (default `_easydkim`) and value prefix (default
    /// `easydkim:`), e.g. `_amazonses` and `""` for SES's own record shape. The label must
    /// be one DNS label (1 to 63 letters, digits, `-`, `_`), the prefix printable ASCII
    /// without `"`, `\` or `;`; otherwise [`RegistryError::InvalidVerificationRecord`].
    pub fn with_verification_record(
        mut self,
        label: &str,
        prefix: &str,
    ) -> Result<Self, RegistryError> {
        let label_ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let prefix_ok = prefix
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b';'));
        if !label_ok || !prefix_ok {
            return Err(RegistryError::InvalidVerificationRecord {
                label: label.to_string(),
                prefix: prefix.to_string(),
            });
        }
        self.verification_label = label.to_string();
        self.verification_prefix = prefix.to_string();
        Ok(self)
    }
}

/// A registry operation that could not be done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A name did not validate.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A key could not be generated or loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The identity already exists.
    #[error("identity {0} already exists")]
    IdentityExists(IdentityName),
    /// No such identity.
    #[error("no identity {0}")]
    UnknownIdentity(IdentityName),
    /// The operation needs a domain identity.
    #[error("{0} is not a domain identity")]
    NotADomain(IdentityName),
    /// The operation needs an email identity.
    #[error("{0} is not an email identity")]
    NotAnEmail(IdentityName),
    /// The domain already has a DKIM setup.
    #[error("{0} already has a DKIM setup")]
    DkimAlreadySetUp(IdentityName),
    /// The domain has no DKIM setup.
    #[error("{0} has no DKIM setup")]
    NoDkimSetup(IdentityName),
    /// The confirmation token is wrong.
    #[error("wrong confirmation token for {0}")]
    WrongToken(IdentityName),
    /// The confirmation window of an email identity has passed (whether or not `refresh`
    /// has marked it Failed yet). [`IdentityRegistry::restart`] opens a new window for the
    /// same token; send the confirmation again after it.
    #[error(
        "the confirmation of {identity} expired at {expired_at} (Unix time); restart its \
         verification (IdentityRegistry::restart) and send the confirmation again"
    )]
    ConfirmationExpired {
        /// The email identity.
        identity: IdentityName,
        /// When the window closed (Unix seconds).
        expired_at: u64,
    },
    /// The email identity is not waiting for confirmation.
    #[error("{identity} is {status}, not pending confirmation")]
    NotPending {
        /// The identity.
        identity: IdentityName,
        /// Its status.
        status: VerificationStatus,
    },
    /// Only a Failed verification can be restarted.
    #[error("{identity} is {status}; only a Failed verification can be restarted")]
    NotFailed {
        /// The identity.
        identity: IdentityName,
        /// Its status.
        status: VerificationStatus,
    },
    /// Two registries for one region.
    #[error("region {0} already has a registry")]
    DuplicateRegion(String),
    /// A region name that is empty, longer than 64 characters or has characters other
    /// than ASCII letters, digits, `-` and `_`.
    #[error("invalid region name `{0}`: use 1 to 64 ASCII letters, digits, `-` and `_`")]
    InvalidRegion(String),
    /// A verification record label that is not one DNS label, or a value prefix that
    /// cannot be written in a TXT value as is.
    #[error("invalid verification record: label `{label}`, prefix `{prefix}`")]
    InvalidVerificationRecord {
        /// The label given.
        label: String,
        /// The prefix given.
        prefix: String,
    },
    /// `DomainSetup::EasyDkimWith` needs exactly three tokens and keys.
    #[error("Easy DKIM needs 3 tokens and keys, got {got}")]
    WrongEasyKeyCount {
        /// How many were given.
        got: usize,
    },
    /// A snapshot could not be restored: `detail` says what is wrong with it, `source` is
    /// the decoder's error where there is one.
    #[error("snapshot: {detail}")]
    Snapshot {
        /// What is wrong, naming the identity where one is at fault.
        detail: String,
        /// The underlying error, if any.
        source: Option<crate::error::ErrorCause>,
    },
    /// The operation needs an Easy DKIM setup.
    #[error("{0} does not use Easy DKIM")]
    NotEasyDkim(IdentityName),
    /// The test message could not be signed or verified (a sender address that makes no
    /// valid message; see [`IdentityRegistry::send_test_email`]).
    #[error("the test email could not be signed")]
    TestEmail(#[source] SignError),
    /// The next key spec is already the one asked for (SES answers "invalid input").
    #[error("the next key of {identity} is already {spec}: nothing to change")]
    KeySpecUnchanged {
        /// The identity.
        identity: IdentityName,
        /// The spec it already has.
        spec: KeySpec,
    },
    /// The next key spec was changed less than 24 hours ago.
    #[error(
        "the key length of {identity} was changed less than 24 hours ago; retry at {retry_at}"
    )]
    KeySpecChangeTooSoon {
        /// The identity.
        identity: IdentityName,
        /// When a change is allowed again (Unix seconds).
        retry_at: u64,
    },
    /// The identity is a replica: its keys follow its parent's (rotate, change key length
    /// or dual signing on the parent).
    #[error("{identity} is a replica of the identity in {parent_region}; change the parent")]
    IsReplica {
        /// The identity.
        identity: IdentityName,
        /// The region of its parent.
        parent_region: String,
    },
    /// No registry for this region.
    #[error("no region {0}")]
    UnknownRegion(String),
    /// Replication to the region the parent is in.
    #[error("cannot replicate {identity} within region {region}")]
    SameRegion {
        /// The identity.
        identity: IdentityName,
        /// The region.
        region: String,
    },
    /// The parent uses bring-your-own-key: its key cannot be shared.
    #[error("{0} uses its own key; only Easy DKIM identities can be replicated")]
    ParentUsesOwnKey(IdentityName),
    /// The parent is itself a replica.
    #[error(
        "{identity} is itself a replica of the identity in {parent_region}; replicate that one"
    )]
    ReplicaOfReplica {
        /// The identity.
        identity: IdentityName,
        /// The region of the parent's own parent.
        parent_region: String,
    },
    /// The identity already uses that DKIM method.
    #[error("{0} already uses that DKIM method")]
    SameMethod(IdentityName),
    /// The identity kept changing under a rotation step; try again.
    #[error("{0} changed concurrently; try again")]
    ConcurrentChange(IdentityName),
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

/// An explicit change to the registry's state: what a store persists and replays.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Change {
    /// Create or replace an identity (its `version` is the new version).
    Upsert(Arc<Identity>),
    /// Delete an identity.
    Delete(IdentityName),
}

/// The registry's whole state: an immutable snapshot.
#[derive(Clone, Default)]
pub struct State {
    identities: BTreeMap<IdentityName, Arc<Identity>>,
    /// The same identities by hash, for `sign`'s lookups by borrowed name (a few hash
    /// probes instead of a walk down a tree of 100,000 names per candidate).
    index: HashMap<status::IndexKey, Arc<Identity>, foldhash::fast::RandomState>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("identities", &self.identities)
            .finish_non_exhaustive()
    }
}

impl State {
    /// A state holding these identities.
    #[cfg(feature = "serde")]
    pub(crate) fn from_identities(identities: BTreeMap<IdentityName, Arc<Identity>>) -> State {
        let index = identities
            .iter()
            .map(|(name, i)| (status::IndexKey(name.clone()), i.clone()))
            .collect();
        State { identities, index }
    }

    /// The identities, by name.
    pub fn identities(&self) -> &BTreeMap<IdentityName, Arc<Identity>> {
        &self.identities
    }

    /// The identity of a borrowed name.
    pub(crate) fn lookup(&self, name: status::NameRef<'_>) -> Option<&Arc<Identity>> {
        self.index.get(&name as &dyn status::NameKey)
    }

    /// Applies one change.
    pub(crate) fn apply(&mut self, change: Change) {
        match change {
            Change::Upsert(identity) => {
                self.index
                    .insert(status::IndexKey(identity.name.clone()), identity.clone());
                self.identities.insert(identity.name.clone(), identity);
            }
            Change::Delete(name) => {
                self.index.remove(&name as &dyn status::NameKey);
                self.identities.remove(&name);
            }
        }
    }
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

/// Which signature the tenant part of a message got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantSignature {
    /// Signed.
    Signed(SigningChoice),
    /// Not signed, and why.
    Unsigned(UnsignedReason),
}

/// The result of [`IdentityRegistry::sign`]: the message (signed or not) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignOutcome {
    /// The new DKIM-Signature header(s) followed by the caller's bytes, unchanged.
    pub message: Vec<u8>,
    /// The tenant signature, or why there is none.
    pub tenant: TenantSignature,
    /// Dual signing: the tenant's second (Ed25519) signature, same `d=`, its own selector.
    pub dual_signature: Option<SigningChoice>,
    /// Whether the operator signature was added.
    pub operator_signed: bool,
    /// The resolution chain behind the decision.
    pub resolution: Resolution,
    /// Non-fatal findings about the message.
    pub warnings: Vec<Warning>,
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

    /// A registry over an existing state (e.g. restored from a snapshot).
    pub fn with_state(config: RegistryConfig, state: State) -> Self {
        IdentityRegistry {
            config,
            state: RwLock::new(Arc::new(state)),
            notifier: RwLock::new(None),
            queued: std::sync::Mutex::new(Vec::new()),
            journal: None,
        }
    }

    /// A registry over `state` that records every change it applies (see
    /// [`take_journal`](Self::take_journal)).
    pub(crate) fn journaling(config: RegistryConfig, state: State) -> Self {
        IdentityRegistry {
            journal: Some(std::sync::Mutex::new(Vec::new())),
            ..Self::with_state(config, state)
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

    pub(crate) fn random_token(&self) -> Token {
        let mut b = [0u8; 20];
        self.config.token_source.fill(&mut b);
        Token::from_random(&b)
    }

    fn random_b64(&self, n: usize) -> String {
        let mut b = vec![0u8; n];
        self.config.token_source.fill(&mut b);
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    pub(crate) fn new_easy_keys(&self) -> Result<Vec<EasyKey>, RegistryError> {
        (0..3)
            .map(|_| {
                Ok(EasyKey {
                    token: self.random_token(),
                    key: SigningKey::generate(self.config.key_spec)?,
                })
            })
            .collect()
    }

    pub(crate) fn new_easy_setup(&self, keys: Vec<EasyKey>, now: u64) -> DkimSetup {
        DkimSetup::easy(
            keys,
            self.config.signing_zone.clone(),
            self.config.key_spec,
            now,
        )
    }

    fn dkim_from_setup(
        &self,
        setup: DomainSetup,
        now: u64,
    ) -> Result<Option<DkimSetup>, RegistryError> {
        Ok(match setup {
            DomainSetup::EasyDkim => Some(self.new_easy_setup(self.new_easy_keys()?, now)),
            DomainSetup::EasyDkimWith(keys) => {
                if keys.len() != 3 {
                    return Err(RegistryError::WrongEasyKeyCount { got: keys.len() });
                }
                Some(self.new_easy_setup(keys, now))
            }
            DomainSetup::BringYourOwnKey { selector, key } => {
                Some(DkimSetup::Byo { selector, key })
            }
            DomainSetup::None => None,
        })
    }

    /// Creates a domain identity with Easy DKIM (three tokens, a key per token).
    ///
    /// This generates three keys of [`RegistryConfig::key_spec`]: CPU-bound work that takes
    /// tens of milliseconds for RSA-2048 in an optimised build (several seconds for RSA in
    /// an unoptimised one; see [`SigningKey::generate`](crate::SigningKey::generate)). From
    /// async code, call it where blocking is allowed, for example inside
    /// `tokio::task::spawn_blocking`, not on an executor thread.
    pub fn create_domain(&self, domain: &str, now: u64) -> Result<Arc<Identity>, RegistryError> {
        self.create_domain_with(domain, DomainSetup::EasyDkim, now)
    }

    /// Creates a domain identity with the given DKIM setup.
    pub fn create_domain_with(
        &self,
        domain: &str,
        setup: DomainSetup,
        now: u64,
    ) -> Result<Arc<Identity>, RegistryError> {
        let domain = DomainName::parse(domain)?;
        let name = IdentityName::Domain(domain);
        if self.snapshot().identities.contains_key(&name) {
            return Err(RegistryError::IdentityExists(name));
        }
        let dkim = self.dkim_from_setup(setup, now)?;
        let dkim_status = if dkim.is_some() {
            VerificationStatus::Pending
        } else {
            VerificationStatus::NotStarted
        };
        self.insert_new(Identity {
            name,
            verification: VerificationInfo::new(VerificationStatus::Pending, now),
            verification_token: Some(self.random_b64(32)),
            confirmation: None,
            dkim,
            dkim_verification: VerificationInfo::new(dkim_status, now),
            signing_enabled: true,
            created_at: now,
            version: 1,
        })
    }

    /// Adds a DKIM setup to an existing domain identity that has none.
    pub fn add_dkim(
        &self,
        domain: &str,
        setup: DomainSetup,
        now: u64,
    ) -> Result<Arc<Identity>, RegistryError> {
        let name = IdentityName::Domain(DomainName::parse(domain)?);
        let dkim = self.dkim_from_setup(setup, now)?;
        self.update(&name, |cur| {
            if cur.dkim.is_some() {
                return Err(RegistryError::DkimAlreadySetUp(name.clone()));
            }
            let mut next = cur.clone();
            next.dkim = dkim;
            next.dkim_verification = VerificationInfo::new(VerificationStatus::Pending, now);
            Ok((next, ()))
        })?;
        self.get(&name).ok_or(RegistryError::UnknownIdentity(name))
    }

    /// Creates an email identity; returns it and the confirmation token to mail to the
    /// address (confirm with [`confirm_email`](Self::confirm_email) within the lifetime).
    pub fn create_email(
        &self,
        address: &str,
        now: u64,
    ) -> Result<(Arc<Identity>, String), RegistryError> {
        let address = EmailAddress::parse(address)?;
        let token = self.random_b64(24).replace(['+', '/'], "-");
        let expires = now + secs(self.config.email_confirmation_lifetime);
        let identity = self.insert_new(Identity {
            name: IdentityName::Email(address),
            verification: VerificationInfo::new(VerificationStatus::Pending, now),
            verification_token: None,
            confirmation: Some((token.clone(), expires)),
            dkim: None,
            dkim_verification: VerificationInfo::new(VerificationStatus::NotStarted, now),
            signing_enabled: true,
            created_at: now,
            version: 1,
        })?;
        Ok((identity, token))
    }

    /// Confirms an email identity with the token mailed to it.
    pub fn confirm_email(
        &self,
        address: &str,
        token: &str,
        now: u64,
    ) -> Result<Event, RegistryError> {
        let name = IdentityName::Email(EmailAddress::parse(address)?);
        let region = self.config.region.clone();
        let event = self.update(&name, |cur| {
            let (expected, expires) = cur
                .confirmation
                .as_ref()
                .ok_or_else(|| RegistryError::NotAnEmail(name.clone()))?;
            let expired = RegistryError::ConfirmationExpired {
                identity: name.clone(),
                expired_at: *expires,
            };
            match cur.verification.status {
                // Also once `refresh` has marked it Failed for that: say so, not "not pending".
                VerificationStatus::Pending | VerificationStatus::Failed if now >= *expires => {
                    return Err(expired)
                }
                VerificationStatus::Pending => {}
                status => {
                    return Err(RegistryError::NotPending {
                        identity: name.clone(),
                        status,
                    })
                }
            }
            if !constant_time_eq(expected.as_bytes(), token.as_bytes()) {
                return Err(RegistryError::WrongToken(name.clone()));
            }
            let mut next = cur.clone();
            next.verification.status = VerificationStatus::Success;
            next.verification.last_checked = Some(now);
            next.verification.last_success = Some(now);
            next.verification.last_error = None;
            let event = Event {
                region,
                identity: name.clone(),
                check: Check::Identity,
                from: VerificationStatus::Pending,
                to: VerificationStatus::Success,
                at: now,
                last_error: None,
            };
            Ok((next, event))
        })?;
        self.queue(vec![event.clone()]);
        Ok(event)
    }

    pub(crate) fn queue(&self, events: Vec<Event>) {
        crate::sync::lock(&self.queued).extend(events);
    }

    /// Hands the transitions made by synchronous calls ([`confirm_email`](Self::confirm_email),
    /// [`restart`](Self::restart)) to the notifier now; `refresh` does it too.
    pub async fn flush_notifications(&self) {
        let events = std::mem::take(&mut *crate::sync::lock(&self.queued));
        let notifier = crate::sync::read(&self.notifier).clone();
        if let Some(n) = notifier {
            for e in &events {
                n.notify(e).await;
            }
        }
    }

    /// Turns DKIM signing on or off for an identity (it stops the precedence walk when off).
    pub fn set_signing_enabled(&self, identity: &str, enabled: bool) -> Result<(), RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.update(&name, |cur| {
            let mut next = cur.clone();
            next.signing_enabled = enabled;
            Ok((next, ()))
        })
    }

    /// Restarts a Failed verification (identity and/or DKIM): same tokens, new window.
    /// Returns the Failed -> Pending transitions (also queued for the notifier).
    pub fn restart(&self, identity: &str, now: u64) -> Result<Vec<Event>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        let region = self.config.region.clone();
        let events = self.update(&name, |cur| {
            let failed = |i: &VerificationInfo| i.status == VerificationStatus::Failed;
            if !failed(&cur.verification) && !failed(&cur.dkim_verification) {
                return Err(RegistryError::NotFailed {
                    identity: name.clone(),
                    status: cur.verification.status,
                });
            }
            let mut next = cur.clone();
            if failed(&cur.verification) {
                next.verification = VerificationInfo::new(VerificationStatus::Pending, now);
                if let Some((_, expires)) = next.confirmation.as_mut() {
                    *expires = now + secs(self.config.email_confirmation_lifetime);
                }
            }
            if failed(&cur.dkim_verification) {
                next.dkim_verification = VerificationInfo::new(VerificationStatus::Pending, now);
                if let Some(DkimSetup::Easy { state, .. }) = next.dkim.as_mut() {
                    if let Some(dual) = state.dual.as_mut().filter(|d| failed(&d.verification)) {
                        dual.verification = VerificationInfo::new(VerificationStatus::Pending, now);
                    }
                }
            }
            let mut events = Vec::new();
            for (check, before) in [
                (Check::Identity, &cur.verification),
                (Check::Dkim, &cur.dkim_verification),
            ] {
                if failed(before) {
                    events.push(Event {
                        region: region.clone(),
                        identity: name.clone(),
                        check,
                        from: VerificationStatus::Failed,
                        to: VerificationStatus::Pending,
                        at: now,
                        last_error: None,
                    });
                }
            }
            Ok((next, events))
        })?;
        self.queue(events.clone());
        Ok(events)
    }

    /// Deletes an identity.
    pub fn delete(&self, identity: &str) -> Result<(), RegistryError> {
        let name = IdentityName::parse(identity)?;
        let mut guard = crate::sync::write(&self.state);
        if !guard.identities.contains_key(&name) {
            return Err(RegistryError::UnknownIdentity(name));
        }
        self.apply_change(Arc::make_mut(&mut guard), Change::Delete(name));
        Ok(())
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

    /// The decision for a sender, with the chain walked (the rules: guide page
    /// [`crate::docs::precedence`]).
    pub fn resolve(&self, address: &EmailAddress, now: u64) -> Resolution {
        let snapshot = self.snapshot();
        resolve::resolve(&snapshot, address, now, secs(self.config.grace_period)).0
    }

    /// Signs `message` at the current time; see [`sign_at`](Self::sign_at).
    pub fn sign(&self, message: &[u8]) -> Result<SignOutcome, SignError> {
        self.sign_at(message, unix_now())
    }

    /// Signs `message` as of `now`: the governing identity's signature (if any; two, RSA
    /// and Ed25519, under dual signing) and the operator signature (if configured),
    /// prepended to the caller's bytes, all over one body pass. An unsigned
    /// outcome is not an error: the message is returned with the reason. Errors only for a
    /// malformed message.
    pub fn sign_at(&self, message: &[u8], now: u64) -> Result<SignOutcome, SignError> {
        let msg = Message::parse(message)?;
        let (local, domain) = msg.sender_parts()?;
        // The sender as a valid local part and a canonical domain: borrowed from the
        // message when it already is (nearly always), parsed into an address otherwise.
        let parsed;
        let (local, domain): (&str, &str) =
            if DomainName::is_canonical(&domain) && crate::names::local_part_is_valid(&local) {
                (&local, &domain)
            } else {
                let address = format!("{local}@{domain}");
                parsed = EmailAddress::parse(&address).map_err(|source| {
                    SignError::Message(MessageError::FromAddressInvalid {
                        address: address.clone(),
                        source,
                    })
                })?;
                (parsed.local_part(), parsed.domain().as_str())
            };
        let snapshot = self.snapshot();
        let (resolution, keys) = resolve::resolve_parts(
            &snapshot,
            local,
            domain,
            now,
            secs(self.config.grace_period),
        );
        drop(snapshot);

        let tenant_signer = |key: SigningKey, domain: &DomainName, selector: &str| {
            // The selector is a token or a BYO selector, validated when it was stored.
            let s = Signer::from_parts(key, domain.clone(), Selector::already_valid(selector))
                .profile(self.config.profile)
                .signing_time(Some(now));
            Ok::<_, SignError>(s)
        };
        let (tenant_signer, dual_signer, dual_choice) = match (&resolution.decision, keys) {
            (
                Decision::Sign(choice),
                resolve::Keys {
                    main: Some(key),
                    dual,
                },
            ) => {
                let main = tenant_signer(key, &choice.domain, &choice.selector)?;
                match dual {
                    Some((selector, key)) => {
                        let signer = tenant_signer(key, &choice.domain, &selector)?;
                        let dual_choice = SigningChoice {
                            selector,
                            ..choice.clone()
                        };
                        (Some(main), Some(signer), Some(dual_choice))
                    }
                    None => (Some(main), None, None),
                }
            }
            _ => (None, None, None),
        };
        let operator = self.config.operator_signer.as_ref().map(|s| {
            let mut s = s.clone();
            if s.options().signing_time().is_none() {
                s = s.signing_time(Some(now));
            }
            // SES's own signature beside an SES-shaped tenant one: same shape, same c=
            // (so the same bh=), plus Feedback-ID.
            if self.config.profile == Profile::SesCompatible {
                s = s.profile(Profile::SesOperator);
            }
            s
        });
        // Up to three signers, in a fixed array rather than a vector.
        let present = [
            tenant_signer.as_ref(),
            dual_signer.as_ref(),
            operator.as_ref(),
        ];
        let mut signers = [present.iter().flatten().next().copied(); 3];
        let mut count = 0;
        for s in present.into_iter().flatten() {
            signers[count] = Some(s);
            count += 1;
        }
        let (message_out, warnings) = match signers[0] {
            None => (message.to_vec(), msg.all_warnings()),
            Some(first) => {
                let list = signers.map(|s| s.unwrap_or(first));
                let signed = sign_parsed(&list[..count], &msg)?;
                (signed.prepend_to(message), signed.warnings)
            }
        };
        let tenant = match (&resolution.decision, tenant_signer) {
            // The tenant's choice again, its domain and selector taken back from its signer.
            (Decision::Sign(choice), Some(signer)) => {
                let (domain, selector) = signer.into_name_parts();
                TenantSignature::Signed(SigningChoice {
                    identity: choice.identity.clone(),
                    domain,
                    selector,
                })
            }
            (Decision::Sign(choice), None) => TenantSignature::Signed(choice.clone()),
            (Decision::Unsigned(reason), _) => TenantSignature::Unsigned(reason.clone()),
        };
        Ok(SignOutcome {
            message: message_out,
            tenant,
            dual_signature: dual_choice,
            operator_signed: operator.is_some(),
            resolution,
            warnings,
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One registry per region.
#[derive(Debug, Default)]
pub struct Regions {
    registries: BTreeMap<String, Arc<IdentityRegistry>>,
}

impl Regions {
    /// No regions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a region's registry.
    pub fn add(&mut self, config: RegistryConfig) -> Result<Arc<IdentityRegistry>, RegistryError> {
        if self.registries.contains_key(&config.region) {
            return Err(RegistryError::DuplicateRegion(config.region));
        }
        let region = config.region.clone();
        let reg = Arc::new(IdentityRegistry::new(config));
        self.registries.insert(region, reg.clone());
        Ok(reg)
    }

    /// The registry of a region.
    pub fn get(&self, region: &str) -> Option<&Arc<IdentityRegistry>> {
        self.registries.get(region)
    }

    /// All regions' registries, by region name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<IdentityRegistry>)> {
        self.registries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Refreshes every region (in region-name order), then copies parents' keys to their
    /// replicas ([`sync_replicas`](Self::sync_replicas)); the rotation events that copy
    /// makes are appended to the replica region's report and handed to its notifier.
    pub async fn refresh_all(&self, dns: &dyn DnsVerifier, now: u64) -> Vec<RefreshReport> {
        let mut out = Vec::new();
        for reg in self.registries.values() {
            out.push(reg.refresh(dns, now).await);
        }
        let synced = self.sync_replicas(now);
        for (report, reg) in out.iter_mut().zip(self.registries.values()) {
            let mine: Vec<Event> = synced
                .iter()
                .filter(|e| e.region == reg.config.region)
                .cloned()
                .collect();
            if !mine.is_empty() {
                report.events.extend(mine);
                reg.flush_notifications().await;
            }
        }
        out
    }
}
