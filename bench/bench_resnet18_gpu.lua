-- bench_resnet18_gpu.lua — training-step speed and peak memory of the reference recipe's
-- ResNet18 (CIFAR variant, lt.models.resnet18, 10 classes, width 64) on the
-- GPU, with synthetic data already on the device, so the figure is the step
-- itself: forward, cross-entropy, backward, SGD (momentum 0.9, weight decay
-- 5e-4). Its PyTorch twin is bench/torch_resnet18.py; scripts/device_check.sh
-- runs both in one run and prints them side by side. The modes match
-- the twin's:
--   fp32          eager, float32 (TF32 convolutions and matmuls, as PyTorch's default for cuDNN)
--   bf16-cl       eager, model:autocast("bf16"), channels-last weights and input
--   graph-bf16    bf16-cl captured once with lt.cuda.graph and replayed
--                 (PyTorch's twin: torch.compile(mode="reduce-overhead"))
--
-- Each configuration: a fresh model, `warm` unmeasured steps (cuDNN's
-- algorithm search happens there), then `steps` timed steps between two
-- device synchronisations. Eager steps end with a Lua collection step, as
-- a training loop's allocations drive it, so the peak is what a step
-- really holds. Lines starting with RESULT are machine-read.
--
-- Usage: luatrain bench/bench_resnet18_gpu.lua [batches=128,512] [steps=30] [modes=fp32,bf16-cl,graph-bf16]
-- LUATRAIN_BENCH_DEVICE=cpu runs the eager modes on the CPU (no peak
-- memory figure, graph-bf16 n/a): the device check's dry run.
local lt = require "luatrain"
local F = lt.nn.functional
local B = lt._bench

local device = os.getenv("LUATRAIN_BENCH_DEVICE") or "cuda"
local on_gpu = device == "cuda"
if device ~= "cuda" and device ~= "cpu" then error("LUATRAIN_BENCH_DEVICE: cuda or cpu, got " .. device) end
if on_gpu and not lt.cuda.is_available() then
  print("skipped: no GPU")
  os.exit(0)
end
local function sync() if on_gpu then lt.cuda.synchronize() end end

local batches, modes = {}, {}
for b in string.gmatch(arg and arg[1] or "128,512", "%d+") do batches[#batches + 1] = tonumber(b) end
local steps = tonumber(arg and arg[2]) or 30
for m in string.gmatch(arg and arg[3] or "fp32,bf16-cl,graph-bf16", "[^,]+") do modes[#modes + 1] = m end
local warm = 5

print(string.format("luatrain %s bench_resnet18_gpu on %s: %d timed steps after %d warm-up steps, TF32 %s, cuDNN %s",
                    lt.version, on_gpu and lt.cuda.get_device_name() or "the CPU", steps, warm,
                    tostring(lt.backends.allow_tf32()), on_gpu and tostring(lt.cuda.cudnn_version()) or "-"))

-- One configuration; returns ms per step and peak MiB, or nil and a reason.
local function run(batch, mode)
  collectgarbage()
  collectgarbage()
  if mode == "graph-bf16" and not on_gpu then return nil, "CUDA graphs need the GPU" end
  if on_gpu then lt.cuda.empty_cache() end
  lt.manual_seed(0)
  local mixed = mode ~= "fp32"
  local net = lt.models.resnet18{num_classes = 10, width = 64}:to(device)
  local x = lt.randn({batch, 3, 32, 32}, {device = device})
  if mixed then
    net:to{memory_format = "channels_last"}
    net:autocast("bf16")
    x = x:to{memory_format = "channels_last"}
  end
  net:train()
  local opt = lt.optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4})
  local y = (lt.rand({batch}, {device = device}) * 10):floor():long() + 1
  local function step(inp)
    opt:zero_grad()
    local loss = F.cross_entropy(net(inp.x), inp.y)
    loss:backward()
    opt:step()
    return loss
  end
  local inputs = {x = x, y = y}
  local run_step = function() step(inputs) end
  local ok, err = pcall(function()
    for _ = 1, warm do run_step() end
    if mode == "graph-bf16" then
      local g = lt.cuda.graph(step, inputs, {warmup = 0})
      run_step = function() g:replay() end
      for _ = 1, 3 do run_step() end
    end
  end)
  if not ok then return nil, tostring(err) end
  sync()
  if on_gpu then lt.cuda.reset_peak_memory_stats() end
  local t0 = B.now()
  for _ = 1, steps do run_step() end
  sync()
  local ms = (B.now() - t0) * 1000 / steps
  return ms, on_gpu and lt.cuda.max_memory_allocated() / 2 ^ 20 or 0
end

for _, batch in ipairs(batches) do
  for _, mode in ipairs(modes) do
    local ms, peak = run(batch, mode)
    if ms then
      print(string.format("RESULT luatrain %-14s batch %4d: %8.2f ms/step %9.0f img/s  peak %8.0f MiB", mode, batch,
                          ms, batch * 1000 / ms, peak))
    else
      print(string.format("RESULT luatrain %-14s batch %4d: n/a (%s)", mode, batch, (peak:gsub("\n.*", ""))))
    end
    io.stdout:flush()
  end
end
