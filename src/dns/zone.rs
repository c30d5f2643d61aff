//! Reading zone-file text into [`StaticDns`](super::StaticDns): the lines
//! [`DnsRecord::to_zone`](crate::DnsRecord::to_zone) prints, standard master-file syntax
//! (RFC 1035 5.1) for TXT and CNAME, and the `NAME<TAB>TXT-VALUE` lines of the test vectors.

/// A zone-file line that could not be read, with its line number (from 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("zone line {line}: {problem}")]
pub struct ZoneError {
    /// The line number (from 1) where the entry starts.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// One record read from zone text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ZoneRecord {
    /// A TXT record: owner, character-strings concatenated.
    Txt(String, String),
    /// A CNAME record: owner, target.
    Cname(String, String),
}

/// A lexical token of an entry: a word, or a quoted character-string (unescaped).
#[derive(Debug)]
enum Token {
    Word(String),
    Quoted(String),
}

/// Parses zone text. Entries of other types (SOA, NS, A, MX ...) are read and skipped;
/// `$ORIGIN` and `$TTL` are honoured (`$INCLUDE` is refused: the text is all there is).
pub(crate) fn parse(text: &str) -> Result<Vec<ZoneRecord>, ZoneError> {
    let mut out = Vec::new();
    let mut origin: Option<String> = None;
    let mut last_owner: Option<String> = None;
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let line = lines[i].trim_end_matches('\r');
        i += 1;
        if line.trim().is_empty() || line.trim_start().starts_with(';') || line.starts_with('#') {
            continue;
        }
        let err = |problem: String| ZoneError {
            line: start,
            problem,
        };
        // NAME<TAB>VALUE, the test vectors' form: a tab after the name, and no record type
        // after the tab (the value is taken as it is, quotes and semicolons included).
        if !line.starts_with([' ', '\t']) {
            if let Some((name, value)) = line.split_once('\t') {
                let words: Vec<Token> = value
                    .split_whitespace()
                    .take(3)
                    .map(|w| Token::Word(w.to_string()))
                    .collect();
                if !name.trim().is_empty()
                    && !name.starts_with('$')
                    && type_position(&words).is_none()
                {
                    out.push(ZoneRecord::Txt(
                        name.trim().to_string(),
                        value.trim_start_matches('\t').to_string(),
                    ));
                    continue;
                }
            }
        }
        // An entry may continue over lines inside parentheses.
        let mut entry = line.to_string();
        let mut tokens = tokenize(&entry).map_err(err)?;
        while tokens.1 > 0 {
            if i >= lines.len() {
                return Err(err("unclosed parenthesis".into()));
            }
            entry.push('\n');
            entry.push_str(lines[i].trim_end_matches('\r'));
            i += 1;
            tokens = tokenize(&entry).map_err(err)?;
        }
        let (tokens, _, owner_blank) = tokens;
        if tokens.is_empty() {
            continue;
        }
        if let Some(Token::Word(w)) = tokens.first() {
            if w.starts_with('$') {
                match w.to_ascii_uppercase().as_str() {
                    "$ORIGIN" => match tokens.get(1) {
                        Some(Token::Word(o)) => {
                            origin = Some(absolute(o, origin.as_deref()).map_err(err)?)
                        }
                        _ => return Err(err("$ORIGIN needs a domain name".into())),
                    },
                    "$TTL" => {}
                    other => return Err(err(format!("unsupported directive {other}"))),
                }
                continue;
            }
        }
        let (owner, rest) = if owner_blank {
            let owner = last_owner
                .clone()
                .ok_or_else(|| err("the first entry has no owner name".into()))?;
            (owner, &tokens[..])
        } else {
            let Token::Word(name) = &tokens[0] else {
                return Err(err("an owner name cannot be quoted".into()));
            };
            (
                absolute(name, origin.as_deref()).map_err(err)?,
                &tokens[1..],
            )
        };
        last_owner = Some(owner.clone());
        let Some(t) = type_position(rest) else {
            return Err(err(format!(
                "no record type (expected `NAME [TTL] [IN] TYPE DATA`, e.g. `{owner}. IN TXT \"...\"`)"
            )));
        };
        let Token::Word(rtype) = &rest[t] else {
            return Err(err("no record type".into()));
        };
        let data = &rest[t + 1..];
        match rtype.to_ascii_uppercase().as_str() {
            "TXT" => {
                if data.is_empty() {
                    return Err(err("TXT without data".into()));
                }
                let mut value = String::new();
                for d in data {
                    match d {
                        Token::Quoted(s) | Token::Word(s) => value.push_str(s),
                    }
                }
                out.push(ZoneRecord::Txt(owner, value));
            }
            "CNAME" => match data {
                [Token::Word(target)] => {
                    out.push(ZoneRecord::Cname(
                        owner,
                        absolute(target, origin.as_deref()).map_err(err)?,
                    ));
                }
                _ => return Err(err("CNAME needs exactly one target name".into())),
            },
            _ => {} // other types: read and skipped
        }
    }
    Ok(out)
}

/// Where the record type is among `[TTL] [CLASS] TYPE` (TTL and class in either order).
fn type_position(tokens: &[Token]) -> Option<usize> {
    for (n, t) in tokens.iter().enumerate().take(3) {
        let Token::Word(w) = t else { return None };
        let upper = w.to_ascii_uppercase();
        if is_type(&upper) {
            return Some(n);
        }
        let ttl = !w.is_empty()
            && w.bytes().all(|b| b.is_ascii_alphanumeric())
            && w.as_bytes()[0].is_ascii_digit();
        let class = matches!(upper.as_str(), "IN" | "CH" | "HS" | "CS");
        if !(ttl || class) {
            return None;
        }
    }
    None
}

