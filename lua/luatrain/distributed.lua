-- luatrain.distributed — lt.distributed: training on several processes that
-- each hold a copy of the model and average their gradients (data
-- parallelism), over Open MPI (CPU processes, one or many machines) or NCCL
-- (GPUs). PyTorch's torch.distributed names:
--
--   local dist = lt.distributed
--   dist.init_process_group{backend = "auto", timeout = 1800}  -- "auto" | "mpi" | "nccl"
--   dist.rank(), dist.world_size(), dist.local_rank(), dist.is_main(), dist.barrier()
--   dist.all_reduce(t, {op = "sum", async = false})   -- "sum" | "avg" | "max" | "min"; async -> work:wait()
--   dist.broadcast(t, {src = 0})
--   dist.all_gather(t)              --> {t_rank0, t_rank1, ...}
--   dist.reduce_scatter(out, t)     -- t holds world_size blocks of out's size
--   dist.broadcast_object(v, {src = 0}), dist.all_gather_object(v)
--   dist.print(...)                 -- rank 0 only
--   dist.destroy_process_group()
--
-- The processes come from a launcher: `mpirun -np 4 luatrain train.lua`,
-- `srun luatrain train.lua`, or torchrun's variables (`torchrun --no-python
-- --nproc-per-node 4 luatrain train.lua`). The rank and world size are read
-- from whichever is set, in this order: torchrun (RANK, WORLD_SIZE), Open
-- MPI (OMPI_COMM_WORLD_RANK), MPICH/PMI (PMI_RANK), Slurm (SLURM_PROCID);
-- dist.env() shows what was found without starting anything. A process
-- with none of them is rank 0 of 1 and needs no MPI at all.
--
-- Ranks are 0-based (rank 0 .. world_size - 1), as every launcher, MPI and
-- NCCL number them: the numbers in your launcher's output, the RANK
-- variable and the ranks here are the same numbers. Positions in Lua tables
-- stay 1-based: all_gather's result for rank r is at index r + 1.
--
-- Every rank must call the same collectives in the same order with tensors
-- of the same shape and dtype. A collective that does not finish within the
-- timeout ends the job with a message naming the rank, instead of hanging.
local core = require "luatrain.core"

local M = {}

local C = core._distributed -- lt_lua_dist.c

local function check_opts(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("bad argument to '%s' (options must be a table, got %s)", fname, type(opts)), 3)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (valid: %s)", fname, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  return opts
end

local OPS = {sum = true, avg = true, max = true, min = true}
local function check_op(fname, op)
  if op == nil then return "sum" end
  if not OPS[op] then
    error(string.format("%s: op must be 'sum', 'avg', 'max' or 'min', got %s", fname,
                        type(op) == "string" and "'" .. op .. "'" or tostring(op)), 3)
  end
  return op
end

local function need_group(fname)
  if not C._is_initialized() then
    error(fname .. ": no process group; call lt.distributed.init_process_group first", 3)
  end
end

--- The launcher's view: {rank, world_size, local_rank, local_world_size,
--- launcher = "torchrun" | "openmpi" | "pmi" | "slurm" | "none", master_addr,
--- master_port}, read from the environment (or the running group's).
function M.env() return C._env() end

--- Starts the process group: every rank must call it. backend "auto" picks
--- NCCL for a CUDA build with a GPU, else MPI; timeout in seconds bounds each
--- collective (default 1800, as PyTorch).
function M.init_process_group(opts)
  opts = check_opts("init_process_group", opts, {backend = true, timeout = true})
  local backend = opts.backend or "auto"
  if backend ~= "auto" and backend ~= "mpi" and backend ~= "nccl" then
    error(string.format("init_process_group: backend must be 'auto', 'mpi' or 'nccl', got '%s'", tostring(backend)), 2)
  end
  local timeout = opts.timeout or 1800
  if type(timeout) ~= "number" or not (timeout > 0) then
    error("init_process_group: timeout must be a positive number of seconds, got " .. tostring(timeout), 2)
  end
  C._init(backend, timeout)
  -- os.exit while a group runs: a success finalizes it (MPI wants every
  -- rank to finish properly), a failure ends the whole job at once so the
  -- other ranks do not wait for this one
  if not M._exit_wrapped then
    M._exit_wrapped = true
    local exit = os.exit
    os.exit = function(code, close)
      if C._is_initialized() then
        if code == nil or code == true or code == 0 then C._finalize()
        else C._abort(code == false and 1 or tonumber(code) or 1) end
      end
      return exit(code, close)
    end
  end
end

function M.is_initialized() return C._is_initialized() end
function M.get_backend() return C._backend() end

--- Waits for queued collectives and shuts the library down. Call it at the
--- end (the program also does at exit).
function M.destroy_process_group()
  if M.is_initialized() then C._finalize() end
end

function M.rank() need_group("rank"); return C._env().rank end
function M.world_size() need_group("world_size"); return C._env().world_size end
function M.local_rank() need_group("local_rank"); return C._env().local_rank end
function M.local_world_size() need_group("local_world_size"); return C._env().local_world_size end
--- Whether this is rank 0, the rank that prints and writes files. Works
--- before init_process_group too (from the launcher's variables).
function M.is_main() return C._env().rank == 0 end

--- Ends every rank of the job at once (after an error on this one).
function M.abort(code) C._abort(code or 1) end

function M.barrier(opts)
  opts = check_opts("barrier", opts, {async = true})
  need_group("barrier")
  return C._barrier(opts.async == true)
end

--- all_reduce(t, {op = "sum"|"avg"|"max"|"min", async = false}): t becomes
--- the elementwise reduction over the ranks, in place. With async = true it
--- returns a work; call work:wait() before reading t. bfloat16 and float16
--- sums accumulate in float32 over MPI.
function M.all_reduce(t, opts)
  opts = check_opts("all_reduce", opts, {op = true, async = true})
  need_group("all_reduce")
  return C._all_reduce(t, check_op("all_reduce", opts.op), opts.async == true)
end

--- broadcast(t, {src = 0, async = false}): every rank's t becomes rank src's.
function M.broadcast(t, opts)
  opts = check_opts("broadcast", opts, {src = true, async = true})
  need_group("broadcast")
  return C._broadcast(t, opts.src or 0, opts.async == true)
end

--- all_gather(t) -> a table of world_size tensors, rank r's t at index r + 1.
function M.all_gather(t)
  need_group("all_gather")
  local w = M.world_size()
  local shape = t:shape()
  table.insert(shape, 1, w)
  local out = core.empty(shape, {dtype = t:dtype(), device = t:device()})
  C._all_gather(out, t:contiguous(), false)
  local list = {}
  for i = 1, w do list[i] = out[i] end
  return list
end

--- reduce_scatter(out, t, {op = "sum"}): t holds world_size blocks of out's
--- number of elements (a tensor, or a table of world_size tensors);
--- out becomes the reduction over the ranks of block rank + 1.
function M.reduce_scatter(out, t, opts)
  opts = check_opts("reduce_scatter", opts, {op = true, async = true})
  need_group("reduce_scatter")
  if type(t) == "table" and not core.is_tensor(t) then
    local flat = {}
    for i, b in ipairs(t) do flat[i] = b:reshape(-1) end
    t = core.cat(flat)
  end
  return C._reduce_scatter(out, t:contiguous(), check_op("reduce_scatter", opts.op), opts.async == true)
end

-- --- Lua values ------------------------------------------------------------------------

-- Writes v as Lua source that load() reads back: nil, booleans, numbers
-- (floats exactly, in hexadecimal), strings, and tables of those (no cycles,
-- no functions or userdata).
local function serialize(v, out, depth)
  local t = type(v)
  if t == "nil" or t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    elseif v ~= v then out[#out + 1] = "(0/0)"
    elseif v == math.huge then out[#out + 1] = "(1/0)"
    elseif v == -math.huge then out[#out + 1] = "(-1/0)"
    else out[#out + 1] = string.format("%a", v) end
  elseif t == "string" then
    out[#out + 1] = string.format("%q", v)
  elseif t == "table" then
    if depth > 100 then error("broadcast_object: a table nested more than 100 deep (a cycle?)", 0) end
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      out[#out + 1] = "["
      serialize(k, out, depth + 1)
      out[#out + 1] = "]="
      serialize(x, out, depth + 1)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error("broadcast_object: cannot send a " .. t .. " (only nil, booleans, numbers, strings and tables of them)", 0)
  end
end

local function encode(v)
  local out = {"return "}
  serialize(v, out, 0)
  return table.concat(out)
end

local function decode(s)
  local chunk = assert(load(s, "=broadcast_object", "t", {}))
  return chunk()
end

--- broadcast_object(v, {src = 0}) -> rank src's v, on every rank.
function M.broadcast_object(v, opts)
  opts = check_opts("broadcast_object", opts, {src = true})
  need_group("broadcast_object")
  local src = opts.src or 0
  local me = M.rank()
  local bytes = me == src and encode(v) or ""
  local len = core.tensor({#bytes}, {dtype = "int64"})
  C._broadcast(len, src, false)
  local buf = me == src and C._bytes_to_tensor(bytes) or core.zeros({len:item()}, {dtype = "uint8"})
  C._broadcast(buf, src, false)
  return me == src and v or decode(C._tensor_to_bytes(buf))
end

--- all_gather_object(v) -> a table of every rank's v, rank r's at index r + 1.
function M.all_gather_object(v)
  need_group("all_gather_object")
  local bytes = encode(v)
  local lens = M.all_gather(core.tensor({#bytes}, {dtype = "int64"}))
  local max = 0
  for i = 1, #lens do max = math.max(max, lens[i]:item()) end
  local buf = core.zeros({max}, {dtype = "uint8"})
  if #bytes > 0 then buf:narrow(1, 1, #bytes):copy_(C._bytes_to_tensor(bytes)) end
  local all = M.all_gather(buf)
  local list = {}
  for i = 1, #all do
    local n = lens[i]:item()
    list[i] = decode(C._tensor_to_bytes(n > 0 and all[i]:narrow(1, 1, n):contiguous() or core.zeros({0}, {dtype = "uint8"})))
  end
  return list
end

--- print(...) on rank 0 only (every rank when no group runs).
function M.print(...)
  if not M.is_initialized() or M.rank() == 0 then print(...) end
end

M._now = function() return C._now() end

return M
