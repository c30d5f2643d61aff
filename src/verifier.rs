//! The DKIM verifier (RFC 6376 6, RFC 8301, RFC 8463).
//!
//! The verifier is sans-I/O at its core: [`Verifier::verify_with_keys`] takes a function
//! that answers key lookups, so it can run on records the caller already has (or on an
//! in-memory key, which is how the signer's self-check uses it); it does no I/O and does not
//! know about DNS. [`Verifier::verify`] (in the `dns` layer above it) does
//! the lookups through a [`DnsVerifier`](crate::DnsVerifier), the same trait the registry
//! uses, and hands the answers to it.
//!
//! Each signature gets one [`VerificationResult`]: pass, fail, neutral, temperror or
//! permerror, with a typed [`FailureReason`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::canon::{
    canonicalize_header, canonicalize_signed_headers, AlongsideHash, BodyHash, BodyHasher,
    Canonicalization,
};
use crate::error::MessageError;
use crate::failure::FailureReason;
use crate::field::{parse_signature, ParsedSignature, Partial};
use crate::key::{Algorithm, Ed25519Table, PublicKey, MAX_RSA_BITS, MIN_RSA_BITS};
use crate::key_record::{KeyRecord, KeyRecordError};
use crate::message::{Limits, Message};
use crate::names::DomainName;
use crate::sync;

/// What to do with a signature whose `l=` leaves part of the body unsigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyLengthPolicy {
    /// Pass it, silently.
    Accept,
    /// Fail it ([`FailureReason::UnsignedContent`]): content was appended after signing.
    Reject,
    /// Pass it, and report the unsigned octets in
    /// [`VerificationResult::unsigned_octets`] (the default).
    #[default]
    AcceptAndReport,
}

/// Verifier settings: [`VerifyOptions::default`], then `with_*` methods that take and give
/// back the options, so a configured verifier is one expression:
///
/// ```
/// use easydkim::{Verifier, VerifyOptions};
///
/// let verifier = Verifier::new(VerifyOptions::default().with_now(Some(1_800_000_000)));
/// assert_eq!(verifier.options().now(), Some(1_800_000_000));
/// ```
///
/// Every value of every setting is valid; the getters document the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyOptions {
    now: Option<u64>,
    max_skew: u64,
    allow_sha1: bool,
    body_length: BodyLengthPolicy,
    max_signatures: usize,
    max_key_lookups: usize,
    limits: Limits,
    reject_unsigned_from: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            now: None,
            max_skew: 300,
            allow_sha1: false,
            body_length: BodyLengthPolicy::AcceptAndReport,
            max_signatures: 10,
            max_key_lookups: 10,
            limits: Limits::default(),
            reject_unsigned_from: true,
        }
    }
}

impl VerifyOptions {
    /// The time to verify at (Unix seconds); default `None`: the clock.
    pub fn now(&self) -> Option<u64> {
        self.now
    }

    /// Clock skew tolerated for `t=` in the future and `x=` in the past (default 300 s).
    pub fn max_skew(&self) -> u64 {
        self.max_skew
    }

    /// Whether `rsa-sha1` signatures are accepted (default no, RFC 8301).
    pub fn allow_sha1(&self) -> bool {
        self.allow_sha1
    }

    /// Policy for `l=` (default [`BodyLengthPolicy::AcceptAndReport`]).
    pub fn body_length(&self) -> BodyLengthPolicy {
        self.body_length
    }

    /// Signatures evaluated at most (default 10); the rest are reported neutral.
    pub fn max_signatures(&self) -> usize {
        self.max_signatures
    }

    /// Distinct key lookups at most (default 10); signatures needing more are neutral.
    pub fn max_key_lookups(&self) -> usize {
        self.max_key_lookups
    }

