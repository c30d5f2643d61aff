//! What a rotation step does: key rotation, key length, dual signing, switching methods and
//! replication across regions (guide page [`crate::docs::rotation`]).

use std::sync::Arc;

use crate::dns::DnsVerifier;
use crate::key::{KeySpec, SigningKey};
use crate::names::{DomainName, Selector};

use super::checks::Observation;
use super::identity::{DkimSetup, DualKey, EasyKey, EasyState, Identity, KeyRole, RotationState};
use super::records::RecordChange;
use super::records::{key_record, operator_records_of};
use super::rules::{self, domainkey_name};
use super::status::{
    Check, Event, IdentityName, LastError, RotationPhase, VerificationInfo, VerificationStatus,
};
use super::{IdentityRegistry, Regions, RegistryConfig, RegistryError};

/// How often the next key spec may change (the first downgrade to RSA-1024 excepted).
pub const KEY_SPEC_CHANGE_INTERVAL: u64 = 24 * 3600;

/// What one rotation step did, with the operator-zone record changes that go with it: one
/// change per key record of the identity (the three keys, and the dual-signing key when
/// on), so applying them by name leaves the operator's zone exactly as the step needs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotationStep {
    /// Blocked: the next key's TXT is not visible through the tenant's CNAME, so signing
    /// did not switch. The rotation stays requested and resumes when the key appears.
    /// `changes` asks to publish the next key's record.
    Waiting {
        /// The next key's token.
        next: crate::registry::Token,
        /// The name looked up (`<next token>._domainkey.<domain>`).
        lookup: String,
        /// What the lookup found wrong.
        last_error: LastError,
        /// When the rotation was first asked for.
        since: u64,
        /// The record changes (publish the next key; keep the others).
        changes: Vec<RecordChange>,
    },
    /// Signing switched to the next key; the former active key is now previous and stays
    /// published. No record changes: every record is kept.
    Switched {
        /// The token that now signs.
        active: crate::registry::Token,
        /// The token that signed before.
        previous: crate::registry::Token,
        /// When the overlap ends and the freed token gets a fresh key.
        overlap_until: u64,
        /// The record changes (all kept).
        changes: Vec<RecordChange>,
    },
    /// In the overlap after a switch: nothing to do until `until`.
    InOverlap {
        /// When the overlap ends.
        until: u64,
        /// The record changes (all kept).
        changes: Vec<RecordChange>,
    },
    /// The overlap ended: the freed token has a fresh key, the new next key. The operator
    /// replaces that token's record; the next rotation waits until it is visible.
    NextKeyGenerated {
        /// The token with the fresh key.
        next: crate::registry::Token,
        /// The fresh key's spec.
        spec: KeySpec,
        /// The record changes (one replace; the others kept).
        changes: Vec<RecordChange>,
    },
}

impl RotationStep {
    /// The operator-zone record changes of the step.
    pub fn changes(&self) -> &[RecordChange] {
        match self {
            RotationStep::Waiting { changes, .. }
            | RotationStep::Switched { changes, .. }
            | RotationStep::InOverlap { changes, .. }
            | RotationStep::NextKeyGenerated { changes, .. } => changes,
        }
    }
}

/// Who asks for a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// [`IdentityRegistry::rotate`]: start a rotation if none is under way.
    Manual,
    /// `refresh`: start one only when due, advance started ones.
    Auto,
}

/// The work a step needs done before the critical section.
#[derive(Clone, Debug)]
pub(crate) enum Prep {
    /// Look the next key up through the tenant's CNAME.
    Lookup {
        token: crate::registry::Token,
        name: String,
        p: String,
    },
    /// Generate the fresh key for the freed token.
    Generate { spec: KeySpec },
    /// Nothing (in the overlap).
    Nothing,
}

/// The result of a [`Prep`].
#[derive(Clone, Debug)]
pub(crate) enum Prepared {
    Lookup {
        token: crate::registry::Token,
        name: String,
        p: String,
        seen: Observation,
    },
    Generated {
        spec: KeySpec,
        key: SigningKey,
    },
    Nothing,
}

