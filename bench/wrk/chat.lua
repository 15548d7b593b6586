-- POST /v1/chat/completions load for wrk, with a JSON summary on stdout.
--
-- Usage: wrk -t1 -c1 -d5s -s bench/wrk/chat.lua URL -- BODIES_FILE [API_KEY]
--   BODIES_FILE  one JSON request body per line; requests cycle through them.
--   API_KEY      sent as "Authorization: Bearer API_KEY" when given.
--
-- Every request is formatted once in init(), so request() only returns a
-- prebuilt string and wrk's own cost stays flat. done() prints one line
-- starting with "WRK_JSON " that bench/http_overhead.py parses: latency
-- percentiles in microseconds, requests per second and error counts
-- (non-2xx/3xx answers are counted in errors.status).

local requests_ = {}
local next_ = 1

function init(args)
   local path = args[1]
   local key = args[2]
   local headers = { ["Content-Type"] = "application/json" }
   if key and key ~= "" then
      headers["Authorization"] = "Bearer " .. key
   end
   local file = assert(io.open(path, "r"))
   for line in file:lines() do
      if line:match("%S") then
         requests_[#requests_ + 1] = wrk.format("POST", nil, headers, line)
      end
   end
   file:close()
   assert(#requests_ > 0, "no request bodies in " .. path)
end

function request()
   local req = requests_[next_]
   next_ = next_ % #requests_ + 1
   return req
end

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_s":%.6f,"rps":%.3f,' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"stdev":%.1f},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, latency.stdev,
      e.connect, e.read, e.write, e.status, e.timeout))
end
