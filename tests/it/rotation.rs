//! Easy DKIM key rotation (guide page `easydkim::docs::rotation`) on a fake clock and an in-memory DNS: at every
//! step the operator publishes exactly the record changes the step returned, and every
//! message signed so far is verified by our `Verifier` against the DNS of that moment
//! (mail-auth checks a rotation the same way in `benches/tests/mail_auth.rs`). Also: rotation blocked until the next key is
//! visible, automatic rotation by age in `refresh`, interruption at every step (snapshot
//! and restore), key-length rules, dual signing, and switching methods with its gap.

use std::sync::{Arc, Barrier, Mutex};

use async_trait::async_trait;
use easydkim::{
    Check, Decision, DnsRecord, DomainSetup, Event, IdentityRegistry, KeyRole, KeySpec, Notifier,
    Publisher, Purpose, RecordChange, RecordType, RegistryConfig, RegistryError, RotationPhase,
    RotationState, RotationStep, Selector, StaticDns, Status, TenantSignature, Token,
    UnsignedReason, VerificationStatus, Verifier, VerifyOptions,
};

use crate::key;
use crate::precedence::{
    addr, config, easy_keys, message_from, name, new_signatures, refresh, statuses, tag, H, T0,
    ZONE,
};

use crate::support::{block_on, publish};
use VerificationStatus::{Pending, Success, TemporaryFailure};

/// One day in seconds.
pub(crate) const DAY: u64 = 24 * H;
const DOMAIN: &str = "example.com";
const SENDER: &str = "user@example.com";

// ---------------------------------------------------------------------------------------
// Helpers (also used by `replication`)
// ---------------------------------------------------------------------------------------

/// Applies operator-zone changes by name: afterwards each name holds exactly the record the
/// change names (nothing, for a removal).
pub(crate) fn apply_changes(dns: &StaticDns, changes: &[RecordChange]) {
    for c in changes {
        dns.remove(c.name());
        if let Some(r) = c.target() {
            assert_eq!(r.publisher, Publisher::Operator, "{r:?}");
            assert_eq!(r.record_type, RecordType::Txt, "{r:?}");
            dns.add_txt(&r.name, &r.value);
        }
    }
}

/// A message signed at some moment, with the selector it was signed with.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) label: String,
    pub(crate) message: Vec<u8>,
    pub(crate) selector: String,
}

/// Signs a message from `from` at `t`; the tenant signature must be there.
pub(crate) fn send(reg: &IdentityRegistry, from: &str, t: u64, label: &str) -> Sent {
    let input = message_from(from);
    let out = reg.sign_at(&input, t).expect("sign");
    let TenantSignature::Signed(choice) = &out.tenant else {
        panic!("{label}: unsigned: {:?}", out.tenant);
    };
    Sent {
        label: label.to_string(),
        message: out.message,
        selector: choice.selector.clone(),
    }
}

/// Our verifier's `(s=, status)` for each signature of `message`, as of `now`.
pub(crate) fn ours(dns: &StaticDns, message: &[u8], now: u64) -> Vec<(String, Status)> {
    let v = Verifier::new(VerifyOptions::default().with_now(Some(now)));
    block_on(v.verify(dns, message))
        .expect("verify")
        .into_iter()
        .map(|r| (r.selector.unwrap_or_default(), r.status))
        .collect()
}

/// Every signature of every message passes our verifier as of `now` (mail-auth walks a
/// rotation too: `benches/tests/mail_auth.rs`; OpenDKIM, dkimpy and Mail::DKIM in the interop
/// suite).
pub(crate) fn assert_all_verify(dns: &StaticDns, sent: &[Sent], now: u64, context: &str) {
    for s in sent {
        let ours = ours(dns, &s.message, now);
        assert!(
            !ours.is_empty() && ours.iter().all(|(_, st)| *st == Status::Pass),
            "{context}: {} (s={}): ours {ours:?}",
            s.label,
            s.selector
        );
    }
}

/// Records every event it is handed.
#[derive(Default)]
pub(crate) struct Recorder(pub(crate) Mutex<Vec<Event>>);

#[async_trait]
impl Notifier for Recorder {
    async fn notify(&self, event: &Event) {
        self.0.lock().expect("lock").push(event.clone());
    }
}

impl Recorder {
    /// The rotation phases handed over so far (drained), with the other events dropped.
    pub(crate) fn take_phases(&self) -> Vec<RotationPhase> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
            .into_iter()
            .filter_map(|e| match e.check {
                Check::Rotation(p) => Some(p),
                _ => None,
            })
            .collect()
    }
}

/// The token with `role` of an identity.
pub(crate) fn role(reg: &IdentityRegistry, identity: &str, role: KeyRole) -> Token {
    let id = reg.get_str(identity).expect("identity");
    let found: Vec<Token> = id
        .key_roles()
        .into_iter()
        .filter(|(_, r)| *r == role)
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(found.len(), 1, "{identity}: {role} in {:?}", id.key_roles());
    found[0].clone()
}

/// The operator record name of a token.
fn op_name(token: &Token) -> String {
    format!("{token}.{ZONE}")
}

/// Counts of (Publish, Replace, Keep, Remove) in some changes.
fn kinds(changes: &[RecordChange]) -> (usize, usize, usize, usize) {
    let mut k = (0, 0, 0, 0);
    for c in changes {
        match c {
            RecordChange::Publish(_) => k.0 += 1,
            RecordChange::Replace { old, new } => {
                assert_eq!(old.name, new.name);
                assert_ne!(old.value, new.value);
                k.1 += 1
            }
            RecordChange::Keep(_) => k.2 += 1,
            RecordChange::Remove(_) => k.3 += 1,
            other => panic!("unexpected change {other:?}"),
        }
    }
    k
}

fn rotate(reg: &IdentityRegistry, dns: &StaticDns, t: u64) -> RotationStep {
    block_on(reg.rotate(DOMAIN, dns, t)).expect("rotate")
}

