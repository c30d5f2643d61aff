//! BodyHasher over the whole input vs. the input cut at fuzzer-chosen points must agree,
//! for both canonicalizations, and match the one-shot canonicalizer; canonicalizing a
//! canonical body again changes nothing.
//!
//! Input layout: two little-endian u16 cut points, then the body.
#![no_main]

use easydkim::{BodyHash, BodyHasher, Canonicalization, Canonicalizer};
use libfuzzer_sys::fuzz_target;

fn hash(c: Canonicalization, limit: Option<u64>, chunks: &[&[u8]]) -> BodyHash {
    let mut h = BodyHasher::with_limit(c, limit);
    for chunk in chunks {
        h.update(chunk);
    }
    h.finish()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let body = &data[4..];
    let n = body.len();
    let a = usize::from(u16::from_le_bytes([data[0], data[1]])) % (n + 1);
    let b = usize::from(u16::from_le_bytes([data[2], data[3]])) % (n + 1);
    let (a, b) = (a.min(b), a.max(b));

    for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
        let whole = hash(c, None, &[body]);
        assert_eq!(
            hash(c, None, &[&body[..a], &body[a..]]),
            whole,
            "{c} 2 chunks at {a}"
        );
        assert_eq!(
            hash(c, None, &[&body[..a], &body[a..b], &body[b..]]),
            whole,
            "{c} 3 chunks at {a},{b}"
        );
        // Byte by byte (bounded, to keep executions fast).
        if n <= 256 {
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(hash(c, None, &bytes), whole, "{c} byte by byte");
        }

        let canon = Canonicalizer::new(c, c).canonicalize_body(body);
        assert_eq!(whole.canonical_length, canon.len() as u64, "{c} length");
        assert_eq!(whole.hashed_length, whole.canonical_length, "{c} hashed");
        assert_eq!(
            hash(c, None, &[&canon]).digest,
            whole.digest,
            "{c} digest of canonical form"
        );
        assert_eq!(
            Canonicalizer::new(c, c).canonicalize_body(&canon),
            canon,
            "{c} idempotent"
        );

        // l= at the first cut point: the prefix is hashed, the length still counted.
        let limit = a as u64;
        let limited = hash(c, Some(limit), &[&body[..b], &body[b..]]);
        assert_eq!(
            limited.canonical_length, whole.canonical_length,
            "{c} l= total"
        );
        assert_eq!(
            limited.hashed_length,
            limit.min(whole.canonical_length),
            "{c} l= hashed"
        );
        assert_eq!(limited, hash(c, Some(limit), &[body]), "{c} l= chunked");
    }
});
