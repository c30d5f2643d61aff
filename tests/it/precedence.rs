//! Which identity governs a message (the guide page `docs::precedence`): the granularity table, checked
//! through `IdentityRegistry::resolve` (decision and chain) and through the `d=` of what
//! `sign_at` emits.
//!
//! This module also holds the registry fixtures shared by `lifecycle`, `records` and
//! `registry_sign`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use easydkim::{
    ChainStep, Check, Decision, DnsRecord, DomainName, DomainSetup, EasyKey, EmailAddress,
    IdentityName, IdentityRegistry, KeySpec, Purpose, RefreshReport, RegistryConfig, Resolution,
    SigningChoice, SigningKey, StaticDns, Status, StepOutcome, TenantSignature, Token, TokenSource,
    UnsignedReason, VerificationStatus, Verifier, VerifyOptions,
};

use crate::support::{block_on, publish};
use VerificationStatus::{Failed, Pending, Success};

// ---------------------------------------------------------------------------------------
// Shared fixtures
// ---------------------------------------------------------------------------------------

/// The region of every test registry.
pub(crate) const REGION: &str = "eu-west-1";
/// The operator's signing zone of every test registry.
pub(crate) const ZONE: &str = "dkim.mail.example.net";
/// One hour in seconds.
pub(crate) const H: u64 = 3600;
/// The fake clock's start (2024-01-02 10:00:00 UTC).
pub(crate) const T0: u64 = 1_704_189_600;

/// A deterministic token source: the n-th call fills the buffer with the byte `n`
/// (1, 2, 3, ...).
#[derive(Debug, Default)]
pub(crate) struct CounterTokens(AtomicU8);

impl TokenSource for CounterTokens {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.0.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        buf.fill(n);
    }
}

/// Ed25519 keys for new Easy DKIM setups and a deterministic token source.
pub(crate) fn config() -> RegistryConfig {
    let mut c = RegistryConfig::new(REGION, ZONE).expect("config");
    c.key_spec = KeySpec::Ed25519;
    c.token_source = Arc::new(CounterTokens::default());
    c
}

/// A registry with [`config`].
pub(crate) fn registry() -> IdentityRegistry {
    IdentityRegistry::new(config())
}

/// A fixed Easy DKIM token: `tag`, a digit from `2..=4` for `i` in `0..3`, padded with `q`
/// to 32 characters. `tag` must be lowercase letters.
pub(crate) fn token(tag: &str, i: usize) -> Token {
    let digit = char::from(b'2' + u8::try_from(i).expect("small index"));
    let s = format!("{:q<32}", format!("{tag}{digit}"));
    Token::parse(&s).unwrap_or_else(|| panic!("bad test token {s}"))
}

/// Three fixed tokens for `tag`, each with a fresh Ed25519 key.
pub(crate) fn easy_keys(tag: &str) -> Vec<EasyKey> {
    (0..3)
        .map(|i| EasyKey {
            token: token(tag, i),
            key: SigningKey::generate(KeySpec::Ed25519).expect("ed25519 key"),
        })
        .collect()
}

/// Three fixed tokens for `tag`, all with `key`.
pub(crate) fn easy_keys_with(tag: &str, key: &SigningKey) -> Vec<EasyKey> {
    (0..3)
        .map(|i| EasyKey {
            token: token(tag, i),
            key: key.clone(),
        })
        .collect()
}

/// The tenant records of `identity` with the given purpose.
pub(crate) fn tenant_records_for(
    reg: &IdentityRegistry,
    identity: &str,
    purpose: Purpose,
) -> Vec<DnsRecord> {
    let id = reg.get_str(identity).expect("identity exists");
    reg.tenant_records(&id)
        .into_iter()
        .filter(|r| r.purpose == purpose)
        .collect()
}

/// Publishes the Easy DKIM CNAMEs of `identity` (tenant) and its key TXTs (operator).
pub(crate) fn publish_dkim(dns: &StaticDns, reg: &IdentityRegistry, identity: &str) {
    let id = reg.get_str(identity).expect("identity exists");
    publish(
        dns,
        &tenant_records_for(reg, identity, Purpose::DkimDelegation),
    );
    publish(dns, &reg.operator_records(&id));
}

