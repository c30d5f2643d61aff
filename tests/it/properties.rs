//! Property tests (proptest, 64 cases each): canonicalization is idempotent, and for
//! generated messages (folded header fields, bodies with CR/LF/WSP and 8-bit bytes, CRLF and
//! bare-LF line endings, all four canonicalizations) signing prepends exactly one header to
//! the input bytes and the core verifier passes the result; changing a signed header value
//! or a body byte makes it fail, while the whitespace changes relaxed ignores do not.

use easydkim::{
    Canonicalization, Canonicalizer, FailureReason, KeyLookupError, Signer, Status, Verifier,
    VerifyOptions, DEFAULT_SIGNED_HEADERS,
};
use proptest::prelude::*;

use crate::key;

use Canonicalization::{Relaxed, Simple};

const NOW: u64 = 1_700_000_000;
const DOMAIN: &str = "example.com";
const SELECTOR: &str = "prop";

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// A generated message, with where its parts are.
#[derive(Clone, Debug)]
struct Generated {
    bytes: Vec<u8>,
    /// Each header field: (name, byte range of the whole field without its line ending,
    /// offset of the value inside the message).
    fields: Vec<(String, std::ops::Range<usize>, usize)>,
    /// Start of the body, when there is one.
    body_start: Option<usize>,
    eol: &'static str,
}

impl Generated {
    fn body(&self) -> &[u8] {
        self.body_start.map_or(&[][..], |s| &self.bytes[s..])
    }
}

fn eol() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\r\n"), Just("\n")]
}

/// A word of a header value: printable ASCII, or some UTF-8.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[!-~]{1,10}",
        1 => "[a-zé€ü]{1,4}",
    ]
}

/// What separates two words: whitespace, or a fold (line break plus whitespace).
#[derive(Clone, Copy, Debug)]
enum Sep {
    Space,
    Tab,
    Spaces,
    Fold(&'static str),
}

fn sep() -> impl Strategy<Value = Sep> {
    prop_oneof![
        3 => Just(Sep::Space),
        1 => Just(Sep::Tab),
        1 => Just(Sep::Spaces),
        1 => prop_oneof![Just(" "), Just("\t"), Just("  "), Just(" \t")].prop_map(Sep::Fold),
    ]
}

fn render_sep(s: Sep, eol: &str) -> String {
    match s {
        Sep::Space => " ".into(),
        Sep::Tab => "\t".into(),
        Sep::Spaces => " \t  ".into(),
        Sep::Fold(wsp) => format!("{eol}{wsp}"),
    }
}

/// A header value: optional leading whitespace, words with separators, optional trailing
/// whitespace.
fn value() -> impl Strategy<Value = (Option<Sep>, Vec<(String, Sep)>, bool)> {
    (
        prop::option::weighted(0.8, sep()),
        prop::collection::vec((word(), sep()), 0..5),
        any::<bool>(),
    )
}

fn render_value(v: &(Option<Sep>, Vec<(String, Sep)>, bool), eol: &str) -> String {
    let (lead, words, trailing) = v;
    let mut s = lead.map(|l| render_sep(l, eol)).unwrap_or_default();
    for (i, (w, sp)) in words.iter().enumerate() {
        if i > 0 {
            s.push_str(&render_sep(*sp, eol));
        }
        s.push_str(w);
    }
    if *trailing {
        s.push_str(" \t");
    }
    s
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "Sender", "MIME-Version",
            "Content-Type", "List-Id", "List-Unsubscribe", "Resent-From", "Feedback-ID",
            "In-Reply-To", "References",
        ])
        .prop_map(str::to_string),
        2 => prop::sample::select(vec!["subject", "SUBJECT", "to", "Received", "X-Mailer",
            "Comments", "Return-Path", "Bcc", "Keywords"])
        .prop_map(str::to_string),
        1 => "X-[A-Za-z0-9-]{1,10}",
    ]
}

/// A body: lines of letters, whitespace, bare CRs and 8-bit bytes, joined with the line
/// ending, with or without a final one, and some trailing empty or blank lines.
fn body() -> impl Strategy<Value = (Vec<Vec<u8>>, bool, Vec<&'static str>)> {
    let byte = prop_oneof![
        8 => b'a'..=b'z',
        2 => Just(b' '),
        1 => Just(b'\t'),
        1 => Just(b'\r'),
        1 => 0x80u8..=0xff,
        1 => b'!'..=b'~',
    ];
    (
        prop::collection::vec(prop::collection::vec(byte, 0..30), 0..8),
        any::<bool>(),
        prop::collection::vec(prop_oneof![Just(""), Just(" "), Just("\t \t")], 0..3),
    )
}

