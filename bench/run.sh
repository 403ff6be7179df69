#!/usr/bin/env bash
# bench/run.sh: the benchmark behind `make bench`.
#
# One run, on this machine, measured the way shared/notes/performance.md was:
#   - a private PostgreSQL on tmpfs (scripts/pgctl.sh ... --fast), migrated by
#     the binary, seeded with 10,000 published public events (~300-character
#     descriptions); the first 20 of them get 5 tracks, 60 speakers and 50
#     accepted sessions with 1-2 speakers each (bench/seed_lists.sql); one
#     big event gets 20 tracks, 1,000 speakers and 2,000 accepted sessions
#     (bench/seed_big.sql); VACUUM ANALYZE;
#   - the server and every PostgreSQL process pinned to one core
#     (BENCH_SERVER_CPU, 0), the load generators (wrk, pgbench, the Python
#     clients) to the other (BENCH_CLIENT_CPU, 1); nginx, for the cases
#     through it, on the server's core with worker_processes 1;
#   - per case a warm-up run, then the measured run(s):
#       detail@64, detail@256  GET /v1/events/{random id} (bench/detail.lua)
#       detail@256-paced       the same over 256 connections that each pause
#                              BENCH_PACE_MS before every request (a bounded
#                              offered rate: p99 without queueing in wrk)
#       no-db@64               GET /v1/does-not-exist: a 404 JSON:API error
#                              that touches no database (the loop's ceiling)
#       list20@64              GET /v1/events/{id}/sessions?include=speakers,
#                              track&page[size]=20, a random one of the 20
#                              events with sessions (bench/list.lua): after
#                              the first request of each URL, answered with
#                              the document kept in memory (LIST_CACHE_BYTES)
#                              while the event's generation is unchanged
#       list20-built@64        the same, every URL distinct (an ignored extra
#                              parameter): every request builds its list
#       filtered@64            GET /v1/sessions?filter=<track has name "Track
#                              2">&sort=-starts-at,title&page[size]=20 (one
#                              URL; its answer is checked before the runs)
#       pgbench                the database's ceiling: pgbench, 4 clients,
#                              -M prepared, over TCP like the server, running
#                              the statements the server itself ran for one
#                              GET /v1/events/{id} (captured from PostgreSQL's
#                              log, see bench/pgbench_from_log.py; written to
#                              bench/results/detail.pgbench), the id random
#       pgbench-narrow         for reference: bench/detail.pgbench, a 9-column
#                              SELECT of the same row
#       pgbench-unix           for reference: as pgbench, over the Unix socket
#       pgbench-list20         the statements of one list20 request, the event
#                              random among the 20 (bench/results/list20.pgbench)
#       detail-nginx@64,       detail@64 and list20@64 through nginx: the
#       list20-nginx@64        config generated from deploy/nginx.conf; also
#                              counted: the connections nginx closed to the
#                              server (beyond the upstream's `keepalive`)
#       create@64              POST /v1/events as an admin (bench/create.lua),
#                              the 201s counted (drafts: no list sees them);
#                              then the wait for the background tasks the
#                              creates queued (reported), VACUUM ANALYZE
#       detail+login@64        detail@64 while 10 sign-ins a second
#                              (BENCH_LOGIN_RATE) run on the side
#                              (bench/logins.py: argon2id on the server's core)
#       big-page@1             last (its pages leave the server's RSS high):
#                              the big event's schedule, GET /v1/events/{id}/
#                              sessions?include=speakers,track&page[size]=1000
#                              &page[number]=1 and 2, in turn over one
#                              keep-alive connection (bench/bigpage.py): the
#                              median and max per page of BENCH_BIG_COUNT
#                              requests each (a separate block of the report)
#       big-page@16            the same pages in turn under wrk at 16
#                              connections (bench/schedule.lua)
#     wrk runs with --latency (p50, p99); the server's RSS after each case and
#     its peak during the case (VmHWM, reset before each case through
#     /proc/PID/clear_refs), the peak of the whole run at the end; CPU per
#     request of the server, of PostgreSQL (and of nginx) during the
#     measured run; "other%": CPU that processes not part of the benchmark
#     took during each case (this machine may be shared: above 5% of a core
#     the case runs once more, and is flagged as skewed if the second
#     attempt is disturbed too);
#   - a table, the ratios and the targets of the performance issue (detail /
#     pgbench >= 0.6 and the prototype's 0.61, detail@256 p99 < 10 ms,
#     list20 / detail >= 0.2, nginx overhead, p99 with and without sign-ins,
#     the worst page's median < 100 ms at 1 connection, RSS peak < 32 MB of
#     every case and of all but the big event's), and the same figures as
#     JSON in bench/results/latest.json.
#
# New cases: wrk_case NAME CONNS EXPECT DESCRIPTION PATH [LUA] and
# pgbench_case NAME CLIENTS DESCRIPTION SCRIPT CONNINFO (see "cases" below);
# capture_pgbench PATH ID OUT [SET-LINE] turns any GET into its database
# ceiling. Options of one wrk_case, as assignments in front of the call:
# CASE_PORT (another port, e.g. nginx's), CASE_DURATION (seconds),
# CASE_BACKGROUND (a function called with start/stop OUT around each
# measured run; what it writes to OUT.extra joins the case's figures),
# CASE_EXTRA (a function given wrk's output, printing more NAME=VALUE
# figures).
#
# Environment (all optional):
#   BIN                  server binary (./open-event-server)
#   BENCH_DURATION       seconds per measured run (10) of the detail, no-db
#                        and pgbench cases
#   BENCH_DURATION_SHORT seconds per measured run of the other cases (5; at
#                        most BENCH_DURATION)
#   BENCH_WARMUP         seconds of warm-up before each case (2; 0 = none)
#   BENCH_REPEAT         measured runs per case; the median by req/s is kept (1)
#   BENCH_REPEAT_RATIO   measured runs of the cases of the detail / pgbench
#                        target, detail@64, detail@256 and pgbench (3: the
#                        median of three 10 s runs, as shared/notes measured)
#   BENCH_OTHER_MAX      % of a core other processes may take during a case (5)
#   BENCH_RETRY          attempts more for a case above that (1); the least
#                        disturbed attempt is kept
#   BENCH_ONLY           regex: run only the cases whose name matches
#   BENCH_EVENTS         events to seed (10000)
#   BENCH_LIST_EVENTS    events with sessions for the lists (20), each with
#                        BENCH_LIST_SESSIONS (50), BENCH_LIST_SPEAKERS (60),
#                        BENCH_LIST_TRACKS (5)
#   BENCH_BIG_SESSIONS   the big event (2000 sessions), BENCH_BIG_SPEAKERS
#                        (1000), BENCH_BIG_TRACKS (20), BENCH_BIG_PAGE_SIZE
#                        (1000), BENCH_BIG_COUNT (requests per page at 1
#                        connection: 7)
#   BENCH_LOGIN_RATE     sign-ins per second during detail+login@64 (10)
#   BENCH_PACE_MS        pause of each connection before each request in
#                        detail@256-paced (25)
#   BENCH_TASKS_WAIT     seconds to wait, after create@64, for the background
#                        tasks the creates queued (120)
#   BENCH_SERVER_CPU     core for the server, PostgreSQL and nginx (0)
#   BENCH_CLIENT_CPU     core for wrk, pgbench and the Python clients (1)
#   BENCH_WRK_THREADS    wrk threads (1: one client core)
#   BENCH_PGBENCH_CLIENTS  pgbench clients (4), BENCH_PGBENCH_THREADS (1)
#   BENCH_SERVER_ARGS    extra arguments to `serve` (e.g. --workers 2)
#   BENCH_RESULTS        where the JSON goes (bench/results/latest.json)
#   BENCH_KEEP=1         keep the work directory (logs, raw wrk output)
#   BENCH_LOG_LEVEL      the server's LOG_LEVEL (warn)
#   BENCH_SLOW_MS        the server's SLOW_REQUEST_MS (200): the requests it
#                        logs as slow, with their database time, are counted
#                        per case (kept in server.log with BENCH_KEEP=1)
#   PGCTL                PostgreSQL helper (scripts/pgctl.sh)
#   BENCH_PG_SETTINGS    PostgreSQL settings for the run, NAME=VALUE separated
#                        by spaces (ALTER SYSTEM), e.g. "random_page_cost=1.1";
#                        none by default (the figures then hold for PostgreSQL's
#                        defaults, on small tables: see the closing notes)
#   BENCH_AUTOGROUP      off (default): when the kernel groups processes by
#                        session for scheduling (kernel.sched_autogroup_enabled
#                        = 1) and this runs as root, grouping is turned off for
#                        the run and restored at exit; keep: leave it. With it
#                        on, PostgreSQL, nginx and the server (three sessions)
#                        are three groups sharing the one server core, and a
#                        PostgreSQL backend with a batch in its socket was seen
#                        to wait 0.2-0.4 s for the core (a packet capture: the
#                        batch acknowledged by its kernel at once, answered 331
#                        ms later while the other backend kept answering):
#                        batches stalled 0.2-0.4 s in 6 of 10 runs with it on
#                        (detail-nginx@64 p99 up to 437 ms), in none of 4 with
#                        it off (p99 10-15 ms)
#   NGINX                nginx binary (nginx on the PATH, else /usr/sbin/nginx;
#                        without one the nginx cases are skipped with a warning)
# Server settings (PG_POOL_SIZE, PG_PIPELINE, ...) pass through from the
# environment; HOST, PORT, DATABASE_URL, SECRET_KEY, LOG_LEVEL and
# TRUSTED_PROXIES (127.0.0.1/32, for nginx) are set here.
#
# Exit status: 0 when every case ran; 1 when something failed (the server or
# nginx died, a tool is missing, a route did not answer what it should
# before the runs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${BIN:-./open-event-server}
PGCTL=${PGCTL:-scripts/pgctl.sh}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
REPEAT=${BENCH_REPEAT:-1}
REPEAT_RATIO=${BENCH_REPEAT_RATIO:-3}
RATIO_CASES=" detail@64 detail@256 pgbench "
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
RETRY=${BENCH_RETRY:-1}
OTHER_MAX=${BENCH_OTHER_MAX:-5}
SHORT=${BENCH_DURATION_SHORT:-5}
LIST_EVENTS=${BENCH_LIST_EVENTS:-20}
LIST_SESSIONS=${BENCH_LIST_SESSIONS:-50}
LIST_SPEAKERS=${BENCH_LIST_SPEAKERS:-60}
LIST_TRACKS=${BENCH_LIST_TRACKS:-5}
BIG_SESSIONS=${BENCH_BIG_SESSIONS:-2000}
BIG_SPEAKERS=${BENCH_BIG_SPEAKERS:-1000}
BIG_TRACKS=${BENCH_BIG_TRACKS:-20}
BIG_PAGE_SIZE=${BENCH_BIG_PAGE_SIZE:-1000}
BIG_COUNT=${BENCH_BIG_COUNT:-7}
LOGIN_RATE=${BENCH_LOGIN_RATE:-10}
PACE_MS=${BENCH_PACE_MS:-25}
unset WRK_PACE_MS # only the paced case sets it (bench/detail.lua)
unset BENCH_LIST_DISTINCT # only list20-built@64 sets it (bench/list.lua)
TASKS_WAIT=${BENCH_TASKS_WAIT:-120}
PROTOTYPE_RATIO=0.61 # shared/notes/performance.md: pipelined prototype / pgbench

