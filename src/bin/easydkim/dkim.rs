//! The DKIM commands, usable without a registry: keygen, sign, verify, testkey.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use easydkim::{Canonicalizer, KeyRecord, Signer, SigningKey, Status, Verifier, VerifyOptions};

use crate::{
    fail, json, load_key, read_stdin, resolver, runtime, Algorithm, DnsArgs, Done, Failure,
};

#[derive(Args)]
pub(crate) struct KeygenArgs {
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
}

#[derive(Args)]
pub(crate) struct SignArgs {
    /// Private key file (PEM or DER, PKCS#1 or PKCS#8, or a base64 Ed25519 seed). Without
    /// it the registry signs (--store or --database): with the key of the most specific
    /// verified identity covering the From address, or not at all (exit 1, the message
    /// unchanged on stdout, the reason on stderr).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Signing domain (d=), with --key.
    #[arg(long, requires = "key")]
    domain: Option<String>,
    /// Selector (s=), with --key.
    #[arg(long, requires = "key")]
    selector: Option<String>,
    /// Canonicalization `header/body` (default relaxed/relaxed), with --key.
    #[arg(long, requires = "key")]
    canon: Option<String>,
    /// Header fields to sign, colon-separated, with --key.
    #[arg(long, requires = "key")]
    headers: Option<String>,
    /// Signature time (t=), Unix seconds (default now).
    #[arg(long)]
    time: Option<u64>,
    /// Expire the signature this many seconds after t= (x=), with --key.
    #[arg(long = "expire-secs", requires = "key")]
    expire_secs: Option<u64>,
    /// Agent or user identifier (i=), with --key.
    #[arg(long, requires = "key")]
    identity: Option<String>,
    /// Print the key's DNS TXT record and exit.
    #[arg(long, requires = "key")]
    print_record: bool,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    dns: DnsArgs,
    /// Verify as of this Unix time.
    #[arg(long)]
    now: Option<u64>,
    /// Print a JSON array of results.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct TestkeyArgs {
    /// Signing domain.
    domain: String,
    /// Selector.
    selector: String,
    /// The private key file.
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    dns: DnsArgs,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn sign(store: &crate::registry::StoreArgs, a: SignArgs) -> Result<Done, Failure> {
    let Some(key) = &a.key else {
        return runtime()?.block_on(crate::registry::sign(store, a.time));
    };
    let key = load_key(key)?;
    if a.print_record {
        return Ok(Done::ok(format!("{}\n", key.dns_record())));
    }
    let (Some(domain), Some(selector)) = (a.domain, a.selector) else {
        return fail("--domain and --selector are required with --key");
    };
    let mut signer = Signer::new(key, &domain, &selector)?;
    if let Some(c) = a.canon {
        let c: Canonicalizer = c.parse()?;
        signer = signer.canonicalization(c);
    }
    if let Some(h) = a.headers {
        signer = signer.headers(h.split(':'))?;
    }
    signer = signer.signing_time(a.time).expire_after(a.expire_secs);
    if let Some(i) = a.identity {
        signer = signer.identity(Some(&i))?;
    }
    let input = read_stdin()?;
    let signed = signer.sign(&input)?;
    for w in &signed.warnings {
        eprintln!("easydkim: warning: {w}");
    }
    Ok(Done::ok(signed.prepend_to(&input)))
}

pub(crate) fn verify(a: VerifyArgs) -> Result<Done, Failure> {
    let dns = resolver(&a.dns)?;
    let msg = read_stdin()?;
    let verifier = Verifier::new(VerifyOptions::default().with_now(a.now));
    let results = runtime()?.block_on(verifier.verify(&*dns, &msg))?;
    let passed = !results.is_empty() && results.iter().all(|r| r.status == Status::Pass);
    let out = if a.json {
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

pub(crate) fn testkey(a: TestkeyArgs) -> Result<Done, Failure> {
    let key = load_key(&a.key)?;
    let dns = resolver(&a.dns)?;
    let name = format!("{}._domainkey.{}", a.selector, a.domain);
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
    let out = if a.json {
        json(serde_json::json!({"name": name, "match": passed, "detail": detail}))
    } else {
        format!("{detail}\n").into_bytes()
    };
    Ok(Done { out, passed })
}

pub(crate) fn keygen(a: KeygenArgs) -> Result<Done, Failure> {
    let key = SigningKey::generate(a.algorithm.spec())?;
    let pem = key.to_pkcs8_pem()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if a.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let out = &a.out;
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
    Ok(Done::ok(if a.json {
        json(serde_json::json!({
            "key_file": out.display().to_string(),
            "algorithm": key.algorithm().as_str(),
            "bits": key.bits(),
            "record": record,
        }))
    } else {
        format!("{record}\n").into_bytes()
    }))
}
