#!/usr/bin/env bash
# bench/run.sh: the benchmark behind `make bench`.
#
# One run, on this machine, measured the way shared/notes/performance.md was:
#   - a private PostgreSQL on tmpfs (scripts/pgctl.sh ... --fast), migrated by
#     the binary, seeded with 10,000 published public events (~300-character
#     descriptions), VACUUM ANALYZE;
#   - the server and every PostgreSQL process pinned to one core
#     (BENCH_SERVER_CPU, 0), the load generators (wrk, pgbench) to the other
#     (BENCH_CLIENT_CPU, 1);
#   - per case a warm-up run, then the measured run(s):
#       detail@64, detail@256  GET /v1/events/{random id} (bench/detail.lua)
#       no-db@64               GET /v1/does-not-exist: a 404 JSON:API error
#                              that touches no database (the loop's ceiling)
#       pgbench                the database's ceiling: pgbench, 4 clients,
#                              -M prepared, over TCP like the server, running
#                              the statements the server itself ran for one
#                              GET /v1/events/{id} (captured from PostgreSQL's
#                              log, see bench/pgbench_from_log.py; written to
#                              bench/results/detail.pgbench), the id random
#       pgbench-narrow         for reference: bench/detail.pgbench, a 9-column
#                              SELECT of the same row
#       pgbench-unix           for reference: as pgbench, over the Unix socket
#     wrk runs with --latency (p50, p99); the server's RSS after each case and
#     its peak (VmHWM) at the end; "other%": CPU that processes not part of
#     the benchmark took during each case (this machine may be shared: above
#     5% of a core the figures are flagged as skewed);
#   - a table, the ratios (detail / pgbench, detail / no-db, against the
#     prototype's 0.61 of pgbench), and the same figures as JSON in
#     bench/results/latest.json.
#
# New cases: wrk_case NAME CONNS EXPECT DESCRIPTION PATH [LUA] and
# pgbench_case NAME CLIENTS DESCRIPTION SCRIPT CONNINFO (see "cases" below);
# capture_pgbench PATH ID OUT turns any GET into its database ceiling.
#
# Environment (all optional):
#   BIN                  server binary (./open-event-server)
#   BENCH_DURATION       seconds per measured run (10)
#   BENCH_WARMUP         seconds of warm-up before each case (2; 0 = none)
#   BENCH_REPEAT         measured runs per case; the median by req/s is kept (1)
#   BENCH_ONLY           regex: run only the cases whose name matches
#   BENCH_EVENTS         events to seed (10000)
#   BENCH_SERVER_CPU     core for the server and PostgreSQL (0)
#   BENCH_CLIENT_CPU     core for wrk and pgbench (1)
#   BENCH_WRK_THREADS    wrk threads (1: one client core)
#   BENCH_PGBENCH_CLIENTS  pgbench clients (4), BENCH_PGBENCH_THREADS (1)
#   BENCH_SERVER_ARGS    extra arguments to `serve` (e.g. --workers 2)
#   BENCH_RESULTS        where the JSON goes (bench/results/latest.json)
#   BENCH_KEEP=1         keep the work directory (logs, raw wrk output)
#   BENCH_LOG_LEVEL      the server's LOG_LEVEL (warn)
#   PGCTL                PostgreSQL helper (scripts/pgctl.sh)
# Server settings (PG_POOL_SIZE, PG_PIPELINE, ...) pass through from the
# environment; HOST, PORT, DATABASE_URL, SECRET_KEY and LOG_LEVEL are set here.
#
# Exit status: 0 when every case ran; 1 when something failed (the server died,
# a tool is missing, the detail route did not answer 200 before the runs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${BIN:-./open-event-server}
PGCTL=${PGCTL:-scripts/pgctl.sh}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
REPEAT=${BENCH_REPEAT:-1}
ONLY=${BENCH_ONLY:-}
EVENTS=${BENCH_EVENTS:-10000}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
PGB_CLIENTS=${BENCH_PGBENCH_CLIENTS:-4}
PGB_THREADS=${BENCH_PGBENCH_THREADS:-1}
SERVER_ARGS=${BENCH_SERVER_ARGS:-}
RESULTS=${BENCH_RESULTS:-bench/results/latest.json}
KEEP=${BENCH_KEEP:-0}
PROTOTYPE_RATIO=0.61 # shared/notes/performance.md: pipelined prototype / pgbench

