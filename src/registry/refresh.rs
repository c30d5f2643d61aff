//! What moves a status: [`IdentityRegistry::refresh`] in three steps.
//!
//! 1. **Collect** ([`collect`]): the DNS lookups of every identity that needs them (and of
//!    any automatic rotation step that is due), on a snapshot, with no lock held, a bounded
//!    number at a time, each within the check budget.
//! 2. **Apply** ([`transition`]): a pure function from an identity and what its lookups
//!    saw to the identity after the check, its events and its rotation step. The results
//!    are applied in one critical section, each only if the identity has not changed since
//!    the snapshot, so every transition is applied and reported exactly once even when two
//!    `refresh` calls race.
//! 3. **Notify**: the events go to the notifier, after the lock is released.
//!
//! The status machine itself (when Pending fails, when Success degrades) is
//! [`checks::step`]; this file only sequences it.

use std::sync::Arc;

use futures_util::StreamExt;
use tracing::Instrument;

use crate::dns::DnsVerifier;

use super::checks::{self, CheckResult};
use super::identity::{DkimSetup, Identity};
use super::rotation::{self, Prepared, RotationStep};
use super::status::{Check, Event, VerificationInfo, VerificationStatus};
use super::{secs, Change, IdentityRegistry, RefreshReport, RegistryConfig, State};

/// What the collect step saw for one identity: its lookups and the rotation step's own
/// lookup, or `None` for an email identity whose confirmation is only timed.
type Seen = Option<(CheckResult, Option<Prepared>)>;

/// One identity after a check: the new identity, its events, its rotation step.
pub(crate) struct Transition {
    pub(crate) next: Identity,
    pub(crate) events: Vec<Event>,
    pub(crate) rotation: Option<RotationStep>,
}

impl IdentityRegistry {
    /// Checks every identity that needs it through `dns` and applies the transitions.
    /// Each transition is in the report of exactly one call and handed once to the
    /// notifier. With [`RegistryConfig::auto_rotate`] it also moves key rotations one step
    /// (see [`docs::rotation`](crate::docs::rotation)): starts one when the active key is older than
    /// [`RegistryConfig::rotation_age`], switches once the next key is visible, and gives
    /// the freed token a fresh key after the overlap; each step is an event with
    /// [`Check::Rotation`].
    ///
    /// Traced as an INFO span `refresh` (target `easydkim::refresh`, field `region`) with
    /// one INFO span `check` per identity checked (field `identity`), around its lookups and
    /// any rotation step; each transition is an INFO event (see the README, "Operating it").
    pub async fn refresh(&self, dns: &dyn DnsVerifier, now: u64) -> RefreshReport {
        let span = tracing::info_span!(target: "easydkim::refresh", "refresh", region = %self.config.region);
        self.refresh_inner(dns, now).instrument(span).await
    }

    async fn refresh_inner(&self, dns: &dyn DnsVerifier, now: u64) -> RefreshReport {
        let snapshot = self.snapshot();
        let results = collect(&self.config, dns, &snapshot, now).await;
        let report = self.apply_results(results, now);
        tracing::debug!(
            target: "easydkim::refresh",
            checked = report.checked,
            transitions = report.events.len(),
            rotations = report.rotations.len(),
            "refresh applied"
        );
        self.flush_notifications().await;
        if let Some(n) = self.notifier() {
            for e in &report.events {
                n.notify(e).await;
            }
        }
        report
    }

    /// Applies what `collect` saw, in one critical section, to the identities that have
    /// not changed since the snapshot it looked at.
    fn apply_results(&self, results: Vec<(Arc<Identity>, Seen)>, now: u64) -> RefreshReport {
        let mut report = RefreshReport {
            checked: results.iter().filter(|(_, r)| r.is_some()).count(),
            events: Vec::new(),
            rotations: Vec::new(),
        };
        self.apply_with(|state: &mut State| {
            for (seen, result) in results {
                let Some(current) = state.identities.get(&seen.name) else {
                    continue;
                };
                if current.version != seen.version {
                    continue;
                }
                let t = transition(&self.config, current, result, now);
                t.events.iter().for_each(super::observe::transition);
                report.events.extend(t.events);
                if let Some(step) = t.rotation {
                    report.rotations.push((t.next.name.clone(), step));
                }
                self.apply_change(state, Change::Upsert(Arc::new(t.next)));
            }
        });
        report
    }
}