/// Publishes the verification TXT of `identity` at `_easydkim.<domain>`.
pub(crate) fn publish_verification_txt(dns: &StaticDns, reg: &IdentityRegistry, identity: &str) {
    publish(
        dns,
        &tenant_records_for(reg, identity, Purpose::Verification),
    );
}

/// One `refresh` at `now`.
pub(crate) fn refresh(reg: &IdentityRegistry, dns: &StaticDns, now: u64) -> RefreshReport {
    block_on(reg.refresh(dns, now))
}

/// (identity status, DKIM status) of an identity.
pub(crate) fn statuses(
    reg: &IdentityRegistry,
    identity: &str,
) -> (VerificationStatus, VerificationStatus) {
    let id = reg.get_str(identity).expect("identity exists");
    (id.status(), id.dkim_status())
}

/// A small CRLF message from `from`.
pub(crate) fn message_from(from: &str) -> Vec<u8> {
    format!(
        "From: Sender <{from}>\r\nTo: bob@example.org\r\nSubject: precedence\r\n\
         Date: Tue, 02 Jan 2024 10:00:00 +0000\r\nMessage-ID: <m1@example.org>\r\n\r\n\
         Hello.\r\n"
    )
    .into_bytes()
}

/// The DKIM-Signature headers `sign` prepended to `input`, as (tag, value) lists with
/// folding whitespace removed from the values. Panics unless `out` is those headers
/// followed by `input`, unchanged.
pub(crate) fn new_signatures(out: &[u8], input: &[u8]) -> Vec<Vec<(String, String)>> {
    assert!(
        out.len() >= input.len() && out[out.len() - input.len()..] == *input,
        "the caller's bytes are not the tail of the output"
    );
    let prefix = std::str::from_utf8(&out[..out.len() - input.len()]).expect("ASCII headers");
    if prefix.is_empty() {
        return Vec::new();
    }
    assert!(prefix.starts_with("DKIM-Signature: "), "{prefix}");
    prefix
        .split("DKIM-Signature:")
        .filter(|h| !h.is_empty())
        .map(|h| {
            h.split(';')
                .filter_map(|t| {
                    let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
                    t.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect()
        })
        .collect()
}

/// The value of `tag` in one parsed signature.
pub(crate) fn tag<'a>(sig: &'a [(String, String)], tag: &str) -> &'a str {
    sig.iter()
        .find(|(k, _)| k == tag)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {tag}= in {sig:?}"))
}

/// An identity name.
pub(crate) fn name(s: &str) -> IdentityName {
    IdentityName::parse(s).expect("identity name")
}

/// An email address.
pub(crate) fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("address")
}

// ---------------------------------------------------------------------------------------
// Precedence
// ---------------------------------------------------------------------------------------

fn step(candidate: &str, outcome: StepOutcome) -> ChainStep {
    ChainStep {
        candidate: name(candidate),
        outcome,
    }
}

/// The resolution a test expects (`Resolution` itself is `#[non_exhaustive]`).
#[derive(Clone, Debug, PartialEq)]
struct Expected {
    decision: Decision,
    chain: Vec<ChainStep>,
}

impl From<Resolution> for Expected {
    fn from(r: Resolution) -> Self {
        Expected {
            decision: r.decision,
            chain: r.chain,
        }
    }
}

fn signs(identity: &str, domain: &str, tag: &str, chain: Vec<ChainStep>) -> Expected {
    Expected {
        decision: Decision::Sign(SigningChoice {
            identity: name(identity),
            domain: DomainName::parse(domain).expect("domain"),
            selector: token(tag, 0).to_string(),
        }),
        chain,
    }
}

fn unsigned(reason: UnsignedReason, chain: Vec<ChainStep>) -> Expected {
    Expected {
        decision: Decision::Unsigned(reason),
        chain,
    }
}

use StepOutcome::{DkimSetup, NotRegistered, NotVerified, VerifiedWithoutDkim};

const NOW: u64 = T0 + 2 * H;

