use super::*;
use crate::dns::StaticDns;
use crate::key::{KeySpec, SigningKey};
use crate::names::Selector;
use crate::registry::{DomainSetup, Identity, RegistryConfig};
use std::sync::Arc;

const ZONE: &str = "dkim.mail.example.net";

fn registry() -> IdentityRegistry {
    let mut config = RegistryConfig::new("eu-west-1", ZONE).unwrap();
    config.key_spec = KeySpec::Ed25519;
    IdentityRegistry::new(config)
}

fn publish(dns: &StaticDns, records: &[DnsRecord]) {
    dns.publish(records);
}

/// An Easy DKIM identity for `domain` with every record published correctly.
fn easy(domain: &str) -> (IdentityRegistry, Arc<Identity>, StaticDns) {
    let reg = registry();
    let id = reg.create_domain(domain, 0).unwrap();
    let dns = StaticDns::new();
    publish(&dns, &reg.tenant_records(&id));
    publish(&dns, &reg.operator_records(&id));
    (reg, id, dns)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn diagnose(reg: &IdentityRegistry, id: &Identity, dns: &StaticDns) -> Vec<Finding> {
    block_on(reg.diagnose(&id.name, dns)).unwrap()
}

fn kinds(findings: &[Finding]) -> Vec<FindingKind> {
    findings.iter().map(|f| f.kind).collect()
}

fn record(reg: &IdentityRegistry, id: &Identity, purpose: Purpose, n: usize) -> DnsRecord {
    reg.tenant_records(id)
        .into_iter()
        .filter(|r| r.purpose == purpose)
        .nth(n)
        .unwrap()
}

#[test]
fn diagnose_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (reg, id, dns) = easy("example.com");
    let fut = reg.diagnose(&id.name, &dns);
    assert_send(&fut);
    assert_eq!(block_on(fut), Ok(vec![]));
}

#[test]
fn diagnose_correct_setup_has_no_findings() {
    let (reg, id, dns) = easy("example.com");
    assert_eq!(diagnose(&reg, &id, &dns), vec![]);
    // Verified through the CNAMEs alone: the TXT is optional.
    dns.remove(&record(&reg, &id, Purpose::Verification, 0).name);
    assert_eq!(diagnose(&reg, &id, &dns), vec![]);
    // Flattened CNAMEs carrying the right key are fine too.
    let (reg, id, dns) = easy("example.org");
    for (t, o) in reg
        .tenant_records(&id)
        .iter()
        .skip(1)
        .zip(reg.operator_records(&id))
    {
        dns.remove(&t.name);
        dns.add_txt(&t.name, &o.value);
    }
    assert_eq!(diagnose(&reg, &id, &dns), vec![]);
    // Email identities have no records; unknown identities are an error.
    let (_, _) = reg.create_email("alice@example.org", 0).unwrap();
    let email = IdentityName::parse("alice@example.org").unwrap();
    assert_eq!(block_on(reg.diagnose(&email, &dns)).unwrap(), vec![]);
    let unknown = IdentityName::parse("nowhere.example").unwrap();
    assert!(matches!(
        block_on(reg.diagnose(&unknown, &dns)),
        Err(RegistryError::UnknownIdentity(_))
    ));
}

#[test]
fn diagnose_zone_appended_twice() {
    let (reg, id, dns) = easy("example.com");
    dns.clear();
    publish(&dns, &reg.operator_records(&id));
    for r in reg.tenant_records(&id) {
        let wrong = DnsRecord {
            name: format!("{}.example.com", r.name),
            ..r
        };
        publish(&dns, &[wrong]);
    }
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice; 4]);
    assert!(f[0].found.contains("_easydkim.example.com.example.com"));
    assert!(f[0].fix.contains("_easydkim"), "{}", f[0].fix);
    assert_eq!(f[0].record.as_ref().unwrap().purpose, Purpose::Verification);
    let cname = record(&reg, &id, Purpose::DkimDelegation, 0);
    assert!(f[1].fix.contains(&cname.name.replace(".example.com", "")));

    // The CNAME target completed with the tenant's zone.
    let (reg, id, dns) = easy("example.com");
    let cname = record(&reg, &id, Purpose::DkimDelegation, 1);
    dns.add_cname(&cname.name, &format!("{}.example.com", cname.value));
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice]);
    assert!(f[0].fix.contains(&format!("{}.", cname.value)));

    // Subdomain identity in the parent's zone: news.example.com.example.com.
    let reg = registry();
    let id = reg
        .create_domain_with("news.example.com", DomainSetup::None, 0)
        .unwrap();
    let dns = StaticDns::new();
    let v = record(&reg, &id, Purpose::Verification, 0);
    dns.add_txt(&format!("{}.example.com", v.name), &v.value);
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice]);
    assert!(f[0].fix.contains("_easydkim.news"), "{}", f[0].fix);
}

