-- test_gradcheck.lua — a float64 finite-difference check of the backward of
-- every differentiable tensor op: elementwise (with broadcasting and with Lua
-- numbers on either side), where/masked_fill, reductions, matmul in all its
-- shapes, views and copies, on contiguous, non-contiguous and 0-d inputs.
local T = require "luatrain.testing"
local gradcheck = lt.autograd.gradcheck

lt.manual_seed(1234)

-- a leaf in [lo, hi) of the given shape
local function rnd(shape, lo, hi)
  lo, hi = lo or -1, hi or 1
  local t = lt.rand(shape, {dtype = "float64"}) * (hi - lo) + lo
  return t:detach():requires_grad_()
end

-- the same, with reversed strides (not contiguous)
local function nc(shape, lo, hi)
  local rev, perm = {}, {}
  for i = #shape, 1, -1 do rev[#rev + 1] = shape[i]; perm[#perm + 1] = i end
  local t = rnd(rev, lo, hi):detach():permute(perm)
  return t:requires_grad_()
end

local function scalar(lo, hi) return rnd({}, lo, hi) end

-- values kept away from 0 (for division and reciprocal): sign * [0.5, 1.5)
local function away(shape)
  local s = lt.rand(shape, {dtype = "float64"}):gt(0.5):double() * 2 - 1
  return (s * (lt.rand(shape, {dtype = "float64"}) + 0.5)):detach():requires_grad_()
end

local function check(name, fn, inputs, opts)
  local ok, err = pcall(gradcheck, fn, inputs, opts)
  T.check(ok and err == true, name .. (ok and "" or (": " .. tostring(err))))
end

T.test("unary", function()
  for _, mk in ipairs{function() return rnd{3, 4} end, function() return nc{3, 4} end, function() return scalar() end} do
    check("neg", function(x) return -x end, {mk()})
    check("abs", function(x) return x:abs() end, {mk()})
    check("exp", function(x) return x:exp() end, {mk()})
    check("sin", function(x) return x:sin() end, {mk()})
    check("cos", function(x) return lt.cos(x) end, {mk()})
    check("tanh", function(x) return x:tanh() end, {mk()})
    check("sigmoid", function(x) return x:sigmoid() end, {mk()})
    check("relu", function(x) return x:relu() end, {mk()})
    check("square", function(x) return x:square() end, {mk()})
    check("clamp", function(x) return x:clamp(-0.5, 0.5) end, {mk()})
    check("clamp min", function(x) return x:clamp(0.1) end, {mk()})
    check("clamp max", function(x) return x:clamp(nil, 0.2) end, {mk()})
    check("clamp table", function(x) return x:clamp{min = -0.3} end, {mk()})
  end
  for _, mk in ipairs{function() return rnd({2, 5}, 0.5, 2) end, function() return nc({5, 2}, 0.5, 2) end,
                      function() return scalar(0.5, 2) end} do
    check("log", function(x) return x:log() end, {mk()})
    check("sqrt", function(x) return x:sqrt() end, {mk()})
    check("rsqrt", function(x) return x:rsqrt() end, {mk()})
    check("pow 3.5", function(x) return x ^ 3.5 end, {mk()})
    check("pow -0.5", function(x) return x:pow(-0.5) end, {mk()})
  end
  check("reciprocal", function(x) return x:reciprocal() end, {away{4, 3}})
  check("pow 2", function(x) return x ^ 2 end, {rnd{6}})
  check("pow 0", function(x) return x ^ 0 end, {rnd{6}})
  check("rpow", function(x) return 2 ^ x end, {rnd{2, 3}})
  check("rpow 0.5", function(x) return lt.pow(0.5, x) end, {rnd{3}})
end)

