//! One registry per region: the same domain in two regions gets two independent setups.

use crate::support::block_on;
use easydkim::{
    KeySpec, Regions, RegistryConfig, RegistryError, StaticDns, TenantSignature, VerificationStatus,
};

fn config(region: &str) -> RegistryConfig {
    let mut c =
        RegistryConfig::new(region, &format!("dkim.{region}.operator.example.net")).unwrap();
    c.key_spec = KeySpec::Ed25519;
    c
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
    let tokens = |i: &easydkim::Identity| -> Vec<String> {
        i.dkim()
            .as_ref()
            .unwrap()
            .tokens()
            .iter()
            .map(|t| t.to_string())
            .collect()
    };
    assert_ne!(tokens(&a), tokens(&b));
    assert_ne!(a.verification_token(), b.verification_token());

    // Publish only eu-west-1's records: only that region verifies.
    let dns = StaticDns::new();
    dns.publish(&eu.tenant_records(&a));
    dns.publish(&eu.operator_records(&a));
    let reports = block_on(regions.refresh_all(&dns, now + 60));
    assert_eq!(reports.len(), 2);
    let a = eu.get(a.name()).unwrap();
    let b = us.get(b.name()).unwrap();
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

/// The region names the registry everywhere (events, snapshots, the shared store): it is
/// checked once, where the configuration is made, and cannot be changed around the check.
#[test]
fn region_names_are_validated_when_the_configuration_is_made() {
    for bad in ["", "eu west 1", "eu/west", "é", &"x".repeat(65)] {
        assert_eq!(
            RegistryConfig::new(bad, "dkim.example.net").err(),
            Some(easydkim::RegistryError::InvalidRegion(bad.to_string())),
            "{bad:?}"
        );
    }
    for good in ["eu-west-1", "us_east_2", "X", &"x".repeat(64)] {
        let c = RegistryConfig::new(good, "dkim.example.net").expect(good);
        assert_eq!(c.region(), good);
    }
}

/// The verification record's label and prefix: checked, then used in the records handed
/// to tenants.
#[test]
fn verification_record_shape_is_validated_and_used() {
    use easydkim::Purpose;
    let c = RegistryConfig::new("eu-west-1", "dkim.example.net").expect("config");
    assert_eq!(c.verification_record(), ("_easydkim", "easydkim:"));
    for (label, prefix) in [("", "x"), ("a.b", "x"), ("_ok", "a\"b"), ("_ok", "a;b")] {
        assert!(
            matches!(
                c.clone().with_verification_record(label, prefix),
                Err(easydkim::RegistryError::InvalidVerificationRecord { .. })
            ),
            "{label:?} {prefix:?}"
        );
    }
    let c = c
        .with_verification_record("_amazonses", "")
        .expect("SES shape");
    let reg = easydkim::IdentityRegistry::new(c);
    let id = reg
        .create_domain_with("example.com", easydkim::DomainSetup::None, 0)
        .expect("create");
    let txt = reg
        .tenant_records(&id)
        .into_iter()
        .find(|r| r.purpose == Purpose::Verification)
        .expect("verification record");
    assert_eq!(txt.name, "_amazonses.example.com");
    assert!(!txt.value.starts_with("easydkim:"), "{}", txt.value);
}
