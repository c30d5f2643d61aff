//! RFC 6376 test vectors: section 3.4.5 canonicalization and the Appendix A body hash.

use easydkim::{BodyHasher, Canonicalization, Canonicalizer, Message};

use Canonicalization::{Relaxed, Simple};

use crate::rfc;

fn canonical(c: Canonicalization, raw: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let msg = Message::parse(raw).unwrap();
    let canon = Canonicalizer::new(c, c);
    let mut headers = Vec::new();
    for f in msg.fields() {
        canon.canonicalize_header(f.raw(), &mut headers);
    }
    (headers, canon.canonicalize_body(msg.body()))
}

fn bh(c: Canonicalization, body: &[u8]) -> String {
    let mut h = BodyHasher::new(c);
    h.update(body);
    h.finish().to_base64()
}

#[test]
fn section_3_4_5_relaxed() {
    let (h, b) = canonical(Relaxed, &rfc("canon-example-input.bin"));
    assert_eq!(h, b"a:X\r\nb:Y Z\r\n");
    assert_eq!(b, b" C\r\nD E\r\n");
}

#[test]
fn section_3_4_5_simple() {
    let (h, b) = canonical(Simple, &rfc("canon-example-input.bin"));
    assert_eq!(h, b"A: X\r\nB : Y\t\r\n\tZ  \r\n");
    assert_eq!(b, b" C \r\nD \t E\r\n");
}

#[test]
fn empty_body_hashes() {
    // RFC 6376 3.4.3 / 3.4.4 (erratum 3192): simple hashes CRLF, relaxed hashes nothing.
    assert_eq!(
        bh(Simple, b""),
        "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="
    );
    assert_eq!(
        bh(Relaxed, b""),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
    assert_eq!(
        bh(Simple, b"\r\n\r\n"),
        "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="
    );
    assert_eq!(
        bh(Relaxed, b" \r\n\t\r\n"),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
}

#[test]
fn appendix_a_body_hash_simple() {
    let raw = rfc("rfc6376-appendix-a-signed.eml");
    let msg = Message::parse(&raw).unwrap();
    assert_eq!(
        bh(Simple, msg.body()),
        "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
    );
}

#[test]
fn rfc8463_body_hash_relaxed() {
    let raw = rfc("rfc8463-unsigned.eml");
    let msg = Message::parse(&raw).unwrap();
    assert_eq!(
        bh(Relaxed, msg.body()),
        "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
    );
}

#[test]
fn bare_lf_input_hashes_like_crlf() {
    let raw = rfc("rfc8463-unsigned.eml");
    let lf: Vec<u8> = String::from_utf8(raw.clone())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let a = Message::parse(&raw).unwrap();
    let b = Message::parse(&lf).unwrap();
    for c in [Simple, Relaxed] {
        assert_eq!(bh(c, a.body()), bh(c, b.body()));
        let (ha, _) = canonical(c, &raw);
        let (hb, _) = canonical(c, &lf);
        assert_eq!(ha, hb);
    }
}