/// The outcome of applying a step to the current identity.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, built once per step
pub(crate) enum Applied {
    /// The identity changed since the step was prepared: prepare again.
    Stale,
    /// Nothing to do (automatic trigger only).
    Nothing,
    /// The step; `next` is the new identity when the state changed.
    Done {
        next: Option<Identity>,
        step: RotationStep,
        event: Option<Event>,
    },
}

/// The Easy DKIM keys and state of an identity, or the error explaining why there are none.
pub(crate) fn easy_parts(identity: &Identity) -> Result<(&[EasyKey], &EasyState), RegistryError> {
    if identity.domain().is_none() {
        return Err(RegistryError::NotADomain(identity.name.clone()));
    }
    match &identity.dkim {
        Some(DkimSetup::Easy { keys, state }) => Ok((keys, state)),
        Some(DkimSetup::Byo { .. }) => Err(RegistryError::NotEasyDkim(identity.name.clone())),
        None => Err(RegistryError::NoDkimSetup(identity.name.clone())),
    }
}

fn easy_parts_mut(identity: &mut Identity) -> Option<(&mut Vec<EasyKey>, &mut EasyState)> {
    match &mut identity.dkim {
        Some(DkimSetup::Easy { keys, state }) => Some((keys, state)),
        _ => None,
    }
}

fn not_replica(identity: &Identity, state: &EasyState) -> Result<(), RegistryError> {
    match &state.replica_of {
        Some(parent_region) => Err(RegistryError::IsReplica {
            identity: identity.name.clone(),
            parent_region: parent_region.clone(),
        }),
        None => Ok(()),
    }
}

/// Whether the age policy starts a rotation now.
fn due(config: &RegistryConfig, identity: &Identity, state: &EasyState, now: u64) -> bool {
    identity.dkim_status() == VerificationStatus::Success
        && now
            >= state
                .active_since
                .saturating_add(config.rotation_age.as_secs())
}

fn overlap_until(config: &RegistryConfig, switched_at: u64) -> u64 {
    switched_at.saturating_add(config.rotation_overlap.as_secs())
}

fn next_lookup(identity: &Identity, keys: &[EasyKey], state: &EasyState) -> Option<Prep> {
    let domain = identity.domain()?;
    let k = &keys[state.slot_of(KeyRole::Next)?];
    Some(Prep::Lookup {
        token: k.token.clone(),
        name: domainkey_name(k.token.as_str(), domain),
        p: k.key.public_key().to_base64(),
    })
}

/// What the next step of `identity`'s rotation needs, if a step is to be taken. Errors
/// (manual trigger only) when the identity cannot rotate.
pub(crate) fn prepare(
    config: &RegistryConfig,
    identity: &Identity,
    trigger: Trigger,
    now: u64,
) -> Result<Option<Prep>, RegistryError> {
    let (keys, state) = match easy_parts(identity) {
        Ok(parts) => parts,
        Err(e) if trigger == Trigger::Manual => return Err(e),
        Err(_) => return Ok(None),
    };
    if trigger == Trigger::Manual {
        not_replica(identity, state)?;
    } else if !config.auto_rotate || state.replica_of.is_some() {
        return Ok(None);
    }
    Ok(match state.rotation {
        RotationState::Idle if trigger == Trigger::Auto && !due(config, identity, state, now) => {
            None
        }
        RotationState::Idle | RotationState::AwaitingNext { .. } => {
            next_lookup(identity, keys, state)
        }
        RotationState::Overlap { switched_at } => {
            if now >= overlap_until(config, switched_at) {
                Some(Prep::Generate {
                    spec: state.next_key_spec,
                })
            } else if trigger == Trigger::Manual {
                Some(Prep::Nothing)
            } else {
                None
            }
        }
    })
}

/// Does a step's I/O (the DNS lookup) or key generation, with no lock held.
pub(crate) async fn execute(dns: &dyn DnsVerifier, prep: Prep) -> Result<Prepared, RegistryError> {
    Ok(match prep {
        Prep::Lookup { token, name, p } => {
            let seen = match dns.txt(&name).await {
                Ok(values) if values.iter().any(|v| rules::record_has_key(v, &p)) => {
                    Observation::Found
                }
                Ok(_) => Observation::Missing(LastError::InvalidValue),
                Err(e) => Observation::from_dns(&e),
            };
            Prepared::Lookup {
                token,
                name,
                p,
                seen,
            }
        }
        Prep::Generate { spec } => Prepared::Generated {
            spec,
            key: SigningKey::generate(spec)?,
        },
        Prep::Nothing => Prepared::Nothing,
    })
}

