-- Random concurrent re-linking: every request moves a random port to a random patchbay point,
--   POST /ports/dev-{d}-port-{p}/link  {"patchbay_id": N}
-- Arguments (after `--` on wrk's command line): seed, devices, ports per device, points.

-- Status counting and the BENCH_RESULT line come from the shared script beside this one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
dofile(here .. "status.lua")

local devices, ports_per_device, points
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  local seed = tonumber(args[1])
  devices = tonumber(args[2])
  ports_per_device = tonumber(args[3])
  points = tonumber(args[4])
  if not (seed and devices and ports_per_device and points) then
    error("usage: wrk ... -s relink.lua URL -- SEED DEVICES PORTS_PER_DEVICE POINTS")
  end
  -- thread_number is set by setup() in status.lua, so each thread draws its own sequence.
  math.randomseed(seed + thread_number)
end

function request()
  local path = string.format(
    "/ports/dev-%d-port-%d/link", math.random(1, devices), math.random(1, ports_per_device)
  )
  local body = string.format('{"patchbay_id": %d}', math.random(1, points))
  return wrk.format("POST", path, headers, body)
end
