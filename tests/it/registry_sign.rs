//! `IdentityRegistry::sign_at` end to end: signatures verify with our `Verifier` (and with
//! mail-auth in `benches/tests/mail_auth.rs`) from a DNS holding exactly the records the
//! registry produced, the operator signature, unsigned outcomes leave the message alone,
//! errors, the SES profile, and (with the `serde` feature) snapshots.

use easydkim::{
    DomainSetup, IdentityRegistry, KeySpec, Message, MessageError, Profile, RegistryConfig,
    SignError, Signer, StaticDns, Status, TenantSignature, UnsignedReason, VerificationStatus,
    Verifier, VerifyOptions,
};

use crate::precedence::{
    config, easy_keys, message_from, name, new_signatures, publish_dkim, publish_verification_txt,
    refresh, statuses, tag, H, T0,
};
use crate::{key, messages};

use crate::support::{block_on, publish};
use VerificationStatus::{Pending, Success};

const NOW: u64 = T0 + 2 * H;
const OPERATOR_DOMAIN: &str = "operator.example.net";
const OPERATOR_SELECTOR: &str = "op1";

/// `IdentityRegistry` is `Send + Sync`, checked at compile time.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<IdentityRegistry>();
};

#[test]
fn registry_is_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let reg = IdentityRegistry::new(config());
    send_sync(&reg);
    send_sync(&std::sync::Arc::new(reg));
}

/// `config()` with new keys of `spec` and, when asked, the operator signature.
fn config_with(spec: KeySpec, operator: bool) -> RegistryConfig {
    let mut c = config();
    c.key_spec = spec;
    if operator {
        c.operator_signer = Some(
            Signer::new(key("rsa1024.pem"), OPERATOR_DOMAIN, OPERATOR_SELECTOR)
                .expect("operator signer"),
        );
    }
    c
}

/// The operator's own key record (published by the operator, not by the registry).
fn publish_operator_key(dns: &StaticDns) {
    dns.add_txt(
        &format!("{OPERATOR_SELECTOR}._domainkey.{OPERATOR_DOMAIN}"),
        &key("rsa1024.pem").dns_record(),
    );
}

/// `example.com` with a generated Easy DKIM setup; `dns` holds exactly the records the
/// registry produced for it (tenant TXT and CNAMEs, operator key TXTs), plus the operator's
/// own key when configured; verified by one refresh.
fn easy_example_com(c: RegistryConfig) -> (IdentityRegistry, StaticDns) {
    let operator = c.operator_signer.is_some();
    let reg = IdentityRegistry::new(c);
    let id = reg.create_domain("example.com", T0).expect("create");
    let dns = StaticDns::new();
    publish(&dns, &reg.tenant_records(&id));
    publish(&dns, &reg.operator_records(&id));
    if operator {
        publish_operator_key(&dns);
    }
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, "example.com"), (Success, Success));
    (reg, dns)
}

fn verifier() -> Verifier {
    Verifier::new(VerifyOptions::default().with_now(Some(NOW)))
}

/// Our verifier's status for each signature with `d=` one of `domains`, by `d=`.
fn our_results(dns: &StaticDns, signed: &[u8], domains: &[&str]) -> Vec<(String, Status)> {
    block_on(verifier().verify(dns, signed))
        .expect("verify")
        .into_iter()
        .filter_map(|r| {
            let d = r.domain.clone()?;
            domains.contains(&d.as_str()).then_some((d, r.status))
        })
        .collect()
}

/// Checks that `prefix` (the new headers) uses the message's own line ending.
fn check_line_endings(name: &str, input: &[u8], out: &[u8]) {
    let prefix = &out[..out.len() - input.len()];
    let le = Message::parse(input).expect("parse").line_ending().as_str();
    for (i, &b) in prefix.iter().enumerate() {
        if b == b'\n' {
            let crlf = i > 0 && prefix[i - 1] == b'\r';
            assert_eq!(crlf, le == "\r\n", "{name}: header line ending");
        }
    }
    assert!(prefix.ends_with(le.as_bytes()), "{name}");
}

