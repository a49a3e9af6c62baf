-- test_tensor.lua — the Lua Tensor API: creation (tables with dtype
-- inference, zeros/ones/full/empty/arange/linspace/eye and the random
-- creators, *_like, shapes as varargs or a table), views and shared storage,
-- indexing (t[i], t[i][j] = v, #t, negative indices), tolist/item, dtype
-- conversions, printing in PyTorch's layout (expected strings written by
-- hand), lt.save/lt.load round trips, the PyTorch golden file, and lt.json.
local T = require "luatrain.testing"

-- Deep equality of tolist() results (and plain values); `tol` for floats.
local function same(a, b, tol)
  if type(a) == "table" and type(b) == "table" then
    if #a ~= #b then return false end
    for i = 1, #a do if not same(a[i], b[i], tol) then return false end end
    return true
  end
  if type(a) == "number" and type(b) == "number" then
    if a ~= a and b ~= b then return true end
    if tol then return math.abs(a - b) <= tol * (1 + math.abs(b)) end
    return a == b and math.type(a) == math.type(b)
  end
  return a == b
end

local function check_list(t, want, what, tol)
  local got = t:tolist()
  if not T.check(same(got, want, tol), what) then
    io.stderr:write("  got " .. lt.json.encode(got) .. "\n")
  end
end

local function shape_is(t, want, what)
  return T.check(same(t:shape(), want), (what or "shape") .. ": got [" .. table.concat(t:shape(), ",") .. "]")
end

local tmpfiles = {}
local function tmpname(suffix)
  local base = os.tmpname()
  os.remove(base)
  local p = base .. (suffix or ".safetensors")
  tmpfiles[#tmpfiles + 1] = p
  return p
end

T.test("tensor from tables", function()
  local t = lt.tensor{{1, 2, 3}, {4, 5, 6}}
  T.check(t:dtype() == "int64", "integers give int64")
  shape_is(t, {2, 3})
  check_list(t, {{1, 2, 3}, {4, 5, 6}}, "values")
  T.check(lt.tensor{1, 2.5}:dtype() == "float32", "any float gives the default float dtype")
  T.check(lt.tensor{1.0, 2.0}:dtype() == "float32", "1.0 is a float")
  T.check(lt.tensor{true, false}:dtype() == "bool", "booleans give bool")
  check_list(lt.tensor{true, false}, {true, false}, "bool values")
  T.check(lt.tensor{1, 2}:is_contiguous(), "contiguous")
  local d = lt.tensor({{1, 2}, {3, 4}}, {dtype = "float64"})
  T.check(d:dtype() == "float64", "dtype option")
  check_list(d, {{1.0, 2.0}, {3.0, 4.0}}, "float64 values are floats")
  check_list(lt.tensor({1.7, -1.7, 300}, {dtype = "int64"}), {1, -1, 300}, "float to int truncates")
  check_list(lt.tensor({0, 2, -1}, {dtype = lt.bool}), {false, true, true}, "numbers to bool")
  check_list(lt.tensor({true, false}, {dtype = "float32"}), {1.0, 0.0}, "bool to float")
  check_list(lt.tensor({(1 << 53) + 1, -(1 << 62)}, {dtype = "int64"}), {(1 << 53) + 1, -(1 << 62)}, "int64 keeps large integers")
  -- scalars
  local s = lt.tensor(3)
  T.check(s:dim() == 0 and s:dtype() == "int64" and s:item() == 3 and math.type(s:item()) == "integer", "0-d int")
  T.check(lt.tensor(2.5):dtype() == "float32" and lt.tensor(2.5):item() == 2.5, "0-d float")
  T.check(lt.tensor(true):dtype() == "bool" and lt.tensor(true):item() == true, "0-d bool")
  -- 3-D
  local c = lt.tensor{{{1}, {2}}, {{3}, {4}}, {{5}, {6}}}
  shape_is(c, {3, 2, 1}, "3-D")
  T.check(c[3][2][1]:item() == 6, "3-D value")
  -- empty tables
  local e = lt.tensor{}
  shape_is(e, {0}, "{} is [0]")
  T.check(e:dtype() == "float32", "an empty table gives the default dtype, as torch.tensor([]): got " .. e:dtype())
  shape_is(lt.tensor{{}, {}}, {2, 0}, "{{},{}}")
  -- the default dtype
  lt.set_default_dtype("float64")
  T.check(lt.tensor{1.5}:dtype() == "float64" and lt.zeros(2):dtype() == "float64", "set_default_dtype")
  T.check(lt.get_default_dtype() == "float64", "get_default_dtype")
  lt.set_default_dtype("float32")
  T.check(lt.zeros(1):dtype() == "float32", "default restored")
  -- dtype constants
  T.check(lt.float32 == "float32" and lt.int64 == "int64" and lt.bfloat16 == "bfloat16", "dtype constants")
end)

T.test("zeros ones full empty", function()
  for _, t in ipairs{lt.zeros(2, 3), lt.zeros{2, 3}, lt.zeros({2, 3}, {dtype = "float32"})} do
    shape_is(t, {2, 3}, "zeros shape")
    check_list(t, {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}}, "zeros values")
  end
  local o = lt.ones(2, 2, {dtype = "int32"})
  T.check(o:dtype() == "int32", "ones dtype option after varargs")
  check_list(o, {{1, 1}, {1, 1}}, "ones int32")
  check_list(lt.ones({3}, {dtype = "bool"}), {true, true, true}, "ones bool")
  check_list(lt.ones(2, {dtype = "uint8"}), {1, 1}, "ones uint8")
  check_list(lt.ones(2, {dtype = "bfloat16"}), {1.0, 1.0}, "ones bfloat16")
  check_list(lt.ones(2, {dtype = "float16"}), {1.0, 1.0}, "ones float16")
  T.check(lt.zeros(0):numel() == 0 and lt.zeros(3, 0):numel() == 0, "empty shapes")
  local f = lt.full({2, 2}, 7)
  T.check(f:dtype() == "int64", "full with an integer gives int64")
  check_list(f, {{7, 7}, {7, 7}}, "full int")
  T.check(lt.full({2}, 7.5):dtype() == "float32", "full with a float")
  T.check(lt.full({2}, true):dtype() == "bool", "full with a boolean")
  check_list(lt.full({2}, -1, {dtype = "float64"}), {-1.0, -1.0}, "full dtype option")
  check_list(lt.full({}, 4), 4, "full 0-d")
  local e = lt.empty(3, 4)
  shape_is(e, {3, 4}, "empty")
  T.check(e:dtype() == "float32" and e:is_contiguous(), "empty dtype and layout")
  T.check(lt.empty({2}, {dtype = "int64"}):dtype() == "int64", "empty dtype")
  -- strides and geometry queries
  local t = lt.zeros(2, 3, 4)
  T.check(same(t:stride(), {12, 4, 1}), "contiguous strides")
  T.check(t:stride(2) == 4 and t:stride(-1) == 1, "stride(dim)")
  T.check(t:size(1) == 2 and t:size(-1) == 4 and same(t:size(), {2, 3, 4}), "size")
  T.check(t:dim() == 3 and t:numel() == 24 and t:element_size() == 4, "dim numel element_size")
  T.check(t:device() == "cpu" and t:is_floating_point() and not lt.zeros(1, {dtype = "int64"}):is_floating_point(), "device, is_floating_point")
  T.check(lt.is_tensor(t) and not lt.is_tensor({}) and not lt.is_tensor(3), "is_tensor")
end)

