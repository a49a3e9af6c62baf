-- test_loader.lua — lt.data.DataLoader: every sample exactly once per epoch
-- (and drop_last), identical batches for 0, 1 and 2 workers, the native
-- (fused, in-worker) pipeline equal to the transforms run one by one in Lua
-- with Generator(seed, epoch, batch), Lua datasets giving the same batches
-- as native ones, epochs and start_batch, Lua transforms after native ones,
-- releasing threads and buffers on break, on error and when the loader is
-- dropped (and a process that exits mid-epoch), and bad input.
local T = require "luatrain.testing"
local D, TF = lt.data, lt.transforms

local function flat(t) return t:contiguous():view(-1):tolist() end

local function equal(a, b)
  if a:dtype() ~= b:dtype() or a:dim() ~= b:dim() then return false end
  for d = 1, a:dim() do if a:size(d) ~= b:size(d) then return false end end
  return a:eq(b):all():item()
end

-- N samples whose image is its 0-based id (int64 [1]) and label id % 7 + 1
local function id_dataset(n)
  local labels = {}
  for i = 1, n do labels[i] = (i - 1) % 7 + 1 end
  return D.TensorDataset(lt.arange(0, n):view(n, 1), labels)
end

-- the batches of one epoch: {i = ..., images = ..., labels = ...}
local function collect(loader, opts)
  local out = {}
  for i, images, labels in loader:iter(opts) do out[#out + 1] = {i = i, images = images, labels = labels} end
  return out
end

T.test("coverage: every sample once per epoch, drop_last", function()
  local n = 103
  local ds = id_dataset(n)
  for _, drop in ipairs{false, true} do
    for _, workers in ipairs{0, 2} do
      local loader = D.DataLoader(ds, {batch_size = 10, shuffle = true, drop_last = drop, num_workers = workers, seed = 4})
      T.check(#loader == (drop and 10 or 11), "#loader")
      for epoch = 1, 2 do
        local seen, count, ok, order = {}, 0, true, {}
        for k, b in ipairs(collect(loader)) do
          if b.i ~= k then ok = false end
          local ids, labels = flat(b.images), b.labels:tolist()
          if #ids ~= ((drop or k < 11) and 10 or 3) then ok = false end
          for j, id in ipairs(ids) do
            if seen[id] or labels[j] ~= id % 7 + 1 then ok = false end
            seen[id] = true
            count = count + 1
            order[#order + 1] = id
          end
        end
        T.check(ok and count == (drop and 100 or 103), string.format("drop_last=%s workers=%d epoch %d: each sample once, labels match",
                                                                    tostring(drop), workers, epoch))
        local perm = lt._data.permutation(4, epoch, n)
        local same = true
        for k = 1, count do same = same and order[k] == perm[k] - 1 end
        T.check(same, "the order is the permutation of (seed, epoch)")
      end
    end
  end
  local plain = collect(D.DataLoader(ds, {batch_size = 50}))
  T.check(#plain == 3 and flat(plain[1].images)[1] == 0 and flat(plain[3].images)[3] == 102, "no shuffle: 0..N-1 in order")
  local empty = D.DataLoader(id_dataset(3), {batch_size = 5, drop_last = true})
  T.check(#empty == 0 and #collect(empty) == 0, "an epoch with no batches")
end)

-- A uint8 image dataset for the transform tests.
local N, C, H, W = 70, 3, 12, 10
local images = lt.randint(0, 256, {N, C, H, W}, {dtype = "uint8"})
local labels = {}
for i = 1, N do labels[i] = i % 10 + 1 end
local ds = D.TensorDataset(images, labels)
local mean, std = {0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616}
local seed_tf = TF.Compose{TF.RandomCrop({12, 10}, {padding = 4}), TF.RandomHorizontalFlip(), TF.ToFloat(), TF.Normalize(mean, std)}

T.test("same batches for 0, 1 and 2 workers", function()
  local runs = {}
  for _, workers in ipairs{0, 1, 2} do
    local loader = D.DataLoader(ds, {batch_size = 16, shuffle = true, num_workers = workers, seed = 11, transform = seed_tf})
    runs[#runs + 1] = collect(loader, {epoch = 3})
  end
  local ok = #runs[1] == 5
  for r = 2, 3 do
    for k, b in ipairs(runs[1]) do
      local o = runs[r][k]
      ok = ok and o and o.i == b.i and equal(o.images, b.images) and equal(o.labels, b.labels)
    end
  end
  T.check(ok, "identical images and labels")
  T.check(runs[1][1].images:dtype() == "float32" and runs[1][5].images:size(1) == 6, "float batches, a short last batch")
end)

T.test("the native pipeline equals the transforms run one by one", function()
  -- raw batches (no transform) have the same order; apply the Compose in Lua
  -- (each step on its own, no fusion) with the loader's generator.
  local pipelines = {
    seed = seed_tf,
    reflect = TF.Compose{TF.RandomCrop(8, {padding = 2, padding_mode = "reflect"}), TF.RandomHorizontalFlip(0.3), TF.ToFloat()},
    others = TF.Compose{TF.RandomResizedCrop({6, 7}), TF.RandomVerticalFlip(), TF.ToFloat(), TF.ColorJitter{brightness = 0.3, contrast = 0.3},
                        TF.RandomErasing{p = 0.7}, TF.Normalize({0.5}, {0.25})},
    test = TF.Compose{TF.ToFloat(), TF.Normalize(mean, std)},
  }
  for name, tf in pairs(pipelines) do
    for _, workers in ipairs{0, 2} do
      local raw = collect(D.DataLoader(ds, {batch_size = 16, shuffle = true, seed = 5}), {epoch = 2})
      local got = collect(D.DataLoader(ds, {batch_size = 16, shuffle = true, seed = 5, num_workers = workers, transform = tf}), {epoch = 2})
      local ok = #raw == #got
      for k, b in ipairs(raw) do
        local want = tf(b.images, D.Generator(5, 2, k))
        ok = ok and equal(got[k].images, want) and equal(got[k].labels, b.labels)
      end
      T.check(ok, name .. " pipeline, " .. workers .. " workers: identical to the unfused steps")
    end
  end
end)

T.test("a Lua dataset gives the same batches (fetched on this thread)", function()
  local lua_ds = setmetatable({}, {__len = function() return N end, __index = {
    get = function(_, i) return images[i], labels[i] end}})
  local tf = TF.Compose{TF.RandomCrop(10, {padding = 1}), TF.RandomHorizontalFlip(), TF.ToFloat(),
                        function(b, gen) return b * gen:uniform(b:size(1)):float():view(-1, 1, 1, 1) end}
  local a = collect(D.DataLoader(lua_ds, {batch_size = 9, shuffle = true, seed = 8, transform = tf, drop_last = true}))
  local b = collect(D.DataLoader(ds, {batch_size = 9, shuffle = true, seed = 8, transform = tf, drop_last = true, num_workers = 2}))
  local ok = #a == 7 and #b == 7
  for k = 1, #a do ok = ok and a[k].i == k and equal(a[k].images, b[k].images) and equal(a[k].labels, b[k].labels) end
  T.check(ok, "Lua dataset == native dataset, with a Lua transform after native ones")
  local bad = setmetatable({}, {__len = function() return 4 end, __index = {get = function(_, i)
    if i == 3 then return lt.zeros(2, 2, {dtype = "uint8"}), 1 end
    return lt.zeros(3, 2, {dtype = "uint8"}), 1
  end}})
  T.checkerr("DataLoader: dataset:get(3) returned a uint8 [2,2] image, the batch's first is uint8 [3,2]", function()
    for _ in D.DataLoader(bad, {batch_size = 4}):iter() do end
  end)
  local nolabel = setmetatable({}, {__len = function() return 2 end, __index = {get = function() return lt.zeros(1), "cat" end}})
  T.checkerr("DataLoader: dataset:get(1) returned the label cat, expected an integer", function()
    for _ in D.DataLoader(nolabel, {batch_size = 2}):iter() do end
  end)
end)

T.test("epochs and start_batch", function()
  local loader = D.DataLoader(ds, {batch_size = 8, shuffle = true, seed = 2, num_workers = 2, transform = seed_tf})
  local e1, e2 = collect(loader), collect(loader)
  local again = collect(loader, {epoch = 1})
  local ok = true
  for k, b in ipairs(e1) do ok = ok and equal(b.images, again[k].images) end
  T.check(ok, "iter() without epoch= counts 1, 2, ...; iter{epoch=1} repeats epoch 1")
  T.check(not equal(e1[1].labels, e2[1].labels), "epochs are shuffled differently")
  for _, start in ipairs{1, 4, 9, 10} do
    local part = collect(loader, {epoch = 2, start_batch = start})
    local same = #part == #e2 - start + 1
    for k, b in ipairs(part) do
      same = same and b.i == start + k - 1 and equal(b.images, e2[start + k - 1].images) and equal(b.labels, e2[start + k - 1].labels)
    end
    T.check(same, "start_batch " .. start .. " resumes epoch 2 exactly")
  end
  local lua_ds = setmetatable({}, {__len = function() return N end, __index = {get = function(_, i) return images[i], labels[i] end}})
  local ll = D.DataLoader(lua_ds, {batch_size = 8, shuffle = true, seed = 2, transform = seed_tf})
  local part = collect(ll, {epoch = 2, start_batch = 7})
  T.check(#part == 3 and part[1].i == 7 and equal(part[1].images, e2[7].images), "start_batch with a Lua dataset")
  T.checkerr("bad argument #1 to 'iter' (start_batch must be in 1..10, got 11)", loader.iter, loader, {start_batch = 11})
  T.checkerr("bad argument #1 to 'iter' (epoch must be in 0..inf, got -1)", loader.iter, loader, {epoch = -1})
  T.checkerr("bad argument #1 to 'iter' (unknown option 'start' (valid: epoch, start_batch))", loader.iter, loader, {start = 2})
  -- a second iter() abandons the first loop
  local it1 = loader:iter()
  it1()
  local it2 = loader:iter()
  T.check(select(1, it2()) == 1, "the new loop runs")
  T.checkerr("DataLoader: this loop's epoch was abandoned: iter() was called again on the same loader", it1)
end)

-- memory in CPU storages, after a full collection
local function cpu_bytes()
  collectgarbage()
  collectgarbage()
  return lt.memory_stats().cpu_bytes
end

local function threads()
  local f = io.open("/proc/self/stat")
  if not f then return nil end
  local stat = f:read("a")
  f:close()
  return tonumber(stat:match("^%d+ %b() %S+" .. string.rep(" %S+", 16) .. " (%d+)"))
end

T.test("break, errors and dropping the loader release threads and buffers", function()
  -- start the CPU backend's thread pool first, so only the loader's threads come and go below
  T.check((lt.rand(1 << 20) + 1):sum():item() > 0 and lt.rand(64, 64):matmul(lt.rand(64, 64)):numel() == 4096, "warm-up")
  local before = cpu_bytes()
  local t0 = threads()
  local loader = D.DataLoader(ds, {batch_size = 4, shuffle = true, num_workers = 2, prefetch = 4, seed = 1, transform = seed_tf})
  T.check(t0 == nil or threads() == t0 + 2, "two worker threads")
  for i, x in loader:iter() do
    if i == 3 then break end
    T.check(x:size(1) == 4, "batch")
  end
  T.check(cpu_bytes() == before, "break: every buffer given back")
  local ok, err = pcall(function()
    for i in loader:iter() do if i == 2 then error("boom") end end
  end)
  T.check(not ok and tostring(err):find("boom", 1, true) ~= nil, "the error propagates")
  T.check(cpu_bytes() == before, "error: every buffer given back")
  local kept = {}
  for _, x in loader:iter() do kept[#kept + 1] = x end
  T.check(#kept == 18 and not equal(kept[1], kept[2]), "batches kept by the caller stay valid (no reuse under them)")
  T.check(cpu_bytes() > before, "kept batches hold memory")
  kept = nil
  T.check(cpu_bytes() == before, "dropped batches are freed")
  loader = nil
  collectgarbage()
  collectgarbage()
  T.check(t0 == nil or threads() == t0, "dropping the loader joins its threads")
  local l2 = D.DataLoader(ds, {batch_size = 4, num_workers = 2})
  l2:close()
  T.checkerr("the DataLoader was closed", function() for _ in l2:iter() do end end)
  T.check(t0 == nil or threads() == t0, "close() joins the threads")
end)

T.test("a process leaving mid-epoch exits", function()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
    local n = tonumber(arg[1])
    local ds = lt.data.TensorDataset(lt.randint(0, 256, {4000, 3, 32, 32}, {dtype = "uint8"}), lt.ones(4000, {dtype = "int64"}))
    local tf = lt.transforms.Compose{lt.transforms.RandomCrop(32, {padding = 4}), lt.transforms.ToFloat()}
    local loader = lt.data.DataLoader(ds, {batch_size = 64, num_workers = 2, prefetch = 8, transform = tf})
    local it = loader:iter()
    it()
    if n == 1 then os.exit(0) end          -- exit() with workers busy
    if n == 2 then error("fail") end        -- an error with workers busy
    print("end")                            -- the end of the script, loader still referenced
  ]])
  f:close()
  for n = 1, 3 do
    local p = io.popen(string.format("LUATRAIN_PATH=%q timeout 60 %q %q %d 2>/dev/null; echo rc=$?", os.getenv("LUATRAIN_PATH") or "",
                                     arg[-1], script, n))
    local out = p:read("a")
    p:close()
    local rc = tonumber(out:match("rc=(%d+)"))
    T.check(rc == (n == 2 and 1 or 0), "case " .. n .. " exits promptly with the right status: " .. out)
  end
  os.remove(script)
end)

T.test("options and bad input", function()
  T.checkerr("bad argument #2 to 'DataLoader' (unknown option 'batchsize' (valid: batch_size, device, distributed, drop_last, num_workers, pin_memory, prefetch, seed, shuffle, transform))",
             D.DataLoader, ds, {batchsize = 3})
  local shared = {batch_size = 5, num_workers = 1, seed = 3, device = "cpu", pin_memory = true}
  local l = D.DataLoader(ds, setmetatable({shuffle = true, transform = seed_tf}, {__index = shared}))
  T.check(l.batch_size == 5 and l.num_workers == 1 and l.seed == 3 and #l == 14, "options inherited through __index are read")
  T.checkerr("unknown option 'workers'", D.DataLoader, ds, setmetatable({}, {__index = {workers = 2}}))
  T.checkerr("bad argument #2 to 'DataLoader' (batch_size must be in 1..inf, got 0)", D.DataLoader, ds, {batch_size = 0})
  T.checkerr("bad argument #2 to 'DataLoader' (num_workers must be in 0..256, got -1)", D.DataLoader, ds, {num_workers = -1})
  T.checkerr("bad argument #2 to 'DataLoader' (shuffle must be a boolean, got string)", D.DataLoader, ds, {shuffle = "yes"})
  T.checkerr("bad argument #2 to 'DataLoader' (batch_size must be an integer, got 2.5)", D.DataLoader, ds, {batch_size = 2.5})
  T.checkerr("bad argument #2 to 'DataLoader' (transform must be callable as transform(batch, gen), got number)", D.DataLoader, ds,
             {transform = 1})
  T.checkerr("DataLoader: device 'tpu' is not usable", D.DataLoader, ds, {device = "tpu"})
  T.checkerr("bad argument #1 to 'DataLoader' (expected a dataset (an object with __len and get), got number)", D.DataLoader, 5)
  T.checkerr("DataLoader: transform 1 (RandomCrop) cannot take uint8 images [3,12,10]: crop size 16x16 is larger than the image 12x10",
             D.DataLoader, ds, {transform = TF.RandomCrop(16)})
  T.checkerr("DataLoader: transform 2 (Normalize) cannot take uint8 images [3,8,8]: expected a float32 batch, got uint8 (put ToFloat before Normalize)",
             D.DataLoader, ds, {transform = TF.Compose{TF.RandomCrop(8), TF.Normalize({0}, {1})}})
  T.checkerr("DataLoader: transforms need image samples [C,H,W], the dataset's samples are [1]", D.DataLoader, id_dataset(4),
             {transform = TF.ToFloat()})
  -- an error in a Lua transform surfaces from the loop
  T.checkerr("my transform failed", function()
    for _ in D.DataLoader(ds, {batch_size = 8, transform = function() error("my transform failed") end}):iter() do end
  end)
  -- pin_memory is a no-op on the CPU; the device hook keeps CPU batches where they are
  local pl = D.DataLoader(ds, {batch_size = 7, pin_memory = true, device = "cpu", seed = 1})
  local _, x, y = pl:iter()()
  T.check(x:device() == "cpu" and y:dtype() == "int64" and x:size(1) == 7, "pin_memory and device='cpu'")
  T.check(tostring(pl):find("DataLoader(70 samples, batch_size 7, 10 batches", 1, true) ~= nil, "tostring")
end)

os.exit(T.done())
