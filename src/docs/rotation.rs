//! # Key rotation, key length, dual signing, replicas, switching methods
//!
//! The reason Easy DKIM delegates with CNAMEs is that the operator can change keys without
//! asking the tenant to touch DNS. This page is the whole story of the keys behind an Easy
//! DKIM identity: how they rotate, which records the operator publishes at each step, the
//! key-length setting, dual signing (RSA with Ed25519), replicas in other regions, and
//! switching between Easy DKIM and bring-your-own-key.
//!
//! ## Roles
//!
//! An Easy DKIM identity has three tokens. The tenant publishes one CNAME per token, once:
//!
//! ```text
//! <token>._domainkey.example.com  CNAME  <token>.<signing zone>
//! ```
//!
//! The tokens and CNAMEs never change. The keys behind them do. At any time each key has one
//! role (`KeyRole`, listed by `Identity::key_roles`):
//!
//! | role       | published | signs | meaning                                                        |
//! |------------|-----------|-------|----------------------------------------------------------------|
//! | `Active`   | yes       | yes   | signs every message                                            |
//! | `Next`     | yes       | no    | the key the next rotation switches to                          |
//! | `Previous` | yes       | no    | the key that signed before the last switch (mail in flight)    |
//! | `Freed`    | yes       | no    | only during the overlap: the old previous key, waiting for a new key |
//!
//! All three key records are always published, so the tenant's three CNAMEs always resolve
//! and the identity's DKIM check (all three CNAMEs) keeps passing through a rotation.
//!
//! ## The state machine
//!
//! The rotation state (`RotationState`) is stored with the identity and saved in snapshots:
//!
//! ```text
//!             rotate / age            next key visible            overlap over
//!   Idle ─────────────────▶ AwaitingNext ─────────────────▶ Overlap ─────────────▶ Idle
//!    │                        ▲   │ not visible: Waiting      │ (fresh key for the
//!    └── next key visible ────┼───┼──────────────────────────▶│  freed token: next)
//!                             └───┘
//! ```
//!
//! Each call to `IdentityRegistry::rotate(identity, dns, now)` moves the rotation at most one
//! step and returns a `RotationStep`:
//!
//! | state before             | condition                                  | step               | state after          |
//! |--------------------------|--------------------------------------------|--------------------|----------------------|
//! | `Idle` / `AwaitingNext`  | next key visible through the tenant CNAME  | `Switched`         | `Overlap`            |
//! | `Idle` / `AwaitingNext`  | next key not visible                       | `Waiting`          | `AwaitingNext`       |
//! | `Overlap`                | before `switched_at + rotation_overlap`    | `InOverlap`        | unchanged            |
//! | `Overlap`                | overlap over                               | `NextKeyGenerated` | `Idle`               |
//!
//! "Visible" means: `dns.txt("<next token>._domainkey.<domain>")`, which goes through the
//! tenant's CNAME to the operator's record, returns a record with the next key's public key.
//! Only `Switched` changes the signing key. It happens only after that check passes, so the
//! registry never signs with a key that is not published.
//!
//! With `RegistryConfig::auto_rotate` (the default), `refresh` also moves rotations:
//!
//! - it starts a rotation when the active key has been signing for `rotation_age` (default
//!   180 days, counted from the last switch or from creation) and the DKIM status is Success;
//! - it moves started rotations along (`AwaitingNext` and `Overlap`), one step per call.
//!
//! The steps `refresh` took are in `RefreshReport::rotations`, each with its record changes.
//! When `auto_rotate` is off, only `rotate` moves a rotation.
//!
//! Each step that changes the state also emits one `Event` with
//! `check: Check::Rotation(RotationPhase::{AwaitingNext, Switched, NextKeyGenerated})`. Its
//! `from` and `to` are both the DKIM status, because a rotation does not change it. Events
//! from `refresh` are in its report and go to the notifier. Events from `rotate` are queued and
//! go to the notifier on the next `flush_notifications` or `refresh`. A repeated `Waiting` or
//! `InOverlap` emits no event.
//!
//! ## What the operator publishes at each step
//!
//! Each step returns `RecordChange`s for the operator's zone, one for every key record of the
//! identity. `Publish(r)` means make sure `r` is there. `Replace { old, new }` means the name
//! now holds `new`. `Keep(r)` means leave `r` alone. `Remove(r)` means take `r` away. Apply
//! them by name: afterwards each name holds exactly the record given. The tenant never has to
//! change anything.
//!
//! Here is an example with tokens `A`, `B`, `C` in the signing zone `dkim.mail.example.net`,
//! the default 7-day overlap, and keys named `k1`, `k2`, … in the order they are created:
//!
//! | time        | step                     | roles after (A / B / C)       | operator zone changes                                   | signs with |
//! |-------------|--------------------------|-------------------------------|---------------------------------------------------------|------------|
//! | T (setup)   | `create_domain`          | active / next / previous      | publish `A→k1`, `B→k2`, `C→k3` (`operator_records`)     | k1         |
//! | T+180 d     | `Switched`               | previous / active / freed     | keep all three                                          | k2         |
//! | T+181 d     | `InOverlap` (until +187) | unchanged                     | keep all three                                          | k2         |
//! | T+187 d     | `NextKeyGenerated`       | previous / active / next      | replace `C: k3 → k4`; keep `A→k1`, `B→k2`               | k2         |
//! | T+360 d     | `Switched`               | freed / previous / active     | keep all three                                          | k4         |
//! | T+367 d     | `NextKeyGenerated`       | next / previous / active      | replace `A: k1 → k5`; keep `B→k2`, `C→k4`               | k4         |
//!
//! If the operator has not yet applied the `Replace` for `k4` when the next rotation is due,
//! the step is `Waiting` with `last_error: InvalidValue` and a change that asks to `Publish`
//! `C→k4`. Signing stays on `k2` until `k4` can be seen.
//!
//! Mail signed with a key still verifies while that key is published. For `k1` this is until
//! T+367 d: it stays as `A` through the first overlap and the roles after it. Mail signed just
//! before a switch therefore still verifies during the overlap, and well after it.
//!
//! ## Crash safety
//!
//! The whole rotation state is in the identity: roles, generation time per key, `active_since`,
//! `RotationState`, and the key-length policy. Snapshots save all of it. Every step is worked
//! out from that state alone and applied in one critical section, so repeating a step or
//! racing two calls is harmless (one `Switched`; the others get `InOverlap`). The DNS lookup
//! and key generation run with no lock held. If the state changed in the meantime, the step is
//! prepared again.
//!
//! | interrupted …                                                  | after restore from a snapshot                                                      |
//! |----------------------------------------------------------------|------------------------------------------------------------------------------------|
//! | while `AwaitingNext`                                           | still `AwaitingNext`; `refresh` or `rotate` switches once the key is visible        |
//! | during the overlap                                             | still in the overlap, same roles; no second switch                                  |
//! | after `NextKeyGenerated`, before the operator published it     | the next switch waits (`Waiting`, `InvalidValue`) until the record is published    |
//! | state lost back to before `NextKeyGenerated` (the operator had published it) | the step runs again with another fresh key and returns a `Replace`; the switch waits for *that* key |
//!
//! Snapshots written before rotation existed still load. Key *n* = `active` signs, the one after
//! it is next, and the other is previous. All of them count as generated at the identity's
//! creation. No rotation is under way, and the signing zone is the registry's. The snapshot
//! format version is unchanged; every new field is optional.
//!
//! ## Key length
//!
//! `set_next_key_spec(identity, spec, now)` sets the spec (`Rsa1024`, `Rsa2048`, `Ed25519`, …)
//! of the next key generated, that is, the fresh key at the end of the next overlap. It becomes
//! the signing key at the rotation after that. As in SES, the spec can change at most once per
//! 24 hours, except that a downgrade to RSA-1024 is always allowed (it is the first of its
//! 24 hours: leaving 1024 again waits for them). A refused change returns
//! `RegistryError::KeySpecChangeTooSoon { retry_at }`; setting the configured spec again is
//! refused with `RegistryError::KeySpecUnchanged`. `Identity::current_key_spec()`, `next_key_spec()` and
//! `last_key_generation()` report the state.
//!
//! ## Dual signing (RSA and Ed25519)
//!
//! `enable_dual_signing(identity, now)` adds an Ed25519 key on a fourth token. It returns
//! `Publish` for the key's operator record. `tenant_records` now lists a fourth CNAME. The
//! Ed25519 signature is added only after `refresh` has seen that CNAME (`Check::DualSigning`
//! event, Pending → Success). From then on:
//!
//! - `sign_at` makes two tenant signatures with the same `d=` over one body pass: RSA with the
//!   active token, Ed25519 with the extra token. The operator's signature comes after them.
//!   `SignOutcome::dual_signature` names the second one.
//! - the identity's DKIM check also needs the fourth CNAME. If that CNAME disappears, both the
//!   DKIM status and the dual status go to TemporaryFailure.
//!
//! `disable_dual_signing` stops the Ed25519 signature at once and returns `Remove` for its
//! record. Keep that record a little longer if mail signed with it may still be in flight. The
//! Ed25519 key does not rotate with the three tokens.
//!
//! ## Replicas in other regions
//!
//! `Regions::replicate(domain, from, to, now)` creates an identity in `to`. It shares the
//! parent's tokens, keys, verification token and **signing zone**. The zone is stored on the
//! setup (`EasyState::signing_zone`), so the replica's CNAME targets and DKIM checks use the
//! parent's zone, not the zone of its own region. The tenant's records serve both regions.
//! The replica's statuses start Pending and follow DNS like any identity's.
//!
//! Replicas do not rotate by themselves. `rotate`, `set_next_key_spec` and
//! `enable_dual_signing` on a replica return `RegistryError::IsReplica`. The parent rotates,
//! and `Regions::sync_replicas` copies the parent's keys, roles and rotation state to each
//! replica. It also emits a `Rotation` event in the replica's region. `Regions::refresh_all`
//! calls it after refreshing every region, and `Regions::rotate(region, identity, …)` calls it
//! after rotating. Given a replica, `Regions::rotate` rotates its parent. Between the parent's
//! switch and the copy, the replica signs with the parent's previous key, which is still
//! published.
//!
//! Refusals: the same region (`SameRegion`), an unknown region (`UnknownRegion`), no parent
//! (`UnknownIdentity`), a parent without DKIM (`NoDkimSetup`), a parent with its own key
//! (`ParentUsesOwnKey`), a parent that is itself a replica (`ReplicaOfReplica`), and an identity
//! already in the target region (`IdentityExists`).
//!
//! ## Switching methods
//!
//! `switch_to_byo(identity, selector, key, now)` and `switch_to_easy(identity, now)` replace
//! the DKIM setup of an existing domain. `SameMethod` means the domain already uses that
//! method.
//!
//! **The gap:** the new setup is Pending until `refresh` sees its records. Until then mail from
//! the domain goes out **unsigned**, and `resolve` reports
//! `DkimNotVerified { identity, status: Pending }`. This is deliberate: we never fall back to
//! the old setup. To keep the gap short, publish the new records first (the BYO TXT, or the
//! three new CNAMEs and the returned operator records), then switch, then refresh.
//!
//! - `switch_to_byo` returns `Remove` for the old Easy DKIM operator records. A replica returns
//!   none, because those records belong to its parent.
//! - `switch_to_easy` creates three new tokens and keys and returns `Publish` for their
//!   operator records. The tenant publishes the three CNAMEs from `tenant_records`.
//! - Ownership: a domain that was verified only through its Easy DKIM CNAMEs needs its
//!   verification TXT (`_easydkim.<domain>`) after a switch to bring-your-own-key. Otherwise
//!   the identity itself moves to TemporaryFailure.
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
