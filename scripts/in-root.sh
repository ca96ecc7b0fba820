#!/usr/bin/env bash
# Inside a Debian root made by scripts/pgroot.sh (called by scripts/majors.sh):
# copy the checkout (bind-mounted read-only at /src; the file list arrives on
# standard input) and run `make test` on the root's PostgreSQL MAJOR, as
# the host runs it on 15.  The venv lives in the root, so it is kept with it.
# usage: in-root.sh MAJOR [TARGET [PYTEST_ARGS]]   TARGET: test (default) or all
set -euo pipefail
major=${1:?usage: in-root.sh MAJOR [TARGET [PYTEST_ARGS]]}
target=${2:-test}
rm -rf /build/pgwarden
mkdir -p /build/pgwarden
tar -C /src --null -T - -cf - | tar -C /build/pgwarden -xf -
export PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config
cd /build/pgwarden
make --no-print-directory "$target" PG_MAJOR="$major" PGWARDEN_LEG=1 VENV=/opt/pgwarden/venv \
	PYTEST_ARGS="${3:-} --junitxml=/results/pg$major.xml"
