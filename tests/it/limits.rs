//! Resource limits (SECURITY.md): hostile input at each cap is refused quickly with a typed
//! error, and nothing is quadratic: header block over 1 MiB, over 1,000 fields, a 50 MB
//! single-line body, more than 10 signatures or key lookups, RSA keys over 4096 bits, DNS
//! answers with thousands of TXT records. Also: no private key material in any Debug,
//! Display or error text.

use std::cell::Cell;
use std::time::{Duration, Instant};

use base64::Engine;
use easydkim::{
    Canonicalization, Canonicalizer, DomainSetup, FailureReason, IdentityRegistry, KeyError,
    KeyRecord, Limits, MessageError, SignError, Signer, SigningKey, StaticDns, Status,
    VerificationStatus, Verifier, VerifyOptions, Warning,
};

use crate::key;
use crate::precedence::{config, refresh, H, T0};
use crate::support::block_on;

const NOW: u64 = 1_700_000_000;
const MIB: usize = 1024 * 1024;
/// "Quickly": generous, as the crate itself is unoptimised in test builds.
const QUICK: Duration = Duration::from_secs(5);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn ed_signer(selector: &str) -> Signer {
    Signer::new(key("ed25519.pem"), "example.com", selector)
        .expect("signer")
        .signing_time(Some(NOW))
}

fn verifier() -> Verifier {
    Verifier::new(VerifyOptions::default().with_now(Some(NOW)))
}

/// Runs `f`, asserting it takes less than [`QUICK`]; returns its result.
fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < QUICK, "{what} took {took:?}");
    out
}

fn headers_then_body(headers: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = b"From: alice@example.com\r\nSubject: limits\r\n".to_vec();
    m.extend_from_slice(headers);
    m.extend_from_slice(b"\r\n");
    m.extend_from_slice(body);
    m
}

// ---------------------------------------------------------------------------------------
// Header block: 1 MiB and 1,000 fields
// ---------------------------------------------------------------------------------------

#[test]
fn default_limits_are_documented_values() {
    let l = Limits::default();
    assert_eq!(l.max_header_bytes, MIB);
    assert_eq!(l.max_header_fields, 1000);
    let v = VerifyOptions::default();
    assert_eq!(v.max_signatures(), 10);
    assert_eq!(v.max_key_lookups(), 10);
    assert_eq!(easydkim::MAX_RSA_BITS, 4096);
    assert_eq!(easydkim::MIN_RSA_BITS, 1024);
}

#[test]
fn header_block_over_1_mib_is_refused_quickly() {
    let _heavy = heavy();
    let too_large = MessageError::HeaderBlockTooLarge { limit: MIB };
    let signer = ed_signer("sel");
    let reg = IdentityRegistry::new(config());
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        // One huge field.
        (
            "one field",
            headers_then_body(
                format!("X-Pad: {}\r\n", "a".repeat(MIB)).as_bytes(),
                b"hi\r\n",
            ),
        ),
        // Many ordinary fields (under the field cap).
        (
            "many fields",
            headers_then_body(
                format!("X-Pad: {}\r\n", "b".repeat(2000))
                    .repeat(600)
                    .as_bytes(),
                b"hi\r\n",
            ),
        ),
        // One field folded into many lines.
        (
            "folded field",
            headers_then_body(
                format!("X-Pad: x{}\r\n", "\r\n y".repeat(MIB / 3)).as_bytes(),
                b"",
            ),
        ),
        // A 64 MB "header" without any line break.
        ("no line break", vec![b'X'; 64 * MIB]),
        // A 64 MB header block without the empty line.
        (
            "no body",
            format!(
                "From: a@example.com\r\n{}",
                format!("X-A: {}\r\n", "b".repeat(2000)).repeat(32 * 1024)
            )
            .into_bytes(),
        ),
    ];
    for (what, m) in &hostile {
        let sign = quick(what, || signer.sign(m));
        assert_eq!(sign, Err(SignError::Message(too_large.clone())), "{what}");
        let verify = quick(what, || verifier().verify_with_keys(m, |_| unreachable!()));
        assert_eq!(verify, Err(too_large.clone()), "{what}");
        let registry = quick(what, || reg.sign_at(m, NOW));
        assert_eq!(
            registry,
            Err(SignError::Message(too_large.clone())),
            "{what}"
        );
        assert!(too_large.to_string().contains("1048576"));
    }

    // Just under the cap is fine.
    let under = headers_then_body(
        format!("X-Pad: {}\r\n", "a".repeat(MIB - 200)).as_bytes(),
        b"hi\r\n",
    );
    assert!(signer.sign(&under).is_ok());

    // The cap is configurable.
    let small = ed_signer("sel").limits(
        Limits::default()
            .with_max_header_bytes(100)
            .with_max_header_fields(1000),
    );
    assert!(small.sign(&headers_then_body(b"", &[b'a'; 200])).is_ok());
    let big = headers_then_body(format!("X-Pad: {}\r\n", "a".repeat(200)).as_bytes(), b"");
    assert_eq!(
        small.sign(&big),
        Err(SignError::Message(MessageError::HeaderBlockTooLarge {
            limit: 100
        }))
    );
}

