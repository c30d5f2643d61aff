//! The `easydkim` registry commands (feature `cli`) on the file store, as an operator runs
//! them with a zone file for DNS: identity create/list/show/confirm/delete, records
//! (table, CSV, zone), refresh, diagnose, sign through the registry, signing
//! enable/disable, key-length, rotate; and their error paths. The same session against a
//! real DNS server, verified by OpenDKIM, is `real_dns::real_dns_operator_cli_session`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary registry: the store file, the signing zone, and the zone file DNS reads.
struct Registry {
    dir: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Registry {
    fn new(tag: &str) -> Registry {
        let dir =
            std::env::temp_dir().join(format!("easydkim-cli-reg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("empty.zone"), "").unwrap();
        Registry { dir }
    }

    fn store(&self) -> PathBuf {
        self.dir.join("registry.json")
    }

    fn zone(&self) -> PathBuf {
        self.dir.join("published.zone")
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    /// Runs `easydkim` with this registry in the environment.
    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with(
            args,
            stdin,
            &[
                ("EASYDKIM_STORE", self.store().to_str().unwrap()),
                ("EASYDKIM_SIGNING_ZONE", "dkim.mail.example.net"),
            ],
        )
    }

    /// Runs it and expects exit 0; returns stdout.
    fn ok(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.run(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args, b"")).unwrap()
    }

    /// Publishes the identity's records into the zone file, as `records --zone` prints them.
    fn publish(&self, identity: &str) {
        let zone = self.ok(&["records", identity, "--zone"], b"");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.zone())
            .unwrap();
        f.write_all(zone.as_bytes()).unwrap();
    }
}

fn run_with(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_easydkim"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("EASYDKIM_STORE")
        .env_remove("EASYDKIM_SIGNING_ZONE")
        .env_remove("EASYDKIM_REGION")
        .env_remove("EASYDKIM_DATABASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit `code`, one `easydkim: ...` line on stderr containing `needle`.
fn one_line_error(out: &Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}{}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("easydkim: "), "{err}");
    assert!(err.contains(needle), "`{needle}` not in {err}");
}

const MSG: &[u8] =
    b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: cli\r\n\r\nHello.\r\n";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn operator_session_on_the_file_store() {
    let reg = Registry::new("session");
    let zone = reg.zone();
    let dns = ["--dns-file", p(&zone)];

