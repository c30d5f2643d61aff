//! The status machine (the guide page `docs::lifecycle`) on a fake clock and an in-memory DNS: detection
//! window, transient errors, grace period, restart, the DKIM checks (Easy, flattened,
//! bring-your-own-key), email confirmation, and events reported exactly once, also when two
//! `refresh` calls race.

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};

use async_trait::async_trait;
use easydkim::{
    Check, DnsError, DnsResult, DnsVerifier, DomainSetup, EmailNotifier, Event, IdentityRegistry,
    LastError, MailTransport, Notifier, OutgoingEmail, Purpose, RefreshReport, RegistryError,
    Selector, SigningKey, StaticDns, TenantSignature, UnsignedReason, VerificationStatus,
};

use crate::key;
use crate::precedence::{
    config, easy_keys, easy_keys_with, message_from, name, publish_dkim, publish_verification_txt,
    refresh, registry, statuses, tenant_records_for, H, REGION, T0,
};

use crate::support::{assert_same_events, block_on, publish};
use VerificationStatus::{Failed, NotStarted, Pending, Success, TemporaryFailure};

const DOMAIN: &str = "example.com";

fn ev(
    identity: &str,
    check: Check,
    from: VerificationStatus,
    to: VerificationStatus,
    at: u64,
    last_error: Option<LastError>,
) -> Event {
    Event::new(REGION, name(identity), check, from, to, at).with_last_error(last_error)
}

/// A registry with `example.com` under Easy DKIM (fixed tokens `ex…`), created at T0.
fn easy_domain() -> (IdentityRegistry, StaticDns) {
    let reg = registry();
    reg.create_domain_with(DOMAIN, DomainSetup::EasyDkimWith(easy_keys("ex")), T0)
        .expect("create");
    (reg, StaticDns::new())
}

fn verification_token(reg: &IdentityRegistry, identity: &str) -> String {
    reg.get_str(identity)
        .expect("identity")
        .verification_token()
        .expect("domain identities have a verification token")
        .to_string()
}

fn cname_names(reg: &IdentityRegistry, identity: &str) -> Vec<String> {
    tenant_records_for(reg, identity, Purpose::DkimDelegation)
        .into_iter()
        .map(|r| r.name)
        .collect()
}

fn is_signed(reg: &IdentityRegistry, from: &str, now: u64) -> bool {
    let input = message_from(from);
    let out = reg.sign_at(&input, now).expect("sign");
    match out.tenant {
        TenantSignature::Signed(_) => {
            assert!(out.message.len() > input.len());
            true
        }
        TenantSignature::Unsigned(_) => {
            assert!(out.message == input, "unsigned message changed");
            false
        }
    }
}

fn unsigned_reason(reg: &IdentityRegistry, from: &str, now: u64) -> Option<UnsignedReason> {
    match reg.sign_at(&message_from(from), now).expect("sign").tenant {
        TenantSignature::Signed(_) => None,
        TenantSignature::Unsigned(r) => Some(r),
    }
}

// ---------------------------------------------------------------------------------------
// Pending -> Success
// ---------------------------------------------------------------------------------------

#[test]
fn txt_at_verification_label_verifies_the_domain_but_not_dkim() {
    let (reg, dns) = easy_domain();
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    let r = refresh(&reg, &dns, T0 + H);
    assert_eq!(r.events, vec![]);
    assert_eq!(r.checked, 1);
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.verification().last_checked, Some(T0 + H));
    assert_eq!(id.verification().last_error, Some(LastError::HostNotFound));
    assert_eq!(
        id.dkim_verification().last_error,
        Some(LastError::HostNotFound)
    );

    publish_verification_txt(&dns, &reg, DOMAIN);
    let r = refresh(&reg, &dns, T0 + 2 * H);
    assert_same_events(
        &r.events,
        &[ev(
            DOMAIN,
            Check::Identity,
            Pending,
            Success,
            T0 + 2 * H,
            None,
        )],
        "TXT published",
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, Pending));
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.verification().last_success, Some(T0 + 2 * H));
    assert_eq!(id.verification().last_error, None);
    // Verified, but its DKIM is not: unsigned, no fall back.
    assert_eq!(
        unsigned_reason(&reg, "a@example.com", T0 + 2 * H),
        Some(UnsignedReason::DkimNotVerified {
            identity: name(DOMAIN),
            status: Pending
        })
    );
}

