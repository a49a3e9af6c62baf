-- test_graph.lua — what of lt.cuda.graph runs without a GPU: its argument
-- checks and the error without a GPU; the optimizers' device scalars
-- (lt._optim.set_scalars and the `scalars` hyper-parameter, which the CPU
-- path reads itself); and the Lua half of a captured step, driven by a fake
-- capture driver that records the optimizer's kernel calls and replays
-- them: pre-replay hooks that advance step counts and write the learning
-- rate a scheduler set, the refusals of what a replay cannot reproduce, and
-- the clean-up after a failed capture. The GPU half is test_graph_cuda.lua.
local T = require "luatrain.testing"
local lt = require "luatrain"
local graph = require "luatrain.cuda_graph"

local optim = lt.optim

-- A capture driver that runs on the CPU: the recorded optimizer calls are
-- what "replay" runs (the rest of the step ran once, at capture).
local function fake_driver()
  local d = {record = true, launches = 0, released = false, aborted = false}
  function d.begin() return {} end
  function d.finish() end
  function d.abort() d.aborted = true end
  function d.launch() d.launches = d.launches + 1 end
  function d.release() d.released = true end
  function d.info() return {device = 0, nodes = 7, escaped_bytes = 0} end
  function d.synchronize() end
  return d
end

local function fake_graph(step_fn, inputs, warmup, driver)
  return graph._make(step_fn, inputs or {x = lt.zeros(1)}, warmup or 1, 0, driver or fake_driver())
end

-- params and a fixed gradient per parameter, float64
local function make_params(seed)
  lt.manual_seed(seed)
  local ps = {lt.randn(5, 3, {dtype = "float64"}), lt.randn(4, {dtype = "float64"})}
  local gs = {lt.randn(5, 3, {dtype = "float64"}), lt.randn(4, {dtype = "float64"})}
  return ps, gs
end

local function clone_all(ts)
  local out = {}
  for i, t in ipairs(ts) do out[i] = t:clone() end
  return out
end

local function set_grads(ps, gs)
  for i, p in ipairs(ps) do p.grad = gs[i]:clone() end
end

T.test("no GPU or no CUDA: a clear error", function()
  T.check(lt.cuda.is_capturing() == false, "not capturing")
  T.check(type(lt.cuda.graph) == "function", "lt.cuda.graph exists")
  if lt.cuda.is_available() then return end
  T.checkerr("lt.cuda.graph needs a GPU: ", lt.cuda.graph, function() end, {x = lt.zeros(2)})
  T.checkerr("lt.cuda.graph needs a GPU: " .. lt.cuda._unavailable_reason(), lt.cuda.graph, function() end,
             {x = lt.zeros(2)})
end)

T.test("argument checks", function()
  local f = function() end
  T.checkerr("bad argument #1 to 'graph' (expected a function (the training step), got nil)", lt.cuda.graph)
  T.checkerr("bad argument #1 to 'graph' (expected a function (the training step), got tensor)", lt.cuda.graph,
             lt.zeros(1), {})
  T.checkerr("bad argument #2 to 'graph' (expected a table of CUDA tensors (the static inputs), got nil)",
             lt.cuda.graph, f)
  T.checkerr("got tensor (wrap it: {x})", lt.cuda.graph, f, lt.zeros(1))
  T.checkerr("bad argument #2 to 'graph' (the table of static inputs is empty)", lt.cuda.graph, f, {})
  T.checkerr("static input 'y' is a number, expected a tensor", lt.cuda.graph, f, {x = lt.zeros(1), y = 3})
  T.checkerr("static input '2' is a string, expected a tensor", lt.cuda.graph, f, {lt.zeros(1), "a"})
  T.checkerr("bad argument #3 to 'graph' (expected an options table, got number)", lt.cuda.graph, f,
             {lt.zeros(1)}, 3)
  T.checkerr("unknown option 'warm' (valid: warmup)", lt.cuda.graph, f, {lt.zeros(1)}, {warm = 1})
  T.checkerr("option 'warmup' must be an integer, got number", lt.cuda.graph, f, {lt.zeros(1)}, {warmup = 1.5})
  T.checkerr("option 'warmup' must be >= 0, got -1", lt.cuda.graph, f, {lt.zeros(1)}, {warmup = -1})
  if lt.cuda.is_available() then
    T.checkerr("static input 'x' is on cpu, expected a CUDA tensor", lt.cuda.graph, f, {x = lt.zeros(1)})
  end
end)