T.test("binary with broadcasting", function()
  local shapes = {
    {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}}, {{}, {2, 3}}, {{2, 3}, {}}, {{}, {}},
  }
  for _, s in ipairs(shapes) do
    local tag = string.format(" %s %s", table.concat(s[1], "x"), table.concat(s[2], "x"))
    check("add" .. tag, function(a, b) return a + b end, {rnd(s[1]), rnd(s[2])})
    check("sub" .. tag, function(a, b) return a - b end, {rnd(s[1]), rnd(s[2])})
    check("mul" .. tag, function(a, b) return a * b end, {rnd(s[1]), rnd(s[2])})
    check("div" .. tag, function(a, b) return a / b end, {rnd(s[1]), away(s[2])})
    check("pow" .. tag, function(a, b) return a ^ b end, {rnd(s[1], 0.5, 2), rnd(s[2])})
    check("maximum" .. tag, function(a, b) return lt.maximum(a, b) end, {rnd(s[1]), rnd(s[2])})
    check("minimum" .. tag, function(a, b) return a:minimum(b) end, {rnd(s[1]), rnd(s[2])})
    check("atan2" .. tag, function(a, b) return a:atan2(b) end, {rnd(s[1]), away(s[2])})
    check("fmod" .. tag, function(a, b) return a:fmod(b) end, {rnd(s[1], -3, 3), away(s[2])})
    check("remainder" .. tag, function(a, b) return a:remainder(b) end, {rnd(s[1], -3, 3), away(s[2])})
  end
  check("add alpha", function(a, b) return a:add(b, 2.5) end, {rnd{3}, rnd{2, 3}})
  check("sub alpha", function(a, b) return lt.sub(a, b, -1.5) end, {rnd{3}, rnd{3}})
  check("non-contiguous mul", function(a, b) return a * b end, {nc{3, 4}, nc{3, 4}})
  check("one input needs grad", function(a, b) return a * b end, {rnd{3}, lt.randn(3, {dtype = "float64"})})
  check("same input twice", function(a) return a * a + a / (a * a + 1) end, {rnd{5}})
  -- equal values split the gradient (finite differences cannot see this)
  local a, b = rnd{3}, rnd{3}
  lt.no_grad(function() b:copy_(a) end)
  lt.maximum(a, b):sum():backward()
  T.close(a.grad[1]:item(), 0.5, 0, "maximum ties split")
  T.close(b.grad[2]:item(), 0.5, 0, "maximum ties split")
end)

T.test("with Lua numbers", function()
  for _, mk in ipairs{function() return rnd{2, 3} end, function() return nc{2, 3} end, function() return scalar() end} do
    check("x + 2", function(x) return x + 2 end, {mk()})
    check("2 - x", function(x) return 2 - x end, {mk()})
    check("x - 0.5", function(x) return x - 0.5 end, {mk()})
    check("3 * x", function(x) return 3 * x end, {mk()})
    check("x / 4", function(x) return x / 4 end, {mk()})
    check("x ^ 3", function(x) return x ^ 3 end, {mk()})
    check("lt.mul(x, 2)", function(x) return lt.mul(x, 2) end, {mk()})
    check("maximum(x, 0.1)", function(x) return x:maximum(0.1) end, {mk()})
    check("atan2(x, 2)", function(x) return x:atan2(2) end, {mk()})
  end
  check("2 / x", function(x) return 2 / x end, {away{2, 3}})
  check("1.5 ^ x", function(x) return 1.5 ^ x end, {rnd{4}})
  check("remainder(5, x)", function(x) return lt.remainder(5, x) end, {away{4}})
end)

T.test("where and masked_fill", function()
  local cond = lt.tensor{{true, false, true}, {false, false, true}}
  check("where", function(a, b) return lt.where(cond, a, b) end, {rnd{2, 3}, rnd{2, 3}})
  check("where broadcast", function(a, b) return lt.where(cond, a, b) end, {rnd{3}, rnd{2, 1}})
  check("where number", function(a) return lt.where(cond, a, 0) end, {rnd{2, 3}})
  check("where number first", function(b) return lt.where(cond, 1.5, b) end, {nc{2, 3}})
  check("masked_fill", function(a) return a:masked_fill(cond, 3) end, {rnd{2, 3}})
  check("masked_fill broadcast mask", function(a) return a:masked_fill(lt.tensor{true, false, false}, -1) end, {rnd{2, 3}})
  check("masked_fill_ on a non-leaf", function(a) local y = a * 2; y:masked_fill_(cond, 0); return y end, {rnd{2, 3}})
end)

