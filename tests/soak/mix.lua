-- mix.lua - wrk script for tests/soak/run: a mix of plain GETs (200), conditional GETs with the
-- real ETag (304), misses (404) and Range requests (206, or 200 without range support).
-- SOAK_FILES="path=etag;path=etag;..." comes from the environment (tests/soak/run sets it).
-- done() prints machine-readable "SOAK ..." lines: statuses received, requests sent per kind,
-- wrk's socket errors.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   files = {}
   for p, e in string.gmatch(os.getenv("SOAK_FILES") or "", "([^=;]+)=([^;]+)") do
      table.insert(files, { p, e })
   end
   if #files == 0 then
      error("SOAK_FILES is empty")
   end
   statuses = {}
   sent = { get = 0, cond = 0, missing = 0, range = 0 }
   n = 0
end

function request()
   n = n + 1
   local f = files[(math.floor(n / 10) % #files) + 1]
   local k = n % 10
   if k < 4 then
      sent.get = sent.get + 1
      return wrk.format("GET", f[1], {})
   elseif k < 7 then
      sent.cond = sent.cond + 1
      return wrk.format("GET", f[1], { ["If-None-Match"] = f[2] })
   elseif k < 8 then
      sent.missing = sent.missing + 1
      return wrk.format("GET", "/missing-" .. (n % 1000) .. ".txt", {})
   else
      sent.range = sent.range + 1
      return wrk.format("GET", f[1], { ["Range"] = "bytes=0-99" })
   end
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local st, se = {}, { get = 0, cond = 0, missing = 0, range = 0 }
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("statuses") or {}) do
         st[k] = (st[k] or 0) + v
      end
      for k, v in pairs(t:get("sent") or {}) do
         se[k] = (se[k] or 0) + v
      end
   end
   for k, v in pairs(st) do
      io.write(string.format("SOAK status %d %d\n", k, v))
   end
   for k, v in pairs(se) do
      io.write(string.format("SOAK sent %s %d\n", k, v))
   end
   local e = summary.errors
   io.write(string.format("SOAK errors connect=%d read=%d write=%d timeout=%d status=%d\n",
                          e.connect, e.read, e.write, e.timeout, e.status))
   io.write(string.format("SOAK summary requests=%d duration_us=%d bytes=%d p99_us=%d\n",
                          summary.requests, summary.duration, summary.bytes,
                          latency:percentile(99)))
end
