-- Checkpoints: lt.save / lt.load of a whole training state (model, optimizer,
-- scheduler, epoch, RNG, metrics) and exact resume. For each optimizer and
-- scheduler pairing, N steps + save + load into fresh objects + M steps must
-- give bit-identical parameters, buffers, optimizer state, learning rates and
-- losses to N + M uninterrupted steps (the model has dropout, so the RNG
-- state matters, and BatchNorm, so buffers do). Also: the file's raw tensor
-- names (optimizer state by name), non-tensor values keeping their Lua types,
-- and the errors for corrupt files, mismatched optimizer states and values
-- that cannot be saved. Not here: a writer killed mid-save
-- (test_checkpoint_kill.lua) and the safetensors reader's own unit tests
-- (tests/c/test_safetensors.c).
local T = require "luatrain.testing"
local lt = require "luatrain"
local nn, F, optim = lt.nn, lt.nn.functional, lt.optim
local S = optim.lr_scheduler

local dir = os.tmpname() -- a fresh name; made into a folder for this run
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"), "could not create " .. dir)
local function tmp(name) return dir .. "/" .. name end

-- bitwise equality of two tensors (same dtype, shape and every value)
local function same(a, b)
  if a:dtype() ~= b:dtype() then return false, "dtype " .. a:dtype() .. " vs " .. b:dtype() end
  local sa, sb = table.concat(a:shape(), ","), table.concat(b:shape(), ",")
  if sa ~= sb then return false, "shape [" .. sa .. "] vs [" .. sb .. "]" end
  local la, lb = a:reshape(-1):tolist(), b:reshape(-1):tolist()
  for i = 1, #la do
    if la[i] ~= lb[i] or math.type(la[i]) ~= math.type(lb[i]) then
      return false, string.format("element %d: %.17g vs %.17g", i, la[i], lb[i])
    end
  end
  return true
end

local function check_same(a, b, what)
  local ok, why = same(a, b)
  T.check(ok, what .. (ok and "" or ": " .. why))
end