#[test]
fn prefixed_txt_at_the_domain_itself_verifies_the_domain() {
    let (reg, dns) = easy_domain();
    let token = verification_token(&reg, DOMAIN);
    // A host that refuses underscores: the TXT sits at the apex, next to other TXTs.
    dns.add_txt(DOMAIN, "v=spf1 -all");
    dns.add_txt(DOMAIN, &format!("easydkim:{token}"));
    let r = refresh(&reg, &dns, T0 + H);
    assert_same_events(
        &r.events,
        &[ev(DOMAIN, Check::Identity, Pending, Success, T0 + H, None)],
        "apex TXT",
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, Pending));
}

#[test]
fn prefixed_txt_at_the_verification_label_verifies_the_domain() {
    let (reg, dns) = easy_domain();
    let token = verification_token(&reg, DOMAIN);
    dns.add_txt("_easydkim.example.com", &format!("easydkim:{token}"));
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, DOMAIN).0, Success);
}

#[test]
fn wrong_verification_token_does_not_verify() {
    let (reg, dns) = easy_domain();
    dns.add_txt("_easydkim.example.com", "easydkim:not-the-token");
    dns.add_txt(DOMAIN, "some-other-token");
    let r = refresh(&reg, &dns, T0 + H);
    assert_eq!(r.events, vec![]);
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.verification().last_error, Some(LastError::InvalidValue));
}

#[test]
fn the_three_cnames_alone_verify_domain_and_dkim() {
    let (reg, dns) = easy_domain();
    publish_dkim(&dns, &reg, DOMAIN);
    let r = refresh(&reg, &dns, T0 + H);
    assert_same_events(
        &r.events,
        &[
            ev(DOMAIN, Check::Identity, Pending, Success, T0 + H, None),
            ev(DOMAIN, Check::Dkim, Pending, Success, T0 + H, None),
        ],
        "CNAMEs published",
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
    assert!(is_signed(&reg, "a@example.com", T0 + H));
    // A second refresh changes nothing and reports nothing.
    assert_eq!(refresh(&reg, &dns, T0 + 2 * H).events, vec![]);
}

#[test]
fn two_of_three_cnames_are_not_enough() {
    let (reg, dns) = easy_domain();
    let cnames = tenant_records_for(&reg, DOMAIN, Purpose::DkimDelegation);
    publish(&dns, &cnames[..2]);
    let r = refresh(&reg, &dns, T0 + H);
    assert_eq!(r.events, vec![]);
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    publish(&dns, &cnames[2..]);
    refresh(&reg, &dns, T0 + 2 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
}

// ---------------------------------------------------------------------------------------
// Detection window and transient errors
// ---------------------------------------------------------------------------------------

#[test]
fn pending_fails_at_exactly_72_hours() {
    let (reg, dns) = easy_domain();
    for t in [T0 + H, T0 + 71 * H, T0 + 72 * H - 1] {
        assert_eq!(refresh(&reg, &dns, t).events, vec![], "at {t}");
        assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending), "at {t}");
    }
    let r = refresh(&reg, &dns, T0 + 72 * H);
    assert_same_events(
        &r.events,
        &[
            ev(
                DOMAIN,
                Check::Identity,
                Pending,
                Failed,
                T0 + 72 * H,
                Some(LastError::HostNotFound),
            ),
            ev(
                DOMAIN,
                Check::Dkim,
                Pending,
                Failed,
                T0 + 72 * H,
                Some(LastError::HostNotFound),
            ),
        ],
        "window over",
    );
    assert_eq!(statuses(&reg, DOMAIN), (Failed, Failed));
    // Failed is final until a restart: records appearing now change nothing.
    publish_dkim(&dns, &reg, DOMAIN);
    publish_verification_txt(&dns, &reg, DOMAIN);
    let r = refresh(&reg, &dns, T0 + 73 * H);
    assert_eq!(r.events, vec![]);
    assert_eq!(statuses(&reg, DOMAIN), (Failed, Failed));
    assert!(!is_signed(&reg, "a@example.com", T0 + 73 * H));
}

#[test]
fn detection_window_is_configurable() {
    let mut c = config();
    c.detection_window = std::time::Duration::from_secs(H);
    let reg = IdentityRegistry::new(c);
    let dns = StaticDns::new();
    reg.create_domain_with(DOMAIN, DomainSetup::EasyDkimWith(easy_keys("ex")), T0)
        .expect("create");
    refresh(&reg, &dns, T0 + H - 1);
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, DOMAIN), (Failed, Failed));
}