T.test("arange linspace eye", function()
  check_list(lt.arange(5), {0, 1, 2, 3, 4}, "arange(5)")
  T.check(lt.arange(5):dtype() == "int64", "integer arange is int64")
  check_list(lt.arange(1, 7), {1, 2, 3, 4, 5, 6}, "arange(1,7) excludes the end")
  check_list(lt.arange(1, 10, 3), {1, 4, 7}, "arange with step")
  check_list(lt.arange(5, 0, -2), {5, 3, 1}, "negative step")
  check_list(lt.arange(0, 1, 0.25), {0.0, 0.25, 0.5, 0.75}, "float step")
  T.check(lt.arange(0, 1, 0.25):dtype() == "float32", "float arange")
  check_list(lt.arange(3.0), {0.0, 1.0, 2.0}, "arange(3.0) is float")
  check_list(lt.arange(0, 3, {dtype = "float64"}), {0.0, 1.0, 2.0}, "arange dtype option")
  T.check(lt.arange(3, 3):numel() == 0 and lt.arange(3, 3, -1):numel() == 0, "empty ranges")
  -- an end on the wrong side of start for the step's sign is an error, as PyTorch
  T.checkerr("bad argument #2 to 'arange' (end 1 lies below start 3, against the sign of step 1)", lt.arange, 3, 1)
  T.check(lt.arange(0, 1, 0.1):numel() == 10, "ceil((end-start)/step) elements")
  check_list(lt.linspace(0, 1, 5), {0.0, 0.25, 0.5, 0.75, 1.0}, "linspace")
  check_list(lt.linspace(-1, 1, 3, {dtype = "float64"}), {-1.0, 0.0, 1.0}, "linspace float64")
  check_list(lt.linspace(2, 10, 1), {2.0}, "linspace with one step is start")
  T.check(lt.linspace(0, 1, 0):numel() == 0, "linspace 0 steps")
  check_list(lt.linspace(0, 10, 4, {dtype = "int64"}), {0, 3, 6, 10}, "int linspace truncates, as PyTorch")
  local l = lt.linspace(0, 1, 7, {dtype = "float64"}):tolist()
  for i = 1, 7 do T.close(l[i], (i - 1) / 6, 1e-15, "linspace value " .. i) end
  check_list(lt.eye(3), {{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}, {0.0, 0.0, 1.0}}, "eye(3)")
  check_list(lt.eye(2, 3, {dtype = "int64"}), {{1, 0, 0}, {0, 1, 0}}, "eye(2,3)")
  check_list(lt.eye(3, 2), {{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}}, "eye(3,2)")
  check_list(lt.eye(1), {{1.0}}, "eye(1)")
  T.check(lt.eye(0):numel() == 0, "eye(0)")
end)