#[test]
fn more_than_1000_header_fields_are_refused_quickly() {
    let signer = ed_signer("sel");
    // 2 fields from headers_then_body + 998 = exactly 1,000: accepted.
    let at_cap = headers_then_body("X-A: b\r\n".repeat(998).as_bytes(), b"hi\r\n");
    assert!(signer.sign(&at_cap).is_ok());
    let too_many = MessageError::TooManyHeaderFields { limit: 1000 };
    for n in [999, 5000, 100_000] {
        let m = headers_then_body("X-A: b\r\n".repeat(n).as_bytes(), b"hi\r\n");
        let what = format!("{} fields", n + 2);
        assert_eq!(
            quick(&what, || signer.sign(&m)),
            Err(SignError::Message(too_many.clone())),
            "{what}"
        );
        assert_eq!(
            quick(&what, || verifier()
                .verify_with_keys(&m, |_| unreachable!())),
            Err(too_many.clone())
        );
    }
    let few = ed_signer("sel").limits(
        Limits::default()
            .with_max_header_bytes(MIB)
            .with_max_header_fields(3),
    );
    assert_eq!(
        few.sign(&headers_then_body(b"A: 1\r\nB: 2\r\n", b"")),
        Err(SignError::Message(MessageError::TooManyHeaderFields {
            limit: 3
        }))
    );
}

// ---------------------------------------------------------------------------------------
// Bodies: linear time
// ---------------------------------------------------------------------------------------

/// Held by the tests that measure time or move tens of megabytes, so that they do not
/// disturb each other's measurements.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many times longer `large` (8 times the input of `small`) takes than `small`: about 8
/// when the work is linear, 64 when it is quadratic.
///
/// `small` is timed over 8 runs in a row, so that both measurements do the same amount of
/// work if the code is linear and take as long: a busy machine then slows both alike, where
/// a 2 ms run would slip between two time slices that a 60 ms run cannot. The best of
/// alternating rounds (at least 2, at most 5, stopping once under 16) is returned.
fn time_ratio(mut small: impl FnMut(), mut large: impl FnMut()) -> (f64, Duration, Duration) {
    let (mut t_small, mut t_large) = (Duration::MAX, Duration::MAX);
    let mut ratio = f64::INFINITY;
    for round in 0..5 {
        let start = Instant::now();
        for _ in 0..8 {
            small();
        }
        t_small = t_small.min(start.elapsed() / 8);
        let start = Instant::now();
        large();
        t_large = t_large.min(start.elapsed());
        ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(1e-9);
        if round >= 1 && ratio < 16.0 {
            break;
        }
    }
    (ratio, t_small, t_large)
}

