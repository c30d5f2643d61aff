#!/usr/bin/python3
"""Cross-check the interop scripts against each other (no Rust involved).

usage: selftest.py [--full] [--keep DIR] [MSG...]

Generates throw-away keys (RSA 1024, RSA 2048, Ed25519) and a zone file,
signs each message (default: every tests/data/messages/*.eml) with
dkimpy_sign.py and opendkim_sign.sh, and verifies every result with
dkimpy_verify.py, maildkim_verify.pl and opendkim_verify.sh, both as signed
("raw") and after bare-LF -> CRLF conversion ("crlf", as an MTA would).
Then one body octet (or, for body-less messages, a Subject/From octet) is
changed and every verifier must report failure.

Default canonicalizations: simple/simple and relaxed/relaxed; --full adds
relaxed/simple and simple/relaxed.  Prints a line for every unexpected
result and a summary table; exit 0 iff nothing unexpected happened.
"Expected" here means: pass on the crlf variant (except for the
combinations in known(), printed as KNOWN lines), unsupported for Mail::DKIM + Ed25519, and failure
for every tampered message.  Results on the "raw" variant (only run when
the signed message has bare LFs) are printed as QUIRK lines, not counted.
"""

import glob
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MSGDIR = os.path.join(HERE, "..", "data", "messages")

SIGNERS = {"dkimpy": "dkimpy_sign.py", "opendkim": "opendkim_sign.sh"}
VERIFIERS = {"dkimpy": "dkimpy_verify.py", "maildkim": "maildkim_verify.pl",
             "opendkim": "opendkim_verify.sh"}


def lf_to_crlf(data):
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def tamper(data):
    """Change one octet of the body; fall back to the Subject/From value."""
    m = re.search(rb"\r?\n\r?\n", data)
    if m:
        body_start = m.end()
        for i in range(len(data) - 1, body_start - 1, -1):
            c = data[i:i + 1]
            if c.isalnum():
                return data[:i] + (b"X" if c != b"X" else b"Y") + data[i + 1:], "body"
    for name in (rb"\nsubject", rb"\nfrom"):
        m = re.search(name + rb"[ \t]*:[ \t]*\S", data, re.I)
        if m:
            i = m.end() - 1
            c = data[i:i + 1]
            return data[:i] + (b"X" if c != b"X" else b"Y") + data[i + 1:], "header"
    raise ValueError("nothing to tamper")