#[test]
fn corpus_signatures_verify_from_the_records_the_registry_produced() {
    for spec in [KeySpec::Rsa1024, KeySpec::Ed25519] {
        let (reg, dns) = easy_example_com(config_with(spec, true));
        let id = reg.get_str("example.com").expect("identity");
        let (selector, _) = id.dkim().expect("setup").signing();
        let algorithm = if spec == KeySpec::Ed25519 {
            "ed25519-sha256"
        } else {
            "rsa-sha256"
        };
        for (file, input) in messages() {
            let out = reg
                .sign_at(&input, NOW)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            match &out.tenant {
                TenantSignature::Signed(choice) => {
                    assert_eq!(choice.domain.as_str(), "example.com", "{file}");
                    assert_eq!(choice.selector, selector, "{file}");
                }
                other => panic!("{file}: {other:?}"),
            }
            assert!(out.operator_signed, "{file}");
            // The new headers, then the caller's bytes unchanged.
            let sigs = new_signatures(&out.message, &input);
            assert_eq!(sigs.len(), 2, "{file}");
            check_line_endings(&file, &input, &out.message);
            let mut ds: Vec<&str> = sigs.iter().map(|s| tag(s, "d")).collect();
            ds.sort_unstable();
            assert_eq!(ds, ["example.com", OPERATOR_DOMAIN], "{file}");
            for s in &sigs {
                assert_eq!(tag(s, "t"), NOW.to_string(), "{file}");
                if tag(s, "d") == "example.com" {
                    assert_eq!(tag(s, "a"), algorithm, "{file}");
                    assert_eq!(tag(s, "s"), selector, "{file}");
                }
            }
            let results = our_results(&dns, &out.message, &["example.com", OPERATOR_DOMAIN]);
            assert_eq!(results.len(), 2, "{file}: {results:?}");
            assert!(
                results.iter().all(|(_, s)| *s == Status::Pass),
                "{file} ({spec}): {results:?}"
            );
        }
    }
}

#[test]
fn subdomain_with_its_own_setup_signs_under_its_own_name() {
    let (reg, dns) = easy_example_com(config_with(KeySpec::Ed25519, false));
    reg.create_domain_with(
        "news.sub.example.com",
        DomainSetup::EasyDkimWith(easy_keys("news")),
        T0,
    )
    .expect("create");
    let (file, input) = messages()
        .into_iter()
        .find(|(f, _)| f.starts_with("31-"))
        .expect("message 31");
    // Not verified yet: d=example.com.
    let out = reg.sign_at(&input, NOW).expect("sign");
    let sigs = new_signatures(&out.message, &input);
    assert_eq!(tag(&sigs[0], "d"), "example.com", "{file}");
    publish_dkim(&dns, &reg, "news.sub.example.com");
    refresh(&reg, &dns, T0 + H + 1);
    let out = reg.sign_at(&input, NOW).expect("sign");
    let sigs = new_signatures(&out.message, &input);
    assert_eq!(tag(&sigs[0], "d"), "news.sub.example.com", "{file}");
    assert_eq!(
        our_results(&dns, &out.message, &["news.sub.example.com"]),
        vec![("news.sub.example.com".to_string(), Status::Pass)]
    );
}

// ---------------------------------------------------------------------------------------
// Operator signature and unsigned outcomes
// ---------------------------------------------------------------------------------------

#[test]
fn operator_signature_is_added_even_when_the_tenant_is_unsigned() {
    let reg = IdentityRegistry::new(config_with(KeySpec::Ed25519, true));
    let dns = StaticDns::new();
    publish_operator_key(&dns);
    for (file, input) in messages() {
        let out = reg.sign_at(&input, NOW).expect("sign");
        assert_eq!(
            out.tenant,
            TenantSignature::Unsigned(UnsignedReason::UnverifiedSender),
            "{file}"
        );
        assert!(out.operator_signed, "{file}");
        let sigs = new_signatures(&out.message, &input);
        assert_eq!(sigs.len(), 1, "{file}");
        assert_eq!(tag(&sigs[0], "d"), OPERATOR_DOMAIN, "{file}");
        assert_eq!(tag(&sigs[0], "s"), OPERATOR_SELECTOR, "{file}");
        check_line_endings(&file, &input, &out.message);
        if file.starts_with("24-") {
            let h = tag(&sigs[0], "h").to_ascii_lowercase();
            assert!(h.split(':').any(|f| f == "feedback-id"), "{file}: h={h}");
        }
        assert_eq!(
            our_results(&dns, &out.message, &[OPERATOR_DOMAIN]),
            vec![(OPERATOR_DOMAIN.to_string(), Status::Pass)],
            "{file}"
        );
    }
}

