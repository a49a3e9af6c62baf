-- luatrain.testing — the assertions the Lua test files use (and users may).
--
--   local T = require "luatrain.testing"
--   T.check(cond, "what")                 -- a plain assertion
--   T.checkerr("bad argument #2 to 'view'", f, ...)  -- f(...) must raise a
--                                         -- message containing the plain text
--   T.close(a, b, tol, "what")           -- numbers: |a-b| <= tol*(1+|b|)
--   T.test("name", function() ... end)    -- a named group; an error inside
--                                         -- counts as one failure, the file goes on
--   T.relerr(a, b)                        -- ‖a − b‖ / ‖b‖ of two tensors, in float64
--   local bin, root = T.luatrain_paths()  -- the running binary and the repository
--                                         -- root (for tests that start child processes)
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

function M.relerr(a, b)
  a, b = a:double():reshape(-1), b:double():reshape(-1)
  return (a - b):norm():item() / b:norm():item()
end

-- The luatrain binary ($LUATRAIN_BIN, or the program running this file: the
-- lowest negative index of `arg`) and the repository root (from the test
-- file's path tests/lua/<name>.lua), both absolute.
function M.luatrain_paths()
  local bin = os.getenv("LUATRAIN_BIN")
  if not bin then
    local i = -1
    while arg[i - 1] do i = i - 1 end
    bin = arg[i]
  end
  local cwd = io.popen("pwd"):read("l")
  if not bin:find("^/") and bin:find("/") then bin = cwd .. "/" .. bin end
  local root = (arg[0]:match("^(.*)/tests/lua/[^/]*$") or ".")
  if not root:find("^/") then root = cwd .. "/" .. root end
  return bin, root
end

function M.done()
  print(string.format("%d passed, %d failed", passed, failed))
  return failed == 0 and 0 or 1
end

return M
