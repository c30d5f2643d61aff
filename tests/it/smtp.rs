//! End to end over real SMTP: lettre's SMTP transports wrapped in
//! `easydkim::lettre_transport::SigningTransport` send to a real SMTP server (aiosmtpd, run
//! by `tests/smtp/sink.py` on 127.0.0.1 and a free port), and what the server received is
//! verified by OpenDKIM, dkimpy and our own `Verifier`, with the keys of the registry's
//! records (the tenant CNAMEs followed to the operator's key TXTs).
//!
//! `#[ignore]`d: `bash tests/smtp/install.sh` installs the server and the verifiers, then
//! `EASYDKIM_INTEROP=1 cargo test --features lettre --test it -- --ignored smtp` runs
//! them. Under `EASYDKIM_INTEROP=1` a missing server or verifier is a failure; otherwise
//! the tests print SKIPPED and return. Only loopback is used; the server is killed when
//! the test ends (and stops by itself when the test process goes away).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use easydkim::lettre_transport::{OnSignError, SigningTransport, SigningTransportError};
use easydkim::{
    unix_now, Delivery, DomainSetup, IdentityRegistry, KeySpec, MailTransport,
    Message as ParsedMessage, OutgoingEmail, Purpose, RegistryConfig, Selector, SignError, Signer,
    Status, TenantSignature, UnsignedReason, VerificationStatus, Verifier, VerifyOptions,
};
use easydkim::{DnsVerifier, StaticDns};
use lettre::address::Envelope;
use lettre::message::{header::ContentType, MultiPart, SinglePart};
use lettre::transport::smtp::response::Response;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, SmtpTransport, Tokio1Executor, Transport,
};

use crate::support::{block_on, to_wire, tools_present};
use crate::{key, messages};

const PYTHON: &str = "/usr/bin/python3";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The verifiers run on what the server received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Dkimpy,
    OpenDkim,
}

impl Tool {
    const ALL: [Tool; 2] = [Tool::Dkimpy, Tool::OpenDkim];

    fn name(self) -> &'static str {
        match self {
            Tool::Dkimpy => "dkimpy",
            Tool::OpenDkim => "OpenDKIM",
        }
    }

    fn script(self) -> PathBuf {
        manifest_dir().join("tests/interop").join(match self {
            Tool::Dkimpy => "dkimpy_verify.py",
            Tool::OpenDkim => "opendkim_verify.sh",
        })
    }
}

