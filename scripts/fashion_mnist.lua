-- scripts/fashion_mnist.lua — a small CNN on Fashion-MNIST (the data that
-- Debian's dataset-fashion-mnist package installs), a few minutes on a CPU.
--
--   luatrain scripts/fashion_mnist.lua [--epochs 2] [--batch 64] [--lr 0.05]
--   luatrain scripts/fashion_mnist.lua --limit 512 --limit-test 500 --epochs 1   # a quick look
--
-- The whole loop is here, to read and change: no training helper hides it.
local nn, F, T = lt.nn, lt.nn.functional, lt.transforms
local train = lt.train

local ok, opt = pcall(train.parse_args, arg, {
  {"epochs", 2, "epochs"},
  {"batch", 64, "batch size"},
  {"lr", 0.05, "learning rate (SGD, momentum 0.9, cosine decay)"},
  {"data", "", "folder with the IDX files (default: the Debian package's)"},
  {"limit", 0, "train on the first N images only (0: all)"},
  {"limit-test", 0, "test on the first N images only (0: all)"},
  {"seed", 1, "random seed"},
  {"quiet", false, "no progress display"},
}, "usage: luatrain scripts/fashion_mnist.lua [options]")
if not ok then
  io.stderr:write("fashion_mnist: ", tostring(opt), "\n")
  os.exit(2)
end

lt.manual_seed(opt.seed)
local root = opt.data ~= "" and opt.data or nil
local train_set = lt.data.FashionMNIST{root = root, train = true}
local test_set = lt.data.FashionMNIST{root = root, train = false}
local function first(ds, n)
  if n <= 0 or n >= #ds then return ds end
  local idx = {}
  for i = 1, n do idx[i] = i end
  return lt.data.Subset(ds, idx)
end
train_set, test_set = first(train_set, opt.limit), first(test_set, opt.limit_test)

local norm = T.Normalize({0.2860}, {0.3530})
local train_loader = lt.data.DataLoader(train_set, {batch_size = opt.batch, shuffle = true, seed = opt.seed,
  transform = T.Compose{T.RandomCrop(28, {padding = 2}), T.ToFloat(), norm}})
local test_loader = lt.data.DataLoader(test_set, {batch_size = 256, transform = T.Compose{T.ToFloat(), norm}})

-- conv(1->32) -> pool -> conv(32->64) -> pool -> linear(64*7*7 -> 128) -> linear(128 -> 10)
local Net = nn.Module:extend("Net")
function Net:__init()
  nn.Module.__init(self)
  self.conv1 = nn.Conv2d(1, 32, 3, {padding = 1})
  self.bn1 = nn.BatchNorm2d(32)
  self.conv2 = nn.Conv2d(32, 64, 3, {padding = 1})
  self.bn2 = nn.BatchNorm2d(64)
  self.fc1 = nn.Linear(64 * 7 * 7, 128)
  self.fc2 = nn.Linear(128, 10)
end
function Net:forward(x)
  x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
  x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
  x = F.relu(self.fc1(x:flatten(2)))
  return self.fc2(x)
end

local model = Net()
print(model)
print(string.format("%d parameters; %d training images", model:num_parameters(), #train_set))
local optimizer = lt.optim.SGD(model:parameters(), {lr = opt.lr, momentum = 0.9, weight_decay = 5e-4})
local scheduler = lt.optim.lr_scheduler.CosineAnnealingLR(optimizer, {T_max = opt.epochs * #train_loader})
local progress = train.Progress{quiet = opt.quiet}

for epoch = 1, opt.epochs do
  model:train()
  local loss_m, acc_m = train.AverageMeter(), train.AverageMeter()
  local t0 = train.clock()
  for i, images, labels in train_loader:iter() do
    local out = model(images)
    local loss = F.cross_entropy(out, labels)
    optimizer:zero_grad()
    loss:backward()
    optimizer:step()
    scheduler:step()
    loss_m:update(loss:item(), labels:size(1))
    acc_m:update(train.accuracy(out, labels, {1}), labels:size(1))
    local dt = train.clock() - t0
    progress:update{epoch = epoch, epochs = opt.epochs, batch = i, batches = #train_loader, loss = loss_m.avg,
                    acc = acc_m.avg, lr = optimizer.param_groups[1].lr, ips = loss_m.count / dt,
                    eta = dt / i * (#train_loader - i)}
  end
  model:eval()
  local correct, total = 0, 0
  lt.no_grad(function()
    for _, images, labels in test_loader:iter() do
      correct = correct + model(images):argmax(2):eq(labels):sum():item()
      total = total + labels:size(1)
    end
  end)
  progress:finish(string.format("epoch %d: train loss %.4f, train top-1 %.2f%%, test accuracy %.2f%% (%s)",
    epoch, loss_m.avg, acc_m.avg, 100 * correct / total, train.format_time(train.clock() - t0)))
end
