//! Interop with the DKIM implementations receivers run: dkimpy, OpenDKIM and Mail::DKIM.
//!
//! These tests are `#[ignore]`d so that a plain `cargo test` needs nothing installed;
//! `.ci/run` installs the verifiers (`tests/interop/install.sh`) and runs them with
//! `cargo test --test it -- --ignored interop` and `EASYDKIM_INTEROP=1`, under which a missing
//! verifier is a failure, never a skip. The scripts in `tests/interop/` drive each tool
//! offline (keys come from a zone file) and print one line per signature.
//!
//! Messages are handed to other implementations as an MTA would put them on the wire: every
//! bare LF becomes CRLF and the message ends with CRLF (Mail::DKIM only understands CRLF,
//! see tests/interop/README.md). Known defects of the other implementations are skipped
//! case by case with the reason counted and printed, never silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use easydkim::{
    sign_all, Canonicalization, Canonicalizer, DnsVerifier, IdentityRegistry, KeySpec, Message,
    RecordType, RegistryConfig, Signer, StaticDns, Status, TenantSignature, Verifier,
    VerifyOptions,
};

use crate::support::{block_on, to_wire, tools_present};
use crate::{key, messages};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tool {
    Dkimpy,
    OpenDkim,
    MailDkim,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Dkimpy, Tool::OpenDkim, Tool::MailDkim];

    fn name(self) -> &'static str {
        match self {
            Tool::Dkimpy => "dkimpy",
            Tool::OpenDkim => "OpenDKIM",
            Tool::MailDkim => "Mail::DKIM",
        }
    }

    fn verify_script(self) -> &'static str {
        match self {
            Tool::Dkimpy => "dkimpy_verify.py",
            Tool::OpenDkim => "opendkim_verify.sh",
            Tool::MailDkim => "maildkim_verify.pl",
        }
    }

    /// Whether the tool is installed.
    fn available(self) -> bool {
        let ok = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        match self {
            Tool::Dkimpy => ok("/usr/bin/python3", &["-c", "import dkim, nacl.signing"]),
            Tool::OpenDkim => {
                Path::new("/usr/sbin/opendkim").exists() && ok("/usr/bin/python3", &["-c", "1"])
            }
            Tool::MailDkim => ok("perl", &["-MMail::DKIM::Verifier", "-MNet::DNS", "-e", "1"]),
        }
    }
}

/// Checks that every tool is installed. Without `EASYDKIM_INTEROP=1` a missing tool skips
/// the test loudly; with it, a missing tool fails the test.
fn tools_or_skip(tools: &[Tool]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|t| !t.available())
        .map(|t| t.name())
        .collect();
    tools_present("interop verifier", &missing, "tests/interop/install.sh")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("easydkim-interop-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a verifier script; returns (all passed, stdout).
fn run_verifier(tool: Tool, zone: &Path, msg: &Path) -> (bool, String) {
    let out = Command::new(script(tool.verify_script()))
        // OpenDKIM evaluates only its first few signatures in one pass: check each signature
        // alone (the script removes the others from a temporary copy).
        .env("OPENDKIM_VERIFY_MODE", "isolate")
        .arg(zone)
        .arg(msg)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.verify_script()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all_pass = out.status.code() == Some(0)
        && !stdout.is_empty()
        && stdout.lines().all(|l| l.starts_with("pass "));
    (all_pass, format!("{stdout}{stderr}"))
}

fn zone_line(name: &str, value: &str) -> String {
    format!("{name}\t{value}\n")
}

fn foreign_zone() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/messages/foreign.zone"),
    )
    .unwrap()
}

/// Header fields whose name is followed by whitespace before the colon (`Subject : x`).
fn has_wsp_before_colon(msg: &Message<'_>) -> bool {
    msg.fields()
        .iter()
        .any(|f| f.raw().len() > f.name().len() && matches!(f.raw()[f.name().len()], b' ' | b'\t'))
}

/// Header fields whose value does not start with exactly one space and a visible character.
fn has_unusual_space_after_colon(msg: &Message<'_>) -> bool {
    msg.fields().iter().any(|f| {
        let v = f.value();
        !(v.len() >= 2 && v[0] == b' ' && !matches!(v[1], b' ' | b'\t' | b'\r' | b'\n'))
    })
}

fn body_has_bare_cr(msg: &Message<'_>) -> bool {
    let b = msg.body();
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'))
}

