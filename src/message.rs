//! Zero-copy splitting of a raw RFC 5322 message into header fields and body.
//!
//! The splitter never copies or rewrites the caller's bytes: every [`HeaderField`] borrows its
//! raw bytes (folding and line endings included) from the input, and the body is a sub-slice.
//! CRLF, bare LF and mixed line endings are accepted; a lone CR is ordinary data (RFC 6376
//! treats only CRLF as a line break, and we treat a bare LF as the CRLF it becomes on the wire).

use crate::error::MessageError;
use std::borrow::Cow;

/// Limits applied while splitting a message. Hostile input above a limit is refused with a
/// typed error instead of being processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest header block accepted, in bytes (default 1 MiB).
    pub max_header_bytes: usize,
    /// Largest number of header fields accepted (default 1,000).
    pub max_header_fields: usize,
}

impl Limits {
    /// The same limits with the largest header block accepted, in bytes.
    #[must_use]
    pub fn with_max_header_bytes(mut self, bytes: usize) -> Limits {
        self.max_header_bytes = bytes;
        self
    }

    /// The same limits with the largest number of header fields accepted.
    #[must_use]
    pub fn with_max_header_fields(mut self, fields: usize) -> Limits {
        self.max_header_fields = fields;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 1024 * 1024,
            max_header_fields: 1000,
        }
    }
}

/// The line ending a message uses, taken from its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// `\r\n`, as on the wire.
    CrLf,
    /// A bare `\n`, as in Unix mail spools and many application-built messages.
    Lf,
}

impl LineEnding {
    /// The bytes of this line ending.
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::CrLf => "\r\n",
            LineEnding::Lf => "\n",
        }
    }
}

/// A non-fatal finding about a message: it is still signed, but the caller may want to know.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// A line is longer than the 998 octets RFC 5322 2.1.1 allows; some relays rewrap such
    /// lines, which breaks the signature.
    LongLine {
        /// Where the first such line is.
        location: Location,
        /// Its length in octets, without the line ending.
        octets: usize,
    },
    /// A CR not followed by LF; it is signed as data, but relays may alter it.
    BareCr {
        /// Where the first one is.
        location: Location,
    },
    /// A header field contains 8-bit bytes (not 7-bit ASCII), which RFC 5322 does not allow
    /// outside SMTPUTF8; relays may re-encode it.
    EightBitHeader {
        /// Name of the first header field with 8-bit bytes.
        field: String,
    },
}

/// Where in a message a [`Warning`] was found.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Location {
    /// In the header field with this name.
    Header(String),
    /// In the body.
    Body,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::LongLine { location, octets } => {
                write!(f, "line of {octets} octets (over 998) in {location}")
            }
            Warning::BareCr { location } => write!(f, "bare CR in {location}"),
            Warning::EightBitHeader { field } => {
                write!(f, "8-bit bytes in header field `{field}`")
            }
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Header(name) => write!(f, "header field `{name}`"),
            Location::Body => f.write_str("body"),
        }
    }
}

/// One header field, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    name: &'a [u8],
    raw: &'a [u8],
    value_start: usize,
}

impl<'a> HeaderField<'a> {
    /// The field name as written (without trailing whitespace before the colon).
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The field name as text (header names are ASCII; anything else is replaced).
    pub fn name_str(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.name)
    }

    /// The whole field as written: name, colon, value and any folding, without the line
    /// ending that terminates the field.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The raw value: everything after the colon, folding kept.
    pub fn value(&self) -> &'a [u8] {
        &self.raw[self.value_start..]
    }

    /// True when this field's name equals `name`, ignoring ASCII case.
    #[inline]
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The address a message is from, taken from its single From header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromAddress {
    /// The local part, exactly as written.
    pub local: String,
    /// The domain part, as written (not yet normalised).
    pub domain: String,
}

impl FromAddress {
    /// `local@domain`.
    pub fn address(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

/// A message split into header fields and body, borrowing the caller's bytes.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    raw: &'a [u8],
    fields: Vec<HeaderField<'a>>,
    body_start: usize,
    line_ending: LineEnding,
    warnings: Vec<Warning>,
}

impl<'a> Message<'a> {
    /// Splits `raw` with the default [`Limits`].
    pub fn parse(raw: &'a [u8]) -> Result<Self, MessageError> {
        Self::parse_with_limits(raw, &Limits::default())
    }