T.test("random creators", function()
  lt.manual_seed(7)
  local a = lt.rand(1000)
  lt.manual_seed(7)
  local b = lt.rand(1000)
  check_list(a, b:tolist(), "manual_seed replays rand")
  local c = lt.rand(1000)
  T.check(not same(a:tolist(), c:tolist()), "the stream moves on")
  local lo, hi, sum = math.huge, -math.huge, 0
  for _, v in ipairs(a:tolist()) do lo = math.min(lo, v); hi = math.max(hi, v); sum = sum + v end
  T.check(lo >= 0 and hi < 1 and math.abs(sum / 1000 - 0.5) < 0.05, "rand in [0,1) with mean 1/2")
  T.check(lt.rand{2, 3}:dtype() == "float32" and same(lt.rand{2, 3}:shape(), {2, 3}), "rand shape table")
  T.check(lt.rand(2, {dtype = "float64"}):dtype() == "float64", "rand dtype")
  local state = lt.get_rng_state()
  local r1 = lt.randn(100)
  lt.set_rng_state(state)
  check_list(lt.randn(100), r1:tolist(), "rng state round trip")
  local n = lt.randn(20000, {dtype = "float64"}):tolist()
  local m, v = 0, 0
  for _, x in ipairs(n) do m = m + x end
  m = m / #n
  for _, x in ipairs(n) do v = v + (x - m) ^ 2 end
  v = v / (#n - 1)
  T.check(math.abs(m) < 0.04 and math.abs(v - 1) < 0.05, string.format("randn mean %g var %g", m, v))
  local ri = lt.randint(3, 9, {2000})
  T.check(ri:dtype() == "int64" and same(ri:shape(), {2000}), "randint dtype and shape")
  local counts = {}
  for _, x in ipairs(ri:tolist()) do counts[x] = (counts[x] or 0) + 1 end
  local ok = true
  for k, cnt in pairs(counts) do if k < 3 or k > 8 or cnt < 200 then ok = false end end
  for k = 3, 8 do if not counts[k] then ok = false end end
  T.check(ok, "randint covers [low, high) evenly")
  local r0 = lt.randint(4, {500}):tolist()
  local min0, max0 = math.huge, -math.huge
  for _, x in ipairs(r0) do min0 = math.min(min0, x); max0 = math.max(max0, x) end
  T.check(min0 == 0 and max0 == 3, "randint(high, shape) is [0, high)")
  T.check(lt.randint(0, 2, {3}, {dtype = "int32"}):dtype() == "int32", "randint dtype")
  local p = lt.randperm(50)
  T.check(p:dtype() == "int64", "randperm int64")
  local seen, perm_ok = {}, true
  for _, x in ipairs(p:tolist()) do
    if x < 1 or x > 50 or seen[x] then perm_ok = false end
    seen[x] = true
  end
  T.check(perm_ok, "randperm is a 1-based permutation")
  T.check(lt.randperm(0):numel() == 0, "randperm(0)")
  T.check(lt.randperm(3, {dtype = "float32"}):dtype() == "float32", "randperm dtype")
  -- like
  local x = lt.ones(2, 3, {dtype = "float64"})
  local z = lt.zeros_like(x)
  T.check(z:dtype() == "float64" and same(z:shape(), {2, 3}), "zeros_like keeps dtype and shape")
  check_list(z, {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}}, "zeros_like values")
  check_list(lt.ones_like(x, {dtype = "int64"}), {{1, 1, 1}, {1, 1, 1}}, "ones_like with dtype")
  check_list(lt.full_like(x, 2.5), {{2.5, 2.5, 2.5}, {2.5, 2.5, 2.5}}, "full_like")
  T.check(same(lt.empty_like(x):shape(), {2, 3}), "empty_like")
  local rl = lt.rand_like(x)
  T.check(rl:dtype() == "float64" and rl:max():item() < 1 and rl:min():item() >= 0, "rand_like")
  T.check(lt.randn_like(x):dtype() == "float64", "randn_like")
end)

