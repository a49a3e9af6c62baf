-- bench/timing.lua — the timing rule the CPU benchmarks share, loaded with
-- dofile from the bench folder:
--   local best = dofile(bench_dir .. "/timing.lua").best
--   local seconds = best(f, reps, warm)
-- best seconds of `reps` runs of f, after `warm` unmeasured ones (default 0).
-- The best, not the median, because a shared machine adds noise only
-- upwards; both sides of every ratio are measured the same way.
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

return M
