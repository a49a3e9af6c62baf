-- test_index.lua — indexing, joining and sorting: cat/stack/split/chunk,
-- index_select, gather, scatter(_add)(_), index_add(_), one_hot, sort,
-- argsort, topk, cumsum. Hand-computed cases per dim (negative dims too),
-- non-contiguous and empty inputs, every dtype where it matters, ties and
-- NaN ordering, random inputs against naive Lua recomputations, and the
-- error messages of bad calls. Dims and index values are 1-based.
local T = require "luatrain.testing"
local lt = require "luatrain"

local NAN = 0 / 0

-- --- helpers -------------------------------------------------------------------------

local function show(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[i] = show(v[i]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function same(a, b)
  if type(a) == "table" or type(b) == "table" then
    if type(a) ~= "table" or type(b) ~= "table" or #a ~= #b then return false end
    for i = 1, #a do if not same(a[i], b[i]) then return false end end
    return true
  end
  if a ~= a and b ~= b then return true end -- both NaN
  return a == b
end

-- t's values (as tolist) must equal `expect` exactly
local function eq(t, expect, what)
  local got = t:tolist()
  return T.check(same(got, expect), string.format("%s: got %s, expected %s", what or "values", show(got), show(expect)))
end

local function shape_is(t, expect, what)
  return T.check(same(t:shape(), expect), string.format("%s: shape %s, expected %s", what or "shape", show(t:shape()),
                                                        show(expect)))
end

local function get(list, pos) -- nested element at 1-based position table
  local v = list
  for i = 1, #pos do v = v[pos[i]] end
  return v
end

local function set(list, pos, val)
  local v = list
  for i = 1, #pos - 1 do v = v[pos[i]] end
  v[pos[#pos]] = val
end

-- calls f(pos) for every position of `shape` in row-major order
local function each_pos(shape, f)
  local n = 1
  for i = 1, #shape do n = n * shape[i] end
  if n == 0 then return end
  local pos = {}
  for i = 1, #shape do pos[i] = 1 end
  for _ = 1, n do
    f(pos)
    for d = #shape, 1, -1 do
      pos[d] = pos[d] + 1
      if pos[d] <= shape[d] then break end
      pos[d] = 1
    end
  end
end

local function copy_pos(p) local c = {} for i = 1, #p do c[i] = p[i] end return c end

local function nested(shape, f, d, pos) -- builds a nested list of f(pos)
  d, pos = d or 1, pos or {}
  local out = {}
  for i = 1, shape[d] do
    pos[d] = i
    if d == #shape then out[i] = f(pos) else out[i] = nested(shape, f, d + 1, pos) end
  end
  pos[d] = nil
  return out
end

local DTYPES = {"float32", "float64", "int64", "int32", "uint8", "bool", "bfloat16", "float16"}
local function sample(dt) -- values exact in every dtype
  if dt == "bool" then return {{true, false, true}, {false, false, true}} end
  return {{1, 2, 3}, {4, 5, 6}}
end

-- --- cat and stack ------------------------------------------------------------------------

T.test("cat along each dim", function()
  local a = lt.tensor{{1, 2, 3}, {4, 5, 6}}
  local b = lt.tensor{{7, 8, 9}}
  eq(lt.cat({a, b}), {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}, "cat default dim 1")
  eq(lt.cat({a, b}, 1), {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}, "cat dim 1")
  eq(lt.cat({a, b:t():narrow(1, 1, 2)}, 2), {{1, 2, 3, 7}, {4, 5, 6, 8}}, "cat dim 2 with a transposed narrow")
  eq(lt.cat({a, a, a}, -1), {{1, 2, 3, 1, 2, 3, 1, 2, 3}, {4, 5, 6, 4, 5, 6, 4, 5, 6}}, "cat dim -1")
  eq(lt.concat({b, a}, -2), {{7, 8, 9}, {1, 2, 3}, {4, 5, 6}}, "concat alias, dim -2")
  eq(lt.cat({a}), {{1, 2, 3}, {4, 5, 6}}, "cat of one")
  local c3 = lt.arange(0, 24):view(2, 3, 4)
  local r = lt.cat({c3, c3:narrow(3, 2, 2)}, 3)
  shape_is(r, {2, 3, 6}, "3-D cat dim 3")
  eq(r[2][3], {20, 21, 22, 23, 21, 22}, "3-D cat dim 3 row")
  -- the result is a new tensor, not a view
  T.check(not lt.shares_storage(r, c3), "cat copies")
end)

T.test("cat promotes dtypes and handles every dtype", function()
  for _, dt in ipairs(DTYPES) do
    local a = lt.tensor(sample(dt), {dtype = dt})
    local r = lt.cat({a, a:narrow(1, 2, 1)}, 1)
    T.check(r:dtype() == dt, "cat keeps " .. dt)
    local s = sample(dt)
    eq(r, {s[1], s[2], s[2]}, "cat " .. dt)
    local r2 = lt.cat({a:t(), a:t()}, 2) -- transposed inputs
    eq(r2, {{s[1][1], s[2][1], s[1][1], s[2][1]}, {s[1][2], s[2][2], s[1][2], s[2][2]},
            {s[1][3], s[2][3], s[1][3], s[2][3]}}, "cat transposed " .. dt)
  end
  local m = lt.cat({lt.tensor{1, 2}, lt.tensor({0.5}, {dtype = "float64"})})
  T.check(m:dtype() == "float64", "int64 + float64 -> float64")
  eq(m, {1, 2, 0.5}, "mixed cat values")
  local bi = lt.cat({lt.tensor{true}, lt.tensor({7}, {dtype = "uint8"})})
  T.check(bi:dtype() == "uint8", "bool + uint8 -> uint8")
  eq(bi, {1, 7}, "bool + uint8 values")
end)

T.test("cat with empty and expanded inputs", function()
  local a = lt.tensor{{1, 2}, {3, 4}}
  local e = lt.zeros(0, 2)
  eq(lt.cat({e, a:float(), e}, 1), {{1, 2}, {3, 4}}, "[0,2] pieces")
  shape_is(lt.cat({e, e}, 1), {0, 2}, "all-empty cat")
  shape_is(lt.cat({lt.zeros(2, 0), lt.zeros(2, 0)}, 1), {4, 0}, "empty along the other dim")
  -- legacy: 1-D [0] tensors are skipped whatever the other shapes
  eq(lt.cat({lt.zeros(0), a, lt.zeros(0)}, 2), {{1, 2}, {3, 4}}, "1-D [0] skipped")
  shape_is(lt.cat({lt.zeros(0), lt.zeros(0)}), {0}, "only [0] tensors")
  local x = lt.tensor{5, 6}:view(1, 2):expand(3, 2)
  eq(lt.cat({x, a}, 1), {{5, 6}, {5, 6}, {5, 6}, {1, 2}, {3, 4}}, "expanded input")
end)

T.test("stack along each dim", function()
  local a, b = lt.tensor{1, 2, 3}, lt.tensor{4, 5, 6}
  eq(lt.stack({a, b}), {{1, 2, 3}, {4, 5, 6}}, "stack dim 1")
  eq(lt.stack({a, b}, 2), {{1, 4}, {2, 5}, {3, 6}}, "stack dim 2")
  eq(lt.stack({a, b}, -1), {{1, 4}, {2, 5}, {3, 6}}, "stack dim -1")
  local m = lt.tensor{{1, 2}, {3, 4}}
  local s = lt.stack({m, m:t()}, 3)
  shape_is(s, {2, 2, 2}, "stack of 2-D at dim 3")
  eq(s, {{{1, 1}, {2, 3}}, {{3, 2}, {4, 4}}}, "stack transposed input")
  eq(lt.stack({m, m:t()}, 2), {{{1, 2}, {1, 3}}, {{3, 4}, {2, 4}}}, "stack dim 2")
  eq(lt.stack({lt.tensor(1), lt.tensor(2.5)}), {1, 2.5}, "stack of 0-d, promoted")
  shape_is(lt.stack({lt.zeros(0, 3), lt.zeros(0, 3)}, 2), {0, 2, 3}, "stack of empties")
end)

T.test("split and chunk", function()
  local x = lt.arange(1, 11):view(2, 5)
  local p = x:split(2, 2)
  T.check(#p == 3, "split 5 by 2 -> 3 pieces")
  eq(p[1], {{1, 2}, {6, 7}}, "split piece 1")
  eq(p[3], {{5}, {10}}, "split last piece")
  T.check(lt.shares_storage(p[2], x), "split pieces are views")
  local q = lt.split(x, {1, 3, 1}, -1)
  eq(q[2], {{2, 3, 4}, {7, 8, 9}}, "split by sizes")
  local r = x:split(1) -- dim 1 by default
  T.check(#r == 2, "split dim 1 default")
  eq(r[2], {{6, 7, 8, 9, 10}}, "split row")
  local z = x:split({0, 5}, 2)
  shape_is(z[1], {2, 0}, "zero-sized split piece")
  -- chunk: PyTorch's sizes
  local c = lt.arange(1, 6):chunk(3)
  T.check(#c == 3, "5 in 3 chunks")
  eq(c[1], {1, 2}, "chunk 1")
  eq(c[3], {5}, "chunk 3")
  local c6 = lt.arange(1, 7):chunk(4)
  T.check(#c6 == 3, "6 in 4 chunks gives 3 pieces of 2, as PyTorch")
  eq(c6[3], {5, 6}, "chunk of 6")
  local ce = lt.zeros(0, 2):chunk(3)
  T.check(#ce == 3, "empty dim: n empty chunks")
  shape_is(ce[2], {0, 2}, "empty chunk shape")
  local ct = lt.chunk(x:t(), 2, 1)
  eq(ct[1], {{1, 6}, {2, 7}, {3, 8}}, "chunk of a transposed tensor")
  local e1 = lt.zeros(0):split(0)
  T.check(#e1 == 1, "split size 0 of an empty dim")
end)

-- --- index_select ---------------------------------------------------------------------------

T.test("index_select each dim", function()
  local x = lt.tensor{{1, 2, 3}, {4, 5, 6}}
  eq(x:index_select(1, lt.tensor{2, 1, 2}), {{4, 5, 6}, {1, 2, 3}, {4, 5, 6}}, "dim 1 with duplicates")
  eq(x:index_select(2, {3, 1}), {{3, 1}, {6, 4}}, "dim 2 from a list")
  eq(x:index_select(-1, {2}), {{2}, {5}}, "dim -1")
  eq(lt.index_select(x, -2, {2}), {{4, 5, 6}}, "functional form, dim -2")
  shape_is(x:index_select(2, {}), {2, 0}, "empty index")
  shape_is(lt.zeros(0, 3):index_select(2, {1, 1}), {0, 2}, "empty input")
  eq(x:index_select(1, lt.tensor({2}, {dtype = "int32"})), {{4, 5, 6}}, "int32 index")
  eq(x:t():index_select(1, {3, 1}), {{3, 6}, {1, 4}}, "transposed input")
  eq(x:index_select(2, lt.tensor{{3, 9}, {1, 9}}:select(2, 1)), {{3, 1}, {6, 4}}, "strided index")
  eq(x:index_select(2, lt.tensor{2}:expand(3)), {{2, 2, 2}, {5, 5, 5}}, "expanded index")
  local e = lt.tensor{7, 8, 9}:view(1, 3):expand(4, 3)
  eq(e:index_select(1, {4, 1}), {{7, 8, 9}, {7, 8, 9}}, "expanded input")
  local s = lt.tensor(5.5)
  local r = s:index_select(1, {1})
  T.check(r:dim() == 0 and r:item() == 5.5, "0-d input gives a 0-d result")
  for _, dt in ipairs(DTYPES) do
    local a = lt.tensor(sample(dt), {dtype = dt})
    local v = a:index_select(2, {3, 3, 1})
    T.check(v:dtype() == dt, "index_select keeps " .. dt)
    local smp = sample(dt)
    eq(v, {{smp[1][3], smp[1][3], smp[1][1]}, {smp[2][3], smp[2][3], smp[2][1]}}, "index_select " .. dt)
  end
end)

T.test("index_select random vs naive", function()
  lt.manual_seed(1)
  local x = lt.randn(4, 5, 6)
  local xl = x:tolist()
  local shape = {4, 5, 6}
  for d = 1, 3 do
    local idx = {}
    for i = 1, 7 do idx[i] = math.random(shape[d]) end
    local r = x:index_select(d, idx)
    local rs = {4, 5, 6}
    rs[d] = 7
    local want = nested(rs, function(pos)
      local p = copy_pos(pos)
      p[d] = idx[pos[d]]
      return get(xl, p)
    end)
    eq(r, want, "index_select random dim " .. d)
  end
  -- large enough for the threaded path
  local big = lt.randn(300, 200)
  local perm = lt.randperm(300)
  local sel = big:index_select(1, perm)
  local pl, bl, sl = perm:tolist(), big:tolist(), sel:tolist()
  local ok = true
  for i = 1, 300 do if not same(sl[i], bl[pl[i]]) then ok = false end end
  T.check(ok, "large index_select by a permutation")
end)

-- --- gather ----------------------------------------------------------------------------------

T.test("gather", function()
  local x = lt.tensor{{1, 2, 3}, {4, 5, 6}}
  eq(x:gather(1, lt.tensor{{2, 1, 2}}), {{4, 2, 6}}, "gather dim 1")
  eq(x:gather(2, lt.tensor{{3, 3}, {1, 2}}), {{3, 3}, {4, 5}}, "gather dim 2")
  eq(x:gather(-1, lt.tensor{{1}, {3}}), {{1}, {6}}, "gather dim -1, index smaller than input")
  eq(x:t():gather(1, lt.tensor{{2, 1}, {1, 2}}), {{2, 4}, {1, 5}}, "gather from a transposed input")
  eq(x:gather(2, lt.tensor{{2, 3}}:expand(2, 2)), {{2, 3}, {5, 6}}, "expanded index")
  shape_is(x:gather(2, lt.zeros({2, 0}, {dtype = "int64"})), {2, 0}, "empty index")
  eq(lt.gather(lt.tensor(3.5), 1, lt.tensor(1)), 3.5, "0-d gather")
  eq(lt.tensor({{true, false}}):gather(2, lt.tensor{{2, 2, 1}}), {{false, false, true}}, "bool gather")
  -- random 3-D against naive
  lt.manual_seed(2)
  local y = lt.randn(3, 4, 5)
  local yl = y:tolist()
  for d = 1, 3 do
    local ishape = {2, 3, 4}
    local idx = lt.randint(1, ({3, 4, 5})[d] + 1, ishape)
    local il = idx:tolist()
    local want = nested(ishape, function(pos)
      local p = copy_pos(pos)
      p[d] = get(il, pos)
      return get(yl, p)
    end)
    eq(y:gather(d, idx), want, "gather random dim " .. d)
  end
end)

-- --- scatter ---------------------------------------------------------------------------------

T.test("scatter_ and scatter", function()
  local x = lt.zeros(2, 3)
  local r = x:scatter_(1, lt.tensor{{2, 1, 2}}, lt.tensor{{1.5, 2.5, 3.5}})
  T.check(r == x, "scatter_ returns self")
  eq(x, {{0, 2.5, 0}, {1.5, 0, 3.5}}, "scatter_ dim 1")
  local y = lt.zeros(2, 4)
  y:scatter_(2, lt.tensor{{4, 1}, {2, 2}}, lt.tensor{{1, 2, 99}, {3, 4, 99}}:float())
  eq(y, {{2, 0, 0, 1}, {0, 4, 0, 0}}, "scatter_ dim 2: src larger than index; duplicates: last wins")
  local z = lt.zeros(2, 3)
  local out = z:scatter(-1, lt.tensor{{3}, {1}}, 7)
  eq(out, {{0, 0, 7}, {7, 0, 0}}, "out-of-place scatter with a number")
  eq(z, {{0, 0, 0}, {0, 0, 0}}, "scatter leaves the input alone")
  local w = lt.zeros(3, 2)
  w:t():scatter_(2, lt.tensor{{3}, {1}}, lt.tensor{{5}, {6}}:float())
  eq(w, {{0, 6}, {0, 0}, {5, 0}}, "scatter_ into a transposed view")
  local b = lt.zeros({2, 2}, {dtype = "bool"})
  b:scatter_(2, lt.tensor{{2}, {1}}, true)
  eq(b, {{false, true}, {true, false}}, "bool scatter_ of a boolean")
  local e = lt.zeros(2, 2)
  e:scatter_(1, lt.zeros({0, 2}, {dtype = "int64"}), 5)
  eq(e, {{0, 0}, {0, 0}}, "empty index scatters nothing")
end)

T.test("scatter_add_, index_add_", function()
  local x = lt.zeros(3)
  x:scatter_add_(1, lt.tensor{1, 3, 1, 1}, lt.tensor{1, 2, 3, 4}:float())
  eq(x, {8, 0, 2}, "scatter_add_ accumulates duplicates")
  local y = lt.ones({2, 3}, {dtype = "int64"})
  local s = y:scatter_add(2, lt.tensor{{1, 1}, {3, 2}}, lt.tensor{{10, 20}, {30, 40}})
  eq(s, {{31, 1, 1}, {1, 41, 31}}, "scatter_add dim 2 out of place")
  eq(y, {{1, 1, 1}, {1, 1, 1}}, "input unchanged")
  eq(lt.zeros(2):scatter_add(1, lt.tensor{2, 2, 2}, 0.5), {0, 1.5}, "scatter_add of a number")
  local h = lt.zeros({3}, {dtype = "bfloat16"})
  h:scatter_add_(1, lt.tensor{2, 2}, lt.tensor({1.5, 2}, {dtype = "bfloat16"}))
  eq(h, {0, 3.5, 0}, "bfloat16 scatter_add_")
  local a = lt.zeros(3, 2)
  a:index_add_(1, lt.tensor{3, 1, 3}, lt.tensor{{1, 2}, {3, 4}, {5, 6}}:float())
  eq(a, {{3, 4}, {0, 0}, {6, 8}}, "index_add_ dim 1 with duplicates")
  local b = lt.zeros(2, 3):index_add(-1, {2}, lt.tensor{{1}, {2}}:float())
  eq(b, {{0, 1, 0}, {0, 2, 0}}, "index_add dim -1 from a list")
  -- random scatter_add against naive
  lt.manual_seed(3)
  local src = lt.randn(4, 5)
  local idx = lt.randint(1, 4, {4, 5})
  local il, sl = idx:tolist(), src:tolist()
  for d = 1, 2 do
    local tshape = {4, 5}
    tshape[d] = 3
    local want = nested(tshape, function() return 0 end)
    each_pos({4, 5}, function(pos)
      local p = copy_pos(pos)
      p[d] = get(il, pos)
      set(want, p, get(want, p) + get(sl, pos))
    end)
    local got = lt.zeros(tshape, {dtype = "float64"}):scatter_add_(d, idx, src:double()):tolist()
    local ok = true
    each_pos(tshape, function(pos) if math.abs(get(got, pos) - get(want, pos)) > 1e-12 then ok = false end end)
    T.check(ok, "scatter_add_ random dim " .. d)
  end
end)

-- --- one_hot ----------------------------------------------------------------------------------

T.test("one_hot", function()
  eq(lt.one_hot(lt.tensor{2, 1, 3}), {{0, 1, 0}, {1, 0, 0}, {0, 0, 1}}, "one_hot inferred classes")
  local o = lt.one_hot(lt.tensor{{1}, {2}}, 4)
  shape_is(o, {2, 1, 4}, "one_hot of 2-D labels")
  T.check(o:dtype() == "int64", "one_hot is int64")
  eq(o, {{{1, 0, 0, 0}}, {{0, 1, 0, 0}}}, "one_hot values")
  eq(lt.one_hot(lt.tensor{3, 1}:expand(2, 2), 3), {{{0, 0, 1}, {1, 0, 0}}, {{0, 0, 1}, {1, 0, 0}}}, "expanded labels")
  shape_is(lt.one_hot(lt.zeros({0}, {dtype = "int64"}), 5), {0, 5}, "empty labels with num_classes")
end)

-- --- sort, argsort, topk ---------------------------------------------------------------------------

T.test("sort basics, dims, stability", function()
  local v, i = lt.tensor{3, 1, 2, 1, 3}:sort()
  eq(v, {1, 1, 2, 3, 3}, "ascending values")
  eq(i, {2, 4, 3, 1, 5}, "ties keep their order (stable)")
  v, i = lt.tensor{3, 1, 2, 1, 3}:sort(1, true)
  eq(v, {3, 3, 2, 1, 1}, "descending values")
  eq(i, {1, 5, 3, 2, 4}, "descending ties keep their order too")
  local x = lt.tensor{{3, 1, 2}, {0, 5, 4}}
  v, i = x:sort(1)
  eq(v, {{0, 1, 2}, {3, 5, 4}}, "sort dim 1")
  eq(i, {{2, 1, 1}, {1, 2, 2}}, "sort dim 1 indices")
  v, i = x:sort(-1, true)
  eq(v, {{3, 2, 1}, {5, 4, 0}}, "sort dim -1 descending")
  eq(i, {{1, 3, 2}, {2, 3, 1}}, "indices")
  v, i = x:t():sort(2)
  eq(v, {{0, 3}, {1, 5}, {2, 4}}, "sort of a transposed tensor")
  eq(i, {{2, 1}, {1, 2}, {1, 2}}, "transposed indices")
  eq(x:argsort(2, true), {{1, 3, 2}, {2, 3, 1}}, "argsort")
  v, i = lt.tensor(4.5):sort()
  T.check(v:item() == 4.5 and i:item() == 1 and i:dim() == 0, "0-d sort")
  v, i = lt.zeros(2, 0):sort(2)
  shape_is(v, {2, 0}, "empty sort")
  v = lt.tensor{5, 6}:view(2, 1):expand(2, 3):sort(1, true)
  eq(v, {{6, 6, 6}, {5, 5, 5}}, "sort of an expanded tensor")
end)

T.test("sort NaN, signed zero, every dtype", function()
  local v, i = lt.tensor{2, NAN, -1, NAN, math.huge, -math.huge}:sort()
  eq(v, {-math.huge, -1, 2, math.huge, NAN, NAN}, "NaN sorts last ascending")
  eq(i, {6, 3, 1, 5, 2, 4}, "NaN indices in order")
  v, i = lt.tensor{2, NAN, -1, NAN}:sort(1, true)
  eq(v, {NAN, NAN, 2, -1}, "NaN first descending")
  eq(i, {2, 4, 1, 3}, "descending NaN indices in order")
  v, i = lt.tensor{0.0, -0.0, 0.0, -1}:sort()
  eq(i, {4, 1, 2, 3}, "-0.0 equals 0.0: kept in order")
  for _, dt in ipairs(DTYPES) do
    local src = dt == "bool" and {true, false, true, false} or {3, 1, 2, 1}
    local t = lt.tensor(src, {dtype = dt})
    local sv, si = t:sort()
    T.check(sv:dtype() == dt and si:dtype() == "int64", "sort dtypes for " .. dt)
    if dt == "bool" then
      eq(sv, {false, false, true, true}, "bool sort")
      eq(si, {2, 4, 1, 3}, "bool sort indices")
    else
      eq(sv, {1, 1, 2, 3}, "sort " .. dt)
      eq(si, {2, 4, 3, 1}, "sort indices " .. dt)
    end
  end
  local big = lt.tensor({-5, 2 ^ 62, -(2 ^ 62), 7}, {dtype = "int64"})
  eq(big:argsort(), {3, 1, 4, 2}, "large int64 keys")
  local h = lt.tensor({1, NAN, -2}, {dtype = "float16"})
  eq(h:argsort(1, true), {2, 1, 3}, "float16 NaN")
end)

-- naive stable sort of a list: returns values, 1-based indices
local function naive_sort(list, descending)
  local idx = {}
  for k = 1, #list do idx[k] = k end
  local function key_less(a, b) -- NaN largest
    if a ~= a then return false end
    if b ~= b then return true end
    return a < b
  end
  table.sort(idx, function(p, q)
    local a, b = list[p], list[q]
    local lt_, gt_ = key_less(a, b), key_less(b, a)
    if descending then lt_, gt_ = gt_, lt_ end
    if lt_ then return true end
    if gt_ then return false end
    return p < q
  end)
  local vals = {}
  for k = 1, #idx do vals[k] = list[idx[k]] end
  return vals, idx
end

T.test("sort and topk random vs naive", function()
  lt.manual_seed(4)
  -- rounded values so there are many ties; some NaN
  local x = (lt.randn(37, 53) * 3):round()
  x[5][7] = NAN
  x[5][9] = NAN
  x[20][1] = NAN
  local xl = x:tolist()
  for _, desc in ipairs({false, true}) do
    local v, i = x:sort(2, desc)
    local vl, il = v:tolist(), i:tolist()
    local ok = true
    for r = 1, 37 do
      local nv, ni = naive_sort(xl[r], desc)
      if not same(vl[r], nv) or not same(il[r], ni) then ok = false end
    end
    T.check(ok, "row sorts match the naive stable sort, descending=" .. tostring(desc))
    -- along dim 1 through the transposed view
    local v1, i1 = x:sort(1, desc)
    local v1l, i1l = v1:tolist(), i1:tolist()
    ok = true
    for c = 1, 53 do
      local col = {}
      for r = 1, 37 do col[r] = xl[r][c] end
      local nv, ni = naive_sort(col, desc)
      for r = 1, 37 do
        if not same(v1l[r][c], nv[r]) or i1l[r][c] ~= ni[r] then ok = false end
      end
    end
    T.check(ok, "column sorts match, descending=" .. tostring(desc))
  end
  -- topk through both the heap path (small k) and the sort path
  for _, k in ipairs({0, 1, 3, 6, 53}) do
    for _, largest in ipairs({true, false}) do
      local v, i = x:topk(k, 2, largest)
      shape_is(v, {37, k}, "topk shape")
      local vl, il = v:tolist(), i:tolist()
      local ok = true
      for r = 1, 37 do
        local nv, ni = naive_sort(xl[r], largest)
        for j = 1, k do
          if not same(vl[r][j], nv[j]) or il[r][j] ~= ni[j] then ok = false end
        end
      end
      T.check(ok, string.format("topk k=%d largest=%s matches the stable sort", k, tostring(largest)))
    end
  end
  -- large: lines longer than the insertion-sort run and enough work for threads
  local big = (lt.randn(64, 1000) * 10):round()
  local bv, bi = big:sort(2)
  local bl, bvl, bil = big:tolist(), bv:tolist(), bi:tolist()
  local ok = true
  for r = 1, 64, 9 do
    local nv, ni = naive_sort(bl[r], false)
    if not same(bvl[r], nv) or not same(bil[r], ni) then ok = false end
  end
  T.check(ok, "long lines sort like the naive stable sort")
  local tv, ti = big:topk(5, 2)
  ok = true
  for r = 1, 64, 7 do
    local nv, ni = naive_sort(bl[r], true)
    for j = 1, 5 do if tv[r][j]:item() ~= nv[j] or ti[r][j]:item() ~= ni[j] then ok = false end end
  end
  T.check(ok, "heap topk on long lines")
end)

T.test("topk hand cases", function()
  local x = lt.tensor{1, 3, 3, NAN, 2}
  local v, i = x:topk(2)
  eq(v, {NAN, 3}, "NaN is the largest")
  eq(i, {4, 2}, "topk indices")
  v, i = x:topk(3, 1, false)
  eq(v, {1, 2, 3}, "smallest")
  eq(i, {1, 5, 2}, "smallest, tie takes the first")
  local m = lt.tensor{{1, 9}, {8, 2}, {5, 5}}
  v, i = m:topk(2, 1)
  eq(v, {{8, 9}, {5, 5}}, "topk dim 1")
  eq(i, {{2, 1}, {3, 3}}, "topk dim 1 indices")
  v, i = m:topk(1, -1, true, false)
  eq(v, {{9}, {8}, {5}}, "topk dim -1, sorted=false")
  eq(i, {{2}, {1}, {1}}, "tie: the first")
  v = m:topk(0)
  shape_is(v, {3, 0}, "k = 0")
  v, i = lt.tensor(2.0):topk(1)
  T.check(v:item() == 2 and i:item() == 1, "0-d topk")
end)

-- --- cumsum ---------------------------------------------------------------------------------------

T.test("cumsum", function()
  local x = lt.tensor{{1, 2, 3}, {4, 5, 6}}
  eq(x:cumsum(1), {{1, 2, 3}, {5, 7, 9}}, "cumsum dim 1")
  eq(x:cumsum(2), {{1, 3, 6}, {4, 9, 15}}, "cumsum dim 2")
  eq(lt.cumsum(x, -1), {{1, 3, 6}, {4, 9, 15}}, "cumsum dim -1")
  eq(x:t():cumsum(2), {{1, 5}, {2, 7}, {3, 9}}, "transposed")
  local i32 = lt.tensor({100, 200, 300}, {dtype = "int32"}):cumsum(1)
  T.check(i32:dtype() == "int64", "int32 cumsum is int64")
  eq(i32, {100, 300, 600}, "int32 cumsum")
  local u8 = lt.tensor({200, 100}, {dtype = "uint8"}):cumsum(1)
  eq(u8, {200, 300}, "uint8 cumsum does not wrap (int64 result)")
  local b = lt.tensor{true, false, true}:cumsum(1)
  T.check(b:dtype() == "int64", "bool cumsum is int64")
  eq(b, {1, 1, 2}, "bool cumsum")
  local f = lt.tensor{0.5, 0.25, NAN, 1}:cumsum(1)
  T.check(f:dtype() == "float32", "float32 cumsum keeps the dtype")
  eq(f, {0.5, 0.75, NAN, NAN}, "NaN propagates")
  local h = lt.tensor({1, 2, 3}, {dtype = "float16"}):cumsum(1)
  T.check(h:dtype() == "float16", "float16 cumsum")
  eq(h, {1, 3, 6}, "float16 values")
  eq(lt.tensor(7):cumsum(1), 7, "0-d cumsum")
  shape_is(lt.zeros(0, 3):cumsum(1), {0, 3}, "empty cumsum")
  eq(lt.tensor{1, 2}:view(1, 2):expand(3, 2):cumsum(1), {{1, 2}, {2, 4}, {3, 6}}, "expanded input")
  -- random float64 against a naive running sum, both dims
  lt.manual_seed(5)
  local r = lt.randn({6, 7, 5}, {dtype = "float64"})
  local rl = r:tolist()
  for d = 1, 3 do
    local got = r:cumsum(d):tolist()
    local ok = true
    each_pos({6, 7, 5}, function(pos)
      local s = 0
      local p = copy_pos(pos)
      for j = 1, pos[d] do p[d] = j; s = s + get(rl, p) end
      if math.abs(get(got, pos) - s) > 1e-12 then ok = false end
    end)
    T.check(ok, "cumsum random dim " .. d)
  end
end)

-- --- bad inputs -----------------------------------------------------------------------------------

T.test("errors", function()
  local x10 = lt.arange(0, 10)
  local x = lt.zeros(2, 3)
  T.checkerr("bad argument #3 to 'index_select' (index 11 is out of range for dimension 1 of size 10)",
             x10.index_select, x10, 1, {1, 11})
  T.checkerr("bad argument #3 to 'index_select' (index 0 is out of range for dimension 1 of size 10)",
             x10.index_select, x10, 1, lt.tensor{0})
  T.checkerr("bad argument #3 to 'index_select' (expected an int64 index tensor, got float32)",
             x10.index_select, x10, 1, lt.tensor{1.0})
  T.checkerr("bad argument #3 to 'index_select' (expected a 1-D index, got shape [1,1])",
             x10.index_select, x10, 1, lt.tensor{{1}})
  T.checkerr("bad argument #3 to 'index_select' (index list entry 2 is 1.5, expected an integer)",
             x10.index_select, x10, 1, {1, 1.5})
  T.checkerr("bad argument #2 to 'index_select' (dimension 2 out of range (expected 1..1 or -1..-1))",
             x10.index_select, x10, 2, {1})
  T.checkerr("bad argument #3 to 'gather' (index has 1 dimension (shape [2]), expected 2 like the input (shape [2,3]))",
             x.gather, x, 1, lt.tensor{1, 2})
  T.checkerr("bad argument #3 to 'gather' (index of shape [2,4] is larger than the input of shape [2,3] in dimension 2)",
             x.gather, x, 1, lt.ones({2, 4}, {dtype = "int64"}))
  T.checkerr("bad argument #3 to 'gather' (expected an int64 index tensor, got int32)",
             x.gather, x, 1, lt.ones({2, 3}, {dtype = "int32"}))
  T.checkerr("bad argument #3 to 'gather' (index 4 is out of range for dimension 2 of size 3)",
             x.gather, x, 2, lt.tensor{{1, 4}})
  T.checkerr("bad argument #4 to 'scatter_' (src has dtype float64, expected float32 like the input)",
             x.scatter_, x, 1, lt.tensor{{1}}, lt.tensor({{1}}, {dtype = "float64"}))
  T.checkerr("bad argument #4 to 'scatter_' (src of shape [1,1] is smaller than the index of shape [1,2] in dimension 2)",
             x.scatter_, x, 1, lt.tensor{{1, 1}}, lt.zeros(1, 1))
  local keep = lt.tensor{{1, 2, 3}, {4, 5, 6}}:float()
  T.checkerr("bad argument #3 to 'scatter_' (index 3 is out of range for dimension 1 of size 2)",
             keep.scatter_, keep, 1, lt.tensor{{1, 3}}, 0)
  eq(keep, {{1, 2, 3}, {4, 5, 6}}, "a failed scatter_ writes nothing")
  T.checkerr("bad argument #3 to 'scatter_add_' (index 0 is out of range for dimension 2 of size 3)",
             keep.scatter_add_, keep, 2, lt.tensor{{1, 0}}, lt.ones(1, 2))
  eq(keep, {{1, 2, 3}, {4, 5, 6}}, "a failed scatter_add_ writes nothing")
  local ex = lt.zeros(1, 3):expand(2, 3)
  T.checkerr("bad argument #1 to 'scatter_' (in-place write to a tensor whose elements overlap in memory",
             ex.scatter_, ex, 1, lt.tensor{{1}}, 1)
  T.checkerr("bad argument #4 to 'scatter_' (expected a tensor or a number for src, got string)",
             x.scatter_, x, 1, lt.tensor{{1}}, "a")
  T.checkerr("bad argument #4 to 'index_add_' (src has shape [2,3], expected [1,3] (the input's shape with the index length at dimension 1))",
             x.index_add_, x, 1, {1}, lt.zeros(2, 3))
  T.checkerr("bad argument #1 to 'cat' (tensor 2 has shape [2,4], incompatible with tensor 1 of shape [2,3] (sizes must match except in dimension 1))",
             lt.cat, {x, lt.zeros(2, 4)}, 1)
  T.checkerr("bad argument #1 to 'cat' (tensor 3 has shape [3], incompatible with tensor 1 of shape [2,3]",
             lt.cat, {x, x, lt.zeros(3)})
  T.checkerr("bad argument #1 to 'cat' (expected a non-empty list of tensors)", lt.cat, {})
  T.checkerr("bad argument #1 to 'cat' (element 2 of the list is a number, expected a tensor)", lt.cat, {x, 3})
  T.checkerr("bad argument #1 to 'cat' (expected a list of tensors, got userdata)", lt.cat, x)
  T.checkerr("bad argument #1 to 'cat' (tensor 1 is 0-d and cannot be concatenated", lt.cat, {lt.tensor(1), lt.tensor(2)})
  T.checkerr("bad argument #2 to 'cat' (dimension 3 out of range (expected 1..2 or -2..-1))", lt.cat, {x, x}, 3)
  T.checkerr("bad argument #2 to 'cat' (dimension 0 out of range", lt.cat, {x, x}, 0)
  T.checkerr("bad argument #1 to 'stack' (tensor 2 has shape [3] but tensor 1 has shape [2] (stack needs equal shapes))",
             lt.stack, {lt.zeros(2), lt.zeros(3)})
  T.checkerr("bad argument #2 to 'stack' (dimension 3 out of range (expected 1..2 or -2..-1))",
             lt.stack, {lt.zeros(2), lt.zeros(2)}, 3)
  T.checkerr("bad argument #2 to 'topk' (k = 5 is out of range for dimension 1 of size 3 (expected 0..3))",
             lt.topk, lt.zeros(3), 5)
  T.checkerr("bad argument #2 to 'topk' (k = -1 is out of range", lt.topk, lt.zeros(3), -1)
  T.checkerr("bad argument #3 to 'sort' (expected a boolean descending, got number)", lt.sort, lt.zeros(3), 1, 1)
  T.checkerr("bad argument #2 to 'sort' (dimension 2 out of range", lt.sort, lt.zeros(3), 2)
  T.checkerr("bad argument #2 to 'cumsum' (expected an integer dimension, got no value)", lt.cumsum, lt.zeros(3))
  T.checkerr("bad argument #2 to 'split' (split sizes {2,2} do not add up to 5, the size of dimension 1)",
             lt.split, lt.zeros(5), {2, 2})
  T.checkerr("bad argument #2 to 'split' (split size must be positive, got 0)", lt.split, lt.zeros(5), 0)
  T.checkerr("bad argument #2 to 'chunk' (number of chunks must be positive, got 0)", lt.chunk, lt.zeros(5), 0)
  T.checkerr("bad argument #1 to 'chunk' (cannot chunk a 0-d tensor)", lt.chunk, lt.tensor(1), 2)
  T.checkerr("bad argument #1 to 'one_hot' (class label 4 is out of range for 3 classes (expected 1..3))",
             lt.one_hot, lt.tensor{1, 4}, 3)
  T.checkerr("bad argument #1 to 'one_hot' (class label 0 is out of range for 3 classes (expected 1..3))",
             lt.one_hot, lt.tensor{0, 2}, 3)
  T.checkerr("bad argument #1 to 'one_hot' (expected an int64 tensor of class labels, got float32)",
             lt.one_hot, lt.tensor{1.0})
  T.checkerr("bad argument #2 to 'one_hot' (cannot infer the number of classes from an empty tensor; pass num_classes)",
             lt.one_hot, lt.zeros({0}, {dtype = "int64"}))
  T.checkerr("bad argument #3 to 'index_select' (index " .. math.mininteger .. " is out of range for dimension 1 of size 10)",
             x10.index_select, x10, 1, lt.tensor{math.mininteger})
  T.checkerr("bad argument #1 to 'one_hot' (class label 2 is out of range for 0 classes)", lt.one_hot, lt.tensor{2}, 0)
  T.checkerr("bad argument #1 to 'one_hot' (class label -3 is out of range (class labels start at 1))",
             lt.one_hot, lt.tensor{-3, -1})
  T.checkerr("bad argument #3 to 'index_select' (indexing a 0-d tensor needs exactly one index, got 2)",
             lt.index_select, lt.tensor(1), 1, {1, 1})
end)

os.exit(T.done())
