-- luatrain.optim.lr_scheduler — learning-rate schedules (lt.optim.lr_scheduler)
-- with torch.optim.lr_scheduler's semantics: each step() moves last_epoch on
-- by one and writes the new rate into every parameter group's `lr`, using
-- PyTorch's chainable formulas (the new rate from the group's current one,
-- so schedulers can be chained) and, for step(epoch), its closed forms.
-- Not here: the optimizers (they only read group.lr) and ReduceLROnPlateau.
--
--   local S = lt.optim.lr_scheduler
--   local sched = S.MultiStepLR(opt, {milestones = {80, 120}, gamma = 0.1})
--   for epoch = 1, 160 do train_one_epoch(); sched:step() end
--   sched:get_last_lr()          -- {lr of group 1, ...}
--   lt.save("ckpt.safetensors", {sched = sched:state_dict(), ...})
--
-- Constructors take the optimizer and an options table with PyTorch's
-- argument names (unknown names are an error); all accept last_epoch
-- (default -1: a new schedule; otherwise the groups must already hold
-- `initial_lr`, e.g. from a loaded optimizer state dict).
--
-- Writing a scheduler in Lua (scripts/examples/warmup_scheduler.lua is one):
--
--   local LRScheduler = lt.optim.lr_scheduler.LRScheduler
--   local Halving = LRScheduler:extend("Halving")
--   function Halving:init(optimizer, opts)        -- set fields, then the base
--     self.every = opts.every
--     LRScheduler.init(self, optimizer, opts.last_epoch)
--   end
--   function Halving:get_lr()                     -- one rate per group for
--     local lrs = {}                              -- epoch self.last_epoch
--     for i, base_lr in ipairs(self.base_lrs) do
--       lrs[i] = base_lr * 0.5 ^ (self.last_epoch // self.every)
--     end
--     return lrs
--   end
--   local sched = Halving(opt, {every = 10})
--
-- LRScheduler.init records base_lrs (each group's initial_lr) and makes the
-- first step (last_epoch becomes 0). state_dict() holds every field but the
-- optimizer (and functions), so a subclass's own fields are saved too.
local argcheck = require "luatrain.argcheck"
local util = require "luatrain.optim.util"

local M = {}

-- --- the base class ---------------------------------------------------------------

local LRScheduler = util.class("LRScheduler")
M.LRScheduler = LRScheduler

function LRScheduler:extend(name)
  if type(name) ~= "string" then argcheck.argerror("extend", 1, "expected a class name (string), got %s", argcheck.typename(name)) end
  return util.class(name, self)
end

function LRScheduler.new(cls, ...)
  if cls == LRScheduler then
    argcheck.raise("LRScheduler is a base class: make a scheduler with LRScheduler:extend(name) and define get_lr")
  end
  local self = setmetatable({}, cls)
  self:init(...)
  return self
end

local function is_optimizer(o)
  return type(o) == "table" and type(o.param_groups) == "table" and #o.param_groups > 0
end

local function check_optimizer(fname, o)
  if not is_optimizer(o) then
    argcheck.argerror(fname, 1, "expected an optimizer (a table with param_groups), got %s", argcheck.typename(o))
  end
end

local function is_integer(v) return math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v) and v == v) end

-- last_epoch as an integer: -1 (the default) starts a new schedule.
local function check_last_epoch(fname, last_epoch)
  if last_epoch == nil then last_epoch = -1 end
  if not is_integer(last_epoch) or last_epoch < -1 then
    argcheck.argerror(fname, 2, "last_epoch must be an integer >= -1, got %s", argcheck.num(last_epoch))
  end
  return math.tointeger(last_epoch)
end

