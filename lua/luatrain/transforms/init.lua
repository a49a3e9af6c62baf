-- luatrain.transforms (lt.transforms) — batched image transforms with
-- torchvision's names and arithmetic, working on whole batches [B,C,H,W]
-- (a single image [C,H,W] works too).
--
--   local T = lt.transforms
--   local tf = T.Compose{T.RandomCrop(32, {padding = 4}), T.RandomHorizontalFlip(),
--                        T.ToFloat(), T.Normalize({0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616})}
--   local out = tf(batch, gen)          -- gen: a Generator (lt.data.Generator)
--
-- A transform is anything callable as tf(batch, gen) that returns the new
-- batch: a built-in below, a Compose, or a plain Lua function. `gen` is the
-- loader's random generator for this batch, deterministic from (seed, epoch,
-- batch index), so a run is reproducible whatever the number of workers.
-- Draw every random parameter from it: gen:uniform(n), gen:normal(n),
-- gen:randint(lo, hi, n) (lo <= x < hi), gen:bernoulli(p, n), gen:randperm(n).
-- Called without a generator, a transform draws one from the global
-- generator (lt.manual_seed).
--
-- Built-ins run natively; inside a DataLoader the leading run of built-ins
-- runs in the worker threads, and RandomCrop, RandomHorizontalFlip, ToFloat,
-- Normalize (the reference recipe's pipeline, each piece optional but ToFloat) run as one
-- fused pass with exactly the result of running them one by one.
--
-- On a batch already on a GPU, RandomCrop, RandomHorizontalFlip, ToFloat and
-- Normalize run there (the others raise an error): a Compose of them is one
-- fused kernel, and the same generator gives exactly the CPU's result (the
-- random parameters are drawn on the host as on the CPU). run_native(tf,
-- batch, gen, {dtype = "bfloat16"}) and functional.crop_flip_normalize(...,
-- {dtype = "bfloat16"}) give the result in bfloat16 (the float32 values
-- rounded to nearest even) on either device.
--
-- Differences from torchvision, all deliberate and small: parameters are
-- drawn per sample from `gen`, not from torch's generator; resizing is
-- bilinear without antialiasing (antialias=False); ColorJitter does
-- brightness and contrast only (each sample picks their order at random);
-- RandomErasing's value is a number or one per channel ('random' is not
-- supported); images for ColorJitter and the erasers are float32 in [0, 1]
-- (put them after ToFloat).
--
-- functional (lt.transforms.functional) holds the primitives with explicit
-- per-sample parameters: crop, hflip, vflip, resize, resized_crop,
-- center_crop, to_float, normalize, erase, adjust_brightness,
-- adjust_contrast, crop_flip_normalize. Crop offsets count the rows and
-- columns skipped (0-based, as torchvision's F.crop).
local lt_core = require "luatrain.core"
local D = lt_core._data
local argcheck = require "luatrain.argcheck"

local M = {}

local fail, check_opts = argcheck.fail, argcheck.check_opts

local MAX_SIZE = 1 << 20 -- sizes and paddings beyond this are surely mistakes

local function check_int(v, fname, n, what, min)
  local i = type(v) == "number" and math.tointeger(v) or nil
  if not i then fail(fname, n, string.format("%s must be an integer, got %s", what, tostring(v))) end
  v = i
  if min and v < min then fail(fname, n, string.format("%s must be >= %d, got %d", what, min, v)) end
  if v > MAX_SIZE then fail(fname, n, string.format("%s must be at most %d, got %d", what, MAX_SIZE, v)) end
  return v
end

-- size: a number (square) or {h, w}
local function check_size(size, fname, n)
  if type(size) == "number" then
    local s = check_int(size, fname, n, "size", 1)
    return s, s
  end
  if type(size) == "table" and #size == 2 then
    return check_int(size[1], fname, n, "height", 1), check_int(size[2], fname, n, "width", 1)
  end
  fail(fname, n, "expected a size (a number or {h, w}), got " .. type(size))
end

local function check_prob(p, fname, n, dflt)
  if p == nil then return dflt end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    fail(fname, n, "p must be a probability in [0, 1], got " .. tostring(p))
  end
  return p
end

local function check_pair(v, fname, n, what, dflt)
  if v == nil then return dflt end
  if type(v) ~= "table" or #v ~= 2 or type(v[1]) ~= "number" or type(v[2]) ~= "number" then
    fail(fname, n, what .. " must be a pair {lo, hi} of numbers")
  end
  if not (v[1] <= v[2]) then fail(fname, n, string.format("%s must have lo <= hi, got {%g, %g}", what, v[1], v[2])) end
  return {v[1], v[2]}
end

local function check_values(v, fname, n, what)
  if type(v) == "number" then return {v} end
  if type(v) ~= "table" or #v < 1 then fail(fname, n, what .. " must be a number or a list of numbers") end
  for k, x in ipairs(v) do
    if type(x) ~= "number" then fail(fname, n, string.format("entry %d of %s is not a number", k, what)) end
  end
  return v
end

-- ---- built-ins --------------------------------------------------------------

local Builtin = {}
Builtin.__index = Builtin
Builtin.__name = "Transform"
local function on_gpu(batch)
  return type(batch) == "userdata" and lt_core.is_tensor(batch) and batch:device() ~= "cpu"
end

function Builtin.__call(self, batch, gen)
  if on_gpu(batch) then return D.run_plan({self._step}, batch, gen) end
  return D.apply(self._step, batch, gen)
end
function Builtin.__tostring(self) return self._repr end

local function builtin(desc, repr)
  return setmetatable({name = desc.name, _step = D.step(desc), _repr = repr}, Builtin)
end

--- True for the transforms implemented natively (they can run in workers).
function M.is_builtin(tf) return getmetatable(tf) == Builtin end

local pad_modes = {constant = true, edge = true, reflect = true, symmetric = true}

--- RandomCrop(size, {padding=0, padding_mode='constant', fill=0}): pads
-- every side by `padding`, then crops size at a uniform random position.
function M.RandomCrop(size, opts)
  local fname = "RandomCrop"
  local oh, ow = check_size(size, fname, 1)
  opts = check_opts(opts, 2, fname, {padding = true, padding_mode = true, fill = true})
  local pad = 0
  if opts.padding ~= nil then
    if type(opts.padding) ~= "number" then fail(fname, 2, "padding must be a number (the same on every side)") end
    pad = check_int(opts.padding, fname, 2, "padding", 0)
  end
  local mode = opts.padding_mode or "constant"
  if not pad_modes[mode] then
    fail(fname, 2, "padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric', got " .. tostring(mode))
  end
  local fill = opts.fill or 0
  if type(fill) ~= "number" then fail(fname, 2, "fill must be a number") end
  return builtin({kind = "crop", name = fname, oh = oh, ow = ow, pad = pad, mode = mode, fill = fill},
    string.format("RandomCrop(size=%dx%d, padding=%d, padding_mode=%s, fill=%g)", oh, ow, pad, mode, fill))
end

--- RandomHorizontalFlip(p=0.5) / RandomVerticalFlip(p=0.5)
function M.RandomHorizontalFlip(p)
  p = check_prob(p, "RandomHorizontalFlip", 1, 0.5)
  return builtin({kind = "hflip", name = "RandomHorizontalFlip", p = p}, string.format("RandomHorizontalFlip(p=%g)", p))
end

function M.RandomVerticalFlip(p)
  p = check_prob(p, "RandomVerticalFlip", 1, 0.5)
  return builtin({kind = "vflip", name = "RandomVerticalFlip", p = p}, string.format("RandomVerticalFlip(p=%g)", p))
end

--- ToFloat(): uint8 -> float32 in [0, 1] (x / 255), the reference recipe's ToTensor
-- (no layout change: batches are already [B,C,H,W]); float32 passes through.
function M.ToFloat()
  return builtin({kind = "to_float", name = "ToFloat"}, "ToFloat()")
end
M.ToTensor = M.ToFloat

--- Normalize(mean, std): (x - mean[c]) / std[c] on float32; one value or
-- one per channel.
function M.Normalize(mean, std)
  local fname = "Normalize"
  mean = check_values(mean, fname, 1, "mean")
  std = check_values(std, fname, 2, "std")
  if #mean ~= #std then fail(fname, 2, string.format("mean has %d entries but std has %d", #mean, #std)) end
  for k, s in ipairs(std) do
    if s == 0 then fail(fname, 2, string.format("std entry %d is zero, which would divide by zero", k)) end
  end
  local function list(t) local s = {} for k, v in ipairs(t) do s[k] = string.format("%g", v) end return table.concat(s, ", ") end
  return builtin({kind = "normalize", name = fname, mean = mean, std = std},
    string.format("Normalize(mean={%s}, std={%s})", list(mean), list(std)))
end

--- Resize(size): a number resizes the shorter edge to it (keeping the
-- aspect ratio, as torchvision); {h, w} resizes to exactly that. Bilinear.
function M.Resize(size)
  local fname = "Resize"
  if type(size) == "number" then
    local s = check_int(size, fname, 1, "size", 1)
    return builtin({kind = "resize", name = fname, oh = s, ow = 0}, string.format("Resize(shorter edge %d)", s))
  end
  local oh, ow = check_size(size, fname, 1)
  return builtin({kind = "resize", name = fname, oh = oh, ow = ow}, string.format("Resize(%dx%d)", oh, ow))
end

--- CenterCrop(size): the central crop (offsets rounded as torchvision).
function M.CenterCrop(size)
  local oh, ow = check_size(size, "CenterCrop", 1)
  return builtin({kind = "center_crop", name = "CenterCrop", oh = oh, ow = ow}, string.format("CenterCrop(%dx%d)", oh, ow))
end

--- RandomResizedCrop(size, {scale={0.08, 1}, ratio={3/4, 4/3}}):
-- torchvision's sampling (10 tries of an area fraction and a log-uniform
-- aspect ratio, then the central fallback), resized bilinearly to size.
function M.RandomResizedCrop(size, opts)
  local fname = "RandomResizedCrop"
  local oh, ow = check_size(size, fname, 1)
  opts = check_opts(opts, 2, fname, {scale = true, ratio = true})
  local scale = check_pair(opts.scale, fname, 2, "scale", {0.08, 1.0})
  local ratio = check_pair(opts.ratio, fname, 2, "ratio", {3 / 4, 4 / 3})
  if not (scale[1] > 0) then fail(fname, 2, "scale must be positive") end
  if not (ratio[1] > 0) then fail(fname, 2, "ratio must be positive") end
  return builtin({kind = "resized_crop", name = fname, oh = oh, ow = ow, scale = scale, ratio = ratio},
    string.format("RandomResizedCrop(size=%dx%d, scale={%g, %g}, ratio={%g, %g})", oh, ow, scale[1], scale[2], ratio[1], ratio[2]))
