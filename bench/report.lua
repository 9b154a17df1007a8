-- wrk script of bench/run.sh. It changes no request (headers come from
-- wrk's -H). After a run it prints the numbers the harness reads, as
-- key=value lines, latencies in microseconds. With BENCH_PAUSE_MS set, each
-- connection waits a random 0 to 2 x BENCH_PAUSE_MS milliseconds between a
-- response and its next request, which paces wrk to an offered rate.

local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "")
if pause and pause > 0 then
  -- Each wrk thread loads this script in a Lua state of its own: seed each
  -- differently so their pauses do not fall in step.
  local addr = tostring({}):match("0x(%x+)") or "0"
  math.randomseed(os.time() + tonumber(addr, 16) % 1000003)
  local most = math.max(1, math.floor(2 * pause + 0.5))
  delay = function()
    return math.random(0, most)
  end
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("requests=%d\n", summary.requests))
  io.write(string.format("seconds=%.3f\n", seconds))
  io.write(string.format("rps=%.1f\n", summary.requests / seconds))
  io.write(string.format("p50_us=%d\n", latency:percentile(50)))
  io.write(string.format("p99_us=%d\n", latency:percentile(99)))
  io.write(string.format("errors_status=%d\n", e.status))
  io.write(string.format("errors_socket=%d\n", e.connect + e.read + e.write + e.timeout))
end
