-- scripts/cifar_resnet18.lua — the seed's "ResNet18 on CIFAR-10" recipe.
--
--   luatrain scripts/cifar_resnet18.lua                 # the seed's settings
--   luatrain scripts/cifar_resnet18.lua --epochs 30 --sched cosine --amp bf16
--   luatrain scripts/cifar_resnet18.lua --demo          # what `make demo` runs
--   luatrain scripts/cifar_resnet18.lua --resume runs/<name>/last.safetensors
--
-- Defaults: CIFAR-10 with RandomCrop(32, padding 4), horizontal flip, ToFloat,
-- Normalize; the seed's ResNet18; cross-entropy; SGD lr 0.1, momentum 0.9,
-- weight decay 1e-4; batch 128; 160 epochs; MultiStepLR at 80 and 120 (gamma
-- 0.1) after a one-epoch per-iteration linear warm-up (the seed's WarmUpLR);
-- validation every epoch with top-1 and top-5. Where the seed has bugs, this
-- script does the right thing (see README: accuracy, not error; the warm-up
-- is stepped; the main scheduler steps after each epoch).
--
-- The loop is below, in plain sight: change it.
local train = lt.train
local nn, F, T = lt.nn, lt.nn.functional, lt.transforms

local spec = {
  {"epochs", 160, "number of epochs"},
  {"lr", 0.1, "base learning rate"},
  {"momentum", 0.9, "SGD momentum"},
  {"wd", 1e-4, "weight decay"},
  {"batch", 128, "batch size"},
  {"sched", "multistep", "multistep | cosine | onecycle | constant"},
  {"milestones", "80,120", "MultiStepLR milestones (epochs)"},
  {"gamma", 0.1, "MultiStepLR factor"},
  {"warmup", 1, "epochs of per-iteration linear warm-up (0: none)"},
  {"optim", "sgd", "sgd | nesterov | adam | adamw"},
  {"width", 64, "ResNet base width (64 is the seed's)"},
  {"device", "auto", "auto | cpu | cuda"},
  {"data", "", "data folder (default ./data/cifar-10-batches-bin)"},
  {"dataset", "cifar10", "cifar10 | cifar100 | fashion-mnist | imagefolder"},
  {"image-size", 32, "image size for imagefolder data"},
  {"amp", "none", "none | bf16 (mixed precision on the GPU)"},
  {"cuda-graph", false, "capture the training step as one CUDA graph"},
  {"workers", 2, "loader worker threads"},
  {"seed", 1, "random seed (model init, shuffling, augmentation)"},
  {"name", "", "run name (runs/<name>); default: dataset-time"},
  {"resume", "", "checkpoint to resume from"},
  {"limit-train", 0, "use only the first N training images (0: all)"},
  {"quiet", false, "no progress display"},
  {"demo", false, "the make-demo preset: Fashion-MNIST, width 16, 3 epochs, OneCycle"},
}

local ok, opt, given = pcall(train.parse_args, arg, spec, "usage: luatrain scripts/cifar_resnet18.lua [options]")
if not ok then
  io.stderr:write("cifar_resnet18: ", tostring(opt), "\n")
  os.exit(2)
end

if opt.demo then
  -- Small enough for a 2-core CPU in a few minutes, good enough for ~90%.
  local preset = {dataset = "fashion-mnist", width = 16, epochs = 3, sched = "onecycle", lr = 0.1, batch = 128,
                  warmup = 0, wd = 5e-4, optim = "nesterov", limit_train = 0}
  for k, v in pairs(preset) do if not given[k] then opt[k] = v end end
end

-- Device
local device = opt.device
if device == "auto" then device = (lt.cuda and lt.cuda.is_available()) and "cuda" or "cpu" end
if device == "cuda" and not (lt.cuda and lt.cuda.is_available()) then
  io.stderr:write("cifar_resnet18: --device cuda, but no GPU is available\n")
  os.exit(2)
end

-- Data: CIFAR-10 when present; Fashion-MNIST from the Debian package otherwise.
local root = opt.data ~= "" and opt.data or "data/cifar-10-batches-bin"
local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end
local dataset = opt.dataset
if dataset == "cifar10" and not exists(root .. "/test_batch.bin") then
  local how = "get it with: bash scripts/get_cifar10.sh (downloads into data/)"
  if given.dataset then
    io.stderr:write(string.format("cifar_resnet18: CIFAR-10 not found in '%s'; %s\n", root, how))
    os.exit(2)
  end
  print(string.format("notice: CIFAR-10 not found in '%s' (%s);\n        training on Fashion-MNIST from the Debian package instead.", root, how))
  dataset = "fashion-mnist"
end

local train_set, test_set, mean, std, in_channels, size
if dataset == "cifar10" or dataset == "cifar100" then
  local D = dataset == "cifar10" and lt.data.CIFAR10 or lt.data.CIFAR100
  if dataset == "cifar100" and opt.data == "" then root = "data/cifar-100-binary" end
  train_set, test_set = D{root = root, train = true}, D{root = root, train = false}
  mean, std = {0.4914, 0.4822, 0.4465}, {0.2471, 0.2435, 0.2616}
  in_channels, size = 3, 32
elseif dataset == "fashion-mnist" then
  local r = opt.data ~= "" and given.data and opt.data or nil
  train_set, test_set = lt.data.FashionMNIST{root = r, train = true}, lt.data.FashionMNIST{root = r, train = false}
  mean, std = {0.2860}, {0.3530}
  in_channels, size = 1, 28
elseif dataset == "imagefolder" then
  if opt.data == "" then io.stderr:write("cifar_resnet18: --dataset imagefolder needs --data <root> with train/ and val/\n") os.exit(2) end
  size = opt.image_size
  train_set = lt.data.ImageFolder{root = opt.data .. "/train", size = size}
  test_set = lt.data.ImageFolder{root = opt.data .. "/val", size = size}
  mean, std = {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}
  in_channels = 3
else
  io.stderr:write("cifar_resnet18: unknown --dataset '" .. dataset .. "' (cifar10, cifar100, fashion-mnist, imagefolder)\n")
  os.exit(2)
end
if opt.limit_train > 0 and opt.limit_train < #train_set then
  local idx = {}
  for i = 1, opt.limit_train do idx[i] = i end
  train_set = lt.data.Subset(train_set, idx)
end
local num_classes = #train_set.classes

local train_tf = T.Compose{T.RandomCrop(size, {padding = 4}), T.RandomHorizontalFlip(), T.ToFloat(), T.Normalize(mean, std)}
local test_tf = T.Compose{T.ToFloat(), T.Normalize(mean, std)}
local loader_opts = {batch_size = opt.batch, num_workers = opt.workers, seed = opt.seed, device = device}
local train_loader = lt.data.DataLoader(train_set, setmetatable({shuffle = true, transform = train_tf, drop_last = false}, {__index = loader_opts}))
local test_loader = lt.data.DataLoader(test_set, setmetatable({shuffle = false, transform = test_tf}, {__index = loader_opts}))

-- Model, loss, optimiser, schedules
lt.manual_seed(opt.seed)
local model = lt.models.resnet18{num_classes = num_classes, width = opt.width, in_channels = in_channels}
model:to(device)
local criterion = nn.CrossEntropyLoss()

local optimizer
if opt.optim == "sgd" or opt.optim == "nesterov" then
  optimizer = lt.optim.SGD(model:parameters(), {lr = opt.lr, momentum = opt.momentum, weight_decay = opt.wd,
                                                nesterov = opt.optim == "nesterov"})
elseif opt.optim == "adam" then
  optimizer = lt.optim.Adam(model:parameters(), {lr = opt.lr, weight_decay = opt.wd})
elseif opt.optim == "adamw" then
  optimizer = lt.optim.AdamW(model:parameters(), {lr = opt.lr, weight_decay = opt.wd})
else
  io.stderr:write("cifar_resnet18: unknown --optim '" .. opt.optim .. "' (sgd, nesterov, adam, adamw)\n")
  os.exit(2)
end

local S = lt.optim.lr_scheduler
local iters = #train_loader
local scheduler, per_iteration = nil, false
if opt.sched == "multistep" then
  local ms = {}
  for m in opt.milestones:gmatch("[^,]+") do ms[#ms + 1] = math.tointeger(tonumber(m)) end
  scheduler = S.MultiStepLR(optimizer, {milestones = ms, gamma = opt.gamma})
elseif opt.sched == "cosine" then
  scheduler = S.CosineAnnealingLR(optimizer, {T_max = opt.epochs})
elseif opt.sched == "onecycle" then
  scheduler = S.OneCycleLR(optimizer, {max_lr = opt.lr, total_steps = opt.epochs * iters, pct_start = 0.15})
  per_iteration = true
elseif opt.sched == "constant" then
  scheduler = nil
else
  io.stderr:write("cifar_resnet18: unknown --sched '" .. opt.sched .. "' (multistep, cosine, onecycle, constant)\n")
  os.exit(2)
end
local WarmUpLR = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/examples/warmup_scheduler.lua")
local warmup = (opt.warmup > 0 and not per_iteration) and WarmUpLR(optimizer, iters * opt.warmup) or nil

-- Run folder, resume
local name = opt.name ~= "" and opt.name or (dataset .. "-" .. os.date("%Y%m%d-%H%M%S"))
local run_dir = "runs/" .. name
local start_epoch, best_acc = 1, 0
local config = {}
for k, v in pairs(opt) do config[k] = v end
config.dataset, config.device, config.run_dir = dataset, device, run_dir
config.train_size, config.test_size, config.num_classes = #train_set, #test_set, num_classes

local function checkpoint(epoch, extra)
  local ck = {model = model:state_dict(), optimizer = optimizer:state_dict(), epoch = epoch, rng = lt.get_rng_state(),
              best_acc = best_acc, config = config}
  if scheduler then ck.scheduler = scheduler:state_dict() end
  if warmup then ck.warmup = warmup:state_dict() end
  for k, v in pairs(extra or {}) do ck[k] = v end
  return ck
end

if opt.resume ~= "" then
  local ck = lt.load(opt.resume, {map_location = "cpu"})
  model:load_state_dict(ck.model)
  optimizer:load_state_dict(ck.optimizer)
  if scheduler and ck.scheduler then scheduler:load_state_dict(ck.scheduler) end
  if warmup and ck.warmup then warmup:load_state_dict(ck.warmup) end
  lt.set_rng_state(ck.rng)
  start_epoch, best_acc = ck.epoch + 1, ck.best_acc or 0
  if opt.name == "" then run_dir = opt.resume:match("^(.*)/[^/]*$") or run_dir end
  print(string.format("resumed from %s at epoch %d (best top-1 %.2f%%)", opt.resume, start_epoch, best_acc))
end

local run = train.Run(run_dir, config, {resume = opt.resume ~= ""})
print(string.format("luatrain %s | device %s | %s: %d train / %d test images, %d classes | ResNet18 width %d, %d parameters",
  lt.version, device, dataset, #train_set, #test_set, num_classes, opt.width, model:num_parameters()))
local shown = {}
for _, s in ipairs(spec) do
  local k = s[1]:gsub("-", "_")
  shown[#shown + 1] = string.format("%s=%s", s[1], tostring(opt[k]))
end
print("options: " .. table.concat(shown, " "))
print("run folder: " .. run_dir)

local progress = train.Progress{quiet = opt.quiet}
local step = (start_epoch - 1) * iters
local t_start = lt._bench and lt._bench.now and lt._bench.now() or os.clock()
local function now() return lt._bench and lt._bench.now and lt._bench.now() or os.clock() end

local function evaluate()
  model:eval()
  local loss_m, top1, top5 = train.AverageMeter(), train.AverageMeter(), train.AverageMeter()
  lt.no_grad(function()
    for _, images, labels in test_loader:iter() do
      local out = model(images)
      local n = labels:size(1)
      loss_m:update(criterion(out, labels):item(), n)
      local a1, a5 = train.accuracy(out, labels, {1, math.min(5, num_classes)})
      top1:update(a1, n)
      top5:update(a5, n)
    end
  end)
  return loss_m.avg, top1.avg, top5.avg
end

local function train_epoch(epoch)
  model:train()
  local loss_m, top1 = train.AverageMeter(), train.AverageMeter()
  local t0, seen = now(), 0
  for i, images, labels in train_loader:iter{epoch = epoch} do
    if warmup and epoch <= opt.warmup then warmup:step() end
    local out = model(images)
    local loss = criterion(out, labels)
    optimizer:zero_grad()
    loss:backward()
    optimizer:step()
    if per_iteration then scheduler:step() end
    step = step + 1
    local n = labels:size(1)
    local l = loss:item()
    if l ~= l or l == math.huge or l == -math.huge then
      error({nan = true, msg = string.format("loss is %s at epoch %d, batch %d: stopping (the last good checkpoint is %s/last.safetensors)", tostring(l), epoch, i, run_dir)})
    end
    loss_m:update(l, n)
    top1:update(train.accuracy(out, labels, {1}), n)
    seen = seen + n
    local dt = now() - t0
    local lr = optimizer.param_groups[1].lr
    progress:update{epoch = epoch, epochs = opt.epochs, batch = i, batches = iters, loss = loss_m.avg, acc = top1.avg,
                    lr = lr, ips = seen / math.max(dt, 1e-9), eta = dt / i * (iters - i)}
    if i % 50 == 0 then run:log{step = step, epoch = epoch, train_loss = l, lr = lr} end
  end
  return loss_m.avg, top1.avg, seen / math.max(now() - t0, 1e-9)
end

local last_path, best_path = run_dir .. "/last.safetensors", run_dir .. "/best.safetensors"
local ok_run, err = pcall(function()
  for epoch = start_epoch, opt.epochs do
    local lr = optimizer.param_groups[1].lr
    local tl, ta, ips = train_epoch(epoch)
    local vl, v1, v5 = evaluate()
    if scheduler and not per_iteration then scheduler:step() end
    local is_best = v1 > best_acc
    if is_best then best_acc = v1 end
    local rec = {epoch = epoch, step = step, train_loss = tl, train_acc1 = ta, val_loss = vl, val_acc1 = v1, val_acc5 = v5,
                 lr = lr, images_per_s = ips, wall_time = now() - t_start}
    run:log(rec)
    progress:finish(string.format("epoch %d/%d  train loss %.4f top1 %.2f%%  |  val loss %.4f top1 %.2f%% top5 %.2f%%  |  %.0f img/s%s",
      epoch, opt.epochs, tl, ta, vl, v1, v5, ips, is_best and "  (best)" or ""))
    lt.save(last_path, checkpoint(epoch))
    if is_best then lt.save(best_path, checkpoint(epoch)) end
  end
end)
run:close()
if not ok_run then
  progress:finish()
  if type(err) == "table" and err.nan then
    io.stderr:write("cifar_resnet18: ", err.msg, "\n")
    os.exit(3)
  end
  if tostring(err):find("interrupted") then
    print(string.format("\ninterrupted: the last completed epoch is saved in %s\nresume with: luatrain %s --resume %s",
      last_path, arg[0], last_path))
    os.exit(130)
  end
  error(err, 0)
end
print(string.format("done: best val top-1 %.2f%%, final checkpoint %s", best_acc, last_path))
print(string.format("run folder: %s (plot: luatrain plot %s)", run_dir, run_dir))
return {best_acc = best_acc, run_dir = run_dir}
