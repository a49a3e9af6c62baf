-- test_collectives.lua — lt.distributed's Lua API under mpirun: the group's
-- queries, the collectives on tensors as Lua sees them (all_gather's table
-- in rank order, reduce_scatter from a tensor or a table, async works),
-- broadcast_object and all_gather_object on Lua values, and the messages
-- for misuse. (tests/dist/dist_collectives.c checks every dtype, size and
-- operation at the C level.)
-- ranks: 2 3
local T = require "luatrain.testing"
local dist = lt.distributed

T.test("before init_process_group", function()
  T.check(not dist.is_initialized(), "initialized already")
  local e = dist.env()
  T.check(e.launcher == "openmpi" and e.world_size >= 2 and e.rank >= 0 and e.rank < e.world_size,
          "env: " .. tostring(e.launcher) .. " " .. tostring(e.world_size))
  T.check(dist.is_main() == (e.rank == 0), "is_main before init")
  T.checkerr("rank: no process group; call lt.distributed.init_process_group first", dist.rank)
  T.checkerr("all_reduce: no process group", dist.all_reduce, lt.ones(2))
  T.checkerr("init_process_group: backend must be 'auto', 'mpi' or 'nccl', got 'gloo'",
             dist.init_process_group, {backend = "gloo"})
  T.checkerr("init_process_group: unknown option 'timout'", dist.init_process_group, {timout = 3})
  T.checkerr("init_process_group: timeout must be a positive number", dist.init_process_group, {timeout = 0})
end)

dist.init_process_group{backend = "mpi", timeout = 60}
local R, W = dist.rank(), dist.world_size()

T.test("queries", function()
  T.check(dist.is_initialized() and dist.get_backend() == "mpi", "backend " .. tostring(dist.get_backend()))
  T.check(dist.local_world_size() == W and dist.local_rank() == R, "one machine: local = global")
  T.checkerr("init_process_group:", dist.init_process_group, {backend = "mpi"})
end)

T.test("all_reduce, broadcast, all_gather, reduce_scatter", function()
  local t = lt.full({5}, R + 1, {dtype = "float64"})
  dist.all_reduce(t, {op = "avg"})
  T.check(t:eq((W + 1) / 2):all():item(), "avg")
  local b = lt.full({2, 3}, R, {dtype = "int64"})
  dist.broadcast(b, {src = W - 1})
  T.check(b:eq(W - 1):all():item(), "broadcast from the last rank")
  local g = dist.all_gather(lt.tensor({R, 10 * R}, {dtype = "float32"}))
  T.check(#g == W, #g .. " tensors")
  for i = 1, W do
    T.check(g[i][1]:item() == i - 1 and g[i][2]:item() == 10 * (i - 1), "all_gather: rank " .. (i - 1) .. " at index " .. i)
  end
  -- block k (1-based) of every rank holds k * (rank + 1)
  local blocks = {}
  for k = 1, W do blocks[k] = lt.full({3}, k * (R + 1), {dtype = "float64"}) end
  local out = lt.zeros(3, {dtype = "float64"})
  dist.reduce_scatter(out, blocks)
  local want = (R + 1) * W * (W + 1) / 2
  T.check(out:eq(want):all():item(), string.format("reduce_scatter from a table: %g, want %g", out[1]:item(), want))
  local out2 = lt.zeros(3, {dtype = "float64"})
  dist.reduce_scatter(out2, lt.cat(blocks), {op = "max"})
  T.check(out2:eq((R + 1) * W):all():item(), "reduce_scatter max from a tensor")
end)

T.test("async works", function()
  local ts, works = {}, {}
  for k = 1, 3 do
    ts[k] = lt.full({1000}, k * (R + 1), {dtype = "float32"})
    works[k] = dist.all_reduce(ts[k], {async = true})
  end
  for k = 1, 3 do
    works[k]:wait()
    works[k]:wait() -- twice is harmless
    T.check(works[k]:is_completed(), "completed")
    T.check(ts[k]:eq(k * W * (W + 1) / 2):all():item(), "async result " .. k)
    T.check(works[k]:started_at() ~= nil and works[k]:wait_time() >= 0, "times")
  end
  dist.barrier()
  dist.barrier{async = true}:wait()
end)

T.test("Lua values", function()
  local v = R == 1 and {lr = 0.1, name = "run \"1\"\n", list = {1, 2.5, -0.0, 1 / 0, true}, nested = {a = {b = 3}}} or nil
  local got = dist.broadcast_object(v, {src = 1})
  T.check(type(got) == "table" and got.lr == 0.1 and got.name == "run \"1\"\n" and got.list[2] == 2.5
          and got.list[4] == math.huge and got.list[5] == true and got.nested.a.b == 3
          and math.type(got.list[1]) == "integer", "broadcast_object")
  T.check(dist.broadcast_object(nil) == nil, "nil")
  local all = dist.all_gather_object({rank = R, text = string.rep("x", R * 100)})
  T.check(#all == W, "all_gather_object size")
  for i = 1, W do T.check(all[i].rank == i - 1 and #all[i].text == (i - 1) * 100, "all_gather_object " .. i) end
  T.checkerr("broadcast_object: cannot send a function", dist.broadcast_object, print, {src = R})
end)

T.test("misuse", function()
  T.checkerr("all_reduce: unknown option 'src'", dist.all_reduce, lt.ones(2), {src = 1})
  T.checkerr("all_reduce: op must be 'sum', 'avg', 'max' or 'min', got 'mean'", dist.all_reduce, lt.ones(2), {op = "mean"})
  T.checkerr("all_reduce", dist.all_reduce, lt.tensor({true, false}))
  T.checkerr("broadcast", dist.broadcast, lt.ones(2), {src = W})
end)

dist.destroy_process_group()
T.check(not dist.is_initialized(), "destroyed")
os.exit(T.done())