    /// Limits for splitting the message (default [`Limits::default`]).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether a signature that verifies fails when the message has more From fields than
    /// its `h=` covers (default yes): a From added above the signed one is the author
    /// readers see, and the signature does not vouch for it (RFC 6376 8.15; signers prevent
    /// it by oversigning From, as ours does).
    pub fn reject_unsigned_from(&self) -> bool {
        self.reject_unsigned_from
    }

    /// Verifies as of `now` (Unix seconds) instead of the clock.
    #[must_use]
    pub fn with_now(mut self, now: Option<u64>) -> Self {
        self.now = now;
        self
    }

    /// Sets the tolerated clock skew in seconds.
    #[must_use]
    pub fn with_max_skew(mut self, secs: u64) -> Self {
        self.max_skew = secs;
        self
    }

    /// Accepts (or refuses) `rsa-sha1` signatures.
    #[must_use]
    pub fn with_allow_sha1(mut self, on: bool) -> Self {
        self.allow_sha1 = on;
        self
    }

    /// Sets the policy for `l=`.
    #[must_use]
    pub fn with_body_length(mut self, policy: BodyLengthPolicy) -> Self {
        self.body_length = policy;
        self
    }

    /// Sets how many signatures are evaluated at most.
    #[must_use]
    pub fn with_max_signatures(mut self, n: usize) -> Self {
        self.max_signatures = n;
        self
    }

    /// Sets how many distinct key lookups are made at most.
    #[must_use]
    pub fn with_max_key_lookups(mut self, n: usize) -> Self {
        self.max_key_lookups = n;
        self
    }

    /// Sets the limits for splitting the message.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Fails (or not) signatures whose `h=` does not cover every From field.
    #[must_use]
    pub fn with_reject_unsigned_from(mut self, on: bool) -> Self {
        self.reject_unsigned_from = on;
        self
    }
}

/// The outcome class of one signature (RFC 8601 2.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The signature verified.
    Pass,
    /// The signature did not verify (hash mismatch, bad signature, policy refusal).
    Fail,
    /// The signature was not evaluated or is not conclusive (expired, not evaluated).
    Neutral,
    /// A transient error (DNS); trying later may give a result.
    TempError,
    /// A permanent error: malformed signature or key record, unacceptable key or algorithm.
    PermError,
}

