//! Identities and their DKIM setups.

use crate::key::{KeySpec, SigningKey};
use crate::names::{DomainName, Selector};

use super::status::{IdentityName, VerificationInfo, VerificationStatus};

/// An Easy DKIM token: 32 characters of lowercase base32 (160 random bits), which is both
/// the selector and the first label of the operator-zone record name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Token(pub(crate) String);

impl Token {
    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the token format (`[a-z2-7]{32}`); tokens from a snapshot or a caller are
    /// validated through here.
    pub fn parse(s: &str) -> Option<Token> {
        (s.len() == 32 && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')))
            .then(|| Token(s.to_string()))
    }

    pub(crate) fn from_random(bytes: &[u8; 20]) -> Token {
        // 160 bits are exactly 32 base32 digits: no padding.
        Token(
            data_encoding::BASE32_NOPAD
                .encode(bytes)
                .to_ascii_lowercase(),
        )
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of the three Easy DKIM tokens with its key.
#[derive(Clone, Debug)]
pub struct EasyKey {
    /// The token (selector).
    pub token: Token,
    /// The key published at `<token>.<signing zone>`.
    pub key: SigningKey,
}

/// The role of one of the three Easy DKIM keys in the rotation (guide page
/// [`crate::docs::rotation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum KeyRole {
    /// Signs.
    Active,
    /// Published, not signing yet: the key the next rotation switches to.
    Next,
    /// The key that signed before the last switch, still published so that mail in flight
    /// verifies.
    Previous,
    /// During the overlap after a switch: the token freed by the switch (the former
    /// previous key, still published unchanged). When the overlap ends it gets a fresh key
    /// and becomes the next key.
    Freed,
}

impl std::fmt::Display for KeyRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyRole::Active => "active",
            KeyRole::Next => "next",
            KeyRole::Previous => "previous",
            KeyRole::Freed => "freed",
        })
    }
}

/// What is known about one Easy DKIM key besides the key itself (parallel to
/// [`DkimSetup::Easy`]'s `keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KeySlot {
    /// The key's role.
    pub role: KeyRole,
    /// When the key was generated (Unix seconds).
    pub generated_at: u64,
}

/// Where the key rotation of an Easy DKIM identity stands. Persisted with the identity, so
/// a registry restored from a snapshot taken at any step resumes where it stood.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "state", rename_all = "snake_case"))]
pub enum RotationState {
    /// Roles stable (active, next, previous), every key published; nothing under way.
    #[default]
    Idle,
    /// A rotation was asked for (by [`rotate`](super::IdentityRegistry::rotate) or by the
    /// age policy) and waits until the next key's TXT is visible through the tenant's CNAME.
    /// Signing has not changed.
    AwaitingNext {
        /// When the rotation was first asked for.
        since: u64,
    },
    /// Signing switched to the former next key at `switched_at`. The former active key is
    /// now previous and stays published; when the overlap ends the freed token gets a fresh
    /// key.
    Overlap {
        /// When signing switched.
        switched_at: u64,
    },
}

/// The extra Ed25519 key of dual signing: its own token, CNAME and operator record.
#[derive(Clone, Debug)]
pub struct DualKey {
    /// The token (selector) and the Ed25519 key.
    pub key: EasyKey,
    /// When the key was generated (Unix seconds).
    pub generated_at: u64,
    /// Whether the extra CNAME has been seen. The Ed25519 signature is added only while
    /// this is verified; once it has been seen, the identity's DKIM check requires it too.
    pub verification: VerificationInfo,
}

/// The state of an Easy DKIM setup besides its three keys: roles and generation times,
/// rotation progress, key-length policy, dual signing, signing zone and replication.
#[derive(Clone, Debug)]
pub struct EasyState {
    /// Role and generation time of each key, parallel to `keys`.
    pub(crate) slots: [KeySlot; 3],
    /// Where the rotation stands.
    pub(crate) rotation: RotationState,
    /// When the active key started signing (creation or the last switch).
    pub(crate) active_since: u64,
    /// The spec of the next key generated (at the end of a rotation's overlap).
    pub(crate) next_key_spec: KeySpec,
    /// When `next_key_spec` was last changed by
    /// [`set_next_key_spec`](super::IdentityRegistry::set_next_key_spec).
    pub(crate) key_spec_changed_at: Option<u64>,
    /// The extra Ed25519 key, when dual signing is on.
    pub(crate) dual: Option<DualKey>,
    /// The zone of the key records and CNAME targets: the registry's signing zone at
    /// creation, the parent's for a replica.
    pub(crate) signing_zone: DomainName,
    /// For a replica: the region of the parent identity whose tokens and keys it shares.
    pub(crate) replica_of: Option<String>,
}

impl EasyState {
    /// A fresh state for three keys generated at `now`: key 0 active, 1 next, 2 previous.
    pub(crate) fn new(signing_zone: DomainName, next_key_spec: KeySpec, now: u64) -> Self {
        let slot = |role| KeySlot {
            role,
            generated_at: now,
        };
        EasyState {
            slots: [
                slot(KeyRole::Active),
                slot(KeyRole::Next),
                slot(KeyRole::Previous),
            ],
            rotation: RotationState::Idle,
            active_since: now,
            next_key_spec,
            key_spec_changed_at: None,
            dual: None,
            signing_zone,
            replica_of: None,
        }
    }

