#!/usr/bin/env bash
# run.sh: the contract tests. Dredd sends every request of the API Blueprint
# (docs/api/src/*.apib, assembled by scripts/docs.sh) to the real server
# against a real PostgreSQL, and checks each response against the documented
# one; test/dredd/hooks.js resets the database before every transaction.
#
#   bash test/dredd/run.sh
#
# Environment: BIN (server binary, default ./open-event-server), VALGRIND=1
# (the server runs under valgrind; every wait is 10 times longer), SANITIZED=1
# (an ASan build: waits doubled), RESET_METHOD (delete|truncate, see
# hooks.js), PGCTL (default scripts/pgctl.sh), KEEP=1 (keep the work
# directory with the server log and Dredd's full report, dredd.log).
#
# Steps: a private PostgreSQL on tmpfs (pgctl.sh --fast) on a free port,
# `$BIN migrate`, scripts/docs.sh (assemble the blueprint, render the page
# served at /docs), `$BIN serve` on another free port, wait for
# /health-check, run Dredd, stop the server with SIGTERM (it must
# exit 0: under valgrind or ASan a leak or error shows there), stop
# PostgreSQL, remove the work directory.
#
# Prints Dredd's report, the reset times and the skipped transactions with
# their reasons, and as its last line `dredd: N passed, M failed`. Failed
# counts Dredd's failing transactions and errors, plus one for each of:
# a transaction documented but not compiled by Dredd (silently dropped),
# any parser warning about the blueprint (one in all),
# a transaction skipped without a reason in the hooks, the server's exit
# status after SIGTERM not 0, Dredd exiting non-zero with nothing failed, or
# a step that could not run. Skipped transactions count as neither.
# Exit status 1 when anything failed, else 0.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD

BIN=${BIN:-./open-event-server}
[[ $BIN == /* ]] || BIN=$ROOT/${BIN#./}
PGCTL=${PGCTL:-$ROOT/scripts/pgctl.sh}
DREDD=$ROOT/node_modules/.bin/dredd
BLUEPRINT=$ROOT/docs/api/build/api.apib

TM=1
if [[ ${VALGRIND:-0} != 0 && -n ${VALGRIND:-} ]]; then
	TM=10
elif [[ ${SANITIZED:-0} != 0 && -n ${SANITIZED:-} ]]; then
	TM=2
fi

BASE=/dev/shm
[[ -d $BASE && -w $BASE ]] || BASE=${TMPDIR:-/tmp}
WORK=$BASE/oes-dredd-$$
DATADIR=$WORK/data
SERVER_PID=
PG_STARTED=0
EXTRA_FAILED=0

say() { printf 'dredd: %s\n' "$*"; }

# finish <passed> <failed>: the count line, then exit.
finish() {
	local passed=$1 failed=$2
	echo "dredd: $passed passed, $failed failed"
	((failed == 0)) || exit 1
	exit 0
}

# A step that could not run: one failure, nothing passed.
broken() {
	say "could not run: $*"
	finish 0 1
}

server_log_tail() {
	[[ -f $WORK/server.log ]] || return 0
	say "last lines of the server log ($WORK/server.log):"
	tail -n 30 "$WORK/server.log" | sed 's/^/    | /'
}

# stop_server: SIGTERM, wait, report the exit status. Sets SERVER_RC.
SERVER_RC=
stop_server() {
	[[ -n $SERVER_PID ]] || return 0
	local pid=$SERVER_PID i
	SERVER_PID=
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100 * TM; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "the server did not exit within $((10 * TM)) s of SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		SERVER_RC=killed
		return 0
	fi
	wait "$pid" 2>/dev/null
	SERVER_RC=$?
}

# shellcheck disable=SC2317 # (called by the EXIT trap)
cleanup() {
	stop_server
	if ((PG_STARTED)); then
		bash "$PGCTL" stop "$DATADIR" >/dev/null 2>&1
	fi
	if [[ ${KEEP:-0} != 0 && -n ${KEEP:-} ]]; then
		echo "dredd: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Requests go straight to 127.0.0.1, never through a proxy from the caller's
# environment (Dredd and curl both honour these variables).
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY

free_port() {
	node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

[[ -x $BIN ]] || broken "no server binary at $BIN (run make)"
[[ -x $DREDD ]] || broken "no $DREDD (scripts/deps.sh installs node_modules)"
command -v curl >/dev/null || broken "curl is missing (scripts/deps.sh installs it)"
mkdir -p "$WORK" || broken "cannot create $WORK"

# PostgreSQL: private, on tmpfs, fsync off.
PGPORT=$(free_port) || broken "no free port for PostgreSQL"
DATABASE_URL=$(bash "$PGCTL" start "$DATADIR" "$PGPORT" --fast 2>"$WORK/pgctl.log")
rc=$?
PG_STARTED=1
if ((rc != 0)) || [[ -z $DATABASE_URL ]]; then
	cat "$WORK/pgctl.log"
	broken "PostgreSQL did not start"
fi
export DATABASE_URL

if ! "$BIN" migrate >"$WORK/migrate.log" 2>&1; then
	cat "$WORK/migrate.log"
	broken "$BIN migrate failed"
fi

# The documentation: the blueprint Dredd reads, and the page the server
# serves at /docs (it reads DOCS_DIR/index.html when it starts).
if ! bash "$ROOT/scripts/docs.sh" 2>"$WORK/docs.log"; then
	cat "$WORK/docs.log"
	broken "scripts/docs.sh failed"
fi

# The server, with only the settings chosen here: every setting that --help
# lists is removed from the environment first.
mapfile -t SETTINGS < <("$BIN" --help 2>&1 | sed -nE 's/^  ([A-Z][A-Z0-9_]+) .*/\1/p')
UNSET=()
for s in "${SETTINGS[@]}" ADMIN_PASSWORD; do
	UNSET+=(-u "$s")
done
PORT=$(free_port) || broken "no free port for the server"
SECRET_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
SERVER_URL=http://127.0.0.1:$PORT
CMD=("$BIN" serve)
if ((TM == 10)); then
	CMD=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
		--show-leak-kinds=definite -q "${CMD[@]}")
fi
env "${UNSET[@]}" DATABASE_URL="$DATABASE_URL" HOST=127.0.0.1 PORT="$PORT" \
	SECRET_KEY="$SECRET_KEY" LOG_LEVEL=info SIGNALS=off DOCS_DIR="$ROOT/docs/api/build" UPLOAD_DIR="$WORK/uploads" "${CMD[@]}" </dev/null >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + 15 * TM))
