//! `registry::shared::SharedRegistry` over the single-node `registry::store::FileRegistryStore`
//! (feature `serde`).
//!
//! What a node commits is in the file (a node opened later on a new store over the same file
//! reads the same identities, tokens and keys); versions come from the store and a stale
//! write is refused, caught up and redone; `refresh` commits each transition with its
//! identity and delivers it once from the outbox; a refused operation changes nothing; a
//! change made on `registry()` directly stays local; and signing goes on from the snapshot
//! while the store cannot be written.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use easydkim::shared::{
    RegistryStore, SharedError, SharedOptions, SharedRegistry, VersionedChange,
};
use easydkim::snapshot::IdentitySnapshot;
use easydkim::store::FileRegistryStore;
use easydkim::{
    Change, Check, Event, Identity, IdentityRegistry, KeySpec, Notifier, RegistryConfig,
    RegistryError, StaticDns, Status, TenantSignature, VerificationStatus, Verifier, VerifyOptions,
};

use crate::precedence::{message_from, name, H, REGION, T0, ZONE};
use crate::store::temp_dir;

use crate::support::{assert_same_events, block_on, publish};
use VerificationStatus::{Pending, Success};

const DOMAIN: &str = "example.com";
const OTHER: &str = "example.org";
const SENDER: &str = "alice@example.com";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Ed25519 keys (fast to generate) and the OS token source, so that two nodes never draw
/// the same token.
fn node_config() -> RegistryConfig {
    let mut c = RegistryConfig::new(REGION, ZONE).expect("config");
    c.key_spec = KeySpec::Ed25519;
    c
}

/// A node on `store`.
fn open(store: &Arc<FileRegistryStore>) -> SharedRegistry {
    block_on(SharedRegistry::open(
        node_config(),
        store.clone(),
        SharedOptions::default(),
    ))
    .expect("open node")
}

/// A new store over the file at `path` and a node on it (what a restarted process does).
fn open_at(path: &Path) -> (Arc<FileRegistryStore>, SharedRegistry) {
    let store = Arc::new(FileRegistryStore::new(path));
    let node = open(&store);
    (store, node)
}

fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join("eu-west-1.snapshot")
}

fn identity(node: &SharedRegistry, identity: &str) -> Arc<Identity> {
    node.registry()
        .get_str(identity)
        .unwrap_or_else(|e| panic!("{identity} in the node's snapshot: {e}"))
}

/// Every field of an identity (keys included), comparable.
fn fields(node: &SharedRegistry, id: &str) -> IdentitySnapshot {
    IdentitySnapshot::from_identity(&identity(node, id)).expect("identity snapshot")
}

fn statuses(node: &SharedRegistry, id: &str) -> (VerificationStatus, VerificationStatus) {
    let i = identity(node, id);
    (i.status(), i.dkim_status())
}

/// Publishes every record of `identity` (tenant and operator) in `dns`.
fn publish_all(dns: &StaticDns, node: &SharedRegistry, id: &str) {
    let i = identity(node, id);
    publish(dns, &node.registry().tenant_records(&i));
    publish(dns, &node.registry().operator_records(&i));
}

/// Asserts `message` carries signatures, all of which verify against `dns`.
fn assert_verifies(dns: &StaticDns, message: &[u8], context: &str) {
    let results = block_on(Verifier::new(VerifyOptions::default()).verify(dns, message))
        .unwrap_or_else(|e| panic!("{context}: verify: {e}"));
    assert!(
        !results.is_empty() && results.iter().all(|r| r.status == Status::Pass),
        "{context}: {results:?}"
    );
}

