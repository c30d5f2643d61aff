#!/bin/bash
# Install what the SMTP end-to-end tests (tests/it/smtp.rs) need, on Debian bookworm, as root.
# Idempotent: does nothing (no apt-get update) when everything is already present.
#
# usage: tests/smtp/install.sh
#
#   python3-aiosmtpd  aiosmtpd 1.4: the SMTP server tests/smtp/sink.py runs on 127.0.0.1
#                     and a free port, in the foreground, for the length of one test
#
# The tests also verify what the server received with dkimpy and OpenDKIM, through the
# scripts in tests/interop/; this script installs those too (tests/interop/install.sh).
# Everything comes from apt; nothing is started as a service.
set -euo pipefail
cd "$(dirname "$0")/../.."

PKGS="python3 python3-aiosmtpd"

source tests/install-lib.sh
require_root smtp/install.sh
apt_install smtp/install.sh $PKGS

# The verifiers (dkimpy, OpenDKIM); idempotent as well.
bash tests/interop/install.sh

# sanity check (the tests use /usr/bin/python3, not a pyenv shim)
/usr/bin/python3 -c 'import aiosmtpd.smtp' \
    || { echo "smtp/install.sh: /usr/bin/python3 cannot import aiosmtpd" >&2; exit 1; }
echo "smtp/install.sh: ok"
