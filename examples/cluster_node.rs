//! One node of a registry shared through PostgreSQL (features `postgres` and `hickory`).
//!
//! ```text
//! EASYDKIM_PG="host=127.0.0.1 user=easydkim dbname=easydkim" \
//! EASYDKIM_STORE_KEY="$(openssl rand -base64 32)" \
//! cargo run --features postgres,hickory --example cluster_node -- [DOMAIN...]
//! ```
//!
//! Run the same command on every mail-sending machine (with the same `EASYDKIM_STORE_KEY`).
//! Each node loads the shared state, follows other nodes' changes (LISTEN/NOTIFY, with a
//! poll as a fallback), creates the domains given on its command line if they do not exist
//! yet, and every minute calls `refresh`, which does the DNS checks only on the node that
//! holds the leader lock. It prints the records of each domain once, each transition it
//! delivers, and every ten seconds how stale its snapshot is. Signing (`node.sign(msg)`)
//! would sit in the node's mail path; it never waits for the database.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use easydkim::hickory::HickoryDnsVerifier;
use easydkim::postgres::{EncryptionKey, PgOptions, PgStore};
use easydkim::shared::{SharedOptions, SharedRegistry};
use easydkim::{unix_now, Event, Notifier, RegistryConfig, RegistryError};

/// Prints each transition (a real service mails the tenant: see `EmailNotifier`).
struct Print;

#[async_trait::async_trait]
impl Notifier for Print {
    async fn notify(&self, e: &Event) {
        println!("{}: {:?} {:?} -> {:?}", e.identity, e.check, e.from, e.to);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = std::env::var("EASYDKIM_PG").map_err(|_| "set EASYDKIM_PG")?;
    let key = EncryptionKey::from_base64(
        "k1",
        &std::env::var("EASYDKIM_STORE_KEY").map_err(|_| "set EASYDKIM_STORE_KEY")?,
    )?;
    let store = PgStore::connect(&params, PgOptions::new(key)).await?;
    let config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
    let node =
        Arc::new(SharedRegistry::open(config, Arc::new(store), SharedOptions::default()).await?);
    node.registry().set_notifier(Some(Arc::new(Print)));

    let follower = node.clone();
    tokio::spawn(async move { follower.follow().await });

    for domain in std::env::args().skip(1) {
        let now = unix_now();
        match node.mutate(|r| r.create_domain(&domain, now)).await {
            Ok(_)
            | Err(easydkim::shared::SharedError::Registry(RegistryError::IdentityExists(_))) => {}
            Err(e) => return Err(e.into()),
        }
        let identity = node.registry().get_str(&domain)?;
        for r in node.registry().tenant_records(&identity) {
            println!("tenant:   {}", r.zone_line());
        }
        for r in node.registry().operator_records(&identity) {
            println!("operator: {}", r.zone_line());
        }
    }

    let dns = HickoryDnsVerifier::from_system_conf()?;
    let mut round = 0u64;
    loop {
        if round.is_multiple_of(6) {
            match node.refresh(&dns, unix_now()).await {
                Ok(Some(report)) => println!("leader: checked {}", report.checked),
                Ok(None) => println!("follower: another node refreshes"),
                Err(e) => println!("refresh: {e}"),
            }
        }
        let status = node.sync_status();
        println!(
            "stale for {:?}; last error: {}",
            status.staleness(SystemTime::now()).unwrap_or_default(),
            status.last_error.as_deref().unwrap_or("none")
        );
        round += 1;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
