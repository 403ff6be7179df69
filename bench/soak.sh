#!/usr/bin/env bash
# bench/soak.sh: the soak test behind `make soak`.
#
# A private PostgreSQL on tmpfs (scripts/pgctl.sh --fast), migrated by the
# binary and seeded with SOAK_EVENTS published events; an admin made with
# `create-admin` and its token from POST /v1/auth/login; then the server
# under wrk for SOAK_SECONDS with a mixed load (a Lua script written into
# the work directory):
#   55% GET /v1/events/{random id}        10% GET /v1/events?filter&sort&page
#    5% GET /v1/events/{id}?include=...     5% GET of a path that is not there
#   10% POST /v1/events (signed in)        10% PATCH of an event it created
#    5% DELETE of an event it created (to the trash)
# Every SOAK_INTERVAL seconds (60) it prints the server's RSS (VmRSS), its
# request count and 5xx count from /metrics. It fails (exit 1) when:
#   - RSS at any later sample is more than SOAK_MAX_GROWTH percent (10)
#     above the sample taken after the first interval (the warm-up);
#   - the server dies, or answers any 5xx;
#   - wrk reports socket errors other than the closes the load asks for.
# The last line is "soak: passed" or "soak: failed (<why>)".
#
# Environment: BIN (./open-event-server), SOAK_SECONDS (600), SOAK_INTERVAL
# (60), SOAK_CONNECTIONS (32), SOAK_THREADS (2), SOAK_EVENTS (2000),
# SOAK_MAX_GROWTH (10), SOAK_SERVER_ARGS (extra `serve` arguments, e.g.
# --workers 2: RSS is then the sum over the workers), SOAK_KEEP=1 (keep the
# work directory), PGCTL (scripts/pgctl.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${BIN:-./open-event-server}
PGCTL=${PGCTL:-scripts/pgctl.sh}
SECONDS_TOTAL=${SOAK_SECONDS:-600}
INTERVAL=${SOAK_INTERVAL:-60}
CONNS=${SOAK_CONNECTIONS:-32}
THREADS=${SOAK_THREADS:-2}
EVENTS=${SOAK_EVENTS:-2000}
MAX_GROWTH=${SOAK_MAX_GROWTH:-10}
SERVER_ARGS=${SOAK_SERVER_ARGS:-}
KEEP=${SOAK_KEEP:-0}

say() { printf 'soak: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	echo "soak: failed ($*)"
	exit 1
}

for v in SECONDS_TOTAL INTERVAL CONNS THREADS EVENTS MAX_GROWTH; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "$v must be a whole number >= 1, got '${!v}'"
done
((SECONDS_TOTAL >= 2 * INTERVAL)) || die "SOAK_SECONDS ($SECONDS_TOTAL) must be at least two intervals ($INTERVAL s each)"
for tool in wrk psql curl python3 pgrep; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (run scripts/deps.sh)"
done
[[ -x $BIN ]] || die "no server binary at $BIN (run make)"

WORK=/dev/shm/oes-soak-$$
[[ -d /dev/shm ]] || WORK=/tmp/oes-soak-$$
DATA=$WORK/data
SERVER_PID=
PG_STARTED=0
WRK_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $WRK_PID ]]; then kill "$WRK_PID" 2>/dev/null || true; fi
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	if ((PG_STARTED)); then bash "$PGCTL" stop "$DATA" >/dev/null 2>&1 || true; fi
	if [[ $KEEP == 1 ]]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$WORK"
chmod 755 "$WORK"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
		ss -Htan "( sport = :$p )" 2>/dev/null | grep -q . || {
			echo "$p"
			return 0
		}
	done
	return 1
}