impl Status {
    /// The RFC 8601 result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Neutral => "neutral",
            Status::TempError => "temperror",
            Status::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result for one DKIM-Signature, in message order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerificationResult {
    /// Pass, fail, …
    pub status: Status,
    /// Why it did not pass (None on pass).
    pub reason: Option<FailureReason>,
    /// `d=`, when readable.
    pub domain: Option<String>,
    /// `s=`, when readable.
    pub selector: Option<String>,
    /// `a=`, when known.
    pub algorithm: Option<Algorithm>,
    /// `i=` (or `@d`), when readable.
    pub identity: Option<String>,
    /// The first characters of `b=` (RFC 6008 `header.b`), to tell signatures apart.
    pub header_b: Option<String>,
    /// Body octets after the `l=` limit (reported under
    /// [`BodyLengthPolicy::AcceptAndReport`]).
    pub unsigned_octets: Option<u64>,
    /// The key record had `t=y` (testing mode).
    pub testing: bool,
}

impl VerificationResult {
    /// An RFC 8601 `Authentication-Results` method fragment, e.g.
    /// `dkim=pass header.d=example.com header.s=sel header.b=AbCdEfGh`.
    pub fn authentication_results(&self) -> String {
        let mut s = format!("dkim={}", self.status);
        if let Some(r) = &self.reason {
            let text: String = r
                .to_string()
                .chars()
                .map(|c| {
                    if c == '(' || c == ')' || c == '\\' {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            s.push_str(&format!(" ({text})"));
        }
        if let Some(d) = &self.domain {
            s.push_str(&format!(" header.d={d}"));
        }
        if let Some(sel) = &self.selector {
            s.push_str(&format!(" header.s={sel}"));
        }
        if let Some(i) = &self.identity {
            s.push_str(&format!(" header.i={i}"));
        }
        if let Some(b) = &self.header_b {
            s.push_str(&format!(" header.b={b}"));
        }
        s
    }

    fn new(status: Status, reason: Option<FailureReason>) -> Self {
        VerificationResult {
            status,
            reason,
            domain: None,
            selector: None,
            algorithm: None,
            identity: None,
            header_b: None,
            unsigned_octets: None,
            testing: false,
        }
    }
}

/// Checks of a parsed signature that need no key (RFC 6376 6.1.1).
fn check_signature(
    sig: &ParsedSignature,
    opts: &VerifyOptions,
    now: u64,
) -> Option<(Status, FailureReason)> {
    if sig.algorithm == Algorithm::RsaSha1 && !opts.allow_sha1 {
        return Some((Status::PermError, FailureReason::Sha1Refused));
    }
    if !sig.headers().any(|h| h.eq_ignore_ascii_case("from")) {
        return Some((Status::PermError, FailureReason::FromNotSigned));
    }
    let outside = || {
        Some((
            Status::PermError,
            FailureReason::IdentityOutsideDomain {
                identity: sig.identity.clone(),
                domain: sig.domain.to_string(),
            },
        ))
    };
    match sig.identity.rsplit_once('@') {
        Some((_, dom)) => match DomainName::parse(dom) {
            Ok(dom) if dom.is_subdomain_of(&sig.domain) => {}
            _ => return outside(),
        },
        None => return outside(),
    }
    if let (Some(t), Some(x)) = (sig.timestamp, sig.expiration) {
        if x < t {
            return Some((Status::PermError, FailureReason::ExpiryBeforeTimestamp));
        }
    }
    if let Some(x) = sig.expiration {
        if x.saturating_add(opts.max_skew) < now {
            return Some((Status::Neutral, FailureReason::Expired { expired: x }));
        }
    }
    if let Some(t) = sig.timestamp {
        if t > now.saturating_add(opts.max_skew) {
            return Some((
                Status::Neutral,
                FailureReason::FutureTimestamp { timestamp: t },
            ));
        }
    }
    None
}

/// The answer to a key lookup for [`Verifier::verify_with_keys`]: the TXT values at the
/// name, or why there are none.
pub type KeyLookup = Result<Vec<String>, KeyLookupError>;

/// Why a key lookup gave no records.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// A definite answer: no such name, or no TXT record at it (the signature fails with
    /// [`FailureReason::NoKey`]).
    #[error("no key record")]
    NotFound,
    /// No answer now (the signature is a `temperror`; a later attempt may succeed).
    #[error("key lookup failed for now: {0}")]
    Transient(String),
}

/// An RFC 6376 verifier.
///
/// A verifier keeps the key records it has parsed (at most 256, by their exact TXT text;
/// clones share them): a receiver meets the same few records again and again, and parsing
/// one (base64, an RSA modulus's arithmetic set-up, an Ed25519 point decompression) costs
/// more than canonicalizing and hashing a small message. The lookup still runs for every
/// signature, so a changed or revoked record takes effect at once. An Ed25519 record that
/// has checked eight signatures also gets its key's multiples precomputed (about 20 KB,
/// built once in about the time of three checks), which makes each later verification
/// of a 4 KB message about 5 % cheaper; the 256 records then hold at most about 5 MB.
/// Waiting for eight keeps a sender who cycles through fresh key records from making each
/// of them cost the table.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    options: VerifyOptions,
    keys: KeyCache,
}

/// Parsed key records by their TXT text, bounded (see [`Verifier`]).
#[derive(Clone, Default)]
struct KeyCache(Arc<RwLock<ParsedRecords>>);

type ParsedRecords = HashMap<Box<str>, Arc<CachedRecord>, foldhash::fast::RandomState>;

/// A key record as the cache keeps it, with what depends on the key alone found out once.
struct CachedRecord {
    record: KeyRecord,
    /// The key can never verify (an Ed25519 key of small order): a point multiplication,
    /// about 1 % of an Ed25519 verification when done for each signature.
    weak: bool,
    /// Signatures checked with the record before its Ed25519 table was built.
    uses: AtomicU32,
    /// An Ed25519 key's precomputed multiples, built after [`Self::TABLE_AFTER`] checks
    /// (a record seen a few times does not pay for them): about 5 % off each verification
    /// of a 4 KB message after that, ~20 KB.
    table: OnceLock<Option<Ed25519Table>>,
}

impl CachedRecord {
    /// Checks made without the table: building it costs about three checks, so after
    /// eight it costs at most ~40 % on top of those, even for a record never seen again.
    const TABLE_AFTER: u32 = 8;

