-- luatrain.optim.Adagrad — torch.optim.Adagrad (lr = 1e-2, lr_decay,
-- weight decay, initial_accumulator_value, eps = 1e-10, maximize). One fused
-- kernel call per parameter group (lt._optim.adagrad).
--
-- State per parameter: step (a number) and sum (shaped like the parameter,
-- filled with initial_accumulator_value). As in PyTorch it is created when
-- the parameter joins the optimizer, so a state dict taken before the first
-- step already holds it.
local lt = require "luatrain.core"
local util = require "luatrain.optim.util"
local Optimizer = require "luatrain.optim.optimizer"

local Adagrad = Optimizer:extend("Adagrad", {
  lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10, maximize = false,
})

function Adagrad:check_group(g, fail)
  Optimizer.check_number(fail, "lr", g.lr, 0)
  Optimizer.check_number(fail, "lr_decay", g.lr_decay, 0)
  Optimizer.check_number(fail, "weight_decay", g.weight_decay, 0)
  Optimizer.check_number(fail, "initial_accumulator_value", g.initial_accumulator_value, 0)
  Optimizer.check_number(fail, "eps", g.eps, 0)
end

function Adagrad:state_keys() return {"step", "sum"} end

function Adagrad:_add_group(group, fname, argn, label)
  local g = Optimizer._add_group(self, group, fname, argn, label)
  for _, p in ipairs(g.params) do
    local st = self:param_state(p)
    st.step = 0
    st.sum = lt.full_like(p, g.initial_accumulator_value)
  end
  return g
end

function Adagrad:step_group(g, gi)
  local params, grads, sums, steps, idx = {}, {}, {}, {}, {}
  local snaps = {}
  local n = 0
  for j, p in ipairs(g.params) do
    local grad = util.get_grad(p)
    if grad ~= nil then
      local snap = self:_snapshot(p)
      local st = self:param_state(p)
      if st.sum == nil then -- state dropped by hand, or loaded without it
        st.step = 0
        st.sum = lt.full_like(p, g.initial_accumulator_value)
      end
      st.step = st.step + 1
      n = n + 1
      snaps[n] = snap
      params[n], grads[n], sums[n], steps[n], idx[n] = p, grad, st.sum, st.step, j
    end
  end
  if n == 0 then return end
  self:_run_kernel(gi, idx, params, snaps, lt._optim.adagrad, params, grads, sums, steps, {
    lr = g.lr, lr_decay = g.lr_decay, weight_decay = g.weight_decay, eps = g.eps, maximize = g.maximize,
  })
end

return Adagrad