/// Why `tool` cannot judge a signature with `canon` over `msg`, if it cannot: known defects
/// of the installed versions, each shown by tests/interop/selftest.py.
fn known_defect(
    tool: Tool,
    msg: &Message<'_>,
    canon: Canonicalizer,
    ed25519: bool,
) -> Option<&'static str> {
    use Canonicalization::*;
    match tool {
        Tool::MailDkim if ed25519 => Some("Mail::DKIM 1.20230212 has no Ed25519"),
        Tool::Dkimpy | Tool::OpenDkim if has_wsp_before_colon(msg) => {
            Some("cannot parse whitespace between field name and colon")
        }
        Tool::OpenDkim if canon.header == Simple && has_unusual_space_after_colon(msg) => {
            Some("OpenDKIM's milter path normalises whitespace after the colon (simple header)")
        }
        Tool::OpenDkim if canon.body == Relaxed && body_has_bare_cr(msg) => {
            Some("OpenDKIM drops a lone CR in relaxed body canonicalization")
        }
        _ => None,
    }
}

struct Job {
    label: String,
    file: PathBuf,
    zone: PathBuf,
    tools: Vec<Tool>,
}

#[derive(Default)]
struct Tally {
    verified: BTreeMap<&'static str, usize>,
    skipped: BTreeMap<String, usize>,
    failures: Vec<String>,
}

/// Runs the jobs on a few threads (the scripts are mostly process start-up).
fn run_jobs(jobs: Vec<Job>, tally: &Mutex<Tally>) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                for &tool in &job.tools {
                    let (ok, out) = run_verifier(tool, &job.zone, &job.file);
                    let mut t = tally.lock().unwrap();
                    if ok {
                        *t.verified.entry(tool.name()).or_default() += 1;
                    } else {
                        t.failures.push(format!(
                            "{} under {}: {}",
                            job.label,
                            tool.name(),
                            out.trim()
                        ));
                    }
                }
            });
        }
    });
}

fn canons() -> Vec<Canonicalizer> {
    use Canonicalization::*;
    vec![
        Canonicalizer::new(Simple, Simple),
        Canonicalizer::new(Simple, Relaxed),
        Canonicalizer::new(Relaxed, Simple),
        Canonicalizer::new(Relaxed, Relaxed),
    ]
}

const KEYS: [(&str, &str); 3] = [
    ("rsa1024", "rsa1024.pem"),
    ("rsa2048", "rsa2048.pem"),
    ("ed25519", "ed25519.pem"),
];

