//! # Migrating to easydkim
//!
//! ## From OpenDKIM's KeyTable and SigningTable
//!
//! An OpenDKIM signer is configured with two tables:
//!
//! ```text
//! # KeyTable: key name -> domain:selector:private key file
//! sel1._domainkey.example.com   example.com:sel1:/etc/opendkim/keys/example.com/sel1.private
//! mkt._domainkey.example.org    example.org:mkt:/etc/opendkim/keys/example.org/mkt.private
//!
//! # SigningTable (refile:): From pattern -> key name
//! *@example.com                 sel1._domainkey.example.com
//! *@example.org                 mkt._domainkey.example.org
//! ```
//!
//! Each **KeyTable line** is a key that a domain already publishes (the TXT at
//! `sel1._domainkey.example.com` exists). It maps to one of two things:
//!
//! - **a bring-your-own-key identity** in the registry, when the domain is a tenant's:
//!   [`DomainSetup::BringYourOwnKey`](crate::DomainSetup::BringYourOwnKey) with the
//!   selector and the key file read by [`SigningKey::load`](crate::SigningKey::load) (which
//!   reads the PKCS#1 PEM `opendkim-genkey` writes, PKCS#8 and DER too). The existing TXT
//!   keeps working; the tenant adds the verification TXT
//!   (`_easydkim.example.com`, from [`tenant_records`](crate::IdentityRegistry::tenant_records))
//!   so that `refresh` can verify the domain. Later, the domain can move to Easy DKIM
//!   ([`switch_to_easy`](crate::IdentityRegistry::switch_to_easy)) and leave key rotation
//!   to the operator;
//! - **a [`Signer`](crate::Signer)**, when it is the operator's own key (the one OpenDKIM
//!   used for every message, say `*` in the SigningTable): set it as
//!   [`RegistryConfig::operator_signer`](crate::RegistryConfig::operator_signer) and it
//!   signs every message, next to the tenant's signature. Without a registry at all, a
//!   `Signer` alone replaces a single-domain OpenDKIM (see the end of this section).
//!
//! Each **SigningTable line** is a precedence rule, and most of them need no counterpart:
//!
//! | SigningTable pattern                   | easydkim                                                        |
//! |----------------------------------------|-----------------------------------------------------------------|
//! | `*@example.com`                        | the domain identity `example.com` covers it                     |
//! | `*@*.example.com` / `*@.example.com`   | also covered by `example.com`: subdomains inherit their parent's key unless they have a setup of their own ([`precedence`](super::precedence)) |
//! | `alice@example.com` with the same key  | covered by `example.com`; an email identity `alice@example.com` only to give her her own settings (e.g. signing off) |
//! | `alice@example.com` with another key of the same domain | no counterpart: easydkim signs per domain; use a `Signer` for that address yourself |
//! | `*` (everything) with one key          | [`RegistryConfig::operator_signer`](crate::RegistryConfig::operator_signer) |
//!
//! OpenDKIM matches the SigningTable on the From address, as easydkim does; its `-S`/
//! `SenderHeaders` option (sign by Sender) has no counterpart on purpose.
//!
//! The tables, as code:
//!
//! ```
//! use easydkim::{
//!     unix_now, DnsVerifier, DomainSetup, IdentityRegistry, KeySpec, RecordType, RegistryConfig,
//!     Selector, SigningKey, StaticDns, TenantSignature,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("easydkim-doc-migrating-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # for file in ["example.com.private", "example.org.private"] {
//! #     std::fs::write(dir.join(file), SigningKey::generate(KeySpec::Ed25519)?.to_pkcs8_pem()?.as_bytes())?;
//! # }
//! # let keys = dir.display();
//! let key_table = format!(
//!     "sel1._domainkey.example.com  example.com:sel1:{keys}/example.com.private\n\
//!      mkt._domainkey.example.org   example.org:mkt:{keys}/example.org.private\n"
//! );
//! let registry = IdentityRegistry::new(RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?);
//! let dns = StaticDns::new(); // stands in for the tenants' zones
//! let now = unix_now();
//! for line in key_table.lines() {
//!     let (_name, spec) = line.split_once(char::is_whitespace).unwrap();
//!     let mut parts = spec.trim().splitn(3, ':');
//!     let (domain, selector, path) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
//!     let key = SigningKey::load(&std::fs::read(path)?)?;
//!     let published = key.dns_record(); // what the domain has published all along
//!     let setup = DomainSetup::BringYourOwnKey { selector: Selector::parse(selector)?, key };
//!     let identity = registry.create_domain_with(domain, setup, now)?;
//!     for r in registry.tenant_records(&identity) {
//!         assert_eq!(r.record_type, RecordType::Txt);
//!         dns.add_txt(&r.name, &r.value); // the key TXT (already there) and the new verification TXT
//!     }
//!     assert_eq!(dns.txt(&format!("{selector}._domainkey.{domain}")).await?, [published]);
//! }
//! registry.refresh(&dns, now).await;
//!
//! let outcome = registry.sign(b"From: news@example.org\r\nSubject: hi\r\n\r\nHello\r\n")?;
//! let TenantSignature::Signed(choice) = outcome.tenant else { panic!("not signed") };
//! assert_eq!((choice.domain.as_str(), choice.selector.as_str()), ("example.org", "mkt"));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! The settings of `opendkim.conf` map onto [`Signer`](crate::Signer) options (for the
//! registry's tenant signatures, onto [`RegistryConfig::profile`](crate::RegistryConfig::profile);
//! the defaults are usually what you want):
//!
//! | opendkim.conf                          | easydkim                                                        |
//! |----------------------------------------|-----------------------------------------------------------------|
//! | `Domain`, `Selector`, `KeyFile`        | `Signer::new(SigningKey::load(&std::fs::read(file)?)?, domain, selector)` |
//! | `Canonicalization relaxed/simple`      | [`Signer::canonicalization`](crate::Signer::canonicalization) (default `relaxed/relaxed`) |
//! | `SignHeaders`                          | [`Signer::headers`](crate::Signer::headers) (default: RFC 6376 5.4.1 plus MIME and list headers) |
//! | `OversignHeaders From`                 | on by default for From, To, Subject, Date and the other singletons ([`Signer::oversign`](crate::Signer::oversign)) |
//! | `SignatureAlgorithm`                   | follows from the key: `rsa-sha256` or `ed25519-sha256` (`rsa-sha1` never) |
//! | `MinimumKeyBits 1024`                  | always: RSA keys under 1024 bits are refused                    |
//! | `Mode v` (verifying)                   | [`Verifier`](crate::Verifier)                                   |
//!
//! A single-domain OpenDKIM milter, replaced in three lines:
//!
//! ```
//! # use easydkim::{KeySpec, Signer, SigningKey};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let pem = SigningKey::generate(KeySpec::Ed25519)?.to_pkcs8_pem()?;
//! # let raw_message: &[u8] = b"From: a@example.com\r\n\r\nhi\r\n";
//! let key = SigningKey::load(pem.as_bytes())?; // e.g. std::fs::read("/etc/opendkim/keys/example.com/sel1.private")?
//! let signer = Signer::new(key, "example.com", "sel1")?;
//! let signed: Vec<u8> = signer.sign_message(raw_message)?; // hand this to the MTA
//! # assert!(signed.ends_with(raw_message));
//! # Ok(())
//! # }
//! ```
//!
//! ## From lettre's DKIM module
//!
//! lettre can sign with its `dkim` feature (`lettre::message::dkim`):
//!
//! ```text
//! use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
//!
//! let key = DkimSigningKey::new(&pkcs1_pem, DkimSigningAlgorithm::Rsa)?;
//! let config = DkimConfig::default_config("sel1".to_string(), "example.com".to_string(), key);
//! let mut email = Message::builder() /* … */ .body(body)?;
//! email.sign(&config); // or lettre::message::dkim::dkim_sign(&mut email, &config)
//! mailer.send(&email)?;
//! ```
//!
//! Two ways to replace it; both drop the `dkim` feature of lettre.
//!
//! **With a [`Signer`](crate::Signer)**, for one domain and a key you hold. `DkimSigningKey`
//! takes a PKCS#1 PEM (RSA) or a base64 Ed25519 seed; [`SigningKey::load`](crate::SigningKey::load)
//! reads both as they are. Sign the formatted message and send the bytes with
//! `send_raw`:
//!
//! ```
//! # #[cfg(feature = "lettre")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use easydkim::{KeySpec, Signer, SigningKey};
//! use lettre::transport::stub::StubTransport;
//! use lettre::{Message, Transport};
//!
//! # let mailer = StubTransport::new_ok();
//! # let pem = SigningKey::generate(KeySpec::Ed25519)?.to_pkcs8_pem()?;
//! let signer = Signer::new(SigningKey::load(pem.as_bytes())?, "example.com", "sel1")?;
//! let email = Message::builder()
//!     .from("alice@example.com".parse()?)
//!     .to("bob@example.org".parse()?)
//!     .subject("Hello")
//!     .body(String::from("Hi Bob\r\n"))?;
//! let signed = signer.sign_message(&email.formatted())?;
//! mailer.send_raw(email.envelope(), &signed)?;
//! # assert!(mailer.messages()[0].1.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "lettre"))]
//! # fn main() {}
//! ```
//!
//! The signatures differ from lettre's in ways receivers prefer: `c=relaxed/relaxed`
//! instead of `simple/relaxed` (survives header re-folding in transit), more headers signed
//! than lettre's `From:Subject:To:Date` (Message-ID, MIME headers, Reply-To, Cc, …) with
//! the singletons oversigned, and the header folded at 78 columns. To reproduce lettre's
//! shape exactly, set [`canonicalization`](crate::Signer::canonicalization) to
//! `simple/relaxed` and [`headers`](crate::Signer::headers) to
//! `["From", "Subject", "To", "Date"]`.
//!
//! **With `SigningTransport`** (feature `lettre`), when mail is sent for several domains or
//! tenants: the transport asks an [`IdentityRegistry`](crate::IdentityRegistry) to sign
//! each message, so each `DkimConfig` becomes an identity (a bring-your-own-key identity,
//! as in the OpenDKIM section above, or a new Easy DKIM one) and the call sites stay
//! `mailer.send(&email)`:
//!
//! ```no_run
//! # #[cfg(feature = "lettre")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::sync::Arc;
//! # let registry = Arc::new(easydkim::IdentityRegistry::new(easydkim::RegistryConfig::new("r", "dkim.example.net")?));
//! # let email = lettre::Message::builder().from("a@example.com".parse()?).to("b@example.org".parse()?).body(String::new())?;
//! use easydkim::lettre_transport::SigningTransport;
//! use lettre::{SmtpTransport, Transport};
//!
//! let mailer = SigningTransport::new(SmtpTransport::builder_dangerous("localhost").build(), registry)
//!     .on_unsigned(|reason, envelope| eprintln!("sent unsigned ({reason}): {envelope:?}"));
//! mailer.send(&email)?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "lettre"))]
//! # fn main() {}
//! ```
//!
//! See the `lettre_transport` module (feature `lettre`) for what happens to unsigned
//! and malformed messages.
