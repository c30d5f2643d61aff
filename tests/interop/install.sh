#!/bin/bash
# Install what the interop scripts in this folder need, on Debian bookworm, as root.
# Idempotent: does nothing (no apt-get update) when everything is already present.
#
# usage: tests/interop/install.sh
#
#   python3-dkim    dkimpy 1.1.x: dkimpy_verify.py, dkimpy_sign.py (pulls python3-dnspython)
#   python3-nacl    PyNaCl: Ed25519 in dkimpy, zone_record.py, opendkim_sign.sh self-check
#   libmail-dkim-perl  Mail::DKIM (pulls libnet-dns-perl, libcrypt-openssl-rsa-perl)
#   opendkim        the opendkim binary, run in test mode (-t) only, never as a daemon
#   opendkim-tools  opendkim-testkey/-testmsg etc. (handy for debugging; not used by the scripts)
#   openssl         key generation (selftest.py) and RSA public-key extraction (zone_record.py)
#
# Nothing comes from pip: every dependency has a Debian package.
set -euo pipefail

PKGS="python3 python3-dkim python3-nacl python3-dnspython libmail-dkim-perl libnet-dns-perl opendkim opendkim-tools openssl perl"

source "$(cd "$(dirname "$0")/.." && pwd)/install-lib.sh"
require_root install.sh
apt_install install.sh $PKGS

# sanity checks (the scripts use /usr/bin/python3, not a pyenv shim)
/usr/bin/python3 -c 'import dkim, nacl.signing' \
    || { echo "install.sh: /usr/bin/python3 cannot import dkim/nacl" >&2; exit 1; }
perl -MMail::DKIM::Verifier -MNet::DNS -e 1 \
    || { echo "install.sh: Mail::DKIM not usable" >&2; exit 1; }
command -v opendkim >/dev/null 2>&1 || [ -x /usr/sbin/opendkim ] \
    || { echo "install.sh: opendkim binary missing" >&2; exit 1; }
echo "install.sh: ok"