/// A registry in which each unsigned reason occurs, with its DNS.
fn every_reason(operator: bool) -> (IdentityRegistry, StaticDns) {
    let reg = IdentityRegistry::new(config_with(KeySpec::Ed25519, operator));
    let dns = StaticDns::new();
    if operator {
        publish_operator_key(&dns);
    }
    reg.create_domain_with(
        "example.com",
        DomainSetup::EasyDkimWith(easy_keys("ex")),
        T0,
    )
    .expect("create");
    publish_dkim(&dns, &reg, "example.com");
    reg.create_domain_with(
        "pending.example.com",
        DomainSetup::EasyDkimWith(easy_keys("pend")),
        T0,
    )
    .expect("create");
    publish_verification_txt(&dns, &reg, "pending.example.com");
    for email in ["off@example.com", "solo@example.org"] {
        let (_, t) = reg.create_email(email, T0).expect("email");
        reg.confirm_email(email, &t, T0 + 1).expect("confirm");
    }
    reg.set_signing_enabled("off@example.com", false)
        .expect("disable");
    refresh(&reg, &dns, T0 + H);
    assert_eq!(statuses(&reg, "pending.example.com"), (Success, Pending));
    (reg, dns)
}

fn reasons() -> Vec<(&'static str, UnsignedReason)> {
    vec![
        ("nobody@unknown.example", UnsignedReason::UnverifiedSender),
        ("solo@example.org", UnsignedReason::NoDkimSetup),
        (
            "off@example.com",
            UnsignedReason::SigningDisabled {
                identity: name("off@example.com"),
            },
        ),
        (
            "x@pending.example.com",
            UnsignedReason::DkimNotVerified {
                identity: name("pending.example.com"),
                status: Pending,
            },
        ),
    ]
}

/// The same message with bare LF line endings.
fn with_lf(input: &[u8]) -> Vec<u8> {
    String::from_utf8(input.to_vec())
        .expect("utf-8")
        .replace("\r\n", "\n")
        .into_bytes()
}

#[test]
fn unsigned_outcomes_return_the_message_unchanged() {
    let (reg, _) = every_reason(false);
    for (from, reason) in reasons() {
        for input in [message_from(from), with_lf(&message_from(from))] {
            let out = reg.sign_at(&input, NOW).expect("sign");
            assert_eq!(
                out.tenant,
                TenantSignature::Unsigned(reason.clone()),
                "{from}"
            );
            assert!(!out.operator_signed, "{from}");
            assert!(out.message == input, "{from}: message changed");
        }
    }
    // The one verified, enabled sender in the registry does sign.
    let input = message_from("user@example.com");
    let out = reg.sign_at(&input, NOW).expect("sign");
    assert!(matches!(out.tenant, TenantSignature::Signed(_)));
    assert_eq!(new_signatures(&out.message, &input).len(), 1);
}

/// Non-fatal findings (lines over 998 octets, bare CR, ...) come back
/// as warnings on the outcome. The message goes out either way, so the findings must not
/// depend on whether its sender happens to be verified.
#[test]
fn unsigned_outcome_reports_the_same_warnings_as_a_signed_one() {
    let unverified = IdentityRegistry::new(config_with(KeySpec::Ed25519, false));
    let (verified, _) = easy_example_com(config_with(KeySpec::Ed25519, false));
    for (file, input) in messages() {
        if !(file.starts_with("17-") || file.starts_with("21-")) {
            continue;
        }
        let unsigned = unverified.sign_at(&input, NOW).expect("sign");
        assert_eq!(
            unsigned.tenant,
            TenantSignature::Unsigned(UnsignedReason::UnverifiedSender),
            "{file}"
        );
        assert!(unsigned.message == input, "{file}: message changed");
        let signed = verified.sign_at(&input, NOW).expect("sign");
        assert!(
            matches!(signed.tenant, TenantSignature::Signed(_)),
            "{file}"
        );
        assert!(!signed.warnings.is_empty(), "{file}");
        assert_eq!(unsigned.warnings, signed.warnings, "{file}");
    }
}

