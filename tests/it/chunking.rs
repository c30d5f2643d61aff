//! The streaming body hasher gives the same result however the body is cut into chunks, and
//! agrees with the one-shot canonicalizer (with and without an `l=` limit).

use easydkim::{BodyHash, BodyHasher, Canonicalization, Canonicalizer, Message};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use crate::messages;
use crate::model::rfc_canonical_body;

const CANONS: [Canonicalization; 2] = [Canonicalization::Simple, Canonicalization::Relaxed];

/// Bodies whose every split point is tried, into 2 and into 3 chunks.
const NASTY: &[&[u8]] = &[
    b"",
    b"\r",
    b"\n",
    b"\r\n",
    b"a \r\n\r\n \t\r\n\r",
    b"\r\r\n\n\r \r\n",
    b"\r\n\r\n\r\n",
    b" \t \r\n\t\r\n  \r\n",
    b"a  \t b \t\r\n\r\n\r\nc\t \r\n \r\n\t\r\n",
    b"\n\n a\n \n\nb \n\n",
    b"a\r\rb\r\r\n\r",
    b"x \r y\r\n \r\n\r",
    b"\t\ta\r\n\r\n",
    b"end without newline  \t",
];

fn hash_chunks(c: Canonicalization, chunks: &[&[u8]]) -> BodyHash {
    let mut h = BodyHasher::new(c);
    for chunk in chunks {
        h.update(chunk);
    }
    h.finish()
}

fn canonical(c: Canonicalization, body: &[u8]) -> Vec<u8> {
    Canonicalizer::new(c, c).canonicalize_body(body)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Checks the one-shot hash against the canonical body, then every split of `body` at the
/// given points into 2 chunks, and (when `three`) into 3 chunks.
fn check_splits(c: Canonicalization, body: &[u8], points: &[usize], three: bool) {
    let whole = hash_chunks(c, &[body]);
    let canon = canonical(c, body);
    assert_eq!(whole.digest, sha256(&canon), "{c} digest of {body:?}");
    assert_eq!(
        whole.canonical_length,
        canon.len() as u64,
        "{c} length of {body:?}"
    );
    assert_eq!(
        whole.hashed_length,
        canon.len() as u64,
        "{c} hashed of {body:?}"
    );
    for &i in points {
        let two = hash_chunks(c, &[&body[..i], &body[i..]]);
        assert_eq!(two, whole, "{c} {body:?} split at {i}");
        if three {
            for &j in points.iter().filter(|&&j| j >= i) {
                let got = hash_chunks(c, &[&body[..i], &body[i..j], &body[j..]]);
                assert_eq!(got, whole, "{c} {body:?} split at {i} and {j}");
            }
        }
    }
}

/// Every split point of `body`, 0 and `len` included.
fn all_points(body: &[u8]) -> Vec<usize> {
    (0..=body.len()).collect()
}

#[test]
fn nasty_bodies_every_split() {
    for c in CANONS {
        for body in NASTY {
            check_splits(c, body, &all_points(body), true);
        }
    }
}

#[test]
fn message_bodies_split_anywhere() {
    for (name, raw) in messages() {
        let msg = Message::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let body = msg.body();
        // Exhaustive where affordable; for big bodies every point near either end plus a
        // stride through the middle (the stride is odd, so it lands on CR, LF and text).
        let points: Vec<usize> = if body.len() <= 8 * 1024 {
            all_points(body)
        } else {
            (0..=body.len())
                .filter(|&i| i < 512 || i + 512 > body.len() || i % 97 == 0)
                .collect()
        };
        let three = body.len() <= 400;
        for c in CANONS {
            check_splits(c, body, &points, three);
            if !three {
                // Three chunks on a sparser grid.
                let grid: Vec<usize> = points.iter().copied().step_by(37).collect();
                check_splits(c, body, &grid, true);
            }
        }
    }
}

#[test]
fn limit_hashes_exactly_the_first_n_canonical_octets() {
    let mut bodies: Vec<Vec<u8>> = NASTY.iter().map(|b| b.to_vec()).collect();
    for (name, raw) in messages() {
        let msg = Message::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        if msg.body().len() <= 8 * 1024 {
            bodies.push(msg.body().to_vec());
        }
    }
    for c in CANONS {
        for body in &bodies {
            check_limits(c, body, None);
        }
    }
}

/// For every limit from 0 to past the canonical length: the digest is that of the first
/// `n` canonical octets, the full length is still counted. With `split`, the body is fed in
/// two chunks cut there.
fn check_limits(c: Canonicalization, body: &[u8], split: Option<usize>) {
    let canon = canonical(c, body);
    for n in 0..=canon.len() + 2 {
        let mut h = BodyHasher::with_limit(c, Some(n as u64));
        match split {
            Some(i) => {
                h.update(&body[..i]);
                h.update(&body[i..]);
            }
            None => h.update(body),
        }
        let got = h.finish();
        let m = n.min(canon.len());
        assert_eq!(got.digest, sha256(&canon[..m]), "{c} {body:?} l={n}");
        assert_eq!(got.hashed_length, m as u64, "{c} {body:?} l={n}");
        assert_eq!(
            got.canonical_length,
            canon.len() as u64,
            "{c} {body:?} l={n}"
        );
    }
}

#[test]
fn model_agrees_on_fixed_bodies() {
    for c in CANONS {
        for body in NASTY {
            assert_eq!(
                canonical(c, body),
                rfc_canonical_body(c, body),
                "{c} {:?}",
                String::from_utf8_lossy(body)
            );
        }
        for (name, raw) in messages() {
            let msg = Message::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                canonical(c, msg.body()) == rfc_canonical_body(c, msg.body()),
                "{c} {name}"
            );
        }
    }
}

