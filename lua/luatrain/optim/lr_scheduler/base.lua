-- luatrain.optim.lr_scheduler.base — the base class of the learning-rate
-- schedulers, LRScheduler (init, step, get_lr, get_last_lr, state_dict,
-- load_state_dict; lt.optim.lr_scheduler.LRScheduler), and what the
-- schedules built on it share: the checks of the optimizer and of the
-- options their constructors start with, the lists of rates they compute
-- from (current_lrs, base_lrs, scale), and options_init, the constructor of
-- a schedule whose options are numbers only. Not a public API beyond
-- LRScheduler; the schedules are in the other files of this folder
-- (init.lua lists them).
local argcheck = require "luatrain.argcheck"
local util = require "luatrain.optim.util"

-- --- the base class ---------------------------------------------------------------

local LRScheduler = util.class("LRScheduler")

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

-- A list of strictly increasing integer epochs (MultiStepLR's and
-- SequentialLR's milestones), checked and copied.
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

-- The init of a schedule whose options are numbers and nothing else, each
-- kept in the field of its name. `fields` lists them in the order they are
-- checked, as {key, "int", default, min} or {key, "number", default[, lo,
-- hi[, lo_open]]}: a nil default makes the option required; lo and hi are
-- the range a number must lie in (open at lo when lo_open). fname names the
-- schedule in messages.
local function options_init(fname, fields)
  local keys = {}
  for i, f in ipairs(fields) do keys[i] = f[1] end
  return function(self, optimizer, opts)
    local o = options(fname, optimizer, opts, keys)
    for _, f in ipairs(fields) do
      local key, kind, default = f[1], f[2], f[3]
      if kind == "int" then
        self[key] = opt_int(fname, o, key, default, f[4])
      else
        self[key] = opt_number(fname, o, key, default)
        if f[4] ~= nil then opt_range(fname, key, self[key], f[4], f[5], f[6]) end
      end
    end
    LRScheduler.init(self, optimizer, o.last_epoch)
  end
end

return {
  LRScheduler = LRScheduler,
  is_optimizer = is_optimizer,
  check_last_epoch = check_last_epoch,
  current_lrs = current_lrs,
  scale = scale,
  base_lrs = base_lrs,
  options = options,
  opt_number = opt_number,
  opt_int = opt_int,
  opt_range = opt_range,
  check_milestones = check_milestones,
  options_init = options_init,
}