    fn new(record: KeyRecord) -> Self {
        let weak = record.key.as_ref().is_some_and(PublicKey::is_weak);
        CachedRecord {
            record,
            weak,
            uses: AtomicU32::new(0),
            table: OnceLock::new(),
        }
    }

    /// [`PublicKey::verify_digest`] for the record's `key`, with what the record knows: a
    /// weak key refused without a check, an Ed25519 key's table used once it exists.
    fn verify_digest(&self, key: &PublicKey, digest: &[u8; 32], signature: &[u8]) -> bool {
        !self.weak
            && match self.ed25519_table() {
                Some(table) => table.verify_not_weak(digest, signature),
                None => key.verify_digest_not_weak(digest, signature),
            }
    }

    /// The Ed25519 table, once the record has checked [`Self::TABLE_AFTER`] signatures
    /// (`None` before, and for RSA and weak keys).
    fn ed25519_table(&self) -> Option<&Ed25519Table> {
        if let Some(table) = self.table.get() {
            return table.as_ref();
        }
        if self.uses.fetch_add(1, Ordering::Relaxed) < Self::TABLE_AFTER {
            return None;
        }
        self.table
            .get_or_init(|| match &self.record.key {
                Some(PublicKey::Ed25519(k)) if !self.weak => Some(Ed25519Table::new(k)),
                _ => None,
            })
            .as_ref()
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyCache({} records)", sync::read(&self.0).len())
    }
}

impl KeyCache {
    /// Records kept at most; when full, an arbitrary one makes room.
    const ENTRIES: usize = 256;
    /// Longer texts are parsed every time (an RSA-4096 record is about 750 bytes).
    const MAX_TEXT: usize = 4096;

