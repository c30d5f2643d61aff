//! Concurrency: signing threads, refresh threads and an add/remove thread on one registry.
//! Every signed message verifies, every transition is reported exactly once across all
//! refresh calls, and a slow DNS during `refresh` does not slow signing down.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use easydkim::{
    Check, DnsResult, DnsVerifier, Event, IdentityRegistry, KeySpec, RegistryConfig, StaticDns,
    Status, TenantSignature, VerificationStatus, Verifier, VerifyOptions,
};

use crate::precedence::{message_from, H, REGION, T0, ZONE};

use crate::support::{block_on, publish};
use VerificationStatus::{Pending, Success};

const NOW: u64 = T0 + H;

/// Ed25519 keys (fast) and OS-random tokens (unique across many identities).
fn config() -> RegistryConfig {
    let mut c = RegistryConfig::new(REGION, ZONE).expect("config");
    c.key_spec = KeySpec::Ed25519;
    c
}

/// Creates `domain` and publishes all its records (tenant and operator).
fn create_published(reg: &IdentityRegistry, dns: &StaticDns, domain: &str) {
    let id = reg.create_domain(domain, T0).expect("create");
    publish(dns, &reg.tenant_records(&id));
    publish(dns, &reg.operator_records(&id));
}

fn verifier() -> Verifier {
    Verifier::new(VerifyOptions::default().with_now(Some(NOW)))
}

