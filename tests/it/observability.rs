//! What an operator sees: the `tracing` events and spans of the registry (captured by a
//! small subscriber of our own: targets, levels, fields, the spans around them) and the
//! signing statistics (`signing_stats` / `reset_signing_stats`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use easydkim::{
    DkimSetup, DnsError, DnsResult, DnsVerifier, IdentityRegistry, SignCounts, Signer, StaticDns,
    TenantSignature,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::key;
use crate::precedence::{config, message_from, publish_dkim, refresh, statuses, H, T0};
use crate::support::{block_on, publish};
use easydkim::VerificationStatus::{Pending, Success};

// ---------------------------------------------------------------------------------------
// A capturing subscriber
// ---------------------------------------------------------------------------------------

/// One captured event: level, target, fields (the message as `message`) and the names and
/// fields of the spans it happened in, outermost first.
#[derive(Clone, Debug)]
struct Captured {
    level: Level,
    target: String,
    fields: BTreeMap<String, String>,
    spans: Vec<(String, BTreeMap<String, String>)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    fn message(&self) -> &str {
        self.field("message").unwrap_or("")
    }
}

/// Collects field values as text (strings without quotes).
struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

#[derive(Default)]
struct Inner {
    events: Vec<Captured>,
    spans: HashMap<u64, (String, BTreeMap<String, String>)>,
    /// Every span created, in order (name, fields).
    created: Vec<(String, BTreeMap<String, String>)>,
    stack: Vec<u64>,
}

/// A subscriber that keeps everything, at every level.
#[derive(Clone, Default)]
struct Capture {
    inner: Arc<Mutex<Inner>>,
    next: Arc<AtomicU64>,
}

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.inner.lock().expect("capture").events.clone()
    }

    fn spans_created(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.inner.lock().expect("capture").created.clone()
    }

    /// Runs `f` with this subscriber as the thread's default.
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::subscriber::with_default(self.clone(), f)
    }

    /// Every text the subscriber saw: each field and span field as `name=value`.
    fn all_text(&self) -> Vec<String> {
        let inner = self.inner.lock().expect("capture");
        let mut out = Vec::new();
        for e in &inner.events {
            out.extend(e.fields.iter().map(|(k, v)| format!("{k}={v}")));
        }
        for (name, fields) in &inner.created {
            out.push(name.clone());
            out.extend(fields.iter().map(|(k, v)| format!("{k}={v}")));
        }
        out
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        let name = span.metadata().name().to_string();
        let mut inner = self.inner.lock().expect("capture");
        inner.created.push((name.clone(), fields.clone()));
        inner.spans.insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut inner = self.inner.lock().expect("capture");
        if let Some((_, fields)) = inner.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let mut inner = self.inner.lock().expect("capture");
        let spans = inner
            .stack
            .iter()
            .filter_map(|id| inner.spans.get(id).cloned())
            .collect();
        inner.events.push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            fields,
            spans,
        });
    }
    fn enter(&self, span: &Id) {
        self.inner
            .lock()
            .expect("capture")
            .stack
            .push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut inner = self.inner.lock().expect("capture");
        if let Some(pos) = inner.stack.iter().rposition(|s| *s == span.into_u64()) {
            inner.stack.remove(pos);
        }
    }
}

/// A resolver that is down: every lookup fails transiently.
struct DownDns;

#[async_trait]
impl DnsVerifier for DownDns {
    async fn txt(&self, _: &str) -> DnsResult<Vec<String>> {
        Err(DnsError::Transient("SERVFAIL".into()))
    }
    async fn cname(&self, _: &str) -> DnsResult<Vec<String>> {
        Err(DnsError::Transient("SERVFAIL".into()))
    }
}

