-- wrk script: GET /v1/events/{id}/sessions?include=speakers,track&page[size]=20
-- with a random id among the events bench/seed_lists.sql filled.
--
-- Environment (bench/run.sh sets them): BENCH_LIST_ID_MIN .. BENCH_LIST_ID_MAX
-- (the events with sessions), BENCH_LIST_QUERY (the query string, already
-- URL-encoded; default include=speakers,track&page[size]=20),
-- BENCH_LIST_DISTINCT (1: every request gets a parameter of its own,
-- "&distinct=<thread>-<n>", which the server ignores but which makes every
-- URL new: no document kept in memory can answer, each request builds its
-- list, as when no list is ever asked twice).
-- Requests are formatted once in init(), or per request when distinct.

local id_min = tonumber(os.getenv("BENCH_LIST_ID_MIN")) or 1
local id_max = tonumber(os.getenv("BENCH_LIST_ID_MAX")) or 20
local query = os.getenv("BENCH_LIST_QUERY") or "include=speakers%2Ctrack&page%5Bsize%5D=20"

local distinct = os.getenv("BENCH_LIST_DISTINCT") == "1"

local requests = {}
local paths = {}
local count = 0
local serial = 0
local tag = ""

function init(args)
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
	for id = id_min, id_max do
		count = count + 1
		paths[count] = "/v1/events/" .. id .. "/sessions?" .. query
		requests[count] = wrk.format("GET", paths[count])
	end
	tag = tostring(math.random(1000000000))
end

function request()
	if distinct then
		serial = serial + 1
		return wrk.format("GET", paths[math.random(count)] .. "&distinct=" .. tag .. "-" .. serial)
	end
	return requests[math.random(count)]
end
