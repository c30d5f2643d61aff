//! `easydkim`: the operator's command line (feature `cli`).
//!
//! ```text
//! cargo install easydkim --features cli
//! export EASYDKIM_STORE=/var/lib/easydkim/registry.json EASYDKIM_SIGNING_ZONE=dkim.mail.example.net
//! easydkim identity create example.com                   # the records to publish
//! easydkim records example.com --zone                     # as zone-file lines
//! easydkim refresh                                        # DNS checks, status changes
//! easydkim diagnose example.com                           # what is wrong, how to fix it
//! easydkim keygen --algorithm ed25519 --out sel1.pem      # key file (0600) + TXT record
//! easydkim testkey example.com sel1 --key sel1.pem         # does DNS publish this key?
//! easydkim sign --key sel1.pem --domain example.com --selector sel1 < in.eml > out.eml
//! easydkim verify [--dns-file ZONE] < out.eml
//! ```
//!
//! Results go to stdout, errors to stderr in one line (`easydkim: ...`, with their causes).
//! Exit status: 0 success, 1 a check failed (a signature that does not pass, a key that
//! does not match, a setup with findings), 2 bad input (arguments, files, messages, unknown
//! identities) or a store that cannot be used. `--json` prints one JSON value for scripts.
//! Log events of the library go to stderr, filtered by `RUST_LOG` (e.g.
//! `RUST_LOG=easydkim=debug`).

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use easydkim::{DnsVerifier, KeySpec, SigningKey, StaticDns};

mod dkim;
mod registry;

#[derive(Parser)]
#[command(
    name = "easydkim",
    version,
    about = "Easy DKIM: identities, DNS records and checks, keys, signing and verification",
    after_help = "Registry commands (identity, records, signing, rotate, key-length, refresh, \
                  diagnose, and sign without --key) work on the registry named by --store \
                  (or --database, with the postgres feature) and --signing-zone, or the \
                  EASYDKIM_* variables."
)]
struct Cli {
    #[command(flatten)]
    store: registry::StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a signing key: writes the private key (PKCS#8 PEM, mode 0600) and prints
    /// the DKIM TXT record to publish at `<selector>._domainkey.<domain>`.
    Keygen(dkim::KeygenArgs),
    /// Sign a message from stdin and write the signed message to stdout: with --key, or
    /// through the registry (the key of the most specific verified identity covering From).
    Sign(dkim::SignArgs),
    /// Verify every DKIM-Signature of a message from stdin: one line per signature; exit 0
    /// only if there is at least one and all pass.
    Verify(dkim::VerifyArgs),
    /// Check that the key record published at `<selector>._domainkey.<domain>` is the
    /// public half of a private key (like opendkim-testkey): exit 0 if it is, 1 if not.
    Testkey(dkim::TestkeyArgs),
    /// Identities of the registry: create, list, show, delete, confirm.
    Identity {
        #[command(subcommand)]
        action: registry::IdentityCommand,
    },
    /// The DNS records of an identity: what the tenant publishes in its zone and what the
    /// operator publishes in the signing zone.
    Records(registry::RecordsArgs),
    /// Turn DKIM signing of an identity on or off.
    Signing {
        #[command(subcommand)]
        action: registry::SigningCommand,
    },
    /// Move the key rotation of an Easy DKIM domain one step; prints the record changes
    /// for the signing zone.
    Rotate(registry::RotateArgs),
    /// Set the key type and size an identity's next key gets (takes effect through
    /// rotation).
    KeyLength(registry::KeyLengthArgs),
    /// Check every identity's records in DNS and move their statuses; prints the changes.
    Refresh(registry::RefreshArgs),
    /// Look up an identity's records and explain what is wrong with them: exit 0 when
    /// nothing is, 1 with findings.
    Diagnose(registry::DiagnoseArgs),
}

/// Key types and sizes.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Algorithm {
    Rsa1024,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    Ed25519,
}

impl Algorithm {
    pub(crate) fn spec(self) -> KeySpec {
        match self {
            Algorithm::Rsa1024 => KeySpec::Rsa1024,
            Algorithm::Rsa2048 => KeySpec::Rsa2048,
            Algorithm::Rsa3072 => KeySpec::Rsa3072,
            Algorithm::Rsa4096 => KeySpec::Rsa4096,
            Algorithm::Ed25519 => KeySpec::Ed25519,
        }
    }
}

