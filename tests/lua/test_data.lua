-- test_data.lua — lt.data datasets through Lua: CIFAR-10/100 binary files,
-- plain and gzipped IDX files and a folder of PNGs, all written by this test
-- (every pixel and label checked), Fashion-MNIST from the Debian package,
-- TensorDataset, Subset, random_split, datasets written in Lua, and the
-- error messages for missing folders, corrupt files and bad arguments.
local T = require "luatrain.testing"
local D = lt.data

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local function bytes_of(list)
  local parts = {}
  for k = 1, #list, 4096 do parts[#parts + 1] = string.char(table.unpack(list, k, math.min(k + 4095, #list))) end
  return table.concat(parts)
end

-- every element of a tensor, flat
local function flat(t) return t:contiguous():view(-1):tolist() end

local function same_list(a, b)
  if #a ~= #b then return false end
  for k = 1, #a do if a[k] ~= b[k] then return false, k end end
  return true
end

-- ---- CIFAR ----------------------------------------------------------------------

-- Pixel j (0-based, channel-planar) of image `id`: a pattern that differs
-- between images, channels and positions.
local function cifar_pixel(id, j) return (id * 37 + j * 11 + (j // 1024) * 101) % 256 end

-- Writes `count` records starting at image id `first`; label = id % 10 (0-based in the file).
local function cifar10_file(path, first, count)
  local rec = {}
  for id = first, first + count - 1 do
    rec[#rec + 1] = id % 10
    for j = 0, 3071 do rec[#rec + 1] = cifar_pixel(id, j) end
  end
  write(path, bytes_of(rec))
end

local c10 = tmp .. "/cifar-10-batches-bin"
os.execute("mkdir -p " .. c10)
for b = 1, 5 do cifar10_file(string.format("%s/data_batch_%d.bin", c10, b), (b - 1) * 3, 3) end
cifar10_file(c10 .. "/test_batch.bin", 100, 4)

T.test("CIFAR10 reads every pixel and label", function()
  local ds = D.CIFAR10{root = c10, train = true}
  T.check(#ds == 15, "15 training images")
  T.check(#ds.classes == 10 and ds.classes[1] == "airplane" and ds.classes[10] == "truck", "class names")
  local all_ok = true
  for i = 1, #ds do
    local img, label = ds:get(i)
    local id = i - 1
    local s = img:shape()
    if img:dtype() ~= "uint8" or #s ~= 3 or s[1] ~= 3 or s[2] ~= 32 or s[3] ~= 32 then all_ok = false end
    if label ~= id % 10 + 1 then all_ok = false end
    local px = flat(img)
    for j = 0, 3071 do if px[j + 1] ~= cifar_pixel(id, j) then all_ok = false break end end
  end
  T.check(all_ok, "every training image and label")
  T.check(ds.data:shape()[1] == 15 and ds.targets[15]:item() == 14 % 10 + 1, "ds.data / ds.targets")
  local test = D.CIFAR10{root = c10, train = false}
  T.check(#test == 4, "4 test images")
  local img, label = test:get(4)
  T.check(label == 103 % 10 + 1 and flat(img)[3072] == cifar_pixel(103, 3071), "last test image")
  T.check(tostring(ds):find("CIFAR10(15 samples, uint8 [3,32,32], 10 classes)", 1, true) ~= nil, "tostring")
end)

T.test("CIFAR10 errors", function()
  T.checkerr("CIFAR10: folder '" .. tmp .. "/nowhere' does not exist; get it with: bash scripts/get_cifar10.sh",
             D.CIFAR10, {root = tmp .. "/nowhere"})
  local bad = tmp .. "/cifar-bad"
  os.execute("mkdir -p " .. bad)
  for b = 1, 5 do cifar10_file(string.format("%s/data_batch_%d.bin", bad, b), 0, 2) end
  T.checkerr("CIFAR10: cannot open '" .. bad .. "/test_batch.bin'", D.CIFAR10, {root = bad, train = false})
  -- a truncated record
  write(bad .. "/test_batch.bin", string.rep("\0", 3073 + 100))
  T.checkerr("test_batch.bin' is 3173 bytes", D.CIFAR10, {root = bad, train = false})
  -- a label byte out of range in the second record: offset 3073
  local rec = {}
  for r = 1, 2 do
    rec[#rec + 1] = r == 2 and 12 or 3
    for _ = 1, 3072 do rec[#rec + 1] = 0 end
  end
  write(bad .. "/test_batch.bin", bytes_of(rec))
  T.checkerr("CIFAR10: label 12 at byte offset 3073 of '" .. bad .. "/test_batch.bin' is out of range", D.CIFAR10,
             {root = bad, train = false})
  T.checkerr("bad argument #1 to 'CIFAR10' (unknown option 'coarse'", D.CIFAR10, {root = c10, coarse = true})
  T.checkerr("bad argument #1 to 'CIFAR10' (train must be a boolean", D.CIFAR10, {root = c10, train = "yes"})
end)

T.test("CIFAR100 fine and coarse labels", function()
  local dir = tmp .. "/cifar-100-binary"
  os.execute("mkdir -p " .. dir)
  local function file(path, n, base)
    local rec = {}
    for k = 0, n - 1 do
      rec[#rec + 1] = (base + k) % 20
      rec[#rec + 1] = (base + k * 7) % 100
      for j = 0, 3071 do rec[#rec + 1] = cifar_pixel(base + k, j) end
    end
    write(path, bytes_of(rec))
  end
  file(dir .. "/train.bin", 5, 40)
  file(dir .. "/test.bin", 2, 90)
  local fine, coarse = D.CIFAR100{root = dir}, D.CIFAR100{root = dir, coarse = true}
  T.check(#fine == 5 and #fine.classes == 100 and #coarse.classes == 20, "sizes and class counts")
  local ok = true
  for i = 1, 5 do
    local k = i - 1
    local img, lf = fine:get(i)
    local _, lc = coarse:get(i)
    if lf ~= (40 + k * 7) % 100 + 1 or lc ~= (40 + k) % 20 + 1 or flat(img)[1 + 2000] ~= cifar_pixel(40 + k, 2000) then ok = false end
  end
  T.check(ok, "fine labels, coarse labels and pixels")
  T.check(#D.CIFAR100{root = dir, train = false} == 2, "test split")
  T.checkerr("download cifar-100-binary.tar.gz", D.CIFAR100, {root = tmp .. "/none"})
end)

-- ---- IDX (MNIST layout) ----------------------------------------------------------

local function be32(v) return string.pack(">I4", v) end

local function idx_pixel(i, r, c) return (i * 13 + r * 5 + c * 3) % 256 end

local function write_idx(dir, prefix, n, rows, cols, gz)
  local img = {}
  for i = 0, n - 1 do
    for r = 0, rows - 1 do for c = 0, cols - 1 do img[#img + 1] = idx_pixel(i, r, c) end end
  end
  local lab = {}
  for i = 0, n - 1 do lab[#lab + 1] = (i * 3) % 10 end
  local ip, lp = dir .. "/" .. prefix .. "-images-idx3-ubyte", dir .. "/" .. prefix .. "-labels-idx1-ubyte"
  write(ip, be32(0x803) .. be32(n) .. be32(rows) .. be32(cols) .. bytes_of(img))
  write(lp, be32(0x801) .. be32(n) .. bytes_of(lab))
  if gz then
    assert(os.execute("gzip -f " .. ip .. " " .. lp))
  end
end

T.test("MNIST from plain and gzipped IDX files", function()
  local dir = tmp .. "/mnist"
  os.execute("mkdir -p " .. dir)
  write_idx(dir, "train", 7, 5, 6, false)
  write_idx(dir, "t10k", 4, 5, 6, true)
  for _, train in ipairs{true, false} do
    local ds = D.MNIST{root = dir, train = train}
    local n = train and 7 or 4
    T.check(#ds == n, "size")
    local ok = true
    for i = 1, n do
      local img, label = ds:get(i)
      local s = img:shape()
      if s[1] ~= 1 or s[2] ~= 5 or s[3] ~= 6 or label ~= ((i - 1) * 3) % 10 + 1 then ok = false end
      local px = flat(img)
      for r = 0, 4 do for c = 0, 5 do
        if px[r * 6 + c + 1] ~= idx_pixel(i - 1, r, c) then ok = false end
      end end
    end
    T.check(ok, (train and "plain" or "gzipped") .. " IDX: every pixel and label")
  end
  T.check(D.MNIST{root = dir}.classes[1] == "0", "MNIST classes are the digits")
  -- a labels file with the images' magic number
  local bad = tmp .. "/mnist-bad"
  os.execute("mkdir -p " .. bad)
  write_idx(bad, "train", 2, 2, 2, false)
  write(bad .. "/train-labels-idx1-ubyte", be32(0x803) .. be32(2) .. "\0\1")
  T.checkerr("MNIST: bad magic number 0x00000803 at offset 0 of '" .. bad .. "/train-labels-idx1-ubyte'", D.MNIST, {root = bad})
  -- a gzipped file cut short
  write_idx(bad, "t10k", 50, 8, 8, true)
  local f = assert(io.open(bad .. "/t10k-images-idx3-ubyte.gz", "rb"))
  local data = f:read("a")
  f:close()
  write(bad .. "/t10k-images-idx3-ubyte.gz", data:sub(1, #data // 2))
  T.checkerr("MNIST: '" .. bad .. "/t10k-images-idx3-ubyte.gz': gzip stream truncated at byte offset", D.MNIST,
             {root = bad, train = false})
  T.checkerr("put the four MNIST IDX files", D.MNIST, {root = tmp .. "/no-mnist"})
end)

T.test("Fashion-MNIST from the Debian package", function()
  local f = io.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "rb")
  if not f then
    print("skipped: dataset-fashion-mnist is not installed")
    T.checkerr("apt-get install dataset-fashion-mnist", D.FashionMNIST, {})
    return
  end
  f:close()
  local train, test = D.FashionMNIST{train = true}, D.FashionMNIST{train = false}
  T.check(#train == 60000 and #test == 10000, "60000 / 10000 images")
  T.check(train.classes[1] == "T-shirt/top" and train.classes[10] == "Ankle boot", "class names")
  for _, ds in ipairs{train, test} do
    local y = ds.targets
    T.check(y:min():item() == 1 and y:max():item() == 10, "labels span 1..10")
    local counts = {}
    for _, v in ipairs(y:tolist()) do counts[v] = (counts[v] or 0) + 1 end
    local balanced = true
    for k = 1, 10 do if counts[k] ~= #ds // 10 then balanced = false end end
    T.check(balanced, "every class has a tenth of the images")
  end
  local img, label = test:get(1)
  local s = img:shape()
  T.check(s[1] == 1 and s[2] == 28 and s[3] == 28 and img:dtype() == "uint8", "images are uint8 [1,28,28]")
  T.check(label == 10, "the first test image is an ankle boot")
  T.checkerr("FashionMNIST: folder '" .. tmp .. "/nofm' does not exist; install it with: apt-get install dataset-fashion-mnist",
             D.FashionMNIST, {root = tmp .. "/nofm"})
end)

-- ---- a folder of PNGs -------------------------------------------------------------

local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1) ~= 0 and (0xEDB88320 ~ (c >> 1)) or (c >> 1) end
  crc_table[i] = c
end
local function crc32(s)
  local c = 0xFFFFFFFF
  for k = 1, #s do c = crc_table[(c ~ s:byte(k)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end
local function adler32(s)
  local a, b = 1, 0
  for k = 1, #s do
    a = (a + s:byte(k)) % 65521
    b = (b + a) % 65521
  end
  return (b << 16) | a
end
local function chunk(kind, data) return be32(#data) .. kind .. data .. be32(crc32(kind .. data)) end

-- An uncompressed PNG (zlib stored blocks): pixels(r, c) returns the
-- channel values (1 for grey, 3 for RGB).
local function write_png(path, h, w, channels, pixels)
  local raw = {}
  for r = 0, h - 1 do
    raw[#raw + 1] = 0 -- filter: none
    for c = 0, w - 1 do
      local px = {pixels(r, c)}
      for k = 1, channels do raw[#raw + 1] = px[k] end
    end
  end
  local data = bytes_of(raw)
  local z = {"\x78\x01"}
  local pos = 1
  repeat
    local piece = data:sub(pos, pos + 65534)
    pos = pos + #piece
    z[#z + 1] = string.char(pos > #data and 1 or 0) .. string.pack("<I2I2", #piece, (~#piece) & 0xFFFF) .. piece
  until pos > #data
  z[#z + 1] = be32(adler32(data))
  local ihdr = be32(w) .. be32(h) .. string.char(8, channels == 1 and 0 or 2, 0, 0, 0)
  write(path, "\x89PNG\r\n\x1a\n" .. chunk("IHDR", ihdr) .. chunk("IDAT", table.concat(z)) .. chunk("IEND", ""))
end

local function rgb(id) return function(r, c) return (id * 50 + r * 7) % 256, (id * 30 + c * 11) % 256, (r * c + id) % 256 end end

local folder = tmp .. "/pngs"
os.execute("mkdir -p " .. folder .. "/dog " .. folder .. "/cat/more " .. folder .. "/bird")
-- torchvision's order: classes sorted; files by folder path, then name
local samples = {
  {"bird/b1.png", 1, rgb(1)}, {"cat/a.png", 2, rgb(2)}, {"cat/z.PNG", 2, rgb(3)}, {"cat/more/m.png", 2, rgb(4)},
  {"dog/d0.png", 3, nil}, {"dog/d1.png", 3, rgb(5)},
}

T.test("ImageFolder: classes, order, labels and every pixel", function()
  for _, s in ipairs(samples) do
    if s[3] then write_png(folder .. "/" .. s[1], 6, 5, 3, s[3])
    else write_png(folder .. "/" .. s[1], 6, 5, 1, function(r, c) return (r * 40 + c) % 256 end) end
  end
  local ds = D.ImageFolder{root = folder}
  T.check(#ds == 6, "6 images")
  T.check(same_list(ds.classes, {"bird", "cat", "dog"}), "classes are the sorted sub-folders")
  local ok = true
  for i, s in ipairs(samples) do
    local img, label = ds:get(i)
    if label ~= s[2] then ok = false end
    local sh = img:shape()
    if sh[1] ~= 3 or sh[2] ~= 6 or sh[3] ~= 5 then ok = false end
    local px = flat(img)
    for r = 0, 5 do for c = 0, 4 do
      local want = s[3] and {s[3](r, c)} or {(r * 40 + c) % 256, (r * 40 + c) % 256, (r * 40 + c) % 256}
      for ch = 1, 3 do if px[(ch - 1) * 30 + r * 5 + c + 1] ~= want[ch] then ok = false end end
    end end
  end
  T.check(ok, "labels and pixels (grey replicated to 3 channels), in torchvision's order")
  -- resizing matches the bilinear resize of the transforms
  local small = D.ImageFolder{root = folder, size = {4, 7}}
  local img = small:get(2)
  local ref = lt.transforms.functional.resize(ds:get(2), {4, 7})
  T.check(img:eq(ref):all():item(), "size= resizes as transforms.functional.resize")
  -- through the loader, decoded in worker threads
  local loader = D.DataLoader(ds, {batch_size = 4, num_workers = 2, seed = 3})
  local got = 0
  for _, images, labels in loader:iter() do
    for k = 1, labels:size(1) do
      got = got + 1
      if not images[k]:eq(ds:get(got)):all():item() or labels[k]:item() ~= samples[got][2] then ok = false end
    end
  end
  T.check(ok and got == 6, "the loader yields the same images")
  T.checkerr("ImageFolder: folder '" .. tmp .. "/nope' does not exist", D.ImageFolder, {root = tmp .. "/nope"})
  T.checkerr("bad argument #1 to 'ImageFolder' (on_error must be 'error' or 'skip'", D.ImageFolder, {root = folder, on_error = "ignore"})
  T.checkerr("bad argument #1 to 'ImageFolder' (root is required", D.ImageFolder, {})
end)

T.test("ImageFolder: unreadable images", function()
  local dir = tmp .. "/pngs-bad"
  os.execute("mkdir -p " .. dir .. "/a " .. dir .. "/b")
  for k = 1, 5 do write_png(string.format("%s/a/%d.png", dir, k), 4, 4, 3, rgb(k)) end
  write_png(dir .. "/b/1.png", 4, 4, 3, rgb(9))
  write(dir .. "/a/3x.png", "this is not a png")
  -- on_error = "error": the loop raises, naming the file
  local ds = D.ImageFolder{root = dir, size = 4}
  local loader = D.DataLoader(ds, {batch_size = 2, num_workers = 2})
  T.checkerr("DataLoader: '" .. dir .. "/a/3x.png': not a JPEG or PNG image (it starts with the bytes 74 68 69 73 20 69 73 20)", function()
    for _ in loader:iter() do end
  end)
  T.checkerr("get: '" .. dir .. "/a/3x.png': not a JPEG or PNG image", ds.get, ds, 4)
  -- on_error = "skip" in a child process, to see its stderr
  local script = tmp .. "/skip.lua"
  write(script, string.format([[
    local ds = lt.data.ImageFolder{root = %q, size = 4, on_error = "skip"}
    local n, labels = 0, {}
    for epoch = 1, 2 do
      for _, images, y in lt.data.DataLoader(ds, {batch_size = 3, num_workers = 2}):iter() do
        n = n + y:size(1)
        for _, v in ipairs(y:tolist()) do labels[#labels + 1] = v end
        assert(images:size(1) == y:size(1))
      end
    end
    print("samples " .. n .. " labels " .. table.concat(labels, ","))
  ]], dir))
  local p = io.popen(string.format("LUATRAIN_PATH=%q %q %q 2>&1", os.getenv("LUATRAIN_PATH") or "", arg[-1], script))
  local out = p:read("a")
  p:close()
  T.check(out:find("samples 12 labels 1,1,1,1,1,2,1,1,1,1,1,2", 1, true) ~= nil, "skipped: 6 readable images per epoch: " .. out)
  local _, warnings = out:gsub("warning: ImageFolder: skipping an unreadable image: '[^']*3x.png': not a JPEG or PNG image", "")
  T.check(warnings == 1, "one warning naming the file, not one per epoch: " .. out)
  -- (each loop is a new loader's first epoch)
  local _, totals = out:gsub("warning: DataLoader: 1 of 7 images skipped in epoch 1 as unreadable", "")
  T.check(totals == 2, "the total at the end of each epoch: " .. out)
end)

-- ---- TensorDataset, Subset, random_split --------------------------------------------------

T.test("TensorDataset", function()
  local x = lt.arange(0, 24, {dtype = "uint8"}):view(4, 1, 2, 3)
  local ds = D.TensorDataset(x, lt.tensor{3, 1, 2, 3})
  T.check(#ds == 4 and #ds.classes == 3 and ds.classes[3] == "3", "size and numbered classes")
  local img, label = ds:get(2)
  T.check(label == 1 and same_list(flat(img), {6, 7, 8, 9, 10, 11}), "get")
  local named = D.TensorDataset(x:float(), {1, 2, 2, 1}, {classes = {"no", "yes"}})
  T.check(named.classes[2] == "yes" and named:get(4):dtype() == "float32", "float images, table labels, class names")
  T.checkerr("bad argument #2 to 'TensorDataset' (label 4 of sample 2 is outside 1..3 (labels are 1-based))",
             D.TensorDataset, x, lt.tensor{1, 4, 2, 3}, {num_classes = 3})
  T.checkerr("bad argument #2 to 'TensorDataset' (label 0 of sample 1 is < 1 (labels are 1-based))", D.TensorDataset, x, {0, 1, 2, 3})
  T.checkerr("bad argument #2 to 'TensorDataset' (label 3 of sample 1 is outside 1..2", D.TensorDataset, x, {3, 1, 2, 1},
             {classes = {"a", "b"}})
  T.checkerr("bad argument #2 to 'TensorDataset' (expected labels [4] (one per image), got shape [3])", D.TensorDataset, x,
             lt.tensor{1, 2, 3})
  T.checkerr("bad argument #2 to 'TensorDataset' (expected 4 labels (one per image), got a table of 2)", D.TensorDataset, x, {1, 2})
  T.checkerr("bad argument #2 to 'TensorDataset' (labels must be an integer tensor, got float32)", D.TensorDataset, x,
             lt.tensor{1.0, 2, 3, 4})
  T.checkerr("bad argument #1 to 'TensorDataset' (expected a tensor, got table)", D.TensorDataset, {}, {})
  T.checkerr("bad argument #3 to 'TensorDataset' (unknown option 'nclasses'", D.TensorDataset, x, {1, 1, 1, 1}, {nclasses = 2})
  T.checkerr("bad argument #2 to 'get' (index 5 is outside 1..4)", ds.get, ds, 5)
  T.checkerr("bad argument #2 to 'get' (index 0 is outside 1..4)", ds.get, ds, 0)
end)

T.test("Subset and random_split", function()
  local x = lt.arange(0, 10):view(10, 1)
  local ds = D.TensorDataset(x, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
  local sub = D.Subset(ds, {10, 1, 5})
  T.check(#sub == 3 and select(2, sub:get(1)) == 10 and select(2, sub:get(3)) == 5, "table indices")
  local sub2 = D.Subset(sub, lt.tensor{3, 2})
  T.check(#sub2 == 2 and select(2, sub2:get(1)) == 5 and sub2:get(2)[1]:item() == 0, "a subset of a subset, tensor indices")
  T.check(sub2.classes == ds.classes, "classes carried over")
  T.checkerr("bad argument #2 to 'Subset' (index 11 at position 2 is outside 1..10)", D.Subset, ds, {1, 11})
  T.checkerr("bad argument #2 to 'Subset' (index 0 at position 1 is outside 1..10)", D.Subset, ds, {0})
  T.checkerr("bad argument #1 to 'Subset' (expected a dataset", D.Subset, 42, {1})
  local parts = D.random_split(ds, {6, 3, 1}, 7)
  T.check(#parts[1] == 6 and #parts[2] == 3 and #parts[3] == 1, "lengths")
  local seen, dup = {}, false
  for _, p in ipairs(parts) do
    for i = 1, #p do
      local _, l = p:get(i)
      if seen[l] then dup = true end
      seen[l] = true
    end
  end
  local all = true
  for l = 1, 10 do all = all and seen[l] == true end
  T.check(all and not dup, "the parts cover the dataset without overlap")
  local again = D.random_split(ds, {6, 3, 1}, 7)
  T.check(select(2, again[1]:get(1)) == select(2, parts[1]:get(1)) and select(2, again[2]:get(3)) == select(2, parts[2]:get(3)),
          "the same seed gives the same split")
  local fr = D.random_split(ds, {0.5, 0.3, 0.2}, 1)
  T.check(#fr[1] == 5 and #fr[2] == 3 and #fr[3] == 2, "fractions")
  local fr2 = D.random_split(D.Subset(ds, {1, 2, 3, 4, 5, 6, 7}), {0.5, 0.5}, 1)
  T.check(#fr2[1] == 4 and #fr2[2] == 3, "fraction remainders go to the first parts")
  T.checkerr("bad argument #2 to 'random_split' (lengths sum to 9 but the dataset has 10 samples)", D.random_split, ds, {6, 3}, 1)
end)

T.test("datasets written in Lua", function()
  local squares = setmetatable({}, {__len = function() return 5 end, __index = {
    get = function(self, i) return lt.full({1, 2, 2}, i * i, {dtype = "uint8"}), i end}})
  local sub = D.Subset(squares, {5, 2})
  local img, label = sub:get(1)
  T.check(label == 5 and img[1][1][1]:item() == 25 and #sub == 2, "a Subset of a Lua dataset")
  T.checkerr("bad argument #2 to 'Subset' (index 6 at position 1 is outside 1..5)", D.Subset, squares, {6})
  local parts = D.random_split(squares, {3, 2}, 5)
  T.check(#parts[1] == 3 and #parts[2] == 2, "random_split of a Lua dataset")
end)

os.execute("rm -rf " .. tmp)
os.exit(T.done())
