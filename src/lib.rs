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
//! use easydkim::{
//!     unix_now, IdentityRegistry, KeySpec, RegistryConfig, StaticDns,
//!     TenantSignature,
//! };
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
//! dns.publish(&for_the_tenant);
//! dns.publish(&for_your_zone);
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
//! [`StreamSigner`]), [`Verifier`], [`Canonicalizer`] and [`SigningKey`]. No I/O: the verifier
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
//! ## Inside the registry
//!
//! For contributors: `src/registry/` holds one concern per file, so that a change to one
//! rule is made in one short file.
//!
//! | file | decides |
//! |------|---------|
//! | `mod.rs` | the registry type and its primitives: every change to the state goes through `apply_change` |
//! | `state.rs` | the state as a value, and [`Change`], the one kind of change (applied locally, committed by a shared store) |
//! | `config.rs`, `error.rs` | the settings of a region; what an operation can refuse |
//! | `identity.rs`, `status.rs` | what an identity is; statuses, events, identity names |
//! | `lifecycle.rs` | creating identities, confirming email addresses, enabling, restarting, deleting |
//! | `rules.rs` | where each record lives, what counts as the verification token, when a record holds a key |
//! | `records.rs` | the records to publish, as data, CSV and zone lines |
//! | `checks.rs` | what one DNS check observes, and the status machine (`step`) it drives |
//! | `refresh.rs` | what moves a status: collect (DNS, no lock), apply (a pure transition per identity), notify |
//! | `resolve.rs` | who decides which key signs: identity precedence |
//! | `sign.rs` | `registry.sign`: the tenant's and the operator's signatures over one body pass |
//! | `rotation.rs` | what a rotation step does (the state machine) |
//! | `key_length.rs`, `dual.rs`, `method.rs`, `replication.rs`, `regions.rs` | key-length policy, dual signing, switching methods, replicas, one registry per region |
//! | `diagnose/` | why a setup fails, one file per record kind |
//! | `notify.rs`, `test_email.rs` | notifications; the test email |
//! | `shared/` | state shared by nodes: the store contract (`contract.rs`), the node (`mod.rs`), the change feed |
//! | `store/`, `postgres/`, `snapshot.rs` | the file store (format, single-node `RegistryStore`), the PostgreSQL store (sealing keys, the store), snapshots |
//!
//! ## Crate features
//!
//! None is on by default; the default build is pure Rust.
//!
//! | feature | adds |
//! |---------|------|
//! | `hickory` | `hickory::HickoryDnsVerifier`, a production [`DnsVerifier`] on hickory-resolver (tokio) |
//! | `openssl` | OpenSSL as a fast signing backend for RSA (every size) and Ed25519 ([`Backend`]); needs libssl-dev |
//! | `aws-lc-rs` | aws-lc-rs as a fast backend for Ed25519 and RSA >= 2048 ([`Backend`]) |
//! | `serde` | the modules `snapshot` (serializable registry state) and `store` (the file store) |
//! | `postgres` | the module `postgres`: registry state shared by many nodes through PostgreSQL |
//! | `lettre` | `lettre_transport::SigningTransport`, a lettre transport that signs every message |
//! | `cli` | the `easydkim` command (identities, records, refresh, diagnose, rotation, keygen, sign, verify, testkey) on the file or PostgreSQL store |
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod canon;
mod dns;
pub mod docs;
mod error;
mod failure;
mod field;
mod key;
mod key_record;
mod lanes;
#[cfg(feature = "lettre")]
#[cfg_attr(docsrs, doc(cfg(feature = "lettre")))]
pub mod lettre_transport;
mod message;
mod names;
mod registry;
mod signer;
mod stream;
mod sync;
mod tag_list;
mod verifier;

// The public surface: one path per item. The DKIM core and the registry's everyday types
// live at the root; integrations and storage, which most users never import, have a module
// of their own.

#[cfg(feature = "hickory")]
#[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
pub use dns::hickory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use registry::postgres;
pub use registry::shared;

/// The building blocks of DKIM-Signature fields and key records: the strict tag-list parser
/// (RFC 6376 3.2) and the field name and line length the signer writes.
pub mod signature {
    pub use crate::field::{FIELD_NAME, MAX_LINE};
    pub use crate::tag_list::{parse_tag_list, Tag, TagListError};
}
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use registry::snapshot;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use registry::store;

// The registry.
pub use registry::{
    unix_now, ChainStep, Change, Check, Decision, Delivery, DkimSetup, DnsRecord, DomainSetup,
    DualKey, EasyKey, EasyState, EmailNotifier, Event, Finding, FindingKind, Identity,
    IdentityName, IdentityRegistry, KeyRole, KeySlot, LastError, MailTransport, Notifier,
    OsTokenSource, OutgoingEmail, Publisher, Purpose, RecipientFn, RecordChange, RecordType,
    RefreshReport, Regions, RegistryConfig, RegistryError, Resolution, RotationPhase,
    RotationState, RotationStep, SignCounts, SignOutcome, SigningChoice, SigningStats, State,
    StepOutcome, TenantSignature, TestEmailReport, TestSignature, Token, TokenSource,
    UnsignedCounts, UnsignedReason, VerificationInfo, VerificationStatus, KEY_SPEC_CHANGE_INTERVAL,
};

// DNS.
pub use dns::{DnsError, DnsResult, DnsVerifier, StaticDns, ZoneError};

// The DKIM core.
pub use canon::{
    BodyHash, BodyHasher, Canonicalization, CanonicalizationParseError, Canonicalizer,
};
pub use error::{ErrorCause, KeyError, MessageError, SignError};
pub use failure::FailureReason;
pub use key::{
    Algorithm, Backend, KeySpec, KeyType, PublicKey, SigningKey, MAX_RSA_BITS, MIN_RSA_BITS,
};
pub use key_record::{KeyRecord, KeyRecordError};
pub use message::{FromAddress, HeaderField, Limits, LineEnding, Location, Message, Warning};
pub use names::{DomainName, EmailAddress, NameError, Selector};
pub use signer::{
    sign_all, HeaderSelection, Profile, SignOptions, Signed, Signer, DEFAULT_SIGNED_HEADERS,
    NEVER_SIGNED_HEADERS, OVERSIGNED_HEADERS,
};
pub use stream::{sign_reader, StreamError, StreamSigner};
pub use verifier::{
    BodyLengthPolicy, KeyLookup, KeyLookupError, Status, VerificationResult, Verifier,
    VerifyOptions,
};