/// The shapes also timed through the verifier (same body code as the signer).
const VERIFY_SHAPES: &[&str] = &["one long line", "one line of whitespace", "bare CRs"];

/// Hostile body shapes of about `n` bytes (the shapes that cost a step per line, slow in
/// an unoptimised build, get `n / 8`).
fn shapes(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    let m = n / 8;
    vec![
        ("one long line", vec![b'a'; n]),
        ("one line of whitespace", b" \t".repeat(n / 2)),
        ("words and spaces", b"ab  ".repeat(m / 4)),
        ("empty lines", b"\r\n".repeat(m / 2)),
        ("bare LFs", vec![b'\n'; m]),
        ("bare CRs", vec![b'\r'; m]),
        ("whitespace lines", b" \r\n".repeat(m / 3)),
        ("CR CR LF", b"\r\r\n".repeat(m / 3)),
    ]
}

#[test]
fn signing_and_verifying_time_is_linear_in_body_size() {
    let _heavy = heavy();
    let small = shapes(MIB);
    let large = shapes(8 * MIB);
    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let signer = ed_signer("sel").canonicalization(Canonicalizer::new(c, c));
        let record = key("ed25519.pem").dns_record();
        let lookup = |_: &str| Ok(vec![record.clone()]);
        for ((what, s), (_, l)) in small.iter().zip(&large) {
            let (ms, ml) = (headers_then_body(b"", s), headers_then_body(b"", l));
            let (ratio, t_small, t_large) = time_ratio(
                || {
                    signer.sign(&ms).expect("sign");
                },
                || {
                    signer.sign(&ml).expect("sign");
                },
            );
            assert!(
                ratio < 16.0,
                "{c} sign {what}: x1 {t_small:?}, x8 {t_large:?} (x{ratio:.1})"
            );

            if !VERIFY_SHAPES.contains(what) {
                continue;
            }
            let signed_l = signer.sign_message(&ml).expect("sign");
            let signed_s = signer.sign_message(&ms).expect("sign");
            let (ratio, t_small, t_large) = time_ratio(
                || {
                    let r = verifier()
                        .verify_with_keys(&signed_s, lookup)
                        .expect("verify");
                    assert_eq!(r[0].status, Status::Pass);
                },
                || {
                    let r = verifier()
                        .verify_with_keys(&signed_l, lookup)
                        .expect("verify");
                    assert_eq!(r[0].status, Status::Pass);
                },
            );
            assert!(
                ratio < 16.0,
                "{c} verify {what}: x1 {t_small:?}, x8 {t_large:?} (x{ratio:.1})"
            );
        }
    }
}

#[test]
fn header_time_is_linear() {
    let _heavy = heavy();
    // One field folded into many short lines, and many short fields: 128 KiB vs 1 MiB
    // (every line costs a step, slow in an unoptimised build), with the header limits
    // raised for the occasion.
    let folded = |n: usize| format!("Subject: x{}\r\n", " \t\r\n y".repeat(n / 6));
    let fields = |n: usize| "X-A: b c\r\n".repeat(n / 10);
    for (what, make) in [
        ("folded field", &folded as &dyn Fn(usize) -> String),
        ("many fields", &fields),
    ] {
        for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
            let mut signer = ed_signer("sel").canonicalization(Canonicalizer::new(c, c));
            signer = signer.limits(
                Limits::default()
                    .with_max_header_bytes(2 * MIB)
                    .with_max_header_fields(MIB),
            );
            let (ms, ml) = (
                headers_then_body(make(MIB / 8).as_bytes(), b"hi\r\n"),
                headers_then_body(make(MIB).as_bytes(), b"hi\r\n"),
            );
            let (ratio, t_small, t_large) = time_ratio(
                || {
                    signer.sign(&ms).expect("sign");
                },
                || {
                    signer.sign(&ml).expect("sign");
                },
            );
            assert!(
                ratio < 16.0,
                "{c} {what}: 128 KiB {t_small:?}, 1 MiB {t_large:?} (x{ratio:.1})"
            );
        }
    }
}

