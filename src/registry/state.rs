//! The registry's state as a value ([`State`]) and the one kind of change to it
//! ([`Change`]): what the local registry applies and a shared store commits.

use super::identity::Identity;
use super::stats::Counters;
use super::status;
use super::status::IdentityName;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

/// An explicit change to the registry's state: what a store persists and replays.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Change {
    /// Create or replace an identity (its `version` is the new version).
    Upsert(Arc<Identity>),
    /// Delete an identity.
    Delete(IdentityName),
}

/// The registry's whole state: an immutable snapshot.
#[derive(Clone, Default)]
pub struct State {
    pub(crate) identities: BTreeMap<IdentityName, Arc<Identity>>,
    /// The same identities by hash, for `sign`'s lookups by borrowed name (a few hash
    /// probes instead of a walk down a tree of 100,000 names per candidate).
    /// Each entry also holds the identity's signing counters, which outlive changes to the
    /// identity (an upsert keeps them) and go with its deletion.
    pub(crate) index: HashMap<status::IndexKey, Entry, foldhash::fast::RandomState>,
}

/// An identity in the hash index, with its signing counters.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) identity: Arc<Identity>,
    pub(crate) stats: Arc<Counters>,
}

impl Entry {
    fn new(identity: Arc<Identity>) -> Entry {
        Entry {
            identity,
            stats: Arc::default(),
        }
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("identities", &self.identities)
            .finish_non_exhaustive()
    }
}

impl State {
    /// A state holding these identities.
    #[cfg(feature = "serde")]
    pub(crate) fn from_identities(identities: BTreeMap<IdentityName, Arc<Identity>>) -> State {
        let index = identities
            .iter()
            .map(|(name, i)| (status::IndexKey(name.clone()), Entry::new(i.clone())))
            .collect();
        State { identities, index }
    }

    /// The identities, by name.
    pub fn identities(&self) -> &BTreeMap<IdentityName, Arc<Identity>> {
        &self.identities
    }

    /// The identity of a borrowed name.
    pub(crate) fn lookup(&self, name: status::NameRef<'_>) -> Option<&Entry> {
        self.index.get(&name as &dyn status::NameKey)
    }

    /// Gives every identity new signing counters (zero), so that a state taken from another
    /// registry does not share that registry's counters.
    pub(crate) fn detach_counters(&mut self) {
        for entry in self.index.values_mut() {
            entry.stats = Arc::default();
        }
    }

    /// Applies one change.
    pub(crate) fn apply(&mut self, change: Change) {
        match change {
            Change::Upsert(identity) => {
                self.index
                    .entry(status::IndexKey(identity.name.clone()))
                    .and_modify(|e| e.identity = identity.clone())
                    .or_insert_with(|| Entry::new(identity.clone()));
                self.identities.insert(identity.name.clone(), identity);
            }
            Change::Delete(name) => {
                self.index.remove(&name as &dyn status::NameKey);
                self.identities.remove(&name);
            }
        }
    }
}
