-- test_ddp.lua — nn.DistributedDataParallel under mpirun: N ranks of batch
-- B equal one process of batch N*B (each rank computes that reference
-- itself, on the whole global batch), for SGD in float64 (1e-12) and Adam in
-- float32 (1e-5); bucket sizes do not change the result (bitwise); buckets
-- start before backward ends; no_sync accumulates locally with one
-- reduction per step; rank 0's parameters win at construction; an unused
-- parameter is an error that names it, or zeros with find_unused_parameters.
-- ranks: 2 3
local T = require "luatrain.testing"
local dist = lt.distributed
local nn = lt.nn

dist.init_process_group{backend = "mpi", timeout = 120}
local R, W = dist.rank(), dist.world_size()
local B = 64 -- per-rank batch (global 128 for W = 2, 192 for W = 3)

local function model_f64(seed)
  lt.manual_seed(seed)
  return nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)):double()
end

-- the same global batch on every rank (seeded), split by rank
local function global_batch(n, dtype)
  lt.manual_seed(1234)
  local x = lt.randn(n, 6, {dtype = dtype})
  local y = lt.randint(1, 4, {n})
  return x, y
end
local function shard(t) return t:narrow(1, R * B + 1, B) end

local function max_relerr(ma, mb)
  local pa, pb = ma:parameters(), mb:parameters()
  local worst = 0
  for i = 1, #pa do
    local d = (pa[i]:double() - pb[i]:double()):abs():max():item()
    local s = pb[i]:double():abs():max():item()
    worst = math.max(worst, d / math.max(s, 1e-300))
  end
  return worst
end

local function same_bits(ma, mb)
  local pa, pb = ma:parameters(), mb:parameters()
  for i = 1, #pa do if not pa[i]:eq(pb[i]):all():item() then return false end end
  return true
end

-- steps(ddp_or_model, model, make_opt, x, y, n): n optimizer steps of cross-entropy
local function train(net, model, opt, x, y, n)
  for _ = 1, n do
    opt:zero_grad()
    nn.functional.cross_entropy(net(x), y):backward()
    opt:step()
  end
end

T.test("W ranks x 64 equal 1 process x W*64: SGD with momentum and weight decay, float64, 20 steps", function()
  local x, y = global_batch(W * B, "float64")
  local ref = model_f64(7)
  train(ref, ref, lt.optim.SGD(ref:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4}), x, y, 20)
  local m = model_f64(7)
  local ddp = nn.DistributedDataParallel(m)
  train(ddp, m, lt.optim.SGD(m:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4}), shard(x), shard(y), 20)
  local e = max_relerr(m, ref)
  T.check(e <= 1e-12, string.format("rank %d: relative difference %.3g", R, e))
end)

T.test("Adam, float32, 20 steps", function()
  local x, y = global_batch(W * B, "float32")
  local ref = model_f64(8):float()
  train(ref, ref, lt.optim.Adam(ref:parameters(), {lr = 1e-2}), x, y, 20)
  local m = model_f64(8):float()
  local ddp = nn.DistributedDataParallel(m)
  train(ddp, m, lt.optim.Adam(m:parameters(), {lr = 1e-2}), shard(x), shard(y), 20)
  local e = max_relerr(m, ref)
  T.check(e <= 1e-5, string.format("rank %d: relative difference %.3g", R, e))
end)

