-- wrk script: POST /v1/events as a signed-in admin, counting the 201s.
--
-- Environment (bench/run.sh sets it): BENCH_TOKEN, a JWT from
-- POST /v1/auth/login. Every request creates a draft event (the server
-- generates its identifier); done() prints "created (201): N" and
-- "other statuses: N" after wrk's own report (run.sh reads them).

local token = os.getenv("BENCH_TOKEN") or ""

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/vnd.api+json"
wrk.headers["Authorization"] = "JWT " .. token
wrk.body = '{"data":{"type":"event","attributes":{"name":"Bench create",'
	.. '"starts-at":"2031-05-04T09:00:00Z","ends-at":"2031-05-06T18:00:00Z",'
	.. '"timezone":"Asia/Singapore","description":"Created by bench/create.lua."}}}'

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	created = 0
	other = 0
end

function response(status, headers, body)
	if status == 201 then
		created = created + 1
	else
		other = other + 1
	end
end

function done(summary, latency, requests)
	local c, o = 0, 0
	for _, t in ipairs(threads) do
		c = c + (t:get("created") or 0)
		o = o + (t:get("other") or 0)
	end
	io.write(string.format("created (201): %d\nother statuses: %d\n", c, o))
end
