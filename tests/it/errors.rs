//! Every typed error and warning of the message splitter, signer and key loader.

use easydkim::{
    KeyError, KeySpec, Limits, Location, Message, MessageError, NameError, SignError, Signer,
    SigningKey, Warning,
};

fn signer() -> Signer {
    let key = SigningKey::load(include_bytes!("../data/keys/ed25519.pem")).unwrap();
    Signer::new(key, "example.com", "sel").unwrap()
}

fn sign_err(msg: &[u8]) -> SignError {
    signer().sign(msg).unwrap_err()
}

#[test]
fn no_from() {
    assert_eq!(
        sign_err(b"To: a@example.com\r\n\r\nhi\r\n"),
        SignError::Message(MessageError::NoFrom)
    );
}

#[test]
fn two_froms() {
    let e = sign_err(b"From: a@example.com\r\nFrom: b@example.com\r\n\r\nhi\r\n");
    assert_eq!(
        e,
        SignError::Message(MessageError::MultipleFrom { count: 2 })
    );
    assert_eq!(
        e.to_string(),
        "message has 2 From headers; exactly one is required"
    );
}

#[test]
fn from_without_domain() {
    match sign_err(b"From: alice\r\n\r\nhi\r\n") {
        SignError::Message(MessageError::FromWithoutDomain { address }) => {
            assert_eq!(address, "alice")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn from_unparsable() {
    match sign_err(b"From: \r\n\r\nhi\r\n") {
        SignError::Message(MessageError::FromUnparsable { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn header_without_colon() {
    let e = sign_err(b"From: a@example.com\r\nThis is not a header\r\n\r\nhi\r\n");
    assert_eq!(
        e,
        SignError::Message(MessageError::HeaderWithoutColon {
            line: 2,
            text: "This is not a header".into()
        })
    );
    assert!(e.to_string().contains("line 2"));
    // Control characters in the offending line are escaped: the message stays one line.
    let e = sign_err(b"From: a@example.com\r\nnot\ra\x00header\r\n\r\nhi\r\n");
    let text = e.to_string();
    assert!(text.contains("not\\ra\\u{0}header"), "{text}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

#[test]
fn continuation_first() {
    assert_eq!(
        sign_err(b" folded: x\r\nFrom: a@example.com\r\n\r\n"),
        SignError::Message(MessageError::ContinuationWithoutField { line: 1 })
    );
}

#[test]
fn invalid_field_name() {
    assert!(matches!(
        sign_err(b": empty name\r\nFrom: a@example.com\r\n\r\n"),
        SignError::Message(MessageError::InvalidFieldName { line: 1, .. })
    ));
}

#[test]
fn header_block_limits() {
    let limits = Limits::default()
        .with_max_header_bytes(100)
        .with_max_header_fields(3);
    let big = format!(
        "From: a@example.com\r\nSubject: {}\r\n\r\nhi\r\n",
        "x".repeat(200)
    );
    assert_eq!(
        Message::parse_with_limits(big.as_bytes(), &limits).unwrap_err(),
        MessageError::HeaderBlockTooLarge { limit: 100 }
    );
    let many = "From: a@example.com\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        Message::parse_with_limits(many.as_bytes(), &limits).unwrap_err(),
        MessageError::TooManyHeaderFields { limit: 3 }
    );
    // The defaults: 1 MiB and 1,000 fields.
    let mut huge = String::from("From: a@example.com\r\n");
    for i in 0..1000 {
        huge.push_str(&format!("X-H{i}: v\r\n"));
    }
    huge.push_str("\r\n");
    let mut s = signer();
    assert_eq!(
        s.sign(huge.as_bytes()).unwrap_err(),
        SignError::Message(MessageError::TooManyHeaderFields { limit: 1000 })
    );
    s = s.limits(Limits::default().with_max_header_fields(2000));
    assert!(s.sign(huge.as_bytes()).is_ok());
    let long = format!(
        "From: a@example.com\r\nX: {}\r\n\r\n",
        "y".repeat(1024 * 1024)
    );
    assert_eq!(
        signer().sign(long.as_bytes()).unwrap_err(),
        SignError::Message(MessageError::HeaderBlockTooLarge { limit: 1024 * 1024 })
    );
}

#[test]
fn warnings() {
    let long = "z".repeat(1200);
    let msg = format!(
        "From: a@example.com\r\nSubject: caf\u{e9}\r\nX-Long: {long}\r\nX-Cr: a\rb\r\n\r\nbody\r\n"
    );
    let w = signer().sign(msg.as_bytes()).unwrap().warnings;
    assert!(
        w.contains(&Warning::EightBitHeader {
            field: "Subject".into()
        }),
        "{w:?}"
    );
    assert!(w.contains(&Warning::LongLine {
        location: Location::Header("X-Long".into()),
        octets: 1200 + "X-Long: ".len()
    }));
    assert!(w.contains(&Warning::BareCr {
        location: Location::Header("X-Cr".into())
    }));

    let body = format!("From: a@example.com\r\n\r\nok\r\n{long}\r\na\rb\r\n");
    let w = signer().sign(body.as_bytes()).unwrap().warnings;
    assert_eq!(
        w,
        vec![
            Warning::LongLine {
                location: Location::Body,
                octets: 1200
            },
            Warning::BareCr {
                location: Location::Body
            }
        ]
    );
    let clean = signer()
        .sign(b"From: a@example.com\r\n\r\nok\r\n")
        .unwrap()
        .warnings;
    assert!(clean.is_empty());
}

#[test]
fn signer_argument_errors() {
    let key = SigningKey::load(include_bytes!("../data/keys/ed25519.pem")).unwrap();
    // The cause is kept, typed, as the error's source.
    let err = Signer::new(key.clone(), "not a domain", "sel").unwrap_err();
    assert!(
        matches!(&err, SignError::InvalidDomain { value, source: NameError::InvalidCharacter { .. } } if value == "not a domain"),
        "{err:?}"
    );
    let source = std::error::Error::source(&err).expect("source");
    assert!(source.to_string().contains("not a domain"), "{source}");
    let err = Signer::new(key.clone(), "example.com", "bad selector!").unwrap_err();
    assert!(
        matches!(&err, SignError::InvalidSelector { value, source: NameError::InvalidSelector { .. } } if value == "bad selector!"),
        "{err:?}"
    );
    assert!(std::error::Error::source(&err).is_some());
    let s = Signer::new(key, "example.com", "sel").unwrap();
    assert!(matches!(
        s.clone().identity(Some("joe@example.org")),
        Err(SignError::IdentityOutsideDomain { .. })
    ));
    assert!(s.clone().identity(Some("joe@sub.example.com")).is_ok());
    assert_eq!(
        s.clone().headers(["to", "subject"]).unwrap_err(),
        SignError::FromNotSigned
    );
    assert!(matches!(
        s.clone().headers(["from", "bad name"]),
        Err(SignError::InvalidHeaderName(_))
    ));
    // A name that could not fit a 998-octet line of the DKIM-Signature.
    assert!(matches!(
        s.clone().headers(["from", &"x".repeat(995)]),
        Err(SignError::InvalidHeaderName(_))
    ));
    let s = s.headers(["from", &"x".repeat(994)]).unwrap();
    let signed = s.sign(b"From: a@example.com\r\n\r\nbody\r\n").unwrap();
    let longest = signed.headers[0].split("\r\n").map(str::len).max().unwrap();
    assert!(longest <= 998, "a line of {longest} octets");
    assert_eq!(
        easydkim::sign_all(&[], b"From: a@example.com\r\n\r\n").unwrap_err(),
        SignError::NoRequests
    );
}

/// The value of tag `name` in the (unfolded) DKIM-Signature of `signed`.
fn sig_tag(signed: &easydkim::Signed, name: &str) -> Option<String> {
    let header = signed.headers[0].replace("\r\n", "");
    let value = header.split_once(':')?.1.to_string();
    value.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        (k.trim() == name).then(|| v.trim().to_string())
    })
}

#[test]
fn identity_is_written_in_the_form_verifiers_compare_with_d() {
    let key = SigningKey::load(include_bytes!("../data/keys/ed25519.pem")).unwrap();
    let msg = b"From: alice@example.com\r\nSubject: x\r\n\r\nbody\r\n";
    let mut s = Signer::new(key.clone(), "example.com", "sel").unwrap();
    for (given, written) in [
        // A trailing dot and upper case: verifiers compare i= with d= as strings.
        ("alice@Example.COM.", "alice@example.com"),
        ("@EXAMPLE.com.", "@example.com"),
        ("bob@Mail.Example.com", "bob@mail.example.com"),
        // A quoted dot-atom is the same mailbox unquoted.
        ("\"alice\"@example.com", "alice@example.com"),
        // A local part that needs its quotes keeps them (the space dkim-quoted-printable).
        ("\"john doe\"@example.com", "\"john=20doe\"@example.com"),
    ] {
        s = s.identity(Some(given)).unwrap();
        let signed = s.sign(msg).unwrap();
        assert_eq!(sig_tag(&signed, "i").as_deref(), Some(written), "{given}");
    }
    // An internationalised domain goes in A-labels, like d=.
    let idn = Signer::new(key.clone(), "bücher.example", "sel")
        .unwrap()
        .identity(Some("joerg@Bücher.example"))
        .unwrap();
    let signed = idn
        .sign(b"From: joerg@xn--bcher-kva.example\r\n\r\nbody\r\n")
        .unwrap();
    assert_eq!(
        sig_tag(&signed, "d").as_deref(),
        Some("xn--bcher-kva.example")
    );
    assert_eq!(
        sig_tag(&signed, "i").as_deref(),
        Some("joerg@xn--bcher-kva.example")
    );
    // Not an address: a typed error, and the previous identity stays.
    let err = s.clone().identity(Some("a@b@example.com")).unwrap_err();
    assert!(
        matches!(&err, SignError::InvalidIdentity { identity, .. } if identity == "a@b@example.com"),
        "{err:?}"
    );
    // There is no other way to set i= than `identity`, so every i= signed is canonical
    // and within d=: the options are read-only.
    let s = s.identity(Some("carol@EXAMPLE.com.")).unwrap();
    assert_eq!(s.options().identity(), Some("carol@example.com"));
    assert_eq!(
        sig_tag(&s.sign(msg).unwrap(), "i").as_deref(),
        Some("carol@example.com")
    );
}

#[test]
fn expiry_is_later_than_t_and_at_most_twelve_digits() {
    let key = SigningKey::load(include_bytes!("../data/keys/ed25519.pem")).unwrap();
    let msg = b"From: alice@example.com\r\n\r\nbody\r\n";
    let mut s = Signer::new(key, "example.com", "sel")
        .unwrap()
        .signing_time(Some(1_700_000_000));
    for (after, x) in [
        (3600, "1700003600"),
        (0, "1700000001"),
        (u64::MAX, "999999999999"),
    ] {
        s = s.expire_after(Some(after));
        let signed = s.sign(msg).unwrap();
        assert_eq!(sig_tag(&signed, "x").as_deref(), Some(x), "{after}");
    }
}

#[test]
fn key_errors_name_the_format() {
    let e = SigningKey::load(b"").unwrap_err();
    assert!(matches!(e, KeyError::UnrecognisedFormat { .. }), "{e:?}");
    let e = SigningKey::load(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeyError::Unsupported {
                format: "encrypted PKCS#8 PEM",
                ..
            }
        ),
        "{e:?}"
    );
    let e = SigningKey::load(b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n")
        .unwrap_err();
    assert!(
        matches!(
            e,
            KeyError::Unsupported {
                format: "public-key PEM",
                ..
            }
        ),
        "{e:?}"
    );
    let e = SigningKey::load(
        b"-----BEGIN RSA PRIVATE KEY-----\nnot base64!\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeyError::Malformed {
                format: "PKCS#1 PEM",
                ..
            }
        ),
        "{e:?}"
    );
    let e = SigningKey::load(b"AAAA").unwrap_err();
    assert!(
        matches!(
            e,
            KeyError::Malformed {
                format: "base64 Ed25519 seed",
                ..
            }
        ),
        "{e:?}"
    );
    let e = SigningKey::load(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err();
    assert!(
        matches!(e, KeyError::Malformed { format: "DER", .. }),
        "{e:?}"
    );
    let e = SigningKey::load(b"\x00\x01binary").unwrap_err();
    assert!(matches!(e, KeyError::UnrecognisedFormat { .. }), "{e:?}");
}

#[test]
fn rsa_under_1024_bits_is_refused() {
    let small = <rsa::PrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(include_str!(
        "../data/keys/rsa512.pem"
    ))
    .unwrap();
    assert_eq!(
        SigningKey::from_rsa(small).unwrap_err(),
        KeyError::RsaSize {
            bits: 512,
            reason: "RFC 8301 requires at least 1024 bits"
        }
    );
}

#[test]
fn key_formats_load_to_the_same_key() {
    let pem = SigningKey::load(include_bytes!("../data/keys/ed25519.pem")).unwrap();
    let seed = SigningKey::load(include_bytes!("../data/keys/ed25519.seed.b64")).unwrap();
    assert_eq!(pem.public_key(), seed.public_key());
    let pkcs1 = SigningKey::load(include_bytes!("../data/keys/rsa1024.pem")).unwrap();
    assert_eq!(pkcs1.spec(), Some(KeySpec::Rsa1024));
    let pkcs8 = SigningKey::load(pkcs1.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    assert_eq!(pkcs8.public_key(), pkcs1.public_key());
    let der = SigningKey::load(&pkcs1.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(der.public_key(), pkcs1.public_key());
    let rsa2048 = SigningKey::load(include_bytes!("../data/keys/rsa2048.pem")).unwrap();
    assert_eq!(rsa2048.spec(), Some(KeySpec::Rsa2048));
    assert!(!format!("{rsa2048:?}").contains("PRIVATE"));
}

#[test]
fn every_key_spec_generates_and_signs() {
    let msg = b"From: a@example.com\r\n\r\nhi\r\n";
    for (spec, bits) in [
        (KeySpec::Rsa1024, 1024),
        (KeySpec::Rsa2048, 2048),
        (KeySpec::Rsa3072, 3072),
        (KeySpec::Rsa4096, 4096),
        (KeySpec::Ed25519, 256),
    ] {
        let key = SigningKey::generate(spec).unwrap();
        assert_eq!((key.spec(), key.bits()), (Some(spec), bits));
        let s = Signer::new(key, "example.com", "sel")
            .unwrap()
            .self_check(true);
        assert!(s.sign(msg).is_ok(), "{spec}");
    }
}

#[test]
fn pkcs1_der_loads() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let pem = include_str!("../data/keys/rsa1024.pem");
    let key = <rsa::PrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(pem).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    let loaded = SigningKey::load(der.as_bytes()).unwrap();
    assert_eq!(
        loaded.public_key(),
        SigningKey::load(pem.as_bytes()).unwrap().public_key()
    );
}

/// The SES profiles sign `c=relaxed/simple` whatever `canonicalization` set, before or
/// after: the shape and `c=` cannot disagree, and `options()` shows what is signed.
#[test]
fn a_profile_and_its_canonicalization_cannot_disagree() {
    use easydkim::{Canonicalization::*, Canonicalizer, Profile};
    let key = SigningKey::load(include_bytes!("../data/keys/rsa1024.pem")).unwrap();
    let msg = b"From: alice@example.com\r\nTo: bob@example.org\r\n\r\nbody\r\n";
    let relaxed = Canonicalizer::new(Relaxed, Relaxed);
    let ses_c = Canonicalizer::new(Relaxed, Simple);
    let before = Signer::new(key.clone(), "example.com", "sel")
        .unwrap()
        .canonicalization(relaxed)
        .profile(Profile::SesCompatible);
    let after = Signer::new(key.clone(), "example.com", "sel")
        .unwrap()
        .profile(Profile::SesCompatible)
        .canonicalization(relaxed);
    for s in [&before, &after] {
        assert_eq!(s.options().canonicalization(), ses_c);
        assert_eq!(
            sig_tag(&s.sign(msg).unwrap(), "c").as_deref(),
            Some("relaxed/simple")
        );
    }
    // Back to the standard shape, the chosen c= applies again.
    let standard = after.profile(Profile::Standard);
    assert_eq!(standard.options().canonicalization(), relaxed);
    assert_eq!(
        sig_tag(&standard.sign(msg).unwrap(), "c").as_deref(),
        Some("relaxed/relaxed")
    );
}

/// Several signers over one message: it is split once, with the strictest of their limits,
/// so no signer signs a message it would have refused alone.
#[test]
fn sign_all_applies_the_strictest_limits() {
    let key = SigningKey::load(include_bytes!("../data/keys/ed25519.pem")).unwrap();
    let mut msg = String::from("From: alice@example.com\r\n");
    for i in 0..20 {
        msg.push_str(&format!("X-H{i}: v\r\n"));
    }
    msg.push_str("\r\nbody\r\n");
    let loose = Signer::new(key.clone(), "example.com", "a").unwrap();
    let strict = Signer::new(key, "example.com", "b")
        .unwrap()
        .limits(Limits::default().with_max_header_fields(10));
    let refused = SignError::Message(MessageError::TooManyHeaderFields { limit: 10 });
    assert_eq!(strict.sign(msg.as_bytes()).unwrap_err(), refused);
    for order in [[&loose, &strict], [&strict, &loose]] {
        assert_eq!(
            easydkim::sign_all(&order, msg.as_bytes()).unwrap_err(),
            refused
        );
    }
    let both = easydkim::sign_reader(&[&loose, &strict], msg.as_bytes());
    assert!(both.is_err(), "{both:?}");
    assert!(easydkim::sign_all(&[&loose], msg.as_bytes()).is_ok());
}

/// A key that cannot be decoded keeps the decoder's error as its `source`, and the error
/// stays `Clone` and comparable.
#[test]
fn key_errors_keep_the_decoders_error_as_their_source() {
    use std::error::Error as _;
    // A PKCS#8 header whose body is cut short: the DER decoder refuses it.
    let der = [0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x00];
    let e = SigningKey::from_der(&der).unwrap_err();
    let KeyError::Malformed { format, source } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*format, "DER");
    let cause = e.source().expect("the decoder's error is the source");
    assert_eq!(cause.to_string(), source.to_string());
    assert!(!cause.to_string().is_empty());
    // The message names the format; the detail is in the source, not repeated.
    assert_eq!(e.to_string(), "invalid DER key");
    assert_eq!(e.clone(), e);

    // A reason of easydkim's own is a source too.
    let e = SigningKey::from_ed25519_seed_base64("AAAA").unwrap_err();
    assert_eq!(
        e.source().map(|s| s.to_string()).as_deref(),
        Some("decodes to 3 bytes, expected 32")
    );
}
