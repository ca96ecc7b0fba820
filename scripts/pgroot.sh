#!/usr/bin/env bash
# A Debian root with PostgreSQL MAJOR from Debian's packages, for the suite of
# that major (scripts/majors.sh).  Made with `debootstrap --variant=minbase`
# and kept under $PGWARDEN_CACHE (default /var/cache/pgwarden), outside the
# clone; reused only while the packages in it are the versions the archive
# now offers for its suite (written to root.versions when it is made).
#
# usage: pgroot.sh MAJOR          print the root's path, making it if needed
#        pgroot.sh MAJOR --run CMD...  run CMD inside it (mounts set up and
#                                      always taken down again)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/majors.conf
. "$here/majors.conf"

major=${1:?usage: pgroot.sh MAJOR [--run CMD...]}
shift
suite_var=PG${major}_SUITE
suite=${!suite_var:-}
if [ -z "$suite" ]; then
	echo "pgroot.sh: no Debian suite for PostgreSQL $major (scripts/majors.conf)" >&2
	exit 2
fi
cache=${PGWARDEN_CACHE:-/var/cache/pgwarden}
root=$cache/roots/$suite-pg$major
checkout=$(cd "$here/.." && pwd)

# Packages the suite needs inside the root (the counterpart of deps.sh).
pkgs=(make gcc libc6-dev "postgresql-$major" "postgresql-client-$major"
      "postgresql-server-dev-$major" python3 python3-venv python3-dev openssl
      ca-certificates util-linux iproute2 procps)
extra_var=PG${major}_EXTRA
# shellcheck disable=SC2206
pkgs+=(${!extra_var:-})

mounts=()
umount_all() {
	local i
	stop_root_processes
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" || true
	done
	mounts=()
}
trap umount_all EXIT
trap 'exit 130' INT TERM

# Whatever still runs inside the root (a server a failed test left behind):
# ended by its pid before the mounts go.
stop_root_processes() {
	local pids p sig
	[ ${#mounts[@]} -gt 0 ] || return 0
	for sig in TERM KILL; do
		pids=()
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
		done
		[ ${#pids[@]} -gt 0 ] || return 0
		echo "pgroot.sh: ending ${#pids[@]} process(es) left in $root (SIG$sig)" >&2
		kill -"$sig" "${pids[@]}" 2>/dev/null || true
		sleep 2
	done
}

bind() {  # bind SRC DEST [ro]
	mkdir -p "$2"
	mount --bind "$1" "$2"
	mounts+=("$2")
	if [ "${3:-}" = ro ]; then
		mount -o remount,bind,ro "$2"
	fi
}

mount_root() {
	bind /proc "$root/proc"
	bind /dev "$root/dev"
	bind /dev/shm "$root/dev/shm"
	bind /dev/pts "$root/dev/pts"
	bind "$checkout" "$root/src" ro
	if [ -n "${PGWARDEN_RESULTS:-}" ]; then
		mkdir -p "$PGWARDEN_RESULTS"
		bind "$PGWARDEN_RESULTS" "$root/results"
	fi
	copy_host_config
}

# What apt and pip need to work inside: name resolution, the host's CA bundle
# and pip configuration (files and PIP_* variables, passed by majors.sh).
copy_host_config() {
	cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
		mkdir -p "$root/etc/ssl/certs"
		cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
	fi
	local f dest
	for f in /etc/pip.conf /etc/xdg/pip "$HOME/.config/pip" "$HOME/.pip"; do
		[ -e "$f" ] || continue
		case $f in
		"$HOME"/*) dest=$root/root/${f#"$HOME"/} ;;
		*) dest=$root$f ;;
		esac
		rm -rf "$dest"
		mkdir -p "$(dirname "$dest")"
		cp -a "$f" "$dest"
	done
}

# The host's PIP_* variables, passed into the root.
pip_env=()
while IFS= read -r line; do
	pip_env+=("$line")
done < <(env | grep -E '^PIP_[A-Z_]+=' || true)

in_root() {
	chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "${pip_env[@]}" "$@"
}

# Versions of the root's packages that matter, as dpkg reports them.
installed_versions() {
	in_root dpkg-query -W -f='${Package}=${Version}\n' "${pkgs[@]}" </dev/null 2>/dev/null | sort
}

# The versions the archive offers now (after apt-get update inside the root).
candidate_versions() {
	in_root apt-get update -qq </dev/null >/dev/null
	local p
	for p in "${pkgs[@]}"; do
		printf '%s=%s\n' "$p" "$(in_root apt-cache policy "$p" </dev/null | awk '/Candidate:/ {print $2}')"
	done | sort
}

# Refuse to delete a tree that still has something mounted under it.
remove_tree() {
	if awk -v p="$1" '$2 == p || index($2, p "/") == 1 {found = 1} END {exit !found}' /proc/mounts; then
		echo "pgroot.sh: $1 still has mounts under it; not removing it" >&2
		exit 1
	fi
	rm -rf "$1"
}

make_root() {
	local tmp=$root.new
	remove_tree "$tmp"
	mkdir -p "$tmp"
	echo "pgroot.sh: debootstrap --variant=minbase $suite into $tmp"
	debootstrap --variant=minbase --components=main "$suite" "$tmp" \
		>"$cache/roots/debootstrap-$suite-pg$major.log" 2>&1 || {
		tail -20 "$cache/roots/debootstrap-$suite-pg$major.log" >&2
		exit 1
	}
	# Debian's postgresql-common would create a cluster; the suite makes its own.
	mkdir -p "$tmp/etc/postgresql-common/createcluster.d"
	echo "create_main_cluster = false" >"$tmp/etc/postgresql-common/createcluster.d/pgwarden.conf"
	# The archive this machine reaches may serve a fixed snapshot: testing's
	# Release files carry a Valid-Until a week ahead, which such a snapshot
	# outlives (signatures are still checked).
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Check-Valid-Until "false";\n' \
		>"$tmp/etc/apt/apt.conf.d/90pgwarden"
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod 755 "$tmp/usr/sbin/policy-rc.d"
	local final=$root
	root=$tmp
	mount_root
	in_root apt-get update -qq </dev/null
	in_root apt-get install -y -qq "${pkgs[@]}" </dev/null >"$cache/roots/apt-$suite-pg$major.log" 2>&1 || {
		tail -20 "$cache/roots/apt-$suite-pg$major.log" >&2
		exit 1
	}
	in_root apt-get clean </dev/null
	installed_versions >"$tmp/root.versions"
	umount_all
	root=$final
	remove_tree "$root"
	mv "$tmp" "$root"
}

if ! command -v debootstrap >/dev/null; then
	echo "pgroot.sh: installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi
mkdir -p "$cache/roots"
exec 9>"$cache/roots/.lock-$suite-pg$major"
flock 9

if [ -f "$root/root.versions" ]; then
	mount_root
	if [ "$(candidate_versions)" != "$(cat "$root/root.versions")" ]; then
		echo "pgroot.sh: the archive moved on since $root was made; making it again" >&2
		umount_all
		make_root
	else
		umount_all
	fi
else
	make_root
fi

if [ "${1:-}" != --run ]; then
	echo "$root"
	exit 0
fi
shift
mount_root
in_root "$@"
