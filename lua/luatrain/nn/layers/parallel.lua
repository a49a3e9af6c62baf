-- luatrain.nn.layers.parallel — data-parallel training's layers, PyTorch's
-- names: nn.DistributedDataParallel (every rank holds a copy of the model;
-- the gradients are averaged over the ranks during backward) and
-- nn.SyncBatchNorm (batch norm whose statistics are those of the whole
-- global batch). Both need lt.distributed.init_process_group first.
--
--   local ddp = nn.DistributedDataParallel(model, {bucket_cap_mb = 25, broadcast_buffers = true,
--                                                  find_unused_parameters = false})
--   local loss = criterion(ddp(x), y); loss:backward(); opt:step()   -- opt over model:parameters()
--   do local _ <close> = ddp:no_sync() ... end    -- backward passes that accumulate locally
--   ddp:state_dict()                              -- the model's own keys (no "module." prefix)
--   model = nn.SyncBatchNorm.convert(model)       -- before wrapping: BatchNorm2d -> SyncBatchNorm
--
-- How DDP averages: at construction rank 0's parameters and buffers are
-- broadcast to every rank. The parameters that require grad are packed, in
-- reverse order (the order backward produces their gradients), into
-- buckets of one dtype and device: the first of at most 1 MB, the others of
-- at most bucket_cap_mb. When the last gradient of a bucket is complete
-- (a post-accumulate-grad hook), the bucket's all-reduce (op "avg") starts
-- on the communication thread while backward goes on; buckets start in the
-- same order on every rank. When backward ends (a queued callback) DDP
-- waits for every bucket and writes the averages back into the .grad
-- tensors, so opt:step() sees the global average.
--
-- A parameter that requires grad but gets no gradient in a backward pass
-- would leave its bucket waiting on every rank: that is an error naming it,
-- unless find_unused_parameters = true. Then the buckets start when
-- backward ends (no overlap), after one more all-reduce that tells every
-- rank which parameters any rank used; this rank reduces zeros for those it
-- did not use, so every rank gets the same average, and a parameter no rank
-- used keeps its .grad as it was. With broadcast_buffers, every
-- forward first copies rank 0's buffers (batch norm's running statistics)
-- to the other ranks.
local lt = require "luatrain.core"
local Module = require "luatrain.nn.module"
local U = require "luatrain.nn.layers.util"

local M = {}

local function dist()
  local d = require "luatrain.distributed"
  return d
end

local FIRST_BUCKET_BYTES = 1024 * 1024

-- --- DistributedDataParallel -------------------------------------------------------------

M.DistributedDataParallel = Module:extend("DistributedDataParallel")
local DDP = M.DistributedDataParallel

local DDP_OPTS = {"bucket_cap_mb", "broadcast_buffers", "find_unused_parameters"}

