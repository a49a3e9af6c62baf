-- test_batch_norm_relu.lua — F.batch_norm_relu (batch norm and the ReLU after
-- it as one op) against F.relu(F.batch_norm(...)), which it replaces: the
-- output, the gradients of input, weight and bias, and the running
-- statistics, in training and evaluation mode, over the shapes that reach
-- each path of the CPU kernel ([N,C], one image, one value per image and
-- channel, slabs shorter and longer than a row of float lanes, tensors
-- large enough to be split over threads and image blocks, channels-last
-- input), without weight, bias or running statistics, in float64, float32,
-- bfloat16 and float16 (16-bit input with float32 or 16-bit parameters).
-- On the CPU the fused kernel must match the pair exactly: its backward
-- recomputes the ReLU's mask from the input and the statistics, and any
-- difference from the forward's value would show here. Also: float64
-- finite-difference gradient checks; the node keeps no copy of its output;
-- results independent of the thread count; the statistics' accuracy for
-- activations with a large mean; bn:forward_relu and the ResNet models,
-- which use it; error messages naming batch_norm_relu.
--
-- It is also the body of test_batch_norm_relu_cuda.lua: there T.device() is
-- the GPU, whose backend has no fused kernels, so batch_norm_relu must be
-- batch norm then ReLU (the same comparisons, still exact).
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional
local nn = lt.nn

local DEV = T.device()
local ON_CPU = DEV == "cpu"
lt.manual_seed(20261206)

local function shape_str(s) return "[" .. table.concat(s, ",") .. "]" end

-- x ~ 2*randn + 0.3 (a mix of signs after normalisation), in dtype on DEV
local function input(shape, dt, fmt)
  local x = lt.randn(shape):mul(2):add(0.3):to(DEV, dt)
  if fmt then x = x:contiguous(fmt) end
  return x
end

-- runs relu(batch_norm) fused or not on fresh leaves, and backward from gy
-- (false: none); returns y, the gradients {x, w, b} (nil where none), the
-- running statistics and the recorded y
local function run(fused, x0, gy, w0, b0, stats, training, momentum, eps)
  local x = x0:detach():clone():requires_grad_(true)
  local w = w0 and w0:detach():clone():requires_grad_(true)
  local b = b0 and b0:detach():clone():requires_grad_(true)
  local rm, rv
  if stats then rm, rv = stats[1]:clone(), stats[2]:clone() end
  local y
  if fused then
    y = F.batch_norm_relu(x, rm, rv, w, b, training, momentum, eps)
  else
    y = F.relu(F.batch_norm(x, rm, rv, w, b, training, momentum, eps))
  end
  if gy then y:backward(gy) end
  return y:detach(), {x.grad, w and w.grad, b and b.grad}, rm, rv, y
end

