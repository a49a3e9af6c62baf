-- luatrain.argcheck — the one argument checker of the Lua library (lt.data,
-- lt.transforms, lt.optim and its schedulers): errors in the
-- "bad argument #n to 'f' (...)" form that point at the user's line,
-- options tables that reject unknown keys, and how values show in those
-- messages. Not a public API.
--
-- The user's line: an error names the position of the first caller outside
-- this library (frames in C and in luatrain's own files are skipped), so a
-- bad option given to lt.optim.SGD or lt.data.DataLoader points at the
-- script that gave it, however deep inside the library it was found.
local core = require "luatrain.core"

local M = {}

-- This library's chunk names start with what this file's does, less
-- "argcheck.lua" ("@lua/luatrain/" embedded, "@<LUATRAIN_PATH>/luatrain/"
-- from the source folder).
local LIB = debug.getinfo(1, "S").source:match("^(.*)argcheck%.lua$")

-- The error level of the first caller outside the library, for an error
-- raised by a function of this module (0: none, no position).
local function user_level()
  local level = 3 -- 1 is this function, 2 the function of this module raising
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return 0 end
    local library = LIB ~= nil and info.source:sub(1, #LIB) == LIB
    if info.what ~= "C" and not library then return level - 1 end
    level = level + 1
  end
end

--- raise(fmt, ...): an error (string.format'ed) at the user's line.
function M.raise(fmt, ...)
  error(string.format(fmt, ...), user_level())
end

--- argerror(fname, n, fmt, ...): "bad argument #n to 'fname' (msg)" at the
-- user's line, msg string.format'ed.
function M.argerror(fname, n, fmt, ...)
  error(string.format("bad argument #%d to '%s' (%s)", n, fname, string.format(fmt, ...)), user_level())
end

--- fail(fname, n, msg): argerror with msg as it is.
function M.fail(fname, n, msg)
  error(string.format("bad argument #%d to '%s' (%s)", n, fname, msg), user_level())
end

-- ---- values in messages ---------------------------------------------------------

--- A number as a message shows it: the shortest form that reads back
-- exactly (1.0 -> "1", 0.1 -> "0.1"); anything else through tostring.
function M.num(v)
  if math.type(v) ~= "float" then return tostring(v) end
  if v ~= v then return "nan" end
  local s = string.format("%.15g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end
  return s
end

function M.is_tensor(v) return core.is_tensor(v) end

--- type(v), but "tensor" for a tensor.
function M.typename(v)
  if core.is_tensor(v) then return "tensor" end
  return type(v)
end

--- The sorted keys of a table, as strings (for messages listing valid names).
function M.sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return ks
end

-- ---- options tables ----------------------------------------------------------------

--- check_opts(opts, n, fname, allowed [, through_index]): opts (nil reads
-- as {}) must be a table, not a tensor, whose keys are all in the set
-- `allowed`; returns it. With through_index, tables reached through
-- __index are checked too (an options table may inherit shared defaults
-- that way).
function M.check_opts(opts, n, fname, allowed, through_index)
  if opts == nil then return {} end
  if type(opts) ~= "table" then M.fail(fname, n, "expected an options table, got " .. M.typename(opts)) end
  local t, depth = opts, 0
  while type(t) == "table" and depth < 16 do
    for k in pairs(t) do
      if type(k) ~= "string" or allowed[k] == nil then
        M.fail(fname, n, string.format("unknown option '%s' (valid: %s)", tostring(k),
                                       table.concat(M.sorted_keys(allowed), ", ")))
      end
    end
    if not through_index then break end
    local mt = getmetatable(t)
    t = mt and type(mt) == "table" and mt.__index or nil
    depth = depth + 1
  end
  return opts
end

return M
