-- lua_optimizer.lua — how to write an optimizer in Lua: Lion (Chen et al.,
-- 2023, "Symbolic Discovery of Optimization Algorithms"), an SGD whose step
-- is the sign of a momentum-gradient blend, written with tensor ops only and
-- used to fit a small least-squares problem.
--
--   luatrain scripts/examples/lua_optimizer.lua
--
-- The recipe (see also the header of lua/luatrain/optim/optimizer.lua):
-- 1. Optimizer:extend(name, hyper) declares the hyper-parameters and their
--    defaults; only these names are accepted (in the options table and in
--    parameter groups), so a typo is an error.
-- 2. check_group(group, fail) (optional) rejects bad values; fail(fmt, ...)
--    raises "bad argument #n to 'Lion' (...)".
-- 3. step_group(group) updates the group's parameters in place. step() calls
--    it for each group with autograd off; parameters whose grad is nil are
--    skipped. self:param_state(p) is the per-parameter state table: tensors
--    in it are saved by state_dict() and restored by load_state_dict().
-- Everything else (parameter groups, zero_grad, step(closure), state dicts,
-- add_param_group, schedulers changing group.lr) comes from the base class.
-- The built-in optimizers run a fused C kernel per group instead of tensor
-- ops; a Lua optimizer is the quick way to try an idea.
local lt = require "luatrain"
local Optimizer = lt.optim.Optimizer

local Lion = Optimizer:extend("Lion", {lr = 1e-4, betas = {0.9, 0.99}, weight_decay = 0})

function Lion:check_group(group, fail)
  Optimizer.check_number(fail, "lr", group.lr, 0)
  Optimizer.check_number(fail, "betas[1]", group.betas[1], 0, 1, true)
  Optimizer.check_number(fail, "betas[2]", group.betas[2], 0, 1, true)
  Optimizer.check_number(fail, "weight_decay", group.weight_decay, 0)
end

-- state a parameter must have once it has any (load_state_dict checks it)
function Lion:state_keys() return {"exp_avg"} end

function Lion:step_group(group)
  local lr, b1, b2 = group.lr, group.betas[1], group.betas[2]
  for _, p in ipairs(group.params) do
    local g = p.grad
    if g ~= nil then
      local state = self:param_state(p)
      if state.exp_avg == nil then state.exp_avg = lt.zeros_like(p) end
      local m = state.exp_avg
      -- decoupled weight decay, as AdamW
      if group.weight_decay ~= 0 then p:mul_(1 - lr * group.weight_decay) end
      -- the step: the sign of a blend of momentum and gradient
      local c = m * b1 + g * (1 - b1)
      p:add_(c:sign(), -lr)
      -- the momentum follows the gradient more slowly (beta2)
      m:mul_(b2):add_(g, 1 - b2)
    end
  end
end

-- Fit w in y = X w (64 samples, 8 features) by mean squared error.
lt.manual_seed(0)
local X = lt.randn(64, 8)
local w_true = lt.randn(8, 1)
local y = X:mm(w_true)
local w = lt.zeros(8, 1)
w.requires_grad = true

local opt = Lion({w}, {lr = 0.02})
local function loss_fn()
  local r = X:mm(w) - y
  return (r * r):mean()
end

local first, last
for step = 1, 200 do
  opt:zero_grad()
  local loss = loss_fn()
  loss:backward()
  opt:step()
  last = loss:item()
  first = first or last
  if step % 40 == 0 then print(string.format("step %3d  loss %.6f  lr %g", step, last, opt.param_groups[1].lr)) end
end
assert(last < 0.01 * first, string.format("Lion did not converge: loss %g -> %g", first, last))

-- The state is ordinary state-dict material: a second optimizer resumes it.
local resumed = Lion({w}, {lr = 0.02})
resumed:load_state_dict(opt:state_dict())
print(string.format("resumed with momentum of shape [%s]; final loss %.6f",
                    table.concat(resumed.state[w].exp_avg:shape(), ","), last))
