-- bench_ddp.lua — how well data-parallel training scales on this machine:
-- the reference recipe's ResNet18 at width 16 (CIFAR 32x32, synthetic data),
-- batch 64 per process, SGD momentum, under `mpirun -np 2` against `-np 1`
-- in the same run, three trials interleaved (1, 2, 1, 2, 1, 2), each
-- process on one thread (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1), so the
-- two processes of -np 2 use the machine's two cores as -np 1 uses one.
--
--   E = throughput(2 processes) / (2 x throughput(1 process))  (goal >= 0.85)
--   wait = time rank 0 spends blocked waiting for gradient all-reduces at the
--          end of backward, as a share of the step (goal <= 10 %)
--
-- Usage: luatrain bench/bench_ddp.lua [steps=10]   (drives mpirun itself;
-- tests/dist/run_mpi.sh holds the mpirun options). With a launcher's
-- variables set it is one worker of a trial and prints one line for rank 0.
local steps = tonumber(arg and arg[1]) or 10
local dist = lt.distributed

if dist.env().launcher == "none" then
  -- the driver: trials as separate jobs, interleaved
  local here = arg[0]:match("^(.*)/[^/]*$") or "."
  local runner = here .. "/../tests/dist/run_mpi.sh"
  local bin = arg[-1] or "luatrain"
  local function trial(np)
    local cmd = string.format("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 bash %s -np %d %s %s %d 2>&1", runner, np, bin,
                              arg[0], steps)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    local ips, wait = out:match("RESULT ips=([%d.]+) wait=([%d.]+)")
    if not ips then error("bench_ddp: the -np " .. np .. " trial printed no result:\n" .. out, 0) end
    return tonumber(ips), tonumber(wait)
  end
  print(string.format("luatrain %s bench_ddp: ResNet18 width 16, batch 64 per process, %d timed steps, 1 thread per process",
                      lt.version, steps))
  local best = {[1] = 0, [2] = 0}
  local waits = {}
  for t = 1, 3 do
    for _, np in ipairs{1, 2} do
      local ips, wait = trial(np)
      print(string.format("trial %d, %d process%s: %7.1f images/s%s", t, np, np > 1 and "es" or "  ", ips,
                          np > 1 and string.format("  (rank 0 waited for all-reduces %.1f %% of the step)", 100 * wait) or ""))
      best[np] = math.max(best[np], ips)
      if np > 1 then waits[#waits + 1] = wait end
    end
  end
  table.sort(waits)
  local e = best[2] / (2 * best[1])
  print(string.format("best: 1 process %.1f images/s, 2 processes %.1f images/s", best[1], best[2]))
  print(string.format("scaling efficiency E = %.3f (goal >= 0.85: %s); median wait %.1f %% of a step (goal <= 10 %%: %s)",
                      e, e >= 0.85 and "met" or "not met", 100 * waits[2], waits[2] <= 0.10 and "met" or "not met"))
  return
end

-- a worker
dist.init_process_group{backend = "mpi"}
local R, W = dist.rank(), dist.world_size()
local nn = lt.nn
lt.manual_seed(1)
local model = lt.models.resnet18{num_classes = 10, width = 16}
local ddp = W > 1 and nn.DistributedDataParallel(model) or model
local opt = lt.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9, weight_decay = 5e-4})
lt.manual_seed(100 + R)
local x = lt.randn(64, 3, 32, 32)
local y = lt.randint(1, 11, {64})
local function step()
  opt:zero_grad()
  nn.functional.cross_entropy(ddp(x), y):backward()
  opt:step()
end
for _ = 1, 2 do step() end -- warm-up: allocations, buckets
if W > 1 then dist.barrier() end
local t0, waited = dist._now(), 0
for _ = 1, steps do
  step()
  if W > 1 then
    for _, w in ipairs(ddp:last_pass().works) do waited = waited + w:wait_time() end
  end
end
if W > 1 then dist.barrier() end
local elapsed = dist._now() - t0
if R == 0 then
  print(string.format("RESULT ips=%.3f wait=%.5f", W * 64 * steps / elapsed, waited / elapsed))
end
dist.destroy_process_group()
