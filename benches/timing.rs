//! A dudect-style timing check of the default (pure-Rust) backend's RSA signing.
//!
//! Two classes of input are signed in random order with the same key: class 0 a fixed
//! digest, class 1 a fresh random digest each time. If the time a signature takes depended
//! on the data, the two classes' time distributions would differ. Welch's t-test compares
//! them, as dudect does (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant time?",
//! 2017), over all samples and over samples cropped at several percentiles (which removes
//! the long tail of interrupts and scheduling). dudect's reading: |t| above 10 is a leak;
//! below 4.5 there is no evidence of one at this number of samples.
//!
//! Run: `cargo bench -p easydkim-benches --bench timing` (about a minute on two cores);
//! `TIMING_SAMPLES=200000` for more samples per key. Build in release (cargo bench does).
//! A benchmark, not a test: its verdict is printed, and it never fails a build.

use std::hint::black_box;
use std::time::Instant;

use easydkim::{Backend, SigningKey};

/// A small xorshift generator: the inputs and the class order need no cryptographic
/// quality, only independence from the key.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Welch's t statistic of two samples.
fn welch(a: &[f64], b: &[f64]) -> f64 {
    let stats = |s: &[f64]| {
        let n = s.len() as f64;
        let mean = s.iter().sum::<f64>() / n;
        let var = s.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (n, mean, var)
    };
    let (na, ma, va) = stats(a);
    let (nb, mb, vb) = stats(b);
    (ma - mb) / (va / na + vb / nb).sqrt()
}

fn check(name: &str, key: &SigningKey, samples: usize) {
    let key = key.with_backend(Backend::RustCrypto);
    assert_eq!(key.backend(), Backend::RustCrypto);
    measure(name, samples, |d| {
        black_box(key.sign_digest(d).expect("sign"));
    });
}

/// The control: `rsa` 0.9 (the previous backend, variable-time arithmetic), unblinded, on
/// the same key. It shows the check can see a data-dependent time when there is one.
fn control(name: &str, pem: &str, samples: usize) {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem).expect("rsa 0.9 key");
    measure(name, samples, |d| {
        black_box(
            key.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), d)
                .expect("sign"),
        );
    });
}

fn measure(name: &str, samples: usize, sign: impl Fn(&[u8; 32])) {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ samples as u64);
    let fixed = [0x5au8; 32];
    // Warm up caches, the allocator and the CPU's frequency.
    for _ in 0..samples / 20 + 50 {
        sign(&fixed);
    }
    let mut times: Vec<(u8, f64)> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let class = (rng.next() & 1) as u8;
        let digest: [u8; 32] = if class == 0 {
            fixed
        } else {
            let mut d = [0u8; 32];
            for chunk in d.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes());
            }
            d
        };
        let start = Instant::now();
        sign(black_box(&digest));
        times.push((class, start.elapsed().as_nanos() as f64));
    }
    let mut sorted: Vec<f64> = times.iter().map(|&(_, t)| t).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut worst = 0f64;
    let mut line = String::new();
    for pct in [100.0, 99.0, 95.0, 90.0, 75.0, 50.0] {
        let idx = ((sorted.len() as f64 * pct / 100.0) as usize).min(sorted.len() - 1);
        let cut = sorted[idx];
        let class = |c: u8| -> Vec<f64> {
            times
                .iter()
                .filter(|&&(k, t)| k == c && t <= cut)
                .map(|&(_, t)| t)
                .collect()
        };
        let t = welch(&class(0), &class(1));
        worst = worst.max(t.abs());
        line.push_str(&format!(" p{pct:.0}: {t:+.2}"));
    }
    let verdict = if worst > 10.0 {
        "LEAK (|t| > 10)"
    } else if worst > 4.5 {
        "inconclusive (4.5 < |t| <= 10): run again with more samples"
    } else {
        "no evidence of a timing difference (|t| <= 4.5)"
    };
    println!(
        "{name}: {samples} signatures (fixed vs random digest, random order), median {:.1} us; \
         Welch t by crop:{line}; max |t| = {worst:.2}: {verdict}",
        median / 1000.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; this target takes no filter.
    let samples: usize = std::env::var("TIMING_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/keys/");
    for (name, file, default_samples) in [
        ("RSA-1024 (pure Rust)", "rsa1024.pem", 40_000),
        ("RSA-2048 (pure Rust)", "rsa2048.pem", 12_000),
    ] {
        let pem = std::fs::read(format!("{dir}{file}")).expect("test key");
        let key = SigningKey::load(&pem).expect("key");
        check(
            name,
            &key,
            if samples > 0 {
                samples
            } else {
                default_samples
            },
        );
    }
    let pem = std::fs::read_to_string(format!("{dir}rsa1024.pem")).expect("test key");
    control(
        "control: RSA-1024 on rsa 0.9, unblinded",
        &pem,
        if samples > 0 { samples } else { 40_000 },
    );
}