T.test("reductions", function()
  for _, mk in ipairs{function() return rnd{3, 4, 2} end, function() return nc{3, 4, 2} end} do
    check("sum", function(x) return x:sum() end, {mk()})
    check("sum dim", function(x) return x:sum(2) end, {mk()})
    check("sum dims keepdim", function(x) return x:sum({1, 3}, true) end, {mk()})
    check("sum negative dim", function(x) return lt.sum(x, -1) end, {mk()})
    check("mean", function(x) return x:mean() end, {mk()})
    check("mean dim", function(x) return x:mean(1) end, {mk()})
    check("mean dims keepdim", function(x) return x:mean({2, 3}, {keepdim = true}) end, {mk()})
    check("prod", function(x) return x:prod() end, {mk()})
    check("prod dim", function(x) return x:prod(2, true) end, {mk()})
    check("max", function(x) return x:max() end, {mk()})
    check("min", function(x) return x:min() end, {mk()})
    check("max dim", function(x) return (x:max(2)) end, {mk()})
    check("min dim keepdim", function(x) return (x:min(3, true)) end, {mk()})
    check("var", function(x) return x:var() end, {mk()})
    check("var dim", function(x) return x:var(1) end, {mk()})
    check("var biased", function(x) return x:var(2, {unbiased = false, keepdim = true}) end, {mk()})
    check("std", function(x) return x:std() end, {mk()})
    check("std dim", function(x) return x:std(3, {correction = 0}) end, {mk()})
    check("norm", function(x) return x:norm() end, {mk()})
    check("norm 1", function(x) return x:norm(1) end, {mk()})
    check("norm 3 dim", function(x) return x:norm(3, 2) end, {mk()})
    check("norm 0.5 dim", function(x) return x:norm(0.5, 1, true) end, {mk()})
    check("norm inf", function(x) return x:norm(math.huge) end, {mk()})
    check("norm inf dim", function(x) return x:norm(math.huge, 3) end, {mk()})
    check("norm 0", function(x) return x:norm(0) end, {mk()})
    check("norm fro dim", function(x) return x:norm("fro", {1, 2}) end, {mk()})
  end
  local s = scalar()
  check("0-d sum", function(x) return x:sum() end, {s})
  check("0-d mean dim", function(x) return x:mean(1) end, {s})
  check("0-d prod", function(x) return x:prod() end, {s})
  check("0-d max", function(x) return x:max() end, {s})
  -- prod with zeros in the slices
  local z = lt.tensor({{0, 2, 3}, {0, 0, 4}, {1, 2, 3}}, {dtype = "float64"}):requires_grad_()
  check("prod with zeros", function(x) return x:prod(2) end, {z})
  check("prod with zeros (all)", function(x) return x:prod() end, {z})
  local z1 = lt.tensor({1.5, 0, -2}, {dtype = "float64"}):requires_grad_()
  check("prod with one zero", function(x) return x:prod() end, {z1})
  -- max with ties splits the gradient evenly; with a dim it goes to the index
  local tie = lt.tensor({1, 3, 3}, {dtype = "float64"}):requires_grad_()
  tie:max():backward()
  T.close(tie.grad[2]:item(), 0.5, 0, "max ties split")
  T.close(tie.grad[3]:item(), 0.5, 0, "max ties split")
  tie.grad = nil
  local v = tie:max(1)
  v:backward()
  T.close(tie.grad:sum():item(), 1, 0, "max(dim) ties: one element")
end)

T.test("matmul", function()
  local cases = {
    {{4}, {4}}, {{3, 4}, {4}}, {{4}, {4, 2}}, {{3, 4}, {4, 2}}, {{2, 3, 4}, {4, 5}}, {{3, 4}, {2, 4, 5}},
    {{2, 3, 4}, {2, 4, 5}}, {{2, 1, 3, 4}, {3, 4, 2}}, {{2, 3, 4}, {4}}, {{4}, {2, 4, 3}},
  }
  for _, c in ipairs(cases) do
    local tag = string.format(" %s @ %s", table.concat(c[1], "x"), table.concat(c[2], "x"))
    check("matmul" .. tag, function(a, b) return a:matmul(b) end, {rnd(c[1]), rnd(c[2])})
    check("matmul nc" .. tag, function(a, b) return lt.matmul(a, b) end, {nc(c[1]), nc(c[2])})
  end
  check("mm", function(a, b) return a:mm(b) end, {rnd{3, 2}, rnd{2, 4}})
  check("mm transposed", function(a, b) return lt.mm(a:t(), b) end, {rnd{2, 3}, rnd{2, 4}})
  check("bmm", function(a, b) return a:bmm(b) end, {rnd{2, 3, 2}, rnd{2, 2, 3}})
  local c42 = lt.randn(4, 2, {dtype = "float64"})
  check("matmul one side", function(a) return a:matmul(c42) end, {rnd{3, 4}})
  check("linear layer", function(x, w, b) return (x:matmul(w:t()) + b):tanh():sum() end, {rnd{5, 3}, rnd{2, 3}, rnd{2}})
end)

