//! # Key rotation
//!
//! The reason Easy DKIM delegates with CNAMEs is that the operator can change keys without
//! asking the tenant to touch DNS. The full timeline, with the records to publish at each
//! step, is in `docs/rotation.md` in the repository. In short:
//!
//! ## Three tokens, three roles
//!
//! An Easy DKIM identity has three tokens, so three CNAMEs at the tenant and three key
//! records in the operator's signing zone. At any time one token is **active** (its key
//! signs), one is **next** (its key is published but does not sign yet) and one is
//! **previous** (the key that signed before, still published so that mail in flight still
//! verifies). The tokens never change; only the keys behind them do.
//!
//! ```text
//!              token A        token B        token C
//!   before:    active         next           previous
//!   switch:    previous       active         (freed: old key stays published)
//!   overlap    ...7 days (RegistryConfig::rotation_overlap)...
//!   after:     previous       active         next (fresh key: publish it)
//! ```
//!
//! 1. **Switch** — signing moves to the next key, but only once its TXT is visible through
//!    the tenant's CNAME (`dns.txt("<next token>._domainkey.<domain>")` carries its public
//!    key); until then the step is [`RotationStep::Waiting`](crate::registry::RotationStep::Waiting)
//!    and signing does not change. So no rotation ever signs with a key receivers cannot
//!    find.
//! 2. **Overlap** — the former active key stays published, unchanged, for
//!    [`RegistryConfig::rotation_overlap`](crate::RegistryConfig::rotation_overlap).
//! 3. **New next key** — after the overlap the freed token gets a fresh key (of the
//!    identity's next key spec, which
//!    [`set_next_key_spec`](crate::IdentityRegistry::set_next_key_spec) changes, e.g. from
//!    RSA-1024 to RSA-2048); the operator replaces that one record in its zone.
//!
//! Each step returns the operator-zone [`RecordChange`](crate::registry::RecordChange)s it
//! asks for ([`RotationStep::changes`](crate::registry::RotationStep::changes)); apply
//! them by name. Each step that changed something is also an
//! [`Event`](crate::registry::Event) with [`Check::Rotation`](crate::registry::Check::Rotation).
//!
//! ## Who moves it
//!
//! - [`IdentityRegistry::rotate`](crate::IdentityRegistry::rotate) moves one identity's
//!   rotation one step (starting one if none is under way); repeating it is harmless.
//! - With [`RegistryConfig::auto_rotate`](crate::RegistryConfig::auto_rotate) (on by
//!   default) [`refresh`](crate::IdentityRegistry::refresh) starts a rotation once the
//!   active key has signed for [`rotation_age`](crate::RegistryConfig::rotation_age)
//!   (180 days) and advances started ones; the steps it took are in
//!   [`RefreshReport::rotations`](crate::registry::RefreshReport::rotations).
//! - Replicas in other regions follow their parent
//!   ([`Regions::sync_replicas`](crate::Regions::sync_replicas)).
//!
//! A bring-your-own-key identity does not rotate through the registry: the tenant owns
//! its key and its TXT record. Moving such a domain to Easy DKIM
//! ([`switch_to_easy`](crate::IdentityRegistry::switch_to_easy)) hands rotation to the
//! operator from then on.
//!
//! ## The state machine
//!
//! A rotation is a small state machine ([`RotationState`](crate::RotationState)) persisted
//! in the identity:
//!
//! ```text
//!            rotate / age            next TXT visible            overlap over
//!   Idle ─────────────────▶ AwaitingNext ──────────────────▶ Overlap ──────────────▶ Idle
//!    │                        ▲   │ not visible: Waiting      │ (new key for the
//!    └── next TXT visible ────┼───┼──────────────────────────▶│  freed token = next)
//!                             └───┘
//! ```
//!
//! Every step is computed from the persisted state alone, applied in one critical section
//! and idempotent: repeating a call, racing two calls or restoring a snapshot taken at any
//! point resumes correctly. The signing key only ever changes by the switch, and the switch
//! only happens after the key was seen in DNS, so no crash leaves an identity signing with
//! an unpublished key.
//!
//! ## Replication across regions
//!
//! [`Regions::replicate`](crate::Regions::replicate) creates a replica of an Easy DKIM
//! identity in another region: it shares the parent's tokens, keys, verification token and
//! signing zone, so one set of tenant records serves both. Replicas do not rotate on their
//! own: the parent rotates and [`Regions::sync_replicas`](crate::Regions::sync_replicas)
//! (called by [`Regions::refresh_all`](crate::Regions::refresh_all) and
//! [`Regions::rotate`](crate::Regions::rotate)) copies its keys and rotation state to every
//! replica. Between the parent's switch and the copy a replica signs with the parent's
//! previous key, which is still published.
//!
//! ## Example
//!
//! ```
//! use easydkim::{
//!     unix_now, IdentityRegistry, KeySpec, RecordType, RegistryConfig, RotationStep, StaticDns,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! config.key_spec = KeySpec::Ed25519;
//! let registry = IdentityRegistry::new(config);
//! let now = unix_now();
//! let identity = registry.create_domain("example.com", now)?;
//! let dns = StaticDns::new();
//! for r in registry.tenant_records(&identity).iter().chain(&registry.operator_records(&identity)) {
//!     match r.record_type {
//!         RecordType::Cname => dns.add_cname(&r.name, &r.value),
//!         RecordType::Txt => dns.add_txt(&r.name, &r.value),
//!     }
//! }
//! registry.refresh(&dns, now).await;
//!
//! // All three keys are published, so the next key is visible: the switch happens at once.
//! let step = registry.rotate("example.com", &dns, now + 60).await?;
//! assert!(matches!(step, RotationStep::Switched { .. }));
//! for change in step.changes().iter().filter(|c| c.is_action()) {
//!     println!("operator zone: {change:?}");
//! }
//! # Ok(())
//! # }
//! ```
