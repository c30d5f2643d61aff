//! The DKIM-Signature header field: parsing, and rendering with folding.
//!
//! Folding (RFC 6376 3.5 allows FWS between tags, around the colons of `h=`, and inside the
//! base64 of `b=`/`bh=`) keeps every line within [`MAX_LINE`] characters. The signer hashes
//! exactly the text it emits, with the `b=` value empty, so folding never breaks a signature.

use base64::Engine;

use crate::canon::{Canonicalization, Canonicalizer};
use crate::failure::FailureReason;
use crate::key::Algorithm;
use crate::message::HeaderField;
use crate::names::DomainName;
use crate::tag_list::{parse_tag_list, strip_fws, strip_fws_bytes};

/// Longest line the signer emits (RFC 5322 2.1.1 recommends 78).
pub const MAX_LINE: usize = 78;

/// The field name we emit.
pub const FIELD_NAME: &str = "DKIM-Signature";

/// One piece of a tag value for folding.
pub(crate) enum Piece<'a> {
    /// A whole `tag=value;` that may not be split; a space may be folded before it.
    Tag(&'a str),
    /// `h=a:b:c;`: may be folded after any colon.
    HeaderList(&'a str),
    /// `tag=base64;`: may be folded anywhere inside the value.
    Base64(&'a str),
}

/// Builds a folded header field line by line, with CRLF line breaks.
pub(crate) struct Folder {
    out: String,
    col: usize,
}

impl Folder {
    pub(crate) fn new(name: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str(name);
        out.push(':');
        Folder {
            col: out.len(),
            out,
        }
    }

    /// A folder that goes on from `head`, a start made by another folder (its text, then
    /// the column it ended at: [`head`](Self::head)).
    pub(crate) fn resume(head: &(String, usize)) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str(&head.0);
        Folder { out, col: head.1 }
    }

    /// What [`resume`](Self::resume) goes on from.
    pub(crate) fn head(self) -> (String, usize) {
        (self.out, self.col)
    }

    fn fold(&mut self) {
        self.out.push_str("\r\n ");
        self.col = 1;
    }

    /// Appends `s` unsplit, after a space (folding first if it would not fit).
    fn word(&mut self, s: &str, space: bool) {
        let need = s.len() + usize::from(space);
        if self.col + need > MAX_LINE && self.col > 1 {
            self.fold();
        } else if space {
            self.out.push(' ');
            self.col += 1;
        }
        self.out.push_str(s);
        self.col += s.len();
    }

    /// Appends `s`, splitting it anywhere to fill lines.
    pub(crate) fn split_anywhere(&mut self, mut s: &str) {
        while !s.is_empty() {
            if self.col >= MAX_LINE {
                self.fold();
            }
            let room = MAX_LINE - self.col;
            let take = room.min(s.len());
            // base64 and tag text are ASCII, so any index is a char boundary.
            self.out.push_str(&s[..take]);
            self.col += take;
            s = &s[take..];
        }
    }

    pub(crate) fn push(&mut self, piece: Piece<'_>) {
        match piece {
            Piece::Tag(t) => self.word(t, true),
            Piece::HeaderList(h) => {
                // Folded after a colon: as many names on a line as fit, then a new line.
                // (A byte search: `str::find` of a char costs a compare call per hit.)
                let first = memchr::memchr(b':', h.as_bytes()).map_or(h.len(), |i| i + 1);
                self.word(&h[..first], true);
                let mut rest = &h[first..];
                while !rest.is_empty() {
                    let room = MAX_LINE.saturating_sub(self.col);
                    let take = if rest.len() <= room {
                        rest.len()
                    } else if let Some(i) = memchr::memrchr(b':', &rest.as_bytes()[..room]) {
                        // The names up to this colon fit; the next one does not.
                        i + 1
                    } else {
                        // The next name does not fit: it starts a line (or fills one alone).
                        if self.col > 1 {
                            self.fold();
                        }
                        memchr::memchr(b':', rest.as_bytes()).map_or(rest.len(), |i| i + 1)
                    };
                    self.out.push_str(&rest[..take]);
                    self.col += take;
                    rest = &rest[take..];
                }
            }
            Piece::Base64(t) => {
                // Keep the tag name with at least a few value characters on its line.
                let eq = memchr::memchr(b'=', t.as_bytes());
                let (name, value) = t.split_at(eq.map_or(0, |i| i + 1));
                let head = name.len() + value.len().min(8);
                if self.col + 1 + head > MAX_LINE {
                    self.fold();
                } else {
                    self.out.push(' ');
                    self.col += 1;
                }
                self.out.push_str(name);
                self.col += name.len();
                self.split_anywhere(value);
            }
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.out
    }

    /// Appends the field's canonical form without a final CRLF, as the signer hashes it
    /// (RFC 6376 3.7). The field is built here, so its form is known without scanning it:
    /// for simple canonicalization the bytes as they are (every line break is a CRLF); for
    /// relaxed (3.4.2) the name lowercased, the WSP after the colon dropped, and each
    /// fold's CRLF removed (the SP after it stays, as the one SP the run becomes), since
    /// values never hold a tab, two spaces in a row or a trailing space.
    pub(crate) fn append_canonical(&self, c: Canonicalization, out: &mut Vec<u8>) {
        self.append_canonical_from(c, 0, out);
    }

    /// [`append_canonical`](Self::append_canonical) of the text from byte `from` on: 0, or
    /// the end of the text when an earlier call appended the canonical form of the field
    /// as it was then (which ends with a tag's `;`, so what follows it is a SP or a fold
    /// either way). The two calls append the canonical form of the whole field.
    pub(crate) fn append_canonical_from(
        &self,
        c: Canonicalization,
        from: usize,
        out: &mut Vec<u8>,
    ) {
        let field = self.out.as_bytes();
        if c == Canonicalization::Simple {
            out.extend_from_slice(&field[from..]);
            return;
        }
        let mut value = if from > 0 {
            debug_assert!(field[..from].ends_with(b";"), "not the end of a tag");
            &field[from..]
        } else {
            let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
            out.extend(field[..colon].iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            // The value starts after the colon with a SP, or with a fold if the first tag
            // was too long for the first line; either way that WSP is dropped.
            let value = field.get(colon + 1..).unwrap_or_default();
            let value = value.strip_prefix(b"\r\n").unwrap_or(value);
            value.strip_prefix(b" ").unwrap_or(value)
        };
        while let Some(cr) = memchr::memchr(b'\r', value) {
            out.extend_from_slice(&value[..cr]);
            value = &value[cr + 2..];
        }
        out.extend_from_slice(value);
    }

    /// The field's text, taken out (the folder is left empty).
    pub(crate) fn take_string(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// A parsed DKIM-Signature (the tags the verifier uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParsedSignature {
    /// `a=`.
    pub(crate) algorithm: Algorithm,
    /// `b=`, decoded.
    pub(crate) signature: Vec<u8>,
    /// `bh=`, decoded.
    pub(crate) body_hash: Vec<u8>,
    /// `c=`.
    pub(crate) canonicalization: Canonicalizer,
    /// `d=`.
    pub(crate) domain: DomainName,
    /// `h=` without FWS: the names, colon-separated, none empty ([`headers`](Self::headers)).
    pub(crate) header_list: String,
    /// `i=` (default `@d`).
    pub(crate) identity: String,
    /// `l=`.
    pub(crate) body_length: Option<u64>,
    /// `s=`.
    pub(crate) selector: String,
    /// `t=`.
    pub(crate) timestamp: Option<u64>,
    /// `x=`.
    pub(crate) expiration: Option<u64>,
    /// The header with the `b=` value removed, as hashed (no final line ending).
    pub(crate) unsigned_header: Vec<u8>,
}

impl ParsedSignature {
    /// The names listed in `h=`, in order.
    pub(crate) fn headers(&self) -> std::str::Split<'_, char> {
        self.header_list.split(':')
    }
}

/// Partial information kept when a signature fails to parse, for the result.
#[derive(Default)]
pub(crate) struct Partial {
    pub(crate) domain: Option<String>,
    pub(crate) selector: Option<String>,
    pub(crate) algorithm: Option<Algorithm>,
    pub(crate) identity: Option<String>,
    pub(crate) header_b: Option<String>,
}

fn b64_decode(tag: &'static str, v: &str) -> Result<Vec<u8>, FailureReason> {
    base64::engine::general_purpose::STANDARD
        .decode(strip_fws_bytes(v))
        .map_err(|e| FailureReason::InvalidTag {
            tag,
            detail: format!("bad base64: {e}"),
        })
}

fn parse_u64(tag: &'static str, v: &str) -> Result<u64, FailureReason> {
    // RFC 6376 3.5: at most 76 digits for l=, 12 for t=/x=; we accept what fits in u64.
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FailureReason::InvalidTag {
            tag,
            detail: format!("`{v}` is not a number"),
        });
    }
    v.parse().map_err(|_| FailureReason::InvalidTag {
        tag,
        detail: format!("`{v}` is too large"),
    })
}

/// `t=` or `x=`: a number of seconds; one too large for 64 bits is the far future (RFC 6376
/// 3.5 lets verifiers treat values over 12 digits as infinite), not an error.
fn parse_time(tag: &'static str, v: &str) -> Result<u64, FailureReason> {
    match parse_u64(tag, v) {
        // Only all-digit values that overflowed; an empty or non-numeric one stays an error.
        Err(FailureReason::InvalidTag { .. })
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(u64::MAX)
        }
        r => r,
    }
}