    fn parse(&self, txt: &str) -> Result<Arc<CachedRecord>, KeyRecordError> {
        if let Some(r) = sync::read(&self.0).get(txt) {
            return Ok(Arc::clone(r));
        }
        let record = Arc::new(CachedRecord::new(KeyRecord::parse(txt)?));
        if txt.len() <= Self::MAX_TEXT {
            let mut map = sync::write(&self.0);
            if map.len() >= Self::ENTRIES {
                if let Some(old) = map.keys().next().cloned() {
                    map.remove(&old);
                }
            }
            map.insert(txt.into(), Arc::clone(&record));
        }
        Ok(record)
    }
}

impl Verifier {
    /// A verifier with the given options.
    pub fn new(options: VerifyOptions) -> Self {
        Verifier {
            options,
            keys: KeyCache::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &VerifyOptions {
        &self.options
    }

    /// The key-record names (`<s>._domainkey.<d>`) the message's signatures need, in order,
    /// deduplicated, within the lookup cap.
    pub fn key_names(&self, message: &[u8]) -> Result<Vec<String>, MessageError> {
        let msg = Message::parse_with_limits(message, &self.options.limits)?;
        let mut names = Vec::new();
        for field in msg
            .fields_named("dkim-signature")
            .take(self.options.max_signatures)
        {
            if let Ok(sig) = parse_signature(field, &mut Partial::default()) {
                let name = key_name(&sig);
                if !names.contains(&name) && names.len() < self.options.max_key_lookups {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    /// Verifies every DKIM-Signature, asking `lookup` for each key record name
    /// (`<s>._domainkey.<d>`). Errors only for a message that cannot be split.
    pub fn verify_with_keys(
        &self,
        message: &[u8],
        mut lookup: impl FnMut(&str) -> KeyLookup,
    ) -> Result<Vec<VerificationResult>, MessageError> {
        let opts = &self.options;
        let msg = Message::parse_with_limits(message, &opts.limits)?;
        let now = opts.now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        let mut body_hashes: HashMap<(Canonicalization, Option<u64>), BodyHash> = HashMap::new();
        let mut looked_up: Vec<String> = Vec::new();
        let mut results = Vec::new();
        for (n, field) in msg.fields_named("dkim-signature").enumerate() {
            if n >= opts.max_signatures {
                results.push(VerificationResult::new(
                    Status::Neutral,
                    Some(FailureReason::TooManySignatures),
                ));
                continue;
            }
            let mut partial = Partial::default();
            let parsed = parse_signature(field, &mut partial);
            let mut result = match parsed {
                Err(reason) => VerificationResult::new(Status::PermError, Some(reason)),
                Ok(sig) => {
                    let name = key_name(&sig);
                    if !looked_up.contains(&name) {
                        if looked_up.len() >= opts.max_key_lookups {
                            let mut r = VerificationResult::new(
                                Status::Neutral,
                                Some(FailureReason::TooManyKeyLookups),
                            );
                            fill(&mut r, partial);
                            results.push(r);
                            continue;
                        }
                        looked_up.push(name.clone());
                    }
                    let mut r = match check_signature(&sig, opts, now) {
                        Some((status, reason)) => VerificationResult::new(status, Some(reason)),
                        None => {
                            let answer = lookup(&name);
                            verify_parsed(
                                &msg,
                                &sig,
                                &name,
                                answer,
                                opts,
                                &self.keys,
                                &mut body_hashes,
                            )
                        }
                    };
                    r.identity = Some(sig.identity.clone());
                    r
                }
            };
            fill(&mut result, partial);
            results.push(result);
        }
        Ok(results)
    }
}

fn fill(r: &mut VerificationResult, p: Partial) {
    r.domain = r.domain.take().or(p.domain);
    r.selector = r.selector.take().or(p.selector);
    r.algorithm = r.algorithm.or(p.algorithm);
    r.identity = r.identity.take().or(p.identity);
    r.header_b = r.header_b.take().or(p.header_b);
}

fn key_name(sig: &ParsedSignature) -> String {
    [sig.selector.as_str(), "._domainkey.", sig.domain.as_str()].concat()
}

/// Checks one parsed signature against its key record answer.
fn verify_parsed(
    msg: &Message<'_>,
    sig: &ParsedSignature,
    name: &str,
    answer: KeyLookup,
    opts: &VerifyOptions,
    keys: &KeyCache,
    body_hashes: &mut HashMap<(Canonicalization, Option<u64>), BodyHash>,
) -> VerificationResult {
    let perm = |r| VerificationResult::new(Status::PermError, Some(r));
    let records = match answer {
        Ok(r) => r,
        Err(KeyLookupError::Transient(detail)) => {
            return VerificationResult::new(
                Status::TempError,
                Some(FailureReason::DnsTransient {
                    name: name.to_string(),
                    detail,
                }),
            )
        }
        Err(_) => return perm(FailureReason::NoKey(name.to_string())),
    };
    // RFC 6376 3.6.2.2: use the first record that parses.
    let mut first_err = None;
    let mut cached = None;
    for txt in &records {
        match keys.parse(txt) {
            Ok(r) => {
                cached = Some(r);
                break;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let cached = match cached {
        Some(r) => r,
        None => {
            return perm(first_err.map_or_else(
                || FailureReason::NoKey(name.to_string()),
                FailureReason::KeyRecord,
            ))
        }
    };
    let testing = cached.record.testing;
    let mut r = check_with_key(msg, sig, &cached, opts, body_hashes);
    r.testing = testing;
    r
}

fn check_with_key(
    msg: &Message<'_>,
    sig: &ParsedSignature,
    cached: &CachedRecord,
    opts: &VerifyOptions,
    body_hashes: &mut HashMap<(Canonicalization, Option<u64>), BodyHash>,
) -> VerificationResult {
    let record = &cached.record;
    let perm = |r| VerificationResult::new(Status::PermError, Some(r));
    let key = match &record.key {
        Some(k) => k,
        None => return perm(FailureReason::KeyRevoked),
    };
    if record.key_type != sig.algorithm.key_type() {
        return perm(FailureReason::KeyTypeMismatch {
            record: record.key_type.as_str().to_string(),
            algorithm: sig.algorithm.as_str().to_string(),
        });
    }
    if let Some(h) = &record.hashes {
        let hash = if sig.algorithm == Algorithm::RsaSha1 {
            "sha1"
        } else {
            "sha256"
        };
        if !h.iter().any(|x| x.eq_ignore_ascii_case(hash)) {
            return perm(FailureReason::KeyRecord(KeyRecordError::HashNotAllowed(
                hash,
            )));
        }
    }
    if record.strict {
        let idom = sig.identity.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !idom.eq_ignore_ascii_case(sig.domain.as_str()) {
            return perm(FailureReason::IdentityOutsideDomain {
                identity: sig.identity.clone(),
                domain: sig.domain.to_string(),
            });
        }
    }
    if let PublicKey::Rsa(_) = key {
        let bits = key.bits();
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return perm(FailureReason::KeySize(bits));
        }
    }

    // The header data does not depend on the body: made first, so that its SHA-256 runs
    // alongside the body's when the body is hashed here (see `AlongsideHash`).
    let c = sig.canonicalization;
    let mut data = Vec::with_capacity(1024);
    canonicalize_signed_headers(msg, sig.headers(), c.header, &mut data);
    canonicalize_header(c.header, &sig.unsigned_header, &mut data);
    data.truncate(data.len() - 2);
    let mut header_hash = AlongsideHash::new(data);
    // Body hash, shared between signatures with the same canonicalization and limit.
    let bh = *body_hashes
        .entry((c.body, sig.body_length))
        .or_insert_with(|| {
            let mut h = BodyHasher::with_limit(c.body, sig.body_length);
            h.update_alongside(msg.body(), &mut header_hash);
            h.finish_in_place()
        });
    let fail = |r| VerificationResult::new(Status::Fail, Some(r));
    if let Some(l) = sig.body_length {
        if l > bh.canonical_length {
            // l= longer than the body: the body was truncated.
            return fail(FailureReason::BodyShorterThanLength {
                length: l,
                body: bh.canonical_length,
            });
        }
    }
    if sig.algorithm == Algorithm::RsaSha1 {
        // Never produced by the signer; verifying it would need SHA-1 throughout.
        return perm(FailureReason::Sha1Refused);
    }
    if bh.digest[..] != sig.body_hash[..] {
        return fail(FailureReason::BodyHashMismatch);
    }

    let digest = header_hash.finish();
    if !cached.verify_digest(key, &digest, &sig.signature) {
        return fail(FailureReason::SignatureMismatch);
    }
    if opts.reject_unsigned_from {
        let present = msg.fields_named("from").count();
        let signed = sig
            .headers()
            .filter(|h| h.eq_ignore_ascii_case("from"))
            .count();
        if present > signed {
            return fail(FailureReason::UnsignedFrom { present, signed });
        }
    }

    let unsigned = bh.canonical_length - bh.hashed_length;
    let mut r = VerificationResult::new(Status::Pass, None);
    if unsigned > 0 {
        match opts.body_length {
            BodyLengthPolicy::Accept => {}
            BodyLengthPolicy::AcceptAndReport => r.unsigned_octets = Some(unsigned),
            BodyLengthPolicy::Reject => return fail(FailureReason::UnsignedContent(unsigned)),
        }
    }
    r
}

/// The signer's self-check: parses the new header (CRLF form) as a verifier would, hashes
/// the signed fields of `msg`, and checks `bh=` against the body hashes just computed and
/// `b=` with the key's public half. No DNS, no second body pass.
pub(crate) fn self_check(
    msg: &Message<'_>,
    header: &str,
    body_hashes: &[(Canonicalization, BodyHash)],
    key: &PublicKey,
) -> bool {
    let opts = VerifyOptions {
        max_skew: u64::MAX / 4,
        body_length: BodyLengthPolicy::Accept,
        ..VerifyOptions::default()
    };
    let record = KeyRecord {
        key_type: key.key_type(),
        key: Some(key.clone()),
        testing: false,
        strict: false,
        hashes: None,
    };
    let Ok(hmsg) = Message::parse(header.as_bytes()) else {
        return false;
    };
    let Some(field) = hmsg.fields().first() else {
        return false;
    };
    let Ok(sig) = parse_signature(field, &mut Partial::default()) else {
        return false;
    };
    // The body hashes are known: l=, when present, covers the whole body.
    let mut hashes = HashMap::new();
    for (c, bh) in body_hashes {
        hashes.insert((*c, None), *bh);
        hashes.insert((*c, Some(bh.canonical_length)), *bh);
    }
    check_with_key(msg, &sig, &CachedRecord::new(record), &opts, &mut hashes).status == Status::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key of small order can never verify, even with a signature that satisfies the
    /// cofactorless equation (half of all `s` do for a key of order 2): the verifier finds
    /// out once per cached record, and refuses such a key on every signature.
    #[test]
    fn a_weak_ed25519_key_never_verifies() {
        use curve25519_dalek::{constants::ED25519_BASEPOINT_POINT, Scalar};
        use sha2::{Digest as _, Sha256, Sha512};
        let signer_key = crate::key::SigningKey::from_ed25519_seed_base64(
            "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
        )
        .unwrap();
        let raw = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
        let header = crate::signer::Signer::new(signer_key, "example.com", "sel")
            .unwrap()
            .sign(raw)
            .unwrap()
            .headers
            .remove(0);
        let signed = [header.as_bytes(), raw].concat();
        // The digest the verifier checks (b= is not part of it).
        let msg = Message::parse(&signed).unwrap();
        let field = msg.fields().first().unwrap();
        let sig = parse_signature(field, &mut Partial::default()).unwrap();
        let mut data = Vec::new();
        canonicalize_signed_headers(&msg, sig.headers(), sig.canonicalization.header, &mut data);
        canonicalize_header(sig.canonicalization.header, &sig.unsigned_header, &mut data);
        data.truncate(data.len() - 2);
        let digest: [u8; 32] = Sha256::digest(&data).into();
        // A = (0, -1), of order 2: [k]A is the identity for every even k.
        let a = crate::key::SMALL_ORDER_ENCODINGS[1];
        let forged = (1u64..)
            .find_map(|s| {
                let s = Scalar::from(s);
                let r = (ED25519_BASEPOINT_POINT * s).compress().to_bytes();
                let k = Scalar::from_bytes_mod_order_wide(
                    &Sha512::new()
                        .chain_update(r)
                        .chain_update(a)
                        .chain_update(digest)
                        .finalize()
                        .into(),
                );
                (k.to_bytes()[0] & 1 == 0).then(|| [r, s.to_bytes()].concat())
            })
            .unwrap();
        // The forgery holds for the plain equation...
        let weak = ed25519_dalek::VerifyingKey::from_bytes(&a).unwrap();
        let sig64 = ed25519_dalek::Signature::from_slice(&forged).unwrap();
        use ed25519_dalek::Verifier as _;
        assert!(weak.verify(&digest, &sig64).is_ok());
        // ...and is refused, on the first signature and on one verified from the cache.
        let b64 = base64::engine::general_purpose::STANDARD;
        use base64::Engine as _;
        // b= is the last tag of the field.
        let b_at = header.rfind("b=").unwrap() + 2;
        let forged_msg = format!(
            "{}{}\r\n{}",
            &header[..b_at],
            b64.encode(&forged),
            std::str::from_utf8(raw).unwrap()
        );
        let record = format!("v=DKIM1; k=ed25519; p={}", b64.encode(a));
        let verifier = Verifier::default();
        for _ in 0..2 {
            let r = verifier
                .verify_with_keys(forged_msg.as_bytes(), |_| Ok(vec![record.clone()]))
                .unwrap();
            assert_eq!(r[0].status, Status::Fail, "{r:?}");
            assert_eq!(r[0].reason, Some(FailureReason::SignatureMismatch));
        }
        // A weak key never gets a table.
        assert!(verifier.keys.parse(&record).unwrap().table.get().is_none());
    }

    /// Once an Ed25519 record has checked eight signatures, it checks with its precomputed
    /// table: good signatures still pass and a changed header still fails, every time.
    #[test]
    fn ed25519_signatures_verify_alike_with_the_key_table() {
        let key = crate::key::SigningKey::from_ed25519_seed_base64(
            "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
        )
        .unwrap();
        let record = key.dns_record();
        let raw = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
        let signed = crate::signer::Signer::new(key, "example.com", "sel")
            .unwrap()
            .sign_message(raw)
            .unwrap();
        let text = String::from_utf8(signed.clone()).unwrap();
        let tampered = text.replace("Subject: x", "Subject: y");
        assert_ne!(tampered, text);
        let verifier = Verifier::default();
        for round in 0..6 {
            let r = verifier
                .verify_with_keys(&signed, |_| Ok(vec![record.clone()]))
                .unwrap();
            assert_eq!(r[0].status, Status::Pass, "round {round}: {r:?}");
            let r = verifier
                .verify_with_keys(tampered.as_bytes(), |_| Ok(vec![record.clone()]))
                .unwrap();
            assert_eq!(r[0].status, Status::Fail, "round {round}: {r:?}");
            assert_eq!(r[0].reason, Some(FailureReason::SignatureMismatch));
        }
        let cached = verifier.keys.parse(&record).unwrap();
        assert!(cached.table.get().is_some_and(Option::is_some));
        // Eight checks in, not before.
        let fresh = CachedRecord::new(cached.record.clone());
        for _ in 0..CachedRecord::TABLE_AFTER {
            assert!(fresh.ed25519_table().is_none());
        }
        assert!(fresh.ed25519_table().is_some());
    }

    /// The parsed-record cache never holds more than its bound, and texts over the size
    /// limit are parsed without being kept.
    #[test]
    fn key_cache_is_bounded() {
        let cache = KeyCache::default();
        let key = crate::key::SigningKey::from_ed25519_seed_base64(
            "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
        )
        .unwrap();
        let record = key.dns_record();
        for i in 0..(KeyCache::ENTRIES + 50) {
            let text = format!("{record}; n{i}=x");
            assert!(cache.parse(&text).unwrap().record.key.is_some());
            assert!(sync::read(&cache.0).len() <= KeyCache::ENTRIES);
        }
        assert_eq!(sync::read(&cache.0).len(), KeyCache::ENTRIES);
        let long = format!("{record}; n={}", "x".repeat(KeyCache::MAX_TEXT));
        let before = sync::read(&cache.0).len();
        assert!(cache.parse(&long).is_ok());
        assert!(!sync::read(&cache.0).contains_key(long.as_str()));
        assert_eq!(sync::read(&cache.0).len(), before);
        // Errors are not kept.
        assert!(cache.parse("v=DKIM1; k=ed25519; p=!!").is_err());
        assert!(!sync::read(&cache.0).contains_key("v=DKIM1; k=ed25519; p=!!"));
    }
}
