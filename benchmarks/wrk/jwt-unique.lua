-- wrk script for the jwt_unique scenario: every request carries the next token of a file
-- (one token per line, path in the environment variable BENCH_TOKENS), cycling through it.
-- The requests are built once in init() (wrk's own headers plus "Authorization: Bearer ..."),
-- so request() only picks the next prepared string. With several wrk threads (-t), each thread
-- starts at its own offset in the file. done() comes from report.lua (one JSON line).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local threads = 0
setup = function(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
  thread:set("thread_count", threads)   -- the last thread sees the total; fixed in init
end

local reqs, n, i = {}, 0, 0

init = function(args)
  local path = os.getenv("BENCH_TOKENS")
  assert(path and path ~= "", "jwt-unique.lua: set BENCH_TOKENS to a file of tokens")
  local base = {}
  for k, v in pairs(wrk.headers) do base[k] = v end
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      base["Authorization"] = "Bearer " .. line
      reqs[n] = wrk.format(nil, nil, base)
    end
  end
  assert(n > 0, "jwt-unique.lua: no token in " .. path)
  local total = tonumber(os.getenv("BENCH_WRK_THREADS") or "1") or 1
  i = math.floor(n * (thread_index or 0) / math.max(total, 1))
end

request = function()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
