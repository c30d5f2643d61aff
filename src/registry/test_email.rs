//! "Send a Test Email": the step of the SES console after verification. The operator sends
//! a short message From an address under a verified identity, signed exactly as
//! [`IdentityRegistry::sign`] signs real mail, and shows the tenant the outcome: which
//! identity and key signed it, the header fields each signature covers, and what a
//! receiver concludes when it verifies the message against the records as published.

use crate::dns::DnsVerifier;
use crate::key::KeySpec;
use crate::message::Message;
use crate::names::EmailAddress;
use crate::tag_list::{parse_tag_list, strip_fws};
use crate::verifier::{VerificationResult, Verifier, VerifyOptions};

use super::notify::{MailTransport, OutgoingEmail};
use super::resolve::SigningChoice;
use super::status::IdentityName;
use super::{IdentityRegistry, RegistryError, TenantSignature};

/// What [`IdentityRegistry::send_test_email`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestEmailReport {
    /// The message exactly as handed to the transport (signature headers included).
    pub message: Vec<u8>,
    /// Who signed for the tenant (identity, `d=`, selector), or why nobody did.
    pub tenant: TenantSignature,
    /// The spec of the tenant key that signed (None when unsigned).
    pub key_spec: Option<KeySpec>,
    /// Whether the operator signature was added.
    pub operator_signed: bool,
    /// One entry per DKIM-Signature the message carries, in header order.
    pub signatures: Vec<TestSignature>,
    /// What the transport said.
    pub delivery: Delivery,
}

impl TestEmailReport {
    /// Whether the tenant signature is there and verifies (`dkim=pass` for its `d=`).
    pub fn tenant_passes(&self) -> bool {
        let TenantSignature::Signed(choice) = &self.tenant else {
            return false;
        };
        self.signatures.iter().any(|s| {
            s.domain == choice.domain.as_str()
                && s.selector == choice.selector
                && s.result.status == crate::verifier::Status::Pass
        })
    }
}

/// One signature of the test message, with a receiver's verdict on it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestSignature {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `h=`: the header fields it signs, as listed.
    pub signed_headers: Vec<String>,
    /// The verification against the records in DNS (through the caller's resolver); its
    /// [`authentication_results`](VerificationResult::authentication_results) is the
    /// `dkim=pass header.d=...` line a receiver would add.
    pub result: VerificationResult,
}

/// Whether the test message was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// The transport accepted it.
    Sent,
    /// The transport refused it, with its error.
    TransportError(String),
    /// Not sent: no tenant signature (see [`TestEmailReport::tenant`]), so the test
    /// would show nothing about the tenant's setup.
    NotSent,
}

impl IdentityRegistry {
    /// Sends a test email, like the SES console's "Send a Test Email": builds a short
    /// message From `from` To `to`, signs it exactly as [`sign_at`](Self::sign_at) would
    /// (tenant signature(s) and the operator signature), verifies every signature against
    /// the records as `dns` sees them, hands the message to `transport`
    /// ([`MailTransport::send_message`]) and reports all of it.
    ///
    /// When no verified identity covers `from`, nothing is sent: the report says why
    /// ([`TestEmailReport::tenant`] is `Unsigned` with the typed reason) and
    /// [`Delivery::NotSent`]. Errors: `from` or `to` is not a valid address.
    pub async fn send_test_email(
        &self,
        from: &str,
        to: &str,
        transport: &dyn MailTransport,
        dns: &dyn DnsVerifier,
        now: u64,
    ) -> Result<TestEmailReport, RegistryError> {
        let sender = EmailAddress::parse(from)?;
        let recipient = EmailAddress::parse(to)?;
        let email = OutgoingEmail {
            from: sender.to_string(),
            to: recipient.to_string(),
            subject: format!("easydkim test email from {sender}"),
            body: format!(
                "This is a test email from {sender}.\n\n\
                 It was signed as every message from this address will be; the report of\n\
                 the sender shows which key signed it and whether the signature verifies\n\
                 against the DNS records as published.\n"
            ),
        };
        // `Date:` and `Message-ID:` go at the end of the header block.
        let mut raw = email.to_rfc5322();
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(raw.len(), |i| i + 2);
        raw.splice(end..end, test_message_headers(&sender, now));
        let outcome = self.sign_at(&raw, now).map_err(RegistryError::TestEmail)?;

        let key_spec = match &outcome.tenant {
            TenantSignature::Signed(SigningChoice { domain, .. }) => self
                .get(&IdentityName::Domain(domain.clone()))
                .and_then(|id| id.current_key_spec()),
            TenantSignature::Unsigned(_) => None,
        };
        let verifier = Verifier::new(VerifyOptions::default().with_now(Some(now)));
        let results = verifier
            .verify(dns, &outcome.message)
            .await
            .map_err(|e| RegistryError::TestEmail(e.into()))?;
        let signatures = signature_fields(&outcome.message)?
            .into_iter()
            .zip(results)
            .map(
                |((domain, selector, signed_headers), result)| TestSignature {
                    domain,
                    selector,
                    signed_headers,
                    result,
                },
            )
            .collect();
        let delivery = match &outcome.tenant {
            TenantSignature::Unsigned(_) => Delivery::NotSent,
            TenantSignature::Signed(_) => match transport
                .send_message(&email.from, &email.to, &outcome.message)
                .await
            {
                Ok(()) => Delivery::Sent,
                Err(e) => Delivery::TransportError(e),
            },
        };
        Ok(TestEmailReport {
            message: outcome.message,
            tenant: outcome.tenant,
            key_spec,
            operator_signed: outcome.operator_signed,
            signatures,
            delivery,
        })
    }
}

/// `Date:` and `Message-ID:` for the test message (the rest comes from [`OutgoingEmail`]),
/// each ending in CRLF.
fn test_message_headers(sender: &EmailAddress, now: u64) -> Vec<u8> {
    let id = getrandom::u64().unwrap_or_default();
    format!(
        "Date: {}\r\nMessage-ID: <easydkim-test-{now}-{id:016x}@{}>\r\n",
        rfc5322_date(now),
        sender.domain()
    )
    .into_bytes()
}

/// `(d=, s=, h=)` of each DKIM-Signature field of `message`, top to bottom: the order of
/// the verifier's results.
fn signature_fields(message: &[u8]) -> Result<Vec<(String, String, Vec<String>)>, RegistryError> {
    let msg = Message::parse(message).map_err(|e| RegistryError::TestEmail(e.into()))?;
    Ok(msg
        .fields_named("dkim-signature")
        .map(|field| {
            let value = strip_fws(&String::from_utf8_lossy(field.value()));
            let tags = parse_tag_list(&value).unwrap_or_default();
            let get = |name: &str| {
                tags.iter()
                    .find(|t| t.name == name)
                    .map(|t| t.value.to_string())
                    .unwrap_or_default()
            };
            let h = get("h").split(':').map(str::to_string).collect();
            (get("d"), get("s"), h)
        })
        .collect())
}

/// An RFC 5322 date in UTC, e.g. `Tue, 02 Jan 2024 10:00:00 +0000`.
fn rfc5322_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc5322_date;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_704_189_600),
            "Tue, 02 Jan 2024 10:00:00 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(4_102_444_799),
            "Thu, 31 Dec 2099 23:59:59 +0000"
        );
    }
}
