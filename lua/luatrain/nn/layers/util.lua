-- luatrain.nn.layers.util — what the layer files share: options-table checks
-- with messages naming the layer, integer/pair arguments, and printing values
-- the way Python prints them (so tostring(model) reads as PyTorch's repr).
-- Not a public API.
local lt = require "luatrain.core"

local M = {}

--- Checks an options table: nil is an empty table; unknown keys are errors
--- ("nn.Conv2d: unknown option 'strid' (allowed: bias, dilation, ...)").
function M.opts(fname, o, allowed, level)
  level = (level or 3) + 1
  if o == nil then return {} end
  if type(o) ~= "table" then error(string.format("%s: expected an options table, got %s", fname, type(o)), level) end
  local ok = {}
  for _, k in ipairs(allowed) do ok[k] = true end
  for k in pairs(o) do
    if not ok[k] then
      local names = {}
      for _, a in ipairs(allowed) do names[#names + 1] = a end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (allowed: %s)", fname, tostring(k), table.concat(names, ", ")),
            level)
    end
  end
  return o
end

--- A positive (or non-negative with allow_zero) integer argument.
function M.int(fname, what, v, allow_zero, level)
  level = (level or 3) + 1
  if math.type(v) == "float" and v == math.floor(v) then v = math.tointeger(v) end
  if math.type(v) ~= "integer" or v < 0 or (v == 0 and not allow_zero) then
    error(string.format("%s: %s must be a %s integer, got %s", fname, what,
                        allow_zero and "non-negative" or "positive", tostring(v)), level)
  end
  return v
end

--- An integer or a pair {h, w} -> {h, w}.
function M.pair(fname, what, v, allow_zero, level)
  level = (level or 3) + 1
  if type(v) == "table" then
    if #v ~= 2 then
      error(string.format("%s: %s must be an integer or a pair {h, w}, got a table of %d", fname, what, #v), level)
    end
    return {M.int(fname, what, v[1], allow_zero, level), M.int(fname, what, v[2], allow_zero, level)}
  end
  local n = M.int(fname, what, v, allow_zero, level)
  return {n, n}
end

function M.bool(fname, what, v, default, level)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    error(string.format("%s: %s must be a boolean, got %s", fname, what, type(v)), (level or 3) + 1)
  end
  return v
end

--- A number in [lo, hi].
function M.number(fname, what, v, lo, hi, level)
  if type(v) ~= "number" or v ~= v or v < lo or v > hi then
    error(string.format("%s: %s must be a number in [%s, %s], got %s", fname, what, M.repr(lo), M.repr(hi),
                        tostring(v)), (level or 3) + 1)
  end
  return v
end

-- Python's repr of a float: the shortest digits that read back the same,
-- positional for exponents in [-4, 16), scientific ("1e-05") otherwise.
local function float_repr(x)
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  local s
  for p = 1, 17 do
    s = string.format("%." .. (p - 1) .. "e", x)
    if tonumber(s) == x then break end
  end
  local sign, int, frac, exp = s:match("^(-?)(%d)%.?(%d*)e([-+]%d+)$")
  exp = tonumber(exp)
  local digits = (int .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  if exp < -4 or exp >= 16 then
    local m = digits:sub(1, 1)
    if #digits > 1 then m = m .. "." .. digits:sub(2) end
    return string.format("%s%se%s%02d", sign, m, exp < 0 and "-" or "+", math.abs(exp))
  end
  local out
  if exp < 0 then
    out = "0." .. string.rep("0", -exp - 1) .. digits
  elseif #digits <= exp + 1 then
    out = digits .. string.rep("0", exp + 1 - #digits) .. ".0"
  else
    out = digits:sub(1, exp + 1) .. "." .. digits:sub(exp + 2)
  end
  return sign .. out
end

--- Python's repr of a Lua value: integers "3", floats "0.1"/"1e-05", booleans
--- "True", nil "None", strings 'quoted', arrays as tuples "(3, 3)".
function M.repr(v)
  local t = math.type(v)
  if t == "integer" then return tostring(v) end
  if t == "float" then return float_repr(v) end
  if v == nil then return "None" end
  if v == true then return "True" end
  if v == false then return "False" end
  if type(v) == "string" then return "'" .. v .. "'" end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.repr(x) end
    if #parts == 1 then return "(" .. parts[1] .. ",)" end
    return "(" .. table.concat(parts, ", ") .. ")"
  end
  return tostring(v)
end

--- Creation options for parameters: {dtype=, device=} from a layer's options.
function M.factory(o)
  return {dtype = o.dtype or lt.get_default_dtype(), device = o.device}
end

--- nn.Parameter(t, requires_grad=true): makes t a trainable leaf (detaching it
--- if it has autograd history) and returns it; assigning the result to a
--- module field registers it as a parameter.
function M.Parameter(t, requires_grad)
  if not lt.is_tensor(t) then error("nn.Parameter: expected a tensor, got " .. type(t), 2) end
  if requires_grad ~= nil and type(requires_grad) ~= "boolean" then
    error("nn.Parameter: requires_grad must be a boolean, got " .. type(requires_grad), 2)
  end
  if t.grad_fn ~= nil then t = t:detach() end
  t.requires_grad = requires_grad ~= false
  return t
end

--- lt.nn.functional, which the layers' forwards call.
M.F = require "luatrain.nn.functional"

return M