-- compares the fused op with the pair on one configuration: exactly
local function compare(label, x, opts)
  local C = x:size(2)
  local pdt = opts.pdt or (x:dtype() == "float64" and "float64" or "float32")
  local w = opts.no_weight and nil or lt.rand(C):add(0.5):to(DEV, pdt)
  local b = opts.no_bias and nil or lt.randn(C):mul(0.5):to(DEV, pdt)
  local stats
  if not opts.no_stats then stats = {lt.randn(C):mul(0.1):to(DEV, pdt), lt.rand(C):add(0.5):to(DEV, pdt)} end
  local gy = lt.randn(x:shape()):to(DEV, x:dtype())
  local training, momentum, eps = opts.training, opts.momentum or 0.1, opts.eps or 1e-5
  local y1, g1, rm1, rv1, yf = run(false, x, not opts.forward_only and gy, w, b, stats, training, momentum, eps)
  local y2, g2, rm2, rv2, yr = run(true, x, not opts.forward_only and gy, w, b, stats, training, momentum, eps)
  T.tensor_equal(y2, y1, label .. ": output")
  T.check(y2:dtype() == x:dtype() and y2:device() == x:device(), label .. ": output dtype and device")
  T.check(y2:is_contiguous(opts.fmt) == y1:is_contiguous(opts.fmt), label .. ": output layout")
  local names = {"input", "weight", "bias"}
  for i = 1, 3 do
    if g1[i] or g2[i] then
      if T.check(g1[i] ~= nil and g2[i] ~= nil, label .. ": both have a " .. names[i] .. " gradient") then
        T.tensor_equal(g2[i], g1[i], label .. ": " .. names[i] .. " gradient")
      end
    end
  end
  if stats then
    T.tensor_equal(rm2, rm1, label .. ": running_mean")
    T.tensor_equal(rv2, rv1, label .. ": running_var")
    if not training then T.tensor_equal(rm2, stats[1], label .. ": eval leaves running_mean") end
  end
  -- where the pair's output is 0, so is the fused op's, and nowhere else
  T.check(y2:le(0):eq(y1:le(0)):all():item(), label .. ": the same zeros")
  T.check(yr.grad_fn == (ON_CPU and "BatchNormReluBackward" or "ReluBackward"), label .. ": grad_fn " ..
          tostring(yr.grad_fn))
  T.check(yf.grad_fn == "ReluBackward", label .. ": the pair ends in ReluBackward")
end

T.test("fused equals batch_norm then relu: shapes and modes", function()
  local shapes = {
    {4, 3, 5, 5},     -- small: one thread
    {2, 3, 17},       -- a slab of 17: one row of lanes and a scalar tail
    {3, 2, 49},       -- 7x7 planes
    {6, 4},           -- [N,C]: one value per image and channel
    {1, 3, 4, 4},     -- one image
    {5, 2, 1, 1},     -- S = 1 with 4-D
    {3, 2, 300},      -- a slab longer than a chunk of 256
    {32, 8, 28, 28},  -- over the threading grain, several image blocks per channel
    {8, 64, 4, 4},    -- many channels, short slabs
  }
  for _, dt in ipairs({"float32", "float64"}) do
    for _, s in ipairs(shapes) do
      for _, training in ipairs({true, false}) do
        compare(string.format("%s %s %s", dt, shape_str(s), training and "train" or "eval"), input(s, dt),
                {training = training})
      end
    end
  end
end)

T.test("fused equals batch_norm then relu: optional arguments", function()
  for _, training in ipairs({true, false}) do
    local mode = training and "train" or "eval"
    local x = input({4, 3, 6, 5}, "float32")
    compare("no weight " .. mode, x, {training = training, no_weight = true})
    compare("no bias " .. mode, x, {training = training, no_bias = true})
    compare("no affine " .. mode, x, {training = training, no_weight = true, no_bias = true})
    compare("momentum 0.3, eps 1e-3 " .. mode, x, {training = training, momentum = 0.3, eps = 1e-3})
  end
  compare("train without running statistics", input({4, 3, 6, 5}, "float32"), {training = true, no_stats = true})
  compare("float64 train without running statistics or affine", input({3, 2, 7}, "float64"),
          {training = true, no_stats = true, no_weight = true, no_bias = true})
end)