WORK=/dev/shm/oes-bench-$$
DATA=$WORK/data
SERVER_PID=
PM_PID=
PG_STARTED=0
NGINX_PID=
NGINX_PORT=
BG_PID=
DATABASE_URL=
PORT=

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}
warn() { printf 'WARNING: %s\n' "$*"; }

# ---------------------------------------------------------------- checks ----

for v in RETRY OTHER_MAX DURATION SHORT WARMUP REPEAT REPEAT_RATIO EVENTS SERVER_CPU CLIENT_CPU WRK_THREADS PGB_CLIENTS PGB_THREADS \
	LIST_EVENTS LIST_SESSIONS LIST_SPEAKERS LIST_TRACKS BIG_SESSIONS BIG_SPEAKERS BIG_TRACKS BIG_PAGE_SIZE BIG_COUNT LOGIN_RATE PACE_MS TASKS_WAIT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((DURATION >= 1)) || die "BENCH_DURATION must be at least 1"
((REPEAT >= 1)) || die "BENCH_REPEAT must be at least 1"
((EVENTS >= 1)) || die "BENCH_EVENTS must be at least 1"
((SHORT >= 1)) || die "BENCH_DURATION_SHORT must be at least 1"
((SHORT > DURATION)) && SHORT=$DURATION
((LIST_EVENTS >= 1 && LIST_EVENTS <= EVENTS)) || die "BENCH_LIST_EVENTS must lie in 1..BENCH_EVENTS"
((LIST_TRACKS >= 2 && BIG_TRACKS >= 2)) || die "BENCH_LIST_TRACKS and BENCH_BIG_TRACKS must be at least 2 (the filter asks for 'Track 2')"
((LIST_SESSIONS >= 1 && LIST_SPEAKERS >= 1 && BIG_SPEAKERS >= 1 && BIG_PAGE_SIZE >= 1 && BIG_COUNT >= 1 && LOGIN_RATE >= 1)) ||
	die "the BENCH_LIST_*, BENCH_BIG_* sizes and BENCH_LOGIN_RATE must be at least 1"
((LIST_SESSIONS <= 16 * LIST_TRACKS)) || die "BENCH_LIST_SESSIONS must be at most 16 x BENCH_LIST_TRACKS (one day of slots)"
((BIG_SESSIONS >= 1 && BIG_SESSIONS <= 7 * 16 * BIG_TRACKS)) ||
	die "BENCH_BIG_SESSIONS must lie in 1..7 x 16 x BENCH_BIG_TRACKS (the big event spans 7 days of 16 slots)"

for tool in wrk pgbench psql taskset curl pgrep python3; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (run scripts/deps.sh)"
done
[[ -x $BIN ]] || die "no server binary at $BIN (run make)"
[[ -f $PGCTL ]] || die "no $PGCTL"
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $NGINX ]] || NGINX=
[[ -r deploy/nginx.conf ]] || NGINX=

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
	if [[ -n $BG_PID ]]; then
		kill -TERM "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
		kill -QUIT "$NGINX_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$NGINX_PID" 2>/dev/null; then
			# shellcheck disable=SC2046 # the master and its worker
			kill -KILL $(process_tree "$NGINX_PID") 2>/dev/null || true
		fi
		wait "$NGINX_PID" 2>/dev/null || true
	fi
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
	if [[ -n $AUTOGROUP_WAS ]]; then
		echo "$AUTOGROUP_WAS" >/proc/sys/kernel/sched_autogroup_enabled 2>/dev/null ||
			warn "could not restore kernel.sched_autogroup_enabled to $AUTOGROUP_WAS"
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

# Scheduling groups by session (see BENCH_AUTOGROUP above).
AUTOGROUP_WAS= AUTOGROUP_NOTE=
AUTOGROUP_FILE=/proc/sys/kernel/sched_autogroup_enabled
case ${BENCH_AUTOGROUP:-off} in
off | keep) ;;
*) die "BENCH_AUTOGROUP must be off or keep, got '$BENCH_AUTOGROUP'" ;;
esac
if [[ -r $AUTOGROUP_FILE ]] && [[ $(cat "$AUTOGROUP_FILE") == 1 ]]; then
	if [[ ${BENCH_AUTOGROUP:-off} == off ]] && echo 0 >"$AUTOGROUP_FILE" 2>/dev/null; then
		AUTOGROUP_WAS=1
		AUTOGROUP_NOTE="kernel.sched_autogroup_enabled: 0 for this run (it was 1; restored at exit)"
	else
		AUTOGROUP_NOTE="kernel.sched_autogroup_enabled: 1 (PostgreSQL, nginx and the server are three scheduling groups on one core: expect stalls of 0.2-0.4 s in the nginx cases; BENCH_AUTOGROUP, needs root)"
	fi
elif [[ -r $AUTOGROUP_FILE ]]; then
	AUTOGROUP_NOTE="kernel.sched_autogroup_enabled: $(cat "$AUTOGROUP_FILE")"
