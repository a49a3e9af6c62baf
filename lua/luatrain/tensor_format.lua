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
    if e > 0 then
      for _, v in ipairs(t:narrow(1, 1, e):tolist()) do rows[#rows + 1] = v end
    end
    rows[#rows + 1] = ELLIPSIS
    if e > 0 then
      for _, v in ipairs(t:narrow(1, n - e + 1, e):tolist()) do rows[#rows + 1] = v end
    end
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

local function pad(s, w) return string.rep(" ", w - #s) .. s end

-- PyTorch's _Formatter: returns a function value -> string (padded to one
-- width) and that width. Integers and booleans print as themselves. Floats
-- look at the non-zero finite values only: all integral -> "3." (or
-- scientific when max/min > 1e3 or max > 1e8); else fixed "%.4f" unless
-- max/min > 1e3, max > 1e8 or min < 1e-4, which give "%.4e". The width is the
-- widest of those values; zeros, nan and inf are padded to it.
local function number_formatter(values, floating)
  if not floating then
    local w = 1
    for _, v in ipairs(values) do w = math.max(w, #tostring(v)) end
    return function(v) return pad(tostring(v), w) end, w
  end
  local p = opts.precision
  local int_mode, sci_mode, w = true, false, 1
  local maxa, mina, any = 0, math.huge, false
  for _, v in ipairs(values) do
    if v == v and v ~= math.huge and v ~= -math.huge and v ~= 0 then
      any = true
      local a = math.abs(v)
      if a > maxa then maxa = a end
      if a < mina then mina = a end
      if v ~= math.ceil(v) then int_mode = false end
    end
  end
  local efmt, ffmt = "%." .. p .. "e", "%." .. p .. "f"
  if any then
    if int_mode then
      sci_mode = maxa / mina > 1000 or maxa > 1e8
    else
      sci_mode = maxa / mina > 1000 or maxa > 1e8 or mina < 1e-4
    end
    for _, v in ipairs(values) do
      if v == v and v ~= math.huge and v ~= -math.huge and v ~= 0 then
        local s
        if sci_mode then s = string.format(efmt, v)
        elseif int_mode then s = string.format("%.0f", v) .. "."
        else s = string.format(ffmt, v) end
        w = math.max(w, #s)
      end
    end
  end
  local function one(v)
    if v ~= v then return "nan" end -- never "-nan"
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    if sci_mode then return string.format(efmt, v) end
    if int_mode then return string.format("%.0f", v) .. "." end -- "-0." for -0.0, as PyTorch
    return string.format(ffmt, v)
  end
  return function(v) return pad(one(v), w) end, w
end

-- PyTorch's _tensor_str_with_formatter: `v` holds a `dim`-d tensor's values,
-- `indent` is the column its "[" is printed at.
local function render(v, dim, indent, fmt, width)
  if dim == 0 then return fmt(v) end
  if dim == 1 then
    -- a fixed number of elements per line, the elision counting as one
    local per_line = math.max(1, (opts.linewidth - indent) // (width + 2))
    local data = {}
    for i, x in ipairs(v) do
      if x == ELLIPSIS then data[i] = #v == 1 and "..." or " ..." else data[i] = fmt(x) end
    end
    local lines = {}
    for i = 1, #data, per_line do
      lines[#lines + 1] = table.concat(data, ", ", i, math.min(i + per_line - 1, #data))
    end
    return "[" .. table.concat(lines, ",\n" .. string.rep(" ", indent + 1)) .. "]"
  end
  local parts = {}
  for i, x in ipairs(v) do
    parts[i] = x == ELLIPSIS and "..." or render(x, dim - 1, indent + 1, fmt, width)
  end
  return "[" .. table.concat(parts, "," .. string.rep("\n", dim - 1) .. string.rep(" ", indent + 1)) .. "]"
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
  local fmt, width = number_formatter(leaves(vals, {}), t:is_floating_point())
  return "tensor(" .. render(vals, t:dim(), 7, fmt, width) .. ", " .. info .. ")"
end

return M
