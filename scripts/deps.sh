#!/usr/bin/env bash
# Install the Debian packages pgwarden needs, only those missing (so a machine
# that has them makes no network call).  Usage: deps.sh [bench|indent|entropy-data]
# PG_MAJOR (default 15) names the PostgreSQL major: 15 is Debian 12's; 17 and
# 18 are installed in their Debian roots by scripts/pgroot.sh; 16 comes from
# PyPI and npm (scripts/pg16.sh), so no server package is asked for.
set -euo pipefail

major=${PG_MAJOR:-15}
pkgs=(make gcc libc6-dev python3 python3-venv python3-dev openssl ca-certificates util-linux
      iproute2 procps zsh)
if [ "$major" != 16 ]; then
	pkgs+=("postgresql-$major" "postgresql-client-$major" "postgresql-server-dev-$major")
fi
if [ "${1:-}" = indent ]; then
	# pgindent's formatter, and objdump for the typedefs of a build
	pkgs+=(pg-bsd-indent binutils)
fi
if [ "${1:-}" = entropy-data ] || [ "${1:-}" = bench ]; then
	# the spelling dictionaries the character model is also trained on
	# (tools/gen_entropy_data.py pins their versions)
	pkgs+=(hunspell-ca hunspell-cs hunspell-hu hunspell-sk hunspell-sl hunspell-hr
	       hunspell-lt hunspell-lv hunspell-ro hunspell-is hunspell-id)
fi
if [ "${1:-}" = bench ]; then
	pkgs+=(libzxcvbn-dev wamerican wbritish john-data clang-14 libclang-rt-14-dev
	       wngerman wfrench wspanish witalian wportuguese wdutch wpolish wswedish
	       wdanish wnorwegian wukrainian)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's postgresql-common would create and start a default cluster on 5432;
# the project starts its own throwaway clusters instead.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/pgwarden.conf
apt-get install -y -qq --no-install-recommends "${missing[@]}"