/// `example.com` created at `T0` with its records published in a new DNS.
fn pending_example_com(reg: &IdentityRegistry) -> StaticDns {
    let id = reg.create_domain("example.com", T0).expect("create");
    let dns = StaticDns::new();
    publish(&dns, &reg.tenant_records(&id));
    publish(&dns, &reg.operator_records(&id));
    dns
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

#[test]
fn refresh_reports_pending_to_success_with_its_fields_in_a_check_span() {
    let reg = IdentityRegistry::new(config());
    let dns = pending_example_com(&reg);
    let capture = Capture::default();
    capture.run(|| refresh(&reg, &dns, T0 + H));
    assert_eq!(statuses(&reg, "example.com"), (Success, Success));

    let events = capture.events();
    let transitions: Vec<_> = events
        .iter()
        .filter(|e| e.target == "easydkim::status")
        .collect();
    assert_eq!(transitions.len(), 2, "{transitions:#?}");
    for (e, check) in transitions.iter().zip(["identity", "dkim"]) {
        assert_eq!(e.level, Level::INFO);
        assert_eq!(e.field("identity"), Some("example.com"));
        assert_eq!(e.field("check"), Some(check));
        assert_eq!(e.field("from"), Some("Pending"));
        assert_eq!(e.field("to"), Some("Success"));
        assert_eq!(e.field("region"), Some(crate::precedence::REGION));
        assert_eq!(e.message(), "status changed");
        // Inside the refresh span.
        assert_eq!(e.spans.first().map(|s| s.0.as_str()), Some("refresh"));
    }
    // One check span per identity checked, naming it.
    let checks: Vec<_> = capture
        .spans_created()
        .into_iter()
        .filter(|(n, _)| n == "check")
        .collect();
    assert_eq!(checks.len(), 1);
    assert_eq!(
        checks[0].1.get("identity").map(String::as_str),
        Some("example.com")
    );
    // Nothing above INFO in a clean refresh.
    assert!(events.iter().all(|e| e.level >= Level::INFO), "{events:#?}");
}

#[test]
fn unsigned_and_refused_messages_are_debug_events_with_their_reason() {
    let reg = IdentityRegistry::new(config());
    let _dns = pending_example_com(&reg);
    let capture = Capture::default();
    capture.run(|| {
        let out = reg
            .sign_at(&message_from("alice@example.com"), T0 + 2 * H)
            .expect("sign");
        assert!(matches!(out.tenant, TenantSignature::Unsigned(_)));
        reg.sign_at(&message_from("bob@elsewhere.example"), T0 + 2 * H)
            .expect("sign");
        reg.sign_at(b"no headers at all", T0 + 2 * H)
            .expect_err("refused");
    });
    let sign: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.target == "easydkim::sign")
        .collect();
    assert_eq!(sign.len(), 3, "{sign:#?}");
    assert!(sign.iter().all(|e| e.level == Level::DEBUG));
    assert_eq!(sign[0].field("reason"), Some("not_yet_verified"));
    assert_eq!(sign[0].field("identity"), Some("example.com"));
    assert_eq!(sign[0].field("check"), Some("dkim"));
    assert_eq!(sign[0].field("status"), Some("Pending"));
    assert_eq!(sign[0].field("operator_signed"), Some("false"));
    assert_eq!(sign[0].message(), "message not signed");
    assert_eq!(sign[1].field("reason"), Some("unverified_sender"));
    assert_eq!(sign[1].field("identity"), None);
    assert_eq!(sign[2].message(), "message refused");
    assert_eq!(sign[2].field("error"), Some("message"));
}

#[test]
fn a_transient_dns_failure_is_a_warning_never_an_error() {
    let reg = IdentityRegistry::new(config());
    reg.create_domain("example.com", T0).expect("create");
    let capture = Capture::default();
    capture.run(|| block_on(reg.refresh(&DownDns, T0 + H)));
    assert_eq!(statuses(&reg, "example.com"), (Pending, Pending));
    let events = capture.events();
    let dns: Vec<_> = events
        .iter()
        .filter(|e| e.target == "easydkim::dns")
        .collect();
    assert!(!dns.is_empty());
    for e in &dns {
        assert_eq!(e.level, Level::WARN, "{e:#?}");
        assert_eq!(e.field("dns.class"), Some("transient"));
        assert!(e
            .field("dns.name")
            .is_some_and(|n| n.ends_with("example.com")));
        assert!(e.field("error").is_some_and(|m| m.contains("SERVFAIL")));
        // The identity is in the enclosing check span.
        let check = e.spans.iter().find(|s| s.0 == "check").expect("check span");
        assert_eq!(
            check.1.get("identity").map(String::as_str),
            Some("example.com")
        );
    }
    assert!(
        events.iter().all(|e| e.level != Level::ERROR),
        "{events:#?}"
    );
}