/// `example.com` with Easy DKIM (generated Ed25519 keys) created at T0; `dns` holds every
/// record the registry produced; verified at T0 + H.
fn rotating_with(c: RegistryConfig) -> (IdentityRegistry, StaticDns) {
    let reg = IdentityRegistry::new(c);
    let id = reg.create_domain(DOMAIN, T0).expect("create");
    let dns = StaticDns::new();
    publish(&dns, &reg.tenant_records(&id));
    publish(&dns, &reg.operator_records(&id));
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
    (reg, dns)
}

fn rotating() -> (IdentityRegistry, StaticDns) {
    rotating_with(config())
}

// ---------------------------------------------------------------------------------------
// The full rotation
// ---------------------------------------------------------------------------------------

#[test]
fn full_rotation_publishing_exactly_the_returned_changes_verifies_at_every_step() {
    let (reg, dns) = rotating();
    let recorder = Arc::new(Recorder::default());
    reg.set_notifier(Some(recorder.clone()));
    let (a, b, c) = (
        role(&reg, DOMAIN, KeyRole::Active),
        role(&reg, DOMAIN, KeyRole::Next),
        role(&reg, DOMAIN, KeyRole::Previous),
    );
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.rotation_state(), Some(RotationState::Idle));
    assert_eq!(id.last_key_generation(), Some(T0));
    assert_eq!(id.current_key_spec(), Some(KeySpec::Ed25519));

    let mut sent = vec![send(&reg, SENDER, T0 + 2 * H, "first")];
    assert_eq!(sent[0].selector, a.as_str());
    assert_all_verify(&dns, &sent, T0 + 2 * H, "before any rotation");

    // 1. Switch: the next key is published and visible through the tenant's CNAME.
    let t1 = T0 + 10 * DAY;
    sent.push(send(&reg, SENDER, t1 - 1, "just before the switch"));
    assert_eq!(sent[1].selector, a.as_str());
    let step = rotate(&reg, &dns, t1);
    let RotationStep::Switched {
        active,
        previous,
        overlap_until,
        changes,
    } = &step
    else {
        panic!("{step:?}");
    };
    assert_eq!((active, previous), (&b, &a));
    assert_eq!(*overlap_until, t1 + 7 * DAY);
    assert_eq!(kinds(changes), (0, 0, 3, 0), "a switch changes no record");
    apply_changes(&dns, changes);
    assert_eq!(role(&reg, DOMAIN, KeyRole::Freed), c);
    sent.push(send(&reg, SENDER, t1 + 1, "just after the switch"));
    assert_eq!(sent[2].selector, b.as_str());
    // Mail signed just before the switch still verifies after it: the old key is previous.
    assert_all_verify(&dns, &sent, t1 + 1, "after the switch");

    // 2. Within the overlap: nothing to do, nothing changes, no event.
    let step = rotate(&reg, &dns, t1 + DAY);
    assert_eq!(
        step,
        RotationStep::InOverlap {
            until: t1 + 7 * DAY,
            changes: step.changes().to_vec()
        }
    );
    assert_eq!(kinds(step.changes()), (0, 0, 3, 0));
    apply_changes(&dns, step.changes());
    sent.push(send(&reg, SENDER, t1 + DAY, "in the overlap"));
    assert_all_verify(&dns, &sent, t1 + DAY, "in the overlap");

    // 3. The overlap is over: the freed token (the old previous) gets a fresh key.
    let t3 = t1 + 7 * DAY;
    let before: Vec<DnsRecord> = reg.operator_records(&reg.get_str(DOMAIN).expect("id"));
    let step = rotate(&reg, &dns, t3);
    let RotationStep::NextKeyGenerated {
        next,
        spec,
        changes,
    } = &step
    else {
        panic!("{step:?}");
    };
    assert_eq!((next, *spec), (&c, KeySpec::Ed25519));
    assert_eq!(kinds(changes), (0, 1, 2, 0));
    let replaced = changes
        .iter()
        .find_map(|ch| match ch {
            RecordChange::Replace { old, new } => Some((old, new)),
            _ => None,
        })
        .expect("one replace");
    assert_eq!(replaced.0.name, op_name(&c));
    assert!(before.contains(replaced.0));
    apply_changes(&dns, changes);
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.rotation_state(), Some(RotationState::Idle));
    assert_eq!(id.last_key_generation(), Some(t3));
    assert_eq!(
        (
            role(&reg, DOMAIN, KeyRole::Active),
            role(&reg, DOMAIN, KeyRole::Next),
            role(&reg, DOMAIN, KeyRole::Previous)
        ),
        (b.clone(), c.clone(), a.clone())
    );
    assert_eq!(reg.operator_records(&id).len(), 3);
    sent.push(send(&reg, SENDER, t3, "after the new next key"));
    assert_all_verify(&dns, &sent, t3, "after the new next key");

    // 4. The second rotation switches to the fresh key, now published.
    let t4 = t3 + DAY;
    sent.push(send(&reg, SENDER, t4 - 1, "just before the second switch"));
    let step = rotate(&reg, &dns, t4);
    assert!(
        matches!(&step, RotationStep::Switched { active, previous, .. } if *active == c && *previous == b),
        "{step:?}"
    );
    apply_changes(&dns, step.changes());
    sent.push(send(&reg, SENDER, t4 + 1, "just after the second switch"));
    assert_eq!(sent.last().expect("sent").selector, c.as_str());
    // Everything signed so far verifies, also with the first key (freed, still published).
    assert_all_verify(&dns, &sent, t4 + 1, "after the second switch");

    // 5. After that overlap the first key is replaced: mail signed with it no longer
    //    verifies, everything signed later does.
    let t5 = t4 + 7 * DAY;
    let step = rotate(&reg, &dns, t5);
    assert!(
        matches!(&step, RotationStep::NextKeyGenerated { next, .. } if *next == a),
        "{step:?}"
    );
    apply_changes(&dns, step.changes());
    let (old, recent): (Vec<Sent>, Vec<Sent>) =
        sent.into_iter().partition(|s| s.selector == a.as_str());
    assert_eq!(old.len(), 2);
    assert_all_verify(&dns, &recent, t5, "after the second overlap");
    for s in &old {
        assert!(
            ours(&dns, &s.message, t5)
                .iter()
                .all(|(_, st)| *st != Status::Pass),
            "{}: verifies with a replaced key",
            s.label
        );
    }

    // Each state change was one event, handed to the notifier by flush_notifications.
    block_on(reg.flush_notifications());
    assert_eq!(
        recorder.take_phases(),
        [
            RotationPhase::Switched,
            RotationPhase::NextKeyGenerated,
            RotationPhase::Switched,
            RotationPhase::NextKeyGenerated
        ]
    );
}

