//! Replicas across regions (a replica's "deterministic setup"): a replica shares
//! its parent's tokens, keys and signing zone, so one set of tenant CNAMEs verifies both
//! regions; its statuses follow DNS like any identity's; the parent's rotations reach it;
//! and each refusal has its typed error.

use easydkim::{
    Check, DomainSetup, IdentityRegistry, KeyRole, KeySpec, Purpose, Regions, RegistryConfig,
    RegistryError, RotationPhase, RotationStep, Selector, StaticDns, VerificationStatus,
};

use crate::key;
use crate::precedence::{name, H, T0};
use crate::rotation::{apply_changes, assert_all_verify, role, send, DAY};

use crate::support::{block_on, publish};
use VerificationStatus::{Pending, Success, TemporaryFailure};

const EU: &str = "eu-west-1";
const US: &str = "us-east-1";
const AP: &str = "ap-south-1";
const DOMAIN: &str = "example.com";
const SENDER: &str = "user@example.com";

fn zone(region: &str) -> String {
    format!("dkim.{region}.operator.example.net")
}

fn config(region: &str) -> RegistryConfig {
    let mut c = RegistryConfig::new(region, &zone(region)).expect("config");
    c.key_spec = KeySpec::Ed25519;
    c
}

fn regions() -> Regions {
    let mut r = Regions::new();
    for region in [EU, US, AP] {
        r.add(config(region)).expect("add region");
    }
    r
}

fn reg<'a>(regions: &'a Regions, region: &str) -> &'a IdentityRegistry {
    regions.get(region).expect("region")
}

fn statuses(r: &IdentityRegistry) -> (VerificationStatus, VerificationStatus) {
    let id = r.get_str(DOMAIN).expect("identity");
    (id.status(), id.dkim_status())
}

/// `example.com` in EU with a replica in US; `dns` holds exactly the parent's records
/// (tenant and operator); both verified by one `refresh_all`.
fn replicated() -> (Regions, StaticDns) {
    let regions = regions();
    let eu = reg(&regions, EU);
    let parent = eu.create_domain(DOMAIN, T0).expect("create");
    let replica = regions
        .replicate(DOMAIN, EU, US, T0 + 60)
        .expect("replicate");
    assert_eq!(replica.replica_of(), Some(EU));
    let dns = StaticDns::new();
    publish(&dns, &eu.tenant_records(&parent));
    publish(&dns, &eu.operator_records(&parent));
    block_on(regions.refresh_all(&dns, T0 + H));
    assert_eq!(statuses(eu), (Success, Success));
    assert_eq!(statuses(reg(&regions, US)), (Success, Success));
    (regions, dns)
}

#[test]
fn one_set_of_tenant_cnames_verifies_both_regions() {
    let regions = regions();
    let (eu, us) = (reg(&regions, EU), reg(&regions, US));
    let parent = eu.create_domain(DOMAIN, T0).expect("create");
    let replica = regions
        .replicate(DOMAIN, EU, US, T0 + 60)
        .expect("replicate");
    assert_eq!(
        (replica.status(), replica.dkim_status()),
        (Pending, Pending)
    );

    // The replica's records are the parent's: same tokens, CNAME targets in the parent's
    // signing zone (not the replica region's), same verification token.
    let tenant = eu.tenant_records(&parent);
    assert_eq!(us.tenant_records(&replica), tenant);
    assert_eq!(us.operator_records(&replica), eu.operator_records(&parent));
    for r in tenant
        .iter()
        .filter(|r| r.purpose == Purpose::DkimDelegation)
    {
        assert!(r.value.ends_with(&zone(EU)), "{r:?}");
    }
    assert_eq!(
        parent.dkim().expect("dkim").tokens(),
        replica.dkim().expect("dkim").tokens()
    );

    // Nothing published yet: both pending, neither signs.
    let dns = StaticDns::new();
    block_on(regions.refresh_all(&dns, T0 + H));
    assert_eq!(statuses(us), (Pending, Pending));

    // Only the parent's records (the tenant publishes the CNAMEs once) verify both.
    publish(&dns, &tenant);
    publish(&dns, &eu.operator_records(&parent));
    let reports = block_on(regions.refresh_all(&dns, T0 + 2 * H));
    assert_eq!(reports.len(), 3);
    assert_eq!(statuses(eu), (Success, Success));
    assert_eq!(statuses(us), (Success, Success));

    let sent = vec![
        send(eu, SENDER, T0 + 3 * H, "eu"),
        send(us, SENDER, T0 + 3 * H, "us"),
    ];
    assert_eq!(sent[0].selector, sent[1].selector);
    assert_all_verify(&dns, &sent, T0 + 3 * H, "both regions");

    // The replica's status follows DNS like any identity's.
    for r in tenant
        .iter()
        .filter(|r| r.purpose == Purpose::DkimDelegation)
    {
        dns.remove(&r.name);
    }
    block_on(regions.refresh_all(&dns, T0 + 4 * H));
    assert_eq!(statuses(us).1, TemporaryFailure);
    assert_eq!(statuses(eu).1, TemporaryFailure);
}