#[test]
fn a_missing_record_is_a_permanent_dns_answer_at_debug() {
    let reg = IdentityRegistry::new(config());
    reg.create_domain("example.com", T0).expect("create");
    let capture = Capture::default();
    capture.run(|| refresh(&reg, &StaticDns::new(), T0 + H));
    let dns: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.target == "easydkim::dns")
        .collect();
    assert!(!dns.is_empty());
    for e in &dns {
        assert_eq!(e.level, Level::DEBUG, "{e:#?}");
        assert_eq!(e.field("dns.class"), Some("permanent"));
    }
}

#[test]
fn rotation_steps_are_spans_and_info_events() {
    let reg = IdentityRegistry::new(config());
    let dns = pending_example_com(&reg);
    refresh(&reg, &dns, T0 + H);
    let capture = Capture::default();
    capture
        .run(|| block_on(reg.rotate("example.com", &dns, T0 + 2 * H)))
        .expect("rotate");
    let spans = capture.spans_created();
    assert!(
        spans.iter().any(|(n, f)| n == "rotation_step"
            && f.get("trigger").map(String::as_str) == Some("manual")
            && f.get("identity").map(String::as_str) == Some("example.com")),
        "{spans:#?}"
    );
    let steps: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.target == "easydkim::rotation")
        .collect();
    assert!(!steps.is_empty());
    for e in &steps {
        assert_eq!(e.level, Level::INFO);
        assert_eq!(e.field("identity"), Some("example.com"));
        assert_eq!(e.field("check"), Some("rotation"));
        assert!(e.field("phase").is_some());
    }
}

/// Signs, creates identities, verifies, rotates and refuses with every event captured: no
/// field, message or span field holds a private key (PEM or its base64 lines), the
/// message's body or its header values.
#[test]
fn no_key_material_or_message_content_in_any_field() {
    let mut c = config();
    c.operator_signer =
        Some(Signer::new(key("rsa1024.pem"), "operator.example.net", "op1").expect("op"));
    let reg = IdentityRegistry::new(c);
    let capture = Capture::default();
    let body = "Confidential-body-line-7f3a9c";
    let subject = "Quarterly-numbers-91c2e4";
    let message = format!(
        "From: Alice <alice@example.com>\r\nTo: carol@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <id-5d1b@example.com>\r\n\r\n{body}\r\n"
    );
    let mut secrets: Vec<String> = Vec::new();
    capture.run(|| {
        let dns = pending_example_com(&reg);
        // Unsigned first (pending), then signed, then after a rotation.
        reg.sign_at(message.as_bytes(), T0).expect("sign");
        refresh(&reg, &dns, T0 + H);
        let out = reg.sign_at(message.as_bytes(), T0 + H).expect("sign");
        assert!(matches!(out.tenant, TenantSignature::Signed(_)));
        block_on(reg.rotate("example.com", &dns, T0 + 2 * H)).expect("rotate");
        publish_dkim(&dns, &reg, "example.com");
        refresh(&reg, &dns, T0 + 3 * H);
        reg.sign_at(message.as_bytes(), T0 + 3 * H).expect("sign");
        reg.create_email("dave@example.org", T0).expect("email");
        reg.sign_at(b"Subject: Quarterly-numbers-91c2e4\r\n\r\nx\r\n", T0)
            .expect_err("no From");
        block_on(reg.refresh(&DownDns, T0 + 4 * H));
        let id = reg.get_str("example.com").expect("identity");
        if let Some(DkimSetup::Easy { keys, .. }) = id.dkim() {
            for k in keys.iter() {
                secrets.push(k.key.to_pkcs8_pem().expect("pem").to_string());
            }
        }
    });
    secrets.push(key("rsa1024.pem").to_pkcs8_pem().expect("pem").to_string());
    assert!(secrets.len() >= 4);
    let mut forbidden: Vec<String> = vec![
        body.into(),
        subject.into(),
        "carol@example.org".into(),
        "id-5d1b".into(),
        "alice@".into(),
    ];
    for pem in &secrets {
        forbidden.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(String::from),
        );
    }
    let texts = capture.all_text();
    assert!(texts.len() > 10, "the run was traced: {texts:#?}");
    // A positive control: the identity names are there, so the fields were captured.
    assert!(texts.iter().any(|t| t == "identity=example.com"));
    for text in &texts {
        for f in &forbidden {
            assert!(!text.contains(f.as_str()), "{f:?} leaked into {text:?}");
        }
    }
}

