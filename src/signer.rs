//! The DKIM signer (RFC 6376 5, RFC 8463).
//!
//! A [`Signer`] holds a key, a signing domain (`d=`), a selector (`s=`) and options. Several
//! signers can sign one message in one call ([`sign_all`]): the body is canonicalized and
//! hashed once per body canonicalization, whatever the number of signatures.
//!
//! ```
//! use easydkim::{KeySpec, Signer, SigningKey};
//! let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
//! let signer = Signer::new(key, "example.com", "sel1").unwrap();
//! let msg = b"From: alice@example.com\r\nSubject: hi\r\n\r\nHello\r\n";
//! let signed = signer.sign(msg).unwrap();
//! let out = signed.prepend_to(msg);
//! assert!(out.starts_with(b"DKIM-Signature: v=1; a=ed25519-sha256;"));
//! assert!(out.ends_with(msg));
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;

use crate::canon::{
    canonicalize_fields_at, canonicalize_signed_headers, AlongsideHash, BodyHash, BodyHasher,
    Canonicalization, Canonicalizer,
};
use crate::error::SignError;
use crate::field::{Folder, Piece, FIELD_NAME};
use crate::key::SigningKey;
use crate::message::{Limits, LineEnding, Message, Warning};
use crate::names::{DomainName, EmailAddress, Selector};

/// Header fields signed by default when present (RFC 6376 5.4.1 plus MIME and list headers).
/// Names ending in `-` are prefixes (`resent-*`, `list-*`).
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-",
    "in-reply-to",
    "references",
    "list-",
    "feedback-id",
];

/// Header fields that may appear only once: listed once more than present so that a second
/// copy added in transit breaks the signature (RFC 6376 8.15).
pub const OVERSIGNED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "reply-to",
    "sender",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

/// Header fields never signed by default: trace and transport fields that change in transit.
pub const NEVER_SIGNED_HEADERS: &[&str] = &[
    "return-path",
    "received",
    "comments",
    "keywords",
    "bcc",
    "dkim-signature",
];

/// The shape of the signature header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Profile {
    /// `v=1; a=; c=; d=; s=; t=; [x=; i=; l=;] h=; bh=; b=` with `c=relaxed/relaxed` by default.
    #[default]
    Standard,
    /// The shape of the tenant signature Amazon SES emits for Easy DKIM (as seen in SES
    /// mail 2016-2026): tags `v=1; a=rsa-sha256; q=dns/txt; c=relaxed/simple; s=; d=; t=;
    /// h=; bh=; b=`; with the default header selection, `h=` names each present field of
    /// [`DEFAULT_SIGNED_HEADERS`] once, in the order of the message and spelled as there,
    /// except `Feedback-ID` (the operator signs that: [`Profile::SesOperator`]).
    /// [`Signer::profile`] with it sets `c=relaxed/simple`.
    ///
    /// What it gives up: **no oversigning**. A receiver cannot tell a second `From`,
    /// `Subject` or `To` added in transit above the signed one from the original (RFC 6376
    /// 8.15: some mail clients show the added one); [`Profile::Standard`] lists those
    /// fields once more than present so such an addition breaks the signature. Choose this
    /// profile only where headers must match what SES emits.
    SesCompatible,
    /// The shape of SES's own signature (`d=amazonses.com`), for the operator's
    /// signature next to a [`Profile::SesCompatible`] tenant signature: the same tags and
    /// `h=` list plus `Feedback-ID` when present. The registry gives the operator signature
    /// this profile when its profile is `SesCompatible` (same `t=` and, with the same
    /// `c=`, the same `bh=`).
    SesOperator,
}

impl Profile {
    /// Whether this is one of the SES shapes.
    fn is_ses(self) -> bool {
        matches!(self, Profile::SesCompatible | Profile::SesOperator)
    }
}

/// Which header fields to sign.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HeaderSelection {
    /// [`DEFAULT_SIGNED_HEADERS`] that are present, plus oversigning of the present
    /// [`OVERSIGNED_HEADERS`] when enabled.
    #[default]
    Default,
    /// Exactly these names in this order (a name may repeat; names absent from the message
    /// sign "no such field", which is how one oversigns by hand).
    Explicit(Vec<String>),
}

/// The options of a [`Signer`], as its builder methods set them; read them with
/// [`Signer::options`]. They are only set through those methods, each of which validates
/// its value, so every combination signs something every verifier can check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignOptions {
    canonicalization: Canonicalizer,
    headers: HeaderSelection,
    oversign: bool,
    expire_after: Option<u64>,
    /// Canonical (see [`Signer::identity`]).
    identity: Option<String>,
    body_length: bool,
    signing_time: Option<u64>,
    profile: Profile,
    limits: Limits,
    self_check: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            canonicalization: Canonicalizer::new(
                Canonicalization::Relaxed,
                Canonicalization::Relaxed,
            ),
            headers: HeaderSelection::Default,
            oversign: true,
            expire_after: None,
            identity: None,
            body_length: false,
            signing_time: None,
            profile: Profile::Standard,
            limits: Limits::default(),
            self_check: false,
        }
    }
}

impl SignOptions {
    /// `c=` as signed: the SES profiles sign `relaxed/simple` (their shape), any other
    /// profile what [`Signer::canonicalization`] chose (default `relaxed/relaxed`).
    pub fn canonicalization(&self) -> Canonicalizer {
        if self.profile.is_ses() {
            Canonicalizer::new(Canonicalization::Relaxed, Canonicalization::Simple)
        } else {
            self.canonicalization
        }
    }

    /// The signed header fields (default [`HeaderSelection::Default`]).
    pub fn headers(&self) -> &HeaderSelection {
        &self.headers
    }

    /// Whether the present singleton fields are oversigned (default on; only with the
    /// default selection and [`Profile::Standard`]).
    pub fn oversign(&self) -> bool {
        self.oversign
    }

    /// `x=` as seconds after `t=` (default none).
    pub fn expire_after(&self) -> Option<u64> {
        self.expire_after
    }

    /// `i=`, canonical (default none: receivers then assume `@d`).
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    /// Whether `l=` is written (default off).
    pub fn body_length(&self) -> bool {
        self.body_length
    }

    /// The fixed `t=`, if any (default: the clock at signing).
    pub fn signing_time(&self) -> Option<u64> {
        self.signing_time
    }

    /// The shape of the header (default [`Profile::Standard`]).
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The limits applied when splitting a message.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether each new signature is verified with the key's public half before it is
    /// returned (default off).
    pub fn self_check(&self) -> bool {
        self.self_check
    }
}

