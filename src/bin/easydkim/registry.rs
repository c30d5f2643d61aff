//! The registry commands: identities, records, signing, rotation, key length, refresh and
//! diagnose, on the file store (or PostgreSQL with the `postgres` feature).
//!
//! Every command opens the registry as one node of a [`SharedRegistry`], so each change is
//! committed to the store (a whole-file atomic save for the file store) before the command
//! prints it. Commands on one file store hold an exclusive lock on `<store>.lock` while they
//! run, so two of them at once cannot overwrite each other's changes.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use easydkim::shared::{RegistryStore, SharedOptions, SharedRegistry};
use easydkim::{
    unix_now, Check, DkimSetup, DnsRecord, DomainSetup, Event, Finding, Identity, IdentityName,
    Publisher, Purpose, RecordChange, RegistryConfig, RotationState, RotationStep, TenantSignature,
    VerificationInfo,
};
use serde_json::{json as j, Value};

use crate::{fail, json, load_key, resolver, Algorithm, DnsArgs, Done, Failure};

/// Which registry the commands work on.
#[derive(Args)]
pub(crate) struct StoreArgs {
    /// The registry file (the file store; created by the first change). Holds private keys:
    /// written with mode 0600.
    #[arg(long, env = "EASYDKIM_STORE", global = true, value_name = "FILE")]
    store: Option<PathBuf>,
    /// PostgreSQL connection parameters, instead of --store (e.g.
    /// `host=db user=easydkim dbname=easydkim`).
    #[cfg(feature = "postgres")]
    #[arg(long, env = "EASYDKIM_DATABASE", global = true, value_name = "PARAMS")]
    database: Option<String>,
    /// With --database: the base64 256-bit key that seals private keys in the database.
    #[cfg(feature = "postgres")]
    #[arg(
        long = "store-key",
        env = "EASYDKIM_STORE_KEY",
        global = true,
        hide_env_values = true,
        value_name = "BASE64"
    )]
    store_key: Option<String>,
    /// With --database: the id of that key.
    #[cfg(feature = "postgres")]
    #[arg(
        long = "store-key-id",
        env = "EASYDKIM_STORE_KEY_ID",
        global = true,
        default_value = "k1",
        value_name = "ID"
    )]
    store_key_id: String,
    /// The region whose identities the commands work on.
    #[arg(
        long,
        env = "EASYDKIM_REGION",
        global = true,
        default_value = "default"
    )]
    region: String,
    /// The operator's signing zone, where the DKIM keys of new identities are published.
    #[arg(
        long = "signing-zone",
        env = "EASYDKIM_SIGNING_ZONE",
        global = true,
        value_name = "ZONE"
    )]
    signing_zone: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum IdentityCommand {
    /// Create a domain identity (Easy DKIM, or --byo-key) or an email address identity;
    /// prints the records to publish (a domain) or the confirmation token (an address).
    Create {
        /// A domain (`example.com`) or an email address (`alice@example.com`).
        identity: String,
        /// Key type and size of the three Easy DKIM keys (default RSA-2048).
        #[arg(long = "key-spec", value_enum)]
        key_spec: Option<Algorithm>,
        /// Bring your own key: this private key file signs, published by the tenant at
        /// `<selector>._domainkey.<domain>`.
        #[arg(long = "byo-key", requires = "selector")]
        byo_key: Option<PathBuf>,
        /// The selector of --byo-key.
        #[arg(long, requires = "byo_key")]
        selector: Option<String>,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List every identity with its statuses.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show an identity: statuses, what the last check found, keys and rotation.
    Show {
        /// The identity.
        identity: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete an identity (its mail is no longer signed).
    Delete {
        /// The identity.
        identity: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Confirm an email address identity with the token its owner received.
    Confirm {
        /// The email address.
        identity: String,
        /// The confirmation token.
        token: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum SigningCommand {
    /// Sign the identity's mail again.
    Enable {
        /// The identity.
        identity: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Stop signing the identity's mail (its statuses and keys stay).
    Disable {
        /// The identity.
        identity: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(crate) struct RecordsArgs {
    /// The identity.
    identity: String,
    /// As CSV (`Type,Name,Value`), the file a tenant downloads.
    #[arg(long, conflicts_with_all = ["zone", "json"])]
    csv: bool,
    /// As zone-file lines (what `--dns-file` and zone files read).
    #[arg(long, conflicts_with = "json")]
    zone: bool,
    /// As a JSON array.
    #[arg(long)]
    json: bool,
    /// Only the records the tenant publishes in its own zone.
    #[arg(long, conflicts_with = "operator")]
    tenant: bool,
    /// Only the records the operator publishes in the signing zone.
    #[arg(long)]
    operator: bool,
}

#[derive(Args)]
pub(crate) struct RotateArgs {
    /// The identity (an Easy DKIM domain).
    identity: String,
    #[command(flatten)]
    dns: DnsArgs,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct KeyLengthArgs {
    /// The identity (an Easy DKIM domain).
    identity: String,
    /// The key type and size of its next key.
    #[arg(value_enum)]
    spec: Algorithm,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct RefreshArgs {
    #[command(flatten)]
    dns: DnsArgs,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct DiagnoseArgs {
    /// The identity.
    identity: String,
    #[command(flatten)]
    dns: DnsArgs,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

/// An open registry: the node, and the file lock that keeps other commands out.
struct Opened {
    node: SharedRegistry,
    _lock: Option<std::fs::File>,
}

impl StoreArgs {
    async fn open(&self, config_edit: impl FnOnce(&mut RegistryConfig)) -> Result<Opened, Failure> {
        let Some(zone) = &self.signing_zone else {
            return fail("no signing zone: give --signing-zone or set EASYDKIM_SIGNING_ZONE");
        };
        let mut config = RegistryConfig::new(&self.region, zone)?;
        config_edit(&mut config);
        let (store, lock): (Arc<dyn RegistryStore>, _) = match (&self.store, self.database()) {
            (Some(_), Some(_)) => return fail("give --store or --database, not both"),
            (Some(path), None) => {
                let lock = lock_file(path)?;
                (
                    Arc::new(easydkim::store::FileRegistryStore::new(path)),
                    Some(lock),
                )
            }
            (None, Some(params)) => (self.connect(params).await?, None),
            (None, None) => return fail("no registry: give --store FILE or set EASYDKIM_STORE"),
        };
        let node = SharedRegistry::open(config, store, SharedOptions::default()).await?;
        Ok(Opened { node, _lock: lock })
    }

    #[cfg(feature = "postgres")]
    fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    #[cfg(not(feature = "postgres"))]
    fn database(&self) -> Option<&str> {
        None
    }

    #[cfg(feature = "postgres")]
    async fn connect(&self, params: &str) -> Result<Arc<dyn RegistryStore>, Failure> {
        use easydkim::postgres::{EncryptionKey, PgOptions, PgStore};
        let Some(b64) = &self.store_key else {
            return fail("--database needs --store-key (or EASYDKIM_STORE_KEY)");
        };
        let key = EncryptionKey::from_base64(&self.store_key_id, b64)?;
        Ok(Arc::new(
            PgStore::connect(params, PgOptions::new(key)).await?,
        ))
    }

    #[cfg(not(feature = "postgres"))]
    async fn connect(&self, _params: &str) -> Result<Arc<dyn RegistryStore>, Failure> {
        fail("this build has no PostgreSQL store (feature postgres)")
    }
}

/// Takes an exclusive lock on `<store>.lock`, waiting for another command to finish.
fn lock_file(store: &std::path::Path) -> Result<std::fs::File, Failure> {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Failure(format!("cannot open lock file `{}`: {e}", path.display())))?;
    file.lock()
        .map_err(|e| Failure(format!("cannot lock `{}`: {e}", path.display())))?;
    Ok(file)
}

pub(crate) async fn identity(store: &StoreArgs, command: IdentityCommand) -> Result<Done, Failure> {
    match command {
        IdentityCommand::Create {
            identity,
            key_spec,
            byo_key,
            selector,
            json: as_json,
        } => {
            let opened = store
                .open(|c| {
                    if let Some(spec) = key_spec {
                        c.key_spec = spec.spec();
                    }
                })
                .await?;
            let node = &opened.node;
            let now = unix_now();
            let mut token = None;
            let created = if identity.contains('@') {
                if byo_key.is_some() {
                    return fail("--byo-key is for domain identities");
                }
                let (created, t) = node.mutate(|r| r.create_email(&identity, now)).await?;
                token = Some(t);
                created
            } else {
                let setup = match (&byo_key, &selector) {
                    (Some(path), Some(selector)) => DomainSetup::BringYourOwnKey {
                        selector: easydkim::Selector::parse(selector)?,
                        key: load_key(path)?,
                    },
                    _ => DomainSetup::EasyDkim,
                };
                node.mutate(|r| r.create_domain_with(&identity, setup.clone(), now))
                    .await?
            };
            let registry = node.registry();
            let mut records = registry.tenant_records(&created);
            records.extend(registry.operator_records(&created));
            if as_json {
                let mut v = identity_json(&created);
                v["records"] = Value::Array(records.iter().map(record_json).collect());
                if let Some(t) = &token {
                    v["confirmation_token"] = j!(t);
                }
                return Ok(Done::ok(json(v)));
            }
            let mut out = format!("created {} ({})\n", created.name(), kind(&created));
            match &token {
                Some(t) => out.push_str(&format!(
                    "confirm it with: easydkim identity confirm {} {t}\n",
                    created.name()
                )),
                None => {
                    out.push_str("publish these records, then run `easydkim refresh`:\n");
                    out.push_str(&records_table(&records));
                }
            }
            Ok(Done::ok(out))
        }
        IdentityCommand::List { json: as_json } => {
            let opened = store.open(|_| {}).await?;
            let list = opened.node.registry().list();
            if as_json {
                return Ok(Done::ok(json(Value::Array(
                    list.iter().map(|i| identity_json(i)).collect(),
                ))));
            }
            let mut rows = vec![[
                "IDENTITY".to_string(),
                "KIND".into(),
                "STATUS".into(),
                "DKIM".into(),
                "SIGNING".into(),
            ]];
            for i in &list {
                rows.push([
                    i.name().to_string(),
                    kind(i).into(),
                    i.status().to_string(),
                    if i.dkim().is_some() {
                        i.dkim_status().to_string()
                    } else {
                        "-".into()
                    },
                    if i.signing_enabled() {
                        "enabled"
                    } else {
                        "disabled"
                    }
                    .into(),
                ]);
            }
            Ok(Done::ok(table(&rows)))
        }
        IdentityCommand::Show {
            identity,
            json: as_json,
        } => {
            let opened = store.open(|_| {}).await?;
            let i = opened.node.registry().get_str(&identity)?;
            if as_json {
                return Ok(Done::ok(json(identity_json(&i))));
            }
            Ok(Done::ok(show(&i)))
        }
        IdentityCommand::Delete {
            identity,
            json: as_json,
        } => {
            let opened = store.open(|_| {}).await?;
            let name = opened.node.registry().get_str(&identity)?.name().clone();
            opened.node.mutate(|r| r.delete(&identity)).await?;
            Ok(Done::ok(if as_json {
                json(j!({"identity": name.to_string(), "deleted": true}))
            } else {
                format!("deleted {name}\n").into_bytes()
            }))
        }
        IdentityCommand::Confirm {
            identity,
            token,
            json: as_json,
        } => {
            let opened = store.open(|_| {}).await?;
            let now = unix_now();
            let event = opened
                .node
                .mutate(|r| r.confirm_email(&identity, &token, now))
                .await?;
            Ok(Done::ok(if as_json {
                json(event_json(&event))
            } else {
                format!("{}\n", event_line(&event)).into_bytes()
            }))
        }
    }
}

pub(crate) async fn records(store: &StoreArgs, a: RecordsArgs) -> Result<Done, Failure> {
    let opened = store.open(|_| {}).await?;
    let registry = opened.node.registry();
    let i = registry.get_str(&a.identity)?;
    let mut records = Vec::new();
    if !a.operator {
        records.extend(registry.tenant_records(&i));
    }
    if !a.tenant {
        records.extend(registry.operator_records(&i));
    }
    Ok(Done::ok(if a.csv {
        DnsRecord::to_csv(&records).into_bytes()
    } else if a.zone {
        DnsRecord::to_zone(&records).into_bytes()
    } else if a.json {
        json(Value::Array(records.iter().map(record_json).collect()))
    } else {
        records_table(&records).into_bytes()
    }))
}

pub(crate) async fn signing(store: &StoreArgs, command: SigningCommand) -> Result<Done, Failure> {
    let (identity, enabled, as_json) = match command {
        SigningCommand::Enable { identity, json } => (identity, true, json),
        SigningCommand::Disable { identity, json } => (identity, false, json),
    };
    let opened = store.open(|_| {}).await?;
    opened
        .node
        .mutate(|r| r.set_signing_enabled(&identity, enabled))
        .await?;
    let i = opened.node.registry().get_str(&identity)?;
    Ok(Done::ok(if as_json {
        json(j!({"identity": i.name().to_string(), "signing_enabled": i.signing_enabled()}))
    } else {
        format!(
            "signing {} for {}\n",
            if enabled { "enabled" } else { "disabled" },
            i.name()
        )
        .into_bytes()
    }))
}

pub(crate) async fn rotate(store: &StoreArgs, a: RotateArgs) -> Result<Done, Failure> {
    let dns = resolver(&a.dns)?;
    let opened = store.open(|_| {}).await?;
    let step = opened.node.rotate(&a.identity, &*dns, unix_now()).await?;
    if a.json {
        return Ok(Done::ok(json(step_json(&step))));
    }
    let mut out = format!("{}\n", step_text(&step));
    let changes: Vec<&RecordChange> = step.changes().iter().filter(|c| c.is_action()).collect();
    if !changes.is_empty() {
        out.push_str("in the signing zone:\n");
        for c in changes {
            out.push_str(&format!("  {}\n", change_text(c)));
        }
    }
    Ok(Done::ok(out))
}

pub(crate) async fn key_length(store: &StoreArgs, a: KeyLengthArgs) -> Result<Done, Failure> {
    let opened = store.open(|_| {}).await?;
    let now = unix_now();
    let spec = a.spec.spec();
    opened
        .node
        .mutate(|r| r.set_next_key_spec(&a.identity, spec, now))
        .await?;
    let i = opened.node.registry().get_str(&a.identity)?;
    Ok(Done::ok(if a.json {
        json(j!({
            "identity": i.name().to_string(),
            "key_spec": i.current_key_spec().map(|s| s.to_string()),
            "next_key_spec": i.next_key_spec().map(|s| s.to_string()),
        }))
    } else {
        format!(
            "next key of {}: {spec} (generated at the end of the next rotation's overlap; \
             `easydkim rotate` moves a rotation on)\n",
            i.name()
        )
        .into_bytes()
    }))
}

pub(crate) async fn refresh(store: &StoreArgs, a: RefreshArgs) -> Result<Done, Failure> {
    let dns = resolver(&a.dns)?;
    let opened = store.open(|_| {}).await?;
    let Some(report) = opened.node.refresh(&*dns, unix_now()).await? else {
        return Ok(Done::ok(if a.json {
            json(j!({"leader": false}))
        } else {
            b"another node is the leader and refreshes this region\n".to_vec()
        }));
    };
    if a.json {
        return Ok(Done::ok(json(j!({
            "leader": true,
            "checked": report.checked,
            "events": report.events.iter().map(event_json).collect::<Vec<_>>(),
            "rotations": report.rotations.iter().map(|(n, s)| {
                let mut v = step_json(s);
                v["identity"] = j!(n.to_string());
                v
            }).collect::<Vec<_>>(),
        }))));
    }
    let mut out = format!(
        "checked {} identit{}; {} status change{}\n",
        report.checked,
        if report.checked == 1 { "y" } else { "ies" },
        report.events.len(),
        if report.events.len() == 1 { "" } else { "s" }
    );
    for e in &report.events {
        out.push_str(&format!("{}\n", event_line(e)));
    }
    for (name, step) in &report.rotations {
        out.push_str(&format!("{name} rotation: {}\n", step_text(step)));
        for c in step.changes().iter().filter(|c| c.is_action()) {
            out.push_str(&format!("  {}\n", change_text(c)));
        }
    }
    Ok(Done::ok(out))
}

pub(crate) async fn diagnose(store: &StoreArgs, a: DiagnoseArgs) -> Result<Done, Failure> {
    let dns = resolver(&a.dns)?;
    let opened = store.open(|_| {}).await?;
    let registry = opened.node.registry();
    let i = registry.get_str(&a.identity)?;
    let name = i.name();
    let findings = registry.diagnose(name, &*dns).await?;
    let passed = findings.is_empty();
    if a.json {
        return Ok(Done {
            out: json(j!({
                "identity": name.to_string(),
                "status": i.status().to_string(),
                "dkim_status": i.dkim().map(|_| i.dkim_status().to_string()),
                "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
            })),
            passed,
        });
    }
    let mut out = if passed {
        format!("{name}: no problems found in DNS\n")
    } else {
        format!(
            "{name}: {} problem{} found in DNS\n",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        )
    };
    for f in &findings {
        out.push_str(&format!("- {f}\n"));
    }
    out.push_str(&format!(
        "status {}{}\n",
        i.status(),
        if i.dkim().is_some() {
            format!(", DKIM {}", i.dkim_status())
        } else {
            String::new()
        }
    ));
    Ok(Done {
        out: out.into_bytes(),
        passed,
    })
}

/// `sign` without `--key`: the registry signs a message from stdin (or says why not).
pub(crate) async fn sign(store: &StoreArgs, time: Option<u64>) -> Result<Done, Failure> {
    let input = crate::read_stdin()?;
    let opened = store.open(|_| {}).await?;
    let registry = opened.node.registry();
    let outcome = registry.sign_at(&input, time.unwrap_or_else(unix_now))?;
    for w in &outcome.warnings {
        eprintln!("easydkim: warning: {w}");
    }
    match &outcome.tenant {
        TenantSignature::Signed(_) => Ok(Done::ok(outcome.message)),
        TenantSignature::Unsigned(reason) => {
            // The message goes out unchanged (with the operator's signature, if one is
            // configured): nothing is lost; the exit status says it is not signed.
            eprintln!("easydkim: not signed: {reason}");
            Ok(Done {
                out: outcome.message,
                passed: false,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn kind(i: &Identity) -> &'static str {
    match (i.name(), i.dkim()) {
        (IdentityName::Email(_), _) => "email",
        (_, Some(DkimSetup::Byo { .. })) => "domain, own key",
        (_, Some(_)) => "domain, Easy DKIM",
        _ => "domain",
    }
}

fn publisher(p: Publisher) -> &'static str {
    match p {
        Publisher::Tenant => "tenant",
        Publisher::Operator => "operator",
    }
}

fn purpose(p: Purpose) -> &'static str {
    match p {
        Purpose::Verification => "verification",
        Purpose::DkimDelegation => "dkim-delegation",
        Purpose::DkimKey => "dkim-key",
    }
}

fn record_json(r: &DnsRecord) -> Value {
    j!({
        "type": r.record_type.as_str(),
        "name": r.name,
        "value": r.value,
        "publisher": publisher(r.publisher),
        "purpose": purpose(r.purpose),
    })
}

/// Records as aligned columns: who publishes, type, name, value.
fn records_table(records: &[DnsRecord]) -> String {
    let mut rows = vec![[
        "PUBLISHER".to_string(),
        "TYPE".into(),
        "NAME".into(),
        "VALUE".into(),
    ]];
    for r in records {
        rows.push([
            publisher(r.publisher).into(),
            r.record_type.as_str().into(),
            r.name.clone(),
            r.value.clone(),
        ]);
    }
    table(&rows)
}

/// Aligned columns, the last one unpadded.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        for (n, cell) in row.iter().enumerate() {
            if n + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[n]));
            }
        }
        out.push('\n');
    }
    out
}

fn check_name(c: Check) -> String {
    match c {
        Check::Identity => "identity".into(),
        Check::Dkim => "DKIM".into(),
        Check::DualSigning => "dual signing".into(),
        Check::Rotation(p) => format!("rotation ({p})"),
        other => format!("{other:?}"),
    }
}

fn event_line(e: &Event) -> String {
    let mut line = format!(
        "{} {}: {} -> {}",
        e.identity,
        check_name(e.check),
        e.from,
        e.to
    );
    if let Some(err) = e.last_error {
        line.push_str(&format!(" ({err})"));
    }
    line
}

fn event_json(e: &Event) -> Value {
    j!({
        "identity": e.identity.to_string(),
        "check": check_name(e.check),
        "from": e.from.to_string(),
        "to": e.to.to_string(),
        "at": e.at,
        "last_error": e.last_error.map(|x| x.to_string()),
    })
}

fn info_json(v: &VerificationInfo) -> Value {
    j!({
        "status": v.status.to_string(),
        "window_start": v.window_start,
        "last_checked": v.last_checked,
        "last_success": v.last_success,
        "last_error": v.last_error.map(|x| x.to_string()),
        "failing_since": v.failing_since,
    })
}

fn rotation_text(r: RotationState) -> String {
    match r {
        RotationState::AwaitingNext { since } => {
            format!("waiting for the next key's record (since {})", time(since))
        }
        RotationState::Overlap { switched_at } => {
            format!("overlap after the switch at {}", time(switched_at))
        }
        RotationState::Idle => "idle".into(),
    }
}

fn identity_json(i: &Identity) -> Value {
    let mut v = j!({
        "identity": i.name().to_string(),
        "kind": kind(i),
        "status": i.status().to_string(),
        "verification": info_json(i.verification()),
        "signing_enabled": i.signing_enabled(),
        "created_at": i.created_at(),
    });
    if i.dkim().is_some() {
        v["dkim_status"] = j!(i.dkim_status().to_string());
        v["dkim_verification"] = info_json(i.dkim_verification());
        v["key_spec"] = j!(i.current_key_spec().map(|s| s.to_string()));
    }
    if let Some(next) = i.next_key_spec() {
        v["next_key_spec"] = j!(next.to_string());
        v["rotation"] = j!(i.rotation_state().map(rotation_text));
        v["keys"] = Value::Array(
            i.key_roles()
                .iter()
                .map(|(t, r)| j!({"token": t.as_str(), "role": r.to_string()}))
                .collect(),
        );
    }
    if let Some(DkimSetup::Byo { selector, .. }) = i.dkim() {
        v["selector"] = j!(selector.as_str());
    }
    if let Some((_, expires)) = i.confirmation() {
        v["confirmation_expires"] = j!(expires);
    }
    v
}

fn info_text(v: &VerificationInfo) -> String {
    let mut s = v.status.to_string();
    if let Some(at) = v.last_checked {
        s.push_str(&format!(", last checked {}", time(at)));
    }
    if let Some(e) = v.last_error {
        s.push_str(&format!(", last error {e}"));
    }
    s
}

fn show(i: &Identity) -> String {
    let mut rows: Vec<[String; 2]> = vec![
        ["identity:".into(), i.name().to_string()],
        ["kind:".into(), kind(i).into()],
        ["status:".into(), info_text(i.verification())],
    ];
    if i.dkim().is_some() {
        rows.push(["DKIM status:".into(), info_text(i.dkim_verification())]);
    }
    rows.push([
        "signing:".into(),
        if i.signing_enabled() {
            "enabled"
        } else {
            "disabled"
        }
        .into(),
    ]);
    rows.push(["created:".into(), time(i.created_at())]);
    if let Some((_, expires)) = i.confirmation() {
        rows.push(["confirm by:".into(), time(expires)]);
    }
    if let Some(spec) = i.current_key_spec() {
        rows.push(["key:".into(), spec.to_string()]);
    }
    if let Some(DkimSetup::Byo { selector, .. }) = i.dkim() {
        rows.push(["selector:".into(), selector.to_string()]);
    }
    if let Some(next) = i.next_key_spec() {
        rows.push(["next key:".into(), next.to_string()]);
        let keys: Vec<String> = i
            .key_roles()
            .iter()
            .map(|(t, r)| format!("{} {r}", t.as_str()))
            .collect();
        rows.push(["keys:".into(), keys.join(", ")]);
        if let Some(r) = i.rotation_state() {
            rows.push(["rotation:".into(), rotation_text(r)]);
        }
    }
    table(&rows)
}

fn step_text(step: &RotationStep) -> String {
    match step {
        RotationStep::Waiting {
            next,
            lookup,
            last_error,
            ..
        } => format!(
            "waiting: the next key ({}) is not visible at {lookup} ({last_error}); publish its record",
            next.as_str()
        ),
        RotationStep::Switched {
            active,
            previous,
            overlap_until,
            ..
        } => format!(
            "switched: {} signs now; {} stays published until {}",
            active.as_str(),
            previous.as_str(),
            time(*overlap_until)
        ),
        RotationStep::InOverlap { until, .. } => {
            format!("in the overlap until {}: nothing to do", time(*until))
        }
        RotationStep::NextKeyGenerated { next, spec, .. } => format!(
            "generated a fresh {spec} key for {}: replace its record",
            next.as_str()
        ),
        other => format!("{other:?}"),
    }
}

fn step_json(step: &RotationStep) -> Value {
    let changes: Vec<Value> = step.changes().iter().map(change_json).collect();
    let mut v = match step {
        RotationStep::Waiting {
            next,
            lookup,
            last_error,
            since,
            ..
        } => j!({"step": "waiting", "next": next.as_str(), "lookup": lookup,
                 "last_error": last_error.to_string(), "since": since}),
        RotationStep::Switched {
            active,
            previous,
            overlap_until,
            ..
        } => j!({"step": "switched", "active": active.as_str(), "previous": previous.as_str(),
                 "overlap_until": overlap_until}),
        RotationStep::InOverlap { until, .. } => j!({"step": "in-overlap", "until": until}),
        RotationStep::NextKeyGenerated { next, spec, .. } => {
            j!({"step": "next-key-generated", "next": next.as_str(), "spec": spec.to_string()})
        }
        other => j!({"step": format!("{other:?}")}),
    };
    v["changes"] = Value::Array(changes);
    v
}

fn change_text(c: &RecordChange) -> String {
    match c {
        RecordChange::Publish(r) => format!("publish {}", r.zone_line()),
        RecordChange::Replace { new, .. } => format!("replace {}", new.zone_line()),
        RecordChange::Keep(r) => format!("keep {}", r.zone_line()),
        RecordChange::Remove(r) => format!("remove {}", r.zone_line()),
        other => format!("{other:?}"),
    }
}

fn change_json(c: &RecordChange) -> Value {
    let (action, record) = match c {
        RecordChange::Publish(r) => ("publish", r),
        RecordChange::Replace { new, .. } => ("replace", new),
        RecordChange::Keep(r) => ("keep", r),
        RecordChange::Remove(r) => ("remove", r),
        other => return j!({"action": format!("{other:?}")}),
    };
    let mut v = record_json(record);
    v["action"] = j!(action);
    v
}

fn finding_json(f: &Finding) -> Value {
    j!({
        "kind": f.kind.to_string(),
        "record": f.record.as_ref().map(record_json),
        "expected": f.expected,
        "found": f.found,
        "fix": f.fix,
    })
}

/// Unix seconds as an RFC 3339 UTC time.
fn time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_is_rfc3339_utc() {
        assert_eq!(super::time(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::time(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
