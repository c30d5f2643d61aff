//! One registry per region ([`Regions`]).

use super::status::Event;
use super::IdentityRegistry;
use super::RefreshReport;
use super::RegistryConfig;
use super::RegistryError;
use crate::dns::DnsVerifier;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One registry per region.
#[derive(Debug, Default)]
pub struct Regions {
    pub(crate) registries: BTreeMap<String, Arc<IdentityRegistry>>,
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
