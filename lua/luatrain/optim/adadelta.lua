-- luatrain.optim.Adadelta — torch.optim.Adadelta (lr = 1, rho = 0.9,
-- eps = 1e-6, weight decay, maximize). One fused kernel call per parameter
-- group (lt._optim.adadelta).
--
-- State per parameter, created on its first step with a gradient: step (a
-- number), square_avg and acc_delta (zeros shaped like the parameter).
local lt = require "luatrain.core"
local Optimizer = require "luatrain.optim.optimizer"

local Adadelta = Optimizer:extend("Adadelta", {lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0, maximize = false})

function Adadelta:check_group(g, fail)
  Optimizer.check_nonnegative(fail, g, "lr")
  Optimizer.check_number(fail, "rho", g.rho, 0, 1)
  Optimizer.check_nonnegative(fail, g, "eps", "weight_decay")
end

function Adadelta:state_keys() return {"step", "square_avg", "acc_delta"} end

function Adadelta:step_group(g, gi)
  local sq, acc = {}, {}
  local function prepare(p, n)
    local st = self:_counted_state(p, "square_avg", "acc_delta")
    sq[n], acc[n] = st.square_avg, st.acc_delta
  end
  self:_fused_step(g, gi, prepare, lt._optim.adadelta, sq, acc, Adadelta._graph.hyper(self, g))
end

-- How lt.cuda.graph captures it (optimizer.lua): the device scalars hold
-- lr, rho, eps and weight_decay; the step count is only counted.
Adadelta._graph = {
  algo = "adadelta", step_group = Adadelta.step_group, counted = true, uses_step = false,
  hyper = function(_, g)
    return {lr = g.lr, rho = g.rho, eps = g.eps, weight_decay = g.weight_decay, maximize = g.maximize}
  end,
  structure = function(g) return string.format("maximize = %s", tostring(g.maximize)) end,
}

return Adadelta
