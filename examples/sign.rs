//! Sign a message from stdin and write the signed message to stdout.
//!
//! ```text
//! cargo run --release --example sign -- --key FILE --domain D --selector S
//!     [--canon H/B] [--headers a:b:c] [--time UNIX_SECONDS] [--expire-secs N]
//!     [--identity I] [--print-record] < in.eml > out.eml
//! ```
//!
//! The algorithm follows from the key (RSA or Ed25519, any format `SigningKey::load` reads).
//! `--print-record` prints the public-key TXT value and exits. On bad input: one line on
//! stderr naming the problem, exit status 2, nothing on stdout.

use std::io::{Read, Write};
use std::process::ExitCode;

use easydkim::{Canonicalizer, Signer, SigningKey};

const USAGE: &str =
    "usage: sign --key FILE --domain D --selector S [--canon H/B] [--headers a:b:c] \
[--time UNIX_SECONDS] [--expire-secs N] [--identity I] [--print-record] < in.eml > out.eml";

#[derive(Default)]
struct Args {
    key: Option<String>,
    domain: Option<String>,
    selector: Option<String>,
    canon: Option<String>,
    headers: Option<String>,
    time: Option<u64>,
    expire: Option<u64>,
    identity: Option<String>,
    print_record: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--key" => a.key = Some(value()?),
            "--domain" => a.domain = Some(value()?),
            "--selector" => a.selector = Some(value()?),
            "--canon" => a.canon = Some(value()?),
            "--headers" => a.headers = Some(value()?),
            "--time" => {
                let v = value()?;
                a.time = Some(
                    v.parse()
                        .map_err(|_| format!("--time `{v}` is not a number of seconds"))?,
                )
            }
            "--expire-secs" => {
                let v = value()?;
                a.expire = Some(
                    v.parse()
                        .map_err(|_| format!("--expire-secs `{v}` is not a number"))?,
                )
            }
            "--identity" => a.identity = Some(value()?),
            "--print-record" => a.print_record = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    Ok(a)
}

fn run() -> Result<Vec<u8>, String> {
    let a = parse_args()?;
    let key_path = a.key.ok_or("missing --key FILE")?;
    let key_bytes =
        std::fs::read(&key_path).map_err(|e| format!("cannot read key file `{key_path}`: {e}"))?;
    let key = SigningKey::load(&key_bytes).map_err(|e| format!("key file `{key_path}`: {e}"))?;
    if a.print_record {
        return Ok(format!("{}\n", key.dns_record()).into_bytes());
    }
    let domain = a.domain.ok_or("missing --domain D")?;
    let selector = a.selector.ok_or("missing --selector S")?;
    let mut signer = Signer::new(key, &domain, &selector).map_err(|e| e.to_string())?;
    if let Some(c) = a.canon {
        let c: Canonicalizer = c
            .parse()
            .map_err(|e: easydkim::CanonicalizationParseError| e.to_string())?;
        signer = signer.canonicalization(c);
    }
    if let Some(h) = a.headers {
        signer = signer.headers(h.split(':')).map_err(|e| e.to_string())?;
    }
    signer = signer.signing_time(a.time).expire_after(a.expire);
    if let Some(i) = a.identity {
        signer = signer.identity(Some(&i)).map_err(|e| e.to_string())?;
    }
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let signed = signer.sign(&input).map_err(|e| e.to_string())?;
    for w in &signed.warnings {
        eprintln!("warning: {w}");
    }
    Ok(signed.prepend_to(&input))
}

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sign: {e}");
            ExitCode::from(2)
        }
    }
}
