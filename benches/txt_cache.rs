//! A TXT cache that mail-auth's verifier consults before any DNS query: the key records in
//! memory. Shared by the mail-auth cross-checks (`tests/mail_auth.rs`) and the paired
//! verification benchmark (`sign.rs`).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::resolver::ToFqdn;
use mail_auth::common::verify::DomainKey;
use mail_auth::{ResolverCache, Txt};

/// Key records by the name mail-auth looks up.
#[derive(Default)]
pub(crate) struct TxtCache(Mutex<HashMap<Box<str>, Txt>>);

impl TxtCache {
    /// Parses `record` as mail-auth would parse the DNS answer and stores it under the
    /// name mail-auth looks up: lowercase, with a trailing dot (`ToFqdn`).
    pub(crate) fn publish(&self, name: &str, record: &str) {
        let key = DomainKey::parse(record.as_bytes())
            .unwrap_or_else(|e| panic!("mail-auth rejects the key record for {name}: {e}"));
        let fqdn = name.to_fqdn().into_owned().into_boxed_str();
        assert!(
            fqdn.contains("._domainkey.") && fqdn.ends_with('.'),
            "{fqdn}"
        );
        self.insert(
            fqdn,
            Txt::from(key),
            Instant::now() + Duration::from_secs(86_400),
        );
    }
}

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }

    fn insert(&self, key: Box<str>, value: Txt, _valid_until: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}