/// `example.com`, `b.example.com`, `a.b.example.com` with Easy DKIM verified through their
/// CNAMEs alone, and the email identity `user@a.b.example.com` confirmed.
fn granularity() -> (IdentityRegistry, StaticDns) {
    let reg = registry();
    let dns = StaticDns::new();
    for (domain, tag) in [
        ("example.com", "ex"),
        ("b.example.com", "bex"),
        ("a.b.example.com", "abex"),
    ] {
        reg.create_domain_with(domain, DomainSetup::EasyDkimWith(easy_keys(tag)), T0)
            .expect("create domain");
        publish_dkim(&dns, &reg, domain);
    }
    let (_, tok) = reg.create_email("user@a.b.example.com", T0).expect("email");
    reg.confirm_email("user@a.b.example.com", &tok, T0 + 60)
        .expect("confirm");
    refresh(&reg, &dns, T0 + H);
    for d in ["example.com", "b.example.com", "a.b.example.com"] {
        assert_eq!(statuses(&reg, d), (Success, Success), "{d}");
    }
    assert_eq!(statuses(&reg, "user@a.b.example.com").0, Success);
    (reg, dns)
}

/// Signs a message from `from` at [`NOW`] and checks the outcome against `expected`: the
/// tenant decision, and the `d=`/`s=` actually emitted (verified through `dns`), or the
/// message returned unchanged.
fn check_sign(reg: &IdentityRegistry, dns: &StaticDns, from: &str, expected: &Expected) {
    let input = message_from(from);
    let out = reg.sign_at(&input, NOW).expect("sign");
    assert_eq!(&Expected::from(out.resolution.clone()), expected, "{from}");
    let sigs = new_signatures(&out.message, &input);
    match &expected.decision {
        Decision::Sign(choice) => {
            assert_eq!(
                out.tenant,
                TenantSignature::Signed(choice.clone()),
                "{from}"
            );
            assert_eq!(sigs.len(), 1, "{from}");
            assert_eq!(tag(&sigs[0], "d"), choice.domain.as_str(), "{from}");
            assert_eq!(tag(&sigs[0], "s"), choice.selector, "{from}");
            let verifier = Verifier::new(VerifyOptions::default().with_now(Some(NOW)));
            let results = block_on(verifier.verify(dns, &out.message)).expect("verify");
            assert_eq!(results.len(), 1);
            assert_eq!(results[0].status, Status::Pass, "{from}: {results:?}");
        }
        Decision::Unsigned(reason) => {
            assert_eq!(
                out.tenant,
                TenantSignature::Unsigned(reason.clone()),
                "{from}"
            );
            assert!(out.message == input, "{from}: unsigned message changed");
        }
    }
}

fn check(reg: &IdentityRegistry, dns: &StaticDns, from: &str, expected: Expected) {
    assert_eq!(
        Expected::from(reg.resolve(&addr(from), NOW)),
        expected,
        "resolve {from}"
    );
    check_sign(reg, dns, from, &expected);
}

