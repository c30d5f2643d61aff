//! # The status lifecycle
//!
//! Every identity has a **verification status** (does the tenant own it?) and, for a
//! domain with a DKIM setup, a **DKIM status** (are the DKIM records right?). Both are a
//! [`VerificationStatus`](crate::VerificationStatus) and move by the same rules, driven by
//! [`refresh`](crate::IdentityRegistry::refresh), which looks the records up through your
//! [`DnsVerifier`](crate::DnsVerifier) and applies what it saw. Each status comes with
//! [`VerificationInfo`](crate::VerificationInfo): when it was last checked, last
//! seen correct, and what the last unsuccessful check found
//! ([`LastError`](crate::LastError): `HostNotFound`, `TypeNotFound`,
//! `InvalidValue`, `DnsServerError`).
//!
//! ```text
//!                      create (records to publish)
//!                                 |
//!   NotStarted                    v              records seen
//!   (no DKIM setup;     +-----------------+ ------------------------> +-----------+
//!    add_dkim starts -> |     Pending     |                           |  Success  | <-+
//!    it as Pending)     +-----------------+                           +-----------+   |
//!                         |  ^       | missing, or DNS errors:              |         |
//!                         |  |       | keep waiting while                   | records |
//!       missing when the  |  |       | now < window start + window          | missing | records
//!       window (72 h) has |  |       +---> (stays Pending)                  v         | seen
//!       passed            |  |                                  +--------------------+ |
//!                         |  | restart                          |  TemporaryFailure  |-+
//!                         v  | (same records,                   |  still signs while |
//!                   +----------+  new window)     still missing |  now < failing     |
//!                   |  Failed  | <----------------------------- |  since + grace     |
//!                   +----------+  when the grace (72 h) is over +--------------------+
//! ```
//!
//! - **NotStarted** — nothing to verify: the DKIM status of a domain created without DKIM
//!   ([`DomainSetup::None`](crate::DomainSetup::None)).
//!   [`add_dkim`](crate::IdentityRegistry::add_dkim) starts it as Pending.
//! - **Pending → Success** as soon as a check sees the records: for the verification, the
//!   TXT token *or* all three Easy DKIM CNAMEs; for DKIM, the three CNAMEs (or the
//!   bring-your-own-key TXT carrying the key on file).
//! - **Pending → Failed** when a check still finds the records missing or wrong once the
//!   **detection window** ([`RegistryConfig::detection_window`](crate::RegistryConfig::detection_window),
//!   72 h) since creation or restart has passed.
//! - **Success → TemporaryFailure** when a later check definitely cannot find them. The
//!   identity *still counts as verified and still signs* during the **grace period**
//!   ([`RegistryConfig::grace_period`](crate::RegistryConfig::grace_period), 72 h), measured
//!   from the first failing check.
//! - **TemporaryFailure → Success** when the records reappear within the grace period;
//!   **→ Failed** when a check after the grace period still misses them.
//! - **Failed** is final until [`restart`](crate::IdentityRegistry::restart): back to
//!   Pending, with the same tokens (so the same records) and a new window.
//! - **Transient DNS errors** (SERVFAIL, timeouts) are recorded as `DnsServerError` and
//!   change nothing: they never fail a setup, nor start a TemporaryFailure.
//!
//! Email identities use the first half only: **Pending** until
//! [`confirm_email`](crate::IdentityRegistry::confirm_email) with the token mailed to the
//! address (→ **Success**), or **Failed** at the first `refresh` after the token's lifetime
//! ([`RegistryConfig::email_confirmation_lifetime`](crate::RegistryConfig::email_confirmation_lifetime),
//! 24 h) has passed; `restart` issues a new lifetime for the same token.
//!
//! ## Events
//!
//! Every transition produces exactly one [`Event`](crate::Event) — in the
//! [`RefreshReport`](crate::RefreshReport) of the `refresh` call that applied
//! it, and to the [`Notifier`](crate::Notifier) if one is set — also when two
//! `refresh` calls race. `confirm_email` and `restart` return their transitions and queue
//! them for the notifier. Events are what an operator turns into the tenant's "your domain
//! is verified" and "DKIM setup failed" emails.
//!
//! ## The whole cycle, with the clock in hand
//!
//! Every time-dependent call takes `now` (Unix seconds), so a test can walk through three
//! days in a few lines:
//!
//! ```
//! use easydkim::{
//!     unix_now, Check, IdentityRegistry, KeySpec, RecordType, RegistryConfig, StaticDns,
//!     VerificationStatus::*,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const HOUR: u64 = 3600;
//! let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! config.key_spec = KeySpec::Ed25519;
//! let registry = IdentityRegistry::new(config);
//! let t0 = unix_now();
//! let identity = registry.create_domain("example.com", t0)?;
//! let late = registry.create_domain("late.example.com", t0)?; // never published
//! assert_eq!((identity.status(), identity.dkim_status()), (Pending, Pending));
//!
//! let dns = StaticDns::new();
//! for r in registry.tenant_records(&identity).iter().chain(&registry.operator_records(&identity)) {
//!     match r.record_type {
//!         RecordType::Cname => dns.add_cname(&r.name, &r.value),
//!         RecordType::Txt => dns.add_txt(&r.name, &r.value),
//!     }
//! }
//! let status = |name: &str| {
//!     let i = registry.get_str(name).unwrap();
//!     (i.status(), i.dkim_status())
//! };
//!
//! // Records seen: Pending -> Success, one event per check.
//! let report = registry.refresh(&dns, t0 + HOUR).await;
//! assert_eq!(report.events.len(), 2);
//! assert!(report.events.iter().all(|e| e.from == Pending && e.to == Success));
//! assert_eq!(status("example.com"), (Success, Success));
//!
//! // The tenant's zone loses the records: TemporaryFailure, signing goes on.
//! dns.clear();
//! registry.refresh(&dns, t0 + 2 * HOUR).await;
//! assert_eq!(status("example.com"), (TemporaryFailure, TemporaryFailure));
//! let msg = b"From: a@example.com\r\n\r\nhi\r\n";
//! assert!(registry.sign_at(msg, t0 + 3 * HOUR)?.message.starts_with(b"DKIM-Signature:"));
//!
//! // 72 hours later, still missing: Failed, and no more signing. The other domain's
//! // detection window has passed too.
//! let report = registry.refresh(&dns, t0 + 75 * HOUR).await;
//! assert_eq!(status("example.com"), (Failed, Failed));
//! assert_eq!(status("late.example.com"), (Failed, Failed));
//! assert!(report.events.iter().any(|e| &e.identity == late.name() && e.check == Check::Dkim));
//! assert!(!registry.sign_at(msg, t0 + 75 * HOUR)?.message.starts_with(b"DKIM-Signature:"));
//!
//! // A restart: same records, a new window.
//! let events = registry.restart("example.com", t0 + 76 * HOUR)?;
//! assert_eq!(events.len(), 2);
//! assert_eq!(status("example.com"), (Pending, Pending));
//! # Ok(())
//! # }
//! ```