fi
[[ -n $AUTOGROUP_NOTE ]] && say "$AUTOGROUP_NOTE"

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
	for pid in $$ $(process_tree "$SERVER_PID") ${PM_PID:+$(process_tree "$PM_PID")} ${NGINX_PID:+$(process_tree "$NGINX_PID")}; do
		total=$((total + $(proc_jiffies "$pid")))
	done
	echo "$total"
}
# tree_jiffies PID: CPU of the process tree (0 without a PID).
tree_jiffies() {
	local total=0 pid
	if [[ -n ${1:-} ]]; then
		for pid in $(process_tree "$1"); do
			total=$((total + $(proc_jiffies "$pid")))
		done
	fi
	echo "$total"
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# per_req JIFFIES REQUESTS: microseconds of CPU per request ("null" without).
per_req() { awk -v j="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.0f\n", j * 1e6 / hz / n; else print "null" }'; }

# Peak RSS: the largest VmHWM seen so far (RSS_PEAK_MAX, and the case it
# was seen in: RSS_PEAK_CASE); hwm_reset notes the current peak, then
# resets every VmHWM of the server's tree to its VmRSS (clear_refs 5), so
# that the next reading is the peak of what ran in between.
RSS_PEAK_MAX=0
RSS_PEAK_CASE=start-up
HWM_RESETS=1
hwm_note() {
	local kb
	kb=$(server_hwm_kb)
	if ((kb > RSS_PEAK_MAX)); then
		RSS_PEAK_MAX=$kb RSS_PEAK_CASE=$1
	fi
	HWM_LAST=$kb
}
hwm_reset() {
	local pid
	hwm_note "$1"
	for pid in $(process_tree "$SERVER_PID"); do
		echo 5 2>/dev/null >"/proc/$pid/clear_refs" || HWM_RESETS=0
	done
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
declare -A R_PEAK=() R_EXTRA=() R_DUR=()

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

# measure NAME RUNNER: the measured runs of a case, REPEAT runs of RUNNER
# (RUNNER OUT: one run, raw output in OUT, its figures in OUT.line, the rate
# first). While other processes take more than OTHER_MAX% of a core during
# them, tries again, up to RETRY times, and keeps the attempt they disturbed
# least. Sets M_RUNS (the lines) and M_FOREIGN.
M_RUNS=()
M_FOREIGN=
measure() {
	local name=$1 runner=$2 attempt i f foreign reps=$REPEAT
	local -a runs
	M_RUNS=() M_FOREIGN=
	[[ $RATIO_CASES == *" $name "* ]] && ((reps < REPEAT_RATIO)) && reps=$REPEAT_RATIO
	for ((attempt = 0; attempt <= RETRY; attempt++)); do
		runs=()
		foreign_start
		for ((i = 1; i <= reps; i++)); do
			f=$WORK/$name.$attempt.$i.out
			"$runner" "$f"
			runs+=("$(cat "$f.line")")
			printf '%.0f ' "$(cut -d' ' -f1 "$f.line")" >&2
		done
		foreign=$(foreign_end)
		if [[ -z $M_FOREIGN ]] || ((foreign < M_FOREIGN)); then
			M_RUNS=("${runs[@]}") M_FOREIGN=$foreign
		fi
		((foreign <= OTHER_MAX)) && break
		((attempt < RETRY)) && printf '(other processes took %s%% of a core: again) ' "$foreign" >&2
	done
	return 0
}

# median: the line of M_RUNS with the median rate.
median() { printf '%s\n' "${M_RUNS[@]}" | sort -g -k1,1 | sed -n "$(((${#M_RUNS[@]} + 1) / 2))p"; }
# rates: the rates of M_RUNS, comma-separated (for the JSON).
rates() { printf '%s\n' "${M_RUNS[@]}" | awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }'; }

# wrk_case NAME CONNS EXPECT DESCRIPTION PATH [LUA-SCRIPT]
#   EXPECT: 2xx (every answer must be 2xx/3xx) or non2xx (all are errors,
#   e.g. the 404 ceiling). The median run by req/s is kept. Options (see the
#   header): CASE_PORT, CASE_DURATION, CASE_BACKGROUND, CASE_EXTRA.
W_CMD=()
W_URL=
W_NAME=
W_DUR=
W_NGINX=0
wrk_once() {
	local out=$1 line reqs extra s0 p0 n0 s1 p1 n1 sl0
	rm -f "$out.extra"
	if [[ -n ${CASE_BACKGROUND:-} ]]; then "$CASE_BACKGROUND" start "$out"; fi
	sl0=$(slow_lines)
	s0=$(tree_jiffies "$SERVER_PID") p0=$(tree_jiffies "$PM_PID") n0=$(tree_jiffies "$NGINX_PID")
	if ! timeout --foreground "$((W_DUR + 60))" "${W_CMD[@]}" -d"${W_DUR}s" "$W_URL" >"$out" 2>&1; then
		if [[ -n ${CASE_BACKGROUND:-} ]]; then "$CASE_BACKGROUND" stop "$out"; fi
		cat "$out" >&2
		check_server "during $W_NAME"
		((W_NGINX)) && check_nginx "during $W_NAME"
		die "wrk failed ($W_NAME)"
	fi
	s1=$(tree_jiffies "$SERVER_PID") p1=$(tree_jiffies "$PM_PID") n1=$(tree_jiffies "$NGINX_PID")
	if [[ -n ${CASE_BACKGROUND:-} ]]; then "$CASE_BACKGROUND" stop "$out"; fi
	check_server "during $W_NAME"
	if ((W_NGINX)); then check_nginx "during $W_NAME"; fi
	line=$(parse_wrk "$out") || { cat "$out" >&2; die "cannot read wrk's output ($W_NAME)"; }
	reqs=$(cut -d' ' -f4 <<<"$line")
	extra="srv_us=$(per_req $((s1 - s0)) "$reqs") pg_us=$(per_req $((p1 - p0)) "$reqs")"
	if ((W_NGINX)); then extra+=" ngx_us=$(per_req $((n1 - n0)) "$reqs")"; fi
	extra+=" slow=$(($(slow_lines) - sl0))"
	if [[ -n ${CASE_EXTRA:-} ]]; then extra+=" $("$CASE_EXTRA" "$out")"; fi
	if [[ -s $out.extra ]]; then extra+=" $(tr '\n' ' ' <"$out.extra")"; fi
	echo "$line $extra" >"$out.line"
}
wrk_case() {
	local name=$1 conns=$2 expect=$3 desc=$4 path=$5 script=${6:-}
	selected "$name" || return 0
	local threads=$WRK_THREADS port=${CASE_PORT:-$PORT}
	((threads > conns)) && threads=$conns
	W_CMD=(taskset -c "$CLIENT_CPU" wrk -t"$threads" -c"$conns" --latency)
	[[ -n $script ]] && W_CMD+=(-s "$script")
	W_URL="http://127.0.0.1:$port$path" W_NAME=$name W_DUR=${CASE_DURATION:-$DURATION} W_NGINX=0
	[[ -n $NGINX_PORT && $port == "$NGINX_PORT" ]] && W_NGINX=1

	printf '  %-16s ' "$name" >&2
	hwm_reset "before $name"
	if ((WARMUP > 0)); then
		timeout --foreground "$((WARMUP + 60))" "${W_CMD[@]}" -d"${WARMUP}s" "$W_URL" >"$WORK/$name.warmup.out" 2>&1 ||
			{ cat "$WORK/$name.warmup.out" >&2; check_server "during the warm-up of $name"; die "wrk failed (warm-up of $name)"; }
		check_server "during the warm-up of $name"
	fi
	measure "$name" wrk_once
	echo "req/s" >&2
	hwm_note "$name"
	local rps p50 p99 reqs non2xx sock extra
	read -r rps p50 p99 reqs non2xx sock extra <<<"$(median)"

	CASES+=("$name")
	R_KIND[$name]=wrk R_DESC[$name]=$desc R_CONNS[$name]=$conns R_EXPECT[$name]=$expect
	R_RPS[$name]=$rps R_P50[$name]=$p50 R_P99[$name]=$p99 R_AVG[$name]=null R_REQS[$name]=$reqs
	R_NON2XX[$name]=$non2xx R_SOCK[$name]=$sock R_RSS[$name]=$(server_rss_kb) R_PEAK[$name]=$HWM_LAST
	R_RUNS[$name]=$(rates) R_FOREIGN[$name]=$M_FOREIGN R_EXTRA[$name]=$extra R_DUR[$name]=$W_DUR
}

# extra NAME FIELD: one NAME=VALUE figure of a case's extras ("" when absent).
extra() { tr ' ' '\n' <<<"${R_EXTRA[$1]:-}" | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }

# pgbench_case NAME CLIENTS DESCRIPTION SCRIPT CONNINFO: a custom script,
# prepared statements (select-only when the script only reads).
P_CMD=()
P_CONNINFO=
P_DUR=
pgbench_once() {
	local f=$1 tps avg failed reqs
	timeout --foreground "$((P_DUR + 60))" "${P_CMD[@]}" -T "$P_DUR" "$P_CONNINFO" >"$f" 2>&1 ||
		{ cat "$f" >&2; die "pgbench failed"; }
	tps=$(awk '/^tps = / { print $3; exit }' "$f")
	avg=$(awk '/^latency average = / { print $4; exit }' "$f")
	failed=$(awk '/^number of failed transactions:/ { print $5; exit }' "$f")
	reqs=$(awk '/^number of transactions actually processed:/ { sub(/\/.*/, "", $6); print $6; exit }' "$f")
	[[ -n $tps ]] || { cat "$f" >&2; die "cannot read pgbench's output"; }
	echo "$tps ${avg:-null} ${failed:-0} ${reqs:-0}" >"$f.line"
}
pgbench_case() {
	local name=$1 clients=$2 desc=$3 script=$4
	selected "$name" || return 0
	P_CMD=(taskset -c "$CLIENT_CPU" pgbench -n -M prepared -c "$clients" -j "$PGB_THREADS"
		-f "$script" -D "id_min=$ID_MIN" -D "id_max=$ID_MAX")
	P_CONNINFO=$5 P_DUR=${CASE_DURATION:-$DURATION}
	printf '  %-16s ' "$name" >&2
	if ((WARMUP > 0)); then
		timeout --foreground "$((WARMUP + 60))" "${P_CMD[@]}" -T "$WARMUP" "$P_CONNINFO" >"$WORK/$name.warmup.out" 2>&1 ||
			{ cat "$WORK/$name.warmup.out" >&2; die "pgbench failed (warm-up)"; }
	fi
	measure "$name" pgbench_once
	echo "tps" >&2
	local tps avg failed reqs
	read -r tps avg failed reqs <<<"$(median)"
	CASES+=("$name")
	R_KIND[$name]=pgbench R_DESC[$name]=$desc R_CONNS[$name]=$clients R_EXPECT[$name]=2xx
	R_RPS[$name]=$tps R_P50[$name]=null R_P99[$name]=null R_AVG[$name]=$avg R_REQS[$name]=$reqs
	R_NON2XX[$name]=$failed R_SOCK[$name]=0 R_RSS[$name]=null R_PEAK[$name]=null
	R_RUNS[$name]=$(rates) R_FOREIGN[$name]=$M_FOREIGN R_EXTRA[$name]='' R_DUR[$name]=$P_DUR
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
# One statement. ~300 characters of description, as in the prototype of
# shared/notes/performance.md (whose documents were ~650 bytes; ours carry
# every attribute of an event, so they are bigger).
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
SQL

read -r ID_MIN ID_MAX ID_COUNT < <(psql_q -F ' ' -c "SELECT min(id), max(id), count(*) FROM events
	WHERE deleted_at IS NULL AND state = 'published' AND privacy = 'public'")
((ID_COUNT >= EVENTS)) || die "expected $EVENTS events after seeding, found $ID_COUNT"
((ID_MAX - ID_MIN + 1 == ID_COUNT)) ||
	warn "event ids $ID_MIN..$ID_MAX are not contiguous ($ID_COUNT rows): some requests will be 404s"
export BENCH_ID_MIN=$ID_MIN BENCH_ID_MAX=$ID_MAX

# The lists: the first LIST_EVENTS events get tracks, speakers and sessions;
# then the big event (after the range above: detail requests never ask
# for it).
LIST_FIRST=$ID_MIN LIST_LAST=$((ID_MIN + LIST_EVENTS - 1))
say "seeding events $LIST_FIRST..$LIST_LAST with $LIST_SESSIONS sessions, $LIST_SPEAKERS speakers, $LIST_TRACKS tracks each"
psql_q -v first="$LIST_FIRST" -v events="$LIST_EVENTS" -v sessions="$LIST_SESSIONS" \
	-v speakers="$LIST_SPEAKERS" -v tracks="$LIST_TRACKS" -f bench/seed_lists.sql >/dev/null
say "seeding the big event: $BIG_SESSIONS sessions, $BIG_SPEAKERS speakers, $BIG_TRACKS tracks"
psql_q -v sessions="$BIG_SESSIONS" -v speakers="$BIG_SPEAKERS" -v tracks="$BIG_TRACKS" \
	-f bench/seed_big.sql >/dev/null
BIG_ID=$(psql_q -c "SELECT id FROM events WHERE identifier = 'b19e0e17'")
[[ $BIG_ID =~ ^[0-9]+$ ]] || die "bench/seed_big.sql made no event"
read -r n_sessions n_links < <(psql_q -F ' ' -c "SELECT count(*), (SELECT count(*) FROM sessions_speakers)
	FROM sessions WHERE state = 'accepted'")
((n_sessions == LIST_EVENTS * LIST_SESSIONS + BIG_SESSIONS)) ||
	die "expected $((LIST_EVENTS * LIST_SESSIONS + BIG_SESSIONS)) accepted sessions after seeding, found $n_sessions"
say "seeded $n_sessions sessions, $n_links session-speaker links"
PG_SETTINGS=${BENCH_PG_SETTINGS:-}
for kv in $PG_SETTINGS; do
	[[ $kv =~ ^([a-z_]+)=([A-Za-z0-9_.:-]+)$ ]] || die "BENCH_PG_SETTINGS: '$kv' is not NAME=VALUE"
	psql_q -c "ALTER SYSTEM SET ${BASH_REMATCH[1]} = '${BASH_REMATCH[2]}'" >/dev/null || die "cannot set $kv"
done
if [[ -n $PG_SETTINGS ]]; then
	psql_q -c "SELECT pg_reload_conf()" >/dev/null
	say "PostgreSQL settings: $PG_SETTINGS"
fi
psql_q -c "VACUUM ANALYZE" >/dev/null
export BENCH_LIST_ID_MIN=$LIST_FIRST BENCH_LIST_ID_MAX=$LIST_LAST BENCH_BIG_ID=$BIG_ID
export BENCH_BIG_PAGE_SIZE=$BIG_PAGE_SIZE BENCH_BIG_PAGES=$(((BIG_SESSIONS + BIG_PAGE_SIZE - 1) / BIG_PAGE_SIZE))
BIG_PAGES=$BENCH_BIG_PAGES

# ---------------------------------------------------------------- server ----

SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
# The server logs requests slower than this (warn, with their database
# time); each case counts the lines its run added.
SLOW_MS=${BENCH_SLOW_MS:-200}
slow_lines() { grep -c 'slow request:' "$WORK/server.log" 2>/dev/null || true; }
# start_server: starts it on a free port and waits for /health-check 200;
# returns 2 when the port was taken meanwhile (the caller tries another).
start_server() {
	PORT=$(free_port) || die "no free port"
	say "starting $BIN serve on 127.0.0.1:$PORT, pinned to core $SERVER_CPU"
	# shellcheck disable=SC2086 # SERVER_ARGS is a list of words
	env DATABASE_URL="$DATABASE_URL" HOST=127.0.0.1 PORT="$PORT" SECRET_KEY="$SECRET" LOG_LEVEL="${BENCH_LOG_LEVEL:-warn}" \
		TRUSTED_PROXIES=127.0.0.1/32 SLOW_REQUEST_MS="$SLOW_MS" \
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

# doc_check FILE EXPRESSION: the Python EXPRESSION over the JSON document d
# (in FILE) must hold; prints why not.
doc_check() {
	python3 - "$1" "$2" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError as e:
    print("not JSON: %s" % e)
    sys.exit(1)
try:
    ok = eval("(" + sys.argv[2] + "\n)")  # parenthesised: it may span lines
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))
    sys.exit(1)
if not ok:
    print("does not hold: %s" % sys.argv[2])
    sys.exit(1)
PY
}
# expect_doc PORT PATH EXPRESSION: GET PATH answers 200 with such a document.
expect_doc() {
	local status why
	status=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 30 "http://127.0.0.1:$1$2" || true)
	if [[ $status != 200 ]] || ! why=$(doc_check "$WORK/body" "$3"); then
		head -c 2000 "$WORK/body" >&2
		echo >&2
		server_log_tail
		die "GET $2 (port $1) answered $status${why:+: $why}"
	fi
}
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# The list of 20 with include: 20 sessions of 50, speakers and tracks included.
LIST_QUERY='include=speakers%2Ctrack&page%5Bsize%5D=20'
export BENCH_LIST_QUERY=$LIST_QUERY
expect_doc "$PORT" "/v1/events/$LIST_FIRST/sessions?$LIST_QUERY" \
	"len(d['data']) == min(20, $LIST_SESSIONS) and d['meta']['count'] == $LIST_SESSIONS
	 and {'speaker', 'track'} <= {x['type'] for x in d['included']}"
LIST_BYTES=$(wc -c <"$WORK/body")
# The filtered, sorted list: the sessions in a track named "Track 2" (track k
# % tracks + 1 == 2), latest first, ties by title; the count and the order
# checked.
FILTER_JSON='[{"name":"track","op":"has","val":{"name":"name","op":"eq","val":"Track 2"}}]'
FILTER_SORT='-starts-at,title'
FILTERED_PATH="/v1/sessions?filter=$(urlenc "$FILTER_JSON")&sort=$(urlenc "$FILTER_SORT")&page%5Bsize%5D=20"
FILTERED_COUNT=$((LIST_EVENTS * ((LIST_SESSIONS + LIST_TRACKS - 2) / LIST_TRACKS) + (BIG_SESSIONS + BIG_TRACKS - 2) / BIG_TRACKS))
expect_doc "$PORT" "$FILTERED_PATH" \
	"d['meta']['count'] == $FILTERED_COUNT and len(d['data']) == min(20, $FILTERED_COUNT)
	 and all(a['attributes']['starts-at'] > b['attributes']['starts-at']
	         or (a['attributes']['starts-at'] == b['attributes']['starts-at']
	             and a['attributes']['title'] <= b['attributes']['title'])
	         for a, b in zip(d['data'], d['data'][1:]))"
FILTERED_BYTES=$(wc -c <"$WORK/body")
say "list20: $LIST_BYTES bytes; filtered: $FILTERED_BYTES bytes ($FILTERED_COUNT sessions match)"

# An admin and its token, for create@64; its password for the sign-ins of
# detail+login@64.
ADMIN_EMAIL=bench-admin@example.org
BENCH_LOGIN_PASSWORD=bench-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
export BENCH_LOGIN_PASSWORD BENCH_TOKEN=
if selected create@64 || selected detail+login@64; then
	env DATABASE_URL="$DATABASE_URL" ADMIN_PASSWORD="$BENCH_LOGIN_PASSWORD" "$BIN" create-admin "$ADMIN_EMAIL" \
		>"$WORK/admin.log" 2>&1 </dev/null || {
		cat "$WORK/admin.log" >&2
		die "$BIN create-admin failed"
	}
	status=$(curl -s -o "$WORK/login.json" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
		--data-binary @- "http://127.0.0.1:$PORT/v1/auth/login" <<<"{\"email\": \"$ADMIN_EMAIL\", \"password\": \"$BENCH_LOGIN_PASSWORD\"}" || true)
	BENCH_TOKEN=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/login.json" 2>/dev/null || true)
	[[ $status == 200 && -n $BENCH_TOKEN ]] || {
		head -c 1000 "$WORK/login.json" >&2
		die "POST /v1/auth/login answered $status without an access_token"
	}
	status=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 -H "Authorization: JWT $BENCH_TOKEN" \
		-H 'Content-Type: application/vnd.api+json' --data-binary @- "http://127.0.0.1:$PORT/v1/events" <<'JSON' || true
{"data":{"type":"event","attributes":{"name":"Bench check","starts-at":"2031-05-04T09:00:00Z","ends-at":"2031-05-06T18:00:00Z","timezone":"Asia/Singapore"}}}
JSON
	)
	[[ $status == 201 ]] || {
		head -c 1000 "$WORK/body" >&2
		die "POST /v1/events as the admin answered $status, not 201"
	}
fi

# nginx in front, for the *-nginx cases: deploy/nginx.conf with the bench's
# ports, one worker, on the server's core, no access log (the server logs
# none either); the temporary files of responses it buffers to disk go to
# $WORK/nginx/proxy (counted: a warning in its error log each).
check_nginx() {
	if [[ -n $NGINX_PID ]] && ! kill -0 "$NGINX_PID" 2>/dev/null; then
		wait "$NGINX_PID" 2>/dev/null || true
		NGINX_PID=
		tail -n 20 "$WORK/nginx/error.log" "$WORK/nginx/stderr" >&2 2>/dev/null || true
		die "nginx stopped ${1:-}"
	fi
}
start_nginx() {
	local dir=$WORK/nginx conf i
	mkdir -p "$dir"
	chmod 755 "$dir"
	NGINX_PORT=$(free_port) || die "no free port"
	conf=$(sed -e "s/server 127\.0\.0\.1:8080;/server 127.0.0.1:$PORT;/" -e '/listen \[::\]:80;/d' \
		-e "s/listen 80;/listen 127.0.0.1:$NGINX_PORT;/" deploy/nginx.conf)
	{ grep -q "server 127.0.0.1:$PORT;" <<<"$conf" && grep -q "listen 127.0.0.1:$NGINX_PORT;" <<<"$conf"; } ||
		die "deploy/nginx.conf no longer has 'server 127.0.0.1:8080;' and 'listen 80;': adapt start_nginx"
	cat >"$dir/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
$conf
}
NGINX
	say "starting nginx on 127.0.0.1:$NGINX_PORT in front of the server, pinned to core $SERVER_CPU"
	taskset -c "$SERVER_CPU" "$NGINX" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
	NGINX_PID=$!
	for i in $(seq 1 100); do
		if ! kill -0 "$NGINX_PID" 2>/dev/null; then
			wait "$NGINX_PID" 2>/dev/null || true
			NGINX_PID=
			grep -qi 'in use' "$dir/stderr" "$dir/error.log" 2>/dev/null && return 2
			cat "$dir/stderr" "$dir/error.log" >&2 2>/dev/null || true
			die "nginx did not start"
		fi
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$NGINX_PORT/health-check" || true) == 200 ]] && return 0
		sleep 0.1
	done
	die "nginx did not answer /health-check within 10 s"
}
NGINX_BUFFERED=0
if selected detail-nginx@64 || selected list20-nginx@64; then
	if [[ -z $NGINX ]]; then
		warn "no nginx (or no deploy/nginx.conf): the nginx cases are skipped (scripts/deps.sh installs nginx-light)"
	else
		for attempt in 1 2 3; do
			rc=0
			start_nginx || rc=$?
			((rc == 0)) && break
			((attempt < 3)) || die "no port for nginx after 3 attempts"
			say "port $NGINX_PORT was taken meanwhile; trying another"
		done
		expect_doc "$NGINX_PORT" "/v1/events/$ID_MIN" "d['data']['id'] == '$ID_MIN'"
		expect_doc "$NGINX_PORT" "/v1/events/$LIST_FIRST/sessions?$LIST_QUERY" "len(d['data']) == min(20, $LIST_SESSIONS)"
	fi
fi

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
say "runs: ${WARMUP}s warm-up + ${REPEAT} x ${DURATION}s per case (${REPEAT_RATIO} x for${RATIO_CASES%% }); wrk -t$WRK_THREADS on core $CLIENT_CPU"

# The database's ceiling runs what the server itself runs for a detail: the
# statements PostgreSQL logs for one request (log_min_duration_statement = 0
# for that moment), the requested id made a pgbench variable. When that fails,
# the fixed query in bench/detail.pgbench stands in.
#
# capture_pgbench PATH ID OUT [SET-LINE]: the parameters equal to ID become
# :id, set by SET-LINE (default: random among the seeded events). The server
# also runs statements of its own (token revocations, task sweeps, on
# timers): only what is logged between two readings of PostgreSQL's clock
# around a request counts, and two requests in a row must give the same
# script (else up to two more tries).
pg_now() { psql_q -c "SELECT to_char(clock_timestamp() AT TIME ZONE current_setting('log_timezone'), 'YYYY-MM-DD HH24:MI:SS.MS')"; }
capture_pgbench() {
	local path=$1 id=$2 out=$3 set=${4:-'\set id random(:id_min, :id_max)'} distinct=${5:-0} log=$DATA/postgres.log
	local size status i get
	local -a t0 t1
	[[ -r $log ]] || return 1
	for _ in 1 2 3; do
		psql_q -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null || return 1
		sleep 0.3 # backends reload between commands
		size=$(stat -c %s "$log")
		for i in 0 1; do
			t0[i]=$(pg_now) || return 1
			# distinct: a URL never asked before (an ignored parameter), so
			# that the list is built, not served from memory (LIST_CACHE_BYTES)
			get=$path
			((distinct)) && get="$path&capture=$$-$RANDOM-$i"
			status=$(http_get "$get")
			sleep 0.05
			t1[i]=$(pg_now) || return 1
			[[ $status == 200 ]] || break
		done
		sleep 0.3
		psql_q -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null || return 1
		sleep 0.3
		tail -c +"$((size + 1))" "$log" >"$WORK/capture.log"
		if [[ $status != 200 ]]; then
			say "capture: GET $path answered $status"
			return 1
		fi
		for i in 0 1; do
			python3 bench/pgbench_from_log.py --var "id=$id" --set "$set" --after "${t0[i]}" --before "${t1[i]}" \
				<"$WORK/capture.log" >"$out.$i" || {
				say "capture: no statement in PostgreSQL's log for GET $path ($(wc -l <"$WORK/capture.log") lines logged)"
				return 1
			}
		done
		if cmp -s "$out.0" "$out.1"; then
			mv "$out.0" "$out"
			rm -f "$out.1"
			return 0
		fi
		say "capture: two GET $path gave different statements (the server's own timers?); again"
	done
	return 1
}
mkdir -p "$(dirname "$RESULTS")"
PGB_DETAIL=$WORK/detail-captured.pgbench
if capture_pgbench "/v1/events/$ID_MIN" "$ID_MIN" "$PGB_DETAIL" ||
	capture_pgbench "/v1/events/$ID_MAX" "$ID_MAX" "$PGB_DETAIL"; then
	PGB_SOURCE=captured
	say "pgbench runs the $(grep -c ';$' "$PGB_DETAIL") statement(s) the server ran for a detail:"
	grep -v '^.set ' "$PGB_DETAIL" | cut -c1-150 | sed 's/^/    /' >&2
else
	PGB_SOURCE=fixed
	warn "could not capture the server's statements for a detail; pgbench runs bench/detail.pgbench"
	cp bench/detail.pgbench "$PGB_DETAIL"
fi
# The same for a list of 20 with include, the event random among the 20
# with sessions; the id captured is one no other parameter (LIMIT 20,
# OFFSET 0) equals.
PGB_LIST=$WORK/list20-captured.pgbench
PGB_LIST_OK=0
if selected pgbench-list20; then
	cap=$((LIST_FIRST + LIST_EVENTS / 2))
	((cap == 20 || cap < 2)) && cap=$LIST_LAST
	((cap == 20 || cap < 2)) && cap=$LIST_FIRST
	if capture_pgbench "/v1/events/$cap/sessions?$LIST_QUERY" "$cap" "$PGB_LIST" "\\set id random($LIST_FIRST, $LIST_LAST)" 1; then
		PGB_LIST_OK=1
		say "pgbench-list20 runs the $(grep -c ';$' "$PGB_LIST") statement(s) the server ran for a list20:"
		grep -v '^.set ' "$PGB_LIST" | cut -c1-150 | sed 's/^/    /' >&2
		cp "$PGB_LIST" "$(dirname "$RESULTS")/list20.pgbench"
	else
		warn "could not capture the server's statements for a list20: no pgbench-list20"
	fi
fi
# Statement logging must be off for the runs.
psql_q -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
[[ $(psql_q -c "SHOW log_min_duration_statement") == -1 ]] ||
	die "cannot turn statement logging off again (log_min_duration_statement)"
cp "$PGB_DETAIL" "$(dirname "$RESULTS")/detail.pgbench"

# ----------------------------------------------------------------- cases ----

wrk_case detail@64 64 2xx "GET /v1/events/{random id}" /v1/events/ bench/detail.lua
wrk_case detail@256 256 2xx "GET /v1/events/{random id}" /v1/events/ bench/detail.lua
# 256 connections that each wait BENCH_PACE_MS (25) on average (at random)
# before every request:
# at most 256/25 ms = 10,240 req/s offered, about half of what the server
# serves saturated. The saturated case above cannot have a p99 under 10 ms:
# a closed loop of 256 connections has a mean latency of 256 / throughput
# (Little's law), 13 ms at 19,000 req/s; the paced case measures the
# latency 256 clients see when the server is not the bottleneck.
WRK_PACE_MS=$PACE_MS wrk_case detail@256-paced 256 2xx \
	"GET /v1/events/{random id}, each connection pausing ${PACE_MS} ms on average before each request" /v1/events/ bench/detail.lua
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

# The lists, at 64 connections.
CASE_DURATION=$SHORT wrk_case list20@64 64 2xx \
	"GET /v1/events/{id}/sessions?include=speakers,track&page[size]=20, id random among $LIST_EVENTS events" \
	/v1/events/ bench/list.lua
# The same lists with a URL never asked before on every request (an extra
# parameter the server ignores): no document kept in memory
# (LIST_CACHE_BYTES) can answer, each request reads the event's generation,
# builds its list and stores it: what list20@64 costs when nothing repeats.
BENCH_LIST_DISTINCT=1 CASE_DURATION=$SHORT wrk_case list20-built@64 64 2xx \
	"as list20@64, every URL distinct (&distinct=N): built every time, never served from memory" \
	/v1/events/ bench/list.lua
CASE_DURATION=$SHORT wrk_case filtered@64 64 2xx \
	"GET /v1/sessions?filter=$FILTER_JSON&sort=$FILTER_SORT&page[size]=20 ($FILTERED_COUNT match)" "$FILTERED_PATH"
if ((PGB_LIST_OK)); then
	CASE_DURATION=$SHORT pgbench_case pgbench-list20 "$PGB_CLIENTS" \
		"pgbench, the server's statements for a list20 (captured), -M prepared, TCP" "$PGB_LIST" "$DATABASE_URL"
fi

# Through nginx. Connections nginx closes to the server (more in use than
# the upstream's `keepalive` keeps idle) are counted: its sockets in
# TIME-WAIT towards the server's port that entered that state during the
# run (Linux keeps them 60 s; ss shows the time left, in whole seconds:
# the count is close, not exact).
# new_time_waits SECONDS: those that entered TIME-WAIT in the last SECONDS.
new_time_waits() {
	ss -Htano state time-wait "( dport = :$PORT )" 2>/dev/null | awk -v s="$1" '
		match($0, /timewait,[0-9.]+(ms|sec|min)/) {
			v = substr($0, RSTART + 9, RLENGTH - 9); t = v + 0
			if (v ~ /ms$/) t /= 1000; else if (v ~ /min$/) t *= 60
			if (t >= 60 - s) n++
		}
		END { print n + 0 }'
}
# server_hist: the server's own request-duration histogram (/metrics,
# straight to the server), as "LE CUMULATIVE-COUNT" lines.
server_hist() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
		sed -n 's/^oes_http_request_duration_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)$/\1 \2/p'
}
# hist_tail BEFORE AFTER: from two server_hist snapshots, the requests of the
# run the server itself took longer than 250 ms, and the bucket holding its
# p99 (in ms): "srv_over_250ms=N srv_p99_le_ms=X". A tail wrk sees through
# nginx that the server does not have is nginx's or the network's.
hist_tail() {
	awk 'NR == FNR { b[$1] = $2; next }
		{ le[++n] = $1; d[n] = $2 - b[$1] }
		END {
			total = d[n]; over = 0; p99 = "null"
			for (i = 1; i <= n; i++) {
				if (le[i] == "0.25") over = total - d[i]
				if (p99 == "null" && total > 0 && d[i] >= 0.99 * total)
					p99 = (le[i] == "+Inf") ? "inf" : le[i] * 1000
			}
			printf "srv_over_250ms=%d srv_p99_le_ms=%s\n", over, p99
		}' "$1" "$2"
}
upstream_churn() {
	local elapsed
	case $1 in
	start)
		TW_START=$(date +%s%N)
		server_hist >"$2.hist0"
		;;
	stop)
		elapsed=$(awk -v n=$(($(date +%s%N) - TW_START)) 'BEGIN { printf "%.1f", n / 1e9 + 1 }')
		if awk -v e="$elapsed" 'BEGIN { exit !(e < 59) }'; then
			echo "upstream_closed=$(new_time_waits "$elapsed")" >"$2.extra"
		else
			echo "upstream_closed=null" >"$2.extra" # longer than TIME-WAIT lasts
		fi
		server_hist >"$2.hist1"
		if [[ -s $2.hist0 && -s $2.hist1 ]]; then hist_tail "$2.hist0" "$2.hist1" | tr ' ' '\n' >>"$2.extra"; fi
		;;
	esac
}
if [[ -n $NGINX_PID ]]; then
	CASE_PORT=$NGINX_PORT CASE_DURATION=$SHORT CASE_BACKGROUND=upstream_churn wrk_case detail-nginx@64 64 2xx \
		"as detail@64, through nginx (deploy/nginx.conf)" /v1/events/ bench/detail.lua
	CASE_PORT=$NGINX_PORT CASE_DURATION=$SHORT CASE_BACKGROUND=upstream_churn wrk_case list20-nginx@64 64 2xx \
		"as list20@64, through nginx (deploy/nginx.conf)" /v1/events/ bench/list.lua
	check_nginx "after the nginx cases"
	NGINX_BUFFERED=$(grep -c 'buffered to a temporary file' "$WORK/nginx/error.log" 2>/dev/null || true)
	NGINX_BUFFERED=${NGINX_BUFFERED:-0}