fn fail_every_lookup(reg: &IdentityRegistry, dns: &StaticDns) {
    let servfail = DnsError::Transient("SERVFAIL".into());
    dns.set_failure("_easydkim.example.com", servfail.clone());
    dns.set_failure(DOMAIN, servfail.clone());
    for n in cname_names(reg, DOMAIN) {
        dns.set_failure(&n, servfail.clone());
    }
}

fn clear_every_failure(reg: &IdentityRegistry, dns: &StaticDns) {
    dns.clear_failure("_easydkim.example.com");
    dns.clear_failure(DOMAIN);
    for n in cname_names(reg, DOMAIN) {
        dns.clear_failure(&n);
    }
}

#[test]
fn transient_errors_never_fail_a_pending_setup() {
    let (reg, dns) = easy_domain();
    fail_every_lookup(&reg, &dns);
    for t in [T0 + H, T0 + 72 * H, T0 + 100 * H] {
        assert_eq!(refresh(&reg, &dns, t).events, vec![], "at {t}");
        assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending), "at {t}");
        let id = reg.get_str(DOMAIN).expect("identity");
        assert_eq!(
            id.verification().last_error,
            Some(LastError::DnsServerError)
        );
        assert_eq!(
            id.dkim_verification().last_error,
            Some(LastError::DnsServerError)
        );
    }
    // The server recovers and the records are there: success, even past the window.
    clear_every_failure(&reg, &dns);
    publish_dkim(&dns, &reg, DOMAIN);
    let r = refresh(&reg, &dns, T0 + 101 * H);
    assert_eq!(r.events.len(), 2, "{:?}", r.events);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
}

#[test]
fn a_definite_miss_after_a_transient_window_end_fails() {
    let (reg, dns) = easy_domain();
    fail_every_lookup(&reg, &dns);
    refresh(&reg, &dns, T0 + 72 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    clear_every_failure(&reg, &dns);
    refresh(&reg, &dns, T0 + 73 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Failed, Failed));
}

#[test]
fn transient_errors_do_not_degrade_a_verified_setup() {
    let (reg, dns) = easy_domain();
    publish_dkim(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
    fail_every_lookup(&reg, &dns);
    for t in [T0 + 2 * H, T0 + 100 * H, T0 + 200 * H] {
        assert_eq!(refresh(&reg, &dns, t).events, vec![], "at {t}");
        assert_eq!(statuses(&reg, DOMAIN), (Success, Success), "at {t}");
        assert!(is_signed(&reg, "a@example.com", t));
    }
}

// ---------------------------------------------------------------------------------------
// Grace period and restart
// ---------------------------------------------------------------------------------------

#[test]
fn removed_dkim_records_degrade_then_recover_then_fail_after_grace() {
    let (reg, dns) = easy_domain();
    publish_verification_txt(&dns, &reg, DOMAIN);
    publish_dkim(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));

    // The CNAMEs vanish (the TXT stays): DKIM degrades, signing continues.
    let t1 = T0 + 10 * H;
    for n in cname_names(&reg, DOMAIN) {
        dns.remove(&n);
    }
    let r = refresh(&reg, &dns, t1);
    assert_same_events(
        &r.events,
        &[ev(
            DOMAIN,
            Check::Dkim,
            Success,
            TemporaryFailure,
            t1,
            Some(LastError::HostNotFound),
        )],
        "CNAMEs removed",
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, TemporaryFailure));
    assert_eq!(
        reg.get_str(DOMAIN)
            .expect("identity")
            .dkim_verification()
            .failing_since,
        Some(t1)
    );
    assert!(is_signed(&reg, "a@example.com", t1 + H));

    // Restored: back to Success.
    publish_dkim(&dns, &reg, DOMAIN);
    let r = refresh(&reg, &dns, t1 + 5 * H);
    assert_same_events(
        &r.events,
        &[ev(
            DOMAIN,
            Check::Dkim,
            TemporaryFailure,
            Success,
            t1 + 5 * H,
            None,
        )],
        "CNAMEs restored",
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));

    // Removed again and never restored: Failed when the grace period ends.
    let t2 = t1 + 10 * H;
    for n in cname_names(&reg, DOMAIN) {
        dns.remove(&n);
    }
    refresh(&reg, &dns, t2);
    assert_eq!(statuses(&reg, DOMAIN), (Success, TemporaryFailure));
    assert_eq!(refresh(&reg, &dns, t2 + 71 * H).events, vec![]);
    assert_eq!(statuses(&reg, DOMAIN), (Success, TemporaryFailure));
    assert!(is_signed(&reg, "a@example.com", t2 + 72 * H - 1));
    // At the end of the grace period signing stops, even before the next refresh.
    assert_eq!(
        unsigned_reason(&reg, "a@example.com", t2 + 72 * H),
        Some(UnsignedReason::DkimNotVerified {
            identity: name(DOMAIN),
            status: TemporaryFailure
        })
    );
    let r = refresh(&reg, &dns, t2 + 72 * H);
    assert_same_events(
        &r.events,
        &[ev(
            DOMAIN,
            Check::Dkim,
            TemporaryFailure,
            Failed,
            t2 + 72 * H,
            Some(LastError::HostNotFound),
        )],
        "grace over",
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, Failed));
    assert_eq!(
        unsigned_reason(&reg, "a@example.com", t2 + 72 * H),
        Some(UnsignedReason::DkimNotVerified {
            identity: name(DOMAIN),
            status: Failed
        })
    );
}