T.test("fused equals batch_norm then relu: exact zeros, infinities and NaN", function()
  -- channel 2 has weight 0 and bias 0: every value before the ReLU is
  -- exactly 0 (+0 or -0), where the ReLU's gradient is 0
  for _, dt in ipairs({"float32", "float64"}) do
    for _, training in ipairs({true, false}) do
      local x = input({4, 3, 5, 5}, dt)
      local w, b = lt.tensor({1.5, 0, 0.7}):to(DEV, dt), lt.tensor({0.2, 0, -0.1}):to(DEV, dt)
      local stats = {lt.zeros(3):to(DEV, dt), lt.ones(3):to(DEV, dt)}
      local gy = lt.randn({4, 3, 5, 5}):to(DEV, dt)
      local y1, g1 = run(false, x, gy, w, b, stats, training, 0.1, 1e-5)
      local y2, g2 = run(true, x, gy, w, b, stats, training, 0.1, 1e-5)
      local mode = dt .. " " .. (training and "train" or "eval")
      T.tensor_equal(y2, y1, "zero channel: output " .. mode)
      for i = 1, 3 do T.tensor_equal(g2[i], g1[i], "zero channel: gradient " .. i .. " " .. mode) end
      T.check(g2[1]:select(2, 2):eq(0):all():item(), "zero channel: no input gradient " .. mode)
    end
    -- evaluation with +inf, -inf and NaN inputs: y = inf, 0 and NaN there
    local x = input({2, 3, 4, 4}, dt)
    lt.no_grad(function()
      x[1][1][1][1] = math.huge
      x[1][2][2][2] = -math.huge
      x[2][3][3][3] = 0 / 0
    end)
    compare(dt .. " eval with inf, -inf and NaN", x, {training = false})
  end
end)

T.test("fused equals batch_norm then relu: channels-last input", function()
  for _, dt in ipairs({"float32", "float64"}) do
    for _, training in ipairs({true, false}) do
      local x = input({3, 5, 4, 6}, dt, "channels_last")
      compare(dt .. " channels_last " .. (training and "train" or "eval"), x,
              {training = training, fmt = "channels_last"})
    end
  end
end)

T.test("channels-last against NCHW, fused and not, every dtype", function()
  -- channels-last runs its own passes (row by row over the channels on the
  -- CPU): each result is compared with the same op on the NCHW copy
  local tols = {float64 = 1e-12, float32 = 2e-6, bfloat16 = 1e-2, float16 = 2e-3}
  for _, dt in ipairs({"float64", "float32", "bfloat16", "float16"}) do
    local pdt = dt == "float64" and "float64" or "float32"
    -- {1, ...}: one image, whose [N,C,S] view may have any stride for N
    for _, s in ipairs({{3, 5, 4, 6}, {8, 40, 9, 9}, {2, 17, 33, 31}, {1, 6, 3, 4}}) do
      for _, fused in ipairs({false, true}) do
        for _, training in ipairs({true, false}) do
          local label = string.format("%s %s %s %s", dt, shape_str(s), fused and "fused" or "batch_norm",
                                      training and "train" or "eval")
          local x = input(s, dt)
          local C = s[2]
          local w, b = lt.rand(C):add(0.5):to(DEV, pdt), lt.randn(C):mul(0.5):to(DEV, pdt)
          local stats = {lt.randn(C):mul(0.1):to(DEV, pdt), lt.rand(C):add(0.5):to(DEV, pdt)}
          local gy = lt.randn(s):to(DEV, dt)
          local grads = not (ON_CPU and dt == "float16") and gy
          local op = function(xx, g)
            if fused then return run(true, xx, g, w, b, stats, training, 0.1, 1e-5) end
            return run(false, xx, g, w, b, stats, training, 0.1, 1e-5)
          end
          local y1, g1, rm1, rv1 = op(x, grads)
          local y2, g2, rm2, rv2 = op(x:contiguous("channels_last"), grads and gy:contiguous("channels_last"))
          T.check(y2:is_contiguous("channels_last"), label .. ": the output stays channels-last")
          T.tensor_close(y2, y1, tols[dt], label .. ": output")
          for i, name in ipairs({"input", "weight", "bias"}) do
            if g1[i] then T.tensor_close(g2[i], g1[i], tols[dt], label .. ": " .. name .. " gradient") end
          end
          T.tensor_close(rm2, rm1, tols[dt], label .. ": running_mean")
          T.tensor_close(rv2, rv1, tols[dt], label .. ": running_var")
        end
      end
    end
  end
end)

