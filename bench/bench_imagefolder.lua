-- bench/bench_imagefolder.lua — ImageFolder throughput on the CPU: a folder
-- of 500 real-size JPEGs (500x375, quality 90, 4:2:0, 10 classes; smooth
-- patterns plus noise, written by this script with lt.data.write_jpeg from a
-- fixed seed) decoded and resized to 224x224 and to 32x32 through the
-- DataLoader, for 0 and 2 worker threads; at 32 also without the JPEG draft
-- (DCT scaling), to show what it saves.
--
--   luatrain bench/bench_imagefolder.lua [folder=/tmp/luatrain-bench-jpeg] [epochs=2]
--
-- Reference, measured in the same run: lt.data.load_image of every file at
-- its own size on one thread, i.e. libjpeg-turbo's full decode (plus the
-- file read and the split into planes) with no resize; "ratio" is the
-- pipeline's images/s over the reference's. The folder is kept between
-- runs; any folder of class sub-folders of JPEGs can be given instead.
local D = lt.data
local now = lt._data.now
local dir = arg[1] or "/tmp/luatrain-bench-jpeg"
local epochs = tonumber(arg[2]) or 2
local N, W, H = 500, 500, 375

-- Image i: a product of two slow waves (flat and busy areas, as in photos)
-- per channel, plus uniform noise of +-20.
local function make_image(i)
  local gen_seed = 1000 + i
  lt.manual_seed(gen_seed)
  local fx, fy, ph = 0.01 + 0.04 * lt.rand(1):item(), 0.01 + 0.04 * lt.rand(1):item(), 6 * lt.rand(1):item()
  local x = (lt.arange(0, W):float() * fx + ph):sin():view(1, 1, W)
  local y = (lt.arange(0, H):float() * fy):cos():view(1, H, 1)
  local gain = lt.tensor({1.0, 0.7, 0.4}):view(3, 1, 1) * 90
  local noise = lt.randint(-20, 21, {3, H, W}):float()
  return (x * y * gain + 128 + noise):clamp(0, 255):to("uint8")
end

local function write_folder()
  local marker = dir .. "/train/c9/img" .. string.format("%04d", N - 1) .. ".jpg"
  local f = io.open(marker, "rb")
  if f then
    f:close()
    return false
  end
  for i = 0, N - 1 do
    local class = string.format("%s/train/c%d", dir, i % 10)
    if i < 10 then os.execute("mkdir -p '" .. class .. "'") end
    D.write_jpeg(make_image(i), string.format("%s/img%04d.jpg", class, i), {quality = 90})
  end
  return true
end

local t0 = now()
local wrote = write_folder()
local root = dir .. "/train"
local probe = D.ImageFolder{root = root}
local files = {}
local p = io.popen("find '" .. root .. "' -name '*.jpg' | sort")
for line in p:lines() do files[#files + 1] = line end
p:close()
local first = probe:get(1)
print(string.format("data: %d JPEGs of %dx%d in %s (%s, %.1f s)", #probe, first:size(3), first:size(2), root,
                    wrote and "written" or "already there", now() - t0))

-- the reference: a full decode of every file, one thread, no resize
local function reference_rate()
  for k = 1, math.min(20, #files) do D.load_image(files[k]) end -- warm the page cache
  local start = now()
  for _ = 1, epochs do
    for _, file in ipairs(files) do D.load_image(file) end
  end
  return #files * epochs / (now() - start)
end

local timing = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/timing.lua")
local function loader_rate(size, workers, draft)
  local ds = D.ImageFolder{root = root, size = size, draft = draft}
  return timing.loader_rate(D.DataLoader(ds, {batch_size = 32, shuffle = true, num_workers = workers, seed = 1}), epochs)
end

local ref = reference_rate()
print(string.format("reference: full decode at 500x375, 1 thread (lt.data.load_image): %.0f images/s", ref))
for _, c in ipairs{{224, true}, {32, true}, {32, false}} do
  for _, workers in ipairs{0, 2} do
    local rate = loader_rate(c[1], workers, c[2])
    print(string.format("ImageFolder -> %dx%d%s, batch 32, %d worker%s: %.0f images/s  (ratio to the reference %.2f)",
                        c[1], c[1], c[2] and "" or " (draft=false)", workers, workers == 1 and "" or "s", rate,
                        rate / ref))
  end
end
