-- wrk script: conditional GET that must answer 304.
-- The ETag comes from the server's own first response (bench/run fetches it
-- with curl); pass it as the first script argument or in BENCH_ETAG:
--   wrk -t1 -c64 -d5 -s bench/etag.lua URL -- '"abc..."'
--   BENCH_ETAG='"abc..."' wrk -t1 -c64 -d5 -s bench/etag.lua URL
function init(args)
   local etag = args[1] or os.getenv("BENCH_ETAG")
   if etag == nil or etag == "" then
      error("etag.lua: no ETag (script arg 1 or BENCH_ETAG)")
   end
   wrk.headers["If-None-Match"] = etag
   req = wrk.format("GET")
end

function request()
   return req
end
