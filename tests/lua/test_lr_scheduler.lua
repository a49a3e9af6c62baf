-- test_lr_scheduler.lua — lt.optim.lr_scheduler: every schedule of
-- tests/golden/sched_golden.json (PyTorch's rates, relative 1e-9), the
-- reference recipe's WarmUpLR through scripts/examples/warmup_scheduler.lua, the closed
-- forms of step(epoch), schedules without golden data against their
-- formulas (ConstantLR, LambdaLR, CosineAnnealingWarmRestarts,
-- ChainedScheduler, OneCycleLR's phases and momentum cycling), parameter
-- groups, resuming with last_epoch, state_dict round trips that must be
-- bit-identical to uninterrupted runs, a Lua subclass and the error messages.
local T = require "luatrain.testing"
local lt = require "luatrain"
local S = lt.optim.lr_scheduler

local f = assert(io.open("tests/golden/sched_golden.json", "r"))
local gold = lt.json.decode(f:read("a"))
f:close()

local WarmUpLR = dofile("scripts/examples/warmup_scheduler.lua")

local function sgd(lr, groups)
  if groups then
    local gs = {}
    for i, glr in ipairs(groups) do gs[i] = {params = {lt.zeros(2)}, lr = glr} end
    return lt.optim.SGD(gs, {lr = lr, momentum = 0.9})
  end
  return lt.optim.SGD({lt.zeros(2)}, {lr = lr or 0.1, momentum = 0.9})
end

local function rel(a, b)
  if b == 0 then return math.abs(a) end
  return math.abs(a - b) / math.abs(b)
end

-- --- golden ---------------------------------------------------------------------------------

local MAKERS = {
  ["multistep_60_120_160_g0.2"] = function(o) return S.MultiStepLR(o, {milestones = {60, 120, 160}, gamma = 0.2}) end,
  ["multistep_80_120_g0.1"] = function(o) return S.MultiStepLR(o, {milestones = {80, 120}, gamma = 0.1}) end,
  ["step_30_g0.1"] = function(o) return S.StepLR(o, {step_size = 30, gamma = 0.1}) end,
  ["cosine_T160"] = function(o) return S.CosineAnnealingLR(o, {T_max = 160}) end,
  ["cosine_T50_eta1e-3"] = function(o) return S.CosineAnnealingLR(o, {T_max = 50, eta_min = 1e-3}) end,
  ["exponential_0.95"] = function(o) return S.ExponentialLR(o, {gamma = 0.95}) end,
  ["polynomial_T160_p2"] = function(o) return S.PolynomialLR(o, {total_iters = 160, power = 2}) end,
  ["linear_warmup_0.1_5"] = function(o) return S.LinearLR(o, {start_factor = 0.1, total_iters = 5}) end,
  ["onecycle_1000"] = function(o) return S.OneCycleLR(o, {max_lr = 0.1, total_steps = 1000}) end,
  ["warmup5_then_cosine_T155"] = function(o)
    local warm = S.LinearLR(o, {start_factor = 0.01, total_iters = 5})
    local cos = S.CosineAnnealingLR(o, {T_max = 155})
    return S.SequentialLR(o, {schedulers = {warm, cos}, milestones = {5}})
  end,
  ["seed_warmup_391"] = function(o) return WarmUpLR(o, 391) end,
}

T.test("golden schedules", function()
  local n = 0
  for name, ref in pairs(gold.cases) do
    n = n + 1
    local make = MAKERS[name]
    T.check(make ~= nil, "a scheduler for golden case " .. name)
    if make then
      local o = sgd(0.1)
      local s = make(o)
      local worst = 0
      for e = 1, #ref do
        worst = math.max(worst, rel(o.param_groups[1].lr, ref[e]))
        T.check(s:get_last_lr()[1] == o.param_groups[1].lr, name .. ": get_last_lr is the group's lr")
        s:step()
      end
      T.check(worst <= 1e-9, string.format("%s: relative error %g", name, worst))
    end
  end
  T.check(n == 11, "11 golden cases")
end)

-- --- closed forms and formulas --------------------------------------------------------------

T.test("step(epoch) uses the closed forms", function()
  local cases = {
    {function(o) return S.StepLR(o, {step_size = 3, gamma = 0.5}) end, function(e) return 0.1 * 0.5 ^ (e // 3) end},
    {function(o) return S.MultiStepLR(o, {milestones = {2, 5}, gamma = 0.1}) end,
     function(e) return 0.1 * 0.1 ^ ((e >= 2 and 1 or 0) + (e >= 5 and 1 or 0)) end},
    {function(o) return S.ExponentialLR(o, {gamma = 0.9}) end, function(e) return 0.1 * 0.9 ^ e end},
    {function(o) return S.CosineAnnealingLR(o, {T_max = 10, eta_min = 0.01}) end,
     function(e) return 0.01 + 0.09 * (1 + math.cos(math.pi * e / 10)) / 2 end},
    {function(o) return S.LinearLR(o, {start_factor = 0.25, end_factor = 0.75, total_iters = 4}) end,
     function(e) return 0.1 * (0.25 + 0.5 * math.min(4, e) / 4) end},
    {function(o) return S.PolynomialLR(o, {total_iters = 6, power = 3}) end,
     function(e) return 0.1 * (1 - math.min(6, e) / 6) ^ 3 end},
    {function(o) return S.ConstantLR(o, {factor = 0.5, total_iters = 3}) end,
     function(e) return e < 3 and 0.05 or 0.1 end},
  }
  for ci, c in ipairs(cases) do
    local o = sgd(0.1)
    local s = c[1](o)
    for _, e in ipairs({7, 0, 3, 1, 12, 5}) do
      s:step(e)
      T.check(rel(o.param_groups[1].lr, c[2](e)) < 1e-12, string.format("case %d: closed form at epoch %d", ci, e))
      T.check(s.last_epoch == e, "step(epoch) sets last_epoch")
    end
  end
end)

T.test("chainable forms match the closed forms epoch by epoch", function()
  local cases = {
    {function(o) return S.ConstantLR(o, {factor = 0.5, total_iters = 3}) end, function(e) return e < 3 and 0.05 or 0.1 end},
    {function(o) return S.ConstantLR(o) end, function(e) return e < 5 and 0.1 / 3 or 0.1 end},
    {function(o) return S.LinearLR(o) end, function(e) return 0.1 * (1 / 3 + (2 / 3) * math.min(5, e) / 5) end},
    {function(o) return S.LambdaLR(o, function(e) return 1 / (e + 1) end) end, function(e) return 0.1 / (e + 1) end},
    {function(o) return S.LambdaLR(o, {lr_lambda = function(e) return 0.5 ^ e end}) end, function(e) return 0.1 * 0.5 ^ e end},
    {function(o)
       return S.ChainedScheduler({S.ExponentialLR(o, {gamma = 0.9}), S.StepLR(o, {step_size = 4, gamma = 0.5})})
     end, function(e) return 0.1 * 0.9 ^ e * 0.5 ^ (e // 4) end},
    {function(o)
       -- warm restarts, T_0 = 3 doubling: periods 3, 6, 12 starting at 0, 3, 9
       return S.CosineAnnealingWarmRestarts(o, {T_0 = 3, T_mult = 2, eta_min = 0.001})
     end, function(e)
       local start, Ti = 0, 3
       while e >= start + Ti do start, Ti = start + Ti, Ti * 2 end
       return 0.001 + 0.099 * (1 + math.cos(math.pi * (e - start) / Ti)) / 2
     end},
  }
  for ci, c in ipairs(cases) do
    local o = sgd(0.1)
    local s = c[1](o)
    for e = 0, 20 do
      T.check(rel(o.param_groups[1].lr, c[2](e)) < 1e-12,
              string.format("case %d, epoch %d: %.17g vs %.17g", ci, e, o.param_groups[1].lr, c[2](e)))
      s:step()
    end
  end
end)

T.test("CosineAnnealingWarmRestarts with fractional epochs", function()
  local o = sgd(0.1)
  local s = S.CosineAnnealingWarmRestarts(o, {T_0 = 4, T_mult = 1})
  for _, e in ipairs({0.5, 2.25, 4.5, 9.75}) do
    s:step(e)
    local tc = e % 4
    T.check(rel(o.param_groups[1].lr, 0.05 * (1 + math.cos(math.pi * tc / 4))) < 1e-12, "fractional epoch " .. e)
    T.check(s.last_epoch == math.floor(e), "last_epoch = floor(epoch)")
  end
  local s2 = S.CosineAnnealingWarmRestarts(sgd(0.1), {T_0 = 2, T_mult = 3})
  s2:step(9.5) -- periods 2, 6 (ending at 8), 18: T_cur = 1.5, T_i = 18
  T.check(rel(s2.T_cur, 1.5) < 1e-12 and s2.T_i == 18, "T_mult > 1 with an epoch")
end)

T.test("parameter groups get their own base_lrs", function()
  local o = sgd(0.1, {0.1, 0.01})
  local s = S.StepLR(o, {step_size = 2, gamma = 0.5})
  T.check(s.base_lrs[1] == 0.1 and s.base_lrs[2] == 0.01, "base_lrs from each group")
  for _ = 1, 4 do s:step() end
  T.check(rel(o.param_groups[2].lr, 0.01 * 0.25) < 1e-15 and rel(o.param_groups[1].lr, 0.025) < 1e-15, "per-group rates")
  local l = S.LambdaLR(sgd(1, {1, 2}), {lr_lambda = {function(e) return e end, function(e) return 10 * e end}})
  l:step()
  T.check(l:get_last_lr()[1] == 1 and l:get_last_lr()[2] == 20, "a lambda per group")
  T.check(o.param_groups[1].initial_lr == 0.1, "initial_lr recorded in the groups")
end)

T.test("OneCycleLR phases and momentum", function()
  -- two phases, cos: starts at max_lr/div_factor, peaks at pct_start, ends at initial/final_div
  local o = sgd(0.1)
  local s = S.OneCycleLR(o, {max_lr = 1.0, total_steps = 100, pct_start = 0.25})
  local g = o.param_groups[1]
  T.check(rel(g.lr, 1.0 / 25) < 1e-15 and g.momentum == 0.95, "start: initial_lr and max_momentum")
  for _ = 1, 24 do s:step() end -- step 24 = end of phase 1 (0.25*100 - 1)
  T.check(rel(g.lr, 1.0) < 1e-15 and rel(g.momentum, 0.85) < 1e-15, "peak: max_lr and base_momentum")
  for _ = 25, 99 do s:step() end
  T.check(rel(g.lr, 1.0 / 25 / 1e4) < 1e-12 and rel(g.momentum, 0.95) < 1e-15, "end: min_lr and max_momentum")
  T.checkerr("OneCycleLR: tried to step 101 times; the schedule has total_steps = 100", function() s:step(); s:step() end)
  -- linear annealing, three phases, Adam's beta1
  local a = lt.optim.Adam({lt.zeros(2)}, {lr = 0.1, betas = {0.9, 0.99}})
  local s3 = S.OneCycleLR(a, {max_lr = 0.4, epochs = 2, steps_per_epoch = 50, pct_start = 0.2, anneal_strategy = "linear",
                              three_phase = true, div_factor = 4, final_div_factor = 10})
  local ag = a.param_groups[1]
  T.check(ag.lr == 0.1 and ag.betas[1] == 0.95 and ag.betas[2] == 0.99, "three phase start; beta2 kept")
  local lrs, b1 = {}, {}
  for i = 0, 99 do
    lrs[i], b1[i] = ag.lr, ag.betas[1]
    if i < 99 then s3:step() end
  end
  -- phase ends: 19 (max), 38 (back to initial), 99 (min)
  T.check(rel(lrs[19], 0.4) < 1e-12 and rel(b1[19], 0.85) < 1e-12, "phase 1 end")
  T.check(rel(lrs[9], 0.1 + 0.3 * 9 / 19) < 1e-12, "linear ramp")
  T.check(rel(lrs[38], 0.1) < 1e-12 and rel(b1[38], 0.95) < 1e-12, "phase 2 end")
  T.check(rel(lrs[99], 0.01) < 1e-12 and rel(b1[99], 0.95) < 1e-12, "phase 3 end")
  -- per-group max_lr, no momentum cycling on an optimizer without momentum
  local ada = lt.optim.Adagrad({{params = {lt.zeros(1)}}, {params = {lt.zeros(1)}}})
  local s4 = S.OneCycleLR(ada, {max_lr = {1.0, 2.0}, total_steps = 10, cycle_momentum = false})
  T.check(rel(s4:get_last_lr()[1], 1.0 / 25) < 1e-14 and rel(s4:get_last_lr()[2], 2.0 / 25) < 1e-14, "max_lr per group")
end)

T.test("resuming with last_epoch", function()
  local o = sgd(0.1)
  local s = S.StepLR(o, {step_size = 2, gamma = 0.5})
  for _ = 1, 5 do s:step() end
  -- a new scheduler over the same optimizer resumes from initial_lr
  local s2 = S.StepLR(o, {step_size = 2, gamma = 0.5, last_epoch = 5})
  T.check(s2.base_lrs[1] == 0.1 and s2.last_epoch == 6, "base_lrs from initial_lr, one step taken")
  T.checkerr("bad argument #2 to 'StepLR' (last_epoch = 3 resumes a schedule, but param_groups[1] has no 'initial_lr'",
             S.StepLR, sgd(0.1), {step_size = 2, last_epoch = 3})
end)

-- --- state dicts ------------------------------------------------------------------------------

local ROUND = {
  StepLR = function(o) return S.StepLR(o, {step_size = 3, gamma = 0.5}) end,
  MultiStepLR = function(o) return S.MultiStepLR(o, {milestones = {2, 6, 9}, gamma = 0.3}) end,
  ConstantLR = function(o) return S.ConstantLR(o, {factor = 0.2, total_iters = 4}) end,
  LinearLR = function(o) return S.LinearLR(o, {start_factor = 0.1, total_iters = 6}) end,
  ExponentialLR = function(o) return S.ExponentialLR(o, {gamma = 0.8}) end,
  CosineAnnealingLR = function(o) return S.CosineAnnealingLR(o, {T_max = 7, eta_min = 0.001}) end,
  PolynomialLR = function(o) return S.PolynomialLR(o, {total_iters = 8, power = 1.5}) end,
  LambdaLR = function(o) return S.LambdaLR(o, function(e) return 0.9 ^ e end) end,
  OneCycleLR = function(o) return S.OneCycleLR(o, {max_lr = 0.5, total_steps = 12}) end,
  CosineAnnealingWarmRestarts = function(o) return S.CosineAnnealingWarmRestarts(o, {T_0 = 3, T_mult = 2}) end,
  SequentialLR = function(o)
    return S.SequentialLR(o, {schedulers = {S.LinearLR(o, {start_factor = 0.1, total_iters = 3}),
                                            S.ExponentialLR(o, {gamma = 0.7})}, milestones = {4}})
  end,
  ChainedScheduler = function(o)
    return S.ChainedScheduler({S.ConstantLR(o, {factor = 0.5, total_iters = 2}), S.ExponentialLR(o, {gamma = 0.9})})
  end,
  WarmUpLR = function(o) return WarmUpLR(o, {total_iters = 10}) end,
}

-- Whether a checkpoint file keeps every bit of a float (the schedulers'
-- state is floats: _last_lr, T_cur, ...).
local function save_is_exact()
  local path = os.tmpname()
  local v = {2 ^ -40 / 3, 0.1 * 0.9 ^ 7, 1 / 3}
  lt.save(path, {v = v})
  local back = lt.load(path).v
  os.remove(path)
  for i = 1, #v do if back[i] ~= v[i] then return false end end
  return true
end

T.test("state_dict round trip is bit-identical", function()
  local path = os.tmpname()
  local exact = T.check(save_is_exact(), "lt.save/lt.load keep floats exactly (resuming a schedule needs every bit)")
  for name, make in pairs(ROUND) do
    for _, via_file in ipairs(exact and {false, true} or {false}) do
      local o1 = sgd(0.1, {0.1, 0.05})
      local s1 = make(o1)
      local full = {}
      for e = 1, 12 do
        full[e] = {o1.param_groups[1].lr, o1.param_groups[2].lr, o1.param_groups[1].momentum}
        s1:step()
      end
      local o2 = sgd(0.1, {0.1, 0.05})
      local s2 = make(o2)
      for _ = 1, 5 do s2:step() end
      local osd, ssd = o2:state_dict(), s2:state_dict()
      if via_file then
        lt.save(path, {optimizer = osd, scheduler = ssd})
        local ck = lt.load(path)
        osd, ssd = ck.optimizer, ck.scheduler
      end
      local o3 = sgd(0.1, {0.1, 0.05})
      local s3 = make(o3)
      o3:load_state_dict(osd)
      s3:load_state_dict(ssd)
      local ok = true
      for e = 6, 12 do
        local g1, g2 = o3.param_groups[1], o3.param_groups[2]
        if g1.lr ~= full[e][1] or g2.lr ~= full[e][2] or g1.momentum ~= full[e][3] then ok = false end
        s3:step()
      end
      T.check(ok, string.format("%s%s: 5 steps, state dict, 7 steps == 12 steps", name, via_file and " (through a file)" or ""))
    end
  end
  os.remove(path)
  local sd = S.LambdaLR(sgd(), function() return 1 end):state_dict()
  T.check(sd.lr_lambdas == nil and sd.optimizer == nil and sd.last_epoch == 0 and sd.base_lrs[1] == 0.1,
          "state dict: fields but the optimizer and functions")
end)

-- --- a Lua subclass ------------------------------------------------------------------------------

T.test("a scheduler written in Lua", function()
  local LRScheduler = S.LRScheduler
  local Halving = LRScheduler:extend("Halving")
  function Halving:init(optimizer, opts)
    self.every = opts.every
    LRScheduler.init(self, optimizer, opts.last_epoch)
  end
  function Halving:get_lr()
    local lrs = {}
    for i, b in ipairs(self.base_lrs) do lrs[i] = b * 0.5 ^ (self.last_epoch // self.every) end
    return lrs
  end
  local o = sgd(0.8)
  local h = Halving(o, {every = 2})
  for _ = 1, 5 do h:step() end
  T.check(o.param_groups[1].lr == 0.2 and h.last_epoch == 5, "subclass schedule")
  local sd = h:state_dict()
  T.check(sd.every == 2 and sd.last_epoch == 5, "a subclass's fields are saved")
  local Bad = LRScheduler:extend("Bad")
  T.checkerr("Bad does not define get_lr()", Bad, sgd())
  local Wrong = LRScheduler:extend("Wrong")
  function Wrong:get_lr() return {1, 2} end
  T.checkerr("Wrong:get_lr() returned 2 values, expected a list of 1 learning rates", Wrong, sgd())
  T.checkerr("LRScheduler is a base class", LRScheduler, sgd())
  T.check(tostring(h):find("Halving%(last_epoch=5"), "tostring")
end)

-- --- bad input ----------------------------------------------------------------------------------

T.test("error messages", function()
  local o = sgd()
  T.checkerr("bad argument #2 to 'MultiStepLR' (milestones must be increasing, but milestones[2] = 50 follows 80)",
             S.MultiStepLR, o, {milestones = {80, 50}})
  T.checkerr("milestones must be increasing, but milestones[2] = 80 follows 80", S.MultiStepLR, o, {milestones = {80, 80}})
  T.checkerr("bad argument #2 to 'MultiStepLR' (milestones[1] must be an integer, got 1.5)", S.MultiStepLR, o,
             {milestones = {1.5}})
  T.checkerr("bad argument #2 to 'MultiStepLR' (missing required option 'milestones')", S.MultiStepLR, o, {gamma = 0.1})
  T.checkerr("bad argument #2 to 'StepLR' (unknown option 'step' (valid: gamma, last_epoch, step_size))", S.StepLR, o,
             {step = 30})
  T.checkerr("bad argument #2 to 'StepLR' (option 'step_size' must be an integer >= 1, got 0)", S.StepLR, o, {step_size = 0})
  T.checkerr("bad argument #1 to 'StepLR' (expected an optimizer (a table with param_groups), got number)", S.StepLR, 5,
             {step_size = 1})
  T.checkerr("bad argument #2 to 'ExponentialLR' (option 'gamma' must be a number, got x)", S.ExponentialLR, o, {gamma = "x"})
  T.checkerr("bad argument #2 to 'LinearLR' (option 'start_factor' must be in (0, 1], got 0)", S.LinearLR, o,
             {start_factor = 0})
  T.checkerr("option 'factor' must be in [0, 1], got 2", S.ConstantLR, o, {factor = 2})
  T.checkerr("bad argument #2 to 'CosineAnnealingLR' (missing required option 'T_max')", S.CosineAnnealingLR, o, {})
  T.checkerr("option 'T_mult' must be an integer >= 1, got 0", S.CosineAnnealingWarmRestarts, o, {T_0 = 2, T_mult = 0})
  T.checkerr("bad argument #2 to 'OneCycleLR' (give either total_steps or both epochs and steps_per_epoch)",
             S.OneCycleLR, o, {max_lr = 0.1})
  T.checkerr("option 'anneal_strategy' must be 'cos' or 'linear', got cosine", S.OneCycleLR, o,
             {max_lr = 0.1, total_steps = 10, anneal_strategy = "cosine"})
  T.checkerr("option 'max_lr' must be a number or a list of 1 numbers (one per parameter group), got a list of 2",
             S.OneCycleLR, o, {max_lr = {0.1, 0.2}, total_steps = 10})
  T.checkerr("the optimizer has neither momentum nor betas, which cycle_momentum = true needs",
             S.OneCycleLR, lt.optim.Adagrad({lt.zeros(1)}), {max_lr = 0.1, total_steps = 10})
  T.checkerr("bad argument #2 to 'LambdaLR' (expected 1 lr_lambda functions (one per parameter group), got 2)",
             S.LambdaLR, o, {lr_lambda = {function() return 1 end, function() return 1 end}})
  T.checkerr("option 'lr_lambda' must be a function of the epoch (or a list of them), got nil", S.LambdaLR, o, {})
  local a, b = S.LinearLR(o), S.ExponentialLR(o, {gamma = 0.9})
  T.checkerr("bad argument #2 to 'SequentialLR' (expected 1 milestones (one fewer than the 2 schedulers), got 2)",
             S.SequentialLR, o, {schedulers = {a, b}, milestones = {3, 6}})
  T.checkerr("schedulers[2] (ExponentialLR) belongs to another optimizer", S.SequentialLR, o,
             {schedulers = {a, S.ExponentialLR(sgd(), {gamma = 0.9})}, milestones = {3}})
  T.checkerr("bad argument #2 to 'SequentialLR' (expects at least one scheduler, got none)", S.SequentialLR, o,
             {schedulers = {}, milestones = {}})
  T.checkerr("bad argument #1 to 'ChainedScheduler' (expected a list of schedulers, got table)", S.ChainedScheduler, a)
  local st = S.StepLR(o, {step_size = 3})
  T.checkerr("bad argument #1 to 'load_state_dict' (the state dict lacks 'step_size' (is it the state of another scheduler than StepLR?))",
             st.load_state_dict, st, S.ExponentialLR(sgd(), {gamma = 0.5}):state_dict())
  T.checkerr("bad argument #1 to 'load_state_dict' (expected a scheduler state dict (a table), got nil)", st.load_state_dict, st)
  T.checkerr("bad argument #1 to 'step' (expected an epoch number or nil, got string)", st.step, st, "3")
  local sq = S.SequentialLR(o, {schedulers = {S.LinearLR(o), S.LinearLR(o)}, milestones = {2}})
  local sd = sq:state_dict()
  sd._schedulers[2] = nil
  T.checkerr("the state dict holds 1 schedulers, this SequentialLR has 2", sq.load_state_dict, sq, sd)
  T.checkerr("bad argument #2 to 'WarmUpLR' (total_iters must be an integer >= 1, got 0)", WarmUpLR, o, 0)
end)

os.exit(T.done())
