//! A [`RegistryStore`] on PostgreSQL, for many nodes (feature `postgres`).
//!
//! [`PgStore`] keeps every region's identities in one table, one row per identity, with:
//!
//! - **one transaction per commit**: the rows are locked (`SELECT ... FOR UPDATE`), every
//!   change's base version is checked (a stale write is refused with
//!   [`SharedError::Conflict`]), versions are taken from one sequence, the transitions are
//!   written to the outbox table, and `pg_notify` wakes the other nodes, all in the same
//!   transaction, so nothing is half applied. Commits of a region are serialized by a
//!   transaction-scoped advisory lock, so versions are assigned in commit order and the
//!   change feed (`version > cursor`) never skips a commit;
//! - **deletions as tombstones** (the row stays with `deleted = true` and a new version), so
//!   every node learns of them through the feed;
//! - **private keys encrypted**: the identity (keys included) is serialized and sealed with
//!   ChaCha20-Poly1305 under an operator-supplied 256-bit [`EncryptionKey`], with a random
//!   nonce and the region and name as associated data (a row copied onto another identity
//!   does not decrypt). Only non-secret columns (kind, statuses, signing flag) are in clear,
//!   for operators' queries. Old keys can be kept for reading while new rows use the first;
//! - **`LISTEN`/`NOTIFY`** on a dedicated connection, re-established after any failure (a
//!   reconnect also wakes the follower, so it catches up on what it missed);
//! - **leadership** through a session-level advisory lock per region, held on its own
//!   connection: the leader runs `refresh`; if its process dies, PostgreSQL ends the
//!   session and another node's next [`try_lead`](RegistryStore::try_lead) succeeds. TCP
//!   keepalives on that connection bound how long a vanished (not closed) leader holds it.
//! - **migrations** applied when the store connects, under an advisory lock, recorded in
//!   `easydkim_migrations`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use easydkim::postgres::{EncryptionKey, PgOptions, PgStore};
//! use easydkim::shared::{SharedOptions, SharedRegistry};
//! use easydkim::RegistryConfig;
//!
//! let key = EncryptionKey::from_base64("k1", &std::env::var("EASYDKIM_STORE_KEY")?)?;
//! let store = PgStore::connect("host=127.0.0.1 user=easydkim dbname=easydkim",
//!                              PgOptions::new(key)).await?;
//! let config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! let node = Arc::new(SharedRegistry::open(config, Arc::new(store), SharedOptions::default()).await?);
//! let follower = node.clone();
//! tokio::spawn(async move { follower.follow().await });
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};
use zeroize::Zeroizing;

use super::shared::{
    ChangesSince, Committed, Loaded, RegistryStore, RemoteChange, SharedError, StoredEvent,
    VersionedChange,
};
use super::snapshot::IdentitySnapshot;
use super::status::{Check, Event, IdentityName, LastError, VerificationStatus};
use super::{Change, Identity, RegistryConfig};

/// The channel of change notifications.
pub const CHANNEL: &str = "easydkim_changes";

/// Advisory-lock class of the per-region commit lock (transaction scoped).
const COMMIT_LOCK_CLASS: i32 = 0x6564_6b01;
/// Advisory-lock class of the per-region leader lock (session scoped).
const LEADER_LOCK_CLASS: i32 = 0x6564_6b02;
/// Advisory-lock class of the migration lock.
const MIGRATION_LOCK_CLASS: i32 = 0x6564_6b03;

/// The schema, one migration per entry; applied in order, each once.
const MIGRATIONS: &[&str] = &[r#"
CREATE SEQUENCE IF NOT EXISTS easydkim_version_seq;
CREATE TABLE IF NOT EXISTS easydkim_identities (
    region          text        NOT NULL,
    name            text        NOT NULL,
    version         bigint      NOT NULL,
    deleted         boolean     NOT NULL DEFAULT false,
    kind            text,
    status          text,
    dkim_status     text,
    signing_enabled boolean,
    key_id          text,
    sealed          bytea,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, name)
);
CREATE INDEX IF NOT EXISTS easydkim_identities_feed ON easydkim_identities (region, version);
CREATE TABLE IF NOT EXISTS easydkim_events (
    id           bigserial   PRIMARY KEY,
    region       text        NOT NULL,
    identity     text        NOT NULL,
    version      bigint      NOT NULL,
    event        text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX IF NOT EXISTS easydkim_events_undelivered
    ON easydkim_events (region, id) WHERE delivered_at IS NULL;
"#];

mod seal;
mod store;

pub use seal::{EncryptionKey, EncryptionKeyError};

/// Settings of a [`PgStore`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// The key that seals new rows.
    pub key: EncryptionKey,
    /// Former keys, still accepted for reading rows sealed with them.
    pub old_keys: Vec<EncryptionKey>,
    /// Time limit of each store operation (default 5 s); past it the operation fails with
    /// [`SharedError::Unavailable`] and the node keeps its snapshot.
    pub operation_timeout: Duration,
    /// Connection timeout (default 3 s).
    pub connect_timeout: Duration,
    /// TCP keepalive idle time (default 5 s), on the client's connections and, server
    /// side, on the leader's session: the server ends the session of a leader that vanished
    /// without closing its connection (releasing the lock) after about this plus 3 s.
    pub keepalive_idle: Duration,
}

