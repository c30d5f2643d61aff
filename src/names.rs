//! Validated names: domain names, email addresses and DKIM selectors.
//!
//! These newtypes are built once, at the edge of the library, from untrusted
//! input and can be trusted everywhere else: a [`DomainName`] is always in
//! canonical A-label form, an [`EmailAddress`] always has a syntactically valid
//! local part and a canonical domain, and a [`Selector`] is always a valid
//! DKIM selector.
//!
//! ```
//! use easydkim::{DomainName, EmailAddress, Selector};
//!
//! let domain = DomainName::parse("Bücher.Example.")?;
//! assert_eq!(domain.as_str(), "xn--bcher-kva.example");
//!
//! let from = EmailAddress::parse("Alice+news@Example.COM")?;
//! assert_eq!(from.to_string(), "Alice+news@example.com");
//!
//! let selector = Selector::parse("mail2024")?;
//! let record = from.domain().prepend(&format!("{selector}._domainkey"))?;
//! assert_eq!(record.as_str(), "mail2024._domainkey.example.com");
//! # Ok::<(), easydkim::NameError>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// Maximum length of a domain name in octets, without the trailing dot.
const MAX_DOMAIN_LEN: usize = 253;
/// Maximum length of a single DNS label in octets.
const MAX_LABEL_LEN: usize = 63;
/// Maximum length of the local part of an email address in octets.
const MAX_LOCAL_PART_LEN: usize = 64;
/// Inputs longer than this many characters are shortened in error messages.
const MAX_SHOWN_CHARS: usize = 256;