T.test("views share storage", function()
  local t = lt.arange(12)
  local v = t:view(3, 4)
  T.check(lt.shares_storage(t, v), "view shares")
  shape_is(v, {3, 4})
  v[2][3] = 100
  T.check(t[7]:item() == 100, "a write through a view reaches the base")
  local w = t:view(-1, 6)
  shape_is(w, {2, 6}, "view with -1")
  shape_is(t:view{2, -1, 3}, {2, 2, 3}, "view with a table")
  local tr = v:t()
  T.check(lt.shares_storage(tr, t) and not tr:is_contiguous(), "t() is a view")
  T.check(tr[3][2]:item() == 100, "transposed element")
  T.check(same(tr:stride(), {1, 4}), "transposed strides")
  local n = v:narrow(2, 2, 2)
  T.check(lt.shares_storage(n, t) and n:storage_offset() == 1, "narrow is a view")
  check_list(n, {{1, 2}, {5, 100}, {9, 10}}, "narrow values")
  n:fill_(-1)
  check_list(t, {0, -1, -1, 3, 4, -1, -1, 7, 8, -1, -1, 11}, "writes through narrow")
  check_list(v:narrow(1, -1, 1), {{8, -1, -1, 11}}, "narrow with a negative start")
  local s = v:select(2, 4)
  check_list(s, {3, 7, 11}, "select")
  s[2] = 70
  T.check(t[8]:item() == 70, "write through select")
  local p = lt.arange(24):view(2, 3, 4):permute(3, 1, 2)
  shape_is(p, {4, 2, 3}, "permute")
  T.check(p[4][2][3]:item() == 23 and p[2][1][3]:item() == 9, "permute values")
  shape_is(lt.arange(24):view(2, 3, 4):permute{2, 3, 1}, {3, 4, 2}, "permute with a table")
  local u = v:unsqueeze(1)
  shape_is(u, {1, 3, 4}, "unsqueeze(1)")
  shape_is(v:unsqueeze(-1), {3, 4, 1}, "unsqueeze(-1)")
  shape_is(v:unsqueeze(2), {3, 1, 4}, "unsqueeze(2)")
  shape_is(u:squeeze(), {3, 4}, "squeeze()")
  shape_is(lt.zeros(1, 3, 1):squeeze(3), {1, 3}, "squeeze(dim)")
  shape_is(lt.zeros(1, 3, 1):squeeze(2), {1, 3, 1}, "squeeze of a non-1 dim is a no-op")
  local col = lt.tensor{{1}, {2}, {3}}
  local e = col:expand(3, 4)
  T.check(lt.shares_storage(e, col) and same(e:stride(), {1, 0}), "expand is a stride-0 view")
  check_list(e, {{1, 1, 1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3}}, "expand values")
  shape_is(col:expand(2, -1, 5), {2, 3, 5}, "expand with new dims and -1")
  shape_is(col:expand_as(lt.zeros(3, 2)), {3, 2}, "expand_as")
  shape_is(lt.zeros(2, 3, 4):flatten(), {24}, "flatten")
  shape_is(lt.zeros(2, 3, 4):flatten(2), {2, 12}, "flatten(2)")
  shape_is(lt.zeros(2, 3, 4):flatten(1, 2), {6, 4}, "flatten(1,2)")
  shape_is(lt.tensor(5):flatten(), {1}, "flatten of 0-d")
  shape_is(lt.zeros(2, 3):view_as(lt.zeros(3, 2)), {3, 2}, "view_as")
  -- reshape: a view when possible, else a copy
  local r = t:reshape(4, 3)
  T.check(lt.shares_storage(r, t), "reshape of contiguous is a view")
  local r2 = v:t():reshape(12)
  T.check(not lt.shares_storage(r2, t), "reshape of transposed copies")
  check_list(r2, {0, 4, 8, -1, -1, -1, -1, -1, -1, 3, 70, 11}, "reshape copy values")
  -- view of a non-contiguous tensor with compatible strides
  local b = lt.arange(24):view(2, 3, 4):transpose(1, 2) -- [3,2,4]
  local bv = b:view(3, 2, 2, 2)
  T.check(lt.shares_storage(bv, b) and bv[3][2][2][1]:item() == 22, "compatible view of a transposed tensor")
  -- contiguous/clone
  local tc = v:t():contiguous()
  T.check(tc:is_contiguous() and not lt.shares_storage(tc, t), "contiguous copies a non-contiguous tensor")
  T.check(rawequal(v:contiguous(), v), "contiguous returns a contiguous tensor itself")
  local cl = v:clone()
  cl[1][1] = 55
  T.check(v[1][1]:item() == 0 and not lt.shares_storage(cl, v), "clone is a copy")
end)

