-- Shared by every scenario: counts responses by HTTP status and, at the end, prints one line
--   BENCH_RESULT {json}
-- that bench/servers.py parses. wrk's own "Non-2xx or 3xx responses" line only counts statuses
-- above 399, so a 304 or any other 3xx would pass unnoticed; counting here is exact.

-- Per thread (each wrk thread runs this file in its own Lua state). A global, because
-- thread:get() in done() can only read globals.
status_counts = {}

-- Main state only: the threads, so done() can collect their counts.
local threads = {}

-- Optional arguments (after `--` on wrk's command line): the method, and a file holding the body.
-- wrk formats its one request after init(), with these.
function init(args)
  if args[1] then
    wrk.method = args[1]
  end
  if args[2] then
    local file = assert(io.open(args[2], "rb"))
    wrk.body = file:read("*a")
    file:close()
  end
end

function setup(thread)
  table.insert(threads, thread)
  -- Scripts that draw random numbers seed from this, so no two threads share a sequence.
  thread:set("thread_number", #threads)
end

function response(status, headers, body)
  -- String keys keep the table a JSON object once printed.
  local key = tostring(status)
  status_counts[key] = (status_counts[key] or 0) + 1
end

local function merged_counts()
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("status_counts")) do
      total[status] = (total[status] or 0) + count
    end
  end
  return total
end

local function json_object(counts)
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%s": %d', status, count)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, '
      .. '"latency_us": {"p50": %.1f, "p90": %.1f, "p99": %.1f, "max": %.1f, "mean": %.1f}, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"statuses": %s}\n',
    summary.duration, summary.requests, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    errors.connect, errors.read, errors.write, errors.timeout,
    json_object(merged_counts())
  ))
end