#[test]
fn unsigned_outcomes_carry_only_the_operator_signature() {
    let (reg, dns) = every_reason(true);
    for (from, reason) in reasons() {
        let input = message_from(from);
        let out = reg.sign_at(&input, NOW).expect("sign");
        assert_eq!(out.tenant, TenantSignature::Unsigned(reason), "{from}");
        assert!(out.operator_signed);
        let sigs = new_signatures(&out.message, &input);
        assert_eq!(sigs.len(), 1, "{from}");
        assert_eq!(tag(&sigs[0], "d"), OPERATOR_DOMAIN, "{from}");
        assert_eq!(
            our_results(&dns, &out.message, &[OPERATOR_DOMAIN]),
            vec![(OPERATOR_DOMAIN.to_string(), Status::Pass)],
            "{from}"
        );
    }
}

#[test]
fn message_without_from_is_an_error() {
    for operator in [false, true] {
        let (reg, _) = every_reason(operator);
        let no_from = b"To: bob@example.org\r\nSubject: no author\r\n\r\nHello.\r\n";
        assert_eq!(
            reg.sign_at(no_from, NOW),
            Err(SignError::Message(MessageError::NoFrom))
        );
        let two_from =
            b"From: a@example.com\r\nFrom: b@example.com\r\nTo: bob@example.org\r\n\r\nHi.\r\n";
        assert_eq!(
            reg.sign_at(two_from, NOW),
            Err(SignError::Message(MessageError::MultipleFrom { count: 2 }))
        );
    }
}

#[test]
fn standard_profile_shape() {
    let (reg, dns) = easy_example_com(config_with(KeySpec::Rsa1024, false));
    let input = message_from("user@example.com");
    let out = reg.sign_at(&input, NOW).expect("sign");
    let sigs = new_signatures(&out.message, &input);
    assert!(out
        .message
        .starts_with(b"DKIM-Signature: v=1; a=rsa-sha256; "));
    assert_eq!(tag(&sigs[0], "c"), "relaxed/relaxed");
    assert_eq!(tag(&sigs[0], "t"), NOW.to_string());
    for absent in ["x", "i", "l"] {
        assert!(
            sigs[0].iter().all(|(k, _)| k != absent),
            "{absent}= in {sigs:?}"
        );
    }
    assert_eq!(
        our_results(&dns, &out.message, &["example.com"]),
        vec![("example.com".to_string(), Status::Pass)]
    );
}

#[test]
fn ses_compatible_profile_shape() {
    let mut c = config_with(KeySpec::Rsa1024, false);
    c.profile = Profile::SesCompatible;
    let (reg, dns) = easy_example_com(c);
    for (file, input) in messages() {
        let out = reg.sign_at(&input, NOW).expect("sign");
        assert!(
            out.message
                .starts_with(b"DKIM-Signature: v=1; a=rsa-sha256; q=dns/txt; c=relaxed/simple;"),
            "{file}: {}",
            String::from_utf8_lossy(&out.message[..80])
        );
        let sigs = new_signatures(&out.message, &input);
        let order: Vec<&str> = sigs[0].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            order,
            ["v", "a", "q", "c", "s", "d", "t", "h", "bh", "b"],
            "{file}"
        );
        assert_eq!(
            our_results(&dns, &out.message, &["example.com"]),
            vec![("example.com".to_string(), Status::Pass)],
            "{file}"
        );
    }
}