#[test]
fn diagnose_wrong_record_type() {
    // TXT (wrong key) where a CNAME is expected.
    let (reg, id, dns) = easy("example.com");
    let cname = record(&reg, &id, Purpose::DkimDelegation, 0);
    dns.remove(&cname.name);
    let other = SigningKey::generate(KeySpec::Ed25519).unwrap();
    dns.add_txt(&cname.name, &other.dns_record());
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType]);
    assert!(f[0].found.starts_with("TXT "));
    assert!(f[0].fix.contains("CNAME"));

    // CNAME where the verification TXT is expected.
    let reg = registry();
    let id = reg
        .create_domain_with("example.org", DomainSetup::None, 0)
        .unwrap();
    let dns = StaticDns::new();
    let v = record(&reg, &id, Purpose::Verification, 0);
    dns.add_cname(&v.name, "verify.dnshost.example");
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType]);
    assert!(f[0].found.starts_with("CNAME "));

    // CNAME where the bring-your-own-key TXT is expected.
    let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
    let id = reg
        .create_domain_with(
            "example.net",
            DomainSetup::BringYourOwnKey {
                selector: Selector::parse("s1").unwrap(),
                key,
            },
            0,
        )
        .unwrap();
    let v = record(&reg, &id, Purpose::Verification, 0);
    dns.add_txt(&v.name, &v.value);
    dns.add_cname("s1._domainkey.example.net", "s1.keys.dnshost.example");
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType]);
}

#[test]
fn diagnose_cname_misspelt_or_other_zone() {
    let (reg, id, dns) = easy("example.com");
    let c0 = record(&reg, &id, Purpose::DkimDelegation, 0);
    let c1 = record(&reg, &id, Purpose::DkimDelegation, 1);
    let token0 = c0.value.split('.').next().unwrap().to_string();
    let mut typo = token0.clone();
    typo.replace_range(0..1, if typo.starts_with('a') { "b" } else { "a" });
    dns.add_cname(&c0.name, &format!("{typo}.{ZONE}"));
    let token1 = c1.value.split('.').next().unwrap();
    dns.add_cname(&c1.name, &format!("{token1}.dkim.us-east-1.example.net"));
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(
        kinds(&f),
        vec![
            FindingKind::CnameTargetMisspelt,
            FindingKind::CnameOtherZone
        ]
    );
    assert!(f[0].fix.contains(&c0.value));
    assert!(f[1].fix.contains("another zone"));
    assert!(f[1].fix.contains("dkim.us-east-1.example.net"));
}

#[test]
fn diagnose_verification_misplaced() {
    let reg = registry();
    let id = reg
        .create_domain_with("example.com", DomainSetup::None, 0)
        .unwrap();
    let v = record(&reg, &id, Purpose::Verification, 0);
    let dns = StaticDns::new();
    dns.add_txt("easydkim.example.com", &v.value);
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::VerificationRecordMisplaced]);
    assert!(f[0].fix.contains("underscore"));

    // A subdomain's token published at the parent domain.
    let id = reg
        .create_domain_with("news.example.com", DomainSetup::None, 0)
        .unwrap();
    let v = record(&reg, &id, Purpose::Verification, 0);
    dns.add_txt("_easydkim.example.com", &v.value);
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::VerificationRecordMisplaced]);
    assert!(f[0].fix.contains("parent"));

    // The apex form (for hosts refusing underscores) and the prefix are accepted.
    let id = reg
        .create_domain_with("example.org", DomainSetup::None, 0)
        .unwrap();
    let v = record(&reg, &id, Purpose::Verification, 0);
    dns.add_txt("example.org", "v=spf1 -all");
    dns.add_txt("example.org", &format!("easydkim:{}", v.value));
    assert_eq!(diagnose(&reg, &id, &dns), vec![]);
}