/// Parses one DKIM-Signature field; `partial` is filled with what could be read even when
/// parsing fails.
pub(crate) fn parse_signature(
    field: &HeaderField<'_>,
    partial: &mut Partial,
) -> Result<ParsedSignature, FailureReason> {
    let raw = field.raw();
    let value_offset = raw.len() - field.value().len();
    let value = std::str::from_utf8(field.value()).map_err(|_| FailureReason::InvalidTag {
        tag: "b",
        detail: "signature header is not ASCII".into(),
    })?;
    let tags = parse_tag_list(value).map_err(|e| {
        // Still name the signer in the result where the tags can be made out.
        for piece in value.split(';') {
            if let Some((name, v)) = piece.split_once('=') {
                match strip_fws(name).as_str() {
                    "d" => partial.domain = Some(strip_fws(v)),
                    "s" => partial.selector = Some(strip_fws(v)),
                    _ => {}
                }
            }
        }
        FailureReason::Syntax(e)
    })?;
    let get = |n: &str| tags.iter().find(|t| t.name == n);
    partial.domain = get("d").map(|t| t.value.to_string());
    partial.selector = get("s").map(|t| strip_fws(t.value));
    partial.header_b = get("b").map(|t| {
        t.value
            .chars()
            .filter(|&c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
            .take(8)
            .collect()
    });
    partial.identity = get("i").map(|t| t.value.to_string());

    let require = |n: &'static str| get(n).ok_or(FailureReason::MissingTag(n));
    let v = require("v")?;
    if v.value != "1" {
        return Err(FailureReason::UnsupportedVersion(v.value.to_string()));
    }
    let a = require("a")?;
    let algorithm = Algorithm::parse(a.value)
        .ok_or_else(|| FailureReason::UnsupportedAlgorithm(a.value.to_string()))?;
    partial.algorithm = Some(algorithm);
    let b = require("b")?;
    let signature = b64_decode("b", b.value)?;
    let body_hash = b64_decode("bh", require("bh")?.value)?;
    let d = require("d")?.value;
    let domain = DomainName::parse(d).map_err(|e| FailureReason::InvalidTag {
        tag: "d",
        detail: e.to_string(),
    })?;
    let header_list = strip_fws(require("h")?.value);
    if header_list.is_empty()
        || header_list.starts_with(':')
        || header_list.ends_with(':')
        || header_list.contains("::")
    {
        return Err(FailureReason::InvalidTag {
            tag: "h",
            detail: "empty header name".into(),
        });
    }
    // Stripped of FWS above, for the partial result.
    let selector = partial
        .selector
        .clone()
        .ok_or(FailureReason::MissingTag("s"))?;
    if selector.is_empty() {
        return Err(FailureReason::InvalidTag {
            tag: "s",
            detail: "empty selector".into(),
        });
    }
    let canonicalization = match get("c") {
        Some(c) => c.value.parse().map_err(|_| FailureReason::InvalidTag {
            tag: "c",
            detail: c.value.to_string(),
        })?,
        None => Canonicalizer::new(Canonicalization::Simple, Canonicalization::Simple),
    };
    if let Some(q) = get("q") {
        if !strip_fws(q.value)
            .split(':')
            .any(|m| m.eq_ignore_ascii_case("dns/txt"))
        {
            return Err(FailureReason::InvalidTag {
                tag: "q",
                detail: format!("no dns/txt in `{}`", q.value),
            });
        }
    }
    let identity = match get("i") {
        Some(i) => i.value.to_string(),
        None => ["@", domain.as_str()].concat(),
    };
    let body_length = get("l").map(|l| parse_u64("l", l.value)).transpose()?;
    let timestamp = get("t").map(|t| parse_time("t", t.value)).transpose()?;
    let expiration = get("x").map(|x| parse_time("x", x.value)).transpose()?;

    // RFC 6376 3.7: the header as hashed has the b= value (and surrounding WSP) removed.
    let span = &b.value_span;
    let mut unsigned_header = Vec::with_capacity(raw.len());
    unsigned_header.extend_from_slice(&raw[..value_offset + span.start]);
    unsigned_header.extend_from_slice(&raw[value_offset + span.end..]);

    Ok(ParsedSignature {
        algorithm,
        signature,
        body_hash,
        canonicalization,
        domain,
        header_list,
        identity,
        body_length,
        selector,
        timestamp,
        expiration,
        unsigned_header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header list folded name by name, as before the greedy search: the reference
    /// [`Folder::push`] must give the same lines as.
    fn header_list_name_by_name(f: &mut Folder, h: &str) {
        let mut parts = h.split_inclusive(':');
        if let Some(first) = parts.next() {
            f.word(first, true);
        }
        for p in parts {
            f.word(p, false);
        }
    }

    /// A field built from arbitrary pieces: tags of 1-90 characters, an `h=` list of
    /// names of 1-80 characters, base64 values of 0-700 characters.
    fn pieces() -> impl proptest::strategy::Strategy<Value = Vec<(u8, String)>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            "[a-z]=[!-:<-~]{0,88};".prop_map(|t| (0u8, t)),
            proptest::collection::vec("[a-z][a-z0-9-]{0,79}", 1..12)
                .prop_map(|n| (1u8, format!("h={};", n.join(":")))),
            "[A-Za-z0-9+/]{0,700}".prop_map(|v| (2u8, format!("b={v};"))),
        ];
        proptest::collection::vec(piece, 0..10)
    }

    /// `h=` needs at least one name and no empty one (RFC 6376 3.5); FWS around the colons
    /// is allowed.
    #[test]
    fn header_list_with_an_empty_name_is_refused() {
        for (h, ok) in [
            ("from", true),
            ("from:to", true),
            ("from :\r\n to", true),
            ("", false),
            (":from", false),
            ("from:", false),
            ("from::to", false),
            ("from: :to", false),
        ] {
            let raw = format!(
                "DKIM-Signature: v=1; a=ed25519-sha256; d=example.com; s=sel; h={h};\r\n \
                 bh=AAAA; b=AAAA\r\nFrom: a@example.com\r\n\r\n"
            );
            let msg = crate::message::Message::parse(raw.as_bytes()).unwrap();
            let r = parse_signature(&msg.fields()[0], &mut Partial::default());
            match r {
                Ok(sig) => assert!(ok, "{h:?} accepted as {:?}", sig.header_list),
                Err(e) => assert!(
                    !ok && matches!(e, FailureReason::InvalidTag { tag: "h", .. }),
                    "{h:?}: {e:?}"
                ),
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn header_lists_fold_as_name_by_name(pieces in pieces()) {
            let (mut a, mut b) = (Folder::new(FIELD_NAME), Folder::new(FIELD_NAME));
            for (kind, text) in &pieces {
                match kind {
                    0 => {
                        a.push(Piece::Tag(text));
                        b.push(Piece::Tag(text));
                    }
                    1 => {
                        a.push(Piece::HeaderList(text));
                        header_list_name_by_name(&mut b, text);
                    }
                    _ => {
                        a.push(Piece::Base64(text));
                        b.push(Piece::Base64(text));
                    }
                }
            }
            proptest::prop_assert_eq!(a.as_str(), b.as_str());
        }

        #[test]
        fn canonical_forms_are_the_canonicalization(pieces in pieces()) {
            let both = [Canonicalization::Simple, Canonicalization::Relaxed];
            let mut f = Folder::new(FIELD_NAME);
            // After each piece: the text's length, and its canonical forms then.
            let mut starts = Vec::new();
            for (kind, text) in &pieces {
                f.push(match kind {
                    0 => Piece::Tag(text),
                    1 => Piece::HeaderList(text),
                    _ => Piece::Base64(text),
                });
                let forms = both.map(|c| {
                    let mut form = Vec::new();
                    f.append_canonical(c, &mut form);
                    form
                });
                starts.push((f.as_str().len(), forms));
            }
            for (k, c) in both.into_iter().enumerate() {
                let mut ours = Vec::new();
                f.append_canonical(c, &mut ours);
                let mut reference = Vec::new();
                crate::canon::canonicalize_header(c, f.as_str().as_bytes(), &mut reference);
                reference.truncate(reference.len() - 2);
                proptest::prop_assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&reference)
                );
                // The form of the text so far, then of the rest, as the signer appends
                // them when the field's end waits for the body.
                for (len, forms) in &starts {
                    let mut split = forms[k].clone();
                    f.append_canonical_from(c, *len, &mut split);
                    proptest::prop_assert_eq!(
                        String::from_utf8_lossy(&split),
                        String::from_utf8_lossy(&reference),
                        "split at {}", len
                    );
                }
            }
        }
    }

    #[test]
    fn lines_stay_within_limit() {
        let mut f = Folder::new(FIELD_NAME);
        f.push(Piece::Tag("v=1;"));
        f.push(Piece::Tag("a=rsa-sha256;"));
        f.push(Piece::Tag("d=a-rather-long-domain-name.example.com;"));
        f.push(Piece::Tag("s=selector2026;"));
        f.push(Piece::HeaderList(
            "h=from:to:cc:subject:date:message-id:mime-version:content-type:from:to:cc:subject:date;",
        ));
        f.push(Piece::Base64(
            "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
        ));
        f.push(Piece::Base64(&format!("b={}", "A".repeat(344))));
        let s = f.take_string();
        for line in s.split("\r\n") {
            assert!(line.len() <= MAX_LINE, "{line:?}");
        }
        let unfolded = s.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("b={}", "A".repeat(344))));
    }
}