#[test]
fn fifty_megabyte_single_line_body_signs_and_verifies() {
    let _heavy = heavy();
    let body = vec![b'z'; 50 * 1000 * 1000];
    let m = headers_then_body(b"", &body);
    drop(body);
    let record = key("ed25519.pem").dns_record();
    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let signer = ed_signer("sel").canonicalization(Canonicalizer::new(c, c));
        let start = Instant::now();
        let signed = signer.sign(&m).expect("a 50 MB body signs");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(30), "{c}: 50 MB took {took:?}");
        assert!(
            signed
                .warnings
                .iter()
                .any(|w| matches!(w, Warning::LongLine { octets, .. } if *octets == 50_000_000)),
            "{:?}",
            signed.warnings
        );
        let out = signed.prepend_to(&m);
        let r = verifier()
            .verify_with_keys(&out, |_| Ok(vec![record.clone()]))
            .expect("verify");
        assert_eq!(r[0].status, Status::Pass, "{c}: {:?}", r[0].reason);
    }
}

// ---------------------------------------------------------------------------------------
// Signatures and key lookups per message
// ---------------------------------------------------------------------------------------

/// A message signed `n` times with the Ed25519 key, selectors `s1`..`sn` (or all `s1`).
fn signed_times(n: usize, distinct: bool) -> Vec<u8> {
    let mut m = headers_then_body(b"To: bob@example.org\r\n", b"Hello.\r\n");
    for i in 1..=n {
        let sel = if distinct {
            format!("s{i}")
        } else {
            "s1".into()
        };
        m = ed_signer(&sel).sign_message(&m).expect("sign");
    }
    m
}

#[test]
fn only_ten_signatures_are_evaluated() {
    let record = key("ed25519.pem").dns_record();
    for (n, distinct) in [(11, true), (12, true), (50, false), (200, true)] {
        let m = signed_times(n, distinct);
        let lookups = Cell::new(0);
        let results = quick("many signatures", || {
            verifier()
                .verify_with_keys(&m, |_| {
                    lookups.set(lookups.get() + 1);
                    Ok(vec![record.clone()])
                })
                .expect("verify")
        });
        assert_eq!(results.len(), n, "one result per signature");
        for (i, r) in results.iter().enumerate() {
            if i < 10 {
                assert_eq!(r.status, Status::Pass, "signature {i}: {:?}", r.reason);
            } else {
                assert_eq!(r.status, Status::Neutral, "signature {i}");
                assert_eq!(r.reason, Some(FailureReason::TooManySignatures));
            }
        }
        assert!(lookups.get() <= 10, "{} key lookups", lookups.get());
        assert_eq!(
            verifier().key_names(&m).expect("names").len(),
            if distinct { 10 } else { 1 }
        );
    }
}

#[test]
fn only_ten_distinct_key_lookups_are_made() {
    let record = key("ed25519.pem").dns_record();
    let m = signed_times(14, true);
    let v = Verifier::new(
        VerifyOptions::default()
            .with_now(Some(NOW))
            .with_max_signatures(100),
    );
    let lookups = Cell::new(0);
    let results = v
        .verify_with_keys(&m, |_| {
            lookups.set(lookups.get() + 1);
            Ok(vec![record.clone()])
        })
        .expect("verify");
    assert_eq!(lookups.get(), 10);
    let passed = results.iter().filter(|r| r.status == Status::Pass).count();
    let capped = results
        .iter()
        .filter(|r| r.reason == Some(FailureReason::TooManyKeyLookups))
        .count();
    assert_eq!((passed, capped), (10, 4));
}

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

