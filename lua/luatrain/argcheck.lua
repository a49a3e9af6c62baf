-- luatrain.argcheck — the argument checks lt.data and lt.transforms share:
-- errors in the "bad argument #n to 'f' (...)" form and options tables that
-- reject unknown keys. Not a public API. (The optimizers keep their own in
-- luatrain.optim.util, whose errors point at the user's line.)
local M = {}

-- Raises "bad argument #n to 'fname' (msg)" as it is, with no position.
function M.fail(fname, n, msg)
  error(string.format("bad argument #%d to '%s' (%s)", n, fname, msg), 0)
end

local function keys_of(allowed)
  local names = {}
  for k in pairs(allowed) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
end

-- opts (nil reads as {}) must be a table whose keys are all in the set
-- `allowed`; returns it. With through_index, tables reached through
-- __index are checked too (an options table may inherit shared defaults
-- that way).
function M.check_opts(opts, n, fname, allowed, through_index)
  if opts == nil then return {} end
  if type(opts) ~= "table" then M.fail(fname, n, "expected an options table, got " .. type(opts)) end
  local t, depth = opts, 0
  while type(t) == "table" and depth < 16 do
    for k in pairs(t) do
      if not allowed[k] then M.fail(fname, n, string.format("unknown option '%s' (valid: %s)", tostring(k), keys_of(allowed))) end
    end
    if not through_index then break end
    local mt = getmetatable(t)
    t = mt and type(mt) == "table" and mt.__index or nil
    depth = depth + 1
  end
  return opts
end

return M