T.test("set_scalars: checks and the layout read by the CPU path", function()
  local s = lt.zeros({8}, {dtype = "float64"})
  lt._optim.set_scalars(s, "sgd", {lr = 0.5, momentum = 0.9, dampening = 0.1, weight_decay = 1e-4})
  T.tensor_equal(s, lt.tensor({0.5, 0.9, 0.1, 1e-4, 0, 0, 0, 0}, {dtype = "float64"}), "sgd layout")
  lt._optim.set_scalars(s, "adam", {lr = 1e-3, beta1 = 0.8, beta2 = 0.99, eps = 1e-7, weight_decay = 0.01, step = 4})
  T.tensor_equal(s, lt.tensor({1e-3, 0.8, 0.99, 1e-7, 0.01, 4, 0, 0}, {dtype = "float64"}), "adam layout")
  lt._optim.set_scalars(s, "adagrad", {lr = 0.1, lr_decay = 0.5, weight_decay = 0.2, eps = 1e-9, step = 2})
  -- only the algorithm's entries are written
  T.tensor_equal(s, lt.tensor({0.1, 0.5, 0.2, 1e-9, 2, 4, 0, 0}, {dtype = "float64"}), "adagrad layout")
  T.checkerr("bad argument #3 to 'set_scalars' (invalid lr -1", lt._optim.set_scalars, s, "sgd", {lr = -1})
  T.checkerr("nesterov momentum requires a momentum > 0", lt._optim.set_scalars, s, "sgd",
             {lr = 1, nesterov = true})
  T.checkerr("hyper-parameter 'step' must be a number, got nil", lt._optim.set_scalars, s, "adam", {lr = 1})
  T.checkerr("step is 0, expected a step count >= 1", lt._optim.set_scalars, s, "adagrad", {lr = 1, step = 0})
  T.checkerr("unknown option 'step'", lt._optim.set_scalars, s, "sgd", {lr = 1, step = 1})
  T.checkerr("unknown algorithm 'lbfgs'", lt._optim.set_scalars, s, "lbfgs", {lr = 1})
  T.checkerr("bad argument #3 to 'set_scalars' (expected a table of hyper-parameters, got no value)",
             lt._optim.set_scalars, s, "sgd")
  T.checkerr("the scalars tensor is float32, expected float64", lt._optim.set_scalars, lt.zeros(8), "sgd", {lr = 1})
  T.checkerr("at least 8 elements (got 4)", lt._optim.set_scalars, lt.zeros({4}, {dtype = "float64"}), "sgd",
             {lr = 1})
end)