WORK=/dev/shm/oes-bench-$$
DATA=$WORK/data
SERVER_PID=
PM_PID=
PG_STARTED=0
DATABASE_URL=
PORT=

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}
warn() { printf 'WARNING: %s\n' "$*"; }

# ---------------------------------------------------------------- checks ----

for v in DURATION WARMUP REPEAT EVENTS SERVER_CPU CLIENT_CPU WRK_THREADS PGB_CLIENTS PGB_THREADS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((DURATION >= 1)) || die "BENCH_DURATION must be at least 1"
((REPEAT >= 1)) || die "BENCH_REPEAT must be at least 1"
((EVENTS >= 1)) || die "BENCH_EVENTS must be at least 1"

for tool in wrk pgbench psql taskset curl pgrep; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (run scripts/deps.sh)"
done
[[ -x $BIN ]] || die "no server binary at $BIN (run make)"
[[ -f $PGCTL ]] || die "no $PGCTL"

NCPU=$(nproc)
if ((NCPU < 2)); then
	warn "only $NCPU core: the server, PostgreSQL and the clients share it"
	SERVER_CPU=0 CLIENT_CPU=0
fi
((SERVER_CPU < NCPU && CLIENT_CPU < NCPU)) || die "BENCH_SERVER_CPU/BENCH_CLIENT_CPU must be below $NCPU"

# Room for many connections (later cases go beyond 256).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --------------------------------------------------------------- cleanup ----

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if ((PG_STARTED)); then
		bash "$PGCTL" stop "$DATA" >/dev/null 2>&1 || true
		# Last resort: an immediate shutdown of our own postmaster.
		local pm
		pm=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)
		if [[ $pm =~ ^[0-9]+$ ]] && kill -0 "$pm" 2>/dev/null; then
			kill -QUIT "$pm" 2>/dev/null || true
			sleep 1
		fi
	fi
	if [[ $KEEP == 1 ]]; then
		say "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK"
chmod 755 "$WORK"

# --------------------------------------------------------------- helpers ----

# A TCP port no socket uses, below the ephemeral range (so that no outgoing
# connection takes it between this check and the bind). Other programs may
# pick ports at the same moment: callers retry on "address in use".
free_port() {
	local p low
	low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	((low > 12000)) || low=61000
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (low - 10000)))
		[[ $p == "${PORT:-}" || $p == "${PG_PORT:-}" ]] && continue
		if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# The pid and its descendants.
process_tree() {
	local pid=$1 child
	echo "$pid"
	for child in $(pgrep -P "$pid" 2>/dev/null || true); do
		process_tree "$child"
	done
}

# status_kb PID FIELD: a /proc/PID/status field in kB (0 when gone).
status_kb() {
	awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# Sum of VmRSS over the server's process tree (one process unless --workers).
server_rss_kb() {
	local total=0 pid
	for pid in $(process_tree "$SERVER_PID"); do
		total=$((total + $(status_kb "$pid" VmRSS)))
	done
	echo "$total"
}

# Largest VmHWM (peak RSS) of any process in the server's tree.
server_hwm_kb() {
	local max=0 pid kb
	for pid in $(process_tree "$SERVER_PID"); do
		kb=$(status_kb "$pid" VmHWM)
		((kb > max)) && max=$kb
	done
	echo "$max"
}

# Interference: CPU time that processes other than ours took during a case.
# ours = the server's tree, PostgreSQL's tree (the postmaster's cutime/cstime
# hold its reaped backends, pgbench's included) and this shell (its
# cutime/cstime hold wrk, pgbench, psql, curl once reaped). Busy = user + nice
# + system of all cores (softirq excluded: loopback traffic lands there).
proc_jiffies() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
ours_jiffies() {
	local total=0 pid
	for pid in $$ $(process_tree "$SERVER_PID") ${PM_PID:+$(process_tree "$PM_PID")}; do
		total=$((total + $(proc_jiffies "$pid")))
	done
	echo "$total"
}
# "busy total" jiffies over all cores.
machine_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $2 + $3 + $4, t; exit }' /proc/stat; }
# foreign_start / foreign_end: foreign_end prints the others' share in % of
# one core between the two calls.
foreign_start() {
	read -r F_BUSY F_TOTAL < <(machine_jiffies)
	F_OURS=$(ours_jiffies)
}
foreign_end() {
	local busy total ours
	ours=$(ours_jiffies)
	read -r busy total < <(machine_jiffies)
	awk -v b=$((busy - F_BUSY)) -v t=$((total - F_TOTAL)) -v o=$((ours - F_OURS)) -v n="$NCPU" \
		'BEGIN { f = (t > 0 ? 100 * n * (b - o) / t : 0); if (f < 0) f = 0; printf "%.0f\n", f }'
}

