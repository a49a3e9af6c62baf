-- luatrain.data (lt.data) — datasets and the DataLoader.
--
--   local ds = lt.data.CIFAR10{root = "data/cifar-10-batches-bin", train = true}
--   local img, label = ds:get(1)      -- uint8 [3,32,32], a label in 1..10; #ds == 50000
--   local loader = lt.data.DataLoader(ds, {batch_size = 128, shuffle = true, num_workers = 2,
--                                          seed = 1, transform = tf})
--   for i, images, labels in loader:iter() do ... end      -- i: the batch, 1-based
--   for i, images, labels in loader:iter{epoch = 3, start_batch = 100} do ... end
--
-- Datasets: CIFAR10, CIFAR100, MNIST, FashionMNIST (read whole into memory;
-- ds.data and ds.targets are the tensors), ImageFolder (decoded and resized
-- in the loader's threads), TensorDataset, Subset, random_split. Each has
-- #ds, ds:get(i) -> image, label (1-based i and labels) and ds.classes. A
-- dataset written in Lua is any object with __len and get(self, i); the
-- loader fetches its samples on the calling thread, as it must.
--
-- The loader: epoch e visits the samples in a permutation that depends only
-- on (seed, e); batch b's random transform parameters come from
-- Generator(seed, e, b). So the same seed gives the same batches on every
-- machine and for any num_workers. Worker threads fetch native datasets and
-- run the leading built-in transforms (lt.transforms); Lua transforms then
-- run on the calling thread with the same generator. Images arrive as
-- [B,C,H,W] (uint8 unless a transform says otherwise), labels int64 [B].
-- With device ~= "cpu" both are moved there with :to(device) at the end.
--
-- pin_memory = true: batches come out in pinned (page-locked) host memory,
-- and with a CUDA device they are copied with non_blocking = true: on the
-- device's copy stream, without the host waiting, ordered before every later
-- op on the device. The copy of batch k+1 is queued before batch k is handed
-- out, so the host queues step k while the GPU still runs step k-1 (on the
-- GPU the copy runs between the two steps: cuda/lt_cuda_transfer.cu).
-- Without a usable GPU, pin_memory is ignored with a warning on stderr, as
-- PyTorch does.
--
-- To run the transforms on the GPU instead of in the workers, give the
-- loader no transform and apply it to the batch on the device with the
-- batch's generator: tf(images, loader:generator(epoch, i)) gives exactly
-- what the workers would have (lt.transforms); without distributed it is
-- lt.data.Generator(seed, epoch, i).
--
-- distributed = true (or {rank = r, world_size = W}) samples as PyTorch's
-- DistributedSampler, for data-parallel training in W processes: every rank
-- computes the same order of the epoch (the seeded permutation, or 0..n-1),
-- pads it to a multiple of W by repeating its first samples (drop_last:
-- cuts it to one instead), and rank r (0-based) takes positions r, r + W,
-- r + 2W, ... of it; then batches as usual. So #loader is the same on
-- every rank, and the ranks together see every sample (disjoint ones with
-- drop_last). true takes the rank and world size from lt.distributed when
-- a process group is initialised, else rank 0 of 1. Every rank must give
-- the loader the same seed (with shuffle and more than one rank, seed is
-- required: the default is drawn from each process's global generator,
-- which need not agree). The ranks' augmentations differ: batch b of
-- rank r draws from its own generator (rank 0's is Generator(seed, e, b)),
-- the same for that rank in every run. loader.rank, loader.world_size,
-- loader.num_samples (this rank's samples per epoch) and loader.total_size
-- (all ranks') say what was chosen; with world size 1 (or no distributed)
-- the loader is exactly the one without the option.
--
-- Leaving the loop early (break, an error) stops the epoch and gives its
-- buffers back: iter() returns a to-be-closed value as the generic for's
-- fourth value. The worker threads end with the loader (loader:close() or
-- the collector).
--
-- Unreadable images (ImageFolder with on_error = "skip") are dropped from
-- their batch, so a batch may be smaller than batch_size; at the end of an
-- epoch loader.skipped holds how many were dropped in it, and a warning on
-- stderr says so when any were.
local lt = require "luatrain.core"
local T = require "luatrain.transforms"
local argcheck = require "luatrain.argcheck"
local D = lt._data

local M = {}

--- Generator(seed) or Generator(seed, epoch, batch): the random generator
-- transforms draw from; the latter is the one the loader hands batch
-- `batch` (1-based) of epoch `epoch`.
M.Generator = D.Generator

local fail = argcheck.fail

-- Rejects unknown keys, also in tables reached through __index (an options
-- table may inherit shared defaults that way).
local function check_opts(opts, n, fname, allowed)
  return argcheck.check_opts(opts, n, fname, allowed, true)
end

local function opt_int(v, fname, n, what, min, max)
  if v == nil then return nil end
  local i = math.tointeger(v)
  if not i then fail(fname, n, string.format("%s must be an integer, got %s", what, tostring(v))) end
  if (min and i < min) or (max and i > max) then
    fail(fname, n, string.format("%s must be in %s..%s, got %d", what, tostring(min or "-inf"), tostring(max or "inf"), i))
  end
  return i
end

local function opt_bool(v, fname, n, what)
  if v ~= nil and type(v) ~= "boolean" then fail(fname, n, string.format("%s must be a boolean, got %s", what, type(v))) end
  return v
end

local function opt_string(v, fname, n, what)
  if v ~= nil and type(v) ~= "string" then fail(fname, n, string.format("%s must be a string, got %s", what, type(v))) end
  return v
end

-- ---- native datasets ------------------------------------------------------------

local Dataset = {}
Dataset.__index = Dataset
Dataset.__name = "Dataset"
function Dataset.__len(self) return self._size end

--- ds:get(i) -> image tensor, label (both 1-based)
function Dataset:get(i) return D.src_get(self._source, i) end

function Dataset.__tostring(self)
  local shape = {}
  for k, v in ipairs(self.sample_shape) do shape[k] = tostring(v) end
  return string.format("%s(%d samples, %s [%s], %d classes)", self._kind, self._size, self.dtype,
                       table.concat(shape, ","), #self.classes)
end

local function numbered_classes(n)
  local c = {}
  for k = 1, n do c[k] = tostring(k) end
  return c
end

local function native(kind, source, classes, fields)
  local size, dtype, shape, ncls = D.src_info(source)
  local ds = fields or {}
  ds._source, ds._size, ds._kind = source, size, kind
  ds.dtype, ds.sample_shape = dtype, shape
  ds.classes = classes or numbered_classes(ncls)
  return setmetatable(ds, Dataset)
end

-- Adds how to get the data to a "not found" error.
local function with_hint(err, hint)
  err = tostring(err)
  if err:find("does not exist", 1, true) or err:find("cannot open", 1, true) or err:find("cannot find", 1, true)
     or err:find("is not a folder", 1, true) then
    return err .. "; " .. hint
  end
  return err
end

local function cifar(fname, version, opts)
  local allowed = {root = true, train = true}
  if version == 100 then allowed.coarse = true end
  opts = check_opts(opts, 1, fname, allowed)
  local root = opt_string(opts.root, fname, 1, "root")
    or (version == 10 and "data/cifar-10-batches-bin" or "data/cifar-100-binary")
  local train = opt_bool(opts.train, fname, 1, "train")
  if train == nil then train = true end
  local coarse = opt_bool(opts.coarse, fname, 1, "coarse") or false
  local hint = version == 10 and "get it with: bash scripts/get_cifar10.sh"
    or "download cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it into data/"
  local ok, images, labels, ncls = pcall(D.cifar, root, version, train, coarse, fname)
  if not ok then error(with_hint(images, hint), 0) end
  local source = D.tensor_source(images, labels, ncls, fname)
  local names = D.classes(version == 10 and "cifar10" or (coarse and "cifar100_coarse" or "cifar100"))
  return native(fname, source, names, {root = root, train = train, data = images, targets = labels})
end

--- CIFAR10{root="data/cifar-10-batches-bin", train=true}: the binary
-- release (data_batch_1..5.bin / test_batch.bin), uint8 [3,32,32].
function M.CIFAR10(opts) return cifar("CIFAR10", 10, opts) end

--- CIFAR100{root="data/cifar-100-binary", train=true, coarse=false}: the
-- 100 fine classes, or the 20 superclasses with coarse=true.
function M.CIFAR100(opts) return cifar("CIFAR100", 100, opts) end

local function idx_dataset(fname, opts, default_root, hint, classes_name)
  opts = check_opts(opts, 1, fname, {root = true, train = true})
  local root = opt_string(opts.root, fname, 1, "root") or default_root
  local train = opt_bool(opts.train, fname, 1, "train")
  if train == nil then train = true end
  local prefix = train and "train" or "t10k"
  local ok, images, labels, ncls = pcall(D.idx, root, prefix .. "-images-idx3-ubyte", prefix .. "-labels-idx1-ubyte", 10, fname)
  if not ok then error(with_hint(images, hint), 0) end
  local source = D.tensor_source(images, labels, ncls, fname)
  return native(fname, source, D.classes(classes_name), {root = root, train = train, data = images, targets = labels})
end

--- FashionMNIST{root="/usr/share/datasets/fashion-mnist", train=true}: IDX
-- files, plain or gzipped, uint8 [1,28,28].
function M.FashionMNIST(opts)
  return idx_dataset("FashionMNIST", opts, "/usr/share/datasets/fashion-mnist",
                     "install it with: apt-get install dataset-fashion-mnist", "fashion_mnist")
end

--- MNIST{root="data/mnist", train=true}
function M.MNIST(opts)
  return idx_dataset("MNIST", opts, "data/mnist",
                     "put the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                     .. "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) there", "mnist")
end

--- The pixel limit of ImageFolder and load_image when they are not given
-- max_pixels: PIL's Image.MAX_IMAGE_PIXELS (89,478,485). An image whose
-- header claims more (a decompression bomb, or a corrupt header) is refused
-- before anything is decoded. Set it to 0 for no limit.
M.MAX_IMAGE_PIXELS = 89478485

-- Calls a native function whose errors are about files: they are raised
-- without the position inside this library that luaL_error would add.
local function file_call(f, ...)
  local res = table.pack(pcall(f, ...))
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

local function image_options(opts, fname)
  local max_pixels = opt_int(opts.max_pixels, fname, 1, "max_pixels", 0)
  if max_pixels == nil then
    max_pixels = math.tointeger(M.MAX_IMAGE_PIXELS)
    if max_pixels == nil or max_pixels < 0 then
      fail(fname, 1, "lt.data.MAX_IMAGE_PIXELS must be an integer >= 0, got " .. tostring(M.MAX_IMAGE_PIXELS))
    end
  end
  local draft = opt_bool(opts.draft, fname, 1, "draft")
  if draft == nil then draft = true end
  return max_pixels, draft
end

local function size_option(size, fname)
  if size == nil then return 0, 0 end
  if type(size) == "number" then
    local h = opt_int(size, fname, 1, "size", 1)
    return h, h
  elseif type(size) == "table" and #size == 2 then
    return opt_int(size[1], fname, 1, "height", 1), opt_int(size[2], fname, 1, "width", 1)
  end
  fail(fname, 1, "size must be a number or {h, w}")
end

-- Shows what the scan of an image folder skipped (lt_image_folder.h).
local function report_scan(fname, root, report)
  for _, note in ipairs(report.notes) do io.stderr:write("warning: ", fname, ": ", note, "\n") end
  if report.num_notes > #report.notes then
    io.stderr:write(string.format("warning: %s: %d more entries of '%s' skipped\n", fname,
                                  report.num_notes - #report.notes, root))
  end
  if report.num_ignored > 0 then
    io.stderr:write(string.format("note: %s: %d file%s in '%s' ignored: not .jpg, .jpeg or .png (the first: '%s')\n",
                                  fname, report.num_ignored, report.num_ignored == 1 and "" or "s", root,
                                  report.first_ignored))
  end
end

--- ImageFolder{root=, size=, on_error="error", max_pixels=, draft=true}:
-- root/<class>/<image>.{jpg,jpeg,png}; images are decoded (libjpeg-turbo,
-- libpng) and resized (bilinearly) to size (a number or {h, w}; default:
-- the first image's size) in the loader's threads, always as 3 channels,
-- with the pixels PIL's Image.open(f).convert("RGB") gives. The scan
-- follows symbolic links but never enters a folder twice, and says on
-- stderr what it skipped.
-- max_pixels: images larger than this are refused (default
-- lt.data.MAX_IMAGE_PIXELS; 0: no limit). draft: JPEGs are decoded at 1/2,
-- 1/4 or 1/8 scale when the size is at most that fraction of theirs, as
-- PIL's draft() (much faster; a slightly smoother result).
-- on_error="skip" drops unreadable or refused images from their batch,
-- with a warning on stderr naming the file and the problem (once per file)
-- and the number skipped at the end of each epoch; "error" stops the loop.
function M.ImageFolder(opts)
  local fname = "ImageFolder"
  opts = check_opts(opts, 1, fname, {root = true, size = true, on_error = true, max_pixels = true, draft = true})
  local root = opt_string(opts.root, fname, 1, "root")
  if not root then fail(fname, 1, "root is required") end
  local h, w = size_option(opts.size, fname)
  local on_error = opts.on_error or "error"
  if on_error ~= "error" and on_error ~= "skip" then
    fail(fname, 1, "on_error must be 'error' or 'skip', got " .. tostring(on_error))
  end
  local max_pixels, draft = image_options(opts, fname)
  local source, classes, report = file_call(D.folder_source, root, h, w, on_error == "skip", fname, max_pixels,
                                                 draft)
  report_scan(fname, root, report)
  return native(fname, source, classes, {root = root, on_error = on_error})
end

--- load_image(path, {size=, max_pixels=, draft=true}) -> uint8 [3, H, W]:
-- one JPEG or PNG file as ImageFolder decodes it (its own size unless
-- size= is given).
function M.load_image(path, opts)
  local fname = "load_image"
  if type(path) ~= "string" then fail(fname, 1, "expected a file name, got " .. type(path)) end
  opts = check_opts(opts, 2, fname, {size = true, max_pixels = true, draft = true})
  local h, w = size_option(opts.size, fname)
  local max_pixels, draft = image_options(opts, fname)
  return file_call(D.load_image, path, h, w, max_pixels, draft, fname)
end

--- write_jpeg(image, path, {quality=75}): a uint8 [3, H, W] or [1, H, W]
-- (or [H, W]) image as a JPEG (4:2:0 chroma for colour), written
-- atomically. As torchvision.io.write_jpeg.
function M.write_jpeg(image, path, opts)
  local fname = "write_jpeg"
  opts = check_opts(opts, 3, fname, {quality = true})
  if type(path) ~= "string" then fail(fname, 2, "expected a file name, got " .. type(path)) end
  file_call(D.write_image, image, path, "jpeg", opt_int(opts.quality, fname, 3, "quality", 1, 100) or 75, fname)
end

--- write_png(image, path): a uint8 [C, H, W] image (C = 1 grey, 2 grey and
-- alpha, 3 RGB, 4 RGBA) or [H, W] as an 8-bit PNG, written atomically.
function M.write_png(image, path)
  local fname = "write_png"
  if type(path) ~= "string" then fail(fname, 2, "expected a file name, got " .. type(path)) end
  file_call(D.write_image, image, path, "png", nil, fname)
end

--- TensorDataset(images, labels [, {classes=, num_classes=}]): images a CPU
-- tensor [N, ...] (uint8 [N,C,H,W] for the image transforms, or float),
-- labels int64 [N] or a table, 1-based. Without classes or num_classes the
-- largest label is the class count.
function M.TensorDataset(images, labels, opts)
  local fname = "TensorDataset"
  opts = check_opts(opts, 3, fname, {classes = true, num_classes = true})
  local classes = opts.classes
  if classes ~= nil and type(classes) ~= "table" then fail(fname, 3, "classes must be a list of names") end
  local n = classes and #classes or opt_int(opts.num_classes, fname, 3, "num_classes", 1) or 0
  local source, ncls = D.tensor_source(images, labels, n, fname)
  return native(fname, source, classes or numbered_classes(ncls), {data = images, targets = labels})
end

-- ---- subsets ------------------------------------------------------------------------

local LuaSubset = {}
LuaSubset.__index = LuaSubset
LuaSubset.__name = "Subset"
function LuaSubset.__len(self) return #self.indices end
function LuaSubset:get(i)
  local j = self.indices[i]
  if math.type(i) ~= "integer" or not j then fail("get", 2, string.format("index %s is outside 1..%d", tostring(i), #self.indices)) end
  return self.dataset:get(j)
end
function LuaSubset.__tostring(self) return string.format("Subset(%d of %d samples)", #self.indices, #self.dataset) end

local function check_dataset(ds, fname, n)
  if type(ds) == "table" and ds._source then return true end
  local ok, len = pcall(function() return #ds end)
  local has_get = (type(ds) == "table" or type(ds) == "userdata") and pcall(function() return ds.get end) and ds.get ~= nil
  if not ok or math.type(len) ~= "integer" or not has_get then
    fail(fname, n, "expected a dataset (an object with __len and get), got " .. type(ds))
  end
  return false
end

--- Subset(ds, indices): the samples of ds at indices (1-based; a table or
-- an integer tensor), in that order.
function M.Subset(ds, indices)
  local fname = "Subset"
  local is_native = check_dataset(ds, fname, 1)
  if is_native then
    local source = D.subset_source(ds._source, indices)
    return native("Subset", source, ds.classes, {dataset = ds, indices = indices})
  end
  local list = indices
  if lt.is_tensor(indices) then
    if indices:dim() ~= 1 then fail(fname, 2, "expected a 1-D tensor of indices") end
    list = indices:tolist()
  elseif type(indices) ~= "table" then
    fail(fname, 2, "expected indices as a table or an int64 tensor, got " .. type(indices))
  end
  local n, copy = #ds, {}
  for k, j in ipairs(list) do
    if math.type(j) ~= "integer" or j < 1 or j > n then
      fail(fname, 2, string.format("index %s at position %d is outside 1..%d", tostring(j), k, n))
    end
    copy[k] = j
  end
  return setmetatable({dataset = ds, indices = copy, classes = ds.classes}, LuaSubset)
end

--- random_split(ds, lengths, seed): disjoint random Subsets of the given
-- lengths (summing to #ds), or fractions summing to 1 (the remainder goes
-- one by one to the first subsets, as PyTorch). seed: default from the
-- global generator.
function M.random_split(ds, lengths, seed)
  local fname = "random_split"
  check_dataset(ds, fname, 1)
  local n = #ds
  if type(lengths) ~= "table" or #lengths == 0 then fail(fname, 2, "expected a list of lengths") end
  local sizes, total = {}, 0
  local fractions = true
  for _, v in ipairs(lengths) do
    if type(v) ~= "number" or v < 0 then fail(fname, 2, "lengths must be non-negative numbers") end
    if math.type(v) == "integer" then fractions = false end
  end
  if fractions then
    local fsum = 0
    for k, f in ipairs(lengths) do sizes[k] = math.floor(n * f) fsum = fsum + f end
    if math.abs(fsum - 1) > 1e-6 then fail(fname, 2, string.format("fractions must sum to 1, got %g", fsum)) end
    local given = 0
    for _, s in ipairs(sizes) do given = given + s end
    for k = 0, n - given - 1 do
      local j = k % #sizes + 1
      sizes[j] = sizes[j] + 1
    end
  else
    for k, v in ipairs(lengths) do
      sizes[k] = math.tointeger(v) or fail(fname, 2, "lengths must be integers (or fractions summing to 1)")
    end
  end
  for _, s in ipairs(sizes) do total = total + s end
  if total ~= n then fail(fname, 2, string.format("lengths sum to %d but the dataset has %d samples", total, n)) end
  seed = opt_int(seed, fname, 3, "seed") or D.random_seed()
  local perm = D.permutation(seed, 0, n)
  local out, pos = {}, 0
  for k, s in ipairs(sizes) do
    local idx = table.move(perm, pos + 1, pos + s, 1, {})
    pos = pos + s
    out[k] = M.Subset(ds, idx)
  end
  return out
end

-- ---- the DataLoader --------------------------------------------------------------------

local DataLoader = {}
DataLoader.__index = DataLoader
DataLoader.__name = "DataLoader"

local loader_options = {batch_size = true, shuffle = true, drop_last = true, num_workers = true, prefetch = true,
                        seed = true, transform = true, device = true, pin_memory = true, distributed = true}

-- The rank (0-based) and world size of the distributed option: nil or
-- false: 0 of 1; true: lt.distributed's when a process group is
-- initialised (read now: the module may arrive after this one), else 0 of
-- 1; {rank =, world_size =}: those.
local function distributed_option(v, fname)
  if v == nil or v == false then return 0, 1 end
  local rank, world, what
  if v == true then
    local dist = lt.distributed
    if not (dist and dist.is_initialized and dist.is_initialized()) then return 0, 1 end
    rank, world, what = dist.rank(), dist.world_size(), "lt.distributed's "
  elseif type(v) == "table" and not lt.is_tensor(v) then
    check_opts(v, 2, fname, {rank = true, world_size = true})
    if v.rank == nil or v.world_size == nil then
      fail(fname, 2, "distributed needs both rank and world_size, as {rank = r, world_size = W} (or true)")
    end
    rank, world, what = v.rank, v.world_size, "distributed."
  else
    fail(fname, 2, "distributed must be true, false or {rank = r, world_size = W}, got " .. argcheck.typename(v))
  end
  local w = math.tointeger(world)
  if not w or w < 1 or w > 0x7fffffff then
    fail(fname, 2, string.format("%sworld_size must be an integer >= 1, got %s", what, argcheck.num(world)))
  end
  local r = math.tointeger(rank)
  if not r or r < 0 or r >= w then
    fail(fname, 2, string.format("%srank must be an integer in 0..%d (world_size %d; ranks count from 0), got %s",
                                 what, w - 1, w, argcheck.num(rank)))
  end
  return r, w
end

local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return mt ~= nil and type(mt) == "table" and mt.__call ~= nil
end

--- DataLoader(ds, {batch_size=1, shuffle=false, drop_last=false,
-- num_workers=0, prefetch=2*num_workers, seed=<from the global generator>,
-- transform=nil, device="cpu", pin_memory=false, distributed=false})
function M.DataLoader(ds, opts)
  local fname = "DataLoader"
  local is_native = check_dataset(ds, fname, 1)
  opts = check_opts(opts, 2, fname, loader_options)
  local self = setmetatable({dataset = ds}, DataLoader)
  self.batch_size = opt_int(opts.batch_size, fname, 2, "batch_size", 1) or 1
  self.shuffle = opt_bool(opts.shuffle, fname, 2, "shuffle") or false
  self.drop_last = opt_bool(opts.drop_last, fname, 2, "drop_last") or false
  self.num_workers = opt_int(opts.num_workers, fname, 2, "num_workers", 0, 256) or 0
  self.prefetch = opt_int(opts.prefetch, fname, 2, "prefetch", 1, 1024)
  self.seed = opt_int(opts.seed, fname, 2, "seed") or D.random_seed()
  self.rank, self.world_size = distributed_option(opts.distributed, fname)
  if self.world_size > 1 and self.shuffle and opts.seed == nil then
    -- the default comes from each process's global generator, which need not agree
    fail(fname, 2, string.format("distributed over %d ranks with shuffle needs a seed, the same on every rank",
                                 self.world_size))
  end
  self.num_samples, self.total_size = D.shard_size(#ds, self.world_size, self.drop_last)
  self.pin_memory = opt_bool(opts.pin_memory, fname, 2, "pin_memory") or false
  if self.pin_memory and not lt.cuda.is_available() then
    -- PyTorch warns and goes on with pageable memory
    io.stderr:write("warning: DataLoader: pin_memory=true but no GPU is available, so batches are not pinned\n")
    self.pin_memory = false
  end
  self.device = opt_string(opts.device, fname, 2, "device") or "cpu"
  self.transform = opts.transform
  if self.transform ~= nil and not callable(self.transform) then
    fail(fname, 2, "transform must be callable as transform(batch, gen), got " .. type(self.transform))
  end
  if self.device ~= "cpu" then
    -- one element: an empty tensor allocates nothing and would pass anywhere
    local ok, err = pcall(function() return lt.empty(1):to(self.device) end)
    if not ok then error(string.format("%s: device '%s' is not usable: %s", fname, self.device, tostring(err)), 0) end
  end
  -- Leading built-ins run natively (in the workers); the rest here.
  local list = T.flatten(self.transform)
  local steps, rest = {}, {}
  for _, tf in ipairs(list) do
    if is_native and #rest == 0 and T.is_builtin(tf) then steps[#steps + 1] = tf._step else rest[#rest + 1] = tf end
  end
  self._rest = rest
  self._next_epoch = 1
  self._token = 0
  if is_native then
    self._h = D.loader(ds._source, {batch_size = self.batch_size, shuffle = self.shuffle, drop_last = self.drop_last,
                                    num_workers = self.num_workers, prefetch = self.prefetch, seed = self.seed,
                                    pin_memory = self.pin_memory, rank = self.rank, world_size = self.world_size},
                       #steps > 0 and steps or nil, #rest > 0)
    self._nbatches = #self._h
  else
    local n = self.num_samples
    self._nbatches = self.drop_last and n // self.batch_size or (n + self.batch_size - 1) // self.batch_size
  end
  return self
end

--- #loader: batches per epoch
function DataLoader.__len(self) return self._nbatches end

function DataLoader.__tostring(self)
  local dist = self.world_size > 1
    and string.format(", rank %d of %d (%d samples each)", self.rank, self.world_size, self.num_samples) or ""
  return string.format("DataLoader(%d samples, batch_size %d, %d batches, shuffle %s, %d workers, seed %d, device %s%s)",
                       #self.dataset, self.batch_size, self._nbatches, tostring(self.shuffle), self.num_workers,
                       self.seed, self.device, dist)
end

--- loader:generator(epoch, i): the Generator the loader hands batch i
-- (1-based) of epoch `epoch` on this rank, for running the transforms
-- elsewhere (on the GPU); Generator(seed, epoch, i) on rank 0.
function DataLoader:generator(epoch, i)
  local fname = "generator"
  epoch = opt_int(epoch, fname, 1, "epoch", 0) or fail(fname, 1, "epoch is required")
  i = opt_int(i, fname, 2, "batch", 1) or fail(fname, 2, "the batch number is required")
  return D.batch_gen(self.seed, epoch, i, self.rank)
end

--- loader:close(): stops the workers and frees the buffers now (the
-- collector does it otherwise).
function DataLoader:close()
  if self._h then self._h:close() end
end

-- One batch of a Lua dataset, fetched here: positions first..last of order.
local function lua_batch(ds, order, first, last)
  local images, labels = {}, {}
  local shape, dtype
  for k = first, last do
    local j = order and order[k] or k
    local img, label = ds:get(j)
    if not lt.is_tensor(img) then error(string.format("DataLoader: dataset:get(%d) returned a %s, expected an image tensor", j, type(img)), 0) end
    if lt.is_tensor(label) then label = label:item() end
    if math.type(label) ~= "integer" then
      error(string.format("DataLoader: dataset:get(%d) returned the label %s, expected an integer", j, tostring(label)), 0)
    end
    local s = img:shape()
    if not shape then
      shape, dtype = s, img:dtype()
    else
      local same = #s == #shape and img:dtype() == dtype
      for d = 1, #s do same = same and s[d] == shape[d] end
      if not same then
        error(string.format("DataLoader: dataset:get(%d) returned a %s [%s] image, the batch's first is %s [%s]", j,
                            img:dtype(), table.concat(s, ","), dtype, table.concat(shape, ",")), 0)
      end
    end
    images[#images + 1] = img
    labels[#labels + 1] = label
  end
  local full = {#images}
  for d = 1, #shape do full[d + 1] = shape[d] end
  local batch = lt.empty(full, {dtype = dtype})
  for k, img in ipairs(images) do batch[k] = img end
  return batch, lt.tensor(labels, {dtype = "int64"})
end

--- for i, images, labels in loader:iter{epoch=, start_batch=} do ... end
-- epoch: default the next one (1, 2, ... over successive calls);
-- start_batch: begin at that batch (1-based), skipping the ones before it
-- without fetching them, for an exact resume in the middle of an epoch.
function DataLoader:iter(opts)
  local fname = "iter"
  opts = check_opts(opts, 1, fname, {epoch = true, start_batch = true})
  local epoch = opt_int(opts.epoch, fname, 1, "epoch", 0) or self._next_epoch
  local start = opt_int(opts.start_batch, fname, 1, "start_batch", 1, self._nbatches + 1) or 1
  self._next_epoch = epoch + 1
  self._token = self._token + 1
  local token, h, rest, device, pin = self._token, self._h, self._rest, self.device, self.pin_memory
  local to_opts = pin and {non_blocking = true} or nil
  local ds, bs, nb, seed, rank = self.dataset, self.batch_size, self._nbatches, self.seed, self.rank
  local order, b, m = nil, start - 1, self.num_samples
  local ended = false
  if h then
    h:start(epoch, start - 1)
  elseif self.world_size > 1 then
    order = D.rank_order(self.shuffle and seed or nil, epoch, #ds, rank, self.world_size, self.drop_last)
  elseif self.shuffle then
    order = D.permutation(seed, epoch, #ds)
  end
  -- At the end of an epoch: how many unreadable images were skipped
  -- (ImageFolder with on_error = "skip"), in self.skipped and on stderr.
  local function epoch_over()
    if ended then return end
    ended = true
    local n = h:skipped()
    self.skipped = n
    if n > 0 then
      io.stderr:write(string.format("warning: DataLoader: %d of %d images skipped in epoch %d as unreadable "
                                    .. "(each file is named once, when first skipped)\n", n, m, epoch))
    end
  end
  local function fetch()
    local i, images, labels, gen
    if h then
      i, images, labels, gen = h:next()
      if not i then
        epoch_over()
        return nil
      end
    else
      if b >= nb then return nil end
      b = b + 1
      i = b
      images, labels = lua_batch(ds, order, (b - 1) * bs + 1, math.min(b * bs, m))
      gen = #rest > 0 and D.batch_gen(seed, epoch, b, rank) or nil
    end
    for _, tf in ipairs(rest) do images = tf(images, gen) end
    if pin and device == "cpu" then
      -- pin_memory returns the tensor itself when it is pinned already (the
      -- native loader's batches are)
      images = images:pin_memory()
      labels = labels:pin_memory()
    end
    -- With a device, a batch a Lua transform or dataset made is copied from
    -- where it is: pinning a fresh buffer per batch would cost a cudaHostAlloc
    -- and, when the collector frees it, a cudaFreeHost, which waits for the
    -- whole GPU. The native loader's batches are pinned and copy without waiting.
    if device ~= "cpu" then
      images = images:to(device, to_opts)
      labels = labels:to(device, to_opts)
    end
    return i, images, labels
  end
  local function check_token()
    if self._token ~= token then
      error("DataLoader: this loop's epoch was abandoned: iter() was called again on the same loader", 0)
    end
  end
  local step
  if pin and device ~= "cpu" then
    -- One batch ahead: its copy is queued before the current batch is
    -- handed out, so the host never waits for a copy.
    local ahead
    step = function()
      check_token()
      local cur = ahead or table.pack(fetch())
      ahead = nil
      if cur[1] == nil then return nil end
      ahead = table.pack(fetch())
      return cur[1], cur[2], cur[3]
    end
  else
    step = function()
      check_token()
      return fetch()
    end
  end
  local closer = setmetatable({}, {__close = function()
    if h and self._token == token then h:stop() end
  end})
  return step, nil, nil, closer
end

return M