/// Bodies drawn mostly from CR, LF, SP, TAB and `a`, so CRLFs cut between chunks, runs of
/// trailing blank lines and whitespace runs are common.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => Just(&b"\r"[..]),
        4 => Just(&b"\n"[..]),
        4 => Just(&b"\r\n"[..]),
        3 => Just(&b" "[..]),
        3 => Just(&b"\t"[..]),
        4 => Just(&b"a"[..]),
        1 => Just(&b"bc"[..]),
        1 => Just(&b"\xc3\xa9"[..]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_two_and_three_chunk_split_hashes_the_same(body in body()) {
        for c in CANONS {
            check_splits(c, &body, &all_points(&body), true);
        }
    }

    #[test]
    fn canonical_body_matches_the_model(body in body()) {
        for c in CANONS {
            prop_assert_eq!(canonical(c, &body), rfc_canonical_body(c, &body), "{}", c);
        }
    }

    #[test]
    fn limit_with_a_split(body in body(), at in any::<prop::sample::Index>()) {
        let i = at.index(body.len() + 1);
        for c in CANONS {
            check_limits(c, &body, Some(i));
        }
    }
}

/// Bodies of a few KB: whitespace runs, bare CRs and LFs, CRLFs and empty lines fall on
/// every offset of the canonicalizer's 64-byte scan windows and across its 32 KB blocks.
fn long_body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => Just(&b"word"[..]),
        6 => Just(&b" "[..]),
        2 => Just(&b"  "[..]),
        2 => Just(&b"\t"[..]),
        1 => Just(&b" \t "[..]),
        5 => Just(&b"\r\n"[..]),
        1 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b"\r\n\r\n"[..]),
        1 => Just(&b"The quick brown fox jumps over the lazy dog."[..]),
        1 => Just(&b"\x0c"[..]),
        // Runs longer than a scan window.
        1 => Just(&[b' '; 70][..]),
        1 => Just(&b"\t \t                                                              \t"[..]),
    ];
    prop::collection::vec(piece, 0..1200).prop_map(|pieces| pieces.concat())
}

