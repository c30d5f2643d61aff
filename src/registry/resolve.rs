//! Who decides which key signs: identity precedence (guide page
//! [`crate::docs::precedence`]).
//!
//! For `From: local@sub.example.com` the candidates, most specific first, are the email
//! identity `local@sub.example.com`, the same address without a `+tag`, then the domain
//! identities `sub.example.com`, `example.com` (never a bare TLD). Only verified identities
//! count. Walking the verified candidates:
//! 1. the first one whose signing is disabled stops the walk: unsigned, `SigningDisabled`;
//! 2. the first domain with a DKIM setup decides: it signs with `d=` its own domain if its
//!    DKIM is verified, otherwise the message goes unsigned (`DkimNotVerified`) — never a
//!    silent fall back to a parent's key;
//! 3. no verified candidate: `NotYetVerified` naming the most specific registered one and
//!    the status that holds it back, or `UnverifiedSender` when none is registered;
//!    verified ones but no DKIM setup: `NoDkimSetup`.

use crate::key::SigningKey;
use crate::names::{parent_str, untagged_local, DomainName, EmailAddress};

use super::identity::{DkimSetup, Identity};
use super::stats::Counters;
use super::status::{Check, IdentityName, NameRef, VerificationStatus};
use super::State;
use std::sync::Arc;

/// Why a message goes out unsigned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsignedReason {
    /// No identity is registered for the From address, its address without `+tag`, its
    /// domain or a parent domain.
    #[error("no identity is registered for the sender")]
    UnverifiedSender,
    /// Identities cover the From address but none is verified yet; `identity` is the most
    /// specific of them, with the status that holds it back: its DKIM status when it has a
    /// DKIM setup, else its identity status (e.g. "example.com is registered, DKIM Pending:
    /// its records have not been seen in DNS yet").
    #[error("{identity} is registered, {} {status}: {}", check_label(*check), not_verified_hint(identity, *check, *status))]
    NotYetVerified {
        /// The most specific registered identity covering the sender.
        identity: IdentityName,
        /// Which of its checks is reported: [`Check::Dkim`] or [`Check::Identity`].
        check: Check,
        /// That check's status (not verified: Pending, Failed, NotStarted, or a
        /// TemporaryFailure past its grace period).
        status: VerificationStatus,
    },
    /// The governing identity has DKIM signing disabled.
    #[error("DKIM signing is disabled for {identity}")]
    SigningDisabled {
        /// The identity that disabled signing.
        identity: IdentityName,
    },
    /// The governing domain has a DKIM setup that is not verified.
    #[error("DKIM for {identity} is {status}, not verified")]
    DkimNotVerified {
        /// The domain identity.
        identity: IdentityName,
        /// Its DKIM status.
        status: VerificationStatus,
    },
    /// Verified identities cover the sender, but none has a DKIM setup.
    #[error("no verified identity covering the sender has a DKIM setup")]
    NoDkimSetup,
}

fn check_label(check: Check) -> &'static str {
    match check {
        Check::Identity => "verification",
        _ => "DKIM",
    }
}

/// What a tenant should understand from a status that keeps an identity from signing.
fn not_verified_hint(
    identity: &IdentityName,
    check: Check,
    status: VerificationStatus,
) -> &'static str {
    let email = matches!(identity, IdentityName::Email(_)) && check == Check::Identity;
    match (status, email) {
        (VerificationStatus::Pending, true) => "the address has not been confirmed yet",
        (VerificationStatus::Pending, false) => "its records have not been seen in DNS yet",
        (VerificationStatus::Failed, true) => {
            "the confirmation window passed; restart verification and confirm again"
        }
        (VerificationStatus::Failed, false) => {
            "its records were not found in time; publish them and restart verification"
        }
        (VerificationStatus::TemporaryFailure, _) => {
            "its records could not be confirmed for longer than the grace period"
        }
        (VerificationStatus::NotStarted, _) => "verification has not started",
        (VerificationStatus::Success, _) => "verified, but not usable for signing",
    }
}

/// What happened at one candidate of the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepOutcome {
    /// No such identity is registered.
    NotRegistered,
    /// Registered, not verified (transparent).
    NotVerified(VerificationStatus),
    /// Verified, signing enabled, no DKIM setup: the walk goes on.
    VerifiedWithoutDkim,
    /// Verified with signing disabled: the walk stops, unsigned.
    SigningDisabled,
    /// Verified domain with a DKIM setup: the walk stops here; signs if its DKIM status is
    /// verified.
    DkimSetup(VerificationStatus),
}

/// One candidate examined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainStep {
    /// The candidate identity.
    pub candidate: IdentityName,
    /// What was found.
    pub outcome: StepOutcome,
}

/// Who signs a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningChoice {
    /// The identity whose settings apply (the most specific verified one).
    pub identity: IdentityName,
    /// The domain identity whose key signs (`d=`).
    pub domain: DomainName,
    /// The selector (`s=`).
    pub selector: String,
}

/// The decision for a sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Sign.
    Sign(SigningChoice),
    /// Do not sign, for this reason.
    Unsigned(UnsignedReason),
}

/// The decision with the chain of candidates walked, so operators can show tenants why a
/// message was or was not signed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolution {
    /// The decision.
    pub decision: Decision,
    /// Every candidate examined, most specific first.
    pub chain: Vec<ChainStep>,
}

