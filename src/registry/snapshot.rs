//! A versioned, serializable image of a registry's whole state (feature `serde`).
//!
//! Keys are stored as PKCS#8 DER in base64 inside [`SecretKeyDer`], which is wiped on drop
//! and never shown by `Debug`. Restoring validates every name, token and key, and refuses a
//! snapshot of a newer format version.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::key::SigningKey;
use crate::names::Selector;

use super::identity::{DkimSetup, EasyKey, Identity, Token};
use super::status::{IdentityName, VerificationInfo};
use super::{IdentityRegistry, RegistryConfig, RegistryError, State};

/// The snapshot format version this release writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A private key as base64 PKCS#8 DER; wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretKeyDer(String);

impl std::fmt::Debug for SecretKeyDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKeyDer(<redacted>)")
    }
}

impl Drop for SecretKeyDer {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl SecretKeyDer {
    fn from_key(key: &SigningKey) -> Result<Self, RegistryError> {
        Ok(SecretKeyDer(B64.encode(&key.to_pkcs8_der()?[..])))
    }

    fn to_key(&self) -> Result<SigningKey, RegistryError> {
        let der = zeroize::Zeroizing::new(
            B64.decode(&self.0)
                .map_err(|e| RegistryError::Snapshot(format!("key is not base64: {e}")))?,
        );
        Ok(SigningKey::from_der(&der)?)
    }
}

/// A DKIM setup in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DkimSnapshot {
    /// Easy DKIM.
    Easy {
        /// `(token, key)` for each of the three tokens.
        keys: Vec<(String, SecretKeyDer)>,
        /// Index of the signing key.
        active: usize,
    },
    /// Bring your own key.
    Byo {
        /// The selector.
        selector: String,
        /// The key.
        key: SecretKeyDer,
    },
}

/// One identity in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySnapshot {
    /// `example.com` or `alice@example.com`.
    pub name: String,
    /// Ownership verification.
    pub verification: VerificationInfo,
    /// Domain verification token.
    pub verification_token: Option<String>,
    /// Email confirmation token and expiry.
    pub confirmation: Option<(String, u64)>,
    /// DKIM setup.
    pub dkim: Option<DkimSnapshot>,
    /// DKIM verification.
    pub dkim_verification: VerificationInfo,
    /// Signing enabled.
    pub signing_enabled: bool,
    /// Creation time.
    pub created_at: u64,
    /// Change version.
    pub version: u64,
}

/// The whole state of one region's registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version ([`SNAPSHOT_VERSION`]).
    pub format_version: u32,
    /// The region.
    pub region: String,
    /// Every identity.
    pub identities: Vec<IdentitySnapshot>,
}

impl IdentityRegistry {
    /// The whole state as a serializable snapshot.
    pub fn to_snapshot(&self) -> Result<Snapshot, RegistryError> {
        let state = self.snapshot();
        let mut identities = Vec::with_capacity(state.identities.len());
        for i in state.identities.values() {
            let dkim = match &i.dkim {
                None => None,
                Some(DkimSetup::Easy { keys, active }) => Some(DkimSnapshot::Easy {
                    keys: keys
                        .iter()
                        .map(|k| Ok((k.token.to_string(), SecretKeyDer::from_key(&k.key)?)))
                        .collect::<Result<_, RegistryError>>()?,
                    active: *active,
                }),
                Some(DkimSetup::Byo { selector, key }) => Some(DkimSnapshot::Byo {
                    selector: selector.to_string(),
                    key: SecretKeyDer::from_key(key)?,
                }),
            };
            identities.push(IdentitySnapshot {
                name: i.name.to_string(),
                verification: i.verification.clone(),
                verification_token: i.verification_token.clone(),
                confirmation: i.confirmation.clone(),
                dkim,
                dkim_verification: i.dkim_verification.clone(),
                signing_enabled: i.signing_enabled,
                created_at: i.created_at,
                version: i.version,
            });
        }
        Ok(Snapshot {
            format_version: SNAPSHOT_VERSION,
            region: self.config.region.clone(),
            identities,
        })
    }

    /// A registry restored from a snapshot, validating everything in it.
    pub fn from_snapshot(
        config: RegistryConfig,
        snapshot: &Snapshot,
    ) -> Result<Self, RegistryError> {
        if snapshot.format_version > SNAPSHOT_VERSION {
            return Err(RegistryError::Snapshot(format!(
                "format version {} is newer than the supported {SNAPSHOT_VERSION}",
                snapshot.format_version
            )));
        }
        if snapshot.region != config.region {
            return Err(RegistryError::Snapshot(format!(
                "snapshot of region {} given to the registry of {}",
                snapshot.region, config.region
            )));
        }
        let mut identities = BTreeMap::new();
        for s in &snapshot.identities {
            let name = IdentityName::parse(&s.name)?;
            let dkim = match &s.dkim {
                None => None,
                Some(DkimSnapshot::Easy { keys, active }) => {
                    if keys.len() != 3 || *active >= keys.len() {
                        return Err(RegistryError::Snapshot(format!(
                            "{}: Easy DKIM needs 3 keys and a valid active index",
                            s.name
                        )));
                    }
                    let keys = keys
                        .iter()
                        .map(|(t, k)| {
                            Ok(EasyKey {
                                token: Token::parse(t).ok_or_else(|| {
                                    RegistryError::Snapshot(format!("{}: bad token `{t}`", s.name))
                                })?,
                                key: k.to_key()?,
                            })
                        })
                        .collect::<Result<Vec<_>, RegistryError>>()?;
                    Some(DkimSetup::Easy {
                        keys,
                        active: *active,
                    })
                }
                Some(DkimSnapshot::Byo { selector, key }) => Some(DkimSetup::Byo {
                    selector: Selector::parse(selector)?,
                    key: key.to_key()?,
                }),
            };
            let identity = Identity {
                name: name.clone(),
                verification: s.verification.clone(),
                verification_token: s.verification_token.clone(),
                confirmation: s.confirmation.clone(),
                dkim,
                dkim_verification: s.dkim_verification.clone(),
                signing_enabled: s.signing_enabled,
                created_at: s.created_at,
                version: s.version,
            };
            if identities.insert(name, Arc::new(identity)).is_some() {
                return Err(RegistryError::Snapshot(format!("{} appears twice", s.name)));
            }
        }
        Ok(IdentityRegistry::with_state(config, State { identities }))
    }
}
