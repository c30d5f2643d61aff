//! easydkim against its limits and against mail-auth 0.13 (the Rust peer), on the same keys
//! and messages, in one run. Report ratios, not absolute figures (see BENCHMARKS.md):
//!
//! ```text
//! cargo bench --features openssl,aws-lc-rs --bench sign
//! ```
//!
//! mail-auth runs on its fastest backend that accepts the key: aws-lc-rs for RSA-2048 and
//! Ed25519; for RSA-1024, which AWS-LC refuses, its pure-Rust RSA signing (see
//! [`RustCryptoRsa`]).
//!
//! Groups:
//! - `raw/<key>`: the private-key operation alone, per backend that accepts the key (the
//!   limit for signing);
//! - `sign1k/<key>`, `sign4k/<key>`: a 1 KB and a 4 KB message, on every backend, relaxed/
//!   relaxed and relaxed/simple, and mail-auth (`mail-auth-pure-rust`: on its pure-Rust
//!   signing code, for the comparison of pure-Rust backends);
//! - `sizes/<kind>/<size>`: whole signatures over 1 KB, 4 KB, 100 KB, 1 MB and 10 MB of
//!   prose and of base64, each key, relaxed/relaxed and relaxed/simple, and mail-auth;
//! - `body/<kind>/<size>`: canonicalize + hash of 1 MB and 10 MB bodies (text with
//!   realistic whitespace, and base64), simple and relaxed, against plain SHA-256 of the same
//!   bytes, and mail-auth signing the same message with Ed25519 (its body path dominates);
//! - `pair100k/<key>`: one signature, and tenant + operator signatures (one body pass), over
//!   a 100 KB message, against mail-auth making the same signatures;
//! - `registry`: `registry.sign` with 100,000 identities against a bare `Signer` (Ed25519);
//! - `threads`: 4 KB Ed25519 signing on 1 and 2 threads;
//! - `refresh`: 10,000 pending identities against a resolver 1 ms away, 64 at a time;
//! - `paired1k/<key>`, `paired4k/<key>`, `paired-body/<kind>/<size>`, `registry/paired/...`: the ratio
//!   targets measured in alternation with what they are compared to (see [`paired`]): the
//!   figures BENCHMARKS.md takes its ratios from. The signing pairs use the nine names of
//!   the test header; for Ed25519 `easydkim-default-headers|mail-auth` signs with the
//!   default selection and oversigning, mail-auth given the `h=` list that makes.
//!   `paired-body/varied-text/1MB` is relaxed prose whose whitespace falls irregularly
//!   ([`varied_prose`]), which the branch predictor cannot learn as it learns the cycle of
//!   `text`. `paired-sha256-calls/1MB` is SHA-256 over 1 MB in 64- and 256-byte calls
//!   against one call: what the pieces the body loops hand over cost the hash itself.
//!   `paired1k/<key>/easydkim|limit` and `paired4k/...` pair a signature with its limit
//!   ([`Limit`]): the key operation and SHA-256 of exactly the bytes the signature covers.
//!   The limit's ratio to mail-auth is the most any signer could reach in that run;
//!   `.../own-work/easydkim-limit` is our time less the limit's, both timed in the same
//!   iterations ([`difference`]): the work per message that is ours alone.

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use easydkim::{
    sign_all, Backend, BodyHasher, Canonicalization, Canonicalizer, DomainSetup, IdentityRegistry,
    KeySpec, RecordType, RegistryConfig, Signer, SigningKey, StaticDns,
};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::dkim::DkimSigner;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;

const HEADER: &[u8] = b"From: Alice Example <alice@example.com>\r\n\
To: Bob Example <bob@example.org>\r\n\
Cc: carol@example.org\r\n\
Subject: Quarterly report and a few notes about the upcoming release\r\n\
Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <20261126120000.12345@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n";

/// A message of about `size` bytes: prose with realistic whitespace (double spaces after
/// sentences, trailing blanks, a tab) or base64 lines.
fn message(size: usize, base64: bool) -> Vec<u8> {
    let mut m = HEADER.to_vec();
    let text: &[&[u8]] = &[
        b"The quick brown fox jumps over the lazy dog.  It was not amused by the fox.\r\n",
        b"Please find the figures below; they are final unless stated otherwise. \r\n",
        b"\tItem one\t\t42\r\n",
        b"\r\n",
    ];
    let b64: &[&[u8]] =
        &[b"TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdC4g\r\n"];
    let lines = if base64 { b64 } else { text };
    let mut i = 0;
    while m.len() < size {
        m.extend_from_slice(lines[i % lines.len()]);
        i += 1;
    }
    m
}

