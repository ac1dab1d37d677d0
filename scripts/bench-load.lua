-- wrk script of scripts/bench-load.sh: the same request again and again (or a list of tokens in turn), with an
-- optional pause per connection, counting the answers that have the expected status.
--
--   wrk -t T -c C -d D -s scripts/bench-load.lua URL -- MODE ARG PACE_MS EXPECTED_STATUS
--
-- MODE:
--   get PATH          GET PATH (the HTTP floor: /healthz)
--   post FILE         POST /exchange with FILE's content as the JSON body (one token, reused: single use off)
--   peer FILE         POST /v1/auth/jwt/login with FILE's content as the body (OpenBao, scripts/bench-peer.sh)
--   tokens FILE       POST /exchange {"token": <line>, "role": "deploy"}, the lines of FILE in turn (each thread
--                     starts at its own offset): the unknown-kid storm, whose tokens each name a fresh kid
-- PACE_MS: each connection waits this long after an answer before its next request (0: as fast as it can).
-- done() prints one line for the shell script:
--   RESULT ok=N bad=N p50_us=N p99_us=N p999_us=N max_us=N duration_us=N timeouts=N socket_errors=N first_bad=...

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_file(path)
  local file = assert(io.open(path, "r"))
  local text = file:read("*a")
  file:close()
  return (text:gsub("%s+$", ""))
end

function init(args)
  local mode, arg = args[1], args[2]
  pace_ms = tonumber(args[3] or "0")
  expected = tonumber(args[4] or "200")
  local json = { ["Content-Type"] = "application/json" }
  reqs = {}
  if mode == "get" then
    reqs[1] = wrk.format("GET", arg, {})
  elseif mode == "post" then
    reqs[1] = wrk.format("POST", "/exchange", json, read_file(arg))
  elseif mode == "peer" then
    reqs[1] = wrk.format("POST", "/v1/auth/jwt/login", json, read_file(arg))
  elseif mode == "tokens" then
    for token in io.lines(arg) do
      if token ~= "" then
        reqs[#reqs + 1] = wrk.format("POST", "/exchange", json, '{"token":"' .. token .. '","role":"deploy"}')
      end
    end
  else
    error("unknown mode " .. tostring(mode))
  end
  next_req = (id * 7919) % #reqs
  ok, bad, first_bad = 0, 0, ""
end

function delay()
  return pace_ms
end

function request()
  next_req = next_req % #reqs + 1
  return reqs[next_req]
end

function response(status, headers, body)
  if status == expected then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. ":" .. string.sub(string.gsub(body or "", "[^%w%p]", "_"), 1, 160)
    end
  end
end

function done(summary, latency, requests)
  local ok, bad, first_bad = 0, 0, ""
  for _, t in ipairs(threads) do
    ok = ok + t:get("ok")
    bad = bad + t:get("bad")
    if first_bad == "" then
      first_bad = t:get("first_bad")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT ok=%d bad=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d duration_us=%d timeouts=%d socket_errors=%d first_bad=%s\n",
    ok, bad, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, summary.duration,
    e.timeout, e.connect + e.read + e.write, first_bad == "" and "-" or first_bad))
end