/// The `p=` of an RSA public key with a random odd modulus of `bits` bits (not a real key:
/// only its size matters).
fn rsa_record_of_bits(bits: usize) -> String {
    use rsa::pkcs8::EncodePublicKey;
    use rsa::BoxedUint;
    let mut bytes = vec![0u8; bits / 8];
    getrandom::fill(&mut bytes).expect("random");
    bytes[0] |= 0x80;
    let last = bytes.len() - 1;
    bytes[last] |= 1;
    let n = BoxedUint::from_be_slice_vartime(&bytes);
    let key = rsa::PublicKey::new_unchecked(n, BoxedUint::from(65537u32));
    let der = key.to_public_key_der().expect("der");
    format!("v=DKIM1; k=rsa; p={}", b64(der.as_bytes()))
}

#[test]
fn rsa_key_records_over_4096_bits_are_refused_quickly() {
    let m = {
        let s = Signer::new(key("rsa1024.pem"), "example.com", "rsa")
            .expect("signer")
            .signing_time(Some(NOW));
        s.sign_message(&headers_then_body(b"", b"hi\r\n"))
            .expect("sign")
    };
    for bits in [4104, 8192, 16384, 65536] {
        let record = rsa_record_of_bits(bits);
        assert!(
            KeyRecord::parse(&record).is_err(),
            "{bits}-bit record accepted"
        );
        let r = quick("big RSA key", || {
            verifier()
                .verify_with_keys(&m, |_| Ok(vec![record.clone()]))
                .expect("verify")
        });
        assert_eq!(r[0].status, Status::PermError, "{bits} bits");
        assert!(
            matches!(
                r[0].reason,
                Some(FailureReason::KeyRecord(_) | FailureReason::KeySize(_))
            ),
            "{bits} bits: {:?}",
            r[0].reason
        );
    }
    // 4096 bits is the largest accepted: signs and verifies.
    let k4096 = key("rsa4096.pem");
    assert_eq!(k4096.bits(), 4096);
    let s = Signer::new(k4096.clone(), "example.com", "big")
        .expect("signer")
        .signing_time(Some(NOW));
    let m = s
        .sign_message(&headers_then_body(b"", b"hi\r\n"))
        .expect("sign");
    let r = verifier()
        .verify_with_keys(&m, |_| Ok(vec![k4096.dns_record()]))
        .expect("verify");
    assert_eq!(r[0].status, Status::Pass);
}

#[test]
fn rsa_signing_keys_outside_1024_to_4096_bits_are_refused() {
    let small = <rsa::PrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(include_str!(
        "../data/keys/rsa768.pem"
    ))
    .expect("768-bit key");
    assert!(matches!(
        SigningKey::from_rsa(small.clone()),
        Err(KeyError::RsaSize { bits: 768, .. })
    ));
    let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&small, Default::default()).expect("pem");
    assert!(matches!(
        SigningKey::load(pem.as_bytes()),
        Err(KeyError::RsaSize { bits: 768, .. })
    ));
}

// ---------------------------------------------------------------------------------------
// DNS answers with many TXT records
// ---------------------------------------------------------------------------------------

#[test]
fn dns_answers_with_many_txt_records_are_handled_quickly() {
    let record = key("ed25519.pem").dns_record();
    let m = ed_signer("sel")
        .sign_message(&headers_then_body(b"", b"hi\r\n"))
        .expect("sign");
    let junk: Vec<String> = (0..10_000)
        .map(|i| format!("v=DKIM1; k=ed25519; p=junk{i}{}", "A".repeat(200)))
        .collect();

    // Junk first, the real record last: the first record that parses is used.
    let mut answer = junk.clone();
    answer.push(record.clone());
    let r = quick("10,000 TXT records", || {
        verifier()
            .verify_with_keys(&m, |_| Ok(answer.clone()))
            .expect("verify")
    });
    assert_eq!(r[0].status, Status::Pass, "{:?}", r[0].reason);

    // Only junk: a permanent error naming the record problem.
    let r = quick("10,000 junk TXT records", || {
        verifier()
            .verify_with_keys(&m, |_| Ok(junk.clone()))
            .expect("verify")
    });
    assert_eq!(r[0].status, Status::PermError);
    assert!(matches!(r[0].reason, Some(FailureReason::KeyRecord(_))));

    // The same through a DnsVerifier.
    let dns = StaticDns::new();
    for j in junk.iter().take(5000) {
        dns.add_txt("sel._domainkey.example.com", j);
    }
    dns.add_txt("sel._domainkey.example.com", &record);
    let r = quick("StaticDns with 5,001 TXT records", || {
        block_on(verifier().verify(&dns, &m)).expect("verify")
    });
    assert_eq!(r[0].status, Status::Pass);

    // The registry's verification TXT among thousands of others.
    let reg = IdentityRegistry::new(config());
    let id = reg
        .create_domain_with("example.com", DomainSetup::None, T0)
        .expect("create");
    let token = id.verification_token().expect("token").to_string();
    let dns = StaticDns::new();
    for j in junk.iter().take(5000) {
        dns.add_txt("_easydkim.example.com", j);
    }
    dns.add_txt("_easydkim.example.com", &token);
    let report = quick("refresh over 5,001 TXT records", || {
        refresh(&reg, &dns, T0 + H)
    });
    assert_eq!(report.events.len(), 1);
    assert_eq!(report.events[0].to, VerificationStatus::Success);
}

