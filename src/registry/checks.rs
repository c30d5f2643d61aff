//! DNS checks of an identity's records and the status machine they drive (the guide
//! page [`crate::docs::lifecycle`] describes the statuses and their windows).

use crate::dns::{DnsError, DnsVerifier};
use crate::names::DomainName;

use super::identity::{DkimSetup, DualKey, EasyKey, Identity};
use super::rules::{
    domainkey_name, holds_token, key_name, record_has_key, same_name, verification_name,
};
use super::status::{LastError, VerificationInfo, VerificationStatus};
use super::RegistryConfig;

/// What one check saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Observation {
    /// The records are there and correct.
    Found,
    /// Definitely not there (or wrong).
    Missing(LastError),
    /// Could not tell (DNS server error): never fails a setup by itself.
    Transient,
}

impl Observation {
    /// What a failed lookup of `name` (of type `record_type`) means for a check; the
    /// failure is logged (see [`observe::dns_error`](super::observe::dns_error)).
    pub(crate) fn from_dns(e: &DnsError, name: &str, record_type: &'static str) -> Self {
        super::observe::dns_error(e, name, record_type);
        match e {
            DnsError::NoSuchName => Observation::Missing(LastError::HostNotFound),
            DnsError::NoRecords => Observation::Missing(LastError::TypeNotFound),
            _ => Observation::Transient,
        }
    }

    /// Combines checks that must all pass: any definite miss wins over a transient.
    fn all(obs: impl IntoIterator<Item = Observation>) -> Observation {
        let mut transient = false;
        for o in obs {
            match o {
                Observation::Missing(e) => return Observation::Missing(e),
                Observation::Transient => transient = true,
                Observation::Found => {}
            }
        }
        if transient {
            Observation::Transient
        } else {
            Observation::Found
        }
    }
}

/// One step of the status machine. `window` and `grace` are in seconds.
pub(crate) fn step(
    info: &VerificationInfo,
    obs: Observation,
    now: u64,
    window: u64,
    grace: u64,
) -> VerificationInfo {
    use VerificationStatus::*;
    let mut next = info.clone();
    if matches!(info.status, NotStarted | Failed) {
        return next;
    }
    next.last_checked = Some(now);
    match obs {
        Observation::Found => {
            next.status = Success;
            next.last_success = Some(now);
            next.last_error = None;
            next.failing_since = None;
        }
        Observation::Transient => next.last_error = Some(LastError::DnsServerError),
        Observation::Missing(e) => {
            next.last_error = Some(e);
            match info.status {
                Pending if now >= info.window_start.saturating_add(window) => next.status = Failed,
                Success => {
                    next.status = TemporaryFailure;
                    next.failing_since = Some(now);
                }
                TemporaryFailure
                    if now >= info.failing_since.unwrap_or(now).saturating_add(grace) =>
                {
                    next.status = Failed
                }
                _ => {}
            }
        }
    }
    next
}

/// The result of checking one identity's DNS.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckResult {
    pub(crate) identity: Option<Observation>,
    pub(crate) dkim: Option<Observation>,
    /// The dual-signing (Ed25519) CNAME, when there is one to check.
    pub(crate) dual: Option<Observation>,
}

impl CheckResult {
    /// What a check that ran out of time counts as: transient for everything it covers.
    pub(crate) fn transient(identity: &Identity) -> Self {
        CheckResult {
            identity: needs_check(&identity.verification).then_some(Observation::Transient),
            dkim: (identity.dkim.is_some() && needs_check(&identity.dkim_verification))
                .then_some(Observation::Transient),
            dual: dual_needs_check(identity).then_some(Observation::Transient),
        }
    }
}

/// Whether the dual-signing CNAME of an identity is to be checked.
fn dual_needs_check(identity: &Identity) -> bool {
    identity
        .easy_state()
        .and_then(|s| s.dual.as_ref())
        .is_some_and(|d| needs_check(&d.verification))
}

/// Whether the identity's DKIM check requires the dual-signing CNAME: once it has been
/// seen (Success or TemporaryFailure).
fn dual_required(dual: &DualKey) -> bool {
    matches!(
        dual.verification.status,
        VerificationStatus::Success | VerificationStatus::TemporaryFailure
    )
}