end

--- RandomErasing{p=0.5, scale={0.02, 0.33}, ratio={0.3, 3.3}, value=0}:
-- torchvision's algorithm on float32 batches; value a number or one per
-- channel.
function M.RandomErasing(opts)
  local fname = "RandomErasing"
  opts = check_opts(opts, 1, fname, {p = true, scale = true, ratio = true, value = true})
  local p = check_prob(opts.p, fname, 1, 0.5)
  local scale = check_pair(opts.scale, fname, 1, "scale", {0.02, 0.33})
  local ratio = check_pair(opts.ratio, fname, 1, "ratio", {0.3, 3.3})
  if not (scale[1] > 0 and scale[2] <= 1) then fail(fname, 1, "scale must lie in (0, 1]") end
  if not (ratio[1] > 0) then fail(fname, 1, "ratio must be positive") end
  if opts.value == "random" then fail(fname, 1, "value='random' is not supported; give a number or one per channel") end
  local value = check_values(opts.value or 0, fname, 1, "value")
  return builtin({kind = "erase", name = fname, p = p, scale = scale, ratio = ratio, values = value},
    string.format("RandomErasing(p=%g, scale={%g, %g}, ratio={%g, %g})", p, scale[1], scale[2], ratio[1], ratio[2]))
end

--- Cutout(size, {p=1, value=0}): a size x size square centred on a
-- uniformly drawn pixel, clipped to the image, set to value (DeVries and
-- Taylor's Cutout). float32 batches.
function M.Cutout(size, opts)
  local fname = "Cutout"
  local s = check_int(size, fname, 1, "size", 1)
  opts = check_opts(opts, 2, fname, {p = true, value = true})
  local p = check_prob(opts.p, fname, 2, 1)
  local value = check_values(opts.value or 0, fname, 2, "value")
  return builtin({kind = "cutout", name = fname, size = s, p = p, values = value}, string.format("Cutout(size=%d, p=%g)", s, p))
end

--- ColorJitter{brightness=, contrast=}: a number b draws the factor from
-- [max(0, 1-b), 1+b], a pair {lo, hi} from [lo, hi]; per sample.
function M.ColorJitter(opts)
  local fname = "ColorJitter"
  opts = check_opts(opts, 1, fname, {brightness = true, contrast = true})
  local function range(v, what)
    if v == nil then return nil end
    if type(v) == "number" then
      if v < 0 then fail(fname, 1, what .. " must be >= 0") end
      return {math.max(0, 1 - v), 1 + v}
    end
    local r = check_pair(v, fname, 1, what)
    if r[1] < 0 then fail(fname, 1, what .. " factors must be >= 0") end
    return r
  end
  local b, c = range(opts.brightness, "brightness"), range(opts.contrast, "contrast")
  local parts = {}
  if b then parts[#parts + 1] = string.format("brightness={%g, %g}", b[1], b[2]) end
  if c then parts[#parts + 1] = string.format("contrast={%g, %g}", c[1], c[2]) end
  return builtin({kind = "jitter", name = fname, brightness = b, contrast = c}, "ColorJitter(" .. table.concat(parts, ", ") .. ")")
end

-- ---- Compose and Lambda ---------------------------------------------------------

local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return mt ~= nil and type(mt) == "table" and mt.__call ~= nil
end

local function global_gen() return D.Generator(D.random_seed()) end

local Compose = {}
Compose.__index = Compose
Compose.__name = "Compose"

--- Compose{tf1, tf2, ...}: applies them in order with the same generator.
function M.Compose(list)
  if type(list) ~= "table" or getmetatable(list) ~= nil then fail("Compose", 1, "expected a list of transforms") end
  local ts = {}
  for k = 1, #list do
    if not callable(list[k]) then
      fail("Compose", 1, string.format("entry %d is a %s, not a transform (a callable tf(batch, gen))", k, type(list[k])))
    end
    ts[k] = list[k]
  end
  return setmetatable({transforms = ts}, Compose)
end

function Compose.__call(self, batch, gen)
  gen = gen or global_gen()
  if on_gpu(batch) then
    -- runs of built-ins as one plan: fused into as few kernels as possible
    local run = {}
    local function flush()
      if #run > 0 then batch = D.run_plan(run, batch, gen) run = {} end
    end
    for _, tf in ipairs(M.flatten(self)) do
      if M.is_builtin(tf) then
        run[#run + 1] = tf._step
      else
        flush()
        batch = tf(batch, gen)
      end
    end
    flush()
    return batch
  end
  for _, tf in ipairs(self.transforms) do batch = tf(batch, gen) end
  return batch
end

function Compose.__tostring(self)
  local lines = {"Compose{"}
  for _, tf in ipairs(self.transforms) do lines[#lines + 1] = "  " .. tostring(tf) .. "," end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n")
end

--- Lambda(f): f(batch, gen) as a transform (a plain function works too).
function M.Lambda(f)
  if type(f) ~= "function" then fail("Lambda", 1, "expected a function f(batch, gen)") end
  return setmetatable({f = f}, {__call = function(self, batch, gen) return self.f(batch, gen) end,
                                __tostring = function() return "Lambda(...)" end})
end

--- The flat list of transforms a transform applies (Compose expanded).
function M.flatten(tf, out)
  out = out or {}
  if getmetatable(tf) == Compose then
    for _, t in ipairs(tf.transforms) do M.flatten(t, out) end
  elseif tf ~= nil then
    out[#out + 1] = tf
  end
  return out
end

--- run_native(tf, batch, gen, {dtype=}): the built-in pipeline tf run as
-- the loader's workers run it (fused where possible), for checking and
-- benchmarking; on the GPU for a batch there. dtype = "bfloat16" rounds the
-- float32 result to bfloat16.
function M.run_native(tf, batch, gen, opts)
  local steps = {}
  for k, t in ipairs(M.flatten(tf)) do
    if not M.is_builtin(t) then fail("run_native", 1, string.format("transform %d is not a built-in", k)) end
    steps[k] = t._step
  end
  return D.run_plan(steps, batch, gen, opts)
end

-- ---- functional -------------------------------------------------------------------

M.functional = {
  crop = D.f_crop, hflip = D.f_hflip, vflip = D.f_vflip, resize = D.f_resize, resized_crop = D.f_resized_crop,
  to_float = D.f_to_float, normalize = D.f_normalize, erase = D.f_erase,
  adjust_brightness = D.f_adjust_brightness, adjust_contrast = D.f_adjust_contrast,
  crop_flip_normalize = D.f_crop_flip_normalize,
}

--- F.center_crop(x, size)
function M.functional.center_crop(x, size) return M.CenterCrop(size)(x) end

return M
