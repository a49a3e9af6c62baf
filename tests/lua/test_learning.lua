-- test_learning.lua — a tiny CNN learns a fixed synthetic problem with plain
-- gradient descent written here (no optimizer library): the loss must fall
-- from ln(4) to below a bound that an untrained model, a broken backward or
-- a wrong update cannot reach. It exercises conv2d, relu, max_pool2d, linear,
-- cross_entropy and autograd end to end.
local T = require "luatrain.testing"
local F = lt.nn.functional

lt.manual_seed(7)

-- 4 classes of 1x8x8 images: class c lights up quadrant c, plus noise.
local n = 64
local images = lt.randn(n, 1, 8, 8) * 0.3
local labels = {}
for i = 1, n do
  local c = (i - 1) % 4 + 1
  labels[i] = c
  local r0, c0 = ((c - 1) // 2) * 4 + 1, ((c - 1) % 2) * 4 + 1
  images[i][1]:narrow(1, r0, 4):narrow(2, c0, 4):add_(1.0)
end
local target = lt.tensor(labels)

local function param(...) return (lt.randn(...) * 0.3):requires_grad_(true) end
local w1, b1 = param(4, 1, 3, 3), param(4)
local w2, b2 = param(4, 4 * 4 * 4), param(4)
local params = {w1, b1, w2, b2}

local function forward(x)
  local h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, {padding = 1})), 2) -- [n,4,4,4]
  return F.linear(h:flatten(2), w2, b2)                                  -- [n,4]
end

local first, last
for step = 1, 300 do
  local loss = F.cross_entropy(forward(images), target)
  if step == 1 then first = loss:item() end
  last = loss:item()
  for _, p in ipairs(params) do p.grad = nil end
  loss:backward()
  lt.no_grad(function()
    for _, p in ipairs(params) do p:sub_(p.grad * 0.5) end
  end)
end

T.close(first, math.log(4), 0.3, "the untrained loss is about ln(4)")
T.check(last < 0.05, string.format("the loss falls below 0.05 after 300 steps (first %.4f, last %.4f)", first, last))
local pred = lt.no_grad(function() return forward(images):argmax(2) end)
T.check(pred:eq(target):all():item(), "every training image is classified correctly")
os.exit(T.done())