    /// The index of the key with `role`, if any.
    pub(crate) fn slot_of(&self, role: KeyRole) -> Option<usize> {
        self.slots.iter().position(|s| s.role == role)
    }

    /// The index of the signing key.
    pub(crate) fn active(&self) -> usize {
        self.slot_of(KeyRole::Active).unwrap_or(0)
    }

    /// Checks the invariants: three slots, exactly one active and one previous, and one
    /// next (Idle, AwaitingNext) or one freed (Overlap).
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn validate(&self) -> Result<(), String> {
        let count = |r| self.slots.iter().filter(|s| s.role == r).count();
        let third = match self.rotation {
            RotationState::Overlap { .. } => KeyRole::Freed,
            _ => KeyRole::Next,
        };
        for role in [KeyRole::Active, KeyRole::Previous, third] {
            if count(role) != 1 {
                return Err(format!(
                    "{} {role} keys in rotation state {:?}",
                    count(role),
                    self.rotation
                ));
            }
        }
        if self
            .dual
            .as_ref()
            .is_some_and(|d| d.key.key.algorithm() != crate::key::Algorithm::Ed25519Sha256)
        {
            return Err("the dual-signing key is not Ed25519".into());
        }
        Ok(())
    }
}

impl EasyState {
    /// Role and generation time of each key, in the order of [`DkimSetup::Easy`]'s `keys`.
    pub fn slots(&self) -> &[KeySlot] {
        &self.slots
    }

    /// Where the rotation stands.
    pub fn rotation(&self) -> RotationState {
        self.rotation
    }

    /// When the active key started signing (creation or the last switch; Unix seconds).
    pub fn active_since(&self) -> u64 {
        self.active_since
    }

    /// The spec of the next key generated (at the end of a rotation's overlap).
    pub fn next_key_spec(&self) -> KeySpec {
        self.next_key_spec
    }

    /// When the next key spec was last changed by
    /// [`set_next_key_spec`](super::IdentityRegistry::set_next_key_spec).
    pub fn key_spec_changed_at(&self) -> Option<u64> {
        self.key_spec_changed_at
    }

    /// The extra Ed25519 key, when dual signing is on.
    pub fn dual(&self) -> Option<&DualKey> {
        self.dual.as_ref()
    }

    /// The zone of the key records and CNAME targets: the registry's signing zone at
    /// creation, the parent's for a replica.
    pub fn signing_zone(&self) -> &DomainName {
        &self.signing_zone
    }

    /// For a replica: the region of the parent identity whose tokens and keys it shares.
    pub fn replica_of(&self) -> Option<&str> {
        self.replica_of.as_deref()
    }
}

/// How a domain's DKIM signatures are made.
#[derive(Clone, Debug)]
pub enum DkimSetup {
    /// Easy DKIM: three tokens, each with a key published in the operator's zone and
    /// delegated by a CNAME from the tenant's zone. The tokens never change; their keys and
    /// roles do (rotation).
    Easy {
        /// The three tokens and keys, in the order of their slots.
        keys: [EasyKey; 3],
        /// Roles, rotation, key policy, dual signing, zone, replication.
        state: Box<EasyState>,
    },
    /// Bring your own key: the tenant publishes the TXT record at
    /// `<selector>._domainkey.<domain>` itself.
    Byo {
        /// The selector.
        selector: Selector,
        /// The key.
        key: SigningKey,
    },
}

impl DkimSetup {
    /// Easy DKIM over `keys` generated at `now`, key 0 active.
    pub fn easy(
        keys: [EasyKey; 3],
        signing_zone: DomainName,
        next_key_spec: KeySpec,
        now: u64,
    ) -> Self {
        DkimSetup::Easy {
            keys,
            state: Box::new(EasyState::new(signing_zone, next_key_spec, now)),
        }
    }

    /// The selector and key that sign.
    pub fn signing(&self) -> (&str, &SigningKey) {
        match self {
            DkimSetup::Easy { keys, state } => {
                let k = &keys[state.active()];
                (k.token.as_str(), &k.key)
            }
            DkimSetup::Byo { selector, key } => (selector.as_str(), key),
        }
    }

    /// The Easy DKIM tokens (empty for bring-your-own-key), without the dual-signing token.
    pub fn tokens(&self) -> Vec<&Token> {
        match self {
            DkimSetup::Easy { keys, .. } => keys.iter().map(|k| &k.token).collect(),
            DkimSetup::Byo { .. } => Vec::new(),
        }
    }

    /// The Easy DKIM state (None for bring-your-own-key).
    pub fn easy_state(&self) -> Option<&EasyState> {
        match self {
            DkimSetup::Easy { state, .. } => Some(state),
            DkimSetup::Byo { .. } => None,
        }
    }
}