/// The per-message path (`sign`) only has level-gated DEBUG/TRACE events: with no
/// subscriber (or one at INFO) they cost a level comparison.
#[test]
fn the_signing_path_logs_only_at_debug_or_trace() {
    for (file, src) in [
        ("sign.rs", include_str!("../../src/registry/sign.rs")),
        ("stats.rs", include_str!("../../src/registry/stats.rs")),
        ("resolve.rs", include_str!("../../src/registry/resolve.rs")),
    ] {
        for m in [
            "info!",
            "warn!",
            "error!",
            "event!",
            "span!",
            "_span!",
            "instrument",
        ] {
            assert!(!src.contains(m), "{file} uses {m}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Signing statistics
// ---------------------------------------------------------------------------------------

fn counts(signed: u64, refused: u64) -> SignCounts {
    let mut c = SignCounts::default();
    c.signed = signed;
    c.refused = refused;
    c
}

#[test]
fn signing_stats_count_per_identity_and_in_total() {
    let mut c = config();
    c.operator_signer =
        Some(Signer::new(key("rsa1024.pem"), "operator.example.net", "op1").expect("op"));
    let reg = IdentityRegistry::new(c);
    let dns = pending_example_com(&reg);
    assert_eq!(reg.signing_stats(), Default::default());

    // Pending: unsigned, operator-only, counted for example.com.
    reg.sign_at(&message_from("alice@example.com"), T0)
        .expect("sign");
    refresh(&reg, &dns, T0 + H);
    for _ in 0..3 {
        reg.sign_at(&message_from("alice@example.com"), T0 + H)
            .expect("sign");
    }
    reg.sign_at(&message_from("bob@nobody.example"), T0 + H)
        .expect("sign");
    reg.sign_at(b"garbage", T0 + H).expect_err("refused");
    reg.set_signing_enabled("example.com", false)
        .expect("disable");
    reg.sign_at(&message_from("alice@example.com"), T0 + H)
        .expect("sign");

    let stats = reg.signing_stats();
    let t = stats.total;
    assert_eq!(t.signed, 3);
    assert_eq!(t.refused, 1);
    assert_eq!(t.unsigned.not_yet_verified, 1);
    assert_eq!(t.unsigned.unverified_sender, 1);
    assert_eq!(t.unsigned.signing_disabled, 1);
    assert_eq!(t.unsigned.dkim_not_verified, 0);
    assert_eq!(t.unsigned.no_dkim_setup, 0);
    assert_eq!(
        t.operator_only, 3,
        "every unsigned message got the operator's"
    );
    assert_eq!(t.calls(), 7);
    assert_eq!(stats.identities.len(), 1, "{stats:#?}");
    let ex = stats.identities["example.com"];
    assert_eq!(ex.signed, 3);
    assert_eq!(ex.unsigned.not_yet_verified, 1);
    assert_eq!(ex.unsigned.signing_disabled, 1);
    assert_eq!(ex.unsigned.unverified_sender, 0);
    assert_eq!(ex.operator_only, 2);
    assert_eq!(ex.refused, 0);

    // Counters survive changes to the identity (a status change, a setting) ...
    reg.set_signing_enabled("example.com", true)
        .expect("enable");
    reg.sign_at(&message_from("alice@example.com"), T0 + H)
        .expect("sign");
    assert_eq!(reg.signing_stats().identities["example.com"].signed, 4);

    // ... reset returns what it zeroed, and nothing is counted twice.
    let before = reg.reset_signing_stats();
    assert_eq!(before.total.signed, 4);
    assert_eq!(before.identities["example.com"].signed, 4);
    let after = reg.signing_stats();
    assert_eq!(after.total, SignCounts::default());
    assert!(after.identities.is_empty());
    reg.sign_at(&message_from("alice@example.com"), T0 + H)
        .expect("sign");
    assert_eq!(reg.signing_stats().total, counts(1, 0));

    // Deleting an identity drops its counters; the total keeps them.
    reg.delete("example.com").expect("delete");
    let stats = reg.signing_stats();
    assert!(stats.identities.is_empty());
    assert_eq!(stats.total, counts(1, 0));
}

#[test]
fn a_registry_over_another_ones_state_counts_from_zero() {
    let a = IdentityRegistry::new(config());
    let dns = pending_example_com(&a);
    refresh(&a, &dns, T0 + H);
    a.sign_at(&message_from("alice@example.com"), T0 + H)
        .expect("sign");
    let b = IdentityRegistry::with_state(config(), (*a.snapshot()).clone());
    b.sign_at(&message_from("alice@example.com"), T0 + H)
        .expect("sign");
    b.sign_at(&message_from("alice@example.com"), T0 + H)
        .expect("sign");
    assert_eq!(a.signing_stats().identities["example.com"], counts(1, 0));
    assert_eq!(b.signing_stats().identities["example.com"], counts(2, 0));
}

#[test]
fn signing_counters_are_cheap_to_read_while_signing_from_threads() {
    let reg = Arc::new(IdentityRegistry::new(config()));
    let dns = pending_example_com(&reg);
    refresh(&reg, &dns, T0 + H);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let reg = reg.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    reg.sign_at(&message_from("alice@example.com"), T0 + H)
                        .expect("sign");
                }
            })
        })
        .collect();
    let mut taken = 0;
    while threads.iter().any(|t| !t.is_finished()) {
        taken += reg.reset_signing_stats().total.signed;
    }
    for t in threads {
        t.join().expect("thread");
    }
    taken += reg.reset_signing_stats().total.signed;
    assert_eq!(taken, 200, "no increment lost between reads and resets");
}