fi

# Writes: every request adds an event (a draft: no list above sees it).
create_extra() {
	awk '/^created \(201\):/ { c = $3 } /^other statuses:/ { o = $3 }
		END { printf "created=%s create_other=%s\n", (c == "" ? "null" : c), (o == "" ? "null" : o) }' "$1"
}
CASE_EXTRA=create_extra CASE_DURATION=$SHORT wrk_case create@64 64 2xx \
	"POST /v1/events as an admin (bench/create.lua)" /v1/events bench/create.lua
# Every create queues background tasks (a version bump, an export
# regeneration 1 s later), which the server runs itself without Redis:
# they would take the server's core during the next cases (several times
# the CPU of a big page). Wait for them (up to BENCH_TASKS_WAIT s, 120) and
# report how long they took. Thousands of new rows also wake autovacuum:
# vacuum and analyze, and wait for any autovacuum worker to finish.
TASKS_SUMMARY=
TASKS_DRAIN_S=null
TASKS_PENDING=null
if selected create@64; then
	t_start=$(date +%s%N)
	for i in $(seq 0 $((TASKS_WAIT * 10))); do
		((i > 0)) && sleep 0.1
		TASKS_PENDING=$(psql_q -c "SELECT count(*) FROM tasks WHERE state IN ('PENDING', 'STARTED', 'RETRY')")
		[[ $TASKS_PENDING == 0 ]] && break
	done
	TASKS_DRAIN_S=$(awk -v n=$(($(date +%s%N) - t_start)) 'BEGIN { printf "%.1f", n / 1e9 }')
	TASKS_SUMMARY=$(psql_q -F ' ' -c "SELECT name || ' ' || state || ': ' || count(*) FROM tasks GROUP BY name, state ORDER BY name, state" |
		paste -sd, - | sed 's/,/, /g')
	say "after create@64: tasks ${TASKS_SUMMARY:-none}; $TASKS_PENDING unfinished after ${TASKS_DRAIN_S} s"
	check_server "while its tasks ran"
	psql_q -c "VACUUM ANALYZE" >/dev/null
	for _ in $(seq 1 100); do
		[[ $(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") == 0 ]] && break
		sleep 0.1
	done
fi

# The detail while sign-ins (argon2id, on the server's core) run on the side.
logins_bg() {
	case $1 in
	start)
		taskset -c "$CLIENT_CPU" python3 bench/logins.py --port "$PORT" --email "$ADMIN_EMAIL" \
			--rate "$LOGIN_RATE" --seconds "$((W_DUR + 1))" >"$2.logins" 2>&1 </dev/null &
		BG_PID=$!
		sleep 0.3 # the sign-ins are under way when wrk starts
		;;
	stop)
		kill -TERM "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
		BG_PID=
		grep -E '^logins=' "$2.logins" >"$2.extra" || {
			cat "$2.logins" >&2
			echo "logins=null" >"$2.extra"
		}
		;;
	esac
}
CASE_BACKGROUND=logins_bg CASE_DURATION=$SHORT wrk_case detail+login@64 64 2xx \
	"as detail@64, while $LOGIN_RATE sign-ins a second run (POST /v1/auth/login)" /v1/events/ bench/detail.lua

# The big event, last: its 3 MB pages leave the server's RSS high for what
# follows. Its pages one after the other at one connection, then under wrk
# at 16. The pages are checked first (bench/bigpage.py checks them all).
BIG_BYTES=null
if selected big-page; then
	for ((p = 1; p <= BIG_PAGES; p++)); do
		expect_doc "$PORT" "/v1/events/$BIG_ID/sessions?include=speakers%2Ctrack&page%5Bsize%5D=$BIG_PAGE_SIZE&page%5Bnumber%5D=$p" \
			"len(d['data']) == min($BIG_PAGE_SIZE, $BIG_SESSIONS - ($p - 1) * $BIG_PAGE_SIZE) and d['meta']['count'] == $BIG_SESSIONS
			 and {'speaker', 'track'} <= {x['type'] for x in d['included']}"
		if ((p == 1)); then BIG_BYTES=$(wc -c <"$WORK/body"); fi
	done
fi
BIG1=
BIG1_FOREIGN=null
BIG1_PEAK=null
big_once() {
	local out=$1 s0 p0 s1 p1 n
	s0=$(tree_jiffies "$SERVER_PID") p0=$(tree_jiffies "$PM_PID")
	taskset -c "$CLIENT_CPU" python3 bench/bigpage.py --port "$PORT" --event "$BIG_ID" --pages "$BIG_PAGES" \
		--size "$BIG_PAGE_SIZE" --count "$BIG_COUNT" >"$out" 2>"$out.err" </dev/null || {
		cat "$out.err" >&2
		check_server "during big-page@1"
		die "bench/bigpage.py failed"
	}
	s1=$(tree_jiffies "$SERVER_PID") p1=$(tree_jiffies "$PM_PID")
	check_server "during big-page@1"
	n=$((BIG_PAGES * BIG_COUNT))
	# the rate first, as measure wants; CPU per request (the checked first
	# round included: n + BIG_PAGES requests)
	awk -v s="$(per_req $((s1 - s0)) $((n + BIG_PAGES)))" -v p="$(per_req $((p1 - p0)) $((n + BIG_PAGES)))" \
		'{ r = $1; sub(/^rps=/, "", r); print r, $0, "srv_us=" s, "pg_us=" p }' "$out" >"$out.line"
}
if selected big-page@1; then
	printf '  %-16s ' big-page@1 >&2
	hwm_reset "before big-page@1"
	measure big-page@1 big_once
	echo "req/s" >&2
	hwm_note big-page@1
	BIG1=$(median | cut -d' ' -f2-) BIG1_FOREIGN=$M_FOREIGN BIG1_PEAK=$HWM_LAST
fi
big1() { tr ' ' '\n' <<<"$BIG1" | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }
CASE_DURATION=$SHORT wrk_case big-page@16 16 2xx \
	"GET /v1/events/{big}/sessions?include=speakers,track&page[size]=$BIG_PAGE_SIZE&page[number]=1..$BIG_PAGES in turn" \
	/v1/events/ bench/schedule.lua

check_server "after the runs"
hwm_note end
RSS_PEAK=$RSS_PEAK_MAX

# ---------------------------------------------------------------- report ----

mb() { awk -v k="$1" 'BEGIN { if (k == "null" || k == "") print "-"; else printf "%.1f\n", k / 1024 }'; }
num() { awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "-"; else printf "%.2f\n", v }'; }
dash() { if [[ -z $1 || $1 == null ]]; then echo -; else echo "$1"; fi; }

echo
printf '%-16s %5s %8s %8s %8s %7s %7s %7s %7s %8s %8s %6s  %s\n' case conns "req/s" "p50 ms" "p99 ms" \
	"RSS MB" "peak MB" "srv us" "pg us" non-2xx sock-err other% note
for name in "${CASES[@]}"; do
	notes=()
	if [[ ${R_KIND[$name]} == pgbench ]]; then
		notes+=("tps, latency avg $(num "${R_AVG[$name]}") ms, failed = non-2xx")
	elif [[ ${R_EXPECT[$name]} == non2xx ]]; then
		notes+=("non-2xx expected (404)")
	fi
	v=$(extra "$name" ngx_us)
	[[ -n $v ]] && notes+=("nginx $v us/req")
	v=$(extra "$name" upstream_closed)
	[[ -n $v && $v != null ]] && notes+=("upstream connections closed: $(awk -v n="$v" -v r="${R_REQS[$name]}" 'BEGIN { printf "%d (%.1f%% of requests)", n, (r > 0 ? 100 * n / r : 0) }')")
	v=$(extra "$name" srv_p99_le_ms)
	[[ -n $v ]] && notes+=("the server's own p99 <= $v ms, $(extra "$name" srv_over_250ms) request(s) over 250 ms (its /metrics histogram)")
	v=$(extra "$name" slow)
	[[ -n $v && $v != 0 ]] && notes+=("$v request(s) over ${SLOW_MS} ms in the server's log")
	v=$(extra "$name" created)
	[[ -n $v ]] && notes+=("201 Created: $v, other statuses: $(extra "$name" create_other)")
	v=$(extra "$name" logins)
	[[ -n $v ]] && notes+=("sign-ins: $v ($(extra "$name" logins_ok) ok, $(extra "$name" login_rate)/s), p50 $(extra "$name" login_p50_ms) ms, max $(extra "$name" login_max_ms) ms")
	((R_DUR[$name] != DURATION)) && notes+=("${R_DUR[$name]} s run")
	note=
	for v in "${notes[@]}"; do note+=${note:+; }$v; done
	printf '%-16s %5s %8s %8s %8s %7s %7s %7s %7s %8s %8s %6s  %s\n' "$name" "${R_CONNS[$name]}" \
		"$(awk -v v="${R_RPS[$name]}" 'BEGIN { printf "%.0f", v }')" \
		"$(num "${R_P50[$name]}")" "$(num "${R_P99[$name]}")" "$(mb "${R_RSS[$name]}")" "$(mb "${R_PEAK[$name]}")" \
		"$(dash "$(extra "$name" srv_us)")" "$(dash "$(extra "$name" pg_us)")" \
		"${R_NON2XX[$name]}" "${R_SOCK[$name]}" "${R_FOREIGN[$name]}" "$note"
done
echo
if [[ -n $BIG1 ]]; then
	echo "big event $BIG_ID ($BIG_SESSIONS sessions, $BIG_SPEAKERS speakers, $BIG_TRACKS tracks), pages of $BIG_PAGE_SIZE with speakers and tracks included,"
	echo "at 1 keep-alive connection, $BIG_COUNT requests per page (big-page@1; peak RSS $(mb "$BIG1_PEAK") MB, other% $BIG1_FOREIGN;"
	echo "CPU per page: server $(big1 srv_us) us, PostgreSQL $(big1 pg_us) us):"
	for ((p = 1; p <= BIG_PAGES; p++)); do
		printf '  page %d: %s sessions, %s included, %s MB: median %s ms, max %s ms, min %s ms\n' "$p" \
			"$(big1 "p${p}_sessions")" "$(big1 "p${p}_included")" "$(mb "$(($(big1 "p${p}_bytes") / 1024))")" \
			"$(big1 "p${p}_median_ms")" "$(big1 "p${p}_max_ms")" "$(big1 "p${p}_min_ms")"
	done
fi
echo "server RSS: $(mb "$RSS_IDLE") MB idle; peak (VmHWM) $(mb "$RSS_PEAK") MB, in $RSS_PEAK_CASE"
if ((HWM_RESETS)); then
	echo "peak MB = the server's VmHWM during that case (reset before each case through /proc/PID/clear_refs)"
else
	echo "peak MB = the server's VmHWM so far (it could not be reset: the figures are cumulative)"
fi
echo "srv us, pg us = CPU time per request of the server and of PostgreSQL (all its processes) during the measured run"
echo "other% = CPU taken by processes not part of the benchmark during the case, in % of one core"
if [[ -n $NGINX_PID ]]; then
	echo "nginx: worker_processes 1 on core $SERVER_CPU; $NGINX_BUFFERED response(s) buffered to a temporary file (its error log)"
fi
[[ -n $AUTOGROUP_NOTE ]] && echo "$AUTOGROUP_NOTE"
if [[ $TASKS_DRAIN_S != null ]]; then
	echo "create@64 queued background tasks (${TASKS_SUMMARY:-none}); the server finished them ${TASKS_DRAIN_S} s after the run ($TASKS_PENDING unfinished)"
fi

R_D64_PG=$(ratio detail@64 pgbench)
R_D64_NODB=$(ratio detail@64 no-db@64)
R_D256_PG=$(ratio detail@256 pgbench)
R_D64_PGU=$(ratio detail@64 pgbench-unix)
R_D64_PGN=$(ratio detail@64 pgbench-narrow)
R_L_D=$(ratio list20@64 detail@64)
R_L_PGL=$(ratio list20@64 pgbench-list20)
R_LB_D=$(ratio list20-built@64 detail@64)
R_LB_PGL=$(ratio list20-built@64 pgbench-list20)
R_F_D=$(ratio filtered@64 detail@64)
R_NGX_D=$(ratio detail-nginx@64 detail@64)
R_NGX_L=$(ratio list20-nginx@64 list20@64)
R_LOGIN_D=$(ratio detail+login@64 detail@64)
R_C_D=$(ratio create@64 detail@64)
shown() { if [[ $1 == null ]]; then echo "n/a (not run)"; else echo "$1"; fi; }
overhead() { awk -v r="$1" 'BEGIN { if (r == "null") print ""; else printf " (nginx costs %.0f%% of the req/s)", 100 * (1 - r) }'; }
echo "ratios:"
printf '  %-30s %s\n' "detail@64 / pgbench" "$(shown "$R_D64_PG")" \
	"detail@64 / no-db" "$(shown "$R_D64_NODB")" \
	"detail@256 / pgbench" "$(shown "$R_D256_PG")" \
	"detail@64 / pgbench-narrow" "$(shown "$R_D64_PGN")" \
	"detail@64 / pgbench-unix" "$(shown "$R_D64_PGU")" \
	"prototype / pgbench" "$PROTOTYPE_RATIO (shared/notes/performance.md, pipelined, 1 sync per batch)" \
	"list20@64 / detail@64" "$(shown "$R_L_D")" \
	"list20@64 / pgbench-list20" "$(shown "$R_L_PGL")" \
	"list20-built@64 / detail@64" "$(shown "$R_LB_D") (no document from memory)" \
	"list20-built@64 / pgbench-list20" "$(shown "$R_LB_PGL")" \
	"filtered@64 / detail@64" "$(shown "$R_F_D")" \
	"detail-nginx@64 / detail@64" "$(shown "$R_NGX_D")$(overhead "$R_NGX_D")" \
	"list20-nginx@64 / list20@64" "$(shown "$R_NGX_L")$(overhead "$R_NGX_L")" \
	"detail+login@64 / detail@64" "$(shown "$R_LOGIN_D")" \
	"create@64 / detail@64" "$(shown "$R_C_D")"
P99_D64=${R_P99[detail@64]:-null} P99_LOGIN=${R_P99[detail+login@64]:-null}
printf '  %-30s %s\n' "detail@64 p99" "$(num "$P99_D64") ms without sign-ins, $(num "$P99_LOGIN") ms with $LOGIN_RATE a second"

# Targets of the performance issue: met, MISSED, or n/a (not run).
# target LABEL VALUE OP LIMIT [SHOWN]
T_JSON=()
target() {
	local label=$1 value=$2 op=$3 limit=$4 shownv=${5:-$2} verdict
	if [[ -z $value || $value == null ]]; then
		verdict=n/a shownv="not run"
	else
		verdict=$(awk -v v="$value" -v l="$limit" -v op="$op" 'BEGIN {
			ok = (op == ">=") ? v >= l : v < l; print (ok ? "met" : "MISSED") }')
	fi
	printf '  %-44s %-28s %s\n' "$label $op $limit" "$shownv" "$verdict"
	T_JSON+=("$(printf '{"target": %s, "value": %s, "verdict": %s}' "$(json_str "$label $op $limit")" "$(jnum "$value")" "$(json_str "$verdict")")")
}
json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}
jnum() { [[ -z $1 || $1 == null ]] && echo null || echo "$1"; }
BIG_WORST_MEDIAN=null BIG_WORST_MAX=null
if [[ -n $BIG1 ]]; then
	BIG_WORST_MEDIAN=$(for ((p = 1; p <= BIG_PAGES; p++)); do big1 "p${p}_median_ms"; done | sort -g | tail -n1)
	BIG_WORST_MAX=$(for ((p = 1; p <= BIG_PAGES; p++)); do big1 "p${p}_max_ms"; done | sort -g | tail -n1)
