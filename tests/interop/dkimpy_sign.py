#!/usr/bin/python3
"""Sign a message with dkimpy and write the signed message to stdout.

usage: dkimpy_sign.py [--headers h1:h2:...] [--identity AUID] [--length]
                      [--sha1] KEYFILE DOMAIN SELECTOR CANON MSG > OUT

KEYFILE  RSA private key in PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8
         "PRIVATE KEY"), an Ed25519 PKCS#8 PEM ("openssl genpkey -algorithm
         ed25519"), or a file holding the base64 32-byte Ed25519 seed
         (RFC 8463 style).  The algorithm (rsa-sha256 / ed25519-sha256)
         follows from the key type.
CANON    header/body canonicalization: simple/simple, relaxed/simple,
         simple/relaxed, relaxed/relaxed (a single word X means X/simple).
MSG      message file ('-' for stdin), CRLF or bare LF.

Options:
  --headers LIST   colon-separated header names for h= (default: dkimpy's
                   default list of present RFC 6376 "SHOULD" headers, From
                   signed twice to block a second From)
  --identity AUID  i= value (default @DOMAIN)
  --length         add l= (body length)
  --sha1           rsa-sha1 instead of rsa-sha256 (RSA keys only)

The DKIM-Signature header is prepended to the unchanged message; if the
message has no CRLF at all, the header is written with bare LF endings too.
Needs Debian python3-dkim (and python3-nacl for Ed25519).
"""

import argparse
import base64
import re
import sys

try:
    import dkim
except ImportError:
    sys.stderr.write("dkimpy_sign.py: python3-dkim not installed (run tests/interop/install.sh)\n")
    sys.exit(2)

ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def load_key(path):
    """Return (privkey bytes for dkimpy, signature algorithm)."""
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        m = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END", data, re.S)
        if not m:
            raise SystemExit("dkimpy_sign.py: unparsable PEM in %s" % path)
        der = base64.b64decode(b"".join(m.group(2).split()))
        if der.startswith(ED25519_PKCS8_PREFIX) and len(der) == 48:
            return base64.b64encode(der[16:]), b"ed25519-sha256"
        if b"RSA" in m.group(1) or m.group(1) == b"PRIVATE KEY":
            return data, b"rsa-sha256"
        raise SystemExit("dkimpy_sign.py: unsupported key type %s" % m.group(1).decode())
    seed = b"".join(data.split())
    try:
        raw = base64.b64decode(seed, validate=True)
    except Exception:
        raise SystemExit("dkimpy_sign.py: %s is neither PEM nor a base64 seed" % path)
    if len(raw) != 32:
        raise SystemExit("dkimpy_sign.py: base64 seed must decode to 32 bytes, got %d" % len(raw))
    return seed, b"ed25519-sha256"


def main():
    ap = argparse.ArgumentParser(
        usage="dkimpy_sign.py [--headers h1:h2] [--identity AUID] [--length] [--sha1] "
              "KEYFILE DOMAIN SELECTOR CANON MSG > OUT")
    ap.add_argument("--headers")
    ap.add_argument("--identity")
    ap.add_argument("--length", action="store_true")
    ap.add_argument("--sha1", action="store_true")
    ap.add_argument("keyfile")
    ap.add_argument("domain")
    ap.add_argument("selector")
    ap.add_argument("canon")
    ap.add_argument("msg")
    a = ap.parse_args()

    key, alg = load_key(a.keyfile)
    if a.sha1:
        if alg != b"rsa-sha256":
            raise SystemExit("dkimpy_sign.py: --sha1 needs an RSA key")
        alg = b"rsa-sha1"
    parts = a.canon.lower().split("/")
    if len(parts) == 1:
        parts.append("simple")
    if len(parts) != 2 or any(p not in ("simple", "relaxed") for p in parts):
        raise SystemExit("dkimpy_sign.py: bad CANON %r" % a.canon)
    canon = (parts[0].encode(), parts[1].encode())

    if a.msg == "-":
        msg = sys.stdin.buffer.read()
    else:
        with open(a.msg, "rb") as f:
            msg = f.read()

    include = None
    if a.headers:
        include = [h.strip().encode() for h in a.headers.split(":") if h.strip()]
    ident = a.identity.encode() if a.identity else None

    try:
        sig = dkim.sign(msg, a.selector.encode(), a.domain.encode(), key,
                        identity=ident, canonicalize=canon, signature_algorithm=alg,
                        include_headers=include, length=a.length)
    except dkim.DKIMException as e:
        sys.stderr.write("dkimpy_sign.py: %s: %s\n" % (type(e).__name__, e))
        return 1
    if b"\r\n" not in msg and b"\n" in msg:
        sig = sig.replace(b"\r\n", b"\n")
    out = sys.stdout.buffer
    out.write(sig)
    out.write(msg)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
