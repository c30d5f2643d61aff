//! Notifications of status transitions.

use std::sync::Arc;

use async_trait::async_trait;

use super::status::{Check, Event, IdentityName, RotationPhase, VerificationStatus};

/// Receives each status transition once, after it has been applied.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Called once per transition, in order.
    async fn notify(&self, event: &Event);
}

/// A plain-text email for a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Envelope and header sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (LF line ends).
    pub body: String,
}

impl OutgoingEmail {
    /// The message as RFC 5322 bytes (CRLF line ends, UTF-8 body, RFC 2047 not needed for
    /// the ASCII subjects we write).
    pub fn to_rfc5322(&self) -> Vec<u8> {
        let mut out = format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
            self.from, self.to, self.subject
        );
        for line in self.body.lines() {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.into_bytes()
    }
}

/// Sends mail; implement it over your mailer.
#[async_trait]
pub trait MailTransport: Send + Sync {
    /// Sends one message. Errors are reported as text (the notifier cannot act on them).
    async fn send(&self, email: &OutgoingEmail) -> Result<(), String>;

    /// Sends a complete RFC 5322 message byte for byte, with `from` and `to` as the
    /// envelope ([`IdentityRegistry::send_test_email`](super::IdentityRegistry::send_test_email)
    /// uses it: its message carries DKIM signatures, which any rewriting would break).
    ///
    /// The default refuses with an error that says so; implement it over your mailer's
    /// raw-message call (lettre: `Transport::send_raw`).
    async fn send_message(&self, from: &str, to: &str, message: &[u8]) -> Result<(), String> {
        let _ = (from, to, message);
        Err(
            "this MailTransport does not send prepared messages: implement \
             MailTransport::send_message"
                .to_string(),
        )
    }
}

/// Who is told about an identity's transitions.
pub type RecipientFn = dyn Fn(&IdentityName) -> Option<String> + Send + Sync;

/// A [`Notifier`] that turns events into plain-text emails ("DKIM setup successful for
/// example.com in eu-west-1") and hands them to a [`MailTransport`].
pub struct EmailNotifier {
    from: String,
    transport: Arc<dyn MailTransport>,
    recipient: Box<RecipientFn>,
    errors: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// Mails each event from `from` to the address `recipient` returns for the identity
    /// (no mail when it returns None).
    pub fn new(
        from: impl Into<String>,
        transport: Arc<dyn MailTransport>,
        recipient: impl Fn(&IdentityName) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        EmailNotifier {
            from: from.into(),
            transport,
            recipient: Box::new(recipient),
            errors: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Transport errors seen so far (drained).
    pub fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut *crate::sync::lock(&self.errors))
    }

    /// The subject and body for an event.
    pub fn compose(event: &Event) -> (String, String) {
        use VerificationStatus::*;
        if let Check::Rotation(phase) = event.check {
            return Self::compose_rotation(event, phase);
        }
        let what = match event.check {
            Check::Identity => "Identity verification",
            Check::DualSigning => "Ed25519 DKIM key",
            _ => "DKIM setup",
        };
        let outcome = match event.to {
            Success if event.from == TemporaryFailure => "restored",
            Success => "successful",
            Failed => "failed",
            TemporaryFailure => "temporarily failing",
            Pending => "pending",
            NotStarted => "not started",
        };
        let subject = format!(
            "{what} {outcome} for {} in {}",
            event.identity, event.region
        );
        let mut body = format!(
            "{what} for {} in region {} changed from {} to {}.\n",
            event.identity, event.region, event.from, event.to
        );
        if let Some(e) = event.last_error {
            body.push_str(&format!("\nThe last check found: {e}.\n"));
        }
        match event.to {
            Failed => body.push_str(
                "\nThe records were not found in time. Check the DNS records and restart the \
                 verification; until then mail from this identity is sent unsigned.\n",
            ),
            TemporaryFailure => body.push_str(
                "\nThe records could not be confirmed. Signing continues during the grace \
                 period; restore the records to avoid a failure.\n",
            ),
            Success => body.push_str("\nMail from this identity is now signed.\n"),
            _ => {}
        }
        (subject, body)
    }

    fn compose_rotation(event: &Event, phase: RotationPhase) -> (String, String) {
        let subject = format!(
            "DKIM key rotation for {} in {}: {phase}",
            event.identity, event.region
        );
        let mut body = format!(
            "The DKIM key rotation for {} in region {} {phase}.\n",
            event.identity, event.region
        );
        body.push_str(match phase {
            RotationPhase::AwaitingNext => {
                "\nThe next key is not yet visible through your DKIM CNAME records. Keep the \
                 three CNAME records in place; signing continues with the current key.\n"
            }
            RotationPhase::Switched => {
                "\nMail is now signed with the next key. No action is needed: your DKIM CNAME \
                 records stay as they are.\n"
            }
            _ => "\nNo action is needed: your DKIM CNAME records stay as they are.\n",
        });
        (subject, body)
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    async fn notify(&self, event: &Event) {
        let Some(to) = (self.recipient)(&event.identity) else {
            return;
        };
        let (subject, body) = Self::compose(event);
        let email = OutgoingEmail {
            from: self.from.clone(),
            to,
            subject,
            body,
        };
        if let Err(e) = self.transport.send(&email).await {
            crate::sync::lock(&self.errors).push(e);
        }
    }
}