/// Shows an input in an error message: control characters are escaped and
/// very long inputs are shortened (on a character boundary).
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX_SHOWN_CHARS) {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        if chars.next().is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// Why a domain name, email address or selector was rejected.
///
/// Every variant names the offending input (shortened and with control
/// characters escaped when displayed).
///
/// ```
/// use easydkim::{DomainName, NameError};
///
/// let err = DomainName::parse("exa mple.com").unwrap_err();
/// assert_eq!(
///     err,
///     NameError::InvalidCharacter { input: "exa mple.com".into(), ch: ' ' }
/// );
/// assert_eq!(
///     err.to_string(),
///     "domain name `exa mple.com` contains invalid character ' '"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The domain name was empty.
    #[error("domain name is empty")]
    Empty,
    /// The IDNA (UTS #46) conversion to A-labels failed.
    #[error("domain name `{}` is not a valid internationalised domain name", Shown(.input))]
    Idna {
        /// The rejected input.
        input: String,
    },
    /// The domain name contains an empty label (e.g. `a..example.com`).
    #[error("domain name `{}` contains an empty label", Shown(.input))]
    EmptyLabel {
        /// The rejected input.
        input: String,
    },
    /// A label is longer than 63 octets (after conversion to A-labels).
    #[error("domain name `{}` has a label `{}` longer than 63 octets", Shown(.input), Shown(.label))]
    LabelTooLong {
        /// The rejected input.
        input: String,
        /// The offending label, in A-label form.
        label: String,
    },
    /// The domain name contains a character that is not allowed.
    #[error("domain name `{}` contains invalid character {ch:?}", Shown(.input))]
    InvalidCharacter {
        /// The rejected input.
        input: String,
        /// The offending character.
        ch: char,
    },
    /// A label starts or ends with a hyphen.
    #[error("domain name `{}` has a label `{}` starting or ending with a hyphen", Shown(.input), Shown(.label))]
    HyphenAtLabelEdge {
        /// The rejected input.
        input: String,
        /// The offending label, in A-label form.
        label: String,
    },
    /// The domain name is longer than 253 octets (after conversion to A-labels).
    #[error("domain name `{}` is {len} octets long (maximum 253)", Shown(.input))]
    TooLong {
        /// The rejected input.
        input: String,
        /// The length in octets of the A-label form, without trailing dot.
        len: usize,
    },
    /// The domain name has a single label (e.g. a bare top-level domain).
    #[error("domain name `{}` has a single label; at least two are required", Shown(.input))]
    SingleLabel {
        /// The rejected input.
        input: String,
    },
    /// The last label is all digits, which no top-level domain is.
    #[error("domain name `{}` has an all-numeric top-level label", Shown(.input))]
    NumericTld {
        /// The rejected input.
        input: String,
    },
    /// The input is an IP address or address literal, not a domain name.
    #[error("`{}` is an ip address literal, not a domain name", Shown(.input))]
    IpLiteral {
        /// The rejected input.
        input: String,
    },
    /// The domain name contains a wildcard label (`*`).
    #[error("domain name `{}` contains a wildcard label", Shown(.input))]
    Wildcard {
        /// The rejected input.
        input: String,
    },
    /// The email address has no `@`.
    #[error("email address `{}` has no `@`", Shown(.input))]
    MissingAt {
        /// The rejected input.
        input: String,
    },
    /// The local part of the email address (before the `@`) is empty.
    #[error("email address `{}` has an empty local part", Shown(.input))]
    EmptyLocalPart {
        /// The rejected input.
        input: String,
    },
    /// The local part of the email address is longer than 64 octets.
    #[error("email address `{}` has a local part of {len} octets (maximum 64)", Shown(.input))]
    LocalPartTooLong {
        /// The rejected input.
        input: String,
        /// The length of the local part in octets.
        len: usize,
    },
    /// The local part of the email address is malformed.
    #[error("email address `{}` has an invalid local part: {reason}", Shown(.input))]
    InvalidLocalPart {
        /// The rejected input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The DKIM selector is malformed.
    #[error("selector `{}` is invalid: {reason}", Shown(.input))]
    InvalidSelector {
        /// The rejected input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

// ---------------------------------------------------------------------------
// DomainName
// ---------------------------------------------------------------------------

/// A DNS domain name in canonical form: A-labels (IDNA / UTS #46), lowercase,
/// no trailing dot.
///
/// Built with [`DomainName::parse`] (or [`str::parse`]), which accepts host
/// names only: letters, digits and hyphens, at least two labels, no IP
/// literals, no wildcards, no underscores. DNS record names such as
/// `sel._domainkey.example.com` are built with [`DomainName::prepend`], which
/// also allows underscores in the labels it adds.
///
/// Because names are canonical, equality is case-insensitive with respect to
/// the input:
///
/// ```
/// use easydkim::DomainName;
///
/// let a = DomainName::parse("EXAMPLE.com.")?;
/// let b: DomainName = "example.com".parse()?;
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), "example.com");
/// # Ok::<(), easydkim::NameError>(())
/// ```
// Shared text: names are cloned into every resolution, signer and outcome, and a clone
// of an `Arc<str>` allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(Arc<str>);

impl DomainName {
    /// Parses and canonicalises a domain name.
    ///
    /// One trailing dot is accepted and dropped; nothing else is trimmed.
    /// Internationalised names are converted to A-labels and everything is
    /// lowercased. Rejected: empty input, whitespace or control characters,
    /// empty labels, labels over 63 octets or starting/ending with a hyphen,
    /// characters other than letters, digits and hyphens (including `_`),
    /// names over 253 octets, single-label names, IP literals, an all-numeric
    /// last label and wildcards.
    ///
    /// ```
    /// use easydkim::{DomainName, NameError};
    ///
    /// assert_eq!(DomainName::parse("Bücher.example")?.as_str(), "xn--bcher-kva.example");
    /// assert!(matches!(DomainName::parse("com"), Err(NameError::SingleLabel { .. })));
    /// assert!(matches!(DomainName::parse("192.0.2.1"), Err(NameError::IpLiteral { .. })));
    /// assert!(matches!(DomainName::parse("*.example.com"), Err(NameError::Wildcard { .. })));
    /// # Ok::<(), NameError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, NameError> {
        Self::parse_inner(input, false)
    }

    /// Shared parser; `allow_underscore` permits `_` anywhere in a label
    /// (used for DNS record names built by [`DomainName::prepend`]).
    fn parse_inner(input: &str, allow_underscore: bool) -> Result<Self, NameError> {
        if input.is_empty() {
            return Err(NameError::Empty);
        }
        if Self::is_canonical(input) {
            // Already in canonical form (most names in signatures and records): one pass.
            return Ok(DomainName(input.into()));
        }
        let err_input = || input.to_owned();

        if let Some(ch) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(NameError::InvalidCharacter {
                input: err_input(),
                ch,
            });
        }

        let name = input.strip_suffix('.').unwrap_or(input);
        if name.starts_with('[') || name.parse::<IpAddr>().is_ok() {
            return Err(NameError::IpLiteral { input: err_input() });
        }

        // Structural checks on the input itself, for precise errors.
        Self::check_structure(input, name, allow_underscore)?;

        // Plain ASCII names without A-labels (nearly every name a signer sees): UTS 46
        // maps them to their lowercase form and nothing else, so the IDNA pass is skipped.
        let plain = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !name
                .split('.')
                .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"));
        let ascii = if plain {
            name.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(name)
                .map_err(|_| NameError::Idna { input: err_input() })?
                .to_ascii_lowercase()
        };

        // IDNA mapping may have produced new dots or ASCII characters, so the
        // canonical form is validated in full.
        Self::check_structure(input, &ascii, allow_underscore)?;
        Self::check_canonical(input, &ascii)?;
        Ok(DomainName(ascii.into()))
    }

    /// A name known to be canonical and valid (taken from another `DomainName`, or checked
    /// with [`is_canonical`](Self::is_canonical)).
    pub(crate) fn from_canonical(s: &str) -> DomainName {
        debug_assert!(DomainName::parse(s).is_ok_and(|d| &*d.0 == s) || s.contains('_'));
        DomainName(s.into())
    }

    /// Whether `s` is exactly what [`DomainName::parse`] returns for it (plain lowercase
    /// ASCII, valid): such a name can be looked up as it is, without parsing into a new
    /// string. A-labels (`xn--`) answer `false`: they need the IDNA check.
    pub(crate) fn is_canonical(s: &str) -> bool {
        // One pass with the checks of `check_structure` and `check_canonical` for a name
        // made only of lowercase letters, digits, hyphens and dots (property-tested against
        // `parse`).
        let b = s.as_bytes();
        if b.is_empty() || b.len() > MAX_DOMAIN_LEN {
            return false;
        }
        let (mut start, mut labels, mut numeric) = (0, 0, false);
        for i in 0..=b.len() {
            if i < b.len() && b[i] != b'.' {
                if !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit() || b[i] == b'-') {
                    return false;
                }
                continue;
            }
            let label = &b[start..i];
            if label.is_empty()
                || label.len() > MAX_LABEL_LEN
                || label[0] == b'-'
                || label[label.len() - 1] == b'-'
                || label.starts_with(b"xn--")
            {
                return false;
            }
            numeric = label.iter().all(u8::is_ascii_digit);
            labels += 1;
            start = i + 1;
        }
        labels >= 2 && !numeric
    }

    /// Checks labels for emptiness, wildcards and invalid ASCII characters.
    /// Non-ASCII characters are left to IDNA.
    fn check_structure(input: &str, name: &str, allow_underscore: bool) -> Result<(), NameError> {
        let mut labels = 0usize;
        for label in name.split('.') {
            labels += 1;
            if label.is_empty() {
                return Err(NameError::EmptyLabel {
                    input: input.to_owned(),
                });
            }
            if label == "*" {
                return Err(NameError::Wildcard {
                    input: input.to_owned(),
                });
            }
            if let Some(ch) = label.chars().find(|&c| {
                c.is_ascii()
                    && !(c.is_ascii_alphanumeric() || c == '-' || (allow_underscore && c == '_'))
            }) {
                return Err(NameError::InvalidCharacter {
                    input: input.to_owned(),
                    ch,
                });
            }
        }
        debug_assert!(labels >= 1);
        Ok(())
    }

    /// Checks the canonical A-label form: ASCII only, label and name lengths,
    /// hyphens, label count and the last label.
    fn check_canonical(input: &str, ascii: &str) -> Result<(), NameError> {
        if let Some(ch) = ascii.chars().find(|c| !c.is_ascii()) {
            return Err(NameError::InvalidCharacter {
                input: input.to_owned(),
                ch,
            });
        }
        for label in ascii.split('.') {
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong {
                    input: input.to_owned(),
                    label: label.to_owned(),
                });
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(NameError::HyphenAtLabelEdge {
                    input: input.to_owned(),
                    label: label.to_owned(),
                });
            }
        }
        if ascii.len() > MAX_DOMAIN_LEN {
            return Err(NameError::TooLong {
                input: input.to_owned(),
                len: ascii.len(),
            });
        }
        let last = match ascii.rsplit_once('.') {
            Some((_, last)) => last,
            None => {
                return Err(NameError::SingleLabel {
                    input: input.to_owned(),
                })
            }
        };
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::NumericTld {
                input: input.to_owned(),
            });
        }
        Ok(())
    }

    /// The canonical form: A-labels, lowercase, no trailing dot.
    ///
    /// ```
    /// use easydkim::DomainName;
    /// assert_eq!(DomainName::parse("Mail.Example.COM")?.as_str(), "mail.example.com");
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels from left to right.
    ///
    /// ```
    /// use easydkim::DomainName;
    /// let d = DomainName::parse("mail.example.com")?;
    /// assert_eq!(d.labels().collect::<Vec<_>>(), ["mail", "example", "com"]);
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn labels(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split('.')
    }

    /// The name with its leftmost label removed, or `None` when that would
    /// leave a single label (a parent is never a bare top-level domain).
    ///
    /// ```
    /// use easydkim::DomainName;
    /// let d = DomainName::parse("a.b.example.com")?;
    /// assert_eq!(d.parent().unwrap().as_str(), "b.example.com");
    /// assert_eq!(DomainName::parse("example.com")?.parent(), None);
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn parent(&self) -> Option<DomainName> {
        // A suffix of a valid name made of whole labels is itself valid.
        parent_str(&self.0).map(|rest| DomainName(rest.into()))
    }

    /// This name, then each successive [`parent`](DomainName::parent), ending
    /// with the two-label name; never a bare top-level domain.
    ///
    /// ```
    /// use easydkim::DomainName;
    /// let d = DomainName::parse("a.b.example.com")?;
    /// let all: Vec<String> = d.ancestors().map(|a| a.to_string()).collect();
    /// assert_eq!(all, ["a.b.example.com", "b.example.com", "example.com"]);
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn ancestors(&self) -> impl Iterator<Item = DomainName> {
        std::iter::successors(Some(self.clone()), DomainName::parent)
    }

    /// Whether this name equals `other` or lies below it, on label
    /// boundaries.
    ///
    /// ```
    /// use easydkim::DomainName;
    /// let parent = DomainName::parse("example.com")?;
    /// assert!(DomainName::parse("mail.example.com")?.is_subdomain_of(&parent));
    /// assert!(parent.is_subdomain_of(&parent));
    /// assert!(!DomainName::parse("badexample.com")?.is_subdomain_of(&parent));
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn is_subdomain_of(&self, other: &DomainName) -> bool {
        match self.0.strip_suffix(&*other.0) {
            Some("") => true,
            Some(prefix) => prefix.ends_with('.'),
            None => false,
        }
    }

    /// The name with U-labels, for display to people. Never use this form in
    /// protocols.
    ///
    /// ```
    /// use easydkim::DomainName;
    /// let d = DomainName::parse("xn--bcher-kva.example")?;
    /// assert_eq!(d.to_unicode(), "bücher.example");
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn to_unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        match result {
            Ok(()) => unicode,
            // Cannot happen for a name that went through `domain_to_ascii`,
            // but the A-label form is always a safe fallback.
            Err(_) => self.0.to_string(),
        }
    }

    /// The fully-qualified form, with a trailing dot (as used in DNS zone
    /// files).
    ///
    /// ```
    /// use easydkim::DomainName;
    /// assert_eq!(DomainName::parse("example.com")?.fqdn(), "example.com.");
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn fqdn(&self) -> String {
        format!("{}.", self.0)
    }

    /// Prepends one or more labels (dot-separated) to this name, e.g. to build
    /// a DKIM key record name. Unlike [`DomainName::parse`], the result may
    /// contain underscores (as in `_domainkey` or `_easydkim`); the added
    /// labels are otherwise validated like any domain name (IDNA, lowercase,
    /// lengths, hyphens).
    ///
    /// Note that [`DomainName::parse`] rejects the resulting name when it
    /// contains underscores, so it does not round-trip through [`FromStr`].
    ///
    /// ```
    /// use easydkim::DomainName;
    /// let d = DomainName::parse("example.com")?;
    /// assert_eq!(d.prepend("Sel1._domainkey")?.as_str(), "sel1._domainkey.example.com");
    /// assert!(d.prepend("bad label").is_err());
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn prepend(&self, label: &str) -> Result<DomainName, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel {
                input: format!(".{}", self.0),
            });
        }
        Self::parse_inner(&format!("{label}.{}", self.0), true)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DomainName {
    type Err = NameError;

    /// Same as [`DomainName::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// EmailAddress
// ---------------------------------------------------------------------------

/// An email address (a plain RFC 5321 / RFC 6531 addr-spec): the local part is
/// kept exactly as given (case preserved), the domain is a canonical
/// [`DomainName`].
///
/// Comparison is case-insensitive for the domain but case-sensitive for the
/// local part, as the local part's interpretation belongs to the receiving
/// host:
///
/// ```
/// use easydkim::EmailAddress;
///
/// let a = EmailAddress::parse("alice@EXAMPLE.com")?;
/// assert_eq!(a, EmailAddress::parse("alice@example.com")?);
/// assert_ne!(a, EmailAddress::parse("Alice@example.com")?);
/// # Ok::<(), easydkim::NameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    local: String,
    domain: DomainName,
}

