//! [`PgStore`] as a [`RegistryStore`]: load, commit with optimistic concurrency and an
//! outbox, the change feed, leadership, event delivery.

use super::*;

/// What one change writes, prepared outside the transaction (sealing is CPU work).
struct Prepared {
    name: String,
    base: Option<u64>,
    /// None for a deletion.
    row: Option<PreparedRow>,
}

struct PreparedRow {
    kind: &'static str,
    status: String,
    dkim_status: String,
    signing_enabled: bool,
    sealed: Vec<u8>,
}

#[async_trait]
impl RegistryStore for PgStore {
    async fn load(&self, config: &RegistryConfig) -> Result<Loaded, SharedError> {
        let region = config.region.clone();
        let (rows, cursor) = self
            .with_client(move |c| {
                Box::pin(async move {
                    let tx = c
                        .build_transaction()
                        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()
                        .await
                        .map_err(unavailable)?;
                    let rows = tx
                        .query(
                            "SELECT name, version, deleted, key_id, sealed
                             FROM easydkim_identities WHERE region = $1 AND NOT deleted",
                            &[&region],
                        )
                        .await
                        .map_err(unavailable)?;
                    let cursor: i64 = tx
                        .query_one(
                            "SELECT coalesce(max(version), 0) FROM easydkim_identities
                             WHERE region = $1",
                            &[&region],
                        )
                        .await
                        .map_err(unavailable)?
                        .get(0);
                    tx.commit().await.map_err(unavailable)?;
                    Ok((rows, cursor as u64))
                })
            })
            .await?;
        let identities = self
            .rows_to_changes(config, rows)?
            .into_iter()
            .filter_map(|c| match c {
                RemoteChange::Upsert(i) => Some(i),
                RemoteChange::Delete { .. } => None,
            })
            .collect();
        Ok(Loaded { identities, cursor })
    }

    async fn commit(
        &self,
        config: &RegistryConfig,
        changes: &[VersionedChange],
        events: &[Event],
    ) -> Result<Committed, SharedError> {
        let region = config.region.clone();
        let prepared = changes
            .iter()
            .map(|c| {
                Ok(Prepared {
                    name: c.name().to_string(),
                    base: c.base,
                    row: match &c.change {
                        Change::Upsert(i) => Some(PreparedRow {
                            kind: kind(&i.name),
                            status: i.status().to_string(),
                            dkim_status: i.dkim_status().to_string(),
                            signing_enabled: i.signing_enabled,
                            sealed: self.seal(&region, i)?,
                        }),
                        Change::Delete(_) => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, SharedError>>()?;
        let names: Vec<IdentityName> = changes.iter().map(|c| c.name().clone()).collect();
        let events: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                serde_json::to_string(&EventRow::of(e))
                    .map(|j| (e.identity.to_string(), j))
                    .map_err(|e| SharedError::corrupt("event: cannot be written", e))
            })
            .collect::<Result<_, _>>()?;
        let key_id = self.options.key.id.clone();
        let versions = self
            .with_client(move |c| {
                Box::pin(async move {
                    let tx = c.transaction().await.map_err(unavailable)?;
                    tx.execute(
                        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                        &[&COMMIT_LOCK_CLASS, &region],
                    )
                    .await
                    .map_err(unavailable)?;
                    let mut versions = Vec::with_capacity(prepared.len());
                    for (p, name) in prepared.iter().zip(&names) {
                        let current = tx
                            .query_opt(
                                "SELECT version, deleted FROM easydkim_identities
                                 WHERE region = $1 AND name = $2 FOR UPDATE",
                                &[&region, &p.name],
                            )
                            .await
                            .map_err(unavailable)?
                            .and_then(|r| {
                                let deleted: bool = r.get(1);
                                (!deleted).then(|| r.get::<_, i64>(0) as u64)
                            });
                        if current != p.base {
                            // Dropping the transaction rolls it back.
                            return Err(SharedError::Conflict(name.clone()));
                        }
                        let version: i64 = tx
                            .query_one("SELECT nextval('easydkim_version_seq')", &[])
                            .await
                            .map_err(unavailable)?
                            .get(0);
                        match &p.row {
                            Some(row) => {
                                tx.execute(
                                    "INSERT INTO easydkim_identities
                                       (region, name, version, deleted, kind, status,
                                        dkim_status, signing_enabled, key_id, sealed, updated_at)
                                     VALUES ($1, $2, $3, false, $4, $5, $6, $7, $8, $9, now())
                                     ON CONFLICT (region, name) DO UPDATE SET
                                       version = $3, deleted = false, kind = $4, status = $5,
                                       dkim_status = $6, signing_enabled = $7, key_id = $8,
                                       sealed = $9, updated_at = now()",
                                    &[
                                        &region,
                                        &p.name,
                                        &version,
                                        &row.kind,
                                        &row.status,
                                        &row.dkim_status,
                                        &row.signing_enabled,
                                        &key_id,
                                        &row.sealed,
                                    ],
                                )
                                .await
                                .map_err(unavailable)?;
                            }
                            None => {
                                tx.execute(
                                    "UPDATE easydkim_identities SET version = $3, deleted = true,
                                       status = NULL, dkim_status = NULL, signing_enabled = NULL,
                                       key_id = NULL, sealed = NULL, updated_at = now()
                                     WHERE region = $1 AND name = $2",
                                    &[&region, &p.name, &version],
                                )
                                .await
                                .map_err(unavailable)?;
                            }
                        }
                        versions.push(version as u64);
                    }
                    for (identity, json) in &events {
                        let version = prepared
                            .iter()
                            .zip(&versions)
                            .find(|(p, _)| &p.name == identity)
                            .map(|(_, v)| *v as i64)
                            .unwrap_or(0);
                        tx.execute(
                            "INSERT INTO easydkim_events (region, identity, version, event)
                             VALUES ($1, $2, $3, $4)",
                            &[&region, identity, &version, json],
                        )
                        .await
                        .map_err(unavailable)?;
                    }
                    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &region])
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(versions)
                })
            })
            .await?;
        Ok(Committed { versions })
    }

    async fn changes_since(
        &self,
        config: &RegistryConfig,
        cursor: u64,
    ) -> Result<ChangesSince, SharedError> {
        let region = config.region.clone();
        let rows = self
            .with_client(move |c| {
                Box::pin(async move {
                    c.query(
                        "SELECT name, version, deleted, key_id, sealed
                         FROM easydkim_identities WHERE region = $1 AND version > $2
                         ORDER BY version",
                        &[&region, &(cursor as i64)],
                    )
                    .await
                    .map_err(unavailable)
                })
            })
            .await?;
        let next = rows
            .last()
            .map(|r| r.get::<_, i64>(1) as u64)
            .unwrap_or(cursor)
            .max(cursor);
        Ok(ChangesSince {
            changes: self.rows_to_changes(config, rows)?,
            cursor: next,
        })
    }

    async fn wait_for_changes(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.changed.notified())
            .await
            .is_ok()
    }

