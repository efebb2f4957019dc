-- wrk script: HTTP/1.1 pipelining.  Every request() call hands wrk DEPTH
-- requests concatenated into one buffer (built once in init with wrk.format),
-- so each connection has DEPTH requests in flight; wrk counts every response.
-- Args (after --) or environment:
--   1: ETag for If-None-Match (BENCH_ETAG); "" or "-" sends no If-None-Match
--   2: depth (BENCH_DEPTH, default 16)
function init(args)
   local etag = args[1] or os.getenv("BENCH_ETAG") or ""
   local depth = tonumber(args[2] or os.getenv("BENCH_DEPTH") or "16")
   if etag ~= "" and etag ~= "-" then
      wrk.headers["If-None-Match"] = etag
   end
   local one = wrk.format("GET")
   local reqs = {}
   for i = 1, depth do
      reqs[i] = one
   end
   req = table.concat(reqs)
end

function request()
   return req
end
