-- wrk script for the sigv4 scenario: every request is the next line of a file of request
-- targets (path?query, one per line, path in the environment variable BENCH_URLS), cycling
-- through it. The pool is made for one route; the first two path segments of each line (stage
-- and route prefix, "/bench/sigv4/") are replaced by those of the URL wrk was given, so the same
-- file loads the guarded route and, byte for byte the same apart from that prefix, the plain
-- route ("/bench/plain/..."). The requests are built once in init() (wrk's own headers), so
-- request() only picks the next prepared string. With several wrk threads (-t), each thread
-- starts at its own offset in the file. done() comes from report.lua (one JSON line).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local threads = 0
setup = function(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local reqs, n, i = {}, 0, 0

local function head(target)   -- "/stage/route/" of "/stage/route/rest?query"
  return target:match("^(/[^/?]*/[^/?]*/)")
end

init = function(args)
  local path = os.getenv("BENCH_URLS")
  assert(path and path ~= "", "url-pool.lua: set BENCH_URLS to a file of request targets")
  local to = head(wrk.path)
  assert(to, "url-pool.lua: the URL given to wrk needs two path segments, like /bench/plain/x")
  for line in io.lines(path) do
    if #line > 0 then
      local from = head(line)
      assert(from, "url-pool.lua: " .. line .. " has fewer than two path segments")
      n = n + 1
      reqs[n] = wrk.format(nil, to .. line:sub(#from + 1))
    end
  end
  assert(n > 0, "url-pool.lua: no request target in " .. path)
  local total = tonumber(os.getenv("BENCH_WRK_THREADS") or "1") or 1
  i = math.floor(n * (thread_index or 0) / math.max(total, 1))
end

request = function()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
