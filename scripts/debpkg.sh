#!/usr/bin/env bash
# The Debian source package (debian/) built, installed and tested the way a
# DBA on Debian would: in a Debian 12 root with Debian's postgresql-15
# (scripts/pgroot.sh 15), dpkg-buildpackage builds postgresql-15-pgwarden and
# runs the regression test through pg_buildext, then the .deb is installed
# and debian/tests/installcheck runs against it.  Prints one closing count
# line; exit status non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/.." && pwd)
rc=0
git -C "$checkout" ls-files -z -co --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$checkout/$f" ] && printf '%s\0' "$f"; done |
	bash "$here/pgroot.sh" 15 --run bash /src/scripts/in-root.sh 15 deb || rc=$?
if [ "$rc" -eq 0 ]; then
	echo "debian package: 1 passed, 0 failed"
else
	echo "debian package: 0 passed, 1 failed (exit $rc)"
fi
exit "$rc"
