//! Send one DKIM-signed message to an SMTP server through lettre (feature `lettre`).
//!
//! ```text
//! cargo run --features lettre --example lettre_smtp -- \
//!     --server 127.0.0.1:2525 --from alice@example.com --to bob@example.org \
//!     [--subject TEXT] [--body TEXT] [--key-spec rsa2048|rsa1024|ed25519]
//! ```
//!
//! A registry is set up in memory for the domain of `--from`: the identity is created, its
//! records are "published" into an in-memory DNS ([`StaticDns`]) and `refresh` verifies
//! them, so nothing but the SMTP connection touches the network. The message is built with
//! lettre and sent through a [`SigningTransport`] wrapping lettre's SMTP transport, which
//! signs it on its way out. The example prints the records a real tenant and operator
//! would publish, the signing outcome, the server's reply, and checks the signature it
//! sent against the in-memory records.
//!
//! The SMTP connection is plain text, without authentication (lettre's
//! `builder_dangerous`): meant for a local test server such as
//! `python3 -m aiosmtpd -n -l 127.0.0.1:2525` or `tests/smtp/sink.py`. A production mailer
//! would use `SmtpTransport::relay` with one of lettre's TLS features.
//!
//! Exit status 0 when the server accepted the message, 1 when sending failed, 2 on bad
//! arguments.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use easydkim::lettre_transport::SigningTransport;
use easydkim::StaticDns;
use easydkim::{
    unix_now, DnsRecord, EmailAddress, IdentityRegistry, KeySpec, RegistryConfig, Status,
    TenantSignature, Verifier, VerifyOptions,
};
use lettre::message::header::ContentType;
use lettre::{Message, SmtpTransport, Transport};

const USAGE: &str = "usage: lettre_smtp --server HOST:PORT --from ADDRESS --to ADDRESS \
[--subject TEXT] [--body TEXT] [--key-spec rsa2048|rsa1024|ed25519]";

struct Args {
    host: String,
    port: u16,
    from: String,
    to: String,
    subject: String,
    body: String,
    key_spec: KeySpec,
}

fn parse_args() -> Result<Args, String> {
    let (mut server, mut from, mut to) = (None, None, None);
    let mut subject = "Hello from easydkim".to_string();
    let mut body = "This message was DKIM-signed on its way out by easydkim's \
                    SigningTransport.\r\n"
        .to_string();
    let mut key_spec = KeySpec::Rsa2048;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--server" => server = Some(value()?),
            "--from" => from = Some(value()?),
            "--to" => to = Some(value()?),
            "--subject" => subject = value()?,
            "--body" => body = value()?.replace("\\n", "\r\n"),
            "--key-spec" => {
                key_spec = match value()?.as_str() {
                    "rsa2048" => KeySpec::Rsa2048,
                    "rsa1024" => KeySpec::Rsa1024,
                    "ed25519" => KeySpec::Ed25519,
                    other => {
                        return Err(format!("--key-spec `{other}`: rsa2048, rsa1024 or ed25519"))
                    }
                }
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let server = server.ok_or("--server HOST:PORT is required")?;
    let (host, port) = server
        .rsplit_once(':')
        .ok_or_else(|| format!("--server `{server}` is not HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("--server `{server}`: `{port}` is not a port"))?;
    Ok(Args {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        from: from.ok_or("--from ADDRESS is required")?,
        to: to.ok_or("--to ADDRESS is required")?,
        subject,
        body,
        key_spec,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lettre_smtp: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lettre_smtp: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let from = EmailAddress::parse(&args.from)?;
    let domain = from.domain().to_string();
    let now = unix_now();

    // 1. The registry and the sender's domain, verified against an in-memory DNS.
    let mut config = RegistryConfig::new("local", "dkim.operator.example.net")?;
    config.key_spec = args.key_spec;
    let registry = Arc::new(IdentityRegistry::new(config));
    let identity = registry.create_domain(&domain, now)?;
    let tenant = registry.tenant_records(&identity);
    let operator = registry.operator_records(&identity);
    println!("Records the tenant publishes in {domain} (CSV):\n");
    print!("{}", DnsRecord::to_csv(&tenant));
    println!("\nRecords the operator publishes in dkim.operator.example.net:\n");
    for r in &operator {
        println!("{}", r.zone_line());
    }
    let dns = StaticDns::new();
    dns.publish(&tenant);
    dns.publish(&operator);
    rt.block_on(registry.refresh(&dns, now));
    let identity = registry.get_str(&domain)?;
    println!(
        "\n{domain}: identity {}, DKIM {}",
        identity.status(),
        identity.dkim_status()
    );

    // 2. lettre's SMTP transport, wrapped so that every message is signed.
    let signed_copy = Arc::new(Mutex::new(None));
    let copy = signed_copy.clone();
    let smtp = SmtpTransport::builder_dangerous(args.host.as_str())
        .port(args.port)
        .build();
    let mailer = SigningTransport::new(smtp, registry)
        .on_outcome(move |outcome, envelope| {
            match &outcome.tenant {
                TenantSignature::Signed(c) => println!(
                    "Signed (to {}): d={} s={}{}",
                    envelope
                        .to()
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    c.domain,
                    c.selector,
                    if outcome.operator_signed {
                        " (+ operator)"
                    } else {
                        ""
                    }
                ),
                TenantSignature::Unsigned(reason) => println!("Sent unsigned: {reason}"),
            }
            *copy.lock().unwrap() = Some(outcome.message.clone());
        })
        .on_sign_error(|error, _| eprintln!("Cannot sign, sent as it is: {error}"));

    // 3. Build and send.
    let email = Message::builder()
        .from(args.from.parse()?)
        .to(args.to.parse()?)
        .subject(args.subject.as_str())
        .header(ContentType::TEXT_PLAIN)
        .body(args.body.clone())?;
    let response = mailer.send(&email)?;
    println!(
        "Server {}:{} replied {} {}",
        args.host,
        args.port,
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    );

    // 4. What a receiver would conclude, with the records above.
    if let Some(signed) = signed_copy.lock().unwrap().take() {
        let header_end = signed
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(signed.len());
        let headers = String::from_utf8_lossy(&signed[..header_end]);
        let dkim: Vec<&str> = headers
            .split("\r\n")
            .skip_while(|l| !l.starts_with("DKIM-Signature:"))
            .take_while(|l| l.starts_with("DKIM-Signature:") || l.starts_with([' ', '\t']))
            .collect();
        println!("\n{}\n", dkim.join("\r\n"));
        let results = rt.block_on(Verifier::new(VerifyOptions::default()).verify(&dns, &signed))?;
        for r in &results {
            println!(
                "Authentication-Results: local; {}",
                r.authentication_results()
            );
        }
        if results.is_empty() || results.iter().any(|r| r.status != Status::Pass) {
            return Err("the signature sent does not verify".into());
        }
    }
    Ok(())
}
