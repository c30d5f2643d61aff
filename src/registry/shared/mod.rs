//! Registry state shared by many nodes: the [`RegistryStore`] trait and [`SharedRegistry`].
//!
//! A [`SharedRegistry`] is one node: an [`IdentityRegistry`] (its in-memory snapshot, which
//! `sign` reads and nothing else) kept in step with a [`RegistryStore`]:
//!
//! - **Changes** (create, delete, settings, rotation, status transitions) are explicit
//!   [`Change`] values: an operation runs on a workspace over the node's
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

mod backoff;
mod contract;
mod stream;

pub use backoff::Backoff;

pub use contract::{
    ChangesSince, Committed, Loaded, RegistryStore, RemoteChange, SharedError, StoredEvent,
    VersionedChange,
};
pub use stream::change_stream;

/// Settings of a [`SharedRegistry`].
#[derive(Clone, Debug)]
pub struct SharedOptions {
    /// How many times an operation is redone after a conflict (default 16).
    pub max_attempts: usize,
    /// How often the follower polls the store when no notification arrives (default 5 s):
    /// the bound on propagation delay if a notification is lost.
    pub poll_interval: Duration,
    /// The base of the follower's retry schedule after a failed sync (default 1 s): the
    /// first retry waits up to this long, each further consecutive failure doubles the
    /// bound up to [`max_retry_delay`](Self::max_retry_delay) (see [`Backoff`]).
    pub retry_delay: Duration,
    /// The cap of the follower's retry delay (default 60 s).
    pub max_retry_delay: Duration,
}

impl Default for SharedOptions {
    fn default() -> Self {
        SharedOptions {
            max_attempts: 16,
            poll_interval: Duration::from_secs(5),
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(60),
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
    /// Whether this node led the last refresh (for the leader-change log).
    leading: std::sync::atomic::AtomicBool,
}

/// A failed store write: WARN for a conflict (redone on fresh state), ERROR otherwise
/// (target `easydkim::store`).
fn store_write_failed(region: &str, changes: &[VersionedChange], e: &SharedError) {
    let identity = changes.first().map(|c| c.name().to_string());
    let identity = identity.as_deref().unwrap_or("");
    if matches!(e, SharedError::Conflict(_)) {
        tracing::warn!(
            target: "easydkim::store",
            region,
            identity,
            changes = changes.len(),
            error = %e,
            "store write refused as stale"
        );
    } else {
        tracing::error!(
            target: "easydkim::store",
            region,
            identity,
            changes = changes.len(),
            error = %e,
            "store write failed"
        );
    }
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
            leading: std::sync::atomic::AtomicBool::new(false),
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
    /// errors are recorded in [`sync_status`](Self::sync_status), logged (WARN, target
    /// `easydkim::shared`, fields `error`, `failures`, `retry_in_ms`) and retried with
    /// exponential backoff and full jitter from the OS random source ([`Backoff`]:
    /// [`retry_delay`](SharedOptions::retry_delay) doubling up to
    /// [`max_retry_delay`](SharedOptions::max_retry_delay)), back to the base after a
    /// success (logged at INFO). Signing meanwhile uses the last snapshot. Spawn it on your
    /// runtime.
    pub async fn follow(&self) {
        let mut backoff = Backoff::new(self.options.retry_delay, self.options.max_retry_delay);
        loop {
            match self.sync().await {
                Ok(_) => {
                    if backoff.failures() > 0 {
                        tracing::info!(
                            target: "easydkim::shared",
                            region = self.registry.region(),
                            failures = backoff.failures(),
                            "store reachable again"
                        );
                    }
                    backoff.reset();
                    self.store
                        .wait_for_changes(self.options.poll_interval)
                        .await;
                }
                Err(e) => {
                    // Without the OS random source, the ceiling itself (no jitter).
                    let random = getrandom::u64().unwrap_or(u64::MAX);
                    let failures = backoff.failures() + 1;
                    let delay = backoff.next_delay(random);
                    tracing::warn!(
                        target: "easydkim::shared",
                        region = self.registry.region(),
                        error = %e,
                        failures,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "sync with the store failed"
                    );
                    futures_timer::Delay::new(delay).await;
                }
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
        let committed = match self
            .store
            .commit(self.registry.config(), &changes, events)
            .await
        {
            Ok(committed) => {
                tracing::debug!(
                    target: "easydkim::store",
                    region = self.registry.region(),
                    changes = changes.len(),
                    events = events.len(),
                    identity = changes.first().map(|c| c.name().to_string()).unwrap_or_default(),
                    "store write committed"
                );
                committed
            }
            Err(e) => {
                store_write_failed(self.registry.region(), &changes, &e);
                return Err(e);
            }
        };
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
        let leads = self
            .store
            .try_lead(self.registry.region())
            .await
            .inspect_err(|e| self.record_error(e))?;
        self.leader_seen(leads);
        if !leads {
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
        self.store.resign(self.registry.region()).await?;
        self.leader_seen(false);
        Ok(())
    }

    /// Logs a change of this node's leadership (INFO, target `easydkim::shared`, fields
    /// `region`, `leader`).
    fn leader_seen(&self, leads: bool) {
        use std::sync::atomic::Ordering;
        if self.leading.swap(leads, Ordering::Relaxed) != leads {
            tracing::info!(
                target: "easydkim::shared",
                region = self.registry.region(),
                leader = leads,
                "{}",
                if leads {
                    "this node is now the refresh leader"
                } else {
                    "this node is no longer the refresh leader"
                }
            );
        }
    }
}
