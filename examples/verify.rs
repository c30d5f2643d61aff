//! Verify every DKIM-Signature of a message from stdin.
//!
//! ```text
//! cargo run --release --example verify -- --dns-file ZONE [--now UNIX_SECONDS] < msg.eml
//! ```
//!
//! ZONE is zone-file text: what `DnsRecord::to_zone` prints (`name. IN TXT "..."`,
//! `name. IN CNAME target.`), standard zone-file syntax for TXT and CNAME, or
//! `NAME<TAB>TXT-VALUE` lines (`#` comments); a line it cannot read is bad input. Prints one line per signature,
//! `pass d=... s=...` or `<result> d=... s=... <reason>`; exits 0 only if there is at
//! least one signature and all pass, 1 otherwise, 2 on bad input.

use std::io::Read;
use std::process::ExitCode;

use easydkim::{StaticDns, Status, Verifier, VerifyOptions};

fn run() -> Result<bool, String> {
    let mut zone = None;
    let mut now = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dns-file" => zone = Some(args.next().ok_or("--dns-file needs a file")?),
            "--now" => {
                let v = args.next().ok_or("--now needs a value")?;
                now = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("--now `{v}` is not a number"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: verify --dns-file ZONE [--now T] < msg.eml"
                ))
            }
        }
    }
    let zone = zone.ok_or("missing --dns-file ZONE")?;
    let text = std::fs::read_to_string(&zone).map_err(|e| format!("cannot read `{zone}`: {e}"))?;
    let dns = StaticDns::from_zone(&text).map_err(|e| format!("`{zone}`: {e}"))?;
    let mut msg = Vec::new();
    std::io::stdin()
        .read_to_end(&mut msg)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let verifier = Verifier::new(VerifyOptions::default().with_now(now));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let results = rt
        .block_on(verifier.verify(&dns, &msg))
        .map_err(|e| e.to_string())?;
    if results.is_empty() {
        println!("none: no DKIM-Signature");
        return Ok(false);
    }
    let mut all = true;
    for r in &results {
        let d = r.domain.as_deref().unwrap_or("?");
        let s = r.selector.as_deref().unwrap_or("?");
        match &r.reason {
            None => println!("{} d={d} s={s}", r.status),
            Some(reason) => println!("{} d={d} s={s} {reason}", r.status),
        }
        all &= r.status == Status::Pass;
    }
    Ok(all)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("verify: {e}");
            ExitCode::from(2)
        }
    }
}
