-- test_nn_edges_cuda.lua — GPU cases found by reading the CUDA nn kernels
-- and the cuDNN glue, compared with the CPU:
-- * batch norm in training with an infinite element at the start of a
--   channel (the GPU's shifted sums start from that element): the CPU gives
--   a mean of +-inf there, the GPU must not turn it into NaN (NCHW and NHWC);
-- * a convolution of an input whose size-1 dim has a stride no packed layout
--   gives it (a transposed [N,C,1,W]): the core calls it contiguous, cuDNN
--   reads the layout from all four strides.
--
-- Without a GPU it prints "skipped: no GPU" and exits 77 (ctest: skipped).
-- LUATRAIN_TEST_DEVICE=cpu runs the same comparisons CPU against CPU.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local DEV = T.gpu_or_skip(true)
if DEV ~= "cpu" then lt.backends.allow_tf32(false) end

math.randomseed(20260611)

-- a float32 tensor of the given shape from Lua's generator, with
-- overrides[i] replacing element i (1-based, row-major)
local function values(shape, overrides)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local v = {}
  for i = 1, n do v[i] = (overrides and overrides[i]) or (math.random() * 4 - 1) end
  return lt.tensor(v):view(table.unpack(shape))
end

local grads_of = T.grads_of

T.test("batch norm: an infinite first element of a channel", function()
  for _, case in ipairs({
    {shape = {4, 3, 5}, at = 6, v = math.huge, fmt = nil},           -- n=1, c=2, s=1: channel 2's first
    {shape = {4, 3, 5}, at = 11, v = -math.huge, fmt = nil},         -- channel 3's first
    {shape = {3, 4, 2, 3}, at = 7, v = math.huge, fmt = "channels_last"}, -- channel 2's first (NCHW index)
  }) do
    local x = values(case.shape, {[case.at] = case.v})
    if case.fmt then x = x:contiguous(case.fmt) end
    local C = case.shape[2]
    local label = "[" .. table.concat(case.shape, ",") .. "] " .. (case.fmt or "contiguous")
    local function run(xx)
      local rm, rv = lt.zeros(C):to(xx:device()), lt.ones(C):to(xx:device())
      local y = F.batch_norm(xx, rm, rv, {training = true, momentum = 0.1, eps = 1e-5})
      return y, rm, rv
    end
    local yc, rmc, rvc = run(x)
    local yg, rmg, rvg = run(x:to(DEV))
    T.tensor_close(rmg, rmc, 1e-5, "running_mean " .. label)
    T.tensor_close(rvg, rvc, 1e-5, "running_var " .. label)
    T.tensor_close(yg, yc, 1e-5, "output " .. label)
    -- the channels without infinities are ordinary numbers on both
    T.check(rmc:isnan():sum():item() == 0, "the CPU's running means have no NaN (" .. label .. ")")
  end
end)

T.test("conv2d of an input with an odd stride on a size-1 dim", function()
  for _, dt in ipairs({"float32", "float64"}) do
    local x, w, b = values({2, 3, 1, 7}):to(dt), (values({4, 3, 3, 1}) * 0.3):to(dt), values({4}):to(dt)
    local function f(xx, ww, bb)
      -- [2,3,7,1] with strides (21,7,1,7): contiguous to the core, W's stride is 7
      local xt = xx:transpose(3, 4)
      local y = F.conv2d(xt, ww, bb, {padding = {1, 0}})
      return y, (y * y * 0.5):sum()
    end
    local yc, gc = grads_of(f, x, w, b)
    local yg, gg = grads_of(f, x:to(DEV), w:to(DEV), b:to(DEV))
    local tol = dt == "float32" and 1e-5 or 1e-12
    T.tensor_close(yg, yc, tol, "conv2d forward " .. dt)
    for i = 1, 3 do T.tensor_close(gg[i], gc[i], tol, "conv2d gradient " .. i .. " " .. dt) end
  end
end)

os.exit(T.done())