T.test("bucket caps 0.001 MB, 25 MB and unbounded give the same bits; buckets start during backward", function()
  local x, y = global_batch(W * B, "float64")
  local results = {}
  for k, cap in ipairs{0.001, 25, math.huge} do
    local m = model_f64(9)
    local ddp = nn.DistributedDataParallel(m, {bucket_cap_mb = cap})
    -- 1048 bytes hold at most one weight of this model (and a bias); the
    -- whole model (under 1 MB) is one bucket otherwise
    local nb = #ddp:buckets()
    if cap == 0.001 then T.check(nb >= #m:parameters() / 2 and nb > 1, nb .. " buckets at 0.001 MB") end
    if cap ~= 0.001 then T.check(nb == 1, nb .. " buckets at " .. cap .. " MB") end
    train(ddp, m, lt.optim.SGD(m:parameters(), {lr = 0.05, momentum = 0.9}), shard(x), shard(y), 5)
    results[k] = m
    if cap == 0.001 then
      -- a deep model's last buckets are complete long before backward reaches
      -- the input: they must have started from the hooks, not at the end
      local loss = nn.functional.cross_entropy(ddp(shard(x)), shard(y))
      loss:backward()
      local last = ddp:last_pass()
      T.check(#last.works == #ddp:buckets() and last.early >= #ddp:buckets() - 1,
              string.format("%d of %d buckets started during backward", last.early, #ddp:buckets()))
    end
  end
  T.check(same_bits(results[1], results[2]) and same_bits(results[2], results[3]), "caps changed the result")
end)

T.test("no_sync: 4 micro-batches of 16 equal one batch of 64, one reduction per step", function()
  local n = 64
  local x, y = global_batch(W * n, "float64")
  local ref = model_f64(10)
  local ro = lt.optim.SGD(ref:parameters(), {lr = 0.1})
  ro:zero_grad()
  nn.functional.cross_entropy(ref(x), y):backward()
  ro:step()
  local m = model_f64(10)
  local ddp = nn.DistributedDataParallel(m, {bucket_cap_mb = math.huge})
  local opt = lt.optim.SGD(m:parameters(), {lr = 0.1})
  local mine_x, mine_y = x:narrow(1, R * n + 1, n), y:narrow(1, R * n + 1, n)
  local calls = 0
  local real = dist.all_reduce
  dist.all_reduce = function(...) calls = calls + 1; return real(...) end
  opt:zero_grad()
  for k = 1, 4 do
    local xb, yb = mine_x:narrow(1, (k - 1) * 16 + 1, 16), mine_y:narrow(1, (k - 1) * 16 + 1, 16)
    local loss = nn.functional.cross_entropy(ddp(xb), yb) / 4
    if k < 4 then
      local _ <close> = ddp:no_sync()
      loss:backward()
    else
      loss:backward()
    end
  end
  dist.all_reduce = real
  opt:step()
  T.check(calls == #ddp:buckets(), string.format("%d all-reduces for %d buckets", calls, #ddp:buckets()))
  local e = max_relerr(m, ref)
  T.check(e <= 1e-12, string.format("rank %d: relative difference %.3g", R, e))
end)

T.test("rank 0's parameters and buffers win at construction; state_dict has the model's keys", function()
  local m = model_f64(100 + R) -- a different init on every rank
  local ddp = nn.DistributedDataParallel(m)
  local ref = model_f64(100)
  T.check(same_bits(m, ref), "rank " .. R .. " did not get rank 0's parameters")
  local keys, want = {}, {}
  for k in pairs(ddp:state_dict()) do keys[#keys + 1] = k end
  for k in pairs(m:state_dict()) do want[#want + 1] = k end
  table.sort(keys); table.sort(want)
  T.check(table.concat(keys, ",") == table.concat(want, ","), "state_dict keys: " .. table.concat(keys, ","))
end)

T.test("an unused parameter is an error that names it; find_unused_parameters reduces zeros", function()
  local Two = nn.Module:extend("Two")
  function Two:__init()
    nn.Module.__init(self)
    self.used = nn.Linear(4, 2)
    self.spare = nn.Linear(4, 2)
  end
  function Two:forward(x) return self.used(x) end
  lt.manual_seed(3)
  local m = Two():double()
  local ddp = nn.DistributedDataParallel(m)
  local x = lt.randn(4, 4, {dtype = "float64"})
  T.checkerr("parameters 'spare.weight', 'spare.bias' got no gradient", function() ddp(x):sum():backward() end)
  lt.manual_seed(3)
  local m2 = Two():double()
  local ddp2 = nn.DistributedDataParallel(m2, {find_unused_parameters = true})
  ddp2(x * (R + 1)):sum():backward()
  T.check(m2.spare.weight.grad == nil, "a parameter no rank used got a .grad")
  -- the used layer's gradient is the average over the ranks of x*(r+1)
  local want = 0
  for r = 0, W - 1 do want = want + (r + 1) end
  want = want / W
  local direct = (x * want):sum(1)
  T.check((m2.used.weight.grad[1] - direct):abs():max():item() < 1e-12, "average of the used layer's gradient")
end)

T.test("find_unused_parameters: a parameter only rank 0 uses gets the same average on every rank", function()
  local Two = nn.Module:extend("Two2")
  function Two:__init()
    nn.Module.__init(self)
    self.a = nn.Linear(4, 2)
    self.b = nn.Linear(4, 2)
  end
  function Two:forward(x) if R == 0 then return self.a(x) + self.b(x) end return self.a(x) end
  lt.manual_seed(4)
  local m = Two():double()
  local ddp = nn.DistributedDataParallel(m, {find_unused_parameters = true})
  local x = lt.ones(2, 4, {dtype = "float64"})
  ddp(x):sum():backward()
  local g = m.b.weight.grad
  T.check(g ~= nil, "rank " .. R .. ": no .grad for a parameter rank 0 used")
  -- rank 0's gradient of b.weight is 2 (two rows of ones) per element; the average is 2 / W
  if g then T.check((g - 2 / W):abs():max():item() < 1e-12, "average " .. g[1][1]:item()) end
end)

T.test("wrapping a different model on one rank is an error, not a hang", function()
  local m = R == 0 and nn.Linear(3, 2) or nn.Linear(3, 3)
  T.checkerr("every rank must build the same model", function() nn.DistributedDataParallel(m) end)
end)

dist.destroy_process_group()
os.exit(T.done())
