-- test_transforms.lua — lt.transforms: every primitive against a naive
-- per-pixel Lua reference on random batches with fixed parameters (float32
-- arithmetic emulated exactly, so most comparisons are bit-exact); every
-- random transform against a Lua re-implementation of its sampling written
-- with the Generator API (so the built-ins draw exactly as documented and
-- users can reproduce them); chi-square checks that crop offsets and flips
-- are uniform; the reference recipe's fused pipeline bit-identical to the steps run one by
-- one; the Generator; and the error messages.
local T = require "luatrain.testing"
local TF = lt.transforms
local F = TF.functional
local G = lt.data.Generator

local function f32(x) return (string.unpack("f", string.pack("f", x))) end

local function flat(t) return t:contiguous():view(-1):tolist() end

-- max |a - b| over two flat lists (math.huge on a length mismatch)
local function maxdiff(a, b)
  if #a ~= #b then return math.huge end
  local m = 0
  for k = 1, #a do
    local d = math.abs(a[k] - b[k])
    if d ~= d then return math.huge end
    if d > m then m = d end
  end
  return m
end

local function shape_is(t, s)
  local got = t:shape()
  if #got ~= #s then return false end
  for k = 1, #s do if got[k] ~= s[k] then return false end end
  return true
end

local function rand_u8(n, c, h, w) return lt.randint(0, 256, {n, c, h, w}, {dtype = "uint8"}) end
local function rand_f32(n, c, h, w) return lt.rand(n, c, h, w) end

-- element (i, ch, r, s) of a flat [n,c,h,w] list, 0-based coordinates
local function at(x, c, h, w, i, ch, r, s) return x[((i * c + ch) * h + r) * w + s + 1] end

-- ---- references -------------------------------------------------------------------

-- coordinate in the padded image (0 = first real pixel) -> real index or nil (fill)
local function pad_map(i, size, mode)
  if i >= 0 and i < size then return i end
  if mode == "edge" then return i < 0 and 0 or size - 1 end
  if mode == "reflect" then return i < 0 and -i or 2 * (size - 1) - i end
  if mode == "symmetric" then return i < 0 and -i - 1 or 2 * size - 1 - i end
  return nil
end