    /// Splits `raw` into header fields and body.
    ///
    /// The header block ends at the first empty line; a message without one is all header
    /// and has no body. Errors are returned for a header line without a colon, a continuation
    /// line before the first field, and a header block over the limits. The From header is
    /// not checked here (see [`Message::from_address`]).
    pub fn parse_with_limits(raw: &'a [u8], limits: &Limits) -> Result<Self, MessageError> {
        let line_ending = detect_line_ending(raw);
        // Room for a usual header without growing.
        let mut fields: Vec<HeaderField<'a>> = Vec::with_capacity(16);
        let mut warnings = Vec::new();
        let mut pos = 0usize;
        let mut line_no = 0usize;
        // (start of current field, end of its last line without terminator, name end, value start)
        let mut current: Option<(usize, usize, usize, usize)> = None;
        let mut body_start = raw.len();
        let mut long_line_seen = false;
        let mut bare_cr_seen = false;
        let mut eight_bit_seen = false;

        loop {
            if pos >= raw.len() {
                break;
            }
            if pos > limits.max_header_bytes {
                return Err(MessageError::HeaderBlockTooLarge {
                    limit: limits.max_header_bytes,
                });
            }
            line_no += 1;
            // The line's end, its first colon and its bare CR or 8-bit bytes, in one pass.
            let scan = crate::lanes::scan_line(&raw[pos..]);
            let (content_end, next) = match scan.lf {
                Some(i) => {
                    let lf = pos + i;
                    let end = if lf > pos && raw[lf - 1] == b'\r' {
                        lf - 1
                    } else {
                        lf
                    };
                    (end, lf + 1)
                }
                None => (raw.len(), raw.len()),
            };
            let line = &raw[pos..content_end];
            if line.is_empty() {
                // The empty line that separates header and body.
                body_start = next;
                break;
            }
            if next > limits.max_header_bytes {
                return Err(MessageError::HeaderBlockTooLarge {
                    limit: limits.max_header_bytes,
                });
            }
            let is_continuation = line[0] == b' ' || line[0] == b'\t';
            let warn_name = || match current {
                Some((start, _, name_end, _)) if is_continuation => {
                    String::from_utf8_lossy(&raw[start..name_end]).into_owned()
                }
                _ => {
                    let end = memchr::memchr(b':', line).unwrap_or(line.len());
                    String::from_utf8_lossy(trim_wsp_end(&line[..end])).into_owned()
                }
            };
            if !long_line_seen && line.len() > 998 {
                long_line_seen = true;
                warnings.push(Warning::LongLine {
                    location: Location::Header(warn_name()),
                    octets: line.len(),
                });
            }
            // A CR inside the line is bare (the line ending is excluded), and any byte with
            // the high bit is 8-bit.
            let seen = scan.seen;
            if !bare_cr_seen && seen & 1 != 0 {
                bare_cr_seen = true;
                warnings.push(Warning::BareCr {
                    location: Location::Header(warn_name()),
                });
            }
            if !eight_bit_seen && seen & 0x80 != 0 {
                eight_bit_seen = true;
                warnings.push(Warning::EightBitHeader { field: warn_name() });
            }

            if is_continuation {
                // RFC 5322 2.2.3: a continuation line of the current field.
                match current.as_mut() {
                    Some(cur) => cur.1 = content_end,
                    None => return Err(MessageError::ContinuationWithoutField { line: line_no }),
                }
            } else {
                if let Some((start, end, name_end, value_start)) = current.take() {
                    push_field(&mut fields, raw, start, end, name_end, value_start, limits)?;
                }
                let colon = match scan.colon {
                    Some(c) => c,
                    None => {
                        return Err(MessageError::HeaderWithoutColon {
                            line: line_no,
                            text: excerpt(line),
                        })
                    }
                };
                let name = trim_wsp_end(&line[..colon]);
                if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
                    return Err(MessageError::InvalidFieldName {
                        line: line_no,
                        text: excerpt(line),
                    });
                }
                current = Some((pos, content_end, pos + name.len(), pos + colon + 1));
            }
            pos = next;
        }
        if let Some((start, end, name_end, value_start)) = current.take() {
            push_field(&mut fields, raw, start, end, name_end, value_start, limits)?;
        }
        Ok(Message {
            raw,
            fields,
            body_start,
            line_ending,
            warnings,
        })
    }

    /// The bytes this message was parsed from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The header fields, top to bottom.
    pub fn fields(&self) -> &[HeaderField<'a>] {
        &self.fields
    }

