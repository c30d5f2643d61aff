//! Crypto backends: every backend compiled in produces byte-identical signatures for the same
//! input (RSASSA-PKCS1-v1_5 and Ed25519 are deterministic), and no key is refused: a key one
//! backend refuses (AWS-LC and 1024-bit RSA) signs with the next.

use easydkim::{Algorithm, Backend, KeySpec, Signer, SigningKey};

use crate::key;

const MSG: &[u8] = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: backends\r\n\r\nbody\r\n";

/// Whether `b` signs with a key of this algorithm and size (AWS-LC: RSA from 2048 bits).
fn accepts(b: Backend, algorithm: Algorithm, bits: usize) -> bool {
    match b {
        Backend::AwsLc => algorithm == Algorithm::Ed25519Sha256 || bits >= 2048,
        _ => true,
    }
}

/// The backend a freshly loaded key gets: RSA the first of `available()` that accepts it;
/// Ed25519 AWS-LC when compiled in, otherwise ed25519-dalek (faster than OpenSSL's).
fn expected_default(algorithm: Algorithm, bits: usize) -> Backend {
    match algorithm {
        Algorithm::Ed25519Sha256 if Backend::available().contains(&Backend::AwsLc) => {
            Backend::AwsLc
        }
        Algorithm::Ed25519Sha256 => Backend::RustCrypto,
        _ => *Backend::available()
            .iter()
            .find(|&&b| accepts(b, algorithm, bits))
            .expect("RustCrypto accepts every key"),
    }
}

#[test]
fn available_backends_match_the_features() {
    let av = Backend::available();
    assert_eq!(av.last(), Some(&Backend::RustCrypto));
    assert_eq!(av.contains(&Backend::OpenSsl), cfg!(feature = "openssl"));
    assert_eq!(av.contains(&Backend::AwsLc), cfg!(feature = "aws-lc-rs"));
    // Fastest for RSA first: AWS-LC (2048 bits and up; RSA-4096 ~3x OpenSSL 3.0's rate),
    // then OpenSSL (every size, so 1024-bit keys).
    if cfg!(all(feature = "openssl", feature = "aws-lc-rs")) {
        assert_eq!(av, [Backend::AwsLc, Backend::OpenSsl, Backend::RustCrypto]);
    }
}

#[test]
fn rsa_keys_get_the_fastest_backend_that_accepts_them() {
    for (file, both, openssl_only, aws_lc_only) in [
        (
            "rsa1024.pem",
            Backend::OpenSsl,
            Backend::OpenSsl,
            Backend::RustCrypto,
        ),
        (
            "rsa2048.pem",
            Backend::AwsLc,
            Backend::OpenSsl,
            Backend::AwsLc,
        ),
        (
            "rsa4096.pem",
            Backend::AwsLc,
            Backend::OpenSsl,
            Backend::AwsLc,
        ),
    ] {
        let expected = match (cfg!(feature = "openssl"), cfg!(feature = "aws-lc-rs")) {
            (true, true) => both,
            (true, false) => openssl_only,
            (false, true) => aws_lc_only,
            (false, false) => Backend::RustCrypto,
        };
        assert_eq!(key(file).backend(), expected, "{file}");
    }
}

#[test]
fn every_backend_signs_every_key_identically() {
    for file in ["rsa1024.pem", "rsa2048.pem", "rsa4096.pem", "ed25519.pem"] {
        let k = key(file);
        let (alg, bits) = (k.algorithm(), k.bits());
        assert_eq!(k.backend(), expected_default(alg, bits), "{file}");
        let digest = [0x5au8; 32];
        let reference = k.with_backend(Backend::RustCrypto);
        assert_eq!(reference.backend(), Backend::RustCrypto);
        let expected = reference.sign_digest(&digest).unwrap();
        assert!(k.public_key().verify_digest(&digest, &expected));
        assert_eq!(k.sign_digest(&digest).unwrap(), expected, "{file} default");
        let r = Signer::new(reference.clone(), "example.com", "sel")
            .unwrap()
            .signing_time(Some(1_700_000_000));
        let reference_headers = r.sign(MSG).unwrap().headers;
        for &b in Backend::available() {
            let kb = k.with_backend(b);
            // A backend that refuses the key hands it to the default one, never an error.
            let used = if accepts(b, alg, bits) {
                b
            } else {
                expected_default(alg, bits)
            };
            assert_eq!(kb.backend(), used, "{file} asked for {b:?}");
            assert_eq!(
                kb.sign_digest(&digest).unwrap(),
                expected,
                "{file} via {b:?}"
            );
            // Another digest too, so a backend cannot pass by signing something fixed.
            let other = [0xa5u8; 32];
            assert_eq!(
                kb.sign_digest(&other).unwrap(),
                reference.sign_digest(&other).unwrap(),
                "{file} via {b:?}"
            );
            let s = Signer::new(kb, "example.com", "sel")
                .unwrap()
                .signing_time(Some(1_700_000_000));
            assert_eq!(
                s.sign(MSG).unwrap().headers,
                reference_headers,
                "{file} via {b:?}"
            );
        }
    }
}

#[test]
fn asking_for_a_backend_that_is_not_compiled_in_is_not_an_error() {
    let k = key("rsa2048.pem");
    for b in [Backend::OpenSsl, Backend::AwsLc] {
        let kb = k.with_backend(b);
        if Backend::available().contains(&b) {
            assert_eq!(kb.backend(), b);
        } else {
            assert_eq!(kb.backend(), k.backend(), "{b:?} falls back to the default");
        }
        assert!(kb
            .public_key()
            .verify_digest(&[1; 32], &kb.sign_digest(&[1; 32]).unwrap()));
    }
}

#[test]
fn generated_keys_use_the_fast_backend() {
    for spec in [KeySpec::Rsa1024, KeySpec::Rsa2048, KeySpec::Ed25519] {
        let k = SigningKey::generate(spec).unwrap();
        assert_eq!(
            k.backend(),
            expected_default(k.algorithm(), k.bits()),
            "{spec}"
        );
        assert!(format!("{k:?}").contains("backend"));
        let d = [7u8; 32];
        assert!(k
            .public_key()
            .verify_digest(&d, &k.sign_digest(&d).unwrap()));
    }
}

#[test]
fn debug_never_shows_private_material_on_any_backend() {
    for file in ["rsa1024.pem", "rsa2048.pem", "ed25519.pem"] {
        let k = key(file);
        let der = k.to_pkcs8_der().unwrap();
        // 32 private bytes: the seed (after the 16-byte PKCS#8 prefix) of an Ed25519 key,
        // a stretch of the private exponent and primes (past the modulus) of an RSA key.
        let at = if file.starts_with("ed") {
            16
        } else {
            der.len() / 2
        };
        let secret = &der[at..at + 32];
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(secret)
        };
        for &b in Backend::available() {
            let dbg = format!("{:?}", k.with_backend(b));
            assert!(!dbg.contains(&hex), "{file} via {b:?}: {dbg}");
            assert!(!dbg.contains(&b64[..40]), "{file} via {b:?}: {dbg}");
            assert!(!dbg.contains(&format!("{secret:?}")), "{file} via {b:?}");
        }
    }
}
