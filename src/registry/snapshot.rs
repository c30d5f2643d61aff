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

use crate::error::ErrorCause;
use crate::key::{KeySpec, SigningKey};
use crate::names::{DomainName, Selector};

use super::identity::{
    DkimSetup, DualKey, EasyKey, EasyState, Identity, KeyRole, KeySlot, RotationState, Token,
};
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
        let der =
            zeroize::Zeroizing::new(B64.decode(&self.0).map_err(|e| RegistryError::Snapshot {
                detail: "key is not base64".into(),
                source: Some(ErrorCause::new(e)),
            })?);
        Ok(SigningKey::from_der(&der)?)
    }
}

/// The dual-signing key of an Easy DKIM setup in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DualSnapshot {
    /// The extra token.
    pub token: String,
    /// The Ed25519 key.
    pub key: SecretKeyDer,
    /// When it was generated.
    pub generated_at: u64,
    /// Whether its CNAME has been seen.
    pub verification: VerificationInfo,
}

/// A DKIM setup in a snapshot. The Easy DKIM fields after `active` came with key rotation;
/// a snapshot without them loads as "key `active` signs, the one after it is next, the
/// other previous, all generated at the identity's creation, no rotation under way, in the
/// registry's signing zone".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // a serialization image, built once per identity
pub enum DkimSnapshot {
    /// Easy DKIM.
    Easy {
        /// `(token, key)` for each of the three tokens.
        keys: Vec<(String, SecretKeyDer)>,
        /// Index of the signing key.
        active: usize,
        /// Role and generation time of each key.
        #[serde(default)]
        slots: Vec<KeySlot>,
        /// Where the rotation stands.
        #[serde(default)]
        rotation: RotationState,
        /// When the active key started signing.
        #[serde(default)]
        active_since: Option<u64>,
        /// The spec of the next key (`RSA-2048`, `Ed25519`, ...).
        #[serde(default)]
        next_key_spec: Option<String>,
        /// When the next key spec was last changed.
        #[serde(default)]
        key_spec_changed_at: Option<u64>,
        /// The dual-signing key.
        #[serde(default)]
        dual: Option<DualSnapshot>,
        /// The zone of the key records.
        #[serde(default)]
        signing_zone: Option<String>,
        /// For a replica: its parent's region.
        #[serde(default)]
        replica_of: Option<String>,
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
    /// The highest version a store has assigned, deletions included (so a
    /// [`FileRegistryStore`](super::store::FileRegistryStore) never reuses one after a
    /// restart); absent in plain snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_version: Option<u64>,
}

fn parse_key_spec(s: &str) -> Option<KeySpec> {
    [
        KeySpec::Rsa1024,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::Ed25519,
    ]
    .into_iter()
    .find(|k| k.to_string().eq_ignore_ascii_case(s))
}

/// A snapshot error found by easydkim itself (no underlying error).
fn snapshot_error(detail: String) -> RegistryError {
    RegistryError::Snapshot {
        detail,
        source: None,
    }
}

fn parse_token(name: &str, t: &str) -> Result<Token, RegistryError> {
    Token::parse(t).ok_or_else(|| snapshot_error(format!("{name}: bad token `{t}`")))
}

/// An Easy DKIM setup from a snapshot, filling in what older snapshots lack.
fn restore_easy(
    config: &RegistryConfig,
    name: &str,
    created_at: u64,
    snap: &DkimSnapshot,
) -> Result<DkimSetup, RegistryError> {
    let DkimSnapshot::Easy {
        keys,
        active,
        slots,
        rotation,
        active_since,
        next_key_spec,
        key_spec_changed_at,
        dual,
        signing_zone,
        replica_of,
    } = snap
    else {
        return Err(snapshot_error(format!("{name}: not Easy DKIM")));
    };
    let bad = |what: String| snapshot_error(format!("{name}: {what}"));
    if *active >= 3 {
        return Err(bad("Easy DKIM needs a valid active index".into()));
    }
    let keys = keys
        .iter()
        .map(|(t, k)| {
            Ok(EasyKey {
                token: parse_token(name, t)?,
                key: k.to_key()?,
            })
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    let keys: [EasyKey; 3] = keys
        .try_into()
        .map_err(|k: Vec<EasyKey>| bad(format!("Easy DKIM needs 3 keys, found {}", k.len())))?;
    let slots: [KeySlot; 3] = if slots.is_empty() {
        std::array::from_fn(|i| KeySlot {
            role: match (i + 3 - active) % 3 {
                0 => KeyRole::Active,
                1 => KeyRole::Next,
                _ => KeyRole::Previous,
            },
            generated_at: created_at,
        })
    } else {
        slots
            .clone()
            .try_into()
            .map_err(|s: Vec<KeySlot>| bad(format!("{} key slots, expected 3", s.len())))?
    };
    let signing_zone = match signing_zone {
        Some(z) => DomainName::parse(z)?,
        None => config.signing_zone.clone(),
    };
    let next_key_spec = match next_key_spec {
        Some(spec) => {
            parse_key_spec(spec).ok_or_else(|| bad(format!("unknown key spec `{spec}`")))?
        }
        None => config.key_spec,
    };
    let dual = dual
        .as_ref()
        .map(|d| {
            Ok::<_, RegistryError>(DualKey {
                key: EasyKey {
                    token: parse_token(name, &d.token)?,
                    key: d.key.to_key()?,
                },
                generated_at: d.generated_at,
                verification: d.verification.clone(),
            })
        })
        .transpose()?;
    let state = EasyState {
        slots,
        rotation: *rotation,
        active_since: active_since.unwrap_or(created_at),
        next_key_spec,
        key_spec_changed_at: *key_spec_changed_at,
        dual,
        signing_zone,
        replica_of: replica_of.clone(),
    };
    state.validate().map_err(bad)?;
    if state.active() != *active {
        return Err(bad(format!(
            "active index {active} disagrees with the key roles"
        )));
    }
    Ok(DkimSetup::Easy {
        keys,
        state: Box::new(state),
    })
}

impl IdentitySnapshot {
    /// The snapshot of one identity (private keys as PKCS#8 DER).
    pub fn from_identity(i: &Identity) -> Result<IdentitySnapshot, RegistryError> {
        let dkim = match &i.dkim {
            None => None,
            Some(DkimSetup::Easy { keys, state }) => Some(DkimSnapshot::Easy {
                keys: keys
                    .iter()
                    .map(|k| Ok((k.token.to_string(), SecretKeyDer::from_key(&k.key)?)))
                    .collect::<Result<_, RegistryError>>()?,
                active: state.active(),
                slots: state.slots.to_vec(),
                rotation: state.rotation,
                active_since: Some(state.active_since),
                next_key_spec: Some(state.next_key_spec.to_string()),
                key_spec_changed_at: state.key_spec_changed_at,
                dual: state
                    .dual
                    .as_ref()
                    .map(|d| {
                        Ok::<_, RegistryError>(DualSnapshot {
                            token: d.key.token.to_string(),
                            key: SecretKeyDer::from_key(&d.key.key)?,
                            generated_at: d.generated_at,
                            verification: d.verification.clone(),
                        })
                    })
                    .transpose()?,
                signing_zone: Some(state.signing_zone.to_string()),
                replica_of: state.replica_of.clone(),
            }),
            Some(DkimSetup::Byo { selector, key }) => Some(DkimSnapshot::Byo {
                selector: selector.to_string(),
                key: SecretKeyDer::from_key(key)?,
            }),
        };
        Ok(IdentitySnapshot {
            name: i.name.to_string(),
            verification: i.verification.clone(),
            verification_token: i.verification_token.clone(),
            confirmation: i.confirmation.clone(),
            dkim,
            dkim_verification: i.dkim_verification.clone(),
            signing_enabled: i.signing_enabled,
            created_at: i.created_at,
            version: i.version,
        })
    }

    /// The identity back, validating every name, token and key; `config` fills in what
    /// older snapshots lack (signing zone, key spec).
    pub fn to_identity(&self, config: &RegistryConfig) -> Result<Identity, RegistryError> {
        let s = self;
        let name = IdentityName::parse(&s.name)?;
        let dkim = match &s.dkim {
            None => None,
            Some(easy @ DkimSnapshot::Easy { .. }) => {
                Some(restore_easy(config, &s.name, s.created_at, easy)?)
            }
            Some(DkimSnapshot::Byo { selector, key }) => Some(DkimSetup::Byo {
                selector: Selector::parse(selector)?,
                key: key.to_key()?,
            }),
        };
        Ok(Identity {
            name: name.clone(),
            verification: s.verification.clone(),
            verification_token: s.verification_token.clone(),
            confirmation: s.confirmation.clone(),
            dkim,
            dkim_verification: s.dkim_verification.clone(),
            signing_enabled: s.signing_enabled,
            created_at: s.created_at,
            version: s.version,
        })
    }
}

impl IdentityRegistry {
    /// The whole state as a serializable snapshot.
    pub fn to_snapshot(&self) -> Result<Snapshot, RegistryError> {
        let state = self.snapshot();
        let mut identities = Vec::with_capacity(state.identities.len());
        for i in state.identities.values() {
            identities.push(IdentitySnapshot::from_identity(i)?);
        }
        Ok(Snapshot {
            format_version: SNAPSHOT_VERSION,
            region: self.config.region.clone(),
            identities,
            last_version: None,
        })
    }

    /// A registry restored from a snapshot, validating everything in it.
    pub fn from_snapshot(
        config: RegistryConfig,
        snapshot: &Snapshot,
    ) -> Result<Self, RegistryError> {
        if snapshot.format_version > SNAPSHOT_VERSION {
            return Err(snapshot_error(format!(
                "format version {} is newer than the supported {SNAPSHOT_VERSION}",
                snapshot.format_version
            )));
        }
        if snapshot.region != config.region {
            return Err(snapshot_error(format!(
                "snapshot of region {} given to the registry of {}",
                snapshot.region, config.region
            )));
        }
        let mut identities = BTreeMap::new();
        for s in &snapshot.identities {
            let identity = s.to_identity(&config)?;
            let name = identity.name.clone();
            if identities.insert(name, Arc::new(identity)).is_some() {
                return Err(snapshot_error(format!("{} appears twice", s.name)));
            }
        }
        Ok(IdentityRegistry::with_state(
            config,
            State::from_identities(identities),
        ))
    }
}
