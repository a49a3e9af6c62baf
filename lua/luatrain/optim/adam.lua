-- luatrain.optim.Adam and AdamW — torch.optim.Adam (L2 weight decay added to
-- the gradient; decoupled_weight_decay = true makes it AdamW) and
-- torch.optim.AdamW (decoupled weight decay, default 1e-2), with amsgrad and
-- maximize. One fused kernel call per parameter group (lt._optim.adam).
--
-- State per parameter, created on its first step with a gradient: step (a
-- number: the steps taken), exp_avg, exp_avg_sq and, with amsgrad,
-- max_exp_avg_sq (tensors shaped like the parameter).
local lt = require "luatrain.core"
local Optimizer = require "luatrain.optim.optimizer"

local function check(_, g, fail)
  Optimizer.check_nonnegative(fail, g, "lr", "eps")
  Optimizer.check_number(fail, "betas[1]", g.betas[1], 0, 1, true)
  Optimizer.check_number(fail, "betas[2]", g.betas[2], 0, 1, true)
  Optimizer.check_nonnegative(fail, g, "weight_decay")
end

local function state_keys(_, g)
  if g.amsgrad then return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"} end
  return {"step", "exp_avg", "exp_avg_sq"}
end

local function hyper(g, decoupled)
  return {lr = g.lr, beta1 = g.betas[1], beta2 = g.betas[2], eps = g.eps, weight_decay = g.weight_decay,
          amsgrad = g.amsgrad, maximize = g.maximize, decoupled_weight_decay = decoupled}
end

local function step_group(self, g, gi, decoupled)
  local m, v, vmax, steps = {}, {}, {}, {}
  local function prepare(p, n)
    local st = self:_counted_state(p, "exp_avg", "exp_avg_sq")
    if g.amsgrad and st.max_exp_avg_sq == nil then
      if self._capture then self:_refuse_capture("a parameter of group %d has no max_exp_avg_sq (amsgrad) yet", gi) end
      st.max_exp_avg_sq = self.zeros_like(p)
    end
    m[n], v[n], vmax[n], steps[n] = st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq, st.step
  end
  self:_fused_step(g, gi, prepare, lt._optim.adam, m, v, g.amsgrad and vmax or nil, steps, hyper(g, decoupled))
end

-- How lt.cuda.graph captures them (optimizer.lua): the device scalars hold
-- lr, betas, eps, weight_decay and the group's step count.
local function graph_desc(cls, decoupled)
  return {
    algo = "adam", step_group = cls.step_group, counted = true, uses_step = true,
    hyper = function(_, g) return hyper(g, decoupled(g)) end,
    structure = function(g)
      return string.format("amsgrad = %s, maximize = %s, decoupled_weight_decay = %s", tostring(g.amsgrad),
                           tostring(g.maximize), tostring(decoupled(g)))
    end,
  }
end

local Adam = Optimizer:extend("Adam", {
  lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false, maximize = false,
  decoupled_weight_decay = false,
})
Adam.check_group = check
Adam.state_keys = state_keys
function Adam:step_group(g, gi) step_group(self, g, gi, g.decoupled_weight_decay) end
Adam._graph = graph_desc(Adam, function(g) return g.decoupled_weight_decay end)

local AdamW = Optimizer:extend("AdamW", {
  lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, amsgrad = false, maximize = false,
})
AdamW.check_group = check
AdamW.state_keys = state_keys
function AdamW:step_group(g, gi) step_group(self, g, gi, true) end
AdamW._graph = graph_desc(AdamW, function() return true end)

return {Adam = Adam, AdamW = AdamW}
