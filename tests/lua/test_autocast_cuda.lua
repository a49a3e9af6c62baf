-- test_autocast_cuda.lua — bf16 mixed precision on the GPU: under autocast
-- conv2d, linear and matmul take bfloat16 operands on the device (cuDNN and
-- cuBLAS in bf16 with float32 accumulation, the arithmetic the CPU emulates),
-- agree with the CPU's autocast results within the bf16 bound (1e-2) and give
-- float32 gradients to float32 leaves; batch_norm runs on bf16/f16 input with
-- float32 parameters and statistics (the NCHW and NHWC kernels, training and
-- eval) and agrees with the CPU's mixed batch norm; ResNet18 width 16 with
-- model:autocast("bf16") lands on PyTorch's float64 logits within 3e-2 (the
-- bound test_autocast.lua justifies: the CPU measures 2.1e-2) and its loss
-- within 1e-2 (CPU: 8.1e-4); and a few SGD steps under bf16 lower the loss as
-- float32 steps do (within 5% of the first loss at every step; the CPU
-- measures 0.8%), with float32 master weights, gradients and BN statistics.
--
-- Without a GPU it prints "skipped: no GPU" and exits 77 (ctest: skipped).
-- LUATRAIN_TEST_DEVICE=cpu runs it on the CPU, which checks this file itself.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local DEV = T.gpu_or_skip(true)
local DEV_NAME = lt.zeros(0):to(DEV):device()
-- float32 comparisons below assume no TF32
lt.backends.allow_tf32(false)

local function bf16(fn, ...) return lt.autocast("bf16", fn, ...) end

-- fn(...) on fresh float32 leaves under autocast: the output and the leaves' gradients
local function run_leaves(fn, ...)
  local leaves = {}
  for i, t in ipairs({...}) do leaves[i] = t:detach():clone():requires_grad_(true) end
  local out = bf16(fn, table.unpack(leaves))
  out:float():pow(2):sum():backward()
  local grads = {}
  for i, t in ipairs(leaves) do grads[i] = t.grad end
  return out, grads
end

T.test("conv2d, linear and matmul under autocast on the device", function()
  lt.manual_seed(1)
  local cases = {
    {"conv2d", function(x, w, b) return F.conv2d(x, w, b, {padding = 1, stride = 2}) end,
     {lt.randn(4, 8, 12, 12), lt.randn(16, 8, 3, 3) * 0.2, lt.randn(16)}},
    {"linear", function(x, w, b) return F.linear(x, w, b) end, {lt.randn(32, 48), lt.randn(24, 48) * 0.2, lt.randn(24)}},
    {"matmul", function(a, b) return lt.matmul(a, b) end, {lt.randn(3, 20, 40), lt.randn(40, 16)}},
  }
  for _, c in ipairs(cases) do
    local name, fn, args = c[1], c[2], c[3]
    local dargs = {}
    for i, t in ipairs(args) do dargs[i] = t:to(DEV) end
    local yd, gd = run_leaves(fn, table.unpack(dargs))
    local yc, gc = run_leaves(fn, table.unpack(args))
    T.check(yd:dtype() == "bfloat16" and yd:device() == DEV_NAME,
            string.format("%s: bfloat16 on %s, got %s on %s", name, DEV_NAME, yd:dtype(), yd:device()))
    T.tensor_close(yd:float(), yc:float(), 1e-2, name .. " forward against the CPU's autocast")
    for i = 1, #gc do
      T.check(gd[i] ~= nil and gd[i]:dtype() == "float32" and gd[i]:device() == DEV_NAME,
              name .. " gradient " .. i .. " is float32 on the device")
      if gd[i] then T.tensor_close(gd[i], gc[i], 1e-2, name .. " gradient " .. i .. " against the CPU's") end
    end
    -- the same bf16 kernel as bf16 operands without autocast: autocast casts
    -- and dispatches, it does not compute in float32 behind the scenes
    local direct = {}
    for i, t in ipairs(dargs) do direct[i] = t:bfloat16() end
    T.tensor_equal(bf16(fn, table.unpack(dargs)), fn(table.unpack(direct)), name .. " equals the plain bf16 op")
  end
end)

