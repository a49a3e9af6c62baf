-- test_transfer_cuda.lua — pinned memory, non_blocking host-to-device copies
-- on the copy stream, and the batched transforms on the GPU:
--   - pinned round trips (several dtypes, views, conversion on the way);
--   - non_blocking copies of 20 successive DataLoader batches (pin_memory,
--     device = "cuda", workers recycling their pinned buffers) equal the CPU
--     loader's batches exactly, and a kernel using each batch at once sees it;
--   - a pinned source dropped (and its memory handed out again) right after
--     a non_blocking copy does not corrupt the copy;
--   - the GPU transforms equal the CPU ones for the same draws (float32
--     exactly, bfloat16 within 1e-2), for every padding mode, uint8 and
--     float32 input, Compose, single built-ins, the functional forms and the
--     loader's generator; the same argument errors as the CPU.
-- Without a GPU it prints "skipped: no GPU" and exits 77 (ctest: skipped).
local T = require "luatrain.testing"
local lt = require "luatrain"

T.gpu_or_skip()

local TF = lt.transforms
local F = TF.functional

local function random_bytes(...)
  return (lt.rand(...) * 256):floor():clamp(0, 255):byte()
end

T.test("pinned round trips", function()
  for _, dt in ipairs{"float32", "uint8", "int64", "bfloat16", "float64"} do
    local t = (lt.randn(5, 7) * 50):to(dt)
    local p = t:pin_memory()
    T.check(p:is_pinned(), dt .. " pinned")
    local d = p:cuda{non_blocking = true}
    T.check(d:device() == "cuda:0" and d:dtype() == dt, dt .. " on the GPU")
    T.tensor_equal(d:cpu(), t, dt .. " round trip")
    T.tensor_equal(p:to("cuda", {non_blocking = true}):cpu(), t, dt .. " round trip through to()")
  end
  local t = lt.randn(6, 4)
  local p = t:pin_memory()
  T.tensor_equal(p:to("cuda", "float64", {non_blocking = true}):cpu(), t:double(), "converted on the way")
  T.tensor_equal(p:t():cuda{non_blocking = true}:cpu(), t:t(), "a non-contiguous pinned view (ordinary copy)")
  T.tensor_equal(p:narrow(1, 3, 2):cuda{non_blocking = true}:cpu(), t:narrow(1, 3, 2), "a contiguous pinned view")
  T.tensor_equal(t:cuda{non_blocking = true}:cpu(), t, "pageable source: the ordinary copy")
  T.check(not t:cuda():is_pinned(), "a GPU tensor is not pinned")
  T.checkerr("only CPU tensors can be pinned", function() return t:cuda():pin_memory() end)
  local w = lt.ones(3, {requires_grad = true})
  local y = w:pin_memory():cuda{non_blocking = true}
  T.check(not y.requires_grad, "pin_memory gives a tensor outside autograd")
  local z = w:cuda{non_blocking = true}
  z:sum():backward()
  T.tensor_equal(w.grad, lt.ones(3), "a tensor that requires grad keeps its gradient path")
end)

T.test("a kernel using the copy at once sees it", function()
  for k = 1, 20 do
    local t = lt.full({1 << 22}, k, {dtype = "float32"}) -- 16 MiB: the copy takes a while
    local p = t:pin_memory()
    local d = p:cuda{non_blocking = true}
    local s = (d * 2):sum():item()
    T.check(s == 2 * k * (1 << 22), string.format("copy %d: sum %g, expected %g", k, s, 2 * k * (1 << 22)))
  end
end)

T.test("a source dropped right after the copy", function()
  local outs = {}
  for k = 1, 20 do
    local p = lt.full({1 << 22}, k, {dtype = "float32"}):pin_memory()
    outs[k] = p:cuda{non_blocking = true}
    p = nil
    collectgarbage()
    collectgarbage()
    -- pinned memory of the same size, to take the old source's place if it had been freed
    local q = lt.full({1 << 22}, -k, {dtype = "float32"}):pin_memory()
    q:fill_(-1000)
  end
  for k = 1, 20 do
    local d = outs[k]
    T.check(d:min():item() == k and d:max():item() == k, "copy " .. k .. " holds its own values")
  end
end)

local function dataset(n)
  local images = random_bytes(n, 3, 32, 32)
  local labels = {}
  for k = 1, n do labels[k] = (k * 7) % 10 + 1 end
  return lt.data.TensorDataset(images, labels)
