//! Why a signature did not pass: the verifier's reasons, below both the field parser and
//! the verifier.

use crate::key_record::KeyRecordError;
use crate::tag_list::TagListError;

/// Why a signature did not pass.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// The signature's tag-list does not parse.
    #[error("signature syntax: {0}")]
    Syntax(TagListError),
    /// A required tag is missing.
    #[error("missing required tag {0}=")]
    MissingTag(&'static str),
    /// A tag has a value we cannot use.
    #[error("invalid {tag}= value: {detail}")]
    InvalidTag {
        /// The tag.
        tag: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// `v=` is not 1.
    #[error("unsupported signature version {0}")]
    UnsupportedVersion(String),
    /// `a=` names an algorithm we do not know.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// `rsa-sha1`, refused unless allowed (RFC 8301).
    #[error("rsa-sha1 is not accepted (RFC 8301)")]
    Sha1Refused,
    /// `h=` does not include From (RFC 6376 6.1.1).
    #[error("From is not signed")]
    FromNotSigned,
    /// `i=` is not within `d=` (RFC 6376 6.1.1).
    #[error("i= {identity} is not within d= {domain}")]
    IdentityOutsideDomain {
        /// `i=`.
        identity: String,
        /// `d=`.
        domain: String,
    },
    /// `x=` has passed.
    #[error("signature expired at {expired}")]
    Expired {
        /// The `x=` value.
        expired: u64,
    },
    /// `t=` is in the future (beyond the tolerated skew).
    #[error("signature timestamp {timestamp} is in the future")]
    FutureTimestamp {
        /// The `t=` value.
        timestamp: u64,
    },
    /// `x=` is before `t=`.
    #[error("x= is before t=")]
    ExpiryBeforeTimestamp,
    /// No key record at the selector (NXDOMAIN or no TXT).
    #[error("no key record at {0}")]
    NoKey(String),
    /// The key lookup failed transiently.
    #[error("key lookup for {name} failed: {detail}")]
    DnsTransient {
        /// The name looked up.
        name: String,
        /// The resolver's error.
        detail: String,
    },
    /// The key record does not parse or is unusable.
    #[error(transparent)]
    KeyRecord(KeyRecordError),
    /// The key record has an empty `p=`: the key was revoked.
    #[error("key revoked")]
    KeyRevoked,
    /// `k=` of the record does not match the algorithm of the signature.
    #[error("key type {record} does not match algorithm {algorithm}")]
    KeyTypeMismatch {
        /// The record's `k=`.
        record: String,
        /// The signature's `a=`.
        algorithm: String,
    },
    /// An RSA key under 1024 bits (RFC 8301) or above 4096.
    #[error("RSA key of {0} bits is not acceptable")]
    KeySize(usize),
    /// The body does not hash to `bh=`.
    #[error("body hash mismatch")]
    BodyHashMismatch,
    /// `l=` is longer than the canonical body: the body was cut after signing.
    #[error("l={length} is longer than the {body}-octet canonical body")]
    BodyShorterThanLength {
        /// The `l=` value.
        length: u64,
        /// The canonical body's length.
        body: u64,
    },
    /// The message has a From field the signature does not cover.
    #[error("{present} From fields, {signed} signed: an unsigned From was added")]
    UnsignedFrom {
        /// From fields in the message.
        present: usize,
        /// Instances of From in `h=`.
        signed: usize,
    },
    /// The signature does not verify over the headers.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// `l=` leaves content unsigned and the policy rejects it.
    #[error("{0} octets of body content are not covered by l=")]
    UnsignedContent(u64),
    /// More signatures than [`VerifyOptions::max_signatures`](crate::VerifyOptions::max_signatures).
    #[error("not evaluated: too many signatures")]
    TooManySignatures,
    /// More key lookups than [`VerifyOptions::max_key_lookups`](crate::VerifyOptions::max_key_lookups).
    #[error("not evaluated: too many key lookups")]
    TooManyKeyLookups,
}
