-- test_optim.lua — lt.optim: the six-step PyTorch trajectories of
-- tests/golden/optim_golden.json (float32 and float64; one tensor, split
-- tensors, two groups, non-contiguous parameters), the hyper-parameters the
-- golden file leaves out against a scalar Lua transcription of PyTorch's
-- pseudo-code, parameter groups, zero_grad, step(closure), skipped
-- parameters, add_param_group, state_dict round trips (in memory and through
-- lt.save/lt.load) that must be bit-identical to uninterrupted runs, a Lua
-- subclass, the raw kernels (lt._optim) and the error messages of bad input.
--
-- The golden trajectories are device-parametrised (luatrain.testing):
-- test_optim_cuda.lua runs them on the GPU (the fused kernels) within the
-- same bounds, which are tighter than the GPU tests' float32 bound: an
-- optimizer step has no TF32 and no reordered sums, and test_ops_cuda.lua
-- finds GPU and CPU steps within 1e-6. The rest of this file is CPU-only and
-- does not run under the wrapper.
local T = require "luatrain.testing"
local lt = require "luatrain"
local optim = lt.optim

local DEV = T.device()

local f = assert(io.open("tests/golden/optim_golden.json", "r"))
local gold = lt.json.decode(f:read("a"))
f:close()

-- ‖a − ref‖ / ‖ref‖ over float64 copies on the CPU
local function relerr(a, ref)
  local d = a:cpu():double() - ref:cpu():double()
  return d:norm():item() / math.max(ref:double():norm():item(), 1e-300)
end

local function max_abs_diff(a, b) return (a:double() - b:double()):abs():max():item() end

local function set_grad(p, g) lt.no_grad(function() p.grad = g end) end

-- The golden problem: gradient a*p + b for parameter p (a slice of the
-- 16-vector when the vector is split: sa, sb are the matching slices).
local function golden_grad(p, sa, sb)
  return lt.no_grad(function() return sa * p + sb end)
end

-- --- golden trajectories ----------------------------------------------------------------

local TOL = {float32 = 1e-6, float64 = 1e-12}

-- layout: "single" (one tensor), "split" (10 + 6 elements, one group),
-- "groups" (the two pieces in two groups), "strided" (a non-contiguous view)
local function run_golden(name, case, dt, layout)
  local a = lt.tensor(gold.a, {dtype = dt, device = DEV})
  local b = lt.tensor(gold.b, {dtype = dt, device = DEV})
  local p0 = lt.tensor(gold.p0, {dtype = dt, device = DEV})
  local params, slices, owner
  if layout == "single" then
    params, slices = {p0:clone()}, {{a, b}}
  elseif layout == "split" or layout == "groups" then
    params = {p0:narrow(1, 1, 10):clone(), p0:narrow(1, 11, 6):clone()}
    slices = {{a:narrow(1, 1, 10), b:narrow(1, 1, 10)}, {a:narrow(1, 11, 6), b:narrow(1, 11, 6)}}
  else -- strided: column 2 of a [16,3] tensor
    owner = lt.zeros(16, 3, {dtype = dt, device = DEV})
    local col = owner:select(2, 2)
    col:copy_(p0)
    T.check(not col:is_contiguous(), "strided parameter is not contiguous")
    params, slices = {col}, {{a, b}}
  end
  local opt
  if layout == "groups" then
    opt = optim[case.optimizer]({{params = {params[1]}}, {params = {params[2]}}}, case.hyper)
  else
    opt = optim[case.optimizer](params, case.hyper)
  end
  local worst = 0
  for s = 1, 6 do
    for i, p in ipairs(params) do set_grad(p, golden_grad(p, slices[i][1], slices[i][2])) end
    opt:step()
    local got = #params == 1 and params[1] or lt.cat(params, 1)
    worst = math.max(worst, relerr(got, lt.tensor(case.trajectory[s], {dtype = "float64"})))
  end
  T.check(worst <= TOL[dt], string.format("%s %s %s: relative error %g > %g", name, dt, layout, worst, TOL[dt]))
  if owner then
    T.check(owner:select(2, 1):abs():max():item() == 0 and owner:select(2, 3):abs():max():item() == 0,
            name .. ": a strided step wrote outside its view")
  end
end