fn is_type(upper: &str) -> bool {
    matches!(
        upper,
        "TXT"
            | "CNAME"
            | "A"
            | "AAAA"
            | "NS"
            | "SOA"
            | "MX"
            | "PTR"
            | "SRV"
            | "CAA"
            | "SPF"
            | "DS"
            | "DNSKEY"
            | "RRSIG"
            | "NSEC"
            | "NSEC3"
            | "TLSA"
            | "HINFO"
            | "SVCB"
            | "HTTPS"
    )
}

/// The name made absolute (without its trailing dot): relative names get `$ORIGIN`.
fn absolute(name: &str, origin: Option<&str>) -> Result<String, String> {
    if name == "@" {
        return origin
            .map(str::to_string)
            .ok_or_else(|| "`@` without $ORIGIN".to_string());
    }
    if let Some(abs) = name.strip_suffix('.') {
        return Ok(abs.to_string());
    }
    Ok(match origin {
        Some(o) if !o.is_empty() => format!("{name}.{o}"),
        _ => name.to_string(),
    })
}

/// Splits an entry into tokens. Returns the tokens, the open parenthesis depth at the end
/// (more lines needed when positive), and whether the entry starts with blank space (the
/// owner is the previous entry's).
fn tokenize(entry: &str) -> Result<(Vec<Token>, i32, bool), String> {
    let owner_blank = entry.starts_with([' ', '\t']);
    let mut tokens = Vec::new();
    let mut depth = 0i32;
    let b = entry.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b';' => {
                // A comment runs to the end of its line.
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("`)` without `(`".into());
                }
                i += 1;
            }
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match b.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let (byte, used) = escape(&b[i + 1..])?;
                            s.push(byte);
                            i += 1 + used;
                        }
                        Some(&c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Quoted(
                    String::from_utf8(s).map_err(|_| "a string is not UTF-8".to_string())?,
                ));
            }
            _ => {
                let mut s = Vec::new();
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t' | b'\n' | b'\r' | b'(' | b')' | b';' | b'"'
                    )
                {
                    if b[i] == b'\\' {
                        let (byte, used) = escape(&b[i + 1..])?;
                        s.push(byte);
                        i += 1 + used;
                    } else {
                        s.push(b[i]);
                        i += 1;
                    }
                }
                tokens.push(Token::Word(
                    String::from_utf8(s).map_err(|_| "a word is not UTF-8".to_string())?,
                ));
            }
        }
    }
    Ok((tokens, depth, owner_blank))
}

/// The byte an escape after `\` stands for (`\DDD` decimal or `\X`), and the bytes it used.
fn escape(rest: &[u8]) -> Result<(u8, usize), String> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let v = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            u8::try_from(v)
                .map(|v| (v, 3))
                .map_err(|_| format!("escape \\{v} is over 255"))
        }
        [x, ..] => Ok((*x, 1)),
        [] => Err("`\\` at the end of the line".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(n: &str, v: &str) -> ZoneRecord {
        ZoneRecord::Txt(n.into(), v.into())
    }

    #[test]
    fn standard_syntax() {
        let text = "$ORIGIN example.com.\n$TTL 300\n\
            ; a comment\n\
            @ IN SOA ns1 host ( 1 2 3\n 4 5 ) ; multi-line\n\
            sel._domainkey 3600 IN TXT \"v=DKIM1; k=ed25519; \" \"p=abc\" ; trailing\n\
            \t IN TXT \"second\"\n\
            x1._domainkey IN CNAME x1.dkim.example.net.\n\
            rel CNAME target\n\
            long.example.org. TXT ( \"a\\\"b\\\\c\"\n  \"\\065\" )\n\
            www A 192.0.2.1\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![
                txt("sel._domainkey.example.com", "v=DKIM1; k=ed25519; p=abc"),
                txt("sel._domainkey.example.com", "second"),
                ZoneRecord::Cname(
                    "x1._domainkey.example.com".into(),
                    "x1.dkim.example.net".into()
                ),
                ZoneRecord::Cname("rel.example.com".into(), "target.example.com".into()),
                txt("long.example.org", "a\"b\\cA"),
            ]
        );
    }

    #[test]
    fn tab_separated_vectors_still_read() {
        let text = "# vectors\nbrisbane._domainkey.example.com\tv=DKIM1; k=rsa; p=MIGf\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![txt(
                "brisbane._domainkey.example.com",
                "v=DKIM1; k=rsa; p=MIGf"
            )]
        );
    }

    #[test]
    fn unreadable_lines_are_errors_with_their_number() {
        for (text, line) in [
            (
                "a.example. IN TXT \"ok\"\nsel._domainkey.example.com v=DKIM1; p=x\n",
                2,
            ),
            ("a.example. IN TXT \"unterminated\n", 1),
            ("\n\na.example. IN TXT ( \"x\"\n", 3),
            ("a.example. IN CNAME\n", 1),
            ("a.example. IN CNAME b. c.\n", 1),
            ("a.example. IN TXT\n", 1),
            ("$INCLUDE other.zone\n", 1),
            ("@ IN TXT \"x\"\n", 1),
            (" IN TXT \"no owner\"\n", 1),
            ("a.example. IN TXT \"\\999\"\n", 1),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }
}
