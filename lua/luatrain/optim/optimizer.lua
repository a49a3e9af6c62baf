-- luatrain.optim.Optimizer — the base class of every optimizer: parameter
-- groups, per-parameter state, zero_grad, step, state_dict/load_state_dict
-- and add_param_group, with PyTorch's semantics (torch.optim.Optimizer).
-- The built-in algorithms (SGD, Adam, AdamW, RMSprop, Adadelta, Adagrad)
-- subclass it and run their arithmetic in fused C kernels (lt._optim); this
-- file holds no arithmetic, only what they share: the step loop around a
-- kernel call (_fused_step), step counting (_counted_state) and range checks.
--
-- Writing an optimizer in Lua (scripts/examples/lua_optimizer.lua is a
-- complete, runnable one):
--
--   local Optimizer = lt.optim.Optimizer
--   -- the hyper-parameters and their defaults: the only names accepted in
--   -- the options table and in parameter groups (a typo is an error)
--   local MySGD = Optimizer:extend("MySGD", {lr = 0.01, momentum = 0.9})
--
--   -- optional: reject bad values; fail(fmt, ...) raises an error naming
--   -- the function, the argument and the parameter group
--   function MySGD:check_group(group, fail)
--     Optimizer.check_number(fail, "lr", group.lr, 0)           -- lr >= 0
--     Optimizer.check_number(fail, "momentum", group.momentum, 0, 1, true)
--   end
--
--   -- one step for one parameter group; step() calls it for every group
--   -- with autograd off. Skip parameters whose gradient is nil.
--   function MySGD:step_group(group)
--     for _, p in ipairs(group.params) do
--       local g = p.grad
--       if g ~= nil then
--         local state = self:param_state(p)     -- a table kept per parameter
--         if state.buf == nil then state.buf = g:clone()
--         else state.buf:mul_(group.momentum):add_(g) end
--         p:add_(state.buf, -group.lr)          -- in place
--       end
--     end
--   end
--
--   local opt = MySGD(net:parameters(), {lr = 0.1})
--
-- Tensors in the per-parameter state are saved by name by state_dict() and
-- checked against the parameter's shape and cast to its dtype and device by
-- load_state_dict(); numbers (a step count) are saved as they are. A
-- subclass may list the state a parameter must have once it has any
-- (MySGD.state_keys = function(self, group) return {"buf"} end) so that a
-- state dict of another optimizer is rejected.
--
-- Inside lt.cuda.graph (lua/luatrain/cuda_graph.lua) step() is captured,
-- not run: the built-in optimizers then launch kernels that read each
-- group's hyper-parameters and step count from a small device buffer
-- (made by their eager steps), change no host state, and register a hook
-- that, before each replay, advances the step counts and writes the groups'
-- current values (lr as a scheduler set it) into the buffers. What a replay
-- could not reproduce is refused: optimizers written in Lua, state not made
-- yet (momentum buffers, Adam moments: take an eager step first), groups
-- whose parameters have different step counts, a second step() in one
-- capture.
--
-- State dicts have PyTorch's structure with Lua's 1-based indices:
--   {state = {[i] = {momentum_buffer = <tensor>, step = 3, ...}, ...},
--    param_groups = {{lr = 0.1, momentum = 0.9, ..., params = {1, 2, 3}}, ...}}
-- Parameter i is the i-th parameter in group order (PyTorch's index i-1).
local lt = require "luatrain.core"
local argcheck = require "luatrain.argcheck"
local util = require "luatrain.optim.util"
local graph = require "luatrain.cuda_graph"

local Optimizer = util.class("Optimizer")
Optimizer.hyper = {}

-- A subclass named `name` whose hyper-parameters and PyTorch defaults are
-- `hyper` (values are numbers, booleans or lists of numbers such as betas).
function Optimizer:extend(name, hyper)
  if type(name) ~= "string" then argcheck.argerror("extend", 1, "expected a class name (string), got %s", argcheck.typename(name)) end
  if hyper ~= nil and type(hyper) ~= "table" then
    argcheck.argerror("extend", 2, "expected a table of hyper-parameter defaults, got %s", argcheck.typename(hyper))
  end
  local cls = util.class(name, self)
  cls.hyper = util.copy(hyper or self.hyper)
  return cls
end

function Optimizer.new(cls, params, opts)
  if cls == Optimizer then
    argcheck.raise("Optimizer is a base class: make an optimizer with Optimizer:extend(name, hyper) and define step_group")
  end
  local self = setmetatable({}, cls)
  self:init(params, opts)
  graph.optimizers[self] = true
  return self
end

-- "invalid <name> <v> (expected ...)" unless lo <= v <= hi (v < hi when
-- hi_open); hi defaults to +inf (exclusive: lr = inf is rejected too).
function Optimizer.check_number(fail, name, v, lo, hi, hi_open)
  hi = hi or math.huge
  if hi == math.huge then hi_open = true end
  if v ~= v or v < lo or v > hi or (hi_open and v == hi) then
    local num = argcheck.num
    if hi == math.huge then
      fail("invalid %s %s (expected a number >= %s)", name, num(v), num(lo))
    else
      fail("invalid %s %s (expected %s <= %s %s %s)", name, num(v), num(lo), name, hi_open and "<" or "<=", num(hi))
    end
  end
end

-- check_number(fail, name, group[name], 0) for each name in turn: for the
-- hyper-parameters that must be finite numbers >= 0 (lr, eps, weight_decay).
function Optimizer.check_nonnegative(fail, group, ...)
  for i = 1, select("#", ...) do
    local name = select(i, ...)
    Optimizer.check_number(fail, name, group[name], 0)
  end
end

-- Types of the hyper-parameters, then the subclass's check_group.
function Optimizer:_check_group(group, fname, argn, where)
  local function fail(fmt, ...) argcheck.argerror(fname, argn, "%s" .. fmt, where, ...) end
  for _, k in ipairs(argcheck.sorted_keys(self.hyper)) do
    local def, v = self.hyper[k], group[k]
    if type(def) == "table" then
      local ok = type(v) == "table" and not argcheck.is_tensor(v) and #v == #def
      for i = 1, #def do ok = ok and type(v[i]) == "number" end
      if not ok then fail("hyper-parameter '%s' must be a list of %d numbers, got %s", k, #def, argcheck.typename(v)) end
    elseif type(v) ~= type(def) then
      fail("hyper-parameter '%s' must be a %s, got %s", k, type(def), argcheck.typename(v))
    end
  end
  if self.check_group then self:check_group(group, fail) end
end

local function hyper_list(self)
  local ks = argcheck.sorted_keys(self.hyper)
  ks[#ks + 1] = "params"
  return table.concat(ks, ", ")
end

-- Adds one group (a table with `params`) after checking it; argn/fname name
-- the Lua call for messages, label says which group ("parameter group 2: ").
function Optimizer:_add_group(group, fname, argn, label)
  if type(group) ~= "table" or argcheck.is_tensor(group) then
    argcheck.argerror(fname, argn, "%sexpected a table {params = {...}, <hyper-parameters>}, got %s", label, argcheck.typename(group))
  end
  local ps = group.params
  if argcheck.is_tensor(ps) then ps = {ps} end
  if type(ps) ~= "table" then
    argcheck.argerror(fname, argn, "%s'params' must be a tensor or a list of tensors, got %s", label, argcheck.typename(ps))
  end
  if #ps == 0 then argcheck.argerror(fname, argn, "%soptimizer got an empty parameter list", label) end
  for k in pairs(group) do
    if k ~= "params" and (type(k) ~= "string" or self.hyper[k] == nil) then
      argcheck.argerror(fname, argn, "%sunknown hyper-parameter '%s' for %s (valid: %s)", label, tostring(k), self.__name,
                    hyper_list(self))
    end
  end
  local owner = {}
  for gi, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do owner[p] = gi end
  end
  local new = {params = {}}
  local seen = {}
  for i, p in ipairs(ps) do
    if not argcheck.is_tensor(p) then
      argcheck.argerror(fname, argn, "%sparams[%d] is a %s; an optimizer can only optimize tensors", label, i, argcheck.typename(p))
    end
    if p.is_leaf == false then
      argcheck.argerror(fname, argn, "%sparams[%d] is not a leaf tensor (it was computed by an op); can't optimize it", label, i)
    end
    if seen[p] then
      argcheck.argerror(fname, argn, "%sparams[%d] is the same tensor as params[%d]: a parameter may appear only once", label, i,
                    seen[p])
    end
    if owner[p] then
      argcheck.argerror(fname, argn, "%sparams[%d] is already in parameter group %d: a parameter may be in only one group",
                    label, i, owner[p])
    end
    seen[p] = i
    new.params[i] = p
  end
  for k, def in pairs(self.defaults) do
    if group[k] ~= nil then new[k] = util.copy(group[k]) else new[k] = util.copy(def) end
  end
  self:_check_group(new, fname, argn, label)
  self.param_groups[#self.param_groups + 1] = new
  return new
end

-- params: a list of tensors, or a list of parameter groups; opts: the
-- hyper-parameters' values for groups that don't set their own.
function Optimizer:init(params, opts)
  local fname = self.__name
  if opts ~= nil and (type(opts) ~= "table" or argcheck.is_tensor(opts)) then
    argcheck.argerror(fname, 2, "expected a table of hyper-parameters, got %s", argcheck.typename(opts))
  end
  for k in pairs(opts or {}) do
    if type(k) ~= "string" or self.hyper[k] == nil then
      argcheck.argerror(fname, 2, "unknown hyper-parameter '%s' for %s (valid: %s)", tostring(k), fname,
                    table.concat(argcheck.sorted_keys(self.hyper), ", "))
    end
  end
  self.defaults = {}
  for k, v in pairs(self.hyper) do self.defaults[k] = util.copy(v) end
  for k, v in pairs(opts or {}) do self.defaults[k] = util.copy(v) end
  self:_check_group(self.defaults, fname, 2, "")
  self.state = {}
  self.param_groups = {}

  if type(params) ~= "table" or argcheck.is_tensor(params) then
    argcheck.argerror(fname, 1, "expected a list of tensors or of parameter groups, got %s%s", argcheck.typename(params),
                  argcheck.is_tensor(params) and " (wrap a single tensor in a list: {t})" or "")
  end
  if params[1] == nil then
    if next(params) == nil then argcheck.argerror(fname, 1, "optimizer got an empty parameter list") end
    argcheck.argerror(fname, 1, "expected a list (keys 1..n) of tensors or of parameter groups, got a table with key '%s'",
                  tostring(next(params)))
  end
  if argcheck.is_tensor(params[1]) then
    self:_add_group({params = params}, fname, 1, "")
  else
    for i, g in ipairs(params) do
      if argcheck.is_tensor(g) or type(g) ~= "table" then
        argcheck.argerror(fname, 1, "params[%d] is a %s but params[1] is a parameter group: give a list of tensors or a list of groups",
                      i, argcheck.typename(g))
      end
      self:_add_group(g, fname, 1, string.format("parameter group %d: ", i))
    end
  end
end

-- PyTorch's add_param_group: the group's missing hyper-parameters come from
-- the defaults given at construction.
function Optimizer:add_param_group(group)
  self:_add_group(group, "add_param_group", 1, "")
end

-- A state tensor for parameter p: zeros of p's shape, dtype, device and
-- layout (lt.zeros_like keeps the layout, PyTorch's preserve_format: a
-- channels-last weight gets channels-last state), so that the fused kernels
-- step it in place beside p instead of through contiguous copies.
function Optimizer.zeros_like(p) return lt.zeros_like(p) end

-- The state table of parameter p, created empty on first use.
function Optimizer:param_state(p)
  local s = self.state[p]
  if s == nil then
    s = {}
    self.state[p] = s
  end
  return s
end

-- The state of parameter p for the step being prepared, for optimizers that
-- count steps: on p's first step, step = 0 and each state named in ... (e.g.
-- "exp_avg") starts as zeros shaped like p; then step counts this one.
-- While a step is captured nothing changes: the state must exist (the
-- step count advances before each replay instead).
function Optimizer:_counted_state(p, ...)
  local st = self:param_state(p)
  if self._capture then
    if st.step == nil then self:_refuse_capture("a parameter has no %s state yet", self.__name) end
    return st
  end
  if st.step == nil then
    st.step = 0
    for i = 1, select("#", ...) do st[select(i, ...)] = Optimizer.zeros_like(p) end
  end
  st.step = st.step + 1
  return st
end

-- Raises, during a capture, that state the captured step would have to
-- create is missing (what: a format and its arguments).
function Optimizer:_refuse_capture(fmt, ...)
  argcheck.raise("%s:step() cannot be captured by lt.cuda.graph: %s; run an eager step first (lt.cuda.graph's warmup "
             .. "does)", self.__name, string.format(fmt, ...))
end

-- zero_grad{set_to_none = true}: drops the gradients (the default, as in
-- PyTorch 2), or fills them with zeros in place when set_to_none = false.
function Optimizer:zero_grad(opts)
  opts = argcheck.check_opts(opts, 1, "zero_grad", {set_to_none = true})
  local none = opts.set_to_none
  if none == nil then none = true end
  if type(none) ~= "boolean" then
    argcheck.argerror("zero_grad", 1, "set_to_none must be a boolean, got %s", argcheck.typename(none))
  end
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      local g = util.get_grad(p)
      if g ~= nil then
        if none then util.set_grad(p, nil) else g:zero_() end
      end
    end
  end
end

-- step([closure]): closure (with autograd on) re-evaluates the model and
-- returns the loss, which step returns; then every group is updated with
-- autograd off.
function Optimizer:step(closure)
  if closure ~= nil and type(closure) ~= "function" then
    argcheck.argerror("step", 1, "expected a function (a closure returning the loss) or nil, got %s", argcheck.typename(closure))
  end
  local capturing = graph.capturing()
  if capturing then
    if self._graph == nil or self.step_group ~= self._graph.step_group then
      argcheck.raise("%s:step() cannot be captured by lt.cuda.graph: an optimizer written in Lua would replay with the "
                 .. "hyper-parameters it had at capture (use SGD, Adam, AdamW, RMSprop, Adadelta or Adagrad, or "
                 .. "step eagerly)", self.__name)
    end
    if not graph.note_optimizer(self) then
      argcheck.raise("%s:step() was called twice in one lt.cuda.graph capture: one step per replay", self.__name)
    end
  end
  local loss
  if closure then util.enable_grad(function() loss = closure() end) end
  if not capturing then
    util.no_grad(function()
      for gi, group in ipairs(self.param_groups) do self:step_group(group, gi) end
    end)
    return loss
  end
  local cap = {groups = {}}
  self._capture = cap
  local ok, err = pcall(util.no_grad, function()
    for gi, group in ipairs(self.param_groups) do self:step_group(group, gi) end
  end)
  self._capture = nil
  if not ok then error(err, 0) end
  if #cap.groups > 0 then graph.add_hook(self:_replay_hook(cap.groups)) end
  return loss
end

-- The hook run before each replay of a captured step over `groups` (what
-- _fused_step recorded): checks that nothing a replay cannot follow has
-- changed, then advances the step counts and writes each group's current
-- hyper-parameters into its device buffer.
function Optimizer:_replay_hook(groups)
  local param_groups, state, ngroups = self.param_groups, self.state, #self.param_groups
  return function()
    if self.param_groups ~= param_groups or self.state ~= state or #self.param_groups ~= ngroups then
      argcheck.raise("%s: the parameter groups or the state were replaced since the step was captured "
                 .. "(load_state_dict, add_param_group): capture it again", self.__name)
    end
    for _, c in ipairs(groups) do
      local now = self._graph.structure(c.g)
      if now ~= c.structure then
        argcheck.raise("%s: parameter group %d changed from {%s} to {%s} since the step was captured: capture it again",
                   self.__name, c.gi, c.structure, now)
      end
    end
    for _, c in ipairs(groups) do
      local h = self._graph.hyper(self, c.g)
      h.scalars = nil
      if c.counted then
        for _, st in ipairs(c.states) do st.step = st.step + 1 end
        if self._graph.uses_step then h.step = c.states[1].step end
      end
      lt._optim.set_scalars(c.scalars, self._graph.algo, h)
    end
  end
end

function Optimizer:step_group()
  argcheck.raise("%s does not define step_group(group) (or step(closure)): an optimizer subclass must", self.__name)
end

-- A shallow copy of p's state (false when it has none), taken before a
-- step changes it, so a failed kernel call can put it back.
local function snapshot(self, p)
  local st = self.state[p]
  if st == nil then return false end
  local c = {}
  for k, v in pairs(st) do c[k] = v end
  return c
end

-- One step of group g (number gi) as one call of a fused kernel
-- (lt._optim.*), the way every built-in optimizer steps. For each parameter
-- with a gradient, in group order, prepare(p, n) creates or advances its
-- state and puts what the kernel needs at position n of the caller's lists
-- (n counts the parameters with a gradient); then kernel(params, grads, ...)
-- runs, unless no parameter had a gradient. On failure (the kernel checks
-- every list before it writes anything) each parameter's state goes back to
-- what it was before prepare, and the error says which optimizer, group and
-- parameter it was about.
--
-- The last argument in ... is the kernel's hyper-parameter table. An eager
-- step on a GPU (or in lt.cuda.graph's warm-up) also makes the group's
-- device scalar buffer; a captured one passes it to the kernel instead of
-- values and records what the replay hook needs.
function Optimizer:_fused_step(g, gi, prepare, kernel, ...)
  local params, grads, idx, snaps = {}, {}, {}, {}
  local n = 0
  local cap = self._capture
  for j, p in ipairs(g.params) do
    local grad = util.get_grad(p)
    if grad ~= nil then
      n = n + 1
      snaps[n] = snapshot(self, p)
      params[n], grads[n], idx[n] = p, grad, j
      prepare(p, n)
    end
  end
  if n == 0 then return end
  local args = table.pack(...)
  local ok, err
  if cap then
    ok, err = self:_capture_group(g, gi, params, kernel, grads, args)
  else
    if self._graph and (graph.warming_up or params[1]:device() ~= "cpu") then self:_group_scalars(g, params[1]) end
    ok, err = pcall(kernel, params, grads, table.unpack(args, 1, args.n))
  end
  if ok then return end
  for k, p in ipairs(params) do self.state[p] = snaps[k] or nil end
  -- a kernel's failure says what and which of its parameters (lt_lua_optim.c)
  local failure = type(err) == "table" and err.reason ~= nil
  local msg = failure and err.reason or tostring(err)
  local k = failure and err.parameter or nil
  local which = (k and idx[k]) and string.format(", parameter %d", idx[k]) or ""
  argcheck.raise("%s:step(): parameter group %d%s: %s", self.__name, gi, which, msg)
end

-- The device buffer of group g's hyper-parameters (lt._optim.set_scalars),
-- made on first use; keyed by the group table, so groups that
-- load_state_dict replaces get new ones.
function Optimizer:_group_scalars(g, p)
  self._scalars = self._scalars or setmetatable({}, {__mode = "k"})
  local s = self._scalars[g]
  if s == nil then
    s = lt.zeros({8}, {dtype = "float64", device = p:device()})
    self._scalars[g] = s
  end
  return s
end

-- The captured form of one group's step: checks (raising), then queues the
-- kernel reading the group's device scalars (returning pcall's results),
-- and records the group for the hook.
function Optimizer:_capture_group(g, gi, params, kernel, grads, args)
  local desc = self._graph
  local states = {}
  for k, p in ipairs(params) do states[k] = self.state[p] end
  if desc.counted and desc.uses_step then
    for k = 2, #states do
      if states[k].step ~= states[1].step then
        argcheck.raise("%s:step() cannot be captured by lt.cuda.graph: parameter group %d has parameters at different "
                   .. "step counts (%s and %s); all parameters of a group must share one", self.__name, gi,
                   argcheck.num(states[1].step), argcheck.num(states[k].step))
      end
    end
  end
  local scalars = self._scalars and self._scalars[g]
  if scalars == nil then
    self:_refuse_capture("parameter group %d has no device buffer for its hyper-parameters", gi)
  end
  local hyper = args[args.n]
  hyper.scalars = scalars
  local ok, err = pcall(graph.capture_call, function() kernel(params, grads, table.unpack(args, 1, args.n)) end)
  if not ok then return ok, err end
  local cap = self._capture
  cap.groups[#cap.groups + 1] = {g = g, gi = gi, scalars = scalars, states = states, counted = desc.counted,
                                 structure = desc.structure(g)}
  return true
end

-- --- state dicts ---------------------------------------------------------------

-- Names of per-parameter state that are numbers rather than tensors shaped
-- like the parameter (a PyTorch checkpoint may hold them as 1-element tensors).
Optimizer.scalar_state = {step = true}

function Optimizer:state_dict()
  local index, n = {}, 0
  local groups = {}
  for gi, g in ipairs(self.param_groups) do
    local packed = {}
    for k, v in pairs(g) do
      if k ~= "params" then packed[k] = util.copy(v) end
    end
    packed.params = {}
    for j, p in ipairs(g.params) do
      if index[p] == nil then
        n = n + 1
        index[p] = n
      end
      packed.params[j] = index[p]
    end
    groups[gi] = packed
  end
  local state = {}
  for p, s in pairs(self.state) do
    if index[p] and next(s) ~= nil then
      local c = {}
      for k, v in pairs(s) do c[k] = v end
      state[index[p]] = c
    end
  end
  return {state = state, param_groups = groups}
end

local function as_index_list(v)
  if argcheck.is_tensor(v) then return v:tolist() end
  return v
end

local function shape_str(t) return "[" .. table.concat(t:shape(), ",") .. "]" end

-- Loads a state dict made by state_dict() (of an optimizer of the same class
-- over parameters of the same shapes, in the same groups): tensors are
-- copied (cast to each parameter's dtype and device), hyper-parameters
-- replace the groups' (parameters stay). Checks everything before changing
-- anything.
function Optimizer:load_state_dict(sd)
  local F = "load_state_dict"
  if type(sd) ~= "table" or type(sd.state) ~= "table" or type(sd.param_groups) ~= "table" then
    argcheck.argerror(F, 1, "expected a state dict {state = {...}, param_groups = {...}}, got %s%s", argcheck.typename(sd),
                  type(sd) == "table" and " without 'state' or 'param_groups'" or "")
  end
  local saved = sd.param_groups
  if #saved ~= #self.param_groups then
    argcheck.argerror(F, 1, "the state dict has %d parameter groups, this %s has %d", #saved, self.__name, #self.param_groups)
  end
  local id_map = {}
  local new_groups = {}
  for gi, g in ipairs(self.param_groups) do
    local sg = saved[gi]
    if type(sg) ~= "table" then argcheck.argerror(F, 1, "param_groups[%d] is a %s, expected a table", gi, argcheck.typename(sg)) end
    local sp = as_index_list(sg.params)
    if type(sp) ~= "table" then argcheck.argerror(F, 1, "param_groups[%d] has no list 'params'", gi) end
    if #sp ~= #g.params then
      argcheck.argerror(F, 1, "parameter group %d of the state dict has %d parameters, this optimizer's group %d has %d", gi,
                    #sp, gi, #g.params)
    end
    for j, p in ipairs(g.params) do
      local id = math.tointeger(sp[j])
      if id == nil then argcheck.argerror(F, 1, "param_groups[%d].params[%d] is not an integer index", gi, j) end
      id_map[id] = p
    end
    local ng = {params = g.params}
    for _, k in ipairs(argcheck.sorted_keys(self.hyper)) do
      if sg[k] == nil then
        argcheck.argerror(F, 1, "parameter group %d of the state dict lacks hyper-parameter '%s' (is it the state of another optimizer than %s?)",
                      gi, k, self.__name)
      end
    end
    for k, v in pairs(sg) do
      if k ~= "params" then ng[k] = util.copy(v) end
    end
    self:_check_group(ng, F, 1, string.format("parameter group %d of the state dict: ", gi))
    new_groups[gi] = ng
  end
  local new_state = {}
  for key, s in pairs(sd.state) do
    local id = math.tointeger(key) or math.tointeger(tonumber(key))
    local p = id and id_map[id]
    if p == nil then
      argcheck.argerror(F, 1, "the state dict has state for parameter %s, which is in none of its parameter groups", tostring(key))
    end
    if type(s) ~= "table" then argcheck.argerror(F, 1, "state[%s] is a %s, expected a table", tostring(key), argcheck.typename(s)) end
    local ns = {}
    for k, v in pairs(s) do
      if self.scalar_state[k] then
        if argcheck.is_tensor(v) then
          if v:numel() ~= 1 then
            argcheck.argerror(F, 1, "state '%s' of parameter %d has shape %s, expected a number", k, id, shape_str(v))
          end
          v = v:item()
        elseif type(v) ~= "number" then
          argcheck.argerror(F, 1, "state '%s' of parameter %d is a %s, expected a number", k, id, argcheck.typename(v))
        end
        ns[k] = v
      elseif argcheck.is_tensor(v) then
        local ps, vs = shape_str(p), shape_str(v)
        if ps ~= vs then
          argcheck.argerror(F, 1, "state '%s' of parameter %d has shape %s, expected %s (the parameter's shape)", k, id, vs, ps)
        end
        -- a copy in p's dtype, device and layout (see Optimizer.zeros_like)
        ns[k] = lt.empty_like(p):copy_(v)
      else
        ns[k] = util.copy(v)
      end
    end
    if self.state_keys and next(ns) ~= nil then
      local gi
      for i, g in ipairs(new_groups) do
        for _, q in ipairs(g.params) do if q == p then gi = i end end
      end
      for _, k in ipairs(self:state_keys(new_groups[gi])) do
        if ns[k] == nil then
          argcheck.argerror(F, 1, "state of parameter %d lacks '%s' (is it the state of another optimizer than %s?)", id, k,
                        self.__name)
        end
      end
    end
    new_state[p] = ns
  end
  self.param_groups = new_groups
  self.state = new_state
end

function Optimizer:__tostring()
  local lines = {self.__name .. " ("}
  for gi, g in ipairs(self.param_groups) do
    lines[#lines + 1] = string.format("Parameter Group %d", gi)
    for _, k in ipairs(argcheck.sorted_keys(g)) do
      if k ~= "params" then
        local v = g[k]
        if type(v) == "table" then
          local parts = {}
          for i, x in ipairs(v) do parts[i] = argcheck.num(x) end
          v = "(" .. table.concat(parts, ", ") .. ")"
        end
        lines[#lines + 1] = string.format("    %s: %s", k, argcheck.num(v))
      end
    end
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

return Optimizer
