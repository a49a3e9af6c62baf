-- warmup_scheduler.lua — the reference recipe's WarmUpLR, written as a user would write
-- a learning-rate scheduler in Lua: subclass lt.optim.lr_scheduler.LRScheduler,
-- set your fields in init, call the base init, and return one rate per
-- parameter group from get_lr.
--
-- Step it once per iteration during the first epoch: at iteration i the rate
-- is base_lr * i / (total_iters + 1e-8), a linear ramp from 0 to (almost)
-- base_lr, as the reference recipe's PyTorch WarmUpLR.
--
--   local WarmUpLR = dofile("scripts/examples/warmup_scheduler.lua")
--   local warmup = WarmUpLR(opt, #loader)   -- lr is now 0
--   for i, x, y in loader:iter() do
--     ... forward, backward, opt:step() ...
--     if epoch == 1 then warmup:step() end
--   end
--
-- Run it directly (luatrain scripts/examples/warmup_scheduler.lua) to print
-- the first rates of a short ramp.
local lt = require "luatrain"
local LRScheduler = lt.optim.lr_scheduler.LRScheduler

local WarmUpLR = LRScheduler:extend("WarmUpLR")

-- WarmUpLR(optimizer, total_iters[, last_epoch]) as the reference recipe's, or
-- WarmUpLR(optimizer, {total_iters = n, last_epoch = -1}).
function WarmUpLR:init(optimizer, total_iters, last_epoch)
  if type(total_iters) == "table" then
    for k in pairs(total_iters) do
      if k ~= "total_iters" and k ~= "last_epoch" then
        error(string.format("bad argument #2 to 'WarmUpLR' (unknown option '%s' (valid: last_epoch, total_iters))",
                            tostring(k)), 3)
      end
    end
    total_iters, last_epoch = total_iters.total_iters, total_iters.last_epoch
  end
  if math.type(total_iters) ~= "integer" or total_iters < 1 then
    error(string.format("bad argument #2 to 'WarmUpLR' (total_iters must be an integer >= 1, got %s)",
                        tostring(total_iters)), 3)
  end
  self.total_iters = total_iters
  LRScheduler.init(self, optimizer, last_epoch)
end

function WarmUpLR:get_lr()
  local lrs = {}
  for i, base_lr in ipairs(self.base_lrs) do
    lrs[i] = base_lr * self.last_epoch / (self.total_iters + 1e-8)
  end
  return lrs
end

-- Run as a script: show the ramp on a throw-away optimizer.
if arg and arg[0] and arg[0]:find("warmup_scheduler%.lua$") then
  local opt = lt.optim.SGD({lt.zeros(1)}, {lr = 0.1})
  local warmup = WarmUpLR(opt, 5)
  for i = 0, 5 do
    print(string.format("iteration %d: lr %.6g", i, warmup:get_last_lr()[1]))
    warmup:step()
  end
end

return WarmUpLR
