-- luatrain.autograd — the Lua half of lt.autograd: custom differentiable
-- functions written in Lua, and a finite-difference gradient checker.
-- (lt.autograd.grad / backward, the engine and the backward of every
-- built-in op are native: src/autograd, src/lua/lt_lua_autograd.c.)
--
--   local Square = lt.autograd.Function{
--     name = "Square",                          -- grad_fn shows "SquareBackward"
--     forward = function(ctx, x)                 -- runs with grad mode off
--       ctx:save_for_backward(x)
--       return x * x
--     end,
--     backward = function(ctx, grad)             -- one gradient per output
--       local x = table.unpack(ctx.saved_tensors)
--       return grad * 2 * x                      -- one per forward argument (nil: none)
--     end,
--   }
--   local y = Square(x)                          -- or Square:apply(x)
--
-- Keep tensors for backward with ctx:save_for_backward; plain ctx fields are
-- for numbers and other values (an output stored in a ctx field would keep its
-- own graph alive, so that is refused).
--   lt.autograd.gradcheck(Square, {lt.randn(3, {dtype = "float64", requires_grad = true})})
local lt = require "luatrain.core"

local autograd = lt.autograd
local record, saved_of = autograd._record, autograd._saved

-- --- the ctx object ---------------------------------------------------------------

local CtxMethods = {}

-- Tensors backward will need (inputs, outputs or intermediates). Inputs are
-- kept as they are; outputs are kept as detached aliases, so the graph has no
-- cycle. Modifying one in place before backward is an error then.
function CtxMethods:save_for_backward(...)
  local saved = table.pack(...)
  for i = 1, saved.n do
    if not lt.is_tensor(saved[i]) then
      error(string.format("bad argument #%d to 'save_for_backward' (expected a tensor, got %s)", i, type(saved[i])), 2)
    end
  end
  saved.n = nil
  rawset(self, "__saved", saved)
end

-- Outputs that must not require grad (indices, masks returned by forward).
function CtxMethods:mark_non_differentiable(...)
  rawset(self, "__nondiff", {...})
end

-- ctx.saved_tensors is a list; ctx:saved_tensors() returns them unpacked.
local SavedList = {__call = function(list) return table.unpack(list) end}

local Ctx = {
  __index = function(ctx, key)
    if key == "saved_tensors" then
      local handle = rawget(ctx, "__handle")
      local list = handle and saved_of(handle) or rawget(ctx, "__saved") or {}
      return setmetatable(list, SavedList)
    end
    return CtxMethods[key]
  end,
  __name = "luatrain.FunctionCtx",
}

-- --- Function ----------------------------------------------------------------------

local Function = {}
Function.__index = Function
Function.__name = "luatrain.Function"

function Function:apply(...)
  local args = table.pack(...)
  local ctx = setmetatable({}, Ctx)
  local enabled = lt.is_grad_enabled()
  local needs = {}
  for i = 1, args.n do
    local a = args[i]
    needs[i] = enabled and lt.is_tensor(a) and a.requires_grad or false
  end
  ctx.needs_input_grad = needs
  local outs = table.pack(lt.no_grad(self.forward, ctx, ...))
  -- an input returned as is becomes a new tensor object, so the input keeps
  -- its own history
  for k = 1, outs.n do
    for i = 1, args.n do
      if lt.is_tensor(outs[k]) and rawequal(outs[k], args[i]) then outs[k] = outs[k]:detach() end
    end
  end
  record(ctx, self.backward, self.name .. "Backward", args, outs)
  return table.unpack(outs, 1, outs.n)
end

Function.__call = Function.apply

function autograd.Function(def)
  if type(def) ~= "table" then
    error(string.format("bad argument #1 to 'Function' (expected a table {forward=, backward=}, got %s)", type(def)), 2)
  end
  for _, f in ipairs{"forward", "backward"} do
    if type(def[f]) ~= "function" then
      error(string.format("bad argument #1 to 'Function' (field '%s' must be a function, got %s)", f, type(def[f])), 2)
    end
  end
  if def.name ~= nil and type(def.name) ~= "string" then
    error(string.format("bad argument #1 to 'Function' (field 'name' must be a string, got %s)", type(def.name)), 2)
  end
  for k in pairs(def) do
    if k ~= "forward" and k ~= "backward" and k ~= "name" then
      error(string.format("bad argument #1 to 'Function' (unknown field '%s' (valid: forward, backward, name))",
                          tostring(k)), 2)
    end
  end
  return setmetatable({forward = def.forward, backward = def.backward, name = def.name or "Function"}, Function)
end

-- --- gradcheck -------------------------------------------------------------------------

