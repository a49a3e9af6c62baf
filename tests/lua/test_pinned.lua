-- test_pinned.lua — pinned memory and non_blocking copies, the parts that run
-- on any machine: is_pinned, pin_memory's errors without a GPU (or its result
-- with one), the non_blocking option of t:to / t:cuda (checking, and the
-- ordinary copy it falls back to), and the DataLoader's pin_memory option
-- (ignored with a warning without a GPU, as PyTorch does). The GPU side is
-- tests/lua/test_transfer_cuda.lua.
local T = require "luatrain.testing"
local lt = require "luatrain"

local GPU = lt.cuda.is_available()

T.test("is_pinned is false for ordinary tensors", function()
  local t = lt.arange(12):view(3, 4)
  T.check(t:is_pinned() == false, "a new tensor is not pinned")
  T.check(t:narrow(1, 2, 1):is_pinned() == false, "nor a view")
  T.check(lt.zeros(0):is_pinned() == false, "nor an empty tensor")
end)

T.test("pin_memory", function()
  local t = lt.arange(12, {dtype = "float32"}):view(3, 4)
  if not GPU then
    T.checkerr("pinned memory needs", function() return t:pin_memory() end)
    return
  end
  local p = t:pin_memory()
  T.check(p:is_pinned(), "pin_memory gives a pinned tensor")
  T.check(not t:is_pinned(), "and leaves the original alone")
  T.tensor_equal(p, t, "pinned copy")
  T.check(rawequal(p:pin_memory(), p) or p:pin_memory():is_pinned(), "pinning a pinned tensor keeps it pinned")
  local v = t:t():pin_memory()
  T.check(v:is_contiguous(), "the pinned copy of a transposed view is contiguous")
  T.tensor_equal(v, t:t(), "pinned copy of a view")
  T.check(p:narrow(1, 2, 2):is_pinned(), "a view of pinned memory is pinned")
  T.check(not p:clone():is_pinned(), "a clone is ordinary memory")
end)

T.test("non_blocking option checking", function()
  local t = lt.arange(6):view(2, 3)
  T.checkerr("non_blocking must be a boolean, got number", function() return t:to("cpu", {non_blocking = 1}) end)
  T.checkerr("non_blocking must be a boolean, got string", function() return t:cuda{non_blocking = "yes"} end)
  T.checkerr("unknown option 'foo'", function() return t:cuda{non_blocking = true, foo = 1} end)
  T.checkerr("unknown option 'foo'", function() return t:to{dtype = "float32", non_blocking = true, foo = 1} end)
  T.checkerr("device must be a CUDA device", function() return t:cuda{device = "cpu"} end)
  T.checkerr("expected an options table", function() return t:cuda(0, 5) end)
end)

T.test("non_blocking without a GPU copy is the ordinary copy", function()
  local t = lt.arange(6):view(2, 3)
  local opts = {non_blocking = true}
  local f = t:to("float32", opts)
  T.check(f:dtype() == "float32", "dtype conversion with non_blocking")
  T.tensor_equal(f, t:float(), "converted values")
  T.check(opts.non_blocking == true and next(opts, "non_blocking") == nil, "the caller's options table is left alone")
  T.check(rawequal(t:to("cpu", {non_blocking = true}), t), "same device and dtype: the tensor itself")
  local g = t:to{dtype = "float64", non_blocking = false}
  T.check(g:dtype() == "float64", "options table with dtype and non_blocking")
  -- non_blocking to the CPU from the CPU, and the gradient path
  local w = lt.ones(3, {requires_grad = true})
  local y = w:to("float64", {non_blocking = true})
  y:sum():backward()
  T.tensor_equal(w.grad, lt.ones(3), "a tensor that requires grad still gets its gradient")
  if not GPU then
    T.checkerr("is not available", function() return t:to("cuda", {non_blocking = true}) end)
    T.checkerr("is not available", function() return t:cuda{non_blocking = true} end)
    T.checkerr("is not available", function() return t:cuda(0, {non_blocking = true}) end)
  end
end)

local function tensor_dataset(n)
  local images = lt.arange(n * 3 * 4 * 4):remainder(251):byte():view(n, 3, 4, 4)
  local labels = {}
  for k = 1, n do labels[k] = (k - 1) % 5 + 1 end
  return lt.data.TensorDataset(images, labels), images
end

T.test("DataLoader pin_memory", function()
  local ds, images = tensor_dataset(10)
  T.checkerr("pin_memory must be a boolean", function() return lt.data.DataLoader(ds, {pin_memory = 1}) end)
  local loader = lt.data.DataLoader(ds, {batch_size = 4, pin_memory = true, num_workers = 1, seed = 3})
  T.check(loader.pin_memory == GPU, "pin_memory is kept with a GPU and dropped without one")
  local seen = 0
  for i, x, y in loader:iter() do
    T.check(x:is_pinned() == GPU and y:is_pinned() == GPU, "batch " .. i .. " pinned only with a GPU")
    T.check(x:dtype() == "uint8" and y:dtype() == "int64", "batch dtypes")
    seen = seen + x:shape()[1]
  end
  T.check(seen == 10, "every sample once")
  -- the same batches as without pin_memory
  local plain = lt.data.DataLoader(ds, {batch_size = 4, seed = 3})
  local a, b = {}, {}
  for i, x, y in loader:iter{epoch = 2} do a[i] = {x:clone(), y:clone()} end
  for i, x, y in plain:iter{epoch = 2} do b[i] = {x, y} end
  for i = 1, 3 do
    T.tensor_equal(a[i][1], b[i][1], "images of batch " .. i)
    T.tensor_equal(a[i][2], b[i][2], "labels of batch " .. i)
  end
  -- a Lua dataset goes through the same option
  local lua_ds = setmetatable({}, {__len = function() return 5 end, __index = {get = function(_, i)
    return images[i], (i - 1) % 5 + 1 end}})
  local l2 = lt.data.DataLoader(lua_ds, {batch_size = 2, pin_memory = true})
  for _, x in l2:iter() do T.check(x:is_pinned() == GPU, "Lua dataset batch pinned only with a GPU") end
  loader:close()
end)

T.test("DataLoader pin_memory without a GPU warns on stderr", function()
  if GPU then return end
  local bin, root = T.luatrain_paths()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local ds = lt.data.TensorDataset(lt.zeros(4, 1, 2, 2, {dtype = "uint8"}), {1, 2, 1, 2})
local l = lt.data.DataLoader(ds, {batch_size = 2, pin_memory = true})
for _, x in l:iter() do assert(not x:is_pinned()) end
print("ok")
]])
  f:close()
  local cmd = string.format("cd %q && LUATRAIN_PATH=%q %q %q 2>&1", root, root .. "/lua", bin, script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(script)
  T.check(out:find("pin_memory=true but no GPU is available", 1, true) ~= nil, "the warning: " .. out)
  T.check(out:find("ok", 1, true) ~= nil, "the loop runs: " .. out)
end)

T.test("DataLoader checks that a GPU device is usable", function()
  if GPU then return end
  local ds = tensor_dataset(4)
  T.checkerr("device 'cuda' is not usable", function() return lt.data.DataLoader(ds, {device = "cuda"}) end)
  T.checkerr("device 'cuda' is not usable", function()
    return lt.data.DataLoader(ds, {device = "cuda", pin_memory = true}) end)
end)

os.exit(T.done())