fn python_imports(modules: &str) -> bool {
    Command::new(PYTHON)
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether the SMTP server and both verifiers are installed. Without `EASYDKIM_INTEROP=1`
/// a missing one skips the test loudly; with it, the test fails.
fn tools_or_skip() -> bool {
    let mut missing = Vec::new();
    if !python_imports("aiosmtpd.smtp") {
        missing.push("aiosmtpd (python3-aiosmtpd)");
    }
    if !python_imports("dkim, nacl.signing") {
        missing.push("dkimpy (python3-dkim, python3-nacl)");
    }
    if !Path::new("/usr/sbin/opendkim").exists() {
        missing.push("OpenDKIM (opendkim)");
    }
    tools_present("SMTP end-to-end", &missing, "tests/smtp/install.sh")
}

/// A running `tests/smtp/sink.py`; killed (and its directory removed) on drop.
struct Sink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sink {
    fn start(name: &str) -> Sink {
        let dir = std::env::temp_dir().join(format!("easydkim-smtp-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mail = dir.join("mail");
        std::fs::create_dir_all(&mail).unwrap();
        let stderr = std::fs::File::create(dir.join("sink.log")).unwrap();
        let mut child = Command::new(PYTHON)
            .arg(manifest_dir().join("tests/smtp/sink.py"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--lifetime",
                "600",
                "--dir",
            ])
            .arg(&mail)
            // The sink stops when this pipe closes, so it never outlives the test process.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting tests/smtp/sink.py");
        let mut line = String::new();
        let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok());
        let mut sink = Sink {
            child,
            port: 0,
            dir,
        };
        match (read, port) {
            (Ok(_), Some(port)) => sink.port = port,
            _ => panic!(
                "sink.py did not start (said {line:?}): {}",
                std::fs::read_to_string(sink.dir.join("sink.log")).unwrap_or_default()
            ),
        }
        sink
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }

    /// How many messages the server has stored.
    fn count(&self) -> usize {
        std::fs::read_dir(self.mail_dir())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
            .count()
    }

    /// The message the server stored for the DATA reply `response` ("250 OK stored NNNN").
    fn received(&self, response: &Response) -> Vec<u8> {
        let text: Vec<&str> = response.message().collect();
        let id = text
            .iter()
            .find_map(|l| l.strip_prefix("OK stored "))
            .unwrap_or_else(|| panic!("unexpected server reply {text:?}"));
        let path = self.mail_dir().join(format!("{}.eml", id.trim()));
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// The envelope the server stored for message number `id`.
    fn envelope_json(&self, response: &Response) -> String {
        let id = response
            .message()
            .find_map(|l| l.strip_prefix("OK stored "))
            .unwrap()
            .trim()
            .to_string();
        std::fs::read_to_string(self.mail_dir().join(format!("{id}.json"))).unwrap()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A registry with two verified tenant domains and an operator signature:
/// `example.com` (Easy DKIM, RSA-2048, CNAMEs into `dkim.operator.example.net`),
/// `example.org` (its own Ed25519 key, selector `ed1`), and `d=operator.example.net`
/// (RSA-1024, selector `op1`) on every message. Returns the registry, the DNS serving its
/// records, and the same keys flattened into `NAME<TAB>TXT` lines for the other verifiers.
fn registry() -> (Arc<IdentityRegistry>, StaticDns, String) {
    let now = unix_now() - 600;
    let mut config = RegistryConfig::new("eu-west-1", "dkim.operator.example.net").unwrap();
    config.key_spec = KeySpec::Rsa2048;
    config.operator_signer =
        Some(Signer::new(key("rsa1024.pem"), "operator.example.net", "op1").unwrap());
    let registry = IdentityRegistry::new(config);
    let easy = registry.create_domain("example.com", now).unwrap();
    let byo = registry
        .create_domain_with(
            "example.org",
            DomainSetup::BringYourOwnKey {
                selector: Selector::parse("ed1").unwrap(),
                key: key("ed25519.pem"),
            },
            now,
        )
        .unwrap();
    let dns = StaticDns::new();
    let mut records = Vec::new();
    for identity in [&easy, &byo] {
        records.extend(registry.tenant_records(identity));
        records.extend(registry.operator_records(identity));
    }
    dns.publish(&records);
    dns.add_txt(
        "op1._domainkey.operator.example.net",
        &key("rsa1024.pem").dns_record(),
    );
    block_on(registry.refresh(&dns, now + 60));
    for name in ["example.com", "example.org"] {
        let i = registry.get_str(name).unwrap();
        assert_eq!(
            (i.status(), i.dkim_status()),
            (VerificationStatus::Success, VerificationStatus::Success),
            "{name}"
        );
    }

    // Flattened, as a resolver following the tenant's CNAMEs sees them.
    let mut zone = String::new();
    for r in records.iter().filter(|r| {
        matches!(r.purpose, Purpose::DkimDelegation)
            || (matches!(r.purpose, Purpose::DkimKey) && r.name.ends_with(".example.org"))
    }) {
        let txt = block_on(dns.txt(&r.name)).unwrap();
        zone.push_str(&format!("{}\t{}\n", r.name, txt[0]));
    }
    zone.push_str(&format!(
        "op1._domainkey.operator.example.net\t{}\n",
        key("rsa1024.pem").dns_record()
    ));
    (Arc::new(registry), dns, zone)
}

/// Everything the transport's callbacks saw, in order.
#[derive(Default)]
struct Seen {
    /// Each outcome's signed message and tenant signature.
    outcomes: Vec<(Vec<u8>, TenantSignature)>,
    /// Unsigned reasons with the envelope's sender.
    unsigned: Vec<(UnsignedReason, String)>,
    /// Signing errors with the envelope's sender.
    errors: Vec<(SignError, String)>,
}

fn sender(envelope: &Envelope) -> String {
    envelope.from().map(|a| a.to_string()).unwrap_or_default()
}

/// Wraps `inner` with callbacks recording into the returned log.
fn wrap<T>(inner: T, registry: Arc<IdentityRegistry>) -> (SigningTransport<T>, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    let transport = SigningTransport::new(inner, registry)
        .on_outcome(move |o, _| {
            a.lock()
                .unwrap()
                .outcomes
                .push((o.message.clone(), o.tenant.clone()))
        })
        .on_unsigned(move |r, e| b.lock().unwrap().unsigned.push((r.clone(), sender(e))))
        .on_sign_error(move |err, e| c.lock().unwrap().errors.push((err.clone(), sender(e))));
    (transport, seen)
}

/// What a message should carry once received.
#[derive(Clone, Debug)]
struct Expect {
    label: String,
    /// The `d=` of each signature, topmost first.
    domains: Vec<&'static str>,
    /// Tools that cannot judge this message (known defects, see tests/it/interop.rs).
    skip: Vec<(Tool, &'static str)>,
}

impl Expect {
    fn new(label: &str, domains: &[&'static str]) -> Expect {
        Expect {
            label: label.to_string(),
            domains: domains.to_vec(),
            skip: Vec::new(),
        }
    }
}

/// Known defects of the installed OpenDKIM and dkimpy (shown by tests/interop/selftest.py
/// and skipped the same way in tests/it/interop.rs); the registry signs relaxed/relaxed.
fn known_defects(msg: &[u8]) -> Vec<(Tool, &'static str)> {
    let parsed = ParsedMessage::parse(msg).unwrap();
    let mut out = Vec::new();
    let wsp_before_colon = parsed
        .fields()
        .iter()
        .any(|f| f.raw().len() > f.name().len() && matches!(f.raw()[f.name().len()], b' ' | b'\t'));
    if wsp_before_colon {
        let why = "cannot parse whitespace between field name and colon";
        out.push((Tool::Dkimpy, why));
        out.push((Tool::OpenDkim, why));
    }
    let body = parsed.body();
    let bare_cr = body
        .iter()
        .enumerate()
        .any(|(i, &c)| c == b'\r' && body.get(i + 1) != Some(&b'\n'));
    if bare_cr {
        out.push((
            Tool::OpenDkim,
            "OpenDKIM drops a lone CR in relaxed body canonicalization",
        ));
    }
    out
}

/// Checks one received message: the bytes are the signed message plus the CRLF lettre's
/// SMTP client adds before the final dot (a trailing empty line, which DKIM ignores), and
/// every signature passes under our verifier. Returns what to run the other tools on.
fn check_received(
    dns: &StaticDns,
    expect: &Expect,
    signed: &[u8],
    received: &[u8],
    failures: &mut Vec<String>,
) {
    let label = &expect.label;
    if received.strip_suffix(b"\r\n") != Some(signed) {
        failures.push(format!(
            "{label}: the server received other bytes than were signed ({} vs {} bytes)",
            received.len(),
            signed.len()
        ));
    }
    let results = block_on(Verifier::new(VerifyOptions::default()).verify(dns, received)).unwrap();
    let got: Vec<(Status, String)> = results
        .iter()
        .map(|r| (r.status, r.domain.clone().unwrap_or_default()))
        .collect();
    let want: Vec<(Status, String)> = expect
        .domains
        .iter()
        .map(|d| (Status::Pass, d.to_string()))
        .collect();
    if got != want {
        failures.push(format!(
            "{label}: easydkim verifier says {got:?}, want {want:?}"
        ));
    }
}

/// Runs dkimpy and OpenDKIM on every received message (a few at a time); returns how many
/// passed per tool, the skips, and the failures.
fn run_tools(zone: &Path, jobs: &[(Expect, PathBuf)], failures: &Mutex<Vec<String>>) -> [usize; 2] {
    let next = AtomicUsize::new(0);
    let passed = [AtomicUsize::new(0), AtomicUsize::new(0)];
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((expect, file)) = jobs.get(i) else {
                    break;
                };
                for (n, tool) in Tool::ALL.into_iter().enumerate() {
                    if expect.skip.iter().any(|(t, _)| *t == tool) {
                        continue;
                    }
                    let out = Command::new(tool.script())
                        .env("OPENDKIM_VERIFY_MODE", "isolate")
                        .arg(zone)
                        .arg(file)
                        .output()
                        .unwrap_or_else(|e| panic!("running {}: {e}", tool.name()));
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    let lines: Vec<&str> = stdout.lines().collect();
                    let want: Vec<String> = expect
                        .domains
                        .iter()
                        .map(|d| format!("pass d={d} "))
                        .collect();
                    let ok = out.status.success()
                        && lines.len() == want.len()
                        && lines.iter().zip(&want).all(|(l, w)| l.starts_with(w));
                    if ok {
                        passed[n].fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.lock().unwrap().push(format!(
                            "{} under {}: {}{}",
                            expect.label,
                            tool.name(),
                            stdout.trim(),
                            String::from_utf8_lossy(&out.stderr).trim()
                        ));
                    }
                }
            });
        }
    });
    [
        passed[0].load(Ordering::Relaxed),
        passed[1].load(Ordering::Relaxed),
    ]
}

fn envelope(from: &str, to: &str) -> Envelope {
    Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap()
}

/// A lettre message from Alice, with the lines SMTP is touchy about: one starting with a
/// dot (dot-stuffed on the wire), one starting with "From ", trailing whitespace.
fn alice_message() -> Message {
    Message::builder()
        .from("Alice Example <alice@example.com>".parse().unwrap())
        .to("Bob <bob@example.net>".parse().unwrap())
        .reply_to("support@example.com".parse().unwrap())
        .subject("Invoice 2026-0042 — thank you")
        .header(ContentType::TEXT_PLAIN)
        .body(String::from(
            "Hi Bob,\r\n\r\nyour invoice is attached.\r\n.\r\n..a line with dots\r\n\
             From the accounts team   \r\n\r\n-- \r\nAlice\r\n",
        ))
        .unwrap()
}

/// A multipart message from the Ed25519 domain.
fn news_message() -> Message {
    Message::builder()
        .from("News <news@example.org>".parse().unwrap())
        .to("reader@example.net".parse().unwrap())
        .subject("This week")
        .multipart(MultiPart::alternative_plain_html(
            String::from("Plain text edition.\r\n"),
            String::from("<p>HTML edition.</p>"),
        ))
        .unwrap()
}

fn unverified_message() -> Message {
    Message::builder()
        .from("mallory@unverified.example".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("Not from a verified identity")
        .singlepart(SinglePart::plain(String::from("Sent all the same.\r\n")))
        .unwrap()
}

const MALFORMED: &[u8] = b"To: bob@example.net\r\nSubject: no From header\r\n\r\nbody\r\n";

#[test]
#[ignore = "needs aiosmtpd, dkimpy and OpenDKIM (tests/smtp/install.sh); run by .ci/run"]
fn smtp_blocking_transport_delivers_verifiable_mail() {
    if !tools_or_skip() {
        return;
    }
    let (registry, dns, zone) = registry();
    let sink = Sink::start("sync");
    let zone_path = sink.dir.join("zone");
    std::fs::write(&zone_path, &zone).unwrap();
    let smtp = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(sink.port)
        .build();
    let (mailer, seen) = wrap(smtp, registry.clone());

    let mut failures = Vec::new();
    let mut jobs: Vec<(Expect, PathBuf)> = Vec::new();
    let mut deliver = |expect: Expect, response: Response, failures: &mut Vec<String>| {
        let received = sink.received(&response);
        let signed = seen.lock().unwrap().outcomes.last().unwrap().0.clone();
        check_received(&dns, &expect, &signed, &received, failures);
        let file = sink.dir.join(format!("{}.eml", jobs.len()));
        std::fs::write(&file, &received).unwrap();
        jobs.push((expect, file));
    };

    // Messages built by lettre, through `Transport::send`.
    let tenant_and_operator = ["example.com", "operator.example.net"];
    let r = mailer.send(&alice_message()).unwrap();
    deliver(
        Expect::new(
            "lettre message from alice@example.com",
            &tenant_and_operator,
        ),
        r,
        &mut failures,
    );
    let r = mailer.send(&news_message()).unwrap();
    deliver(
        Expect::new(
            "multipart from news@example.org (Ed25519)",
            &["example.org", "operator.example.net"],
        ),
        r,
        &mut failures,
    );

    // The corpus, through `send_raw`, as a client puts it on the wire. Message 17 has a
    // 2000-octet line, over SMTP's limit (RFC 5321 4.5.3.1.6): the server refuses it, and
    // the refusal comes back as the transport's error. Message 18 carries a third party's
    // signature, checked by tests/it/interop.rs.
    let mut corpus = 0;
    for (name, raw) in messages() {
        if name.starts_with("18") {
            continue;
        }
        let wire = to_wire(&raw);
        let env = envelope("bounces@example.com", "rcpt@example.net");
        let result = mailer.send_raw(&env, &wire);
        if name.starts_with("17") {
            match result {
                Err(SigningTransportError::Transport(e)) if e.is_permanent() => {}
                other => failures.push(format!(
                    "{name}: expected a permanent SMTP error, got {other:?}"
                )),
            }
            continue;
        }
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: not sent: {e}"));
                continue;
            }
        };
        let tenant = &seen.lock().unwrap().outcomes.last().unwrap().1.clone();
        let domain = match tenant {
            TenantSignature::Signed(c) if c.domain.as_str() == "example.com" => "example.com",
            TenantSignature::Signed(c) => {
                failures.push(format!("{name}: signed for {}", c.domain));
                continue;
            }
            TenantSignature::Unsigned(r) => {
                failures.push(format!("{name}: not signed: {r}"));
                continue;
            }
        };
        let mut expect = Expect::new(&format!("corpus {name}"), &[domain, "operator.example.net"]);
        expect.skip = known_defects(&wire);
        deliver(expect, response, &mut failures);
        corpus += 1;
    }

    // An unverified sender: sent, with the operator signature only, and reported.
    let r = mailer.send(&unverified_message()).unwrap();
    deliver(
        Expect::new("unverified sender", &["operator.example.net"]),
        r.clone(),
        &mut failures,
    );
    assert!(sink
        .envelope_json(&r)
        .contains("mallory@unverified.example"));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.unsigned,
            [(
                UnsignedReason::UnverifiedSender,
                "mallory@unverified.example".to_string()
            )]
        );
        assert!(seen.errors.is_empty());
    }

    // A malformed message: passed on as it is by default, reported, and still delivered.
    let before = sink.count();
    let r = mailer
        .send_raw(
            &envelope("bounces@example.com", "bob@example.net"),
            MALFORMED,
        )
        .unwrap();
    let received = sink.received(&r);
    assert_eq!(received.strip_suffix(b"\r\n"), Some(MALFORMED));
    assert_eq!(sink.count(), before + 1);
    assert_eq!(seen.lock().unwrap().errors.len(), 1);
    assert_eq!(seen.lock().unwrap().errors[0].1, "bounces@example.com");
    // ... or refused, and then never reaches the server.
    let refusing = SigningTransport::new(
        SmtpTransport::builder_dangerous("127.0.0.1")
            .port(sink.port)
            .build(),
        registry,
    )
    .on_error(OnSignError::Refuse);
    let err = refusing
        .send_raw(
            &envelope("bounces@example.com", "bob@example.net"),
            MALFORMED,
        )
        .unwrap_err();
    assert!(err.sign_error().is_some(), "{err}");
    assert_eq!(sink.count(), before + 1);

    let failures = Mutex::new(failures);
    let passed = run_tools(&zone_path, &jobs, &failures);
    let failures = failures.into_inner().unwrap();
    let mut skipped: Vec<String> = jobs
        .iter()
        .flat_map(|(e, _)| {
            e.skip
                .iter()
                .map(move |(t, why)| format!("{} {}: {why}", e.label, t.name()))
        })
        .collect();
    skipped.sort();
    eprintln!(
        "smtp (blocking): {} messages received ({corpus} from the corpus); verified by dkimpy {}, OpenDKIM {}, easydkim {}",
        jobs.len(),
        passed[0],
        passed[1],
        jobs.len()
    );
    for s in &skipped {
        eprintln!("  skipped: {s}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(corpus >= 30, "only {corpus} corpus messages went through");
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs aiosmtpd, dkimpy and OpenDKIM (tests/smtp/install.sh); run by .ci/run"]
async fn smtp_async_transport_delivers_verifiable_mail() {
    if !tools_or_skip() {
        return;
    }
    // Key generation and refresh on a thread of their own (they block on a runtime).
    let (registry, dns, zone) = std::thread::spawn(registry).join().unwrap();
    let sink = Sink::start("async");
    let zone_path = sink.dir.join("zone");
    std::fs::write(&zone_path, &zone).unwrap();
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port)
        .build();
    let (mailer, seen) = wrap(smtp, registry);

    let sent = [
        (
            alice_message(),
            Expect::new(
                "async: alice@example.com",
                &["example.com", "operator.example.net"],
            ),
        ),
        (
            news_message(),
            Expect::new(
                "async: news@example.org",
                &["example.org", "operator.example.net"],
            ),
        ),
        (
            unverified_message(),
            Expect::new("async: unverified sender", &["operator.example.net"]),
        ),
    ];
    let mut received = Vec::new();
    for (message, expect) in sent {
        let response = mailer.send(message).await.unwrap();
        let signed = seen.lock().unwrap().outcomes.last().unwrap().0.clone();
        received.push((expect, signed, sink.received(&response)));
    }
    // A malformed message refused by a transport that asks for it.
    let refusing = mailer.clone().on_error(OnSignError::Refuse);
    let err = AsyncTransport::send_raw(
        &refusing,
        &envelope("bounces@example.com", "bob@example.net"),
        MALFORMED,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SigningTransportError::Refused(_)));
    assert_eq!(sink.count(), 3);
    assert_eq!(
        seen.lock().unwrap().unsigned,
        [(
            UnsignedReason::UnverifiedSender,
            "mallory@unverified.example".to_string()
        )]
    );

    // The verifiers block: run them on a thread of their own.
    let sink_dir = sink.dir.clone();
    let failures = std::thread::spawn(move || {
        let mut failures = Vec::new();
        let mut jobs = Vec::new();
        for (i, (expect, signed, got)) in received.into_iter().enumerate() {
            check_received(&dns, &expect, &signed, &got, &mut failures);
            let file = sink_dir.join(format!("async-{i}.eml"));
            std::fs::write(&file, &got).unwrap();
            jobs.push((expect, file));
        }
        let failures = Mutex::new(failures);
        let passed = run_tools(&zone_path, &jobs, &failures);
        eprintln!(
            "smtp (async): {} messages received; verified by dkimpy {}, OpenDKIM {}, easydkim {}",
            jobs.len(),
            passed[0],
            passed[1],
            jobs.len()
        );
        failures.into_inner().unwrap()
    })
    .join()
    .unwrap();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A `MailTransport` over lettre's blocking SMTP client that keeps the server's replies.
struct RawSmtp {
    smtp: SmtpTransport,
    replies: Mutex<Vec<Response>>,
}

#[async_trait::async_trait]
impl MailTransport for RawSmtp {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), String> {
        Err("only send_message is used here".into())
    }

    async fn send_message(&self, from: &str, to: &str, message: &[u8]) -> Result<(), String> {
        let reply = self
            .smtp
            .send_raw(&envelope(from, to), message)
            .map_err(|e| e.to_string())?;
        self.replies.lock().unwrap().push(reply);
        Ok(())
    }
}

