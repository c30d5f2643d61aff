//! The tag-list of DKIM-Signature fields and key records (RFC 6376 3.2).

/// A tag-list (RFC 6376 3.2) that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagListError {
    /// The same tag appears twice.
    #[error("duplicate tag `{0}`")]
    DuplicateTag(String),
    /// A tag-spec has no `=`, or its name is not `ALPHA *(ALPHA / DIGIT / "_")`.
    #[error("malformed tag-spec `{0}`")]
    Malformed(String),
    /// A tag value contains a character outside the allowed set.
    #[error("invalid character in the value of tag `{0}`")]
    InvalidValue(String),
}

/// One `name=value` of a tag-list, with its byte span in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    /// The tag name (case-sensitive per RFC 6376 3.2).
    pub name: &'a str,
    /// The value with leading and trailing whitespace removed (inner FWS kept).
    pub value: &'a str,
    /// Byte range of everything after the `=` up to the `;` or end (whitespace included).
    pub value_span: std::ops::Range<usize>,
}

/// Parses a tag-list strictly: duplicate tags and malformed tag-specs are errors; unknown
/// tags are kept (the caller ignores them, but they stay in the hashed header).
pub fn parse_tag_list(input: &str) -> Result<Vec<Tag<'_>>, TagListError> {
    let bytes = input.as_bytes();
    // A signature has about a dozen tags: room for them without growing.
    let mut tags: Vec<Tag<'_>> = Vec::with_capacity(16);
    let mut start = 0;
    loop {
        let end = memchr::memchr(b';', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let last = end == bytes.len();
        // `;` and `=` are ASCII, so these are char boundaries.
        let part = &input[start..end];
        let trimmed = || part.trim_matches(is_fws).to_string();
        if part.bytes().all(is_fws_byte) {
            // Only a trailing `;` may leave an empty tag-spec.
            if last {
                break;
            }
            return Err(TagListError::Malformed(part.to_string()));
        }
        let eq = memchr::memchr(b'=', part.as_bytes())
            .ok_or_else(|| TagListError::Malformed(trimmed()))?;
        let name = part[..eq].trim_matches(is_fws);
        let valid_name = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_name {
            return Err(TagListError::Malformed(trimmed()));
        }
        let raw_value = &part[eq + 1..];
        let value = raw_value.trim_matches(is_fws);
        // tag-value: VALCHAR (%x21-3A / %x3C-7E) with FWS between them (`;` cannot be in
        // a part).
        if !is_tag_value(value.as_bytes()) {
            return Err(TagListError::InvalidValue(name.to_string()));
        }
        if tags.iter().any(|t| t.name == name) {
            return Err(TagListError::DuplicateTag(name.to_string()));
        }
        let vstart = start + eq + 1;
        tags.push(Tag {
            name,
            value,
            value_span: vstart..vstart + raw_value.len(),
        });
        if last {
            break;
        }
        start = end + 1;
    }
    Ok(tags)
}

/// Whether every byte is a printable non-space ASCII character or FWS (in vector lanes:
/// values such as `b=` run to hundreds of bytes).
fn is_tag_value(v: &[u8]) -> bool {
    crate::lanes::or_lanes(v, |b| {
        u8::from((b.wrapping_sub(0x21) >= 0x5e) & !is_fws_byte(b))
    }) == 0
}

fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// [`is_fws`] for a byte, in equality tests only (which vectorise).
fn is_fws_byte(b: u8) -> bool {
    (b == b' ') | (b == b'\t') | (b == b'\r') | (b == b'\n')
}

/// Removes all folding whitespace (for base64 values and colon lists).
pub(crate) fn strip_fws(s: &str) -> String {
    // FWS is ASCII, so removing its bytes keeps the text valid UTF-8; most values have none.
    let bytes = strip_fws_bytes(s);
    String::from_utf8(bytes).unwrap_or_else(|_| s.chars().filter(|&c| !is_fws(c)).collect())
}

