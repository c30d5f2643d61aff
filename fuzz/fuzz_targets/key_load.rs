//! SigningKey::load of arbitrary bytes: never panics; a loaded key re-exports to PKCS#8
//! that loads to the same key, and its Debug output holds no private material.
#![no_main]

use base64::Engine;
use easydkim::{KeyRecord, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = SigningKey::load(data) else {
        return;
    };
    let bits = key.bits();
    assert!((256..=4096).contains(&bits), "key of {bits} bits accepted");
    let der = key.to_pkcs8_der().expect("a loaded key exports");
    let again = SigningKey::load(&der).expect("our own PKCS#8 loads");
    assert_eq!(again.public_key(), key.public_key());
    let record = KeyRecord::parse(&key.dns_record()).expect("our own record parses");
    assert_eq!(record.key, Some(key.public_key()));
    let sig = key.sign_digest(&[7u8; 32]).expect("a loaded key signs");
    assert!(key.public_key().verify_digest(&[7u8; 32], &sig));
    let debug = format!("{key:?}");
    let secret = base64::engine::general_purpose::STANDARD.encode(&der[..]);
    assert!(!debug.contains(&secret[..secret.len().min(40)]), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
});