/// About `size` bytes of prose whose whitespace falls irregularly (a deterministic
/// xorshift draws words, separators and line lengths): a double space, a tab or ". " in
/// about one separator in sixteen each, a trailing blank on a quarter of the lines, an
/// empty line now and then. [`message`]'s prose repeats a 169-byte cycle, which a branch
/// predictor learns; this one it cannot.
fn varied_prose(size: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 20] = [
        b"the", b"quick", b"brown", b"fox", b"jumps", b"over", b"lazy", b"dog", b"report",
        b"figures", b"final", b"please", b"note", b"that", b"release", b"a", b"of", b"and", b"to",
        b"in",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut m = HEADER.to_vec();
    let mut col = 0;
    while m.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word = WORDS[(x % 20) as usize];
        m.extend_from_slice(word);
        col += word.len();
        match (x >> 8) % 16 {
            0 => m.extend_from_slice(b"  "),
            1 => m.push(b'\t'),
            2 => m.extend_from_slice(b". "),
            _ => m.push(b' '),
        }
        if col > 60 + ((x >> 16) % 20) as usize {
            if (x >> 24).is_multiple_of(4) {
                m.push(b' ');
            }
            m.extend_from_slice(b"\r\n");
            col = 0;
            if (x >> 28).is_multiple_of(6) {
                m.extend_from_slice(b"\r\n");
            }
        }
    }
    m.extend_from_slice(b"\r\n");
    m
}

fn key(name: &str) -> SigningKey {
    let path = format!("{}/../tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"));
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

const KEYS: [(&str, &str); 3] = [
    ("rsa1024", "rsa1024.pem"),
    ("rsa2048", "rsa2048.pem"),
    ("ed25519", "ed25519.pem"),
];

fn signer(k: &SigningKey, selector: &str, c: Canonicalizer) -> Signer {
    Signer::new(k.clone(), "example.com", selector)
        .unwrap()
        .headers(HEADERS)
        .unwrap()
        .canonicalization(c)
        .signing_time(Some(1_800_000_000))
}

/// mail-auth 0.13's pure-Rust RSA key for keys its aws-lc-rs backend refuses (RSA-1024).
///
/// mail-auth compiles its `rust-crypto` key types only when its `aws-lc-rs` feature is off,
/// so with aws-lc-rs on (its fastest backend for the other keys) this is its
/// `rust_crypto::RsaKey<Sha256>` signing code, line for line: the digest through the
/// signer's own hasher, then `rsa::RsaPrivateKey::sign` (unblinded) with the SHA-256
/// DigestInfo prefix. mail-auth's `DkimSigner` does everything else.
struct RustCryptoRsa(rsa::RsaPrivateKey);

impl mail_auth::common::crypto::SigningKey for RustCryptoRsa {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let hash = self.hash(input);
        self.0
            .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), hash.as_ref())
            .map_err(|e| {
                mail_auth::Error::Crypto(mail_auth::common::crypto::CryptoError::Library(
                    e.to_string(),
                ))
            })
    }

    fn algorithm(&self) -> mail_auth::common::crypto::Algorithm {
        mail_auth::common::crypto::Algorithm::RsaSha256
    }
}

/// mail-auth 0.13's pure-Rust Ed25519 key (`rust_crypto::Ed25519Key`), for the comparison
/// of pure-Rust backends: its signing code line for line (SHA-256 of the header data, then
/// ed25519-dalek, the same crate and version as ours).
struct RustCryptoEd25519(ed25519_dalek::SigningKey);

impl mail_auth::common::crypto::SigningKey for RustCryptoEd25519 {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        use ed25519_dalek::Signer as _;
        let hash = self.hash(input);
        Ok(self.0.sign(hash.as_ref()).to_bytes().to_vec())
    }

    fn algorithm(&self) -> mail_auth::common::crypto::Algorithm {
        mail_auth::common::crypto::Algorithm::Ed25519Sha256
    }
}

/// mail-auth's signer for the same key, relaxed/relaxed like ours by default, on its
/// fastest backend that accepts the key.
// Built once per benchmark; boxing would only add an indirection to the peer's hot path.
#[allow(clippy::large_enum_variant)]
enum Peer {
    Rsa(DkimSigner<RsaKey<Sha256>, mail_auth::dkim::Done>),
    RsaRustCrypto(DkimSigner<RustCryptoRsa, mail_auth::dkim::Done>),
    Ed(DkimSigner<Ed25519Key, mail_auth::dkim::Done>),
    EdRustCrypto(DkimSigner<RustCryptoEd25519, mail_auth::dkim::Done>),
}

impl Peer {
    fn new(k: &SigningKey, selector: &str) -> Peer {
        Self::build(k, selector, false, &HEADERS.map(String::from))
    }