/// The operator-zone changes from `before` to `after`, one per record of `after` (plus a
/// removal for each record of `before` that `after` no longer has); the record named
/// `publish` is asked to be published even when unchanged.
pub(crate) fn changes(
    before: Option<&DkimSetup>,
    after: Option<&DkimSetup>,
    publish: Option<&str>,
) -> Vec<RecordChange> {
    let old = before.map(operator_records_of).unwrap_or_default();
    let new = after.map(operator_records_of).unwrap_or_default();
    let mut out: Vec<RecordChange> = new
        .iter()
        .map(|r| {
            if publish == Some(r.name.as_str()) {
                return RecordChange::Publish(r.clone());
            }
            match old.iter().find(|o| rules::same_name(&o.name, &r.name)) {
                Some(o) if o == r => RecordChange::Keep(r.clone()),
                Some(o) => RecordChange::Replace {
                    old: o.clone(),
                    new: r.clone(),
                },
                None => RecordChange::Publish(r.clone()),
            }
        })
        .collect();
    out.extend(
        old.iter()
            .filter(|o| !new.iter().any(|r| rules::same_name(&o.name, &r.name)))
            .cloned()
            .map(RecordChange::Remove),
    );
    out
}

fn rotation_event(
    config: &RegistryConfig,
    identity: &Identity,
    phase: RotationPhase,
    last_error: Option<LastError>,
    now: u64,
) -> Event {
    Event {
        region: config.region.clone(),
        identity: identity.name.clone(),
        check: Check::Rotation(phase),
        from: identity.dkim_status(),
        to: identity.dkim_status(),
        at: now,
        last_error,
    }
}

