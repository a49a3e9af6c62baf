-- custom_activation.lua — a new activation written in Lua with
-- lt.autograd.Function, checked with gradcheck, then used to train a small
-- MLP with plain gradient descent (tensor ops only, no nn library).
--
--   luatrain scripts/examples/custom_activation.lua [steps]
--
-- The activation is "squareplus" (Barron, 2021), a smooth ReLU:
--   f(x) = (x + sqrt(x^2 + b)) / 2,   f'(x) = (1 + x / sqrt(x^2 + b)) / 2
local lt = lt or require "luatrain"

local B = 4

local Squareplus = lt.autograd.Function{
  name = "Squareplus",
  forward = function(ctx, x)
    local r = (x * x + B):sqrt()
    ctx:save_for_backward(x, r)   -- r is an intermediate: saved so backward need not recompute it
    return (x + r) * 0.5
  end,
  backward = function(ctx, grad)
    local x, r = ctx:saved_tensors()
    return grad * (x / r + 1) * 0.5
  end,
}

lt.manual_seed(0)

-- 1. the analytic gradient agrees with finite differences (float64)
local probe = lt.randn(4, 3, {dtype = "float64", requires_grad = true}) * 3
probe = probe:detach():requires_grad_()
lt.autograd.gradcheck(Squareplus, {probe})
print("gradcheck: squareplus backward matches finite differences")

-- 2. a 2-64-1 MLP fits y = sin(3 x1) + x2^2 on [-1, 1]^2
local N, H = 256, 32
local X = lt.rand(N, 2) * 2 - 1
local Y = ((X:select(2, 1) * 3):sin() + X:select(2, 2):square()):view(N, 1)

-- first-layer kinks spread over the input range, a small output layer
local W1 = (lt.randn(2, H) * 2):requires_grad_()
local b1 = (lt.rand(H) * 4 - 2):requires_grad_()
local W2 = (lt.randn(H, 1) * (0.1 / math.sqrt(H))):requires_grad_()
local b2 = lt.zeros(1, {requires_grad = true})
local params = {W1, b1, W2, b2}

local function forward(x)
  local h = Squareplus(x:matmul(W1) + b1)
  return h:matmul(W2) + b2
end

local steps = tonumber(arg and arg[1]) or 500
local lr = 0.005
local first, last
for step = 1, steps do
  local loss = ((forward(X) - Y) ^ 2):mean()
  loss:backward()
  lt.no_grad(function()
    for _, p in ipairs(params) do
      p:sub_(p.grad * lr)
      p.grad = nil
    end
  end)
  local l = loss:item()
  first = first or l
  last = l
  if step == 1 or step % 50 == 0 or step == steps then print(string.format("step %4d  loss %.5f", step, l)) end
end
print(string.format("loss fell from %.4f to %.4f", first, last))
if not (last < first * 0.5) then
  io.stderr:write("the loss did not fall as expected\n")
  os.exit(1)
end
