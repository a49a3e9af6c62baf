-- luatrain.optim.lr_scheduler.onecycle — OneCycleLR, the 1cycle policy:
-- the rate (and, with cycle_momentum, the momentum or Adam's beta1) goes
-- through two or three annealed phases over total_steps batches. Not here:
-- the base class and the option checks (base.lua).
local argcheck = require "luatrain.argcheck"
local util = require "luatrain.optim.util"
local base = require "luatrain.optim.lr_scheduler.base"

local LRScheduler = base.LRScheduler
local options, opt_number, opt_int, opt_range = base.options, base.opt_number, base.opt_int, base.opt_range

-- A hyper-parameter given as one number or one per group.
local function per_group(F, optimizer, key, v)
  local n = #optimizer.param_groups
  if type(v) == "number" then
    local t = {}
    for i = 1, n do t[i] = v end
    return t
  end
  if type(v) ~= "table" or argcheck.is_tensor(v) or #v ~= n then
    argcheck.argerror(F, 2, "option '%s' must be a number or a list of %d numbers (one per parameter group), got %s", key, n,
                  type(v) == "table" and ("a list of " .. #v) or argcheck.typename(v))
  end
  for i = 1, n do
    if type(v[i]) ~= "number" then argcheck.argerror(F, 2, "%s[%d] must be a number, got %s", key, i, argcheck.typename(v[i])) end
  end
  return util.copy(v)
end

-- OneCycleLR: the 1cycle policy (Smith & Topsoe), stepped once per batch.
local OneCycleLR = LRScheduler:extend("OneCycleLR")
function OneCycleLR:init(optimizer, opts)
  local F = "OneCycleLR"
  local o = options(F, optimizer, opts, {"max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start", "anneal_strategy",
                              "cycle_momentum", "base_momentum", "max_momentum", "div_factor", "final_div_factor",
                              "three_phase"})
  if o.max_lr == nil then argcheck.argerror(F, 2, "missing required option 'max_lr'") end
  if o.total_steps ~= nil then
    self.total_steps = opt_int(F, o, "total_steps", nil, 1)
  elseif o.epochs ~= nil and o.steps_per_epoch ~= nil then
    self.total_steps = opt_int(F, o, "epochs", nil, 1) * opt_int(F, o, "steps_per_epoch", nil, 1)
  else
    argcheck.argerror(F, 2, "give either total_steps or both epochs and steps_per_epoch")
  end
  local pct = opt_number(F, o, "pct_start", 0.3)
  opt_range(F, "pct_start", pct, 0, 1)
  local strategy = o.anneal_strategy or "cos"
  if strategy ~= "cos" and strategy ~= "linear" then
    argcheck.argerror(F, 2, "option 'anneal_strategy' must be 'cos' or 'linear', got %s", argcheck.num(strategy))
  end
  self.anneal_strategy = strategy
  local three = o.three_phase or false
  if type(three) ~= "boolean" then argcheck.argerror(F, 2, "option 'three_phase' must be a boolean, got %s", argcheck.typename(three)) end
  local div = opt_number(F, o, "div_factor", 25.0)
  local final_div = opt_number(F, o, "final_div_factor", 1e4)
  local N = self.total_steps
  if three then
    self._schedule_phases = {
      {end_step = pct * N - 1, start_lr = "initial_lr", end_lr = "max_lr", start_momentum = "max_momentum", end_momentum = "base_momentum"},
      {end_step = 2 * pct * N - 2, start_lr = "max_lr", end_lr = "initial_lr", start_momentum = "base_momentum", end_momentum = "max_momentum"},
      {end_step = N - 1, start_lr = "initial_lr", end_lr = "min_lr", start_momentum = "max_momentum", end_momentum = "max_momentum"},
    }
  else
    self._schedule_phases = {
      {end_step = pct * N - 1, start_lr = "initial_lr", end_lr = "max_lr", start_momentum = "max_momentum", end_momentum = "base_momentum"},
      {end_step = N - 1, start_lr = "max_lr", end_lr = "min_lr", start_momentum = "base_momentum", end_momentum = "max_momentum"},
    }
  end
  local last_epoch = o.last_epoch or -1
  local max_lrs = per_group(F, optimizer, "max_lr", o.max_lr)
  if last_epoch == -1 then
    for i, group in ipairs(optimizer.param_groups) do
      group.initial_lr = max_lrs[i] / div
      group.max_lr = max_lrs[i]
      group.min_lr = group.initial_lr / final_div
    end
  end
  local cycle = o.cycle_momentum
  if cycle == nil then cycle = true end
  if type(cycle) ~= "boolean" then argcheck.argerror(F, 2, "option 'cycle_momentum' must be a boolean, got %s", argcheck.typename(cycle)) end
  self.cycle_momentum = cycle
  if cycle then
    local d = optimizer.defaults or {}
    if d.momentum == nil and d.betas == nil then
      argcheck.argerror(F, 1, "the optimizer has neither momentum nor betas, which cycle_momentum = true needs "
                    .. "(pass cycle_momentum = false)")
    end
    self.use_beta1 = d.betas ~= nil
    local maxm = per_group(F, optimizer, "max_momentum", o.max_momentum or 0.95)
    local basem = per_group(F, optimizer, "base_momentum", o.base_momentum or 0.85)
    if last_epoch == -1 then
      for i, group in ipairs(optimizer.param_groups) do
        if self.use_beta1 then
          group.betas = {maxm[i], group.betas[2]}
        else
          group.momentum = maxm[i]
        end
        group.max_momentum = maxm[i]
        group.base_momentum = basem[i]
      end
    end
  end
  LRScheduler.init(self, optimizer, last_epoch)
end

local function anneal(kind, start, stop, pct)
  if kind == "cos" then return stop + (start - stop) / 2.0 * (math.cos(math.pi * pct) + 1) end
  return (stop - start) * pct + start
end

function OneCycleLR:get_lr()
  local step = self.last_epoch
  if step > self.total_steps then
    argcheck.raise("OneCycleLR: tried to step %d times; the schedule has total_steps = %d", step, self.total_steps)
  end
  local lrs = {}
  local phases = self._schedule_phases
  for gi, group in ipairs(self.optimizer.param_groups) do
    local start_step = 0.0
    local lr, mom
    for i, ph in ipairs(phases) do
      if step <= ph.end_step or i == #phases then
        local pct = (step - start_step) / (ph.end_step - start_step)
        lr = anneal(self.anneal_strategy, group[ph.start_lr], group[ph.end_lr], pct)
        if self.cycle_momentum then
          mom = anneal(self.anneal_strategy, group[ph.start_momentum], group[ph.end_momentum], pct)
        end
        break
      end
      start_step = ph.end_step
    end
    lrs[gi] = lr
    if self.cycle_momentum then
      if self.use_beta1 then group.betas = {mom, group.betas[2]} else group.momentum = mom end
    end
  end
  return lrs
end

return {OneCycleLR = OneCycleLR}