# ------------------------------------------------------------ PostgreSQL ---
PG_PORT=$(free_port) || die "no free port for PostgreSQL"
say "starting a private PostgreSQL on port $PG_PORT"
DATABASE_URL=$(bash "$PGCTL" start "$DATA" "$PG_PORT" --fast) || die "pgctl start failed"
PG_STARTED=1
psql_q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"; }
DATABASE_URL=$DATABASE_URL "$BIN" migrate >"$WORK/migrate.log" 2>&1 || {
	cat "$WORK/migrate.log" >&2
	die "$BIN migrate failed"
}
say "seeding $EVENTS events"
psql_q -v n="$EVENTS" >/dev/null <<'SQL'
INSERT INTO events (name, starts_at, ends_at, timezone, identifier, state, privacy, description)
SELECT 'Soak ' || i, timestamptz '2030-03-01 09:00:00+00' + (i % 500) * interval '1 day',
       timestamptz '2030-03-01 18:00:00+00' + (i % 500) * interval '1 day', 'UTC',
       'd' || lpad(to_hex(i), 7, '0'), 'published', 'public', repeat('soak ', 40)
FROM generate_series(1, :n) AS i;
VACUUM ANALYZE;
SQL
read -r ID_MIN ID_MAX < <(psql_q -F ' ' -c "SELECT min(id), max(id) FROM events")

# ---------------------------------------------------------------- server ---
SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
PORT=$(free_port) || die "no free port"
ADMIN_EMAIL="soak-$$@example.com"
ADMIN_PASSWORD=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
env DATABASE_URL="$DATABASE_URL" SECRET_KEY="$SECRET" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
	"$BIN" create-admin "$ADMIN_EMAIL" >"$WORK/admin.log" 2>&1 || {
	cat "$WORK/admin.log" >&2
	die "create-admin failed"
}
say "starting $BIN serve on 127.0.0.1:$PORT"
# shellcheck disable=SC2086 # SERVER_ARGS is a list of words
env DATABASE_URL="$DATABASE_URL" HOST=127.0.0.1 PORT="$PORT" SECRET_KEY="$SECRET" LOG_LEVEL=warn \
	"$BIN" serve $SERVER_ARGS >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for _ in $(seq 1 150); do
	kill -0 "$SERVER_PID" 2>/dev/null || {
		tail -n 30 "$WORK/server.log" >&2
		die "the server exited at start-up"
	}
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health-check") == 200 ]] && break
	sleep 0.1
done
TOKEN=$(curl -s -H 'Content-Type: application/json' \
	-d "{\"email\": \"$ADMIN_EMAIL\", \"password\": \"$ADMIN_PASSWORD\"}" \
	"http://127.0.0.1:$PORT/v1/auth/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') ||
	die "cannot log in as the admin"

process_tree() {
	local pid=$1 child
	echo "$pid"
	for child in $(pgrep -P "$pid" 2>/dev/null || true); do process_tree "$child"; done
}
rss_kb() {
	local total=0 pid kb
	for pid in $(process_tree "$SERVER_PID"); do
		kb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		total=$((total + ${kb:-0}))
	done
	echo "$total"
}
# metric NAME-REGEX: the sum of the matching samples of /metrics.
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
		awk -v re="$1" '$0 !~ /^#/ && $1 ~ re { s += $NF } END { printf "%d\n", s }'
}

# ------------------------------------------------------------------- load ---
cat >"$WORK/soak.lua" <<LUA
local id_min, id_max = $ID_MIN, $ID_MAX
local token = "$TOKEN"
local mine = {}
local n = 0
local jsonapi = { ["Content-Type"] = "application/vnd.api+json" }
local auth = { ["Authorization"] = "JWT " .. token, ["Content-Type"] = "application/vnd.api+json" }
function init(args)
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end
local function body(name, id)
	local idpart = id and (', "id": "' .. id .. '"') or ""
	return '{"data": {"type": "event"' .. idpart .. ', "attributes": {"name": "' .. name ..
		'", "starts-at": "2030-06-01T09:00:00Z", "ends-at": "2030-06-02T09:00:00Z", "timezone": "UTC"}}}'