    async fn try_lead(&self, region: &str) -> Result<bool, SharedError> {
        let mut guard = self.leader.lock().await;
        if let Some((r, c)) = guard.as_ref() {
            if r == region {
                // Still leader while the session that holds the lock lives.
                let alive = tokio::time::timeout(
                    self.options.operation_timeout,
                    c.simple_query("SELECT 1"),
                )
                .await
                .map(|r| r.is_ok())
                .unwrap_or(false);
                if alive {
                    return Ok(true);
                }
                tracing::warn!(
                    target: "easydkim::shared",
                    region,
                    "leader lock session lost: this node no longer holds the refresher lock"
                );
            } else {
                tracing::info!(
                    target: "easydkim::shared",
                    region = %r,
                    "released the refresher advisory lock (leading another region)"
                );
            }
            *guard = None;
        }
        let attempt = async {
            let client = connect(&self.config).await?;
            // Server-side keepalives on the session that holds the lock, so that the server
            // ends the session of a leader that vanished without closing its connection
            // (and releases the lock) after about idle + 3 probes a second apart.
            let idle = self.options.keepalive_idle.as_secs().max(1);
            client
                .batch_execute(&format!(
                    "SET tcp_keepalives_idle = {idle}; SET tcp_keepalives_interval = 1; \
                     SET tcp_keepalives_count = 3"
                ))
                .await
                .map_err(unavailable)?;
            let got: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))",
                    &[&LEADER_LOCK_CLASS, &region],
                )
                .await
                .map_err(unavailable)?
                .get(0);
            Ok::<_, SharedError>(got.then_some(client))
        };
        match tokio::time::timeout(self.options.operation_timeout, attempt).await {
            Ok(Ok(Some(client))) => {
                *guard = Some((region.to_string(), client));
                tracing::info!(
                    target: "easydkim::shared",
                    region,
                    "acquired the refresher advisory lock"
                );
                Ok(true)
            }
            Ok(Ok(None)) => Ok(false),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SharedError::unavailable_because("leader lock: no answer")),
        }
    }

    async fn resign(&self, region: &str) -> Result<(), SharedError> {
        let mut guard = self.leader.lock().await;
        if matches!(&*guard, Some((r, _)) if r == region) {
            // Closing the session releases its advisory locks.
            *guard = None;
            tracing::info!(
                target: "easydkim::shared",
                region,
                "released the refresher advisory lock"
            );
        }
        Ok(())
    }

    async fn undelivered_events(
        &self,
        region: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SharedError> {
        let region = region.to_string();
        let rows = self
            .with_client(move |c| {
                Box::pin(async move {
                    c.query(
                        "SELECT id, event FROM easydkim_events
                         WHERE region = $1 AND delivered_at IS NULL ORDER BY id LIMIT $2",
                        &[&region, &(limit as i64)],
                    )
                    .await
                    .map_err(unavailable)
                })
            })
            .await?;
        rows_to_events(rows)
    }

    async fn mark_delivered(&self, ids: &[u64]) -> Result<(), SharedError> {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        self.with_client(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE easydkim_events SET delivered_at = now()
                     WHERE id = ANY($1) AND delivered_at IS NULL",
                    &[&ids],
                )
                .await
                .map(|_| ())
                .map_err(unavailable)
            })
        })
        .await
    }
}