function LRScheduler:init(optimizer, last_epoch)
  local fname = self.__name
  check_optimizer(fname, optimizer)
  last_epoch = check_last_epoch(fname, last_epoch)
  for i, group in ipairs(optimizer.param_groups) do
    if last_epoch == -1 then
      if group.initial_lr == nil then group.initial_lr = group.lr end
    elseif group.initial_lr == nil then
      argcheck.argerror(fname, 2, "last_epoch = %d resumes a schedule, but param_groups[%d] has no 'initial_lr' "
                    .. "(load the optimizer's state dict first, or start with last_epoch = -1)", last_epoch, i)
    end
  end
  self.optimizer = optimizer
  self.base_lrs = {}
  for i, group in ipairs(optimizer.param_groups) do self.base_lrs[i] = group.initial_lr end
  self.last_epoch = last_epoch
  self:_initial_step()
end

function LRScheduler:_initial_step()
  self._step_count = 0
  self:step()
end

-- The rates of the last step, one per parameter group (a copy).
function LRScheduler:get_last_lr() return util.copy(self._last_lr) end

function LRScheduler:get_lr()
  argcheck.raise("%s does not define get_lr(): a scheduler subclass must return one learning rate per parameter group",
             self.__name)
end

local function current_lrs(self)
  local lrs = {}
  for i, group in ipairs(self.optimizer.param_groups) do lrs[i] = group.lr end
  return lrs
end

-- lrs[i] * f for every i, in place; returns lrs. For the schedules that
-- multiply every group's rate by one factor: scale(current_lrs(self), f) in
-- the chainable form, scale(base_lrs(self), f) in the closed form.
local function scale(lrs, f)
  for i, lr in ipairs(lrs) do lrs[i] = lr * f end
  return lrs
end

local function base_lrs(self) return util.copy(self.base_lrs) end

-- Every group's rate at point t of a half cosine of length T from its base
-- rate down to eta_min.
local function cosine_lrs(self, t, T)
  local lrs = {}
  for i, b in ipairs(self.base_lrs) do
    lrs[i] = self.eta_min + (b - self.eta_min) * (1 + math.cos(math.pi * t / T)) / 2
  end
  return lrs
end

