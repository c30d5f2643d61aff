//! Many nodes in separate processes sharing one PostgreSQL store (feature `postgres`).
//!
//! Each test starts its own PostgreSQL server (initdb into a temporary directory, a free
//! port on 127.0.0.1; as the `postgres` user when run as root) and two or three node
//! processes: this test binary run again with `cluster::node_process`, driven by one-line
//! commands on stdin (replies on stdout prefixed `@@ `). The nodes share a DNS "zone file"
//! that the test writes, and their notifications are appended to one file per node.
//!
//! The tests are `#[ignore]`d because they need PostgreSQL's server binaries
//! (`bash tests/pg/install.sh`); `.ci/run` runs them with
//! `cargo test --features postgres --test it -- --ignored cluster`. A missing server is a
//! failure there, never a skip.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::support::{block_on, free_port};
use async_trait::async_trait;
use base64::Engine;
use easydkim::postgres::{EncryptionKey, PgOptions, PgStore};
use easydkim::shared::{
    ChangesSince, Committed, Loaded, RegistryStore, SharedError, SharedOptions, SharedRegistry,
    StoredEvent, VersionedChange,
};
use easydkim::snapshot::{DkimSnapshot, IdentitySnapshot};
use easydkim::{
    Check, DomainSetup, Event, KeySpec, Notifier, RegistryConfig, Selector, SigningKey, Status,
    TenantSignature, VerificationStatus, Verifier, VerifyOptions,
};
use easydkim::{DnsResult, DnsVerifier, StaticDns};

const REGION: &str = "test-1";
const SIGNING_ZONE: &str = "dkim.operator.test";
const NODE_URL: &str = "EASYDKIM_NODE_URL";
const NODE_KEY: &str = "EASYDKIM_NODE_KEY";
const NODE_DNS: &str = "EASYDKIM_NODE_DNS";
const NODE_EVENTS: &str = "EASYDKIM_NODE_EVENTS";
const NODE_DNS_DELAY_MS: &str = "EASYDKIM_NODE_DNS_DELAY_MS";
const NODE_COMMIT_DELAY_MS: &str = "EASYDKIM_NODE_COMMIT_DELAY_MS";
const NODE_NO_FOLLOW: &str = "EASYDKIM_NODE_NO_FOLLOW";
/// Follower poll interval of the nodes: the propagation bound when a NOTIFY is missed.
const POLL: Duration = Duration::from_secs(2);
/// How long a change may take to reach another node in these tests (NOTIFY is immediate;
/// the poll interval bounds a missed one; the rest is slack for a loaded 2-core machine).
const PROPAGATION_BOUND: Duration = Duration::from_secs(10);
const T0: u64 = 1_800_000_000;

// ----------------------------------------------------------------------------------------
// A PostgreSQL server of the test's own.

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn pg_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("EASYDKIM_PG_BIN") {
        return p.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: \
             run `bash tests/pg/install.sh` (or set EASYDKIM_PG_BIN)"
        )
    })
}

static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A PostgreSQL server in a temporary directory, stopped and removed on drop.
pub(crate) struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    root: bool,
}

impl PgServer {
    pub(crate) fn start() -> Self {
        let bin = pg_bin();
        let root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "easydkim-pg-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create pg dir");
        if root {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir),
                "chown",
            );
        }
        let server = PgServer {
            dir,
            bin,
            port: free_port(),
            root,
        };
        run(
            server.cmd("initdb").arg("-D").arg(server.data()).args([
                "-U",
                "easydkim",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        );
        server.resume();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub(crate) fn resume(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(
            self.cmd("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"]),
            "pg_ctl start",
        );
    }

    /// Stops the server (fast shutdown: sessions are ended).
    pub(crate) fn pause(&self) {
        run(
            self.cmd("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        );
    }

    pub(crate) fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=easydkim dbname=postgres",
            self.port
        )
    }

    /// The whole database as `pg_dump` text.
    pub(crate) fn dump(&self) -> String {
        let out = Command::new(self.bin.join("pg_dump"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "easydkim", "-d", "postgres"])
            .output()
            .expect("pg_dump");
        assert!(out.status.success(), "pg_dump failed");
        String::from_utf8(out.stdout).expect("utf-8 dump")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----------------------------------------------------------------------------------------
// The shared DNS: a file of `TYPE<TAB>NAME<TAB>VALUE` lines, read at every lookup.

struct FileDns {
    path: PathBuf,
    delay: Duration,
}

impl FileDns {
    fn load(&self) -> StaticDns {
        parse_zone(&std::fs::read_to_string(&self.path).unwrap_or_default())
    }
}

fn parse_zone(text: &str) -> StaticDns {
    let dns = StaticDns::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, '\t');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("TXT"), Some(n), Some(v)) => dns.add_txt(n, v),
            (Some("CNAME"), Some(n), Some(v)) => dns.add_cname(n, v),
            _ => {}
        }
    }
    dns
}

