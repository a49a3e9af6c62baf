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
--
-- The files of this folder: base.lua (LRScheduler and the checks and rate
-- helpers the schedules share), factor.lua (the schedules that multiply the
-- base rate by a factor of the epoch: StepLR, MultiStepLR, ConstantLR,
-- LinearLR, ExponentialLR, PolynomialLR, LambdaLR), cosine.lua
-- (CosineAnnealingLR, CosineAnnealingWarmRestarts), onecycle.lua
-- (OneCycleLR), composite.lua (SequentialLR, ChainedScheduler). This file
-- only gathers them.
local base = require "luatrain.optim.lr_scheduler.base"

local M = {LRScheduler = base.LRScheduler}
for _, group in ipairs {"factor", "cosine", "onecycle", "composite"} do
  for name, cls in pairs(require("luatrain.optim.lr_scheduler." .. group)) do M[name] = cls end
end
return M