/// A message shaped like SES mail with every field the SES `h=` lists can hold, in SES's
/// order, and a field SES does not sign (X-Mailer), a repeated one (two `To`), and a
/// trace field (Received).
const SES_MESSAGE: &[u8] = b"Received: from client (client.example.com [192.0.2.1])\r\n\
From: Alice <alice@example.com>\r\n\
Reply-To: Support <support@example.com>\r\n\
To: Bob <bob@example.org>\r\n\
Cc: Carol <carol@example.org>\r\n\
Subject: Re: your order\r\n\
In-Reply-To: <order-1@example.org>\r\n\
References: <order-0@example.org> <order-1@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
X-Mailer: shop 1.0\r\n\
to: Dave <dave@example.org>\r\n\
Message-ID: <0100018c-ses-test@email.amazonses.com>\r\n\
Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n\
Feedback-ID: 1.eu-west-1.abcdef:AmazonSES\r\n\
\r\n\
Your order has shipped.\r\n";

/// The SES shape, field by field, against what SES emits: tag order `v a q c s d t h bh b`,
/// `h=` the present fields once each in message order as spelled there, the tenant without
/// Feedback-ID, the operator (like `d=amazonses.com`) with it, both with the same `t=` and
/// `bh=`, and nothing oversigned.
#[test]
fn ses_compatible_profile_matches_the_headers_ses_emits() {
    let mut c = config_with(KeySpec::Rsa1024, true);
    c.profile = Profile::SesCompatible;
    let (reg, dns) = easy_example_com(c);
    let out = reg.sign_at(SES_MESSAGE, NOW).expect("sign");
    let sigs = new_signatures(&out.message, SES_MESSAGE);
    assert_eq!(sigs.len(), 2);
    let (tenant, operator) = if tag(&sigs[0], "d") == "example.com" {
        (&sigs[0], &sigs[1])
    } else {
        (&sigs[1], &sigs[0])
    };
    assert_eq!(tag(operator, "d"), OPERATOR_DOMAIN);
    // Observed in SES mail: tenant and amazonses.com signatures, tag by tag.
    let tenant_h = "From:Reply-To:To:Cc:Subject:In-Reply-To:References:MIME-Version:\
                    Content-Type:Message-ID:Date";
    for (sig, h) in [
        (tenant, tenant_h.to_string()),
        (operator, format!("{tenant_h}:Feedback-ID")),
    ] {
        let order: Vec<&str> = sig.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, ["v", "a", "q", "c", "s", "d", "t", "h", "bh", "b"]);
        assert_eq!(tag(sig, "v"), "1");
        assert_eq!(tag(sig, "a"), "rsa-sha256");
        assert_eq!(tag(sig, "q"), "dns/txt");
        assert_eq!(tag(sig, "c"), "relaxed/simple");
        assert_eq!(tag(sig, "t"), NOW.to_string());
        assert_eq!(tag(sig, "h"), h);
    }
    assert_eq!(tag(tenant, "bh"), tag(operator, "bh"));
    assert_eq!(
        our_results(&dns, &out.message, &["example.com", OPERATOR_DOMAIN]).len(),
        2
    );
    for (d, status) in our_results(&dns, &out.message, &["example.com", OPERATOR_DOMAIN]) {
        assert_eq!(status, Status::Pass, "{d}");
    }

    // The safe default is unchanged: oversigned, lowercase names, Feedback-ID signed.
    let (reg, _) = easy_example_com(config_with(KeySpec::Rsa1024, false));
    let out = reg.sign_at(SES_MESSAGE, NOW).expect("sign");
    let sigs = new_signatures(&out.message, SES_MESSAGE);
    let h = tag(&sigs[0], "h");
    assert!(h.starts_with("from:"), "{h}");
    assert!(h.contains("feedback-id"), "{h}");
    assert_eq!(h.split(':').filter(|n| *n == "from").count(), 2, "{h}");
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

#[cfg(feature = "serde")]
mod snapshot {
    use base64::Engine;
    use easydkim::snapshot::Snapshot;
    use easydkim::{DomainSetup, IdentityRegistry, RegistryError, Selector, StaticDns};

    use super::{config_with, NOW};
    use crate::key;
    use crate::precedence::{config, message_from, refresh, H, T0};
    use crate::support::publish;

