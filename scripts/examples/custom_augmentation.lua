-- custom_augmentation.lua — data augmentations written in plain Lua on
-- whole batches with tensor ops (no C), mixed with the built-in transforms
-- and used in a short training run.
--
--   luatrain scripts/examples/custom_augmentation.lua [epochs=2] [train_images=8000]
--
-- A transform is any callable tf(batch, gen) that returns the new batch.
-- `gen` is the loader's generator for this batch, determined by (seed,
-- epoch, batch index): draw every random number from it and the run is
-- reproducible, whatever the number of worker threads. The built-ins at the
-- front of the pipeline run in the loader's worker threads; the Lua ones
-- run on this thread, continuing the same generator.
--
-- Data: Fashion-MNIST from the Debian package (apt-get install
-- dataset-fashion-mnist); without it, a synthetic 10-class set of striped
-- images, so the example always runs.
local lt = lt or require "luatrain"
local nn, T = lt.nn, lt.transforms

-- Random per-sample brightness: multiply each image by a factor drawn
-- uniformly from [1 - delta, 1 + delta], then clamp to [0, 1].
local function RandomBrightness(delta)
  return function(batch, gen)
    local b = batch:size(1)
    local factors = (gen:uniform(b) * (2 * delta) + (1 - delta)):float():view(b, 1, 1, 1)
    return (batch * factors):clamp(0, 1)
  end
end

-- Gaussian noise with probability p per sample: x + sigma * N(0, 1) on the
-- chosen images only.
local function RandomNoise(p, sigma)
  return function(batch, gen)
    local b, n = batch:size(1), batch:numel()
    local chosen = gen:bernoulli(p, b):float():view(b, 1, 1, 1)
    local noise = gen:normal(n):float():view_as(batch)
    return batch + noise * sigma * chosen
  end
end

local epochs = tonumber(arg and arg[1]) or 2
local limit = tonumber(arg and arg[2]) or 8000

-- the data
local train_set, test_set
local ok = pcall(function()
  train_set, test_set = lt.data.FashionMNIST{train = true}, lt.data.FashionMNIST{train = false}
end)
if not ok then
  print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): using synthetic stripes")
  local function stripes(n, seed)
    lt.manual_seed(seed)
    local labels = lt.randint(1, 11, {n})
    local rows = lt.arange(0, 28):float():view(1, 1, 28, 1)
    local freq = labels:float():view(n, 1, 1, 1)
    local img = ((rows * freq * 0.3):sin() * 100 + 128 + lt.randn(n, 1, 28, 28) * 30):clamp(0, 255):expand(n, 1, 28, 28)
    return lt.data.TensorDataset(img:contiguous():byte(), labels, {classes = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}})
  end
  train_set, test_set = stripes(limit, 1), stripes(2000, 2)
end
if limit < #train_set then
  local idx = {}
  for i = 1, limit do idx[i] = i end
  train_set = lt.data.Subset(train_set, idx)
end

local train_tf = T.Compose{
  T.RandomCrop(28, {padding = 2}),   -- built-ins: run in the workers
  T.ToFloat(),
  RandomBrightness(0.3),             -- plain Lua, on this thread
  RandomNoise(0.5, 0.05),
  T.Normalize({0.286}, {0.353}),     -- a built-in after Lua ones runs here too
}
local test_tf = T.Compose{T.ToFloat(), T.Normalize({0.286}, {0.353})}

-- reproducible: the same seed gives the same augmented batch with 0 or 2 workers
local function first_batch(workers)
  local l = lt.data.DataLoader(train_set, {batch_size = 64, shuffle = true, seed = 7, num_workers = workers, transform = train_tf})
  for _, images in l:iter() do return images end
end
local a, b = first_batch(0), first_batch(2)
print(string.format("same augmented batch with 0 and 2 workers: %s", tostring(a:eq(b):all():item())))

-- a small convolutional network
lt.manual_seed(0)
local model = nn.Sequential(
  nn.Conv2d(1, 16, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(16, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
local criterion = nn.CrossEntropyLoss()
local opt = lt.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})

local train_loader = lt.data.DataLoader(train_set, {batch_size = 128, shuffle = true, seed = 1, num_workers = 2, transform = train_tf})
local test_loader = lt.data.DataLoader(test_set, {batch_size = 500, transform = test_tf, num_workers = 2})

local function accuracy(out, labels)
  return out:argmax(2):eq(labels):float():mean():item()
end

for epoch = 1, epochs do
  model:train()
  local t0, loss_sum, n = os.time(), 0, 0
  for i, images, labels in train_loader:iter() do
    local loss = criterion(model(images), labels)
    opt:zero_grad()
    loss:backward()
    opt:step()
    loss_sum, n = loss_sum + loss:item() * labels:size(1), n + labels:size(1)
    if i % 20 == 0 then io.write(string.format("\repoch %d  batch %d/%d  loss %.4f", epoch, i, #train_loader, loss_sum / n)) io.flush() end
  end
  model:eval()
  local correct, total = 0, 0
  lt.no_grad(function()
    for _, images, labels in test_loader:iter() do
      correct = correct + accuracy(model(images), labels) * labels:size(1)
      total = total + labels:size(1)
    end
  end)
  print(string.format("\repoch %d  train loss %.4f  test accuracy %.2f%%  (%ds)", epoch, loss_sum / n, 100 * correct / total,
                      os.time() - t0))
end
