//! [`FileRegistryStore`]: the file store as a [`RegistryStore`](crate::shared::RegistryStore)
//! for one node.

use super::*;

/// [`FileStore`] as a [`RegistryStore`](crate::registry::shared::RegistryStore) for a single node:
/// every commit checks the base versions against the state in memory, assigns versions,
/// and saves the whole snapshot atomically before it returns. The change feed and the
/// outbox live in memory (other [`SharedRegistry`](crate::registry::shared::SharedRegistry) values
/// of this process sharing the store see each other's changes); transitions are delivered
/// by the node's `refresh`, and one committed just before a crash is not redelivered after
/// it. Saves are blocking file I/O run on the calling task: fine for one node's rate of
/// changes.
pub struct FileRegistryStore {
    file: FileStore,
    inner: Mutex<FileInner>,
}

#[derive(Default)]
struct FileInner {
    loaded: bool,
    region: String,
    identities: std::collections::BTreeMap<String, crate::registry::snapshot::IdentitySnapshot>,
    last_version: u64,
    /// (version, name, identity or None for a deletion), in commit order.
    log: Vec<(
        u64,
        String,
        Option<crate::registry::snapshot::IdentitySnapshot>,
    )>,
    outbox: Vec<crate::registry::shared::StoredEvent>,
    next_event: u64,
}

impl std::fmt::Debug for FileRegistryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRegistryStore")
            .field("path", &self.file.path())
            .finish_non_exhaustive()
    }
}

impl FileRegistryStore {
    /// A store over the snapshot file at `path` (created by the first commit).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileRegistryStore {
            file: FileStore::new(path),
            inner: Mutex::new(FileInner::default()),
        }
    }

    fn unavailable(e: StoreError) -> SharedError {
        if e.is_corruption() {
            SharedError::corrupt("file store", e)
        } else {
            SharedError::unavailable(e)
        }
    }

    fn ensure_loaded(&self, inner: &mut FileInner, region: &str) -> Result<(), SharedError> {
        if inner.loaded {
            if inner.region != region {
                return Err(SharedError::corrupt_because(format!(
                    "this file store holds region {}, not {region}",
                    inner.region
                )));
            }
            return Ok(());
        }
        let snapshot = self.file.load().map_err(Self::unavailable)?;
        inner.region = region.to_string();
        if let Some(s) = snapshot {
            if s.region != region {
                return Err(SharedError::corrupt_because(format!(
                    "{} holds region {}, not {region}",
                    self.file.path().display(),
                    s.region
                )));
            }
            inner.last_version = s.last_version.unwrap_or(0);
            for i in s.identities {
                inner.last_version = inner.last_version.max(i.version);
                inner.identities.insert(i.name.clone(), i);
            }
        }
        inner.loaded = true;
        Ok(())
    }
}

fn to_identity(
    config: &crate::registry::RegistryConfig,
    s: &crate::registry::snapshot::IdentitySnapshot,
) -> Result<std::sync::Arc<crate::registry::Identity>, SharedError> {
    s.to_identity(config)
        .map(std::sync::Arc::new)
        .map_err(|e| SharedError::corrupt(format!("{}: not a valid identity", s.name), e))
}

#[async_trait::async_trait]
impl crate::registry::shared::RegistryStore for FileRegistryStore {
    async fn load(
        &self,
        config: &crate::registry::RegistryConfig,
    ) -> Result<crate::registry::shared::Loaded, SharedError> {
        let mut inner = crate::sync::lock(&self.inner);
        self.ensure_loaded(&mut inner, &config.region)?;
        Ok(crate::registry::shared::Loaded {
            identities: inner
                .identities
                .values()
                .map(|s| to_identity(config, s))
                .collect::<Result<_, _>>()?,
            cursor: inner.last_version,
        })
    }

    async fn commit(
        &self,
        config: &crate::registry::RegistryConfig,
        changes: &[crate::registry::shared::VersionedChange],
        events: &[crate::registry::status::Event],
    ) -> Result<crate::registry::shared::Committed, SharedError> {
        use crate::registry::Change;
        let mut inner = crate::sync::lock(&self.inner);
        self.ensure_loaded(&mut inner, &config.region)?;
        for c in changes {
            let name = c.name().to_string();
            if inner.identities.get(&name).map(|i| i.version) != c.base {
                return Err(SharedError::Conflict(c.name().clone()));
            }
        }
        let mut identities = inner.identities.clone();
        let mut version = inner.last_version;
        let mut versions = Vec::with_capacity(changes.len());
        let mut log = Vec::with_capacity(changes.len());
        for c in changes {
            version += 1;
            versions.push(version);
            match &c.change {
                Change::Upsert(i) => {
                    let mut snap = crate::registry::snapshot::IdentitySnapshot::from_identity(i)
                        .map_err(|e| {
                            SharedError::corrupt(format!("{}: cannot be written", i.name), e)
                        })?;
                    snap.version = version;
                    identities.insert(snap.name.clone(), snap.clone());
                    log.push((version, snap.name.clone(), Some(snap)));
                }
                Change::Delete(name) => {
                    identities.remove(&name.to_string());
                    log.push((version, name.to_string(), None));
                }
            }
        }
        let snapshot = Snapshot {
            format_version: SNAPSHOT_VERSION,
            region: config.region.clone(),
            identities: identities.values().cloned().collect(),
            last_version: Some(version),
        };
        self.file.save(&snapshot).map_err(Self::unavailable)?;
        inner.identities = identities;
        inner.last_version = version;
        inner.log.extend(log);
        for e in events {
            inner.next_event += 1;
            let id = inner.next_event;
            inner.outbox.push(crate::registry::shared::StoredEvent {
                id,
                event: e.clone(),
            });
        }
        Ok(crate::registry::shared::Committed { versions })
    }

    async fn changes_since(
        &self,
        config: &crate::registry::RegistryConfig,
        cursor: u64,
    ) -> Result<crate::registry::shared::ChangesSince, SharedError> {
        let mut inner = crate::sync::lock(&self.inner);
        self.ensure_loaded(&mut inner, &config.region)?;
        let mut changes = Vec::new();
        for (version, name, snap) in inner.log.iter().filter(|(v, _, _)| *v > cursor) {
            changes.push(match snap {
                Some(s) => crate::registry::shared::RemoteChange::Upsert(to_identity(config, s)?),
                None => crate::registry::shared::RemoteChange::Delete {
                    name: crate::registry::status::IdentityName::parse(name).map_err(|e| {
                        SharedError::corrupt(format!("deleted identity `{name}`: not a name"), e)
                    })?,
                    version: *version,
                },
            });
        }
        Ok(crate::registry::shared::ChangesSince {
            changes,
            cursor: inner.last_version.max(cursor),
        })
    }

    async fn wait_for_changes(&self, timeout: Duration) -> bool {
        futures_timer::Delay::new(timeout).await;
        false
    }

    async fn undelivered_events(
        &self,
        region: &str,
        limit: usize,
    ) -> Result<Vec<crate::registry::shared::StoredEvent>, SharedError> {
        let inner = crate::sync::lock(&self.inner);
        Ok(inner
            .outbox
            .iter()
            .filter(|e| e.event.region == region)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn mark_delivered(&self, ids: &[u64]) -> Result<(), SharedError> {
        let mut inner = crate::sync::lock(&self.inner);
        inner.outbox.retain(|e| !ids.contains(&e.id));
        Ok(())
    }
}
