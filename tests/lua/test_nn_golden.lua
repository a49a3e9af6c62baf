-- test_nn_golden.lua — lt.nn.functional through autograd against PyTorch's
-- numbers (tests/golden/ops_golden.safetensors; README.md there lists the
-- keys): conv2d (five geometries), batch norm (train with the running-stat
-- update, backward, and eval), linear, cross entropy with label smoothing 0
-- and 0.1, max/avg/adaptive pooling and log_softmax, forward and every
-- gradient, in float32 (relative Frobenius error <= 1e-4) and float64
-- (<= 1e-10). The golden targets are 0-based (PyTorch): 1 is added here.
-- tests/c/test_nn_golden.c checks the same through the op layer.
--
-- Device-parametrised (luatrain.testing): test_nn_golden_cuda.lua runs this
-- file on the GPU, with TF32 off, against the GPU bounds of T.golden_tol
-- (float32 1e-5, float64 1e-10); results are compared on the CPU.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local G = lt.load("tests/golden/ops_golden.safetensors")
local DEV, DEV_NAME = T.device(), T.device_name()
-- on the GPU: float32 without TF32, which the 1e-5 bound assumes
if T.is_device_run() then lt.backends.allow_tf32(false) end

-- ‖got − ref‖ / ‖ref‖ within the dtype's tolerance
local function check(what, got, key, dtype)
  local ref = G[key]
  if not T.check(ref ~= nil and got ~= nil, what .. ": missing " .. key) then return end
  if not T.check(got:numel() == ref:numel(), string.format("%s: %d values, reference %s has %d", what, got:numel(), key,
                                                           ref:numel())) then
    return
  end
  T.check(got:device() == DEV_NAME, string.format("%s computed on %s", what, got:device()))
  local tol = T.golden_tol(dtype)
  local err = T.relerr(got, ref)
  T.check(err <= tol, string.format("%s (%s on %s): relative error %.3g > %g", what, dtype, DEV, err, tol))
end

-- the stored tensor `key` as `dtype` on the test's device
local function stored(key, dtype) return G[key]:to(DEV, dtype) end

-- the stored input `key` as a fresh leaf of `dtype` on the test's device
local function input(key, dtype, grad)
  local t = stored(key, dtype)
  if t == G[key] then t = t:clone() end
  if grad then t.requires_grad = true end
  return t
end

local function conv2d_cases(dt)
  for _, case in ipairs{"k3s1p1", "k3s2p1", "k1s2p0", "k5s1p2_bias", "k3s1p0_bias"} do
    local p = "conv2d." .. case .. "."
    local cfg = G[p .. "cfg"]:tolist() -- n, cin, cout, h, w, kernel, stride, padding, bias, groups, dilation
    local x, w = input(p .. "x", dt, true), input(p .. "w", dt, true)
    local b = cfg[9] ~= 0 and input(p .. "b", dt, true) or nil
    local y = F.conv2d(x, w, b, {stride = cfg[7], padding = cfg[8], groups = cfg[10], dilation = cfg[11]})
    T.check(y:dtype() == dt, "output dtype")
    check(case .. " y", y, p .. "y", dt)
    y:backward(stored(p .. "gy", dt))
    check(case .. " gx", x.grad, p .. "gx", dt)
    check(case .. " gw", w.grad, p .. "gw", dt)
    if b then check(case .. " gb", b.grad, p .. "gb", dt) end
  end
end

local function linear_case(dt)
  local x, w, b = input("linear.x", dt, true), input("linear.w", dt, true), input("linear.b", dt, true)
  local y = F.linear(x, w, b)
  check("linear y", y, "linear.y", dt)
  y:backward(stored("linear.gy", dt))
  check("linear gx", x.grad, "linear.gx", dt)
  check("linear gw", w.grad, "linear.gw", dt)
  check("linear gb", b.grad, "linear.gb", dt)
end

for _, dt in ipairs{"float32", "float64"} do
  T.test("conv2d " .. dt, function() conv2d_cases(dt) end)

  T.test("batch_norm " .. dt, function()
    for _, case in ipairs{"n4c3h5w5", "n2c16h4w4"} do
      local p = "batchnorm." .. case .. "."
      local x, g, b = input(p .. "x", dt, true), input(p .. "gamma", dt, true), input(p .. "beta", dt, true)
      local rm, rv = input(p .. "running_mean", dt), input(p .. "running_var", dt)
      local rm0, rv0 = rm:clone(), rv:clone()
      local y = F.batch_norm(x, rm, rv, g, b, true, 0.1, 1e-5)
      check(case .. " y", y, p .. "y", dt)
      check(case .. " running_mean", rm, p .. "new_running_mean", dt)
      check(case .. " running_var", rv, p .. "new_running_var", dt)
      y:backward(stored(p .. "gy", dt))
      check(case .. " gx", x.grad, p .. "gx", dt)
      check(case .. " ggamma", g.grad, p .. "ggamma", dt)
      check(case .. " gbeta", b.grad, p .. "gbeta", dt)
      local ye = F.batch_norm(x, rm0, rv0, {weight = g, bias = b, training = false, momentum = 0.1, eps = 1e-5})
      check(case .. " y_eval", ye, p .. "y_eval", dt)
    end
  end)

  T.test("linear " .. dt, function() linear_case(dt) end)

  T.test("cross_entropy " .. dt, function()
    for case, ls in pairs{ls0 = 0, ls1 = 0.1} do
      local p = "cross_entropy." .. case .. "."
      local logits = input(p .. "logits", dt, true)
      local target = (G[p .. "target"] + 1):to(DEV)
      local loss = F.cross_entropy(logits, target, {label_smoothing = ls})
      check(case .. " loss", loss, p .. "loss", dt)
      loss:backward()
      check(case .. " glogits", logits.grad, p .. "glogits", dt)
    end
  end)

  T.test("pooling and log_softmax " .. dt, function()
    local cases = {
      avgpool_global = function(x) return F.adaptive_avg_pool2d(x, 1) end,
      maxpool_k3s2p1 = function(x) return F.max_pool2d(x, 3, {stride = 2, padding = 1}) end,
      avgpool_k2s2 = function(x) return F.avg_pool2d(x, 2, {stride = 2}) end,
      log_softmax = function(x) return F.log_softmax(x, 2) end,
    }
    for case, fn in pairs(cases) do
      local x = input(case .. ".x", dt, true)
      local y = fn(x)
      check(case .. " y", y, case .. ".y", dt)
      y:backward(stored(case .. ".gy", dt))
      check(case .. " gx", x.grad, case .. ".gx", dt)
    end
  end)
end

-- On the GPU the products run once more with TF32 (PyTorch's default), within
-- 1e-3. Rounding the operands to TF32's 10-bit mantissa on the CPU gives
-- errors of 1.5e-4 to 4e-4 on these cases (round to nearest; truncation would
-- about double them).
if T.is_device_run() then
  T.test("conv2d and linear float32 with TF32", function()
    T.with_tf32(true, function()
      T.check(T.golden_tol("float32") == 1e-3, "the TF32 bound applies")
      conv2d_cases("float32")
      linear_case("float32")
    end)
  end)
end

os.exit(T.done())