prop_compose! {
    fn message()(
        eol in eol(),
        from_display in prop::collection::vec("[A-Za-z]{1,8}", 0..3),
        from_fold in any::<bool>(),
        from_local in "[a-z][a-z0-9+_-]{0,8}",
        from_space in any::<bool>(),
        others in prop::collection::vec((field_name(), value(), any::<bool>()), 0..8),
        from_at in any::<prop::sample::Index>(),
        body in prop::option::weighted(0.9, body()),
        last_eol in any::<bool>(),
    ) -> Generated {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (name, v, space_before_colon) in &others {
            let colon = if *space_before_colon { " :" } else { ":" };
            fields.push((name.clone(), format!("{name}{colon}{}", render_value(v, eol))));
        }
        let display = from_display.join(" ");
        let sep = if from_fold { format!("{eol}\t") } else { " ".to_string() };
        let colon = if from_space { ":  " } else { ":" };
        let from = format!("From{colon}{display}{sep}<{from_local}@example.org>");
        let at = from_at.index(fields.len() + 1);
        fields.insert(at, ("From".into(), from));

        let mut bytes = Vec::new();
        let mut spans = Vec::new();
        let n = fields.len();
        for (i, (name, raw)) in fields.into_iter().enumerate() {
            let start = bytes.len();
            bytes.extend_from_slice(raw.as_bytes());
            let colon = raw.find(':').expect("colon");
            spans.push((name, start..bytes.len(), start + colon + 1));
            if i + 1 < n || body.is_some() || last_eol {
                bytes.extend_from_slice(eol.as_bytes());
            }
        }
        let body_start = body.as_ref().map(|(lines, final_eol, trailing)| {
            bytes.extend_from_slice(eol.as_bytes());
            let start = bytes.len();
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    bytes.extend_from_slice(eol.as_bytes());
                }
                bytes.extend_from_slice(line);
            }
            if *final_eol && !lines.is_empty() {
                bytes.extend_from_slice(eol.as_bytes());
            }
            for t in trailing {
                bytes.extend_from_slice(t.as_bytes());
                bytes.extend_from_slice(eol.as_bytes());
            }
            start
        });
        Generated { bytes, fields: spans, body_start, eol }
    }
}

fn canonicalization() -> impl Strategy<Value = Canonicalizer> {
    (
        prop::sample::select(vec![Simple, Relaxed]),
        prop::sample::select(vec![Simple, Relaxed]),
    )
        .prop_map(|(h, b)| Canonicalizer::new(h, b))
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn signer(c: Canonicalizer) -> Signer {
    Signer::new(key("ed25519.pem"), DOMAIN, SELECTOR)
        .expect("signer")
        .canonicalization(c)
        .signing_time(Some(NOW))
}

/// The status and reason of the first (topmost) signature of `message`.
fn verify_first(message: &[u8]) -> (Status, Option<FailureReason>) {
    let record = key("ed25519.pem").dns_record();
    let verifier = Verifier::new(VerifyOptions::default().with_now(Some(NOW)));
    let results = verifier
        .verify_with_keys(message, |name| {
            if name == format!("{SELECTOR}._domainkey.{DOMAIN}") {
                Ok(vec![record.clone()])
            } else {
                Err(KeyLookupError::NotFound)
            }
        })
        .expect("message splits");
    let first = results.into_iter().next().expect("a signature");
    (first.status, first.reason)
}

/// Signs `m`, checks the output is one new header + the input bytes, and returns the
/// header.
fn sign(m: &Generated, c: Canonicalizer) -> Vec<u8> {
    let signed = signer(c).sign(&m.bytes).expect("generated messages sign");
    assert_eq!(signed.headers.len(), 1);
    let header = signed.headers[0].as_bytes().to_vec();
    let out = signed.prepend_to(&m.bytes);
    let mut expected = header.clone();
    expected.extend_from_slice(&m.bytes);
    assert_eq!(out, expected, "output = new header + input bytes");
    assert!(header.starts_with(b"DKIM-Signature: v=1; a=ed25519-sha256;"));
    // The new header uses the message's own line ending (detected on its first line).
    let first_line_crlf = m
        .bytes
        .iter()
        .position(|&b| b == b'\n')
        .is_none_or(|i| i > 0 && m.bytes[i - 1] == b'\r');
    let header_crlf = header.ends_with(b"\r\n");
    assert_eq!(header_crlf, first_line_crlf, "header line ending");
    header
}

fn with_header(header: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend_from_slice(bytes);
    out
}

fn is_signed_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    DEFAULT_SIGNED_HEADERS
        .iter()
        .any(|d| match d.strip_suffix('-') {
            Some(_) => name.starts_with(d),
            None => name == *d,
        })
}

