#!/usr/bin/env bash
# run.sh: what `make run` runs once ./open-event-server is built.
#
# Without DATABASE_URL it starts a private PostgreSQL cluster in ./var/pg/data
# on port ${PGPORT_PRIVATE:-54329} (scripts/pgctl.sh) and stops it again when
# the server exits. Without SECRET_KEY it uses ./var/secret_key, generated
# once. Then it applies the migrations and runs `open-event-server serve "$@"`.
# Ctrl-C, SIGTERM and SIGHUP stop the server (it drains and exits 0), then
# the private PostgreSQL.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-./open-event-server}
PG_DATADIR=var/pg/data

say() { printf 'run: %s\n' "$*" >&2; }

[[ -x $BIN ]] || {
	say "$BIN is not built (make all)"
	exit 1
}

pg_started=0
server_pid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if ((pg_started)); then
		say "stopping the private PostgreSQL"
		bash scripts/pgctl.sh stop "$PG_DATADIR" || true
	fi
}
trap cleanup EXIT

if [[ -z ${DATABASE_URL:-} ]]; then
	mkdir -p var
	pg_started=1
	DATABASE_URL=$(bash scripts/pgctl.sh start "$PG_DATADIR" "${PGPORT_PRIVATE:-54329}")
	export DATABASE_URL
	say "DATABASE_URL=$DATABASE_URL (private cluster)"
fi

if [[ -z ${SECRET_KEY:-} ]]; then
	if [[ ! -s var/secret_key ]]; then
		mkdir -p var
		(
			umask 077
			od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >var/secret_key.tmp
			mv var/secret_key.tmp var/secret_key
		)
		say "generated a SECRET_KEY in var/secret_key"
	fi
	chmod 600 var/secret_key
	SECRET_KEY=$(<var/secret_key)
	export SECRET_KEY
fi

"$BIN" migrate

# The server runs in its own session so that a Ctrl-C in the terminal reaches
# only this script, which forwards exactly one signal: SIGTERM, as a child
# started in the background of a script begins with SIGINT ignored. The server
# drains its requests and exits 0; then the EXIT trap stops PostgreSQL.
# shellcheck disable=SC2317 # called from traps
forward() { kill -TERM "$server_pid" 2>/dev/null || true; }
trap forward INT TERM HUP
setsid "$BIN" serve "$@" &
server_pid=$!

rc=0
while :; do
	wait "$server_pid" && rc=0 || rc=$?
	# wait also returns when a trapped signal arrives: go on waiting.
	kill -0 "$server_pid" 2>/dev/null || break
done
server_pid=
say "server exited with status $rc"
exit "$rc"
