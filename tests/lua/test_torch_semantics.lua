-- test_torch_semantics.lua — places where luatrain once disagreed with PyTorch,
-- in four groups: (1) std/norm gradients where the result is 0, (2) var/std's
-- positional arguments, (3) type promotion with 0-d tensors and Lua numbers,
-- (4) functions PyTorch has that luatrain lacked or refused (logsumexp, norm
-- with negative p, conv2d 'same' with even kernels, cross-entropy with class
-- probabilities, unbatched conv/pooling inputs, mixed-dtype products, losses
-- that broadcast). Reference numbers marked "PyTorch 1.13" were printed by
-- PyTorch 1.13 for the same inputs; the others are worked out in the test.
-- It is long because each group keeps all its cases together.
local T = require "luatrain.testing"
local F = lt.nn.functional
local D = {dtype = "float64"}
local inf, nan = math.huge, 0 / 0

local function f64(v) return lt.tensor(v, D) end
local function leaf(v) return lt.tensor(v, {dtype = "float64", requires_grad = true}) end

-- dtype and values at once
local function is(t, dtype, want, what, tol)
  T.check(t:dtype() == dtype, what .. ": dtype " .. t:dtype() .. ", expected " .. dtype)
  if want ~= nil then T.tensor_close(t:double(), f64(want), tol or 1e-6, what) end
end

local function gradcheck(fn, inputs, what)
  T.check(lt.autograd.gradcheck(fn, inputs), "gradcheck: " .. what)
end

-- the gradient of fn(x):sum() at x (a fresh float64 leaf)
local function grad_at(fn, v)
  local x = leaf(v)
  fn(x):sum():backward()
  return x.grad
end

-- ============================== group 1: std/norm backward at 0 ==============================

T.test("group 1: std backward is 0 where the std is 0", function()
  -- PyTorch 1.13: x.std(1).sum().backward() with x = [[1,1,1],[1,2,4]]
  local g = grad_at(function(x) return x:std(2) end, {{1, 1, 1}, {1, 2, 4}})
  T.tensor_equal(g[1], f64{0, 0, 0}, "constant row: the subgradient 0, not NaN")
  T.tensor_close(g[2], f64{-0.4364357805, -0.1091089451, 0.5455447256}, 1e-9, "other row as PyTorch 1.13")
  g = grad_at(function(x) return x:std(2, false) end, {{1, 1, 1}, {1, 2, 4}})
  T.tensor_equal(g[1], f64{0, 0, 0}, "biased, constant row")
  T.tensor_close(g[2], f64{-0.3563483225, -0.0890870806, 0.4454354032}, 1e-9, "biased, other row as PyTorch 1.13")
  -- one element with correction 0: std 0, gradient 0
  local x = leaf{5}
  local s = x:std({correction = 0})
  T.check(s:item() == 0, "std of one element, correction 0")
  s:backward()
  T.tensor_equal(x.grad, f64{0}, "its gradient is 0")
  -- one element with correction 1: NaN and a NaN gradient, as PyTorch
  g = grad_at(function(t) return t:std(1) end, {5})
  T.check(g[1]:item() ~= g[1]:item(), "std of one element, correction 1: NaN gradient")
  -- float32 too
  local x32 = lt.tensor({{2.0, 2.0, 2.0}}, {requires_grad = true})
  x32:std(2):sum():backward()
  T.tensor_equal(x32.grad, lt.zeros(1, 3), "float32 constant row")
  -- away from 0: finite differences, over dims, keepdim and corrections
  local r = lt.randn({3, 4, 5}, D)
  r.requires_grad = true
  gradcheck(function(t) return t:std() end, {r}, "std")
  gradcheck(function(t) return t:std({1, 3}, true, true) end, {r}, "std over {1,3}, keepdim")
  gradcheck(function(t) return t:std(2, {correction = 0}) end, {r}, "std correction 0")
  gradcheck(function(t) return t:std(3, {correction = 2}) end, {r}, "std correction 2")
end)

T.test("group 1: norm backward at 0 (no NaN)", function()
  -- PyTorch 1.13: x.norm(p).backward() for x = [0, -3, 4]
  local cases = {
    {2, {0, -0.6, 0.8}},
    {1, {0, -1, 1}},
    {0.5, {0, -2.1547005384, 1.8660254038}},
    {3, {0, -0.4448513517, 0.7908468475}},
    {1.5, {0, -0.7329564758, 0.8463452372}},
    {0, {0, 0, 0}},
    {-1, {0, 0, 0}},
    {-2, {0, 0, 0}},
    {-0.5, {0, 0, 0}},
    {inf, {0, 0, 1}},
    {-inf, {0, 0, 0}},
  }
  for _, c in ipairs(cases) do
    local g = grad_at(function(x) return x:norm(c[1]) end, {0, -3, 4})
    T.tensor_close(g, f64(c[2]), 1e-9, "norm " .. c[1] .. " gradient with a zero element")
    g = grad_at(function(x) return x:norm(c[1]) end, {0, 0, 0})
    T.tensor_equal(g:abs(), f64{0, 0, 0}, "norm " .. c[1] .. " gradient of zeros")
  end
  -- without zeros, p < 1 (PyTorch 1.13)
  local g = grad_at(function(x) return x:norm(0.5) end, {1, -3, 4})
  T.tensor_close(g, f64{4.7320508076, -2.7320508076, 2.3660254038}, 1e-9, "norm 0.5")
  g = grad_at(function(x) return x:norm(-inf) end, {1, -3, 4})
  T.tensor_equal(g, f64{1, 0, 0}, "norm -inf goes to the smallest |x|")
end)

-- ============================== group 2: var/std arguments ==============================

T.test("group 2: var/std positional unbiased and keepdim", function()
  local x = lt.tensor{{1.0, 2.0, 3.0, 4.0}, {2.0, 4.0, 6.0, 9.0}}
  -- the biased variances by hand: rows 1.25 and 6.6875, all 46.875 / 8
  is(x:var(2, false), "float32", {1.25, 6.6875}, "var(dim, unbiased=false)")
  is(x:var(2, true, true), "float32", {{5 / 3}, {107 / 12}}, "var(dim, unbiased, keepdim)")
  is(x:var(false), "float32", 46.875 / 8, "var(unbiased=false)")
  is(x:var(true), "float32", 46.875 / 7, "var(unbiased=true)")
  is(x:std(false), "float32", math.sqrt(46.875 / 8), "std(unbiased=false)")
  is(x:std(2, false, true), "float32", {{math.sqrt(1.25)}, {math.sqrt(6.6875)}}, "std(dim, unbiased, keepdim)")
  is(x:var({1, 2}, false), "float32", 46.875 / 8, "var({dims}, unbiased)")
  is(x:var(nil, false), "float32", 46.875 / 8, "var(nil, unbiased)")
  is(x:var(-1, false), "float32", {1.25, 6.6875}, "negative dim")
  is(lt.var(x, 2, false), "float32", {1.25, 6.6875}, "lt.var")
  is(lt.std(x, false), "float32", math.sqrt(46.875 / 8), "lt.std")
  -- options, alone or after positional arguments
  is(x:var{dim = 2, unbiased = false, keepdim = true}, "float32", {{1.25}, {6.6875}}, "{dim=, unbiased=, keepdim=}")
  is(x:var{dim = {1, 2}, correction = 0}, "float32", 46.875 / 8, "{dim={dims}, correction=}")
  is(x:var(2, {correction = 0}), "float32", {1.25, 6.6875}, "var(dim, {correction=})")
  is(x:var(2, false, {keepdim = true}), "float32", {{1.25}, {6.6875}}, "var(dim, unbiased, {keepdim=})")
  is(x:var(2, {correction = 2}), "float32", {5 / 2, 26.75 / 2}, "correction 2")
  -- refused
  T.checkerr("bad argument #3 to 'var' (give unbiased or correction, not both)", x.var, x, 2,
             {unbiased = true, correction = 0})
  T.checkerr("bad argument #4 to 'std' (give unbiased or correction, not both)", x.std, x, 2, true, {correction = 0})
  T.checkerr("bad argument #3 to 'var' (dim is given twice", x.var, x, 2, {dim = 1})
  T.checkerr("bad argument #4 to 'var' (unbiased is given twice", x.var, x, 2, true, {unbiased = false})
  T.checkerr("bad argument #2 to 'var' (expected a dimension, a table of dimensions, unbiased (a boolean) or an "
             .. "options table, got string)", x.var, x, "a")
  T.checkerr("bad argument #3 to 'var' (expected unbiased (a boolean) or an options table, got string)", x.var, x, 2, "a")
  T.checkerr("bad argument #5 to 'var' (expected an options table, got number)", x.var, x, 2, true, true, 1)
  T.checkerr("bad argument #3 to 'std' (expected an options table, got boolean)", x.std, x, true, true)
  T.checkerr("bad argument #4 to 'var' (expected an options table, got boolean)", x.var, x, 2, nil, true)
  T.checkerr("bad argument #2 to 'var' (correction must be a number, got string)", x.var, x, {correction = "1"})
  T.checkerr("bad argument #2 to 'var' (dimension 3 out of range", x.var, x, 3, false)
  -- sum and the other reductions keep (dim, keepdim): a boolean after dim is keepdim there
  T.tensor_equal(x:sum(2, true), lt.tensor{{10.0}, {21.0}}, "sum(dim, keepdim) unchanged")
end)

T.test("group 2: var_mean and std_mean", function()
  local x = lt.tensor{{1.0, 2.0, 3.0, 4.0}, {2.0, 4.0, 6.0, 9.0}}
  local v, m = lt.var_mean(x, 2)
  is(v, "float32", {5 / 3, 107 / 12}, "var_mean: var")
  is(m, "float32", {2.5, 5.25}, "var_mean: mean")
  v, m = lt.var_mean(x, 2, false)
  is(v, "float32", {1.25, 6.6875}, "var_mean(dim, unbiased)")
  local s
  s, m = lt.std_mean(x, false)
  is(s, "float32", math.sqrt(46.875 / 8), "std_mean(unbiased): std")
  is(m, "float32", 3.875, "std_mean(unbiased): mean")
  s, m = lt.std_mean(x, 2, true, true)
  is(s, "float32", {{math.sqrt(5 / 3)}, {math.sqrt(107 / 12)}}, "std_mean(dim, unbiased, keepdim): std")
  is(m, "float32", {{2.5}, {5.25}}, "std_mean keepdim: mean")
  s, m = lt.std_mean(x, {dim = 1, correction = 0})
  is(s, "float32", {0.5, 1.0, 1.5, 2.5}, "std_mean with options")
  is(m, "float32", {1.5, 3.0, 4.5, 6.5}, "std_mean with options: mean")
  -- functions only, as torch.var_mean
  T.check(x.var_mean == nil and x.std_mean == nil, "no var_mean/std_mean methods (PyTorch has none)")
  T.checkerr("bad argument #1 to 'var_mean' (var needs a floating-point tensor, got int64", lt.var_mean, lt.tensor{1, 2})
  -- both results are differentiable
  local r = lt.randn({3, 4}, D)
  r.requires_grad = true
  gradcheck(function(t) local a, b = lt.var_mean(t, 1) return a * 2 + b end, {r}, "var_mean")
  gradcheck(function(t) local a, b = lt.std_mean(t, 2, false, true) return a - b * 3 end, {r}, "std_mean")
end)

