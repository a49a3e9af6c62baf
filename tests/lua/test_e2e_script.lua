-- test_e2e_script.lua — scripts/cifar_resnet18.lua end to end, on the CPU, in
-- child processes of the luatrain binary: a synthetic CIFAR-10 set in the
-- binary format (written here, learnable: each class has its own colour), a
-- short run, its metrics, config and checkpoints; the reference recipe's bugs not
-- reproduced (accuracy not error, the warm-up raises the rate over the first
-- epoch, the main schedule steps after each epoch); an interrupted run
-- resumed from its checkpoint gives bit-identical parameters (MultiStepLR
-- with the warm-up, and the per-batch OneCycle); a real SIGINT;
-- a NaN loss keeps the last good checkpoint; the option and data errors; the
-- plots. The binary is $LUATRAIN_BIN, or the one running this file.
local T = require "luatrain.testing"
local lt = require "luatrain"
local train = lt.train

local shq, slurp = T.shell_quote, T.read_file

local bin, root = T.luatrain_paths()
local script = root .. "/scripts/cifar_resnet18.lua"
local env = T.child_env()

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. shq(tmp .. "/cifar"))

-- Runs a shell command line in tmp; returns its output (stdout and stderr) and exit status.
local function sh(cmd) return T.shell(cmd, tmp) end
local function luatrain(args) return sh(env .. shq(bin) .. " " .. args) end
local function main_script(args) return luatrain(shq(script) .. " " .. args) end

-- A synthetic CIFAR-10: 5 training files of 32 records, a test file of 64;
-- record = 1 label byte (0..9) + 3072 pixel bytes (R, G, B planes of 32x32).
-- Class c is a colour of its own plus uniform noise of +-40.
local colours = {{230, 25, 25}, {25, 230, 25}, {25, 25, 230}, {230, 230, 25}, {230, 25, 230},
                 {25, 230, 230}, {128, 128, 128}, {250, 250, 250}, {10, 10, 10}, {200, 120, 40}}