/// A key, a signing domain, a selector and options: one DKIM-Signature per message.
///
/// Built in one expression; every option method takes the signer by value, checks its
/// value and gives the signer back:
///
/// ```
/// use easydkim::{Canonicalization, Canonicalizer, KeySpec, Signer, SigningKey};
///
/// let key = SigningKey::generate(KeySpec::Ed25519)?;
/// let signer = Signer::new(key, "example.com", "sel1")?
///     .headers(["from", "to", "subject", "date"])?
///     .canonicalization(Canonicalizer::new(Canonicalization::Relaxed, Canonicalization::Simple))
///     .expire_after(Some(7 * 24 * 3600));
/// let signed = signer.sign(b"From: a@example.com\r\nTo: b@example.org\r\n\r\nHi\r\n")?;
/// assert!(signed.headers[0].contains("h=from:to:subject:date;"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Signer {
    key: SigningKey,
    domain: DomainName,
    selector: Selector,
    options: SignOptions,
    /// The start of every DKIM-Signature field this signer writes: the field name and the
    /// tags that do not change from message to message (`v=`, `a=`, `c=`, `d=`, `s=`, and
    /// `q=` in the SES profiles). Made again by each method that changes one of them
    /// ([`field_head`]).
    head: FieldHead,
}

/// The start of a signer's DKIM-Signature fields ([`field_head`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldHead {
    /// Folded, with the column it ends at ([`Folder::resume`]).
    folded: (String, usize),
    /// Its canonical form under the signer's header canonicalization, as the header data
    /// holds it (the rest of the field follows it: [`Folder::append_canonical_from`]).
    canonical: Vec<u8>,
}

impl Signer {
    /// A signer with default options. `domain` may be a U-label name (it is converted to
    /// A-labels); both it and the selector are validated.
    pub fn new(key: SigningKey, domain: &str, selector: &str) -> Result<Self, SignError> {
        let domain = DomainName::parse(domain).map_err(|source| SignError::InvalidDomain {
            value: domain.to_string(),
            source,
        })?;
        let selector = Selector::parse(selector).map_err(|source| SignError::InvalidSelector {
            value: selector.to_string(),
            source,
        })?;
        Ok(Self::from_parts(key, domain, selector))
    }

    /// A signer from already validated names.
    pub fn from_parts(key: SigningKey, domain: DomainName, selector: Selector) -> Self {
        let options = SignOptions::default();
        let head = field_head(&key, &domain, &selector, &options);
        Signer {
            key,
            domain,
            selector,
            options,
            head,
        }
    }

    /// Makes [`head`](Self::head) again after an option it holds changed.
    fn with_new_head(mut self) -> Self {
        self.head = field_head(&self.key, &self.domain, &self.selector, &self.options);
        self
    }

    /// The signing domain and the selector, given back (for callers that built the signer
    /// from them and need them again).
    pub(crate) fn into_name_parts(self) -> (DomainName, String) {
        (self.domain, self.selector.into_string())
    }

    /// The key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    /// The selector (`s=`).
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The options, as the methods below set them.
    pub fn options(&self) -> &SignOptions {
        &self.options
    }

    /// Sets `c=` (default `relaxed/relaxed`). The SES profiles sign `relaxed/simple`
    /// whatever is set here (see [`SignOptions::canonicalization`]).
    #[must_use]
    pub fn canonicalization(mut self, c: Canonicalizer) -> Self {
        self.options.canonicalization = c;
        self.with_new_head()
    }

    /// Signs exactly these header fields, in this order (default: the standard list). Each
    /// name must be a field name (RFC 5322 printable ASCII without `:`, and without `;`,
    /// which would end the `h=` tag) short enough for a line, and `from` must be among
    /// them (RFC 6376 5.4): otherwise [`SignError::InvalidHeaderName`] or
    /// [`SignError::FromNotSigned`].
    pub fn headers<I, S>(mut self, names: I) -> Result<Self, SignError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for n in names {
            let n = n.as_ref().trim();
            // A longer name could not fit a line of the DKIM-Signature (998 octets, RFC 5322
            // 2.1.1, with the fold's tab, `h=` and `:`), nor of any message.
            if n.is_empty()
                || n.len() > MAX_HEADER_NAME
                || !n
                    .bytes()
                    .all(|b| (33..=126).contains(&b) && b != b':' && b != b';')
            {
                return Err(SignError::InvalidHeaderName(n.to_string()));
            }
            list.push(n.to_string());
        }
        if !list.iter().any(|n| n.eq_ignore_ascii_case("from")) {
            return Err(SignError::FromNotSigned);
        }
        self.options.headers = HeaderSelection::Explicit(list);
        Ok(self)
    }

    /// Turns oversigning of singleton fields on or off (default on).
    #[must_use]
    pub fn oversign(mut self, on: bool) -> Self {
        self.options.oversign = on;
        self
    }

    /// Adds `x=` this many seconds after `t=` (default: no expiry). `x=` must be later than
    /// `t=`, so 0 is taken as 1 second; and verifiers may treat more than 12 digits as
    /// infinite or refuse them, so `x=` is capped at 999999999999 (year 33658).
    #[must_use]
    pub fn expire_after(mut self, secs: Option<u64>) -> Self {
        self.options.expire_after = secs;
        self
    }

    /// Sets `i=`, which must be within `d=` (RFC 6376 3.5): `@d`, `user@d` or a subdomain.
    /// It is written in canonical form, as verifiers compare it with `d=`: the domain in
    /// lowercase A-labels without a trailing dot (`alice@Bücher.example.` becomes
    /// `alice@xn--bcher-kva.example`), a quoted local part that quotes a dot-atom unquoted.
    /// An invalid local part (`a@b@example.com`) is refused.
    pub fn identity(mut self, identity: Option<&str>) -> Result<Self, SignError> {
        self.options.identity = match identity {
            Some(i) => Some(canonical_identity(i, &self.domain)?),
            None => None,
        };
        Ok(self)
    }

    /// Emits `l=` (default off: content appended after signing would then pass
    /// verification, which is unsafe; RFC 6376 8.2).
    #[must_use]
    pub fn body_length(mut self, on: bool) -> Self {
        self.options.body_length = on;
        self
    }

    /// Fixes `t=` (Unix seconds) instead of reading the clock.
    #[must_use]
    pub fn signing_time(mut self, t: Option<u64>) -> Self {
        self.options.signing_time = t;
        self
    }

    /// Chooses the header shape (default [`Profile::Standard`]); the SES profiles sign
    /// with `c=relaxed/simple`.
    #[must_use]
    pub fn profile(mut self, profile: Profile) -> Self {
        self.options.profile = profile;
        self.with_new_head()
    }

    /// Sets the limits applied when splitting messages.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.options.limits = limits;
        self
    }

    /// Re-verifies each new signature with the key's public half before returning it (no
    /// DNS), so a faulty key or signature never leaves the process. Default off: it costs
    /// a second body pass.
    #[must_use]
    pub fn self_check(mut self, on: bool) -> Self {
        self.options.self_check = on;
        self
    }

    /// Signs `message`, returning the new header (the caller's bytes are not copied).
    pub fn sign(&self, message: &[u8]) -> Result<Signed, SignError> {
        sign_all(&[self], message)
    }

    /// Signs and returns the whole signed message (new header + the caller's bytes).
    pub fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.sign(message)?.prepend_to(message))
    }
}

