-- test_syncbn.lua — nn.SyncBatchNorm under mpirun: W ranks of 64 normalise
-- as one BatchNorm2d over the global batch of W*64 (each rank computes that
-- reference itself): outputs, the gradient of the input, the weight and bias
-- gradients after DDP's average, and the running statistics, to 1e-10 in
-- float64; SyncBatchNorm.convert keeps parameters and statistics.
-- ranks: 2 3
local T = require "luatrain.testing"
local dist = lt.distributed
local nn = lt.nn

dist.init_process_group{backend = "mpi", timeout = 120}
local R, W = dist.rank(), dist.world_size()
local B, C = 64, 3

local function relerr(a, b)
  local d = (a:double() - b:double()):abs():max():item()
  return d / math.max(b:double():abs():max():item(), 1e-300)
end

T.test("W x 64 equal batch norm on W*64: forward, backward, running statistics", function()
  lt.manual_seed(5)
  local x = lt.randn(W * B, C, 5, 5, {dtype = "float64"}) * 2 + 1
  local gy = lt.randn(W * B, C, 5, 5, {dtype = "float64"})
  -- the reference: plain batch norm on the global batch
  local ref = nn.BatchNorm2d(C):double()
  lt.no_grad(function() ref.weight:copy_(lt.tensor({1.5, 0.5, 2}, {dtype = "float64"})); ref.bias:fill_(0.1) end)
  local xr = x:clone():requires_grad_()
  local yr = ref(xr)
  -- the loss is sum(y * gy) / (W * B) on the global batch; per rank it is the
  -- same expression on the rank's shard divided by its own B, as DDP averages
  ;(yr * gy):sum():div(W * B):backward()
  -- the distributed one
  local m = nn.Sequential(nn.SyncBatchNorm(C)):double()
  lt.no_grad(function() m[1].weight:copy_(lt.tensor({1.5, 0.5, 2}, {dtype = "float64"})); m[1].bias:fill_(0.1) end)
  local ddp = nn.DistributedDataParallel(m)
  local xs = x:narrow(1, R * B + 1, B):clone():requires_grad_()
  local ys = ddp(xs)
  ;(ys * gy:narrow(1, R * B + 1, B)):sum():div(B):backward()
  T.check(relerr(ys, yr:narrow(1, R * B + 1, B)) < 1e-10, "output")
  -- the input gradient: the rank's loss is W times the global one's share
  T.check(relerr(xs.grad / W, xr.grad:narrow(1, R * B + 1, B)) < 1e-10,
          string.format("input gradient: %.3g", relerr(xs.grad / W, xr.grad:narrow(1, R * B + 1, B))))
  T.check(relerr(m[1].weight.grad, ref.weight.grad) < 1e-10, "weight gradient")
  T.check(relerr(m[1].bias.grad, ref.bias.grad) < 1e-10, "bias gradient")
  T.check(relerr(m[1].running_mean, ref.running_mean) < 1e-10, "running mean")
  T.check(relerr(m[1].running_var, ref.running_var) < 1e-10, "running var")
  T.check(m[1].num_batches_tracked:item() == 1, "num_batches_tracked")
  -- eval mode: the running statistics, no communication
  m:eval(); ref:eval()
  T.check(relerr(m(xs:detach()), ref(xs:detach())) < 1e-12, "eval output")
end)

T.test("SyncBatchNorm.convert", function()
  lt.manual_seed(6)
  local net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
  local w = net[2].weight
  net = nn.SyncBatchNorm.convert(net)
  T.check(net[2]:_get_name() == "SyncBatchNorm", "converted: " .. net[2]:_get_name())
  T.check(rawequal(net[2].weight, w), "the same weight tensor")
  local keys = {}
  for k in pairs(net:state_dict()) do keys[#keys + 1] = k end
  table.sort(keys)
  T.check(table.concat(keys, ",") == "0.bias,0.weight,1.bias,1.num_batches_tracked,1.running_mean,1.running_var,1.weight",
          table.concat(keys, ","))
end)

dist.destroy_process_group()
os.exit(T.done())
