-- wrk script of scripts/bench-state.sh: POST /exchange {"token": <next token>, "role": "deploy"}, each token of
-- the list exactly once across all threads, then stop.
--
--   wrk -t T -c C -d D -s scripts/bench-state.lua URL -- TOKENS_PREFIX DONE_PREFIX [PACE_MS]
--
-- PACE_MS (default 0): each connection waits this many milliseconds after an answer before its next request
-- (wrk's delay(), whole milliseconds), which paces the load below the peak: C connections give at most
-- C / (PACE_MS + latency) requests a second.
--
-- TOKENS_PREFIX: thread i (0-based) reads its own share from TOKENS_PREFIX.i (one token per line; the shell
-- script deals the list round-robin), so no token goes to two threads. Requests are formatted in init(), before
-- the thread starts. Once a thread's tokens are all sent (or promised), delay() parks its connections for 10
-- minutes (longer than any -d the bench uses); when its last answer arrived, the thread stops and creates
-- DONE_PREFIX.i, which tells the shell script to end wrk (SIGINT; wrk itself would wait out -d). Should a
-- connection still be asked for a request, it gets GET /healthz (counted as a filler, never an exchange).
-- The run's window is measured here (CLOCK_MONOTONIC through LuaJIT's ffi): from the first request any thread
-- sent to the last answer any thread got; wrk's own duration would include waiting for the signal.
-- done() prints one line for the shell script:
--   RESULT ok=N bad=N fillers=N sent=N window_us=N p50_us=N p99_us=N timeouts=N socket_errors=N first_bad=...
-- bad: answers other than 200 to POST /exchange (a replay refused, a broken setup): the bench fails on any.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC: one clock for every thread
  return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  reqs = {}
  for token in io.lines(args[1] .. "." .. id) do
    if token ~= "" then
      reqs[#reqs + 1] = wrk.format("POST", "/exchange", headers, '{"token":"' .. token .. '","role":"deploy"}')
    end
  end
  filler = wrk.format("GET", "/healthz", {})
  done_file = args[2] .. "." .. id
  pace_ms = tonumber(args[3] or "0")
  next_req, ok, bad, fillers, first_bad, first_us, last_us, granted = 1, 0, 0, 0, "", 0, 0, 0
  -- wrk calls request() once on thread 0, right after its init(), only to check that the request parses (it is
  -- never sent): that call gets the first request without using it up.
  verifying = id == 0
end

-- wrk asks delay() before each request after the first on a connection, and request() on the next turn of the
-- loop, when other connections may have taken tokens meanwhile: delay() promises a token (granted) or parks.
function delay()
  if next_req + granted > #reqs then
    return 600000
  end
  granted = granted + 1
  return pace_ms
end

function request()
  if verifying then
    verifying = false
    return reqs[1] or filler
  end
  granted = math.max(granted - 1, 0)
  local r = reqs[next_req]
  if r == nil then
    return filler
  end
  if next_req == 1 then
    first_us = now_us()
  end
  next_req = next_req + 1
  return r
end

function response(status, headers, body)
  if body == '{"status":"ok"}' then
    fillers = fillers + 1
    return
  end
  if status == 200 then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. ":" .. string.sub(string.gsub(body or "", "[^%w%p]", "_"), 1, 160)
    end
  end
  if ok + bad >= #reqs then
    last_us = now_us()
    wrk.thread:stop()
    io.open(done_file, "w"):close()
  end
end

function done(summary, latency, requests)
  local ok, bad, fillers, sent, first_bad, first_us, last_us = 0, 0, 0, 0, "", math.huge, 0
  for _, t in ipairs(threads) do
    if t:get("first_us") > 0 then
      first_us = math.min(first_us, t:get("first_us"))
    end
    last_us = math.max(last_us, t:get("last_us"))
    ok = ok + t:get("ok")
    bad = bad + t:get("bad")
    fillers = fillers + t:get("fillers")
    sent = sent + t:get("next_req") - 1
    if first_bad == "" then
      first_bad = t:get("first_bad")
    end
  end
  -- A thread cut off by -d never saw its last answer: then the window is wrk's whole run.
  local window_us = last_us - first_us
  for _, t in ipairs(threads) do
    if t:get("last_us") == 0 then
      window_us = summary.duration
    end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT ok=%d bad=%d fillers=%d sent=%d window_us=%d p50_us=%d p99_us=%d timeouts=%d socket_errors=%d first_bad=%s\n",
    ok, bad, fillers, sent, window_us, latency:percentile(50), latency:percentile(99), e.timeout,
    e.connect + e.read + e.write, first_bad == "" and "-" or first_bad))
end
