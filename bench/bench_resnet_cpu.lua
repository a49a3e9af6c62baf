-- bench_resnet_cpu.lua — the reference recipe's ResNet18 (width 64, CIFAR 32x32 input)
-- training on the CPU: images/s of a full step (forward, loss, backward, SGD
-- momentum) at batch 32, and the peak resident memory of the process after
-- batch-64 steps (goal: under 1.5 GiB). The reference measured in the same
-- run is OpenBLAS sgemm at the GEMM sizes of the step's convolutions: the
-- step's FLOPs divided by that rate is the time a step would take if every
-- FLOP ran at raw GEMM speed, so `ratio` is the fraction of that bound reached.
-- Its PyTorch twin, `bench/torch_cpu_twin.py --workload step`, runs the same
-- batch-32 step; bench/cpu_twin.sh runs both with the same number of threads
-- and prints the ratio, from this script's line
--   RESULT luatrain step seconds BEST median MEDIAN
-- (BEST, the step time printed above it, is the best of the timed steps).
--
-- Usage: luatrain bench/bench_resnet_cpu.lua [steps]   (default 3)
local B = lt._bench
local F = lt.nn.functional
local steps = tonumber(arg and arg[1]) or 3

local function peak_rss_mib()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return (tonumber(s:match("VmHWM:%s+(%d+)")) or 0) / 1024
end

-- Forward FLOPs of the reference recipe's ResNet18 at width 64 on 32x32 inputs
-- (convolutions and the classifier: 2 * MACs); training = 3x forward.
local function conv_flops(cin, cout, k, hw_out) return 2 * cin * cout * k * k * hw_out * hw_out end
local function resnet18_fwd_flops()
  local f = conv_flops(3, 64, 3, 32)
  local cin, hw = 64, 32
  for stage, cout in ipairs{64, 128, 256, 512} do
    for block = 1, 2 do
      local stride = (stage > 1 and block == 1) and 2 or 1
      local hout = hw // stride
      f = f + conv_flops(cin, cout, 3, hout) + conv_flops(cout, cout, 3, hout)
      if stride ~= 1 or cin ~= cout then f = f + conv_flops(cin, cout, 1, hout) end
      cin, hw = cout, hout
    end
  end
  return f + 2 * 512 * 10
end

local function run(batch, n)
  lt.manual_seed(0)
  local model = lt.models.resnet18{num_classes = 10, width = 64}
  local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 1e-4})
  local x = lt.randn(batch, 3, 32, 32)
  local y = lt.randint(1, 11, {batch})
  local best, times = math.huge, {}
  for i = 1, n + 1 do
    local t0 = B.now()
    local loss = F.cross_entropy(model(x), y)
    opt:zero_grad()
    loss:backward()
    opt:step()
    loss:item()
    local dt = B.now() - t0
    if i > 1 then -- the first step warms caches
      best = math.min(best, dt)
      times[#times + 1] = dt
    end
  end
  table.sort(times)
  local m = #times
  return best, m % 2 == 1 and times[(m + 1) // 2] or (times[m // 2] + times[m // 2 + 1]) / 2
end

-- the GEMM reference: sgemm at the size of the dominant 3x3 conv of stage 1
-- (im2col: [64 x 576] x [576 x B*1024])
local function sgemm_gflops(batch)
  local m, k, n = 64, 576, batch * 1024
  local a, b, c = lt.randn(m, k), lt.randn(k, n), lt.zeros(m, n)
  B.sgemm(a, b, c)
  local best = math.huge
  for _ = 1, 3 do
    local t0 = B.now()
    B.sgemm(a, b, c)
    best = math.min(best, B.now() - t0)
  end
  return 2 * m * k * n / best / 1e9
end

print(string.format("luatrain %s bench_resnet_cpu: %d OpenMP thread(s)", lt.version, lt.get_num_threads()))
local t32, median32 = run(32, steps)
local flops = 3 * resnet18_fwd_flops() * 32
local ref = sgemm_gflops(32)
print(string.format("ResNet18 w64 batch 32 step  %.3f s  %.1f img/s  %.1f GFLOP/s   sgemm %.1f GFLOP/s   ratio %.2f",
  t32, 32 / t32, flops / t32 / 1e9, ref, flops / t32 / 1e9 / ref))
print(string.format("RESULT luatrain step seconds %.4f median %.4f", t32, median32))
collectgarbage()
local t64 = run(64, 1)
print(string.format("ResNet18 w64 batch 64 step  %.3f s   peak resident memory %.0f MiB (goal < 1536 MiB)", t64, peak_rss_mib()))