T.test("fused equals batch_norm then relu: 16-bit input", function()
  -- (the CPU has no float16 gradients: there float16 runs forward only)
  for _, dt in ipairs({"bfloat16", "float16"}) do
    for _, pdt in ipairs({"float32", dt}) do
      for _, s in ipairs({{4, 3, 5, 5}, {16, 8, 20, 20}, {6, 4}}) do
        for _, training in ipairs({true, false}) do
          compare(string.format("%s input, %s parameters %s %s", dt, pdt, shape_str(s), training and "train" or "eval"),
                  input(s, dt), {training = training, pdt = pdt, forward_only = ON_CPU and dt == "float16"})
        end
      end
    end
  end
end)

T.test("float32 against float64", function()
  -- the fused float32 op within float32 rounding of the float64 pair
  for _, training in ipairs({true, false}) do
    local x = input({16, 4, 9, 9}, "float32")
    local C = 4
    local w, b = lt.rand(C):add(0.5):to(DEV), lt.randn(C):mul(0.5):to(DEV)
    local stats = {lt.randn(C):mul(0.1):to(DEV), lt.rand(C):add(0.5):to(DEV)}
    local gy = lt.randn(x:shape()):to(DEV)
    local y, g, rm, rv = run(true, x, gy, w, b, stats, training, 0.1, 1e-5)
    local yd, gd, rmd, rvd = run(false, x:double(), gy:double(), w:double(), b:double(),
                                 {stats[1]:double(), stats[2]:double()}, training, 0.1, 1e-5)
    local mode = training and "train" or "eval"
    T.tensor_close(y, yd, 1e-6, "float32 output " .. mode)
    for i, n in ipairs({"input", "weight", "bias"}) do T.tensor_close(g[i], gd[i], 1e-5, n .. " gradient " .. mode) end
    T.tensor_close(rm, rmd, 1e-6, "running_mean " .. mode)
    T.tensor_close(rv, rvd, 1e-6, "running_var " .. mode)
  end
end)

T.test("statistics of activations with a large mean", function()
  -- mean 1e3, spread 0.1: a one-pass float sum of squares would lose the
  -- variance entirely; the float lanes with the two-pass correction keep it
  for _, fused in ipairs({false, true}) do
    local x = lt.randn({64, 3, 16, 16}):mul(0.1):add(1e3):to(DEV)
    local function stats(xx)
      local rm, rv = lt.zeros(3):to(DEV, xx:dtype()), lt.ones(3):to(DEV, xx:dtype())
      local f = fused and F.batch_norm_relu or F.batch_norm
      f(xx, rm, rv, nil, nil, true, 1.0, 1e-5)
      return rm, rv
    end
    local rm, rv = stats(x)
    local rmd, rvd = stats(x:double())
    -- (the bounds of the CPU's kernel; the GPU's accumulates otherwise)
    local what = fused and "batch_norm_relu" or "batch_norm"
    T.tensor_close(rm, rmd, ON_CPU and 1e-7 or 1e-6, what .. ": the mean of 1e3 + 0.1 randn")
    T.tensor_close(rv, rvd, ON_CPU and 1e-5 or 1e-3, what .. ": the variance of 1e3 + 0.1 randn")
  end
end)

T.test("float64 gradient checks", function()
  local gradcheck = lt.autograd.gradcheck
  local function p(shape, scale)
    return lt.randn(shape, {dtype = "float64"}):mul(scale or 1):to(DEV):requires_grad_(true)
  end
  local function gc(what, fn, inputs)
    local ok, err = pcall(gradcheck, fn, inputs)
    T.check(ok, what .. ": " .. tostring(err))
  end
  for _, shape in ipairs({{5, 3}, {3, 2, 4}, {2, 3, 3, 2}}) do
    local C = shape[2]
    local rm = lt.randn({C}, {dtype = "float64"}):to(DEV)
    local rv = lt.rand({C}, {dtype = "float64"}):add(0.5):to(DEV)
    local s = shape_str(shape)
    gc("train " .. s, function(x, w, b) return F.batch_norm_relu(x, rm:clone(), rv:clone(), w, b, true, 0.1, 1e-5) end,
       {p(shape, 2), p({C}), p({C})})
    gc("eval " .. s, function(x, w, b) return F.batch_norm_relu(x, rm, rv, w, b, false, 0.1, 1e-5) end,
       {p(shape, 2), p({C}), p({C})})
  end
  gc("train, no affine, no running statistics", function(x) return F.batch_norm_relu(x, nil, nil, nil, nil, true) end,
     {p({4, 2, 3})})
  local x = lt.randn({4, 3, 2, 2}, {dtype = "float64"}):to(DEV)
  gc("train, weight and bias only", function(w, b) return F.batch_norm_relu(x, nil, nil, w, b, true) end,
     {p({3}), p({3})})
end)