    /// mail-auth on its pure-Rust signing code (RustCrypto `rsa`, unblinded; ed25519-dalek).
    fn pure_rust(k: &SigningKey, selector: &str) -> Peer {
        Self::build(k, selector, true, &HEADERS.map(String::from))
    }

    /// mail-auth signing with this header list. Given a name more times than the message
    /// has fields of it, mail-auth lists the rest in `h=` without a field, which is how
    /// oversigning is written: so an `h=` of ours given to it makes the same list.
    fn with_headers(k: &SigningKey, selector: &str, headers: &[String]) -> Peer {
        Self::build(k, selector, false, headers)
    }

    fn build(k: &SigningKey, selector: &str, pure_rust: bool, headers: &[String]) -> Peer {
        let pkcs8 = k.to_pkcs8_der().unwrap().to_vec();
        let relaxed = mail_auth::dkim::Canonicalization::Relaxed;
        macro_rules! signer {
            ($key:expr) => {
                DkimSigner::from_key($key)
                    .domain("example.com")
                    .selector(selector)
                    .headers(headers.iter().cloned())
                    .header_canonicalization(relaxed)
                    .body_canonicalization(relaxed)
            };
        }
        match k.algorithm() {
            easydkim::Algorithm::Ed25519Sha256 if pure_rust => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                Peer::EdRustCrypto(signer!(RustCryptoEd25519(
                    ed25519_dalek::SigningKey::from_pkcs8_der(&pkcs8).unwrap()
                )))
            }
            easydkim::Algorithm::Ed25519Sha256 => Peer::Ed(signer!(
                Ed25519Key::from_pkcs8_maybe_unchecked_der(&pkcs8).unwrap()
            )),
            _ if k.bits() < 2048 || pure_rust => {
                use rsa::pkcs8::DecodePrivateKey;
                Peer::RsaRustCrypto(signer!(RustCryptoRsa(
                    rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap()
                )))
            }
            _ => Peer::Rsa(signer!(RsaKey::<Sha256>::from_key_der(
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8))
            )
            .unwrap())),
        }
    }

    fn sign(&self, m: &[u8]) -> String {
        match self {
            Peer::Rsa(s) => s.sign(m).unwrap().to_header(),
            Peer::RsaRustCrypto(s) => s.sign(m).unwrap().to_header(),
            Peer::Ed(s) => s.sign(m).unwrap().to_header(),
            Peer::EdRustCrypto(s) => s.sign(m).unwrap().to_header(),
        }
    }
}

/// The key signing through each backend compiled in that accepts it (a backend that
/// refuses a key hands it to another, which is measured under its own name).
fn backends(k: &SigningKey) -> impl Iterator<Item = (Backend, SigningKey)> + '_ {
    Backend::available()
        .iter()
        .map(|&b| (b, k.with_backend(b)))
        .filter(|(b, kb)| kb.backend() == *b)
}

fn relaxed() -> Canonicalizer {
    Canonicalizer::new(Canonicalization::Relaxed, Canonicalization::Relaxed)
}

fn bench_raw(c: &mut Criterion) {
    let digest = [0x42u8; 32];
    for (name, file) in KEYS {
        let k = key(file);
        let mut g = c.benchmark_group(format!("raw/{name}"));
        for (b, kb) in backends(&k) {
            g.bench_function(format!("{b:?}"), |bn| {
                bn.iter(|| kb.sign_digest(&digest).unwrap())
            });
        }
        g.finish();
    }
}

/// One signature over a small message (1 KB or 4 KB): every backend, relaxed/relaxed and
/// relaxed/simple on the default backend, and mail-auth.
fn bench_small(c: &mut Criterion, size: usize) {
    let msg = message(size, false);
    for (name, file) in KEYS {
        let k = key(file);
        let mut g = c.benchmark_group(format!("sign{}k/{name}", size / 1024));
        g.throughput(Throughput::Elements(1));
        for (b, kb) in backends(&k) {
            let s = signer(&kb, "sel", relaxed());
            g.bench_function(format!("easydkim-{b:?}"), |bn| {
                bn.iter(|| s.sign(&msg).unwrap())
            });
        }
        let relaxed_simple = signer(
            &k,
            "sel",
            Canonicalizer::new(Canonicalization::Relaxed, Canonicalization::Simple),
        );
        g.bench_function(format!("easydkim-{:?}-relaxed-simple", k.backend()), |bn| {
            bn.iter(|| relaxed_simple.sign(&msg).unwrap())
        });
        let peer = Peer::new(&k, "sel");
        g.bench_function("mail-auth", |bn| bn.iter(|| peer.sign(&msg)));
        if k.bits() >= 2048 || k.algorithm() == easydkim::Algorithm::Ed25519Sha256 {
            // The pure-Rust comparison (for RSA-1024 `mail-auth` above already is).
            let pure = Peer::pure_rust(&k, "sel");
            g.bench_function("mail-auth-pure-rust", |bn| bn.iter(|| pure.sign(&msg)));
        }
        g.finish();
    }
}