/// The result of signing: new header fields to prepend, and warnings about the message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signed {
    /// The DKIM-Signature header fields, each folded and terminated with the message's own
    /// line ending, in the order of the signers given.
    pub headers: Vec<String>,
    /// Non-fatal findings (long lines, bare CR, 8-bit header bytes).
    pub warnings: Vec<Warning>,
    /// Body hashes computed, one per body canonicalization used.
    pub body_hashes: Vec<(Canonicalization, BodyHash)>,
}

impl Signed {
    /// The new header fields followed by the caller's bytes, unchanged.
    pub fn prepend_to(&self, message: &[u8]) -> Vec<u8> {
        let len = self.headers.iter().map(String::len).sum::<usize>() + message.len();
        let mut out = Vec::with_capacity(len);
        for h in &self.headers {
            out.extend_from_slice(h.as_bytes());
        }
        out.extend_from_slice(message);
        out
    }
}

/// The strictest of the signers' limits, field by field.
pub(crate) fn strictest_limits(signers: &[&Signer]) -> Limits {
    let mut limits = signers
        .first()
        .map_or_else(Limits::default, |s| s.options.limits);
    for s in signers {
        let l = &s.options.limits;
        limits.max_header_bytes = limits.max_header_bytes.min(l.max_header_bytes);
        limits.max_header_fields = limits.max_header_fields.min(l.max_header_fields);
    }
    limits
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs one message with several signers, sharing one body pass per body
/// canonicalization. The message is split with the strictest of the signers' limits
/// (each field the smallest), so it is refused if any signer would refuse it.
pub fn sign_all(signers: &[&Signer], message: &[u8]) -> Result<Signed, SignError> {
    if signers.is_empty() {
        return Err(SignError::NoRequests);
    }
    let msg = Message::parse_with_limits(message, &strictest_limits(signers))?;
    msg.sender_parts()?;
    sign_parsed(signers, &msg)
}

/// [`sign_all`] over a message the caller has already split (and whose From it checked).
pub(crate) fn sign_parsed(signers: &[&Signer], msg: &Message<'_>) -> Result<Signed, SignError> {
    let (first, rest) = signers.split_first().ok_or_else(|| SignError::NoRequests)?;
    let mut hashers = BodyHashers::of(first, rest);
    // The first signature's header data up to its body hash is hashed alongside the body
    // (see `AlongsideHash`).
    let mut now = None;
    let mut unfinished = Unfinished::new(first, msg, &mut now);
    hashers.update_alongside(msg.body(), &mut unfinished.header_hash);
    sign_with(
        signers,
        msg,
        hashers.finish_in_place(),
        Some(&mut unfinished),
        now,
    )
}

/// One body hasher per distinct body canonicalization among the signers: one pass each.
/// There are only two canonicalizations, so both fit in place (nothing is allocated).
pub(crate) struct BodyHashers {
    first: (Canonicalization, BodyHasher),
    second: Option<(Canonicalization, BodyHasher)>,
}

impl BodyHashers {
    pub(crate) fn new(signers: &[&Signer]) -> Result<Self, SignError> {
        let (first, rest) = signers.split_first().ok_or_else(|| SignError::NoRequests)?;
        Ok(Self::of(first, rest))
    }

    /// [`new`](Self::new) for a list split into its first signer and the rest (made where
    /// it is returned: it holds two hashers with their buffers, about a kilobyte).
    #[inline(always)]
    fn of(first: &Signer, rest: &[&Signer]) -> Self {
        let c = first.options.canonicalization().body;
        let second = rest
            .iter()
            .map(|s| s.options.canonicalization().body)
            .find(|&other| other != c)
            .map(|other| (other, BodyHasher::new(other)));
        BodyHashers {
            first: (c, BodyHasher::new(c)),
            second,
        }
    }

    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.first.1.update(chunk);
        if let Some((_, h)) = &mut self.second {
            h.update(chunk);
        }
    }

    /// [`update`](Self::update), advancing `other` alongside the first signer's body hash.
    fn update_alongside(&mut self, chunk: &[u8], other: &mut AlongsideHash) {
        self.first.1.update_alongside(chunk, other);
        if let Some((_, h)) = &mut self.second {
            h.update(chunk);
        }
    }

    /// The hashes in the order the signers first use their canonicalizations.
    pub(crate) fn finish(mut self) -> Vec<(Canonicalization, BodyHash)> {
        self.finish_in_place()
    }

    /// [`finish`](Self::finish) without moving the hashers.
    fn finish_in_place(&mut self) -> Vec<(Canonicalization, BodyHash)> {
        let mut hashes = Vec::with_capacity(1 + usize::from(self.second.is_some()));
        hashes.push((self.first.0, self.first.1.finish_in_place()));
        if let Some((c, h)) = &mut self.second {
            hashes.push((*c, h.finish_in_place()));
        }
        hashes
    }
}

/// Makes the signatures once the body hashes are known. `msg` needs only its header fields
/// (a streaming caller passes the header block alone).
pub(crate) fn finish_signatures(
    signers: &[&Signer],
    msg: &Message<'_>,
    body_hashes: Vec<(Canonicalization, BodyHash)>,
) -> Result<Signed, SignError> {
    sign_with(signers, msg, body_hashes, None, None)
}