impl EmailAddress {
    /// Parses a plain addr-spec (no display name, no angle brackets), split at
    /// the last `@`.
    ///
    /// The local part must be 1 to 64 octets, either a dot-atom (no leading,
    /// trailing or consecutive dots; no whitespace, control characters or
    /// specials such as `<>()[]:;@\,"`; UTF-8 allowed) or a quoted string
    /// (`"john doe"`), which is kept verbatim unless what it quotes is itself a
    /// dot-atom: RFC 5322 (3.2.4) makes the quotes semantically invisible, so
    /// `"alice"@example.com` is `alice@example.com`. The domain is parsed with
    /// [`DomainName::parse`], whose errors are returned as they are.
    ///
    /// ```
    /// use easydkim::EmailAddress;
    ///
    /// let a = EmailAddress::parse("alice@Example.COM")?;
    /// assert_eq!(a.local_part(), "alice");
    /// assert_eq!(a.domain().as_str(), "example.com");
    /// assert!(EmailAddress::parse("<alice@example.com>").is_err());
    /// assert!(EmailAddress::parse("a..b@example.com").is_err());
    /// assert_eq!(EmailAddress::parse("\"alice\"@example.com")?.local_part(), "alice");
    /// assert_eq!(EmailAddress::parse("\"john doe\"@example.com")?.local_part(), "\"john doe\"");
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let (local, domain) = input.rsplit_once('@').ok_or_else(|| NameError::MissingAt {
            input: input.to_owned(),
        })?;
        check_local_part(input, local)?;
        let domain = DomainName::parse(domain)?;
        Ok(EmailAddress {
            local: unquoted_local(local).into_owned(),
            domain,
        })
    }

    /// Builds an address from a local part (validated as in
    /// [`EmailAddress::parse`]) and an already-valid domain.
    ///
    /// ```
    /// use easydkim::{DomainName, EmailAddress};
    ///
    /// let d = DomainName::parse("example.com")?;
    /// assert_eq!(EmailAddress::new("bob", d.clone())?.to_string(), "bob@example.com");
    /// assert!(EmailAddress::new("", d).is_err());
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn new(local: &str, domain: DomainName) -> Result<Self, NameError> {
        check_local_part(&format!("{local}@{domain}"), local)?;
        Ok(EmailAddress {
            local: unquoted_local(local).into_owned(),
            domain,
        })
    }

    /// An address from a local part known to be valid (checked with
    /// [`local_part_is_valid`] or taken from another address).
    pub(crate) fn from_canonical(local: &str, domain: DomainName) -> EmailAddress {
        debug_assert!(local_part_is_valid(local));
        EmailAddress {
            local: local.to_owned(),
            domain,
        }
    }

    /// The local part, exactly as given.
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The domain, in canonical form.
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    /// The address without a `+tag` suffix in the local part, or `None` if
    /// there is no tag (no `+`, `+` as first character, or a quoted local
    /// part) or removing it would leave an invalid local part.
    ///
    /// ```
    /// use easydkim::EmailAddress;
    ///
    /// let a = EmailAddress::parse("alice+news@x.com")?;
    /// assert_eq!(a.without_tag().unwrap().to_string(), "alice@x.com");
    /// assert_eq!(EmailAddress::parse("alice@x.com")?.without_tag(), None);
    /// assert_eq!(EmailAddress::parse("+news@x.com")?.without_tag(), None);
    /// # Ok::<(), easydkim::NameError>(())
    /// ```
    pub fn without_tag(&self) -> Option<EmailAddress> {
        untagged_local(&self.local).map(|l| EmailAddress::from_canonical(l, self.domain.clone()))
    }
}