/// Two contenders measured in alternation (A, B, A, B, ...): the benchmark named `a` times
/// only A's calls and the one named `b` only B's, while both run in every iteration. This
/// VM's speed drifts by 10 % and more over seconds; a drift then slows both sides alike, so
/// the ratio of the two medians holds where separate measurements do not.
fn paired<RA, RB>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    a: &str,
    fa: impl Fn() -> RA,
    b: &str,
    fb: impl Fn() -> RB,
) {
    g.bench_function(a, |bn| {
        bn.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                std::hint::black_box(fa());
                spent += t.elapsed();
                std::hint::black_box(fb());
            }
            spent
        })
    });
    g.bench_function(b, |bn| {
        bn.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                std::hint::black_box(fa());
                let t = Instant::now();
                std::hint::black_box(fb());
                spent += t.elapsed();
            }
            spent
        })
    });
}

/// A signer against the [`Limit`] of its signature (what nothing can avoid: the key
/// operation and SHA-256 of the bytes the signature covers): the pair `<label>|limit` /
/// `limit|<label>`, and `own-work/<label>-limit`, our time less the limit's ([`difference`]),
/// issue 21's budget per message.
fn against_limit(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    key: &SigningKey,
    msg: &[u8],
    ours: &Signer,
) {
    let limit = Limit::of(key, msg, ours);
    paired(
        g,
        &format!("{label}|limit"),
        || ours.sign(msg).unwrap(),
        &format!("limit|{label}"),
        || limit.run(),
    );
    difference(
        g,
        &format!("own-work/{label}-limit"),
        || ours.sign(msg).unwrap(),
        || limit.run(),
    );
}

/// One benchmark whose time is A's less B's, both timed in the same iterations (A, B, A,
/// B, ...). [`paired`] takes each side's median from a run of its own, seconds apart, so a
/// drift of this VM's speed between the two runs moves their difference by as much as the
/// difference itself is at 4 KB; timed in the same iterations, both sides see the same
/// speed. For `own-work/...`: our time less the [`Limit`]'s, the work per message that is
/// ours alone (issue 21's budget).
fn difference<RA, RB>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    fa: impl Fn() -> RA,
    fb: impl Fn() -> RB,
) {
    // Each iteration is `ROUNDS` pairs, so that a sample of few iterations (criterion
    // starts with one) is not a single pair, whose difference the noise can make negative;
    // criterion refuses a sample of zero time, so a difference below 1 ns counts as 1 ns.
    const ROUNDS: u32 = 8;
    g.bench_function(name, |bn| {
        bn.iter_custom(|iters| {
            let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..iters * u64::from(ROUNDS) {
                let t0 = Instant::now();
                std::hint::black_box(fa());
                let t1 = Instant::now();
                std::hint::black_box(fb());
                let t2 = Instant::now();
                a += t1 - t0;
                b += t2 - t1;
            }
            (a.saturating_sub(b) / ROUNDS).max(Duration::from_nanos(1))
        })
    });
}