T.test("golden trajectories", function()
  local names = {}
  for name in pairs(gold.cases) do names[#names + 1] = name end
  table.sort(names)
  T.check(#names == 11, "11 golden cases")
  for _, name in ipairs(names) do
    for _, dt in ipairs({"float64", "float32"}) do
      for _, layout in ipairs({"single", "split", "groups", "strided"}) do
        run_golden(name, gold.cases[name], dt, layout)
      end
    end
  end
end)

-- the _cuda wrapper runs the golden trajectories only
if T.is_device_run() then os.exit(T.done()) end

-- --- a scalar transcription of PyTorch's pseudo-code ---------------------------------------
-- One step on Lua arrays (p, g, state fields), for the hyper-parameters the
-- golden file does not cover.

local ref = {}

function ref.SGD(h, p, g, st)
  local mom, damp, wd = h.momentum or 0, h.dampening or 0, h.weight_decay or 0
  for i = 1, #p do
    local d = h.maximize and -g[i] or g[i]
    if wd ~= 0 then d = d + wd * p[i] end
    if mom ~= 0 then
      st.buf = st.buf or {}
      if st.buf[i] == nil then st.buf[i] = d else st.buf[i] = mom * st.buf[i] + (1 - damp) * d end
      if h.nesterov then d = d + mom * st.buf[i] else d = st.buf[i] end
    end
    p[i] = p[i] - h.lr * d
  end
end

local function adam(h, p, g, st, decoupled)
  local b1, b2 = h.betas and h.betas[1] or 0.9, h.betas and h.betas[2] or 0.999
  local eps, wd = h.eps or 1e-8, h.weight_decay or (decoupled and 1e-2 or 0)
  st.step = (st.step or 0) + 1
  st.m, st.v, st.vmax = st.m or {}, st.v or {}, st.vmax or {}
  local bc1, bc2 = 1 - b1 ^ st.step, 1 - b2 ^ st.step
  for i = 1, #p do
    local d = h.maximize and -g[i] or g[i]
    if decoupled then p[i] = p[i] * (1 - h.lr * wd) elseif wd ~= 0 then d = d + wd * p[i] end
    st.m[i] = (st.m[i] or 0) * b1 + (1 - b1) * d
    st.v[i] = (st.v[i] or 0) * b2 + (1 - b2) * d * d
    local v = st.v[i]
    if h.amsgrad then
      st.vmax[i] = math.max(st.vmax[i] or 0, v)
      v = st.vmax[i]
    end
    p[i] = p[i] - (h.lr / bc1) * st.m[i] / (math.sqrt(v) / math.sqrt(bc2) + eps)
  end
end
function ref.Adam(h, p, g, st) adam(h, p, g, st, h.decoupled_weight_decay) end
function ref.AdamW(h, p, g, st) adam(h, p, g, st, true) end

function ref.RMSprop(h, p, g, st)
  local alpha, eps, wd, mom = h.alpha or 0.99, h.eps or 1e-8, h.weight_decay or 0, h.momentum or 0
  st.sq, st.ga, st.buf = st.sq or {}, st.ga or {}, st.buf or {}
  for i = 1, #p do
    local d = h.maximize and -g[i] or g[i]
    if wd ~= 0 then d = d + wd * p[i] end
    st.sq[i] = alpha * (st.sq[i] or 0) + (1 - alpha) * d * d
    local avg
    if h.centered then
      st.ga[i] = alpha * (st.ga[i] or 0) + (1 - alpha) * d
      avg = math.sqrt(st.sq[i] - st.ga[i] ^ 2) + eps
    else
      avg = math.sqrt(st.sq[i]) + eps
    end
    if mom > 0 then
      st.buf[i] = mom * (st.buf[i] or 0) + d / avg
      p[i] = p[i] - h.lr * st.buf[i]
    else
      p[i] = p[i] - h.lr * d / avg
    end
  end
end

function ref.Adadelta(h, p, g, st)
  local rho, eps, wd, lr = h.rho or 0.9, h.eps or 1e-6, h.weight_decay or 0, h.lr or 1.0
  st.sq, st.acc = st.sq or {}, st.acc or {}
  for i = 1, #p do
    local d = h.maximize and -g[i] or g[i]
    if wd ~= 0 then d = d + wd * p[i] end
    st.sq[i] = rho * (st.sq[i] or 0) + (1 - rho) * d * d
    local delta = math.sqrt((st.acc[i] or 0) + eps) / math.sqrt(st.sq[i] + eps) * d
    st.acc[i] = rho * (st.acc[i] or 0) + (1 - rho) * delta * delta
    p[i] = p[i] - lr * delta
  end
end

function ref.Adagrad(h, p, g, st)
  local lr, decay, wd, eps = h.lr or 1e-2, h.lr_decay or 0, h.weight_decay or 0, h.eps or 1e-10
  st.step = (st.step or 0) + 1
  st.sum = st.sum or {}
  local clr = lr / (1 + (st.step - 1) * decay)
  for i = 1, #p do
    local d = h.maximize and -g[i] or g[i]
    if wd ~= 0 then d = d + wd * p[i] end
    st.sum[i] = (st.sum[i] or (h.initial_accumulator_value or 0)) + d * d
    p[i] = p[i] - clr * d / (math.sqrt(st.sum[i]) + eps)
  end
end

T.test("hyper-parameters beyond the golden file, against the pseudo-code", function()
  local cases = {
    {"SGD", {lr = 0.1, weight_decay = 0.01, maximize = true}},
    {"SGD", {lr = 0.05, momentum = 0.5, dampening = 0.5, weight_decay = 0.1}},
    {"SGD", {lr = 0.05, momentum = 0.9, nesterov = true, maximize = true}},
    {"Adam", {lr = 0.02, betas = {0.8, 0.95}, eps = 1e-6, maximize = true}},
    {"Adam", {lr = 0.02, weight_decay = 0.1, decoupled_weight_decay = true, amsgrad = true}},
    {"AdamW", {lr = 0.02, amsgrad = true, maximize = true}},
    {"RMSprop", {lr = 0.01, alpha = 0.9, weight_decay = 0.05, maximize = true}},
    {"RMSprop", {lr = 0.01, momentum = 0.5, centered = true, eps = 1e-4}},
    {"RMSprop", {lr = 0.01, momentum = 0.5}},
    {"Adadelta", {lr = 0.5, rho = 0.8, eps = 1e-4, weight_decay = 0.1, maximize = true}},
    {"Adagrad", {lr = 0.1, lr_decay = 0.1, initial_accumulator_value = 0.5, weight_decay = 0.05}},
    {"Adagrad", {lr = 0.1, eps = 1e-3, maximize = true}},
  }
  for ci, c in ipairs(cases) do
    local name, h = c[1], c[2]
    local p = lt.tensor(gold.p0, {dtype = "float64"})
    local a, b = lt.tensor(gold.a, {dtype = "float64"}), lt.tensor(gold.b, {dtype = "float64"})
    local rp, st = lt.tensor(gold.p0, {dtype = "float64"}):tolist(), {}
    local opt = optim[name]({p}, h)
    local worst = 0
    for _ = 1, 6 do
      local g = golden_grad(p, a, b)
      local rg = {}
      for i = 1, #rp do rg[i] = gold.a[i] * rp[i] + gold.b[i] end
      set_grad(p, g)
      opt:step()
      ref[name](h, rp, rg, st)
      worst = math.max(worst, relerr(p, lt.tensor(rp, {dtype = "float64"})))
    end
    T.check(worst < 1e-12, string.format("case %d (%s): relative error %g against the pseudo-code", ci, name, worst))
  end
end)

T.test("maximize is minimizing the negated loss; Adam(decoupled) is AdamW", function()
  local specs = {{"SGD", {lr = 0.1, momentum = 0.9}}, {"Adam", {lr = 0.01}}, {"AdamW", {lr = 0.01}},
                 {"RMSprop", {lr = 0.01, centered = true}}, {"Adadelta", {}}, {"Adagrad", {lr = 0.1}}}
  for _, s in ipairs(specs) do
    local h1 = {maximize = true}
    for k, v in pairs(s[2]) do h1[k] = v end
    local p1, p2 = lt.tensor(gold.p0), lt.tensor(gold.p0)
    local o1, o2 = optim[s[1]]({p1}, h1), optim[s[1]]({p2}, s[2])
    local a, b = lt.tensor(gold.a), lt.tensor(gold.b)
    for _ = 1, 4 do
      set_grad(p1, golden_grad(p1, a, b))
      set_grad(p2, lt.no_grad(function() return -(a * p2 + b) end))
      o1:step()
      o2:step()
    end
    T.check(max_abs_diff(p1, p2) == 0, s[1] .. ": maximize differs from the negated gradient")
  end
  local p1, p2 = lt.tensor(gold.p0), lt.tensor(gold.p0)
  local o1 = optim.Adam({p1}, {lr = 0.01, weight_decay = 0.1, decoupled_weight_decay = true})
  local o2 = optim.AdamW({p2}, {lr = 0.01, weight_decay = 0.1})
  for _ = 1, 4 do
    set_grad(p1, golden_grad(p1, lt.tensor(gold.a), lt.tensor(gold.b)))
    set_grad(p2, golden_grad(p2, lt.tensor(gold.a), lt.tensor(gold.b)))
    o1:step()
    o2:step()
  end
  T.check(max_abs_diff(p1, p2) == 0, "Adam with decoupled_weight_decay equals AdamW")
end)

T.test("large tensors (threaded loops) equal the same elements in small pieces", function()
  lt.manual_seed(7)
  local N, pieces = 100003, 7
  for _, c in ipairs({{"SGD", {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-3}},
                      {"Adam", {lr = 0.01, amsgrad = true}}, {"RMSprop", {lr = 0.01, centered = true, momentum = 0.5}},
                      {"Adadelta", {}}, {"Adagrad", {lr = 0.1, lr_decay = 0.01}}}) do
    for _, dt in ipairs({"float32", "float64"}) do
      local big = lt.randn(N, {dtype = dt})
      local small = big:split(math.ceil(N / pieces), 1)
      for i = 1, #small do small[i] = small[i]:clone() end
      local ob, os_ = optim[c[1]]({big}, c[2]), optim[c[1]](small, c[2])
      for _ = 1, 3 do
        set_grad(big, lt.no_grad(function() return big * 0.5 - 0.1 end))
        for _, s in ipairs(small) do set_grad(s, lt.no_grad(function() return s * 0.5 - 0.1 end)) end
        ob:step()
        os_:step()
      end
      T.check(max_abs_diff(big, lt.cat(small, 1)) == 0, c[1] .. " " .. dt .. ": threaded == pieces")
    end
  end
end)

-- --- the optimizer API --------------------------------------------------------------------------

T.test("defaults are PyTorch's", function()
  local p = lt.zeros(2)
  local d = optim.SGD({p}).defaults
  T.check(d.lr == 1e-3 and d.momentum == 0 and d.dampening == 0 and d.weight_decay == 0 and d.nesterov == false
          and d.maximize == false, "SGD defaults")
  d = optim.Adam({p}).defaults
  T.check(d.lr == 1e-3 and d.betas[1] == 0.9 and d.betas[2] == 0.999 and d.eps == 1e-8 and d.weight_decay == 0
          and d.amsgrad == false, "Adam defaults")
  T.check(optim.AdamW({p}).defaults.weight_decay == 1e-2, "AdamW weight_decay default")
  d = optim.RMSprop({p}).defaults
  T.check(d.lr == 1e-2 and d.alpha == 0.99 and d.eps == 1e-8 and d.momentum == 0 and d.centered == false, "RMSprop defaults")
  d = optim.Adadelta({p}).defaults
  T.check(d.lr == 1.0 and d.rho == 0.9 and d.eps == 1e-6, "Adadelta defaults")
  d = optim.Adagrad({p}).defaults
  T.check(d.lr == 1e-2 and d.lr_decay == 0 and d.initial_accumulator_value == 0 and d.eps == 1e-10, "Adagrad defaults")
  local opt = optim.Adam({p}, {betas = {0.5, 0.6}})
  opt.param_groups[1].betas[1] = 0.1
  T.check(opt.defaults.betas[1] == 0.5, "groups own copies of table hyper-parameters")
end)

T.test("parameter groups, lr writable, skipped parameters", function()
  local w, bias = lt.ones(3), lt.ones(2)
  local opt = optim.SGD({{params = {w}, weight_decay = 0.5}, {params = bias}}, {lr = 0.1, momentum = 0.9})
  T.check(#opt.param_groups == 2, "two groups")
  T.check(opt.param_groups[1].weight_decay == 0.5 and opt.param_groups[2].weight_decay == 0, "group value over default")
  T.check(opt.param_groups[2].lr == 0.1 and opt.param_groups[2].momentum == 0.9, "defaults fill groups")
  T.check(opt.param_groups[2].params[1] == bias, "a single tensor as a group's params")
  -- only w has a gradient: bias keeps its value and gets no state
  set_grad(w, lt.ones(3))
  opt:step()
  T.close(w[1]:item(), 1 - 0.1 * (1 + 0.5), 1e-7, "w stepped with its group's weight decay")
  T.check(bias[1]:item() == 1 and opt.state[bias] == nil, "a parameter without grad is skipped")
  T.check(opt.state[w] and opt.state[w].momentum_buffer ~= nil, "momentum buffer created")
  -- lr is read at each step
  opt.param_groups[1].lr = 0
  local before = w:clone()
  set_grad(w, lt.ones(3))
  opt:step()
  T.check(max_abs_diff(w, before) == 0, "lr = 0 leaves the parameter")
  T.close(opt.state[w].momentum_buffer[1]:item(), 0.9 * 1.5 + (1 + 0.5 * 0.85), 1e-6, "the buffer still moved")
end)

T.test("zero_grad and step(closure)", function()
  local p = lt.ones(3)
  local opt = optim.SGD({p}, {lr = 0.5})
  set_grad(p, lt.full({3}, 2.0))
  opt:zero_grad({set_to_none = false})
  T.check(p.grad ~= nil and p.grad:abs():sum():item() == 0, "set_to_none = false zeroes in place")
  opt:zero_grad()
  T.check(p.grad == nil, "zero_grad() drops the gradient (set_to_none = true by default)")
  opt:step()
  T.check(p[1]:item() == 1, "no gradient: no change")
  local calls = 0
  local loss = opt:step(function()
    calls = calls + 1
    set_grad(p, lt.ones(3))
    return 42
  end)
  T.check(calls == 1 and loss == 42, "step returns the closure's loss")
  T.check(p[1]:item() == 0.5, "the step used the closure's gradient")
end)

T.test("add_param_group", function()
  local a, b = lt.ones(2), lt.ones(3)
  local opt = optim.Adam({a}, {lr = 0.1})
  opt:add_param_group({params = {b}, lr = 0.01})
  T.check(#opt.param_groups == 2 and opt.param_groups[2].lr == 0.01 and opt.param_groups[2].eps == 1e-8,
          "added group with its lr and the defaults")
  set_grad(a, lt.ones(2))
  set_grad(b, lt.ones(3))
  opt:step()
  T.close(a[1]:item(), 1 - 0.1, 1e-6, "first Adam step is lr * sign(grad) (group 1)")
  T.close(b[1]:item(), 1 - 0.01, 1e-6, "first Adam step is lr * sign(grad) (group 2)")
end)

T.test("in-place updates bump the storage version", function()
  -- a tensor saved for backward, then stepped: backward must notice
  local p = lt.tensor({1.0, 2.0})
  p.requires_grad = true
  local opt = optim.SGD({p}, {lr = 0.1})
  local y = p * p
  set_grad(p, lt.ones(2))
  opt:step()
  T.checkerr("modified", function() y:backward(lt.ones(2)) end)
end)

-- --- state dicts ---------------------------------------------------------------------------------

local ALL = {
  {"SGD", {lr = 0.1, momentum = 0.9, nesterov = true}},
  {"SGD", {lr = 0.1, momentum = 0.9, dampening = 0.1, weight_decay = 1e-3}},
  {"Adam", {lr = 0.01, amsgrad = true, weight_decay = 0.01}},
  {"AdamW", {lr = 0.01}},
  {"RMSprop", {lr = 0.01, momentum = 0.9, centered = true}},
  {"Adadelta", {lr = 1.0}},
  {"Adagrad", {lr = 0.1, lr_decay = 0.01, initial_accumulator_value = 0.1}},
}

-- Params: two groups; p3 only gets a gradient on even steps (state created late).
local function make(name, h, dt)
  local p1 = lt.tensor(gold.p0, {dtype = dt})
  local p2 = lt.tensor({{0.5, -0.25}, {1.5, 2.0}}, {dtype = dt})
  local p3 = lt.tensor({3.0, -1.0, 0.5}, {dtype = dt})
  local opt = optim[name]({{params = {p1, p3}}, {params = {p2}, lr = h.lr and h.lr / 2}}, h)
  return opt, {p1, p2, p3}
end

local function drive(opt, ps, from, to)
  local a = lt.tensor(gold.a, {dtype = ps[1]:dtype()})
  local b = lt.tensor(gold.b, {dtype = ps[1]:dtype()})
  for s = from, to do
    set_grad(ps[1], golden_grad(ps[1], a, b))
    set_grad(ps[2], lt.no_grad(function() return ps[2] * 0.7 - 0.2 end))
    if s % 2 == 0 then set_grad(ps[3], lt.no_grad(function() return ps[3] * ps[3] end)) else set_grad(ps[3], nil) end
    opt:step()
  end
end

local function same_params(xs, ys)
  for i = 1, #xs do if max_abs_diff(xs[i], ys[i]) ~= 0 then return false end end
  return true
end

T.test("state_dict round trip is bit-identical", function()
  for _, c in ipairs(ALL) do
    for _, dt in ipairs({"float32", "float64"}) do
      local full, fp = make(c[1], c[2], dt)
      drive(full, fp, 1, 7)
      local first, ap = make(c[1], c[2], dt)
      drive(first, ap, 1, 3)
      local sd = first:state_dict()
      T.check(type(sd.state) == "table" and #sd.param_groups == 2, c[1] .. ": state dict structure")
      T.check(sd.param_groups[1].params[1] == 1 and sd.param_groups[1].params[2] == 2 and sd.param_groups[2].params[1] == 3,
              c[1] .. ": parameters indexed 1.. in group order")
      local resumed, rp = make(c[1], c[2], dt)
      for i = 1, 3 do rp[i]:copy_(ap[i]) end
      resumed:load_state_dict(sd)
      drive(resumed, rp, 4, 7)
      T.check(same_params(fp, rp), string.format("%s %s: 3 + 4 steps through a state dict == 7 steps", c[1], dt))
      -- the loaded state is a copy: stepping the resumed optimizer leaves sd alone
      for k, v in pairs(sd.state[1]) do
        if lt.is_tensor(v) then T.check(not lt.shares_storage(v, resumed.state[rp[1]][k]), c[1] .. ": state copied") end
      end
    end
  end
end)

T.test("state_dict through lt.save / lt.load", function()
  local path = os.tmpname()
  for _, c in ipairs(ALL) do
    local full, fp = make(c[1], c[2], "float32")
    drive(full, fp, 1, 6)
    local first, ap = make(c[1], c[2], "float32")
    drive(first, ap, 1, 2)
    lt.save(path, {optim = first:state_dict(), params = ap})
    local ck = lt.load(path)
    local resumed, rp = make(c[1], c[2], "float32")
    for i = 1, 3 do rp[i]:copy_(ck.params[i]) end
    resumed:load_state_dict(ck.optim)
    drive(resumed, rp, 3, 6)
    T.check(same_params(fp, rp), c[1] .. ": resumed from a checkpoint file == uninterrupted")
  end
  os.remove(path)
end)

T.test("load_state_dict casts state to the parameter's dtype; accepts a tensor step", function()
  local p64 = lt.tensor({1.0, 2.0}, {dtype = "float64"})
  local o64 = optim.Adam({p64}, {lr = 0.1})
  set_grad(p64, lt.ones(2, {dtype = "float64"}))
  o64:step()
  local sd = o64:state_dict()
  sd.state[1].step = lt.tensor(1.0) -- as in a PyTorch checkpoint
  local p32 = lt.tensor({1.0, 2.0})
  local o32 = optim.Adam({p32}, {lr = 0.1})
  o32:load_state_dict(sd)
  T.check(o32.state[p32].exp_avg:dtype() == "float32", "exp_avg cast to float32")
  T.check(o32.state[p32].step == 1, "step read from a 1-element tensor")
  T.check(o32.param_groups[1].params[1] == p32, "groups keep their own parameters")
end)

T.test("Adagrad state exists before the first step, as in PyTorch", function()
  local p = lt.zeros(3)
  local opt = optim.Adagrad({p}, {initial_accumulator_value = 0.25})
  T.check(opt.state[p].step == 0 and opt.state[p].sum[2]:item() == 0.25, "sum filled with initial_accumulator_value")
end)

-- --- a Lua subclass ---------------------------------------------------------------------------------

T.test("an optimizer written in Lua", function()
  local Optimizer = optim.Optimizer
  local Plain = Optimizer:extend("PlainMomentum", {lr = 0.1, momentum = 0.9})
  function Plain:check_group(g, fail) Optimizer.check_number(fail, "lr", g.lr, 0) end
  function Plain:state_keys() return {"buf"} end
  function Plain:step_group(g)
    for _, p in ipairs(g.params) do
      local grad = p.grad
      if grad ~= nil then
        local st = self:param_state(p)
        if st.buf == nil then st.buf = grad:clone() else st.buf:mul_(g.momentum):add_(grad) end
        p:add_(st.buf, -g.lr)
      end
    end
  end
  -- must agree with the fused SGD kernel
  local p1, p2 = lt.tensor(gold.p0, {dtype = "float64"}), lt.tensor(gold.p0, {dtype = "float64"})
  local o1, o2 = Plain({p1}), optim.SGD({p2}, {lr = 0.1, momentum = 0.9})
  local a, b = lt.tensor(gold.a, {dtype = "float64"}), lt.tensor(gold.b, {dtype = "float64"})
  for _ = 1, 5 do
    set_grad(p1, golden_grad(p1, a, b))
    set_grad(p2, golden_grad(p2, a, b))
    o1:step()
    o2:step()
  end
  T.check(relerr(p1, p2) < 1e-14, "Lua momentum SGD == fused SGD")
  T.checkerr("unknown hyper-parameter 'momentun' for PlainMomentum (valid: lr, momentum)", Plain, {p1}, {momentun = 0.5})
  T.checkerr("bad argument #2 to 'PlainMomentum' (invalid lr -1 (expected a number >= 0))", Plain, {p1}, {lr = -1})
  local sd = optim.SGD({p1}, {momentum = 0.9})
  set_grad(p1, lt.ones(16, {dtype = "float64"}))
  sd:step()
  T.checkerr("lacks hyper-parameter 'lr'", function() o1:load_state_dict({state = {}, param_groups = {{params = {1}}}}) end)
  T.checkerr("state of parameter 1 lacks 'buf'", function() o1:load_state_dict(sd:state_dict()) end)
  local Bare = Optimizer:extend("Bare", {lr = 1})
  local bare = Bare({p1})
  T.checkerr("Bare does not define step_group", function() bare:step() end)
  T.checkerr("Optimizer is a base class", Optimizer, {p1})
  T.check(tostring(o2):find("SGD %(") and tostring(o2):find("momentum: 0.9"), "tostring shows the groups")
end)

T.test("the Lua optimizer example trains", function()
  local real_print = print
  print = function() end
  local ok, err = pcall(dofile, "scripts/examples/lua_optimizer.lua")
  print = real_print
  T.check(ok, "scripts/examples/lua_optimizer.lua: " .. tostring(err))
end)

-- --- the raw kernels ------------------------------------------------------------------------------

T.test("raw kernels", function()
  local p, g, buf = lt.tensor({1.0, 2.0}), lt.tensor({0.5, -1.0}), lt.zeros(2)
  lt._optim.sgd({p}, {g}, {buf}, {true}, {lr = 0.1, momentum = 0.9})
  T.close(p[1]:item(), 0.95, 1e-7, "raw sgd step")
  T.close(buf[2]:item(), -1.0, 1e-7, "fresh buffer = gradient")
  lt._optim.sgd({p}, {g}, {buf}, {false}, {lr = 0.1, momentum = 0.9})
  T.close(buf[2]:item(), -1.9, 1e-6, "buffer = momentum*buf + grad")
  lt._optim.sgd({}, {}, nil, nil, {lr = 0.1})
  T.check(true, "an empty list is a no-op")
  local m, v = lt.zeros(2), lt.zeros(2)
  lt._optim.adam({p}, {g}, {m}, {v}, nil, {1}, {lr = 0.1})
  T.close(m[1]:item(), 0.05, 1e-7, "raw adam moment")
end)

-- --- bad input --------------------------------------------------------------------------------------

T.test("error messages", function()
  local p, q = lt.zeros(3), lt.zeros(2)
  T.checkerr("bad argument #2 to 'SGD' (unknown hyper-parameter 'weight_decy' for SGD (valid: dampening, lr, maximize, momentum, nesterov, weight_decay))",
             optim.SGD, {p}, {lr = 0.1, weight_decy = 1e-4})
  T.checkerr("bad argument #2 to 'SGD' (invalid lr -0.1 (expected a number >= 0))", optim.SGD, {p}, {lr = -0.1})
  T.checkerr("bad argument #2 to 'SGD' (invalid momentum -0.5 (expected a number >= 0))", optim.SGD, {p}, {momentum = -0.5})
  T.checkerr("bad argument #2 to 'SGD' (invalid weight_decay -1 (expected a number >= 0))", optim.SGD, {p}, {weight_decay = -1})
  T.checkerr("nesterov momentum requires a momentum > 0 and zero dampening (got momentum 0, dampening 0)",
             optim.SGD, {p}, {nesterov = true})
  T.checkerr("nesterov momentum requires a momentum > 0 and zero dampening (got momentum 0.9, dampening 0.1)",
             optim.SGD, {p}, {nesterov = true, momentum = 0.9, dampening = 0.1})
  T.checkerr("bad argument #2 to 'Adam' (invalid betas[1] 1 (expected 0 <= betas[1] < 1))", optim.Adam, {p}, {betas = {1.0, 0.999}})
  T.checkerr("invalid betas[2] -0.1 (expected 0 <= betas[2] < 1)", optim.AdamW, {p}, {betas = {0.9, -0.1}})
  T.checkerr("bad argument #2 to 'Adam' (invalid eps -1e-08 (expected a number >= 0))", optim.Adam, {p}, {eps = -1e-8})
  T.checkerr("hyper-parameter 'betas' must be a list of 2 numbers, got number", optim.Adam, {p}, {betas = 0.9})
  T.checkerr("hyper-parameter 'lr' must be a number, got string", optim.SGD, {p}, {lr = "0.1"})
  T.checkerr("hyper-parameter 'amsgrad' must be a boolean, got number", optim.Adam, {p}, {amsgrad = 1})
  T.checkerr("invalid alpha -0.5 (expected a number >= 0)", optim.RMSprop, {p}, {alpha = -0.5})
  T.checkerr("invalid rho 1.5 (expected 0 <= rho <= 1)", optim.Adadelta, {p}, {rho = 1.5})
  T.checkerr("invalid lr_decay -1 (expected a number >= 0)", optim.Adagrad, {p}, {lr_decay = -1})
  T.checkerr("invalid initial_accumulator_value -1", optim.Adagrad, {p}, {initial_accumulator_value = -1})
  T.checkerr("invalid lr inf", optim.SGD, {p}, {lr = math.huge})
  -- parameters
  T.checkerr("bad argument #1 to 'SGD' (parameter group 2: params[1] is already in parameter group 1: a parameter may be in only one group)",
             optim.SGD, {{params = {p}}, {params = {p, q}}}, {lr = 0.1})
  T.checkerr("params[2] is the same tensor as params[1]: a parameter may appear only once", optim.SGD, {p, p})
  T.checkerr("bad argument #1 to 'SGD' (params[2] is a number; an optimizer can only optimize tensors)", optim.SGD, {p, 3})
  T.checkerr("bad argument #1 to 'Adam' (optimizer got an empty parameter list)", optim.Adam, {})
  T.checkerr("parameter group 1: optimizer got an empty parameter list", optim.Adam, {{params = {}}})
  T.checkerr("got tensor (wrap a single tensor in a list: {t})", optim.SGD, p)
  T.checkerr("expected a list of tensors or of parameter groups, got nil", optim.SGD)
  T.checkerr("parameter group 1: unknown hyper-parameter 'wd' for SGD", optim.SGD, {{params = {p}, wd = 0}})
  T.checkerr("params[2] is a tensor but params[1] is a parameter group", optim.SGD, {{params = {p}}, q})
  local y = lt.no_grad(function() return p * 2 end)
  local leaf = lt.zeros(2)
  leaf.requires_grad = true
  local nonleaf = leaf * 2
  T.checkerr("params[1] is not a leaf tensor", optim.SGD, {nonleaf})
  T.check(y ~= nil, "no_grad result")
  local opt = optim.SGD({p}, {lr = 0.1, momentum = 0.9})
  T.checkerr("bad argument #1 to 'add_param_group' (params[1] is already in parameter group 1", opt.add_param_group, opt,
             {params = {p}})
  T.checkerr("bad argument #1 to 'zero_grad' (unknown option 'set_to_nil' (valid: set_to_none))", opt.zero_grad, opt,
             {set_to_nil = true})
  T.checkerr("bad argument #1 to 'step' (expected a function (a closure returning the loss) or nil, got number)",
             opt.step, opt, 5)
  -- state dicts
  local two = optim.SGD({{params = {p}}, {params = {q}}}, {lr = 0.1, momentum = 0.9})
  T.checkerr("bad argument #1 to 'load_state_dict' (the state dict has 2 parameter groups, this SGD has 1)",
             opt.load_state_dict, opt, two:state_dict())
  local pq = optim.SGD({p, q}, {lr = 0.1, momentum = 0.9})
  T.checkerr("parameter group 1 of the state dict has 2 parameters, this optimizer's group 1 has 1",
             opt.load_state_dict, opt, pq:state_dict())
  local other = lt.zeros(4)
  local o4 = optim.SGD({other}, {lr = 0.1, momentum = 0.9})
  set_grad(other, lt.ones(4))
  o4:step()
  T.checkerr("bad argument #1 to 'load_state_dict' (state 'momentum_buffer' of parameter 1 has shape [4], expected [3] (the parameter's shape))",
             opt.load_state_dict, opt, o4:state_dict())
  local adam = optim.Adam({p})
  T.checkerr("parameter group 1 of the state dict lacks hyper-parameter 'amsgrad' (is it the state of another optimizer than Adam?)",
             adam.load_state_dict, adam, opt:state_dict())
  T.checkerr("expected a state dict {state = {...}, param_groups = {...}}, got number", opt.load_state_dict, opt, 7)
  T.checkerr("the state dict has state for parameter 5, which is in none of its parameter groups", opt.load_state_dict, opt,
             {state = {[5] = {}}, param_groups = {{lr = 0.1, momentum = 0.9, dampening = 0, weight_decay = 0,
                                                   nesterov = false, maximize = false, params = {1}}}})
  T.checkerr("parameter group 1 of the state dict: invalid lr -1", opt.load_state_dict, opt,
             {state = {}, param_groups = {{lr = -1, momentum = 0.9, dampening = 0, weight_decay = 0, nesterov = false,
                                           maximize = false, params = {1}}}})
  -- a failed load changes nothing
  T.check(opt.param_groups[1].lr == 0.1, "a rejected state dict leaves the optimizer as it was")
  -- raw kernels
  local g3 = lt.ones(3)
  T.checkerr("bad argument #2 to 'sgd' (grads[1] has shape [2], expected [3] (the shape of params[1]))",
             lt._optim.sgd, {p}, {lt.ones(2)}, nil, nil, {lr = 0.1})
  T.checkerr("bad argument #2 to 'sgd' (grads[1] is float64, expected float32 (the dtype of params[1]))",
             lt._optim.sgd, {p}, {lt.ones(3, {dtype = "float64"})}, nil, nil, {lr = 0.1})
  T.checkerr("bad argument #1 to 'sgd' (params[1] is int64; optimizer steps need float32 or float64 parameters)",
             lt._optim.sgd, {lt.zeros(3, {dtype = "int64"})}, {lt.zeros(3, {dtype = "int64"})}, nil, nil, {lr = 0.1})
  T.checkerr("bad argument #2 to 'sgd' (expected 1 grads (one per parameter), got 2)", lt._optim.sgd, {p}, {g3, g3}, nil,
             nil, {lr = 0.1})
  T.checkerr("bad argument #3 to 'sgd' (momentum 0.9 needs a list of momentum buffers)", lt._optim.sgd, {p}, {g3}, nil,
             nil, {lr = 0.1, momentum = 0.9})
  T.checkerr("bad argument #5 to 'sgd' (unknown option 'mom'", lt._optim.sgd, {p}, {g3}, nil, nil, {lr = 0.1, mom = 1})
  T.checkerr("bad argument #5 to 'sgd' (invalid lr -1 (expected a number >= 0))", lt._optim.sgd, {p}, {g3}, nil, nil, {lr = -1})
  T.checkerr("bad argument #6 to 'adam' (steps[1] is 0, expected a step count >= 1)", lt._optim.adam, {p}, {g3},
             {lt.zeros(3)}, {lt.zeros(3)}, nil, {0}, {lr = 0.1})
  T.checkerr("bad argument #5 to 'adam' (amsgrad needs a list of max_exp_avg_sq buffers)", lt._optim.adam, {p}, {g3},
             {lt.zeros(3)}, {lt.zeros(3)}, nil, {1}, {lr = 0.1, amsgrad = true})
  T.checkerr("bad argument #3 to 'adam' (exp_avgs[1] is a number, expected a tensor)", lt._optim.adam, {p}, {g3}, {1},
             {lt.zeros(3)}, nil, {1}, {lr = 0.1})
  T.checkerr("bad argument #3 to 'rmsprop' (square_avgs[1] has elements that overlap in memory",
             lt._optim.rmsprop, {p}, {g3}, {lt.zeros(1):expand(3)}, nil, nil, {lr = 0.1})
  T.checkerr("bad argument #5 to 'adagrad' (hyper-parameter 'lr' must be a number, got nil)", lt._optim.adagrad, {p},
             {g3}, {lt.zeros(3)}, {1}, {})
  -- a raw kernel's failure says which parameter it is about
  local ok, e = pcall(lt._optim.sgd, {lt.zeros(3), lt.zeros(2)}, {lt.ones(3), lt.ones(5)}, nil, nil, {lr = 0.1})
  T.check(not ok and type(e) == "table" and e.parameter == 2 and e.reason == "grads[2] has shape [5], expected [2] (the shape of params[2])"
          and tostring(e):find("bad argument #2 to 'sgd' (grads[2] has shape [5]", 1, true) ~= nil,
          "a kernel's error names the parameter (parameter, reason, message)")
  ok, e = pcall(lt._optim.adam, {lt.zeros(3)}, {lt.ones(3)}, {lt.zeros(3)}, {1}, nil, {1}, {lr = 0.1})
  T.check(not ok and e.parameter == 1 and e.reason == "exp_avg_sqs[1] is a number, expected a tensor", "the glue's own checks too")
  ok, e = pcall(lt._optim.sgd, {lt.zeros(3)}, {lt.ones(3)}, nil, nil, {lr = -1})
  T.check(not ok and e.parameter == nil and e.reason == "invalid lr -1 (expected a number >= 0)", "no parameter for a hyper-parameter")
  -- an error inside step names the optimizer, group and parameter and keeps the state as it was
  local r = optim.RMSprop({p, q}, {lr = 0.1})
  set_grad(q, lt.ones(2))
  r:step()
  r.state[q].square_avg = lt.zeros(5)
  T.checkerr("RMSprop:step(): parameter group 1, parameter 2: square_avgs[1] has shape [5], expected [2]", r.step, r)
  T.check(r.state[q].step == 1, "a failed step leaves the step count")
end)

os.exit(T.done())
