-- run.lua — luatrain against PyTorch, op by op: the differential suite.
-- Its length is the `ops` table, one short entry per op named in gen.py;
-- the two files are read side by side.
--
-- tests/torch_diff/gen.py (run by `make golden`, with Debian's PyTorch) wrote
-- cases/<family>.safetensors: for each case an op name, its inputs, its
-- arguments in PyTorch's conventions and PyTorch's results (the format is
-- described at the top of casegen.py). This file runs every case through
-- luatrain and compares:
--   - every case with float inputs twice, in float64 (relative Frobenius
--     error <= 1e-10 against PyTorch's float64 results) and in float32
--     (<= 1e-4 against the same float64 results, or the case's own bound
--     where PyTorch's float32 is that far off itself: the case says why);
--     cases of fixed dtypes (integers, bools, float32 beside float64) once;
--   - outputs: the dtype exactly, the shape exactly, NaN and infinity
--     positions, then the values (integers and bools exactly); Lua values
--     (shapes, strides, item(), dtype names) by type and value;
--   - gradients: every floating input's gradient of sum(out * gy), gy the
--     stored upstream gradient; PyTorch's "no gradient" (None) and an
--     all-zero gradient are the same to its engine, so nil here matches a
--     zero gradient there and the other way round;
--   - views: an input built by a view recipe must have PyTorch's strides;
--   - refusals: where PyTorch raises, luatrain must raise, with a message
--     that names the function (and where luatrain refuses on purpose what
--     PyTorch accepts, DELIBERATE below says so);
--   - ties and random masks (where PyTorch leaves the answer open): the
--     property the case names (CHECKS below).
-- The `ops` table maps each op name to a luatrain call. It is where PyTorch's
-- 0-based dims, indices and class targets become luatrain's 1-based ones, so
-- it doubles as the reference of how a PyTorch call reads in luatrain.
--
-- Coverage: every public function of lt, lt.Tensor (methods), lt.nn.functional
-- and the tensor operators is wrapped while the cases run; a call made by a
-- case's op counts for that function. A public function that no case calls
-- must be listed in uncovered.lua with a reason, or this file fails; the
-- table in docs/torch_diff.md is made from the same record and must be
-- current (LUATRAIN_WRITE_COVERAGE=1 rewrites it).
--
-- On a GPU (tests/lua/test_torch_diff_cuda.lua, through T.run_on_gpu) the same
-- cases run on the device: float64 and float32 with TF32 off within the same
-- bounds, the matrix-product cases again with TF32 on (the case's tol_tf32),
-- and on every device those cases under lt.autocast("bf16") (tol_bf16).
--
-- LUATRAIN_DIFF_ONLY=<Lua pattern> runs the cases whose name or family
-- matches (no coverage check then); LUATRAIN_DIFF_VERBOSE=1 prints each case.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local ROOT = HERE:match("^(.*)/tests/torch_diff$") or (HERE == "tests/torch_diff" and ".") or HERE .. "/../.."
local FAMILIES = {"unary", "binary", "reduce", "index", "view", "create", "where", "matmul", "nn", "loss",
                  "autograd"}
local DEV = T.device()
local ONLY = os.getenv("LUATRAIN_DIFF_ONLY")
local VERBOSE = os.getenv("LUATRAIN_DIFF_VERBOSE") == "1"

-- ===================================================================================
-- Translation helpers. They run with the coverage record paused: a conversion
-- made here is not a call of the op under test.
-- ===================================================================================
local U = {}
local recording = false

local function paused(fn, ...)
  local was = recording
  recording = false
  local r = table.pack(pcall(fn, ...))
  recording = was
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- a PyTorch dim (0-based, negative from the end) as luatrain's (1-based, negative the same)
function U.dim(d)
  if d == nil then return nil end
  return d >= 0 and d + 1 or d
end

-- a list of PyTorch dims
function U.dims(ds)
  if type(ds) ~= "table" then return U.dim(ds) end
  local out = {}
  for i, d in ipairs(ds) do out[i] = U.dim(d) end
  return out
end

-- a 0-based index tensor (gather, scatter, targets) as a 1-based one
function U.plus1(idx) return paused(function() return idx + 1 end) end

-- a 1-based index tensor returned by luatrain as PyTorch's 0-based one
function U.minus1(idx) return paused(function() return idx - 1 end) end

-- class targets: 0-based labels as 1-based; a target equal to ignore_index
-- (default -100) becomes luatrain's ignore_index (U.class below)
function U.target(tg, ignore)
  return paused(function()
    if tg:dtype() ~= "int64" then return tg end
    ignore = ignore or -100
    return lt.where(tg:eq(ignore), U.class(ignore), tg + 1)
  end)
end

-- ===================================================================================
-- The ops: PyTorch's call (gen.py, the same name) -> luatrain's call.
-- `a` holds the non-tensor arguments as gen.py wrote them (PyTorch's).
-- ===================================================================================
local ops = {}

-- unary elementwise: torch.<name>(x) is lt.<name>(x) is x:<name>(); <name>_ in place
local UNARY = {"neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "floor",
               "ceil", "round", "sign", "reciprocal", "square"}
for _, n in ipairs(UNARY) do
  ops[n] = function(a, x) return x[n](x) end
  ops[n .. "_"] = function(a, x) return x[n .. "_"](x) end
end
ops.clamp = function(a, x) return x:clamp(a.min, a.max) end          -- either bound may be nil
ops.clamp_table = function(a, x) return x:clamp{min = a.min, max = a.max} end
ops.clip = function(a, x) return lt.clip(x, a.min, a.max) end
ops.clamp_ = function(a, x) return x:clamp_(a.min, a.max) end
ops.logical_not = function(a, x) return lt.logical_not(x) end
ops.isnan = function(a, x) return x:isnan() end

-- binary elementwise: the second operand is a tensor, or the Lua number a.other
-- (PyTorch's maximum/minimum/atan2/logical_* take a 0-d tensor where luatrain
-- takes the number); add/sub take alpha as a third argument
for _, n in ipairs{"add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmod", "remainder", "atan2"} do
  ops[n] = function(a, x, y) return x[n](x, y or a.other, a.alpha) end
  ops[n .. "_"] = function(a, x, y) return x[n .. "_"](x, y or a.other, a.alpha) end
end
for _, n in ipairs{"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"} do
  ops[n] = function(a, x, y) return x[n](x, y or a.other) end
end
-- the Lua operators; Lua's % is PyTorch's % (remainder, the divisor's sign)
ops.__add = function(a, x, y) return x + (y or a.other) end
ops.__sub = function(a, x, y) return x - (y or a.other) end
ops.__mul = function(a, x, y) return x * (y or a.other) end
ops.__div = function(a, x, y) return x / (y or a.other) end
ops.__pow = function(a, x, y) return x ^ (y or a.other) end
ops.__mod = function(a, x, y) return x % (y or a.other) end
ops.__unm = function(a, x) return -x end
ops.__radd = function(a, x) return a.left + x end
ops.__rsub = function(a, x) return a.left - x end
ops.__rmul = function(a, x) return a.left * x end
ops.__rdiv = function(a, x) return a.left / x end
ops.__rpow = function(a, x) return a.left ^ x end
ops.__rmod = function(a, x) return a.left % x end
-- torch.max(x, y) / torch.min(x, y): the elementwise forms
ops.max_other = function(a, x, y) return x:max(y) end
ops.min_other = function(a, x, y) return lt.min(x, y) end

-- reductions: dim (or a list of dims) then keepdim, as PyTorch; each dim translated
for _, n in ipairs{"sum", "mean", "prod", "any", "all"} do
  ops[n] = function(a, x) return x[n](x, U.dims(a.dim), a.keepdim) end
end
ops.lt_sum = function(a, x) return lt.sum(x, U.dims(a.dim), a.keepdim) end
ops.lt_mean = function(a, x) return lt.mean(x, U.dims(a.dim), a.keepdim) end
-- var/std: PyTorch's unbiased= and correction= go in an options table
for _, n in ipairs{"var", "std"} do
  ops[n] = function(a, x)
    return x[n](x, U.dims(a.dim), {unbiased = a.unbiased, correction = a.correction, keepdim = a.keepdim})
  end
  -- PyTorch's positional forms var(dim, unbiased, keepdim) and var(unbiased)
  ops[n .. "_positional"] = function(a, x) return x[n](x, U.dim(a.dim), a.unbiased, a.keepdim) end
  ops[n .. "_unbiased_positional"] = function(a, x) return x[n](x, a.unbiased) end
end
-- torch.var_mean/std_mean are functions only (lt.var_mean), returning (statistic, mean)
for _, n in ipairs{"var_mean", "std_mean"} do
  ops[n] = function(a, x)
    return lt[n](x, U.dims(a.dim), {unbiased = a.unbiased, correction = a.correction, keepdim = a.keepdim})
  end
  ops[n .. "_positional"] = function(a, x) return lt[n](x, U.dim(a.dim), a.unbiased, a.keepdim) end
end
-- max/min: no dim gives the value; a dim gives values and 1-based indices
for _, n in ipairs{"max", "min"} do
  ops[n] = function(a, x)
    if a.dim == nil then return x[n](x) end
    local v, i = x[n](x, U.dim(a.dim), a.keepdim)
    return v, U.minus1(i)
  end
end
ops.argmax = function(a, x) return U.minus1(x:argmax(U.dim(a.dim), a.keepdim)) end
ops.argmin = function(a, x) return U.minus1(lt.argmin(x, U.dim(a.dim), a.keepdim)) end
-- norm(p, dim, keepdim): p a number, math.huge or "fro"
ops.norm = function(a, x) return x:norm(a.p, U.dims(a.dim), a.keepdim) end
ops.logsumexp = function(a, x) return x:logsumexp(U.dims(a.dim), a.keepdim) end
ops.cumsum = function(a, x) return x:cumsum(U.dim(a.dim)) end
ops.lt_cumsum = function(a, x) return lt.cumsum(x, U.dim(a.dim)) end

-- joining: the inputs as a list, then dim (PyTorch's default 0 is luatrain's default 1)
ops.cat = function(a, ...) return lt.cat({...}, U.dim(a.dim)) end
ops.concat = function(a, ...) return lt.concat({...}, U.dim(a.dim)) end
ops.stack = function(a, ...) return lt.stack({...}, U.dim(a.dim)) end
-- split/chunk return a Lua list of views; PyTorch's tuple entries are its entries
ops.split = function(a, x) return table.unpack(x:split(a.size, U.dim(a.dim))) end
ops.lt_split = function(a, x) return table.unpack(lt.split(x, a.size, U.dim(a.dim))) end
ops.chunk = function(a, x) return table.unpack(x:chunk(a.chunks, U.dim(a.dim))) end
ops.lt_chunk = function(a, x) return table.unpack(lt.chunk(x, a.chunks, U.dim(a.dim))) end
-- indexing: index tensors hold 1-based positions in luatrain
ops.index_select = function(a, x, i) return x:index_select(U.dim(a.dim), U.plus1(i)) end
ops.lt_index_select = function(a, x, i) return lt.index_select(x, U.dim(a.dim), U.plus1(i)) end
ops.index_select_list = function(a, x)       -- a Lua list of 1-based positions
  local list = {}
  for k, v in ipairs(a.index) do list[k] = v + 1 end
  return x:index_select(U.dim(a.dim), list)
end
ops.gather = function(a, x, i) return x:gather(U.dim(a.dim), U.plus1(i)) end
ops.lt_gather = function(a, x, i) return lt.gather(x, U.dim(a.dim), U.plus1(i)) end
-- scatter(dim, index, src) or scatter(dim, index, value)
ops.scatter = function(a, x, i, src) return x:scatter(U.dim(a.dim), U.plus1(i), src or a.value) end
ops.lt_scatter = function(a, x, i, src) return lt.scatter(x, U.dim(a.dim), U.plus1(i), src or a.value) end
ops.scatter_ = function(a, x, i, src) return x:scatter_(U.dim(a.dim), U.plus1(i), src or a.value) end
ops.lt_scatter_ = function(a, x, i, src) return lt.scatter_(x, U.dim(a.dim), U.plus1(i), src or a.value) end
ops.scatter_add = function(a, x, i, src) return x:scatter_add(U.dim(a.dim), U.plus1(i), src) end
ops.lt_scatter_add = function(a, x, i, src) return lt.scatter_add(x, U.dim(a.dim), U.plus1(i), src) end
ops.scatter_add_ = function(a, x, i, src) return x:scatter_add_(U.dim(a.dim), U.plus1(i), src) end
ops.lt_scatter_add_ = function(a, x, i, src) return lt.scatter_add_(x, U.dim(a.dim), U.plus1(i), src) end
ops.index_add = function(a, x, i, src) return x:index_add(U.dim(a.dim), U.plus1(i), src) end
ops.lt_index_add = function(a, x, i, src) return lt.index_add(x, U.dim(a.dim), U.plus1(i), src) end
ops.index_add_ = function(a, x, i, src) return x:index_add_(U.dim(a.dim), U.plus1(i), src) end
ops.lt_index_add_ = function(a, x, i, src) return lt.index_add_(x, U.dim(a.dim), U.plus1(i), src) end
-- F.one_hot(labels, C) with labels 0..C-1 is lt.one_hot(labels, C) with labels 1..C
ops.one_hot = function(a, i) return lt.one_hot(U.plus1(i), a.num_classes) end
-- sort(dim = -1, descending) -> values, 1-based indices (stable, as PyTorch's stable=True)
ops.sort = function(a, x)
  local v, i = x:sort(U.dim(a.dim), a.descending)
  return v, U.minus1(i)
end
ops.lt_sort = function(a, x)
  local v, i = lt.sort(x, U.dim(a.dim), a.descending)
  return v, U.minus1(i)
end
ops.argsort = function(a, x) return U.minus1(x:argsort(U.dim(a.dim), a.descending)) end
ops.lt_argsort = function(a, x) return U.minus1(lt.argsort(x, U.dim(a.dim), a.descending)) end
-- topk(k, dim = -1, largest = true, sorted = true) -> values, 1-based indices
ops.topk = function(a, x)
  local v, i = x:topk(a.k, U.dim(a.dim), a.largest, a.sorted)
  return v, U.minus1(i)
end
ops.lt_topk = function(a, x)
  local v, i = lt.topk(x, a.k, U.dim(a.dim), a.largest, a.sorted)
  return v, U.minus1(i)
end

-- views: the result, with its strides and storage offset (gen.py's layout())
local function layout(y) return y, paused(function() return y:stride(), y:storage_offset() end) end
-- a PyTorch position along a dim (0-based, negative from the end) as luatrain's
function U.index(i) return i >= 0 and i + 1 or i end

ops.view = function(a, x) return layout(x:view(a.shape)) end
-- the layout of another op's result (a.inner; the op's own arguments in a)
ops.layout_of = function(a, ...) return layout((ops[a.inner](a, ...))) end
ops.reshape = function(a, x) return x:reshape(table.unpack(a.shape)) end
ops.view_as = function(a, x, y) return layout(x:view_as(y)) end
ops.narrow = function(a, x) return layout(x:narrow(U.dim(a.dim), U.index(a.start), a.length)) end
ops.select = function(a, x) return layout(x:select(U.dim(a.dim), U.index(a.index))) end
ops.index_number = function(a, x) return layout(x[U.index(a.index)]) end   -- x[i]
ops.transpose = function(a, x) return layout(x:transpose(U.dim(a.dim0), U.dim(a.dim1))) end
ops.t = function(a, x) return layout(x:t()) end
ops.permute = function(a, x) return layout(x:permute(table.unpack(U.dims(a.dims)))) end
ops.permute_list = function(a, x) return layout(x:permute(U.dims(a.dims))) end
ops.squeeze = function(a, x) return layout(x:squeeze(U.dim(a.dim))) end
ops.unsqueeze = function(a, x) return layout(x:unsqueeze(U.dim(a.dim))) end
ops.expand = function(a, x) return layout(x:expand(a.shape)) end
ops.expand_as = function(a, x, y) return layout(x:expand_as(y)) end
ops.flatten = function(a, x) return x:flatten(U.dim(a.start_dim), U.dim(a.end_dim)) end
ops.contiguous = function(a, x) return layout(x:contiguous(a.memory_format)) end
ops.to_channels_last = function(a, x) return layout(x:to{memory_format = "channels_last"}) end
ops.clone = function(a, x) return layout(x:clone()) end
-- conversions: torch.<dtype> is the dtype's name
ops.to_dtype = function(a, x) return x:to(a.dtype) end
ops.to_other = function(a, x, y) return x:to(y) end
ops.type_as = function(a, x, y) return x:type_as(y) end
ops.cpu = function(a, x) return x:cpu() end
for _, n in ipairs{"float", "double", "long", "int", "byte", "bool", "half", "bfloat16"} do
  ops[n] = function(a, x) return x[n](x) end
end
-- queries give Lua values: shapes and strides as lists, dtypes as names
ops.shape = function(a, x) return x:shape() end
ops.size = function(a, x) return x:size(U.dim(a.dim)) end
ops.stride = function(a, x) return x:stride(U.dim(a.dim)) end
ops.dim = function(a, x) return x:dim() end
ops.numel = function(a, x) return x:numel() end
ops.dtype = function(a, x) return x:dtype() end
ops.device = function(a, x) return x:device() end
ops.is_contiguous = function(a, x) return x:is_contiguous(a.memory_format) end
ops.is_floating_point = function(a, x) return x:is_floating_point() end
ops.element_size = function(a, x) return x:element_size() end
ops.storage_offset = function(a, x) return x:storage_offset() end
ops.item = function(a, x) return x:item() end
ops.tolist = function(a, x) return x:tolist() end
ops.len = function(a, x) return #x end
ops.is_tensor = function(a, x) return lt.is_tensor(x), lt.is_tensor(a.number) end
ops.shares_storage = function(a, x)
  local t, row, copy, flat = paused(function() return x:t(), x[2], x:clone(), x:reshape(-1) end)
  return lt.shares_storage(x, t), lt.shares_storage(x, row), lt.shares_storage(x, copy), lt.shares_storage(x, flat)
end

-- creation: sizes as arguments or one table, the dtype in an options table
local function dtype_opts(a) return a.dtype and {dtype = a.dtype} or nil end
local function with_opts(list, opts)                  -- list..., opts
  local args = {table.unpack(list)}
  if opts then args[#args + 1] = opts end
  return table.unpack(args, 1, #args)
end
-- shape and dtype, for tensors whose values are unspecified or random
function U.meta(y) return paused(function() return y:shape(), y:dtype() end) end

ops.tensor = function(a) return lt.tensor(a.data, dtype_opts(a)) end
ops.zeros = function(a) return lt.zeros(with_opts(a.shape, dtype_opts(a))) end
ops.ones = function(a) return lt.ones(with_opts(a.shape, dtype_opts(a))) end
ops.zeros_table = function(a) return lt.zeros(a.shape, dtype_opts(a)) end
ops.ones_table = function(a) return lt.ones(a.shape, dtype_opts(a)) end
ops.empty = function(a) return U.meta(lt.empty(with_opts(a.shape, dtype_opts(a)))) end
ops.full = function(a) return lt.full(a.shape, a.value, dtype_opts(a)) end
ops.arange = function(a) return lt.arange(with_opts(a.range, dtype_opts(a))) end   -- end excluded, as PyTorch
ops.linspace = function(a) return lt.linspace(a.start, a["end"], a.steps, dtype_opts(a)) end
ops.eye = function(a) return lt.eye(with_opts(a.n, dtype_opts(a))) end
ops.zeros_like = function(a, x) return lt.zeros_like(x, dtype_opts(a)) end
ops.ones_like = function(a, x) return lt.ones_like(x, dtype_opts(a)) end
ops.full_like = function(a, x) return lt.full_like(x, a.value, dtype_opts(a)) end
ops.empty_like = function(a, x) return U.meta(lt.empty_like(x, dtype_opts(a))) end
-- random tensors: shape, dtype and the range of the values (the generators differ)
local function in_range(y, lo, hi) return paused(function() return y:ge(lo):all():item() and y:lt(hi):all():item() end) end
ops.rand = function(a)
  local y = lt.rand(with_opts(a.shape, dtype_opts(a)))
  local shape, dtype = U.meta(y)
  return shape, dtype, in_range(y, 0, 1)
end
ops.rand_like = function(a, x)
  local y = lt.rand_like(x, dtype_opts(a))
  local shape, dtype = U.meta(y)
  return shape, dtype, in_range(y, 0, 1)
end
local function normal_props(y)
  return paused(function()
    local finite = y:isnan():logical_not():all():item() and y:abs():lt(math.huge):all():item()
    return finite, y:numel() < 2 or y:std():item() > 0.5
  end)
end
ops.randn = function(a)
  local y = lt.randn(with_opts(a.shape, dtype_opts(a)))
  local shape, dtype = U.meta(y)
  return shape, dtype, normal_props(y)
end
ops.randn_like = function(a, x)
  local y = lt.randn_like(x, dtype_opts(a))
  local shape, dtype = U.meta(y)
  return shape, dtype, normal_props(y)
end
ops.randint = function(a)                             -- low <= v < high, as PyTorch
  local y = lt.randint(a.low, a.high, a.shape)
  local shape, dtype = U.meta(y)
  return shape, dtype, in_range(y, a.low, a.high)
end
ops.randperm = function(a)                            -- a permutation of 1..n (PyTorch: 0..n-1)
  local y = lt.randperm(a.n)
  local shape, dtype = U.meta(y)
  return shape, dtype, paused(function() return y:sort():eq(lt.arange(1, a.n + 1)):all():item() end)
end
ops.manual_seed = function(a)
  lt.manual_seed(a.seed)
  local u = lt.rand(5)
  lt.manual_seed(a.seed)
  return paused(function() return u:eq(lt.rand(5)):all():item() end)
end
ops.rng_state = function(a)
  local s = lt.get_rng_state()
  local u = lt.randn(5)
  lt.set_rng_state(s)
  return paused(function() return u:eq(lt.randn(5)):all():item() end)
end
ops.default_dtype = function(a)
  lt.set_default_dtype(a.dtype)
  local ok, r = pcall(function()
    return {lt.get_default_dtype(), lt.tensor{1.5}:dtype(), lt.zeros(2):dtype(), lt.arange(0.5, 2):dtype(),
            lt.tensor{1, 2}:dtype(), (lt.tensor{1, 2} / 2):dtype()}
  end)
  lt.set_default_dtype("float32")
  if not ok then error(r, 0) end
  return table.unpack(r)
end
ops.num_threads = function(a)
  local n = lt.get_num_threads()
  lt.set_num_threads(a.n)
  local got = lt.get_num_threads()
  lt.set_num_threads(n)
  return got
end

-- where(cond, x, y): x or y may be a Lua number (a.x, a.y)
ops.where = function(a, c, ...)
  local xs = {...}
  local x = a.x ~= nil and a.x or table.remove(xs, 1)
  local y = a.y ~= nil and a.y or table.remove(xs, 1)
  return lt.where(c, x, y)
end
ops.lt_where = ops.where
ops.where_method = function(a, x, c, y) return x:where(c, y) end   -- PyTorch: x.where(condition, y)
ops.masked_fill = function(a, x, m) return x:masked_fill(m, a.value) end
ops.lt_masked_fill = function(a, x, m) return lt.masked_fill(x, m, a.value) end
ops.masked_fill_ = function(a, x, m) return x:masked_fill_(m, a.value) end
ops.fill_ = function(a, x) return x:fill_(a.value) end
ops.lt_fill_ = function(a, x) return lt.fill_(x, a.value) end
ops.zero_ = function(a, x) return x:zero_() end
ops.copy_ = function(a, x, src) return x:copy_(src) end
ops.lt_copy_ = function(a, x, src) return lt.copy_(x, src) end

-- matrix products
ops.matmul = function(a, x, y) return x:matmul(y) end
ops.lt_matmul = function(a, x, y) return lt.matmul(x, y) end
ops.mm = function(a, x, y) return x:mm(y) end
ops.lt_mm = function(a, x, y) return lt.mm(x, y) end
ops.bmm = function(a, x, y) return x:bmm(y) end
ops.lt_bmm = function(a, x, y) return lt.bmm(x, y) end

-- the optional tensor inputs a case names in a.parts ({"running_mean", "weight", ...}), by name
local function named_parts(a, ...)
  local p = {}
  for k, name in ipairs(a.parts or {}) do p[name] = select(k, ...) end
  return p
end

-- conv2d: stride, padding, dilation (an integer or {h, w}; padding also 'same'/'valid') and groups as options
ops.conv2d = function(a, x, w, b)
  return F.conv2d(x, w, b, {stride = a.stride, padding = a.padding, dilation = a.dilation, groups = a.groups})
end
-- conv2d_bn_eval: the parts (bias, running_mean, running_var, bn_weight, bn_bias, residual) by name
ops.conv2d_bn_eval = function(a, x, w, ...)
  local p = named_parts(a, ...)
  return F.conv2d_bn_eval(x, w, p.bias, p.running_mean, p.running_var,
                          {stride = a.stride, padding = a.padding, dilation = a.dilation, groups = a.groups,
                           bn_weight = p.bn_weight, bn_bias = p.bn_bias, eps = a.eps, residual = p.residual,
                           relu = a.relu})
end
-- batch_norm updates the running statistics in place; PyTorch's case returns them after y
local function bn_results(y, p)
  local outs = {y}
  if p.running_mean then outs[#outs + 1] = p.running_mean end
  if p.running_var then outs[#outs + 1] = p.running_var end
  return table.unpack(outs)
end
ops.batch_norm = function(a, x, ...)
  local p = named_parts(a, ...)
  return bn_results(F.batch_norm(x, p.running_mean, p.running_var, p.weight, p.bias, a.training, a.momentum, a.eps), p)
end
ops.batch_norm_table = function(a, x, ...)
  local p = named_parts(a, ...)
  return bn_results(F.batch_norm(x, p.running_mean, p.running_var, {weight = p.weight, bias = p.bias,
                                 training = a.training, momentum = a.momentum, eps = a.eps}), p)
end
-- batch_norm_relu: PyTorch's relu(batch_norm(...)) as one luatrain op, with batch_norm's arguments
ops.batch_norm_relu = function(a, x, ...)
  local p = named_parts(a, ...)
  return bn_results(F.batch_norm_relu(x, p.running_mean, p.running_var, p.weight, p.bias, a.training, a.momentum,
                                      a.eps), p)
end
ops.batch_norm_relu_table = function(a, x, ...)
  local p = named_parts(a, ...)
  return bn_results(F.batch_norm_relu(x, p.running_mean, p.running_var, {weight = p.weight, bias = p.bias,
                                      training = a.training, momentum = a.momentum, eps = a.eps}), p)
end
ops["F.relu"] = function(a, x) return F.relu(x, a.inplace) end
ops["F.relu_"] = function(a, x) return F.relu_(x) end
ops.leaky_relu = function(a, x) return F.leaky_relu(x, a.negative_slope, a.inplace) end
ops.leaky_relu_ = function(a, x) return F.leaky_relu_(x, a.negative_slope) end
ops.gelu = function(a, x) return F.gelu(x, a.approximate) end
ops.silu = function(a, x) return F.silu(x, a.inplace) end
ops.linear = function(a, x, w, b) return F.linear(x, w, b) end
ops.dropout = function(a, x) return F.dropout(x, a.p, a.training, a.inplace) end
ops.dropout_table = function(a, x) return F.dropout(x, {p = a.p, training = a.training, inplace = a.inplace}) end
ops["F.flatten"] = function(a, x) return F.flatten(x, U.dim(a.start_dim), U.dim(a.end_dim)) end
-- pooling: kernel_size positional, the rest as options; indices 1-based within the H*W plane
ops.max_pool2d = function(a, x)
  local v, i = F.max_pool2d(x, a.kernel_size, {stride = a.stride, padding = a.padding, dilation = a.dilation,
                                              ceil_mode = a.ceil_mode, return_indices = a.return_indices})
  if i then return v, U.minus1(i) end
  return v
end
ops.avg_pool2d = function(a, x)
  return F.avg_pool2d(x, a.kernel_size, {stride = a.stride, padding = a.padding, ceil_mode = a.ceil_mode,
                                         count_include_pad = a.count_include_pad, divisor_override = a.divisor_override})
end
ops.adaptive_avg_pool2d = function(a, x) return F.adaptive_avg_pool2d(x, a.output_size) end
ops.softmax = function(a, x) return F.softmax(x, U.dim(a.dim)) end
ops.log_softmax = function(a, x) return F.log_softmax(x, U.dim(a.dim)) end
ops.softmax_method = function(a, x) return x:softmax(U.dim(a.dim)) end
ops.log_softmax_method = function(a, x) return x:log_softmax(U.dim(a.dim)) end

-- losses: class targets 1..C; ignore_index is a value of the target, so one
-- that names a class (>= 0) moves with the classes and -100 stays -100
function U.class(i) if i == nil then return nil end return i >= 0 and i + 1 or i end
local function class_opts(a, p, with_ls)
  return {weight = p.weight, ignore_index = U.class(a.ignore_index), reduction = a.reduction,
          label_smoothing = with_ls and a.label_smoothing or nil}
end
ops.cross_entropy = function(a, x, tg, ...)
  return F.cross_entropy(x, U.target(tg, a.ignore_index), class_opts(a, named_parts(a, ...), true))
end
ops.nll_loss = function(a, x, tg, ...)
  return F.nll_loss(x, U.target(tg, a.ignore_index), class_opts(a, named_parts(a, ...), false))
end
ops.mse_loss = function(a, x, y) return F.mse_loss(x, y, a.reduction) end
ops.l1_loss = function(a, x, y) return F.l1_loss(x, y, {reduction = a.reduction}) end
ops.bce_logits = function(a, x, y, ...)
  local p = named_parts(a, ...)
  return F.binary_cross_entropy_with_logits(x, y, {weight = p.weight, pos_weight = p.pos_weight,
                                                   reduction = a.reduction})
end

-- autograd and grad mode
ops.backward_twice = function(a, x, w, g)
  x = x:detach():requires_grad_(true)
  local out = x * w
  out:backward(g, {retain_graph = true})
  out:backward(g)
  return x.grad:clone()
end
ops.detach_mix = function(a, x) return x:detach() * x end
ops.backward_implicit = function(a, x)     -- backward() without a gradient
  x = x:detach():requires_grad_(true)
  local y = x * 2
  y:backward()
  return x.grad
end
ops.detach_ = function(a, x)
  local y = x * 2
  y:detach_()
  return y, y.requires_grad
end
ops.requires_grad_ = function(a, x)
  x = x:detach()
  x:requires_grad_(true);
  (x * x):sum():backward()
  return x.grad
end
ops.no_grad = function(a, x)
  return lt.no_grad(function()
    local y = x * 2
    return y, y.requires_grad, lt.is_grad_enabled()
  end)
end
ops.enable_grad = function(a, x)
  local y = lt.no_grad(function() return lt.enable_grad(function() return x * 2 end) end)
  return y, y.requires_grad
end
ops.set_grad_enabled = function(a, x)
  lt.set_grad_enabled(false)
  local ok, y, state = pcall(function() return x * 3, lt.is_grad_enabled() end)
  lt.set_grad_enabled(true)
  if not ok then error(y, 0) end
  return y, y.requires_grad, state, lt.is_grad_enabled()
end
ops.autocast = function(a, x, w)          -- torch.autocast("cpu", dtype=torch.bfloat16)
  local y, z, inside = lt.autocast("bf16", function()
    return lt.matmul(x, w), lt.autocast(false, function() return lt.matmul(x, w) end), lt.is_autocast_enabled()
  end)
  return y, z, inside, lt.is_autocast_enabled()
end

-- ===================================================================================
-- The runner
-- ===================================================================================

-- the view recipe (casegen.apply_view is PyTorch's side)
local function apply_view(x, steps)
  for _, s in ipairs(steps or {}) do
    local k = s[1]
    if k == "t" then x = x:t()
    elseif k == "transpose" then x = x:transpose(U.dim(s[2]), U.dim(s[3]))
    elseif k == "permute" then x = x:permute(U.dims(s[2]))
    elseif k == "step" then
      -- every step-th element along dim d: split d into [n/step, step] and take the first of each
      local d, step = U.dim(s[2]), s[3]
      if d < 0 then d = d + x:dim() + 1 end
      local shape = x:shape()
      local n = shape[d]
      shape[d] = n // step
      table.insert(shape, d + 1, step)
      x = x:view(shape):select(d + 1, 1)
    elseif k == "narrow" then x = x:narrow(U.dim(s[2]), s[3] + 1, s[4])
    elseif k == "select" then x = x:select(U.dim(s[2]), s[3] + 1)
    elseif k == "expand" then x = x:expand(s[2])
    elseif k == "unsqueeze" then x = x:unsqueeze(U.dim(s[2]))
    elseif k == "channels_last" then x = x:contiguous("channels_last")
    elseif k == "clone" then x = x:clone()
    else error("unknown view step " .. tostring(k)) end
  end
  return x
end

-- --- the coverage record --------------------------------------------------------------

local wrapper_of = {}
local called_by = {}      -- original function -> {case name = true}
local grad_checked = {}   -- original function -> true when a case calling it checked a gradient
local case_calls          -- the functions the current case's op called
local depth, raised_by = 0, nil
-- functions that call back into Lua: calls made inside the callback count too
local callbacks = {}

local function wrap(fn)
  if wrapper_of[fn] then return wrapper_of[fn] end
  local w
  if callbacks[fn] then
    w = function(...)
      if recording and depth == 0 then case_calls[fn] = true end
      return fn(...)
    end
  else
    w = function(...)
      local top = recording and depth == 0
      if top then case_calls[fn] = true end
      depth = depth + 1
      local r = table.pack(pcall(fn, ...))
      depth = depth - 1
      if not r[1] then
        if top and not raised_by then raised_by = fn end
        error(r[2], 0)
      end
      return table.unpack(r, 2, r.n)
    end
  end
  wrapper_of[fn] = w
  return w
end

local Tensor_mt = debug.getregistry()["luatrain.Tensor"]
local OPERATORS = {"__add", "__sub", "__mul", "__div", "__pow", "__mod", "__unm"}
local OPERATOR_NAME = {__add = "add", __sub = "sub", __mul = "mul", __div = "div", __pow = "pow",
                       __mod = "remainder", __unm = "unm"}
local PUBLIC = {}         -- {name = "lt.abs", fn = original}
local NAMES_OF = {}       -- original function -> its public names

local function add_public(name, fn)
  PUBLIC[#PUBLIC + 1] = {name = name, fn = fn}
  NAMES_OF[fn] = NAMES_OF[fn] or {}
  table.insert(NAMES_OF[fn], name)
end

local function instrument()
  for _, f in ipairs{lt.no_grad, lt.enable_grad, lt.autocast} do callbacks[f] = true end
  for _, space in ipairs{{lt, "lt."}, {lt.Tensor, "Tensor:"}, {F, "F."}} do
    local tbl, prefix = space[1], space[2]
    local keys = {}
    for k, v in pairs(tbl) do
      if type(k) == "string" and type(v) == "function" and not k:match("^_") then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      add_public(prefix .. k, tbl[k])
      tbl[k] = wrap(tbl[k])
    end
  end
  for _, k in ipairs(OPERATORS) do
    add_public("operator " .. k, Tensor_mt[k])
    Tensor_mt[k] = wrap(Tensor_mt[k])
  end
end

-- --- comparing ----------------------------------------------------------------------------

local function shape_str(shape) return "[" .. table.concat(shape, ",") .. "]" end

local function same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- ‖got − ref‖/‖ref‖ in float64 after NaN/inf positions (T.tensor_close's rule);
-- returns the error, or nil and what differs
local function tensor_err(got, ref)
  local x, r = got:cpu():double(), ref:cpu():double()
  if x:numel() == 0 then return 0 end
  local xn, rn = x:isnan(), r:isnan()
  if not xn:eq(rn):all():item() then return nil, "NaN positions differ" end
  local xi, ri = x:abs():eq(math.huge), r:abs():eq(math.huge)
  if not (xi:eq(ri):all():item() and
          x:masked_fill(xi:logical_not(), 0):eq(r:masked_fill(ri:logical_not(), 0)):all():item()) then
    return nil, "infinities differ"
  end
  local m = xn:logical_or(xi)
  x, r = x:masked_fill(m, 0), r:masked_fill(m, 0)
  local d, n = (x - r):norm():item(), r:norm():item()
  return n > 0 and d / n or d
end

local function brief(t)
  local ok, s = pcall(function()
    local v = t:cpu():reshape(-1)
    local n = math.min(v:numel(), 8)
    local parts = {}
    for i = 1, n do
      local e = v[i]:item()
      parts[i] = math.type(e) == "float" and string.format("%.6g", e) or tostring(e)
    end
    return "{" .. table.concat(parts, ", ") .. (v:numel() > n and ", ..." or "") .. "}"
  end)
  return ok and s or "?"
end

-- compares a luatrain tensor with a reference; returns true or false plus a message
local function compare_tensor(got, ref, dtype, tol)
  if not lt.is_tensor(got) then return false, "expected a tensor, got " .. type(got) end
  if got:dtype() ~= dtype then return false, string.format("dtype %s, PyTorch %s", got:dtype(), dtype) end
  if not same_list(got:shape(), ref:shape()) then
    return false, string.format("shape %s, PyTorch %s", shape_str(got:shape()), shape_str(ref:shape()))
  end
  if got:is_floating_point() then
    local e, why = tensor_err(got, ref)
    if not e then return false, why .. string.format(" (got %s, PyTorch %s)", brief(got), brief(ref)) end
    if e > tol then
      return false, string.format("relative error %.3g > %.3g (got %s, PyTorch %s)", e, tol, brief(got), brief(ref))
    end
    return true
  end
  local g = got:cpu()
  if g:numel() > 0 and not g:eq(ref:cpu():to(g:dtype())):all():item() then
    return false, string.format("values differ (got %s, PyTorch %s)", brief(g), brief(ref))
  end
  return true
end

local function show(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = show(x) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- compares Lua values (numbers by type: integer or float; floats within tol)
local function compare_value(got, ref, kind, tol)
  local function same(g, r)
    if type(r) == "table" then
      if type(g) ~= "table" or #g ~= #r then return false end
      for i = 1, #r do if not same(g[i], r[i]) then return false end end
      return true
    end
    if type(r) == "number" and type(g) == "number" then
      if math.type(r) == "integer" or math.type(g) == "integer" then return math.type(g) == math.type(r) and g == r end
      if r ~= r then return g ~= g end
      return g == r or math.abs(g - r) <= tol * math.max(math.abs(r), 1e-300)
    end
    return g == r
  end
  local want = kind:match("^lua:(.*)$")
  local have = type(got) == "number" and math.type(got) or type(got)
  if want ~= have then return false, string.format("a Lua %s (%s), PyTorch gives a %s (%s)", have, show(got), want, show(ref)) end
  if not same(got, ref) then return false, string.format("%s, PyTorch %s", show(got), show(ref)) end
  return true
end

local function fixed_tol(dtype, c)
  if c.tol_fixed and (dtype == "float32" or dtype == "float64" or dtype == "bfloat16") then return c.tol_fixed end
  if dtype == "float64" then return c.tol64 or 1e-10 end
  if dtype == "float32" then return c.tol32 or 1e-4 end
  if dtype == "bfloat16" then return 1e-2 end
  if dtype == "float16" then return 1e-3 end
  return 0
end

-- ===================================================================================
-- Property checks, for results PyTorch leaves open. Each gets the case, the
-- luatrain inputs (views applied), the outputs and the leaves after backward,
-- and returns the set of output indices (and `grads = true`) it has checked;
-- the rest is compared with PyTorch's values as usual.
-- ===================================================================================
local CHECKS = {}

-- topk where equal values tie (or sorted=false): the values are PyTorch's (as a
-- sorted set when unsorted); each index points at its value; the indices of a
-- row are distinct; the gradient reaches exactly the picked elements.
function CHECKS.topk_ties(c, xs, outs, leaves, info)
  local x, v, i0 = xs[1], outs[1], outs[2]
  local dim = U.dim(c.args.dim) or -1
  local ref = info.refs[1].t:to(v:device(), v:dtype())
  local got = v
  if c.args.sorted == false then
    got = v:sort(dim, true)
    ref = ref:sort(dim, true)
  end
  local ok, msg = compare_tensor(got, ref, info.dtypes[1], info.tol)
  T.check(ok, info.where .. ": topk values: " .. tostring(msg))
  T.check(i0:dtype() == "int64", info.where .. ": topk indices dtype " .. i0:dtype())
  local i1 = i0 + 1
  T.check(x:gather(dim, i1):eq(v):all():item(), info.where .. ": the indices do not point at the values")
  local k = i1:size(dim)
  if k > 1 then
    local s = i1:sort(dim)
    T.check((s:narrow(dim, 2, k - 1) - s:narrow(dim, 1, k - 1)):gt(0):all():item(),
            info.where .. ": an index is repeated within a row")
  end
  if leaves[1] and info.gys[1] then
    local want = lt.zeros_like(x):scatter(dim, i1, info.gys[1])
    local ok2, msg2 = compare_tensor(leaves[1].grad, want, leaves[1]:dtype(), info.tol)
    T.check(ok2, info.where .. ": the gradient does not reach the picked elements: " .. tostring(msg2))
  end
  return {[1] = true, [2] = true, grads = true}
end

-- dropout with 0 < p < 1: each element is 0 or x/(1-p), the dropped fraction
-- is near p (400 elements), and the gradient is gy/(1-p) where kept, 0 where dropped
function CHECKS.dropout_mask(c, xs, outs, leaves, info)
  local y, p = outs[1], c.args.p
  local x = (leaves[1] or xs[1]):detach()    -- the input before an in-place dropout
  local scale = 1 / (1 - p)
  local dropped = y:eq(0)
  T.check(y:dtype() == info.dtypes[1], info.where .. ": dropout dtype " .. y:dtype())
  local ok, msg = compare_tensor(y, (x * scale):masked_fill(dropped, 0), y:dtype(), info.tol)
  T.check(ok, info.where .. ": kept elements are not x/(1-p): " .. tostring(msg))
  local frac = dropped:double():mean():item()
  T.check(math.abs(frac - p) < 0.15, string.format("%s: dropped fraction %.3f for p = %g", info.where, frac, p))
  if leaves[1] and info.gys[1] then
    local want = (info.gys[1] * scale):masked_fill(dropped, 0)
    local ok2, msg2 = compare_tensor(leaves[1].grad, want, leaves[1]:dtype(), info.tol)
    T.check(ok2, info.where .. ": gradient: " .. tostring(msg2))
  end
  return {[1] = true, grads = true}
end

-- max_pool2d with tied maxima: the values are PyTorch's; each index points at
-- an element of its own window holding that value; the gradient is gy added
-- at the picked elements
function CHECKS.maxpool_ties(c, xs, outs, leaves, info)
  local x, v, i0 = xs[1], outs[1], outs[2]
  local a = c.args
  local ok, msg = compare_tensor(v, info.refs[1].t, info.dtypes[1], info.tol)
  T.check(ok, info.where .. ": values: " .. tostring(msg))
  local N, C, H, W = table.unpack(x:shape())
  local _, _, OH, OW = table.unpack(v:shape())
  local i1 = (i0 + 1):reshape(N, C, OH * OW)
  T.check(x:reshape(N, C, H * W):gather(3, i1):eq(v:reshape(N, C, OH * OW)):all():item(),
          info.where .. ": an index does not point at its maximum")
  local k, s, p, d = a.kernel_size, a.stride or a.kernel_size, a.padding or 0, a.dilation or 1
  local inside = true
  for n, planes in ipairs(i0:tolist()) do
    for ch, rows in ipairs(planes) do
      for oh, row in ipairs(rows) do
        for ow, idx in ipairs(row) do
          local r, q = idx // W, idx % W
          local r0, q0 = (oh - 1) * s - p, (ow - 1) * s - p
          local dr, dq = r - r0, q - q0
          if dr < 0 or dq < 0 or dr % d ~= 0 or dq % d ~= 0 or dr // d >= k or dq // d >= k then inside = false end
        end
      end
    end
  end
  T.check(inside, info.where .. ": an index lies outside its window")
  if leaves[1] and info.gys[1] then
    local want = lt.zeros({N, C, H * W}, {dtype = x:dtype(), device = x:device()})
    want = want:scatter_add(3, i1, info.gys[1]:reshape(N, C, OH * OW))
    local ok2, msg2 = compare_tensor(leaves[1].grad, want:view(N, C, H, W), leaves[1]:dtype(), info.tol)
    T.check(ok2, info.where .. ": gradient: " .. tostring(msg2))
  end
  return {[1] = true, [2] = true, grads = true}
end

-- --- deliberate differences --------------------------------------------------------------

-- Cases that meet a place where luatrain chooses otherwise than PyTorch on
-- purpose (docs/torch_differences.md): the case then asserts luatrain's
-- documented behaviour instead of PyTorch's. Only `raises` (luatrain refuses
-- what PyTorch accepts) is needed so far:
--   ["case_name"] = {raises = true, why = "the line in docs/torch_differences.md"},
local UINT8_MASKS = "where and masked_fill take only bool conditions and masks, as PyTorch 2 (1.13 warns and "
                    .. "accepts uint8)"
local DELIBERATE = {
  where_uint8_cond = {raises = true, why = UINT8_MASKS},
  masked_fill_uint8_mask = {raises = true, why = UINT8_MASKS},
}

-- --- running a case --------------------------------------------------------------------

local MODE_DTYPE = {f64 = "float64", f32 = "float32", bf16 = "float32", tf32 = "float32"}

local function make_inputs(c, mode)
  local leaves, xs = {}, {}
  for i, inp in ipairs(c.inputs) do
    local v = inp.t
    local dt = inp.role == "float" and MODE_DTYPE[mode] or v:dtype()
    local x = v:to(DEV, dt):clone()
    if inp.grad then
      x:requires_grad_(true)
      leaves[i] = x
    end
    xs[i] = apply_view(x, inp.view)
  end
  return leaves, xs
end

local function check_strides(c, xs)
  for i, inp in ipairs(c.inputs) do
    if inp.strides then
      T.check(same_list(xs[i]:stride(), inp.strides),
              string.format("%s: input %d built by %s has strides %s, PyTorch's view %s", c.name, i, show(inp.view),
                            shape_str(xs[i]:stride()), shape_str(inp.strides)))
    end
  end
end

local function short_name(fn)
  local names = NAMES_OF[fn] or {}
  local n = names[1] or "?"
  local op = n:match("^operator (.*)$")
  if op then return OPERATOR_NAME[op] end
  return n:match("[.:]([%w_]+)$") or n
end

local function tol_for(c, mode)
  if mode == "f64" then return c.tol64 or 1e-10 end
  if mode == "f32" then return c.tol32 or 1e-4 end
  if mode == "bf16" then return c.tol_bf16 end
  if mode == "tf32" then return c.tol_tf32 end
end

local function run_case(c, mode, first)
  local fn = ops[c.op]
  if not T.check(fn ~= nil, c.name .. ": run.lua has no mapping for op " .. c.op) then return end
  local leaves, xs = make_inputs(c, mode)
  if first then check_strides(c, xs) end
  case_calls, raised_by = c.calls, nil
  local function call()
    if mode == "bf16" then
      return lt.autocast("bf16", function() return fn(c.args, table.unpack(xs, 1, #c.inputs)) end)
    end
    return fn(c.args, table.unpack(xs, 1, #c.inputs))
  end
  recording = true
  local res = table.pack(pcall(call))
  recording = false
  local where = c.name .. " (" .. mode .. ")"
  local deliberate = DELIBERATE[c.name]
  if c.raises or (deliberate and deliberate.raises) then
    local expected = deliberate and ("luatrain refuses on purpose: " .. deliberate.why)
                     or ("PyTorch raises (" .. tostring(c.torch_error) .. ")")
    if not T.check(not res[1], where .. ": " .. expected .. ", luatrain returned") then
      return
    end
    local msg = tostring(res[2])
    local name = raised_by and short_name(raised_by)
    T.check(name ~= nil and msg:find(name, 1, true) ~= nil,
            string.format("%s: the error should name the function%s: %s", where, name and (" (" .. name .. ")") or "",
                          msg))
    return
  end
  if not res[1] then
    T.check(false, string.format("%s: luatrain raised, PyTorch returns: %s", where, tostring(res[2])))
    return
  end
  local outs = {table.unpack(res, 2, res.n)}
  local nout = res.n - 1
  if not T.check(nout == #c.outs, string.format("%s: %d results, PyTorch %d", where, nout, #c.outs)) then return end
  local handled = {}
  local key = mode == "tf32" and "f32" or mode
  local refs = (mode == "f32" or mode == "tf32") and c.ref32 and c.ref32.outs or c.outs
  local dtypes = c.dtypes[key] or c.dtypes.fixed
  local check = c.check and CHECKS[c.check]
  local grads_done = false
  -- gradients first (a check may need the leaves' gradients)
  local roots, gys = {}, {}
  if c.gys then
    local ks = {}
    for k in pairs(c.gys) do ks[#ks + 1] = k end
    table.sort(ks)
    for _, k in ipairs(ks) do
      local o = outs[k]
      if lt.is_tensor(o) then
        roots[#roots + 1] = o
        gys[#gys + 1] = c.gys[k]:to(DEV, o:dtype())
      end
    end
  end
  local bw_ok, bw_err = true, nil
  if #roots > 0 then
    bw_ok, bw_err = pcall(lt.autograd.backward, roots, gys)
  end
  if check then
    local info = {refs = refs, dtypes = dtypes, tol = mode == "fixed" and 1e-4 or tol_for(c, mode), where = where,
                  gys = {}}
    for k, gy in pairs(c.gys or {}) do info.gys[k] = gy:to(DEV, lt.is_tensor(outs[k]) and outs[k]:dtype() or nil) end
    handled = paused(check, c, xs, outs, leaves, info) or {}
    grads_done = handled.grads and c.gys ~= nil and next(leaves) ~= nil
  end
  for k = 1, #c.outs do
    if not handled[k] then
      local ref, ok, msg = refs[k], nil, nil
      if ref.t then
        local dt = dtypes[k]
        local tol = mode == "fixed" and fixed_tol(dt, c) or tol_for(c, mode)
        ok, msg = compare_tensor(outs[k], ref.t, dt, tol)
      else
        local v = ref.v
        if mode == "f32" and ref.v32 ~= nil then v = ref.v32 end   -- a value the float32 run changes (a dtype name)
        ok, msg = compare_value(outs[k], v, dtypes[k], mode == "fixed" and 1e-4 or tol_for(c, mode))
      end
      T.check(ok, string.format("%s: output %d: %s", where, k, msg))
    end
  end
  if c.grads and not handled.grads then
    if not T.check(bw_ok, string.format("%s: backward failed: %s", where, tostring(bw_err))) then return end
    local grefs = (mode == "f32" or mode == "tf32") and c.ref32 and c.ref32.grads or c.grads
    for i, ref in pairs(grefs) do
      local g = leaves[i] and leaves[i].grad
      if ref == "none" then
        -- PyTorch's undefined gradient (None) is zero to its engine: nil or zeros here
        T.check(g == nil or paused(function() return g:eq(0):all():item() end),
                string.format("%s: input %d gets a nonzero gradient, PyTorch none (%s)", where, i, g and brief(g)))
      elseif g == nil then
        -- and the other way round: no gradient here where PyTorch's is all zeros
        T.check(paused(function() return ref:eq(0):all():item() end),
                string.format("%s: input %d gets no gradient, PyTorch does (%s)", where, i, brief(ref)))
      else
        local dt = leaves[i]:dtype()
        local tol = mode == "fixed" and fixed_tol(dt, c) or tol_for(c, mode)
        local ok, msg = compare_tensor(g, ref, dt, tol)
        T.check(ok, string.format("%s: gradient of input %d: %s", where, i, msg))
      end
    end
    grads_done = true
  end
  if grads_done then
    for f in pairs(c.calls) do grad_checked[f] = true end
  end
end

-- the modes a case runs in on this device
local function modes_of(c)
  if c.raises then return c.mode == "float" and {"f64", "f32"} or {"fixed"} end
  local m = c.mode == "float" and {"f64", "f32"} or {"fixed"}
  if c.tol_bf16 then m[#m + 1] = "bf16" end
  if c.tol_tf32 and T.is_device_run() and DEV ~= "cpu" then m[#m + 1] = "tf32" end
  return m
end

-- --- main --------------------------------------------------------------------------------

if T.is_device_run() and DEV ~= "cpu" then lt.backends.allow_tf32(false) end
instrument()

local all_cases = {}
local TORCH_VERSION
for _, fam in ipairs(FAMILIES) do
  local path = HERE .. "/cases/" .. fam .. ".safetensors"
  local data = lt.load(path)
  T.check(data.family == fam, path .. ": family " .. tostring(data.family))
  TORCH_VERSION = TORCH_VERSION or data.torch
  for _, c in ipairs(data.cases) do
    c.family = fam
    c.calls = {}
    all_cases[#all_cases + 1] = c
  end
end

local t0 = os.clock()
local ran = 0
for _, c in ipairs(all_cases) do
  if not ONLY or c.name:match(ONLY) or c.family:match(ONLY) then
    if not (c.cpu_only and DEV ~= "cpu") then
      if VERBOSE then print(c.family, c.name) end
      for i, mode in ipairs(modes_of(c)) do
        T.test(c.name .. " " .. mode, function()
          if mode == "tf32" then
            T.with_tf32(true, run_case, c, mode, i == 1)
          else
            run_case(c, mode, i == 1)
          end
        end)
      end
      for f in pairs(c.calls) do
        called_by[f] = called_by[f] or {}
        called_by[f][c.name] = true
      end
      ran = ran + 1
    end
  end
end
print(string.format("torch_diff: %d cases from %d families on %s in %.1f s", ran, #FAMILIES, DEV, os.clock() - t0))

-- --- coverage -----------------------------------------------------------------------------

if not ONLY and not T.is_device_run() then
  local uncovered = dofile(HERE .. "/uncovered.lua")
  local public = {}
  for _, p in ipairs(PUBLIC) do
    public[p.name] = true
    local cases = called_by[p.fn]
    if cases and next(cases) then
      T.check(uncovered[p.name] == nil, p.name .. " is covered by cases: remove it from uncovered.lua")
    else
      T.check(type(uncovered[p.name]) == "string" and #uncovered[p.name] > 0,
              p.name .. ": a public function that no case calls and uncovered.lua does not list; add a case "
                .. "(gen.py and run.lua's ops) or list it in uncovered.lua with the reason")
    end
  end
  for name in pairs(uncovered) do
    T.check(public[name], "uncovered.lua lists " .. name .. ", which is not a public function")
  end

  -- docs/torch_diff.md: made from this run's record; it must be current
  local function display(name)
    local op = name:match("^operator (.*)$")
    if op then return "`" .. ({__add = "a + b", __sub = "a - b", __mul = "a * b", __div = "a / b", __pow = "a ^ b",
                                __mod = "a % b", __unm = "-a"})[op] .. "`" end
    local m = name:match("^Tensor:(.*)$")
    if m then return "`x:" .. m .. "()`" end
    return "`" .. name:gsub("^F%.", "F.") .. "`"
  end
  local rows, seen = {}, {}
  for _, p in ipairs(PUBLIC) do
    if not seen[p.fn] then
      seen[p.fn] = true
      local names = {}
      for _, n in ipairs(NAMES_OF[p.fn]) do names[#names + 1] = display(n) end
      local cases = {}
      for n in pairs(called_by[p.fn] or {}) do cases[#cases + 1] = n end
      table.sort(cases)
      rows[#rows + 1] = {names = table.concat(names, ", "), cases = cases, grad = grad_checked[p.fn],
                         uncovered = uncovered[NAMES_OF[p.fn][1]], key = NAMES_OF[p.fn][1]}
    end
  end
  table.sort(rows, function(x, y) return x.key < y.key end)
  local per_family = {}
  for _, c in ipairs(all_cases) do per_family[c.family] = (per_family[c.family] or 0) + 1 end
  local out = {}
  local function w(line) out[#out + 1] = line end
  w("# luatrain against PyTorch: the differential suite")
  w("")
  w("`tests/torch_diff/` runs luatrain's functions on the cases Debian's PyTorch (python3-torch "
    .. tostring(all_cases[1] and TORCH_VERSION or "?") .. ") computed")
  w("(`tests/torch_diff/gen.py`, written to `tests/torch_diff/cases/`), forward and backward, in float32 and")
  w("float64, on the CPU and, under `tests/lua/test_torch_diff_cuda.lua`, on the GPU. `tests/torch_diff/run.lua`")
  w("says what is compared and how; its `ops` table shows how each PyTorch call reads in luatrain.")
  w("")
  w("- run: `luatrain tests/torch_diff/run.lua` from the repository root (`LUATRAIN_DIFF_ONLY=<pattern>` for a subset)")
  w("- regenerate the cases and this file: `make golden` (installs python3-torch with apt first)")
  w("- this file only: `LUATRAIN_WRITE_COVERAGE=1 luatrain tests/torch_diff/run.lua`; the run fails when it is stale")
  w("")
  w("A function counts as covered when a case's op calls it; names bound to the same function share their")
  w("cases. \"Gradient\" says whether a case calling it also compares gradients with PyTorch's.")
  w("")
  w("## Cases")
  w("")
  w("| family | cases |")
  w("|---|---|")
  local total = 0
  for _, fam in ipairs(FAMILIES) do
    w(string.format("| %s | %d |", fam, per_family[fam] or 0))
    total = total + (per_family[fam] or 0)
  end
  w(string.format("| all | %d |", total))
  w("")
  w("## Functions and their cases")
  w("")
  w("| function | cases | gradient |")
  w("|---|---|---|")
  local n_cov, n_unc = 0, 0
  for _, r in ipairs(rows) do
    if #r.cases > 0 then
      n_cov = n_cov + 1
      local shown = {}
      for i = 1, math.min(#r.cases, 8) do shown[i] = r.cases[i] end
      local list = table.concat(shown, ", ") .. (#r.cases > 8 and string.format(", ... (%d)", #r.cases) or "")
      w(string.format("| %s | %s | %s |", r.names, list, r.grad and "yes" or "no"))
    end
  end
  w("")
  w("## Not covered")
  w("")
  w("| function | why |")
  w("|---|---|")
  for _, r in ipairs(rows) do
    if #r.cases == 0 then
      n_unc = n_unc + 1
      w(string.format("| %s | %s |", r.names, r.uncovered or "(not listed in uncovered.lua)"))
    end
  end
  w("")
  w(string.format("%d functions covered, %d not covered.", n_cov, n_unc))
  local text = table.concat(out, "\n") .. "\n"
  local path = ROOT .. "/docs/torch_diff.md"
  if os.getenv("LUATRAIN_WRITE_COVERAGE") == "1" then
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    print("torch_diff: wrote " .. path)
  elseif not T.is_device_run() then
    T.check(T.read_file(path) == text, path .. " is stale: rewrite it with LUATRAIN_WRITE_COVERAGE=1 " ..
            "luatrain tests/torch_diff/run.lua (or make golden)")
  end
end

os.exit(T.done())