/// [`finish_signatures`], the first signer's work before the body already done when
/// `first` is given; `now` is the clock's time if it was read for it.
fn sign_with<'a>(
    signers: &[&'a Signer],
    msg: &Message<'a>,
    body_hashes: Vec<(Canonicalization, BodyHash)>,
    mut first: Option<&mut Unfinished<'a>>,
    mut now: Option<u64>,
) -> Result<Signed, SignError> {
    let mut warnings = msg.warnings().to_vec();
    if let Some((_, bh)) = body_hashes.first() {
        crate::message::add_body_warnings(&mut warnings, bh.longest_line, bh.bare_cr);
    }

    let mut headers = Vec::with_capacity(signers.len());
    for s in signers {
        let c = s.options.canonicalization().body;
        let bh = body_hashes
            .iter()
            .find(|(bc, _)| *bc == c)
            .map(|(_, h)| h)
            .ok_or_else(|| SignError::NoRequests)?;
        let mut later;
        let unfinished = match first.take() {
            Some(u) => u,
            None => {
                later = Unfinished::new(s, msg, &mut now);
                &mut later
            }
        };
        let header = unfinished.finish(s, bh)?;
        if s.options.self_check
            && !crate::verifier::self_check(msg, &header, &body_hashes, &s.key.public_key())
        {
            return Err(SignError::SelfCheckFailed {
                domain: s.domain.to_string(),
                selector: s.selector.to_string(),
            });
        }
        headers.push(match msg.line_ending() {
            LineEnding::CrLf => header,
            LineEnding::Lf => header.replace("\r\n", "\n"),
        });
    }
    Ok(Signed {
        headers,
        warnings,
        body_hashes,
    })
}

/// The list of [`header_names`] alone.
#[cfg(test)]
pub(crate) fn signed_header_names<'a>(
    msg: &Message<'a>,
    opts: &'a SignOptions,
) -> Vec<std::borrow::Cow<'a, str>> {
    header_names(msg, opts).names
}

/// Most names of the default selection whose fields are picked by index ([`Picks`]).
const MAX_PICKS: usize = 64;

/// The fields the names of a default `h=` list select, by index, in the order of the list:
/// known when the selection is made (each name was taken from its field), so the signer
/// does not search the fields for each name again.
#[derive(Clone, Copy, Debug)]
struct Picks {
    at: [u8; MAX_PICKS],
    len: usize,
}

impl Picks {
    fn as_slice(&self) -> &[u8] {
        &self.at[..self.len]
    }
}

/// An `h=` list for one message ([`header_names`]).
struct HeaderList<'a> {
    /// The names, in order.
    names: Vec<std::borrow::Cow<'a, str>>,
    /// How many of `names`, from the start, can select a field: the names that oversigning
    /// adds come after one name per present field of theirs, which has used every
    /// instance, so they select nothing and need no search.
    selecting: usize,
    /// The field each of `names[..selecting]` selects, when the default selection knows it:
    /// no name repeated (a repeated name selects its instances from the bottom up), at most
    /// [`MAX_PICKS`] names, at most 256 fields.
    picks: Option<Picks>,
}

/// The `h=` list for a message under the given options (names borrowed from the options or
/// from the default list when they can be, so building it allocates only the list).
fn header_names<'a>(msg: &Message<'a>, opts: &'a SignOptions) -> HeaderList<'a> {
    use std::borrow::Cow;
    let all = |names: Vec<Cow<'a, str>>| HeaderList {
        selecting: names.len(),
        names,
        picks: None,
    };
    match &opts.headers {
        HeaderSelection::Explicit(list) => {
            all(list.iter().map(|n| Cow::Borrowed(n.as_str())).collect())
        }
        HeaderSelection::Default if opts.profile.is_ses() => {
            all(ses_header_names(msg, opts.profile))
        }
        HeaderSelection::Default => default_header_names(msg, opts.oversign),
    }
}

/// [`header_names`] of the default selection: each field that falls under an entry of
/// [`DEFAULT_SIGNED_HEADERS`], in message order, then (with `oversign`) one more of each
/// present name in [`OVERSIGNED_HEADERS`]. Entries are told apart by index, not by name:
/// the oversigned ones are a bit mask, and a repeated name is seen in a bit mask of the
/// entries present (names under a prefix entry, `list-` and `resent-`, are compared).
fn default_header_names<'a>(msg: &Message<'a>, oversign: bool) -> HeaderList<'a> {
    use std::borrow::Cow;
    let index = &*DEFAULT_INDEX;
    let fields = msg.fields();
    let mut names: Vec<Cow<'a, str>> = Vec::with_capacity(2 * fields.len());
    let mut picks = Picks {
        at: [0; MAX_PICKS],
        len: 0,
    };
    // The entry of each of the first `MAX_PICKS` names.
    let mut entries = [0u8; MAX_PICKS];
    let mut present = 0u64;
    let mut repeated = false;
    for (i, f) in fields.iter().enumerate() {
        let Some(e) = default_entry(f.name()) else {
            continue;
        };
        let k = names.len();
        if index.prefix >> e & 1 == 1 {
            let name = f.name_str().to_ascii_lowercase();
            repeated |= names.iter().any(|n| *n == name);
            names.push(Cow::Owned(name));
        } else {
            repeated |= present >> e & 1 == 1;
            names.push(Cow::Borrowed(DEFAULT_SIGNED_HEADERS[e]));
        }
        present |= 1 << e;
        if k < MAX_PICKS {
            // Field indices are kept only when they fit (checked below).
            picks.at[k] = u8::try_from(i).unwrap_or(0);
            entries[k] = u8::try_from(e).expect("fewer than 64 entries");
        }
    }
    let selecting = names.len();
    if oversign {
        for k in 0..selecting {
            let oversigned = match entries.get(k) {
                Some(&e) if index.prefix >> e & 1 == 0 => index.oversigned >> e & 1 == 1,
                _ => is_oversigned(&names[k]),
            };
            // Once per name: a repeated name has one more copy, not one per instance.
            if oversigned && !(repeated && names[selecting..].iter().any(|n| *n == names[k])) {
                names.push(names[k].clone());
            }
        }
    }
    let known = !repeated && selecting <= MAX_PICKS && fields.len() <= 256;
    picks.len = selecting;
    HeaderList {
        names,
        selecting,
        picks: known.then_some(picks),
    }
}

/// Whether a lowercase name is in [`OVERSIGNED_HEADERS`] (compared only with the entries of
/// its length).
fn is_oversigned(name: &str) -> bool {
    static BY_LEN: std::sync::LazyLock<Vec<Vec<&'static str>>> =
        std::sync::LazyLock::new(|| by_length(OVERSIGNED_HEADERS.iter().copied()));
    BY_LEN
        .get(name.len())
        .is_some_and(|entries| entries.contains(&name))
}

