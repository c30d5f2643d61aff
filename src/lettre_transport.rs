//! A [lettre](https://docs.rs/lettre) transport that DKIM-signs every message (feature
//! `lettre`).
//!
//! [`SigningTransport`] wraps any lettre transport — SMTP, sendmail, file, stub — and
//! implements [`lettre::Transport`] (for a blocking inner transport) and
//! [`lettre::AsyncTransport`] (for an async one). Each message passes through
//! [`IdentityRegistry::sign`] on its way to the inner transport: the registry finds the
//! identity that governs the From address and prepends the DKIM-Signature header(s); the
//! bytes of the message itself are handed on unchanged.
//!
//! Mail keeps flowing:
//!
//! - an **unsigned outcome** (the sender is not verified, its DKIM setup is not, signing is
//!   disabled, …) is *not* an error: the message goes out unsigned (still carrying the
//!   operator signature, if one is configured) and the reason is reported to
//!   [`on_unsigned`](SigningTransport::on_unsigned);
//! - a **malformed message** that cannot be signed at all (no From header, two From
//!   headers, a header line without a colon, …) is by default sent unsigned too and
//!   reported to [`on_sign_error`](SigningTransport::on_sign_error); with
//!   [`OnSignError::Refuse`] it is refused instead, with
//!   [`SigningTransportError::Refused`], and the inner transport never sees it;
//! - every outcome, signed or not, goes to [`on_outcome`](SigningTransport::on_outcome),
//!   the place for metrics and logs.
//!
//! The callbacks run on the sending thread (or task), after signing and before the inner
//! transport is called; keep them short.
//!
//! # Example
//!
//! An identity set up and verified in memory, a stub transport standing in for SMTP:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use easydkim::StaticDns;
//! use easydkim::lettre_transport::{OnSignError, SigningTransport};
//! use easydkim::{
//!     unix_now, DomainSetup, IdentityRegistry, KeySpec, RecordType, RegistryConfig, Selector,
//!     SigningKey,
//! };
//! use lettre::transport::stub::StubTransport;
//! use lettre::{Message, Transport};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A registry with one verified domain (bring-your-own-key, Ed25519).
//! let registry = Arc::new(IdentityRegistry::new(RegistryConfig::new(
//!     "eu-west-1",
//!     "dkim.mail.example.net",
//! )?));
//! let key = SigningKey::generate(KeySpec::Ed25519)?;
//! let setup = DomainSetup::BringYourOwnKey { selector: Selector::parse("sel1")?, key };
//! let identity = registry.create_domain_with("example.com", setup, unix_now())?;
//! let dns = StaticDns::new();
//! for r in registry.tenant_records(&identity) {
//!     match r.record_type {
//!         RecordType::Txt => dns.add_txt(&r.name, &r.value),
//!         RecordType::Cname => dns.add_cname(&r.name, &r.value),
//!     }
//! }
//! tokio::runtime::Builder::new_current_thread()
//!     .build()?
//!     .block_on(registry.refresh(&dns, unix_now()));
//!
//! // Wrap the transport (here a stub; in production `SmtpTransport::relay(..)?.build()`).
//! let unsigned = Arc::new(Mutex::new(Vec::new()));
//! let seen = unsigned.clone();
//! let mailer = SigningTransport::new(StubTransport::new_ok(), registry)
//!     .on_error(OnSignError::SendUnsigned)
//!     .on_unsigned(move |reason, envelope| {
//!         seen.lock().unwrap().push(format!("{envelope:?}: {reason}"));
//!     });
//!
//! let email = Message::builder()
//!     .from("Alice <alice@example.com>".parse()?)
//!     .to("Bob <bob@example.org>".parse()?)
//!     .subject("Hello")
//!     .body(String::from("Signed on its way out.\r\n"))?;
//! mailer.send(&email)?;
//!
//! // A sender no identity covers: sent all the same, unsigned, and reported.
//! let other = Message::builder()
//!     .from("carol@unverified.example".parse()?)
//!     .to("bob@example.org".parse()?)
//!     .subject("Hi")
//!     .body(String::from("Not signed.\r\n"))?;
//! mailer.send(&other)?;
//!
//! let sent = mailer.inner().messages();
//! assert!(sent[0].1.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
//! assert!(!sent[1].1.contains("DKIM-Signature"));
//! assert_eq!(unsigned.lock().unwrap().len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! Over SMTP, blocking or async (lettre's `tokio1` executor):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use easydkim::IdentityRegistry;
//! use easydkim::lettre_transport::SigningTransport;
//! use lettre::{AsyncSmtpTransport, AsyncTransport, SmtpTransport, Tokio1Executor, Transport};
//!
//! # async fn demo(registry: Arc<IdentityRegistry>, email: lettre::Message) -> Result<(), Box<dyn std::error::Error>> {
//! let smtp = SmtpTransport::builder_dangerous("127.0.0.1").port(2525).build();
//! let mailer = SigningTransport::new(smtp, registry.clone());
//! mailer.send(&email)?;
//!
//! let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
//!     .port(2525)
//!     .build();
//! let mailer = SigningTransport::new(smtp, registry);
//! mailer.send(email).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Signing happens inline, also in the async transport: a 2048-bit RSA signature costs
//! about a millisecond of CPU, about what the SMTP round trips cost anyway.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::{AsyncTransport, Transport};

