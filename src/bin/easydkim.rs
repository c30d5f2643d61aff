//! `easydkim`: the operator's command line (feature `cli`).
//!
//! ```text
//! cargo install easydkim --features cli
//! easydkim keygen --algorithm ed25519 --out sel1.pem      # key file (0600) + TXT record
//! easydkim testkey example.com sel1 --key sel1.pem         # does DNS publish this key?
//! easydkim sign --key sel1.pem --domain example.com --selector sel1 < in.eml > out.eml
//! easydkim verify [--dns-file ZONE] < out.eml
//! ```
//!
//! Results go to stdout, errors to stderr in one line (`easydkim: ...`, with their causes).
//! Exit status: 0 success, 1 a check failed (a signature that does not pass, a key that
//! does not match), 2 bad input (arguments, files, messages). `--json` prints one JSON
//! value for scripts. Log events of the library go to stderr, filtered by `RUST_LOG`
//! (e.g. `RUST_LOG=easydkim=debug`).

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use easydkim::{
    Canonicalizer, DnsVerifier, KeyRecord, KeySpec, Signer, SigningKey, StaticDns, Status,
    Verifier, VerifyOptions,
};

#[derive(Parser)]
#[command(
    name = "easydkim",
    version,
    about = "Easy DKIM: keys, DNS checks, signing and verification"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a signing key: writes the private key (PKCS#8 PEM, mode 0600) and prints
    /// the DKIM TXT record to publish at `<selector>._domainkey.<domain>`.
    Keygen {
        /// Key type and size.
        #[arg(long, value_enum, default_value_t = Algorithm::Rsa2048)]
        algorithm: Algorithm,
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// Print a JSON object instead of the record.
        #[arg(long)]
        json: bool,
    },
    /// Sign a message from stdin and write the signed message to stdout.
    Sign {
        /// Private key file (PEM or DER, PKCS#1 or PKCS#8, or a base64 Ed25519 seed).
        #[arg(long)]
        key: PathBuf,
        /// Signing domain (d=).
        #[arg(long, required_unless_present = "print_record")]
        domain: Option<String>,
        /// Selector (s=).
        #[arg(long, required_unless_present = "print_record")]
        selector: Option<String>,
        /// Canonicalization `header/body` (default relaxed/relaxed).
        #[arg(long)]
        canon: Option<String>,
        /// Header fields to sign, colon-separated.
        #[arg(long)]
        headers: Option<String>,
        /// Signature time (t=), Unix seconds (default now).
        #[arg(long)]
        time: Option<u64>,
        /// Expire the signature this many seconds after t= (x=).
        #[arg(long = "expire-secs")]
        expire_secs: Option<u64>,
        /// Agent or user identifier (i=).
        #[arg(long)]
        identity: Option<String>,
        /// Print the key's DNS TXT record and exit.
        #[arg(long)]
        print_record: bool,
    },
    /// Verify every DKIM-Signature of a message from stdin: one line per signature; exit 0
    /// only if there is at least one and all pass.
    Verify {
        /// Zone-file text to resolve key records from (otherwise the system's DNS).
        #[arg(long = "dns-file")]
        dns_file: Option<PathBuf>,
        /// Verify as of this Unix time.
        #[arg(long)]
        now: Option<u64>,
        /// Print a JSON array of results.
        #[arg(long)]
        json: bool,
    },
    /// Check that the key record published at `<selector>._domainkey.<domain>` is the
    /// public half of a private key (like opendkim-testkey): exit 0 if it is, 1 if not.
    Testkey {
        /// Signing domain.
        domain: String,
        /// Selector.
        selector: String,
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
        /// Zone-file text to resolve from (otherwise the system's DNS).
        #[arg(long = "dns-file")]
        dns_file: Option<PathBuf>,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Algorithm {
    Rsa1024,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    Ed25519,
}

impl Algorithm {
    fn spec(self) -> KeySpec {
        match self {
            Algorithm::Rsa1024 => KeySpec::Rsa1024,
            Algorithm::Rsa2048 => KeySpec::Rsa2048,
            Algorithm::Rsa3072 => KeySpec::Rsa3072,
            Algorithm::Rsa4096 => KeySpec::Rsa4096,
            Algorithm::Ed25519 => KeySpec::Ed25519,
        }
    }
}

/// How a command ended: its output, and whether its check passed.
struct Done {
    out: Vec<u8>,
    passed: bool,
}

/// A failure: bad input (exit 2), with the whole cause chain in one line.
struct Failure(String);

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

fn fail<T>(text: impl Into<String>) -> Result<T, Failure> {
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
            // clap's usage errors span lines; keep the first (the problem itself).
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("easydkim: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    init_logs();
    match run(cli.command) {
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

/// The library's events to stderr, filtered by `RUST_LOG` (nothing when it is unset).
fn init_logs() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn read_file(path: &PathBuf, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure(format!("cannot read {what} `{}`: {e}", path.display())))
}

fn load_key(path: &PathBuf) -> Result<SigningKey, Failure> {
    let bytes = read_file(path, "key file")?;
    SigningKey::load(&bytes).map_err(|e| {
        let Failure(t) = Failure::from(e);
        Failure(format!("key file `{}`: {t}", path.display()))
    })
}

/// The resolver: the zone file when given, else the system's DNS.
fn resolver(dns_file: &Option<PathBuf>) -> Result<Box<dyn DnsVerifier>, Failure> {
    match dns_file {
        Some(path) => {
            let text = String::from_utf8(read_file(path, "zone file")?)
                .map_err(|_| Failure(format!("zone file `{}` is not UTF-8", path.display())))?;
            let dns = StaticDns::from_zone(&text)
                .map_err(|e| Failure(format!("zone file `{}`: {e}", path.display())))?;
            Ok(Box::new(dns))
        }
        None => Ok(Box::new(
            easydkim::hickory::HickoryDnsVerifier::from_system_conf()?,
        )),
    }
}

fn json(value: serde_json::Value) -> Vec<u8> {
    let mut out = value.to_string().into_bytes();
    out.push(b'\n');
    out
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure(format!("cannot read stdin: {e}")))?;
    Ok(input)
}

fn run(command: Command) -> Result<Done, Failure> {
    match command {
        Command::Keygen {
            algorithm,
            out,
            force,
            json: as_json,
        } => keygen(algorithm, &out, force, as_json),
        Command::Sign {
            key,
            domain,
            selector,
            canon,
            headers,
            time,
            expire_secs,
            identity,
            print_record,
        } => {
            let key = load_key(&key)?;
            if print_record {
                return Ok(Done {
                    out: format!("{}\n", key.dns_record()).into_bytes(),
                    passed: true,
                });
            }
            let (Some(domain), Some(selector)) = (domain, selector) else {
                return fail("--domain and --selector are required");
            };
            let mut signer = Signer::new(key, &domain, &selector)?;
            if let Some(c) = canon {
                let c: Canonicalizer = c.parse()?;
                signer = signer.canonicalization(c);
            }
            if let Some(h) = headers {
                signer = signer.headers(h.split(':'))?;
            }
            signer = signer.signing_time(time).expire_after(expire_secs);
            if let Some(i) = identity {
                signer = signer.identity(Some(&i))?;
            }
            let input = read_stdin()?;
            let signed = signer.sign(&input)?;
            for w in &signed.warnings {
                eprintln!("easydkim: warning: {w}");
            }
            Ok(Done {
                out: signed.prepend_to(&input),
                passed: true,
            })
        }
        Command::Verify {
            dns_file,
            now,
            json: as_json,
        } => {
            let dns = resolver(&dns_file)?;
            let msg = read_stdin()?;
            let verifier = Verifier::new(VerifyOptions::default().with_now(now));
            let results = runtime()?.block_on(verifier.verify(&*dns, &msg))?;
            let passed = !results.is_empty() && results.iter().all(|r| r.status == Status::Pass);
            let out = if as_json {
                json(serde_json::Value::Array(
                    results
                        .iter()
                        .map(|r| {
                            serde_json::json!({
                                "status": r.status.to_string(),
                                "domain": r.domain,
                                "selector": r.selector,
                                "reason": r.reason.as_ref().map(|x| x.to_string()),
                            })
                        })
                        .collect(),
                ))
            } else if results.is_empty() {
                b"none: no DKIM-Signature\n".to_vec()
            } else {
                let mut text = String::new();
                for r in &results {
                    text.push_str(&format!(
                        "{} d={} s={}",
                        r.status,
                        r.domain.as_deref().unwrap_or("?"),
                        r.selector.as_deref().unwrap_or("?")
                    ));
                    if let Some(reason) = &r.reason {
                        text.push_str(&format!(" {reason}"));
                    }
                    text.push('\n');
                }
                text.into_bytes()
            };
            Ok(Done { out, passed })
        }
        Command::Testkey {
            domain,
            selector,
            key,
            dns_file,
            json: as_json,
        } => {
            let key = load_key(&key)?;
            let dns = resolver(&dns_file)?;
            let name = format!("{selector}._domainkey.{domain}");
            let answer = runtime()?.block_on(dns.txt(&name));
            let (passed, detail) = match answer {
                Err(e) => (false, format!("no key record at {name}: {e}")),
                Ok(records) => {
                    let public = key.public_key();
                    let parsed: Vec<_> = records.iter().map(|t| KeyRecord::parse(t)).collect();
                    if parsed
                        .iter()
                        .any(|r| matches!(r, Ok(r) if r.key.as_ref() == Some(&public)))
                    {
                        (true, format!("key OK: {name} publishes this key"))
                    } else if let Some(Err(e)) = parsed.iter().find(|r| r.is_err()) {
                        (false, format!("key record at {name} is invalid: {e}"))
                    } else {
                        (false, format!("key mismatch: {name} publishes another key"))
                    }
                }
            };
            let out = if as_json {
                json(serde_json::json!({"name": name, "match": passed, "detail": detail}))
            } else {
                format!("{detail}\n").into_bytes()
            };
            Ok(Done { out, passed })
        }
    }
}

fn keygen(
    algorithm: Algorithm,
    out: &PathBuf,
    force: bool,
    as_json: bool,
) -> Result<Done, Failure> {
    let key = SigningKey::generate(algorithm.spec())?;
    let pem = key.to_pkcs8_pem()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(out).map_err(|e| {
        Failure(format!(
            "cannot write key file `{}`: {e}{}",
            out.display(),
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                " (use --force to replace it)"
            } else {
                ""
            }
        ))
    })?;
    #[cfg(unix)]
    {
        // A replaced file keeps its old mode: make it private too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    let record = key.dns_record();
    let out_bytes = if as_json {
        json(serde_json::json!({
            "key_file": out.display().to_string(),
            "algorithm": key.algorithm().as_str(),
            "bits": key.bits(),
            "record": record,
        }))
    } else {
        format!("{record}\n").into_bytes()
    };
    Ok(Done {
        out: out_bytes,
        passed: true,
    })
}
