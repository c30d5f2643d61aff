//! The verifier: RFC vectors, and one test per check (RFC 6376 6, RFC 8301, RFC 8463).

use easydkim::{
    BodyLengthPolicy, Canonicalizer, DnsError, FailureReason, Signer, SigningKey, StaticDns,
    Status, VerificationResult, Verifier, VerifyOptions,
};

use crate::rfc;
use crate::support::block_on;

fn rfc_dns() -> StaticDns {
    StaticDns::from_zone(&String::from_utf8(rfc("dns.txt")).unwrap()).unwrap()
}

fn verify_at(dns: &StaticDns, msg: &[u8], opts: VerifyOptions) -> Vec<VerificationResult> {
    block_on(Verifier::new(opts).verify(dns, msg)).unwrap()
}

fn verify(dns: &StaticDns, msg: &[u8]) -> Vec<VerificationResult> {
    verify_at(
        dns,
        msg,
        VerifyOptions::default().with_now(Some(1_800_000_000)),
    )
}

const NOW: u64 = 1_800_000_000;
const MSG: &[u8] =
    b"From: Joe <joe@example.com>\r\nTo: bob@example.org\r\nSubject: test\r\n\r\nHello.\r\n";

fn setup(key_file: &[u8]) -> (Signer, StaticDns) {
    let key = SigningKey::load(key_file).unwrap();
    let dns = StaticDns::new();
    dns.add_txt("sel._domainkey.example.com", &key.dns_record());
    let s = Signer::new(key, "example.com", "sel")
        .unwrap()
        .signing_time(Some(NOW - 60));
    (s, dns)
}

fn ed() -> (Signer, StaticDns) {
    setup(include_bytes!("../data/keys/ed25519.pem"))
}

fn rsa() -> (Signer, StaticDns) {
    setup(include_bytes!("../data/keys/rsa1024.pem"))
}

fn one(results: Vec<VerificationResult>) -> VerificationResult {
    assert_eq!(results.len(), 1, "{results:?}");
    results.into_iter().next().unwrap()
}

/// Replaces the first occurrence of `from` in the signature header by `to`.
fn edit(signed: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8(signed.to_vec())
        .unwrap()
        .replacen(from, to, 1)
        .into_bytes()
}

#[test]
fn rfc8463_both_signatures_verify() {
    let opts = VerifyOptions::default().with_now(Some(1528637909 + 60));
    let r = verify_at(&rfc_dns(), &rfc("rfc8463-signed.eml"), opts);
    assert_eq!(r.len(), 2);
    for res in &r {
        assert_eq!(res.status, Status::Pass, "{res:?}");
    }
    assert_eq!(r[0].algorithm, Some(easydkim::Algorithm::Ed25519Sha256));
    assert_eq!(
        r[0].authentication_results(),
        "dkim=pass header.d=football.example.com header.s=brisbane header.i=@football.example.com header.b=/gCrinpc"
    );
}

#[test]
fn rfc6376_appendix_a_verifies_and_five_spaces_fail() {
    let msg = rfc("rfc6376-appendix-a-signed.eml");
    assert_eq!(one(verify(&rfc_dns(), &msg)).status, Status::Pass);
    let five = String::from_utf8(msg)
        .unwrap()
        .replace("\r\n      ", "\r\n     ");
    let r = one(verify(&rfc_dns(), five.as_bytes()));
    assert_eq!(r.status, Status::Fail);
}

#[test]
fn our_signatures_verify() {
    for (s, dns) in [ed(), rsa()] {
        let signed = s.sign_message(MSG).unwrap();
        assert_eq!(one(verify(&dns, &signed)).status, Status::Pass);
    }
}

#[test]
fn tampering_fails() {
    let (s, dns) = rsa();
    let signed = s.sign_message(MSG).unwrap();
    let body = edit(&signed, "Hello.", "Hello!");
    assert_eq!(
        one(verify(&dns, &body)).reason,
        Some(FailureReason::BodyHashMismatch)
    );
    let subj = edit(&signed, "Subject: test", "Subject: tesT");
    assert_eq!(
        one(verify(&dns, &subj)).reason,
        Some(FailureReason::SignatureMismatch)
    );
    let mut added = signed.clone();
    let at = added.windows(5).position(|w| w == b"From:").unwrap();
    added.splice(at..at, b"Subject: second\r\n".iter().copied());
    assert_eq!(one(verify(&dns, &added)).status, Status::Fail);
}

