-- wrk script: rotates through the request paths listed in the file named by $BENCH_PATHS
-- (one path per line, e.g. /datasets?q=lung&modality=CT; blank lines and lines starting with # are
-- skipped). Each wrk thread starts at a different point of the list, so the threads do not send the
-- same request at the same moment.

local thread_count = 0

function setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   local file = os.getenv("BENCH_PATHS")
   if file == nil then
      error("BENCH_PATHS is not set")
   end
   paths = {}
   for line in io.lines(file) do
      if line ~= "" and line:sub(1, 1) ~= "#" then
         paths[#paths + 1] = line
      end
   end
   if #paths == 0 then
      error("no paths in " .. file)
   end
   position = ((thread_index or 0) * 7919) % #paths
end

function request()
   position = position % #paths + 1
   return wrk.format("GET", paths[position])
end