#[cfg(feature = "serde")]
#[test]
fn signing_stats_serialize() {
    let reg = IdentityRegistry::new(config());
    let _dns = pending_example_com(&reg);
    reg.sign_at(&message_from("alice@example.com"), T0)
        .expect("sign");
    let json = serde_json::to_value(reg.signing_stats()).expect("json");
    assert_eq!(json["total"]["unsigned"]["not_yet_verified"], 1);
    assert_eq!(
        json["identities"]["example.com"]["unsigned"]["not_yet_verified"],
        1
    );
    let back: easydkim::SigningStats = serde_json::from_value(json).expect("back");
    assert_eq!(back, reg.signing_stats());
}

/// Two nodes sharing one store each count what they signed themselves.
#[cfg(feature = "serde")]
#[test]
fn nodes_sharing_a_store_count_separately() {
    use easydkim::shared::{SharedOptions, SharedRegistry};
    use easydkim::store::FileRegistryStore;

    let dir = crate::store::temp_dir("observability-nodes");
    let store = Arc::new(FileRegistryStore::new(dir.join("registry.json")));
    let open = || {
        block_on(SharedRegistry::open(
            node_config(),
            store.clone(),
            SharedOptions::default(),
        ))
        .expect("open")
    };
    let a = open();
    let b = open();
    block_on(a.mutate(|r| r.create_domain("example.com", T0))).expect("create");
    block_on(b.sync()).expect("sync");
    for _ in 0..3 {
        a.sign(&message_from("alice@example.com")).expect("sign");
    }
    b.sign(&message_from("alice@example.com")).expect("sign");
    let (sa, sb) = (a.registry().signing_stats(), b.registry().signing_stats());
    assert_eq!(sa.total.unsigned.not_yet_verified, 3);
    assert_eq!(sb.total.unsigned.not_yet_verified, 1);
    assert_eq!(sa.identities["example.com"].unsigned.not_yet_verified, 3);
    assert_eq!(sb.identities["example.com"].unsigned.not_yet_verified, 1);
    // A change committed by one node and applied by the other keeps the other's counters.
    block_on(a.mutate(|r| r.set_signing_enabled("example.com", false))).expect("disable");
    block_on(b.sync()).expect("sync");
    assert_eq!(
        b.registry().signing_stats().identities["example.com"]
            .unsigned
            .not_yet_verified,
        1
    );
}