    /// The body (everything after the empty line); empty when the message has no body.
    pub fn body(&self) -> &'a [u8] {
        &self.raw[self.body_start..]
    }

    /// The line ending of the message's first line (CRLF when the message has none).
    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }

    /// Non-fatal findings in the header block (the signer adds the body's, found during its
    /// body pass; [`all_warnings`](Self::all_warnings) scans the body for them).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Findings in the header block and the body (one extra scan of the body).
    pub fn all_warnings(&self) -> Vec<Warning> {
        let mut w = self.warnings.clone();
        let (longest, bare_cr) = scan_body(self.body());
        add_body_warnings(&mut w, longest, bare_cr);
        w
    }

    /// Fields named `name` (ASCII case-insensitive), top to bottom.
    pub fn fields_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl DoubleEndedIterator<Item = &'s HeaderField<'a>> + 's {
        self.fields.iter().filter(move |f| f.is(name))
    }

    /// The address of the single From header, parsed with `mailparse`.
    ///
    /// Errors: no From header, more than one, a From that does not parse as an address
    /// list, or whose first mailbox has no domain.
    pub fn from_address(&self) -> Result<FromAddress, MessageError> {
        let (local, domain) = self.sender_parts()?;
        Ok(FromAddress {
            local: local.into_owned(),
            domain: domain.into_owned(),
        })
    }

    /// [`from_address`](Self::from_address) as `(local, domain)`, borrowed from the message
    /// when the From value is a plain `addr-spec` or `Display Name <addr-spec>` (nearly
    /// every message), so checking and routing the sender allocates nothing.
    pub(crate) fn sender_parts(&self) -> Result<(Cow<'a, str>, Cow<'a, str>), MessageError> {
        let mut froms = self.fields_named("from");
        let from = froms.next().ok_or(MessageError::NoFrom)?;
        let extra = froms.count();
        if extra > 0 {
            return Err(MessageError::MultipleFrom { count: extra + 1 });
        }
        if let Some((local, domain)) = plain_from_value(from.value()) {
            return Ok((Cow::Borrowed(local), Cow::Borrowed(domain)));
        }
        let addr = parse_from_value(from.value())?;
        Ok((Cow::Owned(addr.local), Cow::Owned(addr.domain)))
    }
}

/// The longest body line (octets, line ending excluded) and whether a CR not followed by
/// LF occurs.
pub(crate) fn scan_body(body: &[u8]) -> (usize, bool) {
    let mut longest = 0;
    let mut bare_cr = false;
    let mut start = 0;
    let mut check = |line: &[u8]| {
        longest = longest.max(line.len());
        bare_cr |= memchr::memchr(b'\r', line).is_some();
    };
    for lf in memchr::memchr_iter(b'\n', body) {
        let end = if lf > start && body[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        check(&body[start..end]);
        start = lf + 1;
    }
    check(&body[start..]);
    (longest, bare_cr)
}

/// Adds the body findings to header warnings (one warning per kind, the first found).
pub(crate) fn add_body_warnings(warnings: &mut Vec<Warning>, longest_line: usize, bare_cr: bool) {
    if longest_line > 998
        && !warnings
            .iter()
            .any(|w| matches!(w, Warning::LongLine { .. }))
    {
        warnings.push(Warning::LongLine {
            location: Location::Body,
            octets: longest_line,
        });
    }
    if bare_cr && !warnings.iter().any(|w| matches!(w, Warning::BareCr { .. })) {
        warnings.push(Warning::BareCr {
            location: Location::Body,
        });
    }
}

fn push_field<'a>(
    fields: &mut Vec<HeaderField<'a>>,
    raw: &'a [u8],
    start: usize,
    end: usize,
    name_end: usize,
    value_start: usize,
    limits: &Limits,
) -> Result<(), MessageError> {
    if fields.len() >= limits.max_header_fields {
        return Err(MessageError::TooManyHeaderFields {
            limit: limits.max_header_fields,
        });
    }
    fields.push(HeaderField {
        name: &raw[start..name_end],
        raw: &raw[start..end],
        value_start: value_start - start,
    });
    Ok(())
}

fn detect_line_ending(raw: &[u8]) -> LineEnding {
    match memchr::memchr(b'\n', raw) {
        Some(i) if i > 0 && raw[i - 1] == b'\r' => LineEnding::CrLf,
        Some(_) => LineEnding::Lf,
        None => LineEnding::CrLf,
    }
}