/// Names grouped by length: entry `n` holds the names of `n` bytes.
fn by_length(names: impl Iterator<Item = &'static str>) -> Vec<Vec<&'static str>> {
    let mut by_len: Vec<Vec<&'static str>> = Vec::new();
    for n in names {
        if by_len.len() <= n.len() {
            by_len.resize(n.len() + 1, Vec::new());
        }
        by_len[n.len()].push(n);
    }
    by_len
}

// The entries of the default list are bits of a `u64` ([`DefaultIndex`]).
const _: () = assert!(DEFAULT_SIGNED_HEADERS.len() <= 64);

/// No whole entry of the default list has this length and first letter.
const NO_ENTRY: u8 = u8::MAX;
/// More than one whole entry has this length and first letter: compare it with every whole
/// entry (no two do in the list as it is).
const MANY_ENTRIES: u8 = u8::MAX - 1;

/// [`DEFAULT_SIGNED_HEADERS`] indexed for [`default_entry`], made once.
struct DefaultIndex {
    /// The whole entry of a length under 32 and a first byte (its low five bits, which
    /// tell letters apart in either case): its index, [`NO_ENTRY`] or [`MANY_ENTRIES`].
    slot: [[u8; 32]; 32],
    /// Bits of the prefix entries (`list-`, `resent-`).
    prefix: u64,
    /// Bits of the whole entries that are in [`OVERSIGNED_HEADERS`].
    oversigned: u64,
}

static DEFAULT_INDEX: std::sync::LazyLock<DefaultIndex> = std::sync::LazyLock::new(|| {
    let mut index = DefaultIndex {
        slot: [[NO_ENTRY; 32]; 32],
        prefix: 0,
        oversigned: 0,
    };
    for (e, d) in DEFAULT_SIGNED_HEADERS.iter().enumerate() {
        if d.ends_with('-') {
            index.prefix |= 1 << e;
            continue;
        }
        if OVERSIGNED_HEADERS.contains(d) {
            index.oversigned |= 1 << e;
        }
        if let (Some(row), Some(&first)) = (index.slot.get_mut(d.len()), d.as_bytes().first()) {
            let slot = &mut row[usize::from(first & 31)];
            *slot = if *slot == NO_ENTRY {
                u8::try_from(e).expect("fewer than 64 entries")
            } else {
                MANY_ENTRIES
            };
        }
    }
    index
});

/// The index in [`DEFAULT_SIGNED_HEADERS`] of the entry a field name falls under, if it can
/// be signed. No field name matches two entries (a test holds the list to it), so which is
/// looked at first does not matter.
fn default_entry(name: &[u8]) -> Option<usize> {
    let index = &*DEFAULT_INDEX;
    let equal = |e: &usize| is_entry(name, DEFAULT_SIGNED_HEADERS[*e].as_bytes());
    // A name of 32 bytes or more, or a slot two entries share: every whole entry.
    let any_whole = || {
        (0..DEFAULT_SIGNED_HEADERS.len())
            .filter(|e| index.prefix >> e & 1 == 0)
            .find(equal)
    };
    // A whole entry: mostly decided by one comparison, with the one entry of the name's
    // length and first letter.
    let whole = match (index.slot.get(name.len()), name.first()) {
        (Some(row), Some(&first)) => match row[usize::from(first & 31)] {
            NO_ENTRY => None,
            MANY_ENTRIES => any_whole(),
            e => Some(usize::from(e)).filter(equal),
        },
        (None, _) => any_whole(),
        (_, None) => None,
    };
    // Whole entries hold no `;`. A prefix entry (`list-`, `resent-`) takes any field name it
    // starts, except one with `;`: RFC 5322 allows `;` in a field name, but `;` ends a tag
    // in `h=` (RFC 6376 3.2), so such a field cannot be named and is not signed.
    whole.or_else(|| {
        (0..DEFAULT_SIGNED_HEADERS.len())
            .filter(|e| index.prefix >> e & 1 == 1)
            .find(|&e| {
                let d = DEFAULT_SIGNED_HEADERS[e].as_bytes();
                name.len() >= d.len() && is_entry(&name[..d.len()], d)
            })
            .filter(|_| !name.contains(&b';'))
    })
}

/// Whether a field name (bytes 33-126, as [`Message`] holds them) is `entry`, an entry of
/// the default list (lowercase letters and `-`), ignoring ASCII case; in words of up to
/// eight bytes, not byte by byte. OR-ing 0x20 into a byte maps the two cases of a letter
/// onto the lowercase one and no other byte of a field name onto a lowercase letter or
/// `-` (only CR, which no field name holds, would become `-`).
fn is_entry(name: &[u8], entry: &[u8]) -> bool {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    let n = name.len();
    if n != entry.len() {
        return false;
    }
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8"));
    let half = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4"));
    let pair = |b: &[u8], at: usize| u16::from_le_bytes(b[at..at + 2].try_into().expect("2"));
    // Overlapping words cover the end.
    match n {
        8.. => {
            let mut i = 0;
            while i + 8 < n {
                if word(name, i) | FOLD != word(entry, i) {
                    return false;
                }
                i += 8;
            }
            word(name, n - 8) | FOLD == word(entry, n - 8)
        }
        4.. => {
            half(name, 0) | FOLD as u32 == half(entry, 0)
                && half(name, n - 4) | FOLD as u32 == half(entry, n - 4)
        }
        2.. => {
            pair(name, 0) | FOLD as u16 == pair(entry, 0)
                && pair(name, n - 2) | FOLD as u16 == pair(entry, n - 2)
        }
        1 => name[0] | 0x20 == entry[0],
        0 => true,
    }
}

/// The `h=` list of the SES shapes: each present field of the default selection once, in
/// message order, spelled as in the message; `Feedback-ID` only for [`Profile::SesOperator`].
fn ses_header_names<'a>(msg: &Message<'a>, profile: Profile) -> Vec<std::borrow::Cow<'a, str>> {
    let mut names: Vec<std::borrow::Cow<'a, str>> = Vec::with_capacity(msg.fields().len());
    for f in msg.fields() {
        let name = f.name();
        let Some(entry) = default_entry(name) else {
            continue;
        };
        if DEFAULT_SIGNED_HEADERS[entry] == "feedback-id" && profile != Profile::SesOperator {
            continue;
        }
        if names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
        {
            continue;
        }
        names.push(f.name_str());
    }
    names
}