/// An identity and everything known about it.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Its name.
    pub(crate) name: IdentityName,
    /// Ownership verification.
    pub(crate) verification: VerificationInfo,
    /// The domain verification token (base64 of 32 random bytes); None for email identities.
    pub(crate) verification_token: Option<String>,
    /// The email confirmation token and its expiry; None for domains.
    pub(crate) confirmation: Option<(String, u64)>,
    /// The DKIM setup, if any (domains only).
    pub(crate) dkim: Option<DkimSetup>,
    /// DKIM verification (NotStarted without a setup).
    pub(crate) dkim_verification: VerificationInfo,
    /// Whether messages governed by this identity are signed (default true).
    pub(crate) signing_enabled: bool,
    /// When the identity was created (Unix seconds).
    pub(crate) created_at: u64,
    /// Bumped on every change; used to apply concurrent checks exactly once.
    pub(crate) version: u64,
}

impl Identity {
    /// Its name.
    pub fn name(&self) -> &IdentityName {
        &self.name
    }

    /// Ownership verification: status, last error, when it started and last changed.
    pub fn verification(&self) -> &VerificationInfo {
        &self.verification
    }

    /// The domain verification token (base64 of 32 random bytes); None for email identities.
    pub fn verification_token(&self) -> Option<&str> {
        self.verification_token.as_deref()
    }

    /// The email confirmation token and when it expires (Unix seconds); None for domains
    /// and once the address is confirmed.
    pub fn confirmation(&self) -> Option<(&str, u64)> {
        self.confirmation.as_ref().map(|(t, at)| (t.as_str(), *at))
    }

    /// The DKIM setup, if any (domains only).
    pub fn dkim(&self) -> Option<&DkimSetup> {
        self.dkim.as_ref()
    }

    /// DKIM verification (NotStarted without a setup).
    pub fn dkim_verification(&self) -> &VerificationInfo {
        &self.dkim_verification
    }

    /// Whether messages governed by this identity are signed (default true).
    pub fn signing_enabled(&self) -> bool {
        self.signing_enabled
    }

    /// When the identity was created (Unix seconds).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// The identity's version: bumped by the registry on every change, and assigned by the
    /// store when a [`SharedRegistry`](crate::shared::SharedRegistry) commits it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The same identity with the version a [`RegistryStore`](crate::shared::RegistryStore)
    /// assigned to it on commit: what a store returns from `load` and `changes_since`.
    #[must_use]
    pub fn with_version(mut self, version: u64) -> Identity {
        self.version = version;
        self
    }

    /// The domain name, for domain identities.
    pub fn domain(&self) -> Option<&DomainName> {
        match &self.name {
            IdentityName::Domain(d) => Some(d),
            IdentityName::Email(_) => None,
        }
    }

    /// The identity status (shorthand for `verification().status`).
    pub fn status(&self) -> VerificationStatus {
        self.verification.status
    }

    /// The DKIM status (shorthand for `dkim_verification().status`).
    pub fn dkim_status(&self) -> VerificationStatus {
        self.dkim_verification.status
    }

    /// The spec of the key that signs now (None without a DKIM setup, or for an imported
    /// key of an unusual size).
    pub fn current_key_spec(&self) -> Option<KeySpec> {
        self.dkim.as_ref().and_then(|d| d.signing().1.spec())
    }

    /// The spec of the next Easy DKIM key to be generated (None unless Easy DKIM).
    pub fn next_key_spec(&self) -> Option<KeySpec> {
        self.easy_state().map(|s| s.next_key_spec)
    }

    /// When an Easy DKIM key of this identity was last generated (None unless Easy DKIM).
    pub fn last_key_generation(&self) -> Option<u64> {
        self.easy_state()
            .and_then(|s| s.slots.iter().map(|k| k.generated_at).max())
    }

    /// The rotation state (None unless Easy DKIM).
    pub fn rotation_state(&self) -> Option<RotationState> {
        self.easy_state().map(|s| s.rotation)
    }

    /// The token and role of each Easy DKIM key (empty unless Easy DKIM).
    pub fn key_roles(&self) -> Vec<(&Token, KeyRole)> {
        match &self.dkim {
            Some(DkimSetup::Easy { keys, state }) => keys
                .iter()
                .zip(&state.slots)
                .map(|(k, s)| (&k.token, s.role))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// For a replica: the region of its parent.
    pub fn replica_of(&self) -> Option<&str> {
        self.easy_state().and_then(|s| s.replica_of.as_deref())
    }

    /// The Easy DKIM state (None unless Easy DKIM).
    pub fn easy_state(&self) -> Option<&EasyState> {
        self.dkim.as_ref().and_then(DkimSetup::easy_state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_base32() {
        let t = Token::from_random(&[0u8; 20]);
        assert_eq!(t.as_str(), "a".repeat(32));
        let t = Token::from_random(&[0xff; 20]);
        assert_eq!(t.as_str(), "7".repeat(32));
        assert!(Token::parse(t.as_str()).is_some());
        assert!(Token::parse("ABC").is_none());
        // RFC 4648 base32, lowercase (the bytes 0..20; expected from Python's b32encode).
        let t = Token::from_random(&std::array::from_fn(|i| i as u8));
        assert_eq!(t.as_str(), "aaaqeayeaudaocajbifqydiob4ibceqt");
    }
}
