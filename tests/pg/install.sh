#!/bin/bash
# Install the PostgreSQL server the cluster tests (tests/it/cluster.rs) start, on Debian, as
# root. Idempotent: does nothing (no apt-get update) when a server is already present.
#
# usage: tests/pg/install.sh
#
#   postgresql   the server binaries (initdb, pg_ctl, postgres, pg_dump) under
#                /usr/lib/postgresql/<version>/bin, and the `postgres` system user the
#                tests run them as when they run as root. Each test creates its own
#                database cluster in a temporary directory and starts it on 127.0.0.1 and
#                a free port, stops it (and restarts it, for the database-down test) and
#                removes it; the packaged service is never started (a policy-rc.d forbids
#                it during the install).
#
# Everything comes from apt.
set -euo pipefail

source "$(cd "$(dirname "$0")/.." && pwd)/install-lib.sh"
require_root pg/install.sh

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
    echo "pg/install.sh: PostgreSQL already installed"
else
    apt_install pg/install.sh postgresql
fi

# sanity checks
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
for prog in initdb pg_ctl postgres pg_dump; do
    [ -x "$bin/$prog" ] || { echo "pg/install.sh: $bin/$prog missing" >&2; exit 1; }
done
id postgres >/dev/null
command -v runuser >/dev/null || { echo "pg/install.sh: runuser missing (util-linux)" >&2; exit 1; }
"$bin/postgres" --version
echo "pg/install.sh: ok"
