//! # easydkim
//!
//! Easy DKIM for any mail-sending application: a tenant registers a domain or an address,
//! the library hands out the DNS records to publish, watches DNS through a resolver you
//! supply, and DKIM-signs every message whose From address falls under a verified identity.
//!
//! This crate has two layers:
//!
//! - the **core** (this release): sans-I/O, synchronous DKIM — [`message`] splitting,
//!   [`canon`]icalization, [`key`]s and the [`Signer`];
//! - the **registry** (identities, records, statuses, resolution) built on top of it.
//!
//! ```
//! use easydkim::{KeySpec, Signer, SigningKey};
//!
//! let key = SigningKey::generate(KeySpec::Rsa2048)?;
//! println!("publish at sel1._domainkey.example.com: {}", key.dns_record());
//! let signer = Signer::new(key, "example.com", "sel1")?;
//! let message = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello\r\n";
//! let signed = signer.sign_message(message)?;
//! assert!(signed.ends_with(message));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
