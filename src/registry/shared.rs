//! Registry state shared by many nodes: the [`RegistryStore`] trait and [`SharedRegistry`].
//!
//! A [`SharedRegistry`] is one node: an [`IdentityRegistry`] (its in-memory snapshot, which
//! `sign` reads and nothing else) kept in step with a [`RegistryStore`]:
//!
//! - **Changes** (create, delete, settings, rotation, status transitions) are explicit
//!   [`Change`](crate::Change) values: an operation runs on a workspace over the node's
//!   snapshot, which records each change it applies; the node commits those changes to the
//!   store and, once committed, applies the same changes to its own registry. Commits use
//!   optimistic concurrency: each changed identity carries the version it was read at, and the store
//!   refuses the write if the identity has moved on since ([`SharedError::Conflict`]). The node
//!   then catches up from the store and redoes the operation on the fresh state, up to
//!   [`SharedOptions::max_attempts`] times. Only committed changes reach the node's snapshot,
//!   so a refused or failed write is never visible.
//! - **Versions** are assigned by the store, strictly increasing across the whole store (so
//!   an identity deleted and created again never reuses a version), and double as the
//!   cursor of the change feed: [`RegistryStore::changes_since`] returns everything committed
//!   after a cursor, deletions included.
//! - **Refresh** runs on one node at a time: [`SharedRegistry::refresh`] returns `None` on a
//!   node that is not the leader ([`RegistryStore::try_lead`]). The leader commits each
//!   identity's outcome in its own transaction together with its transitions (an outbox), so
//!   a transition is recorded exactly once even if the leader dies mid-refresh: what it
//!   committed stays, what it did not is redone by the next leader, and a stale leader's
//!   late write is refused by the version check.
//! - **Notifications** are delivered from the outbox by the leader
//!   ([`SharedRegistry::deliver_events`]) and marked delivered; a node dying between
//!   delivering and marking means that one event is delivered again (at least once).
//! - **Signing stays local**: `sign` never waits for the store. If the store is slow or
//!   down, the node keeps its last snapshot and [`SharedRegistry::sync_status`] reports how
//!   stale it is.
//!
//! Implementations: `store::FileRegistryStore` (feature `serde`, one node) and
//! `postgres::PgStore` (feature `postgres`, many nodes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::status::{Event, IdentityName};
use super::{
    Change, Identity, IdentityRegistry, RefreshReport, RegistryConfig, RegistryError, RotationStep,
    SignOutcome, State,
};
use crate::dns::DnsVerifier;
use crate::error::SignError;

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

/// Settings of a [`SharedRegistry`].
#[derive(Clone, Debug)]
pub struct SharedOptions {
    /// How many times an operation is redone after a conflict (default 16).
    pub max_attempts: usize,
    /// How often the follower polls the store when no notification arrives (default 5 s):
    /// the bound on propagation delay if a notification is lost.
    pub poll_interval: Duration,
    /// Pause after a failed sync before the follower tries again (default 1 s).
    pub retry_delay: Duration,
}

impl Default for SharedOptions {
    fn default() -> Self {
        SharedOptions {
            max_attempts: 16,
            poll_interval: Duration::from_secs(5),
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// How up to date a node is with its store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncStatus {
    /// The change-feed cursor the node's snapshot corresponds to.
    pub cursor: u64,
    /// When the node last read the store successfully.
    pub last_sync: Option<SystemTime>,
    /// The last error talking to the store, cleared by the next success.
    pub last_error: Option<String>,
    /// How many writes of this node were refused as stale and redone.
    pub conflicts: u64,
}

impl SyncStatus {
    /// How long since the last successful read of the store (None: never).
    pub fn staleness(&self, now: SystemTime) -> Option<Duration> {
        self.last_sync
            .map(|t| now.duration_since(t).unwrap_or(Duration::ZERO))
    }
}

/// One node of a registry whose state lives in a [`RegistryStore`]. See the
/// [module docs](self).
pub struct SharedRegistry {
    registry: Arc<IdentityRegistry>,
    store: Arc<dyn RegistryStore>,
    options: SharedOptions,
    status: Mutex<SyncStatus>,
    /// The store version of each identity as last read or committed (`false`: a deletion).
    /// Bases of commits come from here, never from the snapshot, so a change made on the
    /// registry directly cannot pass for the store's state.
    known: Mutex<HashMap<IdentityName, (u64, bool)>>,
    /// Serialises this node's applications of store data to its snapshot.
    apply_lock: futures_util::lock::Mutex<()>,
}

impl std::fmt::Debug for SharedRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRegistry")
            .field("registry", &self.registry)
            .field("status", &self.sync_status())
            .finish_non_exhaustive()
    }
}

