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