/// A signature's work that does not need the body: its `h=` list, the field up to the first
/// tag that does, and the SHA-256 of its header data so far (the signed fields, then that
/// part of the field), which [`sign_parsed`] advances while it hashes the body.
struct Unfinished<'a> {
    field: Folder,
    /// The `h=` list while it is not in the field yet: it follows `l=`, which needs the
    /// body.
    names: Option<Vec<std::borrow::Cow<'a, str>>>,
    header_hash: AlongsideHash,
    /// How much of the field's text is in the header data already.
    in_data: usize,
}

/// Appends `tag=value;`, written from its parts into a reused string (no formatting
/// machinery: this runs for every message).
fn push_tag(f: &mut Folder, tag: &mut String, parts: &[&str]) {
    tag.clear();
    for p in parts {
        tag.push_str(p);
    }
    f.push(Piece::Tag(tag));
}

/// Appends `h=` with `names`.
fn push_header_list(f: &mut Folder, tag: &mut String, names: &[std::borrow::Cow<'_, str>]) {
    tag.clear();
    tag.push_str("h=");
    for (k, n) in names.iter().enumerate() {
        if k > 0 {
            tag.push(':');
        }
        tag.push_str(n);
    }
    tag.push(';');
    f.push(Piece::HeaderList(tag));
}

impl<'a> Unfinished<'a> {
    /// The work before the body for signer `s`; `now` is the clock's time once read.
    fn new(s: &'a Signer, msg: &Message<'a>, now: &mut Option<u64>) -> Self {
        let opts = &s.options;
        let t = match opts.signing_time {
            Some(t) => t,
            None => *now.get_or_insert_with(now_unix),
        };
        let HeaderList {
            names,
            selecting,
            picks,
        } = header_names(msg, opts);
        let c = opts.canonicalization();

        // The tags that are the same in every signature, folded when the signer was built.
        debug_assert_eq!(
            s.head,
            field_head(&s.key, &s.domain, &s.selector, opts),
            "the signer's field head is out of date"
        );
        let mut f = Folder::resume(&s.head.folded);
        let mut tag = String::with_capacity(256);
        let mut digits = [0u8; 20];
        push_tag(&mut f, &mut tag, &["t=", decimal(t, &mut digits), ";"]);
        if let Some(x) = opts.expire_after {
            let x = t
                .saturating_add(x.max(1))
                .min(MAX_EXPIRY.max(t.saturating_add(1)));
            push_tag(&mut f, &mut tag, &["x=", decimal(x, &mut digits), ";"]);
        }
        if let Some(i) = &opts.identity {
            // Canonical and within d= already: `Signer::identity` is the only way to set it.
            push_tag(&mut f, &mut tag, &["i=", &dkim_quoted_printable(i), ";"]);
        }

        // RFC 6376 3.7: hash the signed fields, then this header with an empty b= and no
        // CRLF.
        let fields_len: usize = msg.fields().iter().map(|f| f.raw().len() + 2).sum();
        let names_len: usize = names.iter().map(|n| n.len() + 1).sum();
        let mut data = Vec::with_capacity(fields_len + f.as_str().len() + names_len + 128);
        // The names past `selecting` would select nothing (see `HeaderList`); the default
        // selection knows the fields of the others.
        match picks {
            Some(picks) => canonicalize_fields_at(msg, picks.as_slice(), c.header, &mut data),
            None => canonicalize_signed_headers(msg, &names[..selecting], c.header, &mut data),
        }
        debug_assert_eq!(
            {
                let mut all = Vec::new();
                canonicalize_signed_headers(msg, &names, c.header, &mut all);
                all
            },
            data,
            "the fields picked are not those the names select"
        );
        // The field is ours: its canonical form is known without scanning it, and that of
        // its head is the signer's.
        data.extend_from_slice(&s.head.canonical);
        let head_len = s.head.folded.0.len();
        let (names, in_data) = if opts.body_length {
            (Some(names), head_len)
        } else {
            push_header_list(&mut f, &mut tag, &names);
            f.append_canonical_from(c.header, head_len, &mut data);
            (None, f.as_str().len())
        };
        Unfinished {
            field: f,
            names,
            header_hash: AlongsideHash::new(data),
            in_data,
        }
    }

    /// The DKIM-Signature field (with its CRLF), given the body's hash.
    /// Finished in place (it is a few hundred bytes); it must not be used afterwards.
    fn finish(&mut self, s: &Signer, bh: &BodyHash) -> Result<String, SignError> {
        let f = &mut self.field;
        let opts = &s.options;
        let b64 = base64::engine::general_purpose::STANDARD;
        if let Some(names) = self.names.take() {
            // `l=` (the body's length), then the list that waited for it.
            let mut tag = String::with_capacity(256);
            let mut digits = [0u8; 20];
            let l = decimal(bh.canonical_length, &mut digits);
            push_tag(f, &mut tag, &["l=", l, ";"]);
            push_header_list(f, &mut tag, &names);
        }
        // bh=: 32 bytes are 44 base64 characters.
        let mut bh_tag = [0u8; 3 + 44 + 1];
        bh_tag[..3].copy_from_slice(b"bh=");
        let written = b64
            .encode_slice(bh.digest, &mut bh_tag[3..47])
            .expect("44 bytes hold the base64 of 32");
        debug_assert_eq!(written, 44);
        bh_tag[47] = b';';
        f.push(Piece::Base64(
            std::str::from_utf8(&bh_tag).expect("base64 is ASCII"),
        ));
        f.push(Piece::Base64("b="));

        let c = opts.canonicalization();
        f.append_canonical_from(c.header, self.in_data, self.header_hash.data_mut());
        let digest = self.header_hash.finish();
        // The largest signature (RSA-4096, 512 bytes) is 684 base64 characters: encoded on
        // the stack as the backend hands it over, without the chunked encoder's buffer or a
        // string that may have to grow (a longer one, which no key makes, would take a
        // string).
        let mut buf = [0u8; (crate::key::MAX_RSA_BITS / 8).div_ceil(3) * 4];
        let encoded = s.key.sign_digest_with(&digest, |sig| {
            b64.encode_slice(sig, &mut buf).map_err(|_| b64.encode(sig))
        })?;
        let b: std::borrow::Cow<'_, str> = match encoded {
            Ok(n) => std::str::from_utf8(&buf[..n])
                .expect("base64 is ASCII")
                .into(),
            Err(long) => long.into(),
        };

        // Fill the rest of the last line, then fold the rest of b= in full lines.
        f.split_anywhere(&b);
        let mut header = f.take_string();
        header.push_str("\r\n");
        Ok(header)
    }
}

