//! What a store promises: the [`RegistryStore`] trait, the values it exchanges with a node,
//! and [`SharedError`].

use super::*;

/// One change to commit, with the version of the identity it was computed from.
#[derive(Clone, Debug)]
pub struct VersionedChange {
    /// The change (an upsert's identity carries a provisional version; the store assigns
    /// the real one).
    pub change: Change,
    /// The identity's version when it was read; `None` when it did not exist.
    pub base: Option<u64>,
}

impl VersionedChange {
    /// The identity this change is about.
    pub fn name(&self) -> &IdentityName {
        match &self.change {
            Change::Upsert(i) => &i.name,
            Change::Delete(n) => n,
        }
    }
}

/// A change committed by some node, as read back from the store.
#[derive(Clone, Debug)]
pub enum RemoteChange {
    /// The identity as committed, with its store-assigned version.
    Upsert(Arc<Identity>),
    /// The identity was deleted; `version` is the version of the deletion.
    Delete {
        /// The identity.
        name: IdentityName,
        /// The version assigned to the deletion.
        version: u64,
    },
}

impl RemoteChange {
    /// The store-assigned version of this change.
    pub fn version(&self) -> u64 {
        match self {
            RemoteChange::Upsert(i) => i.version,
            RemoteChange::Delete { version, .. } => *version,
        }
    }
}

/// The whole state as read from a store.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Every live identity, with its store-assigned version.
    pub identities: Vec<Arc<Identity>>,
    /// The change-feed cursor this state corresponds to.
    pub cursor: u64,
}

/// Changes read from the feed.
#[derive(Clone, Debug, Default)]
pub struct ChangesSince {
    /// The changes, in commit order.
    pub changes: Vec<RemoteChange>,
    /// The cursor to ask from next time.
    pub cursor: u64,
}

/// What a successful commit assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The version of each change, in the order given.
    pub versions: Vec<u64>,
}

/// A transition waiting in (or delivered from) the store's outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Unique, increasing id (notifiers may use it to drop a redelivery).
    pub id: u64,
    /// The transition.
    pub event: Event,
}

impl SharedError {
    /// [`SharedError::Unavailable`] with its cause kept as the source.
    #[cfg(feature = "serde")]
    pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SharedError::Unavailable {
            reason: e.to_string(),
            source: Some(Box::new(e)),
        }
    }

    /// [`SharedError::Corrupt`] with the decoder's error kept as the source.
    #[cfg(feature = "serde")]
    pub(crate) fn corrupt(
        detail: impl Into<String>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SharedError::Corrupt {
            detail: detail.into(),
            source: Some(crate::error::ErrorCause::new(e)),
        }
    }

    /// [`SharedError::Corrupt`] found by easydkim itself (no underlying error).
    #[cfg(feature = "serde")]
    pub(crate) fn corrupt_because(detail: impl Into<String>) -> Self {
        SharedError::Corrupt {
            detail: detail.into(),
            source: None,
        }
    }

    /// [`SharedError::Unavailable`] without an underlying error (a timeout).
    #[cfg(feature = "postgres")]
    pub(crate) fn unavailable_because(reason: impl Into<String>) -> Self {
        SharedError::Unavailable {
            reason: reason.into(),
            source: None,
        }
    }
}

/// Errors of a shared store and of a node using one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedError {
    /// The identity changed in the store since this node read it: the write was refused.
    #[error("{0} changed in the store since it was read; the stale write was refused")]
    Conflict(IdentityName),
    /// The store cannot be reached or refused the operation (the node keeps its snapshot).
    /// `source` is the driver's or the file system's error when there is one (e.g. a
    /// `tokio_postgres::Error`, to read its SQLSTATE), `None` for a timeout.
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// What failed, in words.
        reason: String,
        /// The underlying error, kept typed.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The store holds data this node cannot read (undecryptable, malformed, newer format).
    #[error("store data unreadable: {detail}")]
    Corrupt {
        /// What could not be read, naming the identity or event where one is at fault.
        detail: String,
        /// The decoder's error, if any.
        source: Option<crate::error::ErrorCause>,
    },
    /// The operation kept conflicting with changes from other nodes.
    #[error("{identity}: still conflicting after {attempts} attempts")]
    TooManyConflicts {
        /// The identity last in conflict.
        identity: IdentityName,
        /// How many attempts were made.
        attempts: usize,
    },
    /// The registry refused the operation itself.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Where a registry's state lives when it is shared, or simply persisted.
///
/// A store keeps every identity with a version it assigns itself, applies each commit
/// atomically (all its changes or none) only if every change's `base` still matches, and
/// offers a feed of committed changes. Versions increase across the whole store, so they
/// also serve as the feed's cursor.
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// The whole state of `config.region`, and the cursor it corresponds to.
    async fn load(&self, config: &RegistryConfig) -> Result<Loaded, SharedError>;

    /// Applies `changes` atomically with the transitions they carry (recorded in the outbox
    /// in the same transaction), or refuses with [`SharedError::Conflict`] if any identity's
    /// version is not its `base` (an identity that does not exist has no version).
    async fn commit(
        &self,
        config: &RegistryConfig,
        changes: &[VersionedChange],
        events: &[Event],
    ) -> Result<Committed, SharedError>;

    /// Everything committed in `config.region` after `cursor`, deletions included, in
    /// version order. A store may coalesce several changes of one identity into its latest
    /// (PostgreSQL keeps one row per identity): applying the feed in order always yields
    /// the committed state.
    async fn changes_since(
        &self,
        config: &RegistryConfig,
        cursor: u64,
    ) -> Result<ChangesSince, SharedError>;

    /// Waits until another node may have committed something, or `timeout` passes. Returns
    /// true when woken by a notification. Stores without notifications just sleep.
    async fn wait_for_changes(&self, timeout: Duration) -> bool;

    /// Becomes (or confirms being) the node that runs `refresh`; false if another node is.
    /// Single-node stores always return true.
    async fn try_lead(&self, region: &str) -> Result<bool, SharedError> {
        let _ = region;
        Ok(true)
    }

    /// Gives up leadership (a clean shutdown), so another node takes over at once.
    async fn resign(&self, region: &str) -> Result<(), SharedError> {
        let _ = region;
        Ok(())
    }

    /// Transitions of `region` not yet marked delivered, oldest first, at most `limit`.
    async fn undelivered_events(
        &self,
        region: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SharedError>;

    /// Marks transitions delivered.
    async fn mark_delivered(&self, ids: &[u64]) -> Result<(), SharedError>;
}