T.test("the node keeps the input, not the output", function()
  local x = input({4, 3, 5, 5}, "float32"):requires_grad_(true)
  local w, b = lt.rand(3):add(0.5):to(DEV):requires_grad_(true), lt.randn(3):to(DEV):requires_grad_(true)
  local gy = lt.randn({4, 3, 5, 5}):to(DEV)
  local y = F.batch_norm_relu(x, nil, nil, w, b, true)
  local want = y:detach():clone()
  y:backward(gy)
  local gx = x.grad:clone()
  x.grad = nil
  if ON_CPU then
    -- the output may change in place: the backward does not read it
    local y2 = F.batch_norm_relu(x, nil, nil, w, b, true)
    lt.no_grad(function() y2:add_(1) end)
    T.check(pcall(function() y2:backward(gy) end), "backward after the output changed in place")
    T.tensor_equal(x.grad, gx, "the same input gradient")
    T.tensor_equal(y2:detach(), want:add(1), "the output changed in place")
  end
  -- the input may not: it is saved
  local xc = x:detach():clone():requires_grad_(true)
  local h = xc * 1
  local y3 = F.batch_norm_relu(h, nil, nil, w, b, true)
  lt.no_grad(function() h:add_(1) end)
  local saver = ON_CPU and "BatchNormReluBackward" or "NativeBatchNormBackward"
  T.checkerr("(saved by " .. saver .. ") was modified in place", function() y3:backward(gy) end)
end)

if ON_CPU then
  T.test("results do not depend on the thread count", function()
    local threads = lt.get_num_threads()
    local x = input({32, 8, 28, 28}, "float32")
    local w, b = lt.rand(8):add(0.5), lt.randn(8)
    local gy = lt.randn({32, 8, 28, 28})
    local function all(n)
      lt.set_num_threads(n)
      local y, g, rm, rv = run(true, x, gy, w, b, {lt.zeros(8), lt.ones(8)}, true, 0.1, 1e-5)
      return {y, g[1], g[2], g[3], rm, rv}
    end
    local one, two, three = all(1), all(2), all(3)
    lt.set_num_threads(threads)
    for i, n in ipairs({"output", "input gradient", "weight gradient", "bias gradient", "running_mean",
                        "running_var"}) do
      T.tensor_equal(two[i], one[i], n .. ": 2 threads as 1")
      T.tensor_equal(three[i], one[i], n .. ": 3 threads as 1")
    end
  end)
end