/// Applies a prepared step to the current `identity` (pure: the caller holds the lock).
pub(crate) fn apply(
    config: &RegistryConfig,
    identity: &Identity,
    trigger: Trigger,
    prepared: Prepared,
    now: u64,
) -> Result<Applied, RegistryError> {
    let Ok((keys, state)) = easy_parts(identity) else {
        return Ok(Applied::Stale);
    };
    if trigger == Trigger::Auto && (!config.auto_rotate || state.replica_of.is_some()) {
        return Ok(Applied::Nothing);
    }
    let setup = identity.dkim.as_ref();
    match state.rotation {
        RotationState::Idle | RotationState::AwaitingNext { .. } => {
            if trigger == Trigger::Auto
                && state.rotation == RotationState::Idle
                && !due(config, identity, state, now)
            {
                return Ok(Applied::Nothing);
            }
            let Prepared::Lookup {
                token,
                name,
                p,
                seen,
            } = prepared
            else {
                return Ok(Applied::Stale);
            };
            let (Some(n), Some(a), Some(prev)) = (
                state.slot_of(KeyRole::Next),
                state.slot_of(KeyRole::Active),
                state.slot_of(KeyRole::Previous),
            ) else {
                return Ok(Applied::Stale);
            };
            if keys[n].token != token || keys[n].key.public_key().to_base64() != p {
                return Ok(Applied::Stale);
            }
            if seen == Observation::Found {
                // Switch: next -> active, active -> previous, previous -> freed.
                let mut next = identity.clone();
                // `identity` has the setup `state` came from; a clone cannot lack it.
                let Some((_, st)) = easy_parts_mut(&mut next) else {
                    return Ok(Applied::Stale);
                };
                st.slots[n].role = KeyRole::Active;
                st.slots[a].role = KeyRole::Previous;
                st.slots[prev].role = KeyRole::Freed;
                st.rotation = RotationState::Overlap { switched_at: now };
                st.active_since = now;
                let step = RotationStep::Switched {
                    active: keys[n].token.clone(),
                    previous: keys[a].token.clone(),
                    overlap_until: overlap_until(config, now),
                    changes: changes(setup, next.dkim.as_ref(), None),
                };
                let event = rotation_event(config, &next, RotationPhase::Switched, None, now);
                return Ok(Applied::Done {
                    next: Some(next),
                    step,
                    event: Some(event),
                });
            }
            let last_error = match seen {
                Observation::Missing(e) => e,
                _ => LastError::DnsServerError,
            };
            let publish = key_record(&state.signing_zone, &keys[n]).name;
            let step_changes = changes(setup, setup, Some(&publish));
            match state.rotation {
                RotationState::AwaitingNext { since } => Ok(Applied::Done {
                    next: None,
                    step: RotationStep::Waiting {
                        next: token,
                        lookup: name,
                        last_error,
                        since,
                        changes: step_changes,
                    },
                    event: None,
                }),
                _ => {
                    let mut next = identity.clone();
                    if let Some((_, st)) = easy_parts_mut(&mut next) {
                        st.rotation = RotationState::AwaitingNext { since: now };
                    }
                    let event = rotation_event(
                        config,
                        &next,
                        RotationPhase::AwaitingNext,
                        Some(last_error),
                        now,
                    );
                    Ok(Applied::Done {
                        next: Some(next),
                        step: RotationStep::Waiting {
                            next: token,
                            lookup: name,
                            last_error,
                            since: now,
                            changes: step_changes,
                        },
                        event: Some(event),
                    })
                }
            }
        }
        RotationState::Overlap { switched_at } => {
            let until = overlap_until(config, switched_at);
            if now < until {
                return Ok(match trigger {
                    Trigger::Auto => Applied::Nothing,
                    Trigger::Manual => Applied::Done {
                        next: None,
                        step: RotationStep::InOverlap {
                            until,
                            changes: changes(setup, setup, None),
                        },
                        event: None,
                    },
                });
            }
            let Prepared::Generated { spec, key } = prepared else {
                return Ok(Applied::Stale);
            };
            let Some(f) = state.slot_of(KeyRole::Freed) else {
                return Ok(Applied::Stale);
            };
            if spec != state.next_key_spec {
                return Ok(Applied::Stale);
            }
            let mut next = identity.clone();
            // `identity` has the setup `state` came from; a clone cannot lack it.
            let Some((ks, st)) = easy_parts_mut(&mut next) else {
                return Ok(Applied::Stale);
            };
            ks[f].key = key;
            st.slots[f].role = KeyRole::Next;
            st.slots[f].generated_at = now;
            st.rotation = RotationState::Idle;
            let step = RotationStep::NextKeyGenerated {
                next: keys[f].token.clone(),
                spec,
                changes: changes(setup, next.dkim.as_ref(), None),
            };
            let event = rotation_event(config, &next, RotationPhase::NextKeyGenerated, None, now);
            Ok(Applied::Done {
                next: Some(next),
                step,
                event: Some(event),
            })
        }
    }
}

impl IdentityRegistry {
    /// Moves the key rotation of an Easy DKIM domain one step (see the [module
    /// docs](crate::docs::rotation)): starts a rotation when none is under way, switches signing to the next
    /// key once its TXT is visible through the tenant's CNAME (else returns
    /// [`RotationStep::Waiting`] and leaves signing alone), reports the overlap, and after
    /// it gives the freed token a fresh key of the identity's next key spec. Repeating a
    /// call is harmless. The event of a step that changed the state is queued for the
    /// notifier ([`flush_notifications`](Self::flush_notifications)).
    ///
    /// Errors: unknown identity, not a domain, no DKIM setup or not Easy DKIM, a replica
    /// (rotate its parent), a key that cannot be generated.
    pub async fn rotate(
        &self,
        identity: &str,
        dns: &dyn DnsVerifier,
        now: u64,
    ) -> Result<RotationStep, RegistryError> {
        let name = IdentityName::parse(identity)?;
        for _ in 0..4 {
            let current = self
                .get(&name)
                .ok_or_else(|| RegistryError::UnknownIdentity(name.clone()))?;
            let prep =
                prepare(&self.config, &current, Trigger::Manual, now)?.unwrap_or(Prep::Nothing);
            let prepared = execute(dns, prep).await?;
            let applied = self.update_maybe(&name, |cur| {
                match apply(&self.config, cur, Trigger::Manual, prepared, now)? {
                    Applied::Done { next, step, event } => Ok((next, Some((step, event)))),
                    Applied::Stale | Applied::Nothing => Ok((None, None)),
                }
            })?;
            if let Some((step, event)) = applied {
                self.queue(event.into_iter().collect());
                return Ok(step);
            }
        }
        Err(RegistryError::ConcurrentChange(name))
    }

