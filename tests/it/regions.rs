//! One registry per region: the same domain in two regions gets two independent setups.

use easydkim::dns::StaticDns;
use easydkim::registry::{RecordType, RegistryError};
use easydkim::{KeySpec, Regions, RegistryConfig, TenantSignature, VerificationStatus};

fn config(region: &str) -> RegistryConfig {
    let mut c =
        RegistryConfig::new(region, &format!("dkim.{region}.operator.example.net")).unwrap();
    c.key_spec = KeySpec::Ed25519;
    c
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

const MSG: &[u8] = b"From: a@example.com\r\nSubject: r\r\n\r\nbody\r\n";

#[test]
fn same_domain_two_regions_independent_setups() {
    let mut regions = Regions::new();
    let eu = regions.add(config("eu-west-1")).unwrap();
    let us = regions.add(config("us-east-1")).unwrap();
    assert!(
        matches!(regions.add(config("eu-west-1")), Err(RegistryError::DuplicateRegion(r)) if r == "eu-west-1")
    );

    let now = 1_700_000_000;
    let a = eu.create_domain("example.com", now).unwrap();
    let b = us.create_domain("example.com", now).unwrap();
    let tokens = |i: &easydkim::registry::Identity| -> Vec<String> {
        i.dkim
            .as_ref()
            .unwrap()
            .tokens()
            .iter()
            .map(|t| t.to_string())
            .collect()
    };
    assert_ne!(tokens(&a), tokens(&b));
    assert_ne!(a.verification_token, b.verification_token);

    // Publish only eu-west-1's records: only that region verifies.
    let dns = StaticDns::new();
    for r in eu.tenant_records(&a).iter().chain(&eu.operator_records(&a)) {
        match r.record_type {
            RecordType::Cname => dns.add_cname(&r.name, &r.value),
            RecordType::Txt => dns.add_txt(&r.name, &r.value),
        }
    }
    let reports = block_on(regions.refresh_all(&dns, now + 60));
    assert_eq!(reports.len(), 2);
    let a = eu.get(&a.name).unwrap();
    let b = us.get(&b.name).unwrap();
    assert_eq!(
        (a.status(), a.dkim_status()),
        (VerificationStatus::Success, VerificationStatus::Success)
    );
    assert_eq!(
        (b.status(), b.dkim_status()),
        (VerificationStatus::Pending, VerificationStatus::Pending)
    );
    assert!(matches!(
        eu.sign_at(MSG, now + 120).unwrap().tenant,
        TenantSignature::Signed(_)
    ));
    assert!(matches!(
        us.sign_at(MSG, now + 120).unwrap().tenant,
        TenantSignature::Unsigned(_)
    ));
    assert_eq!(
        regions.iter().map(|(r, _)| r).collect::<Vec<_>>(),
        vec!["eu-west-1", "us-east-1"]
    );
}
