//! Replication across regions: a replica shares its parent's tokens, keys and records,
//! and follows the parent's rotation.

use super::identity::DkimSetup;
use super::identity::EasyKey;
use super::identity::EasyState;
use super::identity::Identity;
use super::records::key_record;
use super::rotation::easy_parts;
use super::rotation::rotation_event;
use super::rotation::RotationStep;
use super::status::Event;
use super::status::IdentityName;
use super::status::RotationPhase;
use super::status::VerificationInfo;
use super::status::VerificationStatus;
use super::Regions;
use super::RegistryError;
use crate::dns::DnsVerifier;
use crate::names::DomainName;
use std::sync::Arc;

fn same_easy(a: (&[EasyKey], &EasyState), b: (&[EasyKey], &EasyState)) -> bool {
    let zone_records = |(keys, state): (&[EasyKey], &EasyState)| {
        keys.iter()
            .chain(state.dual.as_ref().map(|d| &d.key))
            .map(|k| key_record(&state.signing_zone, k))
            .collect::<Vec<_>>()
    };
    let (sa, sb) = (a.1, b.1);
    zone_records(a) == zone_records(b)
        && sa.slots == sb.slots
        && sa.rotation == sb.rotation
        && sa.active_since == sb.active_since
        && sa.next_key_spec == sb.next_key_spec
        && sa.key_spec_changed_at == sb.key_spec_changed_at
}

impl Regions {
    /// Creates, in `to_region`, a replica of the Easy DKIM domain `domain` of `from_region`:
    /// it shares the parent's tokens, keys, verification token and signing zone, so the
    /// tenant records already published for the parent serve it too. Its statuses start
    /// Pending and follow DNS like any identity's. Its keys follow the parent's rotations
    /// (see [`sync_replicas`](Self::sync_replicas)).
    ///
    /// Refused with: [`RegistryError::SameRegion`], [`RegistryError::UnknownRegion`],
    /// [`RegistryError::UnknownIdentity`] (no parent), [`RegistryError::NoDkimSetup`],
    /// [`RegistryError::ParentUsesOwnKey`], [`RegistryError::ReplicaOfReplica`],
    /// [`RegistryError::IdentityExists`] (already in the target region).
    pub fn replicate(
        &self,
        domain: &str,
        from_region: &str,
        to_region: &str,
        now: u64,
    ) -> Result<Arc<Identity>, RegistryError> {
        let name = IdentityName::Domain(DomainName::parse(domain)?);
        if from_region == to_region {
            return Err(RegistryError::SameRegion {
                identity: name,
                region: from_region.to_string(),
            });
        }
        let from = self
            .get(from_region)
            .ok_or_else(|| RegistryError::UnknownRegion(from_region.to_string()))?;
        let to = self
            .get(to_region)
            .ok_or_else(|| RegistryError::UnknownRegion(to_region.to_string()))?;
        let parent = from
            .get(&name)
            .ok_or_else(|| RegistryError::UnknownIdentity(name.clone()))?;
        let mut setup = match &parent.dkim {
            None => return Err(RegistryError::NoDkimSetup(name)),
            Some(DkimSetup::Byo { .. }) => return Err(RegistryError::ParentUsesOwnKey(name)),
            Some(setup @ DkimSetup::Easy { state, .. }) => {
                if let Some(parent_region) = &state.replica_of {
                    return Err(RegistryError::ReplicaOfReplica {
                        identity: name,
                        parent_region: parent_region.clone(),
                    });
                }
                setup.clone()
            }
        };
        if let DkimSetup::Easy { state, .. } = &mut setup {
            state.replica_of = Some(from_region.to_string());
            if let Some(d) = state.dual.as_mut() {
                d.verification = VerificationInfo::new(VerificationStatus::Pending, now);
            }
        }
        to.insert_new(Identity {
            name,
            verification: VerificationInfo::new(VerificationStatus::Pending, now),
            verification_token: parent.verification_token.clone(),
            confirmation: None,
            dkim: Some(setup),
            dkim_verification: VerificationInfo::new(VerificationStatus::Pending, now),
            signing_enabled: true,
            created_at: now,
            version: 1,
        })
    }

    /// Rotates an identity of `region` one step (see [`IdentityRegistry::rotate`](crate::IdentityRegistry::rotate)); for a
    /// replica, its parent is rotated. Then copies the parent's keys to its replicas.
    pub async fn rotate(
        &self,
        region: &str,
        identity: &str,
        dns: &dyn DnsVerifier,
        now: u64,
    ) -> Result<RotationStep, RegistryError> {
        let reg = self
            .get(region)
            .ok_or_else(|| RegistryError::UnknownRegion(region.to_string()))?;
        let id = reg.get_str(identity)?;
        let owner = match id.replica_of() {
            Some(parent_region) => self
                .get(parent_region)
                .ok_or_else(|| RegistryError::UnknownRegion(parent_region.to_string()))?,
            None => reg,
        };
        let step = owner.rotate(identity, dns, now).await?;
        self.sync_replicas(now);
        Ok(step)
    }

    /// Copies each parent's Easy DKIM keys, roles and rotation state to its replicas (the
    /// replica keeps its own statuses and region). Returns the rotation events this made
    /// in the replicas' regions (a switch or a new next key), also queued for their
    /// notifiers. A replica whose parent is gone, or no longer Easy DKIM, keeps its keys.
    /// [`refresh_all`](Self::refresh_all) and [`rotate`](Self::rotate) call it.
    pub fn sync_replicas(&self, now: u64) -> Vec<Event> {
        let mut all = Vec::new();
        for reg in self.registries.values() {
            for replica in reg.list() {
                let Some(parent_region) = replica.replica_of() else {
                    continue;
                };
                let Some(parent) = self
                    .registries
                    .get(parent_region)
                    .and_then(|p| p.get(&replica.name))
                else {
                    continue;
                };
                let Ok((pkeys, pstate)) = easy_parts(&parent) else {
                    continue;
                };
                let synced = reg.update_maybe(&replica.name, |cur| {
                    let Ok((keys, state)) = easy_parts(cur) else {
                        return Ok((None, None));
                    };
                    let same_tokens = keys.iter().zip(pkeys).all(|(a, b)| a.token == b.token);
                    if state.replica_of.is_none()
                        || !same_tokens
                        || same_easy((keys, state), (pkeys, pstate))
                    {
                        return Ok((None, None));
                    }
                    let mut new_state = pstate.clone();
                    new_state.replica_of = state.replica_of.clone();
                    if let Some(d) = new_state.dual.as_mut() {
                        d.verification = match &state.dual {
                            Some(mine) if mine.key.token == d.key.token => {
                                mine.verification.clone()
                            }
                            _ => VerificationInfo::new(VerificationStatus::Pending, now),
                        };
                    }
                    let switched = keys[state.active()].token != pkeys[pstate.active()].token;
                    let rekeyed = keys
                        .iter()
                        .zip(pkeys)
                        .any(|(a, b)| a.key.dns_record() != b.key.dns_record());
                    let mut next = cur.clone();
                    next.dkim = Some(DkimSetup::Easy {
                        keys: pkeys.clone(),
                        state: Box::new(new_state),
                    });
                    let phase = if switched {
                        Some(RotationPhase::Switched)
                    } else if rekeyed {
                        Some(RotationPhase::NextKeyGenerated)
                    } else {
                        None
                    };
                    let event = phase.map(|p| rotation_event(&reg.config, &next, p, None, now));
                    Ok((Some(next), event))
                });
                if let Ok(Some(event)) = synced {
                    reg.queue(vec![event.clone()]);
                    all.push(event);
                }
            }
        }
        all
    }
}
