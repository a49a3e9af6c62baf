-- bench/bench_loader.lua — the data pipeline's throughput on the CPU: a
-- CIFAR-10-format set of 50,000 synthetic images (written to /tmp by this
-- script, in the binary release's layout) through the reference recipe's pipeline
-- (RandomCrop 32 padding 4, RandomHorizontalFlip, ToFloat, Normalize) into
-- shuffled float32 batches of 128, for 0, 1 and 2 worker threads.
--
--   luatrain bench/bench_loader.lua [epochs=2] [folder=/tmp/luatrain-bench-cifar]
--
-- Reference, measured in the same run: a raw memcpy (one thread) of the
-- same number of bytes as the float batches, read from the 150 MB dataset
-- so it is bound by memory bandwidth as the loader is; the ratio says how
-- close the pipeline comes to merely copying its output. The goal on the
-- 2-core development machine is >= 100k images/s with 2 workers.
-- bench/torch_loader.py is the PyTorch twin (same data, same pipeline).
local D, T = lt.data, lt.transforms
local epochs = tonumber(arg[1]) or 2
local dir = arg[2] or "/tmp/luatrain-bench-cifar"
local now = lt._data.now

-- The data: 97 distinct random records, repeated with varying labels, so
-- the files take a second to write; the pipeline's cost does not depend on
-- the pixel values.
local function write_dataset()
  os.execute("mkdir -p " .. dir)
  local f = io.open(dir .. "/test_batch.bin", "rb")
  if f then
    local size = f:seek("end")
    f:close()
    if size == 10000 * 3073 then return false end
  end
  local rng = 12345
  local function byte()
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng >> 16 & 255
  end
  local pix = {}
  for k = 1, 97 do
    local t = {}
    for j = 1, 3072 do t[j] = byte() end
    local parts = {}
    for j = 1, 3072, 1024 do parts[#parts + 1] = string.char(table.unpack(t, j, j + 1023)) end
    pix[k] = table.concat(parts)
  end
  local names = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}
  for b, name in ipairs(names) do
    local out = assert(io.open(dir .. "/" .. name, "wb"))
    out:setvbuf("full", 1 << 20)
    for i = 1, 10000 do
      local id = (b - 1) * 10000 + i
      out:write(string.char(id % 10), pix[id % 97 + 1])
    end
    out:close()
  end
  return true
end

local t0 = now()
local wrote = write_dataset()
local ds = D.CIFAR10{root = dir, train = true}
print(string.format("data: %d images in %s (%s, %.1f s)", #ds, dir, wrote and "written" or "already there", now() - t0))

local mean, std = {0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616}
local tf = T.Compose{T.RandomCrop(32, {padding = 4}), T.RandomHorizontalFlip(), T.ToFloat(), T.Normalize(mean, std)}
local B = 128

-- images/s through the loader over `epochs` epochs (after one warm-up epoch)
local timing = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/timing.lua")
local function loader_rate(workers)
  return timing.loader_rate(D.DataLoader(ds, {batch_size = B, shuffle = true, num_workers = workers, seed = 1,
                                              transform = tf}), epochs)
end

-- images/s of a raw memcpy of the float batches' bytes, read sequentially
-- from the dataset's 150 MB
local function memcpy_rate()
  local batch_bytes = B * 3 * 32 * 32 * 4
  local src = ds.data:view(-1)
  local dst = lt.empty(batch_bytes, {dtype = "uint8"})
  local total = src:size(1)
  local chunks = total // batch_bytes
  local copies = chunks * 4
  local start = now()
  for k = 0, copies - 1 do
    lt._data.memcpy(dst, src:narrow(1, (k % chunks) * batch_bytes + 1, batch_bytes))
  end
  local dt = now() - start
  return copies * B / dt, batch_bytes * copies / dt / 1e9
end

local ref, gbs = memcpy_rate()
print(string.format("reference: memcpy of the float batches' bytes (1 thread): %.0f images/s (%.2f GB/s)", ref, gbs))
local best = 0
for _, workers in ipairs{0, 1, 2} do
  local rate = loader_rate(workers)
  best = math.max(best, rate)
  print(string.format("loader, recipe pipeline, batch %d, %d worker%s: %.0f images/s  (ratio to memcpy %.2f)", B, workers,
                      workers == 1 and "" or "s", rate, rate / ref))
end
print(string.format("best: %.0f images/s (goal >= 100000 on the 2-core machine: %s)", best, best >= 100000 and "met" or "NOT met"))