pub(crate) fn trim_wsp_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A short, printable excerpt of a line for an error message: control characters (a stray
/// CR, a NUL) escaped, so the message stays one printable line.
fn excerpt(line: &[u8]) -> String {
    let cut = &line[..line.len().min(60)];
    let mut s = String::with_capacity(cut.len());
    for c in String::from_utf8_lossy(cut).chars() {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    if line.len() > 60 {
        s.push('…');
    }
    s
}

/// RFC 5322 `atext`: one table lookup (a search of the specials per byte cost more than
/// the rest of the From check).
fn is_atext(b: u8) -> bool {
    ATEXT[usize::from(b)]
}

/// [`is_atext`] for every byte value.
static ATEXT: [bool; 256] = {
    let mut t = [false; 256];
    let specials = b"!#$%&'*+-/=?^_`{|}~";
    let mut i = 0;
    while i < specials.len() {
        t[specials[i] as usize] = true;
        i += 1;
    }
    let mut b = 0;
    while b < 256 {
        if (b as u8).is_ascii_alphanumeric() {
            t[b] = true;
        }
        b += 1;
    }
    t
};

/// The fast path of [`parse_from_value`]: `local@domain` or `Display Name <local@domain>`
/// on one line, where the display name is atext words and WSP, and the address dot-atom
/// text with exactly one `@`. Anything else (quotes, comments, groups, lists, folding,
/// 8-bit text) returns `None` and takes the full parser, which gives the same answer on
/// everything this accepts (tested against it).
fn plain_from_value(value: &[u8]) -> Option<(&str, &str)> {
    let is_wsp = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_wsp(b))?;
    let end = value.iter().rposition(|b| !is_wsp(b))? + 1;
    let v = &value[start..end];
    let addr = match v.strip_suffix(b">") {
        Some(rest) => {
            let lt = rest.iter().rposition(|&b| b == b'<')?;
            if !rest[..lt].iter().all(|&b| is_atext(b) || is_wsp(&b)) {
                return None;
            }
            &rest[lt + 1..]
        }
        None => v,
    };
    let at = addr.iter().position(|&b| b == b'@')?;
    let (local, domain) = (&addr[..at], &addr[at + 1..]);
    if !is_dot_atom(local, false) || !is_dot_atom(domain, false) {
        return None;
    }
    // ASCII only, so UTF-8, and `at` is a character boundary.
    let addr = std::str::from_utf8(addr).ok()?;
    Some((&addr[..at], &addr[at + 1..]))
}

/// RFC 5322 `dot-atom-text` (with `utf8`: also UTF-8 bytes, as in internationalized names).
fn is_dot_atom(s: &[u8], utf8: bool) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| is_atext(b) || b == b'.' || (utf8 && b >= 0x80))
        && s[0] != b'.'
        && s[s.len() - 1] != b'.'
        && !s.windows(2).any(|w| w == b"..")
}

/// A From value that is only an addr-spec with a quoted local part (`"john doe"@example.com`,
/// quoted-pairs allowed), which mailparse reads only inside angle brackets: the local part
/// verbatim (quotes included) and the domain.
fn quoted_addr_spec(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    loop {
        match *b.get(i)? {
            b'\\' => i += 2,
            b'"' => break,
            _ => i += 1,
        }
    }
    // `b[i]` is the closing quote (ASCII, so `i + 1` is a character boundary).
    let domain = v[i + 1..].strip_prefix('@')?;
    is_dot_atom(domain.as_bytes(), true).then_some((&v[..=i], domain))
}

