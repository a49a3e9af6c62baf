-- luatrain.optim.SGD — stochastic gradient descent with momentum, dampening,
-- Nesterov momentum, weight decay and maximize, as torch.optim.SGD (same
-- defaults: lr = 1e-3, everything else off). One fused kernel call per
-- parameter group (lt._optim.sgd); this file only keeps the state.
--
-- State per parameter: momentum_buffer (only when momentum ~= 0), created on
-- the parameter's first step with a gradient (it then equals the gradient,
-- undampened, as in PyTorch).
local lt = require "luatrain.core"
local argcheck = require "luatrain.argcheck"
local Optimizer = require "luatrain.optim.optimizer"

local SGD = Optimizer:extend("SGD", {
  lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false,
})

function SGD:check_group(g, fail)
  Optimizer.check_nonnegative(fail, g, "lr", "momentum", "weight_decay")
  if g.dampening ~= g.dampening or math.abs(g.dampening) == math.huge then
    fail("invalid dampening %s (expected a finite number)", argcheck.num(g.dampening))
  end
  if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
    fail("nesterov momentum requires a momentum > 0 and zero dampening (got momentum %s, dampening %s)",
         argcheck.num(g.momentum), argcheck.num(g.dampening))
  end
end

function SGD:state_keys(g)
  if g.momentum ~= 0 then return {"momentum_buffer"} end
  return {}
end

local function hyper(_, g)
  return {lr = g.lr, momentum = g.momentum, dampening = g.dampening, weight_decay = g.weight_decay,
          nesterov = g.nesterov, maximize = g.maximize}
end

function SGD:step_group(g, gi)
  local bufs, fresh = {}, {}
  local mom = g.momentum ~= 0
  local function prepare(p, n)
    if not mom then return end
    local st = self:param_state(p)
    local buf = st.momentum_buffer
    fresh[n] = buf == nil
    if buf == nil then
      -- a captured step cannot start a buffer (PyTorch's first momentum step differs)
      if self._capture then self:_refuse_capture("a parameter of group %d has no momentum buffer yet", gi) end
      buf = self.zeros_like(p)
      st.momentum_buffer = buf
    end
    bufs[n] = buf
  end
  self:_fused_step(g, gi, prepare, lt._optim.sgd, mom and bufs or nil, mom and fresh or nil, hyper(self, g))
end

-- How lt.cuda.graph captures it (optimizer.lua): the device scalars hold
-- lr, momentum, dampening, weight_decay; the rest must not change.
SGD._graph = {
  algo = "sgd", step_group = SGD.step_group, counted = false, uses_step = false, hyper = hyper,
  structure = function(g)
    return string.format("momentum %s, nesterov = %s, maximize = %s", g.momentum ~= 0 and "on" or "off",
                         tostring(g.nesterov), tostring(g.maximize))
  end,
}

return SGD