pub(crate) fn needs_check(info: &VerificationInfo) -> bool {
    matches!(
        info.status,
        VerificationStatus::Pending
            | VerificationStatus::Success
            | VerificationStatus::TemporaryFailure
    )
}

/// Whether `refresh` has DNS work for this identity.
pub(crate) fn wants_dns(identity: &Identity) -> bool {
    identity.domain().is_some()
        && (needs_check(&identity.verification)
            || (identity.dkim.is_some() && needs_check(&identity.dkim_verification))
            || dual_needs_check(identity))
}

/// The verification TXT: at `<label>.<d>` or at `<d>`, with or without the prefix.
async fn check_txt_token(
    dns: &dyn DnsVerifier,
    config: &RegistryConfig,
    domain: &DomainName,
    token: &str,
) -> Observation {
    let mut results = Vec::with_capacity(2);
    for name in [verification_name(config, domain), domain.to_string()] {
        let obs = match dns.txt(&name).await {
            Ok(values) if values.iter().any(|v| holds_token(config, v, token)) => {
                return Observation::Found
            }
            Ok(_) => Observation::Missing(LastError::InvalidValue),
            Err(e) => Observation::from_dns(&e, &name, "TXT"),
        };
        results.push(obs);
    }
    // Report what the labelled name showed, unless only the apex answered transiently.
    if results.contains(&Observation::Transient) {
        Observation::Transient
    } else {
        results[0]
    }
}

/// One Easy DKIM CNAME: `<token>._domainkey.<d>` -> `<token>.<zone>`; a flattened CNAME is
/// accepted when the TXT found at the tenant name carries the expected key.
async fn check_cname(
    dns: &dyn DnsVerifier,
    name: &str,
    target: &str,
    expected_p: &str,
) -> Observation {
    match dns.cname(name).await {
        Ok(targets) if targets.iter().any(|t| same_name(t, target)) => Observation::Found,
        Ok(_) => Observation::Missing(LastError::InvalidValue),
        Err(DnsError::NoRecords) => match dns.txt(name).await {
            Ok(values) if values.iter().any(|v| record_has_key(v, expected_p)) => {
                Observation::Found
            }
            Ok(_) => Observation::Missing(LastError::InvalidValue),
            Err(DnsError::NoRecords) => Observation::Missing(LastError::TypeNotFound),
            Err(e) => Observation::from_dns(&e, name, "TXT"),
        },
        Err(e) => Observation::from_dns(&e, name, "CNAME"),
    }
}

async fn check_easy_key(
    dns: &dyn DnsVerifier,
    zone: &DomainName,
    domain: &DomainName,
    k: &EasyKey,
) -> Observation {
    let name = domainkey_name(k.token.as_str(), domain);
    let target = key_name(k.token.as_str(), zone);
    let p = k.key.public_key().to_base64();
    check_cname(dns, &name, &target, &p).await
}

/// What the DKIM lookups saw.
struct DkimObservation {
    /// The three Easy DKIM CNAMEs alone (what counts toward domain ownership), or the
    /// bring-your-own-key TXT.
    keys: Observation,
    /// The DKIM check: `keys`, plus the dual-signing CNAME once that has been seen.
    dkim: Observation,
    /// The dual-signing CNAME, when there is one.
    dual: Option<Observation>,
}

/// The DKIM check: the three Easy DKIM CNAMEs (in the setup's own signing zone, which is
/// the parent's for a replica) or the bring-your-own-key TXT; and, separately, the
/// dual-signing CNAME. Once the dual-signing CNAME has been seen, the DKIM check requires
/// it too.
async fn check_dkim(
    dns: &dyn DnsVerifier,
    domain: &DomainName,
    setup: &DkimSetup,
) -> DkimObservation {
    match setup {
        DkimSetup::Easy { keys, state } => {
            let zone = &state.signing_zone;
            let lookups = keys.iter().map(|k| check_easy_key(dns, zone, domain, k));
            let dual = async {
                match &state.dual {
                    Some(d) => Some(check_easy_key(dns, zone, domain, &d.key).await),
                    None => None,
                }
            };
            let (three, dual_obs) =
                futures_util::future::join(futures_util::future::join_all(lookups), dual).await;
            let keys = Observation::all(three);
            let dkim = match (&state.dual, dual_obs) {
                (Some(d), Some(obs)) if dual_required(d) => Observation::all([keys, obs]),
                _ => keys,
            };
            DkimObservation {
                keys,
                dkim,
                dual: dual_obs,
            }
        }
        DkimSetup::Byo { selector, key } => {
            let name = domainkey_name(selector.as_str(), domain);
            let p = key.public_key().to_base64();
            let obs = match dns.txt(&name).await {
                Ok(values) if values.iter().any(|v| record_has_key(v, &p)) => Observation::Found,
                Ok(_) => Observation::Missing(LastError::InvalidValue),
                Err(e) => Observation::from_dns(&e, &name, "TXT"),
            };
            DkimObservation {
                keys: obs,
                dkim: obs,
                dual: None,
            }
        }
    }
}

