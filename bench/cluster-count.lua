-- cluster-count.lua - wrk script of bench/cluster.sh: counts the responses
-- per value of the X-Worker header (the worker's slot: hello-http under
-- herd or by hand, node-cluster.js's worker id) and prints, at the end,
--   workers ID=COUNT ID=COUNT ...
-- ("-" counts responses without the header). Each wrk thread counts in
-- its own Lua state; done() adds them up.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function response(status, headers, body)
  local w = headers["X-Worker"] or headers["x-worker"] or "-"
  counts[w] = (counts[w] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    if c then
      for k, v in pairs(c) do all[k] = (all[k] or 0) + v end
    end
  end
  local keys = {}
  for k in pairs(all) do table.insert(keys, k) end
  table.sort(keys)
  io.write("workers")
  for _, k in ipairs(keys) do io.write(" ", k, "=", all[k]) end
  io.write("\n")
end
