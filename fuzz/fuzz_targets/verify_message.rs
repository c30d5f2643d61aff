//! Verifier::verify_with_keys of arbitrary messages against fixed key records: never
//! panics, and gives one result per DKIM-Signature field.
//!
//! Key names with `rsa` in them get the RSA-1024 test key, the rest the Ed25519 test key
//! (fuzz/seed.sh signs the corpus with these, selectors `sel` and `rsa`, at NOW).
#![no_main]

use std::sync::LazyLock;

use easydkim::{KeyLookupError, Message, SigningKey, Verifier, VerifyOptions};
use libfuzzer_sys::fuzz_target;

/// tests/data/keys/ed25519.seed.b64
const ED25519_SEED: &str = "GW1ybUoLEEv8ExHD2D9AbK7IC89cOnOfdOgf/MoSa6I=";
const RSA1024_PEM: &str = include_str!("../../tests/data/keys/rsa1024.pem");
const NOW: u64 = 1_700_000_000;

static RECORDS: LazyLock<(String, String)> = LazyLock::new(|| {
    let ed = SigningKey::load(ED25519_SEED.as_bytes()).expect("ed25519 key");
    let rsa = SigningKey::load(RSA1024_PEM.as_bytes()).expect("rsa key");
    (ed.dns_record(), rsa.dns_record())
});

static VERIFIER: LazyLock<Verifier> =
    LazyLock::new(|| Verifier::new(VerifyOptions::default().with_now(Some(NOW))));

fuzz_target!(|data: &[u8]| {
    let (ed, rsa) = &*RECORDS;
    let result = VERIFIER.verify_with_keys(data, |name| {
        let lower = name.to_ascii_lowercase();
        if lower.contains("nxdomain") {
            Err(KeyLookupError::NotFound)
        } else if lower.contains("tempfail") {
            Err(KeyLookupError::Transient("fuzz".into()))
        } else if lower.contains("rsa") {
            Ok(vec![rsa.clone()])
        } else if lower.contains("multi") {
            Ok(vec!["junk".into(), "v=DKIM1; p=".into(), ed.clone()])
        } else {
            Ok(vec![ed.clone()])
        }
    });
    let _ = VERIFIER.key_names(data);
    match (result, Message::parse(data)) {
        (Ok(results), Ok(msg)) => {
            let n = msg.fields_named("dkim-signature").count();
            assert_eq!(results.len(), n, "one result per signature");
            for r in &results {
                let _ = r.authentication_results();
            }
        }
        (Ok(_), Err(e)) => panic!("verifier split a message the splitter refuses: {e}"),
        (Err(_), _) => {}
    }
});
