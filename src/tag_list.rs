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
    let mut tags: Vec<Tag<'_>> = Vec::new();
    let mut offset = 0;
    let mut parts = input.split(';').peekable();
    while let Some(part) = parts.next() {
        let start = offset;
        offset += part.len() + 1;
        if part.trim_matches(is_fws).is_empty() {
            // Only a trailing `;` may leave an empty tag-spec.
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
        // tag-value: VALCHAR (%x21-3A / %x3C-7E) with FWS between them.
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

fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
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
    out.extend(
        s.bytes()
            .filter(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
    );
    out
}
