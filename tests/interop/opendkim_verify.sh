#!/bin/bash
# Verify every DKIM-Signature in a message with OpenDKIM's test mode
# (opendkim -t), keys served from a zone file (no DNS at all).
#
# usage: opendkim_verify.sh ZONE MSG
#
# ZONE: NAME<TAB>TXT-VALUE per line, '#' lines ignored.
# MSG:  message file ('-' for stdin).
#
# How: the zone is rewritten into an OpenDKIM "TestPublicKeys" file
# (NAME<space>VALUE), so libopendkim reads keys from that file instead of
# DNS.  ("Nameservers 127.0.0.1" is set as a belt-and-braces guard; no DNS
# query is made in practice.)  opendkim -t only prints one summary line for
# the first/best signature, but with -vv it dumps the Authentication-Results
# header it would add, which has one dkim=<result> entry per signature in
# header order.  Those entries are matched to the message's DKIM-Signature
# fields.  If the counts disagree (or OPENDKIM_VERIFY_MODE=isolate is set),
# each signature is verified alone in a temporary copy of the message from
# which the other DKIM-Signature fields were removed.
#
# Prints one line per signature, topmost first:
#   pass d=<d> s=<s>
#   fail d=<d> s=<s> <result> (<reason>)
# Exit 0 iff there is at least one signature and all pass, 1 otherwise,
# 2 on usage/setup error.  Needs Debian opendkim and /usr/bin/python3.

