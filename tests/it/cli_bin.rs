//! The `easydkim` command (feature `cli`), run as an operator runs it: keygen, sign,
//! verify, testkey, and the Unix conventions (help/version exit 0, `--flag=value`, one
//! error line on stderr, exit 0 / 1 check failed / 2 bad input, `--json`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn easydkim(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_easydkim"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit 2, nothing on stdout, one `easydkim: ...` line on stderr containing `needle`.
fn bad_input(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("easydkim: "), "{err}");
    assert!(err.contains(needle), "{needle} not in {err}");
}

const MSG: &[u8] =
    b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: cli\r\n\r\nHello.\r\n";

fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("easydkim-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn keygen_sign_verify_testkey_session() {
    let dir = tempdir("session");
    let key = dir.join("sel1.pem");
    for algorithm in ["ed25519", "rsa1024"] {
        let _ = std::fs::remove_file(&key);
        let out = easydkim(
            &[
                "keygen",
                &format!("--algorithm={algorithm}"),
                "--out",
                p(&key),
            ],
            b"",
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let record = text(&out.stdout);
        let kind = if algorithm == "ed25519" {
            "ed25519"
        } else {
            "rsa"
        };
        assert!(
            record.starts_with(&format!("v=DKIM1; k={kind}; p=")),
            "{record}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "key file mode");
        }
        // Refuses to overwrite without --force.
        bad_input(
            &easydkim(&["keygen", "--algorithm", algorithm, "--out", p(&key)], b""),
            "--force",
        );

        // Publish the record as zone text, sign, verify, testkey.
        let zone = dir.join("zone");
        let strings: Vec<String> = easydkim::DnsRecord::split_txt(record.trim())
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect();
        std::fs::write(
            &zone,
            format!(
                "sel1._domainkey.example.com. 300 IN TXT {}\n",
                strings.join(" ")
            ),
        )
        .unwrap();
        let signed = easydkim(
            &[
                "sign",
                "--key",
                p(&key),
                "--domain=example.com",
                "--selector",
                "sel1",
            ],
            MSG,
        );
        assert!(signed.status.success(), "{}", text(&signed.stderr));
        assert!(
            signed.stdout.ends_with(MSG),
            "the caller's bytes follow unchanged"
        );
        let v = easydkim(&["verify", "--dns-file", p(&zone)], &signed.stdout);
        assert_eq!(
            text(&v.stdout),
            "pass d=example.com s=sel1\n",
            "{}",
            text(&v.stderr)
        );
        assert_eq!(v.status.code(), Some(0));
        let v = easydkim(
            &["verify", "--dns-file", p(&zone), "--json"],
            &signed.stdout,
        );
        let json: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert_eq!(json[0]["status"], "pass");
        assert_eq!(json[0]["domain"], "example.com");

        // A tampered body: a failed check, exit 1.
        let mut tampered = signed.stdout.clone();
        let n = tampered.len();
        tampered[n - 3] = b'X';
        let v = easydkim(&["verify", "--dns-file", p(&zone)], &tampered);
        assert_eq!(v.status.code(), Some(1));
        assert!(text(&v.stdout).starts_with("fail d=example.com s=sel1 body hash mismatch"));
        // No signature at all: exit 1 too.
        let v = easydkim(&["verify", "--dns-file", p(&zone)], MSG);
        assert_eq!(v.status.code(), Some(1));

        let t = easydkim(
            &[
                "testkey",
                "example.com",
                "sel1",
                "--key",
                p(&key),
                "--dns-file",
                p(&zone),
            ],
            b"",
        );
        assert_eq!(t.status.code(), Some(0), "{}", text(&t.stderr));
        assert!(text(&t.stdout).starts_with("key OK"));
        // Another key: mismatch, exit 1; a selector with no record: exit 1.
        let other = dir.join("other.pem");
        let _ = std::fs::remove_file(&other);
        assert!(easydkim(
            &["keygen", "--algorithm", "ed25519", "--out", p(&other)],
            b""
        )
        .status
        .success());
        let t = easydkim(
            &[
                "testkey",
                "example.com",
                "sel1",
                "--key",
                p(&other),
                "--dns-file",
                p(&zone),
                "--json",
            ],
            b"",
        );
        assert_eq!(t.status.code(), Some(1));
        let json: serde_json::Value = serde_json::from_slice(&t.stdout).unwrap();
        assert_eq!(json["match"], false);
        let t = easydkim(
            &[
                "testkey",
                "example.com",
                "nope",
                "--key",
                p(&key),
                "--dns-file",
                p(&zone),
            ],
            b"",
        );
        assert_eq!(t.status.code(), Some(1));
        assert!(
            text(&t.stdout).contains("no key record"),
            "{}",
            text(&t.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_and_version_exit_0_for_every_command() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["keygen", "--help"],
        &["sign", "--help"],
        &["verify", "--help"],
        &["testkey", "--help"],
    ] {
        let out = easydkim(args, b"");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempdir("errors");
    bad_input(&easydkim(&["sign", "--bogus"], b""), "--bogus");
    bad_input(&easydkim(&["frobnicate"], b""), "frobnicate");
    bad_input(
        &easydkim(
            &[
                "sign",
                "--key",
                "/nonexistent/k.pem",
                "--domain",
                "a.example",
                "--selector",
                "s",
            ],
            MSG,
        ),
        "cannot read key file",
    );
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    bad_input(
        &easydkim(
            &[
                "sign",
                "--key",
                p(&junk),
                "--domain",
                "a.example",
                "--selector",
                "s",
            ],
            MSG,
        ),
        "key file",
    );
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keys/ed25519.pem");
    bad_input(
        &easydkim(
            &[
                "sign",
                "--key",
                key,
                "--domain",
                "exa mple",
                "--selector",
                "s",
            ],
            MSG,
        ),
        "exa mple",
    );
    bad_input(
        &easydkim(
            &[
                "sign",
                "--key",
                key,
                "--domain",
                "example.com",
                "--selector",
                "s",
            ],
            b"no header block",
        ),
        "",
    );
    bad_input(
        &easydkim(
            &[
                "keygen",
                "--algorithm",
                "rsa512",
                "--out",
                p(&dir.join("x.pem")),
            ],
            b"",
        ),
        "rsa512",
    );
    let zone = dir.join("bad.zone");
    std::fs::write(
        &zone,
        "ok.example. IN TXT \"x\"\nsel._domainkey.example.com v=DKIM1\n",
    )
    .unwrap();
    bad_input(
        &easydkim(&["verify", "--dns-file", p(&zone)], MSG),
        "zone line 2",
    );
    bad_input(
        &easydkim(
            &[
                "testkey",
                "example.com",
                "sel",
                "--key",
                key,
                "--dns-file",
                p(&zone),
            ],
            b"",
        ),
        "zone line 2",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
