-- test_reduce_edges_cuda.lua — GPU kernels at edges a review of the CUDA
-- backend found or worried about, each compared with the CPU result: var and
-- std whose correction reaches or passes the element count (the CPU and
-- PyTorch give inf, or NaN for 0/0, never a negative variance); ties and NaNs
-- of arg-extremes that fall in different blocks of a reduction split along r;
-- byte-sized elementwise ops on views whose offsets rule out the 16-byte path.
-- test_ops_cuda.lua covers the ops at large; this file only the edges.
--
-- Without a GPU it prints "skipped: no GPU" and exits 77; LUATRAIN_TEST_DEVICE=cpu
-- runs it CPU against CPU (which checks the file itself).
local T = require "luatrain.testing"
local lt = require "luatrain"

local DEV = T.gpu_or_skip(true)
local function dev(t) return t:to(DEV) end
local same, close = T.tensor_equal, T.tensor_close

math.randomseed(3)

local function randn(n)
  local v = {}
  for i = 1, n do v[i] = math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random()) end
  return lt.tensor(v)
end

T.test("var and std with a correction of at least the count", function()
  local x = randn(12):view(4, 3)
  local ones = lt.ones(2, 3)
  for _, dt in ipairs({"float32", "float64", "bfloat16"}) do
    local xd, od = x:to(dt), ones:to(dt)
    for _, corr in ipairs({2.5, 3, 4, 7}) do
      local what = string.format("correction %g %s", corr, dt)
      local ref = xd:var(2, {correction = corr})
      T.check(corr < 3 or ref:double():eq(math.huge):all():item(), "the CPU gives inf for " .. what)
      close(dev(xd):var(2, {correction = corr}), ref, 1e-2, "var " .. what)
      close(dev(xd):std(2, {correction = corr}), xd:std(2, {correction = corr}), 1e-2, "std " .. what)
      close(dev(od):var(2, {correction = corr}), od:var(2, {correction = corr}), 0, "var of constant rows " .. what)
      close(dev(xd):view(-1):var(1, {correction = corr + 9}), xd:view(-1):var(1, {correction = corr + 9}), 1e-2,
            "var of all " .. what)
    end
  end
  -- a long row (r split across blocks, partial results merged)
  local long = randn(1000000)
  close(dev(long):var(1, {correction = 1000000}), long:var(1, {correction = 1000000}), 0, "var long, correction n")
  close(dev(long):var(1, {correction = 1000003}), long:var(1, {correction = 1000003}), 0, "var long, correction > n")
end)

T.test("arg-extremes across the blocks of a split reduction", function()
  local n = 3000000
  for _, dt in ipairs({"float32", "int64"}) do
    local x = lt.zeros(n, {dtype = dt})
    x[7] = 5
    x[2500000] = 5 -- the same maximum, much later: the first index wins
    x[11] = -4
    x[2999999] = -4
    local g = dev(x)
    same(g:argmax(), x:argmax(), "argmax tie across splits " .. dt)
    same(g:argmin(), x:argmin(), "argmin tie across splits " .. dt)
    local gv, gi = g:max(1)
    local cv, ci = x:max(1)
    same(gv, cv, "max value " .. dt)
    same(gi, ci, "max index " .. dt)
    T.check(gi:item() == 7, "argmax is the first of the tied maxima (" .. dt .. ")")
  end
  local x = lt.zeros(n)
  x[2900000] = 0 / 0
  x[13] = 0 / 0
  x[14] = 1
  same(dev(x):argmax(), x:argmax(), "the first of two NaNs in different splits")
  same(dev(x):max(), x:max(), "max with NaNs in different splits")
  -- several columns, r split too (inner > 1)
  local t = lt.zeros(400000, 3)
  t[1][2] = 2
  t[399999][2] = 2
  t[5][3] = 0 / 0
  same(dev(t):argmax(1), t:argmax(1), "argmax over 400000 rows, 3 columns")
end)

T.test("byte-sized elementwise ops on misaligned views", function()
  local v = {}
  for i = 1, 1003 do v[i] = math.random(0, 255) end
  local a = lt.tensor(v, {dtype = "uint8"})
  local ga = dev(a)
  for off = 1, 3 do
    local m = 1003 - off - 2
    local x, y = a:narrow(1, off, m), a:narrow(1, off + 1, m)
    local gx, gy = ga:narrow(1, off, m), ga:narrow(1, off + 1, m)
    same(gx + gy, x + y, "uint8 add (wraps) offset " .. off)
    same(gx:gt(gy), x:gt(y), "uint8 comparison offset " .. off)
    same(gx:gt(100):eq(gy:gt(50)), x:gt(100):eq(y:gt(50)), "bool eq offset " .. off)
    same(gx:float(), x:float(), "uint8 -> float32 offset " .. off)
    local c, gc = a:clone(), ga:clone()
    c:narrow(1, off + 2, m):add_(y)
    gc:narrow(1, off + 2, m):add_(gy)
    same(gc, c, "in-place uint8 add into a misaligned view offset " .. off)
  end
end)

os.exit(T.done())