#[test]
fn refresh_rotates_by_age_and_reports_each_step_once() {
    let (reg, dns) = rotating();
    let age = 180 * DAY;
    let a = role(&reg, DOMAIN, KeyRole::Active);
    let b = role(&reg, DOMAIN, KeyRole::Next);
    let mut sent = vec![send(&reg, SENDER, T0 + 2 * H, "first")];

    let r = refresh(&reg, &dns, T0 + age - 1);
    assert_eq!((r.events.clone(), r.rotations.len()), (vec![], 0));

    let r = refresh(&reg, &dns, T0 + age);
    let phases: Vec<Check> = r.events.iter().map(|e| e.check).collect();
    assert_eq!(phases, [Check::Rotation(RotationPhase::Switched)]);
    assert_eq!(r.events[0].identity, name(DOMAIN));
    assert_eq!((r.events[0].from, r.events[0].to), (Success, Success));
    assert_eq!(r.rotations.len(), 1);
    assert!(
        matches!(&r.rotations[0].1, RotationStep::Switched { active, .. } if *active == b),
        "{:?}",
        r.rotations
    );
    apply_changes(&dns, r.rotations[0].1.changes());
    sent.push(send(&reg, SENDER, T0 + age + 1, "after the switch"));
    assert_eq!(sent[1].selector, b.as_str());
    assert_all_verify(&dns, &sent, T0 + age + 1, "after the automatic switch");

    // Within the overlap: nothing.
    let r = refresh(&reg, &dns, T0 + age + 6 * DAY);
    assert_eq!((r.events.clone(), r.rotations.len()), (vec![], 0));

    let r = refresh(&reg, &dns, T0 + age + 7 * DAY);
    let phases: Vec<Check> = r.events.iter().map(|e| e.check).collect();
    assert_eq!(phases, [Check::Rotation(RotationPhase::NextKeyGenerated)]);
    assert_eq!(kinds(r.rotations[0].1.changes()), (0, 1, 2, 0));
    apply_changes(&dns, r.rotations[0].1.changes());
    let r = refresh(&reg, &dns, T0 + age + 7 * DAY + 1);
    assert_eq!((r.events.clone(), r.rotations.len()), (vec![], 0));
    assert_all_verify(&dns, &sent, T0 + age + 8 * DAY, "after the new next key");

    // The next rotation is due 180 days after the switch, not after the key's creation.
    let r = refresh(&reg, &dns, T0 + 2 * age - 1);
    assert_eq!(r.rotations.len(), 0);
    let r = refresh(&reg, &dns, T0 + 2 * age);
    assert!(
        matches!(&r.rotations[..], [(_, RotationStep::Switched { previous, .. })] if *previous == b),
        "{:?}",
        r.rotations
    );
    assert_ne!(role(&reg, DOMAIN, KeyRole::Active), a);
}

#[test]
fn without_auto_rotate_refresh_never_rotates() {
    let mut c = config();
    c.auto_rotate = false;
    let (reg, dns) = rotating_with(c);
    let a = role(&reg, DOMAIN, KeyRole::Active);
    for t in [T0 + 200 * DAY, T0 + 400 * DAY] {
        let r = refresh(&reg, &dns, t);
        assert_eq!((r.events.clone(), r.rotations.len()), (vec![], 0));
    }
    // A manual rotation is not finished by refresh either.
    dns.remove(&op_name(&role(&reg, DOMAIN, KeyRole::Next)));
    assert!(matches!(
        rotate(&reg, &dns, T0 + 401 * DAY),
        RotationStep::Waiting { .. }
    ));
    let id = reg.get_str(DOMAIN).expect("identity");
    publish(&dns, &reg.operator_records(&id));
    refresh(&reg, &dns, T0 + 402 * DAY);
    assert_eq!(role(&reg, DOMAIN, KeyRole::Active), a);
}

// ---------------------------------------------------------------------------------------
// Blocked until visible
// ---------------------------------------------------------------------------------------