fi
RSS_PEAK_MB=$(awk -v k="$RSS_PEAK" 'BEGIN { printf "%.1f", k / 1024 }')
# The peak of the cases other than the big event's (the pages are 3 MB each).
RSS_PEAK_ORD=0 RSS_PEAK_ORD_CASE=
for name in "${CASES[@]}"; do
	[[ $name == big-page* || ${R_PEAK[$name]} == null ]] && continue
	if ((R_PEAK[$name] > RSS_PEAK_ORD)); then RSS_PEAK_ORD=${R_PEAK[$name]} RSS_PEAK_ORD_CASE=$name; fi
done
RSS_PEAK_ORD_MB=null
((RSS_PEAK_ORD > 0)) && RSS_PEAK_ORD_MB=$(awk -v k="$RSS_PEAK_ORD" 'BEGIN { printf "%.1f", k / 1024 }')
echo "targets:"
target "detail@64 / pgbench" "$R_D64_PG" ">=" 0.6
LITTLE_MS=null
[[ ${R_RPS[detail@256]:-null} != null ]] &&
	LITTLE_MS=$(awk -v r="${R_RPS[detail@256]}" 'BEGIN { if (r > 0) printf "%.1f", 256 * 1000 / r; else print "null" }')
target "detail@256 p99 (ms), saturated" "${R_P99[detail@256]:-null}" "<" 10 \
	"${R_P99[detail@256]:-null}; mean latency of a saturated closed loop = 256 / req/s = $LITTLE_MS ms (Little's law)"