#[test]
fn replication_refusals() {
    let regions = regions();
    let eu = reg(&regions, EU);
    eu.create_domain(DOMAIN, T0).expect("create");
    eu.create_domain_with(
        "byo.example",
        DomainSetup::BringYourOwnKey {
            selector: Selector::parse("s1").expect("selector"),
            key: key("ed25519.pem"),
        },
        T0,
    )
    .expect("create");
    eu.create_domain_with("plain.example", DomainSetup::None, T0)
        .expect("create");

    assert_eq!(
        regions.replicate(DOMAIN, EU, EU, T0).map(|_| ()),
        Err(RegistryError::SameRegion {
            identity: name(DOMAIN),
            region: EU.into()
        })
    );
    assert_eq!(
        regions.replicate(DOMAIN, "mars-1", US, T0).map(|_| ()),
        Err(RegistryError::UnknownRegion("mars-1".into()))
    );
    assert_eq!(
        regions.replicate(DOMAIN, EU, "mars-1", T0).map(|_| ()),
        Err(RegistryError::UnknownRegion("mars-1".into()))
    );
    assert_eq!(
        regions.replicate("nobody.example", EU, US, T0).map(|_| ()),
        Err(RegistryError::UnknownIdentity(name("nobody.example")))
    );
    assert_eq!(
        regions.replicate("byo.example", EU, US, T0).map(|_| ()),
        Err(RegistryError::ParentUsesOwnKey(name("byo.example")))
    );
    assert_eq!(
        regions.replicate("plain.example", EU, US, T0).map(|_| ()),
        Err(RegistryError::NoDkimSetup(name("plain.example")))
    );

    regions.replicate(DOMAIN, EU, US, T0).expect("replicate");
    assert_eq!(
        regions.replicate(DOMAIN, EU, US, T0).map(|_| ()),
        Err(RegistryError::IdentityExists(name(DOMAIN)))
    );
    assert_eq!(
        regions.replicate(DOMAIN, US, AP, T0).map(|_| ()),
        Err(RegistryError::ReplicaOfReplica {
            identity: name(DOMAIN),
            parent_region: EU.into()
        })
    );
    reg(&regions, AP)
        .create_domain("taken.example", T0)
        .expect("create");
    eu.create_domain("taken.example", T0).expect("create");
    assert_eq!(
        regions.replicate("taken.example", EU, AP, T0).map(|_| ()),
        Err(RegistryError::IdentityExists(name("taken.example")))
    );

    // A replica's keys follow its parent: it does not rotate or change them itself.
    let us = reg(&regions, US);
    let is_replica = RegistryError::IsReplica {
        identity: name(DOMAIN),
        parent_region: EU.into(),
    };
    let dns = StaticDns::new();
    assert_eq!(
        block_on(us.rotate(DOMAIN, &dns, T0)),
        Err(is_replica.clone())
    );
    assert_eq!(
        us.set_next_key_spec(DOMAIN, KeySpec::Rsa1024, T0),
        Err(is_replica.clone())
    );
    assert_eq!(us.enable_dual_signing(DOMAIN, T0), Err(is_replica));
}