T.test("BatchNorm2d:forward_relu", function()
  for _, o in ipairs({{}, {momentum = false}, {affine = false}, {track_running_stats = false}}) do
    local what = "BatchNorm2d" .. (next(o) and (" " .. next(o)) or "")
    local a, b = nn.BatchNorm2d(4, o):to(DEV), nn.BatchNorm2d(4, o):to(DEV)
    if a.weight then
      lt.no_grad(function()
        a.weight:copy_(lt.rand(4):add(0.5))
        a.bias:copy_(lt.randn(4))
        b.weight:copy_(a.weight)
        b.bias:copy_(a.bias)
      end)
    end
    for step = 1, 3 do
      local x = input({3, 4, 5, 5}, "float32")
      local ya, yb = a:forward_relu(x), F.relu(b(x))
      T.tensor_equal(ya, yb, what .. ": training step " .. step)
    end
    local sa, sb = a:state_dict(), b:state_dict()
    for k, v in pairs(sb) do T.tensor_equal(sa[k], v, what .. ": state " .. k) end
    a:eval()
    b:eval()
    local x = input({2, 4, 3, 3}, "float32")
    T.tensor_equal(a:forward_relu(x), F.relu(b(x)), what .. ": eval")
  end
  -- errors name the module, as a call of it does
  local seq = nn.Sequential(nn.BatchNorm2d(3))
  local bn = seq[1]
  T.checkerr("expected 3 channels", function() bn:forward_relu(input({2, 4, 3, 3}, "float32")) end)
  T.checkerr("BatchNorm2d: expected a 4-D input", function() bn:forward_relu(input({2, 3}, "float32")) end)
  -- a subclass with its own forward: F.relu of it
  local Half = nn.BatchNorm2d:extend("HalfBatchNorm")
  function Half:forward(x) return nn.BatchNorm2d.forward(self, x) * 0.5 end
  local h = Half(3):to(DEV)
  local x = input({2, 3, 4, 4}, "float32")
  local ref = Half(3):to(DEV)
  T.tensor_equal(h:forward_relu(x), F.relu(ref(x)), "a subclass's forward is kept")
end)

T.test("the ResNet models fuse their batch norms with the ReLUs", function()
  -- counts the fused calls of one training forward: the stem and bn1 of
  -- every BasicBlock (resnet18: 1 + 8); bn1 and bn2 of every Bottleneck
  -- (resnet50: 1 + 2*16); a stem whose ReLU was replaced is left as it is
  local real = F.batch_norm_relu
  local calls = 0
  F.batch_norm_relu = function(...)
    calls = calls + 1
    return real(...)
  end
  local ok, err = pcall(function()
    for _, c in ipairs({{"resnet18", 9}, {"resnet50", 33}, {"resnet18", 8, true}}) do
      lt.manual_seed(3)
      local m = lt.models[c[1]]{num_classes = 10, width = 4}:to(DEV)
      local what = c[1] .. (c[3] and " without the stem's ReLU" or "")
      local ref
      if c[3] then
        m.conv1[3] = nn.Identity()
        ref = m.conv1(input({2, 3, 16, 16}, "float32"))
      end
      calls = 0
      local y = m(input({2, 3, 16, 16}, "float32"))
      T.check(calls == c[2], string.format("%s: %d fused calls, expected %d", what, calls, c[2]))
      T.check(y:size(2) == 10, what .. ": logits")
      if ref then T.check(ref:lt(0):any():item(), what .. ": the stem's output keeps negative values") end
    end
  end)
  F.batch_norm_relu = real
  T.check(ok, tostring(err))
end)

T.test("errors name batch_norm_relu", function()
  local x = input({4, 3, 2, 2}, "float32")
  T.checkerr("bad argument #1 to 'batch_norm_relu' (expected input [N,C] or [N,C,...]",
             F.batch_norm_relu, input({3}, "float32"))
  T.checkerr("bad argument #2 to 'batch_norm_relu' (running_mean and running_var are required in evaluation mode)",
             F.batch_norm_relu, x, nil, nil, nil, nil, false)
  T.checkerr("bad argument #1 to 'batch_norm_relu' (expected more than 1 value per channel when training",
             F.batch_norm_relu, input({1, 3}, "float32"), nil, nil, nil, nil, true)
  T.checkerr("bad argument #4 to 'batch_norm_relu'", F.batch_norm_relu, x, nil, nil,
             {weight = lt.ones(2):to(DEV), training = true})
  T.checkerr("bad argument #1 to 'batch_norm_relu' (expected a floating-point input",
             F.batch_norm_relu, lt.ones({2, 3}, {dtype = "int64"}):to(DEV), nil, nil, nil, nil, true)
end)

os.exit(T.done())
