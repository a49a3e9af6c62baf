-- test_cpu_conv.lua — the CPU convolution paths, oneDNN (direct kernels, or
-- Winograd ones allowed) and im2col + OpenBLAS (lt.backends.cpu_conv,
-- LUATRAIN_CPU_CONV): each is checked
-- against the same convolution computed in float64 (forward, input, weight
-- and bias gradients) over geometries that exercise strides, padding,
-- dilation, groups, 1x1 kernels, one-channel inputs, batches of one and odd
-- sizes, in NCHW and channels-last; bfloat16 against float32; the counts
-- that say which path ran; the choice in the environment and its errors.
-- The oneDNN half is skipped, with the reason, where oneDNN is not loaded.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

lt.manual_seed(11)

local onednn, why = lt.backends.onednn()
print("oneDNN: " .. (onednn or ("not available: " .. tostring(why))))

-- {N, C, H, W, CO, KH, KW, stride, padding, dilation, groups, bias}
local GEOMS = {
  {2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, true},
  {4, 8, 8, 8, 16, 3, 3, 1, 1, 1, 1, false},
  {3, 6, 11, 7, 4, 3, 3, 2, 1, 2, 2, true},
  {2, 4, 5, 5, 6, 1, 1, 1, 0, 1, 1, false},
  {2, 16, 6, 6, 8, 3, 3, 1, 1, 1, 4, true},
  {1, 16, 4, 4, 32, 3, 3, 2, 1, 1, 1, false},
  {2, 3, 5, 5, 4, 2, 2, 2, 0, 1, 1, true},
  {2, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1, false},   -- the demo's first layer
  {2, 8, 28, 28, 16, 1, 1, 2, 0, 1, 1, false},  -- a shortcut: 1x1, stride 2
  {1, 5, 7, 10, 3, 3, 5, 3, 2, 1, 1, true},     -- rectangular kernel, stride 3
  {2, 4, 9, 9, 4, 3, 3, 1, 0, 3, 1, false},     -- dilation without padding
  {3, 6, 5, 5, 6, 3, 3, 1, 1, 1, 6, true},      -- depthwise
  {2, 7, 6, 6, 5, 3, 3, 2, 0, 1, 1, false},     -- floor division drops a row
}

local function describe(g)
  return string.format("N%d C%d %dx%d CO%d k%dx%d s%d p%d d%d g%d%s", g[1], g[2], g[3], g[4], g[5], g[6], g[7],
                       g[8], g[9], g[10], g[11], g[12] and " bias" or "")
end

-- y and the gradients of x, w, b for a fixed gy, in x's dtype and layout.
local function run(x, w, b, gy, g, format)
  local mf = format
  local xs = (mf and x:contiguous(mf) or x):detach():requires_grad_()
  local ws = (mf and w:contiguous(mf) or w):detach():requires_grad_()
  local bs = b and b:detach():requires_grad_() or nil
  local y = F.conv2d(xs, ws, bs, {stride = g[8], padding = g[9], dilation = g[10], groups = g[11]})
  y:backward(mf and gy:contiguous(mf) or gy)
  return {y = y, gx = xs.grad, gw = ws.grad, gb = bs and bs.grad or nil}
end

