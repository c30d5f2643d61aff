#!/usr/bin/python3
"""Verify every DKIM-Signature in a message with dkimpy, keys from a zone file.

usage: dkimpy_verify.py ZONE MSG

ZONE: one record per line, NAME<TAB>TXT-VALUE (name without trailing dot),
      '#' lines and blank lines ignored.  No network is used.
MSG:  the message file ('-' for stdin), CRLF or bare LF.

Prints one line per signature, topmost first:
    pass d=<d> s=<s>
    fail d=<d> s=<s> <reason>
Exit 0 iff there is at least one signature and all pass; 1 otherwise;
2 on usage error.  Needs Debian python3-dkim and python3-nacl (ed25519).
"""

import logging
import re
import sys

try:
    import dkim
    from dkim.util import parse_tag_value
except ImportError:
    sys.stderr.write("dkimpy_verify.py: python3-dkim not installed (run tests/interop/install.sh)\n")
    sys.exit(2)


def load_zone(path):
    zone = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\r\n")
            if not line.strip() or line.lstrip().startswith(b"#"):
                continue
            if b"\t" not in line:
                sys.stderr.write("zone: ignoring line without TAB: %r\n" % line)
                continue
            name, value = line.split(b"\t", 1)
            name = name.strip().rstrip(b".").lower()
            value = value.strip()
            if value.startswith(b'"'):
                # "part1" "part2" -> concatenate character-strings
                value = b"".join(re.findall(rb'"((?:[^"\\]|\\.)*)"', value))
            zone.setdefault(name, value)
    return zone


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.msgs = []

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            self.msgs.append(record.getMessage())


def tag(fields, key):
    v = fields.get(key)
    if v is None:
        return "?"
    return re.sub(rb"\s+", b"", v).decode("ascii", "replace")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: dkimpy_verify.py ZONE MSG\n")
        return 2
    zone = load_zone(argv[1])
    if argv[2] == "-":
        msg = sys.stdin.buffer.read()
    else:
        with open(argv[2], "rb") as f:
            msg = f.read()

    def dnsfunc(name, timeout=5):
        if isinstance(name, str):
            name = name.encode()
        return zone.get(name.rstrip(b".").lower())

    try:
        sigs = [v for k, v in dkim.DKIM(msg).headers if k.lower() == b"dkim-signature"]
    except Exception as e:  # unparseable header block
        print("fail d=? s=? message parse error: %s" % e)
        return 1
    if not sigs:
        print("fail d=? s=? no DKIM-Signature header")
        return 1

    all_ok = True
    for idx, value in enumerate(sigs):
        try:
            fields = parse_tag_value(value)
        except Exception:
            fields = {}
        d, s = tag(fields, b"d"), tag(fields, b"s")
        logger = logging.getLogger("dkimpy_verify.%d" % idx)
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        coll = Collect()
        logger.handlers = [coll]
        try:
            ok = dkim.DKIM(msg, logger=logger).verify(idx=idx, dnsfunc=dnsfunc)
            reason = "; ".join(coll.msgs) or "signature (b=) did not verify"
        except dkim.DKIMException as e:
            ok, reason = False, "%s: %s" % (type(e).__name__, e)
        except Exception as e:  # e.g. bad base64, unsupported key
            ok, reason = False, "%s: %s" % (type(e).__name__, e)
        if ok:
            print("pass d=%s s=%s" % (d, s))
        else:
            all_ok = False
            print("fail d=%s s=%s %s" % (d, s, reason.replace("\n", " ")))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