/// Step 1: the lookups of every identity that needs them, with no lock held.
async fn collect(
    config: &RegistryConfig,
    dns: &dyn DnsVerifier,
    snapshot: &State,
    now: u64,
) -> Vec<(Arc<Identity>, Seen)> {
    let mut results = Vec::new();
    let mut to_check = Vec::new();
    for identity in snapshot.identities.values() {
        if checks::wants_dns(identity) {
            to_check.push(identity.clone());
        } else if identity.confirmation.is_some()
            && identity.verification.status == VerificationStatus::Pending
        {
            results.push((identity.clone(), None));
        }
    }
    let budget = config.check_budget;
    let checked: Vec<_> = futures_util::stream::iter(to_check.into_iter().map(|identity| {
        let span =
            tracing::info_span!(target: "easydkim::refresh", "check", identity = %identity.name);
        async move {
            let seen = lookups(config, dns, &identity, now);
            let seen = match futures_util::future::select(
                Box::pin(seen),
                futures_timer::Delay::new(budget),
            )
            .await
            {
                futures_util::future::Either::Left((r, _)) => r,
                futures_util::future::Either::Right(_) => {
                    tracing::warn!(
                        target: "easydkim::dns",
                        budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                        dns.class = "transient",
                        "check budget exceeded; counted as a transient DNS failure"
                    );
                    (CheckResult::transient(&identity), None)
                }
            };
            (identity, Some(seen))
        }
        .instrument(span)
    }))
    .buffer_unordered(config.refresh_concurrency.max(1))
    .collect()
    .await;
    results.extend(checked);
    results
}

/// One identity's lookups: its records, and the rotation step's own lookup (or key
/// generation) when an automatic step is due.
async fn lookups(
    config: &RegistryConfig,
    dns: &dyn DnsVerifier,
    identity: &Identity,
    now: u64,
) -> (CheckResult, Option<Prepared>) {
    let check = checks::check_identity(dns, config, identity);
    let rotation = async {
        match rotation::prepare(config, identity, rotation::Trigger::Auto, now) {
            Ok(Some(prep)) => {
                let span = tracing::info_span!(target: "easydkim::rotation", "rotation_step", trigger = "auto");
                match rotation::execute(dns, prep).instrument(span).await {
                    Ok(prepared) => Some(prepared),
                    Err(e) => {
                        tracing::warn!(
                            target: "easydkim::rotation",
                            error = %e,
                            "automatic rotation step failed"
                        );
                        None
                    }
                }
            }
            _ => None,
        }
    };
    futures_util::future::join(check, rotation).await
}

/// Step 2, pure: `current` after a check that saw `seen` at `now`.
pub(crate) fn transition(
    config: &RegistryConfig,
    current: &Identity,
    seen: Seen,
    now: u64,
) -> Transition {
    let window = secs(config.detection_window);
    let grace = secs(config.grace_period);
    let step = |info: &VerificationInfo, obs| checks::step(info, obs, now, window, grace);
    let event = |check, from, to, last_error| Event {
        region: config.region.clone(),
        identity: current.name.clone(),
        check,
        from,
        to,
        at: now,
        last_error,
    };
    let mut next = current.clone();
    let mut events = Vec::new();
    let mut prepared_rotation = None;
    match seen {
        Some((r, prepared)) => {
            prepared_rotation = prepared;
            if let Some(obs) = r.identity {
                next.verification = step(&current.verification, obs);
            }
            if let Some(obs) = r.dkim {
                next.dkim_verification = step(&current.dkim_verification, obs);
            }
            if let (Some(obs), Some(DkimSetup::Easy { state, .. })) = (r.dual, next.dkim.as_mut()) {
                if let Some(dual) = state.dual.as_mut() {
                    let before = dual.verification.status;
                    dual.verification = step(&dual.verification, obs);
                    if before != dual.verification.status {
                        events.push(event(
                            Check::DualSigning,
                            before,
                            dual.verification.status,
                            dual.verification.last_error,
                        ));
                    }
                }
            }
        }
        None => {
            // Email confirmation: Failed once the token has expired.
            if let Some((_, expires)) = &current.confirmation {
                if now >= *expires {
                    next.verification.status = VerificationStatus::Failed;
                    next.verification.last_checked = Some(now);
                }
            }
        }
    }
    for (check, before, after) in [
        (Check::Identity, &current.verification, &next.verification),
        (
            Check::Dkim,
            &current.dkim_verification,
            &next.dkim_verification,
        ),
    ] {
        if before.status != after.status {
            events.push(event(check, before.status, after.status, after.last_error));
        }
    }
    // An automatic rotation step, on the statuses just updated.
    let mut rotation = None;
    if let Some(prepared) = prepared_rotation {
        if let Ok(rotation::Applied::Done {
            next: rotated,
            step,
            event,
        }) = rotation::apply(config, &next, rotation::Trigger::Auto, prepared, now)
        {
            if let Some(rotated) = rotated {
                next = rotated;
            }
            events.extend(event);
            rotation = Some(step);
        }
    }
    next.version = current.version + 1;
    Transition {
        next,
        events,
        rotation,
    }
}