/// The ratio targets, each measured in alternation with what it is compared to
/// (`paired/...`): a 4 KB message against mail-auth and against the raw key operation of
/// the backend used; the body path against SHA-256 and mail-auth; `registry.sign` against
/// the bare `Signer`.
fn bench_paired(c: &mut Criterion) {
    let digest = [0x42u8; 32];
    // 1 KB (much transactional mail, where the fixed work per message weighs most) and
    // 4 KB; the pure-Rust pair at 4 KB only.
    for kb in [1, 4] {
        let msg = message(kb * 1024, false);
        for (name, file) in KEYS {
            let k = key(file);
            // The other side's key loaded again: one OpenSSL RSA key used by both sides in
            // strict alternation takes turns being fast and slow (RSA-1024: ~82 and ~88 µs
            // where each alone takes ~85), so a shared key handed the other side the fast
            // turn every time. Two loads are two independent keys.
            let k_other = key(file);
            let mut g = c.benchmark_group(format!("paired{kb}k/{name}"));
            let ours = signer(&k, "sel", relaxed());
            let peer = Peer::new(&k, "sel");
            paired(
                &mut g,
                "easydkim|mail-auth",
                || ours.sign(&msg).unwrap(),
                "mail-auth|easydkim",
                || peer.sign(&msg),
            );
            paired(
                &mut g,
                "easydkim|raw",
                || ours.sign(&msg).unwrap(),
                &format!("raw-{:?}|easydkim", k.backend()),
                || k_other.sign_digest(&digest).unwrap(),
            );
            against_limit(&mut g, "easydkim", &k_other, &msg, &ours);
            if name == "ed25519" {
                // The default header selection (with oversigning), which most callers sign
                // with; mail-auth given the `h=` list it makes for this message.
                let ours = Signer::new(k.clone(), "example.com", "sel")
                    .unwrap()
                    .canonicalization(relaxed())
                    .signing_time(Some(1_800_000_000));
                let h = header_list(&ours.sign(&msg).unwrap().headers[0]);
                assert!(h.len() > HEADERS.len(), "oversigned names in {h:?}");
                let peer = Peer::with_headers(&k, "sel", &h);
                let theirs = header_list(&peer.sign(&msg));
                assert_eq!(
                    theirs.len(),
                    h.len(),
                    "mail-auth's h= {theirs:?} against {h:?}"
                );
                paired(
                    &mut g,
                    "easydkim-default-headers|mail-auth",
                    || ours.sign(&msg).unwrap(),
                    "mail-auth|easydkim-default-headers",
                    || peer.sign(&msg),
                );
                against_limit(&mut g, "easydkim-default-headers", &k_other, &msg, &ours);
            }
            if kb == 4 {
                let pure = k.with_backend(Backend::RustCrypto);
                let ours_pure = signer(&pure, "sel", relaxed());
                let peer_pure = Peer::pure_rust(&k, "sel");
                paired(
                    &mut g,
                    "easydkim-pure-rust|mail-auth-pure-rust",
                    || ours_pure.sign(&msg).unwrap(),
                    "mail-auth-pure-rust|easydkim-pure-rust",
                    || peer_pure.sign(&msg),
                );
            }
            g.finish();
        }
    }
    let ed = key("ed25519.pem");
    // Prose the branch predictor cannot learn (see `varied_prose`): relaxed only, 1 MB.
    {
        let m = varied_prose(1024 * 1024);
        let body = &m[HEADER.len()..];
        let mut g = c.benchmark_group("paired-body/varied-text/1MB");
        g.sample_size(10);
        body_against_sha256(&mut g, Canonicalization::Relaxed, body);
        g.finish();
    }
    // What handing SHA-256 a piece at a time costs by itself: sha2 converts its state in
    // and out of the SHA-NI layout around every call, so many small calls are slower than
    // one over the same bytes. The body loops hand over one block per rewritten window and
    // four per tested one; these pairs are the ceiling that puts on them.
    {
        let m = message(1024 * 1024, false);
        let body = &m[HEADER.len()..];
        let mut g = c.benchmark_group("paired-sha256-calls/1MB");
        g.sample_size(10);
        for piece in [64, 256] {
            paired(
                &mut g,
                &format!("sha256-{piece}B-calls|one-call"),
                || {
                    let mut h = sha2::Sha256::new();
                    for p in body.chunks(piece) {
                        h.update(p);
                    }
                    h.finalize()
                },
                &format!("one-call|sha256-{piece}B-calls"),
                || sha2::Sha256::digest(body),
            );
        }
        g.finish();
    }
    for (kind, b64) in [("text", false), ("base64", true)] {
        for size in [1024 * 1024, 10 * 1024 * 1024] {
            let m = message(size, b64);
            let body = &m[HEADER.len()..];
            let mut g = c.benchmark_group(format!("paired-body/{kind}/{}MB", size >> 20));
            g.sample_size(10);
            for canon in [Canonicalization::Simple, Canonicalization::Relaxed] {
                body_against_sha256(&mut g, canon, body);
            }
            let ours = signer(&ed, "sel", relaxed());
            let peer = Peer::new(&ed, "sel");
            paired(
                &mut g,
                "easydkim-sign|mail-auth-sign",
                || ours.sign(&m).unwrap(),
                "mail-auth-sign|easydkim-sign",
                || peer.sign(&m),
            );
            g.finish();
        }
    }
}

/// The pair `easydkim-<canon>|sha256`: the body canonicalized and hashed with
/// [`BodyHasher`], against plain SHA-256 of the same bytes.
fn body_against_sha256(g: &mut BenchmarkGroup<'_, WallTime>, canon: Canonicalization, body: &[u8]) {
    paired(
        g,
        &format!("easydkim-{canon}|sha256"),
        || {
            let mut h = BodyHasher::new(canon);
            h.update(body);
            h.finish()
        },
        &format!("sha256|easydkim-{canon}"),
        || sha2::Sha256::digest(body),
    );
}

/// The least any signer must do for one signature: SHA-256 of the canonical body, SHA-256
/// of the header data the signature covers (the signed fields and the DKIM-Signature field
/// without its `b=` value, canonicalized), and the key operation on that digest. The bytes
/// are rebuilt from a signature of `ours` and checked against it: the body's digest is its
/// `bh=`, and the key operation (deterministic for Ed25519 and RSA PKCS#1 v1.5) gives its
/// `b=`.
struct Limit {
    key: SigningKey,
    body: Vec<u8>,
    header_data: Vec<u8>,
}

