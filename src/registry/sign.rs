//! `registry.sign`: resolve the sender (who decides which key signs is
//! [`resolve`]), then sign with the tenant's key and the operator's, over
//! one body pass.

use super::resolve;
use super::resolve::Decision;
use super::resolve::Resolution;
use super::resolve::SigningChoice;
use super::resolve::UnsignedReason;
use super::secs;
use super::stats::{unsigned_kind, Counters, Outcome};
use super::unix_now;
use super::IdentityRegistry;
use crate::error::MessageError;
use crate::error::SignError;
use crate::key::SigningKey;
use crate::message::Message;
use crate::message::Warning;
use crate::names::DomainName;
use crate::names::EmailAddress;
use crate::names::Selector;
use crate::signer::sign_parsed;
use crate::signer::Profile;
use crate::signer::Signer;
use std::sync::Arc;

/// Which signature the tenant part of a message got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantSignature {
    /// Signed.
    Signed(SigningChoice),
    /// Not signed, and why.
    Unsigned(UnsignedReason),
}

/// The result of [`IdentityRegistry::sign`]: the message (signed or not) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignOutcome {
    /// The new DKIM-Signature header(s) followed by the caller's bytes, unchanged.
    pub message: Vec<u8>,
    /// The tenant signature, or why there is none.
    pub tenant: TenantSignature,
    /// Dual signing: the tenant's second (Ed25519) signature, same `d=`, its own selector.
    pub dual_signature: Option<SigningChoice>,
    /// Whether the operator signature was added.
    pub operator_signed: bool,
    /// The resolution chain behind the decision.
    pub resolution: Resolution,
    /// Non-fatal findings about the message.
    pub warnings: Vec<Warning>,
}

impl IdentityRegistry {
    /// The decision for a sender, with the chain walked (the rules: guide page
    /// [`crate::docs::precedence`]).
    pub fn resolve(&self, address: &EmailAddress, now: u64) -> Resolution {
        let snapshot = self.snapshot();
        resolve::resolve(&snapshot, address, now, secs(self.config.grace_period)).0
    }

    /// Signs `message` at the current time; see [`sign_at`](Self::sign_at).
    pub fn sign(&self, message: &[u8]) -> Result<SignOutcome, SignError> {
        self.sign_at(message, unix_now())
    }

    /// Signs `message` as of `now`: the governing identity's signature (if any; two, RSA
    /// and Ed25519, under dual signing) and the operator signature (if configured),
    /// prepended to the caller's bytes, all over one body pass. An unsigned
    /// outcome is not an error: the message is returned with the reason. Errors only for a
    /// malformed message.
    ///
    /// Each call is counted in the [signing statistics](Self::signing_stats). Unsigned and
    /// refused messages are DEBUG events of target `easydkim::sign` (signed ones TRACE):
    /// with no subscriber, or one filtering above DEBUG, they cost a level check.
    pub fn sign_at(&self, message: &[u8], now: u64) -> Result<SignOutcome, SignError> {
        let mut stats = None;
        let result = self.sign_counted(message, now, &mut stats);
        let outcome = match &result {
            Ok(out) => match &out.tenant {
                TenantSignature::Signed(choice) => {
                    tracing::trace!(
                        target: "easydkim::sign",
                        identity = %choice.identity,
                        domain = %choice.domain,
                        selector = %choice.selector,
                        dual = out.dual_signature.is_some(),
                        operator_signed = out.operator_signed,
                        "message signed"
                    );
                    Outcome::Signed
                }
                TenantSignature::Unsigned(reason) => {
                    unsigned_event(reason, out.operator_signed);
                    Outcome::Unsigned {
                        reason,
                        operator: out.operator_signed,
                    }
                }
            },
            Err(e) => {
                tracing::debug!(
                    target: "easydkim::sign",
                    error = error_class(e),
                    "message refused"
                );
                Outcome::Refused
            }
        };
        self.counters.count(&outcome);
        if let Some(counters) = &stats {
            counters.count(&outcome);
        }
        result
    }

