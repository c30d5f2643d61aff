//! What a rotation step does: the state machine of Easy DKIM key rotation (guide page
//! [`crate::docs::rotation`]). Key length, dual signing, switching methods and
//! replication, which build on it, have a file each.

use crate::dns::DnsVerifier;
use crate::key::{KeySpec, SigningKey};

use super::checks::Observation;
use super::identity::{DkimSetup, EasyKey, EasyState, Identity, KeyRole, RotationState};
use super::records::RecordChange;
use super::records::{key_record, operator_records_of};
use super::rules::{self, domainkey_name};
use tracing::Instrument;

use super::status::{Check, Event, IdentityName, LastError, RotationPhase, VerificationStatus};
use super::{IdentityRegistry, RegistryConfig, RegistryError};

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
pub(crate) fn easy_parts(
    identity: &Identity,
) -> Result<(&[EasyKey; 3], &EasyState), RegistryError> {
    if identity.domain().is_none() {
        return Err(RegistryError::NotADomain(identity.name.clone()));
    }
    match &identity.dkim {
        Some(DkimSetup::Easy { keys, state }) => Ok((keys, state)),
        Some(DkimSetup::Byo { .. }) => Err(RegistryError::NotEasyDkim(identity.name.clone())),
        None => Err(RegistryError::NoDkimSetup(identity.name.clone())),
    }
}

pub(crate) fn easy_parts_mut(
    identity: &mut Identity,
) -> Option<(&mut [EasyKey; 3], &mut EasyState)> {
    match &mut identity.dkim {
        Some(DkimSetup::Easy { keys, state }) => Some((keys, state)),
        _ => None,
    }
}

pub(crate) fn not_replica(identity: &Identity, state: &EasyState) -> Result<(), RegistryError> {
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
                Err(e) => Observation::from_dns(&e, &name, "TXT"),
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

pub(crate) fn rotation_event(
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
///
/// The guards (is it Easy DKIM, a replica, due, in the overlap) live in [`prepare`] alone:
/// `apply` asks it which step the identity wants *now*, and goes on only if `prepared` is
/// the answer to exactly that step; otherwise the identity changed since the step was
/// prepared ([`Applied::Stale`]) or wants none ([`Applied::Nothing`]).
pub(crate) fn apply(
    config: &RegistryConfig,
    identity: &Identity,
    trigger: Trigger,
    prepared: Prepared,
    now: u64,
) -> Result<Applied, RegistryError> {
    let wanted = match prepare(config, identity, trigger, now) {
        Ok(Some(prep)) => prep,
        Ok(None) => return Ok(Applied::Nothing),
        Err(_) => return Ok(Applied::Stale),
    };
    let Ok((keys, state)) = easy_parts(identity) else {
        return Ok(Applied::Stale);
    };
    Ok(match (wanted, prepared) {
        (
            Prep::Lookup { token, p, .. },
            Prepared::Lookup {
                token: seen_token,
                name,
                p: seen_p,
                seen,
            },
        ) if token == seen_token && p == seen_p => {
            switch_or_wait(config, identity, (keys, state), token, name, seen, now)
        }
        (Prep::Generate { spec }, Prepared::Generated { spec: made, key }) if spec == made => {
            next_key(config, identity, (keys, state), spec, key, now)
        }
        (Prep::Nothing, _) => in_overlap(config, identity, state),
        _ => Applied::Stale,
    })
}

/// Idle or AwaitingNext, the next key looked up: switch if it was seen, else wait.
fn switch_or_wait(
    config: &RegistryConfig,
    identity: &Identity,
    (keys, state): (&[EasyKey; 3], &EasyState),
    token: crate::registry::Token,
    lookup: String,
    seen: Observation,
    now: u64,
) -> Applied {
    let setup = identity.dkim.as_ref();
    let (Some(n), Some(a), Some(prev)) = (
        state.slot_of(KeyRole::Next),
        state.slot_of(KeyRole::Active),
        state.slot_of(KeyRole::Previous),
    ) else {
        return Applied::Stale;
    };
    if seen == Observation::Found {
        // Switch: next -> active, active -> previous, previous -> freed.
        let mut next = identity.clone();
        // `identity` has the setup `state` came from; a clone cannot lack it.
        let Some((_, st)) = easy_parts_mut(&mut next) else {
            return Applied::Stale;
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
        return Applied::Done {
            next: Some(next),
            step,
            event: Some(event),
        };
    }
    let last_error = match seen {
        Observation::Missing(e) => e,
        _ => LastError::DnsServerError,
    };
    let publish = key_record(&state.signing_zone, &keys[n]).name;
    let changes = changes(setup, setup, Some(&publish));
    if let RotationState::AwaitingNext { since } = state.rotation {
        return Applied::Done {
            next: None,
            step: RotationStep::Waiting {
                next: token,
                lookup,
                last_error,
                since,
                changes,
            },
            event: None,
        };
    }
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
    Applied::Done {
        next: Some(next),
        step: RotationStep::Waiting {
            next: token,
            lookup,
            last_error,
            since: now,
            changes,
        },
        event: Some(event),
    }
}

/// The overlap is over and the fresh key generated: it becomes the freed token's next key.
fn next_key(
    config: &RegistryConfig,
    identity: &Identity,
    (keys, state): (&[EasyKey; 3], &EasyState),
    spec: KeySpec,
    key: SigningKey,
    now: u64,
) -> Applied {
    let Some(f) = state.slot_of(KeyRole::Freed) else {
        return Applied::Stale;
    };
    let mut next = identity.clone();
    // `identity` has the setup `state` came from; a clone cannot lack it.
    let Some((ks, st)) = easy_parts_mut(&mut next) else {
        return Applied::Stale;
    };
    ks[f].key = key;
    st.slots[f].role = KeyRole::Next;
    st.slots[f].generated_at = now;
    st.rotation = RotationState::Idle;
    let step = RotationStep::NextKeyGenerated {
        next: keys[f].token.clone(),
        spec,
        changes: changes(identity.dkim.as_ref(), next.dkim.as_ref(), None),
    };
    let event = rotation_event(config, &next, RotationPhase::NextKeyGenerated, None, now);
    Applied::Done {
        next: Some(next),
        step,
        event: Some(event),
    }
}

/// A manual step during the overlap: nothing changes; report until when.
fn in_overlap(config: &RegistryConfig, identity: &Identity, state: &EasyState) -> Applied {
    let RotationState::Overlap { switched_at } = state.rotation else {
        return Applied::Stale;
    };
    let setup = identity.dkim.as_ref();
    Applied::Done {
        next: None,
        step: RotationStep::InOverlap {
            until: overlap_until(config, switched_at),
            changes: changes(setup, setup, None),
        },
        event: None,
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
        let span = tracing::info_span!(
            target: "easydkim::rotation",
            "rotation_step",
            trigger = "manual",
            identity = identity
        );
        self.rotate_inner(identity, dns, now)
            .instrument(span)
            .await
            .inspect_err(|e| {
                tracing::debug!(target: "easydkim::rotation", identity, error = %e, "rotation refused")
            })
    }

    async fn rotate_inner(
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::DomainName;
    use crate::registry::Token;

    fn setup(tags: [u8; 3]) -> DkimSetup {
        let keys = tags.map(|b| EasyKey {
            token: Token::from_random(&[b; 20]),
            key: SigningKey::generate(KeySpec::Ed25519).expect("key"),
        });
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
