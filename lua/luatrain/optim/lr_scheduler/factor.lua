-- luatrain.optim.lr_scheduler.factor — the schedules whose rate is the
-- base rate times a factor of the epoch: StepLR, MultiStepLR, ConstantLR,
-- LinearLR, ExponentialLR, PolynomialLR (each with PyTorch's chainable form
-- in get_lr and its closed form for step(epoch)) and LambdaLR (the factor a
-- user's function). Not here: the base class and the option checks
-- (base.lua), the cosine schedules, OneCycleLR and the combinations (the
-- other files of this folder).
local argcheck = require "luatrain.argcheck"
local base = require "luatrain.optim.lr_scheduler.base"

local LRScheduler = base.LRScheduler
local current_lrs, base_lrs, scale = base.current_lrs, base.base_lrs, base.scale
local options, opt_number, options_init = base.options, base.opt_number, base.options_init
local check_milestones = base.check_milestones

-- StepLR: lr * gamma every step_size epochs.
local StepLR = LRScheduler:extend("StepLR")
StepLR.init = options_init("StepLR", {{"step_size", "int", nil, 1}, {"gamma", "number", 0.1}})
function StepLR:get_lr()
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return current_lrs(self) end
  return scale(current_lrs(self), self.gamma)
end
function StepLR:closed_form_lr()
  return scale(base_lrs(self), self.gamma ^ (self.last_epoch // self.step_size))
end

-- MultiStepLR: lr * gamma at each milestone (strictly increasing epochs).
local MultiStepLR = LRScheduler:extend("MultiStepLR")
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
ConstantLR.init = options_init("ConstantLR", {{"factor", "number", 1.0 / 3, 0, 1}, {"total_iters", "int", 5, 0}})
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
LinearLR.init = options_init("LinearLR", {
  {"start_factor", "number", 1.0 / 3, 0, 1, true},
  {"end_factor", "number", 1.0, 0, 1},
  {"total_iters", "int", 5, 1},
})
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
ExponentialLR.init = options_init("ExponentialLR", {{"gamma", "number"}})
function ExponentialLR:get_lr()
  local lrs = current_lrs(self)
  if self.last_epoch ~= 0 then scale(lrs, self.gamma) end
  return lrs
end
function ExponentialLR:closed_form_lr()
  return scale(base_lrs(self), self.gamma ^ self.last_epoch)
end

-- PolynomialLR: lr * (1 - epoch/total_iters)^power, then constant.
local PolynomialLR = LRScheduler:extend("PolynomialLR")
PolynomialLR.init = options_init("PolynomialLR", {{"total_iters", "int", 5, 1}, {"power", "number", 1.0}})
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

return {
  StepLR = StepLR,
  MultiStepLR = MultiStepLR,
  ConstantLR = ConstantLR,
  LinearLR = LinearLR,
  ExponentialLR = ExponentialLR,
  PolynomialLR = PolynomialLR,
  LambdaLR = LambdaLR,
}