end
function request()
	n = n + 1
	local r = math.random(100)
	local id = math.random(id_min, id_max)
	if r <= 55 then
		return wrk.format("GET", "/v1/events/" .. id)
	elseif r <= 65 then
		return wrk.format("GET", "/v1/events?page%5Bsize%5D=10&page%5Bnumber%5D=" .. math.random(1, 50) ..
			"&sort=-starts-at,name&filter=%5B%7B%22name%22%3A%22name%22%2C%22op%22%3A%22startswith%22%2C%22val%22%3A%22Soak%201%22%7D%5D")
	elseif r <= 70 then
		return wrk.format("GET", "/v1/events/" .. id .. "?include=sessions,tracks,owner")
	elseif r <= 75 then
		return wrk.format("GET", "/v1/nothing-here/" .. id)
	elseif r <= 85 or #mine == 0 then
		return wrk.format("POST", "/v1/events", auth, body("soak-new " .. n))
	elseif r <= 95 then
		local e = mine[math.random(#mine)]
		return wrk.format("PATCH", "/v1/events/" .. e, auth, body("soak-renamed " .. n, e))
	else
		local e = table.remove(mine, math.random(#mine))
		return wrk.format("DELETE", "/v1/events/" .. e, auth)
	end
end
function response(status, headers, body)
	local loc = headers["Location"] or headers["location"]
	if status == 201 and loc then
		local e = loc:match("/v1/events/(%d+)")
		if e and #mine < 500 then table.insert(mine, e) end
	end
end
LUA

say "mixed load for ${SECONDS_TOTAL}s: wrk -t$THREADS -c$CONNS; RSS every ${INTERVAL}s"
wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_TOTAL}s" --latency --timeout 10s -s "$WORK/soak.lua" \
	"http://127.0.0.1:$PORT" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
START=$(date +%s)
BASE=
MAX=0
FAIL=
i=0
printf '%8s %10s %10s %12s %8s\n' minute "RSS kB" "vs base" requests 5xx
while :; do
	sleep "$INTERVAL" &
	wait $! || true
	i=$((i + 1))
	kill -0 "$SERVER_PID" 2>/dev/null || {
		FAIL="the server died after ${i} intervals"
		break
	}
	rss=$(rss_kb)
	reqs=$(metric '^oes_http_requests_total')
	errs=$(metric '^oes_http_requests_total\{.*status="5[0-9][0-9]"')
	if [[ -z $BASE ]]; then
		BASE=$rss
		rel="base"
	else
		rel=$(awk -v a="$rss" -v b="$BASE" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }')
		((rss > MAX)) && MAX=$rss
	fi
	printf '%8s %10d %10s %12d %8d\n' "$(awk -v s=$(($(date +%s) - START)) 'BEGIN { printf "%.1f", s / 60 }')" \
		"$rss" "$rel" "$reqs" "$errs"
	kill -0 "$WRK_PID" 2>/dev/null || break
done
wait "$WRK_PID" 2>/dev/null || true
WRK_PID=
echo
sed -n '/Latency Distribution/,/Requests\/sec/p' "$WORK/wrk.out"
grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" || true

if [[ -z $FAIL ]]; then
	kill -0 "$SERVER_PID" 2>/dev/null || FAIL="the server died"
fi
if [[ -z $FAIL ]]; then
	errs=$(metric '^oes_http_requests_total\{.*status="5[0-9][0-9]"')
	((errs == 0)) || FAIL="$errs answers were 5xx ($(curl -s "http://127.0.0.1:$PORT/metrics" | grep -E 'status="5' | tr '\n' ' '))"
fi
if [[ -z $FAIL && -n $BASE ]]; then
	growth=$(awk -v a="$MAX" -v b="$BASE" 'BEGIN { printf "%.1f", (a > b ? 100 * (a - b) / b : 0) }')
	echo "RSS after the first interval: $BASE kB; highest later: $MAX kB (+$growth%, limit $MAX_GROWTH%)"
	awk -v g="$growth" -v m="$MAX_GROWTH" 'BEGIN { exit !(g > m) }' &&
		FAIL="RSS grew by $growth% after the first interval (limit $MAX_GROWTH%)"
fi
if [[ -z $FAIL ]]; then
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health-check") == 200 ]] ||
		FAIL="/health-check is not 200 after the load"
fi
if [[ -n $FAIL ]]; then
	tail -n 20 "$WORK/server.log" >&2 || true
	echo "soak: failed ($FAIL)"
	exit 1
fi
echo "soak: passed"
