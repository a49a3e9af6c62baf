-- luatrain.testing — the assertions the Lua test files use (and users may).
--
--   local T = require "luatrain.testing"
--   T.check(cond, "what")                 -- a plain assertion
--   T.checkerr("bad argument #2 to 'view'", f, ...)  -- f(...) must raise a
--                                         -- message containing the plain text
--   T.close(a, b, tol, "what")           -- numbers: |a-b| <= tol*(1+|b|)
--   T.test("name", function() ... end)    -- a named group; an error inside
--                                         -- counts as one failure, the file goes on
--   os.exit(T.done())                     -- prints "N passed, N failed"
local M = {}
local passed, failed = 0, 0
local current = nil

local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  return info and (info.short_src .. ":" .. info.currentline) or "?"
end

local function fail(msg, level)
  failed = failed + 1
  io.stderr:write(string.format("FAIL %s%s: %s\n", current and ("[" .. current .. "] ") or "",
                                where(level + 1), msg))
end

function M.check(cond, what)
  if cond then passed = passed + 1 else fail(what or "check failed", 2) end
  return cond
end

function M.close(a, b, tol, what)
  tol = tol or 1e-6
  if type(a) == "number" and type(b) == "number" and math.abs(a - b) <= tol * (1 + math.abs(b)) then
    passed = passed + 1
    return true
  end
  fail(string.format("%s: got %s, expected %s (tol %g)", what or "close", tostring(a), tostring(b), tol), 2)
  return false
end

function M.checkerr(pattern, f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    fail(string.format("expected an error containing %q, got none", pattern), 2)
    return false
  end
  err = tostring(err)
  if err:find(pattern, 1, true) then
    passed = passed + 1
    return true
  end
  fail(string.format("expected an error containing %q, got %q", pattern, err), 2)
  return false
end

function M.test(name, fn)
  current = name
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then fail("error: " .. tostring(err), 1) end
  current = nil
end

function M.counts() return passed, failed end

function M.done()
  print(string.format("%d passed, %d failed", passed, failed))
  return failed == 0 and 0 or 1
end

return M
