//! A small end-to-end operator loop on real DNS (feature `hickory`).
//!
//! ```text
//! cargo run --features hickory --example operator -- [OPTIONS] IDENTITY...
//!
//!   IDENTITY              a domain (example.com) or an email address (alice@example.com)
//!   --region NAME         the registry's region (default eu-west-1)
//!   --signing-zone ZONE   the operator's zone for key records (default dkim.mail.example.net)
//!   --nameserver IP:PORT  ask only this server (repeatable); default: /etc/resolv.conf
//!   --timeout SECS        per lookup, with --nameserver (default 5)
//!   --interval SECS       time between rounds (default 300)
//!   --key-spec SPEC       rsa2048 (default), rsa1024 or ed25519
//!   --once                exit after one round
//! ```
//!
//! It does what an operator's service does, in one process:
//!
//! 1. creates the identities (an email identity prints the confirmation token that would be
//!    mailed to the address);
//! 2. prints, per domain, the CSV the tenant downloads and the zone lines the operator
//!    publishes in its signing zone;
//! 3. every round: `refresh` against real DNS through [`HickoryDnsVerifier`], prints each
//!    status change (the events an operator mails to its tenants), each identity's
//!    statuses, and for every domain not fully verified what
//!    [`diagnose`](IdentityRegistry::diagnose) finds wrong in its DNS.
//!
//! The identities live in memory: a new run creates new tokens and keys. A real service
//! keeps them (feature `serde`: `store::FileStore`) and creates each identity
//! once.
//!
//! Exit status: 0 after `--once` (or never, without it), 2 on bad arguments or an identity
//! that cannot be created.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use easydkim::hickory::HickoryDnsVerifier;
use easydkim::{
    unix_now, DnsRecord, Identity, IdentityName, IdentityRegistry, KeySpec, RegistryConfig,
    VerificationStatus,
};

const USAGE: &str =
    "usage: operator [--region NAME] [--signing-zone ZONE] [--nameserver IP:PORT]... \
[--timeout SECS] [--interval SECS] [--key-spec rsa2048|rsa1024|ed25519] [--once] IDENTITY...";

struct Args {
    region: String,
    signing_zone: String,
    nameservers: Vec<SocketAddr>,
    timeout: Duration,
    interval: Duration,
    key_spec: KeySpec,
    once: bool,
    identities: Vec<String>,
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag} `{v}` is not a positive number of seconds"))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        region: "eu-west-1".into(),
        signing_zone: "dkim.mail.example.net".into(),
        nameservers: Vec::new(),
        timeout: Duration::from_secs(5),
        interval: Duration::from_secs(300),
        key_spec: KeySpec::Rsa2048,
        once: false,
        identities: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--region" => a.region = value()?,
            "--signing-zone" => a.signing_zone = value()?,
            "--nameserver" => {
                let v = value()?;
                a.nameservers.push(
                    v.parse()
                        .map_err(|_| format!("--nameserver `{v}` is not IP:PORT"))?,
                );
            }
            "--timeout" => a.timeout = seconds("--timeout", &value()?)?,
            "--interval" => a.interval = seconds("--interval", &value()?)?,
            "--key-spec" => {
                a.key_spec = match value()?.as_str() {
                    "rsa2048" => KeySpec::Rsa2048,
                    "rsa1024" => KeySpec::Rsa1024,
                    "ed25519" => KeySpec::Ed25519,
                    other => {
                        return Err(format!("--key-spec `{other}`: rsa2048, rsa1024 or ed25519"))
                    }
                }
            }
            "--once" => a.once = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with("--") => return Err(format!("unknown option `{other}`")),
            identity => a.identities.push(identity.to_string()),
        }
    }
    if a.identities.is_empty() {
        return Err("give at least one identity (a domain or an email address)".into());
    }
    Ok(a)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("operator: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("operator: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = RegistryConfig::new(&args.region, &args.signing_zone)?;
    config.key_spec = args.key_spec;
    let registry = IdentityRegistry::new(config);

    // 1-2. Create the identities and print what to publish.
    let now = unix_now();
    for name in &args.identities {
        if name.contains('@') {
            let (identity, token) = registry.create_email(name, now)?;
            println!(
                "== {}: email identity; confirmation token (mailed to the address): {token}\n",
                identity.name()
            );
            continue;
        }
        let identity = registry.create_domain(name, now)?;
        println!("== {}: records for the tenant (CSV)\n", identity.name());
        print!("{}", DnsRecord::to_csv(&registry.tenant_records(&identity)));
        println!(
            "\n== {}: records for the operator's zone\n",
            identity.name()
        );
        for r in registry.operator_records(&identity) {
            println!("{}", r.zone_line());
        }
        println!();
    }

    // 3. The loop.
    let dns = if args.nameservers.is_empty() {
        println!("Using the system's resolvers (/etc/resolv.conf).");
        HickoryDnsVerifier::from_system_conf()?
    } else {
        println!(
            "Asking {:?} (timeout {:?}).",
            args.nameservers, args.timeout
        );
        HickoryDnsVerifier::with_name_servers(&args.nameservers, args.timeout)?
    };
    let mut round = 0u64;
    loop {
        round += 1;
        let now = unix_now();
        let report = registry.refresh(&dns, now).await;
        println!(
            "\n== round {round}: {} identities checked, {} status changes",
            report.checked,
            report.events.len()
        );
        for e in &report.events {
            let why = e
                .last_error
                .map(|err| format!(" (last error: {err})"))
                .unwrap_or_default();
            println!(
                "event: {} {:?}: {} -> {}{why}",
                e.identity, e.check, e.from, e.to
            );
        }
        for (identity, step) in &report.rotations {
            println!("rotation: {identity}: {step:?}");
        }
        for identity in registry.list() {
            print_status(&identity);
            if needs_diagnosis(&identity) {
                for finding in registry.diagnose(identity.name(), &dns).await? {
                    println!("    finding: {finding}");
                }
            }
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(args.interval).await;
    }
}

fn print_status(identity: &Identity) {
    let last =
        |e: Option<easydkim::LastError>| e.map(|e| format!(", last error {e}")).unwrap_or_default();
    match identity.name() {
        IdentityName::Email(_) => {
            println!("{}: verification {}", identity.name(), identity.status())
        }
        IdentityName::Domain(_) => println!(
            "{}: verification {}{}; DKIM {}{}",
            identity.name(),
            identity.status(),
            last(identity.verification().last_error),
            identity.dkim_status(),
            last(identity.dkim_verification().last_error),
        ),
    }
}

/// A domain whose verification or DKIM is not (or no longer) Success.
fn needs_diagnosis(identity: &Identity) -> bool {
    identity.domain().is_some()
        && (identity.status() != VerificationStatus::Success
            || (identity.dkim().is_some() && identity.dkim_status() != VerificationStatus::Success))
}