impl Limit {
    fn of(key: &SigningKey, msg: &[u8], ours: &Signer) -> Limit {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let c = ours.options().canonicalization();
        let parsed = easydkim::Message::parse(msg).unwrap();
        let body = c.canonicalize_body(parsed.body());
        let field = ours.sign(msg).unwrap().headers.remove(0);
        let tags = easydkim::signature::parse_tag_list(field.split_once(':').unwrap().1).unwrap();
        let tag = |name: &str| -> String {
            let v = tags.iter().find(|t| t.name == name).unwrap().value;
            v.chars().filter(|ch| !ch.is_ascii_whitespace()).collect()
        };
        assert_eq!(tag("bh"), b64.encode(sha2::Sha256::digest(&body)), "bh=");
        // The signed fields: for each name, the last instance not selected yet.
        let mut header_data = Vec::new();
        let mut used = vec![false; parsed.fields().len()];
        for name in header_list(&field) {
            if let Some(i) = (0..parsed.fields().len()).rev().find(|&i| {
                !used[i]
                    && parsed.fields()[i]
                        .name()
                        .eq_ignore_ascii_case(name.as_bytes())
            }) {
                used[i] = true;
                c.canonicalize_header(parsed.fields()[i].raw(), &mut header_data);
            }
        }
        // Our field with an empty b= (its last tag), without the CRLF.
        let b_at = field.rfind("b=").unwrap();
        c.canonicalize_header(&field.as_bytes()[..b_at + 2], &mut header_data);
        header_data.truncate(header_data.len() - 2);
        let limit = Limit {
            key: key.clone(),
            body,
            header_data,
        };
        assert_eq!(tag("b"), b64.encode(limit.run()), "b=");
        limit
    }

    fn run(&self) -> Vec<u8> {
        std::hint::black_box(sha2::Sha256::digest(&self.body));
        let digest: [u8; 32] = sha2::Sha256::digest(&self.header_data).into();
        self.key.sign_digest(&digest).unwrap()
    }
}

/// The names of a DKIM-Signature's `h=` (the crate's tag-list parser; FWS dropped).
fn header_list(header: &str) -> Vec<String> {
    let value = header.split_once(':').expect("a field").1;
    let tags = easydkim::signature::parse_tag_list(value).expect("a tag list");
    let h = tags
        .iter()
        .find(|t| t.name == "h")
        .expect("an h= tag")
        .value;
    h.split(':')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect()
}

fn bench_sign1k(c: &mut Criterion) {
    bench_small(c, 1024);
}

fn bench_sign4k(c: &mut Criterion) {
    bench_small(c, 4 * 1024);
}

/// Whole signatures over every message size and kind: 1 KB to 10 MB, prose with realistic
/// whitespace and base64 lines, each key on its default backend, relaxed/relaxed (against
/// mail-auth making the same signature) and relaxed/simple.
fn bench_sizes(c: &mut Criterion) {
    let keys: Vec<(&str, SigningKey)> = KEYS.iter().map(|&(n, f)| (n, key(f))).collect();
    for (kind, b64) in [("text", false), ("base64", true)] {
        for (label, size) in [
            ("1KB", 1024),
            ("4KB", 4 * 1024),
            ("100KB", 100 * 1024),
            ("1MB", 1024 * 1024),
            ("10MB", 10 * 1024 * 1024),
        ] {
            let msg = message(size, b64);
            let mut g = c.benchmark_group(format!("sizes/{kind}/{label}"));
            if size >= 100 * 1024 {
                g.sample_size(10);
            }
            g.throughput(Throughput::Bytes(msg.len() as u64));
            for (name, k) in &keys {
                let rr = signer(k, "sel", relaxed());
                let rs = signer(
                    k,
                    "sel",
                    Canonicalizer::new(Canonicalization::Relaxed, Canonicalization::Simple),
                );
                let peer = Peer::new(k, "sel");
                g.bench_function(format!("{name}/easydkim"), |bn| {
                    bn.iter(|| rr.sign(&msg).unwrap())
                });
                g.bench_function(format!("{name}/easydkim-relaxed-simple"), |bn| {
                    bn.iter(|| rs.sign(&msg).unwrap())
                });
                g.bench_function(format!("{name}/mail-auth"), |bn| {
                    bn.iter(|| peer.sign(&msg))
                });
            }
            g.finish();
        }
    }
}