/// The changes an operation applied, as the store commits them: the last change of each
/// identity (in the order the identities were first changed), each with its base version
/// as the store knows it (`known`). An identity that the store has never seen and that
/// the operation created and deleted again needs no write.
fn versioned(
    changes: Vec<Change>,
    known: &HashMap<IdentityName, (u64, bool)>,
) -> Vec<VersionedChange> {
    let base = |name: &IdentityName| known.get(name).filter(|(_, live)| *live).map(|(v, _)| *v);
    let mut order: Vec<IdentityName> = Vec::new();
    let mut last: HashMap<IdentityName, Change> = HashMap::new();
    for change in changes {
        let name = match &change {
            Change::Upsert(i) => i.name.clone(),
            Change::Delete(name) => name.clone(),
        };
        if last.insert(name.clone(), change).is_none() {
            order.push(name);
        }
    }
    order
        .into_iter()
        .filter_map(|name| {
            let change = last.remove(&name)?;
            let base = base(&name);
            (base.is_some() || matches!(change, Change::Upsert(_)))
                .then_some(VersionedChange { change, base })
        })
        .collect()
}

/// Whether a refresh changed nothing but the check times of `old` (nothing to commit).
fn only_check_times_changed(old: &Identity, new: &Identity) -> bool {
    fn quiet(i: &super::status::VerificationInfo) -> super::status::VerificationInfo {
        super::status::VerificationInfo {
            last_checked: None,
            last_success: None,
            ..i.clone()
        }
    }
    let dual = |i: &Identity| {
        i.dkim
            .as_ref()
            .and_then(|d| d.easy_state())
            .and_then(|s| s.dual.as_ref())
            .map(|d| quiet(&d.verification))
    };
    quiet(&old.verification) == quiet(&new.verification)
        && quiet(&old.dkim_verification) == quiet(&new.dkim_verification)
        && dual(old) == dual(new)
        && old.signing_enabled == new.signing_enabled
        && old.confirmation == new.confirmation
}

impl SharedRegistry {
    /// Opens a node: loads the whole state of `config.region` from the store.
    pub async fn open(
        config: RegistryConfig,
        store: Arc<dyn RegistryStore>,
        options: SharedOptions,
    ) -> Result<Self, SharedError> {
        let loaded = store.load(&config).await?;
        let mut state = State::default();
        for i in loaded.identities {
            state.apply(Change::Upsert(i));
        }
        let known = state
            .identities()
            .values()
            .map(|i| (i.name.clone(), (i.version, true)))
            .collect();
        let registry = Arc::new(IdentityRegistry::with_state(config, state));
        Ok(SharedRegistry {
            known: Mutex::new(known),
            registry,
            store,
            options,
            status: Mutex::new(SyncStatus {
                cursor: loaded.cursor,
                last_sync: Some(SystemTime::now()),
                ..SyncStatus::default()
            }),
            apply_lock: futures_util::lock::Mutex::new(()),
        })
    }

