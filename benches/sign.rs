//! Signing throughput against the Rust peer, mail-auth 0.13 (rust-crypto backend), on the
//! same keys and messages, in one run. Report ratios, not absolute figures:
//!
//! ```text
//! cargo bench --bench sign
//! ```
//!
//! Groups: `sign/<key>/<size>` with the functions `easydkim` and `mail-auth`, plus
//! `body_hash/<canon>/<size>` for the canonicalize+hash floor and `sha256/<size>`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use easydkim::{BodyHasher, Canonicalization, Signer, SigningKey};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::dkim::DkimSigner;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;

fn message(body_len: usize) -> Vec<u8> {
    let mut m = b"From: Alice Example <alice@example.com>\r\n\
To: Bob Example <bob@example.org>\r\n\
Cc: carol@example.org\r\n\
Subject: Quarterly report and a few notes about the upcoming release\r\n\
Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <20261126120000.12345@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n"
        .to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.  \r\n";
    while m.len() < body_len {
        m.extend_from_slice(line);
    }
    m
}

fn key(name: &str) -> SigningKey {
    let path = format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    SigningKey::load(&std::fs::read(path).unwrap()).unwrap()
}

const HEADERS: [&str; 9] = [
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

fn bench_sign(c: &mut Criterion) {
    for (key_name, file) in [
        ("rsa1024", "rsa1024.pem"),
        ("rsa2048", "rsa2048.pem"),
        ("ed25519", "ed25519.pem"),
    ] {
        let ours_key = key(file);
        let pkcs8 = ours_key.to_pkcs8_der().unwrap().to_vec();
        let mut group = c.benchmark_group(format!("sign/{key_name}"));
        group.sample_size(if key_name.starts_with("rsa2048") {
            20
        } else {
            50
        });
        for size in [2 * 1024, 100 * 1024] {
            let msg = message(size);
            group.throughput(Throughput::Bytes(msg.len() as u64));
            let mut ours = Signer::new(ours_key.clone(), "example.com", "sel").unwrap();
            ours.headers(HEADERS)
                .unwrap()
                .signing_time(Some(1_800_000_000));
            group.bench_with_input(BenchmarkId::new("easydkim", size), &msg, |b, m| {
                b.iter(|| ours.sign(m).unwrap())
            });
            match key_name {
                "ed25519" => {
                    let k = Ed25519Key::from_pkcs8_maybe_unchecked_der(&pkcs8).unwrap();
                    let peer = DkimSigner::from_key(k)
                        .domain("example.com")
                        .selector("sel")
                        .headers(HEADERS);
                    group.bench_with_input(BenchmarkId::new("mail-auth", size), &msg, |b, m| {
                        b.iter(|| peer.sign(m).unwrap())
                    });
                }
                _ => {
                    let k = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(
                        PrivatePkcs8KeyDer::from(pkcs8.clone()),
                    ))
                    .unwrap();
                    let peer = DkimSigner::from_key(k)
                        .domain("example.com")
                        .selector("sel")
                        .headers(HEADERS);
                    group.bench_with_input(BenchmarkId::new("mail-auth", size), &msg, |b, m| {
                        b.iter(|| peer.sign(m).unwrap())
                    });
                }
            }
        }
        group.finish();
    }
}

fn bench_body(c: &mut Criterion) {
    for size in [2 * 1024, 100 * 1024, 1024 * 1024] {
        let msg = message(size);
        let mut group = c.benchmark_group("body_hash");
        group.throughput(Throughput::Bytes(msg.len() as u64));
        for canon in [Canonicalization::Simple, Canonicalization::Relaxed] {
            group.bench_with_input(BenchmarkId::new(canon.as_str(), size), &msg, |b, m| {
                b.iter(|| {
                    let mut h = BodyHasher::new(canon);
                    h.update(m);
                    h.finish()
                })
            });
        }
        group.bench_with_input(BenchmarkId::new("sha256-floor", size), &msg, |b, m| {
            b.iter(|| sha2::Sha256::digest(m))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_sign, bench_body);
criterion_main!(benches);