fn bench_body(c: &mut Criterion) {
    let ed = key("ed25519.pem");
    for (kind, b64) in [("text", false), ("base64", true)] {
        for size in [1024 * 1024, 10 * 1024 * 1024] {
            let msg = message(size, b64);
            let body = &msg[HEADER.len()..];
            let mut g = c.benchmark_group(format!("body/{kind}/{}MB", size >> 20));
            g.sample_size(10);
            g.throughput(Throughput::Bytes(body.len() as u64));
            for canon in [Canonicalization::Simple, Canonicalization::Relaxed] {
                g.bench_with_input(BenchmarkId::new("easydkim", canon), body, |bn, m| {
                    bn.iter(|| {
                        let mut h = BodyHasher::new(canon);
                        h.update(m);
                        h.finish()
                    })
                });
            }
            g.bench_with_input(BenchmarkId::new("sha256", "floor"), body, |bn, m| {
                bn.iter(|| sha2::Sha256::digest(m))
            });
            let ours = signer(&ed, "sel", relaxed());
            g.bench_with_input(
                BenchmarkId::new("easydkim-sign", "relaxed"),
                &msg,
                |bn, m| bn.iter(|| ours.sign(m).unwrap()),
            );
            let peer = Peer::new(&ed, "sel");
            g.bench_with_input(
                BenchmarkId::new("mail-auth-sign", "relaxed"),
                &msg,
                |bn, m| bn.iter(|| peer.sign(m)),
            );
            g.finish();
        }
    }
}

fn bench_pair(c: &mut Criterion) {
    let msg = message(100 * 1024, false);
    let operator_key = key("rsa2048.pem");
    for (name, file) in [("ed25519", "ed25519.pem"), ("rsa2048", "rsa2048.pem")] {
        let k = key(file);
        let op_key = if name == "ed25519" {
            k.clone()
        } else {
            operator_key.clone()
        };
        let tenant = signer(&k, "tenant", relaxed());
        let operator = signer(&op_key, "op", relaxed())
            .headers(HEADERS.iter().copied().chain(["feedback-id"]))
            .unwrap();
        let mut g = c.benchmark_group(format!("pair100k/{name}"));
        g.sample_size(20);
        g.bench_function("easydkim-one", |bn| bn.iter(|| tenant.sign(&msg).unwrap()));
        g.bench_function("easydkim", |bn| {
            bn.iter(|| sign_all(&[&tenant, &operator], &msg).unwrap())
        });
        let p1 = Peer::new(&k, "tenant");
        let p2 = Peer::new(&op_key, "op");
        g.bench_function("mail-auth-one", |bn| bn.iter(|| p1.sign(&msg)));
        g.bench_function("mail-auth", |bn| bn.iter(|| (p1.sign(&msg), p2.sign(&msg))));
        g.finish();
    }
}