    /// Sets the spec of the next key generated for an Easy DKIM domain, with Amazon SES's
    /// rules for changing the key length:
    ///
    /// - setting the spec already configured is refused
    ///   ([`RegistryError::KeySpecUnchanged`]; SES answers "invalid input");
    /// - a change is allowed at most once per [24 hours](KEY_SPEC_CHANGE_INTERVAL)
    ///   ([`RegistryError::KeySpecChangeTooSoon`] with the time to retry), except that the
    ///   first downgrade to RSA-1024 within any 24-hour period is always allowed (it still
    ///   counts as a change for the next one). Since leaving 1024 again takes 24 hours, every
    ///   downgrade to 1024 is the first of its period: a downgrade to 1024 is never refused
    ///   as too soon.
    ///
    /// # Timeline
    ///
    /// Nothing changes in DNS or in signing at the call: the spec applies to the next key
    /// *generated*, and signing moves to it one rotation later. With the defaults
    /// ([`RegistryConfig::rotation_age`](super::RegistryConfig::rotation_age) 180 days,
    /// [`RegistryConfig::rotation_overlap`](super::RegistryConfig::rotation_overlap)
    /// 7 days) and a spec set at `t`:
    ///
    /// 1. the next rotation step that switches keys (when the active key reaches the
    ///    rotation age, or a manual [`rotate`](Self::rotate)) makes the current next key
    ///    active; it still has the *old* spec, generated before `t`;
    /// 2. the old active key stays published as previous for the 7-day overlap, so mail in
    ///    flight verifies;
    /// 3. at the end of that overlap the freed token gets a fresh key of the *new* spec
    ///    ([`RotationStep::NextKeyGenerated`] with `spec`; publish the returned record);
    /// 4. the rotation after that switches signing to it: the first mail signed with the
    ///    new spec is signed then.
    ///
    /// To sign with the new spec sooner, call `rotate` three times, publishing the
    /// returned changes each time: switch, then (after the overlap) generate, then switch
    /// once the new key's record is visible.
    pub fn set_next_key_spec(
        &self,
        identity: &str,
        spec: KeySpec,
        now: u64,
    ) -> Result<(), RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.update_maybe(&name, |cur| {
            let (_, state) = easy_parts(cur)?;
            not_replica(cur, state)?;
            key_spec_change_allowed(&cur.name, state, spec, now)?;
            let mut next = cur.clone();
            if let Some((_, st)) = easy_parts_mut(&mut next) {
                st.next_key_spec = spec;
                st.key_spec_changed_at = Some(now);
            }
            Ok((Some(next), ()))
        })
    }

    /// Turns on dual signing for an Easy DKIM domain: a new Ed25519 key on its own extra
    /// token. The tenant adds one CNAME (see [`tenant_records`](Self::tenant_records)), the
    /// operator publishes the returned record. The Ed25519 signature is added (next to the
    /// RSA one, over the same body pass) once that CNAME has been seen by `refresh`; from
    /// then on the DKIM check requires it too. Calling it again changes nothing.
    pub fn enable_dual_signing(
        &self,
        identity: &str,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        let token = self.random_token();
        let key = SigningKey::generate(KeySpec::Ed25519)?;
        self.update_maybe(&name, |cur| {
            let (_, state) = easy_parts(cur)?;
            not_replica(cur, state)?;
            if let Some(d) = &state.dual {
                return Ok((
                    None,
                    vec![RecordChange::Keep(key_record(&state.signing_zone, &d.key))],
                ));
            }
            let mut next = cur.clone();
            let mut out = Vec::new();
            if let Some((_, st)) = easy_parts_mut(&mut next) {
                let dual = DualKey {
                    key: EasyKey { token, key },
                    generated_at: now,
                    verification: VerificationInfo::new(VerificationStatus::Pending, now),
                };
                out.push(RecordChange::Publish(key_record(
                    &st.signing_zone,
                    &dual.key,
                )));
                st.dual = Some(dual);
            }
            Ok((Some(next), out))
        })
    }

    /// Turns dual signing off: the Ed25519 signature stops at once; the returned change
    /// removes its operator record (keep it a little while for mail in flight). The tenant
    /// may remove the extra CNAME.
    pub fn disable_dual_signing(
        &self,
        identity: &str,
        _now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.update_maybe(&name, |cur| {
            let (_, state) = easy_parts(cur)?;
            not_replica(cur, state)?;
            let Some(d) = &state.dual else {
                return Ok((None, Vec::new()));
            };
            let out = vec![RecordChange::Remove(key_record(
                &state.signing_zone,
                &d.key,
            ))];
            let mut next = cur.clone();
            if let Some((_, st)) = easy_parts_mut(&mut next) {
                st.dual = None;
            }
            Ok((Some(next), out))
        })
    }

    fn switch_method(
        &self,
        name: &IdentityName,
        setup: DkimSetup,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let region = self.config.region.clone();
        let (out, event) = self.update(name, |cur| {
            if cur.domain().is_none() {
                return Err(RegistryError::NotADomain(name.clone()));
            }
            let Some(before) = &cur.dkim else {
                return Err(RegistryError::NoDkimSetup(name.clone()));
            };
            if std::mem::discriminant(before) == std::mem::discriminant(&setup) {
                return Err(RegistryError::SameMethod(name.clone()));
            }
            // A replica's records are its parent's: they stay.
            let before = before
                .easy_state()
                .map_or(Some(before), |s| s.replica_of.is_none().then_some(before));
            let out = changes(before, Some(&setup), None);
            let mut next = cur.clone();
            next.dkim = Some(setup);
            next.dkim_verification = VerificationInfo::new(VerificationStatus::Pending, now);
            let event = (cur.dkim_status() != VerificationStatus::Pending).then(|| Event {
                region,
                identity: name.clone(),
                check: Check::Dkim,
                from: cur.dkim_status(),
                to: VerificationStatus::Pending,
                at: now,
                last_error: None,
            });
            Ok((next, (out, event)))
        })?;
        self.queue(event.into_iter().collect());
        Ok(out)
    }

    /// Switches an Easy DKIM domain to bring-your-own-key. The new setup is Pending until
    /// `refresh` sees the tenant's TXT at `<selector>._domainkey.<domain>`; **in that gap
    /// mail is unsigned** and [`resolve`](Self::resolve) reports
    /// `DkimNotVerified { status: Pending }`. Returns the operator records to remove (none
    /// for a replica, whose records are its parent's; keep them while mail signed with
    /// them may be in flight). The DKIM transition is queued as an event.
    pub fn switch_to_byo(
        &self,
        identity: &str,
        selector: Selector,
        key: SigningKey,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.switch_method(&name, DkimSetup::Byo { selector, key }, now)
    }

    /// Switches a bring-your-own-key domain to Easy DKIM with three new keys (of the
    /// configured spec). The tenant publishes the three CNAMEs of
    /// [`tenant_records`](Self::tenant_records), the operator the returned records. Pending
    /// until `refresh` sees the CNAMEs; **in that gap mail is unsigned** and
    /// [`resolve`](Self::resolve) reports `DkimNotVerified { status: Pending }`.
    pub fn switch_to_easy(
        &self,
        identity: &str,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        // Check cheaply before generating keys.
        let current = self
            .get(&name)
            .ok_or_else(|| RegistryError::UnknownIdentity(name.clone()))?;
        match &current.dkim {
            _ if current.domain().is_none() => return Err(RegistryError::NotADomain(name)),
            None => return Err(RegistryError::NoDkimSetup(name)),
            Some(DkimSetup::Easy { .. }) => return Err(RegistryError::SameMethod(name)),
            Some(DkimSetup::Byo { .. }) => {}
        }
        let setup = self.new_easy_setup(self.new_easy_keys()?, now);
        self.switch_method(&name, setup, now)
    }
}

