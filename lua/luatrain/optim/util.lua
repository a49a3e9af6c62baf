-- luatrain.optim.util — small helpers shared by the optimizers and the
-- learning-rate schedulers: classes with single inheritance, errors in the
-- "bad argument #n to 'f' (...)" form that point at the user's line, option
-- tables that reject unknown keys, deep copies for state dicts, and the one
-- place that reads and writes a parameter's gradient. Not a public API: use
-- lt.optim.Optimizer and lt.optim.lr_scheduler.LRScheduler.
local lt = require "luatrain.core"

local M = {}

-- Classes: cls = Base:extend("Name"); obj = cls(...) calls cls.new(cls, ...).
-- Metamethods are copied down because Lua looks them up with rawget.
local META = {"__tostring", "__name", "__close"}

function M.class(name, base)
  local cls = {}
  cls.__index = cls
  cls.__name = name
  cls.super = base
  if base then
    for _, k in ipairs(META) do
      if rawget(base, k) ~= nil and k ~= "__name" then cls[k] = rawget(base, k) end
    end
  end
  return setmetatable(cls, {
    __index = base,
    __call = function(c, ...) return c.new(c, ...) end,
    __tostring = function(c) return "class " .. c.__name end,
  })
end

-- The stack level of the first caller outside this library, so an error
-- message starts with the user's file and line.
local function user_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return 1 end
    if info.what ~= "C" and not info.source:find("luatrain/optim/", 1, true) then return level - 1 end
    level = level + 1
  end
end

function M.raise(fmt, ...)
  error(string.format(fmt, ...), user_level())
end

-- "bad argument #n to 'fname' (msg)"
function M.argerror(fname, n, fmt, ...)
  error(string.format("bad argument #%d to '%s' (%s)", n, fname, string.format(fmt, ...)), user_level())
end

-- A number as a message shows it: shortest form that reads back exactly
-- (1.0 -> "1", 0.1 -> "0.1"); anything else through tostring.
function M.num(v)
  if math.type(v) ~= "float" then return tostring(v) end
  if v ~= v then return "nan" end
  local s = string.format("%.15g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end
  return s
end

local function is_tensor(v) return lt.is_tensor(v) end
M.is_tensor = is_tensor

function M.typename(v)
  if is_tensor(v) then return "tensor" end
  return type(v)
end

-- Sorted keys of a table (for messages listing valid names).
function M.sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return ks
end

-- Checks that opts (nil or a table) has only keys in `allowed` (a set).
function M.check_opts(opts, fname, n, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" or is_tensor(opts) then
    M.argerror(fname, n, "expected an options table, got %s", M.typename(opts))
  end
  for k in pairs(opts) do
    if type(k) ~= "string" or allowed[k] == nil then
      M.argerror(fname, n, "unknown option '%s' (valid: %s)", tostring(k), table.concat(M.sorted_keys(allowed), ", "))
    end
  end
  return opts
end

-- Deep copy of plain tables; tensors, functions and other values are shared.
function M.copy(v)
  if type(v) ~= "table" or is_tensor(v) then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = M.copy(x) end
  return t
end

-- A parameter's gradient (nil: none), and setting it. The only place the
-- optimizers touch p.grad.
function M.get_grad(p) return p.grad end
function M.set_grad(p, g) p.grad = g end

-- Runs f() with autograd off (lt.no_grad) or on (lt.enable_grad); plainly
-- while the autograd module is absent. Results travel through upvalues.
function M.no_grad(f)
  if lt.no_grad then return lt.no_grad(f) end
  return f()
end

function M.enable_grad(f)
  if lt.enable_grad then return lt.enable_grad(f) end
  return f()
end

return M
