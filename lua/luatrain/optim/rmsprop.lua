-- luatrain.optim.RMSprop — torch.optim.RMSprop (lr = 1e-2, alpha = 0.99,
-- eps = 1e-8, weight decay, momentum, centered, maximize). One fused kernel
-- call per parameter group (lt._optim.rmsprop).
--
-- State per parameter, created on its first step with a gradient: step (a
-- number), square_avg, momentum_buffer (when momentum > 0) and grad_avg
-- (when centered), tensors shaped like the parameter, starting at zero.
local lt = require "luatrain.core"
local Optimizer = require "luatrain.optim.optimizer"

local RMSprop = Optimizer:extend("RMSprop", {
  lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false, maximize = false,
})

function RMSprop:check_group(g, fail)
  Optimizer.check_nonnegative(fail, g, "lr", "eps", "momentum", "weight_decay", "alpha")
end

function RMSprop:state_keys(g)
  local ks = {"step", "square_avg"}
  if g.momentum > 0 then ks[#ks + 1] = "momentum_buffer" end
  if g.centered then ks[#ks + 1] = "grad_avg" end
  return ks
end

local function hyper(_, g)
  return {lr = g.lr, alpha = g.alpha, eps = g.eps, weight_decay = g.weight_decay, momentum = g.momentum,
          centered = g.centered, maximize = g.maximize}
end

function RMSprop:step_group(g, gi)
  local sq, ga, bufs = {}, {}, {}
  local mom = g.momentum > 0
  local function prepare(p, n)
    local st = self:_counted_state(p, "square_avg")
    if (mom and st.momentum_buffer == nil) or (g.centered and st.grad_avg == nil) then
      if self._capture then self:_refuse_capture("a parameter of group %d lacks its momentum_buffer or grad_avg", gi) end
      if mom and st.momentum_buffer == nil then st.momentum_buffer = self.zeros_like(p) end
      if g.centered and st.grad_avg == nil then st.grad_avg = self.zeros_like(p) end
    end
    sq[n], ga[n], bufs[n] = st.square_avg, st.grad_avg, st.momentum_buffer
  end
  self:_fused_step(g, gi, prepare, lt._optim.rmsprop, sq, g.centered and ga or nil, mom and bufs or nil,
                   hyper(self, g))
end

-- How lt.cuda.graph captures it (optimizer.lua): the device scalars hold
-- lr, alpha, eps, weight_decay and momentum; the step count is only counted.
RMSprop._graph = {
  algo = "rmsprop", step_group = RMSprop.step_group, counted = true, uses_step = false, hyper = hyper,
  structure = function(g)
    return string.format("momentum %s, centered = %s, maximize = %s", g.momentum > 0 and "on" or "off",
                         tostring(g.centered), tostring(g.maximize))
  end,
}

return RMSprop
