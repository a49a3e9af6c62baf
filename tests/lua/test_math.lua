-- test_math.lua — arithmetic on tensors: every elementwise op, operator and
-- in-place form against hand-computed values and against a float64
-- recomputation in plain Lua on random inputs (broadcasting of several
-- shapes, non-contiguous operands, scalars on either side, PyTorch's type
-- promotion), every reduction against a Lua recomputation, matmul/mm/bmm in
-- every shape case against a naive Lua product, where/masked_fill and clamp.
-- It is long because every op shares the plain-Lua reference side at the top.
local T = require "luatrain.testing"

math.randomseed(20240611)

-- --------------------------------------------------------------- reference side
-- A reference tensor is {shape = {...}, data = {...}} in row-major order.

local function flatten(l, out)
  if type(l) ~= "table" then out[#out + 1] = l else for _, x in ipairs(l) do flatten(x, out) end end
  return out
end

local function numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

local function ref(t) return {shape = t:shape(), data = flatten(t:tolist(), {})} end

-- 0-based linear index -> 1-based multi-index
local function unravel(shape, k)
  local idx = {}
  for d = #shape, 1, -1 do
    idx[d] = k % shape[d] + 1
    k = k // shape[d]
  end
  return idx
end

-- element of r at a multi-index of an `nd`-d broadcast shape (right-aligned)
local function get(r, idx)
  local nd, off, k = #idx, #idx - #r.shape, 0
  for d = 1, #r.shape do
    local i = r.shape[d] == 1 and 1 or idx[d + off]
    k = k * r.shape[d] + (i - 1)
  end
  assert(nd >= #r.shape)
  return r.data[k + 1]
end

local function bshape(a, b)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local x = a[i - (n - #a)] or 1
    local y = b[i - (n - #b)] or 1
    if i - (n - #a) < 1 then x = 1 end
    if i - (n - #b) < 1 then y = 1 end
    assert(x == y or x == 1 or y == 1, "bad test shapes")
    out[i] = x == 1 and y or x
  end
  return out
end

local function ref_map2(f, ra, rb)
  local shape = bshape(ra.shape, rb.shape)
  local out = {shape = shape, data = {}}
  for k = 0, numel(shape) - 1 do
    local idx = unravel(shape, k)
    out.data[k + 1] = f(get(ra, idx), get(rb, idx))
  end
  return out
end

local function ref_map1(f, r)
  local out = {shape = r.shape, data = {}}
  for i, v in ipairs(r.data) do out.data[i] = f(v) end
  return out
end

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function close(a, b, tol)
  if type(a) == "boolean" or type(b) == "boolean" then return a == b end
  if a ~= a then return b ~= b end
  if a == b then return true end
  if tol == 0 or b == math.huge or b == -math.huge then return false end
  return math.abs(a - b) <= tol * (1 + math.abs(b))
end

-- t (a tensor) against r (a reference); tol 0 = exact
local function check_ref(t, r, tol, what)
  if not same_shape(t:shape(), r.shape) then
    return T.check(false, what .. ": shape [" .. table.concat(t:shape(), ",") .. "], expected [" .. table.concat(r.shape, ",") .. "]")
  end
  local got = flatten(t:tolist(), {})
  for i = 1, #r.data do
    if not close(got[i], r.data[i], tol) then
      return T.check(false, string.format("%s: element %d is %s, expected %s", what, i, tostring(got[i]), tostring(r.data[i])))
    end
  end
  return T.check(true, what)
end

local function check_list(t, want, what, tol)
  return check_ref(t, {shape = t:shape(), data = flatten(want, {})}, tol or 0, what)
end

-- A tensor of logical `shape` holding gen() values, laid out as `layout`:
-- "contig", "transposed" (last two dims stored swapped), "narrowed" (a slice
-- of a wider last dim), "strided" (every other element) or "expanded" (size-1
-- dims of the shape are broadcast from a smaller tensor: only for shapes with 1s).
local function make(shape, gen, dtype, layout)
  local opts = {dtype = dtype or "float32"}
  local n = numel(shape)
  local function from(flat, sh) return lt.tensor(flat, opts):view(sh) end
  local vals = {}
  layout = layout or "contig"
  if n == 0 then return lt.zeros(shape, opts) end
  if layout == "transposed" and #shape >= 2 then
    local sh = {table.unpack(shape)}
    sh[#sh], sh[#sh - 1] = sh[#sh - 1], sh[#sh]
    for i = 1, n do vals[i] = gen() end
    return from(vals, sh):transpose(-1, -2)
  elseif layout == "narrowed" and #shape >= 1 then
    local sh = {table.unpack(shape)}
    sh[#sh] = sh[#sh] + 3
    for i = 1, numel(sh) do vals[i] = gen() end
    return from(vals, sh):narrow(#sh, 2, shape[#shape])
  elseif layout == "strided" and #shape >= 1 then
    local sh = {table.unpack(shape)}
    sh[#sh + 1] = 2
    for i = 1, numel(sh) do vals[i] = gen() end
    return from(vals, sh):select(-1, 2)
  end
  for i = 1, n do vals[i] = gen() end
  return from(vals, shape)
end

local function uniform(lo, hi) return function() return lo + (hi - lo) * math.random() end end
local function ints(lo, hi) return function() return math.random(lo, hi) end end
local function choice(list) return function() return list[math.random(#list)] end end

-- plain-Lua versions of the ops
local function tanh(x)
  if x > 20 then return 1.0 elseif x < -20 then return -1.0 end
  local e = math.exp(2 * x)
  return (e - 1) / (e + 1)
end
local function round_even(x)
  local f = math.floor(x)
  local d = x - f
  if d > 0.5 then return f + 1.0 elseif d < 0.5 then return f + 0.0 end
  return (f % 2 == 0) and f + 0.0 or f + 1.0
end
local function sign(x) if x > 0 then return 1.0 elseif x < 0 then return -1.0 else return x end end
local function remainder(a, b)
  if math.type(a) == "integer" and math.type(b) == "integer" then return a % b end
  local r = math.fmod(a, b)
  if r ~= 0 and (r < 0) ~= (b < 0) then r = r + b end
  return r
end
local function truthy(x) return x ~= 0 and x ~= false end

-- ------------------------------------------------------------------- unary ops

local unary = {
  {"neg", function(x) return -x end, uniform(-3, 3)},
  {"abs", math.abs, uniform(-3, 3)},
  {"exp", math.exp, uniform(-3, 3)},
  {"log", math.log, uniform(0.01, 5)},
  {"sqrt", math.sqrt, uniform(0, 5)},
  {"rsqrt", function(x) return 1 / math.sqrt(x) end, uniform(0.01, 5)},
  {"sin", math.sin, uniform(-4, 4)},
  {"cos", math.cos, uniform(-4, 4)},
  {"tanh", tanh, uniform(-4, 4)},
  {"sigmoid", function(x) return 1 / (1 + math.exp(-x)) end, uniform(-6, 6)},
  {"relu", function(x) return x > 0 and x or 0.0 end, uniform(-3, 3)},
  {"floor", math.floor, uniform(-3, 3)},
  {"ceil", math.ceil, uniform(-3, 3)},
  {"round", round_even, choice{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7, 1.49, 2.51}},
  {"sign", sign, choice{-2.5, 0.0, 3.0, -0.1}},
  {"reciprocal", function(x) return 1 / x end, uniform(0.1, 3)},
  {"square", function(x) return x * x end, uniform(-3, 3)},
}

T.test("unary ops, hand values", function()
  local x = lt.tensor{-2.5, -0.5, 0.0, 0.5, 1.5, 4.0}
  check_list(x:neg(), {2.5, 0.5, -0.0, -0.5, -1.5, -4.0}, "neg")
  check_list(-x, {2.5, 0.5, 0.0, -0.5, -1.5, -4.0}, "unary minus")
  check_list(x:abs(), {2.5, 0.5, 0.0, 0.5, 1.5, 4.0}, "abs")
  check_list(x:relu(), {0.0, 0.0, 0.0, 0.5, 1.5, 4.0}, "relu")
  check_list(x:floor(), {-3.0, -1.0, 0.0, 0.0, 1.0, 4.0}, "floor")
  check_list(x:ceil(), {-2.0, -0.0, 0.0, 1.0, 2.0, 4.0}, "ceil")
  check_list(x:round(), {-2.0, -0.0, 0.0, 0.0, 2.0, 4.0}, "round half to even")
  check_list(x:sign(), {-1.0, -1.0, 0.0, 1.0, 1.0, 1.0}, "sign")
  check_list(x:square(), {6.25, 0.25, 0.0, 0.25, 2.25, 16.0}, "square")
  check_list(lt.tensor{4.0, 0.25}:sqrt(), {2.0, 0.5}, "sqrt")
  check_list(lt.tensor{4.0, 0.25}:rsqrt(), {0.5, 2.0}, "rsqrt")
  check_list(lt.tensor{4.0, -0.5}:reciprocal(), {0.25, -2.0}, "reciprocal")
  check_list(lt.tensor{0.0}:exp(), {1.0}, "exp(0)")
  check_list(lt.tensor{1.0, 0.0, -1.0}:log(), {0.0, -math.huge, 0 / 0}, "log of 1, 0, -1")
  check_list(lt.tensor{0.0}:sigmoid(), {0.5}, "sigmoid(0)")
  check_list(lt.tensor{0.0}:tanh(), {0.0}, "tanh(0)")
  check_list(lt.tensor{0 / 0, 1.0}:relu(), {0 / 0, 1.0}, "relu keeps nan")
  check_list(lt.tensor{0 / 0, 1.0, math.huge}:isnan(), {true, false, false}, "isnan")
  check_list(lt.tensor{0.0, 2.0, 0 / 0}:logical_not(), {true, false, false}, "logical_not (nan is true)")
  check_list(lt.tensor{0, 3}:logical_not(), {true, false}, "logical_not int")
  T.check(lt.tensor{0, 3}:logical_not():dtype() == "bool", "logical_not gives bool")
  -- integer inputs: exact ops stay integral, float-only ops give float32
  local i = lt.tensor{-3, 0, 2}
  check_list(i:neg(), {3, 0, -2}, "int neg")
  check_list(i:abs(), {3, 0, 2}, "int abs")
  check_list(i:square(), {9, 0, 4}, "int square")
  check_list(i:sign(), {-1, 0, 1}, "int sign")
  check_list(i:relu(), {0, 0, 2}, "int relu")
  check_list(i:floor(), {-3, 0, 2}, "int floor is the identity")
  T.check(i:neg():dtype() == "int64" and i:floor():dtype() == "int64", "integral ops keep int64")
  local e = i:exp()
  T.check(e:dtype() == "float32", "exp of int64 is float32")
  check_list(e, {math.exp(-3), 1.0, math.exp(2)}, "exp of ints", 1e-6)
  T.check(lt.tensor{4}:sqrt():dtype() == "float32" and lt.tensor{4}:sqrt():item() == 2.0, "sqrt of int")
  check_list(lt.tensor({-3, 2}, {dtype = "int32"}):abs(), {3, 2}, "int32 abs")
  check_list(lt.tensor({200}, {dtype = "uint8"}):neg(), {56}, "uint8 neg wraps")
  -- in-place forms return the tensor and modify it
  local y = lt.tensor{-1.5, 2.0}
  local r = y:abs_()
  T.check(rawequal(r, y), "abs_ returns self")
  check_list(y, {1.5, 2.0}, "abs_")
  y:neg_():exp_()
  check_list(y, {math.exp(-1.5), math.exp(-2)}, "chained in-place", 1e-6)
  T.checkerr("in-place result of type float32 can't be stored in an int64 tensor", lt.sqrt_, lt.tensor{4, 9})
end)

T.test("unary ops against Lua, random inputs", function()
  for _, case in ipairs(unary) do
    local name, f, gen = case[1], case[2], case[3]
    for _, dtype in ipairs{"float32", "float64"} do
      local tol = dtype == "float32" and 2e-6 or 1e-14
      for _, layout in ipairs{"contig", "transposed", "narrowed", "strided"} do
        local x = make({7, 5}, gen, dtype, layout)
        local r = ref_map1(f, ref(x))
        check_ref(x[name](x), r, tol, name .. " " .. dtype .. " " .. layout)
        check_ref(lt[name](x), r, tol, "lt." .. name .. " " .. dtype .. " " .. layout)
        local c = x:clone()
        local back = c[name .. "_"](c)
        T.check(rawequal(back, c), name .. "_ returns self")
        check_ref(c, r, tol, name .. "_ " .. dtype .. " " .. layout)
      end
    end
    -- large enough for the threaded path, and in-place on a non-contiguous view
    local big = make({200, 301}, gen, "float32", "transposed")
    check_ref(big[name](big), ref_map1(f, ref(big)), 2e-6, name .. " large transposed")
    local base = make({40, 60}, gen, "float64")
    local before = ref(base)
    local view = base:narrow(2, 11, 30)
    view[name .. "_"](view)
    local want = {shape = before.shape, data = {}}
    for k = 0, 40 * 60 - 1 do
      local col = k % 60 + 1
      want.data[k + 1] = (col >= 11 and col <= 40) and f(before.data[k + 1]) or before.data[k + 1]
    end
    check_ref(base, want, 1e-14, name .. "_ on a narrowed view leaves the rest alone")
  end
end)

T.test("clamp", function()
  local x = lt.tensor{-3.0, -1.0, 0.5, 2.0, 5.0, 0 / 0}
  check_list(x:clamp(-1, 2), {-1.0, -1.0, 0.5, 2.0, 2.0, 0 / 0}, "clamp(min, max) keeps nan")
  check_list(x:clamp(nil, 1), {-3.0, -1.0, 0.5, 1.0, 1.0, 0 / 0}, "clamp(nil, max)")
  check_list(x:clamp(0), {0.0, 0.0, 0.5, 2.0, 5.0, 0 / 0}, "clamp(min)")
  check_list(lt.clamp(x, -1, 2), {-1.0, -1.0, 0.5, 2.0, 2.0, 0 / 0}, "lt.clamp")
  check_list(lt.clip(x, -1, 2), {-1.0, -1.0, 0.5, 2.0, 2.0, 0 / 0}, "lt.clip")
  local i = lt.tensor{-5, 0, 5}
  local ic = i:clamp(-2, 3)
  T.check(ic:dtype() == "int64", "integer clamp with integer bounds stays int64")
  check_list(ic, {-2, 0, 3}, "int clamp")
  local fc = i:clamp(-2.5, 3)
  T.check(fc:dtype() == "float32", "integer clamp with a float bound gives float32")
  check_list(fc, {-2.5, 0.0, 3.0}, "int clamp with float bound")
  local y = x:clone()
  T.check(rawequal(y:clamp_(0, 1), y), "clamp_ returns self")
  check_list(y, {0.0, 0.0, 0.5, 1.0, 1.0, 0 / 0}, "clamp_")
  local big = make({3, 400}, uniform(-2, 2), "float64", "transposed")
  check_ref(big:clamp(-0.5, 0.25), ref_map1(function(v) return math.min(math.max(v, -0.5), 0.25) end, ref(big)), 0,
            "clamp random transposed")
end)

T.test("clamp with an options table", function()
  local x = lt.tensor{-3.0, -1.0, 0.5, 2.0, 5.0}
  check_list(x:clamp{min = 1}, {1.0, 1.0, 1.0, 2.0, 5.0}, "clamp{min=}")
  check_list(x:clamp{max = -2}, {-3.0, -2.0, -2.0, -2.0, -2.0}, "clamp{max=}")
  check_list(x:clamp{min = -1, max = 1}, {-1.0, -1.0, 0.5, 1.0, 1.0}, "clamp{min=, max=}")
end)

-- ------------------------------------------------------------------ binary ops

local binary = {
  {"add", function(a, b) return a + b end, uniform(-3, 3), uniform(-3, 3)},
  {"sub", function(a, b) return a - b end, uniform(-3, 3), uniform(-3, 3)},
  {"mul", function(a, b) return a * b end, uniform(-3, 3), uniform(-3, 3)},
  {"div", function(a, b) return a / b end, uniform(-3, 3), choice{-2.5, -0.5, 0.25, 1.5, 3.0}},
  {"pow", function(a, b) return a ^ b end, uniform(0.2, 3), uniform(-2, 2)},
  {"maximum", math.max, uniform(-3, 3), uniform(-3, 3)},
  {"minimum", math.min, uniform(-3, 3), uniform(-3, 3)},
  {"fmod", math.fmod, uniform(-5, 5), choice{-2.5, -1.5, 0.75, 2.0}},
  {"remainder", remainder, uniform(-5, 5), choice{-2.5, -1.5, 0.75, 2.0}},
  {"atan2", function(a, b) return math.atan(a, b) end, uniform(-3, 3), uniform(-3, 3)},
}
local compare = {
  {"eq", function(a, b) return a == b end},
  {"ne", function(a, b) return a ~= b end},
  {"lt", function(a, b) return a < b end},
  {"le", function(a, b) return a <= b end},
  {"gt", function(a, b) return a > b end},
  {"ge", function(a, b) return a >= b end},
  {"logical_and", function(a, b) return truthy(a) and truthy(b) end},
  {"logical_or", function(a, b) return truthy(a) or truthy(b) end},
  {"logical_xor", function(a, b) return truthy(a) ~= truthy(b) end},
}
local shape_pairs = {
  {{4, 5}, {4, 5}}, {{4, 5}, {5}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}}, {{1}, {2, 3}}, {{}, {2, 3}},
  {{2, 3}, {}}, {{5, 1, 3}, {1, 4, 1}}, {{2, 1, 3, 1}, {4, 1, 5}},
}
local layouts = {"contig", "transposed", "narrowed", "strided"}

T.test("binary ops, hand values", function()
  local a, b = lt.tensor{1.0, 2.0, 3.0}, lt.tensor{10.0, 20.0, 30.0}
  check_list(a + b, {11.0, 22.0, 33.0}, "+")
  check_list(b - a, {9.0, 18.0, 27.0}, "-")
  check_list(a * b, {10.0, 40.0, 90.0}, "*")
  check_list(b / a, {10.0, 10.0, 10.0}, "/")
  check_list(a ^ 2, {1.0, 4.0, 9.0}, "^ scalar")
  check_list(2 ^ a, {2.0, 4.0, 8.0}, "scalar ^ tensor")
  check_list(a ^ a, {1.0, 4.0, 27.0}, "^ tensor")
  check_list(lt.tensor{-3.0, 3.0, -3.5} % 2, {1.0, 1.0, 0.5}, "% is remainder (sign of the divisor)")
  check_list(lt.tensor{-3.0, 3.0} % -2, {-1.0, -1.0}, "% with a negative divisor")
  check_list(lt.tensor{-3.0, 3.0}:fmod(2), {-1.0, 1.0}, "fmod (sign of the dividend)")
  check_list(lt.tensor{-7, 7, -8} % 3, {2, 1, 1}, "integer remainder")
  check_list(lt.tensor{-7, 7}:fmod(3), {-1, 1}, "integer fmod")
  check_list(lt.tensor{-7, 7}:remainder(-3), {-1, -2}, "integer remainder, negative divisor")
  check_list(a + 1, {2.0, 3.0, 4.0}, "tensor + number")
  check_list(1 + a, {2.0, 3.0, 4.0}, "number + tensor")
  check_list(10 - a, {9.0, 8.0, 7.0}, "number - tensor")
  check_list(a - 10, {-9.0, -8.0, -7.0}, "tensor - number")
  check_list(6 / a, {6.0, 3.0, 2.0}, "number / tensor")
  check_list(a * 0.5, {0.5, 1.0, 1.5}, "tensor * float")
  check_list(lt.add(2, a), {3.0, 4.0, 5.0}, "lt.add(number, tensor)")
  check_list(lt.sub(2, a), {1.0, 0.0, -1.0}, "lt.sub(number, tensor)")
  check_list(a:add(b, 2), {21.0, 42.0, 63.0}, "add with alpha")
  check_list(a:sub(b, 0.5), {-4.0, -8.0, -12.0}, "sub with alpha")
  check_list(a:add(1, 3), {4.0, 5.0, 6.0}, "add scalar with alpha")
  check_list(lt.tensor{1.0, 0 / 0, 3.0}:maximum(lt.tensor{2.0, 1.0, 0 / 0}), {2.0, 0 / 0, 0 / 0}, "maximum propagates nan")
  check_list(lt.tensor{1.0, 0 / 0}:minimum(lt.tensor{2.0, 1.0}), {1.0, 0 / 0}, "minimum propagates nan")
  check_list(a:max(lt.tensor{2.0, 2.0, 2.0}), {2.0, 2.0, 3.0}, "max(tensor) is elementwise")
  check_list(a:min(lt.tensor{2.0, 2.0, 2.0}), {1.0, 2.0, 2.0}, "min(tensor) is elementwise")
  check_list(lt.tensor{1.0, 0.0}:atan2(lt.tensor{1.0, -1.0}), {math.pi / 4, math.pi}, "atan2", 1e-7)
  check_list(lt.tensor{1.0, -1.0, 0.0} / 0, {math.huge, -math.huge, 0 / 0}, "float division by zero")
  check_list(lt.tensor{2, 3, -2} ^ 3, {8, 27, -8}, "integer power")
  check_list(lt.tensor{2, 3} ^ lt.tensor{10, 0}, {1024, 1}, "integer power of tensors")
  -- comparisons give bool
  local c = lt.tensor{1, 2, 3}
  check_list(c:lt(2), {true, false, false}, "lt")
  check_list(c:le(2), {true, true, false}, "le")
  check_list(c:gt(2), {false, false, true}, "gt")
  check_list(c:ge(2), {false, true, true}, "ge")
  check_list(c:eq(2), {false, true, false}, "eq")
  check_list(c:ne(2), {true, false, true}, "ne")
  check_list(c:lt(2.5), {true, true, false}, "int tensor < 2.5")
  check_list(lt.lt(2, c), {false, false, true}, "number < tensor")
  check_list(c:eq(lt.tensor{1.0, 0.0, 3.0}), {true, false, true}, "int == float tensor")
  T.check(c:lt(2):dtype() == "bool", "comparisons give bool")
  check_list(lt.tensor{0 / 0}:eq(lt.tensor{0 / 0}), {false}, "nan ~= nan")
  check_list(lt.tensor{0 / 0}:ne(0 / 0), {true}, "nan ne")
  local p, q = lt.tensor{true, true, false, false}, lt.tensor{true, false, true, false}
  check_list(p:logical_and(q), {true, false, false, false}, "logical_and")
  check_list(p:logical_or(q), {true, true, true, false}, "logical_or")
  check_list(p:logical_xor(q), {false, true, true, false}, "logical_xor")
  check_list(lt.tensor{0.0, 2.0}:logical_and(lt.tensor{3, 3}), {false, true}, "logical_and of numbers")
end)

T.test("type promotion", function()
  local i, f = lt.tensor{1, 2}, lt.tensor{0.5, 1.5}
  local function is(t, dtype, want, what, tol)
    T.check(t:dtype() == dtype, what .. ": dtype " .. t:dtype() .. ", expected " .. dtype)
    check_list(t, want, what, tol)
  end
  is(i + 2.5, "float32", {3.5, 4.5}, "int tensor + 2.5")
  is(2.5 + i, "float32", {3.5, 4.5}, "2.5 + int tensor")
  is(i + 2, "int64", {3, 4}, "int tensor + int")
  is(i / lt.tensor{2, 2}, "float32", {0.5, 1.0}, "int / int tensor")
  is(i / 2, "float32", {0.5, 1.0}, "int / int scalar")
  is(3 / i, "float32", {3.0, 1.5}, "int scalar / int tensor")
  is(i + f, "float32", {1.5, 3.5}, "int64 + float32")
  is(f + f:double(), "float64", {1.0, 3.0}, "float32 + float64")
  is(i:int() + i, "int64", {2, 4}, "int32 + int64")
  is(i:int() + 1, "int32", {2, 3}, "int32 + int scalar")
  is(lt.tensor({250, 3}, {dtype = "uint8"}) + 10, "uint8", {4, 13}, "uint8 + int wraps")
  is(lt.tensor({250}, {dtype = "uint8"}) + lt.tensor({10}, {dtype = "int32"}), "int32", {260}, "uint8 + int32")
  is(lt.tensor{true, false} + 1, "int64", {2, 1}, "bool + int")
  is(lt.tensor{true, false} + 1.5, "float32", {2.5, 1.5}, "bool + float")
  is(lt.tensor{true, false} + lt.tensor{true, true}, "bool", {true, true}, "bool + bool")
  is(lt.tensor{true, false} * lt.tensor{3, 4}, "int64", {3, 0}, "bool * int64")
  is(i ^ 0.5, "float32", {1.0, math.sqrt(2)}, "int ^ 0.5", 1e-7)
  is(f:bfloat16() + 1.5, "bfloat16", {2.0, 3.0}, "bfloat16 + float scalar")
  is(f:bfloat16() + i, "bfloat16", {1.5, 3.5}, "bfloat16 + int64")
  is(f:bfloat16() + f:half(), "float32", {1.0, 3.0}, "bfloat16 + float16")
  is(f:half() * 2, "float16", {1.0, 3.0}, "float16 * int")
  is(f:double() * 2, "float64", {1.0, 3.0}, "float64 * int")
  is(i:atan2(i), "float32", {math.pi / 4, math.pi / 4}, "atan2 of ints", 1e-7)
  is(i:maximum(f), "float32", {1.0, 2.0}, "maximum int, float")
  is(lt.where(lt.tensor{true, false}, i, f), "float32", {1.0, 1.5}, "where promotes")
  -- in place, the result is cast to the left operand's dtype when PyTorch
  -- allows it (not float into an integer, not anything but bool into bool)
  local x = lt.tensor{1.5, 2.5}
  x:add_(lt.tensor{1, 2})
  is(x, "float32", {2.5, 4.5}, "float32 += int64")
  local y = lt.tensor{1, 2}
  y:mul_(3)
  is(y, "int64", {3, 6}, "int64 *= 3")
  local u = lt.tensor({250}, {dtype = "uint8"})
  u:add_(lt.tensor{10})
  is(u, "uint8", {4}, "uint8 += int64 wraps")
  local x32 = lt.tensor{1.0, 2.0}
  x32:add_(lt.tensor({0.1, 1e-9}, {dtype = "float64"}))
  is(x32, "float32", {1.1, 2.0}, "float32 += float64 (computed in float64, stored in float32)", 1e-7)
  local i32 = lt.tensor({1, 2}, {dtype = "int32"})
  i32:mul_(lt.tensor{3, (1 << 32) + 1})
  is(i32, "int32", {3, 2}, "int32 *= int64 wraps")
  local hb = lt.tensor{1.0, 2.0}:bfloat16()
  hb:div_(lt.tensor{4.0, 3.0})
  is(hb, "bfloat16", {0.25, 0.66796875}, "bfloat16 /= float32")
  T.checkerr("in-place result of type float32 can't be stored in an int64 tensor", function() lt.tensor{1}:add_(0.5) end)
  T.checkerr("in-place result of type float32 can't be stored in an int64 tensor", function() lt.tensor{1}:div_(lt.tensor{2}) end)
  T.checkerr("in-place result of type int64 can't be stored in a bool tensor", function() lt.tensor{true}:add_(1) end)
  T.checkerr("in-place result of type float64 can't be stored in an int32 tensor",
             function() lt.tensor({1}, {dtype = "int32"}):add_(lt.tensor({1}, {dtype = "float64"})) end)
end)

T.test("binary ops against Lua, broadcasting and layouts", function()
  for _, case in ipairs(binary) do
    local name, f, ga, gb = case[1], case[2], case[3], case[4]
    for pi, sp in ipairs(shape_pairs) do
      local la, lb = layouts[(pi % #layouts) + 1], layouts[((pi + 1) % #layouts) + 1]
      for _, dtype in ipairs{"float32", "float64"} do
        local tol = dtype == "float32" and 3e-6 or 1e-13
        local a, b = make(sp[1], ga, dtype, la), make(sp[2], gb, dtype, lb)
        local r = ref_map2(f, ref(a), ref(b))
        local what = string.format("%s %s [%s]%s x [%s]%s", name, dtype, table.concat(sp[1], ","), la,
                                   table.concat(sp[2], ","), lb)
        check_ref(a[name](a, b), r, tol, what)
        check_ref(lt[name](a, b), r, tol, "lt." .. what)
        -- in place when b broadcasts to a
        if same_shape(bshape(sp[1], sp[2]), sp[1]) then
          local c = a:clone()
          local back = c[name .. "_"](c, b)
          T.check(rawequal(back, c), name .. "_ returns self")
          check_ref(c, r, tol, name .. "_ " .. what)
        end
      end
    end
    -- scalars on either side
    local a = make({3, 4}, ga, "float64", "transposed")
    local s = gb()
    check_ref(a[name](a, s), ref_map2(f, ref(a), {shape = {}, data = {s}}), 1e-13, name .. " tensor, number")
    local s2 = ga()
    local b = make({3, 4}, gb, "float64", "strided")
    check_ref(lt[name](s2, b), ref_map2(f, {shape = {}, data = {s2}}, ref(b)), 1e-13, name .. " number, tensor")
    -- large broadcast (threaded path), non-contiguous
    local la = make({300, 200}, ga, "float32", "transposed")
    local lb = make({200}, gb, "float32", "strided")
    check_ref(la[name](la, lb), ref_map2(f, ref(la), ref(lb)), 3e-6, name .. " large broadcast")
  end
  -- operators on random operands
  local a, b = make({6, 1, 4}, uniform(-2, 2), "float64", "narrowed"), make({5, 4}, choice{-1.5, 0.5, 2.0}, "float64", "transposed")
  local ra, rb = ref(a), ref(b)
  check_ref(a + b, ref_map2(function(x, y) return x + y end, ra, rb), 1e-14, "operator +")
  check_ref(a - b, ref_map2(function(x, y) return x - y end, ra, rb), 1e-14, "operator -")
  check_ref(a * b, ref_map2(function(x, y) return x * y end, ra, rb), 1e-14, "operator *")
  check_ref(a / b, ref_map2(function(x, y) return x / y end, ra, rb), 1e-14, "operator /")
  check_ref(a % b, ref_map2(remainder, ra, rb), 1e-14, "operator %")
  check_ref(a:abs() ^ b, ref_map2(function(x, y) return math.abs(x) ^ y end, ra, rb), 1e-13, "operator ^")
  check_ref(-a, ref_map1(function(x) return -x end, ra), 0, "operator unary -")
end)

T.test("integer binary ops against Lua", function()
  local iops = {
    {"add", function(a, b) return a + b end}, {"sub", function(a, b) return a - b end},
    {"mul", function(a, b) return a * b end}, {"maximum", math.max}, {"minimum", math.min},
    {"remainder", function(a, b) return a % b end}, {"fmod", math.fmod},
  }
  for _, case in ipairs(iops) do
    for _, dtype in ipairs{"int64", "int32"} do
      local a = make({4, 3}, ints(-50, 50), dtype, "transposed")
      local b = make({3}, choice{-7, -2, 3, 5}, dtype, "strided")
      check_ref(a[case[1]](a, b), ref_map2(case[2], ref(a), ref(b)), 0, case[1] .. " " .. dtype)
    end
  end
  local a, b = make({5, 5}, ints(-5, 5), "int64"), make({5, 5}, ints(0, 4), "int64", "transposed")
  check_ref(a ^ b, ref_map2(function(x, y) return math.tointeger(x ^ y) end, ref(a), ref(b)), 0, "integer pow")
  for _, case in ipairs(compare) do
    local x = make({4, 1}, ints(-2, 2), "int64")
    local y = make({3}, ints(-2, 2), "int64", "strided")
    check_ref(x[case[1]](x, y), ref_map2(case[2], ref(x), ref(y)), 0, case[1] .. " int64")
    local fx = make({3, 4}, choice{0.0, 1.5, -2.0}, "float32", "transposed")
    local fy = make({3, 4}, choice{0.0, 1.5, -2.0}, "float64", "narrowed")
    local r = ref_map2(case[2], ref(fx), ref(fy))
    check_ref(fx[case[1]](fx, fy), r, 0, case[1] .. " float32 vs float64")
    check_ref(lt[case[1]](fx, fy), r, 0, "lt." .. case[1])
    local s = 1.5
    check_ref(fx[case[1]](fx, s), ref_map2(case[2], ref(fx), {shape = {}, data = {s}}), 0, case[1] .. " with a number")
  end
  -- int64 arithmetic is exact beyond 2^53 and wraps like two's complement
  local big = lt.tensor{(1 << 62) + 1, math.maxinteger}
  check_list(big + 1, {(1 << 62) + 2, math.mininteger}, "int64 exact and wrapping")
  check_list(big * 2, {(1 << 63) + 2, -2}, "int64 multiplication wraps")
end)

T.test("where and masked_fill", function()
  local c = lt.tensor{true, false, true}
  check_list(lt.where(c, lt.tensor{1, 2, 3}, lt.tensor{10, 20, 30}), {1, 20, 3}, "where")
  check_list(lt.where(c, 1.5, lt.tensor{10.0, 20.0, 30.0}), {1.5, 20.0, 1.5}, "where with a number")
  check_list(lt.where(c, lt.tensor{1, 2, 3}, 0), {1, 0, 3}, "where with an int number")
  T.check(lt.where(c, lt.tensor{1, 2, 3}, 0.5):dtype() == "float32", "where int tensor, float number -> float32")
  check_list(lt.where(lt.tensor{{true}, {false}}, lt.tensor{1, 2}, lt.tensor{{5}, {6}}), {{1, 2}, {6, 6}}, "where broadcasts")
  local cond = make({4, 1, 5}, choice{true, false}, "bool")
  local a, b = make({3, 1}, uniform(-1, 1), "float64", "transposed"), make({5}, uniform(-1, 1), "float64", "strided")
  local rc, ra, rb = ref(cond), ref(a), ref(b)
  local shape = bshape(bshape(rc.shape, ra.shape), rb.shape)
  local want = {shape = shape, data = {}}
  for k = 0, numel(shape) - 1 do
    local idx = unravel(shape, k)
    want.data[k + 1] = get(rc, idx) and get(ra, idx) or get(rb, idx)
  end
  check_ref(lt.where(cond, a, b), want, 0, "where random broadcast")
  local t = lt.arange(6):view(2, 3):float()
  local m = lt.tensor{true, false, true}
  local filled = t:masked_fill(m, -1)
  check_list(filled, {{-1.0, 1.0, -1.0}, {-1.0, 4.0, -1.0}}, "masked_fill broadcasts the mask")
  check_list(t, {{0.0, 1.0, 2.0}, {3.0, 4.0, 5.0}}, "masked_fill leaves the input")
  T.check(rawequal(t:masked_fill_(lt.tensor{{false}, {true}}, 9.5), t), "masked_fill_ returns self")
  check_list(t, {{0.0, 1.0, 2.0}, {9.5, 9.5, 9.5}}, "masked_fill_")
  local nc = lt.zeros(3, 4):t()
  nc:masked_fill_(lt.tensor{true, false, false}, 1)
  check_list(nc, {{1.0, 0.0, 0.0}, {1.0, 0.0, 0.0}, {1.0, 0.0, 0.0}, {1.0, 0.0, 0.0}}, "masked_fill_ on a transposed tensor")
  local it = lt.tensor{1, 2, 3}
  check_list(it:masked_fill(lt.tensor{false, true, false}, 7), {1, 7, 3}, "masked_fill int")
end)

T.test("fill, zero, copy", function()
  local t = lt.zeros(2, 3)
  T.check(rawequal(t:fill_(2.5), t), "fill_ returns self")
  check_list(t, {{2.5, 2.5, 2.5}, {2.5, 2.5, 2.5}}, "fill_")
  t:t():narrow(1, 2, 1):fill_(-1)
  check_list(t, {{2.5, -1.0, 2.5}, {2.5, -1.0, 2.5}}, "fill_ of a view")
  t:zero_()
  check_list(t, {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}}, "zero_")
  t:copy_(lt.tensor{1, 2, 3})
  check_list(t, {{1.0, 2.0, 3.0}, {1.0, 2.0, 3.0}}, "copy_ broadcasts and converts")
  t:t():copy_(lt.arange(6):view(3, 2))
  check_list(t, {{0.0, 2.0, 4.0}, {1.0, 3.0, 5.0}}, "copy_ into a transposed view")
  -- overlapping source and destination behave as if the source were copied first
  local v = lt.arange(6)
  v:narrow(1, 2, 5):copy_(v:narrow(1, 1, 5))
  check_list(v, {0, 0, 1, 2, 3, 4}, "copy_ from an overlapping view")
  local sq = lt.arange(9):view(3, 3)
  sq:add_(sq:t())
  check_list(sq, {{0, 4, 8}, {4, 8, 12}, {8, 12, 16}}, "a += a.T")
  local sq2 = lt.arange(9):view(3, 3):float()
  sq2:mul_(sq2)
  check_list(sq2, {{0.0, 1.0, 4.0}, {9.0, 16.0, 25.0}, {36.0, 49.0, 64.0}}, "a *= a (same elements) is fine")
  local bm = lt.tensor{{true, true}, {true, true}}
  bm:masked_fill_(bm:t(), false)
  check_list(bm, {{false, false}, {false, false}}, "masked_fill_ with a mask that is a view of the target")
end)

-- ------------------------------------------------------------------ reductions

local function reduce_ref(r, dims, keepdim, f)
  local nd = #r.shape
  local red = {}
  if dims == nil then for d = 1, nd do red[d] = true end
  else for _, d in ipairs(dims) do red[d < 0 and d + nd + 1 or d] = true end end
  local oshape = {}
  for d = 1, nd do
    if not red[d] then oshape[#oshape + 1] = r.shape[d] elseif keepdim then oshape[#oshape + 1] = 1 end
  end
  local groups = {}
  for k = 0, numel(r.shape) - 1 do
    local idx = unravel(r.shape, k)
    local o = 0
    for d = 1, nd do
      if not red[d] then o = o * r.shape[d] + (idx[d] - 1) end
    end
    groups[o + 1] = groups[o + 1] or {}
    table.insert(groups[o + 1], r.data[k + 1])
  end
  local out = {shape = oshape, data = {}}
  for i = 1, math.max(numel(oshape), 0) do out.data[i] = f(groups[i] or {}) end
  return out
end

local function sum(l) local s = 0 for _, v in ipairs(l) do s = s + v end return s end
local function mean(l) return sum(l) / #l end
local function prod(l) local p = 1 for _, v in ipairs(l) do p = p * v end return p end
local function vmax(l) local m, at = l[1], 1 for i, v in ipairs(l) do if v > m then m, at = v, i end end return m, at end
local function vmin(l) local m, at = l[1], 1 for i, v in ipairs(l) do if v < m then m, at = v, i end end return m, at end
local function var(correction)
  return function(l)
    local m, s = mean(l), 0
    for _, v in ipairs(l) do s = s + (v - m) ^ 2 end
    return s / math.max(#l - correction, 0)
  end
end
local function pnorm(p)
  return function(l)
    if p == math.huge then local m = 0 for _, v in ipairs(l) do m = math.max(m, math.abs(v)) end return m end
    local s = 0
    for _, v in ipairs(l) do s = s + math.abs(v) ^ p end
    return s ^ (1 / p)
  end
end

T.test("reductions, hand values", function()
  local t = lt.tensor{{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}}
  T.check(t:sum():item() == 21 and t:sum():dim() == 0, "sum()")
  check_list(t:sum(1), {5.0, 7.0, 9.0}, "sum(1)")
  check_list(t:sum(2), {9.0, 12.0}, "sum(2)")
  check_list(t:sum(-1), {9.0, 12.0}, "sum(-1)")
  check_list(t:sum(2, true), {{9.0}, {12.0}}, "sum(2, keepdim)")
  check_list(t:sum(1, {keepdim = true}), {{5.0, 7.0, 9.0}}, "sum(1, {keepdim=true})")
  check_list(t:sum{1, 2}, 21.0, "sum{1,2}")
  check_list(t:sum({1, 2}, true), {{21.0}}, "sum{1,2} keepdim")
  check_list(t:sum({keepdim = true}), {{21.0}}, "sum{keepdim=true} over all")
  check_list(t:sum({dim = 2}), {9.0, 12.0}, "sum{dim=2}")
  check_list(t:mean(1), {2.5, 3.5, 4.5}, "mean(1)")
  T.check(t:mean():item() == 3.5, "mean()")
  check_list(t:prod(2), {15.0, 48.0}, "prod(2)")
  T.check(t:max():item() == 6 and t:min():item() == 1, "max() min()")
  local v, i = t:max(2)
  check_list(v, {5.0, 6.0}, "max(2) values")
  check_list(i, {2, 3}, "max(2) indices are 1-based")
  T.check(i:dtype() == "int64", "indices are int64")
  v, i = t:min(1, true)
  check_list(v, {{1.0, 2.0, 3.0}}, "min(1, keepdim) values")
  check_list(i, {{1, 2, 1}}, "min(1, keepdim) indices")
  T.check(t:argmax():item() == 6 and t:argmin():item() == 1, "argmax()/argmin() over the flattened tensor, 1-based")
  check_list(t:argmax(1), {2, 1, 2}, "argmax(1)")
  check_list(t:argmin(2), {1, 2}, "argmin(2)")
  check_list(t:argmax(2, true), {{2}, {3}}, "argmax keepdim")
  check_list(lt.tensor{3.0, 7.0, 7.0, 1.0}:argmax(), 2, "argmax takes the first of ties")
  check_list(lt.tensor{1.0, 0 / 0, 5.0, 0 / 0}:max(), 0 / 0, "max propagates nan")
  local nv, ni = lt.tensor{1.0, 0 / 0, 5.0, 0 / 0}:max(1)
  check_list(ni, 2, "max index is the first nan")
  check_list(nv, 0 / 0, "max value nan")
  check_list(lt.tensor{{1.0, 2.0, 3.0, 4.0}}:var(2), {5 / 3}, "var unbiased", 1e-7)
  check_list(lt.tensor{{1.0, 2.0, 3.0, 4.0}}:var(2, {unbiased = false}), {1.25}, "var biased")
  check_list(lt.tensor{1.0, 2.0, 3.0, 4.0}:var({unbiased = false}), 1.25, "var biased over all")
  check_list(lt.tensor{1.0, 2.0, 3.0, 4.0}:var({correction = 2}), 2.5, "var correction 2")
  check_list(lt.tensor{1.0, 2.0, 3.0, 4.0}:std(), math.sqrt(5 / 3), "std", 1e-7)
  check_list(lt.tensor{1.0, 2.0, 3.0, 4.0}:std({unbiased = false}), math.sqrt(1.25), "std biased", 1e-7)
  check_list(lt.tensor{5.0}:var(), 0 / 0, "var of one element is nan")
  check_list(lt.tensor{5.0, 5.0}:var({correction = 3}), 0 / 0, "var with correction > n: max(0, n - c) = 0 gives nan")
  check_list(lt.tensor{4.0, 6.0}:var({correction = 3}), math.huge, "... and inf when the sum is not 0")
  local n = lt.tensor{3.0, -4.0}
  T.check(n:norm():item() == 5, "norm() is 2-norm")
  T.check(n:norm(1):item() == 7 and n:norm(math.huge):item() == 4 and n:norm("fro"):item() == 5, "norm 1, inf, fro")
  check_list(n:norm(3), (27 + 64) ^ (1 / 3), "norm 3", 1e-7)
  check_list(n:norm(0), 2.0, "norm 0 counts non-zeros")
  check_list(lt.tensor{{3.0, 4.0}, {6.0, 8.0}}:norm(2, 2), {5.0, 10.0}, "norm with dim")
  check_list(lt.tensor{{3.0, 4.0}, {6.0, 8.0}}:norm(2, 2, true), {{5.0}, {10.0}}, "norm with dim, keepdim")
  local b = lt.tensor{{true, false}, {true, true}}
  check_list(b:any(2), {true, true}, "any")
  check_list(b:all(2), {false, true}, "all")
  T.check(b:any():item() == true and b:all():item() == false, "any()/all()")
  T.check(b:any():dtype() == "bool", "any gives bool")
  check_list(lt.tensor{0.0, 0 / 0}:any(), true, "nan is true")
  check_list(lt.tensor{0, 2}:all(), false, "all of ints")
  -- integer and bool reductions
  local it = lt.tensor{{1, 2, 3}, {4, 5, 6}}
  T.check(it:sum():dtype() == "int64" and it:sum():item() == 21, "int sum is int64")
  check_list(it:int():sum(1), {5, 7, 9}, "int32 sum gives int64")
  T.check(it:int():sum():dtype() == "int64", "int32 sum dtype")
  check_list(it:prod(2), {6, 120}, "int prod")
  check_list(b:sum(2), {1, 2}, "bool sum counts")
  T.check(b:sum():dtype() == "int64", "bool sum is int64")
  local iv, ii = it:max(1)
  check_list(iv, {4, 5, 6}, "int max values")
  check_list(ii, {2, 2, 2}, "int max indices")
  T.check(iv:dtype() == "int64", "int max keeps dtype")
  check_list(lt.tensor({200, 100}, {dtype = "uint8"}):max(), 200, "uint8 max")
  T.check(lt.tensor({200, 100}, {dtype = "uint8"}):max():dtype() == "uint8", "uint8 max dtype")
  check_list(lt.tensor{(1 << 62), (1 << 62), 5}:sum(), (1 << 63) + 5, "int64 sum exact (wrapping)")
  -- empty and 0-d
  T.check(lt.zeros(0):sum():item() == 0 and lt.zeros(0):prod():item() == 1, "empty sum and prod")
  T.check(lt.zeros(0):mean():item() ~= lt.zeros(0):mean():item(), "empty mean is nan")
  check_list(lt.zeros(0, 3):sum(1), {0.0, 0.0, 0.0}, "sum over an empty dim")
  T.check(lt.zeros(3, 0):sum(1):numel() == 0, "sum keeping an empty dim")
  check_list(lt.zeros(2, 0):any(2), {false, false}, "any over an empty dim")
  check_list(lt.zeros(2, 0):all(2), {true, true}, "all over an empty dim")
  local s = lt.tensor(4.0)
  T.check(s:sum():item() == 4 and s:sum(1):item() == 4 and s:max():item() == 4, "0-d reductions")
  T.check(s:argmax():item() == 1, "0-d argmax")
  -- bfloat16 and float16 reduce in their own dtype
  T.check(lt.tensor{1.5, 2.5}:bfloat16():sum():dtype() == "bfloat16" and lt.tensor{1.5, 2.5}:half():mean():item() == 2, "16-bit reductions")
end)

T.test("reductions against Lua, random inputs", function()
  local ops = {
    {"sum", sum, 1e-13}, {"mean", mean, 1e-13}, {"prod", prod, 1e-13},
    {"var", var(1), 1e-12, nil}, {"var", var(0), 1e-12, {unbiased = false}},
    {"std", function(l) return math.sqrt(var(1)(l)) end, 1e-12},
    {"std", function(l) return math.sqrt(var(0)(l)) end, 1e-12, {unbiased = false}},
  }
  local dimsets = {false, {1}, {2}, {3}, {-1}, {1, 3}, {2, 3}, {3, 1}, {1, 2, 3}}
  for _, layout in ipairs{"contig", "transposed", "narrowed", "strided"} do
    local x = make({3, 4, 5}, uniform(0.5, 1.5), "float64", layout)
    local rx = ref(x)
    for _, op in ipairs(ops) do
      local name, f, tol, opt = op[1], op[2], op[3], op[4]
      for _, ds in ipairs(dimsets) do
        for _, keep in ipairs{false, true} do
          local what = string.format("%s%s dims %s keepdim %s %s", name, opt and " biased" or "",
                                     ds and table.concat(ds, ",") or "all", tostring(keep), layout)
          local o = {keepdim = keep}
          if opt then for k, v in pairs(opt) do o[k] = v end end
          local got
          if ds then got = x[name](x, #ds == 1 and ds[1] or ds, o) else got = x[name](x, o) end
          check_ref(got, reduce_ref(rx, ds or nil, keep, f), tol, what)
        end
      end
    end
    -- norms
    for _, p in ipairs{1, 2, math.huge, 3} do
      for _, ds in ipairs{false, {2}, {1, 3}} do
        local got = ds and x:norm(p, #ds == 1 and ds[1] or ds) or x:norm(p)
        check_ref(got, reduce_ref(rx, ds or nil, false, pnorm(p)), 1e-13, "norm " .. p .. " " .. layout)
      end
    end
    -- max/min/argmax/argmin with one dim, values and 1-based indices
    for d = -3, 3 do
      if d ~= 0 then
        for _, keep in ipairs{false, true} do
          local v, i = x:max(d, keep)
          check_ref(v, reduce_ref(rx, {d}, keep, vmax), 0, "max values dim " .. d .. " " .. layout)
          check_ref(i, reduce_ref(rx, {d}, keep, function(l) return select(2, vmax(l)) end), 0, "max indices dim " .. d)
          v, i = x:min(d, keep)
          check_ref(v, reduce_ref(rx, {d}, keep, vmin), 0, "min values dim " .. d .. " " .. layout)
          check_ref(i, reduce_ref(rx, {d}, keep, function(l) return select(2, vmin(l)) end), 0, "min indices dim " .. d)
          check_ref(x:argmax(d, keep), reduce_ref(rx, {d}, keep, function(l) return select(2, vmax(l)) end), 0, "argmax dim " .. d)
          check_ref(x:argmin(d, keep), reduce_ref(rx, {d}, keep, function(l) return select(2, vmin(l)) end), 0, "argmin dim " .. d)
        end
      end
    end
    check_list(x:max(), (vmax(rx.data)), "max() " .. layout)
    check_list(x:min(), (vmin(rx.data)), "min() " .. layout)
    check_list(x:argmax(), select(2, vmax(rx.data)), "argmax() " .. layout)
    check_list(x:argmin(), select(2, vmin(rx.data)), "argmin() " .. layout)
    -- any/all on values with zeros
    local z = make({3, 4, 5}, choice{0.0, 0.0, 0.0, 1.0}, "float32", layout)
    local rz = ref(z)
    for _, ds in ipairs(dimsets) do
      local anyf = function(l) for _, v in ipairs(l) do if v ~= 0 then return true end end return false end
      local allf = function(l) for _, v in ipairs(l) do if v == 0 then return false end end return true end
      check_ref(ds and z:any(#ds == 1 and ds[1] or ds) or z:any(), reduce_ref(rz, ds or nil, false, anyf), 0, "any " .. layout)
      check_ref(ds and z:all(#ds == 1 and ds[1] or ds) or z:all(), reduce_ref(rz, ds or nil, false, allf), 0, "all " .. layout)
    end
    -- integer sums and products
    local iz = make({3, 4, 5}, ints(-3, 3), "int64", layout)
    local riz = ref(iz)
    for _, ds in ipairs(dimsets) do
      check_ref(ds and iz:sum(#ds == 1 and ds[1] or ds) or iz:sum(), reduce_ref(riz, ds or nil, false, sum), 0, "int sum " .. layout)
      check_ref(ds and iz:prod(#ds == 1 and ds[1] or ds) or iz:prod(), reduce_ref(riz, ds or nil, false, prod), 0, "int prod " .. layout)
    end
  end
  -- float32: a large sum (threaded path) in double accumulation
  local big = make({64, 1000}, uniform(-1, 1), "float32", "transposed")
  local rb = ref(big)
  check_ref(big:sum(1), reduce_ref(rb, {1}, false, sum), 1e-5, "large sum(1)")
  check_ref(big:sum(2), reduce_ref(rb, {2}, false, sum), 1e-5, "large sum(2)")
  check_ref(big:mean(), reduce_ref(rb, nil, false, mean), 1e-5, "large mean")
  check_ref(big:var(2), reduce_ref(rb, {2}, false, var(1)), 1e-5, "large var")
end)

-- ---------------------------------------------------------------------- matmul

-- torch.matmul on reference tensors
local function ref_matmul(a, b)
  local as, bs = {table.unpack(a.shape)}, {table.unpack(b.shape)}
  local drop_m, drop_n = #as == 1, #bs == 1
  if drop_m then table.insert(as, 1, 1) end
  if drop_n then table.insert(bs, 2) ; bs[#bs] = 1 end
  if drop_n then bs = {b.shape[1], 1} end
  local M, K, N = as[#as - 1], as[#as], bs[#bs]
  local ab, bb = {table.unpack(as, 1, #as - 2)}, {table.unpack(bs, 1, #bs - 2)}
  local batch = bshape(ab, bb)
  local ra = {shape = as, data = a.data}
  local rb = {shape = bs, data = b.data}
  local out = {}
  for k = 0, numel(batch) - 1 do
    local bidx = #batch > 0 and unravel(batch, k) or {}
    for m = 1, M do
      for n = 1, N do
        local acc = 0
        for kk = 1, K do
          local ia, ib = {table.unpack(bidx)}, {table.unpack(bidx)}
          ia[#ia + 1], ia[#ia + 2] = m, kk
          ib[#ib + 1], ib[#ib + 2] = kk, n
          acc = acc + get(ra, ia) * get(rb, ib)
        end
        out[#out + 1] = acc
      end
    end
  end
  local oshape = {table.unpack(batch)}
  if not drop_m then oshape[#oshape + 1] = M end
  if not drop_n then oshape[#oshape + 1] = N end
  return {shape = oshape, data = out}
end

T.test("matmul", function()
  -- hand values
  check_list(lt.matmul(lt.tensor{1.0, 2.0, 3.0}, lt.tensor{4.0, 5.0, 6.0}), 32.0, "dot")
  T.check(lt.matmul(lt.tensor{1.0, 2.0}, lt.tensor{3.0, 4.0}):dim() == 0, "1-D x 1-D is 0-d")
  local A = lt.tensor{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}
  check_list(lt.matmul(A, lt.tensor{1.0, 1.0}), {3.0, 7.0, 11.0}, "2-D x 1-D")
  check_list(lt.matmul(lt.tensor{1.0, 0.0, 1.0}, A), {6.0, 8.0}, "1-D x 2-D")
  check_list(A:matmul(A:t()), {{5.0, 11.0, 17.0}, {11.0, 25.0, 39.0}, {17.0, 39.0, 61.0}}, "A A^T")
  check_list(lt.mm(A:t(), A), {{35.0, 44.0}, {44.0, 56.0}}, "mm A^T A")
  check_list(lt.matmul(lt.tensor{{1, 2}, {3, 4}}, lt.tensor{{5, 6}, {7, 8}}), {{19, 22}, {43, 50}}, "int64 matmul")
  T.check(lt.matmul(lt.tensor{{1, 2}}, lt.tensor{{3}, {4}}):dtype() == "int64", "int64 matmul dtype")
  -- products don't promote, as PyTorch's ("expected both operands to have the same dtype")
  T.checkerr("bad argument #2 to 'matmul' (expected both operands to have the same dtype, got int64 and float32)",
             lt.matmul, lt.tensor{{1, 2}}, lt.tensor{{3.0}, {4.0}})
  check_list(lt.matmul(lt.zeros(2, 0), lt.zeros(0, 3)), {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}}, "K = 0 gives zeros")
  T.check(same_shape(lt.matmul(lt.zeros(0, 4), lt.zeros(4, 3)):shape(), {0, 3}), "M = 0")
  check_list(lt.bmm(lt.ones(2, 1, 3), lt.ones(2, 3, 1)), {{{3.0}}, {{3.0}}}, "bmm")
  -- random, against the Lua product
  local cases = {
    {{3}, {3}}, {{3}, {3, 4}}, {{2, 3}, {3}}, {{2, 3}, {3, 4}}, {{5, 2, 3}, {5, 3, 4}}, {{2, 1, 2, 3}, {5, 3, 4}},
    {{5, 2, 3}, {3, 4}}, {{2, 3}, {5, 3, 4}}, {{5, 2, 3}, {3}}, {{3}, {5, 3, 4}}, {{1, 4}, {4, 1}}, {{4, 1}, {1, 4}},
    {{3, 1, 2, 5}, {1, 4, 5, 2}},
  }
  for _, c in ipairs(cases) do
    for li, layout in ipairs{"contig", "transposed", "narrowed", "strided"} do
      local lb = ({"transposed", "contig", "strided", "narrowed"})[li]
      for _, dtype in ipairs{"float32", "float64", "int64"} do
        local gen = dtype == "int64" and ints(-9, 9) or uniform(-1, 1)
        local a, b = make(c[1], gen, dtype, layout), make(c[2], gen, dtype, lb)
        local tol = dtype == "float32" and 1e-5 or (dtype == "float64" and 1e-13 or 0)
        local what = string.format("matmul %s [%s]%s x [%s]%s", dtype, table.concat(c[1], ","), layout, table.concat(c[2], ","), lb)
        check_ref(lt.matmul(a, b), ref_matmul(ref(a), ref(b)), tol, what)
      end
    end
  end
  -- expanded operands (stride 0)
  local v = lt.tensor({2.0}, {dtype = "float64"}):expand(3)
  local M = make({3, 4}, uniform(-1, 1), "float64")
  check_ref(lt.matmul(v, M), ref_matmul(ref(v), ref(M)), 1e-14, "expanded vector x matrix")
  local Me = lt.tensor({{1.0, 2.0, 3.0}}, {dtype = "float64"}):expand(4, 3)
  check_ref(lt.matmul(Me, M), ref_matmul(ref(Me), ref(M)), 1e-14, "expanded matrix x matrix")
  local Bx = make({1, 3, 4}, uniform(-1, 1), "float64"):expand(5, 3, 4)
  local Ax = make({5, 2, 3}, uniform(-1, 1), "float64")
  check_ref(lt.bmm(Ax, Bx), ref_matmul(ref(Ax), ref(Bx)), 1e-14, "bmm with an expanded batch")
  -- 16-bit floats
  local h = lt.tensor{{1.0, 2.0}, {3.0, 4.0}}
  check_list(lt.matmul(h:bfloat16(), h:bfloat16()), {{7.0, 10.0}, {15.0, 22.0}}, "bfloat16 matmul")
  check_list(lt.matmul(h:half(), h:half():t()), {{5.0, 11.0}, {11.0, 25.0}}, "float16 matmul")
  -- a larger product through BLAS, transposed operands
  local P, Q = make({40, 30}, uniform(-1, 1), "float32", "transposed"), make({30, 50}, uniform(-1, 1), "float32", "transposed")
  check_ref(P:matmul(Q), ref_matmul(ref(P), ref(Q)), 1e-5, "40x30x50 transposed float32")
end)

os.exit(T.done())