server_log_tail() {
	say "server log (last 40 lines):"
	tail -n 40 "$WORK/server.log" >&2 || true
}

# Fails the run when the server is gone.
check_server() {
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		local rc=0
		wait "$SERVER_PID" 2>/dev/null || rc=$?
		SERVER_PID=
		server_log_tail
		local how="exit status $rc"
		((rc > 128)) && how="killed by signal $((rc - 128))"
		((rc == 0)) && how="exit status 0: a clean stop, i.e. a SIGTERM or SIGINT not sent by this script"
		die "the server stopped ($how) ${1:-}"
	fi
}

# http_get PATH: prints the status code; the body goes to $WORK/body.
http_get() {
	curl -s -o "$WORK/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT$1" || true
}

selected() { [[ -z $ONLY || $1 =~ $ONLY ]]; }

# Latency as wrk prints it (626.00us, 1.53ms, 2.01s, 1.00m) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v == "") { print "null"; exit }
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f\n", n }'
}

# ---------------------------------------------------------------- results ---

CASES=()            # case names in run order
declare -A R_KIND=() # wrk | pgbench
declare -A R_DESC=() R_CONNS=() R_RPS=() R_P50=() R_P99=() R_AVG=() R_REQS=()
declare -A R_NON2XX=() R_SOCK=() R_RSS=() R_EXPECT=() R_RUNS=() R_FOREIGN=()

# parse_wrk FILE: "rps p50_ms p99_ms requests non2xx socket_errors"
parse_wrk() {
	local f=$1 rps p50 p99 reqs non2xx sock
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")
	reqs=$(awk '/ requests in / { print $1 }' "$f")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
	sock=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$f")
	[[ -n $rps && -n $reqs ]] || return 1
	echo "$rps $p50 $p99 $reqs ${non2xx:-0} ${sock:-0}"
}

# wrk_case NAME CONNS EXPECT DESCRIPTION PATH [LUA-SCRIPT]
#   EXPECT: 2xx (every answer must be 2xx/3xx) or non2xx (all are errors,
#   e.g. the 404 ceiling). The median run by req/s is kept.
wrk_case() {
	local name=$1 conns=$2 expect=$3 desc=$4 path=$5 script=${6:-}
	selected "$name" || return 0
	local threads=$WRK_THREADS
	((threads > conns)) && threads=$conns
	local -a cmd=(taskset -c "$CLIENT_CPU" wrk -t"$threads" -c"$conns" --latency)
	[[ -n $script ]] && cmd+=(-s "$script")
	local url="http://127.0.0.1:$PORT$path"
	local tmo=$((DURATION + WARMUP + 60))

	printf '  %-14s ' "$name" >&2
	if ((WARMUP > 0)); then
		timeout --foreground "$tmo" "${cmd[@]}" -d"${WARMUP}s" "$url" >"$WORK/$name.warmup.out" 2>&1 ||
			{ cat "$WORK/$name.warmup.out" >&2; check_server "during the warm-up of $name"; die "wrk failed (warm-up of $name)"; }
		check_server "during the warm-up of $name"
	fi
	local runs=() i line
	foreign_start
	for ((i = 1; i <= REPEAT; i++)); do
		timeout --foreground "$tmo" "${cmd[@]}" -d"${DURATION}s" "$url" >"$WORK/$name.$i.out" 2>&1 ||
			{ cat "$WORK/$name.$i.out" >&2; check_server "during $name"; die "wrk failed ($name)"; }
		check_server "during $name"
		line=$(parse_wrk "$WORK/$name.$i.out") ||
			{ cat "$WORK/$name.$i.out" >&2; die "cannot read wrk's output ($name)"; }
		runs+=("$line")
		printf '%s ' "$(awk '{ printf "%.0f", $1 }' <<<"$line")" >&2
	done
	R_FOREIGN[$name]=$(foreign_end)
	echo "req/s" >&2
	# Median by req/s.
	line=$(printf '%s\n' "${runs[@]}" | sort -g -k1,1 | sed -n "$(((REPEAT + 1) / 2))p")
	local rps p50 p99 reqs non2xx sock
	read -r rps p50 p99 reqs non2xx sock <<<"$line"

	CASES+=("$name")
	R_KIND[$name]=wrk R_DESC[$name]=$desc R_CONNS[$name]=$conns R_EXPECT[$name]=$expect
	R_RPS[$name]=$rps R_P50[$name]=$p50 R_P99[$name]=$p99 R_AVG[$name]=null R_REQS[$name]=$reqs
	R_NON2XX[$name]=$non2xx R_SOCK[$name]=$sock R_RSS[$name]=$(server_rss_kb)
	R_RUNS[$name]=$(printf '%s\n' "${runs[@]}" | awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }')
}

