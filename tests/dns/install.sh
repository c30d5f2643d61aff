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

if [ "$(id -u)" -ne 0 ]; then
    echo "dns/install.sh: must run as root" >&2
    exit 1
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "dns/install.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # knot's postinst would start the system service; keep it from doing so (and from
    # taking port 53) in containers and CI machines.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y --no-install-recommends $missing
else
    echo "dns/install.sh: all packages already installed"
fi

# sanity checks
for prog in knotd knotc; do
    command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] \
        || { echo "dns/install.sh: $prog missing" >&2; exit 1; }
done
/usr/sbin/knotd --version
echo "dns/install.sh: ok"
