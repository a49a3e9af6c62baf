-- test_corrupt_files.lua — corrupt and hostile files through the Lua API
-- and the training script, in child processes where stderr or the exit
-- status matters. Each case names what it asserts:
--   ImageFolder  symbolic link loops (b/l1 -> ., b/l2 -> ..) end at once with
--                every image once and a warning per link; a broken link is
--                reported; a PNG with damaged image data, a cut PNG, a JPEG
--                whose header claims 20000x20000 and a text file named .png are
--                each refused naming the file, or with on_error = "skip"
--                skipped, each named once, and counted at the end of every epoch;
--   IDX          a gzip file cut inside its trailer, a CRC that does not match,
--                and headers claiming 20 images of 65536x65536 (plain and
--                gzipped) are refused naming the file, without allocating;
--   lt.load      a key repeated in the luatrain metadata is refused;
--   metrics      a cut last line is skipped with a warning by read_metrics and
--                `luatrain plot`; a bad line elsewhere is an error naming it;
--   --resume     a damaged or foreign checkpoint (every part missing in turn,
--                values of the wrong type, a model of another width or class
--                count, optimizer and scheduler states that do not fit, a
--                metadata that is not a table, a cut file) stops the script
--                with exit status 2 and one message naming the checkpoint and
--                the part, and leaves the run folder byte for byte as it was.
-- The C readers' corrupt-file suite is tests/c/test_corrupt_files.c.
local T = require "luatrain.testing"
local lt = require "luatrain"
local D = lt.data

local shq, slurp, write = T.shell_quote, T.read_file, T.write_file
local bin, root = T.luatrain_paths()
local env = T.child_env()
local script = root .. "/scripts/cifar_resnet18.lua"

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. shq(tmp))

-- Runs a shell command line in tmp: its output (stdout and stderr) and exit status.
local function sh(cmd) return T.shell(cmd, tmp) end
-- Runs Lua code in a child luatrain.
local function child(code)
  write(tmp .. "/child.lua", code)
  return sh(env .. shq(bin) .. " child.lua")
end
local function count(s, plain)
  local n, at = 0, 1
  while true do
    local i = s:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, i + 1
  end
end

lt.manual_seed(14)
local function random_image(h, w) return lt.randint(0, 256, {3, h, w}):to("uint8") end

-- ---- ImageFolder --------------------------------------------------------------------

