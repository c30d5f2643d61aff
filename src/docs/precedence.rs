//! # Which identity signs a message
//!
//! Only the **From** address matters: Return-Path, Sender and Reply-To never choose the
//! key. For `From: local@sub.example.com` the candidates, most specific first, are:
//!
//! 1. the email identity `local@sub.example.com`;
//! 2. the same address without its `+tag` (`alice+news@example.com` falls under
//!    `alice@example.com`);
//! 3. the domain identities `sub.example.com`, then `example.com`, and so on up — never a
//!    bare top-level domain.
//!
//! Domains compare case-insensitively (after IDNA, so `bücher.example` and
//! `xn--bcher-kva.example` are one identity); local parts compare exactly.
//!
//! Only **verified** candidates count (status Success, or TemporaryFailure within its grace
//! period). An unverified identity is *transparent*: the walk goes past it as if it were
//! not registered. Walking the verified candidates from the most specific:
//!
//! 1. the first one with **signing disabled**
//!    ([`set_signing_enabled`](crate::IdentityRegistry::set_signing_enabled)) stops the walk:
//!    unsigned, [`SigningDisabled`](crate::UnsignedReason::SigningDisabled);
//! 2. the first **domain with a DKIM setup** (Easy DKIM or its own key) decides: if its
//!    DKIM status is verified it signs, with `d=` that domain; if not, the message goes
//!    unsigned with [`DkimNotVerified`](crate::UnsignedReason::DkimNotVerified). There is
//!    no silent fall back to a parent's key: a tenant who set up DKIM for
//!    `shop.example.com` expects `d=shop.example.com` or nothing;
//! 3. if the walk ends without a decision:
//!    [`NotYetVerified`](crate::UnsignedReason::NotYetVerified) when candidates are
//!    registered but none is verified (it names the most specific one and the status that
//!    holds it back, e.g. "example.com is registered, DKIM Pending: its records have not
//!    been seen in DNS yet"), [`UnverifiedSender`](crate::UnsignedReason::UnverifiedSender)
//!    when none is registered at all, [`NoDkimSetup`](crate::UnsignedReason::NoDkimSetup)
//!    when some were verified but none had a DKIM setup.
//!
//! So a verified email identity inherits its domain's DKIM (unless it disables signing);
//! a verified subdomain without a setup of its own signs under its parent's `d=`; a
//! subdomain with its own setup signs under its own `d=` once that setup is verified.
//!
//! The identity reported as governing ([`SigningChoice::identity`](crate::SigningChoice::identity))
//! is the most specific verified candidate — its settings apply — while
//! [`SigningChoice::domain`](crate::SigningChoice::domain) is the domain whose key
//! signs. [`IdentityRegistry::resolve`](crate::IdentityRegistry::resolve) returns the decision
//! with every step of the walk ([`Resolution::chain`](crate::Resolution::chain)),
//! so an operator can show a tenant *why*; [`sign`](crate::IdentityRegistry::sign) returns
//! the same resolution in its outcome.
//!
//! ## Worked examples
//!
//! One registry, these identities:
//!
//! | identity            | verified? | DKIM                                  | signing |
//! |---------------------|-----------|---------------------------------------|---------|
//! | `example.com`       | yes       | Easy DKIM, verified                   | on      |
//! | `news.example.com`  | yes (TXT) | none                                  | on      |
//! | `shop.example.com`  | yes (TXT) | Easy DKIM, CNAMEs not published yet   | on      |
//! | `promo.example.com` | no        | Easy DKIM, nothing published          | on      |
//! | `alice@example.com` | confirmed | —                                     | on      |
//! | `bob@example.com`   | confirmed | —                                     | **off** |
//! | `plain.example`     | yes (TXT) | none                                  | on      |
//!
//! | From                         | result                                                        |
//! |------------------------------|---------------------------------------------------------------|
//! | `carol@example.com`          | signed, `d=example.com`, governed by `example.com`            |
//! | `alice@example.com`          | signed, `d=example.com`, governed by `alice@example.com`      |
//! | `alice+news@example.com`     | the same: the `+tag` is dropped                               |
//! | `bob@example.com`            | unsigned: signing disabled for `bob@example.com`              |
//! | `x@news.example.com`         | signed, `d=example.com`: no setup of its own, inherits        |
//! | `x@shop.example.com`         | unsigned: DKIM of `shop.example.com` is Pending — no fall back |
//! | `x@promo.example.com`        | signed, `d=example.com`: the unverified subdomain is transparent |
//! | `x@deep.news.example.com`    | signed, `d=example.com`: unregistered names are skipped too   |
//! | `x@plain.example`            | unsigned: verified, but no DKIM setup                         |
//! | `x@other.example`            | unsigned: no verified identity                                |
//!
//! The same, as code:
//!
//! ```
//! use easydkim::{
//!     unix_now, Decision, DnsRecord, DomainSetup, EmailAddress, IdentityRegistry, KeySpec,
//!     RecordType, RegistryConfig, StaticDns,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! config.key_spec = KeySpec::Ed25519;
//! let registry = IdentityRegistry::new(config);
//! let now = unix_now();
//! let dns = StaticDns::new();
//! let publish = |records: &[DnsRecord], only_txt: bool| {
//!     for r in records {
//!         match r.record_type {
//!             RecordType::Txt => dns.add_txt(&r.name, &r.value),
//!             RecordType::Cname if !only_txt => dns.add_cname(&r.name, &r.value),
//!             RecordType::Cname => {}
//!         }
//!     }
//! };
//!
//! let root = registry.create_domain("example.com", now)?;
//! publish(&registry.tenant_records(&root), false);
//! publish(&registry.operator_records(&root), false);
//! let news = registry.create_domain_with("news.example.com", DomainSetup::None, now)?;
//! publish(&registry.tenant_records(&news), false);
//! let shop = registry.create_domain("shop.example.com", now)?;
//! publish(&registry.tenant_records(&shop), true); // the verification TXT only
//! registry.create_domain("promo.example.com", now)?; // nothing published
//! let plain = registry.create_domain_with("plain.example", DomainSetup::None, now)?;
//! publish(&registry.tenant_records(&plain), false);
//! for address in ["alice@example.com", "bob@example.com"] {
//!     let (_, token) = registry.create_email(address, now)?;
//!     registry.confirm_email(address, &token, now)?;
//! }
//! registry.set_signing_enabled("bob@example.com", false)?;
//! registry.refresh(&dns, now).await;
//!
//! let who = |from: &str| -> String {
//!     let address = EmailAddress::parse(from).unwrap();
//!     match registry.resolve(&address, now).decision {
//!         Decision::Sign(c) => format!("d={} by {}", c.domain, c.identity),
//!         Decision::Unsigned(reason) => format!("unsigned: {reason}"),
//!     }
//! };
//! assert_eq!(who("carol@example.com"), "d=example.com by example.com");
//! assert_eq!(who("alice@example.com"), "d=example.com by alice@example.com");
//! assert_eq!(who("alice+news@example.com"), "d=example.com by alice@example.com");
//! assert_eq!(who("bob@example.com"), "unsigned: DKIM signing is disabled for bob@example.com");
//! assert_eq!(who("x@news.example.com"), "d=example.com by news.example.com");
//! assert_eq!(who("x@shop.example.com"), "unsigned: DKIM for shop.example.com is Pending, not verified");
//! assert_eq!(who("x@promo.example.com"), "d=example.com by example.com");
//! assert_eq!(who("x@deep.news.example.com"), "d=example.com by news.example.com");
//! assert_eq!(who("x@plain.example"), "unsigned: no verified identity covering the sender has a DKIM setup");
//! assert_eq!(who("x@other.example"), "unsigned: no identity is registered for the sender");
//!
//! // The chain behind a decision, for the tenant's support page.
//! let resolution = registry.resolve(&EmailAddress::parse("x@promo.example.com")?, now);
//! for step in &resolution.chain {
//!     println!("{}: {:?}", step.candidate, step.outcome);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Things that do not change the decision
//!
//! - The **Sender**, **Return-Path** (envelope sender) and **Reply-To**: a message from
//!   `From: alice@example.com` with `Sender: bounces@operator.example.net` is signed for
//!   `example.com`.
//! - The **operator signature**, when configured, is added to every message whatever the
//!   decision; it signs for the operator's domain, not the tenant's.
//! - A **malformed From** (none, two, no domain) is not an unsigned decision but an error
//!   of [`sign`](crate::IdentityRegistry::sign) naming the problem.
