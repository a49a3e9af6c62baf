-- test_graph_cuda.lua — lt.cuda.graph on a GPU: a small conv + BN + ReLU +
-- linear model trained by N graph replays on a sequence of batches ends
-- with the parameters (and per-step losses) of N eager steps on the same
-- batches from the same start (float32, TF32 off: 1e-5), for SGD with
-- momentum, Nesterov and weight decay and for AdamW, with a learning-rate
-- scheduler (and a hand-set lr) changing lr between replays; each operation
-- that cannot be captured raises its error and leaves the stream usable;
-- outputs cannot be read before the first replay; 50 replays do not grow
-- lt.cuda.memory_allocated(). Without a GPU: "skipped: no GPU", exit 77.
-- The Lua half (hooks, refusals) is also tested on the CPU: test_graph.lua.
local T = require "luatrain.testing"
local lt = require "luatrain"

T.gpu_or_skip()
lt.backends.allow_tf32(false)

local nn, F, optim = lt.nn, lt.nn.functional, lt.optim
local B, N = 16, 6

lt.manual_seed(11)
local xs, ys = {}, {}
for k = 1, N do
  xs[k] = lt.randn(B, 3, 8, 8):cuda()
  ys[k] = lt.randint(1, 11, {B}):cuda()
end

local function make_model()
  lt.manual_seed(7)
  local net = nn.Sequential(nn.Conv2d(3, 8, 3, {padding = 1, bias = false}), nn.BatchNorm2d(8), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
  net:to("cuda")
  net:train()
  return net
end

local function step_of(net, opt)
  return function(inp)
    opt:zero_grad()
    local loss = F.cross_entropy(net(inp.x), inp.y)
    loss:backward()
    opt:step()
    return loss
  end
end

-- sched(opt, k): after step k, what the schedule does (nil: nothing)
local function eager_run(make_opt, sched)
  local net = make_model()
  local opt = make_opt(net)
  local step = step_of(net, opt)
  local losses = {}
  for k = 1, N do
    losses[k] = step({x = xs[k], y = ys[k]}):item()
    if sched then sched(opt, k) end
  end
  return net, losses
end

local function graph_run(make_opt, sched)
  local net = make_model()
  local opt = make_opt(net)
  local sx, sy = xs[1]:clone(), ys[1]:clone()
  local g = lt.cuda.graph(step_of(net, opt), {x = sx, y = sy}) -- the warm-up is step 1, on batch 1
  if sched then sched(opt, 1) end
  local losses = {}
  for k = 2, N do
    sx:copy_(xs[k])
    sy:copy_(ys[k])
    losses[k] = g:replay():item()
    if sched then sched(opt, k) end
  end
  return net, losses, g
end

local function compare(name, make_opt, sched)
  local ne, le = eager_run(make_opt, sched)
  local ng, lg = graph_run(make_opt, sched)
  local pe, pg = ne:state_dict(), ng:state_dict()
  for k, v in pairs(pe) do
    if v:dtype() == "float32" then
      T.check(T.relerr(pg[k], v) <= 1e-5, string.format("%s: %s relative error %.3g", name, k, T.relerr(pg[k], v)))
    else
      T.tensor_equal(pg[k], v, name .. ": " .. k)
    end
  end
  for k = 2, N do T.close(lg[k], le[k], 1e-5, string.format("%s: loss of step %d", name, k)) end
end

T.test("replays equal eager steps: SGD momentum, nesterov, weight decay, with a scheduler", function()
  local function make_opt(net)
    return optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 5e-4})
  end
  local scheds = {}
  compare("SGD", make_opt, function(opt, k)
    scheds[opt] = scheds[opt] or optim.lr_scheduler.StepLR(opt, {step_size = 2, gamma = 0.5})
    scheds[opt]:step()
    if k == 3 then opt.param_groups[1].momentum = 0.8 end -- a hand change of a scalar the graph reads
  end)
end)

