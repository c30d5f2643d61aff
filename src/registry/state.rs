//! The registry's state as a value ([`State`]) and the one kind of change to it
//! ([`Change`]): what the local registry applies and a shared store commits.

use super::identity::Identity;
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
    pub(crate) index: HashMap<status::IndexKey, Arc<Identity>, foldhash::fast::RandomState>,
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
            .map(|(name, i)| (status::IndexKey(name.clone()), i.clone()))
            .collect();
        State { identities, index }
    }

    /// The identities, by name.
    pub fn identities(&self) -> &BTreeMap<IdentityName, Arc<Identity>> {
        &self.identities
    }

    /// The identity of a borrowed name.
    pub(crate) fn lookup(&self, name: status::NameRef<'_>) -> Option<&Arc<Identity>> {
        self.index.get(&name as &dyn status::NameKey)
    }

    /// Applies one change.
    pub(crate) fn apply(&mut self, change: Change) {
        match change {
            Change::Upsert(identity) => {
                self.index
                    .insert(status::IndexKey(identity.name.clone()), identity.clone());
                self.identities.insert(identity.name.clone(), identity);
            }
            Change::Delete(name) => {
                self.index.remove(&name as &dyn status::NameKey);
                self.identities.remove(&name);
            }
        }
    }
}
