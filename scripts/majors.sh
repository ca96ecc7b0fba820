#!/usr/bin/env bash
# The whole suite on PostgreSQL majors other than Debian 12's 15 (which is
# `make test`'s): 17 and 18 inside Debian roots (scripts/pgroot.sh), 16 on
# this machine from PyPI and npm packages (scripts/pg16.sh).  Each leg builds
# a fresh copy of the tree, so objects built for one major never meet
# another's.  Every leg runs even when one fails; the exit status is non-zero
# if any leg failed or ran no test.
# usage: majors.sh [--build] MAJOR...   PYTEST_ARGS: extra pytest arguments
#   --build: only build the extension for each major (a minute; after a rebase)
# Results: $PGWARDEN_RESULTS (default $PGWARDEN_CACHE/results): pgN.xml
# (JUnit, read by scripts/junit_summary.py), pgN.time (seconds), pgN.rc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/.." && pwd)
cache=${PGWARDEN_CACHE:-/var/cache/pgwarden}
results=${PGWARDEN_RESULTS:-$cache/results}
export PGWARDEN_CACHE=$cache PGWARDEN_RESULTS=$results
pytest_args=${PYTEST_ARGS:-}
target=test
if [ "${1:-}" = --build ]; then
	target=all
	shift
fi
mkdir -p "$results"

# The files of the checkout as git sees them (tracked and untracked, not ignored).
tree_files() {
	git -C "$checkout" ls-files -z -co --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$checkout/$f" ] && printf '%s\0' "$f"
		done
}

leg_16() {
	local work=$cache/work/pg16 venv pg_config
	# One leg at a time in this work directory (a second run waits).
	mkdir -p "$work"
	exec 8>"$work.lock"
	flock 8
	rm -rf "$work/src"
	mkdir -p "$work/src"
	tree_files | tar -C "$checkout" --null -T - -cf - | tar -C "$work/src" -xf -
	venv=$work/venv
	[ -x "$venv/bin/python" ] || bash "$here/venv.sh" "$venv"
	pg_config=$(bash "$here/pg16.sh" "$venv/bin/python")
	PG_CONFIG=$pg_config make -C "$work/src" --no-print-directory "$target" PG_MAJOR=16 \
		PGWARDEN_LEG=1 VENV="$venv" PYTEST_ARGS="$pytest_args --junitxml=$results/pg16.xml"
}

leg_root() {
	tree_files | bash "$here/pgroot.sh" "$1" --run bash /src/scripts/in-root.sh "$1" "$target" \
		"$pytest_args"
}

status=0
for major in "$@"; do
	echo "=== PostgreSQL $major: make $target ==="
	rm -f "$results/pg$major.xml" "$results/pg$major.rc" "$results/pg$major.time"
	start=$(date +%s)
	rc=0
	case $major in
	16) leg_16 || rc=$? ;;
	17 | 18) leg_root "$major" || rc=$? ;;
	*) echo "majors.sh: PostgreSQL $major is not supported (16, 17, 18; 15 is make test)" >&2
	   rc=2 ;;
	esac
	echo $(($(date +%s) - start)) >"$results/pg$major.time"
	echo "$rc" >"$results/pg$major.rc"
	echo "=== PostgreSQL $major: exit $rc, $(cat "$results/pg$major.time") s ==="
	[ "$rc" -eq 0 ] || status=1
done
if [ "$target" = test ]; then
	python3 "$here/junit_summary.py" "$results" "$@" || status=1
fi
exit "$status"