-- ============================== group 3: type promotion ==============================

T.test("group 3: 0-d tensors promote only by category", function()
  local f32, i64 = lt.tensor{1.0, 2.0}, lt.tensor{1, 2}
  local s64 = lt.tensor(2.0, D)
  is(f32 * s64, "float32", {2, 4}, "float32[n] * float64[]")
  is(s64 * f32, "float32", {2, 4}, "float64[] * float32[n]")
  is(f32 - s64, "float32", {-1, 0}, "sub")
  is(f32 / s64, "float32", {0.5, 1}, "div")
  is(f32 ^ s64, "float32", {1, 4}, "pow")
  is(lt.maximum(f32, s64), "float32", {2, 2}, "maximum")
  is(lt.minimum(f32, s64), "float32", {1, 2}, "minimum")
  is(lt.atan2(f32, s64), "float32", {math.atan(1, 2), math.atan(2, 2)}, "atan2")
  is(lt.fmod(f32, s64), "float32", {1, 0}, "fmod")
  is(lt.where(lt.tensor{true, false}, f32, s64), "float32", {1, 2}, "where(c, float32[n], float64[])")
  is(lt.where(lt.tensor{true, false}, lt.tensor(1.0), s64), "float64", {1, 2}, "where of two 0-d: usual promotion")
  is(f32:half() + s64, "float16", {3, 4}, "float16[n] + float64[]")
  is(lt.tensor(1.0):half() + s64, "float64", 3, "float16[] + float64[]")
  -- a higher category at a lower level: its dtype promoted with the higher level's
  -- (PyTorch 1.13 gives float64 for int64[n] * float64[]; float32 comes from a float number)
  is(i64 * s64, "float64", {2, 4}, "int64[n] * float64[]")
  is(i64 * lt.tensor(2.5), "float32", {2.5, 5}, "int64[n] * float32[]")
  is(i64:int() / lt.tensor(5, D), "float64", {0.2, 0.4}, "int32[n] / float64[]")
  is(lt.tensor({true, false}) * s64, "float64", {2, 0}, "bool[n] * float64[]")
  is(lt.tensor({true, false}) + lt.tensor(2), "int64", {3, 2}, "bool[n] + int64[]")
  is(lt.tensor({1, 2}, {dtype = "uint8"}) + lt.tensor(5), "uint8", {6, 7}, "uint8[n] + int64[]")
  is(lt.tensor({1, 2}, {dtype = "uint8"}) - lt.tensor(5), "uint8", {252, 253}, "uint8[n] - int64[] wraps")
  is(i64:int() * lt.tensor(3), "int32", {3, 6}, "int32[n] * int64[]")
  is(i64:int() ^ lt.tensor(2), "int32", {1, 4}, "int32[n] ^ int64[]")
  is(lt.maximum(i64:int(), lt.tensor(5)), "int32", {5, 5}, "maximum int32[n], int64[]")
  is(lt.tensor(1, {dtype = "int32"}) + s64, "float64", 3, "int32[] + float64[]: one level")
  T.check(i64:eq(s64):dtype() == "bool" and f32:lt(s64):dtype() == "bool", "comparisons give bool")
  T.tensor_equal(f32:lt(s64), lt.tensor{true, false}, "comparison values")
  -- 1-element tensors with a dim count as tensors with dims
  is(f32 * lt.tensor({2.0}, D), "float64", {2, 4}, "float32[n] * float64[1]")
end)

T.test("group 3: Lua numbers promote as PyTorch scalars", function()
  local i64, i32 = lt.tensor{1, 2}, lt.tensor({1, 2}, {dtype = "int32"})
  is(i32 + 5, "int32", {6, 7}, "int32[n] + 5")
  is(5 - i32, "int32", {4, 3}, "5 - int32[n]")
  is(i64 * 2.5, "float32", {2.5, 5}, "int[n] * 2.5")
  is(i64 + 2.0, "float32", {3, 4}, "int[n] + 2.0 (a Lua float)")
  is(lt.tensor({1, 2}, {dtype = "uint8"}) + 300, "uint8", {45, 46}, "uint8[n] + 300 wraps")
  is(lt.tensor{true, false} + 1, "int64", {2, 1}, "bool[n] + 1")
  is(lt.tensor{true, false} + true, "bool", {1, 1}, "bool[n] + true")
  is(i32 + true, "int32", {2, 3}, "int32[n] + true")
  is(lt.tensor{1.0, 2.0} + true, "float32", {2, 3}, "float32[n] + true")
  is(lt.tensor(1, {dtype = "int32"}) + 2.5, "float32", 3.5, "int32[] + 2.5")
  is(lt.tensor(1.0):half() + 2.5, "float16", 3.5, "float16[] + 2.5")
  is(i64:add(2, 3), "int64", {7, 8}, "add(number, alpha) of integers stays int64")
  is(lt.tensor{1.0, 2.0}:add(lt.tensor(2.0, D), 3), "float32", {7, 8}, "add(0-d, alpha)")
  is(lt.where(lt.tensor{true, false}, 1, 0), "int64", {1, 0}, "where(c, 1, 0)")
  is(lt.where(lt.tensor{true, false}, 1.0, 0), "float32", {1, 0}, "where(c, 1.0, 0)")
  is(lt.where(lt.tensor{true, false}, true, 2), "int64", {1, 2}, "where(c, true, 2)")
  is(lt.where(lt.tensor{true, false}, i32, 2.5), "float32", {1, 2.5}, "where(c, int32[n], 2.5)")
  is(lt.where(lt.tensor{true, false}, i32, 2), "int32", {1, 2}, "where(c, int32[n], 2)")
  -- the default floating dtype decides what an integral operand becomes
  lt.set_default_dtype("float64")
  local ok, err = pcall(function()
    is(i64 * 2.5, "float64", {2.5, 5}, "int[n] * 2.5 with default float64")
    is(i64 / 2, "float64", {0.5, 1}, "int / int with default float64")
    is(i64:sqrt(), "float64", {1, math.sqrt(2)}, "sqrt(int) with default float64", 1e-12)
    is(lt.tensor{1.0, 2.0}:float() * 2.5, "float32", {2.5, 5}, "float32 stays float32")
  end)
  lt.set_default_dtype("float32")
  T.check(ok, tostring(err))
end)

T.test("group 3: in-place results must cast to the tensor's dtype", function()
  T.checkerr("in-place result of type float32 can't be stored in an int64 tensor", function() lt.tensor{1, 2}:add_(1.5) end)
  T.checkerr("in-place result of type float32 can't be stored in an int64 tensor",
             function() lt.tensor{1, 2}:add_(lt.tensor(1.5)) end)
  T.checkerr("in-place result of type int64 can't be stored in a bool tensor", function() lt.tensor{true}:add_(lt.tensor(1)) end)
  local i32 = lt.tensor({1, 2}, {dtype = "int32"})
  i32:mul_(lt.tensor(3))
  is(i32, "int32", {3, 6}, "int32[n] *= int64[]")
  local f = lt.tensor{1.0, 2.0}
  f:add_(lt.tensor({1.5, 1.5}, D))
  is(f, "float32", {2.5, 3.5}, "float32[n] += float64[n]")
  -- with autograd: a float32 non-leaf times a float64 tensor, in place (PyTorch 1.13: grad [3, 4])
  local w = lt.tensor({1.0, 2.0}, {requires_grad = true})
  local x = w * 1
  x:mul_(lt.tensor({3.0, 4.0}, D))
  is(x, "float32", {3, 8}, "in-place float32 *= float64 with history")
  x:sum():backward()
  is(w.grad, "float32", {3, 4}, "its gradient")
  -- gradients reach a 0-d float64 operand in its own dtype
  local a, s = lt.tensor({1.0, 2.0}, {requires_grad = true}), lt.tensor(3.0, {dtype = "float64", requires_grad = true})
  local y = a * s
  is(y, "float32", {3, 6}, "float32[n] * float64[] with grad")
  y:sum():backward()
  is(a.grad, "float32", {3, 3}, "gradient of the float32 operand")
  is(s.grad, "float64", 3, "gradient of the 0-d float64 operand")
end)

-- ============================== group 4: missing or refused functions ==============================

