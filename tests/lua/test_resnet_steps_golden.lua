-- The ResNet18 training-step golden test: the seed's CIFAR ResNet18 at width
-- 16 starts from PyTorch's weights (tests/golden/resnet18_w16_golden.safetensors)
-- and takes two SGD steps (lr 0.1, momentum 0.9, weight_decay 1e-4, every
-- parameter in one group as the seed does) on the same batch in train mode.
-- After each step every parameter and BatchNorm running statistic must match
-- PyTorch's (`step1.state.*`, `step2.state.*` in the `_steps` file), as must
-- the second forward's logits and loss and an eval-mode forward after step 2:
-- within 1e-4 relative Frobenius error in float32 and 1e-10 in float64 (the
-- tolerances of tests/golden/README.md). Step 2 exercises the momentum
-- buffer and weight decay; the eval forward exercises the running statistics
-- the two train forwards accumulated. Not covered here: the step-1 gradients
-- (test_resnet_golden.lua).
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local g = lt.load(here .. "/../golden/resnet18_w16_golden.safetensors")
local ref = lt.load(here .. "/../golden/resnet18_w16_golden_steps.safetensors")

local relerr = T.relerr

-- Every parameter and running statistic against `<prefix><name>`; returns
-- how many were compared.
local function check_state(model, prefix, dtype, tol)
  local n = 0
  for name, t in pairs(model:state_dict()) do
    if not name:match("num_batches_tracked$") then
      local r = ref[prefix .. name]
      T.check(r ~= nil, "golden value " .. prefix .. name)
      if r then
        T.check(t:dtype() == dtype, name .. " stays " .. dtype)
        local e = relerr(t, r)
        T.check(e < tol, string.format("%s %s%s: relative error %.3g", dtype, prefix, name, e))
        n = n + 1
      end
    end
  end
  return n
end

local function run(dtype, tol)
  local model = lt.models.resnet18{num_classes = 10, width = 16, in_channels = 3}
  local weights = {}
  local sd = model:state_dict()
  for k, v in pairs(g) do if sd[k] then weights[k] = v end end
  model:load_state_dict(weights) -- strict: every weight present
  model:to(dtype)
  model:train()
  local x = g.input:to(dtype)
  local target = g.target + 1 -- PyTorch's labels are 0-based
  local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 1e-4})

  local function step()
    opt:zero_grad()
    local logits = model(x)
    local loss = F.cross_entropy(logits, target)
    loss:backward()
    opt:step()
    return logits, loss
  end

  step()
  -- 62 parameters and 20 BatchNorm layers with two running statistics each
  local n = check_state(model, "step1.state.", dtype, tol)
  T.check(n == 102, "102 tensors compared after step 1, got " .. n)

  local logits, loss = step()
  local e = relerr(logits, ref["step2.logits"])
  T.check(e < tol, string.format("%s step2.logits: relative error %.3g", dtype, e))
  e = relerr(loss, ref["step2.loss"])
  T.check(e < tol, string.format("%s step2.loss: relative error %.3g", dtype, e))
  n = check_state(model, "step2.state.", dtype, tol)
  T.check(n == 102, "102 tensors compared after step 2, got " .. n)
  for name, b in model:named_buffers() do
    if name:match("num_batches_tracked$") then T.check(b:item() == 2, "two batches tracked by " .. name) end
  end
  -- the momentum buffers exist and differ from the last gradient (step 2
  -- used them: buf = 0.9 buf + g + wd p)
  local p1 = model:parameters()[1]
  local buf = opt.state[p1].momentum_buffer
  T.check(buf ~= nil, "momentum buffer kept for the first parameter")

  model:eval()
  local eval_logits = lt.no_grad(function() return model(x) end)
  e = relerr(eval_logits, ref["eval.logits"])
  T.check(e < tol, string.format("%s eval.logits: relative error %.3g", dtype, e))
  -- an eval forward leaves the running statistics alone
  check_state(model, "step2.state.", dtype, tol)
end

T.test("float32", function() run("float32", 1e-4) end)
T.test("float64", function() run("float64", 1e-10) end)

-- The tolerance is a real check: a model that skipped weight decay (or
-- momentum) on step 2 lands measurably further from PyTorch's parameters.
T.test("a wrong step is detected", function()
  local model = lt.models.resnet18{num_classes = 10, width = 16, in_channels = 3}
  local weights = {}
  local sd = model:state_dict()
  for k, v in pairs(g) do if sd[k] then weights[k] = v end end
  model:load_state_dict(weights)
  model:double()
  model:train()
  local x, target = g.input:double(), g.target + 1
  local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 0})
  for _ = 1, 2 do
    opt:zero_grad()
    F.cross_entropy(model(x), target):backward()
    opt:step()
  end
  local worst = 0
  for name, t in pairs(model:state_dict()) do
    local r = ref["step2.state." .. name]
    if r and name:match("weight$") then worst = math.max(worst, relerr(t, r)) end
  end
  T.check(worst > 1e-8, string.format("without weight decay some weight is off by more than 1e-8 (worst %.3g)", worst))
end)

os.exit(T.done())