T.test("replays equal eager steps: AdamW with a scheduler", function()
  local function make_opt(net) return optim.AdamW(net:parameters(), {lr = 1e-2, weight_decay = 0.05}) end
  local scheds = {}
  compare("AdamW", make_opt, function(opt)
    scheds[opt] = scheds[opt] or optim.lr_scheduler.MultiStepLR(opt, {milestones = {2, 4}, gamma = 0.1})
    scheds[opt]:step()
  end)
end)

T.test("is_capturing, outputs before the first replay, tostring, release", function()
  local net = make_model()
  local opt = optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9})
  local seen
  local step = step_of(net, opt)
  local g = lt.cuda.graph(function(inp)
    seen = lt.cuda.is_capturing()
    return step(inp)
  end, {x = xs[1]:clone(), y = ys[1]:clone()})
  T.check(seen == true and lt.cuda.is_capturing() == false, "is_capturing inside and after")
  T.checkerr("has not been replayed yet", function() return g.outputs[1]:item() end)
  local loss = g:replay()
  T.check(loss == g.outputs[1] and loss:item() == loss:item(), "the loss is readable after a replay")
  T.check(tostring(g):find("^CUDA graph on cuda:0: %d+ nodes, 1 output, 1 hook"), tostring(g))
  g:release()
  T.check(tostring(g) == "CUDA graph (released)", "released")
  T.check(loss:item() == loss:item(), "outputs stay readable after release")
  do
    local g2 <close> = lt.cuda.graph(step, {x = xs[1]:clone(), y = ys[1]:clone()})
    g2:replay()
  end
  collectgarbage()
  lt.cuda.synchronize()
end)

T.test("replays do not grow memory", function()
  local net = make_model()
  local opt = optim.AdamW(net:parameters(), {lr = 1e-3})
  local sx, sy = xs[1]:clone(), ys[1]:clone()
  local g = lt.cuda.graph(step_of(net, opt), {x = sx, y = sy})
  g:replay()
  collectgarbage()
  lt.cuda.synchronize()
  local m0 = lt.cuda.memory_allocated()
  for k = 1, 50 do
    sx:copy_(xs[(k % N) + 1])
    g:replay()
  end
  lt.cuda.synchronize()
  collectgarbage()
  T.check(lt.cuda.memory_allocated() == m0, string.format("memory_allocated %d after 50 replays, %d before",
                                                          lt.cuda.memory_allocated(), m0))
  T.check(opt.state[net:parameters()[1]].step == 52, "51 replays + warm-up counted")
  g:release()
end)

-- step(inp) must fail during capture with `msg`; afterwards an eager op on
-- the device gives the right answer.
local function refused(msg, step, warmup)
  local sx = xs[1]:clone()
  T.checkerr(msg, lt.cuda.graph, step, {x = sx}, {warmup = warmup or 0})
  T.check(not lt.cuda.is_capturing(), msg .. ": capture ended")
  local a = lt.full({1000}, 2.0, {device = "cuda"})
  T.check((a * 3):sum():item() == 6000, msg .. ": the stream works afterwards")
end

