-- luatrain.tensor_format — tostring(tensor), in PyTorch's layout:
--
--   tensor([[ 0.1234, -1.5000],
--           [ 2.0000,  3.0000]], shape=[2,2], dtype=float32, device=cpu)
--
-- Large tensors (more than `threshold` elements) show the first and last
-- `edgeitems` entries of every dimension with "..." between. One number
-- format is chosen for the whole tensor: integers-as-floats ("1."), fixed
-- ("0.1235") or scientific ("1.2346e+05") when magnitudes span too much.
local M = {}

local opts = {threshold = 1000, edgeitems = 3, precision = 4, linewidth = 80}

function M.set_printoptions(o)
  for k, v in pairs(o) do
    if opts[k] == nil then error("set_printoptions: unknown option '" .. tostring(k) .. "'", 2) end
    if math.type(v) ~= "integer" or v < 0 then
      error("set_printoptions: option '" .. k .. "' must be a non-negative integer", 2)
    end
    opts[k] = v
  end
end

local ELLIPSIS = {} -- marks the elided middle of a dimension

-- Nested Lua tables of the values to show (ELLIPSIS where elided).
local function gather(t, summarize)
  if t:dim() == 0 then return t:item() end
  local n = t:size(1)
  local e = opts.edgeitems
  if not summarize or n <= 2 * e then
    if t:dim() == 1 then return t:tolist() end
    local rows = {}
    for i = 1, n do rows[i] = gather(t:select(1, i), summarize) end
    return rows
  end
  local rows = {}
  if t:dim() == 1 then
    for _, v in ipairs(t:narrow(1, 1, e):tolist()) do rows[#rows + 1] = v end
    rows[#rows + 1] = ELLIPSIS
    for _, v in ipairs(t:narrow(1, n - e + 1, e):tolist()) do rows[#rows + 1] = v end
    return rows
  end
  for i = 1, e do rows[#rows + 1] = gather(t:select(1, i), summarize) end
  rows[#rows + 1] = ELLIPSIS
  for i = n - e + 1, n do rows[#rows + 1] = gather(t:select(1, i), summarize) end
  return rows
end

local function leaves(v, out)
  if type(v) == "table" then
    if v ~= ELLIPSIS then for _, x in ipairs(v) do leaves(x, out) end end
  else
    out[#out + 1] = v
  end
  return out
end

-- Returns a function number -> string, all of one width.
local function number_formatter(values, floating)
  if not floating then
    local w = 1
    for _, v in ipairs(values) do w = math.max(w, #tostring(v)) end
    return function(v) return string.format("%" .. w .. "s", tostring(v)) end
  end
  local finite, all_int, maxa, mina = {}, true, 0, math.huge
  for _, v in ipairs(values) do
    if v == v and v ~= math.huge and v ~= -math.huge then
      finite[#finite + 1] = v
      if v ~= math.floor(v) then all_int = false end
      local a = math.abs(v)
      if a > maxa then maxa = a end
      if a ~= 0 and a < mina then mina = a end
    end
  end
  local fmt
  local p = opts.precision
  if #finite == 0 then
    fmt = function(v) return tostring(v) end
  elseif all_int and maxa < 1e8 then
    fmt = function(v) return string.format("%.0f.", v) end
  elseif maxa >= 1e8 or (mina ~= math.huge and (mina < 1e-4 or maxa / mina > 1e3)) then
    fmt = function(v) return string.format("%." .. p .. "e", v) end
  else
    fmt = function(v) return string.format("%." .. p .. "f", v) end
  end
  local function one(v)
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    local s = fmt(v)
    if s:match("^%-0%.?0*e?") and v == 0 then s = s:sub(2) end -- no "-0."
    return s
  end
  local w = 1
  for _, v in ipairs(values) do w = math.max(w, #one(v)) end
  return function(v) return string.format("%" .. w .. "s", one(v)) end
end

local function render(v, depth, indent, fmt)
  if type(v) ~= "table" then return fmt(v) end
  local pad = string.rep(" ", indent + depth + 1)
  local parts = {}
  local leaf_level = v[1] == nil or type(v[1]) ~= "table" or (v[1] == ELLIPSIS and type(v[2]) ~= "table")
  if leaf_level then
    -- one row, wrapped at linewidth
    local line, lines = "", {}
    for i, x in ipairs(v) do
      local s = x == ELLIPSIS and "..." or fmt(x)
      if i < #v then s = s .. ", " end
      if #line > 0 and indent + depth + 1 + #line + #s > opts.linewidth then
        lines[#lines + 1] = line:gsub("%s+$", "")
        line = ""
      end
      line = line .. s
    end
    lines[#lines + 1] = line
    return "[" .. table.concat(lines, "\n" .. pad) .. "]"
  end
  local sep = "," .. string.rep("\n", 1) .. pad
  -- blank lines between blocks of 3-D and deeper tensors, as PyTorch
  local nested = 0
  local probe = v[1]
  while type(probe) == "table" and probe ~= ELLIPSIS do nested = nested + 1; probe = probe[1] end
  if nested >= 2 then sep = "," .. string.rep("\n", nested) .. pad end
  for _, x in ipairs(v) do
    parts[#parts + 1] = x == ELLIPSIS and "..." or render(x, depth + 1, indent, fmt)
  end
  return "[" .. table.concat(parts, sep) .. "]"
end

function M.tostring(t)
  local shape = t:shape()
  local dtype = t:dtype()
  local info = string.format("shape=[%s], dtype=%s, device=%s", table.concat(shape, ","), dtype, t:device())
  local ok, gr = pcall(function() return t.requires_grad end)
  if ok and gr then info = info .. ", requires_grad=true" end
  if t:numel() == 0 then return "tensor([], " .. info .. ")" end
  local summarize = t:numel() > opts.threshold
  local vals = gather(t, summarize)
  local floating = t:is_floating_point()
  local fmt
  if dtype == "bool" then
    fmt = function(b) return string.format("%5s", tostring(b)) end
  else
    fmt = number_formatter(leaves(vals, {}), floating)
  end
  return "tensor(" .. render(vals, 0, 7, fmt) .. ", " .. info .. ")"
end

return M
