//! `refresh` at scale: bounded concurrency and a per-identity time budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::block_on;
use async_trait::async_trait;
use easydkim::{
    DnsError, DnsResult, DnsVerifier, DomainSetup, IdentityRegistry, LastError, RegistryConfig,
    VerificationStatus,
};

/// Answers NXDOMAIN after a delay, counting the lookups in flight.
struct SlowDns {
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    total: AtomicUsize,
}

impl SlowDns {
    fn new(delay: Duration) -> Self {
        SlowDns {
            delay,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }

    async fn answer(&self) -> DnsResult<Vec<String>> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
        futures_timer::Delay::new(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Err(DnsError::NoSuchName)
    }
}

#[async_trait]
impl DnsVerifier for SlowDns {
    async fn txt(&self, _: &str) -> DnsResult<Vec<String>> {
        self.answer().await
    }
    async fn cname(&self, _: &str) -> DnsResult<Vec<String>> {
        self.answer().await
    }
}

/// Never answers.
struct DeadDns;

#[async_trait]
impl DnsVerifier for DeadDns {
    async fn txt(&self, _: &str) -> DnsResult<Vec<String>> {
        std::future::pending().await
    }
    async fn cname(&self, _: &str) -> DnsResult<Vec<String>> {
        std::future::pending().await
    }
}

fn registry(n: usize, concurrency: usize) -> IdentityRegistry {
    let mut config = RegistryConfig::new("eu-west-1", "dkim.operator.example.net").unwrap();
    config.refresh_concurrency = concurrency;
    let reg = IdentityRegistry::new(config);
    for i in 0..n {
        reg.create_domain_with(&format!("d{i}.example.com"), DomainSetup::None, 0)
            .unwrap();
    }
    reg
}

#[test]
fn lookups_in_flight_are_bounded_by_the_concurrency() {
    let reg = registry(500, 16);
    let dns = SlowDns::new(Duration::from_millis(2));
    let report = block_on(reg.refresh(&dns, 60));
    assert_eq!(report.checked, 500);
    // Each identity without DKIM makes two TXT lookups (labelled name and apex), together.
    assert_eq!(dns.total.load(Ordering::SeqCst), 1000);
    let max = dns.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 16 * 2, "{max} lookups in flight with concurrency 16");
    assert!(max > 2, "checks ran one at a time ({max} in flight)");
    assert!(reg
        .list()
        .iter()
        .all(|i| i.verification().last_error == Some(LastError::HostNotFound)));
}

#[test]
fn a_dead_resolver_costs_one_budget_and_fails_nothing() {
    let mut config = RegistryConfig::new("eu-west-1", "dkim.operator.example.net").unwrap();
    config.check_budget = Duration::from_millis(50);
    let reg = IdentityRegistry::new(config);
    for i in 0..200 {
        reg.create_domain_with(&format!("d{i}.example.com"), DomainSetup::None, 0)
            .unwrap();
    }
    // Past the detection window: a definite miss would fail them, a timeout must not.
    let started = std::time::Instant::now();
    let report = block_on(reg.refresh(&DeadDns, 100 * 3600));
    assert_eq!(report.checked, 200);
    assert!(report.events.is_empty(), "{:?}", report.events);
    for i in reg.list() {
        assert_eq!(i.status(), VerificationStatus::Pending);
        assert_eq!(i.verification().last_error, Some(LastError::DnsServerError));
    }
    // 200 identities at 64 at a time: four budgets, not 200.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