target "detail@256-paced p99 (ms)" "${R_P99[detail@256-paced]:-null}" "<" 10 \
	"${R_P99[detail@256-paced]:-null} at ${R_RPS[detail@256-paced]:-null} req/s"
target "list20@64 / detail@64" "$R_L_D" ">=" 0.2
target "big page of $BIG_PAGE_SIZE at 1 connection (ms)" "$BIG_WORST_MEDIAN" "<" 100 \
	"median $BIG_WORST_MEDIAN, max $BIG_WORST_MAX (worst page)"
target "RSS peak, every case (MB)" "$RSS_PEAK_MB" "<" 32 "$RSS_PEAK_MB in $RSS_PEAK_CASE"
target "RSS peak, all but big-page* (MB)" "$RSS_PEAK_ORD_MB" "<" 32 "$RSS_PEAK_ORD_MB in ${RSS_PEAK_ORD_CASE:-none}"

# Warnings: errors where there must be none, socket errors anywhere.
for name in "${CASES[@]}"; do
	if [[ ${R_EXPECT[$name]} == 2xx && ${R_NON2XX[$name]} != 0 ]]; then
		warn "$name: ${R_NON2XX[$name]} of ${R_REQS[$name]} responses were not 2xx/3xx (or failed transactions)"
	fi
	if [[ ${R_EXPECT[$name]} == non2xx && ${R_NON2XX[$name]} != "${R_REQS[$name]}" ]]; then
		warn "$name: ${R_NON2XX[$name]} of ${R_REQS[$name]} responses were errors; all were expected to be"
	fi
	[[ ${R_SOCK[$name]} == 0 ]] || warn "$name: ${R_SOCK[$name]} socket errors (connect/read/write/timeout)"
	((R_FOREIGN[$name] <= OTHER_MAX)) ||
		warn "$name: other processes took ${R_FOREIGN[$name]}% of a core during the run: its figures are skewed"
