//! Signing statistics: what [`IdentityRegistry::sign`] did, per identity and in total, as
//! the numbers an operator graphs ([`SigningStats`]).
//!
//! The counters are relaxed atomics: the registry's total in the registry itself, each
//! identity's in the entry of the registry's hash index that `sign` already looks the
//! identity up in, so counting takes no lock and no extra lookup.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::resolve::UnsignedReason;
use super::IdentityRegistry;

/// One set of counters: a total, or one identity's.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    signed: AtomicU64,
    operator_only: AtomicU64,
    refused: AtomicU64,
    unsigned: [AtomicU64; UNSIGNED_KINDS],
}

/// How many [`UnsignedReason`] kinds are counted.
const UNSIGNED_KINDS: usize = 5;

/// The counter slot of an unsigned reason.
fn unsigned_slot(reason: &UnsignedReason) -> usize {
    match reason {
        UnsignedReason::UnverifiedSender => 0,
        UnsignedReason::NotYetVerified { .. } => 1,
        UnsignedReason::SigningDisabled { .. } => 2,
        UnsignedReason::DkimNotVerified { .. } => 3,
        UnsignedReason::NoDkimSetup => 4,
    }
}

/// A short, stable name of an unsigned reason's kind (the `reason` field of the
/// `easydkim::sign` events).
pub(crate) fn unsigned_kind(reason: &UnsignedReason) -> &'static str {
    match reason {
        UnsignedReason::UnverifiedSender => "unverified_sender",
        UnsignedReason::NotYetVerified { .. } => "not_yet_verified",
        UnsignedReason::SigningDisabled { .. } => "signing_disabled",
        UnsignedReason::DkimNotVerified { .. } => "dkim_not_verified",
        UnsignedReason::NoDkimSetup => "no_dkim_setup",
    }
}

/// What one `sign` call did, for the counters.
pub(crate) enum Outcome<'a> {
    /// The tenant signature was added.
    Signed,
    /// No tenant signature, for this reason; `operator` says whether the operator's was added.
    Unsigned {
        reason: &'a UnsignedReason,
        operator: bool,
    },
    /// `sign` returned an error.
    Refused,
}

