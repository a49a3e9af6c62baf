-- device_smoke.lua — the first minute on a GPU machine: does each layer that
-- training stands on work at all? It runs, on the device, the calls a
-- ResNet18 step is made of and compares them with a float64 run on the CPU:
--
--   conv2d forward + backward   float32 with TF32 off (cuDNN's FMA algorithms), then TF32 on
--   linear forward + backward   float32 with TF32 off (cuBLASLt), then TF32 on
--   conv2d + linear             bf16 autocast, channels-last input and weights
--   a tiny ResNet18 step        conv, batch norm, ReLU, pooling, cross-entropy, SGD
--
-- Each check prints one line (relative error against its bound, seconds; the
-- first also loads cuDNN/cuBLAS). scripts/device_check.sh runs this before
-- anything else and stops the whole run when it cannot run at all, so the
-- first broken layer is what the run reports.
--
-- Usage: luatrain scripts/device_smoke.lua [cuda|cpu]   (cpu: a dry run of the same checks)
-- Exit status: 0 all within bounds; 1 a call raised an error (or no GPU); 2 a
-- result outside its bound (everything ran: later phases still tell something).
local F = lt.nn.functional
local device = arg and arg[1] or "cuda"
if device ~= "cuda" and device ~= "cpu" then
  io.stderr:write("device_smoke: the device is cuda or cpu, got '", device, "'\n")
  os.exit(1)
end
if device == "cuda" and not lt.cuda.is_available() then
  print("device_smoke: no GPU: " .. tostring(lt.cuda._unavailable_reason()))
  os.exit(1)
end

-- Bounds (relative error ‖out − ref‖ / ‖ref‖ against float64 on the CPU):
-- float32 with TF32 off rounds each product in float32 (1e-5, the GPU
-- golden bound); TF32 keeps 10 mantissa bits (about 5e-4 per product, 2e-3
-- for these sums); bfloat16 keeps 8 (2e-2, as the autocast tests).
local TOL = {fp32 = 1e-5, tf32 = 2e-3, bf16 = 2e-2}
local errors, misses = 0, 0

local function relerr(a, ref)
  local x, r = a:cpu():double():reshape(-1), ref:cpu():double():reshape(-1)
  local n = r:norm():item()
  return (x - r):norm():item() / (n > 0 and n or 1)
end

-- Runs fn(), which returns a list of {name, result, reference}; prints one line.
local function check(what, tol, fn)
  local t0 = lt._bench.now()
  local ok, res = xpcall(fn, debug.traceback)
  local seconds = lt._bench.now() - t0
  if not ok then
    errors = errors + 1
    print(string.format("ERROR %-44s %s", what, tostring(res)))
    return
  end
  local worst, worst_name = 0, ""
  for _, r in ipairs(res) do
    local e = relerr(r[2], r[3])
    if not (e <= worst) then worst, worst_name = e, r[1] end
  end
  local good = worst <= tol
  if not good then misses = misses + 1 end
  print(string.format("%-5s %-44s worst %.2e (%s) bound %.0e  %.2f s", good and "ok" or "OFF", what, worst,
                      worst_name, tol, seconds))
end

-- fn(leaves...) -> output; backward of sum(output * gy). Returns output and
-- the leaves' gradients, on the CPU. The leaves are detached views (not
-- clones), so they keep their memory layout.
local function fwd_bwd(fn, gy, ...)
  local leaves = {}
  for i, t in ipairs({...}) do leaves[i] = t:detach():requires_grad_(true) end
  local y = fn(table.unpack(leaves))
  y:backward(gy:to(y:device()):to(y:dtype()))
  local grads = {}
  for i, l in ipairs(leaves) do grads[i] = l.grad:cpu() end
  return y:detach():cpu(), grads
end

local function with_tf32(flag, fn)
  if device ~= "cuda" then return fn() end
  local old = lt.backends.allow_tf32(flag)
  local ok, a, b = pcall(fn)
  lt.backends.allow_tf32(old)
  if not ok then error(a, 0) end
  return a, b
end