#[test]
fn rotation_waits_while_the_next_key_is_not_visible_and_resumes_when_it_appears() {
    let (reg, dns) = rotating();
    let recorder = Arc::new(Recorder::default());
    reg.set_notifier(Some(recorder.clone()));
    let a = role(&reg, DOMAIN, KeyRole::Active);
    let b = role(&reg, DOMAIN, KeyRole::Next);
    let t = T0 + 30 * DAY;

    // The next key's record is missing from the operator's zone.
    dns.remove(&op_name(&b));
    let step = rotate(&reg, &dns, t);
    let RotationStep::Waiting {
        next,
        lookup,
        last_error,
        since,
        changes,
    } = &step
    else {
        panic!("{step:?}");
    };
    assert_eq!(next, &b);
    assert_eq!(lookup, &format!("{b}._domainkey.{DOMAIN}"));
    assert_eq!(*last_error, easydkim::LastError::HostNotFound);
    assert_eq!(*since, t);
    assert_eq!(kinds(changes), (1, 0, 2, 0));
    assert!(changes
        .iter()
        .any(|c| matches!(c, RecordChange::Publish(r) if r.name == op_name(&b))));
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(
        id.rotation_state(),
        Some(RotationState::AwaitingNext { since: t })
    );
    // Signing did not switch.
    assert_eq!(send(&reg, SENDER, t + 1, "blocked").selector, a.as_str());

    // Asking again changes nothing and reports nothing new.
    let again = rotate(&reg, &dns, t + H);
    assert!(
        matches!(&again, RotationStep::Waiting { since, .. } if *since == t),
        "{again:?}"
    );
    // A record with another key at that name does not count either.
    dns.add_txt(&op_name(&b), &key("ed25519.pem").dns_record());
    let wrong = rotate(&reg, &dns, t + 2 * H);
    assert!(
        matches!(
            &wrong,
            RotationStep::Waiting {
                last_error: easydkim::LastError::InvalidValue,
                ..
            }
        ),
        "{wrong:?}"
    );
    // refresh keeps trying (the rotation was asked for) and stays blocked.
    let r = refresh(&reg, &dns, t + 3 * H);
    assert!(r.events.is_empty(), "{:?}", r.events);
    assert!(matches!(
        &r.rotations[..],
        [(_, RotationStep::Waiting { .. })]
    ));
    assert_eq!(
        send(&reg, SENDER, t + 3 * H, "blocked").selector,
        a.as_str()
    );

    // The operator publishes what the step asked for: the next refresh switches.
    apply_changes(&dns, changes);
    let r = refresh(&reg, &dns, t + 4 * H);
    assert!(
        matches!(&r.rotations[..], [(_, RotationStep::Switched { active, .. })] if *active == b),
        "{:?}",
        r.rotations
    );
    let after = send(&reg, SENDER, t + 5 * H, "resumed");
    assert_eq!(after.selector, b.as_str());
    assert_all_verify(&dns, &[after], t + 5 * H, "after resuming");

    block_on(reg.flush_notifications());
    assert_eq!(
        recorder.take_phases(),
        [RotationPhase::AwaitingNext, RotationPhase::Switched]
    );
}

#[test]
fn a_missing_tenant_cname_blocks_the_switch_too() {
    let (reg, dns) = rotating();
    let b = role(&reg, DOMAIN, KeyRole::Next);
    dns.remove(&format!("{b}._domainkey.{DOMAIN}"));
    let step = rotate(&reg, &dns, T0 + 2 * DAY);
    assert!(matches!(step, RotationStep::Waiting { .. }), "{step:?}");
    dns.add_cname(&format!("{b}._domainkey.{DOMAIN}"), &op_name(&b));
    let step = rotate(&reg, &dns, T0 + 2 * DAY + H);
    assert!(matches!(step, RotationStep::Switched { .. }), "{step:?}");
}

#[test]
fn racing_rotations_switch_once() {
    let (reg, dns) = rotating();
    let recorder = Arc::new(Recorder::default());
    reg.set_notifier(Some(recorder.clone()));
    let barrier = Barrier::new(4);
    let steps: Vec<RotationStep> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    rotate(&reg, &dns, T0 + 3 * DAY)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let switched = steps
        .iter()
        .filter(|s| matches!(s, RotationStep::Switched { .. }))
        .count();
    let in_overlap = steps
        .iter()
        .filter(|s| matches!(s, RotationStep::InOverlap { .. }))
        .count();
    assert_eq!((switched, in_overlap), (1, 3), "{steps:?}");
    block_on(reg.flush_notifications());
    assert_eq!(recorder.take_phases(), [RotationPhase::Switched]);
}

#[test]
fn rotate_refusals() {
    let (reg, dns) = rotating();
    reg.create_domain_with(
        "byo.example",
        DomainSetup::BringYourOwnKey {
            selector: Selector::parse("s1").expect("selector"),
            key: key("ed25519.pem"),
        },
        T0,
    )
    .expect("create");
    reg.create_domain_with("plain.example", DomainSetup::None, T0)
        .expect("create");
    reg.create_email("alice@example.com", T0).expect("email");
    let err = |identity: &str| block_on(reg.rotate(identity, &dns, T0)).expect_err(identity);
    assert_eq!(
        err("byo.example"),
        RegistryError::NotEasyDkim(name("byo.example"))
    );
    assert_eq!(
        err("plain.example"),
        RegistryError::NoDkimSetup(name("plain.example"))
    );
    assert_eq!(
        err("alice@example.com"),
        RegistryError::NotADomain(name("alice@example.com"))
    );
    assert_eq!(
        err("nobody.example"),
        RegistryError::UnknownIdentity(name("nobody.example"))
    );
}

// ---------------------------------------------------------------------------------------
// Interruption (snapshot and restore at every step)
// ---------------------------------------------------------------------------------------

#[cfg(feature = "serde")]
mod interruption {
    use super::*;
    use easydkim::snapshot::Snapshot;

    /// "Crash": the registry is dropped and a new one restored from its JSON snapshot.
    fn crash(reg: IdentityRegistry) -> IdentityRegistry {
        let json = serde_json::to_string(&reg.to_snapshot().expect("snapshot")).expect("json");
        drop(reg);
        restore(&json)
    }

    fn restore(json: &str) -> IdentityRegistry {
        let snap: Snapshot = serde_json::from_str(json).expect("parse");
        IdentityRegistry::from_snapshot(config(), &snap).expect("restore")
    }

    fn save(reg: &IdentityRegistry) -> String {
        serde_json::to_string(&reg.to_snapshot().expect("snapshot")).expect("json")
    }

    /// The registry signs, and what it signs verifies from the DNS as it is: it never
    /// signs with a key that is not published.
    fn signs_verifiably(reg: &IdentityRegistry, dns: &StaticDns, t: u64, label: &str) -> Sent {
        let s = send(reg, SENDER, t, label);
        assert_all_verify(dns, std::slice::from_ref(&s), t, label);
        s
    }

