//! RFC 8463: the published keys load and match the published records, and signing the RFC's
//! message reproduces its body hash.

use easydkim::{Canonicalization, Canonicalizer, KeySpec, Signer, SigningKey};

use crate::rfc;

fn dns_record(name: &str) -> String {
    let zone = String::from_utf8(rfc("dns.txt")).unwrap();
    zone.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.split_once('\t')
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap_or_else(|| panic!("{name} not in dns.txt"))
}

#[test]
fn keys_load_and_match_published_records() {
    let ed = SigningKey::load(&rfc("rfc8463-ed25519-seed.b64")).unwrap();
    assert_eq!(ed.spec(), Some(KeySpec::Ed25519));
    assert_eq!(
        ed.dns_record(),
        dns_record("brisbane._domainkey.football.example.com")
    );
    let rsa = SigningKey::load(&rfc("rfc8463-rsa-private.pem")).unwrap();
    assert_eq!(rsa.spec(), Some(KeySpec::Rsa1024));
    assert_eq!(
        rsa.dns_record(),
        dns_record("test._domainkey.football.example.com")
    );
    let brisbane = SigningKey::load(&rfc("rfc6376-brisbane-private.pem")).unwrap();
    assert!(
        dns_record("brisbane._domainkey.example.com").ends_with(&brisbane.public_key().to_base64())
    );
}

#[test]
fn signing_the_rfc_message_gives_its_body_hash() {
    let key = SigningKey::load(&rfc("rfc8463-ed25519-seed.b64")).unwrap();
    let s = Signer::new(key, "football.example.com", "brisbane")
        .unwrap()
        .canonicalization(Canonicalizer::new(
            Canonicalization::Relaxed,
            Canonicalization::Relaxed,
        ))
        .headers([
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "from",
            "subject",
            "date",
        ])
        .unwrap()
        .identity(Some("@football.example.com"))
        .unwrap()
        .signing_time(Some(1528637909));
    let signed = s.sign(&rfc("rfc8463-unsigned.eml")).unwrap();
    let header = signed.headers[0].replace("\r\n ", "");
    assert!(
        header.contains("bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="),
        "{header}"
    );
    assert!(header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;"));
}
