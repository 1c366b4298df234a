-- Counts responses by class; done() prints the totals over all threads.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok2xx = 0; non2xx = 0; firstbad = "" end
function response(status, headers, body)
  if status >= 200 and status <= 299 then
    ok2xx = ok2xx + 1
  else
    non2xx = non2xx + 1
    if #firstbad < 200 then firstbad = firstbad .. status .. " " end
  end
end
function done(summary, latency, requests)
  local ok, bad, first = 0, 0, ""
  for _, t in ipairs(threads) do
    ok = ok + t:get("ok2xx"); bad = bad + t:get("non2xx"); first = first .. t:get("firstbad")
  end
  io.write(string.format("lua: 2xx %d non-2xx %d\n", ok, bad))
  if bad > 0 then io.write("lua: first non-2xx statuses: " .. first .. "\n") end
end