    fn populated() -> (IdentityRegistry, StaticDns) {
        let reg = IdentityRegistry::new(config_with(easydkim::KeySpec::Ed25519, false));
        let dns = StaticDns::new();
        let id = reg.create_domain("example.com", T0).expect("create");
        publish(&dns, &reg.tenant_records(&id));
        publish(&dns, &reg.operator_records(&id));
        reg.create_domain_with(
            "example.org",
            DomainSetup::BringYourOwnKey {
                selector: Selector::parse("s2024").expect("selector"),
                key: key("ed25519.pem"),
            },
            T0,
        )
        .expect("create");
        dns.add_txt(
            "s2024._domainkey.example.org",
            &key("ed25519.pem").dns_record(),
        );
        let org = reg.get_str("example.org").expect("identity");
        publish(&dns, &reg.tenant_records(&org)[..1]);
        reg.create_domain_with("plain.example", DomainSetup::None, T0)
            .expect("create");
        reg.create_email("pending@example.com", T0).expect("email");
        let (_, t) = reg.create_email("bob@example.com", T0).expect("email");
        reg.confirm_email("bob@example.com", &t, T0 + 1)
            .expect("confirm");
        reg.set_signing_enabled("bob@example.com", false)
            .expect("disable");
        refresh(&reg, &dns, T0 + H);
        (reg, dns)
    }

