//! Quickstart: generate a key, print the DNS record to publish, sign a sample message.
//!
//! `cargo run --example quickstart` — no network, no setup.

use easydkim::{KeySpec, Signer, SigningKey};

const SAMPLE: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: Bob <bob@example.org>\r\n\
Subject: Hello from easydkim\r\n\
Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <quickstart@example.com>\r\n\
\r\n\
Hi Bob,\r\n\
\r\n\
this message carries a DKIM signature.\r\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = SigningKey::generate(KeySpec::Rsa2048)?;
    println!("Publish this TXT record:");
    println!(
        "  sel1._domainkey.example.com. TXT \"{}\"\n",
        key.dns_record()
    );

    let signer = Signer::new(key, "example.com", "sel1")?;
    let signed = signer.sign(SAMPLE)?;
    println!("Signed message:\n");
    print!("{}", String::from_utf8_lossy(&signed.prepend_to(SAMPLE)));
    Ok(())
}
