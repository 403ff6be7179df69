-- wrk script: a big event's full schedule, pages of 1,000 sessions with
-- their speakers and tracks included, the pages in turn (1, 2, 1, 2, ...).
--
-- Environment (bench/run.sh sets them): BENCH_BIG_ID (the event),
-- BENCH_BIG_PAGES (how many pages: 2), BENCH_BIG_PAGE_SIZE (1000).

local id = os.getenv("BENCH_BIG_ID") or "1"
local pages = tonumber(os.getenv("BENCH_BIG_PAGES")) or 2
local size = os.getenv("BENCH_BIG_PAGE_SIZE") or "1000"

local requests = {}
local n = 0

function init(args)
	for p = 1, pages do
		requests[p] = wrk.format("GET", "/v1/events/" .. id .. "/sessions?include=speakers%2Ctrack"
			.. "&page%5Bsize%5D=" .. size .. "&page%5Bnumber%5D=" .. p)
	end
end

function request()
	n = n + 1
	return requests[(n % pages) + 1]
end
