-- luatrain.optim.Adadelta — torch.optim.Adadelta (lr = 1, rho = 0.9,
-- eps = 1e-6, weight decay, maximize). One fused kernel call per parameter
-- group (lt._optim.adadelta).
--
-- State per parameter, created on its first step with a gradient: step (a
-- number), square_avg and acc_delta (zeros shaped like the parameter).
local lt = require "luatrain.core"
local util = require "luatrain.optim.util"
local Optimizer = require "luatrain.optim.optimizer"

local Adadelta = Optimizer:extend("Adadelta", {lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0, maximize = false})

function Adadelta:check_group(g, fail)
  Optimizer.check_number(fail, "lr", g.lr, 0)
  Optimizer.check_number(fail, "rho", g.rho, 0, 1)
  Optimizer.check_number(fail, "eps", g.eps, 0)
  Optimizer.check_number(fail, "weight_decay", g.weight_decay, 0)
end

function Adadelta:state_keys() return {"step", "square_avg", "acc_delta"} end

function Adadelta:step_group(g, gi)
  local params, grads, sq, acc, idx = {}, {}, {}, {}, {}
  local snaps = {}
  local n = 0
  for j, p in ipairs(g.params) do
    local grad = util.get_grad(p)
    if grad ~= nil then
      local snap = self:_snapshot(p)
      local st = self:param_state(p)
      if st.step == nil then
        st.step = 0
        st.square_avg = lt.zeros_like(p)
        st.acc_delta = lt.zeros_like(p)
      end
      st.step = st.step + 1
      n = n + 1
      snaps[n] = snap
      params[n], grads[n], idx[n] = p, grad, j
      sq[n], acc[n] = st.square_avg, st.acc_delta
    end
  end
  if n == 0 then return end
  self:_run_kernel(gi, idx, params, snaps, lt._optim.adadelta, params, grads, sq, acc, {
    lr = g.lr, rho = g.rho, eps = g.eps, weight_decay = g.weight_decay, maximize = g.maximize,
  })
end

return Adadelta
