#!/bin/bash
# Sign a message with OpenDKIM's test mode and write the signed message to stdout.
#
# usage: opendkim_sign.sh [--headers h1:h2:...] [--time UNIXTIME]
#                         KEYFILE DOMAIN SELECTOR CANON MSG > OUT
#
# KEYFILE  RSA private key PEM (PKCS#1 or PKCS#8), Ed25519 PKCS#8 PEM, or a
#          file with the base64 32-byte Ed25519 seed (converted to PKCS#8).
#          The algorithm (rsa-sha256 / ed25519-sha256) follows the key type.
# CANON    simple/simple, relaxed/simple, simple/relaxed, relaxed/relaxed.
# MSG      message file ('-' for stdin).
# --headers  colon-separated header names to sign (OpenDKIM SignHeaders);
#            default is OpenDKIM's own list (those present of From, To,
#            Subject, Date, ... ; Message-ID is not in it).
# --time     fixed t= value (opendkim -F), for reproducible output.
#
# How: opendkim -t (test mode) with a KeyTable/SigningTable that signs every
# message ("*") with KEYFILE as DOMAIN/SELECTOR.  Test mode does not write
# the message out; with -vv it prints the header it would insert
# ("### INSHEADER: idx=0 hname='DKIM-Signature' hvalue='...'").  That field
# is put on top of the unchanged message, folded with CRLF when the message
# has any CRLF, bare LF otherwise.
#
# OpenDKIM 2.11 bug: ed25519-sha256 with simple header canonicalization
# emits a header folded differently from what it signed.  The script
# self-checks such signatures with dkimpy and rejoins "b=" to the h= line
# when that is what OpenDKIM signed (message on stderr); set
# OPENDKIM_SIGN_RAW=1 to get OpenDKIM's unrepaired output.  Exit 0 on success, 1 if opendkim did not
# sign, 2 on usage error.  Needs Debian opendkim and /usr/bin/python3.

set -u
usage() {
    echo "usage: opendkim_sign.sh [--headers h1:h2:...] [--time UNIXTIME] KEYFILE DOMAIN SELECTOR CANON MSG > OUT" >&2
    exit 2
}
HEADERS=""
FIXTIME=""
while [ $# -gt 0 ]; do
    case "$1" in
        --headers) [ $# -ge 2 ] || usage; HEADERS=$2; shift 2 ;;
        --time) [ $# -ge 2 ] || usage; FIXTIME=$2; shift 2 ;;
        --) shift; break ;;
        -*) [ "$1" = "-" ] && break; usage ;;
        *) break ;;
    esac
done
[ $# -eq 5 ] || usage
KEYFILE=$1 DOMAIN=$2 SELECTOR=$3 CANON=$4 MSG=$5

OPENDKIM=$(command -v opendkim 2>/dev/null || echo /usr/sbin/opendkim)
[ -x "$OPENDKIM" ] || { echo "opendkim_sign.sh: opendkim not installed (run tests/interop/install.sh)" >&2; exit 2; }
case "$CANON" in
    simple|relaxed|simple/simple|simple/relaxed|relaxed/simple|relaxed/relaxed) ;;
    *) echo "opendkim_sign.sh: bad CANON '$CANON'" >&2; exit 2 ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/opendkim_sign.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
chmod 700 "$TMP"

if [ "$MSG" = "-" ]; then
    cat > "$TMP/stdin.eml"
    MSG="$TMP/stdin.eml"
fi
[ -r "$KEYFILE" ] || { echo "opendkim_sign.sh: cannot read $KEYFILE" >&2; exit 2; }
[ -r "$MSG" ] || { echo "opendkim_sign.sh: cannot read $MSG" >&2; exit 2; }

export OPENDKIM_SIGN_RAW=${OPENDKIM_SIGN_RAW:-0}
export OPENDKIM TMP KEYFILE DOMAIN SELECTOR CANON MSG HEADERS FIXTIME
cat > "$TMP/impl.py" <<'PY'
import base64, os, re, subprocess, sys

E = os.environ
TMP = E["TMP"]
ED_PREFIX = bytes.fromhex("302e020100300506032b657004220420")

# --- key: copy into TMP as PEM, find the algorithm -----------------------
with open(E["KEYFILE"], "rb") as f:
    data = f.read()
keypath = os.path.join(TMP, "key.pem")
if b"-----BEGIN" in data:
    m = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END", data, re.S)
    der = base64.b64decode(b"".join(m.group(2).split())) if m else b""
    alg = "ed25519-sha256" if der.startswith(ED_PREFIX) and len(der) == 48 else "rsa-sha256"
    SEED = der[16:] if alg == "ed25519-sha256" else None
    pem = data