code=
while :; do
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		wait "$SERVER_PID" 2>/dev/null
		rc=$?
		SERVER_PID=
		server_log_tail
		broken "the server exited with $rc before answering /health-check"
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$((2 * TM))" "$SERVER_URL/health-check")
	[[ $code == 200 ]] && break
	if ((SECONDS >= deadline)); then
		server_log_tail
		broken "/health-check did not answer 200 within $((15 * TM)) s (last: $code)"
	fi
	sleep 0.1
done

# Every documented response is one transaction (each response has its own
# request). Dredd compiles no transaction for some constructs without a word
# (a second response after one request, URI parameters with percent-encoded
# names): the count below must equal Dredd's total.
DOCUMENTED=$(grep -cE '^[-+*] +Response +[0-9]{3}' "$BLUEPRINT")

say "server $SERVER_URL, database $DATABASE_URL, $DOCUMENTED documented transactions"
# Dredd's output goes to a file, not a pipe: Dredd ends with process.exit(),
# which cuts short what is still buffered for a pipe (the summary included).
NODE_NO_WARNINGS=1 OES_SERVER_URL=$SERVER_URL OES_BIN=$BIN \
	timeout --kill-after=10 "$((600 * TM))" \
	"$DREDD" "$BLUEPRINT" "$SERVER_URL" \
	--hookfiles=test/dredd/hooks.js --language=nodejs --no-color --loglevel=warning \
	</dev/null >"$WORK/dredd.log" 2>&1
DREDD_RC=$?
# The report without the request, expected and actual dumps of failing
# transactions (tens of kilobytes each; KEEP=1 keeps the whole log).
awk '
	/^(request|expected|actual):[[:space:]]*$/ { skip = 1; next }
	/^(pass|fail|skip|complete|info|warn|error|hint|dredd hooks|dredd):/ { skip = 0 }
	!skip
' "$WORK/dredd.log"

stop_server
if [[ $SERVER_RC != 0 ]]; then
	server_log_tail
	say "FAIL the server's exit status after SIGTERM was $SERVER_RC, not 0"
	EXTRA_FAILED=$((EXTRA_FAILED + 1))
fi

summary=$(grep -E '^complete: .*[0-9]+ total' "$WORK/dredd.log" | tail -n 1)
if [[ -z $summary ]]; then
	say "FAIL Dredd printed no summary (exit status $DREDD_RC)"
	finish 0 $((EXTRA_FAILED + 1))
fi
count() { sed -nE "s/.* ([0-9]+) $1.*/\1/p" <<<"$summary" | head -n 1; }
PASSING=$(count passing)
FAILING=$(count failing)
ERRORS=$(count errors)
SKIPPED=$(count skipped)
TOTAL=$(count total)
PASSING=${PASSING:-0} FAILING=${FAILING:-0} ERRORS=${ERRORS:-0} SKIPPED=${SKIPPED:-0} TOTAL=${TOTAL:-0}

if ((TOTAL != DOCUMENTED)); then
	say "FAIL Dredd ran $TOTAL transactions, the blueprint documents $DOCUMENTED responses: some were dropped"
	EXTRA_FAILED=$((EXTRA_FAILED + 1))
fi
WARNINGS=$(grep -c '^warn: API description' "$WORK/dredd.log")
if ((WARNINGS > 0)); then
	say "FAIL the blueprint has $WARNINGS parser or URI template warnings (above): fix them"
	EXTRA_FAILED=$((EXTRA_FAILED + 1))
fi
UNEXPLAINED=$(grep -c '^dredd hooks: skipped without a reason' "$WORK/dredd.log")
if ((UNEXPLAINED > 0)); then
	say "FAIL $UNEXPLAINED transactions were skipped without a reason (h.skip in test/dredd/groups/)"
	EXTRA_FAILED=$((EXTRA_FAILED + UNEXPLAINED))
fi
FAILED=$((FAILING + ERRORS + EXTRA_FAILED))
if ((DREDD_RC != 0 && FAILING + ERRORS == 0)); then
	say "FAIL Dredd exited with $DREDD_RC although it reported nothing failing"
	FAILED=$((FAILED + 1))
fi
say "$TOTAL transactions: $PASSING passing, $FAILING failing, $ERRORS errors, $SKIPPED skipped"
finish "$PASSING" "$FAILED"
