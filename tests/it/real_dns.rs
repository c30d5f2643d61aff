//! `HickoryDnsVerifier`, the registry's checks and `diagnose` against a real DNS server.
//!
//! Each test writes zone files and a configuration into a temporary directory, starts its
//! own Knot DNS (`knotd`) on `127.0.0.1:<free port>` (UDP and TCP), waits until it answers,
//! runs its scenario through `HickoryDnsVerifier` and kills the server when done (a `Drop`
//! guard, so also on panic). Only loopback addresses are ever used. Zone contents change
//! mid-test by rewriting the zone file and `knotc zone-reload` (blocking, then checked
//! through a `_serial` TXT record). SERVFAIL comes from a zone the server is configured for
//! but cannot load (its file is garbage); REFUSED from a zone it does not serve; "no answer"
//! from a loopback UDP socket that never replies and from a closed port.
//!
//! The tests are `#[ignore]`d, so a plain `cargo test` needs nothing installed. CI installs
//! Knot (`tests/dns/install.sh`) and runs
//! `EASYDKIM_INTEROP=1 cargo test --features hickory --test it -- --ignored real_dns`;
//! with `EASYDKIM_INTEROP=1` a missing `knotd` fails the tests, otherwise they print
//! `SKIPPED: ...` and pass. See `tests/dns/README.md`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use easydkim::hickory::HickoryDnsVerifier;
use easydkim::{
    unix_now, DnsRecord, DomainSetup, Identity, IdentityName, LastError, Publisher, Purpose,
    RecordType, TenantSignature, VerificationStatus,
};
use easydkim::{DnsError, DnsVerifier};
use easydkim::{Finding, FindingKind};
use easydkim::{IdentityRegistry, KeySpec, RegistryConfig, Selector, SigningKey};
use easydkim::{Status, Verifier};

use crate::support::free_port;
use VerificationStatus::{Failed, Pending, Success, TemporaryFailure};

/// The operator's signing zone (inside the served zone `mail.example.net`).
const SIGNING_ZONE: &str = "dkim.mail.example.net";

/// The zones every test server serves: tenants' zones and the operator's.
const ZONES: &[&str] = &[
    "example.com",
    "example.org",
    "example.info",
    "mail.example.net",
];

/// A zone served only so that readiness and reloads can be checked.
const SENTINEL: &str = "knot-ready.example";

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// A program from the `knot` package, if installed.
fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// `knotd` and `knotc`, or `None` after printing `SKIPPED` (a panic under
/// `EASYDKIM_INTEROP=1`).
fn knot_programs() -> Option<(PathBuf, PathBuf)> {
    match (find_program("knotd"), find_program("knotc")) {
        (Some(d), Some(c)) => Some((d, c)),
        _ => {
            let msg = "Knot DNS (knotd, knotc) is not installed; run tests/dns/install.sh as root";
            if std::env::var("EASYDKIM_INTEROP").is_ok_and(|v| v == "1") {
                panic!("{msg} (EASYDKIM_INTEROP=1: a missing server is a failure)");
            }
            println!("SKIPPED: {msg}");
            None
        }
    }
}

/// Zone contents: per zone, the records (owner name, zone-file line), or `None` for a zone
/// the server is configured for but cannot load (it answers SERVFAIL).
#[derive(Clone, Debug)]
struct Zones {
    zones: BTreeMap<String, Option<Vec<(String, String)>>>,
}

impl Zones {
    /// The standard zones, empty.
    fn new() -> Self {
        let mut zones: BTreeMap<String, Option<Vec<(String, String)>>> = ZONES
            .iter()
            .map(|z| (z.to_string(), Some(Vec::new())))
            .collect();
        zones.insert(SENTINEL.to_string(), Some(Vec::new()));
        Zones { zones }
    }

    /// Makes `zone` fail to load (SERVFAIL for every name in it).
    fn broken(mut self, zone: &str) -> Self {
        self.zones.insert(zone.to_string(), None);
        self
    }

    /// The served zone holding `owner` (the longest suffix match).
    fn zone_of(&self, owner: &str) -> String {
        let owner = owner.trim_end_matches('.').to_ascii_lowercase();
        self.zones
            .keys()
            .filter(|z| owner == **z || owner.ends_with(&format!(".{z}")))
            .max_by_key(|z| z.len())
            .unwrap_or_else(|| panic!("no served zone holds {owner}"))
            .clone()
    }

    fn line(&mut self, owner: &str, line: String) {
        let zone = self.zone_of(owner);
        if let Some(Some(records)) = self.zones.get_mut(&zone) {
            records.push((owner.trim_end_matches('.').to_ascii_lowercase(), line));
        }
    }

    /// Adds a record as it would be published (TXT split into 255-byte strings).
    fn record(&mut self, r: &DnsRecord) {
        self.line(&r.name, r.zone_line());
    }

    fn records(&mut self, rs: &[DnsRecord]) {
        for r in rs {
            self.record(r);
        }
    }

    fn txt(&mut self, name: &str, value: &str) {
        self.record(&DnsRecord::new(
            RecordType::Txt,
            name,
            value,
            Publisher::Tenant,
            Purpose::Verification,
        ));
    }

    fn cname(&mut self, name: &str, target: &str) {
        self.line(name, format!("{name}. IN CNAME {target}."));
    }

    /// A TXT record given as zone-file strings, verbatim (`"abc" "def"`).
    fn raw_txt(&mut self, name: &str, strings: &str) {
        self.line(name, format!("{name}. IN TXT {strings}"));
    }