    #[test]
    fn json_round_trip_signs_identically() {
        let (reg, dns) = populated();
        let snap = reg.to_snapshot().expect("snapshot");
        let json = serde_json::to_string(&snap).expect("to json");
        let back: Snapshot = serde_json::from_str(&json).expect("from json");
        assert_eq!(back, snap);
        let restored = IdentityRegistry::from_snapshot(config(), &back).expect("restore snapshot");

        let (a, b) = (reg.list(), restored.list());
        assert_eq!(a.len(), 5);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.name(), y.name());
            assert_eq!(x.verification(), y.verification(), "{}", x.name());
            assert_eq!(x.dkim_verification(), y.dkim_verification(), "{}", x.name());
            assert_eq!(
                x.verification_token(),
                y.verification_token(),
                "{}",
                x.name()
            );
            assert_eq!(x.confirmation(), y.confirmation(), "{}", x.name());
            assert_eq!(x.signing_enabled(), y.signing_enabled(), "{}", x.name());
            assert_eq!(x.created_at(), y.created_at(), "{}", x.name());
            assert_eq!(x.version(), y.version(), "{}", x.name());
            match (&x.dkim(), &y.dkim()) {
                (None, None) => {}
                (Some(dx), Some(dy)) => {
                    assert_eq!(dx.tokens(), dy.tokens(), "{}", x.name());
                    assert_eq!(dx.signing().0, dy.signing().0, "{}", x.name());
                    assert_eq!(
                        dx.signing().1.dns_record(),
                        dy.signing().1.dns_record(),
                        "{}",
                        x.name()
                    );
                }
                other => panic!("{}: {other:?}", x.name()),
            }
            assert_eq!(reg.tenant_records(x), restored.tenant_records(y));
            assert_eq!(reg.operator_records(x), restored.operator_records(y));
        }
        assert_eq!(
            serde_json::to_string(&restored.to_snapshot().expect("snapshot")).expect("json"),
            json
        );

        // Same decisions and byte-identical Ed25519 signatures at a fixed time.
        for from in [
            "user@example.com",
            "user@example.org",
            "bob@example.com",
            "pending@example.com",
            "x@plain.example",
            "x@unknown.example",
        ] {
            let input = message_from(from);
            let x = reg.sign_at(&input, NOW).expect("sign");
            let y = restored.sign_at(&input, NOW).expect("sign");
            assert_eq!(x, y, "{from}");
        }
        let signed = reg
            .sign_at(&message_from("user@example.com"), NOW)
            .expect("sign");
        assert!(signed.message.starts_with(b"DKIM-Signature:"));

        // The restored registry carries on where the original stood.
        assert_eq!(refresh(&restored, &dns, T0 + 2 * H).events, vec![]);
    }

    #[test]
    fn newer_format_version_is_refused() {
        let (reg, _) = populated();
        let mut snap = reg.to_snapshot().expect("snapshot");
        snap.format_version = 99;
        let json = serde_json::to_string(&snap).expect("json");
        let back: Snapshot = serde_json::from_str(&json).expect("parses");
        match IdentityRegistry::from_snapshot(config(), &back) {
            Err(RegistryError::Snapshot { detail, .. }) => {
                assert!(detail.contains("99"), "{detail}")
            }
            other => panic!("format_version 99 accepted: {other:?}"),
        }
    }

    /// Easy DKIM has exactly three keys and three slots: a snapshot with two of either is
    /// refused, naming the identity, not loaded into a registry that would index past them.
    #[test]
    fn easy_dkim_needs_exactly_three_keys_and_slots() {
        use easydkim::snapshot::DkimSnapshot;
        let (reg, _) = populated();
        let snap = reg.to_snapshot().expect("snapshot");
        let mutate = |f: &dyn Fn(&mut DkimSnapshot)| {
            let mut s = snap.clone();
            for i in &mut s.identities {
                if let Some(d @ DkimSnapshot::Easy { .. }) = i.dkim.as_mut() {
                    f(d);
                }
            }
            IdentityRegistry::from_snapshot(config(), &s)
        };
        match mutate(&|d| {
            if let DkimSnapshot::Easy { keys, .. } = d {
                keys.pop();
            }
        }) {
            Err(RegistryError::Snapshot { detail, .. }) => {
                assert!(detail.contains("needs 3 keys, found 2"), "{detail}")
            }
            other => panic!("two keys accepted: {other:?}"),
        }
        match mutate(&|d| {
            if let DkimSnapshot::Easy { slots, .. } = d {
                slots.pop();
            }
        }) {
            Err(RegistryError::Snapshot { detail, .. }) => {
                assert!(detail.contains("2 key slots, expected 3"), "{detail}")
            }
            other => panic!("two slots accepted: {other:?}"),
        }
        assert!(mutate(&|_| {}).is_ok(), "the unmodified snapshot loads");
    }

    #[test]
    fn snapshot_of_another_region_is_refused() {
        let (reg, _) = populated();
        let snap = reg.to_snapshot().expect("snapshot");
        let other =
            easydkim::RegistryConfig::new("us-east-1", crate::precedence::ZONE).expect("config");
        assert!(matches!(
            IdentityRegistry::from_snapshot(other, &snap),
            Err(RegistryError::Snapshot { .. })
        ));
    }

    #[test]
    fn debug_output_never_shows_private_keys() {
        let (reg, _) = populated();
        let snap = reg.to_snapshot().expect("snapshot");
        let json = serde_json::to_string(&snap).expect("json");
        let org = reg.get_str("example.org").expect("identity");
        let der = org
            .dkim()
            .as_ref()
            .expect("setup")
            .signing()
            .1
            .to_pkcs8_der()
            .expect("der");
        let secret = base64::engine::general_purpose::STANDARD.encode(&der[..]);
        // The snapshot does carry the key (that is its job)...
        assert!(json.contains(&secret));
        // ...but Debug does not show it.
        let debug = format!("{snap:?}");
        assert!(!debug.contains(&secret), "private key in Debug output");
        assert!(debug.contains("redacted"), "{debug}");
        assert!(!format!("{reg:?}").contains(&secret));
        assert!(!format!("{org:?}").contains(&secret));
        let easy = reg.get_str("example.com").expect("identity");
        let der = easy
            .dkim()
            .as_ref()
            .expect("setup")
            .signing()
            .1
            .to_pkcs8_der()
            .expect("der");
        let secret = base64::engine::general_purpose::STANDARD.encode(&der[..]);
        assert!(json.contains(&secret));
        assert!(!debug.contains(&secret));
    }
}

/// A From that parses but names no valid address to sign for: a typed error that keeps the
/// name error as its source, and no signature.
#[test]
fn from_address_that_is_not_valid_keeps_the_cause() {
    let (reg, _) = easy_example_com(config_with(KeySpec::Ed25519, false));
    let err = reg
        .sign_at(b"From: a@-bad-.example\r\nSubject: x\r\n\r\nbody\r\n", NOW)
        .expect_err("refused");
    match &err {
        SignError::Message(MessageError::FromAddressInvalid { address, source }) => {
            assert_eq!(address, "a@-bad-.example");
            assert!(
                matches!(source, easydkim::NameError::HyphenAtLabelEdge { .. }),
                "{source:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(std::error::Error::source(&err).is_some());
}