T.test("ImageFolder: symbolic link loops", function()
  local dir = tmp .. "/loops"
  os.execute("mkdir -p " .. shq(dir .. "/a") .. " " .. shq(dir .. "/b"))
  D.write_png(random_image(4, 4), dir .. "/a/1.png")
  D.write_png(random_image(4, 4), dir .. "/a/2.png")
  D.write_png(random_image(4, 4), dir .. "/b/1.png")
  os.execute("ln -s . " .. shq(dir .. "/b/l1") .. " && ln -s .. " .. shq(dir .. "/b/l2")
             .. " && ln -s nowhere " .. shq(dir .. "/b/broken.png"))
  local out, rc = child(string.format([[
    local ds = lt.data.ImageFolder{root = %q, size = 4}
    print("samples " .. #ds .. " classes " .. table.concat(ds.classes, ","))
  ]], dir))
  T.check(rc == 0 and out:find("samples 3 classes a,b", 1, true), "each image once, at once:\n" .. out)
  T.check(out:find("warning: ImageFolder: '" .. dir .. "/b/l1' is the folder '" .. dir .. "/b' again", 1, true)
          and out:find("warning: ImageFolder: '" .. dir .. "/b/l2' is the folder '" .. dir .. "' again", 1, true),
          "a warning per link, naming the folder it repeats:\n" .. out)
  T.check(out:find("'" .. dir .. "/b/broken.png' is a broken symbolic link: skipped", 1, true), "the broken link:\n" .. out)
  -- one loop of a folder into itself
  local one = tmp .. "/loop1"
  os.execute("mkdir -p " .. shq(one .. "/c"))
  D.write_png(random_image(3, 3), one .. "/c/x.png")
  os.execute("ln -s . " .. shq(one .. "/c/loop"))
  local ds = D.ImageFolder{root = one}
  T.check(#ds == 1, "a single `loop -> .` gives its image once, not dozens of times: " .. #ds)
end)

-- The bytes of a file; and a copy with s[i] xor-ed with x.
local function flip(s, i, x) return s:sub(1, i - 1) .. string.char(s:byte(i) ~ x) .. s:sub(i + 1) end

T.test("ImageFolder: damaged images refused, or skipped and counted", function()
  local dir = tmp .. "/damaged"
  os.execute("mkdir -p " .. shq(dir .. "/x") .. " " .. shq(dir .. "/y"))
  D.write_png(random_image(6, 5), dir .. "/x/good1.png")
  D.write_png(random_image(6, 5), dir .. "/y/good2.png")
  D.write_png(random_image(20, 20), tmp .. "/src.png")
  local png = slurp(tmp .. "/src.png")
  local idat = png:find("IDAT", 1, true)
  write(dir .. "/x/bad_data.png", flip(png, idat + 20, 0x10))   -- image data damaged, CRC left as it was
  write(dir .. "/x/cut.png", png:sub(1, #png - 20))
  D.write_jpeg(random_image(16, 16), tmp .. "/src.jpg")
  local jpg = slurp(tmp .. "/src.jpg")
  local sof = jpg:find("\xff\xc0", 3, true)
  write(dir .. "/y/bomb.jpg", jpg:sub(1, sof + 4) .. string.pack(">I2I2", 20000, 20000) .. jpg:sub(sof + 9))
  write(dir .. "/y/text.png", "this is not an image")
  local expect = {
    -- (the zlib checksum fails before libpng reaches the chunk's CRC)
    {"x/bad_data.png", "PNG data is corrupt: IDAT: incorrect data check"},
    {"x/cut.png", "the PNG file is truncated"},
    {"y/bomb.jpg", "the image is 20000x20000 = 400000000 pixels, over the limit of 89478485 (max_pixels"},
    {"y/text.png", "not a JPEG or PNG image"},
  }
  for _, e in ipairs(expect) do
    T.checkerr("load_image: '" .. dir .. "/" .. e[1] .. "': " .. e[2], D.load_image, dir .. "/" .. e[1])
  end
  -- on_error = "error": the loop stops at the first, naming it
  local ds = D.ImageFolder{root = dir, size = 8}
  T.checkerr("DataLoader: '" .. dir .. "/x/bad_data.png': PNG data is corrupt", function()
    for _ in D.DataLoader(ds, {batch_size = 2}):iter() do end
  end)
  -- on_error = "skip": named once each, counted at the end of every epoch
  local out, rc = child(string.format([[
    local ds = lt.data.ImageFolder{root = %q, size = 8, on_error = "skip"}
    local loader = lt.data.DataLoader(ds, {batch_size = 2, num_workers = 2})
    for epoch = 1, 2 do
      local n = 0
      for _, images, labels in loader:iter() do n = n + labels:size(1) end
      print(string.format("epoch %%d: %%d images, loader.skipped %%d", epoch, n, loader.skipped))
    end
  ]], dir))
  T.check(rc == 0 and out:find("epoch 1: 2 images, loader.skipped 4", 1, true)
          and out:find("epoch 2: 2 images, loader.skipped 4", 1, true), "the two good images per epoch:\n" .. out)
  for _, e in ipairs(expect) do
    T.check(count(out, "warning: ImageFolder: skipping an unreadable image: '" .. dir .. "/" .. e[1] .. "': " .. e[2]) == 1,
            e[1] .. " named once over two epochs:\n" .. out)
  end
  for epoch = 1, 2 do
    T.check(out:find(string.format("warning: DataLoader: 4 of 6 images skipped in epoch %d as unreadable", epoch), 1, true),
            "the total of epoch " .. epoch .. ":\n" .. out)
  end
  -- the limit can be raised: the bomb is then decoded and found cut short
  T.checkerr("bomb.jpg': JPEG data is corrupt", D.load_image, dir .. "/y/bomb.jpg", {size = 8, max_pixels = 0})
end)

-- ---- IDX -------------------------------------------------------------------------------

T.test("IDX: cut gzip trailers, bad CRCs, headers claiming gigabytes", function()
  local dir = tmp .. "/mnist"
  os.execute("mkdir -p " .. shq(dir))
  local n = 4
  local images = string.pack(">I4I4I4I4", 0x803, n, 28, 28) .. string.rep("\7", n * 784)
  local labels = string.pack(">I4I4", 0x801, n) .. "\1\2\3\4"
  write(dir .. "/train-labels-idx1-ubyte", labels)
  local function gz(s)
    write(tmp .. "/plain", s)
    os.execute("gzip -9 -n -c " .. shq(tmp .. "/plain") .. " > " .. shq(tmp .. "/plain.gz"))
    return slurp(tmp .. "/plain.gz")
  end
  local gzipped = gz(images)
  local file = dir .. "/train-images-idx3-ubyte.gz"
  write(file, gzipped)
  T.check(#D.MNIST{root = dir} == n, "the valid gzipped file loads")
  write(file, gzipped:sub(1, #gzipped - 3))
  T.checkerr("MNIST: '" .. file .. "': gzip stream truncated (CRC missing)", D.MNIST, {root = dir})
  write(file, flip(gzipped, #gzipped - 6, 1))
  T.checkerr("MNIST: '" .. file .. "': gzip data is corrupt: incorrect data check (its CRC does not match the data)",
             D.MNIST, {root = dir})
  local huge = string.pack(">I4I4I4I4", 0x803, 20, 65536, 65536) .. string.rep("\0", 1000)
  write(file, gz(huge))
  T.checkerr("MNIST: '" .. file .. "': the header claims 20 images of 65536x65536 (85899345936 bytes), more than a "
             .. "gzip file of", D.MNIST, {root = dir})
  os.remove(file)
  write(dir .. "/train-images-idx3-ubyte", huge)
  T.checkerr("MNIST: '" .. dir .. "/train-images-idx3-ubyte' is truncated: it ends at byte offset 1016, expected "
             .. "85899345936 bytes", D.MNIST, {root = dir})
end)

-- ---- lt.load ----------------------------------------------------------------------------

T.test("lt.load: a key repeated in the luatrain metadata", function()
  local path = tmp .. "/dup.safetensors"
  lt.save(path, {alpha = 1, betas = {gamma = 2}}) -- names of one length: the header keeps its size
  local s = slurp(path)
  local twice = s:gsub('\\"betas\\":', '\\"alpha\\":')
  T.check(twice ~= s, "the key was renamed")
  write(path, twice)
  T.checkerr("load: '" .. path .. "' is corrupt: key 'alpha' appears twice in one object of the luatrain metadata",
             lt.load, path)
end)

-- ---- metrics.jsonl ----------------------------------------------------------------------

T.test("metrics.jsonl: a cut last line", function()
  local dir = tmp .. "/runs/cut"
  local run = lt.train.Run(dir, {options = {}})
  run:log{epoch = 1, step = 5, train_loss = 2.0, train_acc1 = 20, val_loss = 1.9, val_acc1 = 30, val_acc5 = 80,
          lr = 0.1, images_per_s = 100, wall_time = 1}
  run:log{epoch = 2, step = 10, train_loss = 1.5, train_acc1 = 40, val_loss = 1.4, val_acc1 = 50, val_acc5 = 90,
          lr = 0.1, images_per_s = 100, wall_time = 2}
  run:close()
  local text = slurp(dir .. "/metrics.jsonl")
  local metrics = dir .. "/metrics.jsonl"
  write(metrics, text .. '{"epoch":3,"step":15,"train_lo')
  local out, rc = child(string.format("print('records ' .. #lt.train.read_metrics(%q))", metrics))
  T.check(rc == 0 and out:find("records 2", 1, true) and out:find("warning: '" .. metrics .. "': its last line (line 3) "
          .. "is cut short, as when the run was stopped while writing it: skipped", 1, true), out)
  if os.execute("command -v gnuplot >/dev/null 2>&1") then
    out, rc = sh(env .. shq(bin) .. " plot " .. shq(dir))
    T.check(rc == 0 and out:find("loss.png", 1, true) and out:find("is cut short", 1, true),
            "luatrain plot draws the complete records:\n" .. out)
  else
    print("skipped: luatrain plot (gnuplot is not installed)")
  end
  write(metrics, '{"step":1}\n{"step":2,\n{"step":3}\n')
  T.checkerr("read_metrics: '" .. metrics .. "': line 2 is not a JSON object", lt.train.read_metrics, metrics)
end)

-- ---- lt.train.check_checkpoint on its own ----------------------------------------------

T.test("check_checkpoint: values of the right type that still break the schedule", function()
  local function parts()
    local model = lt.nn.Linear(3, 2)
    local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
    return {model = model, optimizer = opt, states = {scheduler = lt.optim.lr_scheduler.StepLR(opt, {step_size = 2})},
            rng = true}
  end
  local p = parts()
  local ck = {model = p.model:state_dict(), optimizer = p.optimizer:state_dict(),
              scheduler = p.states.scheduler:state_dict(), rng = lt.get_rng_state()}
  T.check(lt.train.check_checkpoint("ck", ck, parts()) == ck, "a sound checkpoint passes")
  -- found by fuzz_checkpoint: a step_size of 0 is a number, and every step divides by it
  ck.scheduler.step_size = 0
  T.checkerr("ck: scheduler state does not fit: a step fails: attempt to perform 'n%0'", lt.train.check_checkpoint,
             "ck", ck, parts())
  ck.scheduler.step_size = 2
  ck.rng = {seed = 1, offset = -1}
  local ok, err = pcall(lt.train.check_checkpoint, "ck", ck, parts())
  T.check(ok or tostring(err):find("^ck: RNG state does not fit: "), "an RNG state set_rng_state refuses: " .. tostring(err))
end)

-- ---- --resume with damaged and foreign checkpoints --------------------------------------

-- A synthetic CIFAR-10 (as test_e2e_script.lua's): 5 training files of 32
-- records and a test file of 32, labels 0..9 with random pixels.
os.execute("mkdir -p " .. shq(tmp .. "/cifar"))
for _, name in ipairs{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"} do
  local recs = {}
  local px = lt.randint(0, 256, {32, 3072}):to("uint8")
  for r = 1, 32 do
    local row = px[r]:tolist()
    local chunks = {string.char((r - 1) % 10)}
    for i = 1, 3072, 1024 do chunks[#chunks + 1] = string.char(table.unpack(row, i, i + 1023)) end
    recs[r] = table.concat(chunks)
  end
  write(tmp .. "/cifar/" .. name .. ".bin", table.concat(recs))
end
local common = "--device cpu --data cifar --width 4 --batch 32 --workers 1 --quiet --log-every 1"
local function main_script(args) return sh(env .. shq(bin) .. " " .. shq(script) .. " " .. args) end

T.test("--resume refuses damaged checkpoints before touching the run folder", function()
  local out, rc = main_script(common .. " --epochs 1 --name base")
  T.check(rc == 0, "a one-epoch run:\n" .. out)
  out, rc = main_script(common .. " --epochs 2 --name mid --stop-after-batches 7")
  T.check(rc == 130, "a run stopped in the middle of epoch 2:\n" .. out)
  local run = tmp .. "/runs/base"
  local good = lt.load(run .. "/last.safetensors")
  local mid = lt.load(tmp .. "/runs/mid/last.safetensors")
  T.check(good.epoch_complete == true and mid.epoch_complete == false and mid.meters ~= nil, "the two checkpoints")
  local function copy(v)
    if type(v) ~= "table" then return v end
    local c = {}
    for k, x in pairs(v) do c[k] = copy(x) end
    return c
  end
  local function state_of(m) return (m:state_dict()) end
  local cases = {
    {"no_optimizer", function(ck) ck.optimizer = nil end, "optimizer state missing"},
    {"no_scheduler", function(ck) ck.scheduler = nil end, "scheduler state missing"},
    {"no_warmup", function(ck) ck.warmup = nil end, "warmup state missing"},
    {"no_rng", function(ck) ck.rng = nil end, "RNG state missing"},
    {"no_epoch", function(ck) ck.epoch = nil end, "'epoch' missing"},
    {"no_step", function(ck) ck.step = nil end, "'step' missing"},
    {"no_model", function(ck) ck.model = nil end, "model state missing"},
    {"no_config", function(ck) ck.config = nil end, "'config' missing"},
    {"epoch_string", function(ck) ck.epoch = "three" end, "'epoch' is a string (\"three\"), expected an integer >= 0"},
    {"step_float", function(ck) ck.step = 2.5 end, "'step' is a number (2.5), expected an integer >= 0"},
    {"best_table", function(ck) ck.best_acc = {1} end, "'best_acc' is a table, expected a number"},
    {"options_string", function(ck) ck.config.options = "x" end, "'config.options' is a string (\"x\"), expected a table"},
    {"width_string", function(ck) ck.config.options.width = "wide" end,
     "config: option 'width' is wide, expected an integer"},
    {"sched_unknown", function(ck) ck.config.options.sched = "linear" end,
     "config: option 'sched' is 'linear', expected one of multistep, cosine, onecycle, constant"},
    {"wider", function(ck) ck.model = state_of(lt.models.resnet18{num_classes = 10, width = 8, in_channels = 3}) end,
     "model width 8 does not match --width 4"},
    {"classes", function(ck) ck.model = state_of(lt.models.resnet18{num_classes = 100, width = 4, in_channels = 3}) end,
     "the model has 100 classes, the cifar10 data has 10"},
    {"grey", function(ck) ck.model = state_of(lt.models.resnet18{num_classes = 10, width = 4, in_channels = 1}) end,
     "the model takes 1-channel images, the cifar10 data has 3"},
    {"lacks_key", function(ck) ck.model["classifer.bias"] = nil end, "model state lacks 'classifer.bias'"},
    {"extra_key", function(ck) ck.model["fc2.weight"] = lt.zeros(2) end, "model state has 'fc2.weight', which this model does not"},
    {"not_tensor", function(ck) ck.model["classifer.bias"] = 3 end, "model: 'classifer.bias' is a number, expected a tensor"},
    {"momentum_shape", function(ck) ck.optimizer.state[1].momentum_buffer = lt.zeros(2) end,
     "optimizer state does not fit this SGD: state 'momentum_buffer' of parameter 1 has shape [2], expected [4,3,3,3]"},
    {"optimizer_number", function(ck) ck.optimizer = 7 end, "optimizer state is a number, expected a table"},
    -- (found by fuzz_checkpoint: load_state_dict kept the string, and the first step failed)
    {"momentum_string", function(ck) ck.optimizer.state[2].momentum_buffer = "x" end,
     "optimizer state 'momentum_buffer' of parameter 2 of group 1 is a string (\"x\"), expected a tensor"},
    {"sched_type", function(ck) ck.scheduler.last_epoch = "x" end,
     "scheduler state does not fit: scheduler.last_epoch is a string (\"x\"), expected a number"},
    {"rng_type", function(ck) ck.rng = {seed = "s", offset = 0} end, "RNG state does not fit: rng.seed is a string"},
    {"iters", function(ck) ck.iters_per_epoch = 7 end, "it has 7 batches per epoch, this run 5"},
    {"position", function(ck) ck.batches_done = 99 end, "position epoch 1, batch 99 of 5 is impossible"},
    {"mid_no_meters", function(ck) ck.meters = nil end, "'meters.lr' missing", mid},
    {"mid_meter_type", function(ck) ck.meters.loss = {sum = 1} end,
     "meters.loss state does not fit: meters.loss.avg missing", mid},
  }
  local watched = {"config.json", "metrics.jsonl", "last.safetensors", "best.safetensors"}
  local before = {}
  for _, f in ipairs(watched) do before[f] = slurp(run .. "/" .. f) end
  for _, c in ipairs(cases) do
    local ck = copy(c[4] or good)
    c[2](ck)
    local path = "runs/base/bad_" .. c[1] .. ".safetensors"
    lt.save(tmp .. "/" .. path, ck)
    out, rc = main_script("--resume " .. path)
    T.check(rc == 2 and out:find("cifar_resnet18: cannot resume from " .. path .. ": " .. c[3], 1, true),
            c[1] .. ": exit 2 and the message, got " .. tostring(rc) .. ":\n" .. out)
    for _, f in ipairs(watched) do
      T.check(slurp(run .. "/" .. f) == before[f], c[1] .. ": " .. f .. " unchanged")
    end
  end
  -- metadata that is not a table (hand-made: lt.save takes tables only)
  local header = '{"__metadata__":{"luatrain":"\\"#i5\\""}}'
  header = header .. string.rep(" ", (8 - #header % 8) % 8)
  write(run .. "/bad_number.safetensors", string.pack("<I8", #header) .. header)
  out, rc = main_script("--resume runs/base/bad_number.safetensors")
  T.check(rc == 2 and out:find("cannot resume from runs/base/bad_number.safetensors: its luatrain metadata is a number, "
          .. "not a table", 1, true), out)
  -- a file cut short
  local bytes = slurp(run .. "/last.safetensors")
  write(run .. "/bad_cut.safetensors", bytes:sub(1, #bytes // 2))
  out, rc = main_script("--resume runs/base/bad_cut.safetensors")
  T.check(rc == 2 and out:find("cannot resume from runs/base/bad_cut.safetensors: cannot read it:", 1, true), out)
  for _, f in ipairs(watched) do T.check(slurp(run .. "/" .. f) == before[f], f .. " unchanged after every refusal") end
  -- and the checkpoints it came from still resume
  out, rc = main_script("--resume runs/mid/last.safetensors")
  T.check(rc == 0 and out:find("done:", 1, true), "the mid-epoch checkpoint resumes:\n" .. out)
end)

os.execute("rm -rf " .. shq(tmp))
os.exit(T.done())