T.test("views", function()
  for _, mk in ipairs{function() return rnd{2, 3, 4} end, function() return nc{2, 3, 4} end} do
    check("reshape", function(x) return x:reshape(4, 6) end, {mk()})
    check("reshape -1", function(x) return x:reshape(-1) end, {mk()})
    check("narrow", function(x) return x:narrow(2, 2, 2) end, {mk()})
    check("narrow negative start", function(x) return x:narrow(3, -2, 2) end, {mk()})
    check("select", function(x) return x:select(3, 2) end, {mk()})
    check("index", function(x) return x[2] end, {mk()})
    check("index negative", function(x) return x[-1][3] end, {mk()})
    check("transpose", function(x) return x:transpose(1, 3) end, {mk()})
    check("permute", function(x) return x:permute(3, 1, 2) end, {mk()})
    check("permute table", function(x) return x:permute{2, 3, 1} * lt.arange(2, {dtype = "float64"}) end, {mk()})
    check("unsqueeze", function(x) return x:unsqueeze(2) end, {mk()})
    check("flatten", function(x) return x:flatten() end, {mk()})
    check("flatten part", function(x) return x:flatten(2, 3) end, {mk()})
    check("contiguous", function(x) return x:contiguous() * 2 end, {mk()})
    check("clone", function(x) return x:clone() end, {mk()})
    check("expand_as", function(x) return x:narrow(1, 1, 1):expand_as(x) end, {mk()})
  end
  check("view", function(x) return x:view(3, 4) end, {rnd{2, 6}})
  check("view_as", function(x) return x:view_as(lt.zeros(4, 3)) end, {rnd{12}})
  check("t", function(x) return x:t() end, {rnd{2, 3}})
  check("t 1-D", function(x) return x:t() * 2 end, {rnd{3}})
  check("squeeze", function(x) return x:squeeze() end, {rnd{2, 1, 3, 1}})
  check("squeeze dim", function(x) return x:squeeze(2) end, {rnd{2, 1, 3}})
  check("expand", function(x) return x:expand(2, 3, 4) end, {rnd{3, 1}})
  check("expand -1", function(x) return x:expand(-1, 5) end, {rnd{2, 1}})
  check("expand 0-d", function(x) return x:expand(3) end, {scalar()})
  check("unsqueeze 0-d", function(x) return x:unsqueeze(1) end, {scalar()})
  check("flatten 0-d", function(x) return x:flatten() end, {scalar()})
  check("to float64 (no-op)", function(x) return x:to("float64") * 3 end, {rnd{2}})
  check("views chained", function(x) return x:t():reshape(6):narrow(1, 2, 3):unsqueeze(1):expand(2, 3) end, {rnd{2, 3}})
end)

T.test("composites", function()
  check("softmax by hand", function(x)
    local e = (x - x:max(2, true):detach()):exp()
    return e / e:sum(2, true)
  end, {rnd{3, 4}})
  check("log-sum-exp", function(x) return (x:exp():sum(1)):log() end, {rnd{4, 2}})
  check("mse", function(a, b) return ((a - b) ^ 2):mean() end, {rnd{3, 2}, rnd{3, 2}})
  check("layer norm by hand", function(x)
    local mu = x:mean(2, true)
    local var = x:var(2, {unbiased = false, keepdim = true})
    return (x - mu) / (var + 1e-5):sqrt()
  end, {rnd{2, 5}})
  check("in-place chain on a non-leaf", function(x)
    local y = x * 1
    y:mul_(2); y:add_(x); y:sub_(0.5); y:div_(3); y:pow_(2); y:clamp_(0, 2); y:exp_()
    return y
  end, {rnd{3}})
  check("index assignment", function(x, y)
    local buf = lt.zeros(3, 2, {dtype = "float64"})
    buf[1] = x
    buf[3] = y * 2
    buf[2] = 1
    return buf * buf
  end, {rnd{2}, rnd{1}})
end)

