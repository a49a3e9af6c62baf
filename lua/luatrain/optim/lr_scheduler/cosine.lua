-- luatrain.optim.lr_scheduler.cosine — the cosine schedules:
-- CosineAnnealingLR (one half cosine from the base rate to eta_min, with
-- PyTorch's chainable form and its closed form) and
-- CosineAnnealingWarmRestarts (the half cosine restarted, its own step).
-- Not here: the base class and the option checks (base.lua), OneCycleLR's
-- cosine annealing (onecycle.lua).
local argcheck = require "luatrain.argcheck"
local base = require "luatrain.optim.lr_scheduler.base"

local LRScheduler = base.LRScheduler
local current_lrs = base.current_lrs
local options, opt_number, opt_int, options_init = base.options, base.opt_number, base.opt_int, base.options_init

-- Every group's rate at point t of a half cosine of length T from its base
-- rate down to eta_min.
local function cosine_lrs(self, t, T)
  local lrs = {}
  for i, b in ipairs(self.base_lrs) do
    lrs[i] = self.eta_min + (b - self.eta_min) * (1 + math.cos(math.pi * t / T)) / 2
  end
  return lrs
end

-- CosineAnnealingLR: half a cosine from the base rate to eta_min over T_max
-- epochs (and back up after, as PyTorch's recursive form does).
local CosineAnnealingLR = LRScheduler:extend("CosineAnnealingLR")
CosineAnnealingLR.init = options_init("CosineAnnealingLR", {{"T_max", "int", nil, 1}, {"eta_min", "number", 0.0}})
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

-- CosineAnnealingWarmRestarts: cosine annealing restarted every T_i epochs,
-- T_i growing by T_mult; step(epoch) takes fractional epochs.
local CosineAnnealingWarmRestarts = LRScheduler:extend("CosineAnnealingWarmRestarts")
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

return {
  CosineAnnealingLR = CosineAnnealingLR,
  CosineAnnealingWarmRestarts = CosineAnnealingWarmRestarts,
}