    // Create: the records to publish, and a private store file.
    let created = reg.ok(
        &["identity", "create", "example.com", "--key-spec", "ed25519"],
        b"",
    );
    assert!(
        created.starts_with("created example.com (domain, Easy DKIM)\n"),
        "{created}"
    );
    assert_eq!(
        created.matches("._domainkey.example.com").count(),
        3,
        "{created}"
    );
    assert!(created.contains("_easydkim.example.com"), "{created}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(reg.store()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the store holds private keys");
    }

    // Records: table, CSV, zone lines, JSON; tenant and operator halves.
    let records = reg.json(&["records", "example.com", "--json"]);
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 7, "{records:?}");
    let count = |publisher: &str, kind: &str| {
        records
            .iter()
            .filter(|r| r["publisher"] == publisher && r["type"] == kind)
            .count()
    };
    assert_eq!(count("tenant", "TXT"), 1);
    assert_eq!(count("tenant", "CNAME"), 3);
    assert_eq!(count("operator", "TXT"), 3);
    let csv = reg.ok(&["records", "example.com", "--csv", "--tenant"], b"");
    assert!(csv.starts_with("Type,Name,Value\r\n"), "{csv}");
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let operator_zone = reg.ok(&["records", "example.com", "--zone", "--operator"], b"");
    assert_eq!(operator_zone.lines().count(), 3, "{operator_zone}");
    assert!(operator_zone
        .lines()
        .all(|l| l.contains(".dkim.mail.example.net. IN TXT \"v=DKIM1; k=ed25519; p=")));

    // Before anything is published: pending, not signed (message unchanged, exit 1),
    // diagnose finds the missing records (exit 1).
    let list = reg.ok(&["identity", "list"], b"");
    assert!(list.lines().nth(1).unwrap().contains("Pending"), "{list}");
    let unsigned = reg.run(&["sign"], MSG);
    assert_eq!(
        unsigned.status.code(),
        Some(1),
        "{}",
        text(&unsigned.stderr)
    );
    assert_eq!(unsigned.stdout, MSG, "the message goes out unchanged");
    assert!(text(&unsigned.stderr).starts_with("easydkim: not signed: "));
    let empty = reg.file("empty.zone");
    let diag = reg.run(&["diagnose", "example.com", "--dns-file", &empty], b"");
    assert_eq!(diag.status.code(), Some(1), "{}", text(&diag.stderr));
    assert!(
        text(&diag.stdout).contains("record missing"),
        "{}",
        text(&diag.stdout)
    );

    // Publish, refresh: both statuses move to Success; diagnose is clean.
    reg.publish("example.com");
    // With RUST_LOG: the status events on stderr, as plain text in a pipe.
    let out = run_with(
        &["refresh", dns[0], dns[1]],
        b"",
        &[
            ("EASYDKIM_STORE", reg.store().to_str().unwrap()),
            ("EASYDKIM_SIGNING_ZONE", "dkim.mail.example.net"),
            ("RUST_LOG", "easydkim::status=info"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert_eq!(log.matches("easydkim::status").count(), 2, "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
    let refreshed = text(&out.stdout);
    assert!(
        refreshed.contains("example.com identity: Pending -> Success"),
        "{refreshed}"
    );
    assert!(
        refreshed.contains("example.com DKIM: Pending -> Success"),
        "{refreshed}"
    );
    let again = reg.json(&["refresh", dns[0], dns[1], "--json"]);
    assert_eq!(again["events"].as_array().unwrap().len(), 0, "{again}");
    let diag = reg.ok(&["diagnose", "example.com", dns[0], dns[1]], b"");
    assert!(diag.starts_with("example.com: no problems found"), "{diag}");

    // Sign through the registry; verify against the published records.
    let signed = reg.ok(&["sign"], MSG);
    assert!(signed.starts_with("DKIM-Signature: "), "{signed}");
    assert!(signed.as_bytes().ends_with(MSG));
    let verified = reg.ok(&["verify", dns[0], dns[1]], signed.as_bytes());
    assert!(verified.starts_with("pass d=example.com s="), "{verified}");

    // Signing off and on.
    let off = reg.json(&["signing", "disable", "example.com", "--json"]);
    assert_eq!(off["signing_enabled"], false, "{off}");
    let off = reg.run(&["sign"], MSG);
    assert_eq!(off.status.code(), Some(1));
    assert_eq!(off.stdout, MSG);
    reg.ok(&["signing", "enable", "example.com"], b"");
    assert!(reg.ok(&["sign"], MSG).starts_with("DKIM-Signature: "));

    // Key length and rotation: every key is published, so the first step switches.
    let next = reg.json(&["key-length", "example.com", "rsa2048", "--json"]);
    assert_eq!(next["next_key_spec"], "RSA-2048", "{next}");
    assert_eq!(next["key_spec"], "Ed25519", "{next}");
    let show = reg.json(&["identity", "show", "example.com", "--json"]);
    assert_eq!(show["status"], "Success");
    assert_eq!(show["dkim_status"], "Success");
    assert_eq!(show["next_key_spec"], "RSA-2048");
    assert_eq!(show["key_spec"], "Ed25519");
    let active = |v: &serde_json::Value| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == "active")
            .unwrap()["token"]
            .clone()
    };
    let before = active(&show);
    let step = reg.json(&["rotate", "example.com", dns[0], dns[1], "--json"]);
    assert_eq!(step["step"], "switched", "{step}");
    let after = reg.json(&["identity", "show", "example.com", "--json"]);
    assert_ne!(active(&after), before);
    assert_eq!(step["active"], active(&after));
    let text_show = reg.ok(&["identity", "show", "example.com"], b"");
    assert!(text_show.contains("rotation:"), "{text_show}");
    let resigned = reg.ok(&["sign"], MSG);
    let verified = reg.ok(&["verify", dns[0], dns[1]], resigned.as_bytes());
    assert!(verified.starts_with("pass d=example.com s="), "{verified}");

    // An email address identity: the token confirms it; a wrong one is refused.
    let created = reg.json(&["identity", "create", "alice@example.org", "--json"]);
    assert_eq!(created["kind"], "email");
    let token = created["confirmation_token"].as_str().unwrap().to_string();
    one_line_error(
        &reg.run(
            &["identity", "confirm", "alice@example.org", "not-the-token"],
            b"",
        ),
        2,
        "wrong confirmation token",
    );
    let confirmed = reg.json(&["identity", "confirm", "alice@example.org", &token, "--json"]);
    assert_eq!(confirmed["to"], "Success", "{confirmed}");
    assert_eq!(confirmed["identity"], "alice@example.org", "{confirmed}");

    // Delete.
    let deleted = reg.json(&["identity", "delete", "example.com", "--json"]);
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let list = reg.json(&["identity", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identity"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice@example.org"]);
    one_line_error(
        &reg.run(&["identity", "delete", "example.com"], b""),
        2,
        "example.com",
    );
}

#[test]
fn concurrent_commands_keep_every_change() {
    let reg = Registry::new("concurrent");
    let mut children = Vec::new();
    for n in 0..6 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_easydkim"));
        cmd.args([
            "identity",
            "create",
            &format!("d{n}.example"),
            "--key-spec",
            "ed25519",
        ])
        .env("EASYDKIM_STORE", reg.store())
        .env("EASYDKIM_SIGNING_ZONE", "dkim.mail.example.net")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        children.push(cmd.spawn().unwrap());
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let list = reg.json(&["identity", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 6, "{list}");
}

#[test]
fn registry_errors_are_one_line_exit_2() {
    let reg = Registry::new("errors");
    // Where the registry is: both missing, each said.
    one_line_error(
        &run_with(
            &["identity", "list"],
            b"",
            &[("EASYDKIM_SIGNING_ZONE", "dkim.example.net")],
        ),
        2,
        "--store",
    );
    one_line_error(
        &run_with(&["identity", "list", "--store", p(&reg.store())], b"", &[]),
        2,
        "--signing-zone",
    );
    // Each with exit 2, one line naming the problem. Before the identity exists:
    let refused = |cases: &[(&[&str], &str)]| {
        for (args, needle) in cases {
            one_line_error(&reg.run(args, MSG), 2, needle);
        }
    };
    refused(&[
        (
            &["identity", "list", "--signing-zone", "not a zone"],
            "not a zone",
        ),
        (
            &["identity", "list", "--region", "no such/region"],
            "region",
        ),
        (&["identity", "create", "exa mple.com"], "exa mple.com"),
        (&["identity", "show", "example.com"], "example.com"),
        (&["records", "example.com"], "example.com"),
        (&["signing", "enable", "example.com"], "example.com"),
    ]);
    reg.ok(
        &["identity", "create", "example.com", "--key-spec", "ed25519"],
        b"",
    );
    // Once it exists: names, keys and arguments.
    refused(&[
        (&["identity", "create", "example.com"], "example.com"),
        (
            &[
                "identity",
                "create",
                "bob@example.com",
                "--byo-key",
                "k.pem",
                "--selector",
                "s",
            ],
            "--byo-key",
        ),
        (
            &[
                "identity",
                "create",
                "byo.example",
                "--byo-key",
                "/nonexistent.pem",
                "--selector",
                "s",
            ],
            "cannot read key file",
        ),
        (&["key-length", "example.com", "rsa512"], "rsa512"),
        (&["records", "example.com", "--csv", "--zone"], "--zone"),
        (
            &["records", "example.com", "--tenant", "--operator"],
            "--operator",
        ),
        (
            &["refresh", "--nameserver", "not-an-address"],
            "not-an-address",
        ),
        (
            &["diagnose", "example.com", "--dns-file", "/nonexistent.zone"],
            "cannot read zone file",
        ),
        (&["sign", "--domain", "example.com"], "--key"),
    ]);
    // A store that is not one: refused, never overwritten.
    let junk = reg.dir.join("junk.json");
    std::fs::write(&junk, "this is not a registry").unwrap();
    one_line_error(
        &reg.run(
            &["identity", "create", "x.example", "--store", p(&junk)],
            b"",
        ),
        2,
        "junk.json",
    );
    assert_eq!(
        std::fs::read_to_string(&junk).unwrap(),
        "this is not a registry"
    );
    // Another region's file is refused too.
    one_line_error(
        &reg.run(&["identity", "list", "--region", "us-east-1"], b""),
        2,
        "region",
    );
}

#[test]
fn registry_help_exits_0() {
    for args in [
        &["identity", "--help"][..],
        &["identity", "create", "--help"],
        &["records", "--help"],
        &["signing", "disable", "--help"],
        &["rotate", "--help"],
        &["key-length", "--help"],
        &["refresh", "--help"],
        &["diagnose", "--help"],
    ] {
        let out = run_with(args, b"", &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
}
