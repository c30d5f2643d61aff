//! Private keys at rest: [`EncryptionKey`] seals each identity with ChaCha20-Poly1305 (a
//! random 96-bit nonce per seal), bound to its region and name.

use super::*;

/// An operator-supplied 256-bit key that seals identities (and their private keys) at rest.
/// Never printed.
#[derive(Clone)]
pub struct EncryptionKey {
    pub(super) id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A malformed [`EncryptionKey`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptionKeyError {
    /// Not base64.
    #[error("encryption key {id}: not base64")]
    NotBase64 {
        /// The key id.
        id: String,
    },
    /// Not 32 bytes.
    #[error("encryption key {id}: {len} bytes, expected 32")]
    WrongLength {
        /// The key id.
        id: String,
        /// The length found.
        len: usize,
    },
    /// An empty id or one with characters other than letters, digits, `-`, `_`, `.`.
    #[error("encryption key id `{0}`: use 1 to 64 letters, digits, '-', '_' or '.'")]
    BadId(String),
}

impl EncryptionKey {
    /// A key from 32 bytes, with an id stored beside each row it seals (so keys can be
    /// rotated: see [`PgOptions::old_keys`]).
    pub fn from_bytes(id: &str, key: [u8; 32]) -> Result<Self, EncryptionKeyError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return Err(EncryptionKeyError::BadId(id.to_string()));
        }
        Ok(EncryptionKey {
            id: id.to_string(),
            key: Zeroizing::new(key),
        })
    }

    /// A key from the base64 of 32 bytes (e.g. `openssl rand -base64 32`).
    pub fn from_base64(id: &str, b64: &str) -> Result<Self, EncryptionKeyError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| EncryptionKeyError::NotBase64 { id: id.to_string() })?,
        );
        let arr: [u8; 32] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| EncryptionKeyError::WrongLength {
                    id: id.to_string(),
                    len: bytes.len(),
                })?;
        Self::from_bytes(id, arr)
    }

    /// A fresh random key (tests, first setup).
    pub fn generate(id: &str) -> Result<Self, EncryptionKeyError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the operating system's random source");
        Self::from_bytes(id, k)
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn aad(region: &str, name: &str) -> Vec<u8> {
        format!("easydkim:v1\0{region}\0{name}").into_bytes()
    }

    pub(super) fn seal(
        &self,
        region: &str,
        name: &str,
        plain: &[u8],
    ) -> Result<Vec<u8>, SharedError> {
        let cipher = ChaCha20Poly1305::new(&(*self.key).into());
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(SharedError::unavailable)?;
        let aad = Self::aad(region, name);
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| SharedError::corrupt_because(format!("{name}: sealing failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub(super) fn open(
        &self,
        region: &str,
        name: &str,
        sealed: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < 12 + 16 {
            return None;
        }
        let cipher = ChaCha20Poly1305::new(&(*self.key).into());
        let aad = Self::aad(region, name);
        cipher
            .decrypt(
                &Nonce::try_from(&sealed[..12]).ok()?,
                Payload {
                    msg: &sealed[12..],
                    aad: &aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}
