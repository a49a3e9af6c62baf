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
--   T.child_env() T.shell_quote(s)        -- a child's LUATRAIN_PATH prefix; shell quoting
--   local out, status = T.shell(cmd, dir) -- a shell command run in dir: its output and exit status
--   T.read_file(path)                     -- a file's content, or nil
--   T.write_file(path, s)                 -- a file's whole content
--   os.exit(T.done())                     -- prints "N passed, N failed"
--
-- Tensor comparisons that print what differs (any device; compared on the CPU):
--   T.tensor_equal(a, ref, "what")        -- shape, dtype, values and NaN positions exactly
--   T.tensor_close(a, ref, tol, "what")   -- shape, NaN/inf positions, then relative error <= tol
--   local out, grads = T.grads_of(fn, x, w) -- fn on fresh leaf copies -> (out, loss); the grads
--   local dev = T.gpu_or_skip(cpu_ok)     -- "cuda", or exit 77 after "skipped: no GPU" without one
--                                         -- (cpu_ok: LUATRAIN_TEST_DEVICE=cpu runs it on the CPU)
--
-- Device-parametrised tests (the golden tests): one body file runs on the CPU
-- as test_<name>.lua and on the GPU through a thin wrapper
-- test_<name>_cuda.lua (ctest label cuda) whose whole content is
--   require("luatrain.testing").run_on_gpu("test_<name>.lua")
-- The body moves its inputs and model to T.device(), compares on the CPU, and
-- takes its golden tolerance from T.golden_tol(dtype):
--   T.device()            -- "cpu", or the wrapper's device ("cuda")
--   T.device_name()       -- what t:device() says for T.device() ("cuda:0")
--   T.is_device_run()     -- true under a _cuda wrapper (the body may add device-only checks)
--   T.golden_tol(dtype)   -- plain run: tests/golden/README.md's bounds (float32 1e-4,
--                         -- float64 1e-10); device run: the GPU bounds
--                         -- (float32 1e-5 with TF32 off, 1e-3 with TF32 on, bfloat16
--                         -- 1e-2, float64 1e-10), read when called
--   T.with_tf32(flag, fn) -- fn() with lt.backends.allow_tf32(flag) in a device run,
--                         -- restored afterwards; a plain fn() in a plain run
-- Without a GPU a wrapper prints "skipped: no GPU" and exits 77 (ctest: skipped).
-- LUATRAIN_TEST_DEVICE=cpu makes a wrapper run its body as a device run on the
-- CPU, with the GPU bounds: that checks the wrapper and the body's device path
-- on machines without a GPU.
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

local test_device, device_run = "cpu", false

function M.test(name, fn)
  current = device_run and (name .. " on " .. test_device) or name
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then fail("error: " .. tostring(err), 1) end
  current = nil
end

function M.counts() return passed, failed end

function M.relerr(a, b)
  a, b = a:cpu():double():reshape(-1), b:cpu():double():reshape(-1)
  return (a - b):norm():item() / b:norm():item()
end

local function shape_str(t) return "[" .. table.concat(t:shape(), ",") .. "]" end

local function same_shape(a, b)
  local sa, sb = a:shape(), b:shape()
  if #sa ~= #sb then return false end
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  return true
end

-- a (any device) equals ref exactly: shape, dtype, values, NaN positions
function M.tensor_equal(a, ref, what)
  local x, r = a:cpu(), ref:cpu()
  if not same_shape(x, r) then
    fail(string.format("%s: shape %s, expected %s", what, shape_str(x), shape_str(r)), 2)
    return false
  end
  if x:dtype() ~= r:dtype() then
    fail(string.format("%s: dtype %s, expected %s", what, x:dtype(), r:dtype()), 2)
    return false
  end
  local ok = true
  if x:numel() > 0 then
    if x:is_floating_point() then
      local xd, rd = x:double(), r:double()
      local xn, rn = xd:isnan(), rd:isnan()
      ok = xn:eq(rn):all():item() and xd:masked_fill(xn, 0):eq(rd:masked_fill(rn, 0)):all():item()
    else
      ok = x:eq(r):all():item()
    end
  end
  if ok then passed = passed + 1 else fail(what .. ": values differ from the reference", 2) end
  return ok
end

-- ‖a − ref‖ / ‖ref‖ in float64 (‖a − ref‖ when ref is 0), after checking
-- the shape and that NaNs and infinities sit where the reference has them
function M.tensor_close(a, ref, tol, what)
  local x, r = a:cpu(), ref:cpu()
  if not same_shape(x, r) then
    fail(string.format("%s: shape %s, expected %s", what, shape_str(x), shape_str(r)), 2)
    return false
  end
  if x:numel() == 0 then passed = passed + 1 return true end
  local xd, rd = x:double(), r:double()
  local xn, rn = xd:isnan(), rd:isnan()
  if not xn:eq(rn):all():item() then fail(what .. ": NaN positions differ", 2) return false end
  local xi, ri = xd:abs():eq(math.huge), rd:abs():eq(math.huge)
  if not (xi:eq(ri):all():item() and
          xd:masked_fill(xi:logical_not(), 0):eq(rd:masked_fill(ri:logical_not(), 0)):all():item()) then
    fail(what .. ": infinities differ", 2)
    return false
  end
  local xm, rm = xn:logical_or(xi), rn:logical_or(ri)
  xd, rd = xd:masked_fill(xm, 0), rd:masked_fill(rm, 0)
  local d, n = (xd - rd):norm():item(), rd:norm():item()
  local e = n > 0 and d / n or d
  if e <= tol then passed = passed + 1 return true end
  fail(string.format("%s: relative error %.3g > %.3g", what, e, tol), 2)
  return false