/// The start of a signer's DKIM-Signature field: the name and the tags before `t=`, which
/// depend only on the key's algorithm, the names and the canonicalization and profile
/// options.
fn field_head(
    key: &SigningKey,
    domain: &DomainName,
    selector: &Selector,
    opts: &SignOptions,
) -> FieldHead {
    let c = opts.canonicalization();
    let (ch, cb) = (c.header.as_str(), c.body.as_str());
    let (d, sel) = (domain.as_str(), selector.as_str());
    let mut f = Folder::new(FIELD_NAME);
    let mut tag = String::new();
    f.push(Piece::Tag("v=1;"));
    push_tag(&mut f, &mut tag, &["a=", key.algorithm().as_str(), ";"]);
    match opts.profile {
        Profile::SesCompatible | Profile::SesOperator => {
            f.push(Piece::Tag("q=dns/txt;"));
            push_tag(&mut f, &mut tag, &["c=", ch, "/", cb, ";"]);
            push_tag(&mut f, &mut tag, &["s=", sel, ";"]);
            push_tag(&mut f, &mut tag, &["d=", d, ";"]);
        }
        Profile::Standard => {
            push_tag(&mut f, &mut tag, &["c=", ch, "/", cb, ";"]);
            push_tag(&mut f, &mut tag, &["d=", d, ";"]);
            push_tag(&mut f, &mut tag, &["s=", sel, ";"]);
        }
    }
    let mut canonical = Vec::new();
    f.append_canonical(c.header, &mut canonical);
    FieldHead {
        folded: f.head(),
        canonical,
    }
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

/// The longest header name an explicit `h=` list accepts.
const MAX_HEADER_NAME: usize = 998 - "\th=:".len();

/// The largest `x=` written: 12 digits (RFC 6376 3.5 lets verifiers treat longer values as
/// infinite; some refuse to evaluate them).
const MAX_EXPIRY: u64 = 999_999_999_999;

/// `i=` in the form verifiers compare with `d=`: `[local]@domain` with the domain
/// canonical (A-labels, lowercase, no trailing dot) and within `d`, the local part valid
/// (a quoted dot-atom unquoted).
fn canonical_identity(i: &str, d: &DomainName) -> Result<String, SignError> {
    let outside = || SignError::IdentityOutsideDomain {
        identity: i.to_string(),
        domain: d.to_string(),
    };
    let (local, dom) = i.rsplit_once('@').ok_or_else(outside)?;
    let dom = DomainName::parse(dom).map_err(|_| outside())?;
    if !dom.is_subdomain_of(d) {
        return Err(outside());
    }
    if local.is_empty() {
        return Ok(format!("@{dom}"));
    }
    let address = EmailAddress::new(local, dom).map_err(|source| SignError::InvalidIdentity {
        identity: i.to_string(),
        source,
    })?;
    Ok(address.to_string())
}

/// `i=` is dkim-quoted-printable (RFC 6376 2.11): encode what may not appear literally.
fn dkim_quoted_printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b';' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry of the default list a name falls under, by the list's definition: the
    /// first whole name equal to it or prefix entry that starts it.
    fn default_entry_by_definition(name: &[u8]) -> Option<&'static str> {
        if name.contains(&b';') {
            return None;
        }
        DEFAULT_SIGNED_HEADERS
            .iter()
            .find(|d| match d.strip_suffix('-') {
                Some(_) => {
                    name.len() >= d.len() && name[..d.len()].eq_ignore_ascii_case(d.as_bytes())
                }
                None => name.eq_ignore_ascii_case(d.as_bytes()),
            })
            .copied()
    }

    /// No field name falls under two entries (so the indexed search may look at them in
    /// any order), and the indexed search finds what the definition finds: every entry in
    /// three cases, names that a prefix entry starts, near misses.
    #[test]
    fn default_entry_is_the_lists_definition() {
        for a in DEFAULT_SIGNED_HEADERS {
            for b in DEFAULT_SIGNED_HEADERS {
                if a != b && b.ends_with('-') {
                    assert!(!a.starts_with(b), "{a} falls under {b} too");
                }
            }
        }
        let mut names: Vec<String> = Vec::new();
        for d in DEFAULT_SIGNED_HEADERS.iter().chain(OVERSIGNED_HEADERS) {
            names.extend([d.to_string(), d.to_uppercase(), d.replacen('-', "-X", 1)]);
            names.extend([
                format!("{d}x"),
                format!("x{d}"),
                d[..d.len() - 1].to_string(),
            ]);
            names.push(format!("{d}id;x"));
        }
        names.extend(
            [
                "List-Unsubscribe-Post",
                "RESENT-DATE",
                "list-",
                "resent",
                "X-Mailer",
                "",
            ]
            .map(String::from),
        );
        // Past the index's 32-byte rows.
        names.extend([
            "x".repeat(40),
            format!("List-{}", "u".repeat(40)),
            format!("resent-{};", "d".repeat(40)),
        ]);
        // Each entry with each byte a field name can hold in each place.
        for d in DEFAULT_SIGNED_HEADERS {
            assert!(
                d.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{d}"
            );
            for at in 0..d.len() {
                for b in 33..=126u8 {
                    let mut n = d.as_bytes().to_vec();
                    n[at] = b;
                    names.push(String::from_utf8(n).unwrap());
                }
            }
        }
        for n in &names {
            assert_eq!(
                default_entry(n.as_bytes()).map(|e| DEFAULT_SIGNED_HEADERS[e]),
                default_entry_by_definition(n.as_bytes()),
                "{n:?}"
            );
        }
        for n in DEFAULT_SIGNED_HEADERS
            .iter()
            .chain(OVERSIGNED_HEADERS)
            .chain(["x-mailer", "list-id", ""].iter())
        {
            assert_eq!(is_oversigned(n), OVERSIGNED_HEADERS.contains(n), "{n}");
        }
    }

    /// The oversigned names select no field: canonicalizing only the names before them
    /// gives the same header data, for messages with repeated, prefix and odd-case fields.
    #[test]
    fn oversigned_names_select_nothing() {
        let opts = SignOptions::default();
        for raw in [
            &b"From: a@example.com\r\nTo: b@example.org\r\nTO: c@example.org\r\nSubject: s\r\n\r\nx\r\n"[..],
            b"from: a@example.com\r\nList-Unsubscribe: <u>\r\nlist-unsubscribe: <v>\r\nResent-From: r@example.com\r\nDate: d\r\nDate: e\r\nX: y\r\n\r\n",
            b"Received: x\r\nFrom: a@example.com\r\nCc: c\r\nMessage-ID: <m>\r\nMIME-Version: 1.0\r\n\r\n",
        ] {
            let msg = Message::parse(raw).unwrap();
            let HeaderList {
                names, selecting, ..
            } = header_names(&msg, &opts);
            assert!(selecting < names.len(), "nothing oversigned in {names:?}");
            for c in [Canonicalization::Relaxed, Canonicalization::Simple] {
                let (mut part, mut all) = (Vec::new(), Vec::new());
                canonicalize_signed_headers(&msg, &names[..selecting], c, &mut part);
                canonicalize_signed_headers(&msg, &names, c, &mut all);
                assert_eq!(part, all, "{names:?}");
            }
        }
    }

    /// The fields the default selection picks by index are the ones its names select, and
    /// the list is the one its definition gives: for headers drawn from default names in
    /// any case, prefix names, other names and names with `;`, repeated or not, with and
    /// without oversigning; past 64 selected names and 256 fields the search takes over.
    #[test]
    fn default_picks_are_the_fields_the_names_select() {
        let pool = [
            "From",
            "to",
            "CC",
            "Subject",
            "date",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
            "content-transfer-encoding",
            "Reply-To",
            "Sender",
            "In-Reply-To",
            "References",
            "Content-ID",
            "Content-Description",
            "Feedback-ID",
            "List-ID",
            "List-Unsubscribe",
            "list-unsubscribe-post",
            "Resent-Date",
            "RESENT-FROM",
            "X-Mailer",
            "Received",
            "Sub;ject",
            "List-;x",
            "Tox",
            "Frm",
            "D",
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut picked = 0;
        for case in 0..3000 {
            let fields = match case % 100 {
                0 => 70,
                1 => 300,
                n => 1 + n % 14,
            };
            let mut raw = Vec::new();
            for _ in 0..fields {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly distinct names, a repeat now and then.
                let name = pool[(x % pool.len() as u64) as usize];
                raw.extend_from_slice(format!("{name}: v{}\r\n", x % 7).as_bytes());
            }
            raw.extend_from_slice(b"\r\nbody\r\n");
            let msg = Message::parse(&raw).unwrap();
            for oversign in [true, false] {
                let opts = SignOptions {
                    oversign,
                    ..SignOptions::default()
                };
                let list = header_names(&msg, &opts);
                // The definition: each default field in message order, then one more of
                // each oversigned name present.
                let mut want: Vec<String> = Vec::new();
                for f in msg.fields() {
                    if let Some(d) = default_entry_by_definition(f.name()) {
                        want.push(if d.ends_with('-') {
                            f.name_str().to_ascii_lowercase()
                        } else {
                            d.to_string()
                        });
                    }
                }
                let selecting = want.len();
                if oversign {
                    for k in 0..selecting {
                        let n = want[k].clone();
                        if OVERSIGNED_HEADERS.contains(&n.as_str())
                            && !want[selecting..].contains(&n)
                        {
                            want.push(n);
                        }
                    }
                }
                assert_eq!(list.names, want, "case {case}");
                assert_eq!(list.selecting, selecting, "case {case}");
                if let Some(picks) = list.picks {
                    picked += 1;
                    for c in [Canonicalization::Relaxed, Canonicalization::Simple] {
                        let (mut at, mut searched) = (Vec::new(), Vec::new());
                        canonicalize_fields_at(&msg, picks.as_slice(), c, &mut at);
                        canonicalize_signed_headers(&msg, &list.names, c, &mut searched);
                        assert_eq!(at, searched, "case {case}: {:?}", list.names);
                    }
                } else {
                    let mut seen = std::collections::HashSet::new();
                    let repeated = !want[..selecting].iter().all(|n| seen.insert(n));
                    assert!(
                        repeated || selecting > MAX_PICKS || msg.fields().len() > 256,
                        "case {case}: no picks for {want:?}"
                    );
                }
            }
        }
        assert!(picked > 2000, "picks used in {picked} cases");
    }

    /// The field head made when the signer is built is the one the options call for, in
    /// whichever order the profile and the canonicalization are set, and the signature's
    /// `c=` is the canonicalization it was made with.
    #[test]
    fn field_head_follows_the_options_in_any_order() {
        use Canonicalization::{Relaxed, Simple};
        let key = SigningKey::generate(crate::KeySpec::Ed25519).unwrap();
        let base = Signer::new(key, "example.com", "sel")
            .unwrap()
            .signing_time(Some(1_800_000_000));
        let msg = b"From: a@example.com\r\nSubject: s\r\n\r\nHi\r\n";
        for p in [
            Profile::Standard,
            Profile::SesCompatible,
            Profile::SesOperator,
        ] {
            for (h, b) in [
                (Relaxed, Relaxed),
                (Relaxed, Simple),
                (Simple, Relaxed),
                (Simple, Simple),
            ] {
                let c = Canonicalizer::new(h, b);
                for s in [
                    base.clone().profile(p).canonicalization(c),
                    base.clone().canonicalization(c).profile(p),
                ] {
                    let want = field_head(&s.key, &s.domain, &s.selector, &s.options);
                    assert_eq!(s.head, want, "{p:?} {c}");
                    let c = s.options.canonicalization();
                    let header = &s.sign(msg).unwrap().headers[0];
                    assert!(header.contains(&format!(" c={c};")), "{p:?} {c}: {header}");
                }
            }
        }
    }

    /// The default `h=` list: present default fields in message order, lowercased (prefix
    /// entries keep the field's own name), fields with `;` in their name left out, then one
    /// more of each present singleton.
    #[test]
    fn default_header_list_and_oversigning() {
        let raw = b"FROM: a@example.com\r\nX-Mailer: m\r\nTo: b@example.org\r\nto: c@example.org\r\n\
List-ID: <l.example.com>\r\nResent-From: r@example.com\r\nSub;ject: x\r\nSubject: s\r\n\r\nbody\r\n";
        let msg = Message::parse(raw).unwrap();
        let mut opts = SignOptions::default();
        let names = signed_header_names(&msg, &opts);
        assert_eq!(
            names,
            [
                "from",
                "to",
                "to",
                "list-id",
                "resent-from",
                "subject",
                "from",
                "to",
                "subject"
            ]
        );
        opts.oversign = false;
        assert_eq!(
            signed_header_names(&msg, &opts),
            ["from", "to", "to", "list-id", "resent-from", "subject"]
        );
        opts.headers = HeaderSelection::Explicit(vec!["subject".into(), "x-mailer".into()]);
        assert_eq!(signed_header_names(&msg, &opts), ["subject", "x-mailer"]);
    }
}