#[test]
fn expired_and_future() {
    let (mut s, dns) = ed();
    s = s.signing_time(Some(NOW - 1000)).expire_after(Some(10));
    let signed = s.sign_message(MSG).unwrap();
    let r = one(verify(&dns, &signed));
    assert_eq!(r.status, Status::Neutral);
    assert!(matches!(r.reason, Some(FailureReason::Expired { .. })));
    s = s.expire_after(None).signing_time(Some(NOW + 3600));
    let signed = s.sign_message(MSG).unwrap();
    let r = one(verify(&dns, &signed));
    assert_eq!(
        r.reason,
        Some(FailureReason::FutureTimestamp {
            timestamp: NOW + 3600
        })
    );
    // Within the skew it passes.
    s = s.signing_time(Some(NOW + 100));
    let signed = s.sign_message(MSG).unwrap();
    assert_eq!(one(verify(&dns, &signed)).status, Status::Pass);
}

#[test]
fn identity_outside_domain() {
    let (s, dns) = ed();
    let signed = s.sign_message(MSG).unwrap();
    let bad = edit(
        &signed,
        "d=example.com;",
        "d=example.com; i=joe@example.org;",
    );
    let r = one(verify(&dns, &bad));
    assert_eq!(r.status, Status::PermError);
    assert!(matches!(
        r.reason,
        Some(FailureReason::IdentityOutsideDomain { .. })
    ));
}

#[test]
fn from_unsigned() {
    // Our signer cannot make such a signature (From is always in h=), so one is edited: a
    // verifier must refuse h= without From before it looks at b=.
    let (s, dns) = ed();
    let s = s.headers(["from", "to", "subject"]).unwrap();
    let signed = edit(
        &s.sign_message(MSG).unwrap(),
        "h=from:to:subject;",
        "h=to:subject;",
    );
    assert_eq!(
        one(verify(&dns, &signed)).reason,
        Some(FailureReason::FromNotSigned)
    );
}

#[test]
fn revoked_key() {
    let (s, _) = ed();
    let dns = StaticDns::new();
    dns.add_txt("sel._domainkey.example.com", "v=DKIM1; k=ed25519; p=");
    let r = one(verify(&dns, &s.sign_message(MSG).unwrap()));
    assert_eq!(
        (r.status, r.reason),
        (Status::PermError, Some(FailureReason::KeyRevoked))
    );
}

#[test]
fn small_rsa_key_rejected() {
    // A 512-bit key cannot be loaded for signing, so sign by hand with the rsa crate.
    use base64::Engine;
    use rsa::pkcs8::EncodePublicKey;
    let small = <rsa::PrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(include_str!(
        "../data/keys/rsa512.pem"
    ))
    .unwrap();
    let p = base64::engine::general_purpose::STANDARD.encode(
        small
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    );
    let dns = StaticDns::new();
    dns.add_txt(
        "sel._domainkey.example.com",
        &format!("v=DKIM1; k=rsa; p={p}"),
    );
    // Any signature will do: the key is refused before the signature is checked.
    let (s, _) = rsa();
    let r = one(verify(&dns, &s.sign_message(MSG).unwrap()));
    assert_eq!(
        (r.status, r.reason),
        (Status::PermError, Some(FailureReason::KeySize(512)))
    );
}

#[test]
fn sha1_refused_unless_allowed() {
    let (s, dns) = rsa();
    let signed = edit(&s.sign_message(MSG).unwrap(), "a=rsa-sha256", "a=rsa-sha1");
    let r = one(verify(&dns, &signed));
    assert_eq!(
        (r.status, r.reason),
        (Status::PermError, Some(FailureReason::Sha1Refused))
    );
}

