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
if [ "$target" = deb ]; then
	# The Debian source package: dpkg-buildpackage builds postgresql-N-pgwarden
	# (pg_buildext runs the regression test in a throwaway cluster), the .deb is
	# installed, the autopkgtest runs against it, and it is purged again.
	rm -f /build/*.deb /build/*.buildinfo /build/*.changes
	dpkg-buildpackage -us -uc -b
	pkg=postgresql-$major-pgwarden
	trap 'dpkg --purge "$pkg" >/dev/null 2>&1 || true' EXIT
	dpkg -i /build/"$pkg"_*.deb
	dpkg-query -W -f='installed ${Package} ${Version}\n' "$pkg"
	dpkg -L "$pkg" | grep -E '/pgwarden(\.so|\.control)$'
	debian/tests/installcheck
	exit 0
fi
make --no-print-directory "$target" PG_MAJOR="$major" PGWARDEN_LEG=1 VENV=/opt/pgwarden/venv \
	PYTEST_ARGS="${3:-} --junitxml=/results/pg$major.xml"