#[async_trait]
impl DnsVerifier for FileDns {
    async fn txt(&self, name: &str) -> DnsResult<Vec<String>> {
        tokio::time::sleep(self.delay).await;
        self.load().txt(name).await
    }
    async fn cname(&self, name: &str) -> DnsResult<Vec<String>> {
        tokio::time::sleep(self.delay).await;
        self.load().cname(name).await
    }
}

/// The zone the test publishes: (type, name) -> value, written whole on every change.
#[derive(Default)]
struct Zone {
    records: BTreeMap<(String, String), String>,
}

impl Zone {
    /// Publishes a node's `records` reply (records separated by `|`, fields by tabs),
    /// replacing what was at the same (type, name).
    fn publish(&mut self, path: &Path, reply: &str) {
        for rec in reply.split('|').filter(|r| !r.is_empty()) {
            let mut f = rec.splitn(3, '\t');
            let (t, n, v) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            self.records
                .insert((t.to_string(), n.to_string()), v.to_string());
        }
        let text: String = self
            .records
            .iter()
            .map(|((t, n), v)| format!("{t}\t{n}\t{v}\n"))
            .collect();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write zone");
        std::fs::rename(&tmp, path).expect("rename zone");
    }
}

// ----------------------------------------------------------------------------------------
// The node process.

/// A store whose commits take `delay` longer (to kill a node between commits).
struct SlowCommits {
    inner: PgStore,
    delay: Duration,
}

#[async_trait]
impl RegistryStore for SlowCommits {
    async fn load(&self, config: &RegistryConfig) -> Result<Loaded, SharedError> {
        self.inner.load(config).await
    }
    async fn commit(
        &self,
        config: &RegistryConfig,
        changes: &[VersionedChange],
        events: &[Event],
    ) -> Result<Committed, SharedError> {
        tokio::time::sleep(self.delay).await;
        self.inner.commit(config, changes, events).await
    }
    async fn changes_since(
        &self,
        config: &RegistryConfig,
        cursor: u64,
    ) -> Result<ChangesSince, SharedError> {
        self.inner.changes_since(config, cursor).await
    }
    async fn wait_for_changes(&self, timeout: Duration) -> bool {
        self.inner.wait_for_changes(timeout).await
    }
    async fn try_lead(&self, region: &str) -> Result<bool, SharedError> {
        self.inner.try_lead(region).await
    }
    async fn resign(&self, region: &str) -> Result<(), SharedError> {
        self.inner.resign(region).await
    }
    async fn undelivered_events(
        &self,
        region: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SharedError> {
        self.inner.undelivered_events(region, limit).await
    }
    async fn mark_delivered(&self, ids: &[u64]) -> Result<(), SharedError> {
        self.inner.mark_delivered(ids).await
    }
}

/// Appends each delivered transition to a file, one line each.
struct FileNotifier(PathBuf);

#[async_trait]
impl Notifier for FileNotifier {
    async fn notify(&self, e: &Event) {
        let line = format!("{} {:?} {:?} {:?}\n", e.identity, e.check, e.from, e.to);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .expect("events file");
        f.write_all(line.as_bytes()).expect("write event");
        f.sync_data().expect("sync event");
    }
}

fn node_config() -> RegistryConfig {
    let mut config = RegistryConfig::new(REGION, SIGNING_ZONE).expect("config");
    config.key_spec = KeySpec::Ed25519;
    config.refresh_concurrency = 4;
    config
}

fn test_message(from: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: someone@receiver.test\r\nSubject: cluster\r\n\
         Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{from}.1@cluster.test>\r\n\r\n\
         Hello from a node.\r\n"
    )
    .into_bytes()
}

fn records_reply(node: &SharedRegistry, name: &str) -> Result<String, String> {
    let reg = node.registry();
    let identity = reg.get_str(name).map_err(|e| e.to_string())?;
    let mut recs = reg.tenant_records(&identity);
    recs.extend(reg.operator_records(&identity));
    Ok(recs
        .iter()
        .map(|r| format!("{}\t{}\t{}", r.record_type.as_str(), r.name, r.value))
        .collect::<Vec<_>>()
        .join("|"))
}

