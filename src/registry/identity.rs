//! Identities and their DKIM setups.

use crate::key::SigningKey;
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
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        // 160 bits = 32 groups of 5 bits.
        let mut acc: u64 = 0;
        let mut bits = 0;
        let mut out = String::with_capacity(32);
        for &b in bytes {
            acc = (acc << 8) | u64::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
            }
        }
        Token(out)
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

/// How a domain's DKIM signatures are made.
#[derive(Clone, Debug)]
pub enum DkimSetup {
    /// Easy DKIM: three tokens, each with a key published in the operator's zone and
    /// delegated by a CNAME from the tenant's zone. `active` indexes the signing key.
    Easy {
        /// The three tokens and keys.
        keys: Vec<EasyKey>,
        /// Which of them signs.
        active: usize,
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
    /// The selector and key that sign.
    pub fn signing(&self) -> (&str, &SigningKey) {
        match self {
            DkimSetup::Easy { keys, active } => {
                let k = &keys[*active];
                (k.token.as_str(), &k.key)
            }
            DkimSetup::Byo { selector, key } => (selector.as_str(), key),
        }
    }

    /// The Easy DKIM tokens (empty for bring-your-own-key).
    pub fn tokens(&self) -> Vec<&Token> {
        match self {
            DkimSetup::Easy { keys, .. } => keys.iter().map(|k| &k.token).collect(),
            DkimSetup::Byo { .. } => Vec::new(),
        }
    }
}

/// An identity and everything known about it.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Its name.
    pub name: IdentityName,
    /// Ownership verification.
    pub verification: VerificationInfo,
    /// The domain verification token (base64 of 32 random bytes); None for email identities.
    pub verification_token: Option<String>,
    /// The email confirmation token and its expiry; None for domains.
    pub confirmation: Option<(String, u64)>,
    /// The DKIM setup, if any (domains only).
    pub dkim: Option<DkimSetup>,
    /// DKIM verification (NotStarted without a setup).
    pub dkim_verification: VerificationInfo,
    /// Whether messages governed by this identity are signed (default true).
    pub signing_enabled: bool,
    /// When the identity was created (Unix seconds).
    pub created_at: u64,
    /// Bumped on every change; used to apply concurrent checks exactly once.
    pub version: u64,
}

impl Identity {
    /// The domain name, for domain identities.
    pub fn domain(&self) -> Option<&DomainName> {
        match &self.name {
            IdentityName::Domain(d) => Some(d),
            IdentityName::Email(_) => None,
        }
    }

    /// The identity status (shorthand for `verification.status`).
    pub fn status(&self) -> VerificationStatus {
        self.verification.status
    }

    /// The DKIM status (shorthand for `dkim_verification.status`).
    pub fn dkim_status(&self) -> VerificationStatus {
        self.dkim_verification.status
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
    }
}