fn bench_registry(c: &mut Criterion) {
    let msg = message(4 * 1024, false);
    let mut config = RegistryConfig::new("eu-west-1", "dkim.operator.example.net").unwrap();
    config.key_spec = KeySpec::Ed25519;
    let reg = IdentityRegistry::new(config);
    for i in 0..100_000 {
        reg.create_domain_with(&format!("tenant{i}.example.net"), DomainSetup::None, 0)
            .unwrap();
    }
    let id = reg.create_domain("example.com", 0).unwrap();
    let dns = StaticDns::new();
    for r in reg
        .tenant_records(&id)
        .iter()
        .chain(&reg.operator_records(&id))
    {
        match r.record_type {
            RecordType::Cname => dns.add_cname(&r.name, &r.value),
            RecordType::Txt => dns.add_txt(&r.name, &r.value),
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(reg.refresh(&dns, 60));
    let id = reg.get(id.name()).unwrap();
    let (selector, k) = id.dkim().unwrap().signing();
    // The same signature the registry makes (default options: the default header list
    // with oversigning, relaxed/relaxed, t=), so the difference is the registry's own work.
    let bare = Signer::new(k.clone(), "example.com", selector)
        .unwrap()
        .signing_time(Some(120));
    let mut g = c.benchmark_group("registry");
    // With the signed message built, as `registry.sign` returns it.
    g.bench_function("Signer::sign", |bn| {
        bn.iter(|| bare.sign(&msg).unwrap().prepend_to(&msg))
    });
    g.bench_function("registry.sign/100k-identities", |bn| {
        bn.iter(|| reg.sign_at(&msg, 120).unwrap())
    });
    // The registry's own work alone (the sender's identity resolved among 100,000, with
    // its chain), which the A/B difference above measures only within the noise.
    let sender = easydkim::EmailAddress::parse("alice@example.com").unwrap();
    g.bench_function("resolve/100k-identities", |bn| {
        bn.iter(|| reg.resolve(&sender, 120))
    });
    paired(
        &mut g,
        "paired/registry.sign|Signer::sign",
        || reg.sign_at(&msg, 120).unwrap(),
        "paired/Signer::sign|registry.sign",
        || bare.sign(&msg).unwrap().prepend_to(&msg),
    );
    g.finish();
}

fn bench_threads(c: &mut Criterion) {
    let msg = message(4 * 1024, false);
    let s = signer(&key("ed25519.pem"), "sel", relaxed());
    let mut g = c.benchmark_group("threads");
    g.throughput(Throughput::Elements(1));
    for threads in [1usize, 2] {
        g.bench_function(format!("{threads}"), |bn| {
            bn.iter_custom(|iters| {
                // `iters` signatures spread over the threads: time per signature overall.
                let start = Instant::now();
                std::thread::scope(|sc| {
                    for t in 0..threads {
                        let (s, msg) = (&s, &msg);
                        sc.spawn(move || {
                            let mine = iters / threads as u64
                                + u64::from((t as u64) < iters % threads as u64);
                            for _ in 0..mine {
                                std::hint::black_box(s.sign(msg).unwrap());
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

/// A resolver 1 ms away that knows nothing: every lookup is a definite miss.
struct FarDns;

#[async_trait::async_trait]
impl easydkim::DnsVerifier for FarDns {
    async fn txt(&self, _: &str) -> easydkim::DnsResult<Vec<String>> {
        futures_timer::Delay::new(Duration::from_millis(1)).await;
        Err(easydkim::DnsError::NoSuchName)
    }
    async fn cname(&self, _: &str) -> easydkim::DnsResult<Vec<String>> {
        futures_timer::Delay::new(Duration::from_millis(1)).await;
        Err(easydkim::DnsError::NoSuchName)
    }
}

fn bench_refresh(c: &mut Criterion) {
    // 10,000 pending identities, two lookups each, 1 ms per lookup: 20 s one at a time,
    // about 0.16 s at 64 identities in flight.
    let mut config = RegistryConfig::new("eu-west-1", "dkim.operator.example.net").unwrap();
    config.refresh_concurrency = 64;
    let reg = IdentityRegistry::new(config);
    for i in 0..10_000 {
        reg.create_domain_with(&format!("tenant{i}.example.net"), DomainSetup::None, 0)
            .unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("refresh");
    g.sample_size(10);
    g.bench_function("10k-pending/1ms-dns/64-in-flight", |bn| {
        bn.iter(|| rt.block_on(reg.refresh(&FarDns, 60)))
    });
    g.finish();
}

/// Verification against mail-auth's verifier on the same signed message, the key in memory
/// for both (ours through `verify_with_keys`, mail-auth through its TXT cache), each parsing
/// the message and checking every signature (`paired-verify/<key>/<size>`). mail-auth's
/// verification is async: it runs on a current-thread runtime that never does I/O here.
fn bench_verify(c: &mut Criterion) {
    use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
    use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let auth = {
        let _guard = rt.enter();
        MessageAuthenticator::new(
            ResolverConfig::from_name_servers(Vec::new()),
            ResolverOpts::default(),
        )
        .expect("resolver without name servers")
    };
    let verifier = easydkim::Verifier::default();
    for (name, file) in [("ed25519", "ed25519.pem"), ("rsa2048", "rsa2048.pem")] {
        let k = key(file);
        let record = k.dns_record();
        let cache = TxtCache::default();
        cache.publish("sel._domainkey.example.com", &record);
        for (label, size) in [("4k", 4 * 1024), ("100k", 100 * 1024)] {
            let signed = Signer::new(k.clone(), "example.com", "sel")
                .expect("signer")
                .sign_message(&message(size, false))
                .expect("sign");
            let ours = || {
                let r = verifier
                    .verify_with_keys(&signed, |_| Ok(vec![record.clone()]))
                    .expect("parse");
                assert_eq!(r[0].status, easydkim::Status::Pass);
                r
            };
            let theirs = || {
                let m = AuthenticatedMessage::parse(&signed).expect("mail-auth parses");
                let out = rt.block_on(auth.verify_dkim(Parameters::new(&m).with_txt_cache(&cache)));
                assert_eq!(out[0].result(), &DkimResult::Pass);
                out.len()
            };
            ours();
            theirs();
            let mut g = c.benchmark_group(format!("paired-verify/{name}/{label}"));
            paired(
                &mut g,
                "easydkim|mail-auth",
                ours,
                "mail-auth|easydkim",
                theirs,
            );
            g.finish();
        }
    }
}

#[path = "txt_cache.rs"]
mod txt_cache;
use txt_cache::TxtCache;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_raw, bench_sign1k, bench_sign4k, bench_sizes, bench_body, bench_pair, bench_registry, bench_threads, bench_refresh, bench_paired, bench_verify
}
criterion_main!(benches);
