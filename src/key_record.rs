//! The DKIM key record (RFC 6376 3.6.1): the TXT value at `<selector>._domainkey.<domain>`,
//! parsed. Used by the verifier, the registry's checks and its diagnostics.

use base64::Engine;

use crate::error::{ErrorCause, KeyError};
use crate::key::{KeyType, PublicKey};
use crate::tag_list::{parse_tag_list, strip_fws, TagListError};

/// A parsed key record (RFC 6376 3.6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRecord {
    /// `k=` (default rsa).
    pub key_type: KeyType,
    /// `p=`, decoded; None when revoked (empty `p=`).
    pub key: Option<PublicKey>,
    /// `t=y`: testing mode.
    pub testing: bool,
    /// `t=s`: `i=` must be exactly `d=`, not a subdomain.
    pub strict: bool,
    /// `h=` (acceptable hashes), when present.
    pub hashes: Option<Vec<String>>,
}

/// Why a key record cannot be used. Each message starts with "key record:", so that it
/// reads on its own in a verification result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRecordError {
    /// The record is not a tag-list; `source` says where it breaks.
    #[error("key record: not a tag-list")]
    Syntax(#[source] TagListError),
    /// `v=` is present but not first, or not `DKIM1`.
    #[error("key record: v= must come first and be DKIM1, found `{0}`")]
    Version(String),
    /// `k=` names a key type other than rsa and ed25519.
    #[error("key record: unknown key type k={0}")]
    UnknownKeyType(String),
    /// `s=` lists service types, none of them `email` or `*`.
    #[error("key record: service type s={0} excludes email")]
    ServiceExcludesEmail(String),
    /// There is no `p=` tag.
    #[error("key record: missing p=")]
    MissingKey,
    /// `p=` is not base64; `source` is the decoder's error.
    #[error("key record: p= is not base64")]
    KeyNotBase64(#[source] ErrorCause),
    /// `p=` decodes, but not to a key of the record's type; `source` says why.
    #[error("key record: p= is not a usable {} key", key_type.as_str())]
    InvalidKey {
        /// The record's `k=`.
        key_type: KeyType,
        /// Why the key was refused.
        source: KeyError,
    },
    /// `h=` lists the acceptable hash algorithms, and the signature's is not among them.
    #[error("key record: h= does not allow {0}")]
    HashNotAllowed(&'static str),
}

impl KeyRecord {
    /// Parses a TXT record value (its character-strings joined).
    pub fn parse(txt: &str) -> Result<Self, KeyRecordError> {
        let tags = parse_tag_list(txt).map_err(KeyRecordError::Syntax)?;
        let get = |n: &str| tags.iter().find(|t| t.name == n);
        if let Some(v) = get("v") {
            if tags[0].name != "v" || v.value != "DKIM1" {
                return Err(KeyRecordError::Version(v.value.to_string()));
            }
        }
        let key_type = match get("k").map(|k| k.value) {
            None => KeyType::Rsa,
            Some(k) if k.eq_ignore_ascii_case("rsa") => KeyType::Rsa,
            Some(k) if k.eq_ignore_ascii_case("ed25519") => KeyType::Ed25519,
            Some(k) => return Err(KeyRecordError::UnknownKeyType(k.to_string())),
        };
        if let Some(s) = get("s") {
            let services = strip_fws(s.value);
            if !services
                .split(':')
                .any(|s| s == "*" || s.eq_ignore_ascii_case("email"))
            {
                return Err(KeyRecordError::ServiceExcludesEmail(services));
            }
        }
        let flags: Vec<String> = get("t")
            .map(|t| strip_fws(t.value).split(':').map(str::to_string).collect())
            .unwrap_or_default();
        let hashes = get("h").map(|h| strip_fws(h.value).split(':').map(str::to_string).collect());
        let p = get("p").ok_or(KeyRecordError::MissingKey)?;
        let p = strip_fws(p.value);
        let key = if p.is_empty() {
            None
        } else {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&p)
                .map_err(|e| KeyRecordError::KeyNotBase64(ErrorCause::new(e)))?;
            Some(
                PublicKey::from_bytes(key_type, &bytes)
                    .map_err(|source| KeyRecordError::InvalidKey { key_type, source })?,
            )
        };
        Ok(KeyRecord {
            key_type,
            key,
            testing: flags.iter().any(|f| f == "y"),
            strict: flags.iter().any(|f| f == "s"),
            hashes,
        })
    }
}