/// The candidates for an address (`local` valid, `domain` canonical), most specific
/// first: the address, the address without its `+tag`, then the domain and its parents
/// down to two labels. Borrowed from the inputs: nothing is allocated.
pub(crate) fn candidates<'a>(local: &'a str, domain: &'a str) -> impl Iterator<Item = NameRef<'a>> {
    let untagged = untagged_local(local).map(|l| NameRef::Email(l, domain));
    let domains = std::iter::successors(Some(domain), |d| parent_str(d));
    std::iter::once(NameRef::Email(local, domain))
        .chain(untagged)
        .chain(domains.map(NameRef::Domain))
}

/// The keys a resolution signs with.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keys {
    /// The governing domain's signing key.
    pub(crate) main: Option<SigningKey>,
    /// Dual signing: the selector and Ed25519 key of the second signature, when its CNAME
    /// is verified.
    pub(crate) dual: Option<(String, SigningKey)>,
    /// The signing counters of the identity the decision is counted for (see
    /// [`SigningStats`](super::SigningStats)), if any.
    pub(crate) stats: Option<Arc<Counters>>,
}

/// Resolves `address` against the identities; returns the keys to sign with, if any.
pub(crate) fn resolve(
    identities: &State,
    address: &EmailAddress,
    now: u64,
    grace: u64,
) -> (Resolution, Keys) {
    resolve_parts(
        identities,
        address.local_part(),
        address.domain().as_str(),
        now,
        grace,
    )
}

/// [`resolve`] for an address given as a valid local part and a canonical domain, looked up
/// without building candidate names (only the steps reported in the chain are owned).
pub(crate) fn resolve_parts(
    identities: &State,
    local: &str,
    domain: &str,
    now: u64,
    grace: u64,
) -> (Resolution, Keys) {
    let mut chain = Vec::with_capacity(4);
    let mut verified_seen = false;
    // The most specific verified candidate, borrowed until a decision needs it.
    let mut governing: Option<&IdentityName> = None;
    // Its signing counters.
    let mut governing_stats: Option<&Arc<Counters>> = None;
    // The most specific registered candidate that is not verified, and its counters.
    let mut unverified: Option<(&Identity, &Arc<Counters>)> = None;
    for key in candidates(local, domain) {
        let Some(entry) = identities.lookup(key) else {
            chain.push(ChainStep {
                candidate: key.to_name(),
                outcome: StepOutcome::NotRegistered,
            });
            continue;
        };
        let identity = &entry.identity;
        let candidate = identity.name.clone();
        if !identity.verification.is_verified(now, grace) {
            unverified.get_or_insert((identity, &entry.stats));
            chain.push(ChainStep {
                candidate,
                outcome: StepOutcome::NotVerified(identity.status()),
            });
            continue;
        }
        verified_seen = true;
        let governing_identity = *governing.get_or_insert(&identity.name);
        governing_stats.get_or_insert(&entry.stats);
        if !identity.signing_enabled {
            chain.push(ChainStep {
                candidate: candidate.clone(),
                outcome: StepOutcome::SigningDisabled,
            });
            let decision = Decision::Unsigned(UnsignedReason::SigningDisabled {
                identity: candidate,
            });
            let keys = Keys {
                stats: Some(entry.stats.clone()),
                ..Keys::default()
            };
            return (Resolution { decision, chain }, keys);
        }
        match (&identity.dkim, identity.domain()) {
            (Some(setup), Some(domain)) => {
                let status = identity.dkim_status();
                chain.push(ChainStep {
                    candidate,
                    outcome: StepOutcome::DkimSetup(status),
                });
                if identity.dkim_verification.is_verified(now, grace) {
                    let (selector, key) = setup.signing();
                    let choice = SigningChoice {
                        identity: governing_identity.clone(),
                        domain: domain.clone(),
                        selector: selector.to_string(),
                    };
                    let dual = match setup {
                        DkimSetup::Easy { state, .. } => state
                            .dual
                            .as_ref()
                            .filter(|d| d.verification.is_verified(now, grace))
                            .map(|d| (d.key.token.to_string(), d.key.key.clone())),
                        DkimSetup::Byo { .. } => None,
                    };
                    return (
                        Resolution {
                            decision: Decision::Sign(choice),
                            chain,
                        },
                        Keys {
                            main: Some(key.clone()),
                            dual,
                            stats: governing_stats.cloned(),
                        },
                    );
                }
                let decision = Decision::Unsigned(UnsignedReason::DkimNotVerified {
                    identity: identity.name.clone(),
                    status,
                });
                let keys = Keys {
                    stats: Some(entry.stats.clone()),
                    ..Keys::default()
                };
                return (Resolution { decision, chain }, keys);
            }
            _ => chain.push(ChainStep {
                candidate,
                outcome: StepOutcome::VerifiedWithoutDkim,
            }),
        }
    }
    let mut stats = None;
    let reason = match (verified_seen, unverified) {
        (true, _) => {
            stats = governing_stats.cloned();
            UnsignedReason::NoDkimSetup
        }
        (false, Some((identity, identity_stats))) => {
            stats = Some(identity_stats.clone());
            // The check that holds it back: DKIM when it has a setup that is not verified
            // (for Easy DKIM both move together), else ownership.
            let dkim_unverified =
                identity.dkim.is_some() && !identity.dkim_verification.is_verified(now, grace);
            let (check, status) = if dkim_unverified {
                (Check::Dkim, identity.dkim_status())
            } else {
                (Check::Identity, identity.status())
            };
            UnsignedReason::NotYetVerified {
                identity: identity.name.clone(),
                check,
                status,
            }
        }
        (false, None) => UnsignedReason::UnverifiedSender,
    };
    (
        Resolution {
            decision: Decision::Unsigned(reason),
            chain,
        },
        Keys {
            stats,
            ..Keys::default()
        },
    )
}
