//! The DKIM-Signature header field: rendering with folding.
//!
//! Folding (RFC 6376 3.5 allows FWS between tags, around the colons of `h=`, and inside the
//! base64 of `b=`/`bh=`) keeps every line within [`MAX_LINE`] characters. The signer hashes
//! exactly the text it emits, with the `b=` value empty, so folding never breaks a signature.

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
                let mut parts = h.split_inclusive(':');
                if let Some(first) = parts.next() {
                    self.word(first, true);
                }
                for p in parts {
                    self.word(p, false);
                }
            }
            Piece::Base64(t) => {
                // Keep the tag name with at least a few value characters on its line.
                let (name, value) = t.split_at(t.find('=').map_or(0, |i| i + 1));
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

    pub(crate) fn into_string(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let s = f.into_string();
        for line in s.split("\r\n") {
            assert!(line.len() <= MAX_LINE, "{line:?}");
        }
        let unfolded = s.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("b={}", "A".repeat(344))));
    }
}

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
    let parts: Vec<&str> = input.split(';').collect();
    let last = parts.len() - 1;
    for (n, part) in parts.into_iter().enumerate() {
        let start = offset;
        offset += part.len() + 1;
        if part.trim_matches(is_fws).is_empty() {
            // Only a trailing `;` may leave an empty tag-spec.
            if n == last {
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
    s.chars().filter(|&c| !is_fws(c)).collect()
}
