-- luatrain.cuda_graph — lt.cuda.graph: a whole training step (forward, loss,
-- backward, optimizer step) captured once as a CUDA graph and replayed per
-- batch, with no Lua and no kernel launches in between:
--
--   local x = lt.empty({128, 3, 32, 32}, {device = "cuda"})   -- static inputs
--   local y = lt.empty({128}, {dtype = "int64", device = "cuda"})
--   x:copy_(first_images); y:copy_(first_labels)
--   local g = lt.cuda.graph(function(inp)
--     opt:zero_grad()
--     local loss = F.cross_entropy(net(inp.x), inp.y)
--     loss:backward()
--     opt:step()
--     return loss
--   end, {x = x, y = y})                 -- runs one eager warm-up step, then captures
--   for images, labels in batches do
--     x:copy_(images); y:copy_(labels)   -- new data into the same memory
--     local loss = g:replay()            -- the step on it; loss holds its value
--     sched:step()                       -- lr changes take effect at the next replay
--   end
--
-- What the step reads must live in the static inputs (or in tensors made
-- before the capture: parameters, optimizer state) and be changed in place;
-- what it returns (g.outputs) is overwritten by each replay. Tensors the
-- step makes exist only after the first replay (releasing a graph never
-- replayed drops the gradients it made, as a failed capture does). Inside the step, whatever
-- would need the host or differ per replay is an error during capture:
-- reading values (item, tolist, printing), copies from the CPU,
-- synchronisation, random numbers (dropout), new convolution shapes (warm
-- up with the same shapes), work on another device, optimizers written in
-- Lua. A failed capture raises after ending the capture; the stream is
-- usable and gradients made inside it are dropped: fall back to eager steps.
--
-- The built-in optimizers cooperate (lua/luatrain/optim/optimizer.lua):
-- captured, their kernels read the hyper-parameters and step count from a
-- small device buffer per parameter group, and before each replay the
-- graph runs their hooks, which advance the host step counts and write the
-- groups' current values (lr as a scheduler left it) into those buffers.
-- The C half (capture, memory, replay) is cuda/lt_cuda_graph.cu through
-- lt.cuda._graph_begin. Not here: the training loop's --cuda-graph switch.
local lt = require "luatrain.core"

local M = {}

-- The capture in progress (nil: none): {hooks, calls, optimizers, driver}.
local current

-- A driver runs a capture: the real one is CUDA; tests substitute a fake
-- whose `record` makes capture_call keep calls to replay instead of
-- letting CUDA record them.
local cuda_driver = {
  begin = function(device) return lt.cuda._graph_begin(device) end,
  finish = function(h) h:end_capture() end,
  abort = function(h) h:abort() end,
  launch = function(h) h:launch() end,
  release = function(h) h:release() end,
  info = function(h) return h:info() end,
  synchronize = function(device) lt.cuda.synchronize(device) end,
  is_orphan = function(t) return lt.cuda._is_graph_orphan(t) end,
}

-- While a warm-up runs, optimizers prepare their device scalar buffers even
-- on the CPU (a GPU always has them), so a fake capture can use them too.
M.warming_up = false

local function argerror(n, fmt, ...)
  error(string.format("bad argument #%d to 'graph' (%s)", n, string.format(fmt, ...)), 3)
end

local function typename(v)
  if lt.is_tensor(v) then return "tensor" end
  return type(v)
end

-- "cuda:1" -> 1, "cuda" -> 0, anything else -> nil
local function cuda_index(dev)
  if dev == "cuda" then return 0 end
  local i = dev:match("^cuda:(%d+)$")
  return i and tonumber(i)
end

-- Checks what a CPU-only machine can check; returns the warm-up count.
local function check_args(step_fn, static_inputs, opts)
  if type(step_fn) ~= "function" then
    argerror(1, "expected a function (the training step), got %s", typename(step_fn))
  end
  if type(static_inputs) ~= "table" or lt.is_tensor(static_inputs) then
    argerror(2, "expected a table of CUDA tensors (the static inputs), got %s%s", typename(static_inputs),
             lt.is_tensor(static_inputs) and " (wrap it: {x})" or "")
  end
  if next(static_inputs) == nil then argerror(2, "the table of static inputs is empty") end
  for k, v in pairs(static_inputs) do
    if not lt.is_tensor(v) then
      argerror(2, "static input '%s' is a %s, expected a tensor", tostring(k), typename(v))
    end
  end
  if opts ~= nil and (type(opts) ~= "table" or lt.is_tensor(opts)) then
    argerror(3, "expected an options table, got %s", typename(opts))
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "warmup" then argerror(3, "unknown option '%s' (valid: warmup)", tostring(k)) end
  end
  local warmup = opts.warmup
  if warmup == nil then warmup = 1 end
  if math.type(warmup) ~= "integer" and not (type(warmup) == "number" and warmup == math.floor(warmup)) then
    argerror(3, "option 'warmup' must be an integer, got %s", typename(warmup))
  end
  if warmup < 0 then argerror(3, "option 'warmup' must be >= 0, got %d", warmup) end
  return math.tointeger(warmup)
end

-- The one device of the static inputs.
local function input_device(static_inputs)
  local dev, first
  for _, k in ipairs(M._sorted_keys(static_inputs)) do
    local d = static_inputs[k]:device()
    local i = cuda_index(d)
    if i == nil then argerror(2, "static input '%s' is on %s, expected a CUDA tensor", k, d) end
    if dev == nil then
      dev, first = i, k
    elseif i ~= dev then
      argerror(2, "static input '%s' is on cuda:%d but '%s' is on cuda:%d: a graph runs on one device", k, i, first, dev)
    end
  end
  return dev