T.test("group 4: logsumexp", function()
  local t = lt.tensor{{-inf, -inf}, {inf, 1.0}, {inf, inf}, {-inf, inf}, {1.0, 2.0}, {nan, 1.0}}
  local r = lt.logsumexp(t, 2)
  local want = {-inf, inf, inf, inf, math.log(math.exp(1) + math.exp(2)), nan}
  is(r, "float32", want, "rows of -inf, inf, NaN (PyTorch 1.13)")
  is(t:logsumexp(-1), "float32", want, "method, negative dim")
  is(lt.tensor{1, 2, 3}:logsumexp(1), "float32", math.log(math.exp(1) + math.exp(2) + math.exp(3)), "int64 input")
  is(lt.tensor{true, false}:logsumexp(1), "float32", math.log(math.exp(1) + 1), "bool input")
  local m = lt.tensor{{1.0, 2.0}, {3.0, 4.0}}
  local all = math.log(math.exp(1) + math.exp(2) + math.exp(3) + math.exp(4))
  is(m:logsumexp({1, 2}), "float32", all, "dims table")
  is(m:logsumexp(2, true), "float32", {{math.log(math.exp(1) + math.exp(2))}, {math.log(math.exp(3) + math.exp(4))}},
     "keepdim")
  is(m:logsumexp{dim = 1, keepdim = true}, "float32",
     {{math.log(math.exp(1) + math.exp(3)), math.log(math.exp(2) + math.exp(4))}}, "options")
  is(m:double():logsumexp(1), "float64", {math.log(math.exp(1) + math.exp(3)), math.log(math.exp(2) + math.exp(4))},
     "float64", 1e-15)
  is(lt.zeros(2, 0):logsumexp(2), "float32", {-inf, -inf}, "empty slices give -inf")
  T.check(lt.zeros(0, 2):logsumexp(2):numel() == 0, "no slices")
  is(lt.tensor(3.0):logsumexp(1), "float32", 3, "0-d")
  is(lt.tensor{1000.0, 1000.0}:logsumexp(1), "float32", 1000 + math.log(2), "no overflow")
  is(lt.tensor{-1000.0, -1000.0}:logsumexp(1), "float32", -1000 + math.log(2), "no underflow")
  T.checkerr("bad argument #2 to 'logsumexp' (dim is required", m.logsumexp, m)
  T.checkerr("bad argument #2 to 'logsumexp' (dimension 3 out of range", lt.logsumexp, m, 3)
  T.checkerr("bad argument #3 to 'logsumexp' (unknown option 'unbiased'", lt.logsumexp, m, 1, {unbiased = true})
  -- gradient: exp(x - result), NaN for a row of -inf only (PyTorch 1.13)
  local x = leaf{{-inf, -inf}, {inf, 1}, {1, 2}, {-inf, 3}}
  x:logsumexp(2):sum():backward()
  local g = x.grad
  T.check(g[1][1]:item() ~= g[1][1]:item() and g[2][1]:item() ~= g[2][1]:item(), "NaN where PyTorch has NaN")
  T.tensor_close(g[3], f64{1 / (1 + math.exp(1)), 1 / (1 + math.exp(-1))}, 1e-12, "softmax of a finite row")
  T.tensor_equal(g[4], f64{0, 1}, "a -inf element gets 0")
  T.check(g[2][2]:item() == 0, "next to +inf: 0")
  local xr = lt.randn({3, 4, 2}, D)
  xr.requires_grad = true
  gradcheck(function(a) return a:logsumexp(2) end, {xr}, "logsumexp dim 2")
  gradcheck(function(a) return lt.logsumexp(a, {1, 3}, true) end, {xr}, "logsumexp {1,3} keepdim")
end)

T.test("group 4: norm with p = -inf, p < 0 and p = 0", function()
  local x = lt.tensor{1.0, -3.0, 4.0}
  is(x:norm(-inf), "float32", 1, "p = -inf: the smallest |x|")
  is(x:norm(-1), "float32", 1 / (1 + 1 / 3 + 1 / 4), "p = -1")
  is(x:norm(-2), "float32", (1 + 1 / 9 + 1 / 16) ^ -0.5, "p = -2")
  is(x:norm(0), "float32", 3, "p = 0 counts non-zeros")
  is(lt.tensor{0.0, 2.0}:norm(-1), "float32", 0, "a zero makes a negative-p norm 0")
  is(lt.tensor{{1.0, -2.0}, {4.0, 0.5}}:norm(-inf, 2), "float32", {1, 0.5}, "p = -inf over a dim")
  is(lt.tensor{{1.0, 2.0}, {4.0, 4.0}}:norm(-1, 1, true), "float32", {{0.8, 4 / 3}}, "p = -1, dim, keepdim")
  -- PyTorch 1.13: normnz -1 and -2 gradients of [1, -3, 4]
  local g = grad_at(function(t) return t:norm(-1) end, {1, -3, 4})
  T.tensor_close(g, f64{0.3988919668, -0.0443213296, 0.0249307479}, 1e-9, "p = -1 gradient")
  g = grad_at(function(t) return t:norm(-2) end, {1, -3, 4})
  T.tensor_close(g, f64{0.7865270824, -0.0291306327, 0.0122894857}, 1e-9, "p = -2 gradient")
  g = grad_at(function(t) return t:norm(0) end, {1, -3, 4})
  T.tensor_equal(g, f64{0, 0, 0}, "p = 0 has a zero gradient")
  local xr = f64{{0.5, -1.5, 2.0}, {-0.7, 1.2, 3.1}}
  xr.requires_grad = true
  gradcheck(function(a) return a:norm(-1) end, {xr}, "norm -1")
  gradcheck(function(a) return a:norm(-2.5, 2) end, {xr}, "norm -2.5 over dim 2")
  gradcheck(function(a) return a:norm(0.5, 1, true) end, {xr}, "norm 0.5, keepdim")
  gradcheck(function(a) return a:norm(-inf, 2) end, {xr}, "norm -inf over dim 2")
end)

T.test("group 4: conv2d padding='same' with even kernels", function()
  local x = lt.arange(1, 26):double():view(1, 1, 5, 5)
  local w = lt.arange(1, 5):double():view(1, 1, 2, 2)
  -- PyTorch 1.13: the extra padding row/column goes at the bottom/right
  T.tensor_equal(F.conv2d(x, w, nil, {padding = "same"}), f64{{{{51, 61, 71, 81, 35}, {101, 111, 121, 131, 55},
    {151, 161, 171, 181, 75}, {201, 211, 221, 231, 95}, {65, 68, 71, 74, 25}}}}, "2x2 kernel")
  local w23 = lt.arange(1, 7):double():view(1, 1, 2, 3)
  T.tensor_equal(F.conv2d(x, w23, nil, {padding = "same", dilation = {1, 2}}), f64{{{{89, 105, 146, 83, 95},
    {169, 185, 251, 143, 155}, {249, 265, 356, 203, 215}, {329, 345, 461, 263, 275}, {111, 116, 142, 70, 73}}}},
    "2x3 kernel, dilation {1, 2}")
  T.tensor_equal(F.conv2d(x, w, nil, {padding = "same", dilation = 2}), f64{{{{28, 50, 57, 64, 27},
    {52, 92, 102, 112, 46}, {82, 142, 152, 162, 66}, {112, 192, 202, 212, 86}, {34, 52, 55, 58, 19}}}},
    "2x2 kernel, dilation 2 (odd extent: symmetric)")
  -- float32, a bias, several channels: the same as padding by hand
  local xs, ws, bs = lt.randn(2, 3, 6, 7), lt.randn(4, 3, 4, 2), lt.randn(4)
  local manual = F.conv2d(lt.cat({lt.cat({xs, lt.zeros(2, 3, 1, 7)}, 3), lt.zeros(2, 3, 7, 1)}, 4), ws, bs,
                          {padding = {1, 0}})
  T.tensor_close(F.conv2d(xs, ws, bs, {padding = "same"}), manual, 1e-6, "4x2 kernel = explicit bottom/right padding")
  local m = lt.nn.Conv2d(3, 4, 2, {padding = "same"})
  T.check(table.concat(m(xs):shape(), ",") == "2,4,6,7", "nn.Conv2d, even kernel, 'same' keeps the size")
  local xg, wg = lt.randn({2, 2, 5, 4}, D), lt.randn({3, 2, 2, 3}, D)
  xg.requires_grad, wg.requires_grad = true, true
  gradcheck(function(a, b) return F.conv2d(a, b, nil, {padding = "same", dilation = {2, 1}}) end, {xg, wg},
            "conv2d same, even kernel")
  T.checkerr("padding='same' is not supported for strided convolutions", F.conv2d, x, w, nil,
             {padding = "same", stride = 2})
end)

T.test("group 4: cross_entropy with class probabilities", function()
  local x = f64{{1, 2, 3}, {0, -1, 2}}
  local p = f64{{0.2, 0.3, 0.5}, {1, 0, 0}}
  local w = f64{1, 2, 3}
  -- PyTorch 1.13
  T.tensor_close(F.cross_entropy(x, p), f64(1.638725992000333), 1e-13, "mean")
  T.tensor_close(F.cross_entropy(x, p, {reduction = "none"}), f64{1.107605964444381, 2.169846019556286}, 1e-13, "none")
  T.tensor_close(F.cross_entropy(x, p, {weight = w, label_smoothing = 0.1}), f64(2.106048080400329), 1e-13,
                 "weight, label smoothing, mean (divides by N, not by the weights)")
  T.tensor_close(F.cross_entropy(x, p, {weight = w, label_smoothing = 0.1, reduction = "sum"}), f64(4.212096160800658),
                 1e-13, "sum")
  T.tensor_close(F.cross_entropy(x, p, {weight = w, label_smoothing = 0.1, reduction = "none"}),
                 f64{1.958598872622077, 2.253497288178581}, 1e-13, "none with weight and smoothing")
  T.tensor_close(F.cross_entropy(x[1], p[1]), f64(1.107605964444381), 1e-13, "unbatched [C]")
  -- spatial [N,C,H,W] (PyTorch 1.13)
  local xs = lt.arange(0, 12):double():view(1, 3, 2, 2):sin()
  local ps = lt.arange(0, 12):double():view(1, 3, 2, 2):cos():abs()
  T.tensor_close(F.cross_entropy(xs, ps, {weight = w, label_smoothing = 0.2}), f64(4.359974804955259), 1e-13, "spatial")
  T.tensor_close(F.cross_entropy(xs, ps, {reduction = "none"}),
                 f64{{{2.914859476560794, 1.937277276356540}, {3.315076960916447, 1.533686675054274}}}, 1e-13,
                 "spatial, none")
  xs.requires_grad, ps.requires_grad = true, true
  F.cross_entropy(xs, ps, {weight = w, label_smoothing = 0.2}):backward()
  T.tensor_close(xs.grad:view(-1), f64{-0.060665555617989, 0.353315324221561, 0.596110252088970, -0.013561798992321,
    -0.221600647418186, -0.067809548856533, -0.205388835250768, 0.001971901366264, 0.282266203036174,
    -0.285505775365029, -0.390721416838202, 0.011589897626056}, 1e-12, "input gradient (PyTorch 1.13)")
  T.tensor_close(ps.grad:view(-1), f64{0.285039163484561, 0.119345317028677, 0.086149391646956, 0.219359037147118,
    0.872799325092294, 0.958848737845769, 0.647783953303754, 0.232371438030667, 0.261502542479654,
    0.615647450825716, 1.130439297569898, 1.342743240207696}, 1e-12, "target gradient (PyTorch 1.13)")
  local xg, pg = lt.randn({2, 4, 3}, D), lt.rand({2, 4, 3}, D)
  xg.requires_grad, pg.requires_grad = true, true
  local wr = lt.rand(4, D)
  gradcheck(function(a, b) return F.cross_entropy(a, b, {weight = wr, label_smoothing = 0.3}) end, {xg, pg},
            "cross_entropy with probabilities")
  gradcheck(function(a, b) return F.cross_entropy(a, b, {reduction = "none"}) end, {xg, pg}, "... reduction none")
  -- dtypes promote as the product log_softmax(input) * target does
  is(F.cross_entropy(x:float(), p), "float64", 1.638725992000333, "float32 input, float64 target")
  is(F.cross_entropy(x:float(), p:float()), "float32", 1.638725992000333, "float32")
  T.check(F.cross_entropy(lt.zeros(0, 3), lt.zeros(0, 3)):item() ~= F.cross_entropy(lt.zeros(0, 3), lt.zeros(0, 3)):item(),
          "empty batch, mean: NaN")
  -- the module
  local crit = lt.nn.CrossEntropyLoss({weight = w, label_smoothing = 0.1})
  T.tensor_close(crit(x, p), f64(2.106048080400329), 1e-13, "nn.CrossEntropyLoss")
  -- refused as PyTorch refuses
  T.checkerr("bad argument #3 to 'cross_entropy' (ignore_index is not supported for a target of class probabilities)",
             F.cross_entropy, x, p, {ignore_index = 2})
  T.tensor_close(F.cross_entropy(x, p, {ignore_index = -5}), f64(1.638725992000333), 1e-13, "a negative ignore_index")
  T.checkerr("bad argument #2 to 'cross_entropy' (expected a floating-point target of class probabilities, got int64)",
             F.cross_entropy, x, lt.ones({2, 3}, {dtype = "int64"}))
  T.checkerr("bad argument #3 to 'cross_entropy' (weight [2] does not match the 3 classes of input [2,3]",
             F.cross_entropy, x, p, {weight = f64{1, 2}})
  T.checkerr("bad argument #3 to 'cross_entropy' (label_smoothing must be in [0, 1], got 2)", F.cross_entropy, x, p,
             {label_smoothing = 2})
end)