use crate::error::SignError;
use crate::registry::{IdentityRegistry, SignOutcome, TenantSignature, UnsignedReason};

/// What [`SigningTransport`] does with a message that cannot be signed because it is
/// malformed (a [`SignError`]: no From header, two From headers, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnSignError {
    /// Hand the message to the inner transport as it is, unsigned (the default: mail keeps
    /// flowing; the error goes to [`on_sign_error`](SigningTransport::on_sign_error)).
    #[default]
    SendUnsigned,
    /// Refuse it: `send` returns [`SigningTransportError::Refused`] and the inner transport
    /// never sees the message.
    Refuse,
}

/// The error of a [`SigningTransport`]: the inner transport's error, or a refused message.
#[derive(Debug)]
#[non_exhaustive]
pub enum SigningTransportError<E> {
    /// The message could not be signed and [`OnSignError::Refuse`] is set.
    Refused(SignError),
    /// The inner transport failed.
    Transport(E),
}

impl<E> SigningTransportError<E> {
    /// The inner transport's error, if that is what this is.
    pub fn transport_error(&self) -> Option<&E> {
        match self {
            SigningTransportError::Transport(e) => Some(e),
            SigningTransportError::Refused(_) => None,
        }
    }

    /// The signing error of a refused message, if that is what this is.
    pub fn sign_error(&self) -> Option<&SignError> {
        match self {
            SigningTransportError::Refused(e) => Some(e),
            SigningTransportError::Transport(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for SigningTransportError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningTransportError::Refused(e) => {
                write!(f, "message refused: it cannot be DKIM-signed: {e}")
            }
            SigningTransportError::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SigningTransportError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SigningTransportError::Refused(e) => Some(e),
            SigningTransportError::Transport(e) => Some(e),
        }
    }
}

type OutcomeFn = dyn Fn(&SignOutcome, &Envelope) + Send + Sync;
type UnsignedFn = dyn Fn(&UnsignedReason, &Envelope) + Send + Sync;
type ErrorFn = dyn Fn(&SignError, &Envelope) + Send + Sync;

/// A lettre transport that DKIM-signs each message through an [`IdentityRegistry`] before
/// handing it to the inner transport `T`. See the [module documentation](self).
///
/// It is `Clone` when `T` is (the registry and callbacks are shared), and `Send + Sync`
/// when `T` is.
pub struct SigningTransport<T> {
    inner: T,
    registry: Arc<IdentityRegistry>,
    on_error: OnSignError,
    on_outcome: Option<Arc<OutcomeFn>>,
    on_unsigned: Option<Arc<UnsignedFn>>,
    on_sign_error: Option<Arc<ErrorFn>>,
}

impl<T: Clone> Clone for SigningTransport<T> {
    fn clone(&self) -> Self {
        SigningTransport {
            inner: self.inner.clone(),
            registry: self.registry.clone(),
            on_error: self.on_error,
            on_outcome: self.on_outcome.clone(),
            on_unsigned: self.on_unsigned.clone(),
            on_sign_error: self.on_sign_error.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for SigningTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningTransport")
            .field("inner", &self.inner)
            .field("registry", &self.registry)
            .field("on_error", &self.on_error)
            .field("on_outcome", &self.on_outcome.is_some())
            .field("on_unsigned", &self.on_unsigned.is_some())
            .field("on_sign_error", &self.on_sign_error.is_some())
            .finish()
    }
}

/// What to hand to the inner transport.
enum Prepared {
    /// Signed (or passed on unsigned): these bytes.
    Send(Vec<u8>),
    /// Malformed, passed on as it was.
    AsIs,
}

impl<T> SigningTransport<T> {
    /// Wraps `inner`; messages are signed by `registry`. Malformed messages are sent
    /// unsigned ([`OnSignError::SendUnsigned`]) and nothing is reported until callbacks are
    /// set.
    pub fn new(inner: T, registry: Arc<IdentityRegistry>) -> Self {
        SigningTransport {
            inner,
            registry,
            on_error: OnSignError::default(),
            on_outcome: None,
            on_unsigned: None,
            on_sign_error: None,
        }
    }