done
v=$(extra create@64 created)
[[ -n $v && $v != null && $v != "${R_REQS[create@64]}" ]] &&
	warn "create@64: $v of ${R_REQS[create@64]} requests answered 201"
v=$(extra detail+login@64 logins)
if [[ -n $v ]]; then
	[[ $v != null && $v == "$(extra detail+login@64 logins_ok)" ]] ||
		warn "detail+login@64: $(extra detail+login@64 logins_ok) of $v sign-ins succeeded"
fi
[[ $TASKS_PENDING == null || $TASKS_PENDING == 0 ]] ||
	warn "create@64: $TASKS_PENDING background tasks were still unfinished ${TASKS_DRAIN_S} s after the run: they overlap the next cases"
[[ $BIG1_FOREIGN == null ]] || ((BIG1_FOREIGN <= OTHER_MAX)) ||
	warn "big-page@1: other processes took $BIG1_FOREIGN% of a core during the run: its figures are skewed"
((${BUSY_MAX:-0} <= OTHER_MAX)) ||
	warn "other work used the CPUs before the runs ($BUSY): it skews the figures"

# ------------------------------------------------------------------ JSON ----

# extras_json NAME: a case's NAME=VALUE figures as a JSON object.
extras_json() {
	tr ' ' '\n' <<<"${R_EXTRA[$1]:-}" | awk -F= 'NF == 2 {
		v = $2
		if (v != "null" && v !~ /^-?[0-9]+(\.[0-9]+)?$/) { gsub(/["\\]/, "", v); v = "\"" v "\"" }
		printf "%s\"%s\": %s", (n++ ? ", " : ""), $1, v } END { print "" }' | sed 's/^/{/; s/$/}/'
}
big1_json() {
	if [[ -z $BIG1 ]]; then
		echo null
		return
	fi
	local p sep=
	printf '{"requests_per_page": %s, "rps": %s, "server_us_per_page": %s, "pg_us_per_page": %s, "other_cpu_pct_of_core": %s, "rss_peak_kb": %s, "pages": [' \
		"$BIG_COUNT" "$(jnum "$(big1 rps)")" "$(jnum "$(big1 srv_us)")" "$(jnum "$(big1 pg_us)")" "$(jnum "$BIG1_FOREIGN")" "$(jnum "$BIG1_PEAK")"
	for ((p = 1; p <= BIG_PAGES; p++)); do
		printf '%s{"page": %d, "bytes": %s, "sessions": %s, "included": %s, "median_ms": %s, "max_ms": %s, "min_ms": %s}' "$sep" "$p" \
			"$(jnum "$(big1 "p${p}_bytes")")" "$(jnum "$(big1 "p${p}_sessions")")" "$(jnum "$(big1 "p${p}_included")")" \
			"$(jnum "$(big1 "p${p}_median_ms")")" "$(jnum "$(big1 "p${p}_max_ms")")" "$(jnum "$(big1 "p${p}_min_ms")")"
		sep=', '
	done
	printf ']}'
}

{
	printf '{\n'
	printf '  "date": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
	printf '  "commit": %s,\n' "$(json_str "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)")"
	printf '  "machine": {"cpus": %s, "cpu_model": %s, "kernel": %s, "load_average": %s, "cpu_use_before": %s},\n' \
		"$NCPU" "$(json_str "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)")" \
		"$(json_str "$(uname -r)")" "$(json_str "$LOAD")" "$(json_str "$BUSY")"
	printf '  "settings": {"duration_s": %s, "duration_short_s": %s, "warmup_s": %s, "repeat": %s, "events": %s, "server_cpu": %s, "client_cpu": %s, "wrk_threads": %s, "pgbench_threads": %s, "server_args": %s, "pg_pool_size": %s, "pg_pipeline": %s, "login_rate": %s, "pg_settings": %s},\n' \
		"$DURATION" "$SHORT" "$WARMUP" "$REPEAT" "$EVENTS" "$SERVER_CPU" "$CLIENT_CPU" "$WRK_THREADS" "$PGB_THREADS" \
		"$(json_str "$SERVER_ARGS")" "$(json_str "${PG_POOL_SIZE:-default}")" "$(json_str "${PG_PIPELINE:-default}")" "$LOGIN_RATE" "$(json_str "$PG_SETTINGS")"
	printf '  "server": {"detail_document_bytes": %s, "not_found_document_bytes": %s, "rss_idle_kb": %s, "rss_peak_kb": %s, "rss_peak_case": %s, "rss_peak_per_case": %s},\n' \
		"$DOC_BYTES" "$NODB_BYTES" "$RSS_IDLE" "$RSS_PEAK" "$(json_str "$RSS_PEAK_CASE")" "$( ((HWM_RESETS)) && echo true || echo false)"
	printf '  "lists": {"events": %s, "sessions_per_event": %s, "speakers_per_event": %s, "tracks_per_event": %s, "list20_document_bytes": %s, "filter": %s, "sort": %s, "filtered_count": %s, "filtered_document_bytes": %s},\n' \
		"$LIST_EVENTS" "$LIST_SESSIONS" "$LIST_SPEAKERS" "$LIST_TRACKS" "$LIST_BYTES" "$(json_str "$FILTER_JSON")" \
		"$(json_str "$FILTER_SORT")" "$FILTERED_COUNT" "$FILTERED_BYTES"
	printf '  "big_event": {"id": %s, "sessions": %s, "speakers": %s, "tracks": %s, "page_size": %s, "pages": %s, "first_page_bytes": %s, "at_1_connection": %s},\n' \
		"$BIG_ID" "$BIG_SESSIONS" "$BIG_SPEAKERS" "$BIG_TRACKS" "$BIG_PAGE_SIZE" "$BIG_PAGES" "$BIG_BYTES" "$(big1_json)"
	printf '  "create_tasks": {"by_name_and_state": %s, "drained_after_s": %s, "unfinished": %s},\n' \
		"$(json_str "$TASKS_SUMMARY")" "$TASKS_DRAIN_S" "$TASKS_PENDING"
	printf '  "nginx": {"ran": %s, "worker_processes": 1, "responses_buffered_to_temp_files": %s},\n' \
		"$([[ -n $NGINX_PID ]] && echo true || echo false)" "$NGINX_BUFFERED"
	printf '  "cases": [\n'
	sep=
	for name in "${CASES[@]}"; do
		printf '%s    {"name": %s, "kind": %s, "description": %s, "connections": %s, "duration_s": %s, "rps": %s, "p50_ms": %s, "p99_ms": %s, "latency_avg_ms": %s, "requests": %s, "non2xx": %s, "socket_errors": %s, "expect": %s, "rss_kb": %s, "rss_peak_kb": %s, "other_cpu_pct_of_core": %s, "runs_rps": [%s], "extra": %s}' \
			"$sep" "$(json_str "$name")" "$(json_str "${R_KIND[$name]}")" "$(json_str "${R_DESC[$name]}")" \
			"${R_CONNS[$name]}" "${R_DUR[$name]}" "$(jnum "${R_RPS[$name]}")" "$(jnum "${R_P50[$name]}")" "$(jnum "${R_P99[$name]}")" \
			"$(jnum "${R_AVG[$name]}")" "$(jnum "${R_REQS[$name]}")" "$(jnum "${R_NON2XX[$name]}")" \
			"$(jnum "${R_SOCK[$name]}")" "$(json_str "${R_EXPECT[$name]}")" "$(jnum "${R_RSS[$name]}")" "$(jnum "${R_PEAK[$name]}")" \
			"$(jnum "${R_FOREIGN[$name]}")" "${R_RUNS[$name]}" "$(extras_json "$name")"
		sep=$',\n'
	done
	printf '\n  ],\n'
	printf '  "ratios": {"detail64_over_pgbench": %s, "detail64_over_nodb": %s, "detail256_over_pgbench": %s, "detail64_over_pgbench_narrow": %s, "detail64_over_pgbench_unix": %s, "prototype_over_pgbench": %s, "list20_over_detail64": %s, "list20_over_pgbench_list20": %s, "list20_built_over_detail64": %s, "list20_built_over_pgbench_list20": %s, "filtered_over_detail64": %s, "detail_nginx_over_detail64": %s, "list20_nginx_over_list20": %s, "detail_login_over_detail64": %s, "create_over_detail64": %s},\n' \
		"$R_D64_PG" "$R_D64_NODB" "$R_D256_PG" "$R_D64_PGN" "$R_D64_PGU" "$PROTOTYPE_RATIO" \
		"$R_L_D" "$R_L_PGL" "$R_LB_D" "$R_LB_PGL" "$R_F_D" "$R_NGX_D" "$R_NGX_L" "$R_LOGIN_D" "$R_C_D"
	printf '  "p99_ms": {"detail64": %s, "detail64_with_logins": %s, "detail256": %s, "detail256_paced": %s, "detail256_little_mean": %s},\n' \
		"$(jnum "$P99_D64")" "$(jnum "$P99_LOGIN")" "$(jnum "${R_P99[detail@256]:-null}")" \
		"$(jnum "${R_P99[detail@256-paced]:-null}")" "$(jnum "$LITTLE_MS")"
	targets=$(IFS=,; echo "${T_JSON[*]}")
	printf '  "targets": [%s],\n' "${targets//\},\{/\}, \{}"
	printf '  "pgbench_detail_script": %s\n' "$(json_str "$PGB_SOURCE")"
	printf '}\n'
} >"$RESULTS.tmp"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$RESULTS.tmp" || die "the JSON written is not valid: $RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
say "figures written to $RESULTS"
