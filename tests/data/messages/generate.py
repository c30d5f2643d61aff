#!/usr/bin/python3
"""Generate the easydkim test-message corpus (tests/data/messages/*.eml).

Usage:
    generate.py            write every NN-*.eml file and README.md next to this script
    generate.py --check    exit 1 if any file on disk differs from what would be written
    generate.py --resign   print a fresh FOREIGN_SIG for message 18 (needs python3-dkim
                           and foreign-rsa1024.pem); paste it into FOREIGN_SIG below

Only the standard library is needed for the normal run, so the exact bytes of
every message are reproducible anywhere.  Nothing here is random: "random"
looking content comes from SHA-256 in counter mode.

Rules every message follows (tests rely on them):
  * exactly one From: header (any case), address at example.com or a subdomain;
  * every header line has a colon (no mbox "From " line at the top);
  * messages are written byte-exact: line endings are part of the test case.
"""

import base64
import re
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CRLF = b"\r\n"
LF = b"\n"

DATE = b"Date: Tue, 02 Jan 2024 10:00:00 +0000"


def mid(n):
    return b"Message-ID: <corpus-%02d@example.com>" % n


def prng_bytes(label, n):
    """Deterministic pseudo-random bytes (SHA-256 in counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(label + b":" + str(i).encode()).digest()
        i += 1
    return bytes(out[:n])


WORDS = (b"alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         b"mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         b"xray yankee zulu signature canonical header body relaxed simple").split()


def prose_lines(label, count, width=72):
    """Deterministic lines of words, each at most `width` octets."""
    data = prng_bytes(label, count * 40)
    lines, cur, k = [], b"", 0
    while len(lines) < count:
        w = WORDS[data[k % len(data)] % len(WORDS)]
        k += 1
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = cur + b" " + w if cur else w
    return lines


def join(lines, eol=CRLF, final=True):
    """Join lines with eol; add a final eol unless final=False."""
    s = eol.join(lines)
    return s + eol if final else s


def msg(headers, body, eol=CRLF, body_final=True):
    """Standard message: headers, blank line, body lines."""
    return join(headers, eol) + eol + (join(body, eol, body_final) if body else b"")


def std_headers(n, subject, frm=b"From: Alice Example <alice@example.com>",
                to=b"To: Bob Example <bob@example.net>"):
    return [frm, to, b"Subject: " + subject, DATE, mid(n)]


SIMPLE_BODY = [b"Hello Bob,", b"", b"This is a test message for easydkim.", b"",
               b"-- ", b"Alice"]

# --------------------------------------------------------------------------
# Message 18 carries a genuine DKIM-Signature made by a third party
# (d=mailer.example.net, s=esp1024) with the test-only key foreign-rsa1024.pem.
# Its public key is in foreign.zone; append that to a verifier zone file if
# the pre-existing signature should verify too.  Regenerate with --resign.
FOREIGN_SIG = (
    b'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple;\r\n'
    b' d=mailer.example.net; i=@mailer.example.net; q=dns/txt; s=esp1024;\r\n'
    b' t=1704189600; h=from : to : subject : date : message-id : list-id;\r\n'
    b' bh=f1fdp9P9H5iK69dVxRkj8hkejl7kJnGPo/FGPEeKrak=;\r\n'
    b' b=Sv6U7MmKHUbOgdiIGbGCvBJXZ13uUGwxmQk6ePMVNsMDcvX84DJBn7rOJLgIffc6Er9RX\r\n'
    b' OKD6+J2PpsU6Kd1jsrwXlOyDnUf9p22HBtMXClgV3K60418yvZmu1n+ayKFyQIq7chIcFbu\r\n'
    b' 7PnFa1wKAABqXXPBJ9W76AP97wKFj38=\r\n'
)
FOREIGN_DOMAIN = b"mailer.example.net"
FOREIGN_SELECTOR = b"esp1024"


def foreign_unsigned():
    headers = [b"From: Alice Example <alice@example.com>",
               b"To: Bob Example <bob@example.net>",
               b"Subject: Newsletter sent through a third-party mailer",
               DATE, mid(18),
               b"List-ID: <news.example.com>"]
    body = [b"This message was already signed by the sending service",
            b"(d=mailer.example.net) before it reaches easydkim.", b"",
            b"A second signature for d=example.com should be added on top,",
            b"and the first one must stay valid."]
    return msg(headers, body)


# --------------------------------------------------------------------------
def build():
    m = []  # (filename, description, bytes)

    def add(name, desc, data):
        m.append((name, desc, data))

    add("01-crlf-plain.eml",
        "Baseline: CRLF line endings everywhere, short plain-text body.",
        msg(std_headers(1, b"Plain CRLF message"), SIMPLE_BODY))

    add("02-lf-plain.eml",
        "Same shape as 01 but bare LF line endings everywhere (Unix file).",
        msg(std_headers(2, b"Plain LF message"), SIMPLE_BODY, eol=LF))

    hdr = join(std_headers(3, b"Mixed line endings")[:3], CRLF) + \
        join(std_headers(3, b"x")[3:], LF)
    body = (b"line one ends in CRLF\r\nline two ends in LF\nline three CRLF\r\n"
            b"\nblank line above was LF\r\n\r\nlast line LF\n")
    add("03-mixed-crlf-lf.eml",
        "Mixed CRLF and bare LF endings in both header block and body "
        "(From/To/Subject CRLF, Date/Message-ID LF; body alternates).",
        hdr + CRLF + body)

    add("04-no-body-no-blank-line.eml",
        "No body at all: header block ends with CRLF but there is no blank "
        "separator line and nothing after it.",
        join(std_headers(4, b"Headers only, final CRLF"), CRLF))

    add("05-no-body-no-final-newline.eml",
        "No body and no final newline: the file ends in the middle of the last "
        "header line (Message-ID) with no CRLF.",
        join(std_headers(5, b"Headers only, no final newline"), CRLF, final=False))

    add("06-empty-body.eml",
        "Empty body: header block, blank line (CRLF CRLF), then nothing.",
        msg(std_headers(6, b"Empty body"), []))

    add("07-body-no-final-newline.eml",
        "Body whose last line has no terminating CRLF (canonicalization must add it).",
        msg(std_headers(7, b"Body without final newline"),
            [b"First line.", b"Last line has no CRLF"], body_final=False))

    add("08-trailing-blank-lines.eml",
        "Body followed by several trailing empty lines (simple and relaxed both "
        "strip them).",
        msg(std_headers(8, b"Trailing blank lines"),
            [b"Body text.", b"More text.", b"", b"", b"", b""]))

    add("09-trailing-whitespace-lines.eml",
        "Body ends with whitespace-only lines (spaces, tab, mix): relaxed strips "
        "them, simple keeps them.",
        msg(std_headers(9, b"Trailing whitespace-only lines"),
            [b"Body text.", b"", b"   ", b"\t", b" \t  \t", b""]))

    add("10-whitespace-runs.eml",
        "Trailing spaces/tabs at line ends and runs of spaces/tabs inside lines, "
        "in the body and in header values (Subject, X-Spacing); a body line "
        "starting with whitespace.",
        msg([b"From: Alice Example <alice@example.com>",
             b"To:   Bob Example   <bob@example.net>  ",
             b"Subject:  many   spaces\t\tand\t tabs   inside \t ",
             b"X-Spacing: a  b\t\tc \t d   ",
             DATE, mid(10)],
            [b"trailing spaces   ", b"trailing tab\t", b"mixed trailing \t \t",
             b"inner  two  spaces", b"inner\t\ttabs\tand   spaces",
             b"   leading spaces", b"\tleading tab", b"end"]))

    to_list = b",\r\n ".join(b"Recipient %02d <rcpt%02d@example.net>" % (i, i)
                             for i in range(1, 31))
    add("11-long-folded-headers.eml",
        "Long folded headers: Subject folded over four lines (tab and space "
        "continuations), To with 30 recipients folded one per line.",
        msg([b"From: Alice Example <alice@example.com>",
             b"To: " + to_list,
             b"Subject: This is a rather long subject line that has been folded\r\n"
             b" over several physical lines because it is far too long to fit\r\n"
             b"\tinto a single line of a reasonable length, as RFC 5322 suggests\r\n"
             b"  with a double-space continuation on the last line",
             DATE, mid(11)],
            [b"The headers of this message are folded."]))

    add("12-fold-after-colon.eml",
        "Headers folded immediately after the colon: 'Subject:CRLF<TAB>value' "
        "and 'To:CRLF<SP>value' (empty first line of the header).",
        msg([b"From: Alice Example <alice@example.com>",
             b"To:\r\n Bob Example <bob@example.net>",
             b"Subject:\r\n\tvalue on the continuation line",
             DATE, mid(12)],
            [b"Header values start on a continuation line."]))

    add("13-repeated-headers.eml",
        "Repeated headers: three Received headers (folded) and two To headers; "
        "h= must pick the bottom-most instances first.",
        msg([b"Received: from mx3.example.net (mx3.example.net [192.0.2.3])\r\n"
             b"\tby mx4.example.net; Tue, 02 Jan 2024 10:00:03 +0000",
             b"Received: from mx2.example.net (mx2.example.net [192.0.2.2])\r\n"
             b"\tby mx3.example.net; Tue, 02 Jan 2024 10:00:02 +0000",
             b"Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n"
             b"\tby mx2.example.net; Tue, 02 Jan 2024 10:00:01 +0000",
             b"From: Alice Example <alice@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"To: Carol Example <carol@example.net>",
             b"Subject: Repeated headers",
             DATE, mid(13)],
            [b"This message has three Received headers and two To headers."]))

    add("14-utf8-raw-headers.eml",
        "Raw UTF-8 bytes (not encoded) in the From display name and Subject, "
        "and in the body (RFC 6532 style).",
        msg([b"From: \"J\xc3\xb6rg M\xc3\xbcller\" <joerg@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln \xe2\x80\x94 \xe2\x9c\x93 "
             b"\xf0\x9f\x93\xa7",
             DATE, mid(14),
             b"MIME-Version: 1.0",
             b"Content-Type: text/plain; charset=utf-8",
             b"Content-Transfer-Encoding: 8bit"],
            [b"Hall\xc3\xb6 Bob, sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe \xe2\x80\x94 "
             b"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e."]))

    add("15-rfc2047-encoded-words.eml",
        "RFC 2047 encoded words (Q and B encoding, folded between encoded words) "
        "in From display name and Subject.",
        msg([b"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.com>",
             b"To: =?ISO-8859-1?Q?Andr=E9?= <andre@example.net>",
             b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
             b" =?UTF-8?Q?_=E2=80=94_encoded_words?=",
             DATE, mid(15),
             b"MIME-Version: 1.0",
             b"Content-Type: text/plain; charset=us-ascii"],
            [b"Encoded words in the headers."]))

    add("16-latin1-8bit-header.eml",
        "Raw 8-bit ISO-8859-1 bytes (invalid UTF-8) in Subject and X-Comment "
        "and in the body.",
        msg([b"From: Alice Example <alice@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Subject: Caf\xe9 cr\xe8me br\xfbl\xe9e \xe0 la fran\xe7aise",
             b"X-Comment: na\xefve \xa9 \xbd",
             DATE, mid(16),
             b"MIME-Version: 1.0",
             b"Content-Type: text/plain; charset=iso-8859-1",
             b"Content-Transfer-Encoding: 8bit"],
            [b"Gr\xfc\xdfe, Fran\xe7ois."]))

    long_line = b"".join(b"%04d-" % i for i in range(400))  # 2000 octets
    add("17-long-body-line.eml",
        "A single body line of 2000 octets (over the 998 limit), between two "
        "short lines.",
        msg(std_headers(17, b"Very long body line"),
            [b"Next line is 2000 octets long:", long_line, b"end"]))

    add("18-existing-dkim-signature.eml",
        "Already carries a genuine DKIM-Signature (rsa-sha256, relaxed/simple) "
        "from a third party, d=mailer.example.net s=esp1024; its key is in "
        "foreign.zone (append it to the verifier zone or expect that one "
        "signature to fail with 'no key').",
        FOREIGN_SIG + foreign_unsigned())

    alt = b"b1_alt_0123456789abcdef"
    add("19-multipart-alternative.eml",
        "multipart/alternative with text/plain (quoted-printable) and text/html "
        "parts, preamble and epilogue.",
        msg([b"From: Alice Example <alice@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Subject: Multipart alternative",
             DATE, mid(19),
             b"MIME-Version: 1.0",
             b"Content-Type: multipart/alternative;\r\n boundary=\"" + alt + b"\""],
            [b"This is a multi-part message in MIME format.", b"",
             b"--" + alt,
             b"Content-Type: text/plain; charset=utf-8",
             b"Content-Transfer-Encoding: quoted-printable", b"",
             b"Hello Bob,", b"", b"Gr=C3=BC=C3=9Fe =E2=80=94 this is the plain part, w=",
             b"ith a soft line break.", b"",
             b"--" + alt,
             b"Content-Type: text/html; charset=utf-8",
             b"Content-Transfer-Encoding: 7bit", b"",
             b"<!DOCTYPE html>",
             b"<html><head><meta charset=\"utf-8\"></head>",
             b"<body><p>Hello <b>Bob</b>,</p>",
             b"<p>This is the&nbsp;HTML part.</p></body></html>", b"",
             b"--" + alt + b"--", b"", b"epilogue text"]))

    mix = b"b1_mix_fedcba9876543210"
    attach = base64.b64encode(prng_bytes(b"attachment", 3000))
    att_lines = [attach[i:i + 76] for i in range(0, len(attach), 76)]
    add("20-multipart-mixed-base64.eml",
        "multipart/mixed with a text part and a 3000-byte application/octet-stream "
        "attachment in base64 (76-char lines).",
        msg([b"From: Alice Example <alice@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Subject: Multipart mixed with attachment",
             DATE, mid(20),
             b"MIME-Version: 1.0",
             b"Content-Type: multipart/mixed; boundary=\"" + mix + b"\""],
            [b"--" + mix,
             b"Content-Type: text/plain; charset=us-ascii", b"",
             b"Please find the data attached.", b"",
             b"--" + mix,
             b"Content-Type: application/octet-stream; name=\"data.bin\"",
             b"Content-Disposition: attachment; filename=\"data.bin\"",
             b"Content-Transfer-Encoding: base64", b""] + att_lines +
            [b"", b"--" + mix + b"--"]))

    add("21-lone-cr-in-body.eml",
        "A lone CR (0x0D not followed by LF) in the middle of a body line, and "
        "one just before the CRLF (CR CR LF).",
        msg(std_headers(21, b"Lone CR in body"),
            [b"before\rafter on the same line", b"ends with an extra CR\r",
             b"normal line"]))

    add("22-tabs-in-headers.eml",
        "Tabs in headers: tab after the colon, tabs inside values, tab-indented "
        "folding, tab at end of a header line.",
        msg([b"From:\tAlice Example <alice@example.com>",
             b"To:\tBob\tExample <bob@example.net>",
             b"Subject:\tTabs\tin\theaders\t",
             b"X-Tabbed: one\r\n\ttwo\r\n\t\tthree",
             DATE, mid(22)],
            [b"Tabs in headers."]))

    add("23-odd-case-header-names.eml",
        "Header names in odd case: 'from:', 'SUBJECT:', 'tO:', 'DaTe:', "
        "'message-id:' (h= matching is case-insensitive; simple keeps case).",
        msg([b"from: Alice Example <alice@example.com>",
             b"tO: Bob Example <bob@example.net>",
             b"SUBJECT: Odd header name case",
             b"DaTe: Tue, 02 Jan 2024 10:00:00 +0000",
             b"message-id: <corpus-23@example.com>"],
            [b"Header names are in unusual case."]))

    add("24-list-unsubscribe-feedback-id.eml",
        "Bulk-sender headers: List-Unsubscribe (mailto + https, folded), "
        "List-Unsubscribe-Post, List-Id, Feedback-ID, Precedence.",
        msg([b"From: Example News <news@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Subject: Weekly newsletter",
             DATE, mid(24),
             b"List-Id: Example News <news.example.com>",
             b"List-Unsubscribe: <mailto:unsubscribe@example.com?subject=unsub-bob>,\r\n"
             b" <https://example.com/unsubscribe?u=bob&l=news>",
             b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
             b"Feedback-ID: campaign42:news:bulk:examplesender",
             b"Precedence: bulk"],
            [b"This week's news.", b"", b"To unsubscribe use the link in the headers."]))

    add("25-reply-to-sender-cc.eml",
        "Reply-To, Sender (different mailbox, subdomain), Cc with two addresses "
        "and In-Reply-To/References.",
        msg([b"From: Alice Example <alice@example.com>",
             b"Sender: Mailer Robot <robot@mail.example.com>",
             b"Reply-To: Support <support@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Cc: Carol Example <carol@example.net>, dave@example.org",
             b"Subject: Re: Reply-To, Sender and Cc",
             DATE, mid(25),
             b"In-Reply-To: <original@example.net>",
             b"References: <original@example.net>"],
            [b"Replies go to support."]))

    add("26-body-only-blank-lines.eml",
        "Body made only of empty lines (five CRLFs): canonicalizes like an empty "
        "body.",
        msg(std_headers(26, b"Body of only blank lines"), [b"", b"", b"", b"", b""]))

    big = prose_lines(b"large", 1400)
    add("27-large-100kb-body.eml",
        "About 100 KB of plain-text body (1400 lines of up to 72 octets).",
        msg(std_headers(27, b"Large body"), big))

    add("28-mbox-from-in-body.eml",
        "Body lines starting with 'From ' and '>From ' (mbox escaping artefacts) "
        "plus a line with a single '.' (SMTP dot-stuffing).",
        msg(std_headers(28, b"mbox From lines in body"),
            [b"Hello,", b"", b"From the start of this line it looks like an mbox separator.",
             b">From here on it was escaped by an mbox writer.",
             b"From alice@example.com Tue Jan  2 10:00:00 2024", b".",
             b"..two dots", b"end"]))

    add("29-lf-no-body-no-final-newline.eml",
        "Bare-LF variant of the no-body case: headers separated by LF, no blank "
        "line, no final newline.",
        join(std_headers(29, b"LF headers only"), LF, final=False))

    add("30-lf-trailing-blank-and-ws-lines.eml",
        "Bare-LF body with trailing whitespace at line ends, whitespace-only "
        "lines and trailing empty lines.",
        msg(std_headers(30, b"LF trailing whitespace"),
            [b"text with trailing space ", b"tab\tinside", b"  ", b"", b"\t", b"", b""],
            eol=LF))

    add("31-subdomain-from.eml",
        "From address in a subdomain (news.sub.example.com) of the signing "
        "domain; i= could be @news.sub.example.com.",
        msg([b"From: Sub Sender <sender@news.sub.example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Subject: From a subdomain", DATE, mid(31)],
            [b"Sent from a subdomain of example.com."]))

    add("32-empty-header-values.eml",
        "Headers with empty values: 'Subject:' with nothing, 'X-Empty:' followed "
        "by a space only, 'Cc:' empty.",
        msg([b"From: Alice Example <alice@example.com>",
             b"To: Bob Example <bob@example.net>",
             b"Subject:",
             b"X-Empty: ",
             b"Cc:",
             DATE, mid(32)],
            [b"Empty header values."]))

    add("33-space-before-colon.eml",
        "Obsolete syntax: whitespace between header name and colon "
        "('Subject : x', 'To\\t: x'); relaxed must remove it.",
        msg([b"From: Alice Example <alice@example.com>",
             b"To\t: Bob Example <bob@example.net>",
             b"Subject : space before the colon",
             DATE, mid(33)],
            [b"Whitespace before header colons."]))

    add("34-body-leading-blank-lines.eml",
        "Body that starts with empty and whitespace-only lines before the text "
        "(those must NOT be stripped).",
        msg(std_headers(34, b"Leading blank lines in body"),
            [b"", b"", b"  ", b"text after leading blank lines"]))

    add("35-crlf-plain-2.eml",
        "Second baseline message with a different recipient set and multi-line "
        "body, suitable for many-messages loops.",
        msg([b"From: billing@example.com", b"To: customer@example.org",
             b"Subject: Your invoice #2024-0001", DATE, mid(35),
             b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=us-ascii"],
            [b"Dear customer,", b"", b"Your invoice for January is ready.",
             b"Amount due: 42.00 EUR", b"", b"Regards,", b"Billing"]))

    add("36-quoted-local-part.eml",
        "From is a bare addr-spec whose local part is a quoted dot-atom "
        "('\"alice\"@example.com': the same mailbox as alice@example.com).",
        msg([b'From: "alice"@example.com', b"To: Bob Example <bob@example.net>",
             b"Subject: Quoted local part", DATE, mid(36)],
            [b"Sent from a quoted local part."]))

    add("37-quoted-local-part-with-space.eml",
        "From is a bare addr-spec whose local part is a quoted string that needs "
        "its quotes ('\"john doe\"@example.com').",
        msg([b'From: "john doe"@example.com', b"To: Bob Example <bob@example.net>",
             b"Subject: Quoted local part with a space", DATE, mid(37)],
            [b"Sent from a quoted local part with a space."]))

    return m


# --------------------------------------------------------------------------
def validate(name, data):
    """Check the corpus rules; raise on violation."""
    # header block: up to first empty line (CRLF or LF)
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    hdr_lines = []
    for ln in lines:
        if ln == b"":
            break
        hdr_lines.append(ln)
    froms = 0
    for ln in hdr_lines:
        if ln[:1] in (b" ", b"\t"):
            continue
        assert b":" in ln, "%s: header line without colon: %r" % (name, ln)
        field = ln.split(b":", 1)[0].strip().lower()
        if field == b"from":
            froms += 1
            addrs = re.findall(rb"[A-Za-z0-9._%+\"-]+@([A-Za-z0-9.-]+)", ln)
            assert addrs, name
            dom = addrs[-1].lower()
            assert dom == b"example.com" or dom.endswith(b".example.com"), (name, dom)
    assert froms == 1, "%s: %d From headers" % (name, froms)


def readme(msgs):
    out = ["# Test message corpus",
           "",
           "Generated by `generate.py` (standard library only; run "
           "`/usr/bin/python3 generate.py` to rewrite, `--check` to compare). "
           "Do not edit the `.eml` files or this README by hand: edit the script.",
           "",
           "Every message has exactly one `From:` header whose address is at "
           "`example.com` or a subdomain, so all can be signed with "
           "`d=example.com`. Line endings are part of each test case (files are "
           "byte-exact; `.gitattributes` marks them binary).",
           "",
           "Message 18 already carries a real third-party DKIM-Signature "
           "(`d=mailer.example.net; s=esp1024`). Its public key record is in "
           "`foreign.zone` (same NAME<TAB>TXT format as the interop zone files); "
           "the test-only private key is `foreign-rsa1024.pem`.",
           "",
           "| file | size (octets) | exercises |",
           "| --- | ---: | --- |"]
    for name, desc, data in msgs:
        out.append("| `%s` | %d | %s |" % (name, len(data), desc.replace("|", "\\|")))
    out.append("")
    return "\n".join(out).encode()


def resign():
    import dkim  # python3-dkim
    with open(os.path.join(HERE, "foreign-rsa1024.pem"), "rb") as f:
        key = f.read()
    m = foreign_unsigned()
    dkim.time.time = lambda: 1704189600  # fixed past t= so no clock can call it future
    d = dkim.DKIM(m)
    sig = d.sign(FOREIGN_SELECTOR, FOREIGN_DOMAIN, key,
                 canonicalize=(b"relaxed", b"simple"),
                 include_headers=[b"from", b"to", b"subject", b"date",
                                  b"message-id", b"list-id"],
                 identity=b"@" + FOREIGN_DOMAIN)
    print("FOREIGN_SIG = (")
    for ln in sig.split(b"\r\n"):
        if ln:
            print("    %r" % (ln + b"\r\n"))
    print(")")


def main(argv):
    if "--resign" in argv:
        resign()
        return 0
    check = "--check" in argv
    msgs = build()
    names = [n for n, _, _ in msgs]
    assert len(set(names)) == len(names)
    files = []
    for name, desc, data in msgs:
        validate(name, data)
        files.append((name, data))
    files.append(("README.md", readme(msgs)))
    pub = ("# Public key of the third-party signature in 18-existing-dkim-signature.eml\n"
           "esp1024._domainkey.mailer.example.net\tv=DKIM1; k=rsa; p=%s\n" % FOREIGN_PUBKEY)
    files.append(("foreign.zone", pub.encode()))
    files.append((".gitattributes", b"*.eml binary\n"))
    bad = 0
    for name, data in files:
        path = os.path.join(HERE, name)
        if check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                print("differs: %s" % name)
                bad += 1
        else:
            with open(path, "wb") as f:
                f.write(data)
    if not check:
        print("wrote %d messages to %s" % (len(msgs), HERE))
    return 1 if bad else 0


FOREIGN_PUBKEY = (
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCmwdJ7p1Gpd1vubq4nTp9oqdTWH9SAxI8BEvbw6NCl"
    "jPF4ebg+Wdd+n4lZpllI9DM/2PIzbet9N3IiLE6YatXHYdFzp9K8V/lLdQHaBFCS2+vxuboILzwtGFYL"
    "SLsBf9F/gowARrJb3kILAIpVcjnJOwx3sQQEf+hg9Lx7wR30EQIDAQAB")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