#[test]
#[ignore = "needs dkimpy, OpenDKIM and Mail::DKIM (tests/interop/install.sh); run by .ci/run"]
fn interop_our_signatures_verify_everywhere() {
    if !tools_or_skip(&Tool::ALL) {
        return;
    }
    let dir = work_dir("ours");
    let mut zone = foreign_zone();
    let mut signers = Vec::new();
    for (name, file) in KEYS {
        let k = key(file);
        for c in canons() {
            let sel = format!("{name}-{}-{}", c.header, c.body);
            zone.push_str(&zone_line(
                &format!("{sel}._domainkey.example.com"),
                &k.dns_record(),
            ));
            let s = Signer::new(k.clone(), "example.com", &sel)
                .unwrap()
                .canonicalization(c)
                .signing_time(Some(easydkim::unix_now() - 60));
            signers.push((name, c, s));
        }
    }
    let zone_path = dir.join("zone");
    std::fs::write(&zone_path, &zone).unwrap();

    let tally = Mutex::new(Tally::default());
    let mut jobs = Vec::new();
    for (msg_name, raw) in messages() {
        let parsed = Message::parse(&raw).unwrap();
        for (key_name, c, s) in &signers {
            let signed = s.sign_message(&raw).unwrap();
            let label = format!("{msg_name} {key_name} c={c}");
            let file = dir.join(format!("{}.eml", label.replace([' ', '/', '='], "_")));
            std::fs::write(&file, to_wire(&signed)).unwrap();
            let mut tools = Vec::new();
            for tool in Tool::ALL {
                match known_defect(tool, &parsed, *c, *key_name == "ed25519") {
                    Some(why) => {
                        *tally
                            .lock()
                            .unwrap()
                            .skipped
                            .entry(format!("{}: {why}", tool.name()))
                            .or_default() += 1
                    }
                    None => tools.push(tool),
                }
            }
            jobs.push(Job {
                label,
                file,
                zone: zone_path.clone(),
                tools,
            });
        }
    }

    // The multiple-signature case: all twelve signatures on one message, in one pass.
    let all: Vec<&Signer> = signers.iter().map(|(_, _, s)| s).collect();
    for (msg_name, raw) in messages()
        .into_iter()
        .filter(|(n, _)| n.starts_with("01") || n.starts_with("19"))
    {
        let signed = sign_all(&all, &raw).unwrap().prepend_to(&raw);
        let file = dir.join(format!("multi-{msg_name}"));
        std::fs::write(&file, to_wire(&signed)).unwrap();
        jobs.push(Job {
            label: format!("{msg_name} with 12 signatures"),
            file,
            zone: zone_path.clone(),
            // Mail::DKIM reports the Ed25519 ones as unsupported.
            tools: vec![Tool::Dkimpy, Tool::OpenDkim],
        });
    }

    run_jobs(jobs, &tally);
    let t = tally.into_inner().unwrap();
    report("our signatures", &t);
    assert!(
        t.failures.is_empty(),
        "{} failures:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn report(what: &str, t: &Tally) {
    let total: usize = t.verified.values().sum();
    eprintln!(
        "interop ({what}): {total} signature checks passed: {:?}",
        t.verified
    );
    for (why, n) in &t.skipped {
        eprintln!("  skipped {n}: {why}");
    }
}

fn verify_ours(dns: &StaticDns, msg: &[u8]) -> Vec<Status> {
    block_on(Verifier::new(VerifyOptions::default()).verify(dns, msg))
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect()
}

/// Flips one octet of the body (or of the Subject when there is no body).
fn tamper(msg: &[u8]) -> Vec<u8> {
    let mut out = msg.to_vec();
    let parsed = Message::parse(msg).unwrap();
    let body_start = msg.len() - parsed.body().len();
    let pos = (body_start..msg.len())
        .find(|&i| msg[i].is_ascii_alphanumeric())
        .or_else(|| {
            msg.windows(8)
                .position(|w| w.eq_ignore_ascii_case(b"subject:"))
                .map(|p| p + 9)
        })
        .expect("something to tamper with");
    out[pos] = if out[pos] == b'x' { b'y' } else { b'x' };
    out
}

#[test]
#[ignore = "needs dkimpy and OpenDKIM (tests/interop/install.sh); run by .ci/run"]
fn interop_their_signatures_verify_under_ours_and_tampering_fails_everywhere() {
    if !tools_or_skip(&Tool::ALL) {
        return;
    }
    use Canonicalization::*;
    let dir = work_dir("theirs");
    let keys_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keys");
    let mut zone_text = foreign_zone();
    for (name, file) in KEYS {
        zone_text.push_str(&zone_line(
            &format!("{name}._domainkey.example.com"),
            &key(file).dns_record(),
        ));
    }
    let zone_path = dir.join("zone");
    std::fs::write(&zone_path, &zone_text).unwrap();
    let dns = StaticDns::from_zone(&zone_text).unwrap();

    let mut checked = 0usize;
    let mut tampered_checked = 0usize;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let combos = [
        ("rsa2048", Canonicalizer::new(Relaxed, Relaxed)),
        ("rsa2048", Canonicalizer::new(Simple, Simple)),
        ("ed25519", Canonicalizer::new(Relaxed, Simple)),
        ("rsa1024", Canonicalizer::new(Simple, Relaxed)),
    ];
    for (signer_tool, signer_script) in [
        (Tool::Dkimpy, "dkimpy_sign.py"),
        (Tool::OpenDkim, "opendkim_sign.sh"),
    ] {
        for (msg_name, raw) in messages() {
            let wire = to_wire(&raw);
            let parsed = Message::parse(&wire).unwrap();
            let input = dir.join(format!("in-{msg_name}"));
            std::fs::write(&input, &wire).unwrap();
            for (key_name, c) in combos {
                if let Some(why) = known_defect(signer_tool, &parsed, c, false) {
                    *skipped
                        .entry(format!("{} signing: {why}", signer_tool.name()))
                        .or_default() += 1;
                    continue;
                }
                let label = format!(
                    "{msg_name} signed by {} {key_name} c={c}",
                    signer_tool.name()
                );
                let out = Command::new(script(signer_script))
                    .arg(keys_dir.join(format!("{key_name}.pem")))
                    .args(["example.com", key_name, &c.to_string()])
                    .arg(&input)
                    .output()
                    .unwrap();
                if !out.status.success() {
                    failures.push(format!(
                        "{label}: signer failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                    continue;
                }
                let signed = out.stdout;
                let ours = verify_ours(&dns, &signed);
                // The third-party signature of message 18 is verified too.
                if ours.is_empty() || ours.iter().any(|s| *s != Status::Pass) {
                    failures.push(format!("{label}: our verifier says {ours:?}"));
                    continue;
                }
                checked += 1;
                // Tampered copies fail under ours and under the signer's own verifier.
                if msg_name.starts_with("0") || msg_name.starts_with("19") {
                    let bad = tamper(&signed);
                    let ours = verify_ours(&dns, &bad);
                    if !ours.contains(&Status::Fail) {
                        failures.push(format!(
                            "{label}: tampered copy not failed by ours: {ours:?}"
                        ));
                    }
                    let bad_path = dir.join("tampered.eml");
                    std::fs::write(&bad_path, &bad).unwrap();
                    let (pass, text) = run_verifier(signer_tool, &zone_path, &bad_path);
                    if pass {
                        failures.push(format!(
                            "{label}: tampered copy passed {}: {text}",
                            signer_tool.name()
                        ));
                    }
                    tampered_checked += 1;
                }
            }
        }
    }
    eprintln!(
        "interop (their signatures): {checked} verified by easydkim, {tampered_checked} tampered copies failed under both"
    );
    for (why, n) in &skipped {
        eprintln!("  skipped {n}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore = "needs dkimpy, OpenDKIM and Mail::DKIM (tests/interop/install.sh); run by .ci/run"]
fn interop_registry_mail_is_accepted() {
    if !tools_or_skip(&Tool::ALL) {
        return;
    }
    // An identity set up through the public API alone; its records (tenant CNAMEs into the
    // operator zone, operator key TXTs) are served to the other verifiers flattened, as a
    // resolver following the CNAMEs would.
    let now = easydkim::unix_now() - 600;
    let mut config = RegistryConfig::new("eu-west-1", "dkim.operator.example.net").unwrap();
    config.key_spec = KeySpec::Rsa2048;
    let op = Signer::new(key("rsa1024.pem"), "operator.example.net", "op1")
        .unwrap()
        .signing_time(Some(now));
    config.operator_signer = Some(op);
    let registry = IdentityRegistry::new(config);
    let identity = registry.create_domain("example.com", now).unwrap();
    let dns = StaticDns::new();
    for r in registry
        .tenant_records(&identity)
        .iter()
        .chain(&registry.operator_records(&identity))
    {
        match r.record_type {
            RecordType::Cname => dns.add_cname(&r.name, &r.value),
            RecordType::Txt => dns.add_txt(&r.name, &r.value),
        }
    }
    dns.add_txt(
        "op1._domainkey.operator.example.net",
        &key("rsa1024.pem").dns_record(),
    );
    block_on(registry.refresh(&dns, now + 60));

    let dir = work_dir("registry");
    let mut zone = String::new();
    let mut jobs = Vec::new();
    for (msg_name, raw) in messages().into_iter().filter(|(n, _)| !n.starts_with("18")) {
        let outcome = registry.sign_at(&raw, now + 120).unwrap();
        let TenantSignature::Signed(choice) = &outcome.tenant else {
            panic!("{msg_name}: not signed: {:?}", outcome.tenant);
        };
        let name = format!("{}._domainkey.{}", choice.selector, choice.domain);
        if !zone.contains(&name) {
            let txt = block_on(dns.txt(&name)).unwrap();
            zone.push_str(&zone_line(&name, &txt[0]));
            zone.push_str(&zone_line(
                "op1._domainkey.operator.example.net",
                &key("rsa1024.pem").dns_record(),
            ));
        }
        let parsed = Message::parse(&raw).unwrap();
        let file = dir.join(&msg_name);
        std::fs::write(&file, to_wire(&outcome.message)).unwrap();
        let c = Canonicalizer::default();
        jobs.push(Job {
            label: format!("{msg_name} via registry"),
            file,
            zone: dir.join("zone"),
            tools: Tool::ALL
                .into_iter()
                .filter(|&t| known_defect(t, &parsed, c, false).is_none())
                .collect(),
        });
    }
    std::fs::write(dir.join("zone"), &zone).unwrap();
    let tally = Mutex::new(Tally::default());
    run_jobs(jobs, &tally);
    let t = tally.into_inner().unwrap();
    report("registry mail, tenant + operator signatures", &t);
    assert!(
        t.failures.is_empty(),
        "{} failures:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(dir);
}
