-- test_data_distributed.lua — lt.data.DataLoader's distributed option
-- (PyTorch's DistributedSampler), with explicit ranks so no process group
-- is needed: for 2 and 3 ranks and datasets of 10, 11, 12, 2 and 1 samples,
-- every rank has as many batches and samples as the others; interleaving
-- the ranks' samples gives the epoch's order (the seeded permutation, the
-- same on every rank, or 0..n-1) padded by repeating its first samples,
-- or cut with drop_last (disjoint ranks of floor(n/W) samples); epochs
-- differ; Lua datasets shard alike; start_batch resumes a rank; world size
-- 1 is the loader without the option; the ranks' augmentations differ and
-- repeat, and loader:generator gives a batch's draws; rank and world size
-- from lt.distributed; bad input.
local T = require "luatrain.testing"
local D, TF = lt.data, lt.transforms

-- n samples whose image is their 0-based index (int64 [1]) and label index + 1
local function id_dataset(n)
  local labels = {}
  for i = 1, n do labels[i] = i end
  return D.TensorDataset(lt.arange(0, n):view(n, 1), labels)
end

-- The same samples as a dataset written in Lua.
local function lua_id_dataset(n)
  return setmetatable({}, {__len = function() return n end, __index = {
    get = function(_, i) return lt.tensor({i - 1}), i end}})
end

-- The 0-based sample indices of each batch of one epoch, checking that
-- images and labels agree: {{...}, {...}, ...}
local function batches(loader, opts)
  local out = {}
  for i, images, labels in loader:iter(opts) do
    local ids, ls = images:view(-1):tolist(), labels:tolist()
    for k = 1, #ids do assert(ls[k] == ids[k] + 1, "labels follow the images") end
    out[i] = ids
  end
  return out
end

local function flatten(list)
  local out = {}
  for _, b in ipairs(list) do for _, v in ipairs(b) do out[#out + 1] = v end end
  return out
end

local function same_list(a, b)
  if #a ~= #b then return false end
  for k = 1, #a do if a[k] ~= b[k] then return false end end
  return true
end

-- The epoch's order as the loader computes it on every rank: 0-based.
local function epoch_order(n, shuffle, seed, epoch)
  local order = {}
  if shuffle then
    for k, v in ipairs(lt._data.permutation(seed, epoch, n)) do order[k] = v - 1 end
  else
    for k = 1, n do order[k] = k - 1 end
  end
  return order
end

T.test("shards: equal lengths, the padded or cut order, interleaved", function()
  for _, W in ipairs{2, 3} do
    for _, n in ipairs{10, 11, 12, 2, 1} do
      for _, shuffle in ipairs{false, true} do
        for _, drop in ipairs{false, true} do
          for _, bs in ipairs{1, 3} do
            local what = string.format("W=%d n=%d shuffle=%s drop_last=%s batch_size=%d", W, n, tostring(shuffle),
                                       tostring(drop), bs)
            local ds = id_dataset(n)
            local m = drop and n // W or (n + W - 1) // W
            local total = m * W
            local nb = drop and m // bs or (m + bs - 1) // bs
            local seen_per_rank = drop and nb * bs or m
            local ranks, ok, lua_same = {}, true, true
            for r = 0, W - 1 do
              local loader = D.DataLoader(ds, {batch_size = bs, shuffle = shuffle, drop_last = drop, seed = 7,
                                               distributed = {rank = r, world_size = W}})
              ok = ok and #loader == nb and loader.num_samples == m and loader.total_size == total
                   and loader.rank == r and loader.world_size == W
              local list = batches(loader, {epoch = 2})
              ok = ok and #list == nb
              for k, b in ipairs(list) do ok = ok and #b == ((k < nb or drop) and bs or m - (nb - 1) * bs) end
              ranks[r] = flatten(list)
              ok = ok and #ranks[r] == seen_per_rank
              local lua_loader = D.DataLoader(lua_id_dataset(n), {batch_size = bs, shuffle = shuffle, drop_last = drop,
                                                                  seed = 7, distributed = {rank = r, world_size = W}})
              lua_same = lua_same and #lua_loader == nb and same_list(flatten(batches(lua_loader, {epoch = 2})), ranks[r])
            end
            T.check(ok, what .. ": #loader, num_samples, total_size and batch sizes equal on every rank")
            T.check(lua_same, what .. ": a Lua dataset gives the same batches")
            -- interleave: position k*W + r of the padded (or cut) list is rank r's k-th sample
            local order = epoch_order(n, shuffle, 7, 2)
            local list = {}
            for k = 1, seen_per_rank do
              for r = 0, W - 1 do list[(k - 1) * W + r + 1] = ranks[r][k] end
            end
            local want = {}
            for p = 1, #list do want[p] = order[(p - 1) % n + 1] end
            T.check(same_list(list, want), what .. ": the ranks interleaved are the epoch's order, padded or cut")
            local count, covered = {}, 0
            for _, v in ipairs(list) do
              if not count[v] then covered = covered + 1 end
              count[v] = (count[v] or 0) + 1
            end
            if drop then
              local disjoint = true
              for _, c in pairs(count) do disjoint = disjoint and c == 1 end
              T.check(disjoint and #list == W * seen_per_rank, what .. ": disjoint ranks")
              if bs == 1 then T.check(seen_per_rank == n // W, what .. ": floor(n/W) samples each") end
            else
              T.check(covered == n, what .. ": together the ranks see every sample")
              T.check(#list - n == total - n and total - n < W, what .. ": total_size - n padded samples")
              local first = true
              for p = n + 1, #list do first = first and list[p] == order[(p - n - 1) % n + 1] end
              T.check(first, what .. ": the padding repeats the first samples of the order")
            end
          end
        end
      end
    end
  end
end)

T.test("epochs, workers, Lua datasets, start_batch", function()
  local n, W = 29, 3
  local function run(ds, r, epoch, workers)
    local loader = D.DataLoader(ds, {batch_size = 4, shuffle = true, seed = 3, num_workers = workers,
                                     distributed = {rank = r, world_size = W}})
    return batches(loader, {epoch = epoch})
  end
  local native, lua_ds = id_dataset(n), lua_id_dataset(n)
  local orders = {}
  for epoch = 1, 2 do
    local ranks = {}
    for r = 0, W - 1 do
      ranks[r] = run(native, r, epoch, 0)
      T.check(same_list(flatten(ranks[r]), flatten(run(native, r, epoch, 2))), "2 workers give the same batches")
      T.check(same_list(flatten(ranks[r]), flatten(run(lua_ds, r, epoch, 0))), "a Lua dataset gives the same batches")
    end
    local list = {}
    for k = 1, #flatten(ranks[0]) do
      for r = 0, W - 1 do list[#list + 1] = flatten(ranks[r])[k] end
    end
    orders[epoch] = list
    local order = epoch_order(n, true, 3, epoch)
    local same = true
    for p = 1, n do same = same and list[p] == order[p] end
    T.check(same, "epoch " .. epoch .. ": every rank uses the same permutation of (seed, epoch)")
  end
  T.check(not same_list(orders[1], orders[2]), "another epoch, another order")
  -- resume: a rank's batches from start_batch on are the tail of its epoch
  for _, ds in ipairs{native, lua_ds} do
    local loader = D.DataLoader(ds, {batch_size = 4, shuffle = true, seed = 3, distributed = {rank = 2, world_size = W}})
    local full, tail = batches(loader, {epoch = 5}), batches(loader, {epoch = 5, start_batch = 2})
    local ok = #loader == 3 and tail[1] == nil and tail[2] ~= nil
    for i = 2, #loader do ok = ok and same_list(full[i], tail[i]) end
    T.check(ok, "iter{epoch =, start_batch =} resumes the rank's epoch")
  end
end)

-- A uint8 image dataset for the transform tests: every image alike when
-- `same`, so what differs between two batches is only the draws.
local function image_dataset(n, same)
  local one = lt.randint(0, 256, {1, 3, 12, 10}, {dtype = "uint8"})
  local images = same and one:expand(n, 3, 12, 10):contiguous() or lt.randint(0, 256, {n, 3, 12, 10}, {dtype = "uint8"})
  local labels = {}
  for i = 1, n do labels[i] = i end
  return D.TensorDataset(images, labels)
end

local function equal(a, b)
  if a:dim() ~= b:dim() then return false end
  for d = 1, a:dim() do if a:size(d) ~= b:size(d) then return false end end
  return a:eq(b):all():item()
end

local function images_of(loader, opts)
  local out = {}
  for i, images in loader:iter(opts) do out[i] = images end
  return out
end

T.test("world size 1 is the loader without the option", function()
  local ds = image_dataset(37, false)
  local tf = TF.Compose{TF.RandomCrop(10, {padding = 2}), TF.RandomHorizontalFlip(), TF.ToFloat()}
  local base = {batch_size = 8, shuffle = true, seed = 21, num_workers = 2, transform = tf}
  local function with(extra)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return o
  end
  local plain = D.DataLoader(ds, base)
  local ref = images_of(plain, {epoch = 3})
  for _, dist in ipairs{{rank = 0, world_size = 1}, true, false} do
    local loader = D.DataLoader(ds, with{distributed = dist})
    local got, ok = images_of(loader, {epoch = 3}), #loader == #plain
    for i = 1, #ref do ok = ok and got[i] ~= nil and equal(got[i], ref[i]) end
    T.check(ok and loader.num_samples == 37 and loader.total_size == 37 and loader.rank == 0 and loader.world_size == 1,
            "distributed = " .. tostring(dist) .. ": bitwise the same batches")
    T.check(tostring(loader) == tostring(plain), "the same description")
  end
end)

T.test("augmentations differ between ranks and repeat on a rank", function()
  local tf = TF.Compose{TF.RandomCrop(10, {padding = 3}), TF.RandomHorizontalFlip(), TF.ToFloat()}
  -- one sample, two ranks: both get it (rank 1's is padding)
  local one = image_dataset(1, false)
  local function batch_of(ds, r, opts)
    local loader = D.DataLoader(ds, {batch_size = 4, seed = 5, transform = tf, distributed = {rank = r, world_size = 2},
                                     num_workers = opts and opts.workers or 0})
    return images_of(loader, {epoch = 1}), loader
  end
  local a0, a1, a1b = batch_of(one, 0)[1], batch_of(one, 1)[1], batch_of(one, 1)[1]
  T.check(a0:size(1) == 1 and a1:size(1) == 1 and not equal(a0, a1), "the same sample, different draws on ranks 0 and 1")
  T.check(equal(a1, a1b), "the same rank twice: the same draws")
  -- identical images: every batch of rank 1 differs from rank 0's, the
  -- same for any number of workers; rank 0 draws what one process does
  local many = image_dataset(48, true)
  local r0, r1, r1w = batch_of(many, 0), batch_of(many, 1), batch_of(many, 1, {workers = 2})
  local plain = images_of(D.DataLoader(many, {batch_size = 4, seed = 5, transform = tf}), {epoch = 1})
  local differ, repeat_, as_one = #r0 == 6 and #r1 == 6, true, true
  for i = 1, 6 do
    differ = differ and not equal(r0[i], r1[i])
    repeat_ = repeat_ and equal(r1[i], r1w[i])
    as_one = as_one and equal(r0[i], plain[i])
  end
  T.check(differ, "every batch of rank 1 is drawn differently from rank 0's")
  T.check(repeat_, "rank 1 with 2 workers: the same batches")
  T.check(as_one, "rank 0 draws as the loader without distribution")
  -- loader:generator(epoch, i) is the batch's generator: the transform run
  -- on the raw batch with it gives the loader's batch
  local raw_loader = D.DataLoader(one, {batch_size = 4, seed = 5, distributed = {rank = 1, world_size = 2}})
  local raw = images_of(raw_loader, {epoch = 1})[1]
  T.check(equal(tf(raw, raw_loader:generator(1, 1)), a1), "loader:generator(epoch, i) on rank 1")
  T.check(equal(tf(raw, D.Generator(5, 1, 1)), a0), "rank 0's is Generator(seed, epoch, i)")
  -- Lua transforms after the native ones, and Lua datasets, get the rank's generator too
  local jitter = function(x, g) return x * g:uniform(x:size(1)):float():view(-1, 1, 1, 1) end
  local lua_imgs = setmetatable({}, {__len = function() return 1 end,
    __index = {get = function(_, i) return one.data[i], i end}})
  local function last(ds, r)
    local loader = D.DataLoader(ds, {batch_size = 4, seed = 5, transform = TF.Compose{tf, jitter},
                                     distributed = {rank = r, world_size = 2}})
    return images_of(loader, {epoch = 1})[1]
  end
  T.check(not equal(last(one, 0), last(one, 1)) and equal(last(one, 1), last(one, 1)),
          "a Lua transform after the native ones draws per rank")
  T.check(equal(last(lua_imgs, 0), last(one, 0)) and equal(last(lua_imgs, 1), last(one, 1)),
          "a Lua dataset draws as the native one on each rank")
end)

T.test("distributed = true reads lt.distributed", function()
  local saved = lt.distributed
  local ds = id_dataset(10)
  lt.distributed = nil
  local l = D.DataLoader(ds, {distributed = true})
  T.check(l.rank == 0 and l.world_size == 1 and #l == 10, "no lt.distributed: rank 0 of 1")
  lt.distributed = {is_initialized = function() return false end, rank = function() error("not initialised") end,
                    world_size = function() error("not initialised") end}
  l = D.DataLoader(ds, {distributed = true})
  T.check(l.rank == 0 and l.world_size == 1, "no process group: rank 0 of 1")
  lt.distributed = {is_initialized = function() return true end, rank = function() return 1 end,
                    world_size = function() return 3 end}
  l = D.DataLoader(ds, {batch_size = 2, distributed = true})
  T.check(l.rank == 1 and l.world_size == 3 and l.num_samples == 4 and #l == 2, "the group's rank and world size")
  T.check(same_list(flatten(batches(l, {epoch = 1})), {1, 4, 7, 0}), "rank 1 of 3, no shuffle")
  T.check(tostring(l):find("rank 1 of 3 (4 samples each)", 1, true) ~= nil, "tostring names the rank")
  lt.distributed = {is_initialized = function() return true end, rank = function() return 3 end,
                    world_size = function() return 3 end}
  T.checkerr("bad argument #2 to 'DataLoader' (lt.distributed's rank must be an integer in 0..2", D.DataLoader, ds,
             {distributed = true})
  lt.distributed = saved
end)

T.test("bad input", function()
  local ds = id_dataset(10)
  local function err(msg, dist) T.checkerr("bad argument #2 to 'DataLoader' (" .. msg, D.DataLoader, ds, {distributed = dist}) end
  err("distributed.world_size must be an integer >= 1, got 0)", {rank = 0, world_size = 0})
  err("distributed.world_size must be an integer >= 1, got 1.5)", {rank = 0, world_size = 1.5})
  err("distributed.world_size must be an integer >= 1, got two)", {rank = 0, world_size = "two"})
  err("distributed.rank must be an integer in 0..2 (world_size 3; ranks count from 0), got 3)", {rank = 3, world_size = 3})
  err("distributed.rank must be an integer in 0..2 (world_size 3; ranks count from 0), got -1)", {rank = -1, world_size = 3})
  err("distributed.rank must be an integer in 0..1 (world_size 2; ranks count from 0), got 0.5)", {rank = 0.5, world_size = 2})
  err("distributed needs both rank and world_size, as {rank = r, world_size = W} (or true))", {rank = 1})
  err("distributed needs both rank and world_size", {world_size = 2})
  err("unknown option 'size' (valid: rank, world_size))", {rank = 0, world_size = 2, size = 3})
  err("distributed must be true, false or {rank = r, world_size = W}, got number)", 2)
  err("distributed must be true, false or {rank = r, world_size = W}, got tensor)", lt.tensor{0, 2})
  T.checkerr("bad argument #2 to 'DataLoader' (distributed over 2 ranks with shuffle needs a seed, the same on every rank)",
             D.DataLoader, ds, {shuffle = true, distributed = {rank = 0, world_size = 2}})
  T.check(#D.DataLoader(ds, {shuffle = true, distributed = {rank = 0, world_size = 1}}) == 10
          and #D.DataLoader(ds, {distributed = {rank = 0, world_size = 2}}) == 5, "a seed is needed only to shuffle on 2 ranks")
  local l = D.DataLoader(ds, {distributed = {rank = 1, world_size = 2}})
  T.checkerr("bad argument #1 to 'generator' (epoch must be in 0..inf, got -1)", l.generator, l, -1, 1)
  T.checkerr("bad argument #2 to 'generator' (batch must be in 1..inf, got 0)", l.generator, l, 1, 0)
  T.checkerr("bad argument #1 to 'iter' (start_batch must be in 1..6, got 7)", l.iter, l, {start_batch = 7})
end)

os.exit(T.done())
