//! # DNS setup: a guide for tenants
//!
//! This page is written so that an operator can adapt it for its tenants' help pages. It
//! uses the defaults: the verification label `_easydkim`, the operator's signing zone
//! `dkim.mail.example.net`, the tenant's domain `example.com`.
//!
//! ## What to publish
//!
//! [`IdentityRegistry::tenant_records`](crate::IdentityRegistry::tenant_records) lists the
//! records of an identity, [`DnsRecord::to_csv`](crate::DnsRecord::to_csv) makes the file
//! the tenant downloads and [`DnsRecord::to_zone`](crate::DnsRecord::to_zone) the zone-file
//! lines. For an Easy DKIM domain there are four:
//!
//! | Type  | Name                                        | Value                                     |
//! |-------|---------------------------------------------|-------------------------------------------|
//! | TXT   | `_easydkim.example.com`                     | the verification token (base64)           |
//! | CNAME | `<token1>._domainkey.example.com`           | `<token1>.dkim.mail.example.net`          |
//! | CNAME | `<token2>._domainkey.example.com`           | `<token2>.dkim.mail.example.net`          |
//! | CNAME | `<token3>._domainkey.example.com`           | `<token3>.dkim.mail.example.net`          |
//!
//! - The **three CNAMEs** are what DKIM needs: receivers look the key up at
//!   `<token>._domainkey.example.com` and the CNAME sends them to the operator's zone. The
//!   CNAMEs alone also prove ownership of the domain, so the TXT is optional for an Easy
//!   DKIM domain.
//! - The **verification TXT** proves ownership on its own. It is required for a domain
//!   without DKIM or with its own key. Its value may be given with the prefix `easydkim:`
//!   (`easydkim:<token>`), which some tenants prefer so that they know later what a TXT at
//!   the apex is for.
//! - With **bring your own key** there is, instead of the CNAMEs, one TXT at
//!   `<selector>._domainkey.example.com` with value `v=DKIM1; k=rsa; p=<public key>` (or
//!   `k=ed25519`).
//! - An **email address** identity needs no DNS at all: it is confirmed with the token
//!   mailed to it.
//!
//! Nothing else changes: MX, SPF and DMARC records stay as they are (for DMARC alignment,
//! the `d=example.com` of the signature already matches the From domain).
//!
//! ## The usual mistakes
//!
//! [`IdentityRegistry::diagnose`](crate::IdentityRegistry::diagnose) recognises each of
//! these and says how to fix it; show its findings to the tenant.
//!
//! **The zone appended twice.** Most DNS hosting panels append the zone to whatever is
//! typed in the name field. Typing the full name `_easydkim.example.com` then creates
//! `_easydkim.example.com.example.com`. In such a panel type only the part before the
//! zone: `_easydkim`, `<token>._domainkey`.
//! [`DnsRecord::relative_name`](crate::DnsRecord::relative_name) gives exactly
//! that part, so an operator can show both forms. The same happens to CNAME *targets* in
//! some panels: `<token>.dkim.mail.example.net.example.com`.
//!
//! **The trailing dot.** In a zone file (BIND, Knot, NSD, and panels that accept zone-file
//! syntax) a name *without* a trailing dot is relative to the zone: write
//! `<token>.dkim.mail.example.net.` with the final dot, as
//! [`DnsRecord::zone_line`](crate::DnsRecord::zone_line) does. Panels usually
//! want the names without the dot and add it themselves; a few panels take the dot as a
//! sign that the name is absolute. If a panel shows the saved record with the zone
//! appended, the dot was missing.
//!
//! **The underscore.** `_domainkey` and `_easydkim` start with an underscore. A few DNS
//! hosts refuse underscores, or silently drop them (`easydkim.example.com`). For the
//! verification TXT there is a way around: publish it at the domain itself
//! (`example.com TXT "easydkim:<token>"`), which the registry accepts too. There is no way
//! around for the DKIM names: receivers look keys up under `_domainkey`, so such a host
//! cannot serve DKIM; move the zone (or the `_domainkey` subzone) to another host.
//!
//! **A TXT instead of a CNAME.** Copying the operator's key into a TXT at the tenant's name
//! works today and breaks at the next key rotation. Publish the CNAME. (A host that
//! *flattens* CNAMEs — answers with the target's TXT — is accepted as long as the key
//! matches.)
//!
//! **Quotes and spaces.** The value of a TXT is the text between the quotes; a panel that
//! adds its own quotes then stores `"\"token\""`. Paste the value without quotes unless
//! the panel asks for zone-file syntax.
//!
//! **Long keys.** A TXT string holds at most 255 bytes; an RSA-2048 key record is about
//! 400. Zone files need it split into several quoted strings, which `zone_line` does; most
//! panels split it themselves.
//!
//! ```
//! use easydkim::{
//!     unix_now, DnsRecord, DomainName, IdentityRegistry, KeySpec, RecordType, RegistryConfig,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! config.key_spec = KeySpec::Ed25519;
//! let registry = IdentityRegistry::new(config);
//! let identity = registry.create_domain("example.com", unix_now())?;
//! let zone = DomainName::parse("example.com")?;
//! for r in registry.tenant_records(&identity) {
//!     // What to type in a panel that appends the zone, and the full name.
//!     let short = r.relative_name(&zone).unwrap();
//!     assert!(short == "_easydkim" || short.ends_with("._domainkey"));
//!     if r.record_type == RecordType::Cname {
//!         assert!(r.value.ends_with(".dkim.mail.example.net"));
//!     }
//! }
//! // Zone-file lines: absolute names, with the trailing dot.
//! let lines = DnsRecord::to_zone(&registry.tenant_records(&identity));
//! assert!(lines.lines().all(|l| l.contains(".example.com. IN ")));
//! assert!(lines.contains(".dkim.mail.example.net.\n"));
//! # Ok(())
//! # }
//! ```
//!
//! ## How long it takes
//!
//! A new record is usually visible within minutes, but a resolver that has cached the
//! *absence* of the name (a negative answer, kept for the zone's SOA minimum TTL) and slow
//! secondary servers can delay it for hours. The registry therefore keeps looking for up
//! to **72 hours** (the detection window,
//! [`RegistryConfig::detection_window`](crate::RegistryConfig::detection_window)) each time
//! the operator calls `refresh`; transient DNS errors in that time never count against the
//! tenant. If the records have not appeared by then, the setup is Failed and has to be
//! restarted ([`IdentityRegistry::restart`](crate::IdentityRegistry::restart): same
//! records, a new 72 hours). Records that disappear later (a zone migration that forgot
//! them) do not stop signing at once either: there is a grace period of another 72 hours.
//! The statuses and their transitions are on the [`lifecycle`](super::lifecycle) page.
//!
//! Tenants should keep the records for as long as they send through the operator.
//! Removing the CNAMEs makes every signature fail at the receivers, mail already in
//! flight included.