/// The parent of a canonical domain name while it keeps two labels (the rule of
/// [`DomainName::parent`], on borrowed text).
pub(crate) fn parent_str(domain: &str) -> Option<&str> {
    let rest = &domain[domain.bytes().position(|b| b == b'.')? + 1..];
    rest.bytes().any(|b| b == b'.').then_some(rest)
}

/// The local part without its `+tag`, when it has one and what remains is valid (the rule
/// of [`EmailAddress::without_tag`], on borrowed text).
pub(crate) fn untagged_local(local: &str) -> Option<&str> {
    if local.starts_with('"') {
        return None;
    }
    match local.bytes().position(|b| b == b'+') {
        Some(pos) if pos > 0 && local_part_is_valid(&local[..pos]) => Some(&local[..pos]),
        _ => None,
    }
}

/// A valid local part in the form [`EmailAddress`] keeps: a quoted string whose content
/// (quoted-pairs undone) is a dot-atom loses its quotes (RFC 5322 3.2.4: `"alice"` and
/// `alice` name the same mailbox); anything else stays as it is.
fn unquoted_local(local: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let Some(inner) = local.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return Cow::Borrowed(local);
    };
    let mut content = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => content.extend(chars.next()),
            c => content.push(c),
        }
    }
    if !content.starts_with('"') && check_local_part(&content, &content).is_ok() {
        Cow::Owned(content)
    } else {
        Cow::Borrowed(local)
    }
}

/// Whether `local` is a local part [`EmailAddress::parse`] accepts and keeps as it is (so a
/// quoted dot-atom, which it unquotes, answers `false`).
pub(crate) fn local_part_is_valid(local: &str) -> bool {
    check_local_part(local, local).is_ok()
        && !matches!(unquoted_local(local), std::borrow::Cow::Owned(_))
}