#[test]
fn diagnose_quotes_and_whitespace() {
    let reg = registry();
    let id = reg
        .create_domain_with("example.com", DomainSetup::None, 0)
        .unwrap();
    let v = record(&reg, &id, Purpose::Verification, 0);
    let dns = StaticDns::new();
    dns.add_txt(&v.name, &format!("\"{}\"", v.value));
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::ExtraQuotesOrWhitespace]);
    assert!(f[0].fix.contains("quotes"));

    dns.clear();
    dns.add_txt(&v.name, &format!(" {} ", v.value));
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::ExtraQuotesOrWhitespace]);

    // A quoted BYO key record.
    let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
    let rec = key.dns_record();
    let id = reg
        .create_domain_with(
            "example.net",
            DomainSetup::BringYourOwnKey {
                selector: Selector::parse("s1").unwrap(),
                key,
            },
            0,
        )
        .unwrap();
    let v = record(&reg, &id, Purpose::Verification, 0);
    dns.add_txt(&v.name, &v.value);
    dns.add_txt("s1._domainkey.example.net", &format!("\\\"{rec}\\\""));
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::ExtraQuotesOrWhitespace]);
}

#[test]
fn diagnose_stale_operator_key() {
    // Missing behind a correct CNAME.
    let (reg, id, dns) = easy("example.com");
    let ops = reg.operator_records(&id);
    dns.remove(&ops[0].name);
    // A different key behind another.
    dns.remove(&ops[2].name);
    let other = SigningKey::generate(KeySpec::Ed25519).unwrap();
    dns.add_txt(&ops[2].name, &other.dns_record());
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(
        kinds(&f),
        vec![FindingKind::StaleOperatorKey, FindingKind::StaleOperatorKey]
    );
    assert_eq!(f[0].record.as_ref(), Some(&ops[0]));
    assert_eq!(f[1].record.as_ref(), Some(&ops[2]));
    assert!(f[0].fix.contains("operator_records"));
    assert!(f[1].found.contains("another key"));
}

#[test]
fn diagnose_byo_key_mismatch() {
    let reg = registry();
    let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
    let id = reg
        .create_domain_with(
            "example.com",
            DomainSetup::BringYourOwnKey {
                selector: Selector::parse("s1").unwrap(),
                key,
            },
            0,
        )
        .unwrap();
    let dns = StaticDns::new();
    let v = record(&reg, &id, Purpose::Verification, 0);
    dns.add_txt(&v.name, &v.value);
    let old = SigningKey::generate(KeySpec::Ed25519).unwrap();
    dns.add_txt("s1._domainkey.example.com", &old.dns_record());
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::ByoKeyMismatch]);
    assert!(f[0].found.contains(&old.public_key().to_base64()[..10]));
    assert!(f[0]
        .fix
        .contains(&record(&reg, &id, Purpose::DkimKey, 0).value));
}

#[test]
fn diagnose_missing_wrong_value_and_server_errors() {
    let (reg, id, dns) = easy("example.com");
    let v = record(&reg, &id, Purpose::Verification, 0);
    let c0 = record(&reg, &id, Purpose::DkimDelegation, 0);
    dns.remove(&c0.name);
    dns.remove(&v.name);
    dns.add_txt(&v.name, "an-old-token");
    let c2 = record(&reg, &id, Purpose::DkimDelegation, 2);
    dns.set_failure(&c2.name, DnsError::Transient("SERVFAIL".into()));
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(
        kinds(&f),
        vec![
            FindingKind::WrongValue,
            FindingKind::Missing,
            FindingKind::DnsServerError
        ]
    );
    // Nothing at all: the TXT is reported missing too (the CNAMEs do not verify).
    dns.clear();
    let f = diagnose(&reg, &id, &dns);
    assert_eq!(kinds(&f), vec![FindingKind::Missing; 4]);
    assert!(f.iter().all(|f| !f.to_string().is_empty()));
}