    #[test]
    fn a_restart_after_every_step_resumes_where_it_stood() {
        let (reg, dns) = rotating();
        let a = role(&reg, DOMAIN, KeyRole::Active);
        let b = role(&reg, DOMAIN, KeyRole::Next);
        let c = role(&reg, DOMAIN, KeyRole::Previous);
        let mut sent = vec![signs_verifiably(&reg, &dns, T0 + 2 * H, "first")];

        // Blocked, then crash: the request survives and refresh finishes it.
        let t = T0 + 20 * DAY;
        dns.remove(&op_name(&b));
        let waiting = rotate(&reg, &dns, t);
        assert!(matches!(waiting, RotationStep::Waiting { .. }));
        let reg = crash(reg);
        assert_eq!(
            reg.get_str(DOMAIN).expect("id").rotation_state(),
            Some(RotationState::AwaitingNext { since: t })
        );
        sent.push(signs_verifiably(&reg, &dns, t + 1, "waiting, restored"));
        assert_eq!(sent[1].selector, a.as_str());
        apply_changes(&dns, waiting.changes());
        let r = refresh(&reg, &dns, t + H);
        assert!(matches!(
            &r.rotations[..],
            [(_, RotationStep::Switched { .. })]
        ));

        // Crash in the overlap: still in the overlap, same roles, no second switch.
        let reg = crash(reg);
        let id = reg.get_str(DOMAIN).expect("id");
        assert_eq!(
            id.rotation_state(),
            Some(RotationState::Overlap { switched_at: t + H })
        );
        assert_eq!(role(&reg, DOMAIN, KeyRole::Active), b);
        assert_eq!(role(&reg, DOMAIN, KeyRole::Freed), c);
        let step = rotate(&reg, &dns, t + 2 * H);
        assert!(
            matches!(step, RotationStep::InOverlap { until, .. } if until == t + H + 7 * DAY),
            "{step:?}"
        );
        sent.push(signs_verifiably(&reg, &dns, t + 2 * H, "overlap, restored"));
        assert_all_verify(&dns, &sent, t + 2 * H, "overlap, restored");

        // The registry's state is lost back to a snapshot taken before the new next key,
        // after the operator had published that key: the step is repeated with another
        // key, and the switch waits for that one.
        let t3 = t + H + 7 * DAY;
        let before_step = save(&reg);
        let lost = rotate(&reg, &dns, t3);
        assert!(matches!(lost, RotationStep::NextKeyGenerated { .. }));
        apply_changes(&dns, lost.changes());
        drop(reg);
        let reg = restore(&before_step);
        let step = rotate(&reg, &dns, t3 + H);
        let RotationStep::NextKeyGenerated { next, .. } = &step else {
            panic!("{step:?}");
        };
        assert_eq!(next, &c);
        assert_ne!(step.changes(), lost.changes(), "a fresh key again");
        // The DNS holds the lost key: the switch does not happen.
        let blocked = rotate(&reg, &dns, t3 + 2 * H);
        assert!(
            matches!(
                &blocked,
                RotationStep::Waiting {
                    last_error: easydkim::LastError::InvalidValue,
                    ..
                }
            ),
            "{blocked:?}"
        );
        sent.push(signs_verifiably(
            &reg,
            &dns,
            t3 + 2 * H,
            "lost key, blocked",
        ));
        assert_eq!(sent.last().expect("sent").selector, b.as_str());

        // Crash after the step, before the operator published it: still blocked after the
        // restart, and signing stays on the published key.
        let reg = crash(reg);
        let blocked = rotate(&reg, &dns, t3 + 3 * H);
        assert!(
            matches!(blocked, RotationStep::Waiting { .. }),
            "{blocked:?}"
        );
        sent.push(signs_verifiably(
            &reg,
            &dns,
            t3 + 3 * H,
            "unpublished, restored",
        ));
        assert_eq!(sent.last().expect("sent").selector, b.as_str());

        // Publishing the changes of the repeated step lets the rotation go on.
        apply_changes(&dns, step.changes());
        let switched = rotate(&reg, &dns, t3 + 4 * H);
        assert!(
            matches!(&switched, RotationStep::Switched { active, .. } if *active == c),
            "{switched:?}"
        );
        let reg = crash(reg);
        sent.push(signs_verifiably(
            &reg,
            &dns,
            t3 + 5 * H,
            "second switch, restored",
        ));
        assert_eq!(sent.last().expect("sent").selector, c.as_str());
        assert_all_verify(&dns, &sent, t3 + 5 * H, "at the end");
    }

    #[test]
    fn snapshots_without_the_rotation_fields_still_load() {
        let (reg, _) = rotating();
        let mut snap = serde_json::to_value(reg.to_snapshot().expect("snapshot")).expect("json");
        let dkim = snap["identities"][0]["dkim"]
            .as_object_mut()
            .expect("dkim object");
        for field in [
            "slots",
            "rotation",
            "active_since",
            "next_key_spec",
            "key_spec_changed_at",
            "dual",
            "signing_zone",
            "replica_of",
        ] {
            assert!(dkim.remove(field).is_some(), "{field}");
        }
        // Written before the key-length rule needed no history: the flag is ignored.
        dkim.insert("downgraded_to_1024".into(), serde_json::Value::Bool(true));
        let old: Snapshot = serde_json::from_value(snap).expect("an old snapshot parses");
        let restored = IdentityRegistry::from_snapshot(config(), &old).expect("restore");
        let (x, y) = (
            reg.get_str(DOMAIN).expect("id"),
            restored.get_str(DOMAIN).expect("id"),
        );
        assert_eq!(x.key_roles(), y.key_roles());
        assert_eq!(y.rotation_state(), Some(RotationState::Idle));
        assert_eq!(y.last_key_generation(), Some(T0));
        assert_eq!(y.next_key_spec(), Some(KeySpec::Ed25519));
        assert_eq!(reg.tenant_records(&x), restored.tenant_records(&y));
        assert_eq!(reg.operator_records(&x), restored.operator_records(&y));
        let input = message_from(SENDER);
        assert_eq!(
            reg.sign_at(&input, T0 + DAY).expect("sign"),
            restored.sign_at(&input, T0 + DAY).expect("sign")
        );
    }

