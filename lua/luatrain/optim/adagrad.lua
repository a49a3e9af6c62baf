-- luatrain.optim.Adagrad — torch.optim.Adagrad (lr = 1e-2, lr_decay,
-- weight decay, initial_accumulator_value, eps = 1e-10, maximize). One fused
-- kernel call per parameter group (lt._optim.adagrad).
--
-- State per parameter: step (a number) and sum (shaped like the parameter,
-- filled with initial_accumulator_value). As in PyTorch it is created when
-- the parameter joins the optimizer, so a state dict taken before the first
-- step already holds it.
local lt = require "luatrain.core"
local Optimizer = require "luatrain.optim.optimizer"

local Adagrad = Optimizer:extend("Adagrad", {
  lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10, maximize = false,
})

function Adagrad:check_group(g, fail)
  Optimizer.check_nonnegative(fail, g, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
end

function Adagrad:state_keys() return {"step", "sum"} end

local function fresh_state(st, p, g)
  st.step = 0
  st.sum = lt.full_like(p, g.initial_accumulator_value)
end

function Adagrad:_add_group(group, fname, argn, label)
  local g = Optimizer._add_group(self, group, fname, argn, label)
  for _, p in ipairs(g.params) do fresh_state(self:param_state(p), p, g) end
  return g
end

local function hyper(_, g)
  return {lr = g.lr, lr_decay = g.lr_decay, weight_decay = g.weight_decay, eps = g.eps, maximize = g.maximize}
end

function Adagrad:step_group(g, gi)
  local sums, steps = {}, {}
  local function prepare(p, n)
    local st = self:param_state(p)
    if st.sum == nil then -- state dropped by hand, or loaded without it
      if self._capture then self:_refuse_capture("a parameter of group %d has no state sum", gi) end
      fresh_state(st, p, g)
    end
    if not self._capture then st.step = st.step + 1 end -- a captured step counts before each replay
    sums[n], steps[n] = st.sum, st.step
  end
  self:_fused_step(g, gi, prepare, lt._optim.adagrad, sums, steps, hyper(self, g))
end

-- How lt.cuda.graph captures it (optimizer.lua): the device scalars hold
-- lr, lr_decay, weight_decay, eps and the group's step count.
Adagrad._graph = {
  algo = "adagrad", step_group = Adagrad.step_group, counted = true, uses_step = true, hyper = hyper,
  structure = function(g) return string.format("maximize = %s", tostring(g.maximize)) end,
}

return Adagrad
