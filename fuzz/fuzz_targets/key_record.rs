//! easydkim::KeyRecord::parse on arbitrary text: never panics; a record with a
//! key round-trips through the key's own DNS record; RSA keys stay within the size caps.
#![no_main]

use easydkim::{KeyRecord, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let Ok(record) = KeyRecord::parse(&input) else {
        return;
    };
    if let Some(key) = &record.key {
        assert_eq!(key.key_type(), record.key_type);
        if let PublicKey::Rsa(_) = key {
            assert!(
                key.bits() <= 4096,
                "RSA key of {} bits accepted",
                key.bits()
            );
        }
        let again = KeyRecord::parse(&key.dns_record()).expect("our own record parses");
        assert_eq!(again.key.as_ref(), Some(key));
        // Verifying junk never panics.
        let _ = key.verify_digest(&[0u8; 32], data);
    }
});