T.test("indexing", function()
  local t = lt.arange(12):view(3, 4)
  T.check(#t == 3 and #t[1] == 4, "#t is the first dim")
  check_list(t[1], {0, 1, 2, 3}, "t[1]")
  check_list(t[-1], {8, 9, 10, 11}, "t[-1]")
  check_list(t[-3], {0, 1, 2, 3}, "t[-3]")
  T.check(t[2][3]:item() == 6 and t[2][-1]:item() == 7, "t[i][j]")
  T.check(t[2][3]:dim() == 0, "t[i][j] is 0-d")
  T.check(lt.shares_storage(t[2], t), "t[i] is a view")
  t[2][3] = 60
  T.check(t:tolist()[2][3] == 60, "t[i][j] = v")
  t[1] = 9
  check_list(t[1], {9, 9, 9, 9}, "t[i] = number fills the row")
  t[3] = lt.tensor{1, 2, 3, 4}
  check_list(t[3], {1, 2, 3, 4}, "t[i] = tensor copies")
  t[-1] = lt.tensor{5}
  check_list(t[3], {5, 5, 5, 5}, "t[i] = tensor broadcasts")
  t[2] = lt.tensor{1.9, 2.9, -1.9, 4.2}
  check_list(t[2], {1, 2, -1, 4}, "assignment converts dtype")
  local b = lt.zeros(2, {dtype = "bool"})
  b[2] = true
  check_list(b, {false, true}, "bool assignment")
  local f = lt.zeros(3)
  f[2] = 2.5
  f[-1] = 7
  check_list(f, {0.0, 2.5, 7.0}, "float assignment")
  T.check(f[2.0]:item() == 2.5, "an integral float index")
  T.check(#lt.zeros(0, 3) == 0, "# of an empty dim")
  -- methods and properties still resolve through __index
  T.check(type(t.view) == "function" and t.no_such_method == nil, "method lookup")
end)

T.test("tolist and item", function()
  local t = lt.tensor{{1, 2}, {3, 4}}
  local l = t:tolist()
  T.check(math.type(l[1][1]) == "integer", "int64 gives Lua integers")
  local f = lt.tensor{{1.5, 2}}:tolist()
  T.check(math.type(f[1][2]) == "float" and f[1][2] == 2.0, "floats give Lua floats")
  T.check(lt.tensor{true}:tolist()[1] == true, "bool gives booleans")
  T.check(lt.tensor(5):tolist() == 5, "0-d tolist is a number")
  T.check(lt.zeros(1, 1, 1):item() == 0.0, "item of one element")
  T.check(lt.tensor{2.5}:bfloat16():item() == 2.5, "item of bfloat16")
  T.check(lt.tensor{-3}:int():item() == -3 and math.type(lt.tensor{-3}:int():item()) == "integer", "item of int32")
  T.check(lt.tensor{255}:byte():item() == 255, "item of uint8")
  T.check(lt.tensor(1e300, {dtype = "float64"}):item() == 1e300, "float64 item exact")
  check_list(lt.zeros(2, 0), {{}, {}}, "tolist of [2,0]")
  local nc = lt.arange(6):view(2, 3):t()
  check_list(nc, {{0, 3}, {1, 4}, {2, 5}}, "tolist of a transposed tensor")
  check_list(lt.tensor{7}:expand(2, 3), {{7, 7, 7}, {7, 7, 7}}, "tolist of an expanded tensor")
  local big = lt.tensor({(1 << 62) + 1}, {dtype = "int64"})
  T.check(big:item() == (1 << 62) + 1 and math.type(big:item()) == "integer", "int64 beyond 2^53")
end)

T.test("conversions", function()
  local f = lt.tensor{1.5, -2.7, 0, 300.25}
  check_list(f:long(), {1, -2, 0, 300}, "long truncates toward zero")
  T.check(f:long():dtype() == "int64", "long dtype")
  check_list(f:int(), {1, -2, 0, 300}, "int")
  T.check(f:int():dtype() == "int32", "int dtype")
  check_list(f:double(), {1.5, -2.700000047683716, 0.0, 300.25}, "double widens the float32 value")
  check_list(f:bool(), {true, true, false, true}, "bool")
  check_list(lt.tensor{1, 2, 255, 256, -1}:byte(), {1, 2, 255, 0, 255}, "byte wraps")
  check_list(lt.tensor{1.5, 65504, 65520, 1e-8}:half():float(), {1.5, 65504.0, math.huge, 0.0}, "half rounds and overflows")
  check_list(lt.tensor{1.5, 1.00390625, 1.01171875}:bfloat16():float(), {1.5, 1.0, 1.015625}, "bfloat16 rounds to nearest even")
  check_list(lt.tensor{true, false}:float(), {1.0, 0.0}, "bool to float")
  T.check(f:to("float64"):dtype() == "float64" and f:to(lt.int64):dtype() == "int64", "to(dtype)")
  T.check(f:to{dtype = "bfloat16"}:dtype() == "bfloat16", "to{dtype=}")
  T.check(f:to("cpu", "float64"):dtype() == "float64", "to(device, dtype)")
  T.check(f:to(lt.zeros(1, {dtype = "int32"})):dtype() == "int32", "to(tensor)")
  T.check(f:type_as(lt.zeros(1, {dtype = "uint8"})):dtype() == "uint8", "type_as")
  T.check(rawequal(f:float(), f) and rawequal(f:to("float32"), f) and rawequal(f:cpu(), f), "no-op conversions return the tensor itself")
  local d = f:double()
  T.check(not lt.shares_storage(d, f), "a conversion copies")
  local nc = lt.arange(6):view(2, 3):t():float()
  check_list(nc, {{0.0, 3.0}, {1.0, 4.0}, {2.0, 5.0}}, "conversion of a transposed tensor")
  -- PyTorch's memory_format=preserve: the converted copy keeps the transposed layout
  T.check(table.concat(nc:stride(), ",") == "1,3", "conversion output keeps the layout: " .. table.concat(nc:stride(), ","))
  -- every dtype to every other on values all of them hold
  local names = {"float32", "float64", "int64", "int32", "uint8", "bool", "bfloat16", "float16"}
  local ok = true
  for _, a in ipairs(names) do
    for _, b in ipairs(names) do
      local x = lt.tensor({0, 1, 2, 100}, {dtype = a}):to(b)
      local want = {0, 1, 2, 100}
      if a == "bool" or b == "bool" then want = {0, 1, 1, 1} end
      local got = x:to("float64"):tolist()
      for i = 1, 4 do if got[i] ~= want[i] then ok = false; print(a, b, i, got[i]) end end
    end
  end
  T.check(ok, "all dtype pairs")
end)

T.test("printing", function()
  local function is(t, want, what)
    local got = tostring(t)
    if not T.check(got == want, what) then
      io.stderr:write("  got:\n" .. got .. "\n  expected:\n" .. want .. "\n")
    end
  end
  is(lt.tensor{{0.1234, -1.5}, {2, 3}},
     "tensor([[ 0.1234, -1.5000],\n        [ 2.0000,  3.0000]], shape=[2,2], dtype=float32, device=cpu)", "small float")
  is(lt.tensor{{1, -20}, {300, 4}},
     "tensor([[  1, -20],\n        [300,   4]], shape=[2,2], dtype=int64, device=cpu)", "integer")
  is(lt.tensor{true, false, true}, "tensor([ true, false,  true], shape=[3], dtype=bool, device=cpu)", "bool")
  is(lt.tensor{true, true}, "tensor([true, true], shape=[2], dtype=bool, device=cpu)", "bool, no false")
  is(lt.tensor(2.5), "tensor(2.5000, shape=[], dtype=float32, device=cpu)", "0-d float")
  is(lt.tensor(7), "tensor(7, shape=[], dtype=int64, device=cpu)", "0-d int")
  is(lt.tensor(3.0), "tensor(3., shape=[], dtype=float32, device=cpu)", "0-d integral float")
  is(lt.tensor(false), "tensor(false, shape=[], dtype=bool, device=cpu)", "0-d bool")
  is(lt.zeros(0), "tensor([], shape=[0], dtype=float32, device=cpu)", "empty")
  is(lt.zeros(2, 0, 3, {dtype = "int64"}), "tensor([], shape=[2,0,3], dtype=int64, device=cpu)", "empty 3-D")
  is(lt.arange(24):view(2, 3, 4),
     "tensor([[[ 0,  1,  2,  3],\n" ..
     "         [ 4,  5,  6,  7],\n" ..
     "         [ 8,  9, 10, 11]],\n" ..
     "\n" ..
     "        [[12, 13, 14, 15],\n" ..
     "         [16, 17, 18, 19],\n" ..
     "         [20, 21, 22, 23]]], shape=[2,3,4], dtype=int64, device=cpu)", "3-D")
  is(lt.zeros(3), "tensor([0., 0., 0.], shape=[3], dtype=float32, device=cpu)", "zeros")
  is(lt.tensor{1.0, -20.0, 300.0}, "tensor([  1., -20., 300.], shape=[3], dtype=float32, device=cpu)", "integral floats")
  is(lt.tensor{-0.0, 1.0}, "tensor([-0., 1.], shape=[2], dtype=float32, device=cpu)", "negative zero as PyTorch")
  is(lt.tensor{1.0, 10000.0}, "tensor([1.0000e+00, 1.0000e+04], shape=[2], dtype=float32, device=cpu)",
     "integral floats spanning more than 1e3 go scientific")
  is(lt.tensor{1e-5, 1}, "tensor([1.0000e-05, 1.0000e+00], shape=[2], dtype=float32, device=cpu)", "small values go scientific")
  is(lt.tensor({123456789.0, 1.5}, {dtype = "float64"}),
     "tensor([1.2346e+08, 1.5000e+00], shape=[2], dtype=float64, device=cpu)", "large values go scientific")
  is(lt.tensor{1.5, 0 / 0, math.huge, -math.huge},
     "tensor([1.5000,    nan,    inf,   -inf], shape=[4], dtype=float32, device=cpu)", "nan and inf padded")
  is(lt.tensor{0 / 0, 1.0}, "tensor([nan, 1.], shape=[2], dtype=float32, device=cpu)", "nan with integral floats")
  is(lt.tensor{0 / 0, -0 / 0}, "tensor([nan, nan], shape=[2], dtype=float32, device=cpu)", "no -nan")
  is(lt.tensor{0.5, 1.25}:bfloat16(), "tensor([0.5000, 1.2500], shape=[2], dtype=bfloat16, device=cpu)", "bfloat16")
  -- wrapping at 80 columns: floor((80 - 7) / (3 + 2)) = 14 per line
  is(lt.arange(30):float(),
     "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n" ..
     "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n" ..
     "        28., 29.], shape=[30], dtype=float32, device=cpu)", "wrapped vector")
  is(lt.arange(40):float():view(2, 20),
     "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n" ..
     "         14., 15., 16., 17., 18., 19.],\n" ..
     "        [20., 21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 31., 32., 33.,\n" ..
     "         34., 35., 36., 37., 38., 39.]], shape=[2,20], dtype=float32, device=cpu)", "wrapped rows")
  is(lt.tensor{0 / 0}, "tensor([nan], shape=[1], dtype=float32, device=cpu)", "only nan")
  is(lt.tensor{-5, 123}:int(), "tensor([ -5, 123], shape=[2], dtype=int32, device=cpu)", "int32")
  -- more than 1000 elements: 3 at each end
  is(lt.arange(2000), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999], shape=[2000], dtype=int64, device=cpu)",
     "large, elided")
  is(lt.arange(2000):float(),
     "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n" ..
     "        1.9990e+03], shape=[2000], dtype=float32, device=cpu)", "large float, elided and wrapped")
  is(lt.arange(2000):view(40, 50),
     "tensor([[   0,    1,    2,  ...,   47,   48,   49],\n" ..
     "        [  50,   51,   52,  ...,   97,   98,   99],\n" ..
     "        [ 100,  101,  102,  ...,  147,  148,  149],\n" ..
     "        ...,\n" ..
     "        [1850, 1851, 1852,  ..., 1897, 1898, 1899],\n" ..
     "        [1900, 1901, 1902,  ..., 1947, 1948, 1949],\n" ..
     "        [1950, 1951, 1952,  ..., 1997, 1998, 1999]], shape=[40,50], dtype=int64, device=cpu)", "large 2-D, elided")
  is(lt.arange(1001):view(1001, 1, 1):narrow(1, 1, 7):contiguous(),
     "tensor([[[0]],\n\n        [[1]],\n\n        [[2]],\n\n        [[3]],\n\n        [[4]],\n\n        [[5]],\n\n        [[6]]], shape=[7,1,1], dtype=int64, device=cpu)",
     "3-D of single elements")
  is(lt.arange(1200):view(2, 600)[2]:narrow(1, 1, 3), "tensor([600, 601, 602], shape=[3], dtype=int64, device=cpu)",
     "a small view of a large tensor is not elided")
  -- set_printoptions
  lt.set_printoptions{precision = 2}
  is(lt.tensor{0.125, 1}, "tensor([0.12, 1.00], shape=[2], dtype=float32, device=cpu)", "precision 2")
  lt.set_printoptions{precision = 4}
  T.checkerr("set_printoptions: unknown option 'bogus'", lt.set_printoptions, {bogus = 1})
end)