#[test]
fn removed_ownership_records_degrade_the_identity_with_grace() {
    let (reg, dns) = easy_domain();
    publish_dkim(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, T0 + H);
    let t1 = T0 + 2 * H;
    for n in cname_names(&reg, DOMAIN) {
        dns.remove(&n);
    }
    let r = refresh(&reg, &dns, t1);
    assert_eq!(r.events.len(), 2, "{:?}", r.events);
    assert_eq!(statuses(&reg, DOMAIN), (TemporaryFailure, TemporaryFailure));
    assert!(is_signed(&reg, "a@example.com", t1 + 71 * H));
    refresh(&reg, &dns, t1 + 72 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Failed, Failed));
    assert_eq!(
        unsigned_reason(&reg, "a@example.com", t1 + 72 * H),
        Some(UnsignedReason::NotYetVerified {
            identity: name(DOMAIN),
            check: Check::Dkim,
            status: Failed
        })
    );
}

#[test]
fn restart_gives_a_failed_setup_a_new_window_with_the_same_tokens() {
    let (reg, dns) = easy_domain();
    let before = reg.tenant_records(&reg.get_str(DOMAIN).expect("identity"));
    refresh(&reg, &dns, T0 + 72 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Failed, Failed));

    let t = T0 + 80 * H;
    reg.restart(DOMAIN, t).expect("restart");
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.verification().window_start, t);
    assert_eq!(id.dkim_verification().window_start, t);
    assert_eq!(reg.tenant_records(&id), before, "tokens changed on restart");

    // The new window runs from the restart.
    assert_eq!(refresh(&reg, &dns, t + 71 * H).events, vec![]);
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    refresh(&reg, &dns, t + 72 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Failed, Failed));

    // Restarted again and published this time: Success.
    reg.restart(DOMAIN, t + 73 * H).expect("restart");
    publish_dkim(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, t + 74 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
}

#[test]
fn restart_of_only_the_failed_dkim_keeps_the_verified_identity() {
    let (reg, dns) = easy_domain();
    publish_verification_txt(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, T0 + 72 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Failed));
    reg.restart(DOMAIN, T0 + 73 * H).expect("restart");
    assert_eq!(statuses(&reg, DOMAIN), (Success, Pending));
}

#[test]
fn restart_of_a_non_failed_identity_is_an_error() {
    let (reg, dns) = easy_domain();
    assert_eq!(
        reg.restart(DOMAIN, T0 + H),
        Err(RegistryError::NotFailed {
            identity: name(DOMAIN),
            status: Pending
        })
    );
    publish_dkim(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, T0 + H);
    assert_eq!(
        reg.restart(DOMAIN, T0 + 2 * H),
        Err(RegistryError::NotFailed {
            identity: name(DOMAIN),
            status: Success
        })
    );
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
    assert_eq!(
        reg.restart("unknown.example", T0),
        Err(RegistryError::UnknownIdentity(name("unknown.example")))
    );
}

// ---------------------------------------------------------------------------------------
// DKIM checks
// ---------------------------------------------------------------------------------------

#[test]
fn flattened_cname_with_the_right_key_is_accepted() {
    let (reg, dns) = easy_domain();
    let id = reg.get_str(DOMAIN).expect("identity");
    let keys: HashMap<String, String> = reg
        .operator_records(&id)
        .into_iter()
        .map(|r| (r.name, r.value))
        .collect();
    // The host resolves the CNAME itself and serves the TXT at the tenant name.
    for token in id.dkim().expect("setup").tokens() {
        let txt = &keys[&format!("{token}.dkim.mail.example.net")];
        dns.add_txt(&format!("{token}._domainkey.example.com"), txt);
    }
    let r = refresh(&reg, &dns, T0 + H);
    assert_eq!(r.events.len(), 2, "{:?}", r.events);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
}