-- A view of element `e` (1-based, row-major) of t.
local function element(t, e)
  local shape = t:shape()
  local idx, rem = {}, e - 1
  for d = #shape, 1, -1 do
    idx[d] = rem % shape[d] + 1
    rem = rem // shape[d]
  end
  local v = t
  for d = 1, #shape do v = v:select(1, idx[d]) end
  return v, idx
end

local function float_outputs(results)
  local outs = {}
  for i = 1, results.n do
    local r = results[i]
    if lt.is_tensor(r) and r:is_floating_point() then outs[#outs + 1] = r end
  end
  return outs
end

local function index_str(idx)
  if #idx == 0 then return "{}" end
  return "{" .. table.concat(idx, ",") .. "}"
end

-- Compares the analytic Jacobian (autograd) of fn's floating outputs with
-- central differences, for every input that requires grad (float64 only).
-- Returns true, or raises an error naming the output, the input, the
-- elements and both values.
function autograd.gradcheck(fn, inputs, opts)
  if type(fn) ~= "function" and not (type(fn) == "table" and getmetatable(fn) and getmetatable(fn).__call) then
    error(string.format("bad argument #1 to 'gradcheck' (expected a function, got %s)", type(fn)), 2)
  end
  if lt.is_tensor(inputs) then inputs = {inputs} end
  if type(inputs) ~= "table" then
    error(string.format("bad argument #2 to 'gradcheck' (expected a tensor or a list of inputs, got %s)", type(inputs)), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "eps" and k ~= "atol" and k ~= "rtol" then
      error(string.format("bad argument #3 to 'gradcheck' (unknown option '%s' (valid: eps, atol, rtol))", tostring(k)), 2)
    end
  end
  local eps, atol, rtol = opts.eps or 1e-6, opts.atol or 1e-5, opts.rtol or 1e-3
  local n = inputs.n or #inputs
  local diff, diff_tensors = {}, {}
  for i = 1, n do
    local x = inputs[i]
    if lt.is_tensor(x) and x.requires_grad then
      if x:dtype() ~= "float64" then
        error(string.format("gradcheck: input %d is %s; finite differences need float64 inputs (use t:double())",
                            i, x:dtype()), 2)
      end
      diff[#diff + 1] = i
      diff_tensors[#diff_tensors + 1] = x
    end
  end
  if #diff == 0 then error("gradcheck: no input requires grad", 2) end
  local function run() return float_outputs(table.pack(fn(table.unpack(inputs, 1, n)))) end

  -- numerical Jacobian first (it writes into the inputs and restores them):
  -- num[d][e][k] = flat values of d output k / d input element e
  local num = {}
  lt.no_grad(function()
    for di, i in ipairs(diff) do
      local x = inputs[i]
      num[di] = {}
      for e = 1, x:numel() do
        local v = element(x, e)
        local orig = v:item()
        -- read the outputs at once: they may be views of the input
        local function values_at(value)
          v:fill_(value)
          local outs = run()
          for k = 1, #outs do outs[k] = outs[k]:_flat_values() end
          return outs
        end
        local plus, minus = values_at(orig + eps), values_at(orig - eps)
        v:fill_(orig)
        local cols = {}
        for k = 1, #plus do
          local p, m = plus[k], minus[k]
          local c = {}
          for j = 1, #p do c[j] = (p[j] - m[j]) / (2 * eps) end
          cols[k] = c
        end
        num[di][e] = cols
      end
    end
  end)

  -- analytical Jacobian, one backward per output element
  local outs = lt.enable_grad(run)
  for k, o in ipairs(outs) do
    local on = o:numel()
    for j = 1, on do
      local rows = {}
      if o.requires_grad then
        local go = lt.zeros_like(o)
        element(go, j):fill_(1)
        local grads = autograd.grad({o}, diff_tensors, {go}, {retain_graph = true, allow_unused = true})
        for di = 1, #diff do rows[di] = grads[di] and grads[di]:_flat_values() or false end
      end
      for di, i in ipairs(diff) do
        local x = inputs[i]
        for e = 1, x:numel() do
          local a = rows[di] and rows[di][e] or 0
          local nv = num[di][e][k] and num[di][e][k][j] or 0
          if not (math.abs(a - nv) <= atol + rtol * math.abs(nv)) then
            local _, xi = element(x, e)
            local _, oi = element(o, j)
            error(string.format("gradcheck: d(output %d%s)/d(input %d%s) is wrong: analytical %.10g, numerical %.10g "
                                .. "(atol %g, rtol %g)", k, index_str(oi), i, index_str(xi), a, nv, atol, rtol), 2)
          end
        end
      end
    end
  end
  return true
end

return autograd