#[test]
fn body_length_policies() {
    let (mut s, dns) = rsa();
    s = s.body_length(true);
    let mut signed = s.sign_message(MSG).unwrap();
    signed.extend_from_slice(b"Appended by an attacker.\r\n");
    let opts = |p| {
        VerifyOptions::default()
            .with_now(Some(NOW))
            .with_body_length(p)
    };
    let r = one(verify_at(
        &dns,
        &signed,
        opts(BodyLengthPolicy::AcceptAndReport),
    ));
    assert_eq!(r.status, Status::Pass);
    assert_eq!(r.unsigned_octets, Some(26));
    let r = one(verify_at(&dns, &signed, opts(BodyLengthPolicy::Reject)));
    assert_eq!(
        (r.status, r.reason),
        (Status::Fail, Some(FailureReason::UnsignedContent(26)))
    );
    let r = one(verify_at(&dns, &signed, opts(BodyLengthPolicy::Accept)));
    assert_eq!((r.status, r.unsigned_octets), (Status::Pass, None));
}

#[test]
fn duplicate_tag_missing_tag_bad_base64() {
    let (s, dns) = ed();
    let signed = s.sign_message(MSG).unwrap();
    let dup = edit(&signed, "d=example.com;", "d=example.com; d=example.com;");
    let r = one(verify(&dns, &dup));
    assert_eq!(r.status, Status::PermError);
    assert!(matches!(r.reason, Some(FailureReason::Syntax(_))), "{r:?}");
    // The signer is still named in the result.
    assert_eq!(
        (r.domain.as_deref(), r.selector.as_deref()),
        (Some("example.com"), Some("sel")),
        "{r:?}"
    );
    let missing = edit(&signed, "s=sel;", "");
    assert_eq!(
        one(verify(&dns, &missing)).reason,
        Some(FailureReason::MissingTag("s"))
    );
    let bad = edit(&signed, "bh=", "bh=!!");
    let r = one(verify(&dns, &bad));
    assert!(
        matches!(r.reason, Some(FailureReason::InvalidTag { tag: "bh", .. })),
        "{r:?}"
    );
    // Unknown tags are ignored but hashed: adding one breaks the signature, not the parse.
    let unknown = edit(&signed, "d=example.com;", "d=example.com; zz=1;");
    assert_eq!(
        one(verify(&dns, &unknown)).reason,
        Some(FailureReason::SignatureMismatch)
    );
}

#[test]
fn key_type_mismatch() {
    let (s, _) = ed();
    let dns = StaticDns::new();
    let p = s.key().public_key().to_base64();
    dns.add_txt(
        "sel._domainkey.example.com",
        &format!("v=DKIM1; k=rsa; p={p}"),
    );
    let r = one(verify(&dns, &s.sign_message(MSG).unwrap()));
    assert_eq!(r.status, Status::PermError);
    assert!(
        matches!(
            r.reason,
            Some(FailureReason::KeyRecord(_)) | Some(FailureReason::KeyTypeMismatch { .. })
        ),
        "{r:?}"
    );
    let (rs, _) = rsa();
    let dns = StaticDns::new();
    dns.add_txt(
        "sel._domainkey.example.com",
        &format!("v=DKIM1; k=ed25519; p={p}"),
    );
    let r = one(verify(&dns, &rs.sign_message(MSG).unwrap()));
    assert!(
        matches!(r.reason, Some(FailureReason::KeyTypeMismatch { .. })),
        "{r:?}"
    );
}

#[test]
fn dns_errors() {
    let (s, _) = ed();
    let signed = s.sign_message(MSG).unwrap();
    let dns = StaticDns::new();
    dns.set_failure(
        "sel._domainkey.example.com",
        DnsError::Transient("SERVFAIL".into()),
    );
    let r = one(verify(&dns, &signed));
    assert_eq!(r.status, Status::TempError);
    let r = one(verify(&StaticDns::new(), &signed));
    assert_eq!(r.status, Status::PermError);
    assert!(matches!(r.reason, Some(FailureReason::NoKey(_))));
}