#[test]
fn rotation_in_the_parent_reaches_the_replica() {
    let (regions, dns) = replicated();
    let (eu, us) = (reg(&regions, EU), reg(&regions, US));
    let a = role(eu, DOMAIN, KeyRole::Active);
    let b = role(eu, DOMAIN, KeyRole::Next);
    let mut sent = vec![
        send(eu, SENDER, T0 + 2 * H, "eu first"),
        send(us, SENDER, T0 + 2 * H, "us first"),
    ];

    // Rotating through the replica's region rotates the parent, then copies the keys.
    let t1 = T0 + 10 * DAY;
    let step = block_on(regions.rotate(US, DOMAIN, &dns, t1)).expect("rotate");
    assert!(
        matches!(&step, RotationStep::Switched { active, previous, .. } if *active == b && *previous == a),
        "{step:?}"
    );
    apply_changes(&dns, step.changes());
    assert_eq!(role(us, DOMAIN, KeyRole::Active), b);
    assert_eq!(
        us.get_str(DOMAIN).expect("id").rotation_state(),
        eu.get_str(DOMAIN).expect("id").rotation_state()
    );
    sent.push(send(eu, SENDER, t1 + 1, "eu after the switch"));
    sent.push(send(us, SENDER, t1 + 1, "us after the switch"));
    assert_eq!(sent[3].selector, b.as_str());
    assert_all_verify(&dns, &sent, t1 + 1, "after the switch");

    // The overlap ends during refresh_all: the parent's automatic step, then the copy,
    // reported in the replica's region too.
    let reports = block_on(regions.refresh_all(&dns, t1 + 7 * DAY));
    let by_region = |region: &str| -> Vec<Check> {
        reports
            .iter()
            .flat_map(|r| &r.events)
            .filter(|e| e.region == region)
            .map(|e| e.check)
            .collect()
    };
    assert_eq!(
        by_region(EU),
        [Check::Rotation(RotationPhase::NextKeyGenerated)]
    );
    assert_eq!(
        by_region(US),
        [Check::Rotation(RotationPhase::NextKeyGenerated)]
    );
    let eu_steps: Vec<&RotationStep> = reports
        .iter()
        .flat_map(|r| &r.rotations)
        .map(|(_, s)| s)
        .collect();
    assert_eq!(eu_steps.len(), 1, "only the parent rotates");
    apply_changes(&dns, eu_steps[0].changes());
    let (p, r) = (
        eu.get_str(DOMAIN).expect("id"),
        us.get_str(DOMAIN).expect("id"),
    );
    assert_eq!(us.operator_records(&r), eu.operator_records(&p));
    assert_eq!(p.key_roles(), r.key_roles());
    // Nothing more to copy.
    assert!(regions.sync_replicas(t1 + 7 * DAY + 1).is_empty());

    // The next switch (to the fresh key) signs verifiably in both regions.
    let step = block_on(regions.rotate(EU, DOMAIN, &dns, t1 + 8 * DAY)).expect("rotate");
    assert!(matches!(step, RotationStep::Switched { .. }), "{step:?}");
    sent.push(send(eu, SENDER, t1 + 8 * DAY + 1, "eu second switch"));
    sent.push(send(us, SENDER, t1 + 8 * DAY + 1, "us second switch"));
    assert_eq!(sent[4].selector, sent[5].selector);
    assert_all_verify(&dns, &sent, t1 + 8 * DAY + 1, "after the second switch");
}

#[cfg(feature = "serde")]
#[test]
fn a_replica_survives_a_snapshot_with_its_parents_zone() {
    let (regions, _) = replicated();
    let us = reg(&regions, US);
    let snap = us.to_snapshot().expect("snapshot");
    let json = serde_json::to_string(&snap).expect("json");
    let back = serde_json::from_str(&json).expect("parse");
    let restored = IdentityRegistry::from_snapshot(config(US), &back).expect("restore");
    let (x, y) = (
        us.get_str(DOMAIN).expect("id"),
        restored.get_str(DOMAIN).expect("id"),
    );
    assert_eq!(y.replica_of(), Some(EU));
    assert_eq!(us.tenant_records(&x), restored.tenant_records(&y));
    assert!(restored
        .tenant_records(&y)
        .iter()
        .filter(|r| r.purpose == Purpose::DkimDelegation)
        .all(|r| r.value.ends_with(&zone(EU))));
}