/// [`strip_fws`] as bytes (for base64 values, which are decoded as bytes).
pub(crate) fn strip_fws_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    // Sixteen bytes at a time: most pieces of a folded base64 value have no FWS and are
    // copied whole.
    let mut chunks = s.as_bytes().chunks_exact(16);
    for chunk in &mut chunks {
        if crate::lanes::or_lanes(chunk, |b| u8::from(is_fws_byte(b))) != 0 {
            out.extend(chunk.iter().filter(|&&b| !is_fws_byte(b)));
        } else {
            out.extend_from_slice(chunk);
        }
    }
    out.extend(chunks.remainder().iter().filter(|&&b| !is_fws_byte(b)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tag-list parser as first written (split on `;`, char-wise checks): the
    /// reference the byte-wise parser must agree with, errors included.
    fn reference(input: &str) -> Result<Vec<Tag<'_>>, TagListError> {
        let mut tags: Vec<Tag<'_>> = Vec::new();
        let mut offset = 0;
        let mut parts = input.split(';').peekable();
        while let Some(part) = parts.next() {
            let start = offset;
            offset += part.len() + 1;
            if part.trim_matches(is_fws).is_empty() {
                if parts.peek().is_none() {
                    break;
                }
                return Err(TagListError::Malformed(part.to_string()));
            }
            let eq = part
                .find('=')
                .ok_or_else(|| TagListError::Malformed(part.trim_matches(is_fws).to_string()))?;
            let name = part[..eq].trim_matches(is_fws);
            let valid_name = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_name {
                return Err(TagListError::Malformed(
                    part.trim_matches(is_fws).to_string(),
                ));
            }
            let raw_value = &part[eq + 1..];
            let value = raw_value.trim_matches(is_fws);
            if !value
                .bytes()
                .all(|b| matches!(b, 0x21..=0x3a | 0x3c..=0x7e) || is_fws(b as char))
            {
                return Err(TagListError::InvalidValue(name.to_string()));
            }
            if tags.iter().any(|t| t.name == name) {
                return Err(TagListError::DuplicateTag(name.to_string()));
            }
            let vstart = start + eq + 1;
            tags.push(Tag {
                name,
                value,
                value_span: vstart..vstart + raw_value.len(),
            });
        }
        Ok(tags)
    }

    proptest::proptest! {
        /// Tag-list-shaped text (names, `=`, `;`, FWS, base64, controls, 8-bit and
        /// non-ASCII characters), long enough to use the 16-byte lanes.
        #[test]
        fn parser_agrees_with_the_reference(
            input in "([abhvx_1 \t\r\n=;:+/A-Z\\x00\\x7f\\x80é]{0,40}){0,6}"
        ) {
            proptest::prop_assert_eq!(parse_tag_list(&input), reference(&input));
        }

        /// Mostly well-formed lists: tag-specs with FWS around names and values, values
        /// of up to 60 characters with now and then a byte that is not allowed.
        #[test]
        fn tag_specs_agree_with_the_reference(
            specs in proptest::collection::vec(
                ("[ \t]{0,2}", "[a-d][a-d0-9_]{0,2}|[0-9_]a|", "[ \r\n]{0,2}",
                 "[A-Za-z0-9+/:=.@ ]{0,30}(\r\n[ \t])?[A-Za-z0-9+/]{0,28}[\\x7f\\x00é~!]?"),
                0..8,
            ),
            trailing in "(;[ \t]*)?",
        ) {
            let input = specs
                .iter()
                .map(|(a, n, b, v)| format!("{a}{n}{b}={v}"))
                .collect::<Vec<_>>()
                .join(";")
                + &trailing;
            proptest::prop_assert_eq!(parse_tag_list(&input), reference(&input));
        }

        #[test]
        fn fws_is_stripped_as_by_a_filter(input in "[a-zA-Z0-9+/= \t\r\n]{0,100}") {
            let expected: Vec<u8> =
                input.bytes().filter(|&b| !is_fws(b as char)).collect();
            proptest::prop_assert_eq!(strip_fws_bytes(&input), expected);
        }
    }

    #[test]
    fn a_signature_parses_and_errors_keep_their_kind() {
        let tags = parse_tag_list("v=1; a=ed25519-sha256; b=abc\r\n def;").unwrap();
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[2].name, "b");
        assert_eq!(tags[2].value, "abc\r\n def");
        assert_eq!(tags[2].value_span, 25..34);
        assert_eq!(
            parse_tag_list("v=1; v=2"),
            Err(TagListError::DuplicateTag("v".into()))
        );
        assert_eq!(
            parse_tag_list("v=1;; a=2"),
            Err(TagListError::Malformed(String::new()))
        );
        assert_eq!(
            parse_tag_list("v=1; b=a\u{7f}b"),
            Err(TagListError::InvalidValue("b".into()))
        );
    }
}