set -u
if [ $# -ne 2 ]; then
    echo "usage: opendkim_verify.sh ZONE MSG" >&2
    exit 2
fi
ZONE=$1
MSG=$2
command -v opendkim >/dev/null 2>&1 || [ -x /usr/sbin/opendkim ] || {
    echo "opendkim_verify.sh: opendkim not installed (run tests/interop/install.sh)" >&2
    exit 2
}
OPENDKIM=$(command -v opendkim 2>/dev/null || echo /usr/sbin/opendkim)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/opendkim_verify.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT

if [ "$MSG" = "-" ]; then
    cat > "$TMP/stdin.eml"
    MSG="$TMP/stdin.eml"
fi
[ -r "$ZONE" ] || { echo "opendkim_verify.sh: cannot read $ZONE" >&2; exit 2; }
[ -r "$MSG" ] || { echo "opendkim_verify.sh: cannot read $MSG" >&2; exit 2; }

export OPENDKIM TMP
cat > "$TMP/impl.py" <<'PY'
import os, re, subprocess, sys

OPENDKIM, TMP = os.environ["OPENDKIM"], os.environ["TMP"]
zone_path, msg_path = sys.argv[1], sys.argv[2]

# --- zone -> TestPublicKeys file ---------------------------------------
with open(zone_path, "rb") as f, open(os.path.join(TMP, "keys"), "wb") as out:
    for raw in f:
        line = raw.rstrip(b"\r\n")
        if not line.strip() or line.lstrip().startswith(b"#") or b"\t" not in line:
            continue
        name, value = line.split(b"\t", 1)
        name = name.strip().rstrip(b".")
        value = value.strip()
        if value.startswith(b"\""):
            value = b"".join(re.findall(rb'"([^"]*)"', value))
        out.write(name + b" " + value + b"\n")
        if name.lower() != name:
            out.write(name.lower() + b" " + value + b"\n")

conf = os.path.join(TMP, "opendkim.conf")
with open(conf, "w") as f:
    f.write("Mode v\nSyslog no\nAuthservID interop\nAlwaysAddARHeader yes\n"
            "Nameservers 127.0.0.1\nTestPublicKeys %s\n" % os.path.join(TMP, "keys"))

with open(msg_path, "rb") as f:
    msg = f.read()

# --- find the DKIM-Signature fields (with their folded lines) ----------
def header_fields(data):
    """Return list of (start, end, name) for each header field."""
    fields, pos = [], 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        line = data[pos:end]
        if line in (b"\r\n", b"\n") or line.strip(b"\r\n") == b"":
            break
        if line[:1] in (b" ", b"\t") and fields:
            s, _, n = fields[-1]
            fields[-1] = (s, end, n)
        else:
            n = line.split(b":", 1)[0].strip().lower() if b":" in line else b""
            fields.append((pos, end, n))
        pos = end
    return fields

fields = header_fields(msg)
sigs = [(s, e) for s, e, n in fields if n == b"dkim-signature"]

def tag(v, t):
    m = re.search(rb"(?:^|;)\s*" + t + rb"\s*=\s*([^;]*)", v)
    return re.sub(rb"\s+", b"", m.group(1)).decode("ascii", "replace") if m else "?"

ids = []
for s, e in sigs:
    v = msg[s:e].split(b":", 1)[1]
    ids.append((tag(v, b"d"), tag(v, b"s")))

if not sigs:
    print("fail d=? s=? no DKIM-Signature header")
    sys.exit(1)

def run(path):
    p = subprocess.run([OPENDKIM, "-x", conf, "-vv", "-t", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.decode("utf-8", "replace")
    m = re.search(r"### INSHEADER: idx=\d+ hname='Authentication-Results' hvalue='(.*?)'(?:\n(?![ \t])|\n?\Z)",
                  out, re.S)
    out += p.stderr.decode("utf-8", "replace")
    res = []
    if m:
        for part in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', m.group(1)):
            part = " ".join(part.split())
            mm = re.match(r"dkim=(\w+)(.*)", part)
            if not mm:
                continue
            rest = mm.group(2)
            reason = re.search(r'reason="([^"]*)"', rest)
            comment = re.search(r"\(([^)]*)\)", rest)
            d = re.search(r"header\.d=(\S+)", rest)
            s = re.search(r"header\.s=(\S+)", rest)
            res.append((mm.group(1),
                        reason.group(1) if reason else (comment.group(1) if comment else ""),
                        d.group(1) if d else "?", s.group(1) if s else "?"))
    summary = [l for l in out.splitlines() if ": verification (" in l or "message not signed" in l]
    return res, out, summary

results = None
mode = os.environ.get("OPENDKIM_VERIFY_MODE", "auto")
if mode != "isolate":
    res, out, summary = run(msg_path)
    res = [r for r in res if r[0] != "none"]
    if len(res) == len(sigs) and all(r[2] == ids[i][0] for i, r in enumerate(res)):
        results = res
    elif mode == "single":
        sys.stderr.write(out)
        print("fail d=? s=? opendkim reported %d results for %d signatures" % (len(res), len(sigs)))
        sys.exit(1)

if results is None:          # verify each signature alone
    results = []
    for i, (s, e) in enumerate(sigs):
        keep = bytearray()
        last = 0
        for j, (s2, e2) in enumerate(sigs):
            if j != i:
                keep += msg[last:s2]
                last = e2
        keep += msg[last:]
        path = os.path.join(TMP, "sig%d.eml" % i)
        with open(path, "wb") as f:
            f.write(bytes(keep))
        res, out, summary = run(path)
        res = [r for r in res if r[0] != "none"]
        if len(res) == 1:
            results.append(res[0])
        else:
            results.append(("error", "opendkim gave %d results for this signature alone: %s" % (
                len(res), " | ".join(summary) or "message not evaluated (no Authentication-Results)"),
                            ids[i][0], ids[i][1]))

ok = True
for (d, s), (result, reason, _, _) in zip(ids, results):
    if result == "pass":
        print("pass d=%s s=%s" % (d, s))
    else:
        ok = False
        print("fail d=%s s=%s %s (%s)" % (d, s, result, reason))
sys.exit(0 if ok else 1)
PY
/usr/bin/python3 "$TMP/impl.py" "$ZONE" "$MSG"
exit $?