-- buckets(params, cap_bytes) -> list of {params = {index...}, numel, dtype, device}
local function make_buckets(params, cap_bytes)
  local buckets, open = {}, {}
  for i = #params, 1, -1 do
    local p = params[i]
    local key = p:dtype() .. "@" .. p:device()
    local b = open[key]
    local bytes = p:numel() * p:element_size()
    local cap = #buckets == 0 and math.min(cap_bytes, FIRST_BUCKET_BYTES) or cap_bytes
    if b and b.bytes > 0 and b.bytes + bytes > b.cap then b = nil end
    if not b then
      b = {params = {}, numel = 0, bytes = 0, cap = cap, dtype = p:dtype(), device = p:device()}
      buckets[#buckets + 1] = b
      open[key] = b
    end
    b.params[#b.params + 1] = i
    b.numel = b.numel + p:numel()
    b.bytes = b.bytes + bytes
  end
  return buckets
end

function DDP:__init(module, opts)
  Module.__init(self)
  local fn = "nn.DistributedDataParallel"
  if not (type(module) == "table" and module.parameters) then
    error(fn .. ": expected a module to wrap, got " .. type(module), 2)
  end
  local o = U.opts(fn, opts, DDP_OPTS)
  local D = dist()
  if not D.is_initialized() then error(fn .. ": no process group; call lt.distributed.init_process_group first", 2) end
  local cap_mb = o.bucket_cap_mb == nil and 25 or U.number(fn, "bucket_cap_mb", o.bucket_cap_mb, 0, math.huge)
  if not (cap_mb > 0) then error(fn .. ": bucket_cap_mb must be > 0, got " .. tostring(cap_mb), 2) end
  self.module = module
  self.broadcast_buffers = U.bool(fn, "broadcast_buffers", o.broadcast_buffers, true)
  self.find_unused_parameters = U.bool(fn, "find_unused_parameters", o.find_unused_parameters, false)
  self.bucket_cap_mb = cap_mb
  -- plain fields (not parameters of the wrapper: those are the module's)
  local names, params = {}, {}
  for name, p in module:named_parameters() do
    if p.requires_grad then
      names[#names + 1] = name
      params[#params + 1] = p
    end
  end
  rawset(self, "_ddp", {names = names, params = params, world = D.world_size(), require_sync = true})
  self:_check_same_model(fn)
  self:_broadcast_state()
  local st = self._ddp
  st.buckets = make_buckets(params, cap_mb * 1024 * 1024)
  st.bucket_of, st.offset = {}, {}
  for bi, b in ipairs(st.buckets) do
    local off = 0
    for _, i in ipairs(b.params) do
      st.bucket_of[i], st.offset[i] = bi, off
      off = off + params[i]:numel()
    end
    b.flat = lt.zeros({b.numel}, {dtype = b.dtype, device = b.device})
  end
  st.hooks = {}
  for i, p in ipairs(params) do
    st.hooks[i] = p:register_post_accumulate_grad_hook(function() self:_grad_ready(i) end)
  end
  self:_reset_pass()
end

-- Every rank must wrap the same model: the count and sizes of the
-- parameters are compared (as PyTorch does) so a mismatch is an error here
-- rather than a hang or garbage in the first all-reduce.
function DDP:_check_same_model(fn)
  local st = self._ddp
  local total = 0
  for _, p in ipairs(st.params) do total = total + p:numel() end
  local mine = lt.tensor({#st.params, total}, {dtype = "int64"})
  local lo, hi = mine:clone(), mine:clone()
  local D = dist()
  D.all_reduce(lo, {op = "min"})
  D.all_reduce(hi, {op = "max"})
  if not lo:eq(hi):all():item() then
    error(string.format("%s: rank %d wraps a model of %d trainable parameters with %d elements, but the ranks "
                        .. "differ (from %d to %d parameters); every rank must build the same model",
                        fn, D.rank(), #st.params, total, lo[1]:item(), hi[1]:item()), 3)
  end
end

-- Rank 0's values of the tensors in each list to every rank: the
-- broadcasts queued together, then waited for.
local function broadcast_from_rank0(...)
  local D, lists = dist(), {...}
  lt.no_grad(function()
    local works = {}
    for _, list in ipairs(lists) do
      for _, t in ipairs(list) do works[#works + 1] = D.broadcast(t, {src = 0, async = true}) end
    end
    for _, w in ipairs(works) do w:wait() end
  end)
end

-- Rank 0's parameters and buffers to every rank.
function DDP:_broadcast_state()
  broadcast_from_rank0(self.module:parameters(), self.module:buffers())
end

function DDP:_reset_pass()
  local st = self._ddp
  st.pending, st.works, st.next_bucket, st.seen, st.queued = {}, {}, 1, {}, false
  st.early, st.finishing = 0, false
  for bi, b in ipairs(st.buckets) do st.pending[bi] = #b.params end
end

-- A parameter's gradient is complete: count it in its bucket and start the
-- buckets that are full, in bucket order.
function DDP:_grad_ready(i)
  local st = self._ddp
  if not st.require_sync then return end
  if not st.queued then
    st.queued = true
    lt.autograd.queue_callback(function() self:_finish_pass() end)
  end
  if st.seen[i] then return end
  self:_count_ready(i)
  -- with find_unused_parameters the buckets wait for the end of backward,
  -- where every rank first learns which parameters any rank used
  if not self.find_unused_parameters then self:_launch_ready() end
end

-- Parameter i's gradient is in: one fewer to wait for in its bucket.
function DDP:_count_ready(i)
  local st = self._ddp
  local bi = st.bucket_of[i]
  st.seen[i] = true
  st.pending[bi] = st.pending[bi] - 1
end

function DDP:_launch_ready()
  local st = self._ddp
  while st.next_bucket <= #st.buckets and st.pending[st.next_bucket] == 0 do
    self:_launch(st.next_bucket)
    st.next_bucket = st.next_bucket + 1
  end
end

function DDP:_launch(bi)
  local st = self._ddp
  local b = st.buckets[bi]
  if not st.finishing then st.early = st.early + 1 end
  lt.no_grad(function()
    for _, i in ipairs(b.params) do
      local p, view = st.params[i], b.flat:narrow(1, st.offset[i] + 1, st.params[i]:numel())
      if p.grad ~= nil then view:copy_(p.grad:reshape(-1)) else view:zero_() end
    end
  end)
  st.works[bi] = dist().all_reduce(b.flat, {op = "avg", async = true})
end

-- End of backward: unused parameters, then wait and write the averages back.
function DDP:_finish_pass()
  local st = self._ddp
  st.finishing = true
  local missing = {}
  for i = 1, #st.params do
    if not st.seen[i] then missing[#missing + 1] = i end
  end
  if not self.find_unused_parameters and #missing > 0 then
    local list = {}
    for k = 1, math.min(#missing, 5) do list[k] = "'" .. st.names[missing[k]] .. "'" end
    self:_reset_pass()
    error(string.format("DistributedDataParallel: parameter%s %s%s got no gradient in this backward pass; every "
                        .. "parameter that requires grad must take part in the loss, or construct "
                        .. "DistributedDataParallel with find_unused_parameters = true",
                        #missing > 1 and "s" or "", table.concat(list, ", "), #missing > 5 and ", ..." or ""), 0)
  end
  if self.find_unused_parameters then
    -- which parameters some rank used (one more all-reduce, before the
    -- buckets, on every rank): those this rank did not use take part with
    -- zeros and then hold the average, as on the ranks that used them; a
    -- parameter no rank used keeps its .grad as it was (nil stays nil)
    local used = lt.zeros({#st.params}, {dtype = "int32"})
    for i = 1, #st.params do if st.seen[i] then used[i] = 1 end end
    dist().all_reduce(used, {op = "max"})
    for _, i in ipairs(missing) do
      local p = st.params[i]
      if used[i]:item() == 1 and p.grad == nil then p.grad = lt.zeros_like(p) end
      self:_count_ready(i)
    end
    self:_launch_ready()
  end
  lt.no_grad(function()
    for bi, b in ipairs(st.buckets) do
      st.works[bi]:wait()
      for _, i in ipairs(b.params) do
        local p = st.params[i]
        if p.grad ~= nil then p.grad:copy_(b.flat:narrow(1, st.offset[i] + 1, p:numel()):view_as(p.grad)) end
      end
    end
  end)
  st.last = {works = st.works, early = st.early}
  self:_reset_pass()
end

--- ddp:no_sync() -> a to-be-closed value: backward passes inside its scope
--- accumulate .grad locally without any communication; the first backward
--- after it averages the accumulated gradients.
function DDP:no_sync()
  local st = self._ddp
  local before = st.require_sync
  st.require_sync = false
  return setmetatable({}, {__close = function() st.require_sync = before end,
                           __name = "DistributedDataParallel.no_sync"})
end

function DDP:forward(...)
  if self.broadcast_buffers and self._ddp.world > 1 then broadcast_from_rank0(self.module:buffers()) end
  return self.module(...)
end

--- The wrapped model's state, with its own keys: a checkpoint of a DDP run
--- loads into the plain model and back.
function DDP:state_dict() return self.module:state_dict() end
function DDP:load_state_dict(sd, opts) return self.module:load_state_dict(sd, opts) end

--- The buckets as built, for inspection: {{names = {...}, numel = n, dtype = ...}, ...}
function DDP:buckets()
  local st, out = self._ddp, {}
  for bi, b in ipairs(st.buckets) do
    local names = {}
    for k, i in ipairs(b.params) do names[k] = st.names[i] end
    out[bi] = {names = names, numel = b.numel, dtype = b.dtype, device = b.device}
  end
  return out
end

--- The last synchronised backward pass: {works = the buckets' work handles
--- in bucket order (work:started_at(), work:wait_time()), early = how many
--- buckets started while backward was still running}. For tests and
--- profiling.
function DDP:last_pass() return self._ddp.last or {works = {}, early = 0} end

function DDP:extra_repr()
  return string.format("world_size=%d, buckets=%d, bucket_cap_mb=%s", self._ddp.world, #self._ddp.buckets,
                       U.repr(self.bucket_cap_mb))
end

-- --- SyncBatchNorm --------------------------------------------------------------------------

local Norm = require "luatrain.nn.layers.norm"
M.SyncBatchNorm = Norm.BatchNorm2d:extend("SyncBatchNorm")
local SBN = M.SyncBatchNorm

-- The global statistics of x's channels over every rank's batch: the sums
-- of x and x^2 and the count are all-reduced (in float64). Returns the mean,
-- the biased variance and the global count.
local function global_stats(x, c)
  local xd = x:detach():double()
  local stats = lt.cat({xd:sum({1, 3, 4}), (xd * xd):sum({1, 3, 4}), lt.full({1}, xd:numel() // c, {dtype = "float64"})})
  dist().all_reduce(stats, {op = "sum"})
  local n = stats[2 * c + 1]:item()
  local mean = stats:narrow(1, 1, c) / n
  return mean, (stats:narrow(1, c + 1, c) / n - mean * mean):clamp(0), n
end

-- The normalisation with global statistics. Forward: x normalised with the
-- global mean and variance. Backward: the sums of dy and of dy * (x - mean)
-- over every rank give the gradient of x as one batch norm over the global
-- batch would; the weight and bias gradients are this rank's own sums,
-- which DDP then averages like every gradient.
local SyncBN = lt.autograd.Function{
  name = "SyncBatchNorm",
  forward = function(ctx, x, weight, bias, mean, invstd, n)
    local shape = {1, x:size(2), 1, 1}
    local y = (x:double() - mean:view(shape)) * invstd:view(shape)
    if weight then y = y * weight:double():view(shape) + bias:double():view(shape) end
    ctx:save_for_backward(x, weight, mean, invstd)
    ctx.n = n
    return y:to(x:dtype())
  end,
  backward = function(ctx, gy)
    local x, weight, mean, invstd = table.unpack(ctx.saved_tensors)
    local c, n = x:size(2), ctx.n
    local shape = {1, c, 1, 1}
    local g, xmu = gy:double(), x:double() - mean:view(shape)
    local sum_dy = g:sum({1, 3, 4})
    local sum_dy_xmu = (g * xmu):sum({1, 3, 4})
    local gw, gb
    if weight then
      gw = (sum_dy_xmu * invstd):to(weight:dtype())
      gb = sum_dy:to(weight:dtype())
    end
    local both = lt.cat({sum_dy, sum_dy_xmu})
    dist().all_reduce(both, {op = "sum"})
    local all_dy, all_dy_xmu = both:narrow(1, 1, c), both:narrow(1, c + 1, c)
    local k = invstd
    if weight then k = k * weight:double() end
    local gx = k:view(shape) * (g - (all_dy / n):view(shape) - xmu * (invstd * invstd * all_dy_xmu / n):view(shape))
    return gx:to(x:dtype()), gw, gb, nil, nil, nil
  end,
}

--- nn.SyncBatchNorm(num_features, opts): BatchNorm2d's options; in training
--- the statistics are those of the global batch (every rank's), so 2 ranks
--- of 64 normalise exactly as one batch of 128, running statistics included.
--- In eval mode, or without a process group of several ranks, it is
--- BatchNorm2d.
function SBN:forward(x)
  local D = dist()
  if not self.training or not D.is_initialized() or D.world_size() == 1
     or not lt.is_tensor(x) or x:dim() ~= 4 or x:size(2) ~= self.num_features then
    return Norm.BatchNorm2d.forward(self, x) -- and its messages for bad input
  end
  local c = self.num_features
  local mean, var, n = global_stats(x, c)
  if self.track_running_stats then
    lt.no_grad(function()
      self.num_batches_tracked:add_(1)
      local factor = self.momentum or (1.0 / self.num_batches_tracked:item())
      local unbiased = n > 1 and var * (n / (n - 1)) or var
      self.running_mean:mul_(1 - factor):add_(mean:to(self.running_mean:dtype()) * factor)
      self.running_var:mul_(1 - factor):add_(unbiased:to(self.running_var:dtype()) * factor)
    end)
  end
  return SyncBN(x, self.weight, self.bias, mean, (var + self.eps):rsqrt(), n)
end

--- SyncBatchNorm.convert(module) -> the module with every BatchNorm2d
--- replaced by a SyncBatchNorm holding the same parameters and statistics
--- (the module itself when it is a BatchNorm2d: a new SyncBatchNorm).
function SBN.convert(module)
  local function swap(m)
    if m._get_name and m:_get_name() == "BatchNorm2d" then
      local s = SBN(m.num_features, {eps = m.eps, momentum = m.momentum, affine = m.affine,
                                     track_running_stats = m.track_running_stats})
      if m.affine then s.weight, s.bias = m.weight, m.bias end
      if m.track_running_stats then
        s.running_mean, s.running_var, s.num_batches_tracked = m.running_mean, m.running_var, m.num_batches_tracked
      end
      s:train(m.training)
      return s
    end
    for _, name in ipairs(m._modules.names) do
      local child = m._modules.map[name]
      local new = swap(child)
      if new ~= child then m[name] = new end
    end
    return m
  end
  return swap(module)
end

return M