#[test]
fn granularity_table() {
    let (reg, dns) = granularity();
    check(
        &reg,
        &dns,
        "user@example.com",
        signs(
            "example.com",
            "example.com",
            "ex",
            vec![
                step("user@example.com", NotRegistered),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );
    check(
        &reg,
        &dns,
        "user@a.b.example.com",
        signs(
            "user@a.b.example.com",
            "a.b.example.com",
            "abex",
            vec![
                step("user@a.b.example.com", VerifiedWithoutDkim),
                step("a.b.example.com", DkimSetup(Success)),
            ],
        ),
    );
    check(
        &reg,
        &dns,
        "other@a.b.example.com",
        signs(
            "a.b.example.com",
            "a.b.example.com",
            "abex",
            vec![
                step("other@a.b.example.com", NotRegistered),
                step("a.b.example.com", DkimSetup(Success)),
            ],
        ),
    );
    check(
        &reg,
        &dns,
        "user@b.example.com",
        signs(
            "b.example.com",
            "b.example.com",
            "bex",
            vec![
                step("user@b.example.com", NotRegistered),
                step("b.example.com", DkimSetup(Success)),
            ],
        ),
    );
    check(
        &reg,
        &dns,
        "x@c.b.example.com",
        signs(
            "b.example.com",
            "b.example.com",
            "bex",
            vec![
                step("x@c.b.example.com", NotRegistered),
                step("c.b.example.com", NotRegistered),
                step("b.example.com", DkimSetup(Success)),
            ],
        ),
    );
    // A sender in another domain altogether: nothing covers it.
    check(
        &reg,
        &dns,
        "user@example.org",
        unsigned(
            UnsignedReason::UnverifiedSender,
            vec![
                step("user@example.org", NotRegistered),
                step("example.org", NotRegistered),
            ],
        ),
    );
}

#[test]
fn email_identity_with_signing_disabled_overrides_its_domain() {
    let (reg, dns) = granularity();
    reg.set_signing_enabled("user@a.b.example.com", false)
        .expect("disable");
    check(
        &reg,
        &dns,
        "user@a.b.example.com",
        unsigned(
            UnsignedReason::SigningDisabled {
                identity: name("user@a.b.example.com"),
            },
            vec![step("user@a.b.example.com", StepOutcome::SigningDisabled)],
        ),
    );
    // Other senders of the domain are unaffected.
    check(
        &reg,
        &dns,
        "other@a.b.example.com",
        signs(
            "a.b.example.com",
            "a.b.example.com",
            "abex",
            vec![
                step("other@a.b.example.com", NotRegistered),
                step("a.b.example.com", DkimSetup(Success)),
            ],
        ),
    );
    // Re-enabled: signs again.
    reg.set_signing_enabled("user@a.b.example.com", true)
        .expect("enable");
    assert!(matches!(
        reg.resolve(&addr("user@a.b.example.com"), NOW).decision,
        Decision::Sign(_)
    ));
}

#[test]
fn domain_with_signing_disabled_stops_the_walk_below_it_only() {
    let (reg, dns) = granularity();
    reg.set_signing_enabled("b.example.com", false)
        .expect("disable");
    check(
        &reg,
        &dns,
        "x@c.b.example.com",
        unsigned(
            UnsignedReason::SigningDisabled {
                identity: name("b.example.com"),
            },
            vec![
                step("x@c.b.example.com", NotRegistered),
                step("c.b.example.com", NotRegistered),
                step("b.example.com", StepOutcome::SigningDisabled),
            ],
        ),
    );
    // a.b.example.com decides before b.example.com is reached.
    check(
        &reg,
        &dns,
        "other@a.b.example.com",
        signs(
            "a.b.example.com",
            "a.b.example.com",
            "abex",
            vec![
                step("other@a.b.example.com", NotRegistered),
                step("a.b.example.com", DkimSetup(Success)),
            ],
        ),
    );
}

#[test]
fn unverified_subdomain_is_transparent_and_inherits_the_parent_key() {
    let (reg, dns) = granularity();
    // Registered, records never published.
    reg.create_domain_with(
        "news.example.com",
        DomainSetup::EasyDkimWith(easy_keys("news")),
        T0,
    )
    .expect("create");
    refresh(&reg, &dns, T0 + H + 60);
    assert_eq!(statuses(&reg, "news.example.com"), (Pending, Pending));
    check(
        &reg,
        &dns,
        "x@news.example.com",
        signs(
            "example.com",
            "example.com",
            "ex",
            vec![
                step("x@news.example.com", NotRegistered),
                step("news.example.com", NotVerified(Pending)),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );
}

#[test]
fn verified_subdomain_whose_dkim_failed_is_unsigned_without_fallback_to_parent() {
    let (reg, dns) = granularity();
    reg.create_domain_with(
        "mkt.example.com",
        DomainSetup::EasyDkimWith(easy_keys("mkt")),
        T0,
    )
    .expect("create");
    // Ownership TXT published; the CNAMEs never are.
    publish_verification_txt(&dns, &reg, "mkt.example.com");
    refresh(&reg, &dns, T0 + 2 * H);
    assert_eq!(statuses(&reg, "mkt.example.com"), (Success, Pending));
    let pending = unsigned(
        UnsignedReason::DkimNotVerified {
            identity: name("mkt.example.com"),
            status: Pending,
        },
        vec![
            step("x@mkt.example.com", NotRegistered),
            step("mkt.example.com", DkimSetup(Pending)),
        ],
    );
    check(&reg, &dns, "x@mkt.example.com", pending);

    // The detection window passes without the CNAMEs.
    refresh(&reg, &dns, T0 + 72 * H);
    assert_eq!(statuses(&reg, "mkt.example.com"), (Success, Failed));
    let failed = unsigned(
        UnsignedReason::DkimNotVerified {
            identity: name("mkt.example.com"),
            status: Failed,
        },
        vec![
            step("x@mkt.example.com", NotRegistered),
            step("mkt.example.com", DkimSetup(Failed)),
        ],
    );
    check(&reg, &dns, "x@mkt.example.com", failed);
    // The parent still signs its own mail.
    assert!(matches!(
        reg.resolve(&addr("x@example.com"), NOW).decision,
        Decision::Sign(_)
    ));
}

#[test]
fn plus_tag_falls_under_the_untagged_email_identity() {
    let (reg, dns) = granularity();
    let (_, tok) = reg.create_email("alice@example.com", T0).expect("email");
    reg.confirm_email("alice@example.com", &tok, T0 + 60)
        .expect("confirm");
    check(
        &reg,
        &dns,
        "alice+tag@example.com",
        signs(
            "alice@example.com",
            "example.com",
            "ex",
            vec![
                step("alice+tag@example.com", NotRegistered),
                step("alice@example.com", VerifiedWithoutDkim),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );
    reg.set_signing_enabled("alice@example.com", false)
        .expect("disable");
    check(
        &reg,
        &dns,
        "alice+tag@example.com",
        unsigned(
            UnsignedReason::SigningDisabled {
                identity: name("alice@example.com"),
            },
            vec![
                step("alice+tag@example.com", NotRegistered),
                step("alice@example.com", StepOutcome::SigningDisabled),
            ],
        ),
    );
}

#[test]
fn quoted_local_part_is_the_same_mailbox_as_the_unquoted_one() {
    let (reg, dns) = granularity();
    let (_, tok) = reg.create_email("alice@example.com", T0).expect("email");
    reg.confirm_email("alice@example.com", &tok, T0 + 60)
        .expect("confirm");
    reg.set_signing_enabled("alice@example.com", false)
        .expect("disable");
    // RFC 5322 3.2.4: the quotes of `"alice"` are semantically invisible.
    let disabled = unsigned(
        UnsignedReason::SigningDisabled {
            identity: name("alice@example.com"),
        },
        vec![step("alice@example.com", StepOutcome::SigningDisabled)],
    );
    check(&reg, &dns, "\"alice\"@example.com", disabled.clone());
    // A quoted-pair is its character: `"al\ice"` is `alice`.
    check(&reg, &dns, "\"al\\ice\"@example.com", disabled);
    // `"alice+news"` is `alice+news`, under `alice` by its +tag.
    check(
        &reg,
        &dns,
        "\"alice+news\"@example.com",
        unsigned(
            UnsignedReason::SigningDisabled {
                identity: name("alice@example.com"),
            },
            vec![
                step("alice+news@example.com", NotRegistered),
                step("alice@example.com", StepOutcome::SigningDisabled),
            ],
        ),
    );
    // A local part that needs its quotes keeps them, and its domain signs.
    check(
        &reg,
        &dns,
        "\"john doe\"@example.com",
        signs(
            "example.com",
            "example.com",
            "ex",
            vec![
                step("\"john doe\"@example.com", NotRegistered),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );
}

#[test]
fn domain_case_is_ignored_local_part_case_is_not() {
    let (reg, dns) = granularity();
    check(
        &reg,
        &dns,
        "USER@EXAMPLE.COM",
        signs(
            "example.com",
            "example.com",
            "ex",
            vec![
                step("USER@example.com", NotRegistered),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );

    let (_, tok) = reg.create_email("alice@example.com", T0).expect("email");
    reg.confirm_email("alice@example.com", &tok, T0 + 60)
        .expect("confirm");
    reg.set_signing_enabled("alice@example.com", false)
        .expect("disable");
    let disabled = unsigned(
        UnsignedReason::SigningDisabled {
            identity: name("alice@example.com"),
        },
        vec![step("alice@example.com", StepOutcome::SigningDisabled)],
    );
    // Domain case does not matter for email identities either.
    check(&reg, &dns, "alice@EXAMPLE.Com", disabled);
    // Local part case does: `Alice@` is not `alice@`.
    check(
        &reg,
        &dns,
        "Alice@example.com",
        signs(
            "example.com",
            "example.com",
            "ex",
            vec![
                step("Alice@example.com", NotRegistered),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );
}

#[test]
fn internationalised_domain_matches_its_a_label() {
    let reg = registry();
    let dns = StaticDns::new();
    reg.create_domain_with(
        "bücher.example",
        DomainSetup::EasyDkimWith(easy_keys("idn")),
        T0,
    )
    .expect("create");
    publish_dkim(&dns, &reg, "xn--bcher-kva.example");
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, "xn--bcher-kva.example"), (Success, Success));
    let expected = signs(
        "xn--bcher-kva.example",
        "xn--bcher-kva.example",
        "idn",
        vec![
            step("info@xn--bcher-kva.example", NotRegistered),
            step("xn--bcher-kva.example", DkimSetup(Success)),
        ],
    );
    assert_eq!(
        Expected::from(reg.resolve(&addr("info@BÜCHER.example"), NOW)),
        expected
    );
    check(&reg, &dns, "info@xn--bcher-kva.example", expected);
}

#[test]
fn unsigned_reason_names_the_registered_identity_that_is_not_verified() {
    let reg = registry();
    let dns = StaticDns::new();
    check(
        &reg,
        &dns,
        "user@sub.example.com",
        unsigned(
            UnsignedReason::UnverifiedSender,
            vec![
                step("user@sub.example.com", NotRegistered),
                step("sub.example.com", NotRegistered),
                step("example.com", NotRegistered),
            ],
        ),
    );
    // Registered but pending identities do not count, and the reason names the most
    // specific of them, so a tenant does not read it as "never registered".
    reg.create_domain_with(
        "example.com",
        DomainSetup::EasyDkimWith(easy_keys("ex")),
        T0,
    )
    .expect("create");
    refresh(&reg, &dns, T0 + H);
    let pending_domain = UnsignedReason::NotYetVerified {
        identity: name("example.com"),
        check: Check::Dkim,
        status: Pending,
    };
    assert_eq!(
        pending_domain.to_string(),
        "example.com is registered, DKIM Pending: its records have not been seen in DNS yet"
    );
    check(
        &reg,
        &dns,
        "user@sub.example.com",
        unsigned(
            pending_domain,
            vec![
                step("user@sub.example.com", NotRegistered),
                step("sub.example.com", NotRegistered),
                step("example.com", NotVerified(Pending)),
            ],
        ),
    );
    reg.create_email("user@sub.example.com", T0)
        .expect("create email");
    let pending_email = UnsignedReason::NotYetVerified {
        identity: name("user@sub.example.com"),
        check: Check::Identity,
        status: Pending,
    };
    assert_eq!(
        pending_email.to_string(),
        "user@sub.example.com is registered, verification Pending: the address has not been \
         confirmed yet"
    );
    check(
        &reg,
        &dns,
        "user@sub.example.com",
        unsigned(
            pending_email,
            vec![
                step("user@sub.example.com", NotVerified(Pending)),
                step("sub.example.com", NotRegistered),
                step("example.com", NotVerified(Pending)),
            ],
        ),
    );
}

#[test]
fn no_dkim_setup_when_only_a_verified_email_identity_exists() {
    let reg = registry();
    let dns = StaticDns::new();
    let (_, tok) = reg.create_email("solo@example.org", T0).expect("email");
    reg.confirm_email("solo@example.org", &tok, T0 + 60)
        .expect("confirm");
    check(
        &reg,
        &dns,
        "solo@example.org",
        unsigned(
            UnsignedReason::NoDkimSetup,
            vec![
                step("solo@example.org", VerifiedWithoutDkim),
                step("example.org", NotRegistered),
            ],
        ),
    );
}

#[test]
fn no_dkim_setup_for_a_verified_domain_without_dkim() {
    let reg = registry();
    let dns = StaticDns::new();
    reg.create_domain_with("plain.example", DomainSetup::None, T0)
        .expect("create");
    assert_eq!(
        statuses(&reg, "plain.example"),
        (Pending, VerificationStatus::NotStarted)
    );
    publish_verification_txt(&dns, &reg, "plain.example");
    refresh(&reg, &dns, T0 + H);
    assert_eq!(
        statuses(&reg, "plain.example"),
        (Success, VerificationStatus::NotStarted)
    );
    check(
        &reg,
        &dns,
        "x@plain.example",
        unsigned(
            UnsignedReason::NoDkimSetup,
            vec![
                step("x@plain.example", NotRegistered),
                step("plain.example", VerifiedWithoutDkim),
            ],
        ),
    );
}

#[test]
fn tagged_email_identity_is_more_specific_than_the_untagged_one() {
    let (reg, dns) = granularity();
    for email in ["alice@example.com", "alice+news@example.com"] {
        let (_, tok) = reg.create_email(email, T0).expect("email");
        reg.confirm_email(email, &tok, T0 + 60).expect("confirm");
    }
    reg.set_signing_enabled("alice+news@example.com", false)
        .expect("disable");
    check(
        &reg,
        &dns,
        "alice+news@example.com",
        unsigned(
            UnsignedReason::SigningDisabled {
                identity: name("alice+news@example.com"),
            },
            vec![step("alice+news@example.com", StepOutcome::SigningDisabled)],
        ),
    );
    check(
        &reg,
        &dns,
        "alice+other@example.com",
        signs(
            "alice@example.com",
            "example.com",
            "ex",
            vec![
                step("alice+other@example.com", NotRegistered),
                step("alice@example.com", VerifiedWithoutDkim),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );
}

#[test]
fn raw_utf8_from_domain_is_matched_after_idna() {
    let reg = registry();
    let dns = StaticDns::new();
    reg.create_domain_with(
        "xn--bcher-kva.example",
        DomainSetup::EasyDkimWith(easy_keys("idn")),
        T0,
    )
    .expect("create");
    publish_dkim(&dns, &reg, "xn--bcher-kva.example");
    refresh(&reg, &dns, T0 + H);
    let input = "From: B\u{fc}cher <info@B\u{dc}CHER.example>\r\nTo: bob@example.org\r\n\
                 Subject: idn\r\n\r\nHallo.\r\n"
        .as_bytes()
        .to_vec();
    let out = reg.sign_at(&input, NOW).expect("sign");
    let sigs = new_signatures(&out.message, &input);
    assert_eq!(sigs.len(), 1, "{:?}", out.tenant);
    assert_eq!(tag(&sigs[0], "d"), "xn--bcher-kva.example");
}

#[test]
fn dkim_added_to_a_verified_domain_decides_once_verified() {
    let reg = registry();
    let dns = StaticDns::new();
    reg.create_domain_with("example.com", DomainSetup::None, T0)
        .expect("create");
    publish_verification_txt(&dns, &reg, "example.com");
    refresh(&reg, &dns, T0 + H);
    assert_eq!(
        reg.resolve(&addr("a@example.com"), NOW).decision,
        Decision::Unsigned(UnsignedReason::NoDkimSetup)
    );
    reg.add_dkim(
        "example.com",
        DomainSetup::EasyDkimWith(easy_keys("ex")),
        T0 + H,
    )
    .expect("add dkim");
    assert_eq!(statuses(&reg, "example.com"), (Success, Pending));
    assert_eq!(
        reg.resolve(&addr("a@example.com"), NOW).decision,
        Decision::Unsigned(UnsignedReason::DkimNotVerified {
            identity: name("example.com"),
            status: Pending,
        })
    );
    assert!(matches!(
        reg.add_dkim(
            "example.com",
            DomainSetup::EasyDkimWith(easy_keys("ex")),
            T0 + H
        ),
        Err(easydkim::RegistryError::DkimAlreadySetUp(_))
    ));
    publish_dkim(&dns, &reg, "example.com");
    refresh(&reg, &dns, T0 + 2 * H);
    check(
        &reg,
        &dns,
        "a@example.com",
        signs(
            "example.com",
            "example.com",
            "ex",
            vec![
                step("a@example.com", NotRegistered),
                step("example.com", DkimSetup(Success)),
            ],
        ),
    );
}
