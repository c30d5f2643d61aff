//! The registry's `tracing` events that are emitted from more than one place (the targets,
//! levels and fields are listed in the README, "Operating it").

use super::status::{Check, Event, RotationPhase};
use crate::dns::DnsError;

/// A stable, lower-case name of a check (the `check` field).
pub(crate) fn check_name(check: Check) -> &'static str {
    match check {
        Check::Identity => "identity",
        Check::Dkim => "dkim",
        Check::DualSigning => "dual_signing",
        Check::Rotation(_) => "rotation",
    }
}

/// A stable, lower-case name of a rotation phase (the `phase` field).
fn phase_name(phase: RotationPhase) -> &'static str {
    match phase {
        RotationPhase::AwaitingNext => "awaiting_next",
        RotationPhase::Switched => "switched",
        RotationPhase::NextKeyGenerated => "next_key_generated",
    }
}

/// One status transition (or rotation step) applied to the registry: INFO, target
/// `easydkim::status` (`easydkim::rotation` for a rotation step).
pub(crate) fn transition(e: &Event) {
    let last_error = e.last_error.map(|l| l.to_string());
    let last_error = last_error.as_deref().unwrap_or("");
    match e.check {
        Check::Rotation(phase) => tracing::info!(
            target: "easydkim::rotation",
            region = %e.region,
            identity = %e.identity,
            check = check_name(e.check),
            phase = phase_name(phase),
            from = %e.from,
            to = %e.to,
            "key rotation step"
        ),
        check => tracing::info!(
            target: "easydkim::status",
            region = %e.region,
            identity = %e.identity,
            check = check_name(check),
            from = %e.from,
            to = %e.to,
            last_error,
            "status changed"
        ),
    }
}

/// A failed DNS lookup of a check, target `easydkim::dns`: WARN for a transient failure
/// (`dns.class = "transient"`), DEBUG for a definite answer (`dns.class = "permanent"`:
/// NXDOMAIN or no record of the type, what a Pending identity normally sees). The identity
/// is in the enclosing `check` span.
pub(crate) fn dns_error(e: &DnsError, name: &str, record_type: &'static str) {
    if e.is_transient() {
        tracing::warn!(
            target: "easydkim::dns",
            error = %e,
            dns.name = name,
            dns.record_type = record_type,
            dns.class = "transient",
            "DNS lookup failed"
        );
    } else {
        tracing::debug!(
            target: "easydkim::dns",
            error = %e,
            dns.name = name,
            dns.record_type = record_type,
            dns.class = "permanent",
            "DNS lookup failed"
        );
    }
}