T.test("save and load", function()
  local path = tmpname()
  local names = {"float32", "float64", "int64", "int32", "uint8", "bool", "bfloat16", "float16"}
  local tensors = {}
  for i, n in ipairs(names) do
    if n == "bool" then tensors[n] = lt.tensor{{true, false}, {false, true}}
    else tensors[n] = lt.tensor({{1, 2}, {3, i}}, {dtype = n}) end
  end
  tensors.scalar = lt.tensor(2.5, {dtype = "float64"})
  tensors.empty = lt.zeros(0, 3)
  tensors.transposed = lt.arange(6):view(2, 3):t()
  tensors.narrowed = lt.arange(10):narrow(1, 3, 4)
  tensors.expanded = lt.tensor{{1}, {2}}:expand(2, 3)
  local value = {
    tensors = tensors,
    epoch = 3, lr = 0.1, whole_float = 2.0, neg = -7, big = 1 << 62, bigf = 2^62, huge = math.huge, ninf = -math.huge, nan = 0 / 0,
    name = "resnet", hash = "#t.tensors.float32", hash2 = "##x", hashi = "#i5", empty_string = "",
    flags = {true, false, true}, list = {1, 2.5, "three", {4}},
    [7] = "seven", [-1] = "minus one", ["#i3"] = "string key that looks tagged", ["#key"] = 1,
    nested = {a = {b = {c = {d = "deep"}}}}, empty = {},
  }
  lt.save(path, value)
  local r = lt.load(path)
  for _, n in ipairs(names) do
    local t = r.tensors[n]
    T.check(lt.is_tensor(t) and t:dtype() == n, "dtype " .. n .. " kept")
    T.check(same(t:tolist(), tensors[n]:tolist()), "values " .. n)
  end
  T.check(r.tensors.scalar:dim() == 0 and r.tensors.scalar:item() == 2.5, "0-d tensor")
  T.check(same(r.tensors.empty:shape(), {0, 3}), "empty tensor")
  check_list(r.tensors.transposed, {{0, 3}, {1, 4}, {2, 5}}, "transposed tensor saved by value")
  check_list(r.tensors.narrowed, {2, 3, 4, 5}, "narrowed tensor")
  check_list(r.tensors.expanded, {{1, 1, 1}, {2, 2, 2}}, "expanded tensor")
  T.check(r.epoch == 3 and math.type(r.epoch) == "integer", "integers stay integers")
  T.check(r.whole_float == 2.0 and math.type(r.whole_float) == "float", "floats stay floats")
  T.check(r.lr == 0.1 and r.neg == -7 and r.big == 1 << 62 and math.type(r.big) == "integer" and r.bigf == 2^62 and math.type(r.bigf) == "float", "numbers exact")
  T.check(r.huge == math.huge and r.ninf == -math.huge and r.nan ~= r.nan, "non-finite floats")
  T.check(r.name == "resnet" and r.hash == "#t.tensors.float32" and r.hash2 == "##x" and r.hashi == "#i5", "strings starting with #")
  T.check(r.empty_string == "", "empty string")
  T.check(same(r.flags, {true, false, true}), "booleans")
  T.check(r.list[1] == 1 and math.type(r.list[1]) == "integer" and r.list[2] == 2.5 and r.list[3] == "three" and r.list[4][1] == 4, "mixed list")
  T.check(r[7] == "seven" and r[-1] == "minus one", "integer keys")
  T.check(r["#i3"] == "string key that looks tagged" and r["#key"] == 1 and r[3] == nil, "string keys starting with #")
  T.check(r.nested.a.b.c.d == "deep", "nesting")
  T.check(type(r.empty) == "table" and next(r.empty) == nil, "empty table")
  -- save twice gives the same bytes (sorted keys)
  local p2 = tmpname()
  lt.save(p2, value)
  local f1, f2 = io.open(path, "rb"), io.open(p2, "rb")
  T.check(f1:read("a") == f2:read("a"), "deterministic file")
  f1:close()
  f2:close()
  -- a flat table of tensors loads as written; saving replaces the file
  local flat = tmpname()
  lt.save(flat, {w = lt.ones(2), b = lt.zeros(1)})
  lt.save(flat, {w = lt.full({3}, 2.0)})
  local fr = lt.load(flat)
  check_list(fr.w, {2.0, 2.0, 2.0}, "the file was replaced")
  T.check(fr.b == nil, "nothing left from the old file")
  -- a list of tensors
  local lp = tmpname()
  lt.save(lp, {lt.ones(1), lt.zeros(2)})
  local lr = lt.load(lp)
  T.check(#lr == 2 and lr[2]:numel() == 2, "list of tensors")
  -- the same tensor twice
  local shared = lt.ones(2)
  local sp = tmpname()
  lt.save(sp, {a = shared, b = shared})
  local sr = lt.load(sp)
  check_list(sr.a, {1.0, 1.0}, "aliased tensor a")
  check_list(sr.b, {1.0, 1.0}, "aliased tensor b")
end)

T.test("the PyTorch golden file", function()
  local g = lt.load("tests/golden/ops_golden.safetensors")
  local n = 0
  for k, v in pairs(g) do
    n = n + 1
    T.check(type(k) == "string" and lt.is_tensor(v), "entry " .. tostring(k))
  end
  T.check(n == 97, "97 entries, got " .. n)
  local x, w, b, y = g["linear.x"], g["linear.w"], g["linear.b"], g["linear.y"]
  T.check(x:dtype() == "float32" and same(x:shape(), {5, 7}) and y:dtype() == "float64", "linear dtypes and shapes")
  T.check(g["cross_entropy.ls0.target"]:dtype() == "int64", "int64 entry")
  check_list(g["conv2d.k3s1p1.cfg"], {2, 3, 8, 9, 9, 3, 1, 1, 0, 1, 1}, "conv cfg")
  -- PyTorch's linear forward, recomputed here: y = x w^T + b (float64)
  local out = lt.matmul(x:double(), w:double():t()) + b:double()
  local num, den = (out - y):norm():item(), y:norm():item()
  T.check(num / den < 1e-12, "linear forward matches PyTorch: rel err " .. num / den)
  local out32 = lt.matmul(x, w:t()) + b
  T.check((out32:double() - y):norm():item() / den < 1e-6, "float32 linear within 1e-6")
end)

T.test("json", function()
  local s = lt.json.encode{a = 1, b = {1, 2, 3}, c = "x\"y\n", d = true, e = 2.5}
  local d = lt.json.decode(s)
  T.check(d.a == 1 and math.type(d.a) == "integer", "integer")
  T.check(same(d.b, {1, 2, 3}) and d.c == "x\"y\n" and d.d == true and d.e == 2.5, "round trip")
  T.check(lt.json.encode{1, 2, 3} == "[1,2,3]", "array")
  T.check(lt.json.encode{} == "{}", "empty table is an object")
  T.check(lt.json.encode("a") == '"a"' and lt.json.encode(true) == "true" and lt.json.encode(1.5) == "1.5", "scalars")
  T.check(lt.json.encode(lt.json.null) == "null" and lt.json.encode(nil) == "null", "null")
  T.check(lt.json.encode(1 << 62) == "4611686018427387904", "large integers are exact")
  T.check(lt.json.encode(-3) == "-3", "negative integer")
  T.check(lt.json.encode{[1] = "a", [3] = "c"} == '{"1":"a","3":"c"}' or lt.json.encode{[1] = "a", [3] = "c"} == '{"3":"c","1":"a"}',
          "sparse arrays become objects")
  local pretty = lt.json.encode({a = {1}}, {indent = true})
  T.check(pretty:find("\n") ~= nil, "indent option")
  local v = lt.json.decode('{"a": [1, 2.5, null, true, false, "s"], "b": {"c": -1e3}, "u": "\\u00e9"}')
  T.check(v.a[1] == 1 and v.a[2] == 2.5 and v.a[3] == lt.json.null and v.a[4] == true and v.a[5] == false and v.a[6] == "s", "decode array")
  T.check(v.b.c == -1000 and v.u == "\u{e9}", "decode nested and unicode")
  T.check(lt.json.decode("  [1]  \n") [1] == 1, "surrounding whitespace")
  T.check(lt.json.decode('"just a string"') == "just a string" and lt.json.decode("3") == 3, "scalar documents")
end)

for _, p in ipairs(tmpfiles) do os.remove(p) end
os.exit(T.done())