T.test("indexing and joining", function()
  check("cat", function(a, b) return lt.cat({a, b}, 1) end, {rnd{2, 3}, rnd{1, 3}})
  check("cat dim 2, non-contiguous", function(a, b, c) return lt.cat({a, b, c}, 2) end, {nc{2, 3}, rnd{2, 1}, nc{2, 2}})
  check("cat negative dim", function(a, b) return lt.cat({a, b}, -1) end, {rnd{2, 2}, rnd{2, 3}})
  check("cat with a constant and an empty", function(a)
    return lt.cat({a, lt.ones(2, 3, {dtype = "float64"}), lt.zeros(0, {dtype = "float64"})}, 1)
  end, {rnd{1, 3}})
  check("stack", function(a, b) return lt.stack({a, b}) end, {rnd{2, 3}, rnd{2, 3}})
  check("stack last dim", function(a, b) return lt.stack({a, b}, 3) end, {rnd{2, 3}, nc{2, 3}})
  check("stack 0-d", function(a, b) return lt.stack{a, b, a} end, {scalar(), scalar()})
  local idx = lt.tensor{3, 1, 3}
  check("index_select", function(x) return x:index_select(1, idx) end, {rnd{4, 2}})
  check("index_select dim 2", function(x) return x:index_select(2, {2, 2, 1}) end, {nc{3, 2}})
  local gidx = lt.tensor{{1, 2, 2}, {3, 3, 1}}
  check("gather", function(x) return x:gather(2, gidx) end, {rnd{2, 3}})
  check("gather dim 1", function(x) return x:gather(1, gidx) end, {rnd{3, 3}})
  check("sort", function(x) return (x:sort(2)) end, {rnd{3, 4}})
  check("sort descending dim 1", function(x) return (x:sort(1, true)) end, {nc{3, 4}})
  check("topk", function(x) return (x:topk(2)) end, {rnd{3, 5}})
  check("topk smallest dim 1", function(x) return (x:topk(2, 1, false)) end, {rnd{4, 3}})
  check("split", function(x) local p = x:split(2); return p[1] * 2 + p[2] end, {rnd{4, 3}})
  check("chunk", function(x) local p = x:chunk(3, 2); return p[1] - p[3] * p[2] end, {rnd{2, 6}})
  check("cumsum", function(x) return x:cumsum(2) end, {rnd{3, 4}})
  check("cumsum dim 1", function(x) return x:cumsum(1) end, {nc{3, 4}})
  local sidx = lt.tensor{{2, 1}, {1, 3}}
  check("scatter_add", function(x, src) return x:scatter_add(2, sidx, src) end, {rnd{2, 3}, rnd{2, 2}})
  check("scatter_add larger src", function(x, src) return x:scatter_add(2, sidx, src) end, {rnd{2, 3}, rnd{3, 4}})
  check("scatter", function(x, src) return x:scatter(2, sidx, src) end, {rnd{2, 3}, rnd{2, 2}})
  check("scatter value", function(x) return x:scatter(2, sidx, 0.5) end, {rnd{2, 3}})
  check("index_add", function(x, src) return x:index_add(1, lt.tensor{2, 1, 2}, src) end, {rnd{2, 3}, rnd{3, 3}})
  check("scatter_add_ on a non-leaf", function(x, src) local y = x * 1; y:scatter_add_(2, sidx, src); return y end,
        {rnd{2, 3}, rnd{2, 2}})
  local w = rnd{2, 3}
  T.checkerr("a leaf tensor that requires grad is used in an in-place operation (scatter_add_)",
             function() w:scatter_add_(2, sidx, lt.ones(2, 2, {dtype = "float64"})) end)
  local _, i = w:sort(2)
  T.check(not i.requires_grad and i:dtype() == "int64", "sort indices carry no gradient")
end)

os.exit(T.done())