# pgbench_case NAME CLIENTS DESCRIPTION SCRIPT CONNINFO: a custom script,
# prepared statements (select-only when the script only reads).
pgbench_case() {
	local name=$1 clients=$2 desc=$3 script=$4 conninfo=$5
	selected "$name" || return 0
	local -a cmd=(taskset -c "$CLIENT_CPU" pgbench -n -M prepared -c "$clients" -j "$PGB_THREADS"
		-f "$script" -D "id_min=$ID_MIN" -D "id_max=$ID_MAX")
	local tmo=$((DURATION + WARMUP + 60))
	printf '  %-14s ' "$name" >&2
	if ((WARMUP > 0)); then
		timeout --foreground "$tmo" "${cmd[@]}" -T "$WARMUP" "$conninfo" >"$WORK/$name.warmup.out" 2>&1 ||
			{ cat "$WORK/$name.warmup.out" >&2; die "pgbench failed (warm-up)"; }
	fi
	local runs=() i f tps avg failed reqs line
	foreign_start
	for ((i = 1; i <= REPEAT; i++)); do
		f=$WORK/$name.$i.out
		timeout --foreground "$tmo" "${cmd[@]}" -T "$DURATION" "$conninfo" >"$f" 2>&1 ||
			{ cat "$f" >&2; die "pgbench failed"; }
		tps=$(awk '/^tps = / { print $3; exit }' "$f")
		avg=$(awk '/^latency average = / { print $4; exit }' "$f")
		failed=$(awk '/^number of failed transactions:/ { print $5; exit }' "$f")
		reqs=$(awk '/^number of transactions actually processed:/ { sub(/\/.*/, "", $6); print $6; exit }' "$f")
		[[ -n $tps ]] || { cat "$f" >&2; die "cannot read pgbench's output"; }
		runs+=("$tps ${avg:-null} ${failed:-0} ${reqs:-0}")
		printf '%.0f ' "$tps" >&2
	done
	R_FOREIGN[$name]=$(foreign_end)
	echo "tps" >&2
	line=$(printf '%s\n' "${runs[@]}" | sort -g -k1,1 | sed -n "$(((REPEAT + 1) / 2))p")
	read -r tps avg failed reqs <<<"$line"
	CASES+=("$name")
	R_KIND[$name]=pgbench R_DESC[$name]=$desc R_CONNS[$name]=$clients R_EXPECT[$name]=2xx
	R_RPS[$name]=$tps R_P50[$name]=null R_P99[$name]=null R_AVG[$name]=$avg R_REQS[$name]=$reqs
	R_NON2XX[$name]=$failed R_SOCK[$name]=0 R_RSS[$name]=null
	R_RUNS[$name]=$(printf '%s\n' "${runs[@]}" | awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }')
}

# ratio A B: A's req/s over B's, or "null" when either did not run.
ratio() {
	[[ -n ${R_RPS[$1]:-} && -n ${R_RPS[$2]:-} ]] || {
		echo null
		return
	}
	awk -v a="${R_RPS[$1]}" -v b="${R_RPS[$2]}" 'BEGIN { if (b > 0) printf "%.3f\n", a / b; else print "null" }'
}

# ------------------------------------------------------------ PostgreSQL ----

say "starting PostgreSQL on tmpfs ($DATA), pinned to core $SERVER_CPU"
PG_STARTED=1 # from here on, cleanup stops it
for attempt in 1 2 3; do
	PG_PORT=$(free_port) || die "no free port"
	taskset -c "$SERVER_CPU" bash "$PGCTL" start "$DATA" "$PG_PORT" --fast >"$WORK/pgctl.out" 2>"$WORK/pgctl.err" && break
	if ((attempt < 3)) && grep -qi 'in use' "$WORK/pgctl.err"; then
		say "port $PG_PORT was taken meanwhile; trying another"
		continue
	fi
	cat "$WORK/pgctl.out" "$WORK/pgctl.err" >&2
	die "$PGCTL start failed"
