//! # Easy DKIM: the model
//!
//! easydkim is for an **operator**: an application that sends mail on behalf of others — a
//! SaaS product sending its customers' invoices, an email service provider, a mailing-list
//! host. The operator's customers are its **tenants**. Each tenant owns sending domains
//! (`example.com`, `news.example.com`) and addresses (`alice@example.com`), and wants
//! the mail sent in its name to carry a DKIM signature *of its own domain*, so that
//! receivers (and DMARC) credit the tenant, not the operator.
//!
//! Doing that by hand means every tenant generates a key, publishes it, and hands the
//! private half to the operator; every key change means another round of DNS edits.
//! Easy DKIM — the scheme Amazon SES made popular, which this crate implements for any
//! application — turns it around:
//!
//! 1. The operator owns a zone of its own, the **signing zone** (say
//!    `dkim.mail.example.net`), where it publishes public keys.
//! 2. When a tenant registers a domain, the library creates three random **tokens** with a
//!    key pair behind each, and asks the tenant to publish, once and for all, three CNAMEs
//!    that *delegate* its DKIM selectors to the operator's zone:
//!
//!    ```text
//!    <token1>._domainkey.example.com  CNAME  <token1>.dkim.mail.example.net
//!    <token2>._domainkey.example.com  CNAME  <token2>.dkim.mail.example.net
//!    <token3>._domainkey.example.com  CNAME  <token3>.dkim.mail.example.net
//!    ```
//!
//!    plus a verification TXT (`_easydkim.example.com`) proving it owns the domain. The
//!    operator publishes the keys themselves in its own zone
//!    (`<token>.dkim.mail.example.net TXT "v=DKIM1; k=rsa; p=…"`).
//! 3. The library watches DNS, through a resolver the operator supplies, until the records
//!    appear (they may take up to 72 hours), then marks the identity verified.
//! 4. From then on every message whose From address falls under the identity is signed
//!    with `d=example.com` and one of the token selectors. Because the tenant's names only
//!    *point* at the operator's zone, the operator can rotate keys behind them without the
//!    tenant ever touching DNS again (see [`rotation`](super::rotation)).
//!
//! The tenant's mail keeps flowing at every step: a message whose sender is not (yet)
//! verified goes out unsigned, with the reason, never as an error.
//!
//! ## Identities
//!
//! An identity is a domain or an email address, registered in one **region** (one
//! [`IdentityRegistry`](crate::IdentityRegistry) per region; the same domain in two regions
//! is two independent setups unless replicated on purpose). A domain proves ownership
//! through DNS; an email address through a confirmation token mailed to it. A domain
//! identity signs in one of three ways: Easy DKIM (the three CNAMEs, the default),
//! *bring your own key* (the tenant supplies a selector and private key and publishes one
//! TXT), or not at all. Which identity governs a given From address, when several could,
//! is the subject of [`precedence`](super::precedence); how statuses move is
//! [`lifecycle`](super::lifecycle); what the tenant publishes is
//! [`dns_setup`](super::dns_setup).
//!
//! Optionally the operator adds a second signature of its own domain to every message
//! ([`RegistryConfig::operator_signer`](crate::RegistryConfig::operator_signer)), the way
//! SES adds `d=amazonses.com`.
//!
//! ## Two layers
//!
//! ```text
//!                +-----------------------------------------------+
//!   operator --> | registry: identities, records, statuses,      | --> DnsVerifier (your resolver)
//!                | resolution, rotation, persistence, events     | --> Notifier
//!                +----------------------+------------------------+
//!                                       | key, d=, s=, options
//!                +----------------------v------------------------+
//!   raw bytes -> | core: message split -> canonicalize ->        | -> DKIM-Signature header(s)
//!                | body hash (one pass) -> sign -> fold           |
//!                | Verifier (same canonicalizer, key via DNS)     |
//!                +-----------------------------------------------+
//! ```
//!
//! - The **core** ([`Signer`](crate::Signer), [`Verifier`](crate::Verifier),
//!   [`SigningKey`](crate::SigningKey), [`StreamSigner`](crate::StreamSigner)) is synchronous and does
//!   no I/O: bytes and keys in, headers out. Use it alone when you sign for one domain with
//!   a key you already have.
//! - The **registry** ([`IdentityRegistry`](crate::IdentityRegistry)) owns identities,
//!   records, statuses and policy, and calls the core to sign. Every method takes `&self`;
//!   signing reads an immutable snapshot and holds no lock while hashing, so one registry
//!   serves all of a mailer's threads. DNS goes through your
//!   [`DnsVerifier`](crate::DnsVerifier): [`StaticDns`](crate::StaticDns) in memory, or
//!   `HickoryDnsVerifier` on real DNS (feature `hickory`).
//!
//! To plug the registry into a mailer built on [lettre](https://docs.rs/lettre), wrap the
//! transport in `easydkim::lettre_transport::SigningTransport` (feature `lettre`).
//!
//! ## The whole thing in twenty lines
//!
//! ```
//! use easydkim::{
//!     unix_now, DnsRecord, IdentityRegistry, KeySpec, RecordType, RegistryConfig, StaticDns,
//!     Status, TenantSignature, Verifier, VerifyOptions,
//! };
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!
//! let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! config.key_spec = KeySpec::Ed25519; // the default, RSA-2048, takes longer to generate
//! let registry = IdentityRegistry::new(config);
//!
//! // A tenant registers its domain and downloads the records it must publish.
//! let identity = registry.create_domain("example.com", unix_now())?;
//! let tenant = registry.tenant_records(&identity);
//! println!("{}", DnsRecord::to_csv(&tenant));
//!
//! // Tenant and operator publish (here: in an in-memory DNS); the operator refreshes.
//! let dns = StaticDns::new();
//! for r in tenant.iter().chain(&registry.operator_records(&identity)) {
//!     match r.record_type {
//!         RecordType::Cname => dns.add_cname(&r.name, &r.value),
//!         RecordType::Txt => dns.add_txt(&r.name, &r.value),
//!     }
//! }
//! let report = registry.refresh(&dns, unix_now()).await;
//! assert_eq!(report.events.len(), 2); // identity and DKIM: Pending -> Success
//!
//! // Every outgoing message: signed when a verified identity covers its From address.
//! let outcome = registry.sign(b"From: alice@example.com\r\nSubject: hi\r\n\r\nHello\r\n")?;
//! assert!(matches!(outcome.tenant, TenantSignature::Signed(ref c) if c.domain.as_str() == "example.com"));
//!
//! // What a receiver sees.
//! let results = Verifier::new(VerifyOptions::default()).verify(&dns, &outcome.message).await?;
//! assert_eq!(results[0].status, Status::Pass);
//! # Ok(())
//! # }
//! ```
