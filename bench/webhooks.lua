-- wrk script: POST pre-signed Retell webhooks to the bridge, rotating through them.
--
--   wrk -t1 -c32 -d10s --timeout 10s -s bench/webhooks.lua \
--       http://127.0.0.1:8000/webhooks/retell -- bodies.tsv
--
-- bodies.tsv holds one request per line: "<x-retell-signature>\t<raw JSON body>". The
-- signatures are valid for 5 minutes, so the file is written right before each run
-- (bench/bridge_throughput.py does). Every request is formatted once, in init(); request()
-- only picks the next one. done() prints one line, "WRK_JSON {...}", for the caller to parse:
-- requests, duration, errors and latency percentiles (microseconds).

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s webhooks.lua <url> -- <bodies.tsv>")
  end
  prepared = {}
  for line in io.lines(path) do
    local tab = line:find("\t", 1, true)
    if tab ~= nil then
      local headers = {
        ["Content-Type"] = "application/json",
        ["x-retell-signature"] = line:sub(1, tab - 1),
      }
      prepared[#prepared + 1] = wrk.format("POST", wrk.path, headers, line:sub(tab + 1))
    end
  end
  if #prepared == 0 then
    error("no request in " .. path)
  end
  -- Threads start at different places in the rotation.
  position = ((thread_index or 0) * 7919) % #prepared
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