/// The canonical body and its digest are the model's, and the body split at `i` hashes the
/// same as whole; returns the whole body's hash.
fn model_and_split(c: Canonicalization, body: &[u8], i: usize) -> Result<BodyHash, TestCaseError> {
    let want = rfc_canonical_body(c, body);
    prop_assert_eq!(canonical(c, body), want.clone(), "{}", c);
    let whole = hash_chunks(c, &[body]);
    prop_assert_eq!(whole.digest, sha256(&want));
    prop_assert_eq!(hash_chunks(c, &[&body[..i], &body[i..]]), whole);
    Ok(whole)
}

/// Bodies of text and base64 in turns: stretches of several windows without a change
/// (where the relaxed canonicalizer tests windows more cheaply once a block is being
/// rewritten) begin and end on every offset, after and before changes of every kind.
fn text_and_base64_body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        8 => Just(&b"TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdC4g\r\n"[..]),
        2 => Just(&b"word"[..]),
        2 => Just(&b" "[..]),
        1 => Just(&b"  "[..]),
        1 => Just(&b"\t"[..]),
        1 => Just(&b" \r\n"[..]),
        2 => Just(&b"\r\n"[..]),
        1 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b"\r\n\r\n"[..]),
        1 => Just(&[b' '; 70][..]),
    ];
    prop::collection::vec(piece, 0..600).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn text_and_base64_bodies_match_the_model_in_any_chunks(
        body in text_and_base64_body(),
        at in any::<prop::sample::Index>(),
    ) {
        for c in CANONS {
            model_and_split(c, &body, at.index(body.len() + 1))?;
        }
    }

    #[test]
    fn long_bodies_match_the_model_in_any_chunks(body in long_body(), at in any::<prop::sample::Index>()) {
        for c in CANONS {
            let whole = model_and_split(c, &body, at.index(body.len() + 1))?;
            // Small chunks: every chunk boundary is a window boundary somewhere else.
            let small: Vec<&[u8]> = body.chunks(61).collect();
            prop_assert_eq!(hash_chunks(c, &small), whole);
        }
    }
}

/// The canonical body and its hash (digest and length), in both canonicalizations, are
/// the model's.
fn agrees_with_the_model(body: &[u8]) {
    for c in CANONS {
        let want = rfc_canonical_body(c, body);
        assert_eq!(canonical(c, body), want, "{c} {body:?}");
        let got = hash_chunks(c, &[body]);
        assert_eq!(got.digest, sha256(&want), "{c} {body:?}");
        assert_eq!(got.canonical_length, want.len() as u64, "{c} {body:?}");
    }
}

/// The last line of content ending on every offset of a scan window, after a first change
/// that shortens, keeps or lengthens the output (so output and input offsets differ), then
/// the body's end with and without empty lines: the line end and the empty lines are told
/// apart wherever the canonicalizer hands its output to the hash.
#[test]
fn last_line_ends_on_every_window_offset() {
    let firsts: [&[u8]; 6] = [
        b"a  b\n",
        b"a\tb\r\n",
        b"a  b\r\n",
        b"\n",
        b"x \r\n\r\n",
        b"a  b",
    ];
    for first in firsts {
        for len in 0..200 {
            for end in [&b"\r\n"[..], b"\r\n\r\n", b"\r\n \r\n\r\n", b"\n\n", b""] {
                let mut body = first.to_vec();
                body.extend(std::iter::repeat_n(b'x', len));
                body.extend_from_slice(end);
                agrees_with_the_model(&body);
            }
        }
    }
}