local state = 12345
local function rnd() state = (state * 1103515245 + 12345) % 2147483648 return state >> 8 end
local function write_cifar(path, n)
  local f = assert(io.open(path, "wb"))
  for _ = 1, n do
    local label = rnd() % 10
    local parts = {string.char(label)}
    for c = 1, 3 do
      local base, px = colours[label + 1][c], {}
      for i = 1, 1024 do px[i] = math.max(0, math.min(255, base + rnd() % 81 - 40)) end
      for i = 1, 1024, 256 do parts[#parts + 1] = string.char(table.unpack(px, i, i + 255)) end
    end
    f:write(table.concat(parts))
  end
  f:close()
end
for b = 1, 5 do write_cifar(tmp .. "/cifar/data_batch_" .. b .. ".bin", 32) end
write_cifar(tmp .. "/cifar/test_batch.bin", 64)

-- 160 images, batch 32: 5 batches per epoch
-- (a 4-wide ResNet18 diverges at the reference recipe's lr 0.1; 0.05 learns this set steadily)
local common = "--device cpu --data cifar --width 4 --batch 32 --lr 0.05 --workers 1 --quiet --log-every 1"
local iters = 5

local function records(name)
  local rows = train.read_metrics(tmp .. "/runs/" .. name .. "/metrics.jsonl")
  local epochs, steps = {}, {}
  for _, r in ipairs(rows) do
    if r.val_acc1 ~= nil then epochs[#epochs + 1] = r else steps[#steps + 1] = r end
  end
  return epochs, steps
end

-- Every tensor of two checkpoints equal bit for bit (NaN == NaN), and the
-- same tensor names; returns the number compared.
local function same_tensors(a, b, path, bad)
  local n = 0
  if lt.is_tensor(a) then
    if not (lt.is_tensor(b) and a:dtype() == b:dtype() and table.concat(a:shape(), ",") == table.concat(b:shape(), ",")
            and (a:eq(b):logical_or(a:isnan():logical_and(b:isnan()))):all():item()) then
      bad[#bad + 1] = path
    end
    return 1
  elseif type(a) == "table" then
    for k, v in pairs(a) do
      if k ~= "config" then n = n + same_tensors(v, type(b) == "table" and b[k], path .. "." .. tostring(k), bad) end
    end
  end
  return n
end

T.test("a short run: output, metrics, config, checkpoints", function()
  local out, rc = main_script(common .. " --epochs 3 --milestones 2 --name a")
  T.check(rc == 0, "exit status 0, got " .. tostring(rc) .. ":\n" .. out)
  T.check(out:find("device cpu | cifar10: 160 train / 64 test images, 10 classes", 1, true), "device and data printed")
  T.check(out:find("options: epochs=3 lr=0.05 momentum=0.9 wd=0.0001 batch=32 sched=multistep milestones=2", 1, true),
          "options printed")
  T.check(out:find("run folder: runs/a", 1, true) and out:find("done: best val top-1", 1, true), "run folder and result")
  local epochs, steps = records("a")
  T.check(#epochs == 3 and #steps == 3 * iters, "3 epoch records and one step record per batch")
  for e, r in ipairs(epochs) do
    T.check(r.epoch == e and r.step == e * iters, "epoch and step of record " .. e)
    for _, k in ipairs{"train_loss", "train_acc1", "val_loss", "val_acc1", "val_acc5", "lr", "images_per_s", "wall_time"} do
      T.check(type(r[k]) == "number" and r[k] == r[k], "epoch record has " .. k)
    end
    T.check(r.train_loss > 0 and r.train_loss < 10 and r.val_loss > 0, "sane losses")
    T.check(r.val_acc1 >= 0 and r.val_acc1 <= r.val_acc5 and r.val_acc5 <= 100, "0 <= top-1 <= top-5 <= 100")
    T.check(r.images_per_s > 0 and r.wall_time > 0, "speed and time")
    if e > 1 then T.check(r.wall_time > epochs[e - 1].wall_time, "wall time grows") end
  end
  -- learnable: the loss falls and the model beats chance by far
  T.check(epochs[3].train_loss < epochs[1].train_loss, string.format("train loss falls: %.4f -> %.4f",
          epochs[1].train_loss, epochs[3].train_loss))
  T.check(epochs[3].train_loss < 2.0, "train loss below ln(10) = 2.30: " .. epochs[3].train_loss)
  T.check(steps[#steps].train_loss < steps[1].train_loss, "the last batch's loss is below the first's")
  -- accuracy, not the error rate: a model that learns gets high numbers, and
  -- top-5 >= top-1 (checked above) holds for accuracies only
  T.check(epochs[3].train_acc1 > 30 and epochs[3].train_acc1 > epochs[1].train_acc1,
          "train top-1 rises well above chance (10%): " .. epochs[3].train_acc1)
  T.check(epochs[3].val_acc1 > 25, "validation top-1 well above chance: " .. epochs[3].val_acc1)

  -- the reference recipe's bugs: the warm-up is stepped, batch i of the first epoch at 0.05 * i / 5 ...
  for i = 1, iters do
    T.close(steps[i].lr, 0.05 * i / iters, 1e-6, "warm-up lr of batch " .. i)
    if i > 1 then T.check(steps[i].lr > steps[i - 1].lr, "the warm-up raises the rate") end
  end
  -- ... and MultiStepLR (milestone 2) steps after each epoch's training: epoch 2
  -- still at 0.05, epoch 3 at 0.005 (stepped before training, epoch 2 would run at 0.005)
  for i = iters + 1, 2 * iters do T.close(steps[i].lr, 0.05, 1e-6, "epoch 2 lr") end
  for i = 2 * iters + 1, 3 * iters do T.close(steps[i].lr, 0.005, 1e-6, "epoch 3 lr") end
  for e = 1, 3 do T.check(epochs[e].lr == steps[e * iters].lr, "the epoch record holds the rate of its last batch") end

  local cfg = lt.json.decode(slurp(tmp .. "/runs/a/config.json"))
  T.check(cfg.options.epochs == 3 and cfg.options.width == 4 and cfg.options.milestones == "2" and cfg.device == "cpu"
          and cfg.train_size == 160 and cfg.test_size == 64 and cfg.num_classes == 10 and cfg.iters_per_epoch == iters,
          "config.json holds the configuration")

  local last = lt.load(tmp .. "/runs/a/last.safetensors")
  T.check(last.epoch == 3 and last.epoch_complete == true and last.batches_done == iters and last.step == 3 * iters,
          "last.safetensors is the end of epoch 3")
  local best_v = math.max(epochs[1].val_acc1, epochs[2].val_acc1, epochs[3].val_acc1)
  T.check(last.best_acc == best_v, "best accuracy is the highest validation top-1")
  local best = lt.load(tmp .. "/runs/a/best.safetensors")
  local best_epoch
  for e = 1, 3 do if epochs[e].val_acc1 == best_v and not best_epoch then best_epoch = e end end
  T.check(best.epoch == best_epoch, "best.safetensors is of the best epoch")
  T.check(train.all_finite(last.model), "finite parameters")
  -- the tensor names PyTorch sees: "model.<state_dict key>" (README's one-liner)
  local raw = slurp(tmp .. "/runs/a/last.safetensors")
  local hlen = string.unpack("<I8", raw)
  local header = lt.json.decode(raw:sub(9, 8 + hlen))
  local sd = last.model
  local named = 0
  for k in pairs(sd) do if header["model." .. k] ~= nil then named = named + 1 end end
  T.check(named > 50 and header["model.conv1.0.weight"] ~= nil and header["model.classifer.weight"] ~= nil,
          "the model's tensors are named model.<state_dict key> (the reference recipe's names)")
end)

T.test("the plots", function()
  local out, rc = luatrain("plot runs/a")
  if os.execute("command -v gnuplot >/dev/null 2>&1") ~= true then
    print("skipped: gnuplot is not installed")
    T.check(rc ~= 0 and out:find("gnuplot is not installed", 1, true), "says gnuplot is missing")
    return
  end
  T.check(rc == 0, "plot exits 0: " .. out)
  for _, name in ipairs{"loss", "accuracy", "lr"} do
    local path = "runs/a/" .. name .. ".png"
    T.check(out:find(path, 1, true), "prints " .. path)
    local png = slurp(tmp .. "/" .. path)
    T.check(png and png:sub(1, 8) == "\137PNG\r\n\26\n" and #png > 1000, path .. " is a PNG")
  end
end)

T.test("interrupted and resumed: bit-identical to the uninterrupted run", function()
  -- stopped in the warm-up (epoch 1, batch 3), as Ctrl-C would stop it
  local out, rc = main_script(common .. " --epochs 3 --milestones 2 --name b --stop-after-batches 3")
  T.check(rc == 130, "exit status 130 on an interrupt, got " .. tostring(rc) .. ":\n" .. out)
  T.check(out:find("interrupted in epoch 1 after batch 3 of 5: saved runs/b/last.safetensors", 1, true), "says where")
  local cmd = out:match("resume with: ([^\n]+)")
  T.check(cmd == bin .. " " .. script .. " --resume runs/b/last.safetensors", "the exact command: " .. tostring(cmd))
  local ck = lt.load(tmp .. "/runs/b/last.safetensors")
  T.check(ck.epoch == 1 and ck.batches_done == 3 and ck.epoch_complete == false and ck.meters.loss.count == 96,
          "mid-epoch checkpoint: epoch 1, 3 batches, their meters")
  -- the printed command, stopped again after the epoch's last batch, before
  -- its validation
  out, rc = sh(env .. cmd .. " --stop-after-batches 2")
  T.check(rc == 130 and out:find("resumed from runs/b/last.safetensors: epoch 1, 3 of 5 batches done", 1, true)
          and out:find("interrupted in epoch 1 after batch 5 of 5", 1, true), "second leg:\n" .. out)
  -- and in epoch 2 (batch 4)
  out, rc = sh(env .. cmd .. " --stop-after-batches 4")
  T.check(rc == 130 and out:find("epoch 1/3  train loss", 1, true)
          and out:find("interrupted in epoch 2 after batch 4 of 5", 1, true), "third leg:\n" .. out)
  out, rc = sh(env .. cmd)
  T.check(rc == 0 and out:find("done:", 1, true), "last leg runs to the end:\n" .. out)

  local a, b = lt.load(tmp .. "/runs/a/last.safetensors"), lt.load(tmp .. "/runs/b/last.safetensors")
  local bad = {}
  local n = same_tensors(a.model, b.model, "model", bad) + same_tensors(a.optimizer, b.optimizer, "optimizer", bad)
  T.check(n > 100 and #bad == 0, string.format("%d tensors compared, differing: %s", n, table.concat(bad, " ")))
  T.check(a.optimizer.param_groups[1].lr == b.optimizer.param_groups[1].lr and a.best_acc == b.best_acc
          and a.step == b.step and a.scheduler.last_epoch == b.scheduler.last_epoch, "same rates, schedule and counters")
  local ea, sa = records("a")
  local eb, sb = records("b")
  T.check(#eb == 3 and #sb == #sa, "the resumed run's metrics have every epoch and step once")
  for e = 1, 3 do
    for _, k in ipairs{"step", "train_loss", "train_acc1", "val_loss", "val_acc1", "val_acc5", "lr"} do
      T.check(ea[e][k] == eb[e][k], string.format("epoch %d %s: %s vs %s", e, k, tostring(ea[e][k]), tostring(eb[e][k])))
    end
  end
  for i = 1, #sa do T.check(sa[i].lr == sb[i].lr and sa[i].train_loss == sb[i].train_loss, "step record " .. i) end
end)

T.test("the per-batch OneCycle schedule resumes exactly too (and --workers may change)", function()
  local oc = "--device cpu --data cifar --width 4 --batch 32 --workers 2 --quiet --log-every 1 --sched onecycle --optim nesterov "
             .. "--wd 5e-4 --epochs 2"
  local out, rc = main_script(oc .. " --name o1")
  T.check(rc == 0, "uninterrupted:\n" .. out)
  out, rc = main_script(oc .. " --name o2 --stop-after-batches 7")
  T.check(rc == 130 and out:find("interrupted in epoch 2 after batch 2 of 5", 1, true), "interrupted:\n" .. out)
  out, rc = main_script("--resume runs/o2/last.safetensors --workers 1")
  T.check(rc == 0, "resumed:\n" .. out)
  local a, b = lt.load(tmp .. "/runs/o1/last.safetensors"), lt.load(tmp .. "/runs/o2/last.safetensors")
  local bad = {}
  local n = same_tensors(a.model, b.model, "model", bad) + same_tensors(a.optimizer, b.optimizer, "optimizer", bad)
  T.check(n > 100 and #bad == 0, "bit-identical: " .. table.concat(bad, " "))
  T.check(a.scheduler.last_epoch == 10 and b.scheduler.last_epoch == 10 and a.optimizer.param_groups[1].lr
          == b.optimizer.param_groups[1].lr, "the schedule at the same step and rate")
  local _, sa = records("o1")
  local _, sb = records("o2")
  T.check(#sa == 10 and #sb == 10, "one step record per batch")
  for i = 1, 10 do T.check(sa[i].lr == sb[i].lr, "the same rate at step " .. i) end
  T.check(sa[3].lr > sa[1].lr and sa[10].lr < sa[3].lr, "OneCycle rises, then falls")
end)

T.test("a real SIGINT saves and exits cleanly", function()
  local name = "c"
  local launch = string.format("(%s%s %s %s --epochs 20 --name %s > c.out 2>&1 & echo $! > c.pid; wait $!; echo $? > c.rc) &",
                               env, shq(bin), shq(script), common, name)
  os.execute("cd " .. shq(tmp) .. " && " .. launch)
  -- wait for the first step record: the loop is running
  local started = false
  for _ = 1, 600 do
    local m = slurp(tmp .. "/runs/c/metrics.jsonl")
    if m and #m > 0 then started = true break end
    os.execute("sleep 0.1")
  end
  T.check(started, "the run started")
  local pid = (slurp(tmp .. "/c.pid") or ""):match("%d+")
  T.check(pid ~= nil, "the child's process id")
  if not pid then return end
  os.execute("kill -INT " .. pid)
  local rc
  for _ = 1, 600 do
    rc = slurp(tmp .. "/c.rc")
    if rc and rc:match("%d") then break end
    os.execute("sleep 0.1")
  end
  if not (rc and rc:match("%d")) then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
  local out = slurp(tmp .. "/c.out") or ""
  T.check(rc and tonumber(rc:match("%d+")) == 130, "exit status 130: " .. tostring(rc) .. "\n" .. out)
  T.check(out:find("\ninterrupted ", 1, true) and out:find("resume with: ", 1, true), "the resume command:\n" .. out)
  local ck = lt.load(tmp .. "/runs/c/last.safetensors")
  T.check(ck.step >= 1 and train.all_finite(ck.model), "a checkpoint after the first steps")
  -- it resumes (and a resumed run may shorten --epochs)
  local out2, rc2 = main_script("--resume runs/c/last.safetensors --epochs " .. ck.epoch)
  T.check(rc2 == 0 and out2:find("done:", 1, true), "resumes:\n" .. out2)
end)

T.test("a NaN loss stops the run and keeps the last good checkpoint", function()
  local before = slurp(tmp .. "/runs/a/last.safetensors")
  local out, rc = main_script("--resume runs/a/last.safetensors --epochs 4 --nan-at-batch 2")
  T.check(rc == 3, "exit status 3, got " .. tostring(rc) .. ":\n" .. out)
  T.check(out:find("the loss is NaN at epoch 4, batch 2 (step 17): stopping.", 1, true)
          and out:find("The last good checkpoint is runs/a/last.safetensors", 1, true), "the message:\n" .. out)
  T.check(slurp(tmp .. "/runs/a/last.safetensors") == before, "last.safetensors untouched")
  -- nothing saved yet: says so
  out, rc = main_script(common .. " --epochs 1 --name d --nan-at-batch 1")
  T.check(rc == 3 and out:find("epoch 1, batch 1 (step 1)", 1, true) and out:find("(none was saved yet)", 1, true),
          "NaN in the first batch:\n" .. out)
  T.check(slurp(tmp .. "/runs/d/last.safetensors") == nil, "no checkpoint of a NaN model")
end)

T.test("option and data errors", function()
  local out, rc = main_script("--epoch 3")
  T.check(rc == 2 and out:find("cifar_resnet18: unknown option '--epoch'; valid options: --epochs --lr", 1, true)
          and out:find("--resume", 1, true) and not out:find("stop-after", 1, true), "unknown option:\n" .. out)
  out, rc = main_script("--sched step")
  T.check(rc == 2 and out:find("option --sched must be one of multistep, cosine, onecycle, constant", 1, true), out)
  out, rc = main_script("--help")
  T.check(rc == 0 and out:find("--milestones X", 1, true) and out:find("--demo", 1, true), "--help:\n" .. out)
  out, rc = main_script("--dataset cifar10 --data nowhere")
  T.check(rc == 2 and out:find("CIFAR-10 not found in 'nowhere'", 1, true)
          and out:find("bash scripts/get_cifar10.sh", 1, true), "missing CIFAR-10 asked for by name:\n" .. out)
  out, rc = main_script("--resume runs/a/last.safetensors --lr 0.5")
  T.check(rc == 2 and out:find("--lr cannot change when resuming", 1, true), "resume with another --lr:\n" .. out)
  out, rc = main_script("--resume runs/nothing.safetensors")
  T.check(rc == 2 and out:find("cannot resume from runs/nothing.safetensors: cannot read it: could not open "
                               .. "'runs/nothing.safetensors': No such file or directory", 1, true), out)
  local fm = io.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "rb")
  if not fm then
    print("skipped: the fallback to Fashion-MNIST (dataset-fashion-mnist is not installed)")
    return
  end
  fm:close()
  out, rc = main_script("--device cpu --data nowhere --width 4 --batch 32 --workers 1 --quiet --limit-train 64 --limit-test 64 "
                        .. "--name f --stop-after-batches 1")
  T.check(rc == 130 and out:find("notice: CIFAR-10 not found in 'nowhere'", 1, true)
          and out:find("Training on Fashion-MNIST", 1, true)
          and out:find("fashion-mnist: 64 train / 64 test images, 10 classes", 1, true), "the fallback:\n" .. out)
  local cfg = lt.json.decode(slurp(tmp .. "/runs/f/config.json"))
  T.check(cfg.options.dataset == "fashion-mnist" and cfg.options.data == "", "the config records the data used")
end)

os.execute("rm -rf " .. shq(tmp))
os.exit(T.done())