lt.manual_seed(7)
local x, w, b = lt.randn(8, 16, 12, 12), lt.randn(32, 16, 3, 3) * 0.1, lt.randn(32)
local gy_conv = lt.randn(8, 32, 6, 6)
local conv = function(xx, ww, bb) return F.conv2d(xx, ww, bb, {stride = 2, padding = 1}) end
local conv_ref, conv_ref_g = fwd_bwd(conv, gy_conv:double(), x:double(), w:double(), b:double())
local xl, wl, bl = lt.randn(64, 96), lt.randn(48, 96) * 0.1, lt.randn(48)
local gy_lin = lt.randn(64, 48)
local lin_ref, lin_ref_g = fwd_bwd(F.linear, gy_lin:double(), xl:double(), wl:double(), bl:double())

local function results(y, g, ref, ref_g, names)
  local out = {{"y", y, ref}}
  for i, n in ipairs(names) do out[#out + 1] = {n, g[i], ref_g[i]} end
  return out
end

for _, tf32 in ipairs({false, true}) do
  local mode = tf32 and "TF32 on" or "TF32 off"
  local tol = tf32 and device == "cuda" and TOL.tf32 or TOL.fp32
  check("conv2d fwd+bwd float32, " .. mode, tol, function()
    return with_tf32(tf32, function()
      local y, g = fwd_bwd(conv, gy_conv, x:to(device), w:to(device), b:to(device))
      return results(y, g, conv_ref, conv_ref_g, {"gx", "gw", "gb"})
    end)
  end)
  check("linear fwd+bwd float32, " .. mode, tol, function()
    return with_tf32(tf32, function()
      local y, g = fwd_bwd(F.linear, gy_lin, xl:to(device), wl:to(device), bl:to(device))
      return results(y, g, lin_ref, lin_ref_g, {"gx", "gw", "gb"})
    end)
  end)
end

check("conv2d fwd+bwd bf16 autocast, channels-last", TOL.bf16, function()
  local xc = x:to(device):contiguous("channels_last")
  local wc = w:to(device):contiguous("channels_last")
  local y, g = fwd_bwd(function(xx, ww, bb)
    local out = lt.autocast("bf16", conv, xx, ww, bb)
    if out:dtype() ~= "bfloat16" then error("conv2d under autocast gave " .. out:dtype() .. ", not bfloat16") end
    if not out:is_contiguous("channels_last") then error("conv2d of channels-last operands lost the layout") end
    return out
  end, gy_conv, xc, wc, b:to(device))
  if g[2]:dtype() ~= "float32" then error("the float32 weight got a " .. g[2]:dtype() .. " gradient") end
  return results(y, g, conv_ref, conv_ref_g, {"gx", "gw", "gb"})
end)

check("linear fwd+bwd bf16 autocast", TOL.bf16, function()
  local y, g = fwd_bwd(function(...) return lt.autocast("bf16", F.linear, ...) end, gy_lin, xl:to(device),
                       wl:to(device), bl:to(device))
  return results(y, g, lin_ref, lin_ref_g, {"gx", "gw", "gb"})
end)

-- One SGD step of a small ResNet18 on the device and, from the same weights,
-- in float64 on the CPU: logits, loss and the updated weights must agree.
check("ResNet18 width 4 SGD step float32, TF32 off", 1e-4, function()
  return with_tf32(false, function()
    local function step(dev, dtype)
      lt.manual_seed(3)
      local net = lt.models.resnet18{num_classes = 10, width = 4}:to(dtype):to(dev)
      net:train()
      local opt = lt.optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 1e-4})
      lt.manual_seed(4)
      local inp = lt.randn(4, 3, 16, 16):to(dtype):to(dev)
      local target = lt.tensor({1, 5, 10, 3}):to(dev)
      local logits = net(inp)
      local loss = F.cross_entropy(logits, target)
      opt:zero_grad()
      loss:backward()
      opt:step()
      return logits:detach():cpu(), loss:detach():cpu(), net:parameters()[1]:detach():cpu()
    end
    local l, loss, p = step(device, "float32")
    local lr, lossr, pr = step("cpu", "float64")
    return {{"logits", l, lr}, {"loss", loss, lossr}, {"first weight after the step", p, pr}}
  end)
end)

print(string.format("device_smoke on %s: %d error(s), %d result(s) outside their bounds", device, errors, misses))
os.exit(errors > 0 and 1 or misses > 0 and 2 or 0)