    /// What to do with a message that cannot be signed because it is malformed (default
    /// [`OnSignError::SendUnsigned`]).
    pub fn on_error(mut self, policy: OnSignError) -> Self {
        self.on_error = policy;
        self
    }

    /// Calls `f` with every signing outcome — signed or unsigned — and the envelope, before
    /// the message is handed to the inner transport.
    pub fn on_outcome(
        mut self,
        f: impl Fn(&SignOutcome, &Envelope) + Send + Sync + 'static,
    ) -> Self {
        self.on_outcome = Some(Arc::new(f));
        self
    }

    /// Calls `f` when a message goes out without the tenant signature, with the reason
    /// (for example [`UnsignedReason::UnverifiedSender`]) and the envelope.
    pub fn on_unsigned(
        mut self,
        f: impl Fn(&UnsignedReason, &Envelope) + Send + Sync + 'static,
    ) -> Self {
        self.on_unsigned = Some(Arc::new(f));
        self
    }

    /// Calls `f` when a message cannot be signed because it is malformed, whether it is then
    /// sent unsigned or refused (see [`on_error`](Self::on_error)).
    pub fn on_sign_error(
        mut self,
        f: impl Fn(&SignError, &Envelope) + Send + Sync + 'static,
    ) -> Self {
        self.on_sign_error = Some(Arc::new(f));
        self
    }

    /// The inner transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The inner transport, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the inner transport.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The registry that signs.
    pub fn registry(&self) -> &Arc<IdentityRegistry> {
        &self.registry
    }

    /// The policy for malformed messages.
    pub fn error_policy(&self) -> OnSignError {
        self.on_error
    }

    /// Signs `email`, runs the callbacks and decides what to send.
    fn prepare<E>(
        &self,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<Prepared, SigningTransportError<E>> {
        match self.registry.sign(email) {
            Ok(outcome) => {
                if let Some(f) = &self.on_outcome {
                    f(&outcome, envelope);
                }
                if let (Some(f), TenantSignature::Unsigned(reason)) =
                    (&self.on_unsigned, &outcome.tenant)
                {
                    f(reason, envelope);
                }
                Ok(Prepared::Send(outcome.message))
            }
            Err(error) => {
                if let Some(f) = &self.on_sign_error {
                    f(&error, envelope);
                }
                match self.on_error {
                    OnSignError::Refuse => Err(SigningTransportError::Refused(error)),
                    OnSignError::SendUnsigned => Ok(Prepared::AsIs),
                }
            }
        }
    }
}

impl<T: Transport> Transport for SigningTransport<T> {
    type Ok = T::Ok;
    type Error = SigningTransportError<T::Error>;