-- the raw header (a table), data section and bytes of a safetensors file
local function raw(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  local hlen = string.unpack("<I8", s)
  return lt.json.decode(s:sub(9, 8 + hlen)), s:sub(9 + hlen), s
end

local function write_bytes(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function write_raw(path, header, data)
  local h = header
  if type(h) ~= "string" then -- lt.json writes an empty table (a 0-d shape) as {}
    h = lt.json.encode(header):gsub('"shape":{}', '"shape":[]')
  end
  write_bytes(path, string.pack("<I8", #h) .. h .. data)
end

-- --- the training setup -------------------------------------------------------

local N, M = 4, 5 -- steps before and after the checkpoint

lt.manual_seed(7)
local X = lt.randn(8, 3, 6, 6)
local Y = lt.tensor{1, 2, 3, 4, 5, 1, 2, 3}

local function make_model(out)
  return nn.Sequential(nn.Conv2d(3, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                       nn.Dropout(0.3), nn.Linear(4 * 6 * 6, out or 5))
end

-- two groups: no weight decay on the conv and BatchNorm, decay on the linear
local function groups(m, decay)
  local ps = m:parameters()
  return {{params = {ps[1], ps[2], ps[3], ps[4]}, weight_decay = 0}, {params = {ps[5], ps[6]}, weight_decay = decay}}
end

local configs = {
  {name = "SGD momentum + MultiStepLR",
   opt = function(m) return optim.SGD(m:parameters(), {lr = 0.05, momentum = 0.9, weight_decay = 1e-4}) end,
   sched = function(o) return S.MultiStepLR(o, {milestones = {3, 6}, gamma = 0.5}) end,
   state = {"momentum_buffer"}},
  {name = "SGD nesterov (two groups) + OneCycleLR",
   opt = function(m) return optim.SGD(groups(m, 5e-4), {lr = 0.05, momentum = 0.9, nesterov = true}) end,
   sched = function(o) return S.OneCycleLR(o, {max_lr = 0.1, total_steps = 20}) end,
   state = {"momentum_buffer"}},
  {name = "Adam amsgrad + ExponentialLR",
   opt = function(m) return optim.Adam(m:parameters(), {lr = 0.01, amsgrad = true, weight_decay = 1e-3}) end,
   sched = function(o) return S.ExponentialLR(o, {gamma = 0.9}) end,
   state = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
  {name = "AdamW + OneCycleLR (cycling beta1)",
   opt = function(m) return optim.AdamW(groups(m, 0.01), {lr = 0.01}) end,
   sched = function(o) return S.OneCycleLR(o, {max_lr = 0.02, total_steps = 12, anneal_strategy = "linear"}) end,
   state = {"exp_avg", "exp_avg_sq"}},
  {name = "RMSprop centered + SequentialLR(LinearLR, CosineAnnealingLR)",
   opt = function(m) return optim.RMSprop(m:parameters(), {lr = 0.01, momentum = 0.5, centered = true}) end,
   sched = function(o)
     return S.SequentialLR(o, {schedulers = {S.LinearLR(o, {start_factor = 0.25, total_iters = 3}),
                                             S.CosineAnnealingLR(o, {T_max = 6})}, milestones = {3}})
   end,
   state = {"square_avg", "momentum_buffer", "grad_avg"}},
  {name = "Adagrad + CosineAnnealingWarmRestarts",
   opt = function(m) return optim.Adagrad(m:parameters(), {lr = 0.05, lr_decay = 0.01}) end,
   sched = function(o) return S.CosineAnnealingWarmRestarts(o, {T_0 = 3, T_mult = 2}) end,
   state = {"sum"}},
  {name = "Adadelta + StepLR",
   opt = function(m) return optim.Adadelta(m:parameters(), {lr = 1.0, weight_decay = 1e-3}) end,
   sched = function(o) return S.StepLR(o, {step_size = 2, gamma = 0.7}) end,
   state = {"square_avg", "acc_delta"}},
}

local function train_step(m, opt, sched)
  opt:zero_grad()
  local loss = F.cross_entropy(m(X), Y)
  loss:backward()
  opt:step()
  sched:step()
  return loss:item()
end

-- A run from seed 1234: all N + M steps, or the first N and then a save.
local function start(cfg)
  lt.manual_seed(1234)
  local m = make_model()
  m:train()
  local opt = cfg.opt(m)
  return m, opt, cfg.sched(opt)
end

local function snapshot(m, opt, sched, losses)
  local st = {}
  for k, v in pairs(m:state_dict()) do st[k] = v:clone() end
  local osd = opt:state_dict()
  local ost = {}
  for i, s in pairs(osd.state) do
    ost[i] = {}
    for k, v in pairs(s) do ost[i][k] = lt.is_tensor(v) and v:clone() or v end
  end
  local lrs = {}
  for i, g in ipairs(opt.param_groups) do lrs[i] = g.lr end
  return {model = st, opt_state = ost, lrs = lrs, last_lr = sched:get_last_lr(), losses = losses,
          groups = osd.param_groups}
end

local function compare(got, ref, what)
  local n = 0
  for k, v in pairs(ref.model) do
    T.check(got.model[k] ~= nil, what .. ": model has " .. k)
    if got.model[k] then check_same(got.model[k], v, what .. ": model." .. k); n = n + 1 end
  end
  T.check(n == 9, what .. ": 6 parameters and 3 BatchNorm buffers compared, got " .. n)
  for i, s in pairs(ref.opt_state) do
    for k, v in pairs(s) do
      local g = got.opt_state[i] and got.opt_state[i][k]
      if lt.is_tensor(v) then
        T.check(g ~= nil, what .. ": optimizer state " .. i .. "." .. k)
        if g then check_same(g, v, what .. ": optimizer state " .. i .. "." .. k) end
      else
        T.check(g == v and math.type(g) == math.type(v),
                string.format("%s: optimizer state %d.%s is %s, expected %s", what, i, k, tostring(g), tostring(v)))
      end
    end
  end
  for i, lr in ipairs(ref.lrs) do
    T.check(got.lrs[i] == lr, string.format("%s: group %d lr %.17g, expected %.17g", what, i, got.lrs[i], lr))
  end
  for i, lr in ipairs(ref.last_lr) do
    T.check(got.last_lr[i] == lr, string.format("%s: get_last_lr()[%d] %.17g, expected %.17g", what, i, got.last_lr[i], lr))
  end
  for k, v in pairs(ref.groups[1]) do
    if type(v) == "number" then
      T.check(got.groups[1][k] == v, string.format("%s: group 1 %s = %s, expected %s", what, k, tostring(got.groups[1][k]),
                                                   tostring(v)))
    end
  end
  for i = N + 1, N + M do
    T.check(got.losses[i] == ref.losses[i],
            string.format("%s: loss of step %d is %.17g, expected %.17g", what, i, got.losses[i] or 0 / 0, ref.losses[i]))
  end
end

-- fresh objects, made from another seed (so nothing carries over by accident)
local function fresh(cfg)
  lt.manual_seed(999)
  local m = make_model()
  m:train()
  local opt = cfg.opt(m)
  return m, opt, cfg.sched(opt)
end

local function resume(cfg, path, opts)
  opts = opts or {}
  local m, opt, sched = fresh(cfg)
  lt.randn(37) -- moves the RNG on, as other work between runs would
  local ck = lt.load(path, {map_location = "cpu"})
  m:load_state_dict(ck.model)
  if not opts.skip_optimizer then opt:load_state_dict(ck.optimizer) end
  sched:load_state_dict(ck.scheduler)
  if not opts.skip_rng then lt.set_rng_state(ck.rng) end
  local losses = {}
  for i, l in ipairs(ck.metrics.losses) do losses[i] = l end
  for i = ck.epoch + 1, N + M do losses[i] = train_step(m, opt, sched) end
  return snapshot(m, opt, sched, losses), ck
end

local function save_after_n(cfg, path)
  local m, opt, sched = start(cfg)
  local losses = {}
  for i = 1, N do losses[i] = train_step(m, opt, sched) end
  lt.save(path, {model = m:state_dict(), optimizer = opt:state_dict(), scheduler = sched:state_dict(), epoch = N,
                 rng = lt.get_rng_state(), metrics = {losses = losses, best = math.min(table.unpack(losses))}})
end

local function uninterrupted(cfg)
  local m, opt, sched = start(cfg)
  local losses = {}
  for i = 1, N + M do losses[i] = train_step(m, opt, sched) end
  return snapshot(m, opt, sched, losses)
end

for ci, cfg in ipairs(configs) do
  T.test("exact resume: " .. cfg.name, function()
    local ref = uninterrupted(cfg)
    local path = tmp("resume" .. ci .. ".safetensors")
    save_after_n(cfg, path)
    local got, ck = resume(cfg, path)
    compare(got, ref, cfg.name)
    T.check(math.type(ck.epoch) == "integer" and ck.epoch == N, "epoch comes back as the integer " .. N)
    T.check(#ck.metrics.losses == N and math.type(ck.metrics.losses[1]) == "float", "metrics.losses: N floats")
    -- the optimizer state is in the file by name, one tensor per state entry
    local f = assert(io.open(path, "rb"))
    local hlen = string.unpack("<I8", f:read(8))
    local header = lt.json.decode(f:read(hlen))
    f:close()
    for _, k in ipairs(cfg.state) do
      local e = header["optimizer.state.1." .. k]
      T.check(e ~= nil, cfg.name .. ": the file holds tensor optimizer.state.1." .. k)
      if e then
        T.check(e.dtype == "F32" and table.concat(e.shape, ",") == "4,3,3,3",
                cfg.name .. ": optimizer.state.1." .. k .. " is F32 [4,3,3,3]")
      end
      T.check(header["optimizer.state.6." .. k] ~= nil, cfg.name .. ": the file holds optimizer.state.6." .. k)
    end
    T.check(header["optimizer.state.1.step"] == nil, "step counts are metadata, not tensors")
  end)
end

-- The checks above are sensitive: leaving out the RNG or the optimizer state
-- on resume changes the result.
T.test("resume without the RNG state or the optimizer state differs", function()
  local cfg = configs[1]
  local ref = uninterrupted(cfg)
  local path = tmp("resume_control.safetensors")
  save_after_n(cfg, path)
  local p5 = "5.weight"
  local got = resume(cfg, path, {skip_rng = true})
  T.check(not same(got.model[p5], ref.model[p5]), "dropout masks differ when the RNG is not restored")
  got = resume(cfg, path, {skip_optimizer = true})
  T.check(not same(got.model[p5], ref.model[p5]), "a fresh momentum buffer gives other weights")
  -- and the saved state itself is what was trained: loading it twice gives the same
  local a = resume(cfg, path)
  local b = resume(cfg, path)
  check_same(a.model[p5], b.model[p5], "two resumes from one file agree")
end)

-- Only the second parameter has state (the first never had a gradient): the
-- state table is sparse, so its integer keys go through the metadata as
-- tagged object keys rather than as a list.
T.test("sparse optimizer state", function()
  local function setup()
    local a, b = lt.tensor{1.0, 2.0}, lt.tensor{{3.0, -1.0}, {0.5, 2.0}}
    a.requires_grad, b.requires_grad = true, true
    return a, b, optim.Adam({a, b}, {lr = 0.1})
  end
  local function step(b, opt)
    opt:zero_grad()
    local loss = (b * b):sum()
    loss:backward()
    opt:step()
  end
  local a, b, opt = setup()
  for _ = 1, 3 do step(b, opt) end
  local path = tmp("sparse.safetensors")
  lt.save(path, {params = {a, b}, optimizer = opt:state_dict()})
  local h = raw(path)
  T.check(h["optimizer.state.2.exp_avg"] ~= nil and h["optimizer.state.1.exp_avg"] == nil, "state of parameter 2 only")
  local a2, b2, opt2 = setup()
  local ck = lt.load(path)
  T.check(ck.optimizer.state[2] ~= nil and next(ck.optimizer.state, next(ck.optimizer.state)) == nil and
          math.type(next(ck.optimizer.state)) == "integer", "the state comes back under the integer key 2")
  lt.no_grad(function() a2:copy_(ck.params[1]); b2:copy_(ck.params[2]) end)
  opt2:load_state_dict(ck.optimizer)
  for _ = 1, 2 do step(b, opt); step(b2, opt2) end
  check_same(b2:detach(), b:detach(), "resumed parameter 2")
  check_same(a2:detach(), a:detach(), "parameter 1 untouched")
  T.check(opt2.state[b2].step == opt.state[b].step and math.type(opt2.state[b2].step) == math.type(opt.state[b].step),
          "step count " .. tostring(opt.state[b].step) .. " kept with its type")
end)

-- --- what the file holds ----------------------------------------------------------

T.test("tensor names in the file", function()
  local m = make_model()
  local opt = optim.SGD(m:parameters(), {lr = 0.1, momentum = 0.9})
  opt:zero_grad()
  F.cross_entropy(m(X), Y):backward()
  opt:step()
  local path = tmp("names.safetensors")
  lt.save(path, {model = m:state_dict(), optimizer = opt:state_dict()})
  local h = raw(path)
  local names = {}
  for k in pairs(h) do if k ~= "__metadata__" then names[#names + 1] = k end end
  table.sort(names)
  T.check(table.concat(names, " ") == table.concat({
    "model.0.bias", "model.0.weight", "model.1.bias", "model.1.num_batches_tracked", "model.1.running_mean",
    "model.1.running_var", "model.1.weight", "model.5.bias", "model.5.weight",
    "optimizer.state.1.momentum_buffer", "optimizer.state.2.momentum_buffer", "optimizer.state.3.momentum_buffer",
    "optimizer.state.4.momentum_buffer", "optimizer.state.5.momentum_buffer", "optimizer.state.6.momentum_buffer"}, " "),
    "tensor names: " .. table.concat(names, " "))
  T.check(h["model.1.num_batches_tracked"].dtype == "I64", "num_batches_tracked is I64")
  T.check(table.concat(h["model.5.weight"].shape, ",") == "5,144", "model.5.weight shape [5,144]")
  T.check(h.__metadata__.format == "pt", "format pt in the metadata (as PyTorch's safetensors files)")
  T.check(type(h.__metadata__.luatrain) == "string", "the luatrain metadata entry")
  -- the model's tensors load back by their PyTorch names
  local flat = {}
  for k, v in pairs(lt.load(path).model) do flat[k] = v end
  local m2 = make_model()
  m2:load_state_dict(flat)
  for k, v in pairs(m:state_dict()) do check_same(m2:state_dict()[k], v, "reloaded " .. k) end
  -- a file without the luatrain entry (PyTorch's) loads as a flat table
  local hh, data = raw(path)
  hh.__metadata__ = {format = "pt"}
  write_raw(tmp("plain.safetensors"), hh, data)
  local plain = lt.load(tmp("plain.safetensors"))
  check_same(plain["model.0.weight"], m:state_dict()["0.weight"], "flat load of model.0.weight")
  check_same(plain["optimizer.state.6.momentum_buffer"], opt.state[m:parameters()[6]].momentum_buffer,
             "flat load of a momentum buffer")
end)

T.test("non-tensor values keep their Lua types", function()
  local v = {
    epoch = 12, big = math.maxinteger, small = math.mininteger, zero = 0, negi = -7,
    third = 1 / 3, tenth = 0.1, whole = 2.0, negzero = -0.0, tiny = 5e-324, huge = 1.7976931348623157e308,
    nan = 0 / 0, inf = math.huge, ninf = -math.huge,
    s = "plain", hash = "#t not a tensor", hashes = "##", empty_s = "", utf = "h\xc3\xa9 \"q\"\n\t\\",
    yes = true, no = false, empty = {},
    list = {1, 2.5, "three", {four = 4}, false},
    sparse = {[1] = "a", [3] = "c", [-2] = "neg", [0] = "zero"},
    nested = {a = {b = {c = {d = "deep", t = lt.arange(1, 4)}}}},
    ["#key"] = 1, ["with.dot"] = "dot", ["1"] = "string one", [1] = "integer one",
  }
  local path = tmp("values.safetensors")
  lt.save(path, v)
  local r = lt.load(path)
  for _, k in ipairs{"epoch", "big", "small", "zero", "negi"} do
    T.check(math.type(r[k]) == "integer" and r[k] == v[k], k .. " stays the integer " .. tostring(v[k]))
  end
  for _, k in ipairs{"third", "tenth", "whole", "tiny", "huge", "inf", "ninf"} do
    T.check(math.type(r[k]) == "float" and r[k] == v[k], string.format("%s stays the float %.17g", k, v[k]))
  end
  T.check(math.type(r.negzero) == "float" and r.negzero == 0 and 1 / r.negzero < 0, "-0.0 keeps its sign")
  T.check(r.nan ~= r.nan, "nan stays nan")
  T.check(r.s == "plain" and r.hash == "#t not a tensor" and r.hashes == "##" and r.empty_s == "", "strings, even '#...'")
  T.check(r.utf == v.utf, "bytes and escapes in strings")
  T.check(r.yes == true and r.no == false, "booleans")
  T.check(type(r.empty) == "table" and next(r.empty) == nil, "an empty table")
  T.check(#r.list == 5 and r.list[1] == 1 and math.type(r.list[1]) == "integer" and r.list[2] == 2.5 and
          r.list[3] == "three" and r.list[4].four == 4 and r.list[5] == false, "a mixed list")
  T.check(r.sparse[1] == "a" and r.sparse[3] == "c" and r.sparse[-2] == "neg" and r.sparse[0] == "zero" and
          r.sparse[2] == nil, "integer keys of a sparse table")
  T.check(r.nested.a.b.c.d == "deep", "nested tables")
  check_same(r.nested.a.b.c.t, lt.arange(1, 4), "a tensor deep inside")
  T.check(r["#key"] == 1 and r["with.dot"] == "dot", "keys with '#' and '.'")
  T.check(r["1"] == "string one" and r[1] == "integer one", "string key '1' and integer key 1 stay apart")
  -- saving is deterministic: the same value gives the same bytes
  lt.save(tmp("values2.safetensors"), v)
  local _, _, a = raw(path)
  local _, _, b = raw(tmp("values2.safetensors"))
  T.check(a == b, "the same table saves to the same bytes")
end)

T.test("a tensor on its own, and a rejected map_location", function()
  T.checkerr("bad argument #2 to 'save' (expected a table of tensors and values, got a tensor (name it: {weight = t}))", lt.save, tmp("t.safetensors"),
             lt.zeros(2))
  T.checkerr("bad argument #2 to 'load' (unknown option 'map_locaton'", lt.load, tmp("values.safetensors"),
             {map_locaton = "cpu"})
  T.checkerr("map_location must be 'cpu', 'cuda' or 'cuda:N'", lt.load, tmp("values.safetensors"), {map_location = "tpu"})
end)

-- --- bad input ----------------------------------------------------------------------------

T.test("values that cannot be saved", function()
  local path = tmp("bad.safetensors")
  T.checkerr("bad argument #2 to 'save' (cannot save a function (at 'metrics.f'): only tensors, numbers, strings, booleans and tables)",
             lt.save, path, {metrics = {f = print}})
  T.checkerr("table keys must be strings or integers (at 'metrics')", lt.save, path, {metrics = {[1.5] = 1}})
  local cyc = {}
  cyc.self = cyc
  T.checkerr("nested too deeply (or a cycle)", lt.save, path, {c = cyc})
  T.checkerr("tensor name 'a.b' appears twice", lt.save, path, {a = {b = lt.zeros(1)}, ["a.b"] = lt.ones(1)})
  T.checkerr("bad argument #1 to 'save' (expected a file name, got nil)", lt.save, nil, {})
  T.checkerr("could not create temporary file '" .. dir .. "/no/such/x.tmp.", lt.save, dir .. "/no/such/x", {a = 1})
  local f = io.open(path, "rb")
  T.check(f == nil, "a failed save leaves no file")
  if f then f:close() end
end)

T.test("corrupt and truncated checkpoints", function()
  local m = make_model()
  local opt = optim.SGD(m:parameters(), {lr = 0.1, momentum = 0.9})
  opt:zero_grad()
  F.cross_entropy(m(X), Y):backward()
  opt:step()
  local good = tmp("good.safetensors")
  lt.save(good, {model = m:state_dict(), optimizer = opt:state_dict(), epoch = 1})
  local header, data, bytes = raw(good)
  local p = tmp("corrupt.safetensors")
  local function load() return lt.load(p) end

  -- truncated in the data section: the last tensor runs past the end
  write_bytes(p, bytes:sub(1, #bytes - 7))
  T.checkerr("load: '" .. p .. "': tensor '", load)
  T.checkerr("run past the end of the data section (" .. (#data - 7) .. " bytes; file truncated?)", load)
  -- truncated inside the header, and inside the length itself
  write_bytes(p, bytes:sub(1, 100))
  T.checkerr(string.format("load: '%s': file is 100 bytes, header says %d bytes of JSON follow the 8-byte length (truncated file?)",
                           p, #bytes - #data - 8), load)
  write_bytes(p, bytes:sub(1, 5))
  T.checkerr("load: '" .. p .. "': file is 5 bytes, too short to hold the 8-byte header length", load)
  write_bytes(p, "")
  T.checkerr("load: '" .. p .. "': file is 0 bytes", load)
  -- a header length past the end of the file
  write_bytes(p, string.pack("<I8", #bytes) .. bytes:sub(9))
  T.checkerr(string.format("load: '%s': file is %d bytes, header says %d bytes of JSON follow", p, #bytes, #bytes), load)
  write_bytes(p, string.pack("<I8", 1 << 40) .. bytes:sub(9))
  T.checkerr("load: '" .. p .. "': header length is 1099511627776 bytes, over the 100 MB limit", load)
  -- not a safetensors file at all
  write_bytes(p, "epoch = 3\nthis is a text file, not a checkpoint\n")
  T.checkerr("load: '" .. p .. "': header length is", load)
  -- extra bytes after the last tensor
  write_bytes(p, bytes .. "xyz")
  T.checkerr("load: '" .. p .. "': data section is " .. (#data + 3) .. " bytes but the tensors cover only " .. #data, load)
  -- a header that is not JSON
  local hlen = #bytes - #data - 8
  write_bytes(p, bytes:sub(1, 8) .. string.rep("x", hlen) .. data)
  T.checkerr("load: '" .. p .. "': header is not valid JSON", load)
  -- a tensor whose shape does not match its bytes
  local h2 = lt.json.decode(lt.json.encode(header))
  h2["model.0.bias"].shape = {5}
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "': tensor 'model.0.bias' data_offsets", load)
  T.checkerr("do not match shape [5] of F32 (20 bytes)", load)
  -- broken JSON in the luatrain metadata
  local meta = header.__metadata__.luatrain
  h2 = lt.json.decode(lt.json.encode(header))
  h2.__metadata__.luatrain = meta:sub(1, #meta // 2)
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "' is corrupt: its luatrain metadata is not valid JSON", load)
  -- metadata naming a tensor the file does not hold
  h2.__metadata__.luatrain = meta:gsub('"#tmodel%.0%.weight"', '"#tmodel.0.wieght"')
  T.check(h2.__metadata__.luatrain ~= meta, "the metadata did name model.0.weight")
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "' is corrupt: metadata names tensor 'model.0.wieght', which the file does not hold", load)
  -- bad tags in the metadata
  h2.__metadata__.luatrain = meta:gsub('"#i1"', '"#i1x"', 1)
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "' is corrupt: bad integer '#i1x' in the luatrain metadata", load)
  h2.__metadata__.luatrain = '{"epoch": "#q3"}'
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "' is corrupt: bad tag in metadata value '#q3'", load)
  h2.__metadata__.luatrain = '{"#q": 1}'
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "' is corrupt: bad tag in metadata key '#q'", load)
  h2.__metadata__.luatrain = '{"x": "#fone"}'
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "' is corrupt: bad number '#fone' in the luatrain metadata", load)
  h2.__metadata__.luatrain = '{"x": null}'
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "' is corrupt: unexpected value in the luatrain metadata", load)
  -- metadata values must be strings (safetensors' rule)
  h2.__metadata__.luatrain = 5
  write_raw(p, h2, data)
  T.checkerr("load: '" .. p .. "': __metadata__ value of 'luatrain' is a number, expected a string", load)
  -- a missing file
  T.checkerr("load: could not open '" .. dir .. "/missing.safetensors': No such file or directory", lt.load,
             dir .. "/missing.safetensors")
  -- the good file still loads
  T.check(lt.load(good).epoch == 1, "the original loads")
end)

T.test("loading an optimizer state for other parameters", function()
  local m = make_model()
  local opt = optim.SGD(m:parameters(), {lr = 0.1, momentum = 0.9})
  opt:zero_grad()
  F.cross_entropy(m(X), Y):backward()
  opt:step()
  local path = tmp("opt.safetensors")
  lt.save(path, {model = m:state_dict(), optimizer = opt:state_dict()})
  local ck = lt.load(path)
  -- other shapes: a linear layer with 7 outputs
  local m7 = make_model(7)
  local o7 = optim.SGD(m7:parameters(), {lr = 0.1, momentum = 0.9})
  T.checkerr("bad argument #1 to 'load_state_dict' (state 'momentum_buffer' of parameter 5 has shape [5,144], expected [7,144] (the parameter's shape))",
             o7.load_state_dict, o7, ck.optimizer)
  T.checkerr("size mismatch for 5.weight: copying a param with shape [5,144] from checkpoint, the shape in current model is [7,144]",
             m7.load_state_dict, m7, ck.model)
  -- another count: only the linear layer's parameters
  local ps = m7:parameters()
  local o2 = optim.SGD({ps[5], ps[6]}, {lr = 0.1, momentum = 0.9})
  T.checkerr("parameter group 1 of the state dict has 6 parameters, this optimizer's group 1 has 2", o2.load_state_dict, o2,
             ck.optimizer)
  -- another grouping
  local m2 = make_model()
  local og = optim.SGD(groups(m2, 1e-4), {lr = 0.1, momentum = 0.9})
  T.checkerr("the state dict has 1 parameter groups, this SGD has 2", og.load_state_dict, og, ck.optimizer)
  -- another optimizer
  local oa = optim.Adam(m2:parameters())
  T.checkerr("parameter group 1 of the state dict lacks hyper-parameter 'amsgrad' (is it the state of another optimizer than Adam?)",
             oa.load_state_dict, oa, ck.optimizer)
  -- a failed load changes nothing
  local o3 = optim.SGD(m2:parameters(), {lr = 0.3, momentum = 0.5})
  ck.optimizer.state[6].momentum_buffer = lt.zeros(9)
  T.checkerr("state 'momentum_buffer' of parameter 6 has shape [9], expected [5]", o3.load_state_dict, o3, ck.optimizer)
  T.check(o3.param_groups[1].lr == 0.3 and next(o3.state) == nil, "the optimizer is as it was")
  -- a typo in a hyper-parameter is an error, in the options and in groups
  T.checkerr("bad argument #2 to 'SGD' (unknown hyper-parameter 'weight_decy' for SGD", optim.SGD, m2:parameters(),
             {lr = 0.1, weight_decy = 1e-4})
  T.checkerr("parameter group 2: unknown hyper-parameter 'weight_decy' for Adam", optim.Adam,
             {{params = {ps[1]}}, {params = {ps[2]}, weight_decy = 0}})
  T.checkerr("bad argument #1 to 'add_param_group' (unknown hyper-parameter 'mometum' for SGD", o2.add_param_group, o2,
             {params = {ps[1]}, mometum = 0.9})
  -- a scheduler state of another kind
  local s = S.StepLR(o3, {step_size = 2})
  T.checkerr("bad argument #1 to 'load_state_dict' (the state dict lacks 'step_size' (is it the state of another scheduler than StepLR?))",
             s.load_state_dict, s, S.ExponentialLR(optim.SGD({lt.zeros(1)}, {lr = 0.1}), {gamma = 0.5}):state_dict())
end)

os.execute("rm -rf '" .. dir .. "'")
os.exit(T.done())