end

-- fn(...) on fresh leaf copies of the given tensors (requiring grad); fn
-- returns (output, scalar loss). Returns the detached output and the list
-- of the leaves' gradients after loss:backward().
function M.grads_of(fn, ...)
  local leaves = {}
  for i, t in ipairs({...}) do leaves[i] = t:detach():clone():requires_grad_(true) end
  local out, loss = fn(table.unpack(leaves))
  loss:backward()
  local grads = {}
  for i, t in ipairs(leaves) do grads[i] = t.grad end
  return out:detach(), grads
end

-- --- device-parametrised tests ------------------------------------------------------------

function M.device() return test_device end
function M.is_device_run() return device_run end
-- the canonical name tensors on T.device() report ("cuda:0" for "cuda")
function M.device_name() return require("luatrain.core").zeros(0):to(test_device):device() end

local CPU_TOL = {float32 = 1e-4, float64 = 1e-10}
local DEVICE_TOL = {float32 = 1e-5, float64 = 1e-10, bfloat16 = 1e-2}

function M.golden_tol(dtype)
  local tol
  if device_run then
    tol = DEVICE_TOL[dtype]
    if dtype == "float32" and require("luatrain.core").backends.allow_tf32() then tol = 1e-3 end
  else
    tol = CPU_TOL[dtype]
  end
  if not tol then error("golden_tol: no golden tolerance for dtype " .. tostring(dtype), 2) end
  return tol
end

function M.with_tf32(flag, fn, ...)
  if not device_run then return fn(...) end
  local backends = require("luatrain.core").backends
  local prev = backends.allow_tf32(flag)
  local res = table.pack(pcall(fn, ...))
  backends.allow_tf32(prev)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- fn() with the CPU convolutions on `path` (lt.backends.cpu_conv: "auto",
-- "im2col", "onednn", "winograd"), the setting restored afterwards even if
-- fn fails.
function M.with_cpu_conv(path, fn)
  local backends = require("luatrain.core").backends
  local old = backends.cpu_conv(path)
  local ok, err = pcall(fn)
  backends.cpu_conv(old)
  if not ok then error(err, 0) end
end

-- The device a GPU test runs on: "cuda", or "cpu" when LUATRAIN_TEST_DEVICE=cpu
-- and `cpu_ok` (the file can check itself CPU against CPU). Without a GPU it
-- prints "skipped: no GPU" and ends the process with 77 (ctest: skipped).
function M.gpu_or_skip(cpu_ok)
  local dev = cpu_ok and os.getenv("LUATRAIN_TEST_DEVICE") or "cuda"
  if dev ~= "cpu" and not require("luatrain.core").cuda.is_available() then
    print("skipped: no GPU")
    os.exit(77)
  end
  return dev
end

-- Runs the body file `name` (in the wrapper's folder) on the GPU, or exits
-- 77 after "skipped: no GPU". The body ends the process itself (os.exit).
function M.run_on_gpu(name)
  local dev = M.gpu_or_skip(true)
  test_device, device_run = dev, true
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  dofile(dir .. "/" .. name)
  error("run_on_gpu: " .. name .. " returned instead of ending with os.exit(T.done())", 2)
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

-- s quoted for a POSIX shell command line.
function M.shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The whole content of a file, or nil when it cannot be opened.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes s as the whole content of a file.
function M.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Runs a shell command line in folder `dir`; returns its output (stdout and
-- stderr together) and its exit status.
function M.shell(cmd, dir)
  local p = io.popen("cd " .. M.shell_quote(dir) .. " && (" .. cmd .. ") 2>&1; echo \"<rc=$?>\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("<rc=(%d+)>%s*$"))
  return (out:gsub("<rc=%d+>%s*$", "")), rc
end

-- The environment prefix of a child luatrain command ("LUATRAIN_PATH='/abs/lua' "
-- or ""): a child started elsewhere must load the same Lua library, so a
-- relative LUATRAIN_PATH becomes absolute.
function M.child_env()
  local lpath = os.getenv("LUATRAIN_PATH")
  if not lpath or lpath == "" then return "" end
  if not lpath:find("^/") then lpath = io.popen("pwd"):read("l") .. "/" .. lpath end
  return "LUATRAIN_PATH=" .. M.shell_quote(lpath) .. " "
end

function M.done()
  print(string.format("%d passed, %d failed", passed, failed))
  return failed == 0 and 0 or 1
end

return M