#[test]
fn pkcs1_public_key_in_record_accepted() {
    use base64::Engine;
    use rsa::pkcs1::EncodeRsaPublicKey;
    let (s, _) = rsa();
    let easydkim::PublicKey::Rsa(pubkey) = s.key().public_key() else {
        panic!()
    };
    let p =
        base64::engine::general_purpose::STANDARD.encode(pubkey.to_pkcs1_der().unwrap().as_bytes());
    let dns = StaticDns::new();
    dns.add_txt("sel._domainkey.example.com", &format!("v=DKIM1; p={p}"));
    assert_eq!(
        one(verify(&dns, &s.sign_message(MSG).unwrap())).status,
        Status::Pass
    );
}

#[test]
fn signature_cap() {
    let (s, dns) = ed();
    let mut msg = MSG.to_vec();
    for _ in 0..12 {
        msg = s.sign_message(&msg).unwrap();
    }
    let r = verify(&dns, &msg);
    assert_eq!(r.len(), 12);
    assert!(r[..10].iter().all(|x| x.status == Status::Pass));
    assert!(r[10..]
        .iter()
        .all(|x| x.reason == Some(FailureReason::TooManySignatures)));
}

#[test]
fn self_check_passes_for_good_keys() {
    for (mut s, dns) in [ed(), rsa()] {
        s = s
            .self_check(true)
            .canonicalization("simple/simple".parse::<Canonicalizer>().unwrap());
        let signed = s
            .sign_message(b"From: a@example.com\n\nbare LF body\n")
            .unwrap();
        assert_eq!(one(verify(&dns, &signed)).status, Status::Pass);
    }
}

#[test]
fn unsigned_from_added_above_the_signed_one_fails() {
    let (mut s, dns) = ed();
    // Without oversigning h= names From once: a From added above it is not covered.
    s = s.oversign(false);
    let signed = s.sign_message(MSG).unwrap();
    let mut attacked = b"From: Mallory <mallory@evil.example>\r\n".to_vec();
    attacked.extend_from_slice(&signed);
    let r = one(verify(&dns, &attacked));
    assert_eq!(
        (r.status, r.reason),
        (
            Status::Fail,
            Some(FailureReason::UnsignedFrom {
                present: 2,
                signed: 1
            })
        )
    );
    // The untouched message passes, and the check can be turned off.
    assert_eq!(one(verify(&dns, &signed)).status, Status::Pass);
    let lenient = VerifyOptions::default()
        .with_now(Some(NOW))
        .with_reject_unsigned_from(false);
    assert_eq!(
        one(verify_at(&dns, &attacked, lenient)).status,
        Status::Pass
    );
    // Oversigned (the default), the added From breaks the signature itself.
    s = s.oversign(true);
    let mut attacked = b"From: Mallory <mallory@evil.example>\r\n".to_vec();
    attacked.extend_from_slice(&s.sign_message(MSG).unwrap());
    let r = one(verify(&dns, &attacked));
    assert_eq!(
        (r.status, r.reason),
        (Status::Fail, Some(FailureReason::SignatureMismatch))
    );
}

#[test]
fn body_cut_below_l_is_named() {
    let (mut s, dns) = rsa();
    s = s.body_length(true);
    let signed = s.sign_message(MSG).unwrap();
    let cut = edit(&signed, "Hello.\r\n", "");
    let r = one(verify(&dns, &cut));
    assert_eq!(
        (r.status, r.reason),
        (
            Status::Fail,
            Some(FailureReason::BodyShorterThanLength { length: 8, body: 0 })
        )
    );
}

