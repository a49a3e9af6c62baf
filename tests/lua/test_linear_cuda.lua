-- test_linear_cuda.lua — linear and batched products through cuBLASLt
-- (cuda/lt_cuda_linalg.c) against float64 on the CPU: linear with and without the
-- bias epilogue, 3-D inputs, misaligned operands (views at odd offsets, which
-- the plan cache keys on), in_features 0, the backward (bias gradient by
-- reduction), batched and broadcast products, a strided one-column operand,
-- the same shape again with other buffers (a cached plan), every floating
-- dtype (float64 1e-12, float32 with TF32 off 1e-5 and on 1e-3, bfloat16
-- 1e-2, float16 2e-3); and
-- the library versions lt.cuda reports and `luatrain -v` prints.
--
-- Without a GPU it prints "skipped: no GPU" and exits 77.
-- LUATRAIN_TEST_DEVICE=cpu runs the comparisons CPU against CPU.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local DEV = T.gpu_or_skip(true)
local ON_GPU = DEV ~= "cpu"
if ON_GPU then lt.backends.allow_tf32(false) end
lt.manual_seed(777)

local function dev(t) return t:to(DEV) end
local function close(a, ref, tol, what) T.tensor_close(a, ref, tol, what) end

-- y = x·wᵀ + b on DEV in dtype dt, its gradients for an upstream g, vs float64 on the CPU
local function check_linear(what, x, w, b, dt, tol)
  local xd, wd, bd = x:double(), w:double(), b and b:double() or nil
  local ref = xd:matmul(wd:t())
  if bd then ref = ref + bd end
  -- clones: on the CPU, to() of the same dtype and device is the tensor itself
  local xg, wg = dev(x:to(dt)):clone(), dev(w:to(dt)):clone()
  local bg = b and dev(b:to(dt)):clone() or nil
  xg.requires_grad, wg.requires_grad = true, true
  if bg then bg.requires_grad = true end
  local y = F.linear(xg, wg, bg)
  T.check(y:dtype() == dt and y:device() == xg:device(), what .. ": dtype/device " .. y:dtype() .. " " .. y:device())
  close(y, ref, tol, what .. " forward")
  -- backward: gx = g·w, gw = gᵀ·x, gb = sum of g over the rows
  local g = lt.randn(ref:shape(), {dtype = "float64"})
  y:backward(dev(g:to(dt)))
  local g2 = g:reshape(-1, w:shape()[1])
  local x2 = xd:reshape(-1, w:shape()[2])
  close(xg.grad, g2:matmul(wd):view_as(xd), tol, what .. " grad input")
  close(wg.grad, g2:t():matmul(x2), tol, what .. " grad weight")
  if bg then close(bg.grad, g2:sum(1), tol, what .. " grad bias") end
end

