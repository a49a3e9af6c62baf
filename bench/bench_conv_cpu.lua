-- bench_conv_cpu.lua — conv2d forward and backward (input and weight
-- gradients) at the reference recipe's ResNet18 layer shapes, batch 32, in GFLOP/s,
-- against OpenBLAS sgemm (lt._bench.sgemm, called directly from C) of the
-- same matrix sizes measured in the same run: forward is one [Cout x Cin*k*k]
-- x [Cin*k*k x N*OH*OW] product; backward is the two products of the same
-- sizes (weight and input gradients). Goal: ratio >= 0.7.
--
-- Both sides are timed interleaved and the best of several runs is kept: on
-- a shared machine noise only adds time.
--
-- Usage: luatrain bench/bench_conv_cpu.lua [reps]   (default 5)
local B = lt._bench
local F = lt.nn.functional
local reps = tonumber(arg and arg[1]) or 5

local shapes = { -- {N, Cin, H, Cout, k, stride, pad}
  {32, 64, 32, 64, 3, 1, 1},   -- layer1
  {32, 64, 32, 128, 3, 2, 1},  -- layer2.0.conv1
  {32, 128, 16, 128, 3, 1, 1}, -- layer2
  {32, 256, 8, 256, 3, 1, 1},  -- layer3
  {32, 512, 4, 512, 3, 1, 1},  -- layer4
  {32, 64, 32, 128, 1, 2, 0},  -- layer2.0.shortcut (1x1, stride 2)
}

local best = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/timing.lua").best
local function best_of(f) return best(f, reps) end

print(string.format("luatrain %s bench_conv_cpu: %d OpenMP thread(s)", lt.version, lt.get_num_threads()))
for _, s in ipairs(shapes) do
  local n, cin, h, cout, k, stride, pad = table.unpack(s)
  local x = lt.randn(n, cin, h, h, {requires_grad = true})
  local w = lt.randn(cout, cin, k, k, {requires_grad = true})
  local y = F.conv2d(x, w, nil, {stride = stride, padding = pad})
  local oh = y:size(3)
  local gy = lt.randn(y:shape())
  local flops = 2.0 * n * cout * oh * oh * cin * k * k
  -- the GEMMs of the same sizes: M x K times K x N
  local M, K, N = cout, cin * k * k, n * oh * oh
  local a, b, c = lt.randn(M, K), lt.randn(K, N), lt.empty(M, N)
  local gwa, gwb, gwc = lt.randn(M, N), lt.randn(N, K), lt.empty(M, K)
  local gxa, gxb, gxc = lt.randn(K, M), lt.randn(M, N), lt.empty(K, N)
  local t_fwd = best_of(function() lt.no_grad(function() F.conv2d(x, w, nil, {stride = stride, padding = pad}) end) end)
  local t_bwd = best_of(function()
    local out = F.conv2d(x, w, nil, {stride = stride, padding = pad})
    local t0 = B.now()
    out:backward(gy)
    return B.now() - t0
  end)
  -- backward alone: subtract a forward
  t_bwd = math.max(t_bwd - t_fwd, 1e-9)
  x.grad, w.grad = nil, nil
  local s_fwd = best_of(function() B.sgemm(a, b, c) end)
  local s_bwd = best_of(function() B.sgemm(gwa, gwb, gwc) end) + best_of(function() B.sgemm(gxa, gxb, gxc) end)
  print(string.format("x[%d,%d,%d,%d] w[%d,%d,%d,%d] s%d  fwd %6.1f GF/s (sgemm %6.1f) ratio %.2f   bwd %6.1f GF/s (sgemm %6.1f) ratio %.2f",
    n, cin, h, h, cout, cin, k, k, stride, flops / t_fwd / 1e9, flops / s_fwd / 1e9, s_fwd / t_fwd,
    2 * flops / t_bwd / 1e9, 2 * flops / s_bwd / 1e9, s_bwd / t_bwd))
end