T.test("steps with device scalars equal steps by value (CPU reads them)", function()
  local function run(kind, hyper, with_scalars, extra_lists)
    local ps, gs = make_params(1)
    local st = {}
    for i, p in ipairs(ps) do st[i] = lt.zeros_like(p) end
    local h = {}
    for k, v in pairs(hyper) do h[k] = v end
    if with_scalars then
      local s = lt.zeros({8}, {dtype = "float64"})
      local w = {}
      for k, v in pairs(hyper) do w[k] = v end
      if kind == "adam" or kind == "adagrad" then w.step = 3 end
      lt._optim.set_scalars(s, kind, w)
      h = {lr = 99, scalars = s, nesterov = hyper.nesterov, amsgrad = hyper.amsgrad, centered = hyper.centered,
           momentum = hyper.momentum, decoupled_weight_decay = hyper.decoupled_weight_decay}
    end
    extra_lists(ps, gs, st, h)
    return ps
  end
  local cases = {
    {"sgd", {lr = 0.1, momentum = 0.9, dampening = 0.2, weight_decay = 0.01},
     function(ps, gs, st, h) lt._optim.sgd(ps, gs, st, nil, h) end},
    {"adam", {lr = 0.01, beta1 = 0.8, beta2 = 0.95, eps = 1e-6, weight_decay = 0.1, decoupled_weight_decay = true},
     function(ps, gs, st, h)
       local v = {}
       for i, p in ipairs(ps) do v[i] = lt.ones_like(p) end
       lt._optim.adam(ps, gs, st, v, nil, {3, 3}, h)
     end},
    {"rmsprop", {lr = 0.01, alpha = 0.9, eps = 1e-6, weight_decay = 0.1, momentum = 0.5},
     function(ps, gs, st, h)
       local b = {}
       for i, p in ipairs(ps) do b[i] = lt.ones_like(p) end
       lt._optim.rmsprop(ps, gs, st, nil, b, h)
     end},
    {"adadelta", {lr = 0.5, rho = 0.8, eps = 1e-5, weight_decay = 0.1},
     function(ps, gs, st, h) lt._optim.adadelta(ps, gs, st, clone_all(st), h) end},
    {"adagrad", {lr = 0.1, lr_decay = 0.3, weight_decay = 0.1, eps = 1e-8},
     function(ps, gs, st, h) lt._optim.adagrad(ps, gs, st, {3, 3}, h) end},
  }
  for _, c in ipairs(cases) do
    local a = run(c[1], c[2], false, c[3])
    local b = run(c[1], c[2], true, c[3])
    for i = 1, #a do T.tensor_equal(b[i], a[i], c[1] .. " param " .. i) end
  end
  local ps, gs = make_params(2)
  local s = lt.zeros({8}, {dtype = "float64"})
  lt._optim.set_scalars(s, "sgd", {lr = 0.1, momentum = 0.9})
  T.checkerr("fresh[1] is true: a step reading device scalars cannot start a momentum buffer", lt._optim.sgd, ps, gs,
             clone_all(ps), {true, false}, {lr = 0.1, momentum = 0.9, scalars = s})
  T.checkerr("the scalars tensor is float32, expected float64", lt._optim.sgd, ps, gs, nil, nil,
             {lr = 0.1, scalars = lt.zeros(8)})
  T.checkerr("hyper-parameter 'scalars' must be a tensor, got number", lt._optim.sgd, ps, gs, nil, nil,
             {lr = 0.1, scalars = 1})
end)

-- N replays of a fake-captured opt:step() against 1 + N eager steps, with
-- the same fixed gradients and the same scheduler.
local function compare_replays(name, make_opt, N, between)
  local ps, gs = make_params(3)
  local qs = clone_all(ps)
  local opt_g, opt_e = make_opt(ps), make_opt(qs)
  local sched_g = optim.lr_scheduler.StepLR(opt_g, {step_size = 2, gamma = 0.5})
  local sched_e = optim.lr_scheduler.StepLR(opt_e, {step_size = 2, gamma = 0.5})
  set_grads(ps, gs)
  set_grads(qs, gs)
  local g = fake_graph(function() opt_g:step() end)
  opt_e:step() -- the warm-up's twin
  for k = 1, N do
    sched_g:step()
    sched_e:step()
    if between then between(opt_g, k); between(opt_e, k) end
    g:replay()
    opt_e:step()
  end
  for i = 1, #ps do T.tensor_equal(ps[i], qs[i], name .. ": param " .. i .. " after " .. N .. " replays") end
  for i = 1, #ps do
    local sg, se = opt_g.state[ps[i]], opt_e.state[qs[i]]
    T.check(sg.step == se.step, string.format("%s: step count %s, eager %s", name, tostring(sg.step),
                                              tostring(se.step)))
  end
  return g, opt_g, ps
end

