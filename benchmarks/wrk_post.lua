-- wrk script for benchmarks/serve.py: POST real reviews, one JSON body per line of a file, in rotation.
-- Run: wrk -t2 -c64 -d10s --timeout 30s -s benchmarks/wrk_post.lua http://127.0.0.1:PORT -- /predict BODIES_FILE
-- Requests are formatted once per thread in init(), so wrk spends its time sending, not building strings.
-- done() prints one line starting with WRK_JSON for serve.py to parse (latencies in microseconds).

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local path, bodies = args[1], args[2]
  requests = {}
  for line in io.lines(bodies) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", path, { ["Content-Type"] = "application/json" }, line)
    end
  end
  if #requests == 0 then
    error("no request bodies in " .. bodies)
  end
  -- Threads start at different reviews, so they do not send the same body at the same moment.
  position = (id * 97) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f, "connect_errors": %d, "read_errors": %d, "write_errors": %d, '
      .. '"timeouts": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status
  ))
end