#[test]
fn flattened_cname_with_another_key_is_invalid() {
    let (reg, dns) = easy_domain();
    let other = SigningKey::generate(easydkim::KeySpec::Ed25519).expect("key");
    for n in cname_names(&reg, DOMAIN) {
        dns.add_txt(&n, &other.dns_record());
    }
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(
        id.dkim_verification().last_error,
        Some(LastError::InvalidValue)
    );
}

#[test]
fn cname_to_the_wrong_target_stays_pending_with_invalid_value() {
    let (reg, dns) = easy_domain();
    for n in cname_names(&reg, DOMAIN) {
        dns.add_cname(&n, "elsewhere.example.net");
    }
    let r = refresh(&reg, &dns, T0 + H);
    assert_eq!(r.events, vec![]);
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.dkim_status(), Pending);
    assert_eq!(
        id.dkim_verification().last_error,
        Some(LastError::InvalidValue)
    );
}

/// Serves CNAME targets as some resolvers do: upper case, with a trailing dot.
struct ShoutingDns(StaticDns);

#[async_trait]
impl DnsVerifier for ShoutingDns {
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>> {
        self.0.txt(name).await
    }
    async fn cname(&self, name: &str) -> DnsResult<Vec<String>> {
        self.0.cname(name).await.map(|targets| {
            targets
                .into_iter()
                .map(|t| format!("{}.", t.to_ascii_uppercase()))
                .collect()
        })
    }
}

#[test]
fn cname_target_comparison_ignores_case_and_trailing_dot() {
    let (reg, dns) = easy_domain();
    publish_dkim(&dns, &reg, DOMAIN);
    let shouting = ShoutingDns(dns);
    assert!(
        block_on(shouting.cname(&cname_names(&reg, DOMAIN)[0])).expect("cname")[0]
            .ends_with(".DKIM.MAIL.EXAMPLE.NET.")
    );
    block_on(reg.refresh(&shouting, T0 + H));
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
}

fn byo_domain(domain: &str) -> (IdentityRegistry, StaticDns, SigningKey) {
    let reg = registry();
    let key = key("ed25519.pem");
    reg.create_domain_with(
        domain,
        DomainSetup::BringYourOwnKey {
            selector: Selector::parse("s2024").expect("selector"),
            key: key.clone(),
        },
        T0,
    )
    .expect("create");
    (reg, StaticDns::new(), key)
}

#[test]
fn bring_your_own_key_with_the_right_key_verifies_dkim() {
    let (reg, dns, key) = byo_domain(DOMAIN);
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Pending));
    dns.add_txt("s2024._domainkey.example.com", &key.dns_record());
    let r = refresh(&reg, &dns, T0 + H);
    assert_same_events(
        &r.events,
        &[ev(DOMAIN, Check::Dkim, Pending, Success, T0 + H, None)],
        "BYO key published",
    );
    // The key TXT does not prove ownership; the verification TXT does.
    assert_eq!(statuses(&reg, DOMAIN), (Pending, Success));
    let reason = unsigned_reason(&reg, "a@example.com", T0 + H).expect("unsigned");
    assert_eq!(
        reason,
        UnsignedReason::NotYetVerified {
            identity: name(DOMAIN),
            check: Check::Identity,
            status: Pending
        }
    );
    assert_eq!(
        reason.to_string(),
        "example.com is registered, verification Pending: its records have not been seen in \
         DNS yet"
    );
    publish_verification_txt(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, T0 + 2 * H);
    assert_eq!(statuses(&reg, DOMAIN), (Success, Success));
    let out = reg
        .sign_at(&message_from("a@example.com"), T0 + 2 * H)
        .expect("sign");
    match out.tenant {
        TenantSignature::Signed(choice) => {
            assert_eq!(choice.selector, "s2024");
            assert_eq!(choice.domain.as_str(), DOMAIN);
        }
        other => panic!("not signed: {other:?}"),
    }
}

