//! An independent model of RFC 6376 body canonicalization, shared by the property tests
//! here and the mail-auth cross-checks (`benches/tests/mail_auth.rs` includes this file).

use easydkim::Canonicalization;

/// A straightforward model of RFC 6376 3.4.3/3.4.4 with easydkim's line-ending rule (CRLF
/// and bare LF end a line; a lone CR is data), written independently of the crate.
pub(crate) fn rfc_canonical_body(c: Canonicalization, body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\n' {
            lines.push(std::mem::take(&mut cur));
        } else if body[i] == b'\r' && body.get(i + 1) == Some(&b'\n') {
            lines.push(std::mem::take(&mut cur));
            i += 1;
        } else {
            cur.push(body[i]);
        }
        i += 1;
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if c == Canonicalization::Relaxed {
        for line in &mut lines {
            let mut out = Vec::new();
            for &b in line.iter() {
                let wsp = b == b' ' || b == b'\t';
                if wsp {
                    if out.last() != Some(&b' ') {
                        out.push(b' ');
                    }
                } else {
                    out.push(b);
                }
            }
            while out.last() == Some(&b' ') {
                out.pop();
            }
            *line = out;
        }
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = Vec::new();
    for line in &lines {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if c == Canonicalization::Simple && out.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out
}