#[test]
fn concurrent_sign_refresh_and_changes() {
    const SIGNERS: usize = 3;
    const PER_SIGNER: usize = 150;
    const PERMANENT: usize = 4;
    const DYNAMIC: usize = 24;

    let reg = Arc::new(IdentityRegistry::new(config()));
    let dns = Arc::new(StaticDns::new());
    let permanent: Vec<String> = (0..PERMANENT)
        .map(|i| format!("p{i}.example.com"))
        .collect();
    for d in &permanent {
        create_published(&reg, &dns, d);
    }
    let mut events: Vec<Event> = block_on(reg.refresh(&*dns, NOW)).events;

    let stop = Arc::new(AtomicBool::new(false));
    let all_events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let refresh_calls = Arc::new(AtomicUsize::new(0));

    // Two refresh threads racing each other.
    let refreshers: Vec<_> = (0..2)
        .map(|_| {
            let (reg, dns, stop) = (reg.clone(), dns.clone(), stop.clone());
            let (all_events, calls) = (all_events.clone(), refresh_calls.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                while !stop.load(Ordering::SeqCst) {
                    let report = rt.block_on(reg.refresh(&*dns, NOW));
                    calls.fetch_add(1, Ordering::SeqCst);
                    all_events.lock().expect("events").extend(report.events);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();

    // Adds domains (records published first), and deletes each one once it is verified.
    let changer = {
        let (reg, dns) = (reg.clone(), dns.clone());
        std::thread::spawn(move || {
            let mut created = Vec::new();
            let mut deleted = Vec::new();
            for i in 0..DYNAMIC {
                let d = format!("d{i}.example.com");
                create_published(&reg, &dns, &d);
                created.push(d);
                // Delete the oldest verified, not yet deleted one.
                if let Some(old) = created.iter().find(|d| {
                    !deleted.contains(*d)
                        && reg
                            .get_str(d)
                            .is_ok_and(|id| id.status() == Success && id.dkim_status() == Success)
                }) {
                    let old = old.clone();
                    reg.delete(&old).expect("delete");
                    deleted.push(old);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // On a very busy machine refresh may not have verified any yet: wait for one.
            let wait = Instant::now();
            while deleted.is_empty() && wait.elapsed() < Duration::from_secs(20) {
                let verified = created.iter().find(|d| {
                    reg.get_str(d)
                        .is_ok_and(|id| id.status() == Success && id.dkim_status() == Success)
                });
                if let Some(d) = verified.cloned() {
                    reg.delete(&d).expect("delete");
                    deleted.push(d);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (created, deleted)
        })
    };

    // Signers: the permanent domains always sign; the dynamic ones may or may not.
    let signers: Vec<_> = (0..SIGNERS)
        .map(|t| {
            let reg = reg.clone();
            let permanent = permanent.clone();
            std::thread::spawn(move || {
                let mut signed = Vec::new();
                for i in 0..PER_SIGNER {
                    let domain = if i % 3 == 0 {
                        format!("d{}.example.com", (i + t) % DYNAMIC)
                    } else {
                        permanent[(i + t) % permanent.len()].clone()
                    };
                    let input = message_from(&format!("user{t}.{i}@{domain}"));
                    let out = reg.sign_at(&input, NOW).expect("sign");
                    assert!(out.message.ends_with(&input), "caller's bytes kept");
                    match out.tenant {
                        TenantSignature::Signed(choice) => {
                            assert_eq!(choice.domain.as_str(), domain);
                            signed.push((domain, out.message));
                        }
                        TenantSignature::Unsigned(reason) => {
                            assert!(
                                !permanent.contains(&domain),
                                "{domain} unsigned: {reason:?}"
                            );
                            assert_eq!(out.message, input);
                        }
                    }
                }
                signed
            })
        })
        .collect();

    let mut signed = Vec::new();
    for s in signers {
        signed.extend(s.join().expect("signer thread"));
    }
    let (created, deleted) = changer.join().expect("changer thread");
    stop.store(true, Ordering::SeqCst);
    for r in refreshers {
        r.join().expect("refresh thread");
    }
    events.extend(std::mem::take(&mut *all_events.lock().expect("events")));
    // Catch up with the identities created last.
    events.extend(block_on(reg.refresh(&*dns, NOW)).events);
    assert!(refresh_calls.load(Ordering::SeqCst) >= 2);
    assert!(!deleted.is_empty(), "no identity was deleted while signing");

    // Every signed message verifies through the DNS (records are never unpublished).
    assert!(
        signed.len() >= SIGNERS * PER_SIGNER / 2,
        "{} signed",
        signed.len()
    );
    for (domain, message) in &signed {
        let results = block_on(verifier().verify(&*dns, message)).expect("verify");
        assert_eq!(results.len(), 1);
        assert_eq!(
            results[0].status,
            Status::Pass,
            "{domain}: {:?}",
            results[0].reason
        );
        assert_eq!(results[0].domain.as_deref(), Some(domain.as_str()));
    }

    // Each domain went Pending -> Success once for its identity and once for DKIM, in
    // exactly one refresh report; nothing else happened.
    let mut count: HashMap<(String, Check), usize> = HashMap::new();
    for e in &events {
        assert_eq!((e.from, e.to), (Pending, Success), "{e:?}");
        *count.entry((e.identity.to_string(), e.check)).or_default() += 1;
    }
    let domains: BTreeSet<&String> = permanent.iter().chain(&created).collect();
    for d in &domains {
        for check in [Check::Identity, Check::Dkim] {
            assert_eq!(
                count.get(&((*d).clone(), check)).copied().unwrap_or(0),
                1,
                "{d} {check:?}: {count:?}"
            );
        }
    }
    assert_eq!(events.len(), 2 * domains.len());
    for d in &deleted {
        assert!(reg.get_str(d).is_err(), "{d} still there");
    }
    for d in created.iter().filter(|d| !deleted.contains(d)) {
        let id = reg.get_str(d).expect("identity");
        assert_eq!((id.status(), id.dkim_status()), (Success, Success), "{d}");
    }
}

/// A DNS whose every lookup waits 500 ms first (an async timer, as a slow resolver would).
struct SlowDns {
    inner: StaticDns,
    started: AtomicUsize,
}

#[async_trait]
impl DnsVerifier for SlowDns {
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>> {
        self.started.fetch_add(1, Ordering::SeqCst);
        futures_timer::Delay::new(Duration::from_millis(500)).await;
        self.inner.txt(name).await
    }

    async fn cname(&self, name: &str) -> DnsResult<Vec<String>> {
        self.started.fetch_add(1, Ordering::SeqCst);
        futures_timer::Delay::new(Duration::from_millis(500)).await;
        self.inner.cname(name).await
    }
}

#[test]
fn slow_dns_does_not_block_signing() {
    let reg = Arc::new(IdentityRegistry::new(config()));
    let fast = StaticDns::new();
    create_published(&reg, &fast, "example.com");
    block_on(reg.refresh(&fast, NOW));
    assert_eq!(
        (
            reg.get_str("example.com").expect("id").status(),
            reg.get_str("example.com").expect("id").dkim_status()
        ),
        (Success, Success)
    );
    // Another identity for the slow refresh to check (its records are not published).
    reg.create_domain("slow.example.com", T0).expect("create");

    let slow = Arc::new(SlowDns {
        inner: StaticDns::new(),
        started: AtomicUsize::new(0),
    });
    let done = Arc::new(AtomicBool::new(false));
    let refresher = {
        let (reg, slow, done) = (reg.clone(), slow.clone(), done.clone());
        std::thread::spawn(move || {
            let report = block_on(reg.refresh(&*slow, NOW + H));
            done.store(true, Ordering::SeqCst);
            report
        })
    };
    // Wait until refresh is inside a lookup.
    let wait = Instant::now();
    while slow.started.load(Ordering::SeqCst) == 0 {
        assert!(
            wait.elapsed() < Duration::from_secs(30),
            "refresh never looked up"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    let input = message_from("alice@example.com");
    let start = Instant::now();
    for _ in 0..100 {
        let out = reg.sign_at(&input, NOW + H).expect("sign");
        assert!(matches!(out.tenant, TenantSignature::Signed(_)));
    }
    let took = start.elapsed();
    let refresh_still_running = !done.load(Ordering::SeqCst);
    assert!(
        took < Duration::from_millis(500),
        "100 signatures took {took:?} during a slow refresh"
    );
    assert!(
        refresh_still_running,
        "refresh finished before signing did: nothing was shown"
    );
    let report = refresher.join().expect("refresh thread");
    assert!(report.checked >= 1);
    // The slow DNS answered nothing, so example.com is now failing but within grace.
    let id = reg.get_str("example.com").expect("id");
    assert!(id.verification().is_verified(NOW + H, 72 * H));
}