// ---------------------------------------------------------------------------------------
// Replication
// ---------------------------------------------------------------------------------------

/// Whether two setups publish the same keys with the same roles and rotation state.
/// SES's key-length rules (see [`IdentityRegistry::set_next_key_spec`]).
fn key_spec_change_allowed(
    identity: &IdentityName,
    state: &EasyState,
    spec: KeySpec,
    now: u64,
) -> Result<(), RegistryError> {
    if spec == state.next_key_spec {
        return Err(RegistryError::KeySpecUnchanged {
            identity: identity.clone(),
            spec,
        });
    }
    // SES exempts the first downgrade to 1024 within a 24-hour period. A downgrade to 1024
    // is always the first of its period: after one, moving away from 1024 again is a
    // change that must wait 24 hours, so no second downgrade can follow within them.
    let exempt = spec == KeySpec::Rsa1024;
    match state.key_spec_changed_at {
        Some(at) if now < at.saturating_add(KEY_SPEC_CHANGE_INTERVAL) && !exempt => {
            Err(RegistryError::KeySpecChangeTooSoon {
                identity: identity.clone(),
                retry_at: at.saturating_add(KEY_SPEC_CHANGE_INTERVAL),
            })
        }
        _ => Ok(()),
    }
}

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

    /// Rotates an identity of `region` one step (see [`IdentityRegistry::rotate`]); for a
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
                    let same_tokens = keys.len() == pkeys.len()
                        && keys.iter().zip(pkeys).all(|(a, b)| a.token == b.token);
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
                        keys: pkeys.to_vec(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Token;

    fn setup(tags: [u8; 3]) -> DkimSetup {
        let keys = tags
            .iter()
            .map(|&b| EasyKey {
                token: Token::from_random(&[b; 20]),
                key: SigningKey::generate(KeySpec::Ed25519).expect("key"),
            })
            .collect();
        DkimSetup::easy(
            keys,
            DomainName::parse("dkim.example.net").expect("zone"),
            KeySpec::Ed25519,
            0,
        )
    }

    #[test]
    fn changes_name_every_record_once() {
        let before = setup([1, 2, 3]);
        assert!(changes(Some(&before), Some(&before), None)
            .iter()
            .all(|c| matches!(c, RecordChange::Keep(_))));
        let mut after = before.clone();
        if let DkimSetup::Easy { keys, .. } = &mut after {
            keys[2].key = SigningKey::generate(KeySpec::Ed25519).expect("key");
        }
        let c = changes(Some(&before), Some(&after), None);
        assert_eq!(c.len(), 3);
        assert!(matches!(&c[2], RecordChange::Replace { old, new } if old.name == new.name));
        let published = operator_records_of(&before)[0].name.clone();
        let c = changes(Some(&before), Some(&before), Some(&published));
        assert!(matches!(&c[0], RecordChange::Publish(r) if r.name == published));
        let other = setup([4, 5, 6]);
        let c = changes(Some(&before), Some(&other), None);
        let kinds: Vec<_> = c
            .iter()
            .map(|c| matches!(c, RecordChange::Publish(_)))
            .collect();
        assert_eq!(kinds, [true, true, true, false, false, false]);
        assert!(c[3..].iter().all(|c| matches!(c, RecordChange::Remove(_))));
    }

    #[test]
    fn roles_are_validated() {
        let DkimSetup::Easy { state, .. } = setup([1, 2, 3]) else {
            unreachable!()
        };
        assert_eq!(state.validate(), Ok(()));
        let mut bad = (*state).clone();
        bad.slots[1].role = KeyRole::Active;
        assert!(bad.validate().is_err());
        let mut overlap = (*state).clone();
        overlap.rotation = RotationState::Overlap { switched_at: 1 };
        assert!(overlap.validate().is_err(), "an overlap needs a freed key");
        overlap.slots[1].role = KeyRole::Freed;
        assert_eq!(overlap.validate(), Ok(()));
    }
}