fn is_content(b: u8) -> bool {
    !matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A different content byte in place of `b`.
fn other(b: u8) -> u8 {
    if b == b'x' {
        b'y'
    } else {
        b'x'
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases())]

    /// Relaxed header canonicalization of an already canonical field gives it back.
    #[test]
    fn relaxed_header_canonicalization_is_idempotent(
        name in field_name(),
        v in value(),
        eol in eol(),
        raw in prop::collection::vec(any::<u8>(), 0..60),
    ) {
        let c = Canonicalizer::new(Relaxed, Relaxed);
        let field = format!("{name} :{}", render_value(&v, eol));
        for input in [field.as_bytes(), &raw[..]] {
            let mut once = Vec::new();
            c.canonicalize_header(input, &mut once);
            prop_assert!(once.ends_with(b"\r\n"));
            let mut twice = Vec::new();
            c.canonicalize_header(&once[..once.len() - 2], &mut twice);
            prop_assert_eq!(&twice, &once, "input {:?}", String::from_utf8_lossy(input));
        }
        // A generated field's canonical form has no folding and no whitespace runs.
        let mut once = Vec::new();
        c.canonicalize_header(field.as_bytes(), &mut once);
        let text = &once[..once.len() - 2];
        prop_assert!(!text.contains(&b'\n') && !text.contains(&b'\r'));
        prop_assert!(!text.windows(2).any(|w| w[0] == b' ' && w[1] == b' '));
        prop_assert!(!text.contains(&b'\t'));
    }

    /// Canonicalizing a canonical body again changes nothing (both algorithms).
    #[test]
    fn body_canonicalization_is_idempotent(
        lines in body(),
        eol in eol(),
        raw in prop::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'\t'), any::<u8>()], 0..80),
    ) {
        let (lines, final_eol, trailing) = lines;
        let mut generated = lines.join(eol.as_bytes());
        if final_eol {
            generated.extend_from_slice(eol.as_bytes());
        }
        for t in trailing {
            generated.extend_from_slice(t.as_bytes());
            generated.extend_from_slice(eol.as_bytes());
        }
        for input in [&generated, &raw] {
            for c in [Relaxed, Simple] {
                let canon = Canonicalizer::new(c, c);
                let once = canon.canonicalize_body(input);
                prop_assert_eq!(canon.canonicalize_body(&once), once.clone(), "{} {:?}", c, input);
            }
            // Relaxed output is also a fixed point of simple (it is already in wire form),
            // except that simple turns an empty body into one CRLF.
            let relaxed = Canonicalizer::new(Relaxed, Relaxed).canonicalize_body(input);
            if !relaxed.is_empty() {
                prop_assert_eq!(
                    Canonicalizer::new(Simple, Simple).canonicalize_body(&relaxed),
                    relaxed
                );
            }
        }
    }

    /// Sign, then verify with the core verifier: passes, and the output is the new header
    /// followed by the input bytes, unchanged.
    #[test]
    fn sign_then_verify_passes(m in message(), c in canonicalization()) {
        let header = sign(&m, c);
        let out = with_header(&header, &m.bytes);
        let (status, reason) = verify_first(&out);
        prop_assert_eq!(status, Status::Pass, "{} {:?}: {:?}", c, String::from_utf8_lossy(&out), reason);
        // A header added above the signature in transit (unsigned) changes nothing.
        let relayed = with_header(format!("Received: by relay{}", m.eol).as_bytes(), &out);
        prop_assert_eq!(verify_first(&relayed).0, Status::Pass);
    }

    /// Changing a non-whitespace byte of a signed header value breaks the signature; the
    /// same change in an unsigned header does not.
    #[test]
    fn changed_header_value_fails(
        m in message(),
        c in canonicalization(),
        pick in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
    ) {
        let header = sign(&m, c);
        // Header fields with a content byte in their value, and those positions.
        let candidates: Vec<(bool, Vec<usize>)> = m
            .fields
            .iter()
            .map(|(name, span, value_start)| {
                let positions = (*value_start..span.end)
                    .filter(|&i| is_content(m.bytes[i]))
                    .collect::<Vec<_>>();
                (is_signed_name(name), positions)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let (signed, positions) = &candidates[pick.index(candidates.len())];
        let at = positions[pos.index(positions.len())];
        let mut changed = m.bytes.clone();
        changed[at] = other(changed[at]);
        let (status, reason) = verify_first(&with_header(&header, &changed));
        if *signed {
            prop_assert_eq!(status, Status::Fail, "{} change at {}", c, at);
            prop_assert_eq!(reason, Some(FailureReason::SignatureMismatch));
        } else {
            prop_assert_eq!(status, Status::Pass, "{} unsigned change at {}: {:?}", c, at, reason);
        }
    }

    /// Changing a non-whitespace body byte breaks the signature.
    #[test]
    fn changed_body_byte_fails(
        m in message(),
        c in canonicalization(),
        pos in any::<prop::sample::Index>(),
    ) {
        let header = sign(&m, c);
        let Some(start) = m.body_start else { return Ok(()) };
        let positions: Vec<usize> =
            (start..m.bytes.len()).filter(|&i| is_content(m.bytes[i])).collect();
        prop_assume!(!positions.is_empty());
        let at = positions[pos.index(positions.len())];
        let mut changed = m.bytes.clone();
        changed[at] = other(changed[at]);
        let (status, reason) = verify_first(&with_header(&header, &changed));
        prop_assert_eq!(status, Status::Fail, "{} change at {}", c, at);
        prop_assert_eq!(reason, Some(FailureReason::BodyHashMismatch));
    }

    /// Whitespace changes: relaxed ignores them, simple does not.
    #[test]
    fn whitespace_changes_matter_only_to_simple(m in message(), c in canonicalization()) {
        let header = sign(&m, c);

        // Body: a space at the end of the first line (or of the body, if it has no line).
        if let Some(start) = m.body_start {
            let body = m.body();
            let at = start + match body.iter().position(|&b| b == b'\n') {
                Some(lf) if lf > 0 && body[lf - 1] == b'\r' => lf - 1,
                Some(lf) => lf,
                None => body.len(),
            };
            let mut changed = m.bytes.clone();
            changed.insert(at, b' ');
            let (status, _) = verify_first(&with_header(&header, &changed));
            let expected = if c.body == Relaxed { Status::Pass } else { Status::Fail };
            prop_assert_eq!(status, expected, "body {}", c);
        }

        // Header: more whitespace after the colon of From, and From refolded.
        let (_, _, value_start) = m.fields.iter().find(|(n, ..)| n == "From").expect("From");
        for extra in [" ".to_string(), format!("{} ", m.eol)] {
            let mut changed = m.bytes.clone();
            changed.splice(*value_start..*value_start, extra.bytes());
            let (status, _) = verify_first(&with_header(&header, &changed));
            let expected = if c.header == Relaxed { Status::Pass } else { Status::Fail };
            prop_assert_eq!(status, expected, "header {} {:?}", c, extra);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fuzz regressions (inputs in fuzz/regressions/sign_message/)
// ---------------------------------------------------------------------------------------

/// Signing either refuses a message with a typed error, or produces a signature that
/// verifies, for every canonicalization.
fn signs_and_verifies_or_refuses(input: &[u8]) {
    for c in [
        Canonicalizer::new(Simple, Simple),
        Canonicalizer::new(Simple, Relaxed),
        Canonicalizer::new(Relaxed, Simple),
        Canonicalizer::new(Relaxed, Relaxed),
    ] {
        let Ok(signed) = signer(c).sign(input) else {
            continue;
        };
        let out = signed.prepend_to(input);
        let (status, reason) = verify_first(&out);
        assert_eq!(
            status,
            Status::Pass,
            "{c}: {reason:?}\n{}",
            String::from_utf8_lossy(&out)
        );
    }
}

/// Found by the `sign_message` fuzz target: a header field name may contain `;` (RFC 5322
/// ftext is any printable but `:`), and `List-;` matches the signed `list-*` prefix, so the
/// signer listed it in `h=`, where `;` ends the tag: the emitted DKIM-Signature did not
/// parse (`Syntax(Malformed("...:from"))`, permerror) for us or any other verifier. Names
/// that cannot appear in a tag value must not be signed (or the message refused).
#[test]
fn fuzz_regression_header_name_with_semicolon() {
    let minimised =
        include_bytes!("../../fuzz/regressions/sign_message/header-name-with-semicolon");
    assert_eq!(minimised, b"From:<n@<>\nList-;:");
    signs_and_verifies_or_refuses(minimised);
    signs_and_verifies_or_refuses(
        b"From: alice@example.com\r\nList-Unsubscr;ibe: <mailto:u@example.com>\r\n\r\nHi\r\n",
    );
    signs_and_verifies_or_refuses(b"From: alice@example.com\r\nResent-;x=1: y\r\n\r\nHi\r\n");
    // The same through an explicit header list: refused up front.
    let s = signer(Canonicalizer::default());
    assert!(
        matches!(
            s.headers(["from", "x;y"]),
            Err(easydkim::SignError::InvalidHeaderName(_))
        ),
        "`x;y` accepted in the signed header list"
    );
}
