#!/bin/bash
# Install the DNS server the real-DNS tests (tests/it/real_dns.rs) start, on Debian bookworm,
# as root. Idempotent: does nothing (no apt-get update) when it is already present.
#
# usage: tests/dns/install.sh
#
#   knot    Knot DNS 3.2 (knotd, the authoritative server; knotc, its control tool).
#           The tests run knotd themselves, in the foreground, on 127.0.0.1 and a free
#           port, with a configuration in a temporary directory; the packaged service is
#           never started (a policy-rc.d forbids it during the install).
#
# Everything comes from apt.
set -euo pipefail

PKGS="knot"

source "$(cd "$(dirname "$0")/.." && pwd)/install-lib.sh"
require_root dns/install.sh
apt_install dns/install.sh $PKGS

# sanity checks
for prog in knotd knotc; do
    command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] \
        || { echo "dns/install.sh: $prog missing" >&2; exit 1; }
done
/usr/sbin/knotd --version
echo "dns/install.sh: ok"
