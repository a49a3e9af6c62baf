-- luatrain.optim.RMSprop — torch.optim.RMSprop (lr = 1e-2, alpha = 0.99,
-- eps = 1e-8, weight decay, momentum, centered, maximize). One fused kernel
-- call per parameter group (lt._optim.rmsprop).
--
-- State per parameter, created on its first step with a gradient: step (a
-- number), square_avg, momentum_buffer (when momentum > 0) and grad_avg
-- (when centered), tensors shaped like the parameter, starting at zero.
local lt = require "luatrain.core"
local util = require "luatrain.optim.util"
local Optimizer = require "luatrain.optim.optimizer"

local RMSprop = Optimizer:extend("RMSprop", {
  lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false, maximize = false,
})

function RMSprop:check_group(g, fail)
  Optimizer.check_number(fail, "lr", g.lr, 0)
  Optimizer.check_number(fail, "eps", g.eps, 0)
  Optimizer.check_number(fail, "momentum", g.momentum, 0)
  Optimizer.check_number(fail, "weight_decay", g.weight_decay, 0)
  Optimizer.check_number(fail, "alpha", g.alpha, 0)
end

function RMSprop:state_keys(g)
  local ks = {"step", "square_avg"}
  if g.momentum > 0 then ks[#ks + 1] = "momentum_buffer" end
  if g.centered then ks[#ks + 1] = "grad_avg" end
  return ks
end

function RMSprop:step_group(g, gi)
  local params, grads, sq, ga, bufs, idx = {}, {}, {}, {}, {}, {}
  local mom = g.momentum > 0
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
      end
      if mom and st.momentum_buffer == nil then st.momentum_buffer = lt.zeros_like(p) end
      if g.centered and st.grad_avg == nil then st.grad_avg = lt.zeros_like(p) end
      st.step = st.step + 1
      n = n + 1
      snaps[n] = snap
      params[n], grads[n], idx[n] = p, grad, j
      sq[n], ga[n], bufs[n] = st.square_avg, st.grad_avg, st.momentum_buffer
    end
  end
  if n == 0 then return end
  self:_run_kernel(gi, idx, params, snaps, lt._optim.rmsprop, params, grads, sq, g.centered and ga or nil, mom and bufs or nil, {
    lr = g.lr, alpha = g.alpha, eps = g.eps, weight_decay = g.weight_decay, momentum = g.momentum,
    centered = g.centered, maximize = g.maximize,
  })
end

return RMSprop