T.test("what cannot be captured raises and leaves the stream usable", function()
  local cannot = "cannot run inside lt.cuda.graph capture"
  refused("reading a CUDA tensor on the host", function(inp) return inp.x:sum():item() end)
  refused(cannot, function(inp) return inp.x:sum():item() end)
  refused("reading a CUDA tensor on the host", function(inp) return inp.x:cpu() end)
  refused("waiting for the GPU", function() lt.cuda.synchronize() end)
  refused("copying a CPU tensor to the GPU", function(inp) inp.x:copy_(lt.zeros(B, 3, 8, 8)) end)
  refused("copying a CPU tensor to the GPU", function() return lt.ones(3):cuda() end)
  refused("random numbers on the GPU", function() return lt.randn({4}, {device = "cuda"}) end)
  refused("dropout on the GPU", function(inp) return F.dropout(inp.x, 0.5, true) end)
  local w = lt.randn(5, 3, 2, 2):cuda() -- a convolution shape never run before
  refused("cuDNN algorithm search", function(inp) return F.conv2d(inp.x, w) end)
  refused("lt.cuda.empty_cache()", function() lt.cuda.empty_cache() end)
  refused("pinning host memory", function() return lt.ones(3):pin_memory() end)
  local pinned = lt.ones(B, 3, 8, 8):pin_memory()
  refused("a non_blocking copy cannot be captured", function() return pinned:cuda{non_blocking = true} end)
  local TF = lt.transforms
  refused("random crops and flips of a CUDA batch", function(inp)
    return TF.RandomCrop(8, {padding = 2})(inp.x, lt.data.Generator(1))
  end)
  refused(cannot, function(inp) return inp.x:sum():item() end) -- and again, after all that
  if lt.cuda.device_count() > 1 then
    refused("an operation on cuda:1", function() return lt.zeros({2}, {device = "cuda:1"}) + 1 end)
  end
end)

T.test("refused optimizers; gradients of a failed capture are dropped; eager steps go on", function()
  local net = make_model()
  local MySGD = optim.Optimizer:extend("MySGD", {lr = 0.01})
  function MySGD:step_group(group)
    for _, p in ipairs(group.params) do if p.grad ~= nil then p:add_(p.grad, -group.lr) end end
  end
  local mine = MySGD(net:parameters(), {lr = 0.1})
  local sx, sy = xs[1]:clone(), ys[1]:clone()
  T.checkerr("an optimizer written in Lua", lt.cuda.graph, step_of(net, mine), {x = sx, y = sy})
  for _, p in ipairs(net:parameters()) do T.check(p.grad == nil, "a gradient made by the failed capture is dropped") end
  local before = net:parameters()[1]:clone()
  step_of(net, mine)({x = sx, y = sy}) -- eager fallback
  T.check((net:parameters()[1] - before):abs():sum():item() > 0, "the eager step after the failure works")
  local sgd = optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9})
  T.checkerr("has no momentum buffer yet", lt.cuda.graph, step_of(net, sgd), {x = sx, y = sy}, {warmup = 0})
  local adam = optim.Adam(net:parameters(), {lr = 0.1})
  T.checkerr("has no Adam state yet", lt.cuda.graph, step_of(net, adam), {x = sx, y = sy}, {warmup = 0})
  local g = lt.cuda.graph(step_of(net, sgd), {x = sx, y = sy}) -- with its warm-up it works
  T.check(g:replay():item() == g.outputs[1]:item(), "replay after refusals")
  g:release()
end)

T.test("pinned memory the collector frees during a capture is freed after it", function()
  local pinned = lt.ones(1 << 16):pin_memory()
  local sx = xs[1]:clone()
  local g = lt.cuda.graph(function(inp)
    pinned = nil
    collectgarbage() -- cudaFreeHost here would end the capture
    return inp.x * 2
  end, {x = sx}, {warmup = 0})
  T.check(not lt.cuda.is_capturing(), "capture ended")
  T.check((g:replay() - sx * 2):abs():max():item() == 0, "the captured step runs")
  g:release()
  local again = lt.ones(1 << 16):pin_memory() -- pinning works again after the capture
  T.check(again:is_pinned() and again:sum():item() == 65536, "pinning after the capture")
end)

T.test("a graph released before any replay drops the gradients it made", function()
  local net = make_model()
  local sgd = optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9})
  local sx, sy = xs[1]:clone(), ys[1]:clone()
  local g = lt.cuda.graph(step_of(net, sgd), {x = sx, y = sy})
  g:release()
  for _, p in ipairs(net:parameters()) do T.check(p.grad == nil, "no gradient that never existed is left") end
  local before = net:parameters()[1]:clone()
  step_of(net, sgd)({x = sx, y = sy})
  T.check((net:parameters()[1] - before):abs():sum():item() > 0, "an eager step afterwards works")
  lt.cuda.synchronize()
end)

os.exit(T.done())
