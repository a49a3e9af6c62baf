-- bench_tensor.lua — CPU speed of the tensor core against references
-- measured in the same run (bench/ prints ratios, not timed pass/fail tests):
--
--   matmul: 1024x1024x1024 float32 through lt.matmul, against OpenBLAS's
--           sgemm called directly from C (lt._bench.sgemm). Target >= 0.95.
--   add:    elementwise add of two 16M-float tensors, against memcpy of the
--           same 64 MB (lt._bench.memcpy), both as GB/s of memory traffic
--           (add reads 2 and writes 1 array: 12 bytes per element; memcpy
--           reads and writes one: 8 bytes per element). Target >= 0.5 with
--           2 threads. Reported for lt.add (allocates its output, as a
--           training step does) and for the in-place add_ (no allocation).
--
-- Usage: luatrain bench/bench_tensor.lua [threads]   (default 2)
local lt = require "luatrain"
local B = lt._bench

local threads = tonumber(arg and arg[1]) or 2
lt.set_num_threads(threads)

local best = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/timing.lua").best
-- best seconds of `reps` runs of f after two unmeasured ones (bench/timing.lua)
local function time(f, reps) return best(f, reps, 2) end

print(string.format("luatrain %s bench_tensor: %d OpenMP thread(s)", lt.version, lt.get_num_threads()))

-- matmul ------------------------------------------------------------------------
do
  local n = 1024
  lt.manual_seed(0)
  local a, b = lt.randn(n, n), lt.randn(n, n)
  local c = lt.empty(n, n)
  local flop = 2 * n * n * n
  local t_ref = time(function() B.sgemm(a, b, c) end, 10)
  local out
  local t_lt = time(function() out = lt.matmul(a, b) end, 10)
  -- the two must agree (same BLAS, same operands)
  local err = (out - c):abs():max():item()
  assert(err < 1e-3, "lt.matmul and sgemm disagree: " .. err)
  local g_ref, g_lt = flop / t_ref / 1e9, flop / t_lt / 1e9
  print(string.format("matmul 1024^3 f32   lt.matmul %8.1f GFLOP/s   sgemm %8.1f GFLOP/s   ratio %.3f (target >= 0.95)",
                      g_lt, g_ref, g_lt / g_ref))
end

-- elementwise add ---------------------------------------------------------------
do
  local n = 16 * 1024 * 1024
  local a, b = lt.rand(n), lt.rand(n)
  local dst = lt.empty(n)
  local bytes = 4 * n
  local t_copy = time(function() B.memcpy(dst, a) end, 10)
  local keep
  local t_add = time(function() keep = lt.add(a, b) end, 10)
  keep = nil
  local t_add_ = time(function() dst:add_(b) end, 10)
  local g_copy = 2 * bytes / t_copy / 1e9
  local g_add = 3 * bytes / t_add / 1e9
  local g_add_ = 3 * bytes / t_add_ / 1e9
  print(string.format("memcpy 64 MB        %8.2f GB/s (%.2f ms)", g_copy, t_copy * 1e3))
  print(string.format("add 16M f32         %8.2f GB/s (%.2f ms)   ratio to memcpy %.3f (target >= 0.5)", g_add, t_add * 1e3,
                      g_add / g_copy))
  print(string.format("add_ 16M f32        %8.2f GB/s (%.2f ms)   ratio to memcpy %.3f", g_add_, t_add_ * 1e3, g_add_ / g_copy))
end
