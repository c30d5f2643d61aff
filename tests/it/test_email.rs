//! "Send a Test Email" (`IdentityRegistry::send_test_email`) on an in-memory DNS: the
//! report names the identity and key that signed, the header fields each signature covers
//! and the verification against the records as published; the transport gets exactly the
//! reported bytes; unsigned senders get the typed reason and nothing is sent. Over real SMTP:
//! `smtp::smtp_test_email_is_delivered_and_verifies`.

use std::sync::Mutex;

use async_trait::async_trait;
use easydkim::{
    Check, Delivery, IdentityRegistry, KeySpec, MailTransport, OutgoingEmail, Signer, StaticDns,
    Status, TenantSignature, UnsignedReason, VerificationStatus,
};

use crate::key;
use crate::precedence::{config, name, refresh, H, T0};
use crate::support::{block_on, publish};

const OPERATOR: &str = "operator.example.net";

/// Records every prepared message it is handed.
#[derive(Default)]
struct Outbox(Mutex<Vec<(String, String, Vec<u8>)>>);

#[async_trait]
impl MailTransport for Outbox {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), String> {
        Err("not used".into())
    }

    async fn send_message(&self, from: &str, to: &str, message: &[u8]) -> Result<(), String> {
        let mut sent = self.0.lock().unwrap();
        sent.push((from.to_string(), to.to_string(), message.to_vec()));
        Ok(())
    }
}

/// A transport that only implements `send` (the trait's default `send_message`).
struct PlainOnly;

#[async_trait]
impl MailTransport for PlainOnly {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), String> {
        Ok(())
    }
}

/// `example.com` (Easy DKIM, RSA-1024) verified at T0 + H, with an operator signature, and
/// `pending.example.org` registered but not published.
fn setup() -> (IdentityRegistry, StaticDns) {
    let mut c = config();
    c.key_spec = KeySpec::Rsa1024;
    c.operator_signer = Some(Signer::new(key("rsa1024.pem"), OPERATOR, "op1").expect("signer"));
    let reg = IdentityRegistry::new(c);
    let dns = StaticDns::new();
    let id = reg.create_domain("example.com", T0).expect("create");
    publish(&dns, &reg.tenant_records(&id));
    publish(&dns, &reg.operator_records(&id));
    dns.add_txt(
        &format!("op1._domainkey.{OPERATOR}"),
        &key("rsa1024.pem").dns_record(),
    );
    reg.create_domain("pending.example.org", T0)
        .expect("create");
    refresh(&reg, &dns, T0 + H);
    (reg, dns)
}

fn send(
    reg: &IdentityRegistry,
    dns: &StaticDns,
    transport: &dyn MailTransport,
    from: &str,
) -> easydkim::TestEmailReport {
    block_on(reg.send_test_email(from, "tenant@example.net", transport, dns, T0 + 2 * H))
        .expect("test email")
}

#[test]
fn a_verified_sender_gets_a_signed_verified_test_email() {
    let (reg, dns) = setup();
    let outbox = Outbox::default();
    let report = send(&reg, &dns, &outbox, "alice@example.com");

    let id = reg.get_str("example.com").expect("identity");
    let (selector, _) = id.dkim().expect("setup").signing();
    let TenantSignature::Signed(choice) = &report.tenant else {
        panic!("{:?}", report.tenant);
    };
    assert_eq!(choice.identity, name("example.com"));
    assert_eq!(choice.domain.as_str(), "example.com");
    assert_eq!(choice.selector, selector);
    assert_eq!(report.key_spec, Some(KeySpec::Rsa1024));
    assert!(report.operator_signed);
    assert!(report.tenant_passes());

    // Both signatures, tenant first, each with its h= and dkim=pass.
    let got: Vec<(&str, &str, Status)> = report
        .signatures
        .iter()
        .map(|s| (s.domain.as_str(), s.selector.as_str(), s.result.status))
        .collect();
    assert_eq!(
        got,
        [
            ("example.com", selector, Status::Pass),
            (OPERATOR, "op1", Status::Pass)
        ]
    );
    for s in &report.signatures {
        for field in ["from", "to", "subject", "date", "message-id"] {
            assert!(
                s.signed_headers.iter().any(|h| h == field),
                "{field} in {s:?}"
            );
        }
    }
    assert_eq!(
        report.signatures[0].result.authentication_results(),
        format!(
            "dkim=pass header.d=example.com header.s={selector} header.i=@example.com header.b={}",
            report.signatures[0]
                .result
                .header_b
                .clone()
                .unwrap_or_default()
        )
    );

    // The transport got exactly the reported bytes, with the envelope.
    assert_eq!(report.delivery, Delivery::Sent);
    let sent = outbox.0.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "alice@example.com");
    assert_eq!(sent[0].1, "tenant@example.net");
    assert_eq!(sent[0].2, report.message);
    let text = String::from_utf8_lossy(&report.message);
    assert!(text.contains("\r\nFrom: alice@example.com\r\n"), "{text}");
    assert!(text.contains("\r\nTo: tenant@example.net\r\n"), "{text}");
    assert!(text.starts_with("DKIM-Signature:"), "{text}");
    assert!(
        text.contains("\r\nDate: Tue, 02 Jan 2024 12:00:00 +0000\r\n"),
        "{text}"
    );
}

#[test]
fn a_record_missing_from_dns_shows_in_the_report() {
    let (reg, dns) = setup();
    // The operator's key TXTs vanish after verification: signed, but a receiver fails it.
    let id = reg.get_str("example.com").expect("identity");
    for r in reg.operator_records(&id) {
        dns.remove(&r.name);
    }
    let report = send(&reg, &dns, &Outbox::default(), "alice@example.com");
    assert!(matches!(report.tenant, TenantSignature::Signed(_)));
    assert!(!report.tenant_passes());
    assert_ne!(report.signatures[0].result.status, Status::Pass);
    assert_eq!(report.signatures[1].result.status, Status::Pass);
}

#[test]
fn unsigned_senders_get_the_reason_and_nothing_is_sent() {
    let (reg, dns) = setup();
    let outbox = Outbox::default();
    let pending = send(&reg, &dns, &outbox, "bob@pending.example.org");
    assert_eq!(
        pending.tenant,
        TenantSignature::Unsigned(UnsignedReason::NotYetVerified {
            identity: name("pending.example.org"),
            check: Check::Dkim,
            status: VerificationStatus::Pending,
        })
    );
    assert_eq!(pending.delivery, Delivery::NotSent);
    assert!(!pending.tenant_passes());
    let unknown = send(&reg, &dns, &outbox, "carol@unknown.example");
    assert_eq!(
        unknown.tenant,
        TenantSignature::Unsigned(UnsignedReason::UnverifiedSender)
    );
    assert_eq!(unknown.delivery, Delivery::NotSent);
    assert!(outbox.0.lock().unwrap().is_empty());
}

#[test]
fn a_transport_without_send_message_is_reported() {
    let (reg, dns) = setup();
    let report = send(&reg, &dns, &PlainOnly, "alice@example.com");
    match &report.delivery {
        Delivery::TransportError(e) => assert!(e.contains("send_message"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(report.tenant_passes());
}

#[test]
fn invalid_addresses_are_errors() {
    let (reg, dns) = setup();
    for (from, to) in [
        ("not an address", "x@example.net"),
        ("alice@example.com", "@"),
    ] {
        let r = block_on(reg.send_test_email(from, to, &Outbox::default(), &dns, T0 + 2 * H));
        assert!(
            matches!(r, Err(easydkim::RegistryError::Name(_))),
            "{from} -> {to}: {r:?}"
        );
    }
}