/// Runs the DNS checks an identity needs (no lock held: pure I/O on a snapshot).
pub(crate) async fn check_identity(
    dns: &dyn DnsVerifier,
    config: &RegistryConfig,
    identity: &Identity,
) -> CheckResult {
    let Some(domain) = identity.domain() else {
        return CheckResult {
            identity: None,
            dkim: None,
            dual: None,
        };
    };
    let dkim_check = async {
        match &identity.dkim {
            Some(setup)
                if needs_check(&identity.dkim_verification)
                    || needs_check(&identity.verification)
                    || dual_needs_check(identity) =>
            {
                Some(check_dkim(dns, domain, setup).await)
            }
            _ => None,
        }
    };
    let txt_check = async {
        match &identity.verification_token {
            Some(token) if needs_check(&identity.verification) => {
                check_txt_token(dns, config, domain, token).await
            }
            _ => Observation::Missing(LastError::HostNotFound),
        }
    };
    // The TXT and DKIM lookups run concurrently.
    let (observed, txt) = futures_util::future::join(dkim_check, txt_check).await;
    // Domain ownership counts only the three Easy DKIM CNAMEs, not the dual one.
    let dkim = observed.as_ref().map(|o| o.keys);
    let ident = if needs_check(&identity.verification) {
        // TXT token found, or (Easy DKIM) all CNAMEs found.
        let easy = matches!(identity.dkim, Some(DkimSetup::Easy { .. }));
        Some(match (txt, dkim) {
            (Observation::Found, _) => Observation::Found,
            (_, Some(Observation::Found)) if easy => Observation::Found,
            (Observation::Transient, _) => Observation::Transient,
            (_, Some(Observation::Transient)) if easy => Observation::Transient,
            (other, _) => other,
        })
    } else {
        None
    };
    CheckResult {
        identity: ident,
        dkim: observed
            .as_ref()
            .map(|o| o.dkim)
            .filter(|_| needs_check(&identity.dkim_verification)),
        dual: observed
            .and_then(|o| o.dual)
            .filter(|_| dual_needs_check(identity)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VerificationStatus::*;

    const H: u64 = 3600;

    fn info(status: VerificationStatus) -> VerificationInfo {
        VerificationInfo::new(status, 0)
    }

    #[test]
    fn pending_fails_only_after_window_and_only_on_definite_miss() {
        let miss = Observation::Missing(LastError::HostNotFound);
        let p = info(Pending);
        assert_eq!(step(&p, miss, 71 * H, 72 * H, 72 * H).status, Pending);
        assert_eq!(step(&p, miss, 72 * H, 72 * H, 72 * H).status, Failed);
        assert_eq!(
            step(&p, Observation::Transient, 100 * H, 72 * H, 72 * H).status,
            Pending
        );
        assert_eq!(
            step(&p, Observation::Found, 100 * H, 72 * H, 72 * H).status,
            Success
        );
    }

    #[test]
    fn success_degrades_with_grace() {
        let miss = Observation::Missing(LastError::TypeNotFound);
        let s = info(Success);
        let t = step(&s, miss, 10 * H, 72 * H, 72 * H);
        assert_eq!(
            (t.status, t.failing_since),
            (TemporaryFailure, Some(10 * H))
        );
        assert_eq!(
            step(&t, miss, 81 * H, 72 * H, 72 * H).status,
            TemporaryFailure
        );
        assert_eq!(step(&t, miss, 82 * H, 72 * H, 72 * H).status, Failed);
        assert_eq!(
            step(&t, Observation::Found, 50 * H, 72 * H, 72 * H).status,
            Success
        );
        assert_eq!(
            step(&s, Observation::Transient, H, 72 * H, 72 * H).status,
            Success
        );
    }
}
