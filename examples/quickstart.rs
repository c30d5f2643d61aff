//! Quickstart: the whole Easy DKIM flow on an embedded default, with no network.
//!
//! `cargo run --example quickstart`
//!
//! 1. a registry for region `eu-west-1`, whose keys live in the operator zone
//!    `dkim.mail.example.net`;
//! 2. a tenant registers `example.com` and gets its DNS records (printed as CSV);
//! 3. the records are "published" into an in-memory DNS ([`StaticDns`]);
//! 4. `refresh` sees them and the identity becomes verified;
//! 5. a message from `alice@example.com` is signed and its signature verified.

use easydkim::{
    unix_now, DnsRecord, IdentityRegistry, KeySpec, RegistryConfig, StaticDns, TenantSignature,
    Verifier, VerifyOptions,
};

const MESSAGE: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: Bob <bob@example.org>\r\n\
Subject: Hello from easydkim\r\n\
Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <quickstart@example.com>\r\n\
\r\n\
Hi Bob,\r\n\
\r\n\
this message carries a DKIM signature.\r\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let now = unix_now();

    // 1. One registry per region.
    let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
    config.key_spec = KeySpec::Rsa2048;
    let registry = IdentityRegistry::new(config);

    // 2. The tenant registers its domain and downloads its records.
    let identity = registry.create_domain("example.com", now)?;
    let tenant = registry.tenant_records(&identity);
    let operator = registry.operator_records(&identity);
    println!("Records for the tenant to publish in example.com (CSV):\n");
    print!("{}", DnsRecord::to_csv(&tenant));
    println!("\nRecords for the operator to publish in dkim.mail.example.net:\n");
    for r in &operator {
        println!("{}", r.zone_line());
    }
    println!(
        "\nStatus: identity {}, DKIM {}",
        identity.status(),
        identity.dkim_status()
    );

    // 3. Everyone publishes (here: into an in-memory DNS).
    let dns = StaticDns::new();
    dns.publish(&tenant);
    dns.publish(&operator);

    // 4. The operator refreshes periodically; here once.
    let report = rt.block_on(registry.refresh(&dns, now + 60));
    for e in &report.events {
        println!(
            "Event: {:?} of {} went {} -> {}",
            e.check, e.identity, e.from, e.to
        );
    }

    // 5. The mailer signs every outgoing message.
    let outcome = registry.sign_at(MESSAGE, now + 120)?;
    match &outcome.tenant {
        TenantSignature::Signed(choice) => println!(
            "\nSigned as d={} s={} (identity {})\n",
            choice.domain, choice.selector, choice.identity
        ),
        TenantSignature::Unsigned(reason) => println!("\nNot signed: {reason}\n"),
    }
    print!("{}", String::from_utf8_lossy(&outcome.message));

    // The receiver's view: verify through the same DNS.
    let verifier = Verifier::new(VerifyOptions::default());
    let results = rt.block_on(verifier.verify(&dns, &outcome.message))?;
    println!();
    for r in &results {
        println!(
            "Authentication-Results: receiver.example.org; {}",
            r.authentication_results()
        );
    }
    if results.is_empty() || results.iter().any(|r| r.status != easydkim::Status::Pass) {
        return Err("the signature did not verify".into());
    }
    Ok(())
}
