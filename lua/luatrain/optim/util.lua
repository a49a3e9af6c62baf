-- luatrain.optim.util — small helpers shared by the optimizers and the
-- learning-rate schedulers: classes with single inheritance, deep copies for
-- state dicts, and the one place that reads and writes a parameter's
-- gradient. Not a public API: use lt.optim.Optimizer and
-- lt.optim.lr_scheduler.LRScheduler. Their argument checks are
-- luatrain.argcheck's.
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

-- Deep copy of plain tables; tensors, functions and other values are shared.
function M.copy(v)
  if type(v) ~= "table" or lt.is_tensor(v) then return v end
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