fn parse_from_value(value: &[u8]) -> Result<FromAddress, MessageError> {
    // mailparse works on text; unfold and decode leniently (8-bit display names are common).
    let text = String::from_utf8_lossy(value);
    let unfolded: String = text.replace("\r\n", "").replace('\n', "");
    let trimmed = unfolded.trim();
    if trimmed.is_empty() {
        return Err(MessageError::FromUnparsable {
            value: String::new(),
            reason: "empty From header".into(),
        });
    }
    if !trimmed.contains('@') {
        return Err(MessageError::FromWithoutDomain {
            address: excerpt(trimmed.as_bytes()),
        });
    }
    if let Some((local, domain)) = quoted_addr_spec(trimmed) {
        return Ok(FromAddress {
            local: local.to_string(),
            domain: domain.to_string(),
        });
    }
    let list = mailparse::addrparse(trimmed).map_err(|e| MessageError::FromUnparsable {
        value: excerpt(trimmed.as_bytes()),
        reason: e.to_string(),
    })?;
    let first = list.iter().find_map(|a| match a {
        mailparse::MailAddr::Single(s) => Some(s.addr.clone()),
        mailparse::MailAddr::Group(g) => g.addrs.first().map(|s| s.addr.clone()),
    });
    let addr = first.ok_or_else(|| MessageError::FromUnparsable {
        value: excerpt(trimmed.as_bytes()),
        reason: "no mailbox in From".into(),
    })?;
    match addr.rsplit_once('@') {
        Some((local, domain)) if !domain.trim().is_empty() && !local.is_empty() => {
            Ok(FromAddress {
                local: local.to_string(),
                domain: domain.trim().to_string(),
            })
        }
        _ => Err(MessageError::FromWithoutDomain { address: addr }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the fast path accepts, the full parser reads the same way.
        #[test]
        fn plain_from_agrees_with_the_full_parser(
            v in "[ \t]{0,2}([A-Za-z+.!=<>@\"(),:; -]{0,12})?[<]?[a-z.+-]{0,6}@?[a-zA-Z.-]{0,10}[>]?[ \t]{0,2}",
        ) {
            if let Some((local, domain)) = plain_from_value(v.as_bytes()) {
                let full = parse_from_value(v.as_bytes()).expect("the full parser accepts it");
                proptest::prop_assert_eq!((local, domain), (full.local.as_str(), full.domain.as_str()), "{:?}", v);
            }
        }
    }

    /// The table is RFC 5322 `atext`: letters, digits and the listed specials, nothing else.
    #[test]
    fn atext_table_is_the_rfc_set() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
            assert_eq!(is_atext(b), want, "byte {b:#04x}");
        }
    }

    #[test]
    fn plain_from_cases() {
        let ok: &[(&str, (&str, &str))] = &[
            ("alice@example.com", ("alice", "example.com")),
            (
                "  Alice Example <alice+x@Example.COM> ",
                ("alice+x", "Example.COM"),
            ),
            ("<a.b@example.com>", ("a.b", "example.com")),
        ];
        for (v, want) in ok {
            assert_eq!(plain_from_value(v.as_bytes()), Some(*want), "{v}");
            let full = parse_from_value(v.as_bytes()).unwrap();
            assert_eq!((full.local.as_str(), full.domain.as_str()), *want, "{v}");
        }
        for v in [
            "\"Alice\" <alice@example.com>",
            "alice@example.com (Alice)",
            "A <a@example.com>, B <b@example.com>",
            "list: a@example.com;",
            "Alice\r\n <alice@example.com>",
            "Al.ice <alice@example.com>",
            "a..b@example.com",
            "alice",
        ] {
            assert_eq!(plain_from_value(v.as_bytes()), None, "{v}");
        }
    }

    #[test]
    fn splits_crlf_message() {
        let raw = b"From: a@example.com\r\nSubject: hi\r\n there\r\n\r\nbody\r\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(m.fields().len(), 2);
        assert_eq!(m.fields()[1].raw(), b"Subject: hi\r\n there");
        assert_eq!(m.fields()[1].value(), b" hi\r\n there");
        assert_eq!(m.body(), b"body\r\n");
        assert_eq!(m.line_ending(), LineEnding::CrLf);
    }

    #[test]
    fn splits_lf_and_mixed() {
        let raw = b"From: a@example.com\nTo: b@example.org\r\n\nbody\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(m.line_ending(), LineEnding::Lf);
        assert_eq!(m.fields()[1].raw(), b"To: b@example.org");
        assert_eq!(m.body(), b"body\n");
    }

    #[test]
    fn no_body() {
        let m = Message::parse(b"From: a@example.com").unwrap();
        assert_eq!(m.body(), b"");
        assert_eq!(m.fields().len(), 1);
        let m = Message::parse(b"From: a@example.com\r\n").unwrap();
        assert_eq!(m.body(), b"");
    }

    #[test]
    fn from_address() {
        let m = Message::parse(b"From: \"Joe\" <joe@Example.com>\r\n\r\n").unwrap();
        let f = m.from_address().unwrap();
        assert_eq!(f.local, "joe");
        assert_eq!(f.domain, "Example.com");
    }
}