/// A signature over `MSG` with the given extra tags, made by hand (our signer never writes
/// out-of-range values), relaxed/relaxed, Ed25519 key `sel._domainkey.example.com`.
fn hand_signed(extra_tags: &str) -> Vec<u8> {
    use base64::Engine;
    use easydkim::{BodyHasher, Canonicalization, Message};
    use sha2::Digest;
    let key = SigningKey::load(include_bytes!("../data/keys/ed25519.pem")).unwrap();
    let msg = Message::parse(MSG).unwrap();
    let mut bh = BodyHasher::new(Canonicalization::Relaxed);
    bh.update(msg.body());
    let header = format!(
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=sel; \
         {extra_tags} h=from:to:subject; bh={}; b=",
        bh.finish().to_base64()
    );
    let c = Canonicalizer::new(Canonicalization::Relaxed, Canonicalization::Relaxed);
    let mut data = Vec::new();
    for name in ["from", "to", "subject"] {
        let f = msg.fields_named(name).next().unwrap();
        c.canonicalize_header(f.raw(), &mut data);
    }
    c.canonicalize_header(header.as_bytes(), &mut data);
    data.truncate(data.len() - 2);
    let digest: [u8; 32] = sha2::Sha256::digest(&data).into();
    let sig = key.sign_digest(&digest).unwrap();
    let mut out = format!(
        "{header}{}\r\n",
        base64::engine::general_purpose::STANDARD.encode(sig)
    )
    .into_bytes();
    out.extend_from_slice(MSG);
    out
}

#[test]
fn times_too_large_for_64_bits_are_the_far_future() {
    let dns = ed().1;
    // A control: the hand-made signature passes with ordinary values.
    let ok = hand_signed(&format!("t={}; x={};", NOW - 60, NOW + 3600));
    assert_eq!(one(verify(&dns, &ok)).status, Status::Pass);
    // x= of 25 digits: never expires (RFC 6376 3.5 allows treating it as infinite).
    let far = hand_signed(&format!("t={}; x=9999999999999999999999999;", NOW - 60));
    assert_eq!(one(verify(&dns, &far)).status, Status::Pass);
    // An empty or non-numeric x= is still a syntax error, not "never expires".
    for bad in ["x=;", "x=12a;"] {
        let r = one(verify(
            &dns,
            &hand_signed(&format!("t={}; {bad}", NOW - 60)),
        ));
        assert_eq!(r.status, Status::PermError, "{bad}");
        assert!(
            matches!(r.reason, Some(FailureReason::InvalidTag { tag: "x", .. })),
            "{bad}: {r:?}"
        );
    }
    // t= of 25 digits: a timestamp in the future, not a syntax error.
    let future = hand_signed("t=9999999999999999999999999;");
    let r = one(verify(&dns, &future));
    assert_eq!(
        (r.status, r.reason),
        (
            Status::Neutral,
            Some(FailureReason::FutureTimestamp {
                timestamp: u64::MAX
            })
        )
    );
}

