-- wrk reporter: prints one machine-readable line after the normal --latency report.
-- Only done() is defined, so wrk keeps its static request and does not parse responses:
-- the load is the same as without the script.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"rps\":%.2f," ..
    "\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"p999_us\":%d,\"max_us\":%d,\"mean_us\":%.1f,\"stdev_us\":%.1f," ..
    "\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"timeout\":%d,\"status\":%d}}\n",
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, latency.stdev,
    e.connect, e.read, e.write, e.timeout, e.status))
end