#[test]
fn bring_your_own_key_with_another_key_is_invalid() {
    let (reg, dns, _) = byo_domain(DOMAIN);
    dns.add_txt(
        "s2024._domainkey.example.com",
        &key("rsa1024.pem").dns_record(),
    );
    refresh(&reg, &dns, T0 + H);
    let id = reg.get_str(DOMAIN).expect("identity");
    assert_eq!(id.dkim_status(), Pending);
    assert_eq!(
        id.dkim_verification().last_error,
        Some(LastError::InvalidValue)
    );
}

// ---------------------------------------------------------------------------------------
// Email identities
// ---------------------------------------------------------------------------------------

const ALICE: &str = "alice@example.com";

#[test]
fn email_confirmed_within_24_hours() {
    let reg = registry();
    let (id, token) = reg.create_email(ALICE, T0).expect("create");
    assert_eq!((id.status(), id.dkim_status()), (Pending, NotStarted));
    assert_eq!(
        reg.confirm_email(ALICE, "wrong-token", T0 + H),
        Err(RegistryError::WrongToken(name(ALICE)))
    );
    assert_eq!(statuses(&reg, ALICE).0, Pending);
    let event = reg
        .confirm_email(ALICE, &token, T0 + 24 * H - 1)
        .expect("confirm");
    assert_eq!(
        event,
        ev(
            ALICE,
            Check::Identity,
            Pending,
            Success,
            T0 + 24 * H - 1,
            None
        )
    );
    assert_eq!(statuses(&reg, ALICE).0, Success);
    // Not pending any more.
    assert_eq!(
        reg.confirm_email(ALICE, &token, T0 + 24 * H - 1),
        Err(RegistryError::NotPending {
            identity: name(ALICE),
            status: Success
        })
    );
    // A refresh leaves it alone.
    assert_eq!(
        refresh(&reg, &StaticDns::new(), T0 + 100 * H).events,
        vec![]
    );
    assert_eq!(statuses(&reg, ALICE).0, Success);
}

#[test]
fn email_confirmation_expires_after_24_hours() {
    let reg = registry();
    let dns = StaticDns::new();
    let (_, token) = reg.create_email(ALICE, T0).expect("create");
    assert_eq!(refresh(&reg, &dns, T0 + 24 * H - 1).events, vec![]);
    let expired = Err(RegistryError::ConfirmationExpired {
        identity: name(ALICE),
        expired_at: T0 + 24 * H,
    });
    assert_eq!(reg.confirm_email(ALICE, &token, T0 + 24 * H), expired);
    assert_eq!(statuses(&reg, ALICE).0, Pending);
    let r = refresh(&reg, &dns, T0 + 24 * H);
    assert_same_events(
        &r.events,
        &[ev(
            ALICE,
            Check::Identity,
            Pending,
            Failed,
            T0 + 24 * H,
            None,
        )],
        "confirmation expired",
    );
    assert_eq!(statuses(&reg, ALICE).0, Failed);
    assert_eq!(refresh(&reg, &dns, T0 + 25 * H).events, vec![]);
    // Failed because the window passed: still "expired", with how to start again.
    let err = reg
        .confirm_email(ALICE, &token, T0 + 25 * H)
        .expect_err("expired");
    assert_eq!(Err(err.clone()), expired);
    let text = err.to_string();
    assert!(
        text.contains("expired") && text.contains("restart"),
        "{text}"
    );
    // Restart: same token, a new 24 h lifetime.
    reg.restart(ALICE, T0 + 30 * H).expect("restart");
    assert_eq!(statuses(&reg, ALICE).0, Pending);
    reg.confirm_email(ALICE, &token, T0 + 30 * H + 24 * H - 1)
        .expect("confirm after restart");
    assert_eq!(statuses(&reg, ALICE).0, Success);
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

/// A notifier that records every event it is handed.
#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

#[async_trait]
impl Notifier for Collect {
    async fn notify(&self, event: &Event) {
        self.0.lock().expect("lock").push(event.clone());
    }
}

/// Two `refresh` calls at `now` on two OS threads, released together.
fn race(reg: &IdentityRegistry, dns: &StaticDns, now: u64) -> [RefreshReport; 2] {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let run = || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            barrier.wait();
            rt.block_on(reg.refresh(dns, now))
        };
        let a = s.spawn(run);
        let b = s.spawn(run);
        [a.join().expect("thread a"), b.join().expect("thread b")]
    })
}