    fn a(&mut self, name: &str) {
        self.line(name, format!("{name}. IN A 127.0.0.1"));
    }

    /// Removes every record at `owner`.
    fn remove(&mut self, owner: &str) {
        let owner = owner.trim_end_matches('.').to_ascii_lowercase();
        for records in self.zones.values_mut().flatten() {
            records.retain(|(o, _)| *o != owner);
        }
    }

    fn file(&self, zone: &str, serial: u32) -> String {
        match &self.zones[zone] {
            None => "this is not a zone file {\n".to_string(),
            Some(records) => {
                let mut out = format!(
                    "$ORIGIN {zone}.\n$TTL 0\n\
                     @ IN SOA ns.{zone}. hostmaster.{zone}. {serial} 3600 600 86400 0\n\
                     @ IN NS ns.{zone}.\n\
                     ns IN A 127.0.0.1\n\
                     _serial IN TXT \"{serial}\"\n"
                );
                for (_, line) in records {
                    out.push_str(line);
                    out.push('\n');
                }
                out
            }
        }
    }
}

/// A running `knotd`, killed (and its directory removed) on drop.
struct Knot {
    dir: PathBuf,
    child: Child,
    port: u16,
    knotc: PathBuf,
    serial: u32,
    zones: Zones,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static SERVERS: AtomicUsize = AtomicUsize::new(0);

impl Knot {
    /// Starts a server for `zones`; `None` (after printing SKIPPED) when Knot is missing.
    async fn start(zones: Zones) -> Option<Knot> {
        let (knotd, knotc) = knot_programs()?;
        let mut last_log = String::new();
        for _ in 0..5 {
            let n = SERVERS.fetch_add(1, Ordering::SeqCst);
            let dir =
                std::env::temp_dir().join(format!("easydkim-knot-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create the server directory");
            let port = free_port();
            write_config(&dir, port, &zones);
            let log = std::fs::File::create(dir.join("knotd.log")).expect("create the log");
            let child = Command::new(&knotd)
                .arg("-c")
                .arg(dir.join("knot.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", knotd.display()));
            let mut server = Knot {
                dir,
                child,
                port,
                knotc: knotc.clone(),
                serial: 1,
                zones: zones.clone(),
            };
            server.write_zones();
            if server.wait_ready(SENTINEL).await {
                return Some(server);
            }
            last_log = server.log();
            // Most likely the port was taken meanwhile: try another one.
        }
        panic!("knotd did not start; its log:\n{last_log}");
    }

    fn write_zones(&self) {
        for zone in self.zones.zones.keys() {
            std::fs::write(
                self.dir.join(format!("{zone}.zone")),
                self.zones.file(zone, self.serial),
            )
            .expect("write a zone file");
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knotd.log")).unwrap_or_default()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A verifier asking only this server.
    fn verifier(&self) -> HickoryDnsVerifier {
        HickoryDnsVerifier::with_name_servers(&[self.addr()], Duration::from_secs(3))
            .expect("build the verifier")
    }

    /// Waits until the server answers `_serial.<zone>` with the current serial.
    async fn wait_ready(&mut self, zone: &str) -> bool {
        let dns = self.verifier();
        let want = vec![self.serial.to_string()];
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if dns.txt(&format!("_serial.{zone}")).await.as_ref() == Ok(&want) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Replaces the zone contents and reloads every zone; returns once the server serves
    /// the new contents.
    async fn reload(&mut self, zones: Zones) {
        self.serial += 1;
        self.zones = zones;
        self.write_zones();
        let names: Vec<String> = self
            .zones
            .zones
            .iter()
            .filter(|(_, z)| z.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        let out = Command::new(&self.knotc)
            .arg("-s")
            .arg(self.dir.join("knot.sock"))
            .arg("-b")
            .arg("zone-reload")
            .args(&names)
            .output()
            .expect("run knotc");
        assert!(
            out.status.success(),
            "knotc zone-reload failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        for zone in names {
            assert!(
                self.wait_ready(&zone).await,
                "{zone} not reloaded; log:\n{}",
                self.log()
            );
        }
    }
}

fn write_config(dir: &Path, port: u16, zones: &Zones) {
    let d = dir.display();
    let mut conf = format!(
        "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\n    \
         background-workers: 1\n    udp-workers: 1\n    tcp-workers: 1\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n    storage: {d}/db\n\
         control:\n    listen: {d}/knot.sock\n\
         template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\n\
         zone:\n"
    );
    for zone in zones.zones.keys() {
        conf.push_str(&format!("  - domain: {zone}\n    file: {zone}.zone\n"));
    }
    std::fs::write(dir.join("knot.conf"), conf).expect("write knot.conf");
}

// ---------------------------------------------------------------------------------------
// Registry helpers
// ---------------------------------------------------------------------------------------

fn registry() -> IdentityRegistry {
    let mut config = RegistryConfig::new("eu-west-1", SIGNING_ZONE).expect("config");
    config.key_spec = KeySpec::Ed25519;
    IdentityRegistry::new(config)
}

/// An Easy DKIM identity.
fn easy(reg: &IdentityRegistry, domain: &str, now: u64) -> std::sync::Arc<Identity> {
    reg.create_domain(domain, now).expect("create domain")
}

fn byo(
    reg: &IdentityRegistry,
    domain: &str,
    key: SigningKey,
    now: u64,
) -> std::sync::Arc<Identity> {
    reg.create_domain_with(
        domain,
        DomainSetup::BringYourOwnKey {
            selector: Selector::parse("s1").expect("selector"),
            key,
        },
        now,
    )
    .expect("create BYO domain")
}

/// All records of an identity, tenant's and operator's.
fn publish_all(zones: &mut Zones, reg: &IdentityRegistry, id: &Identity) {
    zones.records(&reg.tenant_records(id));
    zones.records(&reg.operator_records(id));
}

fn tenant(reg: &IdentityRegistry, id: &Identity, purpose: Purpose, n: usize) -> DnsRecord {
    reg.tenant_records(id)
        .into_iter()
        .filter(|r| r.purpose == purpose)
        .nth(n)
        .expect("record")
}

/// (identity status, its last error, DKIM status, its last error)
type Statuses = (
    VerificationStatus,
    Option<LastError>,
    VerificationStatus,
    Option<LastError>,
);

fn statuses(reg: &IdentityRegistry, domain: &str) -> Statuses {
    let id = reg.get_str(domain).expect("identity");
    (
        id.verification().status,
        id.verification().last_error,
        id.dkim_verification().status,
        id.dkim_verification().last_error,
    )
}

async fn diagnose(reg: &IdentityRegistry, domain: &str, dns: &dyn DnsVerifier) -> Vec<Finding> {
    let name = IdentityName::parse(domain).expect("name");
    reg.diagnose(&name, dns).await.expect("diagnose")
}

fn kinds(findings: &[Finding]) -> Vec<FindingKind> {
    findings.iter().map(|f| f.kind).collect()
}

/// Signs a message from `from` through the registry and verifies it through `dns`.
async fn sign_and_verify(reg: &IdentityRegistry, from: &str, dns: &dyn DnsVerifier) {
    let message = format!(
        "From: Sender <{from}>\r\nTo: someone@example.org\r\nSubject: real DNS\r\n\
         Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello.\r\n"
    );
    let outcome = reg.sign(message.as_bytes()).expect("sign");
    assert!(
        matches!(outcome.tenant, TenantSignature::Signed(_)),
        "{:?}",
        outcome.tenant
    );
    let results = Verifier::default()
        .verify(dns, &outcome.message)
        .await
        .expect("verify");
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }
}

// ---------------------------------------------------------------------------------------
// HickoryDnsVerifier itself
// ---------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_verifier_maps_answers() {
    let mut zones = Zones::new().broken("example.info");
    zones.txt("_easydkim.example.com", "token");
    zones.raw_txt("multi.example.com", "\"v=DKIM1; \" \"p=ab\" \"cd\"");
    zones.txt("two.example.com", "one");
    zones.txt("two.example.com", "two");
    zones.cname("alias.example.com", "target.example.org");
    zones.txt("target.example.org", "via cname");
    zones.cname("chain.example.com", "alias.example.com");
    zones.cname("dangling.example.com", "nothere.example.org");
    zones.cname("empty-target.example.com", "a.example.org");
    zones.a("a.example.org");
    zones.a("host.example.com");
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    assert_eq!(
        dns.txt("_easydkim.example.com").await,
        Ok(vec!["token".into()])
    );
    assert_eq!(
        dns.txt("_EASYDKIM.Example.COM.").await,
        Ok(vec!["token".into()])
    );
    assert_eq!(
        dns.txt("multi.example.com").await,
        Ok(vec!["v=DKIM1; p=abcd".into()])
    );
    let mut two = dns.txt("two.example.com").await.expect("two records");
    two.sort();
    assert_eq!(two, ["one", "two"]);

    // txt follows CNAME chains, across zones; cname does not follow, and has no dot.
    assert_eq!(
        dns.txt("alias.example.com").await,
        Ok(vec!["via cname".into()])
    );
    assert_eq!(
        dns.txt("chain.example.com").await,
        Ok(vec!["via cname".into()])
    );
    assert_eq!(
        dns.cname("alias.example.com").await,
        Ok(vec!["target.example.org".into()])
    );
    assert_eq!(
        dns.cname("chain.example.com").await,
        Ok(vec!["alias.example.com".into()])
    );
    assert_eq!(
        dns.txt("dangling.example.com").await,
        Err(DnsError::NoSuchName)
    );
    assert_eq!(
        dns.txt("empty-target.example.com").await,
        Err(DnsError::NoRecords)
    );

    // NXDOMAIN and NODATA, for both types.
    assert_eq!(
        dns.txt("nothing.example.com").await,
        Err(DnsError::NoSuchName)
    );
    assert_eq!(
        dns.cname("nothing.example.com").await,
        Err(DnsError::NoSuchName)
    );
    assert_eq!(dns.txt("host.example.com").await, Err(DnsError::NoRecords));
    assert_eq!(
        dns.cname("host.example.com").await,
        Err(DnsError::NoRecords)
    );
    // A name with only a TXT has no CNAME (NODATA), not an error.
    assert_eq!(
        dns.cname("_easydkim.example.com").await,
        Err(DnsError::NoRecords)
    );

    // SERVFAIL (zone that failed to load) and REFUSED (zone not served) are transient.
    let servfail = dns.txt("x.example.info").await;
    assert!(
        matches!(&servfail, Err(DnsError::Transient(_))),
        "{servfail:?}"
    );
    assert!(dns
        .cname("x.example.info")
        .await
        .is_err_and(|e| e.is_transient()));
    let refused = dns.txt("x.not-served.example").await;
    assert!(
        matches!(&refused, Err(DnsError::Transient(_))),
        "{refused:?}"
    );
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_no_answer_is_transient_and_bounded() {
    // A loopback UDP socket that never answers, and a loopback port nobody listens on.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    // No server needed: nothing answers at these addresses.
    for addr in [silent.local_addr().expect("addr"), closed] {
        let dns = HickoryDnsVerifier::with_name_servers(&[addr], Duration::from_millis(400))
            .expect("verifier");
        let started = Instant::now();
        let r = dns.txt("_easydkim.example.com").await;
        assert!(matches!(&r, Err(DnsError::Transient(_))), "{addr}: {r:?}");
        let c = dns.cname("x._domainkey.example.com").await;
        assert!(matches!(&c, Err(DnsError::Transient(_))), "{addr}: {c:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{addr}: took {:?}",
            started.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Registry statuses through real DNS
// ---------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_all_records_correct() {
    let now = unix_now();
    let reg = registry();
    let com = easy(&reg, "example.com", now);
    let org = byo(
        &reg,
        "example.org",
        SigningKey::generate(KeySpec::Ed25519).expect("key"),
        now,
    );
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &com);
    publish_all(&mut zones, &reg, &org);
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    let report = reg.refresh(&dns, now + 60).await;
    assert_eq!(report.checked, 2);
    assert_eq!(report.events.len(), 4, "{:?}", report.events);
    for d in ["example.com", "example.org"] {
        assert_eq!(statuses(&reg, d), (Success, None, Success, None), "{d}");
        assert_eq!(diagnose(&reg, d, &dns).await, vec![], "{d}");
    }
    // Mail signed by the registry verifies with the keys fetched through the CNAMEs.
    sign_and_verify(&reg, "alice@example.com", &dns).await;
    sign_and_verify(&reg, "bob@example.org", &dns).await;
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_cname_to_wrong_target() {
    let now = unix_now();
    let reg = registry();
    let id = easy(&reg, "example.com", now);
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &id);
    let c0 = tenant(&reg, &id, Purpose::DkimDelegation, 0);
    zones.remove(&c0.name);
    zones.cname(&c0.name, &format!("wrongtoken.{SIGNING_ZONE}"));
    zones.txt(
        &format!("wrongtoken.{SIGNING_ZONE}"),
        "v=DKIM1; k=ed25519; p=",
    );
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    reg.refresh(&dns, now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Pending, Some(LastError::InvalidValue))
    );
    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::CnameTargetMisspelt]);
    assert!(f[0].fix.contains(&c0.value), "{}", f[0].fix);
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_nothing_published() {
    let now = unix_now();
    let reg = registry();
    easy(&reg, "example.com", now);
    let Some(server) = Knot::start(Zones::new()).await else {
        return;
    };
    let dns = server.verifier();

    reg.refresh(&dns, now + 60).await;
    let missing = Some(LastError::HostNotFound);
    assert_eq!(
        statuses(&reg, "example.com"),
        (Pending, missing, Pending, missing)
    );
    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::Missing; 4]);
    // Still nothing when the detection window has passed: Failed.
    reg.refresh(&dns, now + 72 * 3600).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Failed, missing, Failed, missing)
    );
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_txt_where_cname_expected() {
    let now = unix_now();
    let reg = registry();
    // example.com: a TXT with another key, a TXT with an empty p=, at two CNAME names.
    let com = easy(&reg, "example.com", now);
    // example.org: only an A record at a CNAME name.
    let org = easy(&reg, "example.org", now);
    // example.info: a DNS host that flattens CNAMEs: TXT with the right keys.
    let info = easy(&reg, "example.info", now);
    let mut zones = Zones::new();
    for id in [&com, &org, &info] {
        publish_all(&mut zones, &reg, id);
    }
    let other = SigningKey::generate(KeySpec::Ed25519).expect("key");
    let com0 = tenant(&reg, &com, Purpose::DkimDelegation, 0);
    let com1 = tenant(&reg, &com, Purpose::DkimDelegation, 1);
    zones.remove(&com0.name);
    zones.txt(&com0.name, &other.dns_record());
    zones.remove(&com1.name);
    zones.txt(&com1.name, "v=DKIM1; k=ed25519; p=");
    let org0 = tenant(&reg, &org, Purpose::DkimDelegation, 0);
    zones.remove(&org0.name);
    zones.a(&org0.name);
    let info_ops = reg.operator_records(&info);
    for (i, op) in info_ops.iter().enumerate() {
        let c = tenant(&reg, &info, Purpose::DkimDelegation, i);
        zones.remove(&c.name);
        zones.txt(&c.name, &op.value);
    }
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    reg.refresh(&dns, now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Pending, Some(LastError::InvalidValue))
    );
    assert_eq!(
        statuses(&reg, "example.org"),
        (Success, None, Pending, Some(LastError::TypeNotFound))
    );
    assert_eq!(
        statuses(&reg, "example.info"),
        (Success, None, Success, None)
    );
    assert_eq!(diagnose(&reg, "example.info", &dns).await, vec![]);
    sign_and_verify(&reg, "carol@example.info", &dns).await;
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_4096_bit_key_split_in_strings() {
    let now = unix_now();
    let reg = registry();
    let key = crate::key("rsa4096.pem");
    assert_eq!(key.bits(), 4096);
    let expected = key.dns_record();
    let id = byo(&reg, "example.com", key, now);
    let record = tenant(&reg, &id, Purpose::DkimKey, 0);
    let line = record.zone_line();
    assert!(
        line.matches("\" \"").count() >= 2,
        "the key record should be split into 3+ strings: {line}"
    );
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &id);
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    assert_eq!(dns.txt(&record.name).await, Ok(vec![expected]));
    reg.refresh(&dns, now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Success, None)
    );
    sign_and_verify(&reg, "dave@example.com", &dns).await;
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_servfail_keeps_statuses() {
    let now = unix_now();
    let reg = registry();
    let com = easy(&reg, "example.com", now);
    // example.org's zone fails to load on the server: SERVFAIL.
    let org = easy(&reg, "example.org", now);
    let mut zones = Zones::new().broken("example.org");
    publish_all(&mut zones, &reg, &com);
    publish_all(&mut zones, &reg, &org);
    let Some(good) = Knot::start(zones).await else {
        return;
    };
    let dns = good.verifier();

    reg.refresh(&dns, now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Success, None)
    );
    let server_error = Some(LastError::DnsServerError);
    assert_eq!(
        statuses(&reg, "example.org"),
        (Pending, server_error, Pending, server_error)
    );
    // Transient errors never fail a setup, even after the detection window.
    let report = reg.refresh(&dns, now + 100 * 3600).await;
    assert!(
        report
            .events
            .iter()
            .all(|e| e.identity.to_string() != "example.org"),
        "{:?}",
        report.events
    );
    assert_eq!(
        statuses(&reg, "example.org"),
        (Pending, server_error, Pending, server_error)
    );
    let f = diagnose(&reg, "example.org", &dns).await;
    assert!(!f.is_empty());
    assert!(
        f.iter().all(|f| f.kind == FindingKind::DnsServerError),
        "{f:?}"
    );

    // A second server whose copy of example.com fails to load: the verified identity
    // stays Success (no event), with DnsServerError as its last error.
    let Some(failing) = Knot::start(Zones::new().broken("example.com")).await else {
        return;
    };
    let report = reg.refresh(&failing.verifier(), now + 101 * 3600).await;
    assert!(
        report
            .events
            .iter()
            .all(|e| e.identity.to_string() != "example.com"),
        "{:?}",
        report.events
    );
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, server_error, Success, server_error)
    );
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_no_answer_keeps_statuses() {
    let now = unix_now();
    let reg = registry();
    let com = easy(&reg, "example.com", now);
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &com);
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    reg.refresh(&server.verifier(), now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Success, None)
    );
    // A new identity, then DNS stops answering (a silent socket, short timeout).
    easy(&reg, "example.org", now);
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let dead = HickoryDnsVerifier::with_name_servers(
        &[silent.local_addr().expect("addr")],
        Duration::from_millis(300),
    )
    .expect("verifier");
    let report = reg.refresh(&dead, now + 120).await;
    assert_eq!(report.events, vec![]);
    let server_error = Some(LastError::DnsServerError);
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, server_error, Success, server_error)
    );
    assert_eq!(
        statuses(&reg, "example.org"),
        (Pending, server_error, Pending, server_error)
    );
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_records_removed_after_success() {
    let now = unix_now();
    let reg = registry();
    let id = easy(&reg, "example.com", now);
    let mut published = Zones::new();
    publish_all(&mut published, &reg, &id);
    let Some(mut server) = Knot::start(published.clone()).await else {
        return;
    };
    let dns = server.verifier();
    reg.refresh(&dns, now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Success, None)
    );

    // The tenant deletes its records (the operator's stay).
    let mut removed = Zones::new();
    removed.records(&reg.operator_records(&id));
    server.reload(removed.clone()).await;
    reg.refresh(&dns, now + 3600).await;
    let missing = Some(LastError::HostNotFound);
    assert_eq!(
        statuses(&reg, "example.com"),
        (TemporaryFailure, missing, TemporaryFailure, missing)
    );
    // Signing continues during the grace period.
    sign_and_verify_signs_only(&reg, "alice@example.com", now + 3600);

    // They come back: Success again.
    server.reload(published).await;
    reg.refresh(&dns, now + 7200).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Success, None)
    );

    // Gone for longer than the grace period: Failed.
    server.reload(removed).await;
    reg.refresh(&dns, now + 3 * 3600).await;
    reg.refresh(&dns, now + 3 * 3600 + 72 * 3600).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Failed, missing, Failed, missing)
    );
}