else:
    seed = base64.b64decode(b"".join(data.split()))
    if len(seed) != 32:
        sys.exit("opendkim_sign.sh: key is neither PEM nor a base64 32-byte Ed25519 seed")
    SEED = seed
    b64 = base64.b64encode(ED_PREFIX + seed)
    pem = b"-----BEGIN PRIVATE KEY-----\n" + b64 + b"\n-----END PRIVATE KEY-----\n"
    alg = "ed25519-sha256"
with open(keypath, "wb") as f:
    f.write(pem)
os.chmod(keypath, 0o600)

for k in ("DOMAIN", "SELECTOR"):
    if re.search(r"[\s:]", E[k]):
        sys.exit("opendkim_sign.sh: %s must not contain ':' or whitespace" % k)
with open(os.path.join(TMP, "keytable"), "w") as f:
    f.write("k1 %s:%s:%s\n" % (E["DOMAIN"], E["SELECTOR"], keypath))
with open(os.path.join(TMP, "signingtable"), "w") as f:
    f.write("* k1\n")
conf = os.path.join(TMP, "opendkim.conf")
with open(conf, "w") as f:
    f.write("Mode s\nSyslog no\nRequireSafeKeys no\nNameservers 127.0.0.1\n")
    f.write("KeyTable file:%s\n" % os.path.join(TMP, "keytable"))
    f.write("SigningTable refile:%s\n" % os.path.join(TMP, "signingtable"))
    f.write("Canonicalization %s\n" % E["CANON"])
    f.write("SignatureAlgorithm %s\n" % alg)
    if E["HEADERS"]:
        f.write("SignHeaders %s\n" % ",".join(h.strip() for h in E["HEADERS"].split(":") if h.strip()))

cmd = [E["OPENDKIM"], "-x", conf, "-vv"]
if E["FIXTIME"]:
    cmd += ["-F", E["FIXTIME"]]
cmd += ["-t", E["MSG"]]
p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out = p.stdout.decode("utf-8", "replace")
m = re.search(r"### INSHEADER: idx=(\d+) hname='DKIM-Signature' hvalue='(.*?)'(?:\n(?![ \t])|\n?\Z)", out, re.S)
if not m:
    sys.stderr.write(out + p.stderr.decode("utf-8", "replace"))
    sys.exit("opendkim_sign.sh: opendkim did not produce a DKIM-Signature (exit %d)" % p.returncode)
if m.group(1) != "0":
    sys.stderr.write("opendkim_sign.sh: warning: opendkim asked to insert at idx=%s; prepending anyway\n" % m.group(1))

with open(E["MSG"], "rb") as f:
    msg = f.read()
eol = b"\r\n" if b"\r\n" in msg or b"\n" not in msg else b"\n"
value = m.group(2).encode("utf-8")
value = re.sub(rb"\r?\n", eol, value)
signed = b"DKIM-Signature: " + value + eol + msg

# OpenDKIM 2.11.0~beta2 bug: with ed25519-sha256 and *simple* header
# canonicalization it hashes the DKIM-Signature template with "b=" still on
# the h= line but emits the header with b= folded onto a new line, so its
# own output never verifies.  Unless OPENDKIM_SIGN_RAW=1, check the result
# with dkimpy against the key's own public half and, if it fails, rejoin
# "b=" to the previous line (what OpenDKIM actually signed).
def self_verify(data):
    try:
        import dkim, nacl.signing
    except ImportError:
        return None
    pubrec = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(
        nacl.signing.SigningKey(SEED).verify_key.encode())
    try:
        return bool(dkim.DKIM(data).verify(idx=0, dnsfunc=lambda n, timeout=5: pubrec))
    except Exception:
        return None

if alg == "ed25519-sha256" and E["CANON"].startswith("simple") and E.get("OPENDKIM_SIGN_RAW") != "1":
    if self_verify(signed) is False:
        fixed = b"DKIM-Signature: " + re.sub(rb";" + re.escape(eol) + rb"\tb=", b"; b=", value) + eol + msg
        if self_verify(fixed):
            sys.stderr.write("opendkim_sign.sh: applied workaround for OpenDKIM ed25519 + simple "
                             "header folding bug (b= rejoined to the h= line)\n")
            signed = fixed
        else:
            sys.stderr.write("opendkim_sign.sh: warning: OpenDKIM ed25519 + simple signature does "
                             "not self-verify; emitting it unchanged\n")
sys.stdout.buffer.write(signed)
PY
/usr/bin/python3 "$TMP/impl.py"
exit $?