/// Each way a key record can be unusable is its own typed error, and a decoder's error
/// stays reachable as the source.
#[test]
fn key_record_errors_are_typed() {
    use easydkim::{KeyError, KeyRecord, KeyRecordError, KeyType};
    use std::error::Error as _;

    let parse = |txt: &str| KeyRecord::parse(txt).unwrap_err();
    assert!(matches!(parse("v=DKIM1; p"), KeyRecordError::Syntax(_)));
    assert_eq!(
        parse("k=rsa; v=DKIM1; p=AAAA"),
        KeyRecordError::Version("DKIM1".into())
    );
    assert_eq!(
        parse("v=DKIM2; p=AAAA"),
        KeyRecordError::Version("DKIM2".into())
    );
    assert_eq!(
        parse("v=DKIM1; k=dsa; p=AAAA"),
        KeyRecordError::UnknownKeyType("dsa".into())
    );
    assert_eq!(
        parse("v=DKIM1; s=tlsrpt; p=AAAA"),
        KeyRecordError::ServiceExcludesEmail("tlsrpt".into())
    );
    assert_eq!(parse("v=DKIM1; k=rsa"), KeyRecordError::MissingKey);
    let e = parse("v=DKIM1; p=!!!!");
    assert!(matches!(e, KeyRecordError::KeyNotBase64(_)), "{e:?}");
    assert!(e.source().is_some(), "the base64 error is kept");
    let e = parse("v=DKIM1; k=ed25519; p=AAAA");
    assert!(
        matches!(
            e,
            KeyRecordError::InvalidKey {
                key_type: KeyType::Ed25519,
                source: KeyError::Malformed { .. }
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "key record: p= is not a usable ed25519 key");

    // An empty p= is a revoked key, not an error.
    let revoked = KeyRecord::parse("v=DKIM1; p=").expect("revoked");
    assert_eq!(revoked.key, None);

    // In a verification result the record's error is the reason, typed.
    let key = SigningKey::generate(easydkim::KeySpec::Ed25519).unwrap();
    let signer = Signer::new(key, "example.com", "sel").unwrap();
    let signed = signer
        .sign_message(b"From: a@example.com\r\n\r\nhi\r\n")
        .unwrap();
    let results = Verifier::default()
        .verify_with_keys(&signed, |_| {
            Ok(vec!["v=DKIM1; k=ed25519; p=!!!!".to_string()])
        })
        .expect("a parsable message");
    assert!(
        matches!(
            results[0].reason,
            Some(FailureReason::KeyRecord(KeyRecordError::KeyNotBase64(_)))
        ),
        "{results:?}"
    );
}

/// One verifier keeps the key records it parsed, but every verification still asks DNS:
/// a record replaced by another key, revoked, or gone takes effect on the next message,
/// and clones of the verifier answer the same.
#[test]
fn a_verifier_follows_record_changes_across_messages() {
    let (ed_signer, _) = ed();
    let signed = ed_signer.sign_message(MSG).unwrap();
    let record = |pem: &[u8]| vec![SigningKey::load(pem).unwrap().dns_record()];
    let ed_record = record(include_bytes!("../data/keys/ed25519.pem"));
    let rsa_record = record(include_bytes!("../data/keys/rsa1024.pem"));
    let verifier = Verifier::new(VerifyOptions::default().with_now(Some(NOW)));
    let clone = verifier.clone();
    for _ in 0..3 {
        for v in [&verifier, &clone] {
            let pass = one(v
                .verify_with_keys(&signed, |_| Ok(ed_record.clone()))
                .unwrap());
            assert_eq!(pass.status, Status::Pass, "{pass:?}");
            let other = one(v
                .verify_with_keys(&signed, |_| Ok(rsa_record.clone()))
                .unwrap());
            assert_eq!(other.status, Status::PermError, "{other:?}");
            assert!(
                matches!(other.reason, Some(FailureReason::KeyTypeMismatch { .. })),
                "{other:?}"
            );
            let revoked = one(v
                .verify_with_keys(&signed, |_| Ok(vec!["v=DKIM1; k=ed25519; p=".to_string()]))
                .unwrap());
            assert_eq!(revoked.reason, Some(FailureReason::KeyRevoked));
            // The same key with a different record text (h=sha1 only) is refused.
            let sha1_only = format!("{}; h=sha1", ed_record[0]);
            let refused = one(v
                .verify_with_keys(&signed, |_| Ok(vec![sha1_only.clone()]))
                .unwrap());
            assert_eq!(refused.status, Status::PermError, "{refused:?}");
        }
    }
}

/// Many distinct key records through one verifier: each verifies against its own key and
/// fails against a neighbour's (the parsed-record cache is bounded and keyed by the text).
#[test]
fn a_verifier_keeps_keys_apart_over_many_records() {
    let verifier = Verifier::new(VerifyOptions::default().with_now(Some(NOW)));
    let mut previous: Option<String> = None;
    for i in 0..300u32 {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let b64 = base64_seed(&seed);
        let key = SigningKey::from_ed25519_seed_base64(&b64).unwrap();
        let record = key.dns_record();
        let signed = Signer::new(key, "example.com", "sel")
            .unwrap()
            .signing_time(Some(NOW - 60))
            .sign_message(MSG)
            .unwrap();
        let r = one(verifier
            .verify_with_keys(&signed, |_| Ok(vec![record.clone()]))
            .unwrap());
        assert_eq!(r.status, Status::Pass, "record {i}: {r:?}");
        if let Some(p) = &previous {
            let r = one(verifier
                .verify_with_keys(&signed, |_| Ok(vec![p.clone()]))
                .unwrap());
            assert_eq!(
                r.reason,
                Some(FailureReason::SignatureMismatch),
                "record {i} against its neighbour"
            );
        }
        previous = Some(record);
    }
}

fn base64_seed(seed: &[u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(seed)
}
