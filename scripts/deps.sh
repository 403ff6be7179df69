#!/usr/bin/env bash
# deps.sh: install what building, running and testing the server needs.
#
# Idempotent and fast when nothing is missing (one dpkg-query call, no network).
# Missing Debian packages are installed with apt-get (as root, no prompts); when
# package.json exists, npm packages are installed from the committed
# package-lock.json with `npm ci` whenever node_modules is missing or older
# than the lockfile or package.json (node_modules/.oes-deps-stamp records the
# last npm ci). Not root and something missing: says what to run, exits 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PACKAGES=(
	build-essential pkg-config
	libevent-dev libpq-dev libjson-c-dev libcurl4-openssl-dev libhiredis-dev libvips42
	libjwt-dev libsodium-dev libmagic-dev libcmocka-dev zlib1g-dev
	postgresql-15 postgresql-client-15 redis-server
	wrk python3 python3-icalendar curl procps util-linux clang-format valgrind nginx-light awscli
	clang libclang-rt-14-dev slowhttptest python3-aiosmtpd libvips42 python3-icalendar
)
# Node.js may come from elsewhere (e.g. NodeSource); only fall back to
# Debian's packages when there is no `node` at all.
if ! command -v node >/dev/null 2>&1; then
	PACKAGES+=(nodejs npm)
elif [[ -f "$ROOT/package.json" ]] && ! command -v npm >/dev/null 2>&1; then
	PACKAGES+=(npm)
fi

say() { printf 'deps: %s\n' "$*" >&2; }

# Installed means dpkg status "ii"; unknown packages print nothing.
missing_packages() {
	local -A ok=()
	local status name p
	while read -r status name; do
		[[ $status == ii ]] && ok[${name%%:*}]=1
	done < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null || true)
	for p in "${PACKAGES[@]}"; do
		[[ -n ${ok[$p]:-} ]] || printf '%s\n' "$p"
	done
}

mapfile -t MISSING < <(missing_packages)

if ((${#MISSING[@]} > 0)); then
	if [[ $(id -u) -ne 0 ]]; then
		say "missing Debian packages: ${MISSING[*]}"
		say "install them with:"
		say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${MISSING[*]}"
		exit 1
	fi
	say "installing: ${MISSING[*]}"
	export DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none
	# The packages' own services (the distribution's PostgreSQL cluster on
	# 5432, redis on 6379) are not started: the project starts what it needs.
	policy=/usr/sbin/policy-rc.d
	rm_policy() { :; }
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# scripts/deps.sh: no service starts during its apt-get install\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		rm_policy() { rm -f "$policy"; }
		trap rm_policy EXIT
	fi
	apt=(apt-get -q -o DPkg::Lock::Timeout=300)
	"${apt[@]}" update >&2
	"${apt[@]}" install -y --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${MISSING[@]}" </dev/null >&2
	rm_policy
	mapfile -t STILL < <(missing_packages)
	if ((${#STILL[@]} > 0)); then
		say "still missing after apt-get install: ${STILL[*]}"
		exit 1
	fi
fi

# npm packages, pinned by the committed lockfile.
if [[ -f "$ROOT/package.json" ]]; then
	cd "$ROOT"
	stamp=node_modules/.oes-deps-stamp
	if [[ ! -f package-lock.json ]]; then
		say "package.json has no committed package-lock.json; run 'npm install' and commit the lockfile"
		exit 1
	fi
	if [[ ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]]; then
		say "npm ci"
		npm ci --omit=optional --no-audit --no-fund --loglevel=error </dev/null >&2
		touch "$stamp"
	fi
fi