end

function M._sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  local out = {}
  local by = {}
  for k in pairs(t) do by[tostring(k)] = k end
  for i, s in ipairs(ks) do out[i] = by[s] end
  return out
end

-- --- what optimizers call while a step is captured --------------------------------

function M.capturing() return current ~= nil end

-- fn() runs before every replay (in registration order).
function M.add_hook(fn)
  assert(current, "add_hook: no capture in progress")
  current.hooks[#current.hooks + 1] = fn
end

-- Queues fn, a call of a kernel that the graph must replay: under CUDA the
-- call itself is recorded; a fake driver keeps fn to call at each replay.
function M.capture_call(fn)
  assert(current, "capture_call: no capture in progress")
  if current.driver.record then
    current.calls[#current.calls + 1] = fn
  else
    fn()
  end
end

-- First time an optimizer steps in this capture: true; again: false.
function M.note_optimizer(opt)
  assert(current, "note_optimizer: no capture in progress")
  if current.optimizers[opt] then return false end
  current.optimizers[opt] = true
  return true
end

-- Optimizers (weakly) known to exist, for dropping gradients a failed
-- capture made (the optimizer base class registers each one).
M.optimizers = setmetatable({}, {__mode = "k"})

-- After a failed capture: gradients made inside it point at memory that
-- never existed; drop them before an eager step touches them.
local function drop_orphans(driver)
  if not driver.is_orphan then return end
  for opt in pairs(M.optimizers) do
    for _, group in ipairs(opt.param_groups or {}) do
      for _, p in ipairs(group.params) do
        local g = p.grad
        if g ~= nil and driver.is_orphan(g) then p.grad = nil end
      end
    end
  end
  collectgarbage()
end

-- --- graphs ------------------------------------------------------------------------------

local Graph = {}
Graph.__index = Graph
Graph.__name = "luatrain.CudaGraph"

-- Runs the pre-replay hooks, then the captured step; returns its outputs.
function Graph:replay()
  if self._released then error("replay: this CUDA graph was released", 2) end
  for _, h in ipairs(self._hooks) do h() end
  self._driver.launch(self._handle)
  for _, f in ipairs(self._calls) do f() end
  self.replays = self.replays + 1
  return table.unpack(self.outputs, 1, self.outputs.n)
end

-- Frees the graph now (also when it is collected, or closed as a
-- `local g <close>`). Its outputs stay readable with the last replay's values.
function Graph:release()
  if self._released then return end
  self._released = true
  self._driver.release(self._handle)
  self._hooks, self._calls, self.static_inputs = {}, {}, nil
  -- Never replayed: what the capture made (gradients, outputs) was never
  -- allocated, and an eager step must not accumulate into it.
  if self.replays == 0 then
    self.outputs = {n = 0}
    drop_orphans(self._driver)
  end
end
Graph.__close = Graph.release

function Graph:__tostring()
  if self._released then return "CUDA graph (released)" end
  local info = self._driver.info(self._handle)
  return string.format("CUDA graph on cuda:%d: %d nodes, %d output%s, %d hook%s, %.1f MiB made by the step, "
                       .. "replayed %d time%s", info.device, info.nodes, self.outputs.n, self.outputs.n == 1 and "" or "s",
                       #self._hooks, #self._hooks == 1 and "" or "s", info.escaped_bytes / 2 ^ 20, self.replays,
                       self.replays == 1 and "" or "s")
end

-- The work of lt.cuda.graph once the arguments are checked (tests call it
-- with a fake driver).
function M._make(step_fn, static_inputs, warmup, device, driver)
  if current then
    error("lt.cuda.graph cannot run inside another lt.cuda.graph capture (graphs do not nest)", 3)
  end
  M.warming_up = true
  local ok, err = pcall(function()
    for _ = 1, warmup do step_fn(static_inputs) end
  end)
  M.warming_up = false
  if not ok then error(err, 0) end
  driver.synchronize(device)
  -- Garbage of the warm-up freed during the capture would be kept until the
  -- graph is released (the graph may read memory older than the capture).
  collectgarbage()
  collectgarbage()
  local handle = driver.begin(device)
  local cap = {hooks = {}, calls = {}, optimizers = {}, driver = driver}
  current = cap
  local outputs
  ok, err = pcall(function()
    outputs = table.pack(step_fn(static_inputs))
    -- the step's own garbage is freed inside the graph, not kept by it
    collectgarbage()
  end)
  current = nil
  if ok then ok, err = pcall(driver.finish, handle) end
  if not ok then
    driver.abort(handle)
    driver.release(handle)
    outputs = nil
    drop_orphans(driver)
    err = tostring(err)
    error("lt.cuda.graph: the step could not be captured: " .. err:gsub("^lt%.cuda%.graph: ", ""), 3)
  end
  return setmetatable({
    outputs = outputs, static_inputs = static_inputs, device = device, replays = 0,
    _handle = handle, _hooks = cap.hooks, _calls = cap.calls, _driver = driver,
  }, Graph)
end

-- lt.cuda.graph(step_fn, static_inputs [, {warmup = 1}]) -> graph
function M.graph(step_fn, static_inputs, opts)
  local warmup = check_args(step_fn, static_inputs, opts)
  if not lt.cuda.is_available() then
    error("lt.cuda.graph needs a GPU: " .. lt.cuda._unavailable_reason(), 2)
  end
  local device = input_device(static_inputs)
  return M._make(step_fn, static_inputs, warmup, device, cuda_driver)
end

M.Graph = Graph
lt.cuda.graph = M.graph

return M