async fn handle(node: &SharedRegistry, dns: &FileDns, line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let t = |i: usize| -> u64 { words.get(i).and_then(|w| w.parse().ok()).unwrap_or(T0) };
    let err = |e: SharedError| e.to_string();
    match words.first().copied().unwrap_or("") {
        "create" => {
            let d = words[1];
            node.mutate(|r| r.create_domain(d, t(2)).map(|_| ()))
                .await
                .map_err(err)?;
            Ok(String::new())
        }
        "create-byo" => {
            let (d, file) = (words[1], words[2]);
            let pem = std::fs::read(file).map_err(|e| e.to_string())?;
            node.mutate(|r| {
                let key = SigningKey::load(&pem).expect("key");
                let setup = DomainSetup::BringYourOwnKey {
                    selector: Selector::parse("byo1").expect("selector"),
                    key,
                };
                r.create_domain_with(d, setup, t(3)).map(|_| ())
            })
            .await
            .map_err(err)?;
            Ok(String::new())
        }
        "records" => records_reply(node, words[1]),
        "refresh" => match node.refresh(dns, t(1)).await.map_err(err)? {
            Some(report) => Ok(format!("leader {}", report.events.len())),
            None => Ok("follower".into()),
        },
        "sign" => {
            let out = node
                .registry()
                .sign_at(&test_message(words[1]), t(2))
                .map_err(|e| e.to_string())?;
            Ok(match out.tenant {
                TenantSignature::Signed(c) => format!(
                    "signed {} {}",
                    c.selector,
                    base64::engine::general_purpose::STANDARD.encode(&out.message)
                ),
                TenantSignature::Unsigned(r) => format!("unsigned {r:?}"),
            })
        }
        "rotate" => {
            let step = node.rotate(words[1], dns, t(2)).await.map_err(err)?;
            Ok(format!("{step:?}")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string())
        }
        "delete" => {
            let d = words[1];
            node.mutate(|r| r.delete(d)).await.map_err(err)?;
            Ok(String::new())
        }
        "disable" => {
            for d in &words[1..] {
                node.mutate(|r| r.set_signing_enabled(d, false))
                    .await
                    .map_err(err)?;
            }
            Ok(String::new())
        }
        "dual" => {
            for d in &words[1..] {
                node.mutate(|r| r.enable_dual_signing(d, T0 + 10).map(|_| ()))
                    .await
                    .map_err(err)?;
            }
            Ok(String::new())
        }
        "status" => {
            let Some(i) = node
                .registry()
                .list()
                .into_iter()
                .find(|i| i.name().to_string() == words[1])
            else {
                return Ok("absent".into());
            };
            let dual = i
                .dkim()
                .as_ref()
                .and_then(|d| d.easy_state())
                .is_some_and(|s| s.dual().is_some());
            let selector = i.dkim().map(|d| d.signing().0.to_string());
            Ok(format!(
                "{:?} {:?} {} signing={} dual={} selector={}",
                i.status(),
                i.dkim_status(),
                i.version(),
                i.signing_enabled(),
                dual,
                selector.unwrap_or_default()
            ))
        }
        "sync" => node.sync().await.map(|n| n.to_string()).map_err(err),
        "stale" => {
            let s = node.sync_status();
            Ok(format!(
                "conflicts={} error={}",
                s.conflicts,
                s.last_error.is_some()
            ))
        }
        "exit" => {
            let _ = node.resign().await;
            Ok(String::new())
        }
        other => Err(format!("unknown command {other}")),
    }
}