impl PgOptions {
    /// Defaults with the given sealing key.
    pub fn new(key: EncryptionKey) -> Self {
        PgOptions {
            key,
            old_keys: Vec::new(),
            operation_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            keepalive_idle: Duration::from_secs(5),
        }
    }
}

/// A transition as stored in the outbox (JSON).
#[derive(Serialize, Deserialize)]
struct EventRow {
    region: String,
    identity: String,
    check: Check,
    from: VerificationStatus,
    to: VerificationStatus,
    at: u64,
    last_error: Option<LastError>,
}

impl EventRow {
    fn of(e: &Event) -> Self {
        EventRow {
            region: e.region.clone(),
            identity: e.identity.to_string(),
            check: e.check,
            from: e.from,
            to: e.to,
            at: e.at,
            last_error: e.last_error,
        }
    }

    fn into_event(self) -> Result<Event, SharedError> {
        Ok(Event {
            region: self.region,
            identity: IdentityName::parse(&self.identity)
                .map_err(|e| SharedError::corrupt("outbox", e))?,
            check: self.check,
            from: self.from,
            to: self.to,
            at: self.at,
            last_error: self.last_error,
        })
    }
}

/// The PostgreSQL store (see the [module docs](self)).
pub struct PgStore {
    config: Config,
    options: PgOptions,
    client: Mutex<Option<Client>>,
    leader: Mutex<Option<(String, Client)>>,
    changed: Arc<Notify>,
    listener: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("key_id", &self.options.key.id)
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn unavailable(e: tokio_postgres::Error) -> SharedError {
    SharedError::unavailable(e)
}

async fn connect(config: &Config) -> Result<Client, SharedError> {
    let (client, connection) = config.connect(NoTls).await.map_err(unavailable)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The LISTEN connection: forwards notifications (and reconnections) to `changed`.
async fn listen_forever(config: Config, changed: Arc<Notify>) {
    loop {
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(Ok(m)) = messages.next().await {
                    if let AsyncMessage::Notification(_) = m {
                        if tx.send(()).is_err() {
                            break;
                        }
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_ok()
            {
                // Listening again: whatever happened meanwhile must be read.
                changed.notify_waiters();
                while rx.recv().await.is_some() {
                    changed.notify_waiters();
                }
            }
            driver.abort();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn kind(name: &IdentityName) -> &'static str {
    match name {
        IdentityName::Domain(_) => "domain",
        IdentityName::Email(_) => "email",
    }
}

impl PgStore {
    /// Connects (`params` is a libpq-style string or URL), applies the migrations, and
    /// starts listening for changes. Needs a tokio runtime.
    pub async fn connect(params: &str, options: PgOptions) -> Result<Self, SharedError> {
        let mut config: Config = params.parse().map_err(unavailable)?;
        config
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(options.keepalive_idle)
            .application_name("easydkim");
        let mut client = connect(&config).await?;
        migrate(&mut client).await?;
        let changed = Arc::new(Notify::new());
        let listener = tokio::spawn(listen_forever(config.clone(), changed.clone()));
        Ok(PgStore {
            config,
            options,
            client: Mutex::new(Some(client)),
            leader: Mutex::new(None),
            changed,
            listener,
        })
    }

    /// Runs `f` on the shared connection, reconnecting first if it was lost, within the
    /// operation timeout.
    async fn with_client<T, F>(&self, f: F) -> Result<T, SharedError>
    where
        F: for<'c> FnOnce(
            &'c mut Client,
        ) -> futures_util::future::BoxFuture<'c, Result<T, SharedError>>,
    {
        let work = async {
            let mut guard = self.client.lock().await;
            if guard.as_ref().is_none_or(|c| c.is_closed()) {
                *guard = None;
                *guard = Some(connect(&self.config).await?);
            }
            let client = guard.as_mut().expect("connected");
            let out = f(client).await;
            if client.is_closed() {
                *guard = None;
            }
            out
        };
        match tokio::time::timeout(self.options.operation_timeout, work).await {
            Ok(r) => r,
            Err(_) => {
                // A hung connection: drop it so the next operation reconnects.
                if let Ok(mut g) = self.client.try_lock() {
                    *g = None;
                }
                Err(SharedError::unavailable_because(format!(
                    "no answer within {:?}",
                    self.options.operation_timeout
                )))
            }
        }
    }

    fn seal(&self, region: &str, identity: &Identity) -> Result<Vec<u8>, SharedError> {
        let snap = IdentitySnapshot::from_identity(identity).map_err(|e| {
            SharedError::corrupt(format!("{}: cannot be written", identity.name), e)
        })?;
        let json =
            Zeroizing::new(serde_json::to_vec(&snap).map_err(|e| SharedError::corrupt("", e))?);
        self.options
            .key
            .seal(region, &identity.name.to_string(), &json)
    }

    fn open_row(
        &self,
        config: &RegistryConfig,
        name: &str,
        key_id: &str,
        sealed: &[u8],
        version: u64,
    ) -> Result<Arc<Identity>, SharedError> {
        let key = std::iter::once(&self.options.key)
            .chain(&self.options.old_keys)
            .find(|k| k.id == key_id)
            .ok_or_else(|| {
                SharedError::corrupt_because(format!(
                    "{name}: sealed with unknown key id `{key_id}`"
                ))
            })?;
        let plain = key.open(&config.region, name, sealed).ok_or_else(|| {
            SharedError::corrupt_because(format!("{name}: does not decrypt with key `{key_id}`"))
        })?;
        let snap: IdentitySnapshot = serde_json::from_slice(&plain)
            .map_err(|e| SharedError::corrupt(format!("{name}: not readable"), e))?;
        let mut identity = snap
            .to_identity(config)
            .map_err(|e| SharedError::corrupt(format!("{name}: not a valid identity"), e))?;
        identity.version = version;
        Ok(Arc::new(identity))
    }

    fn rows_to_changes(
        &self,
        config: &RegistryConfig,
        rows: Vec<tokio_postgres::Row>,
    ) -> Result<Vec<RemoteChange>, SharedError> {
        rows.into_iter()
            .map(|row| {
                let name: String = row.get(0);
                let version = row.get::<_, i64>(1) as u64;
                let deleted: bool = row.get(2);
                if deleted {
                    return Ok(RemoteChange::Delete {
                        name: IdentityName::parse(&name).map_err(|e| {
                            SharedError::corrupt(
                                format!("deleted identity `{name}`: not a name"),
                                e,
                            )
                        })?,
                        version,
                    });
                }
                let key_id: Option<String> = row.get(3);
                let sealed: Option<Vec<u8>> = row.get(4);
                match (key_id, sealed) {
                    (Some(k), Some(s)) => Ok(RemoteChange::Upsert(
                        self.open_row(config, &name, &k, &s, version)?,
                    )),
                    _ => Err(SharedError::corrupt_because(format!(
                        "{name}: row without data"
                    ))),
                }
            })
            .collect()
    }

    /// Every transition in the outbox of `region` (delivered or not), oldest first: the
    /// cluster's audit trail, each transition recorded once.
    pub async fn events(&self, region: &str) -> Result<Vec<StoredEvent>, SharedError> {
        let region = region.to_string();
        let rows = self
            .with_client(move |c| {
                Box::pin(async move {
                    c.query(
                        "SELECT id, event FROM easydkim_events WHERE region = $1 ORDER BY id",
                        &[&region],
                    )
                    .await
                    .map_err(unavailable)
                })
            })
            .await?;
        rows_to_events(rows)
    }

    /// Whether this store's node currently holds the leader lock of `region` (as of its
    /// last [`try_lead`](RegistryStore::try_lead)).
    pub async fn is_leader(&self, region: &str) -> bool {
        matches!(&*self.leader.lock().await, Some((r, c)) if r == region && !c.is_closed())
    }
}

fn rows_to_events(rows: Vec<tokio_postgres::Row>) -> Result<Vec<StoredEvent>, SharedError> {
    rows.into_iter()
        .map(|row| {
            let id = row.get::<_, i64>(0) as u64;
            let text: String = row.get(1);
            let event: EventRow = serde_json::from_str(&text)
                .map_err(|e| SharedError::corrupt(format!("outbox event {id}"), e))?;
            Ok(StoredEvent {
                id,
                event: event.into_event()?,
            })
        })
        .collect()
}

async fn migrate(client: &mut Client) -> Result<(), SharedError> {
    let tx = client.transaction().await.map_err(unavailable)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, 0)",
        &[&MIGRATION_LOCK_CLASS],
    )
    .await
    .map_err(unavailable)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS easydkim_migrations (
             version    integer     PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(unavailable)?;
    let applied: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM easydkim_migrations",
            &[],
        )
        .await
        .map_err(unavailable)?
        .get(0);
    if applied as usize > MIGRATIONS.len() {
        return Err(SharedError::corrupt_because(format!(
            "the database schema is at version {applied}, newer than this release's {}",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        tx.batch_execute(sql).await.map_err(unavailable)?;
        tx.execute(
            "INSERT INTO easydkim_migrations (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await
        .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)
}