    #[test]
    fn inconsistent_roles_are_refused() {
        let (reg, _) = rotating();
        let mut snap = serde_json::to_value(reg.to_snapshot().expect("snapshot")).expect("json");
        snap["identities"][0]["dkim"]["slots"][1]["role"] = "active".into();
        let bad: Snapshot = serde_json::from_value(snap).expect("parses");
        assert!(matches!(
            IdentityRegistry::from_snapshot(config(), &bad),
            Err(RegistryError::Snapshot { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Key length
// ---------------------------------------------------------------------------------------

#[test]
fn next_key_spec_follows_the_ses_key_length_rules() {
    let reg = IdentityRegistry::new(config());
    reg.create_domain_with(DOMAIN, DomainSetup::EasyDkimWith(easy_keys("kl")), T0)
        .expect("create");
    let id = reg.get_str(DOMAIN).expect("id");
    assert_eq!(id.next_key_spec(), Some(KeySpec::Ed25519));
    assert_eq!(id.current_key_spec(), Some(KeySpec::Ed25519));
    assert_eq!(id.last_key_generation(), Some(T0));
    let set = |spec, t| reg.set_next_key_spec(DOMAIN, spec, t);
    let too_soon = |retry_at| RegistryError::KeySpecChangeTooSoon {
        identity: name(DOMAIN),
        retry_at,
    };

    // The length already configured: refused (SES: "invalid input"), at any time.
    assert_eq!(
        set(KeySpec::Ed25519, T0 + H),
        Err(RegistryError::KeySpecUnchanged {
            identity: name(DOMAIN),
            spec: KeySpec::Ed25519
        })
    );
    // Downgrade, upgrade a week later, downgrade again within 24 h: allowed, because that
    // downgrade is the first to 1024 in its 24-hour period.
    set(KeySpec::Rsa1024, T0 + H).expect("downgrade");
    let t = T0 + H + 7 * DAY;
    set(KeySpec::Rsa2048, t).expect("upgrade a week later");
    set(KeySpec::Rsa1024, t + H).expect("downgrade again within 24 h");
    assert_eq!(
        reg.get_str(DOMAIN).expect("id").next_key_spec(),
        Some(KeySpec::Rsa1024)
    );
    // The exempt downgrade still counts as a change: an upgrade now waits 24 h from it.
    assert_eq!(set(KeySpec::Rsa2048, t + 2 * H), Err(too_soon(t + H + DAY)));
    // Two upgrades within 24 h: the second is refused with the time to retry.
    let u = t + H + DAY;
    set(KeySpec::Rsa2048, u).expect("first upgrade");
    assert_eq!(set(KeySpec::Rsa4096, u + 3 * H), Err(too_soon(u + DAY)));
    // Only a downgrade to 1024 is exempt: 4096 -> 2048 within 24 h of a change is not.
    set(KeySpec::Rsa4096, u + DAY).expect("upgrade a day later");
    assert_eq!(
        set(KeySpec::Rsa2048, u + DAY + H),
        Err(too_soon(u + 2 * DAY))
    );
    set(KeySpec::Rsa1024, u + DAY + 2 * H).expect("but 4096 -> 1024 is");
    set(KeySpec::Rsa2048, u + 2 * DAY + 2 * H).expect("a day after that");
    let id = reg.get_str(DOMAIN).expect("id");
    assert_eq!(id.next_key_spec(), Some(KeySpec::Rsa2048));
    // The signing key is untouched until a rotation generates one.
    assert_eq!(id.current_key_spec(), Some(KeySpec::Ed25519));

    reg.create_domain_with(
        "byo.example",
        DomainSetup::BringYourOwnKey {
            selector: Selector::parse("s1").expect("selector"),
            key: key("rsa1024.pem"),
        },
        T0,
    )
    .expect("create");
    assert_eq!(
        reg.set_next_key_spec("byo.example", KeySpec::Rsa2048, T0),
        Err(RegistryError::NotEasyDkim(name("byo.example")))
    );
    let byo = reg.get_str("byo.example").expect("id");
    assert_eq!(byo.current_key_spec(), Some(KeySpec::Rsa1024));
    assert_eq!(
        (byo.next_key_spec(), byo.last_key_generation()),
        (None, None)
    );
}

/// The timeline in `set_next_key_spec`'s docs, walked with the default ages and explicit
/// times: nothing changes at the call; the first automatic switch still signs with the old
/// spec; the key of the new spec is generated at the end of that switch's overlap; mail
/// is first signed with it at the following switch, 180 days after the first.
#[test]
fn a_new_key_spec_reaches_signing_two_switches_later() {
    let (reg, dns) = rotating();
    let age = 180 * DAY;
    let algorithm = |t: u64, label: &str| {
        let s = send(&reg, SENDER, t, label);
        let sigs = new_signatures(&s.message, &message_from(SENDER));
        assert_all_verify(&dns, std::slice::from_ref(&s), t, label);
        tag(&sigs[0], "a").to_string()
    };
    let t = T0 + DAY;
    reg.set_next_key_spec(DOMAIN, KeySpec::Rsa2048, t)
        .expect("set");
    assert_eq!(algorithm(t + 1, "after the call"), "ed25519-sha256");

    // 1. The first switch (by age): the next key was generated at creation, old spec.
    let r = refresh(&reg, &dns, T0 + age);
    assert!(
        matches!(&r.rotations[..], [(_, RotationStep::Switched { .. })]),
        "{r:?}"
    );
    apply_changes(&dns, r.rotations[0].1.changes());
    assert_eq!(
        algorithm(T0 + age + 1, "after the first switch"),
        "ed25519-sha256"
    );

    // 2.-3. The overlap, then the freed token gets a key of the new spec.
    let r = refresh(&reg, &dns, T0 + age + 7 * DAY - 1);
    assert!(r.rotations.is_empty(), "{r:?}");
    let r = refresh(&reg, &dns, T0 + age + 7 * DAY);
    assert!(
        matches!(
            &r.rotations[..],
            [(
                _,
                RotationStep::NextKeyGenerated {
                    spec: KeySpec::Rsa2048,
                    ..
                }
            )]
        ),
        "{r:?}"
    );
    apply_changes(&dns, r.rotations[0].1.changes());
    assert_eq!(
        algorithm(T0 + age + 7 * DAY + 1, "in the overlap"),
        "ed25519-sha256"
    );
    assert_eq!(
        reg.get_str(DOMAIN).expect("id").current_key_spec(),
        Some(KeySpec::Ed25519)
    );

    // 4. The next switch, 180 days after the first: the first mail with the new spec.
    let r = refresh(&reg, &dns, T0 + 2 * age - 1);
    assert!(r.rotations.is_empty(), "{r:?}");
    assert_eq!(algorithm(T0 + 2 * age - 1, "just before"), "ed25519-sha256");
    let r = refresh(&reg, &dns, T0 + 2 * age);
    assert!(
        matches!(&r.rotations[..], [(_, RotationStep::Switched { .. })]),
        "{r:?}"
    );
    apply_changes(&dns, r.rotations[0].1.changes());
    assert_eq!(
        algorithm(T0 + 2 * age + 1, "after the second switch"),
        "rsa-sha256"
    );
    assert_eq!(
        reg.get_str(DOMAIN).expect("id").current_key_spec(),
        Some(KeySpec::Rsa2048)
    );
}

#[test]
fn the_next_key_spec_applies_at_the_next_key_generation() {
    let (reg, dns) = rotating();
    reg.set_next_key_spec(DOMAIN, KeySpec::Rsa1024, T0 + DAY)
        .expect("set");
    let t1 = T0 + 2 * DAY;
    let step = rotate(&reg, &dns, t1);
    assert!(matches!(step, RotationStep::Switched { .. }));
    let step = rotate(&reg, &dns, t1 + 7 * DAY);
    assert!(
        matches!(
            step,
            RotationStep::NextKeyGenerated {
                spec: KeySpec::Rsa1024,
                ..
            }
        ),
        "{step:?}"
    );
    let replaced = step
        .changes()
        .iter()
        .find_map(|c| match c {
            RecordChange::Replace { new, .. } => Some(new.value.clone()),
            _ => None,
        })
        .expect("replace");
    assert!(replaced.contains("k=rsa"), "{replaced}");
    apply_changes(&dns, step.changes());
    let id = reg.get_str(DOMAIN).expect("id");
    assert_eq!(id.current_key_spec(), Some(KeySpec::Ed25519));
    assert_eq!(id.last_key_generation(), Some(t1 + 7 * DAY));

    let step = rotate(&reg, &dns, t1 + 8 * DAY);
    assert!(matches!(step, RotationStep::Switched { .. }));
    assert_eq!(
        reg.get_str(DOMAIN).expect("id").current_key_spec(),
        Some(KeySpec::Rsa1024)
    );
    let s = send(&reg, SENDER, t1 + 8 * DAY + 1, "rsa");
    let sigs = new_signatures(&s.message, &message_from(SENDER));
    assert_eq!(tag(&sigs[0], "a"), "rsa-sha256");
    assert_all_verify(&dns, &[s], t1 + 8 * DAY + 1, "RSA-1024 after the rotation");
}

// ---------------------------------------------------------------------------------------
// Dual signing
// ---------------------------------------------------------------------------------------

#[test]
fn dual_signing_adds_an_ed25519_signature_once_its_cname_is_seen() {
    let mut c = config();
    c.key_spec = KeySpec::Rsa1024;
    let (reg, dns) = rotating_with(c);
    let t = T0 + DAY;
    let changes = reg.enable_dual_signing(DOMAIN, t).expect("enable");
    let [RecordChange::Publish(record)] = &changes[..] else {
        panic!("{changes:?}");
    };
    assert!(record.value.contains("k=ed25519"), "{record:?}");
    apply_changes(&dns, &changes);
    let id = reg.get_str(DOMAIN).expect("id");
    let cnames: Vec<DnsRecord> = reg
        .tenant_records(&id)
        .into_iter()
        .filter(|r| r.purpose == Purpose::DkimDelegation)
        .collect();
    assert_eq!(cnames.len(), 4);
    assert_eq!(cnames[3].value, record.name);
    let dual_token = id
        .easy_state()
        .and_then(|s| s.dual())
        .map(|d| d.key.token.clone())
        .expect("dual key");
    assert_eq!(reg.operator_records(&id).len(), 4);

    // The tenant has not added the CNAME yet: no Ed25519 signature (its key is not
    // reachable), and the RSA setup stays verified.
    let r = refresh(&reg, &dns, t + H);
    assert!(r.events.is_empty(), "{:?}", r.events);
    let input = message_from(SENDER);
    let out = reg.sign_at(&input, t + H).expect("sign");
    assert_eq!(out.dual_signature, None);
    assert_eq!(new_signatures(&out.message, &input).len(), 1);

    // The CNAME appears: one event, then two tenant signatures over one body pass.
    publish(&dns, &cnames[3..]);
    let r = refresh(&reg, &dns, t + 2 * H);
    assert_eq!(
        r.events
            .iter()
            .map(|e| (e.check, e.from, e.to))
            .collect::<Vec<_>>(),
        [(Check::DualSigning, Pending, Success)]
    );
    let out = reg.sign_at(&input, t + 2 * H).expect("sign");
    let dual = out.dual_signature.clone().expect("dual signature");
    assert_eq!(dual.selector, dual_token.as_str());
    assert_eq!(dual.domain.as_str(), DOMAIN);
    let sigs = new_signatures(&out.message, &input);
    let algs: Vec<(&str, &str)> = sigs.iter().map(|s| (tag(s, "a"), tag(s, "d"))).collect();
    assert_eq!(algs, [("rsa-sha256", DOMAIN), ("ed25519-sha256", DOMAIN)]);
    assert_eq!(tag(&sigs[0], "bh"), tag(&sigs[1], "bh"));
    let sent = Sent {
        label: "dual".into(),
        message: out.message,
        selector: String::new(),
    };
    assert_all_verify(&dns, std::slice::from_ref(&sent), t + 2 * H, "dual");
    assert_eq!(ours(&dns, &sent.message, t + 2 * H).len(), 2);

    // From now on the DKIM check requires that CNAME too.
    dns.remove(&cnames[3].name);
    let r = refresh(&reg, &dns, t + 3 * H);
    let mut got: Vec<(Check, VerificationStatus)> =
        r.events.iter().map(|e| (e.check, e.to)).collect();
    got.sort_by_key(|(c, _)| format!("{c:?}"));
    assert_eq!(
        got,
        [
            (Check::Dkim, TemporaryFailure),
            (Check::DualSigning, TemporaryFailure)
        ]
    );
    publish(&dns, &cnames[3..]);
    refresh(&reg, &dns, t + 4 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));

    // Enabling again changes nothing; disabling removes the record and the signature.
    let again = reg.enable_dual_signing(DOMAIN, t + 5 * H).expect("enable");
    assert_eq!(again, vec![RecordChange::Keep(record.clone())]);
    let off = reg
        .disable_dual_signing(DOMAIN, t + 5 * H)
        .expect("disable");
    assert_eq!(off, vec![RecordChange::Remove(record.clone())]);
    apply_changes(&dns, &off);
    let out = reg.sign_at(&input, t + 5 * H).expect("sign");
    assert_eq!(new_signatures(&out.message, &input).len(), 1);
    assert_eq!(
        reg.tenant_records(&reg.get_str(DOMAIN).expect("id")).len(),
        4
    );
    assert_eq!(
        reg.disable_dual_signing(DOMAIN, t + 6 * H)
            .expect("disable"),
        vec![]
    );
}

#[test]
fn dual_signing_needs_easy_dkim() {
    let reg = IdentityRegistry::new(config());
    reg.create_domain_with(
        "byo.example",
        DomainSetup::BringYourOwnKey {
            selector: Selector::parse("s1").expect("selector"),
            key: key("rsa1024.pem"),
        },
        T0,
    )
    .expect("create");
    assert_eq!(
        reg.enable_dual_signing("byo.example", T0),
        Err(RegistryError::NotEasyDkim(name("byo.example")))
    );
}

// ---------------------------------------------------------------------------------------
// Switching methods
// ---------------------------------------------------------------------------------------

#[test]
fn switching_methods_leaves_a_documented_unsigned_gap() {
    let (reg, dns) = rotating();
    let recorder = Arc::new(Recorder::default());
    reg.set_notifier(Some(recorder.clone()));
    let input = message_from(SENDER);
    let pending = |reg: &IdentityRegistry, t| {
        assert_eq!(
            reg.resolve(&addr(SENDER), t).decision,
            Decision::Unsigned(UnsignedReason::DkimNotVerified {
                identity: name(DOMAIN),
                status: Pending,
            })
        );
        let out = reg.sign_at(&input, t).expect("sign");
        assert!(matches!(out.tenant, TenantSignature::Unsigned(_)));
        assert_eq!(out.message, input, "the gap: mail goes out unsigned");
    };

    // Easy DKIM -> bring your own key.
    let t = T0 + DAY;
    let easy_records = reg.operator_records(&reg.get_str(DOMAIN).expect("id"));
    let selector = Selector::parse("byo2024").expect("selector");
    let changes = reg
        .switch_to_byo(DOMAIN, selector.clone(), key("ed25519.pem"), t)
        .expect("switch");
    assert_eq!(
        changes,
        easy_records
            .iter()
            .cloned()
            .map(RecordChange::Remove)
            .collect::<Vec<_>>()
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, Pending));
    pending(&reg, t + 1);
    assert_eq!(
        reg.switch_to_byo(DOMAIN, selector, key("ed25519.pem"), t),
        Err(RegistryError::SameMethod(name(DOMAIN)))
    );
    apply_changes(&dns, &changes);
    let byo_txt: Vec<DnsRecord> = reg
        .tenant_records(&reg.get_str(DOMAIN).expect("id"))
        .into_iter()
        .filter(|r| r.purpose == Purpose::DkimKey)
        .collect();
    assert_eq!(byo_txt.len(), 1);
    publish(&dns, &byo_txt);
    let r = refresh(&reg, &dns, t + H);
    assert_eq!(
        r.events.iter().map(|e| (e.check, e.to)).collect::<Vec<_>>(),
        [(Check::Dkim, Success)]
    );
    let s = send(&reg, SENDER, t + H, "byo");
    assert_eq!(s.selector, "byo2024");
    assert_all_verify(&dns, &[s], t + H, "bring your own key");

    // Bring your own key -> Easy DKIM, with new tokens and keys.
    let t2 = t + 2 * DAY;
    let changes = reg.switch_to_easy(DOMAIN, t2).expect("switch");
    assert_eq!(kinds(&changes), (3, 0, 0, 0));
    pending(&reg, t2 + 1);
    assert_eq!(
        reg.switch_to_easy(DOMAIN, t2),
        Err(RegistryError::SameMethod(name(DOMAIN)))
    );
    apply_changes(&dns, &changes);
    let id = reg.get_str(DOMAIN).expect("id");
    publish(
        &dns,
        &reg.tenant_records(&id)
            .into_iter()
            .filter(|r| r.purpose == Purpose::DkimDelegation)
            .collect::<Vec<_>>(),
    );
    refresh(&reg, &dns, t2 + H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
    let s = send(&reg, SENDER, t2 + H, "easy again");
    assert_eq!(s.selector, role(&reg, DOMAIN, KeyRole::Active).as_str());
    assert_all_verify(&dns, &[s], t2 + H, "Easy DKIM again");

    // Each switch was a DKIM transition to Pending, handed to the notifier.
    block_on(reg.flush_notifications());
    let events = std::mem::take(&mut *recorder.0.lock().expect("lock"));
    let switches: Vec<(Check, VerificationStatus, VerificationStatus)> = events
        .iter()
        .filter(|e| e.to == Pending)
        .map(|e| (e.check, e.from, e.to))
        .collect();
    assert_eq!(
        switches,
        [
            (Check::Dkim, Success, Pending),
            (Check::Dkim, Success, Pending)
        ]
    );

    // Switching needs a DKIM setup on a domain.
    reg.create_domain_with("plain.example", DomainSetup::None, T0)
        .expect("create");
    assert_eq!(
        reg.switch_to_easy("plain.example", t2),
        Err(RegistryError::NoDkimSetup(name("plain.example")))
    );
}
