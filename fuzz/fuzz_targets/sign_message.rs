//! Message::parse + Signer::sign of arbitrary bytes with a fixed Ed25519 key.
//!
//! Never panics; when signing succeeds, the output is the new header followed by the input
//! bytes unchanged, and the core verifier passes it with the in-memory public key (a
//! sign-then-verify round trip). The canonicalization is chosen by the input length.
#![no_main]

use std::sync::LazyLock;

use easydkim::{
    Canonicalization, Canonicalizer, KeyLookupError, Limits, Message, Signer, SigningKey, Status,
    Verifier, VerifyOptions,
};
use libfuzzer_sys::fuzz_target;

/// tests/data/keys/ed25519.seed.b64
const SEED: &str = "GW1ybUoLEEv8ExHD2D9AbK7IC89cOnOfdOgf/MoSa6I=";
const NOW: u64 = 1_700_000_000;
const KEY_NAME: &str = "sel._domainkey.example.com";

static SIGNERS: LazyLock<Vec<Signer>> = LazyLock::new(|| {
    use Canonicalization::{Relaxed, Simple};
    let key = SigningKey::load(SEED.as_bytes()).expect("fixed key");
    [
        (Simple, Simple),
        (Simple, Relaxed),
        (Relaxed, Simple),
        (Relaxed, Relaxed),
    ]
    .into_iter()
    .map(|(h, b)| {
        Signer::new(key.clone(), "example.com", "sel")
            .expect("signer")
            .canonicalization(Canonicalizer::new(h, b))
            .signing_time(Some(NOW))
    })
    .collect()
});

static RECORD: LazyLock<String> = LazyLock::new(|| {
    SigningKey::load(SEED.as_bytes())
        .expect("fixed key")
        .dns_record()
});

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let defaults = Limits::default();
    // Room for the new header on top of an input at the signer's limits.
    Verifier::new(
        VerifyOptions::default().with_now(Some(NOW)).with_limits(
            Limits::default()
                .with_max_header_bytes(defaults.max_header_bytes + 64 * 1024)
                .with_max_header_fields(defaults.max_header_fields + 1),
        ),
    )
});

fuzz_target!(|data: &[u8]| {
    // The splitter and its accessors never panic.
    if let Ok(msg) = Message::parse(data) {
        let _ = msg.from_address();
        let _ = msg.all_warnings();
        for f in msg.fields() {
            assert!(data.len() >= f.raw().len());
            let _ = f.name_str();
            let _ = f.value();
        }
        assert!(msg.body().len() <= data.len());
    }

    let signer = &SIGNERS[data.len() % SIGNERS.len()];
    let Ok(signed) = signer.sign(data) else {
        return;
    };
    assert_eq!(signed.headers.len(), 1);
    let out = signed.prepend_to(data);
    let header = signed.headers[0].as_bytes();
    assert_eq!(out.len(), header.len() + data.len());
    assert!(out.starts_with(header), "output starts with the new header");
    assert!(out.ends_with(data), "input bytes follow unchanged");

    let results = VERIFIER
        .verify_with_keys(&out, |name| {
            if name.eq_ignore_ascii_case(KEY_NAME) {
                Ok(vec![RECORD.clone()])
            } else {
                Err(KeyLookupError::NotFound)
            }
        })
        .expect("a signed message splits");
    let first = results.first().expect("our signature is found");
    assert_eq!(
        first.status,
        Status::Pass,
        "sign-then-verify failed ({}): {:?}",
        signer.options().canonicalization(),
        first.reason
    );
});