T.test("fake capture: replays follow the scheduler and count steps", function()
  compare_replays("SGD nesterov", function(p)
    return optim.SGD(p, {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-2})
  end, 5)
  compare_replays("SGD momentum changed between replays", function(p)
    return optim.SGD(p, {lr = 0.1, momentum = 0.9, dampening = 0.1})
  end, 4, function(o, k) o.param_groups[1].momentum = 0.9 - 0.05 * k end)
  compare_replays("Adam", function(p) return optim.Adam(p, {lr = 0.01, weight_decay = 0.1}) end, 5)
  compare_replays("AdamW amsgrad, betas changed", function(p)
    return optim.AdamW(p, {lr = 0.01, amsgrad = true})
  end, 4, function(o, k) o.param_groups[1].betas = {0.9 - 0.01 * k, 0.999} end)
  compare_replays("RMSprop centered", function(p)
    return optim.RMSprop(p, {lr = 0.01, momentum = 0.5, centered = true})
  end, 4)
  compare_replays("Adadelta", function(p) return optim.Adadelta(p, {lr = 0.5, weight_decay = 0.1}) end, 4)
  compare_replays("Adagrad", function(p) return optim.Adagrad(p, {lr = 0.1, lr_decay = 0.01}) end, 4)
  local g, opt = compare_replays("two groups", function(p)
    return optim.SGD({{params = {p[1]}, lr = 0.2}, {params = {p[2]}}}, {lr = 0.1, momentum = 0.9})
  end, 3)
  T.check(g.replays == 3, "replays counted")
  T.check(tostring(g):find("7 nodes, 0 outputs, 1 hook, 0.0 MiB made by the step, replayed 3 times", 1, true),
          "tostring: " .. tostring(g))
  -- a change the replay cannot follow
  opt.param_groups[1].nesterov = true
  T.checkerr("SGD: parameter group 1 changed from {momentum on, nesterov = false, maximize = false} to "
             .. "{momentum on, nesterov = true, maximize = false} since the step was captured", g.replay, g)
  opt.param_groups[1].nesterov = false
  opt:load_state_dict(opt:state_dict())
  T.checkerr("SGD: the parameter groups or the state were replaced since the step was captured", g.replay, g)
  g:release()
  T.checkerr("replay: this CUDA graph was released", g.replay, g)
  T.check(tostring(g) == "CUDA graph (released)", "released tostring")
end)

T.test("fake capture: outputs, warm-up count, parameters without gradients", function()
  local ps, gs = make_params(4)
  local opt = optim.Adam(ps, {lr = 0.01})
  local calls = 0
  ps[1].grad = gs[1]:clone() -- ps[2] has no gradient: not stepped, not counted
  local out = lt.zeros(1)
  local g = fake_graph(function(inp)
    calls = calls + 1
    opt:step()
    return inp.x, out, 42
  end, {x = lt.ones(2)}, 3)
  T.check(calls == 4, "3 warm-up steps and one capture, got " .. calls)
  T.check(opt.state[ps[1]].step == 3, "capture does not count a step")
  T.check(opt.state[ps[2]] == nil, "no state without a gradient")
  local a, b, c = g:replay()
  T.check(lt.is_tensor(a) and b == out and c == 42 and g.outputs.n == 3, "replay returns the static outputs")
  T.check(opt.state[ps[1]].step == 4 and opt.state[ps[2]] == nil, "the hook counts the captured parameter only")
end)

