//! # easydkim
//!
//! Easy DKIM for any mail-sending application, as Amazon SES offers it: a tenant registers
//! a domain or an email address, the [`IdentityRegistry`] hands out the DNS records to
//! publish (a verification TXT and three CNAMEs that delegate DKIM to the operator's own
//! zone), watches DNS through a resolver you supply ([`DnsVerifier`]) until the records
//! appear, and from then on [`IdentityRegistry::sign`] DKIM-signs every message whose From
//! address falls under a verified identity, with the settings of the most specific one.
//!
//! ## The operator's loop
//!
//! ```
//! use easydkim::registry::{unix_now, RecordType};
//! use easydkim::{IdentityRegistry, KeySpec, RegistryConfig, StaticDns, TenantSignature};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!
//! let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! config.key_spec = KeySpec::Ed25519; // the default is RSA-2048
//! let registry = IdentityRegistry::new(config);
//!
//! // 1. A tenant registers its domain; you show it the records to publish.
//! let identity = registry.create_domain("example.com", unix_now())?;
//! let for_the_tenant = registry.tenant_records(&identity); // TXT + 3 CNAMEs
//! let for_your_zone = registry.operator_records(&identity); // 3 key TXTs
//!
//! // (Here everyone publishes into an in-memory DNS; yours is real DNS.)
//! let dns = StaticDns::new();
//! for r in for_the_tenant.iter().chain(&for_your_zone) {
//!     match r.record_type {
//!         RecordType::Cname => dns.add_cname(&r.name, &r.value),
//!         RecordType::Txt => dns.add_txt(&r.name, &r.value),
//!     }
//! }
//!
//! // 2. Periodically: check DNS; each status change comes back as an event.
//! let report = registry.refresh(&dns, unix_now()).await;
//! assert_eq!(report.events.len(), 2); // identity and DKIM: Pending -> Success
//!
//! // 3. Every outgoing message: signed when a verified identity covers its From.
//! let outcome = registry.sign(b"From: alice@example.com\r\nSubject: hi\r\n\r\nHello\r\n")?;
//! match &outcome.tenant {
//!     TenantSignature::Signed(choice) => assert_eq!(choice.domain.as_str(), "example.com"),
//!     TenantSignature::Unsigned(reason) => panic!("sent unsigned: {reason}"),
//! }
//! // outcome.message: the new DKIM-Signature header, then your bytes unchanged.
//! # Ok(())
//! # }
//! ```
//!
//! ## Guides
//!
//! | page | read it when |
//! |------|--------------|
//! | [`docs::easy_dkim`] | you start: the model (operator, tenants, signing zone) and a whole setup |
//! | [`docs::dns_setup`] | you write the instructions your tenants follow |
//! | [`docs::precedence`] | you explain why a message was (not) signed, or with which `d=` |
//! | [`docs::lifecycle`] | you turn status events into emails and dashboards |
//! | [`docs::rotation`] | you plan key rotation and key length |
//! | [`docs::migrating`] | you come from OpenDKIM or lettre's DKIM module |
//!
//! ## The DKIM core
//!
//! Under the registry, usable alone: [`Signer`] (RFC 6376, RFC 8301, RFC 8463; RSA and
//! Ed25519; several signatures over one body pass with [`sign_all`]; streaming in
//! [`stream`]), [`Verifier`], [`Canonicalizer`] and [`SigningKey`]. No I/O: the verifier
//! looks keys up through the same [`DnsVerifier`] trait.
//!
//! ```
//! use easydkim::{KeySpec, Signer, SigningKey};
//!
//! let key = SigningKey::generate(KeySpec::Ed25519)?;
//! println!("publish at sel1._domainkey.example.com: {}", key.dns_record());
//! let signer = Signer::new(key, "example.com", "sel1")?;
//! let message = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello\r\n";
//! let signed = signer.sign_message(message)?;
//! assert!(signed.ends_with(message));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Crate features
//!
//! None is on by default; the default build is pure Rust.
//!
//! | feature | adds |
//! |---------|------|
//! | `hickory` | `dns::hickory::HickoryDnsVerifier`, a production [`DnsVerifier`] on hickory-resolver (tokio) |
//! | `openssl` | OpenSSL as a fast signing backend for RSA (every size) and Ed25519 ([`Backend`]); needs libssl-dev |
//! | `aws-lc-rs` | aws-lc-rs as a fast backend for Ed25519 and RSA >= 2048 ([`Backend`]) |
//! | `serde` | serializable registry snapshots (`registry::snapshot`) and the file store (`registry::store`) |
//! | `postgres` | registry state shared by many nodes through PostgreSQL (`registry::postgres`) |
//! | `lettre` | `lettre_transport::SigningTransport`, a lettre transport that signs every message |
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod canon;
pub mod dns;
pub mod docs;
pub mod error;
pub mod key;
#[cfg(feature = "lettre")]
#[cfg_attr(docsrs, doc(cfg(feature = "lettre")))]
pub mod lettre_transport;
pub mod message;
pub mod names;
pub mod registry;
pub mod signature;
pub mod signer;
pub mod stream;
pub mod verifier;

pub use canon::{BodyHasher, Canonicalization, Canonicalizer};
pub use dns::{DnsError, DnsVerifier, StaticDns};
pub use error::{KeyError, MessageError, SignError};
pub use key::{Algorithm, Backend, KeySpec, PublicKey, SigningKey};
pub use message::{Limits, Message, Warning};
pub use names::{DomainName, EmailAddress, NameError, Selector};
pub use registry::{
    Decision, DomainSetup, IdentityName, IdentityRegistry, RecordChange, Regions, RegistryConfig,
    RegistryError, RotationStep, SignOutcome, TenantSignature, UnsignedReason, VerificationStatus,
};
pub use signer::{sign_all, HeaderSelection, Profile, SignOptions, Signed, Signer};
pub use verifier::{Status, VerificationResult, Verifier, VerifyOptions};
