//! Crypto backends: every backend compiled in produces byte-identical signatures for the same
//! input (RSASSA-PKCS1-v1_5 and Ed25519 are deterministic), and no key is refused.

use easydkim::{Backend, Signer, SigningKey};

use crate::key;

const MSG: &[u8] = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: backends\r\n\r\nbody\r\n";

#[test]
fn every_backend_signs_every_key_identically() {
    assert!(Backend::available().contains(&Backend::RustCrypto));
    for file in ["rsa1024.pem", "rsa2048.pem", "rsa4096.pem", "ed25519.pem"] {
        let k = key(file);
        // RSA goes to the fastest backend compiled in; Ed25519 to ed25519-dalek.
        let default = if file.starts_with("ed") {
            Backend::RustCrypto
        } else {
            Backend::available()[0]
        };
        assert_eq!(k.backend(), default, "{file}");
        let digest = [0x5au8; 32];
        let reference = k.with_backend(Backend::RustCrypto);
        assert_eq!(reference.backend(), Backend::RustCrypto);
        let expected = reference.sign_digest(&digest).unwrap();
        assert!(k.public_key().verify_digest(&digest, &expected));
        for &b in Backend::available() {
            let kb = k.with_backend(b);
            assert_eq!(kb.backend(), b, "{file}");
            assert_eq!(
                kb.sign_digest(&digest).unwrap(),
                expected,
                "{file} via {b:?}"
            );
            let mut s = Signer::new(kb, "example.com", "sel").unwrap();
            s.signing_time(Some(1_700_000_000));
            let mut r = Signer::new(reference.clone(), "example.com", "sel").unwrap();
            r.signing_time(Some(1_700_000_000));
            assert_eq!(
                s.sign(MSG).unwrap().headers,
                r.sign(MSG).unwrap().headers,
                "{file} via {b:?}"
            );
        }
    }
}

#[test]
fn generated_keys_use_the_fast_backend() {
    let k = SigningKey::generate(easydkim::KeySpec::Rsa1024).unwrap();
    assert_eq!(k.backend(), Backend::available()[0]);
    assert!(format!("{k:?}").contains("backend"));
}