T.test("fake capture: refusals", function()
  local ps, gs = make_params(5)
  -- an optimizer written in Lua
  local MySGD = optim.Optimizer:extend("MySGD", {lr = 0.01})
  function MySGD:step_group(group)
    for _, p in ipairs(group.params) do if p.grad ~= nil then p:add_(p.grad, -group.lr) end end
  end
  local mine = MySGD(ps, {lr = 0.1})
  set_grads(ps, gs)
  T.checkerr("MySGD:step() cannot be captured by lt.cuda.graph: an optimizer written in Lua", fake_graph,
             function() mine:step() end)
  T.check(not graph.capturing(), "capture ended after the failure")
  -- a subclass of SGD overriding step_group is Lua code too
  local Sub = optim.SGD:extend("Sub", optim.SGD.hyper)
  function Sub:step_group(g, gi) optim.SGD.step_group(self, g, gi) end
  local sub = Sub(ps, {lr = 0.1})
  T.checkerr("Sub:step() cannot be captured by lt.cuda.graph: an optimizer written in Lua", fake_graph,
             function() sub:step() end)
  -- state a captured step would have to create
  local sgd = optim.SGD(ps, {lr = 0.1, momentum = 0.9})
  T.checkerr("SGD:step() cannot be captured by lt.cuda.graph: a parameter of group 1 has no momentum buffer yet; run "
             .. "an eager step first", fake_graph, function() sgd:step() end, nil, 0)
  T.check(sgd.state[ps[1]] == nil or sgd.state[ps[1]].momentum_buffer == nil, "no buffer made by the capture")
  local adam = optim.Adam(ps, {lr = 0.1})
  T.checkerr("Adam:step() cannot be captured by lt.cuda.graph: a parameter has no Adam state yet", fake_graph,
             function() adam:step() end, nil, 0)
  T.check(adam.state[ps[1]] == nil or adam.state[ps[1]].step == nil, "no Adam state made by the capture")
  -- a group whose parameters have different step counts
  local adam2 = optim.Adam(ps, {lr = 0.1})
  ps[2].grad = nil
  adam2:step() -- ps[1] only
  set_grads(ps, gs)
  adam2:step() -- both: steps 2 and 1
  T.checkerr("parameter group 1 has parameters at different step counts (2 and 1)", fake_graph,
             function() adam2:step() end, nil, 0)
  T.check(adam2.state[ps[1]].step == 2 and adam2.state[ps[2]].step == 1, "steps unchanged by the failed capture")
  -- two steps in one capture
  local sgd2 = optim.SGD(ps, {lr = 0.1})
  T.checkerr("SGD:step() was called twice in one lt.cuda.graph capture", fake_graph,
             function() sgd2:step(); sgd2:step() end)
  -- nesting
  T.checkerr("lt.cuda.graph cannot run inside another lt.cuda.graph capture", fake_graph, function()
    fake_graph(function() end, nil, 0)
  end, nil, 0)
  -- after all these failures a capture still works
  local ok = optim.SGD(ps, {lr = 0.1})
  local g = fake_graph(function() ok:step() end)
  local before = ps[1]:clone()
  g:replay()
  T.check((before - ps[1]):abs():sum():item() > 0, "a replay after failed captures steps")
end)

T.test("fake capture: errors of the step and of the driver", function()
  local d = fake_driver()
  T.checkerr("lt.cuda.graph: the step could not be captured: boom", fake_graph, function() error("boom", 0) end,
             nil, 0, d)
  T.check(d.aborted and d.released, "a failed step aborts and releases the capture")
  local d2 = fake_driver()
  function d2.finish() error("lt.cuda.graph: the capture was invalidated", 0) end
  T.checkerr("lt.cuda.graph: the step could not be captured: the capture was invalidated", fake_graph,
             function() end, nil, 0, d2)
  T.check(d2.aborted and d2.released and not graph.capturing(), "a failed end is cleaned up")
  -- an error in the warm-up is the step's own error, before any capture
  local d3 = fake_driver()
  T.checkerr("warm-up failure", fake_graph, function() error("warm-up failure", 0) end, nil, 1, d3)
  T.check(not d3.aborted and not graph.warming_up, "no capture began")
end)

T.test("fake capture: releasing a graph never replayed drops the gradients it made", function()
  -- is_orphan stands for the C registry: the gradients the capture made
  local function run(replay_first)
    local ps, gs = make_params(5)
    set_grads(ps, gs)
    local opt = optim.SGD(ps, {lr = 0.1})
    local made = {}
    local d = fake_driver()
    function d.is_orphan(t) -- t:grad gives a new handle each time: compare storages
      for _, m in ipairs(made) do if lt.shares_storage(m, t) then return d.launches == 0 end end
      return false
    end
    local g = fake_graph(function()
      opt:zero_grad()
      for i, p in ipairs(ps) do
        p.grad = gs[i]:clone()
        made[#made + 1] = p.grad
      end
      opt:step()
      return ps[1].grad
    end, nil, 1, d)
    if replay_first then g:replay() end
    g:release()
    return ps, g
  end
  local ps, g = run(false)
  T.check(ps[1].grad == nil and ps[2].grad == nil, "gradients of a capture never replayed are dropped")
  T.check(g.outputs.n == 0, "and so are its outputs")
  ps, g = run(true)
  T.check(ps[1].grad ~= nil and ps[2].grad ~= nil, "a replayed graph's gradients stay")
  T.check(g.outputs.n == 1 and lt.shares_storage(g.outputs[1], ps[1].grad), "and its outputs stay readable")
end)

os.exit(T.done())
