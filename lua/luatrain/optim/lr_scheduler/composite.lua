-- luatrain.optim.lr_scheduler.composite — schedulers made of schedulers:
-- SequentialLR (one after another, switching at milestones) and
-- ChainedScheduler (all of them every step), with the state dict that
-- nests theirs. Not here: the base class and the option checks (base.lua).
local argcheck = require "luatrain.argcheck"
local util = require "luatrain.optim.util"
local base = require "luatrain.optim.lr_scheduler.base"

local LRScheduler = base.LRScheduler
local is_optimizer, check_last_epoch, current_lrs = base.is_optimizer, base.check_last_epoch, base.current_lrs
local options, check_milestones = base.options, base.check_milestones

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

return {
  SequentialLR = SequentialLR,
  ChainedScheduler = ChainedScheduler,
}