/// "Send a Test Email" through a real SMTP server: the report says which identity and
/// key signed, and dkim=pass; the server received exactly the reported bytes, and
/// OpenDKIM and dkimpy pass both signatures.
#[test]
#[ignore = "needs aiosmtpd, dkimpy and OpenDKIM (tests/smtp/install.sh); run by .ci/run"]
fn smtp_test_email_is_delivered_and_verifies() {
    if !tools_or_skip() {
        return;
    }
    let (registry, dns, zone) = registry();
    let sink = Sink::start("test-email");
    let zone_path = sink.dir.join("zone");
    std::fs::write(&zone_path, &zone).unwrap();
    let transport = RawSmtp {
        smtp: SmtpTransport::builder_dangerous("127.0.0.1")
            .port(sink.port)
            .build(),
        replies: Mutex::new(Vec::new()),
    };
    let report = block_on(registry.send_test_email(
        "alice@example.com",
        "bob@example.net",
        &transport,
        &dns,
        unix_now(),
    ))
    .expect("test email");
    assert_eq!(report.delivery, Delivery::Sent);
    assert!(report.tenant_passes(), "{report:?}");
    assert_eq!(report.key_spec, Some(KeySpec::Rsa2048));
    let TenantSignature::Signed(choice) = &report.tenant else {
        panic!("{:?}", report.tenant);
    };
    assert_eq!(choice.domain.as_str(), "example.com");
    let lines: Vec<String> = report
        .signatures
        .iter()
        .map(|s| s.result.authentication_results())
        .collect();
    assert!(
        lines[0].starts_with("dkim=pass header.d=example.com"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("dkim=pass header.d=operator.example.net"),
        "{lines:?}"
    );

    let replies = transport.replies.lock().unwrap();
    let received = sink.received(&replies[0]);
    let mut failures = Vec::new();
    let expect = Expect::new("test email", &["example.com", "operator.example.net"]);
    check_received(&dns, &expect, &report.message, &received, &mut failures);
    let file = sink.dir.join("test-email.eml");
    std::fs::write(&file, &received).unwrap();
    let failures = Mutex::new(failures);
    let passed = run_tools(&zone_path, &[(expect, file)], &failures);
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(passed, [1, 1], "dkimpy, OpenDKIM");
}