// ---------------------------------------------------------------------------------------
// Secrets never shown
// ---------------------------------------------------------------------------------------

/// Every way the Ed25519 test key's secret could be written: its seed (base64 in two
/// alphabets, hex, decimal bytes) and its PKCS#8 DER (base64, hex), plus every 16-character
/// window of the base64 of the seed and of the PKCS#8 up to the end of the seed (a partial
/// leak; the public key that PKCS#8 v2 carries after the seed is not secret).
fn ed25519_secret_forms() -> Vec<String> {
    let seed_b64 = std::fs::read_to_string(crate::data_dir().join("keys/ed25519.seed.b64"))
        .expect("seed file")
        .trim()
        .to_string();
    let seed = base64::engine::general_purpose::STANDARD
        .decode(&seed_b64)
        .expect("seed");
    let der = key("ed25519.pem").to_pkcs8_der().expect("der");
    let der_b64 = b64(&der[..]);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut forms = vec![
        seed_b64.clone(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&seed),
        hex(&seed),
        hex(&seed).to_uppercase(),
        format!("{seed:?}"),
        format!("{:?}", &seed[..8]),
        der_b64.clone(),
        hex(&der[..]),
    ];
    let pem = std::fs::read_to_string(crate::data_dir().join("keys/ed25519.pem")).expect("pem");
    let pem_body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    // 16 bytes of PKCS#8 header + 32 bytes of seed = the first 64 base64 characters.
    assert_eq!(b64(&der[..48]), der_b64[..64]);
    for s in [&seed_b64, &der_b64[..64].to_string(), &pem_body] {
        let chars: Vec<char> = s.trim_end_matches('=').chars().collect();
        forms.extend(chars.windows(16).map(|w| w.iter().collect::<String>()));
    }
    forms
}

/// The RSA-1024 test key's secret parts (private exponent and primes) in decimal, hex and
/// base64, and its whole PKCS#8 DER in base64. (Windows are not checked for RSA: the
/// public modulus is inside the PKCS#1/PKCS#8 encodings.)
fn rsa_secret_forms() -> Vec<String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::traits::PrivateKeyParts;
    let pem = std::fs::read_to_string(crate::data_dir().join("keys/rsa1024.pem")).expect("pem");
    let k = rsa::PrivateKey::from_pkcs1_pem(&pem).expect("rsa key");
    let mut forms = vec![b64(&key("rsa1024.pem").to_pkcs8_der().expect("der")[..])];
    let parts =
        std::iter::once(k.d().to_be_bytes()).chain(k.primes().iter().map(|p| p.to_be_bytes()));
    for part in parts {
        let start = part.iter().position(|&b| b != 0).unwrap_or(part.len());
        let bytes = &part[start..];
        forms.push(decimal(bytes));
        forms.push(
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .trim_start_matches('0')
                .to_string(),
        );
        forms.push(b64(bytes));
        forms.push(b64(&bytes[..24]));
    }
    forms
}

