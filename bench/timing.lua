-- bench/timing.lua — the timing rules the CPU benchmarks share, loaded with
-- dofile from the bench folder:
--   local best = dofile(bench_dir .. "/timing.lua").best
--   local seconds = best(f, reps, warm)
-- best seconds of `reps` runs of f, after `warm` unmeasured ones (default 0).
-- The best, not the median, because a shared machine adds noise only
-- upwards; both sides of every ratio are measured the same way.
--   local rate = dofile(bench_dir .. "/timing.lua").loader_rate(loader, epochs)
-- images/s through a DataLoader over `epochs` epochs, after one unmeasured
-- warm-up epoch (which starts the workers and fills the buffer pools); the
-- loader is closed afterwards.
local B = require("luatrain")._bench

local M = {}

function M.best(f, reps, warm)
  for _ = 1, warm or 0 do f() end
  local best = math.huge
  for _ = 1, reps do
    local t0 = B.now()
    f()
    best = math.min(best, B.now() - t0)
  end
  return best
end

function M.loader_rate(loader, epochs)
  for _ in loader:iter() do end
  collectgarbage()
  local start, n = B.now(), 0
  for _ = 1, epochs do
    for _, images in loader:iter() do n = n + images:size(1) end
  end
  local dt = B.now() - start
  loader:close()
  return n / dt
end

return M