#[test]
fn racing_refreshes_report_every_transition_exactly_once() {
    const ROUNDS: usize = 60;
    let tags = ["da", "db", "dc", "dd", "de", "df"];
    let keys: Vec<SigningKey> = tags
        .iter()
        .map(|_| SigningKey::generate(easydkim::KeySpec::Ed25519).expect("key"))
        .collect();
    let domains: Vec<String> = tags.iter().map(|t| format!("{t}.example")).collect();
    let email = "x@mail.example";
    let hnf = Some(LastError::HostNotFound);

    for round in 0..ROUNDS {
        let reg = registry();
        let collect = Arc::new(Collect::default());
        reg.set_notifier(Some(collect.clone()));
        let dns = StaticDns::new();
        for ((d, t), k) in domains.iter().zip(tags).zip(&keys) {
            reg.create_domain_with(d, DomainSetup::EasyDkimWith(easy_keys_with(t, k)), T0)
                .expect("create");
        }
        reg.create_email(email, T0).expect("email");
        for d in domains.iter().step_by(2) {
            publish_dkim(&dns, &reg, d);
        }

        let mut all = Vec::new();
        let mut step = |now: u64, expected: Vec<Event>, what: &str| {
            let [a, b] = race(&reg, &dns, now);
            let union: Vec<Event> = a.events.iter().chain(&b.events).cloned().collect();
            assert_same_events(&union, &expected, &format!("round {round}, {what}"));
            all.extend(union);
        };
        let both = |d: &str, from, to, at, err| {
            vec![
                ev(d, Check::Identity, from, to, at, err),
                ev(d, Check::Dkim, from, to, at, err),
            ]
        };

        let t = T0 + H;
        step(
            t,
            domains
                .iter()
                .step_by(2)
                .flat_map(|d| both(d, Pending, Success, t, None))
                .collect(),
            "records found",
        );
        for n in cname_names(&reg, &domains[0]) {
            dns.remove(&n);
        }
        let t = T0 + 2 * H;
        step(
            t,
            both(&domains[0], Success, TemporaryFailure, t, hnf),
            "records removed",
        );
        let t = T0 + 24 * H;
        step(
            t,
            vec![ev(email, Check::Identity, Pending, Failed, t, None)],
            "confirmation expired",
        );
        let t = T0 + 72 * H;
        step(
            t,
            domains
                .iter()
                .skip(1)
                .step_by(2)
                .flat_map(|d| both(d, Pending, Failed, t, hnf))
                .collect(),
            "window over",
        );
        let t = T0 + 74 * H;
        step(
            t,
            both(&domains[0], TemporaryFailure, Failed, t, hnf),
            "grace over",
        );
        step(T0 + 75 * H, vec![], "nothing left to change");

        let notified = collect.0.lock().expect("lock").clone();
        assert_same_events(&notified, &all, &format!("round {round}, notifier"));
    }
}

#[test]
fn installed_notifier_receives_each_transition_once() {
    let (reg, dns) = easy_domain();
    let collect = Arc::new(Collect::default());
    reg.set_notifier(Some(collect.clone()));
    publish_dkim(&dns, &reg, DOMAIN);
    let r1 = refresh(&reg, &dns, T0 + H);
    let r2 = refresh(&reg, &dns, T0 + 2 * H);
    assert_eq!(r2.events, vec![]);
    let notified = collect.0.lock().expect("lock").clone();
    assert_eq!(notified, r1.events);
    assert_eq!(notified.len(), 2);
    // Uninstalled: nothing more is delivered.
    reg.set_notifier(None);
    for n in cname_names(&reg, DOMAIN) {
        dns.remove(&n);
    }
    assert_eq!(refresh(&reg, &dns, T0 + 3 * H).events.len(), 2);
    assert_eq!(collect.0.lock().expect("lock").len(), 2);
}

/// A mail transport that keeps what it is given, or fails every send.
#[derive(Default)]
struct FakeTransport {
    sent: Mutex<Vec<OutgoingEmail>>,
    fail: bool,
}

#[async_trait]
impl MailTransport for FakeTransport {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), String> {
        if self.fail {
            return Err(format!("relay refused mail to {}", email.to));
        }
        self.sent.lock().expect("lock").push(email.clone());
        Ok(())
    }
}