    /// The node's registry: its in-memory snapshot. Read from it freely; change the state
    /// through this node's methods ([`mutate`](Self::mutate) and friends), or the change
    /// stays local and is overwritten by the next sync.
    pub fn registry(&self) -> &Arc<IdentityRegistry> {
        &self.registry
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RegistryStore> {
        &self.store
    }

    /// Signs from the in-memory snapshot only ([`IdentityRegistry::sign`]); never waits for
    /// the store.
    pub fn sign(&self, message: &[u8]) -> Result<SignOutcome, SignError> {
        self.registry.sign(message)
    }

    /// How up to date this node is.
    pub fn sync_status(&self) -> SyncStatus {
        crate::sync::lock(&self.status).clone()
    }

    fn record_error(&self, e: &SharedError) {
        crate::sync::lock(&self.status).last_error = Some(e.to_string());
    }

    /// Applies store changes to the snapshot, each only if newer than what the node has.
    fn apply_remote(&self, changes: Vec<RemoteChange>, cursor: u64) -> usize {
        let mut applied = 0;
        let mut known = crate::sync::lock(&self.known);
        self.registry.apply_with(|state| {
            for c in changes {
                let (name, live) = match &c {
                    RemoteChange::Upsert(i) => (&i.name, true),
                    RemoteChange::Delete { name, .. } => (name, false),
                };
                // Newer than what this node last had from the store (a change made on the
                // registry directly does not count: it is replaced).
                let newer = known.get(name).is_none_or(|(v, _)| *v < c.version());
                if !newer {
                    continue;
                }
                known.insert(name.clone(), (c.version(), live));
                match c {
                    RemoteChange::Upsert(i) => state.apply(Change::Upsert(i)),
                    RemoteChange::Delete { name, .. } => state.apply(Change::Delete(name)),
                }
                applied += 1;
            }
        });
        drop(known);
        let mut st = crate::sync::lock(&self.status);
        st.cursor = st.cursor.max(cursor);
        st.last_sync = Some(SystemTime::now());
        st.last_error = None;
        applied
    }

    /// Reads the changes committed since this node's cursor and applies them; returns how
    /// many changed the snapshot. Errors are also recorded in [`sync_status`](Self::sync_status).
    pub async fn sync(&self) -> Result<usize, SharedError> {
        let _g = self.apply_lock.lock().await;
        let cursor = self.sync_status().cursor;
        match self
            .store
            .changes_since(self.registry.config(), cursor)
            .await
        {
            Ok(feed) => Ok(self.apply_remote(feed.changes, feed.cursor)),
            Err(e) => {
                self.record_error(&e);
                Err(e)
            }
        }
    }

    /// Follows the store for ever: waits for a notification (or
    /// [`poll_interval`](SharedOptions::poll_interval)), then [`sync`](Self::sync)s. Store
    /// errors are recorded and retried after [`retry_delay`](SharedOptions::retry_delay);
    /// signing meanwhile uses the last snapshot. Spawn it on your runtime.
    pub async fn follow(&self) {
        loop {
            match self.sync().await {
                Ok(_) => {
                    self.store
                        .wait_for_changes(self.options.poll_interval)
                        .await;
                }
                Err(_) => futures_timer::Delay::new(self.options.retry_delay).await,
            }
        }
    }

    /// Commits `changes` with `events`; on success applies the same changes to the node's
    /// registry with the versions the store assigned.
    async fn commit_changes(
        &self,
        changes: Vec<VersionedChange>,
        events: &[Event],
    ) -> Result<(), SharedError> {
        if changes.is_empty() && events.is_empty() {
            return Ok(());
        }
        let committed = self
            .store
            .commit(self.registry.config(), &changes, events)
            .await?;
        let remote = changes
            .into_iter()
            .zip(committed.versions)
            .map(|(c, version)| match c.change {
                Change::Upsert(i) => {
                    let mut i = (*i).clone();
                    i.version = version;
                    RemoteChange::Upsert(Arc::new(i))
                }
                Change::Delete(name) => RemoteChange::Delete { name, version },
            })
            .collect();
        let _g = self.apply_lock.lock().await;
        // The cursor is not advanced: changes of others committed before ours may not have
        // been read yet; the next sync reads them (and ours again, harmlessly).
        let cursor = self.sync_status().cursor;
        self.apply_remote(remote, cursor);
        Ok(())
    }

    /// A journaling registry over the node's current snapshot: an operation runs on it,
    /// and the changes it records are what the node commits, then applies to its own
    /// registry (nothing is computed by comparing snapshots).
    fn workspace(&self) -> IdentityRegistry {
        let base = self.registry.snapshot();
        IdentityRegistry::journaling(self.registry.config().clone(), (*base).clone())
    }

    fn known_versions(&self) -> HashMap<IdentityName, (u64, bool)> {
        crate::sync::lock(&self.known).clone()
    }

    fn conflict_seen(&self) {
        crate::sync::lock(&self.status).conflicts += 1;
    }

    /// Runs a synchronous registry operation as a committed change: `op` runs on a
    /// workspace over the node's snapshot, the changes it applied are committed to the
    /// store (then applied to the node), and on a conflict the node catches up and runs
    /// `op` again. Example:
    /// `node.mutate(|r| r.create_domain("example.com", now)).await`.
    pub async fn mutate<T: Send>(
        &self,
        op: impl Fn(&IdentityRegistry) -> Result<T, RegistryError> + Send + Sync,
    ) -> Result<T, SharedError> {
        self.mutate_async(|r| {
            let out = op(&r);
            async move { out }
        })
        .await
    }

    /// [`mutate`](Self::mutate) for asynchronous operations, e.g.
    /// `node.mutate_async(|r| async move { r.rotate("example.com", &dns, now).await })`.
    pub async fn mutate_async<T: Send, F>(
        &self,
        op: impl Fn(Arc<IdentityRegistry>) -> F + Send + Sync,
    ) -> Result<T, SharedError>
    where
        F: std::future::Future<Output = Result<T, RegistryError>> + Send,
    {
        let mut last = None;
        for _ in 0..self.options.max_attempts.max(1) {
            let scratch = Arc::new(self.workspace());
            let out = op(scratch.clone()).await?;
            let changes = versioned(scratch.take_journal(), &self.known_versions());
            let events = scratch.take_queued();
            match self.commit_changes(changes, &events).await {
                Ok(()) => return Ok(out),
                Err(SharedError::Conflict(name)) => {
                    self.conflict_seen();
                    last = Some(name);
                    self.sync().await?;
                }
                Err(e) => {
                    self.record_error(&e);
                    return Err(e);
                }
            }
        }
        Err(SharedError::TooManyConflicts {
            identity: last.expect("at least one attempt"),
            attempts: self.options.max_attempts.max(1),
        })
    }

    /// [`IdentityRegistry::rotate`] as a committed change.
    pub async fn rotate(
        &self,
        identity: &str,
        dns: &dyn DnsVerifier,
        now: u64,
    ) -> Result<RotationStep, SharedError> {
        self.mutate_async(|r| async move { r.rotate(identity, dns, now).await })
            .await
    }

    /// Runs [`IdentityRegistry::refresh`] if this node is the leader (else returns `None`
    /// without any DNS lookup). Each identity's outcome is committed in its own
    /// transaction with its transitions; an identity changed meanwhile by another node is
    /// left for the next refresh (its transitions are dropped, not reported). The report
    /// lists only committed transitions. The outbox is then delivered to the notifier
    /// ([`deliver_events`](Self::deliver_events)).
    pub async fn refresh(
        &self,
        dns: &dyn DnsVerifier,
        now: u64,
    ) -> Result<Option<RefreshReport>, SharedError> {
        if !self
            .store
            .try_lead(self.registry.region())
            .await
            .inspect_err(|e| self.record_error(e))?
        {
            return Ok(None);
        }
        self.sync().await?;
        let base = self.registry.snapshot();
        let scratch = self.workspace();
        let mut report = scratch.refresh(dns, now).await;
        let mut committed = Vec::new();
        let mut kept_events = Vec::new();
        let mut kept_rotations = Vec::new();
        for change in versioned(scratch.take_journal(), &self.known_versions()) {
            let name = change.name().clone();
            let rotated = report.rotations.iter().any(|(n, _)| *n == name);
            if let (Change::Upsert(new), Some(old)) = (&change.change, base.identities().get(&name))
            {
                if !rotated && only_check_times_changed(old, new) {
                    // Nothing worth a write: the check times stay as last committed.
                    continue;
                }
            }
            let events: Vec<Event> = report
                .events
                .iter()
                .filter(|e| e.identity == name)
                .cloned()
                .collect();
            match self.commit_changes(vec![change], &events).await {
                Ok(()) => {
                    committed.push(name.clone());
                    kept_events.extend(events);
                    kept_rotations
                        .extend(report.rotations.iter().filter(|(n, _)| *n == name).cloned());
                }
                Err(SharedError::Conflict(_)) => self.conflict_seen(),
                Err(e) => {
                    self.record_error(&e);
                    return Err(e);
                }
            }
        }
        report.events = kept_events;
        report.rotations = kept_rotations;
        self.deliver_events().await?;
        Ok(Some(report))
    }

    /// Hands undelivered transitions of this region to the registry's notifier, oldest
    /// first, marking each delivered after its notification. Call it on the leader (refresh
    /// does); returns how many were delivered.
    pub async fn deliver_events(&self) -> Result<usize, SharedError> {
        let Some(notifier) = self.registry.notifier() else {
            return Ok(0);
        };
        let mut delivered = 0;
        loop {
            let batch = self
                .store
                .undelivered_events(self.registry.region(), 256)
                .await?;
            if batch.is_empty() {
                return Ok(delivered);
            }
            for e in batch {
                notifier.notify(&e.event).await;
                self.store.mark_delivered(&[e.id]).await?;
                delivered += 1;
            }
        }
    }

    /// Gives up leadership (see [`RegistryStore::resign`]).
    pub async fn resign(&self) -> Result<(), SharedError> {
        self.store.resign(self.registry.region()).await
    }
}

/// The change feed of `store` as a stream: every change committed in `config.region` after
/// `cursor` (possibly coalesced per identity, see [`RegistryStore::changes_since`]), in
/// commit order, then each new one as it is committed (woken by the store's
/// notifications, or every `poll`). A failed read yields the error and the stream goes on
/// after `poll` from where it was. [`SharedRegistry::follow`] is this stream applied to the
/// node's snapshot; use it directly to mirror changes elsewhere (an audit log, a cache).
pub fn change_stream(
    store: Arc<dyn RegistryStore>,
    config: RegistryConfig,
    cursor: u64,
    poll: Duration,
) -> impl futures_util::Stream<Item = Result<RemoteChange, SharedError>> + Send {
    struct Feed {
        store: Arc<dyn RegistryStore>,
        config: RegistryConfig,
        cursor: u64,
        poll: Duration,
        pending: std::collections::VecDeque<RemoteChange>,
        read_once: bool,
    }
    let feed = Feed {
        store,
        config,
        cursor,
        poll,
        pending: Default::default(),
        read_once: false,
    };
    futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(c) = f.pending.pop_front() {
                return Some((Ok(c), f));
            }
            if f.read_once {
                f.store.wait_for_changes(f.poll).await;
            }
            f.read_once = true;
            match f.store.changes_since(&f.config, f.cursor).await {
                Ok(batch) => {
                    f.cursor = batch.cursor;
                    f.pending.extend(batch.changes);
                }
                Err(e) => return Some((Err(e), f)),
            }
        }
    })
}
