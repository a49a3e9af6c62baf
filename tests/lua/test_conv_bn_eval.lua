-- test_conv_bn_eval.lua — the inference convolution with its batch norm,
-- residual and ReLU as one op (F.conv2d_bn_eval, conv:forward_bn), against
-- the separate ops it replaces (F.conv2d, F.batch_norm with the running
-- statistics, +, F.relu): on the CPU with oneDNN the fused kernel (post-ops
-- on the convolution's output) must give the same float32 numbers, over
-- geometries with strides, padding, dilation, groups, 1x1 and rectangular
-- kernels, odd sizes and a convolution bias, in NCHW and channels-last, with
-- and without the batch norm's affine parameters, residual and ReLU; the
-- counts say the fused kernel ran. Also what runs the separate ops and must
-- equal them all the same: float64, bfloat16, the im2col path, autocast, a
-- gradient wanted (then the gradients are the separate ops' too), an
-- unbatched input, padding='same' with an even kernel; errors; and the
-- modules: conv:forward_bn and the ResNet models in evaluation, which use it.
-- PyTorch's own numbers for the op: tests/torch_diff (conv2d_bn_eval cases).
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional
local nn = lt.nn

lt.manual_seed(7)

local onednn = lt.backends.onednn()
print("oneDNN: " .. tostring(onednn or "not available: the fused kernel is not checked, the separate ops are"))

-- {N, C, H, W, CO, KH, KW, stride, padding, dilation, groups, conv bias}
local GEOMS = {
  {2, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1, false},
  {2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, true},
  {3, 6, 11, 7, 4, 3, 3, 2, 1, 2, 2, true},
  {2, 8, 28, 28, 16, 1, 1, 2, 0, 1, 1, false},  -- a projection shortcut
  {1, 16, 4, 4, 32, 3, 3, 2, 1, 1, 1, false},
  {1, 5, 7, 10, 3, 3, 5, 3, 2, 1, 1, true},     -- rectangular kernel, stride 3
  {2, 16, 6, 6, 8, 3, 3, 1, 1, 1, 4, true},
  {3, 6, 5, 5, 6, 3, 3, 1, 1, 1, 6, false},     -- depthwise
  {2, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1, false},   -- the demo's stem
  {4, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, false},   -- a ResNet18 block at width 64
}

local function describe(g, extra)
  return string.format("N%d C%d %dx%d CO%d k%dx%d s%d p%d d%d g%d%s %s", g[1], g[2], g[3], g[4], g[5], g[6], g[7],
                       g[8], g[9], g[10], g[11], g[12] and " bias" or "", extra or "")
end

-- One case's tensors (float64 on the CPU; cast per run). The batch norm's
-- statistics and affine parameters make a mix of signs before the ReLU.
local function case(g, with)
  local N, C, H, W, CO, KH, KW, s, p, d, groups = table.unpack(g, 1, 11)
  local c = {
    x = lt.randn(N, C, H, W, {dtype = "float64"}),
    w = lt.randn(CO, C // groups, KH, KW, {dtype = "float64"}):mul(1 / math.sqrt(C // groups * KH * KW)),
    b = g[12] and lt.randn(CO, {dtype = "float64"}) or nil,
    rm = lt.randn(CO, {dtype = "float64"}):mul(0.1),
    rv = lt.rand(CO, {dtype = "float64"}):add(0.5),
    opts = {stride = s, padding = p, dilation = d, groups = groups, eps = with.eps or 1e-5, relu = with.relu},
  }
  if with.affine ~= false then
    c.bw = lt.randn(CO, {dtype = "float64"}):mul(0.5):add(1)
    c.bb = lt.randn(CO, {dtype = "float64"}):mul(0.5)
  end
  if with.residual then
    local OH = (H + 2 * p - d * (KH - 1) - 1) // s + 1
    local OW = (W + 2 * p - d * (KW - 1) - 1) // s + 1
    c.r = lt.randn(N, CO, OH, OW, {dtype = "float64"})
  end
  return c
end

-- the case's tensors in dtype and format (nil: NCHW)
local function cast(c, dtype, format)
  local o = {opts = c.opts}
  for _, k in ipairs{"x", "w", "b", "rm", "rv", "bw", "bb", "r"} do
    local t = c[k]
    if t then
      t = t:to(dtype)
      if format and t:dim() == 4 then t = t:contiguous(format) end
      o[k] = t
    end
  end
  return o
end

-- the separate ops, as a ResNet block runs them one by one
local function separate(t)
  local o = t.opts
  local y = F.conv2d(t.x, t.w, t.b, {stride = o.stride, padding = o.padding, dilation = o.dilation, groups = o.groups})
  y = F.batch_norm(y, t.rm, t.rv, {weight = t.bw, bias = t.bb, training = false, eps = o.eps})
  if t.r then y = y + t.r end
  if o.relu then y = F.relu(y) end
  return y
end

local function fused(t)
  local o = t.opts
  return F.conv2d_bn_eval(t.x, t.w, t.b, t.rm, t.rv, {stride = o.stride, padding = o.padding, dilation = o.dilation,
                                                       groups = o.groups, bn_weight = t.bw, bn_bias = t.bb,
                                                       eps = o.eps, residual = t.r, relu = o.relu})
end

-- fn's result and how many convolutions ran with the batch norm fused
local function fused_count(fn)
  local _, _, before = lt.backends.cpu_conv_counts()
  local y = fn()
  local _, _, after = lt.backends.cpu_conv_counts()
  return y, after - before
end

local with_path = T.with_cpu_conv

local VARIANTS = {
  {},
  {relu = true},
  {residual = true, relu = true},
  {residual = true},
  {affine = false, relu = true, eps = 1e-3},
}

-- The fused op against the separate ops in float32: the batch norm, residual
-- and ReLU round as theirs do, but oneDNN's inference kernels (which carry
-- the post-ops) may add the convolution's products in another order than
-- its training kernels: a few units in the last place at most.
local SAME = 1e-6

local function variant_str(v)
  local s = {}
  for _, k in ipairs{"relu", "residual", "affine", "eps"} do
    if v[k] ~= nil then s[#s + 1] = k .. "=" .. tostring(v[k]) end
  end
  return "{" .. table.concat(s, " ") .. "}"
end

T.test("float32: the fused op equals the separate ops, NCHW and channels-last", function()
  lt.no_grad(function()
    for _, g in ipairs(GEOMS) do
      for _, v in ipairs(VARIANTS) do
        local c = case(g, v)
        for _, format in ipairs{false, "channels_last"} do
          local t = cast(c, "float32", format or nil)
          local what = describe(g, variant_str(v) .. (format and " channels-last" or ""))
          local ref = separate(t)
          local y, n = fused_count(function() return fused(t) end)
          T.tensor_close(y, ref, SAME, what)
          -- (grouped convolutions with a residual have only oneDNN's reference
          -- kernels, which run as the separate ops)
          if onednn and g[11] == 1 then T.check(n == 1, what .. ": the fused kernel ran, count " .. n) end
          T.check(y:is_contiguous("channels_last") == ref:is_contiguous("channels_last") and
                  y:is_contiguous() == ref:is_contiguous(), what .. ": the separate ops' memory format")
          if format and g[2] > 1 then T.check(y:is_contiguous("channels_last"), what .. ": stays channels-last") end
          T.check(not y.requires_grad, what .. ": no graph")
        end
      end
    end
  end)
end)

T.test("float32 against float64: the fused op computes batch_norm(conv) + residual, then ReLU", function()
  lt.no_grad(function()
    for _, g in ipairs{GEOMS[1], GEOMS[3], GEOMS[10]} do
      local c = case(g, {residual = true, relu = true})
      local ref = separate(cast(c, "float64"))
      local y = fused(cast(c, "float32"))
      local e = T.relerr(y:double(), ref)
      T.check(e < 2e-6, describe(g) .. string.format(": relative error %.3g against float64", e))
    end
  end)
end)

T.test("the separate ops where the fused kernel does not run: float64, bfloat16, im2col", function()
  lt.no_grad(function()
    local g = GEOMS[2]
    local c = case(g, {residual = true, relu = true})
    for _, dt in ipairs{"float64", "bfloat16"} do
      local t = cast(c, dt)
      local y, n = fused_count(function() return fused(t) end)
      T.tensor_equal(y, separate(t), dt)
      T.check(n == 0, dt .. ": no fused kernel, count " .. n)
      T.check(y:dtype() == dt, dt .. " in, " .. dt .. " out")
    end
    with_path("im2col", function()
      local t = cast(c, "float32")
      local y, n = fused_count(function() return fused(t) end)
      T.tensor_equal(y, separate(t), "im2col")
      T.check(n == 0, "im2col: no fused kernel, count " .. n)
    end)
  end)
end)

T.test("with a gradient wanted, the separate ops are recorded: same output and gradients", function()
  local c = case(GEOMS[3], {residual = true, relu = true})
  local function grads(fn)
    local t = cast(c, "float64")
    for _, k in ipairs{"x", "w", "b", "bw", "bb", "r"} do t[k] = t[k]:clone():requires_grad_(true) end
    local y = fn(t)
    y:sum():backward()
    return y, t
  end
  local _, n = fused_count(function() return grads(fused) end)
  T.check(n == 0, "no fused kernel when a gradient is wanted, count " .. n)
  local y1, t1 = grads(fused)
  local y2, t2 = grads(separate)
  T.tensor_equal(y1:detach(), y2:detach(), "output")
  for _, k in ipairs{"x", "w", "b", "bw", "bb", "r"} do T.tensor_equal(t1[k].grad, t2[k].grad, "gradient of " .. k) end
  T.check(not t1.rm.requires_grad and t1.rm.grad == nil, "running statistics take no gradient")
  -- float64 finite differences through the recorded ops
  local t = cast(case({1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, true}, {residual = true, relu = true}), "float64")
  T.check(lt.autograd.gradcheck(function(x, w, r)
    return F.conv2d_bn_eval(x, w, t.b, t.rm, t.rv, {padding = 1, bn_weight = t.bw, bn_bias = t.bb, residual = r,
                                                    relu = true})
  end, {t.x:requires_grad_(true), t.w:requires_grad_(true), t.r:requires_grad_(true)}), "gradcheck")
end)

T.test("autocast: the separate ops under autocast's rules", function()
  local t = cast(case(GEOMS[1], {residual = true, relu = true}), "float32")
  lt.no_grad(function()
    local y = lt.autocast("bf16", fused, t)
    local ref = lt.autocast("bf16", separate, t)
    T.tensor_equal(y, ref, "bfloat16 autocast")
  end)
end)

T.test("an unbatched input and padding='same'", function()
  lt.no_grad(function()
    local t = cast(case({1, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, true}, {residual = true, relu = true}), "float32")
    local ref = separate(t)[1]
    t.x, t.r = t.x[1], t.r[1]
    local y = fused(t)
    T.check(y:dim() == 3, "a [C,H,W] input gives a [C',H',W'] result")
    T.tensor_close(y, ref, SAME, "unbatched: one image")
    for _, k in ipairs{3, 2} do -- odd and even kernel extents
      local s = cast(case({2, 3, 6, 6, 4, k, k, 1, 0, 1, 1, true}, {relu = true}), "float32")
      s.opts.padding = "same"
      local ys = fused(s)
      T.tensor_equal(ys, separate(s), "padding='same', kernel " .. k)
      T.check(ys:size(3) == 6 and ys:size(4) == 6, "padding='same' keeps the size")
    end
  end)
end)

T.test("errors name conv2d_bn_eval and what is wrong", function()
  local t = cast(case(GEOMS[2], {residual = true}), "float32")
  local o = {padding = 1}
  lt.no_grad(function()
    T.checkerr("conv2d_bn_eval: weight [4,3,3,3] expects 3 input channels", F.conv2d_bn_eval, lt.randn(2, 4, 9, 9), t.w, nil, t.rm,
               t.rv, o)
    T.checkerr("conv2d_bn_eval: running_mean [5] does not match the 4 channels", F.conv2d_bn_eval, t.x, t.w, nil,
               lt.zeros(5), t.rv, o)
    T.checkerr("conv2d_bn_eval", F.conv2d_bn_eval, t.x, t.w, nil, t.rm, t.rv,
               {padding = 1, residual = lt.randn(2, 4, 5, 5)})
    T.checkerr("bad argument #4 to 'conv2d_bn_eval'", F.conv2d_bn_eval, t.x, t.w, nil, nil, t.rv, o)
    T.checkerr("unknown option 'relus'", F.conv2d_bn_eval, t.x, t.w, nil, t.rm, t.rv, {relus = true})
    T.checkerr("conv2d_bn_eval: eps must be a non-negative number", F.conv2d_bn_eval, t.x, t.w, nil, t.rm, t.rv, {eps = -1})
  end)
end)

T.test("conv:forward_bn and the ResNet models: one op in evaluation, the layers' numbers", function()
  local conv, bn = nn.Conv2d(4, 6, 3, {padding = 1, bias = false}), nn.BatchNorm2d(6)
  local x, r = lt.randn(2, 4, 7, 7), lt.randn(2, 6, 7, 7)
  bn:train()
  bn(conv(x)) -- running statistics that are not the defaults
  bn:eval()
  local ref = lt.no_grad(function() return F.relu(bn(conv(x)) + r) end)
  local y, n = fused_count(function()
    return lt.no_grad(function() return conv:forward_bn(bn, x, {residual = r, relu = true}) end)
  end)
  T.tensor_close(y, ref, SAME, "forward_bn in evaluation")
  if onednn then T.check(n == 1, "one fused convolution, count " .. n) end
  -- training mode: the layers one by one, the running statistics updated as bn(conv(x)) updates them
  bn:train()
  local before = bn.running_mean:clone()
  local _, m = fused_count(function() return conv:forward_bn(bn, x, {relu = true}) end)
  T.check(m == 0, "training: no fused kernel")
  T.check((bn.running_mean - before):abs():max():item() > 0, "training updates the running mean")
  T.checkerr("unknown option", conv.forward_bn, conv, bn, x, {relu = true, residue = r})

  local model = lt.models.resnet18{num_classes = 10, width = 8, in_channels = 1}
  model:train()
  local xs = lt.randn(8, 1, 28, 28)
  model(xs)
  model:eval()
  local out_layers = model(xs) -- grad enabled: the layers one by one
  local out, k = fused_count(function() return lt.no_grad(function() return model(xs) end) end)
  T.tensor_close(out, out_layers:detach(), SAME, "ResNet18 in evaluation")
  -- 20 convolutions: the stem, 16 in the blocks, 3 projection shortcuts
  if onednn then T.check(k == 20, "every convolution fused with its batch norm, count " .. k) end
  local cl = lt.no_grad(function() return model:to{memory_format = "channels_last"}(xs:contiguous("channels_last")) end)
  T.tensor_close(cl, out, 1e-5, "channels-last model")
end)

T.done()