T.test("group 4: unbatched [C,H,W] inputs to conv2d and the 2-D poolings", function()
  local x = lt.randn({3, 7, 6}, D)
  local xb = x:unsqueeze(1)
  local w, b = lt.randn({4, 3, 3, 2}, D), lt.randn(4, D)
  local function same_as_batched(got, want, what)
    T.check(table.concat(got:shape(), ",") == table.concat(want[1]:shape(), ","), what .. ": shape")
    T.tensor_close(got, want[1], 1e-12, what)
  end
  same_as_batched(F.conv2d(x, w, b, {padding = 1, stride = {2, 1}}), F.conv2d(xb, w, b, {padding = 1, stride = {2, 1}}),
                  "conv2d")
  same_as_batched(F.conv2d(x, w, b, {padding = "same"}), F.conv2d(xb, w, b, {padding = "same"}), "conv2d same")
  same_as_batched(F.max_pool2d(x, 2), F.max_pool2d(xb, 2), "max_pool2d")
  local v, i = F.max_pool2d(x, 3, {stride = 2, padding = 1, return_indices = true})
  local vb, ib = F.max_pool2d(xb, 3, {stride = 2, padding = 1, return_indices = true})
  same_as_batched(v, vb, "max_pool2d values")
  T.tensor_equal(i, ib[1], "max_pool2d 1-based indices")
  same_as_batched(F.avg_pool2d(x, {2, 3}, {ceil_mode = true}), F.avg_pool2d(xb, {2, 3}, {ceil_mode = true}), "avg_pool2d")
  same_as_batched(F.adaptive_avg_pool2d(x, {3, 4}), F.adaptive_avg_pool2d(xb, {3, 4}), "adaptive_avg_pool2d")
  -- PyTorch 1.13: max_pool2d(x[0], 2, return_indices=True) of arange(1, 26).view(1, 5, 5) (0-based there)
  local a = lt.arange(1, 26):float():view(1, 5, 5)
  local pv, pi = F.max_pool2d(a, 2, {return_indices = true})
  T.tensor_equal(pv, lt.tensor{{{7.0, 9.0}, {17.0, 19.0}}}, "values")
  T.tensor_equal(pi, lt.tensor{{{7, 9}, {17, 19}}}, "indices (PyTorch's 6, 8, 16, 18 plus one)")
  -- the modules
  local conv = lt.nn.Conv2d(3, 5, 3, {padding = 1, dtype = "float64"})
  T.check(table.concat(conv(x):shape(), ",") == "5,7,6", "nn.Conv2d unbatched")
  T.check(table.concat(lt.nn.MaxPool2d(2)(x):shape(), ",") == "3,3,3", "nn.MaxPool2d unbatched")
  T.check(table.concat(lt.nn.AvgPool2d(2)(x):shape(), ",") == "3,3,3", "nn.AvgPool2d unbatched")
  T.check(table.concat(lt.nn.AdaptiveAvgPool2d(1)(x):shape(), ",") == "3,1,1", "nn.AdaptiveAvgPool2d unbatched")
  -- gradients
  local xg = lt.randn({2, 5, 5}, D)
  xg.requires_grad = true
  local wg = lt.randn({3, 2, 2, 2}, D)
  wg.requires_grad = true
  gradcheck(function(p, q) return F.conv2d(p, q, nil, {padding = 1}) end, {xg, wg}, "conv2d unbatched")
  gradcheck(function(p) return F.max_pool2d(p, 2, {stride = 1}) end, {xg}, "max_pool2d unbatched")
  gradcheck(function(p) return F.avg_pool2d(p, 3, {padding = 1}) end, {xg}, "avg_pool2d unbatched")
  gradcheck(function(p) return F.adaptive_avg_pool2d(p, 2) end, {xg}, "adaptive_avg_pool2d unbatched")
  -- the result is not a view: in-place ops on it work as on a batched result
  local y = F.conv2d(xg, wg)
  F.relu_(y)
  y:sum():backward()
  T.check(xg.grad ~= nil, "relu_ on an unbatched conv2d result, then backward")
  -- other ranks are refused as PyTorch refuses them
  T.checkerr("bad argument #1 to 'conv2d' (expected a 3-D (unbatched) [C,H,W] or 4-D (batched) [N,C,H,W] input, got "
             .. "[7,6])", F.conv2d, x[1], w)
  T.checkerr("bad argument #1 to 'avg_pool2d' (expected a 3-D (unbatched) [C,H,W] or 4-D (batched) [N,C,H,W] input, "
             .. "got [1,1,3,7,6])", F.avg_pool2d, xb:unsqueeze(1), 2)
  T.checkerr("bad argument #1 to 'adaptive_avg_pool2d' (expected a 3-D (unbatched)", F.adaptive_avg_pool2d, x[1], 2)
end)

T.test("group 4: products refuse mixed dtypes", function()
  local a32, b64 = lt.ones(2, 3), lt.ones({3, 2}, D)
  T.checkerr("bad argument #2 to 'matmul' (expected both operands to have the same dtype, got float32 and float64)",
             lt.matmul, a32, b64)
  T.checkerr("bad argument #2 to 'matmul' (expected both operands to have the same dtype, got float32 and float64)",
             function() return a32:matmul(b64) end)
  T.checkerr("bad argument #2 to 'mm' (expected both operands to have the same dtype, got float64 and float32)",
             lt.mm, b64, a32)
  T.checkerr("bad argument #2 to 'bmm' (expected both operands to have the same dtype, got float32 and float64)",
             lt.bmm, a32:unsqueeze(1), b64:unsqueeze(1))
  T.checkerr("bad argument #2 to 'matmul' (expected both operands to have the same dtype, got int64 and float32)",
             lt.matmul, lt.tensor{1, 2}, lt.tensor{1.0, 2.0})
  T.checkerr("bad argument #2 to 'linear' (weight has dtype float64 but the input has float32)", F.linear, a32, b64:t())
  T.checkerr("bad argument #2 to 'conv2d' (weight has dtype float64 but the input has float32)", F.conv2d,
             lt.ones(1, 1, 3, 3), lt.ones({1, 1, 2, 2}, D))
  T.checkerr("bad argument #3 to 'conv2d' (bias has dtype float64 but the input has float32)", F.conv2d,
             lt.ones(1, 1, 3, 3), lt.ones(1, 1, 2, 2), lt.ones(1, D))
  -- same dtypes still work, under autocast too
  T.tensor_equal(lt.matmul(a32, b64:float()), lt.full({2, 2}, 3.0), "float32 @ float32")
end)

T.test("group 4: mse_loss and l1_loss broadcast and promote", function()
  local x = lt.tensor{1.0, 2.0, 3.0}
  -- PyTorch 1.13 (worked out: ([0,1,2]^2 + [1,0,1]^2) / 6 = 7/6, (3 + 2) / 6 = 5/6)
  is(F.mse_loss(x, lt.tensor{{1.0}, {2.0}}), "float32", 7 / 6, "mse [3] vs [2,1]")
  is(F.l1_loss(x, lt.tensor{{1.0}, {2.0}}), "float32", 5 / 6, "l1 [3] vs [2,1]")
  is(F.mse_loss(x, lt.tensor{{1.0}, {2.0}}, "none"), "float32", {{0, 1, 4}, {1, 0, 1}}, "mse none, broadcast shape")
  is(F.mse_loss(x, f64{1, 2, 4}), "float64", 1 / 3, "float32 vs float64: float64")
  is(F.mse_loss(x, f64(2)), "float64", 2 / 3, "a 0-d float64 target broadcasts first, then promotes: float64")
  is(F.mse_loss(x, lt.tensor{1, 2, 4}), "float32", 1 / 3, "an int64 target")
  is(F.l1_loss(x:half(), f64{1, 2, 4}, {reduction = "sum"}), "float64", 1, "float16 vs float64")
  is(lt.nn.MSELoss()(x, lt.tensor{{1.0}, {2.0}}), "float32", 7 / 6, "nn.MSELoss")
  T.checkerr("bad argument #1 to 'mse_loss' (expected a floating-point input, got int64)", F.mse_loss, lt.tensor{1, 2},
             lt.tensor{1, 2})
  T.checkerr("bad argument #2 to 'l1_loss' (shapes [1,3] and [2] cannot be broadcast together)", F.l1_loss,
             lt.ones(1, 3), lt.ones(2))
  -- gradients reach both through the broadcast, in their own dtypes
  local xg, yg = lt.randn({3}, D), lt.randn({2, 1}, D)
  xg.requires_grad, yg.requires_grad = true, true
  gradcheck(function(a, b) return F.mse_loss(a, b) end, {xg, yg}, "mse broadcast")
  gradcheck(function(a, b) return F.l1_loss(a, b, "sum") end, {xg, yg}, "l1 broadcast")
  local x32 = lt.tensor({1.0, 2.0, 3.0}, {requires_grad = true})
  local t64 = lt.tensor({{1.0}, {2.0}}, {dtype = "float64", requires_grad = true})
  F.mse_loss(x32, t64):backward()
  -- d/dx of mean((x - t)^2) over the 2x3 broadcast: sum over rows of 2 (x - t) / 6
  is(x32.grad, "float32", {(0 + 2 * -1) / 6 * 1, (2 * 1 + 0) / 6, (2 * 2 + 2 * 1) / 6}, "input gradient (float32)")
  is(t64.grad, "float64", {{-(0 + 2 + 4) / 6}, {-(-2 + 0 + 2) / 6}}, "target gradient (float64)")
end)

