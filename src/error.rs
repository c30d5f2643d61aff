//! Error types, one per concern. Messages name the offending value, never key material.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

use crate::names::NameError;

/// A message that cannot be signed as it is.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message has no From header (RFC 5322 3.6 requires exactly one, and DKIM signs it).
    #[error("message has no From header")]
    NoFrom,
    /// The message has more than one From header, so its author is ambiguous.
    #[error("message has {count} From headers; exactly one is required")]
    MultipleFrom {
        /// How many From headers were found.
        count: usize,
    },
    /// The From header does not parse as an address.
    #[error("From header `{value}` is not a valid address: {reason}")]
    FromUnparsable {
        /// An excerpt of the From value.
        value: String,
        /// What the address parser said.
        reason: String,
    },
    /// The From address parses, but is not a valid address to sign for (a domain or local
    /// part that [`EmailAddress`](crate::EmailAddress) refuses); `source` says why.
    #[error("From address `{address}` is not valid")]
    FromAddressInvalid {
        /// The address as parsed.
        address: String,
        /// Why it is not valid.
        #[source]
        source: NameError,
    },
    /// The From address has no usable domain.
    #[error("From address `{address}` has no domain")]
    FromWithoutDomain {
        /// The address as parsed.
        address: String,
    },
    /// A line in the header block has no colon, so it is not a header field.
    #[error("header line {line} has no colon: `{text}`")]
    HeaderWithoutColon {
        /// 1-based line number.
        line: usize,
        /// An excerpt of the line.
        text: String,
    },
    /// A header field name is empty or contains characters RFC 5322 2.2 forbids.
    #[error("header line {line} has an invalid field name: `{text}`")]
    InvalidFieldName {
        /// 1-based line number.
        line: usize,
        /// An excerpt of the line.
        text: String,
    },
    /// The message starts with a folded continuation line that belongs to no field.
    #[error("header line {line} is a continuation line with no field before it")]
    ContinuationWithoutField {
        /// 1-based line number.
        line: usize,
    },
    /// The header block is larger than the configured limit.
    #[error("header block exceeds the limit of {limit} bytes")]
    HeaderBlockTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The header block has more fields than the configured limit.
    #[error("header block has more than {limit} fields")]
    TooManyHeaderFields {
        /// The limit in fields.
        limit: usize,
    },
}

/// A key that cannot be generated, loaded or used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input is not in any key format we read.
    #[error("unrecognised key format: {detail}")]
    UnrecognisedFormat {
        /// What was seen instead.
        detail: String,
    },
    /// The input was recognised as `format` but could not be decoded; `source` says why
    /// (the decoder's own error where there is one).
    #[error("invalid {format} key")]
    Malformed {
        /// The format that was recognised, e.g. "PKCS#8 PEM".
        format: &'static str,
        /// Why decoding failed.
        source: ErrorCause,
    },
    /// The key is in a recognised format that we deliberately do not accept.
    #[error("unsupported {format} key: {reason}")]
    Unsupported {
        /// The format that was recognised.
        format: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// An RSA key below the RFC 8301 minimum of 1024 bits, or above our maximum of 4096.
    #[error("RSA key of {bits} bits refused: {reason}")]
    RsaSize {
        /// The key's modulus size.
        bits: usize,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Key generation failed (the OS random source or the RSA prime search failed);
    /// `source` is the key crate's error.
    #[error("key generation failed")]
    Generation {
        /// The key crate's error.
        source: ErrorCause,
    },
    /// The private-key operation failed; `source` is the backend's error.
    #[error("signing operation failed")]
    Signing {
        /// The backend's error (RustCrypto, OpenSSL or AWS-LC).
        source: ErrorCause,
    },
}

/// The underlying cause of an error: the decoder's or backend's own error, kept whole as the
/// error's [`source`](std::error::Error::source) (downcast it with
/// [`downcast_ref`](Self::downcast_ref)), behind an `Arc` so that the error stays `Clone`. Where easydkim
/// found the problem itself, the cause is its own one-line reason. Two causes compare equal
/// when they print the same. A cause never holds key material.
#[derive(Clone)]
pub struct ErrorCause(Arc<dyn std::error::Error + Send + Sync + 'static>);

/// A reason found by easydkim itself, as an error.
#[derive(Debug)]
struct Reason(String);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reason {}

impl ErrorCause {
    /// Wraps another crate's error.
    pub(crate) fn new<E: std::error::Error + Send + Sync + 'static>(error: E) -> ErrorCause {
        ErrorCause(Arc::new(error))
    }

    /// A reason of easydkim's own.
    pub(crate) fn reason(text: impl Into<String>) -> ErrorCause {
        ErrorCause(Arc::new(Reason(text.into())))
    }

    /// The underlying error as `E`, when it is one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }
}

impl fmt::Display for ErrorCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ErrorCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for ErrorCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for ErrorCause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Eq for ErrorCause {}

/// Signing failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignError {
    /// The message cannot be signed as it is.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing domain (`d=`) is not a valid domain name; `source` says why.
    #[error("invalid signing domain `{value}`")]
    InvalidDomain {
        /// The value given.
        value: String,
        /// Why it is not a domain name.
        #[source]
        source: NameError,
    },
    /// The selector (`s=`) is not a valid selector; `source` says why.
    #[error("invalid selector `{value}`")]
    InvalidSelector {
        /// The value given.
        value: String,
        /// Why it is not a selector.
        #[source]
        source: NameError,
    },
    /// The agent or user identifier (`i=`) is invalid or not within `d=` (RFC 6376 3.5).
    #[error("identity `{identity}` is not within signing domain `{domain}`")]
    IdentityOutsideDomain {
        /// The `i=` value requested.
        identity: String,
        /// The `d=` value.
        domain: String,
    },
    /// The agent or user identifier (`i=`) is not a valid address; `source` says why.
    #[error("invalid identity `{identity}`")]
    InvalidIdentity {
        /// The `i=` value requested.
        identity: String,
        /// What is wrong with it.
        #[source]
        source: NameError,
    },
    /// A header name in an explicit header list is not a valid field name.
    #[error("invalid header name `{0}` in the signed header list")]
    InvalidHeaderName(String),
    /// An explicit header list that does not include From (RFC 6376 5.4 requires it).
    #[error("the signed header list must include From")]
    FromNotSigned,
    /// No signing request was given.
    #[error("no signing request given")]
    NoRequests,
    /// The new signature did not verify with the key's own public half (sign-then-verify).
    #[error("self-check failed: the new signature for d={domain} s={selector} does not verify")]
    SelfCheckFailed {
        /// The `d=` value.
        domain: String,
        /// The `s=` value.
        selector: String,
    },
}