/// A big-endian unsigned integer in decimal (schoolbook division by 10).
fn decimal(bytes: &[u8]) -> String {
    let mut n = bytes.to_vec();
    let mut digits = Vec::new();
    while n.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII digits")
}

fn assert_no_secret(what: &str, text: &str, forms: &[String]) {
    for f in forms {
        assert!(
            !text.contains(f.as_str()),
            "{what} shows private key material `{f}`:\n{text}"
        );
    }
}

#[test]
fn private_keys_never_appear_in_debug_display_or_errors() {
    let ed = ed25519_secret_forms();
    let rsa_forms = rsa_secret_forms();
    let all: Vec<String> = ed.iter().chain(&rsa_forms).cloned().collect();
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut add = |what: &str, text: String| texts.push((what.to_string(), text));

    // Keys and signers.
    for name in ["ed25519.pem", "ed25519.seed.b64", "rsa1024.pem"] {
        let k = key(name);
        add(name, format!("{k:?}"));
        add("public key", format!("{:?}", k.public_key()));
        let s = Signer::new(k.clone(), "example.com", "sel").expect("signer");
        add("signer", format!("{s:?}"));
        add(
            "signed",
            format!("{:?}", s.sign(&headers_then_body(b"", b"hi\r\n"))),
        );
    }

    // Key errors from damaged key material.
    let pem = std::fs::read_to_string(crate::data_dir().join("keys/ed25519.pem")).expect("pem");
    let seed =
        std::fs::read_to_string(crate::data_dir().join("keys/ed25519.seed.b64")).expect("seed");
    let rsa_pem = std::fs::read_to_string(crate::data_dir().join("keys/rsa1024.pem")).expect("pem");
    let damaged: Vec<Vec<u8>> = vec![
        pem.replacen("MC4C", "MC4D", 1).into_bytes(),
        pem.replacen("-----END PRIVATE KEY-----", "", 1)
            .into_bytes(),
        pem.replacen("BlMl", "Bl!l", 1).into_bytes(),
        pem.replacen(
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\nProc-Type: 4",
            1,
        )
        .into_bytes(),
        seed.trim().as_bytes()[..40].to_vec(),
        format!("{}AAAA", seed.trim()).into_bytes(),
        rsa_pem.as_bytes()[..rsa_pem.len() / 2].to_vec(),
        rsa_pem.replacen("MII", "MIJ", 1).into_bytes(),
        key("ed25519.pem").to_pkcs8_der().expect("der")[..40].to_vec(),
        key("rsa1024.pem").to_pkcs8_der().expect("der")[..300].to_vec(),
    ];
    for d in &damaged {
        match SigningKey::load(d) {
            Ok(_) => {}
            Err(e) => {
                add("key error", e.to_string());
                add("key error debug", format!("{e:?}"));
            }
        }
    }

    // The registry, its config (with an operator signer), identities and outcomes.
    let mut cfg = config();
    cfg.operator_signer = Some(Signer::new(key("rsa1024.pem"), "op.example.net", "op").expect("s"));
    let reg = IdentityRegistry::new(cfg);
    reg.create_domain_with(
        "example.org",
        DomainSetup::BringYourOwnKey {
            selector: easydkim::Selector::parse("s2024").expect("selector"),
            key: key("ed25519.pem"),
        },
        T0,
    )
    .expect("create");
    add("registry", format!("{reg:?}"));
    add("config", format!("{:?}", reg.config()));
    let id = reg.get_str("example.org").expect("identity");
    add("identity", format!("{id:?}"));
    add("dkim setup", format!("{:?}", id.dkim()));
    add(
        "sign outcome",
        format!(
            "{:?}",
            reg.sign_at(&crate::precedence::message_from("a@example.org"), NOW)
        ),
    );
    add(
        "setup",
        format!(
            "{:?}",
            DomainSetup::BringYourOwnKey {
                selector: easydkim::Selector::parse("s").expect("selector"),
                key: key("rsa1024.pem"),
            }
        ),
    );

    #[cfg(feature = "serde")]
    snapshot_texts(&reg, &mut add);

    for (what, text) in &texts {
        assert_no_secret(what, text, &all);
    }
    assert!(texts.len() > 25, "{} texts checked", texts.len());
}