impl Counters {
    /// Counts one outcome.
    pub(crate) fn count(&self, outcome: &Outcome<'_>) {
        let counter = match outcome {
            Outcome::Signed => &self.signed,
            Outcome::Refused => &self.refused,
            Outcome::Unsigned { reason, operator } => {
                if *operator {
                    self.operator_only.fetch_add(1, Ordering::Relaxed);
                }
                &self.unsigned[unsigned_slot(reason)]
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The values (`reset`: and sets each to zero, atomically per counter, so no increment
    /// is lost between reading and resetting).
    fn read(&self, reset: bool) -> SignCounts {
        let get = |c: &AtomicU64| {
            if reset {
                c.swap(0, Ordering::Relaxed)
            } else {
                c.load(Ordering::Relaxed)
            }
        };
        SignCounts {
            signed: get(&self.signed),
            operator_only: get(&self.operator_only),
            refused: get(&self.refused),
            unsigned: UnsignedCounts {
                unverified_sender: get(&self.unsigned[0]),
                not_yet_verified: get(&self.unsigned[1]),
                signing_disabled: get(&self.unsigned[2]),
                dkim_not_verified: get(&self.unsigned[3]),
                no_dkim_setup: get(&self.unsigned[4]),
            },
        }
    }
}

/// Messages left without a tenant signature, one counter per [`UnsignedReason`] kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct UnsignedCounts {
    /// [`UnsignedReason::UnverifiedSender`]: no identity covers the sender (counted in the
    /// total only: there is no identity to count it for).
    pub unverified_sender: u64,
    /// [`UnsignedReason::NotYetVerified`]: the covering identities are not verified yet.
    pub not_yet_verified: u64,
    /// [`UnsignedReason::SigningDisabled`]: the governing identity disabled signing.
    pub signing_disabled: u64,
    /// [`UnsignedReason::DkimNotVerified`]: the governing domain's DKIM is not verified.
    pub dkim_not_verified: u64,
    /// [`UnsignedReason::NoDkimSetup`]: verified identities, none with a DKIM setup.
    pub no_dkim_setup: u64,
}

impl UnsignedCounts {
    /// All unsigned messages, whatever the reason.
    pub fn sum(&self) -> u64 {
        self.unverified_sender
            + self.not_yet_verified
            + self.signing_disabled
            + self.dkim_not_verified
            + self.no_dkim_setup
    }
}

/// The signing counters of one identity, or of the whole registry. Each counter only grows
/// (until [`IdentityRegistry::reset_signing_stats`]): graph its rate.
///
/// Every `sign` call counts once in exactly one of `signed`, `unsigned` (under its reason)
/// or `refused`, so `signed + unsigned.sum() + refused` is the number of calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SignCounts {
    /// Messages that got the tenant's DKIM signature (dual signing counts once).
    pub signed: u64,
    /// Messages that went out without a tenant signature, by reason. A rise in
    /// `not_yet_verified` or `dkim_not_verified` is mail sent before (or after losing)
    /// verification.
    pub unsigned: UnsignedCounts,
    /// Of the unsigned messages, those that still got the operator's signature
    /// ([`RegistryConfig::operator_signer`](super::RegistryConfig::operator_signer)).
    pub operator_only: u64,
    /// Messages `sign` refused with an error (e.g. unparseable, no valid `From`): the
    /// caller got an `Err` and nothing was signed.
    pub refused: u64,
}

impl SignCounts {
    /// The number of `sign` calls counted: `signed + unsigned.sum() + refused`.
    pub fn calls(&self) -> u64 {
        self.signed + self.unsigned.sum() + self.refused
    }

    fn is_zero(&self) -> bool {
        *self == SignCounts::default()
    }
}

/// A snapshot of a registry's signing counters ([`IdentityRegistry::signing_stats`]).
///
/// The counters are those of this process (this node): with a shared store
/// ([`SharedRegistry`](super::shared::SharedRegistry)) each node counts the messages it
/// signed itself, nothing is written to the store, and the cluster's numbers are the sum
/// of the nodes'. They start at zero when the registry is created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SigningStats {
    /// Every `sign` call of the registry.
    pub total: SignCounts,
    /// Per identity (by its text form, `example.com` or `alice@example.com`), those with a
    /// non-zero counter. A message counts for the identity that decided it: the governing
    /// identity when signed; the identity named in the unsigned reason (or the most
    /// specific verified one for `no_dkim_setup`); a refused message only when the sender
    /// was resolved before the error. An identity's counters go when it is deleted (the
    /// total keeps them).
    pub identities: BTreeMap<String, SignCounts>,
}

impl IdentityRegistry {
    /// The signing counters now, in total and per identity (see [`SigningStats`]).
    /// Reading takes no lock on the signing path; the values are read one by one, so a
    /// message signed meanwhile may show in one counter and not yet in another.
    pub fn signing_stats(&self) -> SigningStats {
        self.read_stats(false)
    }

    /// Sets every signing counter to zero and returns the values it replaced: each counter
    /// is swapped atomically, so a message counted concurrently is either in the returned
    /// values or in the next ones, never lost.
    pub fn reset_signing_stats(&self) -> SigningStats {
        self.read_stats(true)
    }

    fn read_stats(&self, reset: bool) -> SigningStats {
        let snapshot = self.snapshot();
        let total = self.counters.read(reset);
        let identities = snapshot
            .index
            .values()
            .filter_map(|entry| {
                let counts = entry.stats.read(reset);
                (!counts.is_zero()).then(|| (entry.identity.name.to_string(), counts))
            })
            .collect();
        SigningStats { total, identities }
    }
}