T.test("group 4: the target-size warning is PyTorch's, once per function", function()
  local bin, root = T.luatrain_paths()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local F = lt.nn.functional
for _ = 1, 3 do F.mse_loss(lt.ones(3), lt.ones(2, 1)) end
F.l1_loss(lt.ones(3), lt.ones(2, 1))
F.mse_loss(lt.ones(3), lt.ones(3, {dtype = "float64"}))  -- same size: no warning
]])
  f:close()
  local errfile = os.tmpname()
  local ok = os.execute(T.child_env() .. T.shell_quote(bin) .. " " .. T.shell_quote(script) .. " 2>" .. T.shell_quote(errfile))
  local err = T.read_file(errfile) or ""
  os.remove(script)
  os.remove(errfile)
  T.check(ok, "the child ran")
  local msg = "UserWarning: Using a target size ([2,1]) that is different to the input size ([3]). This will likely "
              .. "lead to incorrect results due to broadcasting. Please ensure they have the same size.\n"
  local n = select(2, err:gsub("\n", "\n"))
  T.check(err == "mse_loss: " .. msg .. "l1_loss: " .. msg, "one warning per function, in PyTorch's words: " .. err)
  T.check(n == 2, "two lines")
  T.check(root ~= nil, "repository root")
end)

-- ============================== group 5: the differential suite's findings ==============================
-- tests/torch_diff/ compares luatrain with PyTorch case by case; each test
-- below keeps one of its findings fixed even if the suite changes.

T.test("group 5: x:where(cond, other) is torch.where(cond, x, other)", function()
  local x, c = f64{1, 2, 3}, lt.tensor{true, false, true}
  T.tensor_equal(x:where(c, f64{7, 8, 9}), f64{1, 8, 3}, "the method keeps x where cond holds")
  T.tensor_equal(x:where(c, 0), f64{1, 0, 3}, "other may be a number (PyTorch 2)")
  T.tensor_equal(lt.where(c, x, 0), f64{1, 0, 3}, "lt.where keeps its order")
  T.checkerr("bad argument #2 to 'where' (condition must be a bool tensor, got float64)", function() return x:where(x, 0) end)
  T.checkerr("bad argument #3 to 'where' (expected a tensor or a number, got nil)", function() return x:where(c) end)
  local xg, yg = leaf{1, -2, 3}, leaf{4, 5, 6}
  gradcheck(function(a, b) return a:where(c, b) end, {xg, yg}, "x:where(cond, y)")
end)

T.test("group 5: index_select and index_add with an int32 index", function()
  local i32 = lt.tensor({4, 1, 4}, {dtype = "int32"})
  local w = lt.randn({4, 3}, D)
  w.requires_grad = true
  gradcheck(function(t) return t:index_select(1, i32) end, {w}, "index_select, int32 index")
  local z, s = lt.zeros({4, 3}, D), lt.randn({3, 3}, D)
  z.requires_grad, s.requires_grad = true, true
  gradcheck(function(a, b) return a:index_add(1, i32, b) end, {z, s}, "index_add, int32 index")
  -- PyTorch 1.13: torch.zeros(4,3).index_add(0, tensor([3,0,3], dtype=int32), torch.ones(3,3))
  T.tensor_equal(lt.zeros(4, 3):index_add(1, i32, lt.ones(3, 3)),
                 lt.tensor{{1.0, 1, 1}, {0.0, 0, 0}, {0.0, 0, 0}, {2.0, 2, 2}}, "index_add's values")
  -- gather and scatter want int64, as PyTorch
  T.checkerr("bad argument #3 to 'gather' (expected an int64 index tensor, got int32)", function()
    return w:gather(1, lt.ones({1, 3}, {dtype = "int32"}))
  end)
  T.checkerr("bad argument #3 to 'scatter_add' (expected an int64 index tensor, got int32)", function()
    return w:scatter_add(1, lt.ones({1, 3}, {dtype = "int32"}), w)
  end)
end)

T.test("group 5: floor, ceil, round and sign have a zero gradient", function()
  for _, name in ipairs{"floor", "ceil", "round", "sign"} do
    local x = leaf{0.5, 1.5, -2.5, 0, nan}
    local y = x[name](x)
    T.check(y.requires_grad, name .. ": the result requires grad, as in PyTorch")
    y:sum():backward()
    T.tensor_equal(x.grad, f64{0, 0, 0, 0, 0}, name .. "'s gradient")
    -- in place on a non-leaf too
    local z = leaf{0.5, -1.5}
    local h = z * 2
    h[name .. "_"](h)
    T.check(h.grad_fn ~= nil, name .. "_ records a node")
    local hs = (h * 3):sum()
    hs:backward()
    T.tensor_equal(z.grad, f64{0, 0}, name .. "_'s gradient")
  end
  -- PyTorch 1.13: round is half to even
  T.tensor_equal(f64{0.5, 1.5, 2.5, -0.5, -1.5}:round(), f64{0, 2, 2, -0.0, -2}, "round half to even")
end)

T.test("group 5: NaN in sign, abs, relu, maximum/minimum and max/min", function()
  -- PyTorch 1.13: sign(NaN) = 0, so abs's gradient at NaN is 0
  T.tensor_equal(f64{0, -0.0, 2, -3, nan, inf, -inf}:sign(), f64{0, 0, 1, -1, 0, 1, -1}, "sign")
  T.tensor_equal(lt.tensor{nan, -1.0}:sign(), lt.tensor{0.0, -1.0}, "sign float32")
  T.tensor_equal(grad_at(function(x) return x:abs() end, {nan, 0, -2, 3}), f64{0, 0, -1, 1}, "abs's gradient")
  -- relu: 0 where x <= 0, the gradient elsewhere (NaN included), both relus
  T.tensor_equal(grad_at(function(x) return x:relu() end, {nan, 0, -1, 2}), f64{1, 0, 0, 1}, "x:relu()")
  T.tensor_equal(grad_at(function(x) return F.relu(x) end, {nan, 0, -1, 2}), f64{1, 0, 0, 1}, "F.relu")
  T.tensor_equal(grad_at(function(x) return F.relu(x * 1, true) end, {nan, 0, -1, 2}), f64{1, 0, 0, 1}, "F.relu in place")
  local x32 = lt.tensor({nan, 0, -1, 2}, {requires_grad = true})
  F.relu(x32):sum():backward()
  T.tensor_equal(x32.grad, lt.tensor{1.0, 0, 0, 1}, "F.relu float32")
  -- maximum/minimum (and max/min with a tensor): a tie splits the gradient,
  -- the loser gets 0, a NaN on either side gives both all of it (PyTorch 1.13)
  local av, bv = {1, nan, 2, nan, 3, 3}, {nan, 1, 1, nan, 3, 4}
  for _, c in ipairs{
    {"maximum", function(a, b) return lt.maximum(a, b) end, {1, 1, 1, 1, 0.5, 0}, {1, 1, 0, 1, 0.5, 1}},
    {"max(other)", function(a, b) return a:max(b) end, {1, 1, 1, 1, 0.5, 0}, {1, 1, 0, 1, 0.5, 1}},
    {"minimum", function(a, b) return a:minimum(b) end, {1, 1, 0, 1, 0.5, 1}, {1, 1, 1, 1, 0.5, 0}},
    {"min(other)", function(a, b) return lt.min(a, b) end, {1, 1, 0, 1, 0.5, 1}, {1, 1, 1, 1, 0.5, 0}},
  } do
    local a, b = leaf(av), leaf(bv)
    c[2](a, b):sum():backward()
    T.tensor_equal(a.grad, f64(c[3]), c[1] .. ": first input's gradient")
    T.tensor_equal(b.grad, f64(c[4]), c[1] .. ": second input's gradient")
  end
  -- max()/min() over everything: shared among the elements equal to the
  -- result, NaN equal to NaN (PyTorch 1.13)
  T.tensor_equal(grad_at(function(x) return x:max() end, {1, nan, 3, nan}), f64{0, 0.5, 0, 0.5}, "max() of NaNs")
  T.tensor_equal(grad_at(function(x) return x:min() end, {1, nan, 3, 2}), f64{0, 1, 0, 0}, "min() of one NaN")
  T.tensor_equal(grad_at(function(x) return x:max() end, {1, 3, 3, 2}), f64{0, 0.5, 0.5, 0}, "max() ties")
  -- with a dim: the element the index names (PyTorch 1.13 picks the first NaN)
  local v, i = f64{{1, 3, 3, nan}, {nan, 2, nan, 1}}:max(2)
  T.tensor_equal(i, lt.tensor{4, 1}, "max(dim) indices at NaN")
  T.tensor_equal(grad_at(function(x) return (x:max(2)) end, {{1, 3, 3, nan}, {nan, 2, nan, 1}}),
                 f64{{0, 0, 0, 1}, {1, 0, 0, 0}}, "max(dim) gradient at NaN")
  T.check(v[1]:item() ~= v[1]:item(), "max(dim) value NaN")
end)

