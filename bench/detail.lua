-- wrk script: GET /v1/events/{id} with a random id per request.
--
-- The id range comes from the environment (bench/run.sh sets it from the
-- seeded rows): BENCH_ID_MIN (default 1) .. BENCH_ID_MAX (default 10000).
-- BENCH_PATH_PREFIX (default /v1/events/) lets other resources reuse it.
-- Requests are formatted once at start-up so the per-request cost in wrk is a
-- random number and a table lookup, not a string build.

local id_min = tonumber(os.getenv("BENCH_ID_MIN")) or 1
local id_max = tonumber(os.getenv("BENCH_ID_MAX")) or 10000
local prefix = os.getenv("BENCH_PATH_PREFIX") or "/v1/events/"

-- WRK_PACE_MS (unset: none): each connection waits a random time, this
-- long on average (uniform from 0 to twice it), before each request, so that
-- many connections offer a bounded rate (many clients that are mostly idle,
-- as behind a real site) instead of saturating the server. A fixed pause
-- would keep the connections in step: all of them would send at once.
local pace = tonumber(os.getenv("WRK_PACE_MS"))
if pace and pace > 0 then
	function delay()
		return math.random(0, 2 * pace)
	end
end

local requests = {}
local count = 0

function init(args)
	-- Seed differently in every wrk thread.
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
	for id = id_min, id_max do
		count = count + 1
		requests[count] = wrk.format("GET", prefix .. id)
	end
end

function request()
	return requests[math.random(count)]
end