local function inputs(g, dtype)
  local x = lt.randn{g[1], g[2], g[3], g[4]}:to(dtype)
  local w = lt.randn{g[5], g[2] // g[11], g[6], g[7]}:to(dtype)
  local b = g[12] and lt.randn{g[5]}:to(dtype) or nil
  local y = F.conv2d(x, w, b, {stride = g[8], padding = g[9], dilation = g[10], groups = g[11]})
  return x, w, b, lt.randn(y:shape()):to(dtype)
end

-- Largest difference relative to the reference's largest magnitude.
local function rel(a, ref)
  local scale = ref:abs():max():item()
  return (a:double() - ref:double()):abs():max():item() / math.max(scale, 1e-30)
end

local function compare(r, ref, tol, what)
  for _, k in ipairs{"y", "gx", "gw", "gb"} do
    if ref[k] then
      local e = rel(r[k], ref[k])
      T.check(e <= tol, string.format("%s %s: relative error %.3g > %.3g", what, k, e, tol))
    end
  end
end

local with_path = T.with_cpu_conv

-- Which path ran: the difference of the counts around fn.
local function counted(fn)
  local i0, o0 = lt.backends.cpu_conv_counts()
  fn()
  local i1, o1 = lt.backends.cpu_conv_counts()
  return i1 - i0, o1 - o0
end

local paths = {"im2col"}
if onednn then paths[2], paths[3] = "onednn", "winograd" end
-- float32 against float64: direct kernels round like a float32 sum; Winograd
-- transforms add rounding of their own (PyTorch's CPU kernels are direct)
local TOL = {im2col = 2e-6, onednn = 2e-6, winograd = 2e-5}

for _, path in ipairs(paths) do
  T.test(path .. ": float32 against float64, NCHW and channels-last", function()
    with_path(path, function()
      for _, g in ipairs(GEOMS) do
        local x, w, b, gy = inputs(g, "float64")
        local ref
        with_path("im2col", function() ref = run(x, w, b, gy, g) end)
        for _, format in ipairs{false, "channels_last"} do
          local r = run(x:float(), w:float(), b and b:float(), gy:float(), g, format or nil)
          compare(r, ref, TOL[path], path .. " " .. describe(g) .. (format and " channels-last" or ""))
          -- (a one-channel input is NCHW too, and then stays NCHW, as in PyTorch)
          if format and g[2] > 1 then T.check(r.y:is_contiguous(format), describe(g) .. ": y stays channels-last") end
        end
      end
    end)
  end)

  T.test(path .. ": bfloat16 against float32 on the same bfloat16 values", function()
    with_path(path, function()
      for _, g in ipairs{GEOMS[1], GEOMS[2], GEOMS[8]} do
        local x, w, b, gy = inputs(g, "bfloat16")
        local ref = run(x:float(), w:float(), b and b:float(), gy:float(), g)
        local r = run(x, w, b, gy, g)
        T.check(r.y:dtype() == "bfloat16", "bfloat16 in, bfloat16 out")
        compare(r, ref, 1e-2, path .. " bfloat16 " .. describe(g))
      end
    end)
  end)
end

if onednn then
  T.test("winograd: a ResNet-sized 3x3 convolution against float64", function()
    -- large enough for oneDNN to take its Winograd kernels where it has them
    local g = {8, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1, false}
    local x, w, b, gy = inputs(g, "float64")
    local ref
    with_path("im2col", function() ref = run(x, w, b, gy, g) end)
    for _, path in ipairs{"onednn", "winograd"} do
      with_path(path, function()
        for _, format in ipairs{false, "channels_last"} do
          local r = run(x:float(), w:float(), nil, gy:float(), g, format or nil)
          compare(r, ref, TOL[path], path .. " " .. describe(g) .. (format and " channels-last" or ""))
        end
      end)
    end
  end)
end

T.test("the counts say which path ran", function()
  local x, w, b, gy = inputs(GEOMS[1], "float32")
  with_path("im2col", function()
    local i, o = counted(function() run(x, w, b, gy, GEOMS[1]) end)
    T.check(i == 2 and o == 0, "im2col: forward and backward by im2col, got " .. i .. " and " .. o)
  end)
  with_path("auto", function()
    local i, o = counted(function() run(x, w, b, gy, GEOMS[1]) end)
    if onednn then
      T.check(i == 0 and o == 2, "auto with oneDNN: both by oneDNN, got " .. i .. " and " .. o)
    else
      T.check(i == 2 and o == 0, "auto without oneDNN: both by im2col, got " .. i .. " and " .. o)
    end
    -- float64 always runs im2col
    local xd, wd, bd, gyd = inputs(GEOMS[1], "float64")
    i, o = counted(function() run(xd, wd, bd, gyd, GEOMS[1]) end)
    T.check(i == 2 and o == 0, "float64: im2col, got " .. i .. " and " .. o)
  end)
end)

T.test("lt.backends.cpu_conv: its values and errors", function()
  local old = lt.backends.cpu_conv()
  T.check(old == "auto" or old == "im2col" or old == "onednn", "a path name: " .. tostring(old))
  T.check(lt.backends.cpu_conv("im2col") == old, "returns the setting before the call")
  T.check(lt.backends.cpu_conv(old) == "im2col", "the new setting")
  T.checkerr('expected "auto", "im2col", "onednn" or "winograd", got fast', lt.backends.cpu_conv, "fast")
  T.checkerr('expected "auto", "im2col", "onednn" or "winograd", got boolean', lt.backends.cpu_conv, true)
  if not onednn then
    T.checkerr("oneDNN is not available", lt.backends.cpu_conv, "onednn")
    T.checkerr("oneDNN is not available", lt.backends.cpu_conv, "winograd")
  end
end)

T.test("LUATRAIN_CPU_CONV in the environment", function()
  local bin = T.luatrain_paths()
  local code = "local x = lt.randn{1,2,5,5}; local w = lt.randn{3,2,3,3}; lt.nn.functional.conv2d(x, w); "
               .. "print(lt.backends.cpu_conv(), lt.backends.cpu_conv_counts())"
  local function run_with(value)
    local p = io.popen("LUATRAIN_CPU_CONV=" .. value .. " " .. T.shell_quote(bin) .. " -e "
                       .. T.shell_quote(code) .. " 2>&1")
    local out = p:read("a")
    p:close()
    return out
  end
  T.check(run_with("im2col"):find("^im2col\t1\t0"), "im2col from the environment")
  local out = run_with("fastest")
  T.check(out:find("LUATRAIN_CPU_CONV='fastest': expected auto, im2col, onednn or winograd", 1, true),
          "a bad value is named: " .. out)
  if onednn then
    T.check(run_with("onednn"):find("^onednn\t0\t1"), "onednn from the environment")
    T.check(run_with("winograd"):find("^winograd\t0\t1"), "winograd from the environment")
  else
    T.check(run_with("onednn"):find("oneDNN is not available", 1, true), "onednn without oneDNN fails clearly")
  end
end)

os.exit(T.done())
