-- luatrain.optim — optimizers and learning-rate schedulers (lt.optim), with
-- torch.optim's names, defaults and arithmetic:
--
--   local opt = lt.optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4})
--   local opt = lt.optim.AdamW({{params = decay, weight_decay = 0.05},
--                               {params = no_decay, weight_decay = 0}}, {lr = 1e-3})
--   opt:zero_grad(); loss:backward(); opt:step()
--   opt.param_groups[1].lr = 0.01
--   local sched = lt.optim.lr_scheduler.MultiStepLR(opt, {milestones = {80, 120}, gamma = 0.1})
--
-- Optimizer (the base class users subclass) is in optimizer.lua, each
-- algorithm in its own file, the schedulers in lr_scheduler/. The update
-- arithmetic is in C (lt._optim, src/lua/lt_lua_optim.c).
local adam = require "luatrain.optim.adam"

return {
  Optimizer = require "luatrain.optim.optimizer",
  SGD = require "luatrain.optim.sgd",
  Adam = adam.Adam,
  AdamW = adam.AdamW,
  RMSprop = require "luatrain.optim.rmsprop",
  Adadelta = require "luatrain.optim.adadelta",
  Adagrad = require "luatrain.optim.adagrad",
  lr_scheduler = require "luatrain.optim.lr_scheduler",
}