/// The registry still signs mail from `from` at `now` (no DNS involved).
fn sign_and_verify_signs_only(reg: &IdentityRegistry, from: &str, now: u64) {
    let message = format!("From: {from}\r\nSubject: grace\r\n\r\nHello.\r\n");
    let outcome = reg.sign_at(message.as_bytes(), now).expect("sign");
    assert!(
        matches!(outcome.tenant, TenantSignature::Signed(_)),
        "{:?}",
        outcome.tenant
    );
}

// ---------------------------------------------------------------------------------------
// Diagnostics through real DNS: one test per finding kind
// ---------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_diagnose_zone_appended_twice() {
    let now = unix_now();
    let reg = registry();
    let id = easy(&reg, "example.com", now);
    let mut zones = Zones::new();
    zones.records(&reg.operator_records(&id));
    for r in reg.tenant_records(&id) {
        let mut r = r;
        r.name = format!("{}.example.com", r.name);
        zones.record(&r);
    }
    // example.org: CNAME targets completed with the tenant's zone (no trailing dot).
    let org = easy(&reg, "example.org", now);
    publish_all(&mut zones, &reg, &org);
    let c = tenant(&reg, &org, Purpose::DkimDelegation, 1);
    zones.remove(&c.name);
    zones.cname(&c.name, &format!("{}.example.org", c.value));
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice; 4], "{f:#?}");
    assert!(f[0].found.contains("_easydkim.example.com.example.com"));
    assert!(
        f[0].fix.contains("_easydkim instead of the full name"),
        "{}",
        f[0].fix
    );
    let f = diagnose(&reg, "example.org", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice], "{f:#?}");
    assert!(f[0].fix.contains("trailing dot"));
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_diagnose_wrong_record_type() {
    let now = unix_now();
    let reg = registry();
    // A TXT where a CNAME is expected.
    let com = easy(&reg, "example.com", now);
    // A CNAME where the verification TXT is expected (no DKIM setup).
    let org = reg
        .create_domain_with("example.org", DomainSetup::None, now)
        .expect("create");
    // A CNAME where the bring-your-own-key TXT is expected.
    let info = byo(
        &reg,
        "example.info",
        SigningKey::generate(KeySpec::Ed25519).expect("key"),
        now,
    );
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &com);
    let c0 = tenant(&reg, &com, Purpose::DkimDelegation, 0);
    zones.remove(&c0.name);
    zones.txt(
        &c0.name,
        &SigningKey::generate(KeySpec::Ed25519)
            .expect("key")
            .dns_record(),
    );
    let v = tenant(&reg, &org, Purpose::Verification, 0);
    zones.cname(&v.name, "verify.mail.example.net");
    publish_all(&mut zones, &reg, &info);
    let k = tenant(&reg, &info, Purpose::DkimKey, 0);
    zones.remove(&k.name);
    zones.cname(&k.name, "s1.keys.mail.example.net");
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    reg.refresh(&dns, now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Pending, Some(LastError::InvalidValue))
    );
    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType], "{f:#?}");
    assert!(f[0].found.starts_with("TXT "), "{}", f[0].found);
    let f = diagnose(&reg, "example.org", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType], "{f:#?}");
    assert!(f[0].found.starts_with("CNAME "), "{}", f[0].found);
    let f = diagnose(&reg, "example.info", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType], "{f:#?}");
    assert!(f[0].found.starts_with("CNAME "), "{}", f[0].found);
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_diagnose_cname_misspelt_or_other_zone() {
    let now = unix_now();
    let reg = registry();
    let id = easy(&reg, "example.com", now);
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &id);
    let c0 = tenant(&reg, &id, Purpose::DkimDelegation, 0);
    let c1 = tenant(&reg, &id, Purpose::DkimDelegation, 1);
    let token0 = c0.value.split('.').next().expect("token").to_string();
    let typo = format!(
        "{}{}",
        &token0[..31],
        if token0.ends_with('a') { "b" } else { "a" }
    );
    zones.remove(&c0.name);
    zones.cname(&c0.name, &format!("{typo}.{SIGNING_ZONE}"));
    let token1 = c1.value.split('.').next().expect("token");
    zones.remove(&c1.name);
    zones.cname(
        &c1.name,
        &format!("{token1}.dkim.us-east-1.mail.example.net"),
    );
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(
        kinds(&f),
        vec![
            FindingKind::CnameTargetMisspelt,
            FindingKind::CnameOtherZone
        ],
        "{f:#?}"
    );
    assert!(f[0].found.contains(&typo));
    assert!(f[1].fix.contains("another zone"), "{}", f[1].fix);
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_diagnose_verification_misplaced() {
    let now = unix_now();
    let reg = registry();
    let com = reg
        .create_domain_with("example.com", DomainSetup::None, now)
        .expect("create");
    let news = reg
        .create_domain_with("news.example.org", DomainSetup::None, now)
        .expect("create");
    let mut zones = Zones::new();
    // Without the underscore.
    let v = tenant(&reg, &com, Purpose::Verification, 0);
    zones.txt("easydkim.example.com", &v.value);
    // A subdomain's token at the parent domain's name.
    let v = tenant(&reg, &news, Purpose::Verification, 0);
    zones.txt("_easydkim.example.org", &v.value);
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    reg.refresh(&dns, now + 60).await;
    assert_eq!(statuses(&reg, "example.com").0, Pending);
    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(
        kinds(&f),
        vec![FindingKind::VerificationRecordMisplaced],
        "{f:#?}"
    );
    assert!(f[0].fix.contains("underscore"), "{}", f[0].fix);
    let f = diagnose(&reg, "news.example.org", &dns).await;
    assert_eq!(
        kinds(&f),
        vec![FindingKind::VerificationRecordMisplaced],
        "{f:#?}"
    );
    assert!(
        f[0].found.contains("_easydkim.example.org"),
        "{}",
        f[0].found
    );
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_diagnose_quotes_and_whitespace() {
    let now = unix_now();
    let reg = registry();
    let com = reg
        .create_domain_with("example.com", DomainSetup::None, now)
        .expect("create");
    let org = reg
        .create_domain_with("example.org", DomainSetup::None, now)
        .expect("create");
    let info = byo(
        &reg,
        "example.info",
        SigningKey::generate(KeySpec::Ed25519).expect("key"),
        now,
    );
    let mut zones = Zones::new();
    let v = tenant(&reg, &com, Purpose::Verification, 0);
    zones.txt(&v.name, &format!("\"{}\"", v.value));
    let v = tenant(&reg, &org, Purpose::Verification, 0);
    zones.txt(&v.name, &format!(" {} ", v.value));
    publish_all(&mut zones, &reg, &info);
    let k = tenant(&reg, &info, Purpose::DkimKey, 0);
    zones.remove(&k.name);
    zones.txt(&k.name, &format!("\"{}\"", k.value));
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    reg.refresh(&dns, now + 60).await;
    // Quotes break the check; surrounding spaces are tolerated by it.
    assert_eq!(statuses(&reg, "example.com").0, Pending);
    assert_eq!(statuses(&reg, "example.org").0, Success);
    assert_eq!(statuses(&reg, "example.info").2, Pending);
    for d in ["example.com", "example.org", "example.info"] {
        let f = diagnose(&reg, d, &dns).await;
        assert_eq!(
            kinds(&f),
            vec![FindingKind::ExtraQuotesOrWhitespace],
            "{d}: {f:#?}"
        );
    }
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_diagnose_stale_operator_key() {
    let now = unix_now();
    let reg = registry();
    let id = easy(&reg, "example.com", now);
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &id);
    let ops = reg.operator_records(&id);
    zones.remove(&ops[0].name);
    zones.remove(&ops[2].name);
    zones.txt(
        &ops[2].name,
        &SigningKey::generate(KeySpec::Ed25519)
            .expect("key")
            .dns_record(),
    );
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(
        kinds(&f),
        vec![FindingKind::StaleOperatorKey, FindingKind::StaleOperatorKey],
        "{f:#?}"
    );
    assert_eq!(f[0].record.as_ref(), Some(&ops[0]));
    assert_eq!(f[1].record.as_ref(), Some(&ops[2]));
    assert!(f[0].fix.contains("operator_records"), "{}", f[0].fix);
}

#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory -- --ignored real_dns"]
async fn real_dns_diagnose_byo_key_mismatch() {
    let now = unix_now();
    let reg = registry();
    let id = byo(
        &reg,
        "example.com",
        SigningKey::generate(KeySpec::Ed25519).expect("key"),
        now,
    );
    let mut zones = Zones::new();
    publish_all(&mut zones, &reg, &id);
    let k = tenant(&reg, &id, Purpose::DkimKey, 0);
    let old = SigningKey::generate(KeySpec::Ed25519).expect("key");
    zones.remove(&k.name);
    zones.txt(&k.name, &old.dns_record());
    let Some(server) = Knot::start(zones).await else {
        return;
    };
    let dns = server.verifier();

    reg.refresh(&dns, now + 60).await;
    assert_eq!(
        statuses(&reg, "example.com"),
        (Success, None, Pending, Some(LastError::InvalidValue))
    );
    let f = diagnose(&reg, "example.com", &dns).await;
    assert_eq!(kinds(&f), vec![FindingKind::ByoKeyMismatch], "{f:#?}");
    assert!(f[0].fix.contains(&k.value));
}

// ---------------------------------------------------------------------------------------
// The operator's command line against the server (feature `cli`)
// ---------------------------------------------------------------------------------------

/// Runs the `easydkim` command with a file-store registry in `dir`; returns its output.
#[cfg(feature = "cli")]
fn cli(dir: &Path, args: &[&str], stdin: &[u8], rust_log: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_easydkim"));
    cmd.args(args)
        .env("EASYDKIM_STORE", dir.join("registry.json"))
        .env("EASYDKIM_SIGNING_ZONE", SIGNING_ZONE)
        .env_remove("EASYDKIM_REGION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match rust_log {
        Some(filter) => cmd.env("RUST_LOG", filter),
        None => cmd.env_remove("RUST_LOG"),
    };
    let mut child = cmd.spawn().expect("run easydkim");
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("easydkim output")
}

/// [`cli`], expecting exit `code`; returns stdout.
#[cfg(feature = "cli")]
fn cli_expect(dir: &Path, args: &[&str], stdin: &[u8], code: i32) -> String {
    let out = cli(dir, args, stdin, None);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "easydkim {args:?}:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Adds zone-file lines as `records --zone` and `keygen` print them to the served zones.
#[cfg(feature = "cli")]
fn add_zone_lines(zones: &mut Zones, text: &str) {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let owner = line.split_whitespace().next().expect("an owner name");
        zones.line(owner, line.to_string());
    }
}

/// The session an operator runs with the `easydkim` command, through this server: create
/// an identity, publish its records (as `records --zone` prints them) into the zones,
/// refresh to Success, diagnose, sign through the registry, verify (ours through DNS,
/// OpenDKIM with the key DNS serves), keygen + testkey, and a rotation; with `RUST_LOG`
/// selecting the library's events.
#[cfg(feature = "cli")]
#[tokio::test]
#[ignore = "needs Knot DNS (tests/dns/install.sh); run with --features hickory,cli -- --ignored real_dns"]
async fn real_dns_operator_cli_session() {
    let Some(mut server) = Knot::start(Zones::new()).await else {
        return;
    };
    let ns = server.addr().to_string();
    let dir = std::env::temp_dir().join(format!("easydkim-cli-dns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("work directory");
    let dns = ["--nameserver", ns.as_str()];

    // Create, then the records as zone lines, published into the served zones.
    let created = cli_expect(&dir, &["identity", "create", "example.com"], b"", 0);
    assert!(created.starts_with("created example.com"), "{created}");
    let zone_text = cli_expect(&dir, &["records", "example.com", "--zone"], b"", 0);
    assert_eq!(zone_text.lines().count(), 7, "{zone_text}");
    // Nothing published yet: diagnose finds it (exit 1), refresh leaves it Pending.
    let diag = cli_expect(&dir, &["diagnose", "example.com", dns[0], dns[1]], b"", 1);
    assert!(diag.contains("record missing"), "{diag}");
    let mut zones = Zones::new();
    add_zone_lines(&mut zones, &zone_text);
    server.reload(zones.clone()).await;

    // Refresh through DNS, with only the status events selected by RUST_LOG.
    let out = cli(
        &dir,
        &["refresh", dns[0], dns[1]],
        b"",
        Some("easydkim::status=info"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("example.com identity: Pending -> Success"),
        "{stdout}"
    );
    assert!(
        stdout.contains("example.com DKIM: Pending -> Success"),
        "{stdout}"
    );
    assert!(
        stderr.contains("easydkim::status"),
        "status events are logged: {stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes in a pipe: {stderr:?}"
    );
    assert!(
        !stderr.contains("easydkim::refresh"),
        "other targets are filtered out: {stderr}"
    );
    let diag = cli_expect(&dir, &["diagnose", "example.com", dns[0], dns[1]], b"", 0);
    assert!(diag.starts_with("example.com: no problems found"), "{diag}");
    let shown = cli_expect(&dir, &["identity", "show", "example.com", "--json"], b"", 0);
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
    assert_eq!(shown["status"], "Success");
    assert_eq!(shown["dkim_status"], "Success");

    // Sign through the registry; verify through DNS, and with OpenDKIM.
    let msg = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: operator session\r\nDate: Sat, 05 Dec 2026 08:00:00 +0000\r\nMessage-ID: <cli@example.com>\r\n\r\nSigned by the easydkim command.\r\n";
    let signed = cli_expect(&dir, &["sign"], msg, 0);
    assert!(signed.as_bytes().ends_with(msg));
    let verified = cli_expect(&dir, &["verify", dns[0], dns[1]], signed.as_bytes(), 0);
    assert!(verified.starts_with("pass d=example.com s="), "{verified}");
    opendkim_verifies(&dir, &server, signed.as_bytes()).await;

    // keygen + testkey: the published record matches its key, not another one.
    let record = cli_expect(
        &dir,
        &[
            "keygen",
            "--algorithm",
            "ed25519",
            "--out",
            dir.join("sel1.pem").to_str().unwrap(),
        ],
        b"",
        0,
    );
    cli_expect(
        &dir,
        &["keygen", "--out", dir.join("other.pem").to_str().unwrap()],
        b"",
        0,
    );
    zones.txt("sel1._domainkey.example.org", record.trim());
    server.reload(zones.clone()).await;
    let ok = cli_expect(
        &dir,
        &[
            "testkey",
            "example.org",
            "sel1",
            "--key",
            dir.join("sel1.pem").to_str().unwrap(),
            dns[0],
            dns[1],
        ],
        b"",
        0,
    );
    assert!(ok.starts_with("key OK"), "{ok}");
    let mismatch = cli_expect(
        &dir,
        &[
            "testkey",
            "example.org",
            "sel1",
            "--key",
            dir.join("other.pem").to_str().unwrap(),
            dns[0],
            dns[1],
        ],
        b"",
        1,
    );
    assert!(mismatch.starts_with("key mismatch"), "{mismatch}");

    // A rotation: every key is published, so signing switches; mail still verifies.
    let step = cli_expect(&dir, &["rotate", "example.com", dns[0], dns[1]], b"", 0);
    assert!(step.starts_with("switched: "), "{step}");
    let resigned = cli_expect(&dir, &["sign"], msg, 0);
    assert_ne!(resigned, signed);
    let verified = cli_expect(&dir, &["verify", dns[0], dns[1]], resigned.as_bytes(), 0);
    assert!(verified.starts_with("pass d=example.com s="), "{verified}");
    opendkim_verifies(&dir, &server, resigned.as_bytes()).await;

    let _ = std::fs::remove_dir_all(&dir);
}

/// OpenDKIM (`tests/interop/opendkim_verify.sh`) verifies `signed` with the key record the
/// server returns for its selector (through the tenant's CNAME).
#[cfg(feature = "cli")]
async fn opendkim_verifies(dir: &Path, server: &Knot, signed: &[u8]) {
    if !Path::new("/usr/sbin/opendkim").exists() {
        let msg = "OpenDKIM is not installed; run tests/interop/install.sh as root";
        if std::env::var("EASYDKIM_INTEROP").is_ok_and(|v| v == "1") {
            panic!("{msg} (EASYDKIM_INTEROP=1: a missing verifier is a failure)");
        }
        println!("SKIPPED: {msg}");
        return;
    }
    let text = String::from_utf8_lossy(signed);
    let header: String = text
        .split("\r\n")
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("");
    let selector = header
        .split(';')
        .map(str::trim)
        .find_map(|t| t.strip_prefix("s="))
        .expect("an s= tag")
        .to_string();
    let name = format!("{selector}._domainkey.example.com");
    let answer = server.verifier().txt(&name).await.expect("the key record");
    let zone = dir.join("opendkim.zone");
    std::fs::write(&zone, format!("{name}\t{}\n", answer.join(""))).expect("zone");
    let msg = dir.join("signed.eml");
    std::fs::write(&msg, signed).expect("message");
    let out = Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/opendkim_verify.sh"),
    )
    .arg(&zone)
    .arg(&msg)
    .output()
    .expect("run opendkim_verify.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with(&format!("pass d=example.com s={selector}")),
        "OpenDKIM: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