/// Validates a local part; `input` is what errors name (the whole address).
fn check_local_part(input: &str, local: &str) -> Result<(), NameError> {
    let invalid = |reason| NameError::InvalidLocalPart {
        input: input.to_owned(),
        reason,
    };
    if local.is_empty() {
        return Err(NameError::EmptyLocalPart {
            input: input.to_owned(),
        });
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(NameError::LocalPartTooLong {
            input: input.to_owned(),
            len: local.len(),
        });
    }
    if local.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }

    if let Some(quoted) = local.strip_prefix('"') {
        // quoted-string: qtext / quoted-pair, closing quote last.
        let mut chars = quoted.chars();
        loop {
            match chars.next() {
                None => return Err(invalid("unterminated quoted string")),
                Some('\\') => {
                    if chars.next().is_none() {
                        return Err(invalid("unterminated quoted string"));
                    }
                }
                Some('"') => {
                    return if chars.as_str().is_empty() {
                        Ok(())
                    } else {
                        Err(invalid("text after the closing quote"))
                    };
                }
                Some(_) => {}
            }
        }
    }

    // dot-atom
    if local.chars().any(char::is_whitespace) {
        return Err(invalid("contains whitespace"));
    }
    if local.starts_with('.') {
        return Err(invalid("starts with a dot"));
    }
    if local.ends_with('.') {
        return Err(invalid("ends with a dot"));
    }
    if local.contains("..") {
        return Err(invalid("contains consecutive dots"));
    }
    if local
        .chars()
        .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)))
    {
        return Err(invalid("contains a character not allowed outside quotes"));
    }
    Ok(())
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl FromStr for EmailAddress {
    type Err = NameError;

    /// Same as [`EmailAddress::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Selector
// ---------------------------------------------------------------------------

/// A DKIM selector (RFC 6376 section 3.1): one or more dot-separated labels of
/// ASCII letters, digits, `-` and `_`, each 1 to 63 octets, not starting or
/// ending with a hyphen, at most 253 octets in all.
///
/// The selector is stored exactly as given. DNS lookups are case-insensitive,
/// but equality on `Selector` is not; compare with
/// [`str::eq_ignore_ascii_case`] on [`Selector::as_str`] if needed.
/// Internationalised selectors must be given in A-label form.
///
/// ```
/// use easydkim::Selector;
///
/// let s = Selector::parse("Mail_2024.eu")?;
/// assert_eq!(s.as_str(), "Mail_2024.eu");
/// assert!(Selector::parse("bad selector").is_err());
/// # Ok::<(), easydkim::NameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector(String);

impl Selector {
    /// The selector as a string.
    pub(crate) fn into_string(self) -> String {
        self.0
    }

    /// A selector the crate validated before (an Easy DKIM token, a stored BYO selector):
    /// no second validation on the signing path.
    pub(crate) fn already_valid(s: &str) -> Self {
        debug_assert!(Selector::parse(s).is_ok(), "not a valid selector: {s}");
        Selector(s.to_string())
    }

    /// Validates a selector; see [`Selector`] for the rules.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let invalid = |reason| NameError::InvalidSelector {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(invalid("is empty"));
        }
        if input
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        {
            return Err(invalid(
                "contains a character other than ascii letters, digits, '-', '_' and '.'",
            ));
        }
        if input.len() > MAX_DOMAIN_LEN {
            return Err(invalid("is longer than 253 octets"));
        }
        for label in input.split('.') {
            if label.is_empty() {
                return Err(invalid("contains an empty label"));
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(invalid("has a label longer than 63 octets"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("has a label starting or ending with a hyphen"));
            }
        }
        Ok(Selector(input.to_owned()))
    }

    /// The selector, exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Selector {
    type Err = NameError;

    /// Same as [`Selector::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Selector {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    /// The ASCII fast path (no IDNA pass) gives exactly what the IDNA pass gives.
    #[test]
    fn ascii_fast_path_matches_idna() {
        for input in [
            "example.com",
            "Example.COM",
            "mail-1.example.co.uk",
            "a.b.c.d.e.f",
            "_dmarc.example.com",
            "-lead.example.com",
            "trail-.example.com",
            "ab--cd.example.com",
            "123.example",
            "x.y",
            "example.com.",
            "UPPER_case-Mixed.Example.NET",
            "a--b.example",
        ] {
            let via_idna = idna::domain_to_ascii(input.strip_suffix('.').unwrap_or(input))
                .map(|s| s.to_ascii_lowercase());
            match DomainName::parse(input) {
                Ok(d) => assert_eq!(
                    Ok(d.as_str().to_string()),
                    via_idna.map_err(|_| ()),
                    "{input}"
                ),
                Err(e) => {
                    // Refused by our own structural rules, not by the fast path.
                    assert!(!matches!(e, NameError::Idna { .. }), "{input}: {e}");
                }
            }
        }
        // A-labels still go through IDNA (and are validated there).
        assert!(DomainName::parse("xn--bcher-kva.example").is_ok());
        assert!(DomainName::parse("XN--bcher-kva.example").is_ok());
        assert!(matches!(
            DomainName::parse("xn--a.example"),
            Err(NameError::Idna { .. })
        ));
    }

    use super::*;

    proptest::proptest! {
        /// `is_canonical` says yes exactly when parsing gives back the same string, except
        /// for A-labels, which it leaves to the full parser.
        #[test]
        fn is_canonical_matches_parse(s in "[a-zA-Z0-9._*-]{0,12}(\\.xn--[a-z0-9-]{0,6})?(\\.[a-z0-9-]{0,5})?\\.?") {
            let parsed = matches!(DomainName::parse(&s), Ok(d) if d.as_str() == s);
            let a_label = s.split('.').any(|l| l.starts_with("xn--"));
            proptest::prop_assert_eq!(DomainName::is_canonical(&s), parsed && !a_label, "{:?}", s);
        }
    }

    #[test]
    fn is_canonical_cases() {
        for s in ["example.com", "a-b.example.co.uk", "x1.example"] {
            assert!(DomainName::is_canonical(s), "{s}");
        }
        for s in [
            "Example.com",
            "example.com.",
            "com",
            "1.2.3.4",
            "-a.com",
            "a..com",
            "xn--bcher-kva.example",
            "",
        ] {
            assert!(!DomainName::is_canonical(s), "{s}");
        }
        assert!(local_part_is_valid("alice+tag"));
        assert!(!local_part_is_valid("a..b"));
    }

    fn d(s: &str) -> DomainName {
        DomainName::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn derr(s: &str) -> NameError {
        match DomainName::parse(s) {
            Ok(v) => panic!("{s:?} should be rejected, got {v}"),
            Err(e) => e,
        }
    }

    fn e(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap_or_else(|err| panic!("{s:?} should parse: {err}"))
    }

    // ----- DomainName: accepted -----

    #[test]
    fn domain_accepts_plain_names() {
        for (input, want) in [
            ("example.com", "example.com"),
            ("EXAMPLE.com.", "example.com"),
            ("Mail.Example.COM", "mail.example.com"),
            ("a.b", "a.b"),
            ("a-b.example.com", "a-b.example.com"),
            ("a--b.example.com", "a--b.example.com"),
            ("123.example.com", "123.example.com"),
            ("example.c0m", "example.c0m"),
            ("x1.io", "x1.io"),
        ] {
            assert_eq!(d(input).as_str(), want, "{input}");
        }
    }

    #[test]
    fn domain_idna() {
        assert_eq!(d("Bücher.example").as_str(), "xn--bcher-kva.example");
        assert_eq!(d("BÜCHER.EXAMPLE").as_str(), "xn--bcher-kva.example");
        assert_eq!(d("xn--bcher-kva.example").as_str(), "xn--bcher-kva.example");
        assert_eq!(d("XN--BCHER-KVA.example").as_str(), "xn--bcher-kva.example");
        assert_eq!(d("例え.テスト").as_str(), "xn--r8jz45g.xn--zckzah");
        assert_eq!(d("münchen.de").to_unicode(), "münchen.de");
        // Ideographic full stop is a label separator under UTS #46.
        assert_eq!(d("bücher。example").as_str(), "xn--bcher-kva.example");
        assert_eq!(d("example.com").to_unicode(), "example.com");
    }

    #[test]
    fn domain_idna_errors() {
        assert!(matches!(derr("xn--a.example"), NameError::Idna { .. }));
        assert!(matches!(
            derr("xn--zz-.example"),
            NameError::Idna { .. } | NameError::HyphenAtLabelEdge { .. }
        ));
    }

    #[test]
    fn domain_one_trailing_dot_only() {
        assert_eq!(d("example.com.").as_str(), "example.com");
        assert!(matches!(
            derr("example.com.."),
            NameError::EmptyLabel { .. }
        ));
        assert!(matches!(derr(".example.com"), NameError::EmptyLabel { .. }));
        assert!(matches!(
            derr("a..example.com"),
            NameError::EmptyLabel { .. }
        ));
        assert!(matches!(derr("."), NameError::EmptyLabel { .. }));
    }

    #[test]
    fn domain_rejects_empty() {
        assert_eq!(derr(""), NameError::Empty);
    }

    #[test]
    fn domain_rejects_whitespace_and_controls() {
        for (input, ch) in [
            ("exa mple.com", ' '),
            (" example.com", ' '),
            ("example.com ", ' '),
            ("example.com\n", '\n'),
            ("exa\tmple.com", '\t'),
            ("exa\0mple.com", '\0'),
            ("exa\u{a0}mple.com", '\u{a0}'),
            ("exa\u{7f}mple.com", '\u{7f}'),
        ] {
            assert_eq!(
                derr(input),
                NameError::InvalidCharacter {
                    input: input.into(),
                    ch
                },
                "{input:?}"
            );
        }
    }

    #[test]
    fn domain_rejects_invalid_characters() {
        for (input, ch) in [
            ("a_b.example.com", '_'),
            ("_dmarc.example.com", '_'),
            ("a!b.example.com", '!'),
            ("a/b.example.com", '/'),
            ("user@example.com", '@'),
            ("a*b.example.com", '*'),
            ("example.com:25", ':'),
        ] {
            assert_eq!(
                derr(input),
                NameError::InvalidCharacter {
                    input: input.into(),
                    ch
                },
                "{input:?}"
            );
        }
    }

    #[test]
    fn domain_rejects_single_label() {
        assert!(matches!(derr("com"), NameError::SingleLabel { .. }));
        assert!(matches!(derr("com."), NameError::SingleLabel { .. }));
        assert!(matches!(derr("localhost"), NameError::SingleLabel { .. }));
        assert!(matches!(derr("bücher"), NameError::SingleLabel { .. }));
    }

    #[test]
    fn domain_rejects_ip_literals() {
        for input in [
            "192.0.2.1",
            "192.0.2.1.",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "2001:db8::1",
            "::1",
        ] {
            assert!(
                matches!(derr(input), NameError::IpLiteral { .. }),
                "{input}"
            );
        }
        assert!(matches!(derr("1.2.3"), NameError::NumericTld { .. }));
        assert!(matches!(derr("example.123"), NameError::NumericTld { .. }));
        assert!(matches!(derr("192.0.2.01"), NameError::NumericTld { .. }));
    }

    #[test]
    fn domain_rejects_wildcards() {
        assert_eq!(
            derr("*.example.com"),
            NameError::Wildcard {
                input: "*.example.com".into()
            }
        );
        assert!(matches!(
            derr("a.*.example.com"),
            NameError::Wildcard { .. }
        ));
        assert!(matches!(derr("＊.example.com"), NameError::Wildcard { .. }));
    }

    #[test]
    fn domain_label_length() {
        let ok = format!("{}.example.com", "a".repeat(63));
        assert_eq!(d(&ok).as_str(), ok);
        let long = format!("{}.example.com", "a".repeat(64));
        assert_eq!(
            derr(&long),
            NameError::LabelTooLong {
                input: long.clone(),
                label: "a".repeat(64)
            }
        );
        // Length is measured on the A-label form.
        let idn = format!("{}ü.example", "a".repeat(60));
        assert!(matches!(derr(&idn), NameError::LabelTooLong { .. }));
    }

    #[test]
    fn domain_total_length() {
        // 63*3 + 61 + 3 dots = 253
        let ok = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(61));
        assert_eq!(ok.len(), 253);
        assert_eq!(d(&ok).as_str(), ok);
        assert_eq!(d(&format!("{ok}.")).as_str(), ok);
        let long = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(62));
        assert_eq!(long.len(), 254);
        assert_eq!(
            derr(&long),
            NameError::TooLong {
                input: long.clone(),
                len: 254
            }
        );
    }

    #[test]
    fn domain_hyphens() {
        for input in [
            "-a.example.com",
            "a-.example.com",
            "example.-com",
            "example.com-",
        ] {
            assert!(
                matches!(derr(input), NameError::HyphenAtLabelEdge { .. }),
                "{input}"
            );
        }
        assert_eq!(
            derr("-a.example.com"),
            NameError::HyphenAtLabelEdge {
                input: "-a.example.com".into(),
                label: "-a".into()
            }
        );
        assert!(matches!(
            derr("-.example.com"),
            NameError::HyphenAtLabelEdge { .. }
        ));
    }

    #[test]
    fn domain_labels_and_fqdn() {
        let n = d("Mail.Example.com");
        assert_eq!(n.labels().collect::<Vec<_>>(), ["mail", "example", "com"]);
        assert_eq!(n.fqdn(), "mail.example.com.");
        assert_eq!(n.to_string(), "mail.example.com");
        assert_eq!(n.as_ref(), "mail.example.com");
        assert_eq!("mail.example.com".parse::<DomainName>().unwrap(), n);
    }

    #[test]
    fn domain_parent_and_ancestors() {
        let n = d("a.b.example.com");
        assert_eq!(n.parent(), Some(d("b.example.com")));
        assert_eq!(d("b.example.com").parent(), Some(d("example.com")));
        assert_eq!(d("example.com").parent(), None);
        let all: Vec<_> = n.ancestors().map(|x| x.to_string()).collect();
        assert_eq!(all, ["a.b.example.com", "b.example.com", "example.com"]);
        let all: Vec<_> = d("example.com").ancestors().collect();
        assert_eq!(all, [d("example.com")]);
        let rec = d("example.com").prepend("sel._domainkey").unwrap();
        let all: Vec<_> = rec.ancestors().map(|x| x.to_string()).collect();
        assert_eq!(
            all,
            [
                "sel._domainkey.example.com",
                "_domainkey.example.com",
                "example.com"
            ]
        );
    }

    #[test]
    fn domain_is_subdomain_of() {
        let base = d("example.com");
        assert!(d("example.com").is_subdomain_of(&base));
        assert!(d("EXAMPLE.COM.").is_subdomain_of(&base));
        assert!(d("a.example.com").is_subdomain_of(&base));
        assert!(d("a.b.example.com").is_subdomain_of(&base));
        assert!(!d("badexample.com").is_subdomain_of(&base));
        assert!(!d("example.org").is_subdomain_of(&base));
        assert!(!base.is_subdomain_of(&d("a.example.com")));
    }

    #[test]
    fn domain_prepend() {
        let base = d("example.com");
        assert_eq!(
            base.prepend("_easydkim").unwrap().as_str(),
            "_easydkim.example.com"
        );
        assert_eq!(
            base.prepend("x._domainkey").unwrap().as_str(),
            "x._domainkey.example.com"
        );
        assert_eq!(
            base.prepend("Sel_1._DomainKey").unwrap().as_str(),
            "sel_1._domainkey.example.com"
        );
        assert_eq!(
            base.prepend("bücher").unwrap().as_str(),
            "xn--bcher-kva.example.com"
        );
        // Prepending to a name that already has underscores works.
        let dk = base.prepend("_domainkey").unwrap();
        assert_eq!(
            dk.prepend("s").unwrap().as_str(),
            "s._domainkey.example.com"
        );
        // But parse does not accept underscores.
        assert!(DomainName::parse("_easydkim.example.com").is_err());

        assert!(matches!(
            base.prepend(""),
            Err(NameError::EmptyLabel { .. })
        ));
        assert!(matches!(
            base.prepend("x."),
            Err(NameError::EmptyLabel { .. })
        ));
        assert!(matches!(
            base.prepend(".x"),
            Err(NameError::EmptyLabel { .. })
        ));
        assert!(matches!(base.prepend("*"), Err(NameError::Wildcard { .. })));
        assert!(matches!(
            base.prepend("a b"),
            Err(NameError::InvalidCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            base.prepend("-x"),
            Err(NameError::HyphenAtLabelEdge { .. })
        ));
        assert!(matches!(
            base.prepend(&"a".repeat(64)),
            Err(NameError::LabelTooLong { .. })
        ));
        let near = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(61));
        let near = d(&near);
        assert!(matches!(near.prepend("x"), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn domain_ordering_and_hash_are_canonical() {
        use std::collections::HashSet;
        let set: HashSet<_> = ["Example.com", "EXAMPLE.COM.", "example.com"]
            .iter()
            .map(|s| d(s))
            .collect();
        assert_eq!(set.len(), 1);
        assert!(d("a.example.com") < d("b.example.com"));
    }

    // ----- Error messages -----

    #[test]
    fn error_messages() {
        assert_eq!(
            derr("exa mple.com").to_string(),
            "domain name `exa mple.com` contains invalid character ' '"
        );
        assert_eq!(derr("").to_string(), "domain name is empty");
        assert_eq!(
            derr("com").to_string(),
            "domain name `com` has a single label; at least two are required"
        );
        assert_eq!(
            derr("a\nb.com").to_string(),
            "domain name `a\\nb.com` contains invalid character '\\n'"
        );
        assert_eq!(
            EmailAddress::parse("a..b@x.com").unwrap_err().to_string(),
            "email address `a..b@x.com` has an invalid local part: contains consecutive dots"
        );
        assert_eq!(
            Selector::parse("").unwrap_err().to_string(),
            "selector `` is invalid: is empty"
        );
        // Huge and non-ASCII inputs are shortened on character boundaries.
        let huge = "ü ".repeat(10_000);
        let msg = derr(&huge).to_string();
        assert!(msg.len() < 1_000);
        assert!(msg.contains('…'));
        for err in [
            derr(&huge),
            EmailAddress::parse(&huge).unwrap_err(),
            Selector::parse(&huge).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert_eq!(msg, msg.to_lowercase(), "messages are lowercase: {msg}");
        }
    }

    // ----- EmailAddress -----

    #[test]
    fn email_accepts() {
        let a = e("alice@Example.COM");
        assert_eq!(a.local_part(), "alice");
        assert_eq!(a.domain().as_str(), "example.com");
        assert_eq!(a.to_string(), "alice@example.com");
        for (input, local, domain) in [
            ("first.last@example.com", "first.last", "example.com"),
            ("a+b@example.com", "a+b", "example.com"),
            ("o'brien@example.com", "o'brien", "example.com"),
            (
                "!#$%&'*+-/=?^_`{|}~@example.com",
                "!#$%&'*+-/=?^_`{|}~",
                "example.com",
            ),
            ("\"john doe\"@example.com", "\"john doe\"", "example.com"),
            ("\"a@b\"@example.com", "\"a@b\"", "example.com"),
            ("\"a\\\"b\"@example.com", "\"a\\\"b\"", "example.com"),
            ("\"\"@example.com", "\"\"", "example.com"),
            ("jörg@bücher.example", "jörg", "xn--bcher-kva.example"),
            ("用户@例子.广告", "用户", "xn--fsqu00a.xn--4rr70v"),
            ("alice@example.com.", "alice", "example.com"),
        ] {
            let a = e(input);
            assert_eq!(a.local_part(), local, "{input}");
            assert_eq!(a.domain().as_str(), domain, "{input}");
        }
        let max = format!("{}@example.com", "a".repeat(64));
        assert_eq!(e(&max).local_part().len(), 64);
        assert_eq!(
            "bob@example.com".parse::<EmailAddress>().unwrap(),
            e("bob@EXAMPLE.com")
        );
    }

    #[test]
    fn email_rejects() {
        assert_eq!(
            EmailAddress::parse("alice.example.com"),
            Err(NameError::MissingAt {
                input: "alice.example.com".into()
            })
        );
        assert!(matches!(
            EmailAddress::parse("@example.com"),
            Err(NameError::EmptyLocalPart { .. })
        ));
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(matches!(
            EmailAddress::parse(&long),
            Err(NameError::LocalPartTooLong { len: 65, .. })
        ));
        for input in [
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a b@example.com",
            " a@example.com",
            "a\t@example.com",
            "a\n@example.com",
            "a\u{0}@example.com",
            "a\u{3000}b@example.com",
            "<alice@example.com>",
            "Alice <alice@example.com>",
            "a@b@example.com",
            "a(b)@example.com",
            "a,b@example.com",
            "a;b@example.com",
            "a:b@example.com",
            "a[b]@example.com",
            "a\\b@example.com",
            "a\"b@example.com",
            "\"unterminated@example.com",
            "\"a\"b@example.com",
            "\"a\\\"@example.com",
            "\"a\nb\"@example.com",
        ] {
            assert!(
                matches!(
                    EmailAddress::parse(input),
                    Err(NameError::InvalidLocalPart { .. })
                ),
                "{input:?}: {:?}",
                EmailAddress::parse(input)
            );
        }
        // Domain errors come from DomainName.
        assert!(matches!(
            EmailAddress::parse("alice@"),
            Err(NameError::Empty)
        ));
        assert!(matches!(
            EmailAddress::parse("alice@com"),
            Err(NameError::SingleLabel { .. })
        ));
        assert!(matches!(
            EmailAddress::parse("alice@[192.0.2.1]"),
            Err(NameError::IpLiteral { .. })
        ));
        assert!(matches!(
            EmailAddress::parse("alice@exa_mple.com"),
            Err(NameError::InvalidCharacter { ch: '_', .. })
        ));
        assert!(matches!(
            EmailAddress::parse("alice@example.com "),
            Err(NameError::InvalidCharacter { ch: ' ', .. })
        ));
    }

    #[test]
    fn email_case_handling() {
        assert_eq!(e("alice@EXAMPLE.com"), e("alice@example.com"));
        assert_ne!(e("Alice@EXAMPLE.com"), e("alice@example.com"));
        assert_eq!(e("Alice@EXAMPLE.com").to_string(), "Alice@example.com");
        assert_eq!(e("Alice@EXAMPLE.com").local_part(), "Alice");
    }

    #[test]
    fn email_new() {
        let dom = d("example.com");
        assert_eq!(
            EmailAddress::new("Bob", dom.clone()).unwrap(),
            e("Bob@example.com")
        );
        assert!(matches!(
            EmailAddress::new("", dom.clone()),
            Err(NameError::EmptyLocalPart { .. })
        ));
        assert_eq!(
            EmailAddress::new("a b", dom.clone()),
            Err(NameError::InvalidLocalPart {
                input: "a b@example.com".into(),
                reason: "contains whitespace"
            })
        );
        assert!(EmailAddress::new("a@b", dom).is_err());
    }

    #[test]
    fn email_without_tag() {
        assert_eq!(e("alice+news@x.com").without_tag(), Some(e("alice@x.com")));
        assert_eq!(e("Alice+a+b@X.com").without_tag(), Some(e("Alice@x.com")));
        assert_eq!(e("alice+@x.com").without_tag(), Some(e("alice@x.com")));
        assert_eq!(e("alice@x.com").without_tag(), None);
        assert_eq!(e("+news@x.com").without_tag(), None);
        assert_eq!(e("a.+news@x.com").without_tag(), None);
        // A quoted dot-atom is the unquoted address, +tag included; a local part that keeps
        // its quotes has no tag.
        assert_eq!(e("\"a+b\"@x.com").without_tag(), Some(e("a@x.com")));
        assert_eq!(e("\"a b+c\"@x.com").without_tag(), None);
    }

    // ----- Selector -----

    #[test]
    fn selector_accepts() {
        for input in [
            "s1",
            "Mail2024",
            "mail_2024",
            "_x",
            "a-b",
            "eu.mail",
            "2024.q1.example",
        ] {
            let s = Selector::parse(input).unwrap();
            assert_eq!(s.as_str(), input);
            assert_eq!(s.to_string(), input);
            assert_eq!(s.as_ref(), input);
            assert_eq!(input.parse::<Selector>().unwrap(), s);
        }
        assert!(Selector::parse(&"a".repeat(63)).is_ok());
        let ok = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(61));
        assert!(Selector::parse(&ok).is_ok());
        // Stored as given.
        assert_ne!(
            Selector::parse("Sel").unwrap(),
            Selector::parse("sel").unwrap()
        );
    }

    #[test]
    fn selector_rejects() {
        let long = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(62));
        for (input, reason) in [
            ("", "is empty"),
            (
                "a b",
                "contains a character other than ascii letters, digits, '-', '_' and '.'",
            ),
            (
                "a\n",
                "contains a character other than ascii letters, digits, '-', '_' and '.'",
            ),
            (
                "sél",
                "contains a character other than ascii letters, digits, '-', '_' and '.'",
            ),
            (
                "*",
                "contains a character other than ascii letters, digits, '-', '_' and '.'",
            ),
            (
                "a/b",
                "contains a character other than ascii letters, digits, '-', '_' and '.'",
            ),
            (".a", "contains an empty label"),
            ("a.", "contains an empty label"),
            ("a..b", "contains an empty label"),
            ("-a", "has a label starting or ending with a hyphen"),
            ("a-", "has a label starting or ending with a hyphen"),
            ("a.-b", "has a label starting or ending with a hyphen"),
            (&long, "is longer than 253 octets"),
        ] {
            assert_eq!(
                Selector::parse(input),
                Err(NameError::InvalidSelector {
                    input: input.into(),
                    reason
                }),
                "{input:?}"
            );
        }
        assert!(matches!(
            Selector::parse(&"a".repeat(64)),
            Err(NameError::InvalidSelector {
                reason: "has a label longer than 63 octets",
                ..
            })
        ));
    }

    #[test]
    fn selector_with_domain_builds_record_name() {
        let s = Selector::parse("Mail_2024").unwrap();
        let name = d("Example.COM")
            .prepend(&format!("{s}._domainkey"))
            .unwrap();
        assert_eq!(name.as_str(), "mail_2024._domainkey.example.com");
    }

    // ----- Properties -----

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_strings_never_panic(s in any::<String>()) {
                for r in [
                    DomainName::parse(&s).map(|d| d.to_string()),
                    EmailAddress::parse(&s).map(|e| e.to_string()),
                    Selector::parse(&s).map(|s| s.to_string()),
                ] {
                    if let Err(e) = r {
                        let _ = e.to_string();
                    }
                }
                if let Ok(d) = DomainName::parse("example.com") {
                    if let Ok(p) = d.prepend(&s) {
                        prop_assert!(p.is_subdomain_of(&d));
                    }
                }
            }

            #[test]
            fn parsed_domains_are_canonical(s in "[a-zA-Z0-9ü_.*-]{0,80}\\.?") {
                if let Ok(d) = DomainName::parse(&s) {
                    let t = d.as_str();
                    prop_assert!(t.is_ascii());
                    prop_assert_eq!(t.to_ascii_lowercase(), t);
                    prop_assert!(!t.ends_with('.'));
                    prop_assert!(t.len() <= 253);
                    prop_assert!(d.labels().count() >= 2);
                    prop_assert!(d.labels().all(|l| !l.is_empty() && l.len() <= 63));
                    prop_assert_eq!(DomainName::parse(t), Ok(d.clone()));
                    for a in d.ancestors() {
                        prop_assert!(d.is_subdomain_of(&a));
                        prop_assert!(a.labels().count() >= 2);
                    }
                }
            }

            #[test]
            fn parsed_emails_round_trip(s in "[a-zA-Z0-9.+\"@ _-]{0,40}@[a-zA-Z0-9.-]{0,30}") {
                if let Ok(e) = EmailAddress::parse(&s) {
                    prop_assert_eq!(EmailAddress::parse(&e.to_string()), Ok(e.clone()));
                }
            }
        }
    }
}