/// Where DNS answers come from.
#[derive(Args)]
pub(crate) struct DnsArgs {
    /// Zone-file text to resolve from, instead of DNS.
    #[arg(long = "dns-file", conflicts_with = "nameserver")]
    dns_file: Option<PathBuf>,
    /// Ask this name server (IP or IP:PORT; repeatable) instead of the system's resolvers.
    #[arg(long, value_name = "ADDR")]
    nameserver: Vec<String>,
}

/// How a command ended: its output, and whether its check passed.
pub(crate) struct Done {
    pub(crate) out: Vec<u8>,
    pub(crate) passed: bool,
}

impl Done {
    pub(crate) fn ok(out: impl Into<Vec<u8>>) -> Done {
        Done {
            out: out.into(),
            passed: true,
        }
    }
}

/// A failure: bad input or an unusable store (exit 2), with the whole cause chain in one
/// line.
pub(crate) struct Failure(pub(crate) String);

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let part = s.to_string();
            if !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            source = s.source();
        }
        Failure(text)
    }
}

pub(crate) fn fail<T>(text: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(text.into()))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprint!("{e}");
                return ExitCode::from(2);
            }
            // clap's usage errors span lines: keep the problem (the lines before the usage
            // and hints), on one line.
            let text = e.to_string();
            let problem: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let problem = problem.join(" ");
            let problem = problem.trim_start_matches("error: ");
            eprintln!(
                "easydkim: {} (see --help)",
                if problem.is_empty() {
                    "invalid arguments"
                } else {
                    problem
                }
            );
            return ExitCode::from(2);
        }
    };
    init_logs();
    match run(cli) {
        Ok(done) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(&done.out)
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return ExitCode::from(2);
            }
            if done.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(Failure(text)) => {
            eprintln!("easydkim: {}", text.replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<Done, Failure> {
    match cli.command {
        Command::Keygen(a) => dkim::keygen(a),
        Command::Sign(a) => dkim::sign(&cli.store, a),
        Command::Verify(a) => dkim::verify(a),
        Command::Testkey(a) => dkim::testkey(a),
        Command::Identity { action } => runtime()?.block_on(registry::identity(&cli.store, action)),
        Command::Records(a) => runtime()?.block_on(registry::records(&cli.store, a)),
        Command::Signing { action } => runtime()?.block_on(registry::signing(&cli.store, action)),
        Command::Rotate(a) => runtime()?.block_on(registry::rotate(&cli.store, a)),
        Command::KeyLength(a) => runtime()?.block_on(registry::key_length(&cli.store, a)),
        Command::Refresh(a) => runtime()?.block_on(registry::refresh(&cli.store, a)),
        Command::Diagnose(a) => runtime()?.block_on(registry::diagnose(&cli.store, a)),
    }
}

/// The library's events to stderr, filtered by `RUST_LOG` (nothing when it is unset).
fn init_logs() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        use std::io::IsTerminal;
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            // Colours for a terminal only: a log file or pipe gets plain text.
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure(format!("cannot read {what} `{}`: {e}", path.display())))
}

pub(crate) fn load_key(path: &Path) -> Result<SigningKey, Failure> {
    let bytes = read_file(path, "key file")?;
    SigningKey::load(&bytes).map_err(|e| {
        let Failure(t) = Failure::from(e);
        Failure(format!("key file `{}`: {t}", path.display()))
    })
}

/// The resolver: the zone file, the given name servers, or the system's DNS.
pub(crate) fn resolver(dns: &DnsArgs) -> Result<Box<dyn DnsVerifier>, Failure> {
    if let Some(path) = &dns.dns_file {
        let text = String::from_utf8(read_file(path, "zone file")?)
            .map_err(|_| Failure(format!("zone file `{}` is not UTF-8", path.display())))?;
        let zone = StaticDns::from_zone(&text)
            .map_err(|e| Failure(format!("zone file `{}`: {e}", path.display())))?;
        return Ok(Box::new(zone));
    }
    if dns.nameserver.is_empty() {
        return Ok(Box::new(
            easydkim::hickory::HickoryDnsVerifier::from_system_conf()?,
        ));
    }
    let servers = dns
        .nameserver
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| Failure(format!("--nameserver `{s}`: not an IP address or IP:PORT")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(
        easydkim::hickory::HickoryDnsVerifier::with_name_servers(&servers, Duration::from_secs(5))?,
    ))
}

pub(crate) fn json(value: serde_json::Value) -> Vec<u8> {
    let mut out = value.to_string().into_bytes();
    out.push(b'\n');
    out
}

pub(crate) fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure(format!("cannot read stdin: {e}")))?;
    Ok(input)
}