/// Snapshot, FileStore and their errors (feature `serde`): the snapshot file does hold the
/// keys, but nothing that describes it or its failures does.
#[cfg(feature = "serde")]
fn snapshot_texts(reg: &IdentityRegistry, add: &mut impl FnMut(&str, String)) {
    use easydkim::snapshot::{DkimSnapshot, Snapshot};
    use easydkim::store::FileStore;

    let snap = reg.to_snapshot().expect("snapshot");
    add("snapshot", format!("{snap:?}"));
    if let Some(DkimSnapshot::Byo { key, .. }) = &snap.identities[0].dkim {
        add("secret key der", format!("{key:?}"));
    }
    let json = serde_json::to_string(&snap).expect("json");
    assert!(json.contains(&b64(&key("ed25519.pem").to_pkcs8_der().expect("der")[..])));

    let dir = crate::store::temp_dir("secrets");
    let store = FileStore::new(dir.join("s.json"));
    add("file store", format!("{store:?}"));
    store.save(&snap).expect("save");
    let file = std::fs::read(store.path()).expect("read");
    let header_len = file.iter().position(|&b| b == b'\n').expect("header") + 1;

    // Truncated, flipped, trailing data, foreign.
    let mut broken: Vec<Vec<u8>> = vec![
        file[..file.len() / 2].to_vec(),
        file[..header_len / 2].to_vec(),
        file[header_len..].to_vec(),
        [&file[..], b"xx"].concat(),
    ];
    let mut flipped = file.clone();
    flipped[file.len() / 2] ^= 1;
    broken.push(flipped);
    for b in &broken {
        std::fs::write(store.path(), b).expect("write");
        let e = store.load().expect_err("broken file refused");
        add("store error", e.to_string());
        add("store error debug", format!("{e:?}"));
    }

    // A valid checksum over JSON whose wrong-typed fields carry the key: serde_json would
    // quote the value in its message; the store error must not.
    let der_b64 = b64(&key("ed25519.pem").to_pkcs8_der().expect("der")[..]);
    for payload in [
        format!("{{\"format_version\": \"{der_b64}\"}}"),
        json.replacen(
            "\"region\":",
            &format!("\"region\": 5, \"x\": \"{der_b64}\", \"r\":"),
            1,
        ),
        json.replacen(
            "\"signing_enabled\":true",
            &format!("\"signing_enabled\":\"{der_b64}\""),
            1,
        ),
        json.replacen("\"kind\":\"byo\"", &format!("\"kind\":\"{der_b64}\""), 1),
    ] {
        crate::store::write_raw(store.path(), 1, payload.as_bytes());
        let e = store.load().expect_err("invalid payload refused");
        add("store invalid", e.to_string());
        add("store invalid debug", format!("{e:?}"));
    }

    // A snapshot whose key is damaged: the restore error names no key material.
    let seed_b64 =
        std::fs::read_to_string(crate::data_dir().join("keys/ed25519.seed.b64")).expect("seed");
    for (from, to) in [
        (der_b64.clone(), der_b64[..der_b64.len() - 8].to_string()),
        (der_b64.clone(), der_b64.replacen('M', "!", 1)),
        (der_b64.clone(), seed_b64.trim().to_string()),
    ] {
        let bad: Snapshot = serde_json::from_str(&json.replacen(&from, &to, 1)).expect("json");
        let e = IdentityRegistry::from_snapshot(config(), &bad).expect_err("damaged key");
        add("restore error", e.to_string());
        add("restore error debug", format!("{e:?}"));
    }
}
