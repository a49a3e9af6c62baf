-- bench_resnet18_gpu.lua — training-step speed and peak memory of the seed's
-- ResNet18 (CIFAR variant, lt.models.resnet18, 10 classes, width 64) on the
-- GPU, with synthetic data already on the device, so the figure is the step
-- itself: forward, cross-entropy, backward, SGD (momentum 0.9, weight decay
-- 5e-4). Its PyTorch twin is bench/torch_resnet18.py; scripts/device_check.sh
-- runs both in one session and prints them side by side.
--
-- Each configuration: a fresh model, `warm` unmeasured steps (cuDNN's
-- algorithm search happens there), then `steps` timed steps between two
-- device synchronisations. Every step ends with a full Lua collection, as a
-- training loop must (the collector cannot see device bytes), so the peak
-- is what a step really holds. Lines starting with RESULT are machine-read.
--
-- Usage: luatrain bench/bench_resnet18_gpu.lua [batches=128,512] [steps=30]
local lt = require "luatrain"
local F = lt.nn.functional
local B = lt._bench

if not lt.cuda.is_available() then
  print("skipped: no GPU")
  os.exit(0)
end

local batches = {}
for b in string.gmatch(arg and arg[1] or "128,512", "%d+") do batches[#batches + 1] = tonumber(b) end
local steps = tonumber(arg and arg[2]) or 30
local warm = 5

print(string.format("luatrain %s bench_resnet18_gpu on %s: %d timed steps after %d warm-up steps, TF32 %s",
                    lt.version, lt.cuda.get_device_name(), steps, warm, tostring(lt.backends.allow_tf32())))

-- One configuration; returns ms per step and peak MiB, or nil and a reason.
local function run(batch, dtype)
  collectgarbage()
  collectgarbage()
  lt.cuda.empty_cache()
  lt.manual_seed(0)
  local net = lt.models.resnet18{num_classes = 10, width = 64}:cuda()
  if dtype ~= "float32" then net:to(dtype) end
  net:train()
  local opt = lt.optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4})
  local x = lt.randn({batch, 3, 32, 32}, {device = "cuda", dtype = dtype})
  local y = (lt.rand({batch}, {device = "cuda"}) * 10):floor():long() + 1
  local function step()
    opt:zero_grad()
    local loss = F.cross_entropy(net(x), y)
    loss:backward()
    opt:step()
    loss = nil
    collectgarbage()
  end
  local ok, err = pcall(function()
    for _ = 1, warm do step() end
  end)
  if not ok then return nil, tostring(err) end
  lt.cuda.synchronize()
  lt.cuda.reset_peak_memory_stats()
  local t0 = B.now()
  for _ = 1, steps do step() end
  lt.cuda.synchronize()
  local ms = (B.now() - t0) * 1000 / steps
  return ms, lt.cuda.max_memory_allocated() / 2 ^ 20
end

for _, batch in ipairs(batches) do
  for _, mode in ipairs({{"fp32", "float32"}, {"bf16", "bfloat16"}}) do
    local ms, peak = run(batch, mode[2])
    if ms then
      print(string.format("RESULT luatrain %-14s batch %4d: %8.2f ms/step %9.0f img/s  peak %8.0f MiB", mode[1], batch,
                          ms, batch * 1000 / ms, peak))
    else
      print(string.format("RESULT luatrain %-14s batch %4d: n/a (%s)", mode[1], batch, (peak:gsub("\n.*", ""))))
    end
    io.stdout:flush()
  end
end