#[cfg(feature = "serde")]
fn node_config() -> easydkim::RegistryConfig {
    let mut c = easydkim::RegistryConfig::new(crate::precedence::REGION, crate::precedence::ZONE)
        .expect("config");
    c.key_spec = easydkim::KeySpec::Ed25519;
    c
}

// ---------------------------------------------------------------------------------------
// Shared stores: writes, leadership, the follower's retries
// ---------------------------------------------------------------------------------------

/// A file store that can be made unreachable.
#[cfg(feature = "serde")]
struct FlakyStore {
    inner: easydkim::store::FileRegistryStore,
    down: std::sync::atomic::AtomicBool,
}

#[cfg(feature = "serde")]
impl FlakyStore {
    fn check(&self) -> Result<(), easydkim::shared::SharedError> {
        if self.down.load(Ordering::SeqCst) {
            Err(easydkim::shared::SharedError::Unavailable {
                reason: "store is down".into(),
                source: None,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(feature = "serde")]
#[async_trait]
impl easydkim::shared::RegistryStore for FlakyStore {
    async fn load(
        &self,
        config: &easydkim::RegistryConfig,
    ) -> Result<easydkim::shared::Loaded, easydkim::shared::SharedError> {
        self.check()?;
        self.inner.load(config).await
    }
    async fn commit(
        &self,
        config: &easydkim::RegistryConfig,
        changes: &[easydkim::shared::VersionedChange],
        events: &[easydkim::Event],
    ) -> Result<easydkim::shared::Committed, easydkim::shared::SharedError> {
        self.check()?;
        self.inner.commit(config, changes, events).await
    }
    async fn changes_since(
        &self,
        config: &easydkim::RegistryConfig,
        cursor: u64,
    ) -> Result<easydkim::shared::ChangesSince, easydkim::shared::SharedError> {
        self.check()?;
        self.inner.changes_since(config, cursor).await
    }
    async fn wait_for_changes(&self, timeout: std::time::Duration) -> bool {
        tokio::time::sleep(timeout).await;
        false
    }
    async fn undelivered_events(
        &self,
        region: &str,
        limit: usize,
    ) -> Result<Vec<easydkim::shared::StoredEvent>, easydkim::shared::SharedError> {
        self.inner.undelivered_events(region, limit).await
    }
    async fn mark_delivered(&self, ids: &[u64]) -> Result<(), easydkim::shared::SharedError> {
        self.inner.mark_delivered(ids).await
    }
}

#[cfg(feature = "serde")]
fn flaky_node(
    name: &str,
    options: easydkim::shared::SharedOptions,
) -> (Arc<FlakyStore>, easydkim::shared::SharedRegistry, impl Drop) {
    let dir = crate::store::temp_dir(name);
    let store = Arc::new(FlakyStore {
        inner: easydkim::store::FileRegistryStore::new(dir.join("registry.json")),
        down: Default::default(),
    });
    let node = block_on(easydkim::shared::SharedRegistry::open(
        node_config(),
        store.clone(),
        options,
    ))
    .expect("open");
    (store, node, dir)
}

#[cfg(feature = "serde")]
#[test]
fn store_writes_and_leadership_are_logged() {
    let (store, node, _dir) = flaky_node("observability-writes", Default::default());
    let capture = Capture::default();
    capture.run(|| {
        block_on(node.mutate(|r| r.create_domain("example.com", T0))).expect("create");
        let dns = StaticDns::new();
        block_on(node.refresh(&dns, T0 + H))
            .expect("refresh")
            .expect("leader");
        block_on(node.refresh(&dns, T0 + 2 * H))
            .expect("refresh")
            .expect("leader");
        block_on(node.resign()).expect("resign");
        store.down.store(true, Ordering::SeqCst);
        block_on(node.mutate(|r| r.set_signing_enabled("example.com", false)))
            .expect_err("store down");
    });
    let events = capture.events();
    let store_events: Vec<_> = events
        .iter()
        .filter(|e| e.target == "easydkim::store")
        .collect();
    let ok = store_events
        .iter()
        .find(|e| e.message() == "store write committed")
        .expect("a committed write");
    assert_eq!(ok.level, Level::DEBUG);
    assert_eq!(ok.field("identity"), Some("example.com"));
    assert_eq!(ok.field("changes"), Some("1"));
    let failed = store_events
        .iter()
        .find(|e| e.message() == "store write failed")
        .expect("a failed write");
    assert_eq!(failed.level, Level::ERROR);
    assert_eq!(failed.field("identity"), Some("example.com"));
    assert!(failed
        .field("error")
        .is_some_and(|e| e.contains("store is down")));

    let leader: Vec<_> = events
        .iter()
        .filter(|e| e.target == "easydkim::shared" && e.field("leader").is_some())
        .map(|e| (e.level, e.field("leader").unwrap_or("").to_string()))
        .collect();
    // Became leader at the first refresh (not again at the second), stopped at resign.
    assert_eq!(
        leader,
        [
            (Level::INFO, "true".to_string()),
            (Level::INFO, "false".to_string())
        ]
    );
}

/// `follow` logs each failed sync at WARN with the growing backoff, and INFO once the
/// store answers again.
#[cfg(feature = "serde")]
#[test]
fn follow_logs_failures_and_backs_off() {
    use std::time::Duration;
    let options = easydkim::shared::SharedOptions {
        retry_delay: Duration::from_millis(8),
        max_retry_delay: Duration::from_millis(40),
        poll_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let (store, node, _dir) = flaky_node("observability-follow", options);
    store.down.store(true, Ordering::SeqCst);
    let capture = Capture::default();
    capture.run(|| {
        block_on(async {
            tokio::select! {
                () = node.follow() => unreachable!("follow returns never"),
                () = async {
                    // Down until six failures were logged, then up for a while.
                    let failures = || capture
                        .events()
                        .iter()
                        .filter(|e| e.message() == "sync with the store failed")
                        .count();
                    for _ in 0..500 {
                        if failures() >= 6 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    store.down.store(false, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(400)).await;
                } => {}
            }
        });
    });
    let events = capture.events();
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.message() == "sync with the store failed")
        .collect();
    assert!(failures.len() >= 6, "{events:#?}");
    for (n, e) in failures.iter().enumerate() {
        assert_eq!(e.level, Level::WARN);
        assert_eq!(e.target, "easydkim::shared");
        assert_eq!(e.field("failures"), Some((n + 1).to_string().as_str()));
        assert!(e
            .field("error")
            .is_some_and(|m| m.contains("store is down")));
        let retry: u64 = e.field("retry_in_ms").expect("retry").parse().expect("ms");
        let ceiling = (8u64 << n.min(20)).min(40);
        assert!(retry <= ceiling, "failure {n}: {retry} ms > {ceiling} ms");
    }
    let back = events
        .iter()
        .find(|e| e.message() == "store reachable again")
        .expect("recovery logged");
    assert_eq!(back.level, Level::INFO);
    assert_eq!(
        back.field("failures"),
        Some(failures.len().to_string().as_str())
    );
    assert!(events.iter().all(|e| e.level != Level::ERROR));
}