local function ref_crop(x, n, c, h, w, oh, ow, tops, lefts, pad, mode, fill)
  local out = {}
  for i = 0, n - 1 do for ch = 0, c - 1 do for r = 0, oh - 1 do for s = 0, ow - 1 do
    local pr, pc = pad_map(tops[i + 1] + r - pad, h, mode), pad_map(lefts[i + 1] + s - pad, w, mode)
    out[#out + 1] = (pr and pc) and at(x, c, h, w, i, ch, pr, pc) or fill
  end end end end
  return out
end

local function ref_flip(x, n, c, h, w, mask, horizontal)
  local out = {}
  for i = 0, n - 1 do for ch = 0, c - 1 do for r = 0, h - 1 do for s = 0, w - 1 do
    local rr, ss = r, s
    if mask[i + 1] then if horizontal then ss = w - 1 - s else rr = h - 1 - r end end
    out[#out + 1] = at(x, c, h, w, i, ch, rr, ss)
  end end end end
  return out
end

-- bilinear, align_corners=false, no antialiasing, in float32 (PyTorch's
-- source index rule); box = {top, left, height, width}
local function axis(inn, out, offset)
  local t = {}
  local scale = f32(inn / out)
  for d = 0, out - 1 do
    local src = f32(f32(scale * f32(d + 0.5)) - 0.5)
    if src < 0 then src = 0 end
    local i0 = math.floor(src)
    if i0 > inn - 1 then i0 = inn - 1 end
    local l1 = f32(src - i0)
    if l1 > 1 then l1 = 1 end
    t[d] = {offset + i0, offset + i0 + (i0 < inn - 1 and 1 or 0), f32(1 - l1), l1}
  end
  return t
end

local function round_half_even(v)
  local f = math.floor(v)
  local d = v - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then f = f + 1 end
  return f
end

local function ref_resized_crop(x, n, c, h, w, boxes, oh, ow, is_u8)
  local out = {}
  for i = 0, n - 1 do
    local b = boxes[i + 1]
    local ty, tx = axis(b[3], oh, b[1]), axis(b[4], ow, b[2])
    for ch = 0, c - 1 do for r = 0, oh - 1 do for s = 0, ow - 1 do
      local y, xx = ty[r], tx[s]
      local function p(rr, cc) return at(x, c, h, w, i, ch, rr, cc) end
      local top = f32(f32(p(y[1], xx[1]) * xx[3]) + f32(p(y[1], xx[2]) * xx[4]))
      local bot = f32(f32(p(y[2], xx[1]) * xx[3]) + f32(p(y[2], xx[2]) * xx[4]))
      local v = f32(f32(top * y[3]) + f32(bot * y[4]))
      if is_u8 then v = math.min(255, math.max(0, round_half_even(v))) end
      out[#out + 1] = v
    end end end
  end
  return out
end

local function clamp01(v) return v < 0 and 0 or (v > 1 and 1 or v) end

-- ---- the primitives -----------------------------------------------------------------

T.test("crop with padding, every mode, uint8 and float32", function()
  local n, c, h, w = 4, 3, 7, 9
  for _, dt in ipairs{"uint8", "float32"} do
    local x = dt == "uint8" and rand_u8(n, c, h, w) or rand_f32(n, c, h, w)
    local xs = flat(x)
    for _, mode in ipairs{"constant", "edge", "reflect", "symmetric"} do
      local pad, oh, ow = 3, 8, 10
      local tops, lefts = {0, 5, 2, 5}, {0, 5, 3, 1} -- offsets up to h+2p-oh = w+2p-ow = 5: corners included
      local fill = dt == "uint8" and 17 or -0.5
      local y = F.crop(x, tops, lefts, {oh, ow}, {padding = pad, padding_mode = mode, fill = fill})
      T.check(shape_is(y, {n, c, oh, ow}) and y:dtype() == dt, "shape and dtype")
      T.check(maxdiff(flat(y), ref_crop(xs, n, c, h, w, oh, ow, tops, lefts, pad, mode, fill)) == 0,
              "crop " .. dt .. " " .. mode .. " matches the reference")
    end
    -- tensor offsets, no padding
    local y = F.crop(x, lt.tensor{0, 1, 2, 0}, lt.tensor{4, 3, 0, 1}, 5)
    T.check(maxdiff(flat(y), ref_crop(xs, n, c, h, w, 5, 5, {0, 1, 2, 0}, {4, 3, 0, 1}, 0, "constant", 0)) == 0, "tensor offsets")
  end
  local x = rand_u8(2, 1, 4, 4)
  T.checkerr("crop: crop offset (3, 0) of sample 2 is outside 0..2 x 0..2", F.crop, x, {0, 3}, {0, 0}, 2)
  T.checkerr("bad argument #2 to 'crop' (tops: expected 2 values, got a table of 3)", F.crop, x, {0, 0, 0}, {0, 0}, 2)
  T.checkerr("bad argument #5 to 'crop' (padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric', got wrap)",
             F.crop, x, {0, 0}, {0, 0}, 2, {padding = 1, padding_mode = "wrap"})
  T.checkerr("bad argument #5 to 'crop' (unknown option 'pad'", F.crop, x, {0, 0}, {0, 0}, 2, {pad = 1})
  T.checkerr("crop: reflect padding 4 must be smaller than the image size 4x4", F.crop, x, {0, 0}, {0, 0}, 2,
             {padding = 4, padding_mode = "reflect"})
end)

T.test("flips with masks", function()
  local n, c, h, w = 5, 2, 3, 6
  for _, dt in ipairs{"uint8", "float32"} do
    local x = dt == "uint8" and rand_u8(n, c, h, w) or rand_f32(n, c, h, w)
    local mask = {true, false, true, true, false}
    T.check(maxdiff(flat(F.hflip(x, mask)), ref_flip(flat(x), n, c, h, w, mask, true)) == 0, "hflip " .. dt)
    T.check(maxdiff(flat(F.vflip(x, lt.tensor(mask))), ref_flip(flat(x), n, c, h, w, mask, false)) == 0, "vflip " .. dt .. " (bool tensor)")
    local all = {true, true, true, true, true}
    T.check(maxdiff(flat(F.hflip(x)), ref_flip(flat(x), n, c, h, w, all, true)) == 0, "hflip without a mask flips all")
  end
  -- one image [C,H,W]
  local img = rand_u8(1, 3, 2, 2)[1]
  local y = F.hflip(img)
  T.check(shape_is(y, {3, 2, 2}) and maxdiff(flat(y), ref_flip(flat(img), 1, 3, 2, 2, {true}, true)) == 0, "a single image")
end)

T.test("to_float and normalize", function()
  local x = rand_u8(3, 3, 4, 5)
  local xs = flat(x)
  local y = F.to_float(x)
  local ref = {}
  for k, v in ipairs(xs) do ref[k] = f32(v / 255) end
  T.check(y:dtype() == "float32" and maxdiff(flat(y), ref) == 0, "to_float is x / 255 in float32")
  local mean, std = {0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616}
  local z = F.normalize(y, mean, std)
  local refn = {}
  for k, v in ipairs(ref) do
    local ch = ((k - 1) // 20) % 3 + 1
    refn[k] = f32(f32(v - f32(mean[ch])) / f32(std[ch]))
  end
  T.check(maxdiff(flat(z), refn) == 0, "normalize is (x - mean) / std per channel, float32")
  T.check(maxdiff(flat(y), ref) == 0, "normalize leaves its input alone")
  local z1 = F.normalize(y, {0.5}, 0.25)
  local ref1 = {}
  for k, v in ipairs(ref) do ref1[k] = f32(f32(v - 0.5) / 0.25) end
  T.check(maxdiff(flat(z1), ref1) == 0, "one mean/std for all channels")
  T.checkerr("bad argument #2 to 'normalize' (mean has 2 entries but the batch has 3 channels)", F.normalize, y, {1, 2}, {1, 2, 3})
  T.checkerr("bad argument #1 to 'normalize' (expected a float32 batch, got uint8)", F.normalize, x, {0}, {1})
  T.checkerr("bad argument #1 to 'to_float' (expected a uint8 batch, got float32)", F.to_float, y)
end)

T.test("resize and resized_crop (bilinear, float32 arithmetic)", function()
  local n, c, h, w = 2, 3, 7, 10
  for _, dt in ipairs{"uint8", "float32"} do
    local x = dt == "uint8" and rand_u8(n, c, h, w) or rand_f32(n, c, h, w)
    local xs = flat(x)
    for _, size in ipairs{{5, 13}, {14, 4}, {7, 10}, {1, 1}} do
      local y = F.resize(x, size)
      local full = {{0, 0, h, w}, {0, 0, h, w}}
      T.check(shape_is(y, {n, c, size[1], size[2]}) and
              maxdiff(flat(y), ref_resized_crop(xs, n, c, h, w, full, size[1], size[2], dt == "uint8")) == 0,
              string.format("resize %s to %dx%d", dt, size[1], size[2]))
    end
    local boxes = {{1, 2, 5, 6}, {0, 0, 7, 3}}
    local y = F.resized_crop(x, boxes, {6, 8})
    T.check(maxdiff(flat(y), ref_resized_crop(xs, n, c, h, w, boxes, 6, 8, dt == "uint8")) == 0, "resized_crop " .. dt)
    local y2 = F.resized_crop(x, lt.tensor{{1, 2, 5, 6}, {0, 0, 7, 3}}, {6, 8})
    T.check(y2:eq(y):all():item(), "boxes as a tensor [B,4]")
  end
  T.checkerr("resized_crop: crop box (top 3, left 0, height 5, width 2) of sample 1 is not inside the 7x10 image",
             F.resized_crop, rand_u8(1, 1, 7, 10), {{3, 0, 5, 2}}, 4)
end)

T.test("erase, brightness, contrast", function()
  local n, c, h, w = 3, 3, 5, 6
  local x = rand_f32(n, c, h, w)
  local xs = flat(x)
  local boxes = {{1, 2, 3, 2}, {0, 0, 0, 0}, {0, 0, 5, 6}}
  local vals = {0.25, -1, 2}
  local y = F.erase(x, boxes, vals)
  local ref = {}
  for i = 0, n - 1 do for ch = 0, c - 1 do for r = 0, h - 1 do for s = 0, w - 1 do
    local b = boxes[i + 1]
    local inside = r >= b[1] and r < b[1] + b[3] and s >= b[2] and s < b[2] + b[4]
    ref[#ref + 1] = inside and f32(vals[ch + 1]) or at(xs, c, h, w, i, ch, r, s)
  end end end end
  T.check(maxdiff(flat(y), ref) == 0, "erase sets the boxes to the per-channel values; 0x0 boxes leave a sample alone")
  local factors = {0.5, 1.0, 1.7}
  local yb = F.adjust_brightness(x, factors)
  local rb = {}
  for k, v in ipairs(xs) do rb[k] = clamp01(f32(f32(factors[(k - 1) // (c * h * w) + 1]) * v)) end
  T.check(maxdiff(flat(yb), rb) == 0, "brightness: clamp(f * x, 0, 1)")
  local yc = F.adjust_contrast(x, factors)
  local rc = {}
  local hw = h * w
  for i = 0, n - 1 do
    local sum = 0
    for k = 0, hw - 1 do
      local R, Gr, B = xs[i * c * hw + k + 1], xs[i * c * hw + hw + k + 1], xs[i * c * hw + 2 * hw + k + 1]
      sum = sum + (0.2989 * R + 0.587 * Gr + 0.114 * B)
    end
    local mean = sum / hw
    local f = factors[i + 1]
    for k = 0, c * hw - 1 do rc[#rc + 1] = clamp01(f * xs[i * c * hw + k + 1] + (1 - f) * mean) end
  end
  T.check(maxdiff(flat(yc), rc) < 1e-6, "contrast: blend with the mean of the greyscale image")
  T.checkerr("adjust_brightness: brightness factor of sample 2 must be >= 0, got -1", F.adjust_brightness, x, {1, -1, 1})
  T.checkerr("bad argument #1 to 'erase' (expected a float32 batch, got uint8)", F.erase, rand_u8(1, 1, 2, 2), {{0, 0, 1, 1}})
end)

T.test("the fused kernel equals crop -> flip -> to_float -> normalize", function()
  local n, c, h, w = 6, 3, 9, 8
  local x = rand_u8(n, c, h, w)
  local mean, std = {0.1, 0.5, 0.9}, {0.3, 0.2, 0.7}
  for _, mode in ipairs{"constant", "edge", "reflect", "symmetric"} do
    local pad, oh, ow = 2, 9, 7
    local tops, lefts = {0, 4, 1, 2, 3, 4}, {0, 5, 2, 5, 1, 3}
    local mask = {false, true, true, false, true, true}
    local y = F.crop_flip_normalize(x, tops, lefts, {oh, ow}, mask, mean, std, {padding = pad, padding_mode = mode, fill = 7})
    local ref = F.normalize(F.to_float(F.hflip(F.crop(x, tops, lefts, {oh, ow}, {padding = pad, padding_mode = mode, fill = 7}), mask)), mean, std)
    T.check(y:eq(ref):all():item(), "bit-identical, " .. mode)
  end
end)

-- ---- random transforms: the sampling, re-implemented with the Generator API -----------

local function batch_of(n, c, h, w, dt) return dt == "uint8" and rand_u8(n, c, h, w) or rand_f32(n, c, h, w) end

T.test("RandomCrop and the flips draw as documented", function()
  local x = rand_u8(16, 3, 10, 12)
  local g = G(5)
  local y = TF.RandomCrop({8, 9}, {padding = 3, padding_mode = "reflect"})(x, g:clone())
  local tops, lefts = {}, {}
  for i = 1, 16 do
    tops[i] = g:randint(0, 10 + 6 - 8 + 1)
    lefts[i] = g:randint(0, 12 + 6 - 9 + 1)
  end
  T.check(y:eq(F.crop(x, tops, lefts, {8, 9}, {padding = 3, padding_mode = "reflect"})):all():item(),
          "RandomCrop: per sample, top then left, uniform")
  local yh = TF.RandomHorizontalFlip(0.3)(x, g:clone())
  local mask = {}
  for i = 1, 16 do mask[i] = g:uniform() < 0.3 end
  T.check(yh:eq(F.hflip(x, mask)):all():item(), "RandomHorizontalFlip: uniform < p per sample")
  local yv = TF.RandomVerticalFlip()(x, g:clone())
  T.check(yv:eq(F.vflip(x, g:bernoulli(0.5, 16))):all():item(), "RandomVerticalFlip: bernoulli(p) per sample")
end)

local function pyround(v) return round_half_even(v) end

-- torchvision's RandomResizedCrop.get_params with gen's draws
local function rrc_box(g, h, w, scale, ratio)
  local area = h * w
  local lr0, lr1 = math.log(ratio[1]), math.log(ratio[2])
  for _ = 1, 10 do
    local target = area * (scale[1] + (scale[2] - scale[1]) * g:uniform())
    local aspect = math.exp(lr0 + (lr1 - lr0) * g:uniform())
    local cw, ch = pyround(math.sqrt(target * aspect)), pyround(math.sqrt(target / aspect))
    if cw > 0 and cw <= w and ch > 0 and ch <= h then
      local i = g:randint(0, h - ch + 1)
      local j = g:randint(0, w - cw + 1)
      return {i, j, ch, cw}, false
    end
  end
  local in_ratio = w / h
  local cw, ch = w, h
  if in_ratio < math.min(ratio[1], ratio[2]) then ch = pyround(cw / math.min(ratio[1], ratio[2]))
  elseif in_ratio > math.max(ratio[1], ratio[2]) then cw = pyround(ch * math.max(ratio[1], ratio[2])) end
  return {(h - ch) // 2, (w - cw) // 2, ch, cw}, true
end

T.test("RandomResizedCrop: torchvision's sampling and fallback", function()
  for _, dt in ipairs{"uint8", "float32"} do
    local x = batch_of(12, 3, 20, 16, dt)
    local g = G(11)
    local y = TF.RandomResizedCrop({8, 10})(x, g:clone())
    local boxes = {}
    for i = 1, 12 do boxes[i] = rrc_box(g, 20, 16, {0.08, 1}, {3 / 4, 4 / 3}) end
    T.check(y:eq(F.resized_crop(x, boxes, {8, 10})):all():item(), "default scale and ratio, " .. dt)
  end
  -- a very wide image with a square-only ratio: scale >= 0.9 never fits, the fallback crops the centre
  local x = rand_f32(4, 1, 4, 40)
  local g = G(3)
  local y = TF.RandomResizedCrop(4, {scale = {0.9, 1}, ratio = {1, 1}})(x, g:clone())
  local boxes, fallbacks = {}, 0
  for i = 1, 4 do
    local b, fb = rrc_box(g, 4, 40, {0.9, 1}, {1, 1})
    boxes[i] = b
    if fb then fallbacks = fallbacks + 1 end
  end
  T.check(fallbacks == 4 and boxes[1][3] == 4 and boxes[1][4] == 4 and boxes[1][2] == 18, "the fallback is the central 4x4")
  T.check(y:eq(F.resized_crop(x, boxes, 4)):all():item(), "fallback crop")
end)

T.test("RandomErasing, Cutout, ColorJitter draw as documented", function()
  local n, c, h, w = 40, 3, 12, 10
  local x = rand_f32(n, c, h, w)
  local g = G(21)
  local y = TF.RandomErasing{p = 0.6, value = {1, 2, 3}}(x, g:clone())
  local boxes, erased = {}, 0
  for i = 1, n do
    boxes[i] = {0, 0, 0, 0}
    if g:uniform() < 0.6 then
      local area = h * w
      local lr0, lr1 = math.log(0.3), math.log(3.3)
      for _ = 1, 10 do
        local ea = area * (0.02 + (0.33 - 0.02) * g:uniform())
        local aspect = math.exp(lr0 + (lr1 - lr0) * g:uniform())
        local eh, ew = pyround(math.sqrt(ea * aspect)), pyround(math.sqrt(ea / aspect))
        if eh < h and ew < w then
          boxes[i] = {g:randint(0, h - eh + 1), g:randint(0, w - ew + 1), eh, ew}
          erased = erased + 1
          break
        end
      end
    end
  end
  T.check(erased > 10 and erased < n, "some samples erased, some not")
  T.check(y:eq(F.erase(x, boxes, {1, 2, 3})):all():item(), "RandomErasing")
  local yc = TF.Cutout(5, {p = 0.7})(x, g:clone())
  local cb = {}
  for i = 1, n do
    cb[i] = {0, 0, 0, 0}
    if g:uniform() < 0.7 then
      local cy, cx = g:randint(0, h), g:randint(0, w)
      local y0, x0 = math.max(0, cy - 2), math.max(0, cx - 2)
      local y1, x1 = math.min(h, cy - 2 + 5), math.min(w, cx - 2 + 5)
      cb[i] = {y0, x0, y1 - y0, x1 - x0}
    end
  end
  T.check(yc:eq(F.erase(x, cb)):all():item(), "Cutout")
  local yj = TF.ColorJitter{brightness = 0.4, contrast = {0.5, 1.5}}(x, g:clone())
  local first, fb, fc = {}, {}, {}
  for i = 1, n do
    first[i] = g:uniform() < 0.5
    fb[i] = f32(0.6 + (1.4 - 0.6) * g:uniform())
    fc[i] = f32(0.5 + (1.5 - 0.5) * g:uniform())
  end
  local b1, b2 = {}, {}
  for i = 1, n do b1[i] = first[i] and fb[i] or 1 b2[i] = first[i] and 1 or fb[i] end
  local ref = F.adjust_brightness(F.adjust_contrast(F.adjust_brightness(x, b1), fc), b2)
  T.check(yj:eq(ref):all():item(), "ColorJitter: per sample order, brightness and contrast factors")
  local yb = TF.ColorJitter{brightness = {0.5, 0.5}}(x)
  T.check(yb:eq(F.adjust_brightness(x, lt.full({n}, 0.5))):all():item(), "a fixed brightness range")
end)

T.test("deterministic transforms", function()
  local x = rand_u8(2, 3, 7, 10)
  T.check(shape_is(TF.Resize(5)(x), {2, 3, 5, 7}), "Resize(int): the shorter edge, the longer truncated (10*5/7)")
  T.check(shape_is(TF.Resize(5)(rand_u8(1, 1, 9, 4)), {1, 1, 11, 5}), "Resize(int) on a tall image")
  T.check(TF.Resize({3, 4})(x):eq(F.resize(x, {3, 4})):all():item(), "Resize{h, w}")
  local cc = TF.CenterCrop({4, 5})(x)
  -- torchvision: top = round((7 - 4) / 2) = round(1.5) = 2, left = round(2.5) = 2 (ties to even)
  T.check(cc:eq(F.crop(x, {2, 2}, {2, 2}, {4, 5})):all():item(), "CenterCrop rounds offsets as Python")
  T.check(F.center_crop(x, 3):eq(F.crop(x, {2, 2}, {4, 4}, 3)):all():item(), "functional.center_crop")
  T.check(TF.ToFloat()(x):eq(F.to_float(x)):all():item() and TF.ToTensor == TF.ToFloat, "ToFloat (alias ToTensor)")
  local xf = F.to_float(x)
  T.check(TF.ToFloat()(xf):eq(xf):all():item(), "ToFloat on float32 is the identity")
  T.check(TF.Normalize({0.5, 0.4, 0.3}, {0.2, 0.2, 0.1})(xf):eq(F.normalize(xf, {0.5, 0.4, 0.3}, {0.2, 0.2, 0.1})):all():item(), "Normalize")
end)

-- ---- uniformity ------------------------------------------------------------------------

-- Chi-square statistic of observed counts against equal expected counts.
local function chi2(counts, cells, total)
  local e, s = total / cells, 0
  for k = 0, cells - 1 do
    local o = counts[k] or 0
    s = s + (o - e) ^ 2 / e
  end
  return s
end

T.test("crop offsets and flips are uniform (chi-square)", function()
  -- Images whose pixel (r, c) holds r*W + c (float), padded with -1: the
  -- first real pixel of a crop gives its offset; a flip reverses the row.
  -- 8x8 images, padding 2, 8x8 crops: offsets 0..4 x 0..4, 25 cells, and a
  -- flip bit: 50 cells in all. With 10000 samples (200 per cell) the
  -- statistic exceeds 86.7 (the 99.9% point of chi-square with 49 degrees
  -- of freedom) with probability 0.001 for a uniform sampler; the generator
  -- starts from a fixed key, so the test gives the same draws every run. It runs on the fused path (the
  -- loader's) and on the steps one by one.
  local N, H, W, P = 10000, 8, 8, 2
  local x = lt.arange(0, H * W, {dtype = "float32"}):view(1, 1, H, W):expand(N, 1, H, W):contiguous()
  local tf = TF.Compose{TF.RandomCrop(8, {padding = P, fill = -1}), TF.RandomHorizontalFlip()}
  for _, path in ipairs{"steps", "fused"} do
    local y
    if path == "steps" then
      y = tf(x, G(99))
    else
      -- the fused pass needs uint8: encode r*W+c+1 as bytes, fill 0
      local xb = (x + 1):byte()
      local tfb = TF.Compose{TF.RandomCrop(8, {padding = P, fill = 0}), TF.RandomHorizontalFlip(), TF.ToFloat()}
      y = TF.run_native(tfb, xb, G(99)) * 255 - 1
    end
    local v = flat(y)
    local counts, bad = {}, 0
    for i = 0, N - 1 do
      local cell
      for r = 0, 7 do
        for s = 0, 7 do
          local val = math.floor(v[i * 64 + r * 8 + s + 1] + 0.5)
          if val >= 0 then
            local sr, sc = val // W, val % W
            -- unflipped: sc = left - P + s; flipped: sc = left - P + (7 - s)
            local top = sr - r + P
            local left_plain, left_flip = sc - s + P, sc - (7 - s) + P
            -- a flip shows in the row's order: the next real pixel to the right is smaller
            local flipped = false
            if s < 7 then
              local nxt = math.floor(v[i * 64 + r * 8 + s + 2] + 0.5)
              flipped = nxt >= 0 and nxt < val
            elseif s > 0 then
              local prv = math.floor(v[i * 64 + r * 8 + s] + 0.5)
              flipped = prv >= 0 and prv > val
            end
            local left = flipped and left_flip or left_plain
            if top < 0 or top > 4 or left < 0 or left > 4 then bad = bad + 1 end
            cell = (top * 5 + left) * 2 + (flipped and 1 or 0)
            break
          end
        end
        if cell then break end
      end
      counts[cell] = (counts[cell] or 0) + 1
    end
    local stat = chi2(counts, 50, N)
    T.check(bad == 0, path .. ": offsets in range")
    T.check(stat < 86.7, string.format("%s: chi-square %.1f < 86.7 over 25 offsets x 2 flip states", path, stat))
  end
end)

-- ---- the generator ----------------------------------------------------------------------

T.test("Generator", function()
  local a, b = G(1), G(1)
  T.check(maxdiff(flat(a:uniform(100)), flat(b:uniform(100))) == 0, "same seed, same stream")
  T.check(maxdiff(flat(G(1):uniform(10)), flat(G(2):uniform(10))) > 0, "different seeds differ")
  local u = G(3):uniform(20000)
  T.check(u:dtype() == "float64" and u:min():item() >= 0 and u:max():item() < 1, "uniform in [0, 1), float64")
  T.close(u:mean():item(), 0.5, 0.02, "uniform mean")
  local r = G(4):randint(-3, 4, 7000)
  T.check(r:dtype() == "int64" and r:min():item() == -3 and r:max():item() == 3, "randint covers [lo, hi)")
  local counts = {}
  for _, v in ipairs(r:tolist()) do counts[v + 3] = (counts[v + 3] or 0) + 1 end
  T.check(chi2(counts, 7, 7000) < 22.46, "randint is uniform (chi-square, 6 dof, 99.9%)")
  local bern = G(5):bernoulli(0.25, 8000)
  T.check(bern:dtype() == "bool", "bernoulli gives bools")
  T.close(bern:float():mean():item(), 0.25, 0.03, "bernoulli frequency")
  local p = G(6):randperm(50):tolist()
  table.sort(p)
  local ok = true
  for k = 1, 50 do ok = ok and p[k] == k end
  T.check(ok, "randperm is a permutation of 1..n")
  local z = G(7):normal(20000)
  T.close(z:mean():item(), 0, 0.03, "normal mean")
  T.close(z:std():item(), 1, 0.03, "normal std")
  local g = G(8)
  local s1 = g:uniform()
  local key, pos = g:state()
  T.check(type(s1) == "number" and pos == 1 and math.type(key) == "integer", "scalars and state")
  local c = g:clone()
  T.check(c:randint(0, 1000) == g:randint(0, 1000), "clone continues the same stream")
  T.check(math.type(g:randint(5, 6)) == "integer" and type(g:bernoulli(0.5)) == "boolean", "scalar draws")
  T.check(G(1, 2, 3):uniform() ~= G(1, 2, 4):uniform() and G(1, 2, 3):uniform() == G(1, 2, 3):uniform(), "per-batch generators")
  T.checkerr("bad argument #3 to 'randint' (expected low < high", g.randint, g, 3, 3)
  T.checkerr("bad argument #2 to 'bernoulli' (probability must be in [0, 1], got 2)", g.bernoulli, g, 2)
  T.checkerr("bad argument #3 to 'Generator' (batch index must be >= 1, got 0)", G, 1, 1, 0)
  T.check(tostring(g):find("Generator(key", 1, true) ~= nil, "tostring")
end)

-- ---- transforms without a generator, Compose, errors ---------------------------------------

T.test("Compose, user transforms and the global generator", function()
  local x = rand_u8(4, 3, 8, 8)
  local tf = TF.Compose{TF.RandomCrop(6), TF.RandomHorizontalFlip(), TF.ToFloat(),
                        function(b, gen) return b * gen:uniform(4):float():view(4, 1, 1, 1) end}
  local y1, y2 = tf(x, G(5)), tf(x, G(5))
  T.check(y1:eq(y2):all():item() and shape_is(y1, {4, 3, 6, 6}), "a Lua step shares the generator; reproducible")
  lt.manual_seed(3)
  local a = tf(x)
  lt.manual_seed(3)
  local b = tf(x)
  T.check(a:eq(b):all():item(), "without a generator: drawn from the global one (lt.manual_seed)")
  local nested = TF.Compose{TF.Compose{TF.RandomCrop(6)}, TF.Lambda(function(bb) return bb end)}
  T.check(#TF.flatten(nested) == 2, "flatten expands nested Composes")
  T.check(tostring(tf):find("RandomCrop(size=6x6, padding=0", 1, true) ~= nil, "tostring")
  -- the native pipeline with a user function is refused by run_native
  T.checkerr("bad argument #1 to 'run_native' (transform 4 is not a built-in)", TF.run_native, tf, x, G(1))
end)

T.test("errors", function()
  local x8, xf = rand_u8(2, 3, 8, 8), rand_f32(2, 3, 8, 8)
  T.checkerr("bad argument #1 to 'Normalize' (expected a float32 batch, got uint8 (put ToFloat before Normalize))",
             TF.Normalize({0, 0, 0}, {1, 1, 1}), x8)
  T.checkerr("bad argument #1 to 'Normalize' (mean and std have 2 entries but the batch has 3 channels)",
             TF.Normalize({0, 0}, {1, 1}), xf)
  T.checkerr("bad argument #2 to 'Normalize' (std entry 2 is zero", TF.Normalize, {0, 0}, {1, 0})
  T.checkerr("bad argument #2 to 'Normalize' (mean has 3 entries but std has 1)", TF.Normalize, {0, 0, 0}, {1})
  T.checkerr("bad argument #1 to 'RandomCrop' (crop size 12x12 is larger than the padded image 10x10)",
             TF.RandomCrop(12, {padding = 1}), x8)
  T.checkerr("bad argument #1 to 'CenterCrop' (crop size 9x8 is larger than the image 8x8)", TF.CenterCrop({9, 8}), x8)
  T.checkerr("bad argument #2 to 'RandomCrop' (unknown option 'pad' (valid: fill, padding, padding_mode))", TF.RandomCrop, 4, {pad = 1})
  T.checkerr("bad argument #2 to 'RandomCrop' (padding must be a number", TF.RandomCrop, 4, {padding = {1, 2}})
  T.checkerr("bad argument #1 to 'RandomCrop' (size must be >= 1, got 0)", TF.RandomCrop, 0)
  T.checkerr("bad argument #1 to 'RandomHorizontalFlip' (p must be a probability in [0, 1], got 1.5)", TF.RandomHorizontalFlip, 1.5)
  T.checkerr("bad argument #1 to 'RandomErasing' (expected a float32 batch, got uint8 (put ToFloat before it))", TF.RandomErasing(), x8)
  T.checkerr("bad argument #1 to 'RandomErasing' (value='random' is not supported", TF.RandomErasing, {value = "random"})
  T.checkerr("bad argument #1 to 'ColorJitter' (unknown option 'saturation'", TF.ColorJitter, {saturation = 0.1})
  T.checkerr("bad argument #1 to 'ColorJitter' (contrast needs 1 or 3 channels, the batch has 2)", TF.ColorJitter{contrast = 0.5},
             rand_f32(1, 2, 3, 3))
  T.checkerr("bad argument #1 to 'RandomCrop' (expected a batch [B,C,H,W] or an image [C,H,W], got shape [8,8])",
             TF.RandomCrop(4), x8[1][1])
  T.checkerr("bad argument #1 to 'ToFloat' (expected a uint8 or float32 batch, got int64)", TF.ToFloat(), lt.zeros(1, 1, 2, 2, {dtype = "int64"}))
  T.checkerr("bad argument #2 to 'RandomCrop' (expected a Generator (or nothing), got number)", TF.RandomCrop(4), x8, 42)
  T.checkerr("bad argument #1 to 'Compose' (entry 2 is a number, not a transform", TF.Compose, {TF.ToFloat(), 3})
  T.checkerr("bad argument #1 to 'RandomResizedCrop' (expected a size (a number or {h, w}), got string)", TF.RandomResizedCrop, "big")
end)

-- bfloat16 output (uint8 -> float/bf16, as the GPU batches take it): the float32 result rounded
-- to nearest even, checked against the rounding done here on the bits.
local function bf16_round(v)
  local bits = string.unpack("<I4", string.pack("<f", v))
  bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
  return (string.unpack("<f", string.pack("<I4", (bits << 16) & 0xFFFFFFFF)))
end

T.test("bfloat16 output on the CPU", function()
  local x = rand_u8(5, 3, 12, 12)
  local mean, std = {0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616}
  local tf = TF.Compose{TF.RandomCrop(10, {padding = 2, padding_mode = "edge"}), TF.RandomHorizontalFlip(),
                        TF.ToFloat(), TF.Normalize(mean, std)}
  local a = TF.run_native(tf, x, G(3))
  local b = TF.run_native(tf, x, G(3), {dtype = "bfloat16"})
  T.check(b:dtype() == "bfloat16" and shape_is(b, {5, 3, 10, 10}), "run_native bfloat16 dtype and shape")
  local fa, fb = flat(a), flat(b:float())
  local bad = 0
  for k = 1, #fa do if fb[k] ~= bf16_round(fa[k]) then bad = bad + 1 end end
  T.check(bad == 0, bad .. " values are not the float32 result rounded to nearest even")
  T.check(TF.run_native(tf, x, G(3), {dtype = "float32"}):dtype() == "float32", "dtype float32 is the default")
  local tops, lefts, mask = {0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {true, false, true, false, true}
  local c = F.crop_flip_normalize(x, tops, lefts, 10, mask, mean, std, {padding = 2})
  local d = F.crop_flip_normalize(x, tops, lefts, 10, mask, mean, std, {padding = 2, dtype = "bfloat16"})
  T.check(d:dtype() == "bfloat16", "crop_flip_normalize bfloat16")
  local fc, fd = flat(c), flat(d:float())
  bad = 0
  for k = 1, #fc do if fd[k] ~= bf16_round(fc[k]) then bad = bad + 1 end end
  T.check(bad == 0, bad .. " crop_flip_normalize values are not rounded to nearest even")
  T.checkerr("dtype must be 'float32' or 'bfloat16', got float64", TF.run_native, tf, x, G(3), {dtype = "float64"})
  T.checkerr("dtype bfloat16 needs a float32 result", TF.run_native, TF.RandomCrop(10), x, G(3), {dtype = "bfloat16"})
  T.checkerr("unknown option 'dtpye'", TF.run_native, tf, x, G(3), {dtpye = "bfloat16"})
  T.checkerr("dtype must be 'float32' or 'bfloat16', got number",
             F.crop_flip_normalize, x, tops, lefts, 10, mask, mean, std, {dtype = 16})
  T.checkerr("unknown option 'dtype'", F.crop, x, tops, lefts, 10, {padding = 2, dtype = "bfloat16"})
end)

os.exit(T.done())
