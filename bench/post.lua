-- wrk script for every bench scenario against nginx and the gateway.
--   wrk ... -s bench/post.lua <url> -- <Authorization value> [header=<Name>: <value> ...] <body file> [<body file> ...]
-- All requests are built once in init(): request() only hands out prebuilt strings, so wrk spends
-- its time on the network and not in Lua. With several body files, requests cycle through them in
-- order (the load.raw_start pool relies on that order; run it with one wrk thread). wrk sends no
-- Accept-Encoding of its own: a scenario that compresses passes header=Accept-Encoding: gzip.
-- No response() hook on purpose: defining one makes wrk copy every body into Lua, which would
-- slow the client down most on exactly the 1.5 MB answers we want to measure. wrk counts HTTP
-- statuses >= 400 as errors; faults inside a 200 are caught by the bench's preflight instead.

local requests = {}
local n = 0

function init(args)
  local headers = { ["Content-Type"] = "text/xml", ["Authorization"] = args[1] }
  local files = {}
  for i = 2, #args do
    local name, value = args[i]:match("^header=([^:]+):%s*(.*)$")
    if name then headers[name] = value else files[#files + 1] = args[i] end
  end
  for _, file in ipairs(files) do
    local f = assert(io.open(file, "rb"))
    local body = f:read("*a")
    f:close()
    requests[#requests + 1] = wrk.format("POST", nil, headers, body)
  end
  assert(#requests > 0, "post.lua: no body files given after --")
end

function request()
  n = n % #requests + 1
  return requests[n]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