-- step(): the next epoch; step(epoch): jump to `epoch` (PyTorch's deprecated
-- form), using the closed form when the class has one.
function LRScheduler:step(epoch)
  self._step_count = self._step_count + 1
  local values
  if epoch == nil then
    self.last_epoch = self.last_epoch + 1
    values = self:get_lr()
  else
    if type(epoch) ~= "number" then argcheck.argerror("step", 1, "expected an epoch number or nil, got %s", argcheck.typename(epoch)) end
    self.last_epoch = epoch
    values = self.closed_form_lr and self:closed_form_lr() or self:get_lr()
  end
  local groups = self.optimizer.param_groups
  if type(values) ~= "table" or #values ~= #groups then
    argcheck.raise("%s:get_lr() returned %s, expected a list of %d learning rates (one per parameter group)", self.__name,
               type(values) == "table" and (#values .. " values") or argcheck.typename(values), #groups)
  end
  for i, group in ipairs(groups) do
    if type(values[i]) ~= "number" then
      argcheck.raise("%s:get_lr() returned a %s for group %d, expected a number", self.__name, argcheck.typename(values[i]), i)
    end
    group.lr = values[i]
  end
  self._last_lr = current_lrs(self)
end

-- Fields not saved by state_dict (besides functions, which never are).
LRScheduler._not_saved = {optimizer = true}

function LRScheduler:state_dict()
  local sd = {}
  for k, v in pairs(self) do
    if not self._not_saved[k] and type(v) ~= "function" then sd[k] = util.copy(v) end
  end
  return sd
end

function LRScheduler:load_state_dict(sd)
  local F = "load_state_dict"
  if type(sd) ~= "table" or argcheck.is_tensor(sd) then
    argcheck.argerror(F, 1, "expected a scheduler state dict (a table), got %s", argcheck.typename(sd))
  end
  local own = self:state_dict()
  for k in pairs(own) do
    if sd[k] == nil then
      argcheck.argerror(F, 1, "the state dict lacks '%s' (is it the state of another scheduler than %s?)", tostring(k), self.__name)
    end
  end
  for k in pairs(sd) do
    if own[k] == nil then
      argcheck.argerror(F, 1, "unexpected key '%s' in the state dict (is it the state of another scheduler than %s?)",
                    tostring(k), self.__name)
    end
  end
  for k, v in pairs(sd) do self[k] = util.copy(v) end
end

function LRScheduler:__tostring()
  return string.format("%s(last_epoch=%s, lr=%s)", self.__name, argcheck.num(self.last_epoch),
                       table.concat(util.copy(self._last_lr or {}), ", "))
end

-- --- option helpers -------------------------------------------------------------------

-- The checks every constructor starts with: argument 1 is an optimizer,
-- argument 2 an options table holding only last_epoch and the names in
-- `allowed`. Returns the options.
local function options(fname, optimizer, opts, allowed)
  check_optimizer(fname, optimizer)
  local set = {last_epoch = true}
  for _, k in ipairs(allowed) do set[k] = true end
  return argcheck.check_opts(opts, 2, fname, set)
end

local function opt_number(fname, o, key, default)
  local v = o[key]
  if v == nil then
    if default == nil then argcheck.argerror(fname, 2, "missing required option '%s'", key) end
    return default
  end
  if type(v) ~= "number" or v ~= v then argcheck.argerror(fname, 2, "option '%s' must be a number, got %s", key, argcheck.num(v)) end
  return v
end

local function opt_int(fname, o, key, default, lo)
  local v = o[key]
  if v == nil then
    if default == nil then argcheck.argerror(fname, 2, "missing required option '%s'", key) end
    v = default
  end
  if not is_integer(v) or v < lo then
    argcheck.argerror(fname, 2, "option '%s' must be an integer >= %d, got %s", key, lo, argcheck.num(v))
  end
  return math.tointeger(v)
end

local function opt_range(fname, key, v, lo, hi, lo_open)
  if v < lo or v > hi or (lo_open and v == lo) then
    argcheck.argerror(fname, 2, "option '%s' must be in %s%s, %s], got %s", key, lo_open and "(" or "[", argcheck.num(lo),
                  argcheck.num(hi), argcheck.num(v))
  end
end

-- --- schedules ------------------------------------------------------------------------

-- StepLR: lr * gamma every step_size epochs.
local StepLR = LRScheduler:extend("StepLR")
M.StepLR = StepLR
function StepLR:init(optimizer, opts)
  local F = "StepLR"
  local o = options(F, optimizer, opts, {"step_size", "gamma"})
  self.step_size = opt_int(F, o, "step_size", nil, 1)
  self.gamma = opt_number(F, o, "gamma", 0.1)
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function StepLR:get_lr()
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return current_lrs(self) end
  return scale(current_lrs(self), self.gamma)
end
function StepLR:closed_form_lr()
  return scale(base_lrs(self), self.gamma ^ (self.last_epoch // self.step_size))
end

-- MultiStepLR: lr * gamma at each milestone (strictly increasing epochs).
local MultiStepLR = LRScheduler:extend("MultiStepLR")
M.MultiStepLR = MultiStepLR

local function check_milestones(F, ms, what)
  if type(ms) ~= "table" or argcheck.is_tensor(ms) then
    argcheck.argerror(F, 2, "option '%s' must be a list of integers, got %s", what, argcheck.typename(ms))
  end
  local out = {}
  for i = 1, #ms do
    local m = ms[i]
    if not is_integer(m) then argcheck.argerror(F, 2, "%s[%d] must be an integer, got %s", what, i, argcheck.num(m)) end
    if i > 1 and m <= ms[i - 1] then
      argcheck.argerror(F, 2, "%s must be increasing, but %s[%d] = %s follows %s", what, what, i, argcheck.num(m), argcheck.num(ms[i - 1]))
    end
    out[i] = math.tointeger(m)
  end
  return out
end

function MultiStepLR:init(optimizer, opts)
  local F = "MultiStepLR"
  local o = options(F, optimizer, opts, {"milestones", "gamma"})
  if o.milestones == nil then argcheck.argerror(F, 2, "missing required option 'milestones'") end
  self.milestones = check_milestones(F, o.milestones, "milestones")
  self.gamma = opt_number(F, o, "gamma", 0.1)
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function MultiStepLR:get_lr()
  local lrs = current_lrs(self)
  for _, m in ipairs(self.milestones) do
    if m == self.last_epoch then scale(lrs, self.gamma) end
  end
  return lrs
end
function MultiStepLR:closed_form_lr()
  local passed = 0
  for _, m in ipairs(self.milestones) do if m <= self.last_epoch then passed = passed + 1 end end
  return scale(base_lrs(self), self.gamma ^ passed)
end

-- ConstantLR: lr * factor until total_iters, then lr.
local ConstantLR = LRScheduler:extend("ConstantLR")
M.ConstantLR = ConstantLR
function ConstantLR:init(optimizer, opts)
  local F = "ConstantLR"
  local o = options(F, optimizer, opts, {"factor", "total_iters"})
  self.factor = opt_number(F, o, "factor", 1.0 / 3)
  opt_range(F, "factor", self.factor, 0, 1)
  self.total_iters = opt_int(F, o, "total_iters", 5, 0)
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function ConstantLR:get_lr()
  local lrs = current_lrs(self)
  if self.last_epoch == 0 then
    scale(lrs, self.factor)
  elseif self.last_epoch == self.total_iters then
    scale(lrs, 1.0 / self.factor)
  end
  return lrs
end
function ConstantLR:closed_form_lr()
  local f = self.factor + (self.last_epoch >= self.total_iters and (1 - self.factor) or 0)
  return scale(base_lrs(self), f)
end

-- LinearLR: the factor goes linearly from start_factor to end_factor over
-- total_iters epochs (a warm-up when start_factor < 1).
local LinearLR = LRScheduler:extend("LinearLR")
M.LinearLR = LinearLR
function LinearLR:init(optimizer, opts)
  local F = "LinearLR"
  local o = options(F, optimizer, opts, {"start_factor", "end_factor", "total_iters"})
  self.start_factor = opt_number(F, o, "start_factor", 1.0 / 3)
  opt_range(F, "start_factor", self.start_factor, 0, 1, true)
  self.end_factor = opt_number(F, o, "end_factor", 1.0)
  opt_range(F, "end_factor", self.end_factor, 0, 1)
  self.total_iters = opt_int(F, o, "total_iters", 5, 1)
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function LinearLR:get_lr()
  local lrs = current_lrs(self)
  local e, s, t = self.last_epoch, self.start_factor, self.total_iters
  if e == 0 then
    scale(lrs, s)
  elseif e <= t then
    local d = self.end_factor - s
    scale(lrs, 1.0 + d / (t * s + (e - 1) * d))
  end
  return lrs
end
function LinearLR:closed_form_lr()
  local f = self.start_factor + (self.end_factor - self.start_factor) * math.min(self.total_iters, self.last_epoch)
            / self.total_iters
  return scale(base_lrs(self), f)
end

-- ExponentialLR: lr * gamma every epoch.
local ExponentialLR = LRScheduler:extend("ExponentialLR")
M.ExponentialLR = ExponentialLR
function ExponentialLR:init(optimizer, opts)
  local F = "ExponentialLR"
  local o = options(F, optimizer, opts, {"gamma"})
  self.gamma = opt_number(F, o, "gamma")
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function ExponentialLR:get_lr()
  local lrs = current_lrs(self)
  if self.last_epoch ~= 0 then scale(lrs, self.gamma) end
  return lrs
end
function ExponentialLR:closed_form_lr()
  return scale(base_lrs(self), self.gamma ^ self.last_epoch)
end

-- CosineAnnealingLR: half a cosine from the base rate to eta_min over T_max
-- epochs (and back up after, as PyTorch's recursive form does).
local CosineAnnealingLR = LRScheduler:extend("CosineAnnealingLR")
M.CosineAnnealingLR = CosineAnnealingLR
function CosineAnnealingLR:init(optimizer, opts)
  local F = "CosineAnnealingLR"
  local o = options(F, optimizer, opts, {"T_max", "eta_min"})
  self.T_max = opt_int(F, o, "T_max", nil, 1)
  self.eta_min = opt_number(F, o, "eta_min", 0.0)
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function CosineAnnealingLR:get_lr()
  local e, T, eta = self.last_epoch, self.T_max, self.eta_min
  local lrs = current_lrs(self)
  if e == 0 then return lrs end
  if self._step_count == 1 and e > 0 then
    for i, b in ipairs(self.base_lrs) do lrs[i] = eta + (b - eta) * (1 + math.cos(e * math.pi / T)) / 2 end
  elseif (e - 1 - T) % (2 * T) == 0 then
    for i, b in ipairs(self.base_lrs) do lrs[i] = lrs[i] + (b - eta) * (1 - math.cos(math.pi / T)) / 2 end
  else
    for i, lr in ipairs(lrs) do
      lrs[i] = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - eta) + eta
    end
  end
  return lrs
end
function CosineAnnealingLR:closed_form_lr() return cosine_lrs(self, self.last_epoch, self.T_max) end

-- PolynomialLR: lr * (1 - epoch/total_iters)^power, then constant.
local PolynomialLR = LRScheduler:extend("PolynomialLR")
M.PolynomialLR = PolynomialLR
function PolynomialLR:init(optimizer, opts)
  local F = "PolynomialLR"
  local o = options(F, optimizer, opts, {"total_iters", "power"})
  self.total_iters = opt_int(F, o, "total_iters", 5, 1)
  self.power = opt_number(F, o, "power", 1.0)
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function PolynomialLR:get_lr()
  local e, t = self.last_epoch, self.total_iters
  local lrs = current_lrs(self)
  if e == 0 or e > t then return lrs end
  return scale(lrs, ((1.0 - e / t) / (1.0 - (e - 1) / t)) ^ self.power)
end
function PolynomialLR:closed_form_lr()
  return scale(base_lrs(self), (1.0 - math.min(self.total_iters, self.last_epoch) / self.total_iters) ^ self.power)
end

-- LambdaLR: base_lr * lr_lambda(epoch); lr_lambda a function or one per group.
local LambdaLR = LRScheduler:extend("LambdaLR")
M.LambdaLR = LambdaLR
LambdaLR._not_saved = {optimizer = true, lr_lambdas = true}
function LambdaLR:init(optimizer, opts)
  local F = "LambdaLR"
  if type(opts) == "function" then opts = {lr_lambda = opts} end
  local o = options(F, optimizer, opts, {"lr_lambda"})
  local f = o.lr_lambda
  local n = #optimizer.param_groups
  self.lr_lambdas = {}
  if type(f) == "function" then
    for i = 1, n do self.lr_lambdas[i] = f end
  elseif type(f) == "table" then
    if #f ~= n then argcheck.argerror(F, 2, "expected %d lr_lambda functions (one per parameter group), got %d", n, #f) end
    for i = 1, n do
      if type(f[i]) ~= "function" then argcheck.argerror(F, 2, "lr_lambda[%d] is a %s, expected a function", i, argcheck.typename(f[i])) end
      self.lr_lambdas[i] = f[i]
    end
  else
    argcheck.argerror(F, 2, "option 'lr_lambda' must be a function of the epoch (or a list of them), got %s", argcheck.typename(f))
  end
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function LambdaLR:get_lr()
  local lrs = {}
  for i, b in ipairs(self.base_lrs) do
    local f = self.lr_lambdas[i](self.last_epoch)
    if type(f) ~= "number" then
      argcheck.raise("LambdaLR: lr_lambda[%d](%s) returned a %s, expected a number", i, argcheck.num(self.last_epoch), argcheck.typename(f))
    end
    lrs[i] = b * f
  end
  return lrs
end

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
M.OneCycleLR = OneCycleLR
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

-- CosineAnnealingWarmRestarts: cosine annealing restarted every T_i epochs,
-- T_i growing by T_mult; step(epoch) takes fractional epochs.
local CosineAnnealingWarmRestarts = LRScheduler:extend("CosineAnnealingWarmRestarts")
M.CosineAnnealingWarmRestarts = CosineAnnealingWarmRestarts
function CosineAnnealingWarmRestarts:init(optimizer, opts)
  local F = "CosineAnnealingWarmRestarts"
  local o = options(F, optimizer, opts, {"T_0", "T_mult", "eta_min"})
  self.T_0 = opt_int(F, o, "T_0", nil, 1)
  self.T_i = self.T_0
  self.T_mult = opt_int(F, o, "T_mult", 1, 1)
  self.eta_min = opt_number(F, o, "eta_min", 0.0)
  self.T_cur = o.last_epoch or -1
  LRScheduler.init(self, optimizer, o.last_epoch)
end
function CosineAnnealingWarmRestarts:get_lr() return cosine_lrs(self, self.T_cur, self.T_i) end
function CosineAnnealingWarmRestarts:step(epoch)
  if epoch == nil and self.last_epoch < 0 then epoch = 0 end
  if epoch == nil then
    epoch = self.last_epoch + 1
    self.T_cur = self.T_cur + 1
    if self.T_cur >= self.T_i then
      self.T_cur = self.T_cur - self.T_i
      self.T_i = self.T_i * self.T_mult
    end
  else
    if type(epoch) ~= "number" or epoch ~= epoch then
      argcheck.argerror("step", 1, "expected an epoch number or nil, got %s", argcheck.num(epoch))
    end
    if epoch < 0 then argcheck.argerror("step", 1, "expected a non-negative epoch, got %s", argcheck.num(epoch)) end
    if epoch >= self.T_0 then
      if self.T_mult == 1 then
        self.T_cur = epoch % self.T_0
      else
        local n = math.floor(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        self.T_cur = epoch - self.T_0 * (self.T_mult ^ n - 1) / (self.T_mult - 1)
        self.T_i = self.T_0 * self.T_mult ^ n
      end
    else
      self.T_i = self.T_0
      self.T_cur = epoch
    end
  end
  self._step_count = (self._step_count or 0) + 1
  self.last_epoch = math.floor(epoch)
  local lrs = self:get_lr()
  for i, group in ipairs(self.optimizer.param_groups) do group.lr = lrs[i] end
  self._last_lr = current_lrs(self)
end

-- --- combinations ---------------------------------------------------------------------

local function check_schedulers(F, list, optimizer, argn)
  if type(list) ~= "table" or argcheck.is_tensor(list) or getmetatable(list) ~= nil then
    argcheck.argerror(F, argn, "expected a list of schedulers, got %s", argcheck.typename(list))
  end
  if #list < 1 then argcheck.argerror(F, argn, "expects at least one scheduler, got none") end
  for i, s in ipairs(list) do
    if type(s) ~= "table" or type(s.step) ~= "function" or s.optimizer == nil then
      argcheck.argerror(F, argn, "schedulers[%d] is a %s, expected a learning-rate scheduler", i, argcheck.typename(s))
    end
    if s.optimizer ~= optimizer then
      argcheck.argerror(F, argn, "schedulers[%d] (%s) belongs to another optimizer; all schedulers must share one", i,
                    s.__name or "?")
    end
  end
end

-- Moves last_epoch of every (nested) scheduler back by one.
local function recursive_undo(s)
  if s._schedulers then
    for _, c in ipairs(s._schedulers) do recursive_undo(c) end
  elseif s.last_epoch ~= nil then
    s.last_epoch = s.last_epoch - 1
  end
end

local function composite_state_dict(self)
  local sd = {}
  for k, v in pairs(self) do
    if k ~= "optimizer" and k ~= "_schedulers" and type(v) ~= "function" then sd[k] = util.copy(v) end
  end
  sd._schedulers = {}
  for i, s in ipairs(self._schedulers) do sd._schedulers[i] = s:state_dict() end
  return sd
end

local function composite_load_state_dict(self, sd)
  local F = "load_state_dict"
  if type(sd) ~= "table" or type(sd._schedulers) ~= "table" then
    argcheck.argerror(F, 1, "expected a state dict of a %s (with '_schedulers'), got %s", self.__name, argcheck.typename(sd))
  end
  if #sd._schedulers ~= #self._schedulers then
    argcheck.argerror(F, 1, "the state dict holds %d schedulers, this %s has %d", #sd._schedulers, self.__name,
                  #self._schedulers)
  end
  for i, s in ipairs(self._schedulers) do s:load_state_dict(sd._schedulers[i]) end
  for k, v in pairs(sd) do
    if k ~= "_schedulers" then self[k] = util.copy(v) end
  end
end

-- SequentialLR: schedulers[1] until milestones[1], then schedulers[2], ...
local SequentialLR = LRScheduler:extend("SequentialLR")
M.SequentialLR = SequentialLR
function SequentialLR:init(optimizer, opts)
  local F = "SequentialLR"
  local o = options(F, optimizer, opts, {"schedulers", "milestones"})
  check_schedulers(F, o.schedulers, optimizer, 2)
  local ms = check_milestones(F, o.milestones or {}, "milestones")
  if #ms ~= #o.schedulers - 1 then
    argcheck.argerror(F, 2, "expected %d milestones (one fewer than the %d schedulers), got %d", #o.schedulers - 1,
                  #o.schedulers, #ms)
  end
  local last_epoch = check_last_epoch(F, o.last_epoch or -1)
  self._schedulers = {}
  for i, s in ipairs(o.schedulers) do self._schedulers[i] = s end
  self._milestones = ms
  self.last_epoch = last_epoch + 1
  self.optimizer = optimizer
  for _, group in ipairs(optimizer.param_groups) do group.lr = group.initial_lr end
  recursive_undo(self)
  self._schedulers[1]:_initial_step()
  self._last_lr = self._schedulers[1]:get_last_lr()
end
function SequentialLR:step()
  self.last_epoch = self.last_epoch + 1
  local idx = 0
  for _, m in ipairs(self._milestones) do if m <= self.last_epoch then idx = idx + 1 end end
  local s = self._schedulers[idx + 1]
  if idx > 0 and self._milestones[idx] == self.last_epoch then s:step(0) else s:step() end
  self._last_lr = s:get_last_lr()
end
SequentialLR.state_dict = composite_state_dict
SequentialLR.load_state_dict = composite_load_state_dict

-- ChainedScheduler(schedulers[, optimizer]): steps every scheduler each step.
local ChainedScheduler = LRScheduler:extend("ChainedScheduler")
M.ChainedScheduler = ChainedScheduler
function ChainedScheduler:init(schedulers, optimizer)
  local F = "ChainedScheduler"
  if optimizer == nil and type(schedulers) == "table" and type(schedulers[1]) == "table" then
    optimizer = schedulers[1].optimizer
  end
  if optimizer ~= nil and not is_optimizer(optimizer) then
    argcheck.argerror(F, 2, "expected an optimizer (a table with param_groups), got %s", argcheck.typename(optimizer))
  end
  check_schedulers(F, schedulers, optimizer, 1)
  self._schedulers = {}
  for i, s in ipairs(schedulers) do self._schedulers[i] = s end
  self.optimizer = optimizer
  self._last_lr = current_lrs(self)
end
function ChainedScheduler:step()
  for _, s in ipairs(self._schedulers) do s:step() end
  self._last_lr = current_lrs(self)
end
ChainedScheduler.state_dict = composite_state_dict
ChainedScheduler.load_state_dict = composite_load_state_dict

return M
