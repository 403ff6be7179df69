-- wrk script: GET /v1/events/{id}/sessions?include=speakers,track&page[size]=20
-- with a random id among the events bench/seed_lists.sql filled.
--
-- Environment (bench/run.sh sets them): BENCH_LIST_ID_MIN .. BENCH_LIST_ID_MAX
-- (the events with sessions), BENCH_LIST_QUERY (the query string, already
-- URL-encoded; default include=speakers,track&page[size]=20).
-- Requests are formatted once in init().

local id_min = tonumber(os.getenv("BENCH_LIST_ID_MIN")) or 1
local id_max = tonumber(os.getenv("BENCH_LIST_ID_MAX")) or 20
local query = os.getenv("BENCH_LIST_QUERY") or "include=speakers%2Ctrack&page%5Bsize%5D=20"

local requests = {}
local count = 0

function init(args)
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
	for id = id_min, id_max do
		count = count + 1
		requests[count] = wrk.format("GET", "/v1/events/" .. id .. "/sessions?" .. query)
	end
end

function request()
	return requests[math.random(count)]
end
