#!/usr/bin/env bash
# pgctl.sh: a private PostgreSQL 15 cluster for `make run` and the tests.
#
#   pgctl.sh start  <datadir> <port> [--fast]
#       Creates the cluster if <datadir> has none (trust auth, user postgres,
#       UTF8, C locale), starts it on 127.0.0.1:<port> only, waits until it
#       accepts connections, creates database `oes` if missing, and prints one
#       line on stdout: postgresql://postgres@127.0.0.1:<port>/oes
#       --fast turns off fsync, synchronous_commit and full_page_writes (for
#       throw-away clusters on tmpfs).
#   pgctl.sh stop   <datadir>    fast shutdown; not an error if not running
#   pgctl.sh status <datadir>    exit 0 if running, 3 if not
#
# Everything but the URL goes to stderr. The server log is <datadir>/postgres.log
# and the Unix socket lives in <datadir> (TCP is what clients use).
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to and runs
# as the `postgres` system user. When that user cannot reach <datadir> (a
# parent directory it may not enter), a per-path fallback is used instead,
# /var/tmp/oes-pg-<hash of the absolute datadir>/data; stop and status resolve
# the same fallback.
set -euo pipefail

say() { printf 'pgctl: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}
usage() {
	cat >&2 <<'EOF'
usage: pgctl.sh start <datadir> <port> [--fast]
       pgctl.sh stop <datadir>
       pgctl.sh status <datadir>
EOF
	exit 2
}

# Settings from the caller's environment that would change what psql and
# pg_isready connect to or how.
unset PGOPTIONS PGSERVICE PGSERVICEFILE PGSSLMODE PGTARGETSESSIONATTRS

AS_ROOT=0
[[ $(id -u) -eq 0 ]] && AS_ROOT=1
PGBIN=
DATADIR=
FALLBACK=0

find_bin() {
	if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
		PGBIN=/usr/lib/postgresql/15/bin
		return
	fi
	local p
	p=$(command -v pg_ctl) || die "PostgreSQL 15 not found (install postgresql-15: scripts/deps.sh)"
	PGBIN=$(dirname "$p")
}

# Runs a command as the cluster's owner: postgres when we are root, else us.
# From / so that a cwd the postgres user cannot enter does not matter.
as_pg() {
	if ((AS_ROOT)); then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# True if the postgres user can enter the deepest existing directory on the
# way to $1 (for an existing datadir: its parent; start chowns the datadir).
pg_can_reach() {
	local d
	d=$(dirname "$1")
	while [[ ! -e $d ]]; do
		d=$(dirname "$d")
	done
	[[ -d $d ]] && (cd / && runuser -u postgres -- test -x "$d") 2>/dev/null
}

# Sets DATADIR (absolute) and FALLBACK from the requested datadir. No side effects.
resolve_datadir() {
	local abs h
	abs=$(realpath -m -- "$1")
	DATADIR=$abs
	FALLBACK=0
	((AS_ROOT)) || return 0
	id -u postgres >/dev/null 2>&1 || die "no 'postgres' system user (install postgresql-15: scripts/deps.sh)"
	if pg_can_reach "$abs"; then
		return 0
	fi
	h=$(printf '%s' "$abs" | sha256sum | cut -c1-12)
	DATADIR=/var/tmp/oes-pg-$h/data
	FALLBACK=1
}

is_running() {
	[[ -f $DATADIR/PG_VERSION ]] || return 1
	as_pg "$PGBIN/pg_ctl" status -D "$DATADIR" >/dev/null 2>&1
}

# The port a running cluster listens on (line 4 of postmaster.pid).
running_port() {
	sed -n 4p "$DATADIR/postmaster.pid" 2>/dev/null || true
}

# Creates the datadir (and its parent) and gives them to the server user.
prepare_dirs() {
	local parent created_parent=0 owner
	parent=$(dirname "$DATADIR")
	if [[ ! -d $parent ]]; then
		mkdir -p -- "$parent"
		created_parent=1
	fi
	[[ -d $DATADIR ]] || mkdir -m 700 -- "$DATADIR"
	if ((AS_ROOT)); then
		((created_parent)) && chown postgres:postgres "$parent"
		owner=$(stat -c %U "$DATADIR")
		if [[ $owner != postgres ]]; then
			if [[ -f $DATADIR/PG_VERSION || -z $(ls -A "$DATADIR") ]]; then
				chown -R postgres:postgres "$DATADIR"
			else
				die "$DATADIR is not empty, holds no cluster and is not owned by postgres"
			fi
		fi
	fi
	as_pg chmod 700 "$DATADIR"
}

init_cluster() {
	local fast=$1 extra=()
	if [[ -n $(ls -A "$DATADIR") ]]; then
		die "$DATADIR is not empty and holds no cluster; remove it or choose another directory"
	fi
	((fast)) && extra+=(--no-sync)
	say "creating a cluster in $DATADIR"
	local out
	if ! out=$(as_pg "$PGBIN/initdb" -D "$DATADIR" -U postgres -A trust -E UTF8 --locale=C \
		"${extra[@]}" 2>&1); then
		printf '%s\n' "$out" >&2
		die "initdb failed"
	fi
}

# Our settings live in oes.conf, included at the end of postgresql.conf and
# rewritten on every start, so no value needs shell quoting on a command line.
write_conf() {
	local port=$1 fast=$2 sockdir
	sockdir=$DATADIR
	# sun_path holds 107 bytes: "<dir>/.s.PGSQL.<port>" must fit, else no socket.
	if ((${#sockdir} + 12 + ${#port} > 107)); then
		sockdir=
	fi
	if ! grep -q "^include_if_exists = 'oes.conf'" "$DATADIR/postgresql.conf"; then
		printf "\n# private cluster settings, written by scripts/pgctl.sh\ninclude_if_exists = 'oes.conf'\n" |
			as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null
	fi
	{
		printf '# written by scripts/pgctl.sh on every start: edits here are lost\n'
		printf "listen_addresses = '127.0.0.1'\n"
		printf 'port = %s\n' "$port"
		printf "unix_socket_directories = '%s'\n" "${sockdir//\'/\'\'}"
		printf "unix_socket_permissions = 0700\n"
		if ((fast)); then
			printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n'
		fi
	} | as_pg tee "$DATADIR/oes.conf" >/dev/null
}

# Waits until the server accepts connections on TCP, ~30 s at most.
wait_ready() {
	local port=$1 i
	for ((i = 0; i < 300; i++)); do
		if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
			return 0
		fi
		sleep 0.1
	done
	die "the server on port $port does not accept connections after 30 s (log: $DATADIR/postgres.log)"
}

# psql as the superuser on the cluster's TCP port ($1), database postgres.
pg_psql() {
	local port=$1
	shift
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

oes_db_exists() {
	[[ $(pg_psql "$1" -tAc "SELECT 1 FROM pg_database WHERE datname = 'oes'") == 1 ]]
}

ensure_db() {
	local port=$1
	oes_db_exists "$port" && return 0
	# Another start may create it at the same moment: check again on failure.
	pg_psql "$port" -c 'CREATE DATABASE oes' >&2 2>/dev/null || oes_db_exists "$port" ||
		die "could not create database oes on port $port"
}

cmd_start() {
	(($# >= 2)) || usage
	local req=$1 port=$2 fast=0 arg log logsize rport
	shift 2
	for arg in "$@"; do
		case $arg in
		--fast) fast=1 ;;
		*) usage ;;
		esac
	done
	if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
		die "bad port: $port"
	fi
	find_bin
	resolve_datadir "$req"
	if ((FALLBACK)); then
		say "the postgres user cannot reach $(realpath -m -- "$req"); using $DATADIR instead"
	fi
	prepare_dirs
	[[ -f $DATADIR/PG_VERSION ]] || init_cluster "$fast"
	log=$DATADIR/postgres.log
	if is_running; then
		rport=$(running_port)
		[[ $rport == "$port" ]] ||
			die "the cluster in $DATADIR already runs on port ${rport:-?}; stop it first"
		say "already running on port $port"
	else
		write_conf "$port" "$fast"
		say "starting on 127.0.0.1:$port (log: $log)"
		logsize=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if ! as_pg "$PGBIN/pg_ctl" start -D "$DATADIR" -l "$log" -w -t 30 -s >&2; then
			say "could not start; from $log:"
			tail -c "+$((logsize + 1))" "$log" | tail -n 20 >&2 || true
			exit 1
		fi
	fi
	wait_ready "$port"
	ensure_db "$port"
	printf 'postgresql://postgres@127.0.0.1:%s/oes\n' "$port"
}

cmd_stop() {
	(($# == 1)) || usage
	find_bin
	resolve_datadir "$1"
	if ! is_running; then
		say "not running ($DATADIR)"
		return 0
	fi
	if ! as_pg "$PGBIN/pg_ctl" stop -D "$DATADIR" -m fast -w -t 60 -s >&2; then
		say "fast shutdown did not finish in 60 s; stopping immediately"
		as_pg "$PGBIN/pg_ctl" stop -D "$DATADIR" -m immediate -w -t 30 -s >&2
	fi
	say "stopped ($DATADIR)"
}

cmd_status() {
	(($# == 1)) || usage
	find_bin
	resolve_datadir "$1"
	if is_running; then
		say "running on port $(running_port) ($DATADIR)"
		return 0
	fi
	say "not running ($DATADIR)"
	return 3
}

(($# >= 1)) || usage
cmd=$1
shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
*) usage ;;
esac
