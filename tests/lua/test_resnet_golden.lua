-- The ResNet18 golden test: the reference recipe's CIFAR ResNet18 at width 16, loaded by
-- name from tests/golden/resnet18_w16_golden.safetensors (PyTorch's weights),
-- one train-mode forward (batch statistics), the mean cross-entropy and
-- backward must match PyTorch's logits, loss and every parameter gradient:
-- within 1e-4 relative Frobenius error in float32 and 1e-10 in float64 (the
-- tolerances of tests/golden/README.md). Also checks the BatchNorm running
-- statistics the forward updated against the `_steps` file's first step.
--
-- Device-parametrised (luatrain.testing): test_resnet_golden_cuda.lua runs
-- this file on the GPU, float32 with TF32 off and float64, against the GPU
-- bounds of T.golden_tol (1e-5, 1e-10); results are compared on the CPU.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local DEV, DEV_NAME = T.device(), T.device_name()

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local g = lt.load(here .. "/../golden/resnet18_w16_golden.safetensors")
local steps = lt.load(here .. "/../golden/resnet18_w16_golden_steps.safetensors")

local relerr = T.relerr

local function run(dtype)
  local tol = T.golden_tol(dtype) -- read here: it follows the TF32 setting
  local model = lt.models.resnet18{num_classes = 10, width = 16, in_channels = 3}
  local weights = {}
  local sd = model:state_dict()
  for k, v in pairs(g) do if sd[k] then weights[k] = v end end
  model:load_state_dict(weights) -- strict: every weight present
  model:to(DEV, dtype)
  model:train()
  local x = g.input:to(DEV, dtype)
  local target = (g.target + 1):to(DEV) -- PyTorch's labels are 0-based
  local logits = model(x)
  T.check(logits:dtype() == dtype, "logits dtype")
  T.check(logits:device() == DEV_NAME, "logits computed on " .. logits:device())
  local loss = F.cross_entropy(logits, target)
  loss:backward()

  local e = relerr(logits, g["step1.logits"])
  T.check(e < tol, string.format("%s logits: relative error %.3g", dtype, e))
  e = relerr(loss, g["step1.loss"])
  T.check(e < tol, string.format("%s loss: relative error %.3g", dtype, e))
  local n = 0
  for name, p in model:named_parameters() do
    local ref = g["step1.grad." .. name]
    T.check(ref ~= nil, "golden gradient for " .. name)
    T.check(p.grad ~= nil, "gradient computed for " .. name)
    if ref and p.grad then
      e = relerr(p.grad, ref)
      T.check(e < tol, string.format("%s grad %s: relative error %.3g", dtype, name, e))
      n = n + 1
    end
  end
  T.check(n == 62, "62 parameter gradients compared, got " .. n)
  -- the forward updated the running statistics as PyTorch's did (momentum
  -- 0.1, unbiased variance); the SGD step in _steps does not touch them
  for name, b in model:named_buffers() do
    local ref = steps["step1.state." .. name]
    if name:match("running_") then
      T.check(ref ~= nil, "golden running statistic " .. name)
      if ref then
        e = relerr(b, ref)
        T.check(e < tol, string.format("%s %s: relative error %.3g", dtype, name, e))
      end
    elseif name:match("num_batches_tracked$") then
      T.check(b:item() == 1, "num_batches_tracked counts the batch: " .. name)
    end
  end
end

-- (on the GPU: float32 without TF32, which the 1e-5 bound assumes)
T.test("float32", function() T.with_tf32(false, run, "float32") end)
T.test("float64", function() run("float64") end)

os.exit(T.done())