T.test("group 5: any and all keep uint8", function()
  local u = lt.tensor({{0, 3}, {1, 1}}, {dtype = "uint8"})
  -- PyTorch 1.13: uint8 in, uint8 out; every other dtype gives bool
  T.tensor_equal(u:any(), lt.tensor(1, {dtype = "uint8"}), "any()")
  T.tensor_equal(u:all(), lt.tensor(0, {dtype = "uint8"}), "all()")
  T.tensor_equal(u:any(2), lt.tensor({1, 1}, {dtype = "uint8"}), "any(dim)")
  T.tensor_equal(lt.all(u, 1, true), lt.tensor({{0, 1}}, {dtype = "uint8"}), "all(dim, keepdim)")
  T.tensor_equal(lt.zeros(0, {dtype = "uint8"}):any(), lt.tensor(0, {dtype = "uint8"}), "any of nothing")
  T.check(u:bool():any():dtype() == "bool" and lt.tensor{1, 2}:all():dtype() == "bool"
          and f64{1}:any():dtype() == "bool", "other dtypes give bool")
end)

T.test("group 5: bool tensors in arithmetic", function()
  local b, i = lt.tensor{true, false}, lt.tensor{1, 2}
  -- refused as PyTorch refuses them, with the function's name
  for _, c in ipairs{
    {"bad argument #1 to 'neg' (negation, the `-` operator, on a bool tensor is not supported", function() return b:neg() end},
    {"bad argument #1 to 'unm' (negation, the `-` operator, on a bool tensor", function() return -b end},
    {"bad argument #1 to 'neg_' (negation", function() return b:clone():neg_() end},
    {"bad argument #1 to 'abs' (abs is not supported for bool tensors", function() return b:abs() end},
    {"bad argument #1 to 'abs_' (abs is not supported for bool tensors", function() return b:clone():abs_() end},
    {"bad argument #1 to 'floor' (floor is not supported for bool tensors", function() return lt.floor(b) end},
    {"bad argument #1 to 'ceil' (ceil is not supported for bool tensors", function() return b:ceil() end},
    {"bad argument #1 to 'round' (round is not supported for bool tensors", function() return b:round() end},
    {"bad argument #1 to 'relu' (relu is not supported for bool tensors", function() return b:relu() end},
    {"bad argument #1 to 'relu' (relu is not supported for bool tensors", function() return F.relu(b) end},
    {"bad argument #2 to 'sub' (subtraction, the `-` operator, with two bool tensors is not supported; use "
     .. "logical_xor() instead)", function() return b - b end},
    {"bad argument #2 to 'sub' (subtraction, the `-` operator, with two bool", function() return b - true end},
    {"bad argument #2 to 'sub_' (subtraction, the `-` operator, with two bool", function() return b:clone():sub_(b) end},
    {"bad argument #1 to 'sub' (subtraction, the `-` operator, with a bool tensor is not supported; to invert a mask, "
     .. "use logical_not() instead)", function() return b - i end},
    {"bad argument #2 to 'sub' (subtraction, the `-` operator, with a bool tensor", function() return i - b end},
    {"bad argument #1 to 'sub' (subtraction, the `-` operator, with a bool tensor", function() return b - 1 end},
    {"bad argument #2 to 'sub' (subtraction, the `-` operator, with a bool tensor", function() return 1 - b end},
    {"bad argument #1 to 'sub' (subtraction, the `-` operator, with a bool tensor", function() return b - 1.5 end},
    {"bad argument #2 to 'sub' (subtraction, the `-` operator, with a bool tensor", function() return i:sub(b, 2) end},
    {"bad argument #2 to 'sub_' (subtraction, the `-` operator, with a bool tensor", function() return i:clone():sub_(b) end},
    {"bad argument #1 to 'pow' (pow is not supported for bool tensors", function() return b ^ b end},
    {"bad argument #1 to 'pow' (pow is not supported for bool tensors", function() return b:pow(true) end},
    {"bad argument #1 to 'remainder' (remainder is not supported for bool tensors", function() return b % b end},
    {"bad argument #1 to 'fmod' (fmod is not supported for bool tensors", function() return lt.fmod(b, b) end},
  } do
    T.checkerr(c[1], c[2])
  end
  -- what PyTorch accepts (PyTorch 1.13's dtypes and values)
  T.tensor_equal(b:sign(), b, "sign of bool is bool")
  T.tensor_equal(b:clone():sign_(), b, "sign_ of bool")
  T.tensor_equal(b ^ 2, lt.tensor{1, 0}, "bool ^ 2 is int64")
  T.tensor_equal(2 ^ b, lt.tensor{2, 1}, "2 ^ bool is int64")
  T.tensor_equal(b:pow(i), lt.tensor{1, 0}, "bool ^ int64")
  T.tensor_equal(b ^ 2.0, lt.tensor{1.0, 0.0}, "bool ^ 2.0 is float")
  T.tensor_equal(b % 2, lt.tensor{1, 0}, "bool % 2 is int64")
  T.tensor_equal(b + b, b, "bool + bool is bool")
  T.tensor_equal(b * b, b, "bool * bool is bool")
  T.tensor_equal(b:square(), lt.tensor{1, 0}, "square of bool is int64")
  T.tensor_equal(b:clamp(0, 1), lt.tensor{1, 0}, "clamp of bool with integer bounds is int64")
  T.tensor_equal(b:clamp(0.5), lt.tensor{1.0, 0.5}, "clamp of bool with a float bound is float")
  T.tensor_equal(b + 1, lt.tensor{2, 1}, "bool + 1")
  T.tensor_equal(i:add(b, 2), lt.tensor{3, 2}, "add with alpha and a bool operand")
  T.tensor_equal(b:logical_not(), lt.tensor{false, true}, "logical_not, the way to invert a mask")
end)

T.test("group 5: integers to negative integer powers", function()
  local i = lt.tensor{1, 2, 3}
  T.checkerr("bad argument #2 to 'pow' (integers to negative integer powers are not allowed (use a float exponent: -1.0))",
             function() return i ^ -1 end)
  T.checkerr("bad argument #2 to 'pow' (integers to negative integer powers", function() return i:pow(-2) end)
  T.checkerr("bad argument #2 to 'pow_' (integers to negative integer powers", function() return i:clone():pow_(-1) end)
  T.checkerr("bad argument #2 to 'pow' (integers to negative integer powers", function()
    return i:int() ^ -1
  end)
  T.checkerr("bad argument #2 to 'pow' (integers to negative integer powers", function()
    return lt.tensor{true} ^ -1
  end)
  -- PyTorch 1.13: a float exponent, a tensor exponent and a number base are fine
  T.tensor_equal(i ^ -1.0, lt.tensor{1.0, 0.5, 1 / 3}, "a float exponent gives float")
  T.tensor_equal(i ^ lt.tensor(-1), lt.tensor{1, 0, 0}, "a 0-d tensor exponent: integer division's 1/x")
  T.tensor_equal(i ^ lt.tensor{-1, 1, 1}, lt.tensor{1, 2, 3}, "a tensor exponent")
  T.tensor_equal((-1) ^ i, lt.tensor{-1, 1, -1}, "a number base")
  T.tensor_equal(2 ^ -i, lt.tensor{0, 0, 0}, "a number base, negative tensor exponents")
end)

T.test("group 5: clamp with min > max gives max everywhere", function()
  -- PyTorch 1.13: x.clamp(1, -1) is all -1 (NaN stays NaN), and its gradient is 0
  local x = leaf{-2, 0, 0.5, 2, nan}
  local y = x:clamp(1, -1)
  T.tensor_equal(y:detach(), f64{-1, -1, -1, -1, nan}, "values")
  y:sum():backward()
  T.tensor_equal(x.grad, f64{0, 0, 0, 0, 0}, "gradient")
  T.tensor_equal(lt.tensor{-2, 0, 2}:clamp(1, -1), lt.tensor{-1, -1, -1}, "int64")
  T.tensor_equal(lt.tensor{-2, 0, 2}:clamp(0.5, -0.5), lt.tensor{-0.5, -0.5, -0.5}, "int64 with float bounds")
  T.tensor_equal(f64{3, -3}:clamp_(1, -1), f64{-1, -1}, "clamp_")
  T.tensor_equal(lt.clip(f64{3, -3}, {min = 2, max = 1}), f64{1, 1}, "clip with a table")
  -- equal bounds: the gradient passes where x equals them (PyTorch 1.13)
  T.tensor_equal(grad_at(function(t) return t:clamp(0.5, 0.5) end, {-2, 0.5, 2}), f64{0, 1, 0}, "min == max")
end)

T.test("group 5: arange's sign check and integer sizes", function()
  -- PyTorch 1.13 refuses an end on the wrong side of start
  T.checkerr("bad argument #2 to 'arange' (end -3 lies below start 0, against the sign of step 1)", lt.arange, 0, -3)
  T.checkerr("bad argument #2 to 'arange' (end 3 lies above start 0, against the sign of step -1)", lt.arange, 0, 3, -1)
  T.check(lt.arange(2, 2):numel() == 0 and lt.arange(0, 0, -1):numel() == 0, "start == end: empty")
  -- integral dtypes truncate start, end and step; int64 sizes the result from
  -- the truncated bounds, the other dtypes from the given ones (PyTorch 1.13)
  local function is_list(t, want, what)
    T.check(table.concat(t:tolist(), ",") == table.concat(want, ","), what .. ": " .. table.concat(t:tolist(), ","))
  end
  is_list(lt.arange(0, 2.5, {dtype = "int64"}), {0, 1}, "arange(0, 2.5) int64")
  is_list(lt.arange(0, 2.5, {dtype = "int32"}), {0, 1, 2}, "arange(0, 2.5) int32")
  is_list(lt.arange(0, 2.5, {dtype = "uint8"}), {0, 1, 2}, "arange(0, 2.5) uint8")
  is_list(lt.arange(0.5, 3, {dtype = "int64"}), {0, 1, 2}, "arange(0.5, 3) int64")
  is_list(lt.arange(0, 5, 1.5, {dtype = "int64"}), {0, 1, 2, 3, 4}, "step 1.5 truncates to 1, int64")
  is_list(lt.arange(0, 5, 1.5, {dtype = "int32"}), {0, 1, 2, 3}, "step 1.5 truncates to 1, int32")
  is_list(lt.arange(-0.5, -3, -1.0, {dtype = "int64"}), {0, -1, -2}, "negative step")
  is_list(lt.arange(-2.5, 2, {dtype = "int64"}), {-2, -1, 0, 1}, "negative start")
  T.checkerr("bad argument #3 to 'arange' (step must be non-zero (0.5 truncates to 0 for int64))", lt.arange, 0, 3, 0.5,
             {dtype = "int64"})
  T.checkerr("bad argument #3 to 'arange' (step must be non-zero)", lt.arange, 0, 3, 0)
  T.checkerr("arange cannot make a bool tensor", lt.arange, 3, {dtype = "bool"})
  -- floating dtypes: the usual ceil((end - start) / step)
  T.check(lt.arange(0, 1, 0.3):numel() == 4 and lt.arange(1, 2.5, {dtype = "float32"}):numel() == 2, "float sizes")
end)

T.test("group 5: uint8 conditions and masks are refused (PyTorch 2)", function()
  -- a deliberate difference from PyTorch 1.13, which warns and accepts them
  local x, u = f64{1, 2, 3}, lt.tensor({1, 0, 1}, {dtype = "uint8"})
  T.checkerr("bad argument #1 to 'where' (condition must be a bool tensor, got uint8)", lt.where, u, x, 0)
  T.checkerr("bad argument #2 to 'where' (condition must be a bool tensor, got uint8)", function() return x:where(u, 0) end)
  T.checkerr("bad argument #2 to 'masked_fill' (mask must be a bool tensor, got uint8)", function() return x:masked_fill(u, 0) end)
  T.checkerr("bad argument #2 to 'masked_fill_' (mask must be a bool tensor, got uint8)", function()
    return x:clone():masked_fill_(u, 0)
  end)
  T.tensor_equal(x:masked_fill(u:bool(), 0), f64{0, 2, 0}, "a bool mask")
end)

T.test("group 5: F.flatten's dims are 1-based", function()
  local x = lt.zeros(2, 3, 4, 5)
  T.check(table.concat(F.flatten(x):shape(), ",") == "120", "the default start_dim 1 flattens everything")
  T.check(table.concat(F.flatten(x, 2):shape(), ",") == "2,60", "start_dim 2 keeps the batch dim")
  T.check(table.concat(F.flatten(x, 2, 3):shape(), ",") == "2,12,5", "start_dim 2, end_dim 3")
  T.check(table.concat(lt.nn.Flatten()(x):shape(), ",") == "2,60", "nn.Flatten starts at 2")
end)

-- the strides as "a,b,c"
local function strides(t) return table.concat(t:stride(), ",") end

T.test("group 5: clone and the *_like functions keep the layout", function()
  local x = lt.randn(4, 6)
  local cl = lt.randn(2, 3, 4, 5):contiguous("channels_last")
  -- PyTorch 1.13's strides for clone(), empty_like, zeros_like, ... (memory_format=preserve):
  -- a dense input keeps its strides, anything else becomes dense in the input's order of strides
  for _, c in ipairs{
    {"transposed", x:t(), "1,6"},
    {"every other column", x:narrow(2, 1, 6):view(4, 3, 2):select(3, 1), "3,1"},
    {"transposed, every other row", x:t():view(3, 2, 4):select(2, 1), "1,3"},
    {"transposed narrow", x:t():narrow(1, 2, 3), "1,3"},
    {"expanded", lt.randn(3, 1):expand(3, 4), "4,1"},
    {"permuted narrow", lt.randn(2, 3, 4):permute(3, 1, 2):narrow(3, 2, 2), "1,8,4"},
    {"channels-last", cl, "60,1,15,3"},
    {"channels-last, every other row", cl:view(2, 3, 2, 2, 5):select(4, 1), "30,1,15,3"},
    {"permuted select", lt.randn(3, 4, 5):permute(3, 2, 1)[2], "1,4"},
    {"size-1 dim", lt.randn(3, 1, 4):permute(3, 2, 1), "1,4,4"},
    {"0-d", lt.tensor(1.0), ""},
  } do
    local name, t, want = c[1], c[2], c[3]
    T.check(strides(t:clone()) == want, name .. ": clone strides " .. strides(t:clone()) .. ", PyTorch " .. want)
    T.tensor_equal(t:clone(), t:contiguous(), name .. ": clone values")
    for _, f in ipairs{"zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"} do
      local y = lt[f](t)
      T.check(strides(y) == want, name .. ": " .. f .. " strides " .. strides(y) .. ", PyTorch " .. want)
    end
    T.check(strides(lt.full_like(t, 7)) == want, name .. ": full_like")
    T.check(lt.full_like(t, 7):eq(7):all():item() and lt.ones_like(t):eq(1):all():item(), name .. ": fill values")
    T.check(strides(t:double()) == want, name .. ": a dtype conversion keeps the layout too")
  end
  -- memory_format picks another layout
  T.check(x:t():clone{memory_format = "contiguous_format"}:is_contiguous(), "clone{memory_format=contiguous}")
  T.check(strides(lt.randn(2, 3, 4, 5):clone{memory_format = "channels_last"}) == "60,1,15,3", "clone to channels_last")
  T.check(cl:clone{memory_format = "preserve_format"}:is_contiguous("channels_last"), "clone{preserve_format}")
  T.check(lt.zeros_like(cl, {memory_format = "contiguous_format"}):is_contiguous(), "zeros_like{memory_format}")
  local e = lt.empty_like(lt.randn(2, 3, 4, 5), {memory_format = "channels_last", dtype = "float64"})
  T.check(strides(e) == "60,1,15,3" and e:dtype() == "float64", "empty_like{memory_format=, dtype=}")
  T.checkerr("bad argument #1 to 'clone' (channels_last needs a 4-D tensor [N,C,H,W], got shape [6,4])", function()
    return x:t():clone{memory_format = "channels_last"}
  end)
  T.checkerr("bad argument #2 to 'clone' (unknown option 'format'", function() return x:clone{format = "x"} end)
  T.checkerr("unknown memory format 'nhwc'", function() return lt.zeros_like(x, {memory_format = "nhwc"}) end)
  -- the gradient of a clone comes back in the input's own shape
  local w = lt.randn({3, 4}, D)
  w.requires_grad = true
  gradcheck(function(t) return t:t():clone() * 2 end, {w}, "clone of a transposed view")
end)

T.test("group 5: elementwise results follow PyTorch's TensorIterator layout", function()
  local a = lt.randn(2, 3, 4, 5):contiguous("channels_last")
  local b = lt.randn(2, 3, 4, 5)
  local p = lt.randn(5, 4, 3, 2):permute(4, 3, 2, 1)
  local t, c = lt.randn(4, 6):t(), lt.randn(6, 4)
  local gap = lt.randn(4, 6):t():view(3, 2, 4):select(2, 1)
  local cl11 = lt.randn(2, 3, 1, 1):to{memory_format = "channels_last"} -- strides 3,1,3,3
  local cond = lt.randn(2, 3, 4, 5):gt(0)
  -- PyTorch 1.13's strides, operand order mattering where layouts disagree
  for _, k in ipairs{
    {"channels-last + contiguous", a + b, "60,1,15,3"},
    {"contiguous + channels-last", b + a, "60,20,5,1"},
    {"channels-last + broadcast [3,1,1]", a + lt.randn(3, 1, 1), "60,1,15,3"},
    {"broadcast [3,1,1] + channels-last", lt.randn(3, 1, 1) + a, "60,1,15,3"},
    {"broadcast [5] + channels-last", lt.randn(5) + a, "60,1,15,3"},
    {"contiguous + [2,3,4,1]", b + lt.randn(2, 3, 4, 1), "60,20,5,1"},
    {"transposed + contiguous", t + c, "1,6"},
    {"contiguous + transposed", c + t, "4,1"},
    {"transposed + 1", t + 1, "1,6"},
    {"gaps + 1", gap + 1, "1,3"},
    {"gaps, relu", gap:relu(), "1,3"},
    {"gaps + gaps", gap * gap, "1,3"},
    {"channels-last [2,3,1,1], relu", cl11:relu(), "3,1,1,1"},
    {"channels-last [2,3,1,1] + 1", cl11 + 1, "3,1,3,3"},
    {"where: the condition comes first", lt.where(cond, a, b), "60,20,5,1"},
    {"where, the other order", lt.where(cond, b, a), "60,20,5,1"},
    {"permuted + contiguous", p + b, "1,2,6,24"},
    {"contiguous + permuted", b + p, "60,20,5,1"},
    {"channels-last + permuted", a + p, "60,1,15,3"},
    {"permuted + channels-last", p + a, "1,2,6,24"},
    {"comparison", a:gt(b), "60,1,15,3"},
  } do
    T.check(strides(k[2]) == k[3], k[1] .. ": strides " .. strides(k[2]) .. ", PyTorch " .. k[3])
  end
  T.tensor_equal(a + b, a:contiguous() + b, "values do not depend on the layout")
  T.tensor_equal(t + c, t:contiguous() + c, "transposed values")
  -- gradients pass through mixed layouts
  local u = lt.randn({1, 2, 3, 2}, D):contiguous("channels_last")
  local v = lt.randn({1, 2, 3, 2}, D)
  u.requires_grad, v.requires_grad = true, true
  gradcheck(function(x, y) return x * y + x end, {u, v}, "channels-last * contiguous")
  gradcheck(function(x, y) return y * x + y end, {u, v}, "contiguous * channels-last")
end)

-- a float64 leaf of the given shape with values away from 0 (relu's kink)
local function away(...)
  local t = lt.randn(...):double()
  t = t + t:sign() * 0.25
  t.requires_grad = true
  return t
end

T.test("group 5: in-place ops on views rebase their history onto the base", function()
  local x = away(4, 6)
  -- relu_/mul_/add_ on narrow, select, transpose, view and x[i] views of a non-leaf
  local views = {
    narrow = function(h) return h:narrow(2, 2, 3) end,
    select = function(h) return h:select(2, 3) end,
    transpose = function(h) return h:t() end,
    view = function(h) return h:view(3, 8) end,
    index = function(h) return h[2] end,
    nested = function(h) return h:t():narrow(1, 2, 4):select(2, 3) end,
  }
  local y = away(4, 6)
  for name, vf in pairs(views) do
    gradcheck(function(a) local h = a * 2; vf(h):relu_(); return h end, {x}, "relu_ on a " .. name .. " view")
    gradcheck(function(a) local h = a * 2; vf(h):mul_(3); return h * h end, {x}, "mul_ by a number, " .. name)
    gradcheck(function(a, b)
      local h = a * 2
      local v = vf(h)
      v:mul_(vf(b * 1))
      return h
    end, {x, y}, "mul_ by a tensor, " .. name)
    gradcheck(function(a, b)
      local h = a:sin()
      local v = vf(h)
      v:add_(vf(b:exp()), 2)
      return h:sum(1)
    end, {x, y}, "add_ with alpha, " .. name)
    -- the view's own result too, and its history
    local h = x * 1
    local v = vf(h)
    v:relu_()
    T.check(v.grad_fn == "AsStridedBackward" and h.grad_fn == "CopySlices", name .. ": grad_fns")
  end
  -- the other in-place ops record the same way
  local idx = lt.tensor{{1, 3, 2}}
  for what, op in pairs{
    ["F.relu_"] = function(v) F.relu_(v) end,
    ["F.leaky_relu in place"] = function(v) F.leaky_relu(v, 0.2, true) end,
    clamp_ = function(v) v:clamp_(-0.5, 0.8) end,
    masked_fill_ = function(v) v:masked_fill_(lt.tensor{true, false, true, false}, 2) end,
    fill_ = function(v) v[2]:fill_(3) end,
    ["index assignment"] = function(v) v[1] = 7 end,
    scatter_add_ = function(v) v:scatter_add_(1, idx, v:narrow(1, 1, 1) * 1) end,
    index_add_ = function(v) v:index_add_(2, lt.tensor{3, 1}, v:narrow(2, 1, 2) * 2) end,
    pow_ = function(v) v:pow_(2) end,
    div_ = function(v) v:div_(v:narrow(1, 1, 1):exp() + 1) end,
  } do
    gradcheck(function(a)
      local h = a * 1
      op(h:t():narrow(1, 2, 3))
      return h
    end, {x}, what .. " on a view")
  end
  -- a base laid out transposed (not contiguous): positions follow its strides
  gradcheck(function(a)
    local h = a:t():clone() -- strides 1,6
    h:narrow(1, 2, 3):narrow(2, 1, 2):mul_(a:t():narrow(1, 1, 3):narrow(2, 3, 2))
    return h
  end, {x}, "a view of a transposed base")
  -- PyTorch 1.13: x.clone().t().relu_() gives x's gradient where x > 0
  local r = x:clone():t():relu_()
  r:backward(lt.ones(6, 4, D))
  T.tensor_equal(x.grad, x:detach():gt(0):double(), "x:clone():t():relu_()")
  x.grad = nil
end)

T.test("group 5: copy_ into a slice of a buffer", function()
  local src, w = away(2, 3), away(5, 3)
  gradcheck(function(s, ww)
    local buf = lt.zeros({5, 3}, D)
    buf:narrow(1, 2, 2):copy_(s)
    buf[5] = s[1] * 3
    return buf * ww
  end, {src, w}, "copy_ and index assignment into a zero buffer")
  gradcheck(function(s)
    local buf = lt.zeros({3, 4}, D)
    buf:t():narrow(1, 2, 3):copy_(s) -- through a transposed view
    return buf:exp()
  end, {away(3, 3)}, "copy_ through a transposed view")
  gradcheck(function(s)
    local buf = lt.zeros({4, 3}, D)
    buf:narrow(1, 1, 2):copy_(s[1]) -- a row broadcast over two
    return buf
  end, {src}, "copy_ with broadcasting")
  -- a buffer filled piece by piece, then used
  local parts = {away(3), away(3), away(3)}
  gradcheck(function(a, b, c)
    local buf = lt.zeros({3, 3}, D)
    for i, p in ipairs{a, b, c} do buf[i] = p * i end
    return buf:matmul(buf:t())
  end, parts, "rows assigned one by one")
  -- a recurrence through a buffer: each row from the one before
  -- (PyTorch 1.13: x0's gradient 15, w's 11 in every element)
  local x0, ww = away(3), away(3)
  local rows = lt.zeros({4, 3}, D)
  rows[1] = x0
  for i = 2, 4 do rows[i] = rows[i - 1] * 2 + ww end
  rows:sum():backward()
  T.tensor_equal(x0.grad, f64{15, 15, 15}, "recurrence: first row's gradient")
  T.tensor_equal(ww.grad, f64{11, 11, 11}, "recurrence: the added term's gradient")
  -- where a step saves the row before, the next row's write changes what it
  -- saved (one version per storage), as in PyTorch
  local function recurrence(a, b)
    local r = lt.zeros({4, 3}, D)
    r[1] = a
    for i = 2, 4 do r[i] = (r[i - 1] * b):tanh() end
    return r
  end
  T.checkerr("(saved by MulBackward) was modified in place", function() recurrence(x0, ww):sum():backward() end)
  -- built and dropped without a backward, such a graph runs through views
  -- that reach back to the buffer: nothing may keep it alive (the ASan
  -- run's leak check sees to that)
  T.check(recurrence(x0, ww).grad_fn == "CopySlices", "forward only")
  collectgarbage() -- release it now, so that a cycle would be unreachable at exit
  -- the buffer's earlier views see the new values and the new history
  local s1 = away(3)
  local buf = lt.zeros({2, 3}, D)
  local row2 = buf[2]
  buf[2]:copy_(s1)
  T.check(row2.requires_grad and row2.grad_fn == "AsStridedBackward", "an earlier view picks up the history")
  row2:sum():backward()
  T.tensor_equal(s1.grad, f64{1, 1, 1}, "gradient through the earlier view")
end)

T.test("group 5: chains of in-place ops on overlapping views", function()
  local x, y = away(4), away(4)
  gradcheck(function(a, b)
    local h = a * 1
    h:narrow(1, 1, 3):mul_(3)
    h:narrow(1, 2, 3):add_(b:narrow(1, 1, 3) * b:narrow(1, 1, 3))
    return h
  end, {x, y}, "mul_ then add_ on overlapping slices")
  gradcheck(function(a)
    local h = a * 1
    h:narrow(1, 1, 2):mul_(a:narrow(1, 3, 2))
    h:narrow(1, 2, 2):exp_()
    return h
  end, {x}, "mul_ by a tensor then exp_ on overlapping slices")
  gradcheck(function(a)
    local h = (a * 1):view(2, 2)
    h[1]:mul_(2)
    h:t()[2]:sub_(h[1]:sum())
    return h
  end, {x}, "a view of a view, then another view")
  -- PyTorch 1.13: relu_ saves its result, so writing over part of it again breaks backward
  local h = x * 1
  h:narrow(1, 1, 2):relu_()
  h:narrow(1, 2, 2):mul_(2)
  T.checkerr("(saved by ReluBackward) was modified in place", function() h:sum():backward() end)
  -- a saved view is still caught when its base changes
  local b = x * 1
  local v = b:narrow(1, 1, 2)
  local sq = v * v
  b:narrow(1, 2, 2):mul_(2)
  T.checkerr("(saved by MulBackward) was modified in place", function() sq:sum():backward() end)
  -- a result computed from a view before the in-place op keeps the old
  -- history (PyTorch 1.13: x.grad = [3, 0, 0, 0])
  local x2 = leaf{1, 2, 3, 4}
  local b2 = x2 * 1
  local y2 = b2:narrow(1, 1, 1) * 3
  b2:mul_(2)
  y2:sum():backward()
  T.tensor_equal(x2.grad, f64{3, 0, 0, 0}, "the old use of a view")
  -- an expanded view of a base modified in place: its gradient sums
  -- (PyTorch 1.13: 2 * the row sums of w)
  local x3, w3 = leaf{1, 2, 3}, f64{{1, 2}, {3, 4}, {5, 6}}
  local b3 = x3 * 1
  local e3 = b3:view(3, 1):expand(3, 2)
  b3:mul_(2)
  local s3 = (e3 * w3):sum()
  s3:backward()
  T.tensor_equal(x3.grad, f64{6, 14, 22}, "an expanded view after its base was modified")
end)

T.test("group 5: the rules of in-place ops on views", function()
  local w = leaf{1, 2, 3}
  -- the leaf rule stays (PyTorch's too)
  T.checkerr("bad argument #1 to 'mul_' (a view of a leaf tensor that requires grad is used in an in-place operation "
             .. "(mul_)", function() w:narrow(1, 1, 2):mul_(2) end)
  T.checkerr("a leaf tensor that requires grad is used in an in-place operation (index assignment)", function()
    w[1] = 5
  end)
  lt.no_grad(function() w:narrow(1, 1, 2):mul_(2) end)
  T.tensor_equal(w:detach(), f64{2, 4, 3}, "with grad mode off it is allowed")
  -- a view of a leaf made before the leaf was updated under no_grad: its
  -- gradient still reaches the leaf (PyTorch 1.13: [2, 2, 0])
  local v = w:narrow(1, 1, 2)
  lt.no_grad(function() w:add_(1) end)
  local sv = (v * 2):sum()
  sv:backward()
  T.tensor_equal(w.grad, f64{2, 2, 0}, "a view of an updated leaf")
  -- views made with grad mode off (PyTorch refuses these)
  local x = leaf{1, 2}
  local buf = lt.zeros({3, 2}, D)
  local nv = lt.no_grad(function() return buf[1] end)
  T.checkerr("a view made with grad mode off is modified in place (copy_) with grad mode on", function() nv:copy_(x) end)
  local b = lt.stack{x, x}
  local nv2 = lt.no_grad(function() return b[1] end)
  b:mul_(2)
  T.checkerr("a view made with grad mode off is used after its base (or another view of its base) was modified in place",
             function() return nv2 * x end)
  -- detach_ of a view, as PyTorch
  local h = x * 1
  T.checkerr("bad argument #1 to 'detach_' (a view cannot be detached in place", function() h[1]:detach_() end)
  T.checkerr("bad argument #1 to 'detach_' (a view cannot be detached in place", function() lt.zeros(3)[1]:detach_() end)
  T.check(h:detach():detach_() ~= nil, "detach_ of a tensor that is no view")
  -- a second backward through the in-place op's saved tensors needs retain_graph
  local g = x * 1
  g:narrow(1, 1, 1):mul_(x:narrow(1, 2, 1))
  local s = g:sum()
  s:backward({retain_graph = true})
  s:backward()
  T.checkerr("the graph was freed by a previous backward", function() s:backward() end)
  -- the history of a detached alias stays its own (PyTorch 1.13 as well)
  local d = (x * 1):detach()
  d:copy_(x * 3)
  T.check(d.grad_fn == "CopyBackward", "a detached tensor takes the copy's history")
end)

os.exit(T.done())