T.test("mixed batch_norm on the device: 16-bit input, float32 parameters", function()
  lt.manual_seed(4)
  -- [8,24,6,6]: 24 channels, not a multiple of 32 (the NHWC statistics
  -- kernel's partial block), and S = 36, not a multiple of 8 (the NCHW apply
  -- kernels' scalar path); [8,32,8,8] takes the 16-byte vectorised paths
  for _, shape in ipairs({{8, 24, 6, 6}, {8, 32, 8, 8}}) do
    for _, dtype in ipairs({"bfloat16", "float16"}) do
      for _, layout in ipairs({"contiguous_format", "channels_last"}) do
        for _, training in ipairs({true, false}) do
          local C = shape[2]
          local x = (lt.randn(table.unpack(shape)) * 1.5 + 2):to(dtype)
          if layout == "channels_last" then x = x:contiguous("channels_last") end
          local w, b, rm, rv = lt.rand(C) + 0.5, lt.randn(C), lt.randn(C) * 0.1, lt.rand(C) + 0.5
          local g = lt.randn(table.unpack(shape)):to(dtype)
          local function run(dev)
            local xx = x:to(dev):requires_grad_()
            local ww, bb = w:to(dev):requires_grad_(), b:to(dev):requires_grad_()
            local rrm, rrv = rm:to(dev), rv:to(dev)
            local y = bf16(F.batch_norm, xx, rrm, rrv, ww, bb, training, 0.1, 1e-5)
            y:float():mul(g:to(dev):float()):sum():backward()
            return y, rrm, rrv, xx.grad, ww.grad, bb.grad
          end
          local yd, rmd, rvd, gxd, gwd, gbd = run(DEV)
          local yc, rmc, rvc, gxc, gwc, gbc = run("cpu")
          local what = string.format("[%s] %s %s %s: ", table.concat(shape, ","), dtype, layout,
                                     training and "training" or "eval")
          T.check(yd:dtype() == dtype and yd:device() == DEV_NAME, what .. "output " .. yd:dtype() .. " on the device")
          T.check(yd:is_contiguous(layout), what .. "output keeps the layout")
          T.check(rmd:dtype() == "float32" and gwd:dtype() == "float32" and gbd:dtype() == "float32" and
                  gxd:dtype() == dtype, what .. "float32 statistics and parameter gradients, 16-bit input gradient")
          T.tensor_close(yd:float(), yc:float(), 1e-2, what .. "output against the CPU")
          T.tensor_close(rmd, rmc, 1e-5, what .. "running_mean against the CPU")
          T.tensor_close(rvd, rvc, 1e-5, what .. "running_var against the CPU")
          T.tensor_close(gxd:float(), gxc:float(), 1e-2, what .. "input gradient against the CPU")
          T.tensor_close(gwd, gwc, 1e-4, what .. "weight gradient against the CPU")
          T.tensor_close(gbd, gbc, 1e-4, what .. "bias gradient against the CPU")
        end
      end
    end
  end
end)

-- PyTorch's ResNet18 width 16 in train mode on the device
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local g = lt.load(here .. "/../golden/resnet18_w16_golden.safetensors")
local function golden_model()
  local model = lt.models.resnet18{num_classes = 10, width = 16, in_channels = 3}
  local weights, sd = {}, model:state_dict()
  for k, v in pairs(g) do if sd[k] then weights[k] = v end end
  model:load_state_dict(weights)
  model:to(DEV)
  model:train()
  return model
end

T.test("ResNet18 width 16 golden logits with model:autocast('bf16')", function()
  local model = golden_model():autocast("bf16")
  local x, target = g.input:to(DEV), (g.target + 1):to(DEV)
  local logits = model(x)
  T.check(logits:dtype() == "float32" and logits:device() == DEV_NAME, "float32 logits on the device")
  local loss = F.cross_entropy(logits, target)
  T.check(loss:dtype() == "float32", "float32 loss")
  local e = T.relerr(logits, g["step1.logits"])
  T.check(e < 3e-2, string.format("logits: relative error %.3g", e))
  e = T.relerr(loss, g["step1.loss"])
  T.check(e < 1e-2, string.format("loss: relative error %.3g", e))
  loss:backward()
  local n = 0
  for name, p in model:named_parameters() do
    local ok = p:dtype() == "float32" and p.grad ~= nil and p.grad:dtype() == "float32" and p.grad:device() == DEV_NAME
    if ok then
      local s = p.grad:abs():sum():item()
      ok = s == s and s < math.huge
    end
    if T.check(ok, name .. ": float32 master weight with a finite float32 gradient on the device") then n = n + 1 end
  end
  T.check(n == 62, "62 parameters checked, got " .. n)
  for name, b in model:named_buffers() do
    if name:match("running_") then T.check(b:dtype() == "float32", name .. " stays float32") end
  end
  -- lt.autocast around the call gives the same logits on the device
  local m2 = golden_model()
  local wrapped = bf16(m2, x)
  T.tensor_close(wrapped:float(), logits, 1e-2, "lt.autocast around the model")
end)

T.test("training steps under bf16 lower the loss as float32 steps do", function()
  local x, target = g.input:to(DEV), (g.target + 1):to(DEV)
  local function train(amp)
    local model = golden_model()
    if amp then model:autocast("bf16") end
    local opt = lt.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9, weight_decay = 1e-4})
    local losses = {}
    for i = 1, 6 do
      local loss = F.cross_entropy(model(x), target)
      T.check(loss:dtype() == "float32", "step " .. i .. " loss is float32")
      opt:zero_grad()
      loss:backward()
      for name, p in model:named_parameters() do
        if not (p.grad and p.grad:dtype() == "float32") then T.check(false, name .. " float32 gradient at step " .. i) end
      end
      opt:step()
      losses[i] = loss:item()
    end
    for name, p in model:named_parameters() do
      if p:dtype() ~= "float32" then T.check(false, name .. " stays float32") end
    end
    return losses
  end
  local f32, b16 = train(false), train(true)
  T.check(f32[6] < 0.5 * f32[1], string.format("float32 loss %.4f -> %.4f", f32[1], f32[6]))
  T.check(b16[6] < 0.5 * b16[1], string.format("bf16 loss %.4f -> %.4f", b16[1], b16[6]))
  for i = 1, 6 do
    T.check(math.abs(b16[i] - f32[i]) <= 0.05 * f32[1],
            string.format("step %d: bf16 loss %.4f, float32 loss %.4f", i, b16[i], f32[i]))
  end
end)

os.exit(T.done())