#[test]
fn email_notifier_mails_the_tenant() {
    let (reg, dns) = easy_domain();
    let transport = Arc::new(FakeTransport::default());
    let notifier = Arc::new(EmailNotifier::new(
        "noreply@operator.example.net",
        transport.clone(),
        |id| Some(format!("postmaster@{}", id.domain())),
    ));
    reg.set_notifier(Some(notifier.clone()));
    publish_dkim(&dns, &reg, DOMAIN);
    refresh(&reg, &dns, T0 + H);
    let sent = transport.sent.lock().expect("lock").clone();
    let mut subjects: Vec<&str> = sent.iter().map(|e| e.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        [
            "DKIM setup successful for example.com in eu-west-1",
            "Identity verification successful for example.com in eu-west-1",
        ]
    );
    let dkim = sent
        .iter()
        .find(|e| e.subject.starts_with("DKIM"))
        .expect("DKIM mail");
    assert_eq!(dkim.from, "noreply@operator.example.net");
    assert_eq!(dkim.to, "postmaster@example.com");
    assert!(
        dkim.body.contains("from Pending to Success"),
        "{}",
        dkim.body
    );
    assert!(
        dkim.body.contains("Mail from this identity is now signed."),
        "{}",
        dkim.body
    );
    let bytes = String::from_utf8(dkim.to_rfc5322()).expect("utf-8");
    assert!(bytes.starts_with(
        "From: noreply@operator.example.net\r\nTo: postmaster@example.com\r\n\
         Subject: DKIM setup successful for example.com in eu-west-1\r\n"
    ));
    assert!(
        !bytes.replace("\r\n", "").contains('\n'),
        "bare LF in {bytes:?}"
    );
    assert_eq!(notifier.take_errors(), Vec::<String>::new());
}

#[test]
fn email_notifier_reports_transport_errors_and_skips_unknown_recipients() {
    let (reg, dns) = easy_domain();
    reg.create_domain_with(
        "quiet.example",
        DomainSetup::EasyDkimWith(easy_keys("quiet")),
        T0,
    )
    .expect("create");
    let transport = Arc::new(FakeTransport {
        fail: true,
        ..FakeTransport::default()
    });
    let notifier = Arc::new(EmailNotifier::new(
        "noreply@operator.example.net",
        transport,
        |id| (id.domain().as_str() == DOMAIN).then(|| "postmaster@example.com".to_string()),
    ));
    reg.set_notifier(Some(notifier.clone()));
    publish_dkim(&dns, &reg, DOMAIN);
    publish_dkim(&dns, &reg, "quiet.example");
    let r = refresh(&reg, &dns, T0 + H);
    assert_eq!(r.events.len(), 4);
    // Two mails for example.com were attempted (and failed); none for quiet.example.
    let errors = notifier.take_errors();
    assert_eq!(
        errors,
        vec!["relay refused mail to postmaster@example.com".to_string(); 2]
    );
    assert_eq!(notifier.take_errors(), Vec::<String>::new());
}

#[test]
fn email_notifier_subjects() {
    let subject = |identity: &str, check, from, to, err| {
        EmailNotifier::compose(&ev(identity, check, from, to, T0, err)).0
    };
    assert_eq!(
        subject(DOMAIN, Check::Dkim, Pending, Success, None),
        "DKIM setup successful for example.com in eu-west-1"
    );
    assert_eq!(
        subject(DOMAIN, Check::Identity, Pending, Success, None),
        "Identity verification successful for example.com in eu-west-1"
    );
    assert_eq!(
        subject(DOMAIN, Check::Dkim, TemporaryFailure, Success, None),
        "DKIM setup restored for example.com in eu-west-1"
    );
    assert_eq!(
        subject(
            DOMAIN,
            Check::Dkim,
            Success,
            TemporaryFailure,
            Some(LastError::HostNotFound)
        ),
        "DKIM setup temporarily failing for example.com in eu-west-1"
    );
    assert_eq!(
        subject(
            "news.example.com",
            Check::Identity,
            Pending,
            Failed,
            Some(LastError::TypeNotFound)
        ),
        "Identity verification failed for news.example.com in eu-west-1"
    );
    assert_eq!(
        subject(ALICE, Check::Identity, Pending, Success, None),
        "Identity verification successful for alice@example.com in eu-west-1"
    );
    let (_, body) = EmailNotifier::compose(&ev(
        DOMAIN,
        Check::Dkim,
        Pending,
        Failed,
        T0,
        Some(LastError::InvalidValue),
    ));
    assert!(
        body.contains("The last check found: InvalidValue."),
        "{body}"
    );
    assert!(body.contains("restart"), "{body}");
}

#[test]
fn creating_twice_is_refused() {
    let (reg, _) = easy_domain();
    let err = reg
        .create_domain_with(DOMAIN, DomainSetup::None, T0)
        .expect_err("duplicate");
    assert_eq!(err, RegistryError::IdentityExists(name(DOMAIN)));
}