async fn node_main(url: String) {
    let key = EncryptionKey::from_base64("test", &std::env::var(NODE_KEY).expect("key"))
        .expect("encryption key");
    let env_ms = |name: &str| {
        Duration::from_millis(
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        )
    };
    let pg = PgStore::connect(&url, PgOptions::new(key))
        .await
        .expect("connect");
    let commit_delay = env_ms(NODE_COMMIT_DELAY_MS);
    let store: Arc<dyn RegistryStore> = if commit_delay.is_zero() {
        Arc::new(pg)
    } else {
        Arc::new(SlowCommits {
            inner: pg,
            delay: commit_delay,
        })
    };
    let options = SharedOptions {
        poll_interval: POLL,
        retry_delay: Duration::from_millis(200),
        ..SharedOptions::default()
    };
    let node = Arc::new(
        SharedRegistry::open(node_config(), store, options)
            .await
            .expect("open"),
    );
    node.registry()
        .set_notifier(Some(Arc::new(FileNotifier(PathBuf::from(
            std::env::var(NODE_EVENTS).expect("events file"),
        )))));
    if std::env::var_os(NODE_NO_FOLLOW).is_none() {
        let follower = node.clone();
        tokio::spawn(async move { follower.follow().await });
    }
    let dns = FileDns {
        path: PathBuf::from(std::env::var(NODE_DNS).expect("dns file")),
        delay: env_ms(NODE_DNS_DELAY_MS),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    println!("@@ READY");
    while let Some(line) = rx.recv().await {
        let reply = match handle(&node, &dns, &line).await {
            Ok(r) => format!("OK {r}"),
            Err(e) => format!("ERR {}", e.replace('\n', " ")),
        };
        println!("@@ {reply}");
        std::io::stdout().flush().expect("flush");
        if line == "exit" {
            break;
        }
    }
}

/// The node process: runs only when started by a test with `EASYDKIM_NODE_URL` set.
#[test]
fn node_process() {
    let Ok(url) = std::env::var(NODE_URL) else {
        return;
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(node_main(url));
}

// ----------------------------------------------------------------------------------------
// The test side.

struct Cluster {
    server: PgServer,
    key_b64: String,
    dir: PathBuf,
    zone: Zone,
}

impl Cluster {
    fn new(name: &str) -> Self {
        let server = PgServer::start();
        let dir =
            std::env::temp_dir().join(format!("easydkim-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let mut key = [0u8; 32];
        key.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i as u8).wrapping_mul(37) ^ 0x5a);
        Cluster {
            server,
            key_b64: base64::engine::general_purpose::STANDARD.encode(key),
            dir,
            zone: Zone::default(),
        }
    }

    fn dns_path(&self) -> PathBuf {
        self.dir.join("zone.txt")
    }

    fn node(&self, name: &str, env: &[(&str, &str)]) -> Node {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = Command::new(exe);
        cmd.args([
            "cluster::node_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NODE_URL, self.server.url())
        .env(NODE_KEY, &self.key_b64)
        .env(NODE_DNS, self.dns_path())
        .env(NODE_EVENTS, self.dir.join(format!("events-{name}.log")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn node");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print its "test ... " prefix on the same line.
                if let Some(pos) = line.find("@@ ") {
                    if tx.send(line[pos + 3..].to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut node = Node {
            name: name.to_string(),
            child,
            stdin,
            replies: rx,
        };
        assert_eq!(node.reply(), "READY", "node {name} did not start");
        node
    }

    /// Publishes the records of `domain` as `node` knows them.
    fn publish(&mut self, node: &mut Node, domain: &str) {
        let reply = node.ok(&format!("records {domain}"));
        let path = self.dns_path();
        self.zone.publish(&path, &reply);
    }

    fn dns(&self) -> StaticDns {
        parse_zone(&std::fs::read_to_string(self.dns_path()).unwrap_or_default())
    }

    /// Our store, opened by the test itself (to read what the nodes committed).
    fn store(&self) -> PgStore {
        let key = EncryptionKey::from_base64("test", &self.key_b64).expect("key");
        block_on(PgStore::connect(&self.server.url(), PgOptions::new(key))).expect("connect")
    }

    fn delivered(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(&self.dir).expect("dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("events-") {
                let text = std::fs::read_to_string(entry.path()).expect("events");
                lines.extend(text.lines().map(str::to_string));
            }
        }
        lines.sort();
        lines
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Node {
    name: String,
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<String>,
}

impl Node {
    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write command");
        self.stdin.flush().expect("flush command");
    }

    fn reply(&mut self) -> String {
        self.replies
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("node {} gave no answer", self.name))
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.reply()
    }

    /// Runs a command that must succeed; returns the text after `OK `.
    fn ok(&mut self, line: &str) -> String {
        let r = self.cmd(line);
        match r.strip_prefix("OK") {
            Some(rest) => rest.trim_start().to_string(),
            None => panic!("node {}: `{line}` -> {r}", self.name),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Repeats `f` until it returns Some, failing after `bound`; returns the value and the time
/// it took.
fn within<T>(bound: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return (v, start.elapsed());
        }
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `sign` reply `signed <selector> <base64>`: the selector and the message, which must
/// verify with our verifier against the published zone.
fn signed_with(reply: &str, dns: &StaticDns, now: u64) -> Option<String> {
    let rest = reply.strip_prefix("signed ")?;
    let (selector, b64) = rest.split_once(' ')?;
    let message = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let results =
        block_on(Verifier::new(VerifyOptions::default().with_now(Some(now))).verify(dns, &message))
            .expect("verify");
    assert!(
        !results.is_empty() && results.iter().all(|r| r.status == Status::Pass),
        "signature s={selector} does not verify: {results:?}"
    );
    Some(selector.to_string())
}

#[test]
#[ignore = "needs PostgreSQL server binaries (bash tests/pg/install.sh); run by .ci/run"]
fn cluster_changes_reach_every_node() {
    let mut c = Cluster::new("reach");
    let mut a = c.node("a", &[]);
    let mut b = c.node("b", &[]);
    let mut cc = c.node("c", &[]);

    // Created and verified through A ...
    a.ok(&format!("create example.com {T0}"));
    c.publish(&mut a, "example.com");
    let t1 = T0 + 60;
    assert!(a.ok(&format!("refresh {t1}")).starts_with("leader"));
    assert!(a.ok("status example.com").starts_with("Success Success"));
    // ... signs on B and C within the bound, with signatures that verify.
    let dns = c.dns();
    for node in [&mut b, &mut cc] {
        let (selector, took) = within(
            PROPAGATION_BOUND,
            "verified identity on another node",
            || signed_with(&node.ok(&format!("sign alice@example.com {t1}")), &dns, t1),
        );
        eprintln!("node {}: signing after {took:?} (s={selector})", node.name);
    }
    // Only the leader refreshes.
    assert_eq!(b.ok(&format!("refresh {t1}")), "follower");

    // A rotation on A is used by B.
    let before = a.ok("status example.com");
    let mut step = String::new();
    let mut t = t1;
    for _ in 0..4 {
        t += 60;
        step = a.ok(&format!("rotate example.com {t}"));
        c.publish(&mut a, "example.com");
        if step == "Switched" {
            break;
        }
    }
    assert_eq!(step, "Switched", "rotation did not switch");
    let after = a.ok("status example.com");
    let new_selector = after.split("selector=").nth(1).unwrap().to_string();
    assert_ne!(before, after);
    let dns = c.dns();
    let (_, took) = within(PROPAGATION_BOUND, "rotated key on B", || {
        let s = signed_with(&b.ok(&format!("sign bob@example.com {t}")), &dns, t)?;
        (s == new_selector).then_some(())
    });
    eprintln!("rotation reached B after {took:?}");

    // A deletion on B stops signing on A (and C).
    b.ok("delete example.com");
    for node in [&mut a, &mut cc] {
        within(PROPAGATION_BOUND, "deletion on another node", || {
            node.ok(&format!("sign alice@example.com {t}"))
                .starts_with("unsigned")
                .then_some(())
        });
        assert_eq!(node.ok("status example.com"), "absent");
    }
    // The store agrees.
    let store = c.store();
    let loaded = block_on(store.load(&node_config())).expect("load");
    assert!(loaded.identities.is_empty());
    for n in [&mut a, &mut b, &mut cc] {
        n.ok("exit");
    }
}

#[test]
#[ignore = "needs PostgreSQL server binaries (bash tests/pg/install.sh); run by .ci/run"]
fn cluster_refresher_killed_mid_refresh() {
    let mut c = Cluster::new("kill");
    let slow = [(NODE_COMMIT_DELAY_MS, "250")];
    let mut a = c.node("a", &slow);
    let mut b = c.node("b", &slow);
    let domains: Vec<String> = (0..12).map(|i| format!("d{i}.example")).collect();
    for d in &domains {
        a.ok(&format!("create {d} {T0}"));
        c.publish(&mut a, d);
    }
    let t1 = T0 + 120;
    let store = c.store();
    // A starts refreshing; once it has committed a few identities, it is killed.
    a.send(&format!("refresh {t1}"));
    within(Duration::from_secs(60), "A committing", || {
        let n = block_on(store.events(REGION)).expect("events").len();
        (n >= 4).then_some(())
    });
    a.kill();
    let committed_by_a = block_on(store.events(REGION)).expect("events").len();
    assert!(
        committed_by_a < 2 * domains.len(),
        "A finished before it was killed ({committed_by_a} events)"
    );

    // B takes over within a bounded time and completes the refresh.
    let (report, took) = within(Duration::from_secs(15), "B taking over", || {
        let r = b.ok(&format!("refresh {t1}"));
        r.strip_prefix("leader ").map(str::to_string)
    });
    eprintln!("B took over after {took:?}: {report} transitions");

    // Every transition recorded exactly once, every identity whole, every event delivered
    // exactly once.
    let events = block_on(store.events(REGION)).expect("events");
    let mut seen = BTreeSet::new();
    for e in &events {
        assert!(
            seen.insert((e.event.identity.to_string(), format!("{:?}", e.event.check))),
            "transition recorded twice: {:?}",
            e.event
        );
        assert_eq!(
            (e.event.from, e.event.to),
            (VerificationStatus::Pending, VerificationStatus::Success)
        );
    }
    for d in &domains {
        for check in [Check::Identity, Check::Dkim] {
            assert!(
                seen.contains(&(d.clone(), format!("{check:?}"))),
                "{d} {check:?} lost"
            );
        }
    }
    let loaded = block_on(store.load(&node_config())).expect("load");
    assert_eq!(loaded.identities.len(), domains.len());
    for i in &loaded.identities {
        assert_eq!(
            (i.status(), i.dkim_status()),
            (VerificationStatus::Success, VerificationStatus::Success),
            "{}",
            i.name()
        );
    }
    assert!(block_on(store.undelivered_events(REGION, 1000))
        .expect("undelivered")
        .is_empty());
    let delivered = c.delivered();
    assert_eq!(delivered.len(), events.len(), "deliveries: {delivered:?}");
    let unique: BTreeSet<_> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "delivered twice: {delivered:?}"
    );
    // B signs for every domain.
    let dns = c.dns();
    for d in &domains {
        signed_with(&b.ok(&format!("sign x@{d} {t1}")), &dns, t1)
            .unwrap_or_else(|| panic!("{d} not signed on B"));
    }
    b.ok("exit");
}

#[test]
#[ignore = "needs PostgreSQL server binaries (bash tests/pg/install.sh); run by .ci/run"]
fn cluster_conflicting_updates() {
    let c = Cluster::new("conflict");
    let mut a = c.node("a", &[]);
    // B never follows: its writes are computed on a stale snapshot and must be refused,
    // then redone on the fresh state.
    let mut b = c.node("b", &[(NODE_NO_FOLLOW, "1")]);
    let domains: Vec<String> = (0..6).map(|i| format!("c{i}.example")).collect();
    for d in &domains {
        a.ok(&format!("create {d} {T0}"));
    }
    b.ok("sync");
    a.ok(&format!("disable {}", domains.join(" ")));
    b.ok(&format!("dual {}", domains.join(" ")));
    let stale = b.ok("stale");
    assert!(
        !stale.starts_with("conflicts=0 "),
        "B's stale writes were not refused: {stale}"
    );
    // Then both at once, on fresh identities, following each other.
    let mut d = c.node("d", &[]);
    let more: Vec<String> = (0..6).map(|i| format!("r{i}.example")).collect();
    for m in &more {
        a.ok(&format!("create {m} {T0}"));
    }
    d.ok("sync");
    a.send(&format!("disable {}", more.join(" ")));
    d.send(&format!("dual {}", more.join(" ")));
    assert_eq!(a.reply(), "OK ");
    assert_eq!(d.reply(), "OK ");

    // Final state: both changes on every identity, the same on every node and in the store.
    let store = c.store();
    let loaded = block_on(store.load(&node_config())).expect("load");
    for name in domains.iter().chain(&more) {
        let i = loaded
            .identities
            .iter()
            .find(|i| i.name().to_string() == *name)
            .expect("in store");
        assert!(!i.signing_enabled(), "{name}: signing still enabled");
        assert!(
            i.dkim()
                .as_ref()
                .and_then(|d| d.easy_state())
                .is_some_and(|s| s.dual().is_some()),
            "{name}: dual signing lost"
        );
        let want = "signing=false dual=true";
        b.ok("sync");
        for n in [&mut a, &mut b, &mut d] {
            within(PROPAGATION_BOUND, "nodes agreeing", || {
                let s = n.ok(&format!("status {name}"));
                (s.contains(want) && s.contains(&format!(" {} ", i.version()))).then_some(())
            });
        }
    }
    for n in [&mut a, &mut b, &mut d] {
        n.ok("exit");
    }
}

#[test]
#[ignore = "needs PostgreSQL server binaries (bash tests/pg/install.sh); run by .ci/run"]
fn cluster_signs_while_database_down() {
    let mut c = Cluster::new("down");
    let mut a = c.node("a", &[]);
    let mut b = c.node("b", &[]);
    a.ok(&format!("create up.example {T0}"));
    c.publish(&mut a, "up.example");
    let t1 = T0 + 60;
    a.ok(&format!("refresh {t1}"));
    let dns = c.dns();
    within(PROPAGATION_BOUND, "verified on B", || {
        signed_with(&b.ok(&format!("sign x@up.example {t1}")), &dns, t1)
    });

    c.server.pause();
    // Both nodes notice (their follower fails) and keep signing from memory.
    for n in [&mut a, &mut b] {
        within(PROPAGATION_BOUND, "staleness reported", || {
            n.ok("stale").ends_with("error=true").then_some(())
        });
        for k in 0..50 {
            signed_with(&n.ok(&format!("sign u{k}@up.example {t1}")), &dns, t1).unwrap_or_else(
                || panic!("node {}: not signed while the database is down", n.name),
            );
        }
    }
    assert!(a
        .cmd(&format!("create later.example {T0}"))
        .starts_with("ERR"));

    c.server.resume();
    // Writes work again (the node reconnects) and the other node catches up.
    within(Duration::from_secs(30), "A writing again", || {
        a.cmd(&format!("create later.example {T0}"))
            .starts_with("OK")
            .then_some(())
    });
    within(PROPAGATION_BOUND, "B catching up", || {
        (b.ok("status later.example") != "absent").then_some(())
    });
    within(PROPAGATION_BOUND, "B's staleness cleared", || {
        b.ok("stale").ends_with("error=false").then_some(())
    });
    for n in [&mut a, &mut b] {
        n.ok("exit");
    }
}

/// The base64 of every private key of an identity, as the store decrypts it.
fn secrets_of(snapshot: &IdentitySnapshot) -> Vec<String> {
    let json = serde_json::to_value(snapshot).expect("json");
    let mut out = Vec::new();
    match &snapshot.dkim {
        Some(DkimSnapshot::Easy { .. }) => {
            for k in json["dkim"]["keys"].as_array().expect("keys") {
                out.push(k[1].as_str().expect("key").to_string());
            }
        }
        Some(DkimSnapshot::Byo { .. }) => {
            out.push(json["dkim"]["key"].as_str().expect("key").to_string());
        }
        _ => {}
    }
    out
}

#[test]
#[ignore = "needs PostgreSQL server binaries (bash tests/pg/install.sh); run by .ci/run"]
fn cluster_keys_not_readable_in_database() {
    let c = Cluster::new("secrets");
    let mut a = c.node("a", &[]);
    let key_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keys/rsa2048.pem");
    a.ok(&format!(
        "create-byo byo.example {} {T0}",
        key_file.display()
    ));
    a.ok(&format!("create easy.example {T0}"));
    a.ok("exit");

    let store = c.store();
    let loaded = block_on(store.load(&node_config())).expect("load");
    let mut secrets = Vec::new();
    for i in &loaded.identities {
        secrets.extend(secrets_of(
            &IdentitySnapshot::from_identity(i).expect("snapshot"),
        ));
    }
    assert_eq!(secrets.len(), 4, "1 BYO key + 3 Easy DKIM keys");
    let pem = std::fs::read_to_string(&key_file).expect("pem");
    let dump = c.server.dump();
    assert!(dump.contains("easydkim_identities"), "dump has the table");
    assert!(!dump.contains("PRIVATE KEY"));
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!dump.contains(line), "PEM line in the database");
    }
    for s in &secrets {
        let der = base64::engine::general_purpose::STANDARD
            .decode(s)
            .expect("der");
        // In base64 (any 3-byte alignment) and as bytea hex.
        for off in 0..3 {
            let chunk = base64::engine::general_purpose::STANDARD.encode(&der[off..off + 48]);
            assert!(!dump.contains(&chunk), "key bytes (base64) in the database");
        }
        let hex: String = der[..48].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(&hex), "key bytes (hex) in the database");
    }

    // The wrong key cannot read the state (a typed error, not garbage) ...
    let wrong = EncryptionKey::from_bytes("test", [7u8; 32]).expect("key");
    let other =
        block_on(PgStore::connect(&c.server.url(), PgOptions::new(wrong))).expect("connect");
    assert!(matches!(
        block_on(other.load(&node_config())),
        Err(SharedError::Corrupt { .. })
    ));
    // ... and a sealed row copied onto another identity does not open.
    block_on(async {
        let (client, conn) = tokio_postgres::connect(&c.server.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
            .execute(
                "UPDATE easydkim_identities SET sealed =
                   (SELECT sealed FROM easydkim_identities WHERE name = 'easy.example')
                 WHERE name = 'byo.example'",
                &[],
            )
            .await
            .expect("update");
    });
    match block_on(store.load(&node_config())) {
        Err(SharedError::Corrupt { detail, .. }) => {
            assert!(detail.contains("byo.example"), "{detail}")
        }
        other => panic!("swapped row accepted: {other:?}"),
    }
}

/// The `easydkim` command on the PostgreSQL store (features `cli` and `postgres`): an
/// operator's session through `--database`/`--store-key`, each command a new process (a
/// node that opens, commits and exits); the leader lock's log events under `RUST_LOG`; a
/// node holding the lock makes `refresh` step aside; a wrong sealing key is refused.
#[cfg(feature = "cli")]
#[test]
#[ignore = "needs PostgreSQL server binaries (bash tests/pg/install.sh); run by .ci/run"]
fn cluster_cli_on_postgres() {
    let server = PgServer::start();
    let dir = std::env::temp_dir().join(format!("easydkim-pg-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let key_b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let url = server.url();
    let cli = |args: &[&str], stdin: &[u8], rust_log: Option<&str>, key: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_easydkim"));
        cmd.args(args)
            .env("EASYDKIM_DATABASE", &url)
            .env("EASYDKIM_STORE_KEY", key)
            .env("EASYDKIM_SIGNING_ZONE", SIGNING_ZONE)
            .env("EASYDKIM_REGION", REGION)
            .env_remove("EASYDKIM_STORE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match rust_log {
            Some(f) => cmd.env("RUST_LOG", f),
            None => cmd.env_remove("RUST_LOG"),
        };
        let mut child = cmd.spawn().expect("run easydkim");
        let _ = child.stdin.take().expect("stdin").write_all(stdin);
        child.wait_with_output().expect("output")
    };
    let ok = |args: &[&str], stdin: &[u8]| {
        let out = cli(args, stdin, None, &key_b64);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };

    let created = ok(
        &["identity", "create", "example.com", "--key-spec", "ed25519"],
        b"",
    );
    assert!(created.starts_with("created example.com"), "{created}");
    let zone = dir.join("published.zone");
    std::fs::write(&zone, ok(&["records", "example.com", "--zone"], b"")).expect("zone");
    let zone_arg = zone.to_str().expect("path");

    // refresh takes the leader lock: its INFO event is what RUST_LOG selects.
    let out = cli(
        &["refresh", "--dns-file", zone_arg],
        b"",
        Some("easydkim::shared=info"),
        &key_b64,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("example.com DKIM: Pending -> Success"),
        "{stdout}"
    );
    assert!(
        stderr.contains("acquired the refresher advisory lock"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("easydkim::status"),
        "filtered out: {stderr}"
    );

    // Another node holds the lock: refresh steps aside (exit 0, says so).
    let key = EncryptionKey::from_base64("k1", &key_b64).expect("key");
    // (A runtime that outlives the call: its connection tasks hold the lock's session.)
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let holder = rt
        .block_on(PgStore::connect(&url, PgOptions::new(key)))
        .expect("connect");
    assert!(rt.block_on(holder.try_lead(REGION)).expect("lead"));
    let aside = ok(&["refresh", "--dns-file", zone_arg, "--json"], b"");
    assert_eq!(aside.trim(), r#"{"leader":false}"#);
    drop(holder);
    drop(rt);

    // The state is the database's: a new process signs with the verified identity.
    let msg = test_message("alice@example.com");
    let signed = ok(&["sign"], &msg);
    assert!(signed.as_bytes().ends_with(&msg));
    let verified = ok(&["verify", "--dns-file", zone_arg], signed.as_bytes());
    assert!(verified.starts_with("pass d=example.com s="), "{verified}");
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["identity", "list", "--json"], b"")).expect("json");
    assert_eq!(listed[0]["status"], "Success");

    // A wrong sealing key cannot read the keys: one line, exit 2.
    let wrong = base64::engine::general_purpose::STANDARD.encode([8u8; 32]);
    let out = cli(&["identity", "list"], b"", None, &wrong);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("easydkim: "), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