end

T.test("20 loader batches through the copy stream", function()
  local ds = dataset(20 * 64)
  local opts = {batch_size = 64, shuffle = true, seed = 11, num_workers = 2, prefetch = 2}
  local cpu = lt.data.DataLoader(ds, opts)
  local ref = {}
  for i, x, y in cpu:iter{epoch = 1} do ref[i] = {x:clone(), y:clone(), x:double():sum():item()} end
  opts.pin_memory, opts.device = true, "cuda"
  local gpu = lt.data.DataLoader(ds, opts)
  local n = 0
  for i, x, y in gpu:iter{epoch = 1} do
    n = n + 1
    T.check(x:device() == "cuda:0" and y:device() == "cuda:0", "batch " .. i .. " on the GPU")
    local s = x:double():sum():item() -- a kernel on the batch right away
    T.check(s == ref[i][3], string.format("batch %d: sum %g, expected %g", i, s, ref[i][3]))
    T.tensor_equal(x, ref[i][1], "images of batch " .. i)
    T.tensor_equal(y, ref[i][2], "labels of batch " .. i)
  end
  T.check(n == 20, "20 batches, got " .. n)
  -- batches kept across the whole epoch are all intact (buffers were not refilled under them)
  local kept = {}
  for i, x in gpu:iter{epoch = 1} do kept[i] = x end
  for i = 1, 20 do T.tensor_equal(kept[i], ref[i][1], "kept batch " .. i) end
  gpu:close()
end)

local MEAN, STD = {0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616}

T.test("GPU transforms equal the CPU ones", function()
  local x = random_bytes(33, 3, 32, 32)
  local xc = x:cuda()
  for _, mode in ipairs{"constant", "edge", "reflect", "symmetric"} do
    local tf = TF.Compose{TF.RandomCrop(32, {padding = 4, padding_mode = mode, fill = 17}), TF.RandomHorizontalFlip(),
                          TF.ToFloat(), TF.Normalize(MEAN, STD)}
    local g = lt.data.Generator(5)
    local cpu = TF.run_native(tf, x, g:clone())
    T.tensor_equal(TF.run_native(tf, xc, g:clone()):cpu(), cpu, "fused " .. mode)
    T.tensor_equal(tf(xc, g:clone()):cpu(), cpu, "Compose on the GPU, " .. mode)
    T.tensor_equal(tf(x, g:clone()), cpu, "step by step on the CPU, " .. mode)
    local b = TF.run_native(tf, xc, g:clone(), {dtype = "bfloat16"})
    T.check(b:dtype() == "bfloat16" and b:device() == "cuda:0", "bfloat16 on the GPU")
    T.tensor_close(b:cpu():float(), cpu, 1e-2, "bfloat16 " .. mode)
    T.tensor_equal(b:cpu(), TF.run_native(tf, x, g:clone(), {dtype = "bfloat16"}), "bfloat16 CPU and GPU " .. mode)
  end
  local g = lt.data.Generator(9)
  -- a crop of a different size, no flip, uint8 out
  local crop = TF.RandomCrop({24, 20}, {padding = 3})
  T.tensor_equal(crop(xc, g:clone()):cpu(), crop(x, g:clone()), "RandomCrop alone (uint8)")
  local flip = TF.RandomHorizontalFlip(0.3)
  T.tensor_equal(flip(xc, g:clone()):cpu(), flip(x, g:clone()), "RandomHorizontalFlip alone")
  T.tensor_equal(TF.ToFloat()(xc):cpu(), TF.ToFloat()(x), "ToFloat alone")
  -- float32 input
  local xf = x:float() / 255
  local tff = TF.Compose{TF.RandomCrop(28, {padding = 2, padding_mode = "reflect"}), TF.RandomHorizontalFlip(),
                         TF.Normalize(MEAN, STD)}
  T.tensor_equal(tff(xf:cuda(), g:clone()):cpu(), tff(xf, g:clone()), "float32 input")
  -- a single image, and an empty batch
  T.tensor_equal(TF.run_native(TF.Compose{TF.RandomCrop(32, {padding = 4}), TF.ToFloat()}, xc[1], g:clone()):cpu(),
                 TF.run_native(TF.Compose{TF.RandomCrop(32, {padding = 4}), TF.ToFloat()}, x[1], g:clone()), "one image")
  T.check(TF.run_native(TF.Compose{TF.RandomCrop(32, {padding = 4}), TF.ToFloat()}, xc:narrow(1, 1, 0), g:clone())
            :shape()[1] == 0, "an empty batch")
  -- what has no kernel says so
  T.checkerr("has no CUDA kernel", function() return TF.RandomVerticalFlip()(xc, g:clone()) end)
  T.checkerr("runs on the CPU only", function() return F.vflip(xc) end)
end)

