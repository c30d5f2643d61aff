//! `easydkim sign` and `easydkim verify` with a key file and a zone file (feature `cli`):
//! the exact interface and exit codes of the former `sign` and `verify` examples, which
//! the command replaced.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(name: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_easydkim"))
        .arg(name)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may exit before reading stdin (bad arguments): a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn key_path(name: &str) -> String {
    format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

const MSG: &[u8] = b"From: a@example.com\nTo: b@example.org\nSubject: cli\n\nbody\n";

#[test]
fn sign_then_verify_through_the_tools() {
    let key = key_path("ed25519.pem");
    let rec = run("sign", &["--key", &key, "--print-record"], b"");
    assert!(rec.status.success());
    let record = String::from_utf8(rec.stdout).unwrap();
    assert!(record.starts_with("v=DKIM1; k=ed25519; p="), "{record}");

    let out = run(
        "sign",
        &[
            "--key",
            &key,
            "--domain",
            "example.com",
            "--selector",
            "cli",
            "--canon",
            "simple/relaxed",
            "--headers",
            "from:to:subject",
            "--time",
            "1700000000",
            "--expire-secs",
            "3600",
            "--identity",
            "a@example.com",
        ],
        MSG,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = out.stdout;
    assert!(signed.ends_with(MSG));
    let text = String::from_utf8_lossy(&signed).replace("\n ", "");
    for tag in [
        "c=simple/relaxed;",
        "h=from:to:subject;",
        "t=1700000000;",
        "x=1700003600;",
        "i=a@example.com;",
    ] {
        assert!(text.contains(tag), "{tag} missing in {text}");
    }

    let zone = std::env::temp_dir().join(format!("easydkim-cli-{}.zone", std::process::id()));
    std::fs::write(
        &zone,
        format!("cli._domainkey.example.com\t{}", record.trim()),
    )
    .unwrap();
    let zone = zone.to_str().unwrap();
    let v = run(
        "verify",
        &["--dns-file", zone, "--now", "1700000100"],
        &signed,
    );
    assert_eq!(
        String::from_utf8_lossy(&v.stdout),
        "pass d=example.com s=cli\n"
    );
    assert!(v.status.success());
    let mut tampered = signed.clone();
    let n = tampered.len();
    tampered[n - 2] = b'X';
    let v = run(
        "verify",
        &["--dns-file", zone, "--now", "1700000100"],
        &tampered,
    );
    assert_eq!(v.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v.stdout)
        .starts_with("fail d=example.com s=cli body hash mismatch"));

    // Standard zone syntax (what `DnsRecord::to_zone` prints) reads the same.
    let strings: Vec<String> = easydkim::DnsRecord::split_txt(record.trim())
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    std::fs::write(
        zone,
        format!(
            "$ORIGIN example.com.\ncli._domainkey 300 IN TXT ( {} ) ; key\n",
            strings.join("\n  ")
        ),
    )
    .unwrap();
    let v = run(
        "verify",
        &["--dns-file", zone, "--now", "1700000100"],
        &signed,
    );
    assert_eq!(
        String::from_utf8_lossy(&v.stdout),
        "pass d=example.com s=cli\n",
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );

    // A line it cannot read is bad input (exit 2, one line naming it), not a missing key.
    std::fs::write(
        zone,
        format!("cli._domainkey.example.com {}\n", record.trim()),
    )
    .unwrap();
    let v = run(
        "verify",
        &["--dns-file", zone, "--now", "1700000100"],
        &signed,
    );
    assert_eq!(v.status.code(), Some(2));
    assert!(v.stdout.is_empty());
    let err = String::from_utf8_lossy(&v.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("zone line 1"), "{err}");
    let _ = std::fs::remove_file(zone);
}

#[test]
fn sign_bad_input_is_one_line_exit_2_nothing_on_stdout() {
    let key = key_path("ed25519.pem");
    let cases: Vec<(Vec<&str>, &[u8], &str)> = vec![
        (
            vec!["--domain", "example.com", "--selector", "s"],
            MSG,
            "required arguments were not provided: --key",
        ),
        (
            vec![
                "--key",
                "/nonexistent/key.pem",
                "--domain",
                "example.com",
                "--selector",
                "s",
            ],
            MSG,
            "cannot read key file",
        ),
        (
            vec!["--key", &key, "--domain", "bad domain", "--selector", "s"],
            MSG,
            "invalid signing domain",
        ),
        (
            vec![
                "--key",
                &key,
                "--domain",
                "example.com",
                "--selector",
                "s",
                "--canon",
                "loose",
            ],
            MSG,
            "invalid canonicalization",
        ),
        (
            vec![
                "--key",
                &key,
                "--domain",
                "example.com",
                "--selector",
                "s",
                "--time",
                "soon",
            ],
            MSG,
            "--time",
        ),
        (
            vec!["--key", &key, "--domain", "example.com", "--selector", "s"],
            b"To: x@example.com\n\nno from\n",
            "no From header",
        ),
        (
            vec![
                "--key",
                &key,
                "--domain",
                "example.com",
                "--selector",
                "s",
                "--bogus",
            ],
            MSG,
            "unexpected argument '--bogus'",
        ),
    ];
    for (args, stdin, expect) in cases {
        let out = run("sign", &args, stdin);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}
