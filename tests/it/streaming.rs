//! Streaming signing gives the same signatures as signing the whole message, for any
//! chunking, and holds only the header block.

use std::io::{Read, Write};

use easydkim::{sign_all, sign_reader, Canonicalization, Canonicalizer, Signer, StreamSigner};

use crate::{key, messages};

fn signers() -> Vec<Signer> {
    use Canonicalization::*;
    let mut out = Vec::new();
    for (file, c) in [
        ("ed25519.pem", Canonicalizer::new(Relaxed, Relaxed)),
        ("rsa1024.pem", Canonicalizer::new(Relaxed, Simple)),
        ("ed25519.pem", Canonicalizer::new(Simple, Simple)),
    ] {
        let s = Signer::new(key(file), "example.com", "sel")
            .unwrap()
            .canonicalization(c)
            .signing_time(Some(1_700_000_000))
            .self_check(true);
        out.push(s);
    }
    out
}

#[test]
fn every_message_any_chunking_matches_whole_message_signing() {
    let owned = signers();
    let refs: Vec<&Signer> = owned.iter().collect();
    for (name, raw) in messages() {
        let whole = sign_all(&refs, &raw).unwrap();
        for chunk in [1usize, 2, 3, 7, 64, 1000, usize::MAX] {
            let mut st = StreamSigner::new(&refs).unwrap();
            for part in raw.chunks(chunk.min(raw.len().max(1))) {
                st.write_all(part).unwrap();
            }
            let streamed = st.finish().unwrap();
            assert_eq!(
                streamed.headers, whole.headers,
                "{name} in chunks of {chunk}"
            );
            assert_eq!(
                streamed.warnings, whole.warnings,
                "{name} in chunks of {chunk}"
            );
        }
        let from_reader = sign_reader(&refs, &raw[..]).unwrap();
        assert_eq!(from_reader.headers, whole.headers, "{name} via Read");
    }
}

/// One body hash per body canonicalization, in the order the signers first use them, the
/// same whole or streamed, each the hash of the body alone.
#[test]
fn one_body_hash_per_canonicalization_in_order_of_first_use() {
    use Canonicalization::*;
    let owned = signers();
    let raw = b"From: a@example.com\r\nSubject: x\r\n\r\nHello  world \r\n\r\n";
    let body = easydkim::Message::parse(raw).unwrap().body();
    let hash = |c| {
        let mut h = easydkim::BodyHasher::new(c);
        h.update(body);
        h.finish()
    };
    // Bodies relaxed, simple, simple; then simple, relaxed; then simple alone.
    for (order, want) in [
        (vec![0, 1, 2], vec![Relaxed, Simple]),
        (vec![2, 0, 1], vec![Simple, Relaxed]),
        (vec![1, 2], vec![Simple]),
    ] {
        let refs: Vec<&Signer> = order.iter().map(|&i| &owned[i]).collect();
        let want: Vec<_> = want.into_iter().map(|c| (c, hash(c))).collect();
        assert_ne!(hash(Relaxed), hash(Simple));
        assert_eq!(sign_all(&refs, raw).unwrap().body_hashes, want, "{order:?}");
        let mut st = StreamSigner::new(&refs).unwrap();
        st.write_all(raw).unwrap();
        assert_eq!(st.finish().unwrap().body_hashes, want, "{order:?} streamed");
    }
}

/// Yields a message with a body of `len` bytes, generated on the fly.
struct Generated {
    header: &'static [u8],
    pos: usize,
    len: usize,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < out.len() && self.pos < self.header.len() {
            out[n] = self.header[self.pos];
            n += 1;
            self.pos += 1;
        }
        let line = b"Lorem ipsum dolor sit amet,  consectetur adipiscing elit \t\r\n";
        while n < out.len() && self.pos < self.header.len() + self.len {
            out[n] = line[(self.pos - self.header.len()) % line.len()];
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}

#[test]
fn a_40_mb_message_is_signed_holding_only_its_header() {
    let owned = signers();
    let refs: Vec<&Signer> = owned.iter().collect();
    let header: &[u8] = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: big\r\n\r\n";
    let mut reader = Generated {
        header,
        pos: 0,
        len: 40 * 1024 * 1024,
    };
    let mut st = StreamSigner::new(&refs).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut max_buffered = 0;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        st.update(&buf[..n]).unwrap();
        max_buffered = max_buffered.max(st.buffered());
    }
    // The header block, in a buffer of its initial capacity at most twice over.
    assert!(max_buffered <= 64 * 1024 + 4096, "{max_buffered}");
    let signed = st.finish().unwrap();
    assert_eq!(signed.headers.len(), 3);
    // The same bytes signed whole give the same signatures.
    let mut whole = Vec::new();
    Generated {
        header,
        pos: 0,
        len: 40 * 1024 * 1024,
    }
    .read_to_end(&mut whole)
    .unwrap();
    assert_eq!(sign_all(&refs, &whole).unwrap().headers, signed.headers);
}

#[test]
fn header_block_over_the_limit_is_refused_while_streaming() {
    let owned = signers();
    let refs: Vec<&Signer> = owned.iter().collect();
    let mut st = StreamSigner::new(&refs).unwrap();
    st.update(b"From: a@example.com\r\n").unwrap();
    let big = vec![b'x'; 64 * 1024];
    let mut err = None;
    for _ in 0..20 {
        if let Err(e) = st
            .update(b"X-Filler: ")
            .and_then(|_| st.update(&big))
            .and_then(|_| st.update(b"\r\n"))
        {
            err = Some(e);
            break;
        }
    }
    assert_eq!(
        err,
        Some(easydkim::SignError::Message(
            easydkim::MessageError::HeaderBlockTooLarge { limit: 1024 * 1024 }
        ))
    );
}