/// Signs a message from [`SENDER`] through the node (real clock) and checks the tenant
/// signature verifies against `dns`.
fn assert_signs(node: &SharedRegistry, dns: &StaticDns, context: &str) {
    let out = node.sign(&message_from(SENDER)).expect("sign");
    assert!(
        matches!(out.tenant, TenantSignature::Signed(_)),
        "{context}: {:?}",
        out.tenant
    );
    assert_verifies(dns, &out.message, context);
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn event(identity: &str, check: Check, at: u64) -> Event {
    Event::new(REGION, name(identity), check, Pending, Success, at)
}

/// A notifier that records every event it is handed.
#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl Collect {
    fn events(&self) -> Vec<Event> {
        self.0.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Notifier for Collect {
    async fn notify(&self, event: &Event) {
        self.0.lock().expect("lock").push(event.clone());
    }
}

fn undelivered(store: &FileRegistryStore) -> Vec<Event> {
    block_on(store.undelivered_events(REGION, 1000))
        .expect("undelivered events")
        .into_iter()
        .map(|e| e.event)
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. Committed state is in the file
// ---------------------------------------------------------------------------------------

#[test]
fn a_node_on_a_new_store_over_the_same_file_reads_the_same_identity_and_keys() {
    let dir = temp_dir("shared-reopen");
    let path = snapshot_path(&dir);
    let (_store_a, a) = open_at(&path);
    assert!(a.registry().snapshot().identities().is_empty());

    block_on(a.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    assert!(path.exists(), "the commit wrote the file");

    // A second process: a new store over the same file.
    let (_store_b, b) = open_at(&path);
    assert_eq!(
        fields(&b, DOMAIN),
        fields(&a, DOMAIN),
        "every field, keys too"
    );
    let (ia, ib) = (identity(&a, DOMAIN), identity(&b, DOMAIN));
    assert_eq!(
        a.registry().tenant_records(&ia),
        b.registry().tenant_records(&ib)
    );
    assert_eq!(
        a.registry().operator_records(&ia),
        b.registry().operator_records(&ib)
    );
    assert_eq!(a.registry().operator_records(&ia).len(), 3);
    assert_eq!(b.sync_status().cursor, ib.version());

    // Verified through A (B, on its own store, only ever reads the file when it opens: one
    // process per file).
    let dns = StaticDns::new();
    publish_all(&dns, &a, DOMAIN);
    let report = block_on(a.refresh(&dns, T0 + H))
        .expect("refresh")
        .expect("the only node leads");
    assert_eq!(report.events.len(), 2, "{:?}", report.events);
    assert_signs(&a, &dns, "node A");

    // A third process reads the verified state from the file. Ed25519 is
    // deterministic: the same key over the same message at the same time gives the same
    // bytes, so the keys really are the same.
    let (_store_c, c) = open_at(&path);
    assert_eq!(fields(&c, DOMAIN), fields(&a, DOMAIN));
    assert_eq!(statuses(&c, DOMAIN), (Success, Success));
    assert_signs(&c, &dns, "node C");
    let input = message_from(SENDER);
    let from_a = a.registry().sign_at(&input, T0 + 2 * H).expect("sign");
    let from_c = c.registry().sign_at(&input, T0 + 2 * H).expect("sign");
    assert!(from_a.message.len() > input.len());
    assert_eq!(from_a.message, from_c.message);
}

#[test]
fn a_node_refuses_a_file_of_another_region() {
    let dir = temp_dir("shared-region");
    let path = snapshot_path(&dir);
    let (_store, a) = open_at(&path);
    block_on(a.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");

    let other = RegistryConfig::new("us-east-1", ZONE).expect("config");
    let store = Arc::new(FileRegistryStore::new(&path));
    let err = block_on(SharedRegistry::open(other, store, SharedOptions::default()))
        .expect_err("region mismatch");
    assert!(matches!(err, SharedError::Corrupt { .. }), "{err:?}");
}

/// An operation's changes are committed as explicit change values, one per identity: two
/// updates of one identity are one write, and an identity created and deleted within one
/// operation is no write at all.
#[test]
fn an_operation_commits_one_change_per_identity_it_changed() {
    let dir = temp_dir("shared-journal");
    let path = snapshot_path(&dir);
    let (store, node) = open_at(&path);
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let before = identity(&node, DOMAIN).version();
    let feed = |cursor| {
        block_on(store.changes_since(&node_config(), cursor))
            .expect("feed")
            .changes
    };

    block_on(node.mutate(|r| {
        r.set_signing_enabled(DOMAIN, false)?;
        r.set_signing_enabled(DOMAIN, true)?;
        r.set_signing_enabled(DOMAIN, false)
    }))
    .expect("three updates");
    let changes = feed(before);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(!identity(&node, DOMAIN).signing_enabled());
    let after = identity(&node, DOMAIN).version();
    assert_eq!(changes[0].version(), after);

    block_on(node.mutate(|r| {
        r.create_domain(OTHER, T0)?;
        r.delete(OTHER)
    }))
    .expect("create and delete");
    assert!(feed(after).is_empty(), "nothing to write");
    assert!(node.registry().get_str(OTHER).is_err());
}

/// A store file that is not a snapshot is `Corrupt`, with the file store's typed error
/// kept as the source (not flattened into text).
#[test]
fn an_unreadable_store_file_keeps_the_store_error_as_its_source() {
    use std::error::Error as _;
    let dir = temp_dir("shared-garbage");
    let path = snapshot_path(&dir);
    std::fs::write(&path, b"this is not a snapshot at all, just text").expect("write");
    let store = Arc::new(FileRegistryStore::new(&path));
    let err = block_on(SharedRegistry::open(
        node_config(),
        store,
        SharedOptions::default(),
    ))
    .expect_err("garbage");
    assert!(matches!(err, SharedError::Corrupt { .. }), "{err:?}");
    let source = err.source().expect("a source");
    let cause = source
        .downcast_ref::<easydkim::ErrorCause>()
        .expect("an ErrorCause");
    let store_error = cause
        .downcast_ref::<easydkim::store::StoreError>()
        .expect("the file store's own error");
    assert!(store_error.is_corruption(), "{store_error:?}");
}

// ---------------------------------------------------------------------------------------
// 2. Versions and optimistic concurrency
// ---------------------------------------------------------------------------------------

#[test]
fn versions_are_assigned_by_the_store_and_increase() {
    let dir = temp_dir("shared-versions");
    let path = snapshot_path(&dir);
    let (_store, node) = open_at(&path);
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    block_on(node.mutate(|r| r.create_domain(OTHER, T0))).expect("create");
    let v_domain = identity(&node, DOMAIN).version();
    let v_other = identity(&node, OTHER).version();
    // A registry alone gives every new identity version 1; the store numbers them all.
    assert!(v_other > v_domain, "{v_domain} then {v_other}");

    block_on(node.mutate(|r| r.set_signing_enabled(DOMAIN, false))).expect("disable");
    let v_changed = identity(&node, DOMAIN).version();
    assert!(v_changed > v_other, "{v_other} then {v_changed}");
    block_on(node.mutate(|r| r.set_signing_enabled(DOMAIN, true))).expect("enable");
    assert!(identity(&node, DOMAIN).version() > v_changed);

    // The file holds the store's versions.
    let (_s, again) = open_at(&path);
    assert_eq!(fields(&again, DOMAIN), fields(&node, DOMAIN));
    assert_eq!(fields(&again, OTHER), fields(&node, OTHER));
    assert_eq!(
        again.sync_status().cursor,
        identity(&node, DOMAIN).version()
    );
}

#[test]
fn a_stale_write_is_refused_then_redone_on_the_fresh_state() {
    let dir = temp_dir("shared-conflict");
    let store = Arc::new(FileRegistryStore::new(snapshot_path(&dir)));
    let a = open(&store);
    block_on(a.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let b = open(&store);
    let v0 = identity(&b, DOMAIN).version();

    // A changes the identity; B has not synced.
    block_on(a.mutate(|r| r.set_signing_enabled(DOMAIN, false))).expect("A disables");
    let v1 = identity(&a, DOMAIN).version();
    assert!(v1 > v0);
    assert_eq!(identity(&b, DOMAIN).version(), v0);
    assert!(identity(&b, DOMAIN).signing_enabled());
    assert_eq!(b.sync_status().conflicts, 0);

    // B changes it too: its first write is stale, refused, and redone after catching up.
    let changes =
        block_on(b.mutate(|r| r.enable_dual_signing(DOMAIN, T0 + 1))).expect("B enables dual");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(b.sync_status().conflicts >= 1, "{:?}", b.sync_status());
    let in_b = identity(&b, DOMAIN);
    assert!(!in_b.signing_enabled(), "A's change survived");
    assert_eq!(
        b.registry().operator_records(&in_b).len(),
        4,
        "B's change (the dual key) is there"
    );
    assert!(in_b.version() > v1);

    // After syncing, both nodes agree, and so does the file.
    block_on(a.sync()).expect("sync A");
    block_on(b.sync()).expect("sync B");
    assert_eq!(identity(&a, DOMAIN).version(), in_b.version());
    assert_eq!(fields(&a, DOMAIN), fields(&b, DOMAIN));
    assert_eq!(a.sync_status().cursor, b.sync_status().cursor);
    assert_eq!(a.sync_status().conflicts, 0);
    let (_s, c) = open_at(&snapshot_path(&dir));
    assert_eq!(fields(&c, DOMAIN), fields(&a, DOMAIN));
}

#[test]
fn the_store_refuses_a_commit_on_a_stale_or_missing_base() {
    let dir = temp_dir("shared-commit");
    let path = snapshot_path(&dir);
    let (store, node) = open_at(&path);
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    block_on(node.mutate(|r| r.set_signing_enabled(DOMAIN, false))).expect("disable");
    let current = identity(&node, DOMAIN);
    let config = node_config();
    let before = file_bytes(&path);

    let upsert = |base| VersionedChange {
        change: Change::Upsert(current.clone()),
        base,
    };
    let conflict = |changes: &[VersionedChange], what: &str| {
        match block_on(store.commit(&config, changes, &[])) {
            Err(SharedError::Conflict(n)) => assert_eq!(n, name(DOMAIN), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(file_bytes(&path) == before, "{what}: the file changed");
    };
    conflict(&[upsert(Some(current.version() - 1))], "stale base");
    conflict(
        &[upsert(Some(current.version() + 1))],
        "base from the future",
    );
    conflict(&[upsert(None)], "no base for an existing identity");
    conflict(
        &[VersionedChange {
            change: Change::Delete(name(DOMAIN)),
            base: Some(current.version() - 1),
        }],
        "stale delete",
    );

    // All or nothing: a new identity next to a stale change is not created either.
    let scratch = IdentityRegistry::new(node_config());
    let new = scratch.create_domain(OTHER, T0).expect("create");
    conflict(
        &[
            VersionedChange {
                change: Change::Upsert(new.clone()),
                base: None,
            },
            upsert(Some(current.version() - 1)),
        ],
        "mixed commit",
    );
    let feed = block_on(store.changes_since(&config, current.version())).expect("feed");
    assert!(feed.changes.is_empty(), "{:?}", feed.changes);

    // With the right base the write goes through, with a version of the store's choosing.
    let provisional = (*current).clone().with_version(1000);
    let committed = block_on(store.commit(
        &config,
        &[VersionedChange {
            change: Change::Upsert(Arc::new(provisional)),
            base: Some(current.version()),
        }],
        &[],
    ))
    .expect("commit");
    assert_eq!(committed.versions, vec![current.version() + 1]);
    assert!(file_bytes(&path) != before);
    let (_s, again) = open_at(&path);
    assert_eq!(identity(&again, DOMAIN).version(), current.version() + 1);
}

// ---------------------------------------------------------------------------------------
// 3. Refresh through the node: transitions committed and delivered once
// ---------------------------------------------------------------------------------------

#[test]
fn refresh_commits_each_transition_once_and_delivers_it_once() {
    let dir = temp_dir("shared-refresh");
    let path = snapshot_path(&dir);
    let (store, node) = open_at(&path);
    let collect = Arc::new(Collect::default());
    node.registry().set_notifier(Some(collect.clone()));
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let dns = StaticDns::new();
    publish_all(&dns, &node, DOMAIN);

    let report = block_on(node.refresh(&dns, T0 + H))
        .expect("refresh")
        .expect("the only node leads");
    let expected = [
        event(DOMAIN, Check::Identity, T0 + H),
        event(DOMAIN, Check::Dkim, T0 + H),
    ];
    assert_eq!(report.checked, 1);
    assert_same_events(&report.events, &expected, "first refresh");
    assert_eq!(statuses(&node, DOMAIN), (Success, Success));
    assert_same_events(&collect.events(), &expected, "notified");
    assert!(undelivered(&store).is_empty(), "{:?}", undelivered(&store));

    // Committed: a new store over the file reads Success.
    let (_s, again) = open_at(&path);
    assert_eq!(statuses(&again, DOMAIN), (Success, Success));

    // Nothing new: no transitions reported, nothing delivered again.
    let report = block_on(node.refresh(&dns, T0 + 2 * H))
        .expect("refresh")
        .expect("leader");
    assert_eq!(report.events, vec![]);
    assert_same_events(&collect.events(), &expected, "not notified again");
    assert!(undelivered(&store).is_empty());
    assert_eq!(block_on(node.deliver_events()).expect("deliver"), 0);
    assert_same_events(&collect.events(), &expected, "not delivered again");
}

#[test]
fn transitions_wait_in_the_outbox_until_a_notifier_takes_them() {
    let dir = temp_dir("shared-outbox");
    let (store, node) = open_at(&snapshot_path(&dir));
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let (_, token) = block_on(node.mutate(|r| r.create_email(SENDER, T0))).expect("email");
    let dns = StaticDns::new();
    publish_all(&dns, &node, DOMAIN);

    // No notifier yet: the refresh's transitions stay in the outbox ...
    let report = block_on(node.refresh(&dns, T0 + H))
        .expect("refresh")
        .expect("leader");
    assert_eq!(report.events.len(), 2, "{:?}", report.events);
    assert_same_events(&undelivered(&store), &report.events, "outbox after refresh");

    // ... and so does a transition made by a synchronous operation committed with mutate.
    let confirmed =
        block_on(node.mutate(|r| r.confirm_email(SENDER, &token, T0 + H))).expect("confirm");
    assert_eq!(identity(&node, SENDER).status(), Success);
    let mut all = report.events.clone();
    all.push(confirmed);
    assert_same_events(&undelivered(&store), &all, "outbox after confirm");

    // A notifier gets each one once; the outbox is then empty.
    let collect = Arc::new(Collect::default());
    node.registry().set_notifier(Some(collect.clone()));
    assert_eq!(block_on(node.deliver_events()).expect("deliver"), 3);
    assert_same_events(&collect.events(), &all, "delivered");
    assert!(undelivered(&store).is_empty());
    assert_eq!(block_on(node.deliver_events()).expect("deliver"), 0);
    assert_eq!(collect.events().len(), 3);
}

// ---------------------------------------------------------------------------------------
// 4. A refused operation changes nothing
// ---------------------------------------------------------------------------------------

#[test]
fn a_refused_operation_is_a_typed_registry_error_and_changes_nothing() {
    let dir = temp_dir("shared-refused");
    let path = snapshot_path(&dir);
    let (store, node) = open_at(&path);
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let before_file = file_bytes(&path);
    let before = fields(&node, DOMAIN);
    let cursor = block_on(store.changes_since(&node_config(), 0))
        .expect("feed")
        .cursor;

    match block_on(node.mutate(|r| r.create_domain(DOMAIN, T0 + 1))) {
        Err(SharedError::Registry(RegistryError::IdentityExists(n))) => {
            assert_eq!(n, name(DOMAIN))
        }
        other => panic!("create twice: {other:?}"),
    }
    match block_on(node.mutate(|r| r.create_domain("not a domain!", T0))) {
        Err(SharedError::Registry(RegistryError::Name(_))) => {}
        other => panic!("invalid name: {other:?}"),
    }
    match block_on(node.mutate(|r| r.set_signing_enabled(OTHER, false))) {
        Err(SharedError::Registry(RegistryError::UnknownIdentity(n))) => {
            assert_eq!(n, name(OTHER))
        }
        other => panic!("unknown identity: {other:?}"),
    }
    // An operation that changed something before failing: the change is dropped too.
    match block_on(node.mutate(|r| {
        r.set_signing_enabled(DOMAIN, false)?;
        r.create_domain(OTHER, T0)?;
        r.create_domain(DOMAIN, T0)
    })) {
        Err(SharedError::Registry(RegistryError::IdentityExists(_))) => {}
        other => panic!("half-done operation: {other:?}"),
    }

    assert!(file_bytes(&path) == before_file, "the file changed");
    assert_eq!(fields(&node, DOMAIN), before, "the snapshot changed");
    assert!(node.registry().get_str(OTHER).is_err());
    assert_eq!(node.registry().snapshot().identities().len(), 1);
    let feed = block_on(store.changes_since(&node_config(), 0)).expect("feed");
    assert_eq!(feed.cursor, cursor, "nothing was committed");
    assert_eq!(node.sync_status().conflicts, 0);
    assert_eq!(node.sync_status().last_error, None);
}

// ---------------------------------------------------------------------------------------
// 5. Local changes, and signing with the store down
// ---------------------------------------------------------------------------------------

/// Documented behaviour: `registry()` is the node's snapshot; a change made on it directly
/// is not committed, so the file and every other node never see it.
#[test]
fn a_change_made_on_the_registry_directly_is_not_persisted() {
    let dir = temp_dir("shared-bypass");
    let path = snapshot_path(&dir);
    let store = Arc::new(FileRegistryStore::new(&path));
    let node = open(&store);
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let before_file = file_bytes(&path);

    node.registry()
        .set_signing_enabled(DOMAIN, false)
        .expect("local change");
    assert!(
        !identity(&node, DOMAIN).signing_enabled(),
        "visible locally"
    );

    assert!(file_bytes(&path) == before_file, "not in the file");
    let (_s, restarted) = open_at(&path);
    assert!(identity(&restarted, DOMAIN).signing_enabled());
    let peer = open(&store);
    assert!(
        identity(&peer, DOMAIN).signing_enabled(),
        "not in the store"
    );
    let feed = block_on(store.changes_since(&node_config(), 0)).expect("feed");
    assert_eq!(
        feed.changes.len(),
        1,
        "only the creation: {:?}",
        feed.changes
    );
}

/// The node docs say a change made on `registry()` directly "is overwritten by the next
/// sync". It is not when the local, uncommitted version number equals the version the
/// store gives another node's commit: the sync skips the committed change as "not newer",
/// the node keeps its divergent state, and its next `mutate` passes the store's version
/// check with that state, silently undoing the other node's committed change.
#[test]
fn a_committed_change_replaces_a_local_one_at_the_next_sync() {
    let dir = temp_dir("shared-bypass-sync");
    let store = Arc::new(FileRegistryStore::new(snapshot_path(&dir)));
    let a = open(&store);
    block_on(a.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let b = open(&store);

    // A bypasses the store (local version + 1); B commits a change (store version + 1).
    a.registry()
        .set_signing_enabled(DOMAIN, false)
        .expect("local change");
    block_on(b.mutate(|r| r.enable_dual_signing(DOMAIN, T0 + 1))).expect("B commits");
    let committed = fields(&b, DOMAIN);

    block_on(a.sync()).expect("sync");
    let after_sync = fields(&a, DOMAIN);

    // A's next committed change must keep B's ...
    block_on(a.mutate(|r| r.set_next_key_spec(DOMAIN, KeySpec::Rsa1024, T0 + 2)))
        .expect("A commits");
    block_on(b.sync()).expect("sync");
    let in_b = identity(&b, DOMAIN);
    assert_eq!(
        b.registry().operator_records(&in_b).len(),
        4,
        "B's committed change (the dual key) was undone by A's next commit"
    );
    assert!(
        in_b.signing_enabled(),
        "A's uncommitted local change was committed with A's next change"
    );
    // ... and the sync before it must have given A the committed state.
    assert_eq!(
        after_sync, committed,
        "after the sync, A holds the committed state"
    );
}

#[test]
fn signing_goes_on_from_the_snapshot_while_the_store_cannot_be_written() {
    let dir = temp_dir("shared-unavailable");
    let sub = dir.join("state");
    std::fs::create_dir_all(&sub).expect("create state dir");
    let path = snapshot_path(&sub);
    let (store, node) = open_at(&path);
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    let dns = StaticDns::new();
    publish_all(&dns, &node, DOMAIN);
    block_on(node.refresh(&dns, T0 + H))
        .expect("refresh")
        .expect("leader");
    assert_signs(&node, &dns, "store up");
    assert_eq!(node.sync_status().last_error, None);
    let before = fields(&node, DOMAIN);

    // The store's directory disappears: commits fail ...
    std::fs::remove_dir_all(&sub).expect("remove state dir");
    match block_on(node.mutate(|r| r.set_signing_enabled(DOMAIN, false))) {
        Err(err @ SharedError::Unavailable { .. }) => {
            // The file system's error is kept, typed, down the source chain.
            let mut source = std::error::Error::source(&err);
            let mut io = None;
            while let Some(e) = source {
                io = io.or(e.downcast_ref::<std::io::Error>());
                source = e.source();
            }
            let io = io.unwrap_or_else(|| panic!("no io::Error in the chain of {err:?}"));
            assert_eq!(io.kind(), std::io::ErrorKind::NotFound, "{io}");
        }
        other => panic!("commit with the directory gone: {other:?}"),
    }
    let status = node.sync_status();
    assert!(status.last_error.is_some(), "{status:?}");
    // ... the refused change is not in the snapshot, and the node keeps signing from it.
    assert_eq!(fields(&node, DOMAIN), before);
    assert_signs(&node, &dns, "store down");
    assert_eq!(
        block_on(store.changes_since(&node_config(), before.version))
            .expect("feed")
            .changes
            .len(),
        0,
        "nothing committed"
    );

    // Once the directory is back, the change goes through and the error clears.
    std::fs::create_dir_all(&sub).expect("recreate state dir");
    block_on(node.mutate(|r| r.set_signing_enabled(DOMAIN, false))).expect("commit");
    assert_eq!(node.sync_status().last_error, None);
    let (_s, again) = open_at(&path);
    assert!(!identity(&again, DOMAIN).signing_enabled());
    let out = node.sign(&message_from(SENDER)).expect("sign");
    assert!(matches!(out.tenant, TenantSignature::Unsigned(_)));
}

// ---------------------------------------------------------------------------------------
// Versions across a restart
// ---------------------------------------------------------------------------------------

/// The `RegistryStore` contract: versions are "strictly increasing across the whole store
/// (so an identity deleted and created again never reuses a version)". The file holds no
/// version counter: a new store over it starts from the highest live version, so after a
/// restart a version of a deleted identity is handed out again.
#[test]
fn versions_are_not_reused_after_a_restart() {
    let dir = temp_dir("shared-restart-versions");
    let path = snapshot_path(&dir);
    let (_store, node) = open_at(&path);
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    block_on(node.mutate(|r| r.create_domain(OTHER, T0))).expect("create");
    block_on(node.mutate(|r| r.delete(OTHER))).expect("delete");
    block_on(node.sync()).expect("sync");
    // Creation, creation, deletion: the deletion holds the highest version.
    let highest = node.sync_status().cursor;
    assert!(highest > identity(&node, DOMAIN).version(), "{highest}");

    let (_s, restarted) = open_at(&path);
    let cursor = restarted.sync_status().cursor;
    block_on(restarted.mutate(|r| r.create_domain(OTHER, T0 + H))).expect("create again");
    let v = identity(&restarted, OTHER).version();
    assert!(
        v > highest,
        "version {v} reused (highest before: {highest})"
    );
    assert!(
        cursor >= highest,
        "cursor went back from {highest} to {cursor}"
    );
}

/// The change feed as a stream: what was committed, in commit order (deletions included),
/// then what is committed while the stream is being read.
#[test]
fn the_change_stream_yields_every_commit_in_order() {
    use easydkim::shared::{change_stream, RemoteChange};
    use futures_util::StreamExt;

    let dir = temp_dir("shared-stream");
    let (store, node) = open_at(&snapshot_path(&dir));
    block_on(node.mutate(|r| r.create_domain(DOMAIN, T0))).expect("create");
    block_on(node.mutate(|r| r.create_domain(OTHER, T0))).expect("create");
    block_on(node.mutate(|r| r.delete(DOMAIN))).expect("delete");
    let store: Arc<dyn RegistryStore> = store;
    let mut stream = Box::pin(change_stream(
        store,
        node_config(),
        0,
        std::time::Duration::from_millis(20),
    ));
    let describe = |c: &RemoteChange| match c {
        RemoteChange::Upsert(i) => format!("upsert {} v{}", i.name(), i.version()),
        RemoteChange::Delete { name, version } => format!("delete {name} v{version}"),
    };
    let first: Vec<String> = block_on(async {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(describe(
                &stream.next().await.expect("item").expect("change"),
            ));
        }
        out
    });
    assert_eq!(
        first,
        vec![
            format!("upsert {DOMAIN} v1"),
            format!("upsert {OTHER} v2"),
            format!("delete {DOMAIN} v3"),
        ]
    );
    // A commit made after the stream caught up arrives too.
    block_on(node.mutate(|r| r.set_signing_enabled(OTHER, false))).expect("disable");
    let next = block_on(stream.next()).expect("item").expect("change");
    assert_eq!(describe(&next), format!("upsert {OTHER} v4"));
    let RemoteChange::Upsert(i) = next else {
        unreachable!()
    };
    assert!(!i.signing_enabled());
}