    /// [`sign_at`](Self::sign_at) without the counting: `stats` receives the counters of
    /// the identity the outcome is counted for, once the sender is resolved.
    fn sign_counted(
        &self,
        message: &[u8],
        now: u64,
        stats: &mut Option<Arc<Counters>>,
    ) -> Result<SignOutcome, SignError> {
        let msg = Message::parse(message)?;
        let (local, domain) = msg.sender_parts()?;
        // The sender as a valid local part and a canonical domain: borrowed from the
        // message when it already is (nearly always), parsed into an address otherwise.
        let parsed;
        let (local, domain): (&str, &str) =
            if DomainName::is_canonical(&domain) && crate::names::local_part_is_valid(&local) {
                (&local, &domain)
            } else {
                let address = format!("{local}@{domain}");
                parsed = EmailAddress::parse(&address).map_err(|source| {
                    SignError::Message(MessageError::FromAddressInvalid {
                        address: address.clone(),
                        source,
                    })
                })?;
                (parsed.local_part(), parsed.domain().as_str())
            };
        let snapshot = self.snapshot();
        let (resolution, mut keys) = resolve::resolve_parts(
            &snapshot,
            local,
            domain,
            now,
            secs(self.config.grace_period),
        );
        drop(snapshot);
        *stats = keys.stats.take();

        let tenant_signer = |key: SigningKey, domain: &DomainName, selector: &str| {
            // The selector is a token or a BYO selector, validated when it was stored.
            let s = Signer::from_parts(key, domain.clone(), Selector::already_valid(selector))
                .profile(self.config.profile)
                .signing_time(Some(now));
            Ok::<_, SignError>(s)
        };
        let (tenant_signer, dual_signer, dual_choice) = match (&resolution.decision, keys) {
            (
                Decision::Sign(choice),
                resolve::Keys {
                    main: Some(key),
                    dual,
                    ..
                },
            ) => {
                let main = tenant_signer(key, &choice.domain, &choice.selector)?;
                match dual {
                    Some((selector, key)) => {
                        let signer = tenant_signer(key, &choice.domain, &selector)?;
                        let dual_choice = SigningChoice {
                            selector,
                            ..choice.clone()
                        };
                        (Some(main), Some(signer), Some(dual_choice))
                    }
                    None => (Some(main), None, None),
                }
            }
            _ => (None, None, None),
        };
        let operator = self.config.operator_signer.as_ref().map(|s| {
            let mut s = s.clone();
            if s.options().signing_time().is_none() {
                s = s.signing_time(Some(now));
            }
            // SES's own signature beside an SES-shaped tenant one: same shape, same c=
            // (so the same bh=), plus Feedback-ID.
            if self.config.profile == Profile::SesCompatible {
                s = s.profile(Profile::SesOperator);
            }
            s
        });
        // Up to three signers, in a fixed array rather than a vector.
        let present = [
            tenant_signer.as_ref(),
            dual_signer.as_ref(),
            operator.as_ref(),
        ];
        let mut signers = [present.iter().flatten().next().copied(); 3];
        let mut count = 0;
        for s in present.into_iter().flatten() {
            signers[count] = Some(s);
            count += 1;
        }
        let (message_out, warnings) = match signers[0] {
            None => (message.to_vec(), msg.all_warnings()),
            Some(first) => {
                let list = signers.map(|s| s.unwrap_or(first));
                let signed = sign_parsed(&list[..count], &msg)?;
                (signed.prepend_to(message), signed.warnings)
            }
        };
        let tenant = match (&resolution.decision, tenant_signer) {
            // The tenant's choice again, its domain and selector taken back from its signer.
            (Decision::Sign(choice), Some(signer)) => {
                let (domain, selector) = signer.into_name_parts();
                TenantSignature::Signed(SigningChoice {
                    identity: choice.identity.clone(),
                    domain,
                    selector,
                })
            }
            (Decision::Sign(choice), None) => TenantSignature::Signed(choice.clone()),
            (Decision::Unsigned(reason), _) => TenantSignature::Unsigned(reason.clone()),
        };
        Ok(SignOutcome {
            message: message_out,
            tenant,
            dual_signature: dual_choice,
            operator_signed: operator.is_some(),
            resolution,
            warnings,
        })
    }
}

/// The DEBUG event of an unsigned message: the reason's kind and the identity it names
/// (no message content).
fn unsigned_event(reason: &UnsignedReason, operator_signed: bool) {
    let kind = unsigned_kind(reason);
    match reason {
        UnsignedReason::NotYetVerified {
            identity,
            check,
            status,
        } => tracing::debug!(
            target: "easydkim::sign",
            reason = kind,
            identity = %identity,
            check = super::observe::check_name(*check),
            status = %status,
            operator_signed,
            "message not signed"
        ),
        UnsignedReason::DkimNotVerified { identity, status } => tracing::debug!(
            target: "easydkim::sign",
            reason = kind,
            identity = %identity,
            status = %status,
            operator_signed,
            "message not signed"
        ),
        UnsignedReason::SigningDisabled { identity } => tracing::debug!(
            target: "easydkim::sign",
            reason = kind,
            identity = %identity,
            operator_signed,
            "message not signed"
        ),
        _ => tracing::debug!(
            target: "easydkim::sign",
            reason = kind,
            operator_signed,
            "message not signed"
        ),
    }
}

/// The class of a `sign` error, for the `error` field of a refusal (the error's text
/// quotes the message's headers, so it is not logged).
fn error_class(e: &SignError) -> &'static str {
    match e {
        SignError::Message(_) => "message",
        SignError::Key(_) => "key",
        _ => "other",
    }
}
