-- luatrain.nn.module — nn.Module, the base class of every layer and model,
-- with PyTorch's semantics: registered parameters, buffers and children in
-- definition order, PyTorch state_dict names, train/eval, `to`, printing.
-- It holds no layer (those are in nn/layers/) and computes nothing itself.
-- At about 700 lines it is one class: registration, traversal, state_dict
-- and `to` all walk the same three ordered tables, so they stay together.
--
-- Subclassing:
--
--   local Block = nn.Module:extend("Block")   -- a class; its name is printed
--   function Block:__init(cin, cout)
--     nn.Module.__init(self)                  -- the base init (optional: an
--                                              -- instance is set up before __init runs)
--     self.conv = nn.Conv2d(cin, cout, 3, {padding = 1})
--     self.scale = nn.Parameter(lt.ones(cout, 1, 1))
--     self:register_buffer("steps", lt.zeros(1))
--   end
--   function Block:forward(x) return self.conv(x) * self.scale end
--   local b = Block(3, 8)                     -- calls Block:__init(3, 8)
--   local y = b(x)                            -- calls Block:forward(x)
--
-- What an assignment `self.name = value` does (the rule, in order):
--   * a Module: registered as the child `name`;
--   * a tensor, when `name` is already a parameter: replaces that parameter;
--   * a leaf tensor with requires_grad (nn.Parameter(t) makes one): a new
--     parameter `name`;
--   * a tensor, when `name` is already a buffer: replaces that buffer;
--   * nil: removes `name` (parameter, buffer, child or plain field);
--   * anything else: a plain field, not part of the state.
-- Assigning a non-tensor to a parameter or buffer name, or a non-module to a
-- child's name, is an error (the state would silently lose an entry).
-- Integer keys are reserved for containers (Sequential, ModuleList).
--
-- Errors raised inside forward are prefixed once, by the outermost module
-- call, with the path and class of the innermost module that failed:
--   "layer2.0.conv1 (Conv2d): bad argument #1 to 'conv2d' (...)".
--
-- named_* methods return iterators (`for name, p in m:named_parameters() do`);
-- parameters(), buffers(), children() and modules() return arrays.
--
-- Mixed precision per module (bf16 autocast, see lt.autocast):
--   model:autocast("bf16")   -- calling model runs its forward under lt.autocast("bf16")
--   model:autocast(false)    -- its forward runs with autocast off, even inside an
--                            -- autocast caller (keep a head in float32)
--   model:autocast(nil)      -- back to the default: the caller's mode
--   model:get_autocast()     -- "bfloat16", false or nil
-- Parameters stay float32 (the master weights: nothing is converted),
-- batch norm keeps float32 statistics, and floating results that come back
-- to a caller outside autocast are float32 (a differentiable cast, as
-- Accelerate's convert_outputs_to_fp32), so the loss computed outside is
-- float32. The setting is not part of state_dict and is not inherited by
-- children (they run inside the parent's region anyway). Only the returned
-- tensors themselves are cast, not tensors inside returned tables.
local lt = require "luatrain.core"

local Module = {}

-- --- ordered registries --------------------------------------------------------
-- A registry keeps names in insertion order; replacing an entry keeps its
-- place, removing one and adding it again moves it to the end (PyTorch's
-- OrderedDict behaviour).
local function new_registry() return {names = {}, map = {}} end

local function reg_set(r, k, v)
  if r.map[k] == nil then r.names[#r.names + 1] = k end
  r.map[k] = v
end

local function reg_remove(r, k)
  if r.map[k] == nil then return end
  r.map[k] = nil
  for i, n in ipairs(r.names) do
    if n == k then table.remove(r.names, i) break end
  end
end

local function is_tensor(v) return lt.is_tensor(v) end

local instance_index, instance_newindex -- forward declarations

local function is_module(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__index") == instance_index
end
Module.is_module = is_module

local function shape_str(t)
  return "[" .. table.concat(t:shape(), ",") .. "]"
end
Module._shape_str = shape_str

-- Runs f with gradient recording off (for in-place updates of parameters).
local function no_grad(f) return lt.no_grad(f) end
Module._no_grad = no_grad

-- --- classes --------------------------------------------------------------------
-- A class is the metatable of its instances; these metamethods are copied
-- into each subclass (Lua looks metamethods up without __index).
local METAMETHODS = {"__index", "__newindex", "__call", "__tostring", "__len"}

local function construct(cls, ...)
  local self = {
    _parameters = new_registry(),
    _buffers = new_registry(),
    _modules = new_registry(),
    _non_persistent = {}, -- buffer names left out of state_dict
    _attrs = {training = true},
  }
  setmetatable(self, cls)
  local init = cls.__init
  if init then init(self, ...) end
  return self
end

local function new_class(name, parent)
  local cls = {_class_name = name, super = parent}
  -- the REPL completes `m:` from __methods when __index is a function
  cls.__methods = cls
  if parent then
    for _, mm in ipairs(METAMETHODS) do cls[mm] = rawget(parent, mm) end
  end
  return setmetatable(cls, {
    __index = parent,
    __call = construct,
    __tostring = function() return "nn class " .. name end,
  })
end

--- Module:extend(name) -> a subclass named `name` (the name tostring prints).
function Module.extend(parent, name)
  if type(parent) ~= "table" or rawget(parent, "__index") ~= instance_index then
    error("extend: call it on a class, as nn.Module:extend(\"Name\")", 2)
  end
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    error("extend: expected a class name (an identifier string), got " .. tostring(name), 2)
  end
  return new_class(name, parent)
end

--- The base initialiser: a subclass's __init may call nn.Module.__init(self).
function Module:__init()
  self._attrs.training = true
end

function Module:forward()
  error(string.format("%s has no forward function (define %s:forward)", self:_get_name(), self:_get_name()), 2)
end

function Module:_get_name() return getmetatable(self)._class_name end

-- --- field access ---------------------------------------------------------------
-- All fields live in the registries or in _attrs, never in the instance table
-- itself, so that every assignment reaches __newindex and is classified.
instance_index = function(self, k)
  local cls = getmetatable(self)
  if type(k) == "number" then
    local get = cls._getitem
    if get then return get(self, k) end
    return nil
  end
  local v = self._attrs[k]
  if v ~= nil then return v end
  v = self._parameters.map[k]
  if v ~= nil then return v end
  v = self._buffers.map[k]
  if v ~= nil then return v end
  v = self._modules.map[k]
  if v ~= nil then return v end
  return cls[k]
end

local function is_parameter_candidate(t)
  -- only leaves: an activation computed in forward and cached on the module
  -- must not become a parameter
  return t.requires_grad == true and t.grad_fn == nil
end

instance_newindex = function(self, k, v)
  local cls = getmetatable(self)
  if type(k) == "number" then
    local set = cls._setitem
    if set then return set(self, k, v) end
    error(string.format("%s: integer keys are only for containers (got [%s])", self:_get_name(), tostring(k)), 2)
  end
  if type(k) ~= "string" then
    error(string.format("%s: module fields are named by strings, got a %s key", self:_get_name(), type(k)), 2)
  end
  local P, B, M, A = self._parameters, self._buffers, self._modules, self._attrs
  if is_module(v) then
    reg_remove(P, k); reg_remove(B, k); A[k] = nil
    reg_set(M, k, v)
  elseif is_tensor(v) then
    if P.map[k] ~= nil or (B.map[k] == nil and M.map[k] == nil and is_parameter_candidate(v)) then
      reg_remove(B, k); reg_remove(M, k); A[k] = nil
      reg_set(P, k, v)
    elseif B.map[k] ~= nil then
      reg_set(B, k, v)
    elseif M.map[k] ~= nil then
      error(string.format("%s: cannot assign a tensor to '%s', which is a child module (assign a Module or nil)",
                          self:_get_name(), k), 2)
    else
      A[k] = v
    end
  elseif v == nil then
    reg_remove(P, k); reg_remove(B, k); reg_remove(M, k); A[k] = nil
    self._non_persistent[k] = nil
  else
    local what = P.map[k] ~= nil and "parameter" or B.map[k] ~= nil and "buffer" or M.map[k] ~= nil and "child module"
    if what then
      error(string.format("%s: cannot assign a %s to %s '%s' (expected a %s or nil)", self:_get_name(), type(v), what,
                          k, what == "child module" and "Module" or "tensor"), 2)
    end
    A[k] = v
  end
end

-- --- calling forward, with the failing module's path in errors ---------------
local depth = 0         -- nesting of module calls in progress
local failing = nil     -- {msg=, module=}: the innermost module a pending error came from

local function find_path(root, target)
  if root == target then return "" end
  for name, m in root:named_modules() do
    if m == target then return name end
  end
  return nil
end

local function fail(self, err)
  if type(err) ~= "string" then
    if depth == 0 then failing = nil end
    error(err, 0)
  end
  if not failing or failing.msg ~= err then failing = {msg = err, module = self} end
  if depth > 0 then error(err, 0) end
  local m = failing.module
  failing = nil
  local path = find_path(self, m)
  if path and path ~= "" then
    error(string.format("%s (%s): %s", path, m:_get_name(), err), 0)
  end
  error(string.format("%s: %s", m:_get_name(), err), 0)
end

local function after_call(self, ok, ...)
  depth = depth - 1
  if ok then return ... end
  return fail(self, (...))
end

-- Floating results other than float32/float64 leave an autocast region as
-- float32 (the other values as they are).
local function outputs_fp32(...)
  local n = select("#", ...)
  local out = table.pack(...)
  for i = 1, n do
    local v = out[i]
    if is_tensor(v) and v:is_floating_point() and v:dtype() ~= "float32" and v:dtype() ~= "float64" then
      out[i] = v:float()
    end
  end
  return table.unpack(out, 1, n)
end

local function forward_autocast(self, mode, fn, ...)
  local outside = not lt.is_autocast_enabled()
  if mode and outside then return outputs_fp32(lt.autocast(mode, fn, self, ...)) end
  -- autocast(false) inside an autocast region: the module computes in
  -- float32, so 16-bit activations coming in (batch norm keeps bf16) are
  -- widened first, as its outputs are for a float32 caller.
  if not mode and not outside then return lt.autocast(false, fn, self, outputs_fp32(...)) end
  return lt.autocast(mode, fn, self, ...)
end

-- fn(self, ...) as calling the module runs its forward
local function call_as_module(self, fn, ...)
  depth = depth + 1
  local mode = self._attrs._autocast
  if mode == nil then return after_call(self, pcall(fn, self, ...)) end
  return after_call(self, pcall(forward_autocast, self, mode, fn, ...))
end

local function module_call(self, ...) return call_as_module(self, self.forward, ...) end

--- Module._call_as_forward(self, fn, ...): runs fn(self, ...) the way
--- calling the module runs its forward (errors name the module's path, its
--- autocast setting applies): for a layer's other entry points, such as
--- BatchNorm2d:forward_relu.
Module._call_as_forward = call_as_module

-- --- printing (PyTorch's __repr__ layout) --------------------------------------
local function add_indent(s, n)
  local pad = string.rep(" ", n)
  return (s:gsub("\n", "\n" .. pad))
end
Module._add_indent = add_indent

--- One line of layer settings inside the parentheses (override in layers).
function Module:extra_repr() return "" end

function Module:_repr()
  local extra = self:extra_repr()
  local lines = {}
  local n_extra = 0
  if extra ~= "" then
    for line in (extra .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
    n_extra = #lines
  end
  local M = self._modules
  for _, k in ipairs(M.names) do
    lines[#lines + 1] = "(" .. k .. "): " .. add_indent(M.map[k]:_repr(), 2)
  end
  local s = self:_get_name() .. "("
  if #lines > 0 then
    if n_extra == 1 and #lines == 1 then
      s = s .. lines[1]
    else
      s = s .. "\n  " .. table.concat(lines, "\n  ") .. "\n"
    end
  end
  return s .. ")"
end

-- The metamethods every module class carries.
Module.__index = instance_index
Module.__newindex = instance_newindex
Module.__call = module_call
Module.__tostring = function(self) return self:_repr() end
Module._class_name = "Module"
Module.__methods = Module
setmetatable(Module, {__call = construct, __tostring = function() return "nn class Module" end})

-- --- registration ----------------------------------------------------------------
local function check_name(self, fname, name)
  if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
    error(string.format("%s: expected a non-empty name without '.', got %s", fname, tostring(name)), 3)
  end
end

--- register_parameter(name, t): registers t (a tensor, or nil to remove) as
--- it is; pass nn.Parameter(t) to make it require gradients.
function Module:register_parameter(name, t)
  check_name(self, "register_parameter", name)
  if t ~= nil and not is_tensor(t) then
    error("register_parameter: expected a tensor or nil for '" .. name .. "', got " .. type(t), 2)
  end
  if self._modules.map[name] ~= nil or self._buffers.map[name] ~= nil or self._attrs[name] ~= nil then
    error("register_parameter: '" .. name .. "' is already a child, buffer or field of " .. self:_get_name(), 2)
  end
  if t == nil then reg_remove(self._parameters, name) else reg_set(self._parameters, name, t) end
end

--- register_buffer(name, t, persistent=true): state that is not trained
--- (running statistics). Non-persistent buffers stay out of state_dict.
function Module:register_buffer(name, t, persistent)
  check_name(self, "register_buffer", name)
  if t ~= nil and not is_tensor(t) then
    error("register_buffer: expected a tensor or nil for '" .. name .. "', got " .. type(t), 2)
  end
  if self._modules.map[name] ~= nil or self._parameters.map[name] ~= nil or self._attrs[name] ~= nil then
    error("register_buffer: '" .. name .. "' is already a child, parameter or field of " .. self:_get_name(), 2)
  end
  if t == nil then reg_remove(self._buffers, name) else reg_set(self._buffers, name, t) end
  self._non_persistent[name] = (persistent == false) or nil
end

--- add_module(name, m) / register_module: a child under a name that need not
--- be an identifier ("0", "1", ... in containers).
function Module:add_module(name, m)
  check_name(self, "add_module", name)
  if m ~= nil and not is_module(m) then
    error("add_module: expected a Module or nil for '" .. name .. "', got " .. type(m), 2)
  end
  if self._parameters.map[name] ~= nil or self._buffers.map[name] ~= nil or self._attrs[name] ~= nil then
    error("add_module: '" .. name .. "' is already a parameter, buffer or field of " .. self:_get_name(), 2)
  end
  if m == nil then reg_remove(self._modules, name) else reg_set(self._modules, name, m) end
end
Module.register_module = Module.add_module

--- get_submodule("layer1.0.conv1") -> the module at that path.
function Module:get_submodule(target)
  if target == "" then return self end
  local m = self
  for part in target:gmatch("[^.]+") do
    local c = m._modules.map[part]
    if c == nil then
      error(string.format("get_submodule: %s has no child '%s' (in '%s')", m:_get_name(), part, target), 2)
    end
    m = c
  end
  return m
end

-- --- traversal --------------------------------------------------------------------
local function iter_list(list)
  local i = 0
  return function()
    i = i + 1
    local e = list[i]
    if e then return e[1], e[2] end
  end
end

-- [{path, module}] in PyTorch's order (pre-order), each module once.
local function collect_modules(self, prefix, seen, out)
  if seen[self] then return out end
  seen[self] = true
  out[#out + 1] = {prefix, self}
  local M = self._modules
  for _, k in ipairs(M.names) do
    collect_modules(M.map[k], prefix == "" and k or (prefix .. "." .. k), seen, out)
  end
  return out
end

local function collect_members(self, field, prefix, recurse)
  local mods = recurse == false and {{prefix or "", self}} or collect_modules(self, prefix or "", {}, {})
  local out, seen = {}, {}
  for _, e in ipairs(mods) do
    local mp, m = e[1], e[2]
    local r = m[field]
    for _, k in ipairs(r.names) do
      local v = r.map[k]
      if not seen[v] then
        seen[v] = true
        out[#out + 1] = {mp == "" and k or (mp .. "." .. k), v}
      end
    end
  end
  return out
end

function Module:named_modules(prefix) return iter_list(collect_modules(self, prefix or "", {}, {})) end

function Module:modules()
  local out = {}
  for _, e in ipairs(collect_modules(self, "", {}, {})) do out[#out + 1] = e[2] end
  return out
end

function Module:named_children()
  local list, M = {}, self._modules
  for _, k in ipairs(M.names) do list[#list + 1] = {k, M.map[k]} end
  return iter_list(list)
end

function Module:children()
  local out, M = {}, self._modules
  for _, k in ipairs(M.names) do out[#out + 1] = M.map[k] end
  return out
end

--- named_parameters(prefix="", recurse=true): iterator of (name, tensor) with
--- PyTorch names ("layer1.0.conv1.weight"); a shared tensor appears once.
function Module:named_parameters(prefix, recurse)
  return iter_list(collect_members(self, "_parameters", prefix, recurse))
end

function Module:parameters(recurse)
  local out = {}
  for _, e in ipairs(collect_members(self, "_parameters", "", recurse)) do out[#out + 1] = e[2] end
  return out
end

function Module:named_buffers(prefix, recurse)
  return iter_list(collect_members(self, "_buffers", prefix, recurse))
end

function Module:buffers(recurse)
  local out = {}
  for _, e in ipairs(collect_members(self, "_buffers", "", recurse)) do out[#out + 1] = e[2] end
  return out
end

--- num_parameters(only_trainable=false): the number of parameter elements.
function Module:num_parameters(only_trainable)
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not only_trainable or p.requires_grad then n = n + p:numel() end
  end
  return n
end

--- apply(fn): fn(m) for every submodule, children before their parent.
function Module:apply(fn)
  if type(fn) ~= "function" then error("apply: expected a function, got " .. type(fn), 2) end
  for _, c in ipairs(self:children()) do c:apply(fn) end
  fn(self)
  return self
end

-- --- modes ------------------------------------------------------------------------
--- train(mode=true): sets `training` on this module and every submodule.
function Module:train(mode)
  if mode == nil then mode = true end
  if type(mode) ~= "boolean" then error("train: expected a boolean mode, got " .. type(mode), 2) end
  for _, m in ipairs(self:modules()) do m._attrs.training = mode end
  return self
end

function Module:eval() return self:train(false) end

--- autocast(mode): "bf16"/"bfloat16" runs this module's forward under bf16
--- autocast, false runs it with autocast off, nil restores the default (the
--- caller's mode). See the header. Returns self.
function Module:autocast(mode)
  if mode == "bf16" or mode == "bfloat16" then
    mode = "bfloat16"
  elseif mode ~= false and mode ~= nil then
    error(string.format("autocast: expected 'bf16', 'bfloat16', false or nil, got %s",
                        type(mode) == "string" and ("'" .. mode .. "'") or tostring(mode)), 2)
  end
  self._attrs._autocast = mode
  return self
end

--- get_autocast() -> "bfloat16", false or nil (the setting of this module only).
function Module:get_autocast() return self._attrs._autocast end

--- requires_grad_(flag=true) on every parameter.
function Module:requires_grad_(flag)
  if flag == nil then flag = true end
  for _, p in ipairs(self:parameters()) do p.requires_grad = flag end
  return self
end

--- zero_grad(set_to_none=true): drops (or zeroes) every parameter's .grad.
function Module:zero_grad(set_to_none)
  for _, p in ipairs(self:parameters()) do
    if set_to_none == false then
      local g = p.grad
      if g then no_grad(function() g:zero_() end) end
    else
      p.grad = nil
    end
  end
end

-- --- devices and dtypes ----------------------------------------------------------
local DTYPE_NAMES = {}
for _, n in ipairs{"float32", "float", "float64", "double", "int64", "long", "int32", "int", "uint8", "byte",
                   "bool", "bfloat16", "float16", "half"} do DTYPE_NAMES[n] = true end

local MEMORY_FORMATS = {channels_last = true, contiguous_format = true, preserve_format = true}

--- to(device_or_dtype, ...): moves every parameter and buffer, e.g.
--- m:to("cuda"), m:to(lt.float64), m:to("cuda", "bfloat16"),
--- m:to{device=, dtype=, memory_format=}, m:to("cuda", {memory_format = "channels_last"}).
--- A dtype applies to floating-point tensors only (num_batches_tracked stays
--- int64), a memory_format to 4-D ones only (conv weights), as in PyTorch.
--- Tensors already right are kept; the others are replaced by converted
--- tensors (requires_grad and .grad carried over), so create the optimizer
--- after calling `to`.
function Module:to(...)
  local device, dtype, memory_format
  local n = select("#", ...)
  if n == 0 then error("to: expected a device, a dtype or an options table {device=, dtype=, memory_format=}", 2) end
  for i = 1, n do
    local a = select(i, ...)
    if type(a) == "table" and not is_module(a) then
      for k, v in pairs(a) do
        if k == "device" then device = v
        elseif k == "dtype" then dtype = v
        elseif k == "memory_format" then
          if not MEMORY_FORMATS[v] then
            error(string.format("to: unknown memory format %s (expected 'contiguous_format', 'channels_last' or "
                                .. "'preserve_format')", type(v) == "string" and ("'" .. v .. "'") or tostring(v)), 2)
          end
          memory_format = v
        else error("to: unknown option '" .. tostring(k) .. "' (allowed: device, dtype, memory_format)", 2) end
      end
    elseif type(a) == "string" then
      if DTYPE_NAMES[a] then dtype = a else device = a end
    else
      error("to: expected a device or dtype name, got " .. type(a), 2)
    end
  end
  -- validate the names once, before anything moves
  local probe = lt.zeros(1)
  local ok, err = pcall(function()
    if device then probe:to(device) end
    if dtype then probe:to(dtype) end
  end)
  if not ok then error("to: " .. tostring(err), 2) end
  local function convert(t)
    local args = {}
    if device then args[#args + 1] = device end
    if dtype and t:is_floating_point() then args[#args + 1] = dtype end
    if memory_format and t:dim() == 4 then args[#args + 1] = {memory_format = memory_format} end
    if #args == 0 then return t end
    return t:to(table.unpack(args))
  end
  no_grad(function()
    for _, m in ipairs(self:modules()) do
      for _, field in ipairs{"_parameters", "_buffers"} do
        local r = m[field]
        for _, k in ipairs(r.names) do
          local old = r.map[k]
          local new = convert(old)
          if new ~= old then
            if old.requires_grad then new.requires_grad = true end
            local g = old.grad
            if g then new.grad = convert(g) end
            r.map[k] = new
          end
        end
      end
    end
  end)
  return self
end

function Module:cuda(i) return self:to(i and ("cuda:" .. i) or "cuda") end
function Module:cpu() return self:to("cpu") end
function Module:float() return self:to("float32") end
function Module:double() return self:to("float64") end
function Module:half() return self:to("float16") end
function Module:bfloat16() return self:to("bfloat16") end

-- --- state_dict ----------------------------------------------------------------------
-- [{key, tensor, module, local name}] in PyTorch's order: per module (pre-order),
-- its parameters then its persistent buffers.
-- A module reachable under two paths appears under both, as in PyTorch.
local function state_entries(self, prefix, out)
  out = out or {}
  prefix = prefix or ""
  for _, field in ipairs{"_parameters", "_buffers"} do
    local r = self[field]
    for _, k in ipairs(r.names) do
      if not (field == "_buffers" and self._non_persistent[k]) then
        out[#out + 1] = {prefix .. k, r.map[k], self, k}
      end
    end
  end
  local M = self._modules
  for _, k in ipairs(M.names) do state_entries(M.map[k], prefix .. k .. ".", out) end
  return out
end

--- state_dict() -> sd, keys: a flat table name -> tensor (parameters and
--- persistent buffers, PyTorch names), and the names in PyTorch's order. The
--- tensors share storage with the model (detached from autograd).
function Module:state_dict()
  local sd, keys = {}, {}
  for _, e in ipairs(state_entries(self)) do
    local t = e[2]
    if t.detach then t = t:detach() end
    sd[e[1]] = t
    keys[#keys + 1] = e[1]
  end
  return sd, keys
end

--- Keys a module tolerates missing from a state_dict (BatchNorm's
--- num_batches_tracked, as PyTorch accepts for dicts without version metadata).
function Module:_optional_state(_) return false end

local function quoted(list)
  local q = {}
  for i, s in ipairs(list) do q[i] = '"' .. s .. '"' end
  return table.concat(q, ", ")
end

--- load_state_dict(sd, {strict=true}) -> {missing_keys=, unexpected_keys=}.
--- Copies values into the existing tensors (same objects, so an optimizer
--- made earlier keeps working). Shape mismatches are always errors; with
--- strict, so are missing and unexpected keys. On any error nothing is copied.
function Module:load_state_dict(sd, opts)
  if type(sd) ~= "table" then error("load_state_dict: expected a table name -> tensor, got " .. type(sd), 2) end
  local strict = true
  if opts ~= nil then
    if type(opts) ~= "table" then error("load_state_dict: expected an options table {strict=}, got " .. type(opts), 2) end
    for k, v in pairs(opts) do
      if k ~= "strict" then error("load_state_dict: unknown option '" .. tostring(k) .. "' (allowed: strict)", 2) end
      if type(v) ~= "boolean" then error("load_state_dict: option 'strict' must be a boolean", 2) end
      strict = v
    end
  end
  local entries = state_entries(self)
  local expected, missing, mismatches, copies = {}, {}, {}, {}
  for _, e in ipairs(entries) do
    local key, dst, m, local_name = e[1], e[2], e[3], e[4]
    expected[key] = true
    local src = sd[key]
    if src == nil then
      if not m:_optional_state(local_name) then missing[#missing + 1] = key end
    elseif not is_tensor(src) then
      mismatches[#mismatches + 1] = string.format("value for %s is a %s, expected a tensor", key, type(src))
    elseif shape_str(src) ~= shape_str(dst) then
      mismatches[#mismatches + 1] = string.format(
        "size mismatch for %s: copying a param with shape %s from checkpoint, the shape in current model is %s",
        key, shape_str(src), shape_str(dst))
    else
      copies[#copies + 1] = {dst, src}
    end
  end
  local unexpected = {}
  for k in pairs(sd) do
    if not expected[k] then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  local errs = {}
  if strict and #missing > 0 then errs[#errs + 1] = "Missing key(s) in state_dict: " .. quoted(missing) .. "." end
  if strict and #unexpected > 0 then errs[#errs + 1] = "Unexpected key(s) in state_dict: " .. quoted(unexpected) .. "." end
  for _, s in ipairs(mismatches) do errs[#errs + 1] = s .. "." end
  if #errs > 0 then
    error(string.format("load_state_dict: Error(s) in loading state_dict for %s:\n\t%s", self:_get_name(),
                        table.concat(errs, "\n\t")), 2)
  end
  no_grad(function()
    for _, c in ipairs(copies) do c[1]:copy_(c[2]) end
  end)
  return {missing_keys = missing, unexpected_keys = unexpected}
end

return Module