/// Lines that need no change (as in base64 bodies), then content ending on every offset of
/// a scan window, then a change or none, then the body's end with and without empty lines:
/// the canonicalizer hashes unchanged input as it goes and switches to rewriting at the
/// first change, possibly in the middle of a line it has partly hashed.
#[test]
fn unchanged_stretches_then_a_change_on_every_offset() {
    let line: &[u8] =
        b"TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdC4g\r\n";
    for lines in 0..4 {
        for len in 0..160 {
            for change in [&b""[..], b"a  b", b"\t", b"\n", b" \r\n"] {
                for end in [&b"\r\n"[..], b"\r\n\r\n", b"", b"\n\r\n"] {
                    let mut body = line.repeat(lines);
                    body.extend(std::iter::repeat_n(b'y', len));
                    body.extend_from_slice(change);
                    body.extend_from_slice(end);
                    agrees_with_the_model(&body);
                }
            }
        }
    }
}

/// A body of several 32 KB blocks whose whitespace runs straddle every offset of the scan
/// window, against the model, whole and in uneven chunks.
#[test]
fn runs_across_window_and_block_boundaries() {
    let mut body = Vec::new();
    for i in 0..6000usize {
        body.extend(std::iter::repeat_n(b'a', i % 67));
        body.extend(std::iter::repeat_n(b' ', i % 5));
        if i % 7 == 0 {
            body.push(b'\t');
        }
        match i % 11 {
            0 => body.extend_from_slice(b"\r\n\r\n \r\n"),
            1 => body.push(b'\n'),
            2 => body.push(b'\r'),
            3..=6 => body.extend_from_slice(b"\r\n"),
            _ => {}
        }
    }
    body.extend_from_slice(b"\r\n\r\n  \t\r\n");
    for c in CANONS {
        let want = rfc_canonical_body(c, &body);
        assert_eq!(canonical(c, &body), want, "{c}");
        let whole = hash_chunks(c, &[&body]);
        assert_eq!(whole.digest, sha256(&want), "{c}");
        for size in [1000, 4093, 32 * 1024 + 7, 100_000] {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            assert_eq!(hash_chunks(c, &chunks), whole, "{c} chunks of {size}");
        }
    }
}

/// The longest line is reported the same whatever the line endings and chunking.
#[test]
fn longest_line_with_bare_lf_and_crlf() {
    for (line_end, len) in [
        (&b"\n"[..], 998usize),
        (b"\n", 999),
        (b"\r\n", 999),
        (b"\r\n", 998),
    ] {
        let mut body = b"short\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', len));
        body.extend_from_slice(line_end);
        body.extend_from_slice(b"end\r\n");
        for c in CANONS {
            let whole = hash_chunks(c, &[&body]);
            let expected = if len > 998 { len } else { 0 };
            assert_eq!(whole.longest_line, expected, "{c} {len} {line_end:?}");
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(hash_chunks(c, &bytes), whole, "{c} byte by byte");
        }
    }
}

/// Long stretches of empty lines inside a block that is being rewritten: the canonicalizer
/// hands rewritten output to the hash every few KB, and empty lines at such a point must
/// stay pending (dropped if the body ends there, kept if content follows).
#[test]
fn empty_line_stretches_across_hash_handoffs() {
    for empties in [1000usize, 2040, 2047, 2048, 2049, 2100, 3000, 20_000] {
        for lf_only in [false, true] {
            for tail in [&b""[..], b"x\r\n", b"  \r\n", b"y"] {
                let nl: &[u8] = if lf_only { b"\n" } else { b"\r\n" };
                let mut body = b"a  b\t c \r\n".repeat(300);
                for _ in 0..empties {
                    body.extend_from_slice(nl);
                }
                body.extend_from_slice(tail);
                for c in CANONS {
                    let want = rfc_canonical_body(c, &body);
                    assert_eq!(
                        canonical(c, &body),
                        want,
                        "{c} {empties} {lf_only} {tail:?}"
                    );
                    let whole = hash_chunks(c, &[&body]);
                    assert_eq!(whole.digest, sha256(&want), "{c} {empties}");
                    let chunks: Vec<&[u8]> = body.chunks(4099).collect();
                    assert_eq!(hash_chunks(c, &chunks), whole, "{c} {empties} chunks");
                }
            }
        }
    }
}
