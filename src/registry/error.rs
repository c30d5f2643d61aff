//! [`RegistryError`]: what a registry operation can refuse, and why.

use super::status::IdentityName;
use super::status::VerificationStatus;
use crate::error::KeyError;
use crate::error::SignError;
use crate::key::KeySpec;
use crate::names::NameError;

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
    /// has marked it Failed yet). [`IdentityRegistry::restart`](crate::IdentityRegistry::restart) opens a new window for the
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
    /// valid message; see [`IdentityRegistry::send_test_email`](crate::IdentityRegistry::send_test_email)).
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