def known(mname, signer, canon, verifier):
    """Known disagreements between the third-party implementations (see
    README.md "Quirks"); None if the combination is expected to work."""
    hc, bc = canon.split("/")
    odk = "opendkim" in (signer, verifier)
    if mname == "33":
        return "header name followed by WSP before ':': dkimpy cannot parse, opendkim does not evaluate"
    if mname == "07" and bc == "relaxed" and odk:
        return "opendkim refuses relaxed body without final CRLF"
    if mname == "07" and bc == "simple" and verifier == "maildkim":
        return "Mail::DKIM simple body: no CRLF appended to last line"
    if mname in ("10", "12", "22", "32") and hc == "simple" and odk:
        return "opendkim (milter interface) rewrites whitespace after header colon: simple header canon"
    if mname == "21" and bc == "relaxed" and odk:
        return "opendkim relaxed body drops a lone CR inside a line"
    return None


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def main(argv):
    full = "--full" in argv
    keep = None
    if "--keep" in argv:
        keep = argv[argv.index("--keep") + 1]
    msgs = [a for a in argv if a.endswith(".eml")] or sorted(glob.glob(os.path.join(MSGDIR, "*.eml")))
    canons = ["simple/simple", "relaxed/relaxed"] + (["relaxed/simple", "simple/relaxed"] if full else [])

    tmp = keep or tempfile.mkdtemp(prefix="interop-selftest.")
    os.makedirs(tmp, exist_ok=True)
    keys = {"rsa1024": ["genrsa", "-out", None, "1024"],
            "rsa2048": ["genrsa", "-out", None, "2048"],
            "ed25519": ["genpkey", "-algorithm", "ed25519", "-out", None]}
    zone = os.path.join(tmp, "zone.txt")
    with open(zone, "w") as z:
        for name, args in keys.items():
            path = os.path.join(tmp, name + ".pem")
            if not os.path.exists(path):
                run(["openssl"] + [path if a is None else a for a in args], check=True)
            z.write(run([os.path.join(HERE, "zone_record.py"), path, "example.com", name],
                        check=True).stdout.decode())
        with open(os.path.join(MSGDIR, "foreign.zone")) as f:
            z.write(f.read())

    unexpected = []
    quirks = []
    known_hits = []
    stats = {}
    for msg, signer, key, canon in itertools.product(msgs, SIGNERS, keys, canons):
        mname = os.path.basename(msg)[:2]
        out = os.path.join(tmp, "signed.eml")
        with open(out, "wb") as f:
            p = run([os.path.join(HERE, SIGNERS[signer]), os.path.join(tmp, key + ".pem"),
                     "example.com", key, canon, msg])
            f.write(p.stdout)
        if p.returncode != 0:
            why = known(mname, signer, canon, "-")
            if why:
                known_hits.append("%s sign %s %s %s: %s" % (mname, signer, key, canon, why))
                continue
            unexpected.append("%s sign %s %s %s: exit %d %s" % (mname, signer, key, canon, p.returncode,
                                                               p.stderr.decode(errors="replace").strip()[-200:]))
            continue
        signed = p.stdout
        variants = {"raw": signed, "crlf": lf_to_crlf(signed)}
        tampered, where = tamper(variants["crlf"])
        variants["tamper"] = tampered
        for vname, data in variants.items():
            if vname == "raw" and data == variants["crlf"]:
                continue
            path = os.path.join(tmp, "v-%s.eml" % vname)
            with open(path, "wb") as f:
                f.write(data)
            for ver, script in VERIFIERS.items():
                r = run([os.path.join(HERE, script), zone, path])
                lines = r.stdout.decode(errors="replace").strip().splitlines()
                # the result for our own signature is the first line
                ours = lines[0] if lines else "(no output)"
                status = ours.split(" ", 1)[0]
                key_ = (signer, key, canon, vname, ver)
                stats.setdefault(key_, {}).setdefault(status, 0)
                stats[key_][status] += 1
                if vname == "raw":
                    # bare-LF input: informational only (see README quirks)
                    if status != "pass":
                        quirks.append("%s %-8s %-7s %-15s raw    %-8s %s" % (
                            mname, signer, key, canon, ver, " | ".join(lines)))
                    continue
                if vname == "tamper":
                    ok = status != "pass" and r.returncode != 0
                elif ver == "maildkim" and key == "ed25519":
                    ok = status == "unsupported"
                else:
                    ok = status == "pass"
                if not ok and known(mname, signer, canon, ver):
                    known_hits.append("%s %-8s %-7s %-15s %-6s %-8s %s" % (
                        mname, signer, key, canon, vname, ver, known(mname, signer, canon, ver)))
                elif not ok:
                    unexpected.append("%s %-8s %-7s %-15s %-6s %-8s rc=%d %s" % (
                        mname, signer, key, canon, vname, ver, r.returncode, " | ".join(lines)))
    for q in quirks:
        print("QUIRK (bare-LF input, not counted)", q)
    for k in known_hits:
        print("KNOWN", k)
    for u in unexpected:
        print("UNEXPECTED", u)
    print("\nsummary (signer key canon variant verifier: counts)")
    for k in sorted(stats):
        print("  %-8s %-7s %-15s %-6s %-8s %s" % (k + (" ".join("%s=%d" % kv for kv in sorted(stats[k].items())),)))
    print("\n%d unexpected results, %d known quirks hit, %d bare-LF quirks" % (
        len(unexpected), len(known_hits), len(quirks)))
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