    fn send_raw(&self, envelope: &Envelope, email: &[u8]) -> Result<Self::Ok, Self::Error> {
        let result = match self.prepare(envelope, email)? {
            Prepared::Send(signed) => self.inner.send_raw(envelope, &signed),
            Prepared::AsIs => self.inner.send_raw(envelope, email),
        };
        result.map_err(SigningTransportError::Transport)
    }

    fn shutdown(&self) {
        self.inner.shutdown();
    }
}

#[async_trait]
impl<T> AsyncTransport for SigningTransport<T>
where
    T: AsyncTransport + Sync,
{
    type Ok = T::Ok;
    type Error = SigningTransportError<T::Error>;

    async fn send_raw(&self, envelope: &Envelope, email: &[u8]) -> Result<Self::Ok, Self::Error> {
        let prepared = self.prepare(envelope, email)?;
        let result = match &prepared {
            Prepared::Send(signed) => self.inner.send_raw(envelope, signed).await,
            Prepared::AsIs => self.inner.send_raw(envelope, email).await,
        };
        result.map_err(SigningTransportError::Transport)
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lettre::transport::stub::{AsyncStubTransport, StubTransport};

    use super::*;
    use crate::dns::StaticDns;
    use crate::error::MessageError;
    use crate::registry::{unix_now, DomainSetup, RegistryConfig};
    use crate::{KeySpec, Selector, SigningKey};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    /// A registry with `example.com` verified (bring-your-own-key, Ed25519).
    fn registry() -> Arc<IdentityRegistry> {
        let registry = IdentityRegistry::new(
            RegistryConfig::new("eu-west-1", "dkim.mail.example.net").unwrap(),
        );
        let setup = DomainSetup::BringYourOwnKey {
            selector: Selector::parse("sel1").unwrap(),
            key: SigningKey::generate(KeySpec::Ed25519).unwrap(),
        };
        let now = unix_now();
        let identity = registry
            .create_domain_with("example.com", setup, now - 60)
            .unwrap();
        let dns = StaticDns::new();
        dns.publish(&registry.tenant_records(&identity));
        runtime().block_on(registry.refresh(&dns, now - 30));
        Arc::new(registry)
    }

    fn envelope() -> Envelope {
        Envelope::new(
            Some("alice@example.com".parse().unwrap()),
            vec!["bob@example.org".parse().unwrap()],
        )
        .unwrap()
    }

    const SIGNED: &[u8] = b"From: alice@example.com\r\nTo: bob@example.org\r\n\r\nHi\r\n";
    const UNVERIFIED: &[u8] = b"From: carol@other.example\r\nTo: bob@example.org\r\n\r\nHi\r\n";
    const MALFORMED: &[u8] = b"To: bob@example.org\r\n\r\nNo From\r\n";

    type Log = Arc<Mutex<Vec<String>>>;

    fn logged<T>(inner: T) -> (SigningTransport<T>, Log) {
        let log: Log = Arc::default();
        let (a, b, c) = (log.clone(), log.clone(), log.clone());
        let t = SigningTransport::new(inner, registry())
            .on_outcome(move |o, _| {
                let what = match &o.tenant {
                    TenantSignature::Signed(c) => format!("signed d={}", c.domain),
                    TenantSignature::Unsigned(_) => "unsigned".to_string(),
                };
                a.lock().unwrap().push(format!("outcome {what}"));
            })
            .on_unsigned(move |r, e| {
                b.lock()
                    .unwrap()
                    .push(format!("reason {r} to {}", e.to()[0]))
            })
            .on_sign_error(move |err, _| c.lock().unwrap().push(format!("error {err}")));
        (t, log)
    }

    #[test]
    fn signs_passes_unsigned_and_reports() {
        let (t, log) = logged(StubTransport::new_ok());
        t.send_raw(&envelope(), SIGNED).unwrap();
        t.send_raw(&envelope(), UNVERIFIED).unwrap();
        t.send_raw(&envelope(), MALFORMED).unwrap();
        let sent = t.inner().messages();
        assert_eq!(sent.len(), 3);
        assert!(sent[0]
            .1
            .starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
        assert!(sent[0].1.ends_with(std::str::from_utf8(SIGNED).unwrap()));
        assert_eq!(sent[1].1.as_bytes(), UNVERIFIED);
        assert_eq!(sent[2].1.as_bytes(), MALFORMED);
        assert_eq!(sent[0].0, envelope());
        assert_eq!(
            *log.lock().unwrap(),
            [
                "outcome signed d=example.com",
                "outcome unsigned",
                "reason no identity is registered for the sender to bob@example.org",
                "error message has no From header",
            ]
        );
    }

    #[test]
    fn refuses_malformed_when_asked() {
        let (t, log) = logged(StubTransport::new_ok());
        let t = t.on_error(OnSignError::Refuse);
        assert_eq!(t.error_policy(), OnSignError::Refuse);
        let err = t.send_raw(&envelope(), MALFORMED).unwrap_err();
        assert!(matches!(
            err.sign_error(),
            Some(SignError::Message(MessageError::NoFrom))
        ));
        assert!(err.to_string().contains("refused"));
        assert!(std::error::Error::source(&err).is_some());
        assert!(t.inner().messages().is_empty());
        assert_eq!(*log.lock().unwrap(), ["error message has no From header"]);
        // Well-formed mail still flows, signed or not.
        t.send_raw(&envelope(), UNVERIFIED).unwrap();
        assert_eq!(t.inner().messages().len(), 1);
    }

    #[test]
    fn wraps_transport_errors() {
        let t = SigningTransport::new(StubTransport::new_error(), registry());
        let err = t.send_raw(&envelope(), SIGNED).unwrap_err();
        assert!(err.transport_error().is_some());
        assert!(err.sign_error().is_none());
        assert!(err.to_string().starts_with("transport error"));
        // The stub logs before it fails: the message reached it, signed.
        assert!(t.inner().messages()[0].1.starts_with("DKIM-Signature:"));
    }

    #[test]
    fn async_transport_signs_and_refuses() {
        let (t, log) = logged(AsyncStubTransport::new_ok());
        let t = t.on_error(OnSignError::Refuse).clone();
        let rt = runtime();
        rt.block_on(AsyncTransport::send_raw(&t, &envelope(), SIGNED))
            .unwrap();
        rt.block_on(AsyncTransport::send_raw(&t, &envelope(), UNVERIFIED))
            .unwrap();
        assert!(rt
            .block_on(AsyncTransport::send_raw(&t, &envelope(), MALFORMED))
            .is_err());
        let sent = rt.block_on(t.inner().messages());
        assert_eq!(sent.len(), 2);
        assert!(sent[0].1.starts_with("DKIM-Signature:"));
        assert_eq!(sent[1].1.as_bytes(), UNVERIFIED);
        assert_eq!(log.lock().unwrap().len(), 4);
        let failing = SigningTransport::new(AsyncStubTransport::new_error(), registry());
        let err = rt
            .block_on(AsyncTransport::send_raw(&failing, &envelope(), SIGNED))
            .unwrap_err();
        assert!(err.transport_error().is_some());
        assert!(format!("{failing:?}").contains("SigningTransport"));
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn is_send_and_sync() {
        assert_send_sync::<SigningTransport<lettre::SmtpTransport>>();
        assert_send_sync::<SigningTransport<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>>();
        assert_send_sync::<SigningTransport<lettre::FileTransport>>();
        assert_send_sync::<SigningTransport<lettre::SendmailTransport>>();
    }
}
