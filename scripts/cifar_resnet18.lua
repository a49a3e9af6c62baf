-- scripts/cifar_resnet18.lua — the reference recipe (PyTorch's classic
-- "ResNet18 on CIFAR-10" training script; README, "Training") in luatrain.
--
--   luatrain scripts/cifar_resnet18.lua                 # the reference recipe's settings
--   luatrain scripts/cifar_resnet18.lua --epochs 30 --sched cosine --batch 256
--   luatrain scripts/cifar_resnet18.lua --demo          # what `make demo` runs
--   luatrain scripts/cifar_resnet18.lua --resume runs/<name>/last.safetensors
--   luatrain scripts/cifar_resnet18.lua --help          # every option
--
-- Defaults: CIFAR-10 with RandomCrop(32, padding 4), horizontal flip, ToFloat,
-- Normalize; the reference recipe's ResNet18; cross-entropy; SGD lr 0.1, momentum 0.9,
-- weight decay 1e-4; batch 128; 160 epochs; MultiStepLR at 80 and 120 (gamma
-- 0.1) after a one-epoch per-iteration linear warm-up (the reference recipe's WarmUpLR);
-- validation every epoch with top-1 and top-5. Where the reference recipe has bugs, this
-- script does the right thing (README, "Differences from the reference recipe"): it
-- measures accuracy, not the error rate; it steps the warm-up; it steps the
-- main scheduler after each epoch's training, not before.
--
-- Everything lands in runs/<name>/: config.json, metrics.jsonl,
-- last.safetensors (each epoch, and on Ctrl-C), best.safetensors (best
-- validation top-1). Ctrl-C saves where the run is, even mid-epoch, and
-- prints the command that continues it exactly; a NaN or infinite loss
-- stops the run and leaves the last good checkpoint alone.
--
-- Under a launcher it trains data-parallel with no new option (README,
-- "Many processes"): `mpirun -np 4 luatrain scripts/cifar_resnet18.lua`,
-- `srun luatrain ...` or torchrun's variables. --batch stays the batch of
-- one process; every process trains on its share of each epoch; rank 0
-- alone prints, writes the run folder and saves checkpoints; the losses and
-- accuracies shown are those of all processes together.
--
-- The loop is below, in plain sight: change it.
local train = lt.train
local nn, T = lt.nn, lt.transforms
local prog = "cifar_resnet18"

local function die(fmt, ...)
  io.stderr:write(prog, ": ", string.format(fmt, ...), "\n")
  os.exit(2)
end

local spec = {
  {"epochs", 160, "number of epochs"},
  {"lr", 0.1, "base learning rate (max_lr for onecycle)"},
  {"momentum", 0.9, "SGD momentum"},
  {"wd", 1e-4, "weight decay"},
  {"batch", 128, "batch size"},
  {"sched", "multistep", "learning-rate schedule", choices = {"multistep", "cosine", "onecycle", "constant"}},
  {"milestones", "80,120", "MultiStepLR milestones (epochs, comma-separated)"},
  {"gamma", 0.1, "MultiStepLR factor"},
  {"warmup", 1, "epochs of per-iteration linear warm-up, 0 for none (onecycle has its own)"},
  {"optim", "sgd", "optimizer", choices = {"sgd", "nesterov", "adam", "adamw"}},
  {"width", 64, "ResNet18 base width (64 is the reference recipe's)"},
  {"device", "auto", "auto: the GPU when there is one", choices = {"auto", "cpu", "cuda"}},
  {"data", "", "data folder; without it data/cifar-10-batches-bin, data/cifar-100-binary or Debian's Fashion-MNIST"},
  {"dataset", "cifar10", "data set", choices = {"cifar10", "cifar100", "fashion-mnist", "imagefolder"}},
  {"image-size", 32, "image size for imagefolder data"},
  {"amp", "none", "bf16: mixed precision (forward and loss under lt.autocast)", choices = {"none", "bf16"}},
  {"cuda-graph", false, "capture the training step as one CUDA graph"},
  {"channels-last", false, "NHWC activations and weights (tensor-core convolutions on the GPU)"},
  {"augment-on", "auto", "where crop/flip/normalize run: auto (the GPU when training there), workers, gpu",
   choices = {"auto", "workers", "gpu"}},
  {"workers", 2, "loader worker threads"},
  {"seed", 1, "random seed (model init, shuffling, augmentation)"},
  {"name", "", "run name: the run folder is runs/<name>; without it <dataset>-<date>-<time>"},
  {"resume", "", "continue from a checkpoint (runs/<name>/last.safetensors)"},
  {"limit-train", 0, "use only the first N training images (0: all)"},
  {"limit-test", 0, "validate on the first N test images only (0: all)"},
  {"log-every", 50, "write a step record to metrics.jsonl every N batches"},
  {"quiet", false, "no progress display (the per-epoch summaries stay)"},
  {"demo", false, "the make-demo preset: Fashion-MNIST, width 8, 3 epochs, OneCycle (channels-last on the CPU)"},
  -- test hooks: an "interrupted!" after N batches of this process, as Ctrl-C
  -- would raise; a NaN loss at the N-th batch of this process
  {"stop-after-batches", 0, "", hidden = true},
  {"nan-at-batch", 0, "", hidden = true},
}
local usage = "usage: luatrain scripts/cifar_resnet18.lua [options]"
local ok_args, opt, given = pcall(train.parse_args, arg, spec, usage)
if not ok_args then die("%s", tostring(opt)) end

-- What a resumed run may change: the rest is in the checkpoint's state (the
-- optimizer's rates, the schedules, the data order), so changing it would
-- not continue the same run.
local resume_may_change = {epochs = true, device = true, workers = true, quiet = true, log_every = true,
                           limit_test = true, name = true, resume = true, stop_after_batches = true,
                           nan_at_batch = true, amp = true, cuda_graph = true,
                           channels_last = true, augment_on = true}
local hidden = {stop_after_batches = true, nan_at_batch = true}

-- Resume: the checkpoint's options, except those given again here. The
-- checkpoint is checked in two steps, its options now and the rest against
-- the model and optimizer once they are made (lt.train.check_checkpoint),
-- and nothing in the run folder changes before both have passed. Every
-- failure names the checkpoint and the part (exit status 2).
local ck
local function cannot_resume(err) die("cannot resume from %s", tostring(err)) end
if opt.resume ~= "" then
  local ok, res = pcall(train.read_checkpoint, opt.resume)
  if not ok then cannot_resume(res) end
  ck = res
  ok, res = pcall(train.check_checkpoint, opt.resume, ck, {values = {config = "table", ["config.options"] = "table"}})
  if not ok then cannot_resume(res) end
  local bad = train.check_options(ck.config.options, spec)
  if bad then cannot_resume(opt.resume .. ": config: " .. bad) end
  for key in pairs(given) do
    if not resume_may_change[key] then
      local names = {}
      for k in pairs(resume_may_change) do if not hidden[k] then names[#names + 1] = "--" .. k:gsub("_", "-") end end
      table.sort(names)
      die("--%s cannot change when resuming (the checkpoint holds the run's state); "
          .. "a resumed run may change only %s", (key:gsub("_", "-")), table.concat(names, " "))
    end
  end
  for key, v in pairs(ck.config.options) do
    if not given[key] and opt[key] ~= nil and not hidden[key] then opt[key] = v end
  end
  if given.epochs and opt.sched == "onecycle" and opt.epochs ~= ck.config.options.epochs then
    die("--epochs cannot change when resuming a onecycle run (its schedule spans the original %d epochs)",
        ck.config.options.epochs)
  end
elseif opt.demo then
  -- Small enough for a 2-core CPU in a few minutes, good enough for ~90%.
  local preset = {dataset = "fashion-mnist", width = 8, epochs = 3, sched = "onecycle", lr = 0.1, batch = 128,
                  warmup = 0, wd = 5e-4, optim = "nesterov", limit_train = 0}
  for k, v in pairs(preset) do if not given[k] then opt[k] = v end end
end

-- Device
local has_cuda = lt.cuda ~= nil and lt.cuda.is_available()
local device = opt.device
if device == "auto" then device = has_cuda and "cuda" or "cpu" end
if device == "cuda" and not has_cuda then die("--device cuda, but no GPU is available (use --device cpu)") end
if opt.cuda_graph and device ~= "cuda" then die("--cuda-graph needs the GPU (--device cuda)") end
if opt.augment_on == "gpu" and device ~= "cuda" then die("--augment-on gpu needs the GPU (--device cuda)") end
-- The demo trains in channels-last on the CPU, where its convolutions,
-- batch norms and pooling then run with no layout conversion (~25% faster).
if opt.demo and not ck and not given.channels_last and device == "cpu" then opt.channels_last = true end
-- On the GPU the batches travel as uint8 (a quarter of the bytes) and the
-- transforms run there, one fused kernel per batch; the random draws are the
-- loader's per-batch generator's, so the images are the same as the workers'.
local gpu_augment = opt.augment_on == "gpu" or (opt.augment_on == "auto" and device == "cuda")

-- Processes: one, or as many as the launcher started (lt.distributed.env()
-- reads mpirun's, srun's or torchrun's variables). With several, rank 0 is
-- the main process: it alone prints and writes files.
local dist = lt.distributed
local world = dist.env().world_size
if world > 1 then dist.init_process_group{backend = device == "cuda" and "nccl" or "mpi"} end
local main = world == 1 or dist.is_main()
-- where this process's tensors live: its own GPU (local rank) when several
-- processes share a machine's GPUs
local place = (device == "cuda" and world > 1) and ("cuda:" .. dist.local_rank()) or device
if not main then print = function() end end
if ck and (ck.config.world_size or 1) ~= world then
  die("cannot resume from %s: it was written by a run of %d process%s, this one has %d; resume it with the same "
      .. "number of processes", opt.resume, ck.config.world_size or 1, (ck.config.world_size or 1) > 1 and "es" or "", world)
end

-- Data: CIFAR-10 when present; Fashion-MNIST from the Debian package otherwise
-- (unless --dataset cifar10 was asked for by name).
local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end
local dataset, data_root = opt.dataset, opt.data
if dataset == "cifar10" then
  local root = data_root ~= "" and data_root or "data/cifar-10-batches-bin"
  if not exists(root .. "/test_batch.bin") then
    local how = "get it with: bash scripts/get_cifar10.sh (downloads it into data/cifar-10-batches-bin)"
    if given.dataset or ck then die("CIFAR-10 not found in '%s' (no test_batch.bin there);\n  %s", root, how) end
    print(string.format("notice: CIFAR-10 not found in '%s';\n  %s.\n  Training on Fashion-MNIST from the Debian "
      .. "package instead (the model takes 1-channel 28x28 images).", root, how))
    dataset, data_root = "fashion-mnist", ""
  end
end

local train_set, test_set, mean, std, in_channels, size
local function load_data()
  if dataset == "cifar10" or dataset == "cifar100" then
    local D = dataset == "cifar10" and lt.data.CIFAR10 or lt.data.CIFAR100
    local root = data_root ~= "" and data_root or (dataset == "cifar10" and "data/cifar-10-batches-bin" or "data/cifar-100-binary")
    train_set, test_set = D{root = root, train = true}, D{root = root, train = false}
    mean, std = {0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616}
    in_channels, size = 3, 32
  elseif dataset == "fashion-mnist" then
    local root = data_root ~= "" and data_root or nil
    train_set, test_set = lt.data.FashionMNIST{root = root, train = true}, lt.data.FashionMNIST{root = root, train = false}
    mean, std = {0.2860}, {0.3530}
    in_channels, size = 1, 28
  else -- imagefolder
    if data_root == "" then die("--dataset imagefolder needs --data <root> holding train/ and val/") end
    size = opt.image_size
    train_set = lt.data.ImageFolder{root = data_root .. "/train", size = size}
    test_set = lt.data.ImageFolder{root = data_root .. "/val", size = size}
    mean, std = {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}
    in_channels = 3
  end
end
local ok_data, data_err = pcall(load_data)
if not ok_data then die("cannot load %s: %s", dataset, tostring(data_err)) end
local function first(ds, n)
  if n <= 0 or n >= #ds then return ds end
  local idx = {}
  for i = 1, n do idx[i] = i end
  return lt.data.Subset(ds, idx)
end
train_set, test_set = first(train_set, opt.limit_train), first(test_set, opt.limit_test)
local num_classes = #train_set.classes
-- With several processes each validates on its own share of the test set
-- (images rank+1, rank+1+world, ...), and the sums are added up.
local test_share = test_set
if world > 1 then
  local idx = {}
  for i = dist.rank() + 1, #test_set, world do idx[#idx + 1] = i end
  test_share = lt.data.Subset(test_set, idx)
end

local train_tf = T.Compose{T.RandomCrop(size, {padding = 4}), T.RandomHorizontalFlip(), T.ToFloat(), T.Normalize(mean, std)}
local test_tf = T.Compose{T.ToFloat(), T.Normalize(mean, std)}
local train_loader = lt.data.DataLoader(train_set, {batch_size = opt.batch, shuffle = true,
                                                    transform = not gpu_augment and train_tf or nil,
                                                    num_workers = opt.workers, seed = opt.seed, device = place,
                                                    pin_memory = device == "cuda", distributed = world > 1})
local test_loader = lt.data.DataLoader(test_share, {batch_size = opt.batch, shuffle = false,
                                                  transform = not gpu_augment and test_tf or nil,
                                                  num_workers = opt.workers, seed = opt.seed, device = place,
                                                  pin_memory = device == "cuda"})
local iters = #train_loader

-- Model, loss, optimizer, schedules
lt.manual_seed(opt.seed)
local model = lt.models.resnet18{num_classes = num_classes, width = opt.width, in_channels = in_channels}
model:to(place)
if opt.channels_last then model:to{memory_format = "channels_last"} end
-- With several processes the forward pass goes through DistributedDataParallel,
-- which averages the gradients over the processes during backward; `model`
-- stays the model itself (its state, its parameters for the optimizer).
local net = world > 1 and nn.DistributedDataParallel(model) or model
local criterion = nn.CrossEntropyLoss()

-- The forward pass and the loss. With --amp bf16 they run under lt.autocast:
-- convolutions and the classifier in bfloat16, batch norm and the loss in
-- float32; parameters, their gradients and the optimizer stay float32.
local function forward(images, labels)
  local function run()
    local out = net(images)
    return out, criterion(out, labels)
  end
  if opt.amp == "bf16" then return lt.autocast("bf16", run) end
  return run()
end

local optimizer
if opt.optim == "sgd" or opt.optim == "nesterov" then
  optimizer = lt.optim.SGD(model:parameters(), {lr = opt.lr, momentum = opt.momentum, weight_decay = opt.wd,
                                                nesterov = opt.optim == "nesterov"})
elseif opt.optim == "adam" then
  optimizer = lt.optim.Adam(model:parameters(), {lr = opt.lr, weight_decay = opt.wd})
else
  optimizer = lt.optim.AdamW(model:parameters(), {lr = opt.lr, weight_decay = opt.wd})
end

-- The main schedule steps once per epoch, after that epoch's training (the
-- reference recipe steps it before); OneCycle steps once per batch.
local S = lt.optim.lr_scheduler
local scheduler, per_iteration = nil, false
if opt.sched == "multistep" then
  local ms = {}
  for m in opt.milestones:gmatch("[^,]+") do
    ms[#ms + 1] = math.tointeger(tonumber(m)) or die("--milestones: '%s' is not an epoch number", m)
  end
  scheduler = S.MultiStepLR(optimizer, {milestones = ms, gamma = opt.gamma})
elseif opt.sched == "cosine" then
  scheduler = S.CosineAnnealingLR(optimizer, {T_max = math.max(opt.epochs, 1)})
elseif opt.sched == "onecycle" then
  scheduler = S.OneCycleLR(optimizer, {max_lr = opt.lr, total_steps = math.max(opt.epochs * iters, 1), pct_start = 0.15})
  per_iteration = true
end
-- The reference recipe's WarmUpLR, stepped before every batch of the first `warmup`
-- epochs (the reference recipe creates it and never steps it): batch i of n runs at
-- lr * i / n.
local WarmUpLR = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/examples/warmup_scheduler.lua")
local warmup = (opt.warmup > 0 and not per_iteration) and WarmUpLR(optimizer, iters * opt.warmup) or nil

-- Run folder and configuration
local name = opt.name ~= "" and opt.name or (dataset .. "-" .. os.date("%Y%m%d-%H%M%S"))
local run_dir = "runs/" .. name
if ck and not given.name then run_dir = opt.resume:match("^(.*)/[^/]*$") or "." end
local options = {}
for _, s in ipairs(spec) do
  local k = s[1]:gsub("-", "_")
  if not hidden[k] then options[k] = opt[k] end
end
options.dataset, options.data, options.name, options.resume = dataset, data_root, name, ""
local config = {options = options, device = device, run_dir = run_dir, luatrain = lt.version,
                train_size = #train_set, test_size = #test_set, num_classes = num_classes, iters_per_epoch = iters,
                parameters = model:num_parameters(), model = string.format("resnet18(width=%d, in_channels=%d)", opt.width, in_channels),
                command = table.concat(arg, " ", 0, #arg), world_size = world}

-- Where the run is: the state after the last completed step. `batches` of
-- epoch `epoch` are done; `complete` once the epoch's validation, schedule
-- step and checkpoint are done too.
local pos = {epoch = 0, batches = iters, complete = true}
local best_acc, step, wall0 = 0, 0, 0
local loss_m, top1_m = train.AverageMeter("loss"), train.AverageMeter("top1")
local seen, train_time, last_lr = 0, 0, 0   -- this epoch's images, seconds, rate of its last batch

if ck then
  -- what every checkpoint of this script holds, then the objects it fills
  local values = {epoch = "count", batches_done = "count", epoch_complete = "boolean", iters_per_epoch = "count",
                  best_acc = "number", step = "count", wall_time = "number"}
  local ok, err = pcall(train.check_checkpoint, opt.resume, ck, {values = values})
  if not ok then cannot_resume(err) end
  if ck.iters_per_epoch ~= iters then
    cannot_resume(string.format("%s: it has %d batches per epoch, this run %d: the same data and --batch are needed",
                                opt.resume, ck.iters_per_epoch, iters))
  end
  if ck.batches_done > iters or (ck.epoch == 0 and not ck.epoch_complete) then
    cannot_resume(string.format("%s: position epoch %d, batch %d of %d is impossible", opt.resume, ck.epoch,
                                ck.batches_done, iters))
  end
  local parts = {model = model, optimizer = optimizer, states = {}, rng = true}
  if scheduler then parts.states.scheduler = scheduler end
  if warmup then parts.states.warmup = warmup end
  if not ck.epoch_complete then
    parts.states["meters.loss"], parts.states["meters.top1"] = loss_m, top1_m
    parts.values = {["meters.seen"] = "count", ["meters.time"] = "number", ["meters.lr"] = "number"}
  end
  -- a model of another shape, in this script's terms (the first
  -- convolution's outputs are the width; the classifier's, the classes)
  parts.explain = function(key, saved, mine)
    if key == "conv1.0.weight" and saved[1] ~= mine[1] then
      return string.format("model width %d does not match --width %d", saved[1], opt.width)
    elseif key == "conv1.0.weight" and saved[2] ~= mine[2] then
      return string.format("the model takes %d-channel images, the %s data has %d", saved[2], dataset, mine[2])
    elseif key == "classifer.weight" and saved[1] ~= mine[1] then
      return string.format("the model has %d classes, the %s data has %d", saved[1], dataset, mine[1])
    end
  end
  ok, err = pcall(train.check_checkpoint, opt.resume, ck, parts)
  if not ok then cannot_resume(err) end
  train.restore_checkpoint(ck, parts)
  pos = {epoch = ck.epoch, batches = ck.batches_done, complete = ck.epoch_complete}
  best_acc, step, wall0 = ck.best_acc, ck.step, ck.wall_time
  if not pos.complete then seen, train_time, last_lr = ck.meters.seen, ck.meters.time, ck.meters.lr end
end

-- Only the main process writes the run folder; the others log nowhere.
local run = main and train.Run(run_dir, config, {resume = ck ~= nil, keep_until_step = step})
  or {log = function() end, close = function() end}
-- "cuda (NVIDIA H200, cuDNN 91400)": which GPU and cuDNN the run got
local device_desc = device
if device == "cuda" then
  device_desc = string.format("cuda (%s, cuDNN %s)", lt.cuda.get_device_name(), tostring(lt.cuda.cudnn_version()))
end
print(string.format("luatrain %s | device %s | %s: %d train / %d test images, %d classes | ResNet18 width %d, %d parameters",
  lt.version, device_desc, dataset, #train_set, #test_set, num_classes, opt.width, model:num_parameters()))
print("options: " .. train.format_options(opt, spec))
if world > 1 then
  print(string.format("data parallel: %d processes (%s, %s), batch %d per process, %d in all; %d batches per epoch each",
                      world, dist.env().launcher, dist.get_backend(), opt.batch, opt.batch * world, iters))
end
print("run folder: " .. run_dir)
if ck then
  print(string.format("resumed from %s: epoch %d, %d of %d batches done%s (best top-1 %.2f%%)", opt.resume, pos.epoch,
    pos.batches, iters, pos.complete and ", validated" or "", best_acc))
end

local last_path, best_path = run_dir .. "/last.safetensors", run_dir .. "/best.safetensors"
local read_window
local function checkpoint()
  read_window(pos.epoch, pos.batches)   -- the meters must include every finished step
  local c = {model = model:state_dict(), optimizer = optimizer:state_dict(), rng = lt.get_rng_state(),
             epoch = pos.epoch, batches_done = pos.batches, epoch_complete = pos.complete, iters_per_epoch = iters,
             best_acc = best_acc, step = step, wall_time = wall0, config = config,
             meters = {loss = loss_m:state_dict(), top1 = top1_m:state_dict(), seen = seen, time = train_time, lr = last_lr}}
  if scheduler then c.scheduler = scheduler:state_dict() end
  if warmup then c.warmup = warmup:state_dict() end
  return c
end
-- Never replaces a checkpoint with a model that holds NaN or infinity. With
-- several processes the main one saves (every model is the same) and the
-- others wait for it, unless `alone` (an interrupted run waits once it has
-- also printed how to resume).
local function save(path, alone)
  if not train.all_finite(model:state_dict()) then
    error({stop = string.format("the model holds NaN or infinite values after epoch %d, batch %d: not saving it", pos.epoch, pos.batches)})
  end
  if main then lt.save(path, checkpoint()) end
  if world > 1 and not alone then dist.barrier() end
end

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end
local function what(x) return x ~= x and "NaN" or (x > 0 and "+infinity" or "-infinity") end
local t_start = train.clock()
local function wall() return wall0 + train.clock() - t_start end
local progress = main and train.Progress{quiet = opt.quiet} or {update = function() end, finish = function() end}
local batches_run = 0   -- in this process, for the test hooks

-- A batch as the model takes it: augmented here when that runs on the GPU
-- (gen: the batch's generator; nil for the test set's fixed transforms),
-- then in the model's memory layout.
local function prepare(images, gen)
  if gpu_augment then images = (gen and train_tf or test_tf)(images, gen) end
  if opt.channels_last then images = images:to{memory_format = "channels_last"} end
  return images
end

local function evaluate()
  model:eval()
  local loss, top1, top5 = train.AverageMeter(), train.AverageMeter(), train.AverageMeter()
  lt.no_grad(function()
    for _, images, labels in test_loader:iter() do
      local out, l = forward(prepare(images), labels)
      local n = labels:size(1)
      loss:update(l:item(), n)
      local a1, a5 = train.accuracy(out, labels, {1, 5})
      top1:update(a1, n)
      top5:update(a5, n)
    end
  end)
  if world > 1 then -- the sums of every process's share
    local sums = lt.tensor({loss.sum, top1.sum, top5.sum, loss.count}, {dtype = "float64"})
    dist.all_reduce(sums)
    local n = sums[4]:item()
    return sums[1]:item() / n, sums[2]:item() / n, sums[3]:item() / n
  end
  return loss.avg, top1.avg, top5.avg
end

-- The step's loss and correct count are summed on the device and read back
-- only every `read_every` batches: on a GPU, reading a value makes the host
-- wait for the queue to drain, which would stall it every step. On the CPU
-- reading is free, so every batch is read (and a NaN is named exactly).
local read_every = device == "cpu" and 1 or 25
local window = {loss = lt.zeros({}, {device = place, dtype = "float64"}),
                correct = lt.zeros({}, {device = place, dtype = "int64"}), n = 0, first = 0}

-- Adds one step's loss (mean over the batch) and correct count to the window.
local function account(out, loss, labels)
  local n = labels:size(1)
  lt.no_grad(function()
    window.loss:add_(loss:detach():double() * n)
    window.correct:add_(out:detach():argmax(2):eq(labels):sum())
  end)
end

-- Moves the window into the meters; stops the run on a NaN or infinite loss.
function read_window(epoch, last_batch)
  if window.n == 0 then return end
  local sum, correct, n = window.loss:item(), window.correct:item(), window.n
  if world > 1 then -- every process reads its window at the same batch: add them up
    local sums = lt.tensor({sum, correct, n}, {dtype = "float64"})
    dist.all_reduce(sums)
    sum, correct, n = sums[1]:item(), sums[2]:item(), sums[3]:item()
  end
  if not finite(sum) then
    local where = window.first == last_batch and string.format("batch %d (step %d)", last_batch, step)
      or string.format("one of batches %d..%d (steps %d..%d)", window.first, last_batch, step - (last_batch - window.first), step)
    error({stop = string.format("the loss is %s at epoch %d, %s", what(sum), epoch, where)})
  end
  loss_m:update(sum / n, n)
  top1_m:update(correct * 100.0 / n, n)
  window.loss:zero_()
  window.correct:zero_()
  window.n = 0
end

-- One eager training step: forward, loss, backward, update.
local function eager_step(images, labels)
  local out, loss = forward(images, labels)
  if opt.nan_at_batch > 0 and batches_run + 1 == opt.nan_at_batch then loss = loss * (0 / 0) end
  optimizer:zero_grad()
  loss:backward()
  optimizer:step()
  account(out, loss, labels)
end

-- --cuda-graph: the first step of this process runs eagerly (it makes the
-- gradients and optimizer state and lets cuDNN choose its algorithms); the
-- next one is captured as a CUDA graph, which every later full-size batch
-- replays after its images and labels are copied into the graph's input
-- buffers. The learning rate reaches a replay through the optimizer's
-- device buffer, so the schedulers step as usual. A step that cannot be
-- captured is run eagerly from then on, with a notice; a smaller last
-- batch runs eagerly.
local graph = {state = opt.cuda_graph and "warm-up" or "off"}   -- off, warm-up, on
local function graph_step(images, labels)
  if graph.state == "warm-up" then
    graph.state = "capture"
    return eager_step(images, labels)
  end
  if graph.state == "capture" then
    local x = images:clone()
    if opt.channels_last then x = x:contiguous("channels_last") end
    local inputs = {images = x, labels = labels:clone()}
    optimizer:zero_grad()   -- the warm-up's gradients are freed now, not held by the graph
    local ok, g = pcall(lt.cuda.graph, function(s)
      local out, loss = forward(s.images, s.labels)
      optimizer:zero_grad()
      loss:backward()
      optimizer:step()
      account(out, loss, s.labels)
      return loss
    end, inputs, {warmup = 0})
    if not ok then
      graph.state = "off"
      print(string.format("notice: the training step could not be captured as a CUDA graph; training eagerly.\n  %s",
                          (tostring(g):gsub("\n", "\n  "))))
      optimizer:zero_grad()
      return eager_step(images, labels)
    end
    graph.state, graph.g, graph.inputs = "on", g, inputs
    graph.g:replay()
    return
  end
  local x, y = graph.inputs.images, graph.inputs.labels
  if graph.state == "on" and images:size(1) == x:size(1) then
    x:copy_(images)
    y:copy_(labels)
    graph.g:replay()
  else
    eager_step(images, labels)
  end
end

local function run_training()
  local start_epoch = pos.complete and pos.epoch + 1 or pos.epoch
  for epoch = start_epoch, opt.epochs do
    local first_batch = 1
    if epoch == pos.epoch and not pos.complete then
      first_batch = pos.batches + 1      -- the meters hold the batches before it
    else
      loss_m:reset() top1_m:reset()
      seen, train_time, last_lr = 0, 0, 0
      pos = {epoch = epoch, batches = 0, complete = false}
    end
    model:train()
    local t0 = train.clock() - train_time
    for i, images, labels in train_loader:iter{epoch = epoch, start_batch = first_batch} do
      images = prepare(images, gpu_augment and train_loader:generator(epoch, i))
      local lr = 0
      -- One step, all or nothing: a Ctrl-C during it takes effect after it.
      train.atomic(function()
        if warmup and epoch <= opt.warmup then warmup:step() end
        lr = optimizer.param_groups[1].lr
        if graph.state == "off" then eager_step(images, labels) else graph_step(images, labels) end
        if per_iteration then scheduler:step() end
        if window.n == 0 then window.first = i end
        local n = labels:size(1)
        window.n = window.n + n
        seen, step, last_lr = seen + n, step + 1, lr
        if i % read_every == 0 or i == iters or i % opt.log_every == 0 then read_window(epoch, i) end
        train_time = train.clock() - t0
        pos.batches = i
        if i % opt.log_every == 0 then
          run:log{epoch = epoch, step = step, batch = i, train_loss = loss_m.val, lr = lr, wall_time = wall()}
        end
      end)
      batches_run = batches_run + 1
      progress:update{epoch = epoch, epochs = opt.epochs, batch = i, batches = iters, loss = loss_m.avg, acc = top1_m.avg,
                      lr = lr, ips = seen * world / math.max(train_time, 1e-9), eta = train_time / i * (iters - i)}
      if opt.stop_after_batches > 0 and batches_run >= opt.stop_after_batches then error("interrupted!", 0) end
    end

    local vl, v1, v5 = evaluate()
    if not finite(vl) then error({stop = string.format("the validation loss is %s after epoch %d", what(vl), epoch)}) end
    train.atomic(function()
      if scheduler and not per_iteration then scheduler:step() end
      local is_best = v1 > best_acc
      if is_best then best_acc = v1 end
      local ips = seen * world / math.max(train_time, 1e-9)
      run:log{epoch = epoch, step = step, train_loss = loss_m.avg, train_acc1 = top1_m.avg, val_loss = vl, val_acc1 = v1,
              val_acc5 = v5, lr = last_lr, images_per_s = ips, wall_time = wall()}
      progress:finish(string.format("epoch %d/%d  train loss %.4f top1 %.2f%%  |  val loss %.4f top1 %.2f%% top5 %.2f%%  |  %.0f img/s%s",
        epoch, opt.epochs, loss_m.avg, top1_m.avg, vl, v1, v5, ips, is_best and "  (best)" or ""))
      pos.complete = true
      wall0, t_start = wall(), train.clock()
      save(last_path)
      if is_best then save(best_path) end
    end)
  end
end

local ok_run, err = pcall(run_training)
progress:finish()
if graph.g then graph.g:release() end
if not ok_run then
  if type(err) == "table" and err.stop then
    run:close("failed")
    io.stderr:write(string.format("%s: %s: stopping.\n  The last good checkpoint is %s%s\n", prog, err.stop, last_path,
      exists(last_path) and "" or " (none was saved yet)"))
    os.exit(3)
  end
  if tostring(err):find("interrupted!", 1, true) then
    wall0, t_start = wall(), train.clock()
    local ok_save, save_err = pcall(save, last_path, true)
    run:close("interrupted")
    if not ok_save then
      io.stderr:write(prog, ": interrupted, and the checkpoint could not be saved: ", tostring(type(save_err) == "table" and save_err.stop or save_err), "\n")
      os.exit(1)
    end
    local where = pos.complete and string.format("after epoch %d", pos.epoch)
      or string.format("in epoch %d after batch %d of %d", pos.epoch, pos.batches, iters)
    local program = -1
    while arg[program - 1] do program = program - 1 end   -- the luatrain binary, before any of its options
    print(string.format("\ninterrupted %s: saved %s\nresume with: %s%s %s --resume %s", where, last_path,
      world > 1 and string.format("mpirun -np %d ", world) or "", arg[program] or "luatrain", arg[0], last_path))
    -- the other processes stopped at the same batch: they wait here until
    -- the main one has saved and said so
    if world > 1 then pcall(dist.barrier) end
    os.exit(130)
  end
  run:close("failed")
  error(err, 0)
end
run:close()
if world > 1 then dist.destroy_process_group() end
print(string.format("done: best val top-1 %.2f%%, final checkpoint %s", best_acc, last_path))
print(string.format("run folder: %s (plot: luatrain plot %s)", run_dir, run_dir))
return {best_acc = best_acc, run_dir = run_dir}
