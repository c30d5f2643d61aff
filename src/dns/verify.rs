//! The verifier's DNS step: an adapter that looks the key records up through a
//! [`DnsVerifier`] and hands the answers to the sans-I/O [`Verifier::verify_with_keys`].

use std::collections::HashMap;

use crate::error::MessageError;
use crate::verifier::{KeyLookup, KeyLookupError, VerificationResult, Verifier};

use super::{DnsError, DnsVerifier};

impl Verifier {
    /// Verifies every DKIM-Signature, fetching the key records through `dns` (each name
    /// once, within [`VerifyOptions::max_key_lookups`](crate::VerifyOptions::max_key_lookups)):
    /// no such name or no TXT fails the signature (`permerror`, no key), a transient DNS
    /// error makes it a `temperror`. Errors only for a message that cannot be split.
    pub async fn verify(
        &self,
        dns: &dyn DnsVerifier,
        message: &[u8],
    ) -> Result<Vec<VerificationResult>, MessageError> {
        let mut answers: HashMap<String, KeyLookup> = HashMap::new();
        for name in self.key_names(message)? {
            let answer = dns.txt(&name).await.map_err(|e| match e {
                DnsError::Transient(detail) => KeyLookupError::Transient(detail),
                DnsError::NoSuchName | DnsError::NoRecords => KeyLookupError::NotFound,
            });
            answers.insert(name, answer);
        }
        self.verify_with_keys(message, |name| {
            answers
                .get(name)
                .cloned()
                .unwrap_or_else(|| Err(KeyLookupError::Transient("not looked up".into())))
        })
    }
}
