#!/bin/bash
# Shared by the install scripts of the test suites (tests/*/install.sh): sourced, not run.
#
#   require_root NAME          exits unless running as root
#   missing_packages PKG...    prints the packages of the list that are not installed
#   apt_install NAME PKG...    installs the missing ones, if any (apt-get update only then),
#                              with a policy-rc.d in place so that no packaged service starts
#
# NAME prefixes every message, e.g. "dns/install.sh".

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$1: must run as root" >&2
        exit 1
    fi
}

missing_packages() {
    local p out=""
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            out="$out $p"
        fi
    done
    echo "$out"
}

apt_install() {
    local name="$1"
    shift
    local missing
    missing="$(missing_packages "$@")"
    if [ -z "$missing" ]; then
        echo "$name: all packages already installed"
        return 0
    fi
    echo "$name: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # A package's postinst may try to start its service (opendkim, knot, postgresql); a
    # policy-rc.d that forbids service starts keeps containers and CI machines quiet.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing
}