T.test("GPU functional forms equal the CPU ones", function()
  local x = random_bytes(8, 3, 16, 16)
  local xc = x:cuda()
  local tops, lefts = {0, 1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1, 0}
  local mask = {true, false, true, true, false, false, true, false}
  for _, mode in ipairs{"constant", "edge", "reflect", "symmetric"} do
    local o = {padding = 4, padding_mode = mode, fill = 3}
    T.tensor_equal(F.crop(xc, tops, lefts, 16, o):cpu(), F.crop(x, tops, lefts, 16, o), "crop " .. mode)
    local a = F.crop_flip_normalize(x, tops, lefts, {16, 14}, mask, MEAN, STD, o)
    T.tensor_equal(F.crop_flip_normalize(xc, tops, lefts, {16, 14}, mask, MEAN, STD, o):cpu(), a, "fused " .. mode)
    o.dtype = "bfloat16"
    local b = F.crop_flip_normalize(xc, tops, lefts, {16, 14}, mask, MEAN, STD, o)
    T.check(b:dtype() == "bfloat16", "bfloat16 output")
    T.tensor_close(b:cpu():float(), a, 1e-2, "fused bfloat16 " .. mode)
    T.tensor_equal(b:cpu(), F.crop_flip_normalize(x, tops, lefts, {16, 14}, mask, MEAN, STD, o), "bfloat16 CPU = GPU")
  end
  T.tensor_equal(F.hflip(xc, mask):cpu(), F.hflip(x, mask), "hflip")
  T.tensor_equal(F.hflip(xc):cpu(), F.hflip(x), "hflip all")
  T.tensor_equal(F.to_float(xc):cpu(), F.to_float(x), "to_float")
  T.tensor_equal(F.normalize(F.to_float(xc), MEAN, STD):cpu(), F.normalize(F.to_float(x), MEAN, STD), "normalize")
  -- the same argument errors
  local bad = {0, 1, 2, 3, 4, 5, 6, 99}
  local ok, cpu_err = pcall(F.crop, x, bad, lefts, 16, {padding = 4})
  T.check(not ok, "bad offset on the CPU")
  T.checkerr("crop offset (99, 0) of sample 8 is outside", F.crop, xc, bad, lefts, 16, {padding = 4})
  T.check(cpu_err:find("crop offset (99, 0) of sample 8 is outside", 1, true) ~= nil, "the CPU says the same: " .. cpu_err)
  T.checkerr("reflect padding 16 must be smaller", F.crop, xc, tops, lefts, 16, {padding = 16, padding_mode = "reflect"})
  T.checkerr("std of channel 2 is zero", F.normalize, F.to_float(xc), {0, 0, 0}, {1, 0, 1})
end)

T.test("the loader's draws on the GPU", function()
  local ds = dataset(5 * 32)
  local tf = TF.Compose{TF.RandomCrop(32, {padding = 4}), TF.RandomHorizontalFlip(), TF.ToFloat(), TF.Normalize(MEAN, STD)}
  local seed = 21
  -- the CPU loader runs the transforms in its workers
  local cpu = lt.data.DataLoader(ds, {batch_size = 32, shuffle = true, seed = seed, num_workers = 2, transform = tf})
  local ref = {}
  for i, x in cpu:iter{epoch = 4} do ref[i] = x:clone() end
  -- uint8 batches to the GPU, the same transforms there with the batch's generator
  local gpu = lt.data.DataLoader(ds, {batch_size = 32, shuffle = true, seed = seed, num_workers = 2,
                                      pin_memory = true, device = "cuda"})
  for i, x in gpu:iter{epoch = 4} do
    T.tensor_equal(tf(x, lt.data.Generator(seed, 4, i)):cpu(), ref[i], "batch " .. i)
  end
end)

lt.cuda.synchronize()
os.exit(T.done())