done
DATABASE_URL=$(grep -E '^postgres(ql)?://' "$WORK/pgctl.out" | tail -n1 || true)
[[ -n $DATABASE_URL ]] || {
	cat "$WORK/pgctl.out" "$WORK/pgctl.err" >&2
	die "$PGCTL start printed no DATABASE_URL"
}

# Everything PostgreSQL runs shares the server's core: the postmaster and the
# processes it already forked (backends forked later inherit its affinity).
PM_PID=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)
if [[ $PM_PID =~ ^[0-9]+$ ]]; then
	for pid in $(process_tree "$PM_PID"); do
		taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null 2>&1 || true
	done
	PG_AFFINITY=$(taskset -c -p "$PM_PID" 2>/dev/null | awk '{ print $NF }')
	[[ $PG_AFFINITY == "$SERVER_CPU" ]] || warn "PostgreSQL's affinity is '$PG_AFFINITY', not core $SERVER_CPU"
else
	PM_PID=
	warn "cannot read $DATA/postmaster.pid: PostgreSQL's processes are not pinned"
fi

psql_q() { psql "$DATABASE_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

say "migrating"
DATABASE_URL=$DATABASE_URL "$BIN" migrate >"$WORK/migrate.log" 2>&1 || {
	cat "$WORK/migrate.log" >&2
	die "$BIN migrate failed"
}

say "seeding $EVENTS published public events"
# One statement; ~300 characters of description make a ~650-byte document.
psql_q -v n="$EVENTS" >/dev/null <<'SQL'
INSERT INTO events (name, starts_at, ends_at, timezone, identifier, state, privacy, description)
SELECT 'Open Tech Summit ' || i,
       timestamptz '2030-03-01 09:00:00+00' + (i % 730) * interval '1 day',
       timestamptz '2030-03-01 18:00:00+00' + (i % 730) * interval '1 day',
       'Asia/Singapore',
       'e' || lpad(to_hex(i), 7, '0'),
       'published', 'public',
       left('Event ' || i || ': three days of talks, workshops and hacking on open '
            || 'source software, open hardware and open data, with speakers from '
            || 'the community, sponsor booths, a job fair and an evening social. '
            || repeat('Bring your laptop and your questions. ', 4), 300)
FROM generate_series(1, :n) AS i;
VACUUM ANALYZE;
SQL

read -r ID_MIN ID_MAX ID_COUNT < <(psql_q -F ' ' -c "SELECT min(id), max(id), count(*) FROM events
	WHERE deleted_at IS NULL AND state = 'published' AND privacy = 'public'")
((ID_COUNT >= EVENTS)) || die "expected $EVENTS events after seeding, found $ID_COUNT"
((ID_MAX - ID_MIN + 1 == ID_COUNT)) ||
	warn "event ids $ID_MIN..$ID_MAX are not contiguous ($ID_COUNT rows): some requests will be 404s"
export BENCH_ID_MIN=$ID_MIN BENCH_ID_MAX=$ID_MAX

# ---------------------------------------------------------------- server ----

SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
# start_server: starts it on a free port and waits for /health-check 200;
# returns 2 when the port was taken meanwhile (the caller tries another).
start_server() {
	PORT=$(free_port) || die "no free port"
	say "starting $BIN serve on 127.0.0.1:$PORT, pinned to core $SERVER_CPU"
	# shellcheck disable=SC2086 # SERVER_ARGS is a list of words
	env DATABASE_URL="$DATABASE_URL" HOST=127.0.0.1 PORT="$PORT" SECRET_KEY="$SECRET" LOG_LEVEL="${BENCH_LOG_LEVEL:-warn}" \
		taskset -c "$SERVER_CPU" "$BIN" serve $SERVER_ARGS >"$WORK/server.log" 2>&1 </dev/null &
	SERVER_PID=$!
	local i
	for i in $(seq 1 150); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null && grep -qi 'in use' "$WORK/server.log"; then
			wait "$SERVER_PID" 2>/dev/null || true
			SERVER_PID=
			return 2
		fi
		check_server "before answering /health-check"
		[[ $(http_get /health-check) == 200 ]] && return 0
		sleep 0.1
	done
	server_log_tail
	die "/health-check did not answer 200 within 15 s"
}
for attempt in 1 2 3; do
	rc=0
	start_server || rc=$?
	((rc == 0)) && break
	((attempt < 3)) || die "no port to listen on after 3 attempts"
	say "port $PORT was taken meanwhile; trying another"
done

SERVER_AFFINITY=$(taskset -c -p "$SERVER_PID" 2>/dev/null | awk '{ print $NF }')
[[ $SERVER_AFFINITY == "$SERVER_CPU" ]] || warn "the server's affinity is '$SERVER_AFFINITY', not core $SERVER_CPU"

# One request of each kind before measuring: the detail must be a 200
# document, the no-database route a 404.
status=$(http_get "/v1/events/$ID_MIN")
[[ $status == 200 ]] || {
	head -c 2000 "$WORK/body" >&2
	echo >&2
	server_log_tail
	die "GET /v1/events/$ID_MIN answered $status, not 200"
}
DOC_BYTES=$(wc -c <"$WORK/body")
status=$(http_get /v1/does-not-exist)
[[ $status == 404 ]] || warn "GET /v1/does-not-exist answered $status, not 404"
NODB_BYTES=$(wc -c <"$WORK/body")
RSS_IDLE=$(server_rss_kb)

# Other work on the machine skews every figure: sample each core's use for a
# second while everything of ours is idle.
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_sample() { awk '/^cpu[0-9]+ / { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print $1, idle, total }' /proc/stat; }
CPU_BEFORE=$(cpu_sample)
sleep 1
BUSY=$(paste -d' ' <(echo "$CPU_BEFORE") <(cpu_sample) |
	awk '{ dt = $6 - $3; printf "%s%s %.0f%%", (NR > 1 ? ", " : ""), $1, (dt > 0 ? 100 * (1 - ($5 - $2) / dt) : 0) }')
BUSY_MAX=$(grep -oE '[0-9]+%' <<<"$BUSY" | tr -d % | sort -n | tail -n1)
say "detail document: $DOC_BYTES bytes; 404 document: $NODB_BYTES bytes"
say "CPU use while idle: $BUSY; load average $LOAD"
say "runs: ${WARMUP}s warm-up + ${REPEAT} x ${DURATION}s per case; wrk -t$WRK_THREADS on core $CLIENT_CPU"

# The database's ceiling runs what the server itself runs for a detail: the
# statements PostgreSQL logs for one request (log_min_duration_statement = 0
# for that moment), the requested id made a pgbench variable. When that fails,
# the fixed query in bench/detail.pgbench stands in.
capture_pgbench() {
	local path=$1 id=$2 out=$3 log=$DATA/postgres.log size status
	[[ -r $log ]] || return 1
	psql_q -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null || return 1
	sleep 0.3 # backends reload between commands
	size=$(stat -c %s "$log")
	status=$(http_get "$path")
	sleep 0.3
	psql_q -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null || return 1
	sleep 0.3
	tail -c +"$((size + 1))" "$log" >"$WORK/capture.log"
	if [[ $status != 200 ]]; then
		say "capture: GET $path answered $status"
		return 1
	fi
	python3 bench/pgbench_from_log.py --var "id=$id" --set '\set id random(:id_min, :id_max)' \
		<"$WORK/capture.log" >"$out" || {
		say "capture: no statement in PostgreSQL's log for GET $path ($(wc -l <"$WORK/capture.log") lines logged)"
		return 1
	}
}
PGB_DETAIL=$WORK/detail-captured.pgbench
if capture_pgbench "/v1/events/$ID_MIN" "$ID_MIN" "$PGB_DETAIL" ||
	capture_pgbench "/v1/events/$ID_MAX" "$ID_MAX" "$PGB_DETAIL"; then
	PGB_SOURCE=captured
	say "pgbench runs the $(grep -c ';$' "$PGB_DETAIL") statement(s) the server ran for GET /v1/events/$ID_MIN:"
	grep -v '^.set ' "$PGB_DETAIL" | cut -c1-150 | sed 's/^/    /' >&2
else
	PGB_SOURCE=fixed
	warn "could not capture the server's statements for a detail; pgbench runs bench/detail.pgbench"
	cp bench/detail.pgbench "$PGB_DETAIL"
fi
mkdir -p "$(dirname "$RESULTS")"
cp "$PGB_DETAIL" "$(dirname "$RESULTS")/detail.pgbench"

# ----------------------------------------------------------------- cases ----

wrk_case detail@64 64 2xx "GET /v1/events/{random id}" /v1/events/ bench/detail.lua
wrk_case detail@256 256 2xx "GET /v1/events/{random id}" /v1/events/ bench/detail.lua
wrk_case no-db@64 64 non2xx "GET /v1/does-not-exist (404, no database)" /v1/does-not-exist
# The database's ceiling over TCP, as the server connects (DATABASE_URL).
pgbench_case pgbench "$PGB_CLIENTS" "pgbench, the server's statements for a detail ($PGB_SOURCE), -M prepared, TCP" \
	"$PGB_DETAIL" "$DATABASE_URL"
# For reference: the narrow query of bench/detail.pgbench (9 columns), and the
# server's statements over the Unix socket (pgctl.sh puts it in the data
# directory), which is faster than TCP loopback on these machines.
if [[ $PGB_SOURCE == captured ]]; then
	pgbench_case pgbench-narrow "$PGB_CLIENTS" "pgbench, bench/detail.pgbench (9 columns), -M prepared, TCP" \
		bench/detail.pgbench "$DATABASE_URL"
fi
if [[ -S $DATA/.s.PGSQL.$PG_PORT ]]; then
	pgbench_case pgbench-unix "$PGB_CLIENTS" "pgbench, as 'pgbench' over the Unix socket" \
		"$PGB_DETAIL" "host=$DATA port=$PG_PORT user=postgres dbname=oes"
fi

check_server "after the runs"
RSS_PEAK=$(server_hwm_kb)

# ---------------------------------------------------------------- report ----

mb() { awk -v k="$1" 'BEGIN { if (k == "null") print "-"; else printf "%.1f\n", k / 1024 }'; }
num() { awk -v v="$1" 'BEGIN { if (v == "null") print "-"; else printf "%.2f\n", v }'; }

echo
printf '%-14s %6s %11s %9s %9s %8s %10s %9s %7s  %s\n' case conns "req/s" "p50 ms" "p99 ms" "RSS MB" non-2xx sock-err other% note
for name in "${CASES[@]}"; do
	note=
	if [[ ${R_KIND[$name]} == pgbench ]]; then
		note="tps; latency avg $(num "${R_AVG[$name]}") ms; failed = non-2xx"
	elif [[ ${R_EXPECT[$name]} == non2xx ]]; then
		note="non-2xx expected (404)"
	fi
	printf '%-14s %6s %11s %9s %9s %8s %10s %9s %7s  %s\n' "$name" "${R_CONNS[$name]}" \
		"$(awk -v v="${R_RPS[$name]}" 'BEGIN { printf "%.0f", v }')" \
		"$(num "${R_P50[$name]}")" "$(num "${R_P99[$name]}")" "$(mb "${R_RSS[$name]}")" \
		"${R_NON2XX[$name]}" "${R_SOCK[$name]}" "${R_FOREIGN[$name]}" "$note"
done
echo
echo "server RSS: $(mb "$RSS_IDLE") MB idle, peak (VmHWM) $(mb "$RSS_PEAK") MB"
echo "other% = CPU taken by processes not part of the benchmark during the case, in % of one core"

R_D64_PG=$(ratio detail@64 pgbench)
R_D64_NODB=$(ratio detail@64 no-db@64)
R_D256_PG=$(ratio detail@256 pgbench)
R_D64_PGU=$(ratio detail@64 pgbench-unix)
R_D64_PGN=$(ratio detail@64 pgbench-narrow)
shown() { if [[ $1 == null ]]; then echo "n/a (not run)"; else echo "$1"; fi; }
echo "ratios:"
printf '  %-26s %s\n' "detail@64 / pgbench" "$(shown "$R_D64_PG")" \
	"detail@64 / no-db" "$(shown "$R_D64_NODB")" \
	"detail@256 / pgbench" "$(shown "$R_D256_PG")" \
	"detail@64 / pgbench-narrow" "$(shown "$R_D64_PGN")" \
	"detail@64 / pgbench-unix" "$(shown "$R_D64_PGU")" \
	"prototype / pgbench" "$PROTOTYPE_RATIO (shared/notes/performance.md, pipelined, 1 sync per batch)"

# Warnings: errors where there must be none, socket errors anywhere.
for name in "${CASES[@]}"; do
	if [[ ${R_EXPECT[$name]} == 2xx && ${R_NON2XX[$name]} != 0 ]]; then
		warn "$name: ${R_NON2XX[$name]} of ${R_REQS[$name]} responses were not 2xx/3xx (or failed transactions)"
	fi
	if [[ ${R_EXPECT[$name]} == non2xx && ${R_NON2XX[$name]} != "${R_REQS[$name]}" ]]; then
		warn "$name: ${R_NON2XX[$name]} of ${R_REQS[$name]} responses were errors; all were expected to be"
	fi
	[[ ${R_SOCK[$name]} == 0 ]] || warn "$name: ${R_SOCK[$name]} socket errors (connect/read/write/timeout)"
	((R_FOREIGN[$name] <= 5)) ||
		warn "$name: other processes took ${R_FOREIGN[$name]}% of a core during the run: its figures are skewed"
done
((${BUSY_MAX:-0} <= 5)) ||
	warn "other work used the CPUs before the runs ($BUSY): it skews the figures"

# ------------------------------------------------------------------ JSON ----

json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}
jnum() { [[ -z $1 || $1 == null ]] && echo null || echo "$1"; }

mkdir -p "$(dirname "$RESULTS")"
{
	printf '{\n'
	printf '  "date": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
	printf '  "commit": %s,\n' "$(json_str "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)")"
	printf '  "machine": {"cpus": %s, "cpu_model": %s, "kernel": %s, "load_average": %s, "cpu_use_before": %s},\n' \
		"$NCPU" "$(json_str "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)")" \
		"$(json_str "$(uname -r)")" "$(json_str "$LOAD")" "$(json_str "$BUSY")"
	printf '  "settings": {"duration_s": %s, "warmup_s": %s, "repeat": %s, "events": %s, "server_cpu": %s, "client_cpu": %s, "wrk_threads": %s, "pgbench_threads": %s, "server_args": %s, "pg_pool_size": %s, "pg_pipeline": %s},\n' \
		"$DURATION" "$WARMUP" "$REPEAT" "$EVENTS" "$SERVER_CPU" "$CLIENT_CPU" "$WRK_THREADS" "$PGB_THREADS" \
		"$(json_str "$SERVER_ARGS")" "$(json_str "${PG_POOL_SIZE:-default}")" "$(json_str "${PG_PIPELINE:-default}")"
	printf '  "server": {"detail_document_bytes": %s, "not_found_document_bytes": %s, "rss_idle_kb": %s, "rss_peak_kb": %s},\n' \
		"$DOC_BYTES" "$NODB_BYTES" "$RSS_IDLE" "$RSS_PEAK"
	printf '  "cases": [\n'
	sep=
	for name in "${CASES[@]}"; do
		printf '%s    {"name": %s, "kind": %s, "description": %s, "connections": %s, "rps": %s, "p50_ms": %s, "p99_ms": %s, "latency_avg_ms": %s, "requests": %s, "non2xx": %s, "socket_errors": %s, "expect": %s, "rss_kb": %s, "other_cpu_pct_of_core": %s, "runs_rps": [%s]}' \
			"$sep" "$(json_str "$name")" "$(json_str "${R_KIND[$name]}")" "$(json_str "${R_DESC[$name]}")" \
			"${R_CONNS[$name]}" "$(jnum "${R_RPS[$name]}")" "$(jnum "${R_P50[$name]}")" "$(jnum "${R_P99[$name]}")" \
			"$(jnum "${R_AVG[$name]}")" "$(jnum "${R_REQS[$name]}")" "$(jnum "${R_NON2XX[$name]}")" \
			"$(jnum "${R_SOCK[$name]}")" "$(json_str "${R_EXPECT[$name]}")" "$(jnum "${R_RSS[$name]}")" "$(jnum "${R_FOREIGN[$name]}")" "${R_RUNS[$name]}"
		sep=$',\n'
	done
	printf '\n  ],\n'
	printf '  "ratios": {"detail64_over_pgbench": %s, "detail64_over_nodb": %s, "detail256_over_pgbench": %s, "detail64_over_pgbench_narrow": %s, "detail64_over_pgbench_unix": %s, "prototype_over_pgbench": %s},\n' \
		"$R_D64_PG" "$R_D64_NODB" "$R_D256_PG" "$R_D64_PGN" "$R_D64_PGU" "$PROTOTYPE_RATIO"
	printf '  "pgbench_detail_script": %s\n' "$(json_str "$PGB_SOURCE")"
	printf '}\n'
} >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
say "figures written to $RESULTS"