local function run(dt, tol, label)
  for _, c in ipairs({{{8, 5}, 3}, {{128, 512}, 10}, {{4, 7, 6}, 9}, {{1, 16}, 16}, {{33, 65}, 17}}) do
    local x, w, b = lt.randn(c[1]), lt.randn(c[2], c[1][#c[1]]) * 0.3, lt.randn(c[2])
    local name = string.format("%s [%s]x[%d,%d]", label, table.concat(c[1], ","), c[2], c[1][#c[1]])
    check_linear(name .. " bias", x, w, b, dt, tol)
    check_linear(name .. " no bias", x, w, nil, dt, tol)
  end
  -- operands at odd element offsets: 4- or 2-byte aligned pointers
  local big = lt.randn(200)
  local x = big:narrow(1, 2, 6 * 5):view(6, 5)
  local w = big:narrow(1, 37, 3 * 5):view(3, 5)
  local b = big:narrow(1, 61, 3)
  check_linear(label .. " misaligned operands", x, w, b, dt, tol)
  -- the same shape again with fresh buffers (a cached plan must not keep pointers)
  for i = 1, 3 do
    check_linear(label .. " repeat " .. i, lt.randn(8, 5), lt.randn(3, 5), lt.randn(3), dt, tol)
  end
end

T.test("linear", function()
  run("float64", 1e-12, "float64")
  run("float32", 1e-5, "float32 (TF32 off)")
  if ON_GPU then
    lt.backends.allow_tf32(true)
    run("float32", 1e-3, "float32 (TF32)")
    lt.backends.allow_tf32(false)
    run("bfloat16", 1e-2, "bfloat16")
    run("float16", 2e-3, "float16")
  end
  -- in_features 0: y = b (or 0)
  local y = F.linear(dev(lt.zeros(4, 0)), dev(lt.zeros(3, 0)), dev(lt.tensor({1, 2, 3}, {dtype = "float32"})))
  close(y, lt.tensor({1, 2, 3}, {dtype = "float32"}):view(1, 3):expand(4, 3), 0, "in_features 0 with bias")
  close(F.linear(dev(lt.zeros(4, 0)), dev(lt.zeros(3, 0))), lt.zeros(4, 3), 0, "in_features 0")
  close(F.linear(dev(lt.zeros(0, 5)), dev(lt.ones(3, 5)), dev(lt.ones(3))), lt.zeros(0, 3), 0, "no rows")
end)

T.test("batched products", function()
  for _, dt in ipairs(ON_GPU and {"float64", "float32", "bfloat16"} or {"float64", "float32"}) do
    local tol = ({float64 = 1e-12, float32 = 1e-5, bfloat16 = 1e-2})[dt]
    local a, b = lt.randn(6, 17, 9):to(dt), lt.randn(6, 9, 13):to(dt)
    close(lt.bmm(dev(a), dev(b)), lt.bmm(a:double(), b:double()), tol, dt .. " bmm")
    -- column-major operands in a batch (transpose flags), and a broadcast operand (batch stride 0)
    close(lt.bmm(dev(a):transpose(2, 3):contiguous():transpose(2, 3), dev(b):transpose(2, 3):contiguous()
            :transpose(2, 3)), lt.bmm(a:double(), b:double()), tol, dt .. " bmm column-major")
    local w = lt.randn(9, 4):to(dt)
    close(lt.matmul(dev(a), dev(w)), lt.matmul(a:double(), w:double()), tol, dt .. " batch @ matrix")
    local m = lt.randn(5, 9):to(dt)
    close(lt.matmul(dev(m), dev(b)), lt.matmul(m:double(), b:double()), tol, dt .. " matrix @ batch (broadcast)")
    -- one column with a row stride and a meaningless column stride (strides (8, 2)): row-major,
    -- leading dimension 8, taken as it is (lt_gemm_layout.h)
    local t3 = lt.randn(9, 4, 2):to(dt)
    local col = dev(t3):narrow(2, 2, 1):select(3, 2)
    T.check(col:stride(1) == 8 and col:stride(2) == 2, "strides of the column view")
    close(lt.matmul(dev(m), col), lt.matmul(m:double(), t3:double():narrow(2, 2, 1):select(3, 2)), tol,
          dt .. " matrix @ strided column")
    -- beta = 1 through addmm-like accumulation is the op layer's; a larger batch
    local x, y = lt.randn(300, 4, 8):to(dt), lt.randn(300, 8, 3):to(dt)
    close(lt.bmm(dev(x), dev(y)), lt.bmm(x:double(), y:double()), tol, dt .. " 300 small products")
  end
end)

T.test("library versions", function()
  if ON_GPU then
    local v, why = lt.cuda.cudnn_version()
    T.check(math.type(v) == "integer" and v >= 90000 and v < 100000, "cudnn_version " .. tostring(v) .. " " .. tostring(why))
    local lv = lt.cuda.cublaslt_version()
    T.check(math.type(lv) == "integer" and lv >= 120000, "cublaslt_version " .. tostring(lv))
    T.check(lt.cuda.cublas_version() == lv, "cuBLAS and cuBLASLt versions agree")
    T.check(lt.cuda.runtime_version() >= 12000 and lt.cuda.driver_version() >= 12000, "runtime/driver versions")
    local bin = T.luatrain_paths()
    local out = io.popen("'" .. bin .. "' -v"):read("a")
    local want = string.format("cuDNN %d.%d.%d", v // 10000, v % 10000 // 100, v % 100)
    T.check(out:find(want, 1, true) ~= nil and out:find("CUDA runtime", 1, true) ~= nil,
            "luatrain -v reports " .. want .. ": " .. out)
  else
    -- the functions exist in every build; without a GPU library they say why
    T.check(type(lt.cuda.runtime_version()) == "number", "runtime_version")
    T.check(type(lt.cuda.driver_version()) == "number", "driver_version")
  end
end)

os.exit(T.done())
