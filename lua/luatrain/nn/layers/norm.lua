-- luatrain.nn.layers.norm — BatchNorm2d: the affine parameters and the running
-- statistics of batch normalisation, with PyTorch's update rule (momentum,
-- or a cumulative average when momentum is false; num_batches_tracked).
-- The normalisation itself is F.batch_norm (C kernels); bn:forward_relu(x)
-- is relu(bn(x)) in one op, F.batch_norm_relu.
local lt = require "luatrain.core"
local Module = require "luatrain.nn.module"
local U = require "luatrain.nn.layers.util"

local M = {}

--- nn.BatchNorm2d(num_features, {eps=1e-5, momentum=0.1, affine=true,
--- track_running_stats=true, dtype=, device=}). momentum=false means
--- PyTorch's momentum=None (cumulative moving average). Parameters weight
--- (ones) and bias (zeros); buffers running_mean (zeros), running_var (ones)
--- and num_batches_tracked (int64 scalar), named as in PyTorch.
M.BatchNorm2d = Module:extend("BatchNorm2d")

local BN_OPTS = {"eps", "momentum", "affine", "track_running_stats", "dtype", "device"}

function M.BatchNorm2d:__init(num_features, opts)
  Module.__init(self)
  local fn = "nn.BatchNorm2d"
  local o = U.opts(fn, opts, BN_OPTS)
  self.num_features = U.int(fn, "num_features", num_features)
  self.eps = U.number(fn, "eps", o.eps == nil and 1e-5 or o.eps, 0, math.huge)
  if o.momentum == false then
    self.momentum = false
  else
    self.momentum = U.number(fn, "momentum", o.momentum == nil and 0.1 or o.momentum, 0, 1)
  end
  self.affine = U.bool(fn, "affine", o.affine, true)
  self.track_running_stats = U.bool(fn, "track_running_stats", o.track_running_stats, true)
  local f = U.factory(o)
  local n = self.num_features
  if self.affine then
    self.weight = U.Parameter(lt.ones(n, f))
    self.bias = U.Parameter(lt.zeros(n, f))
  end
  if self.track_running_stats then
    self:register_buffer("running_mean", lt.zeros(n, f))
    self:register_buffer("running_var", lt.ones(n, f))
    self:register_buffer("num_batches_tracked", lt.tensor(0, {dtype = "int64", device = f.device}))
  end
end

function M.BatchNorm2d:reset_running_stats()
  if not self.track_running_stats then return end
  Module._no_grad(function()
    self.running_mean:zero_()
    self.running_var:fill_(1)
    self.num_batches_tracked:zero_()
  end)
end

function M.BatchNorm2d:reset_parameters()
  self:reset_running_stats()
  if self.affine then
    Module._no_grad(function()
      self.weight:fill_(1)
      self.bias:zero_()
    end)
  end
end

-- A dict saved without num_batches_tracked (older PyTorch, or written by
-- hand) still loads, keeping the current count, as PyTorch allows.
function M.BatchNorm2d:_optional_state(name) return name == "num_batches_tracked" end

local function bn_forward(self, x, relu)
  if not lt.is_tensor(x) then error("expected a tensor input, got " .. type(x), 0) end
  if x:dim() ~= 4 then
    error(string.format("expected a 4-D input [N,C,H,W], got %s", Module._shape_str(x)), 0)
  end
  if x:size(2) ~= self.num_features then
    error(string.format("expected %d channels, got input of shape %s", self.num_features, Module._shape_str(x)), 0)
  end
  local factor = self.momentum or 0.0
  if self.training and self.track_running_stats then
    Module._no_grad(function() self.num_batches_tracked:add_(1) end)
    if self.momentum == false then factor = 1.0 / self.num_batches_tracked:item() end
  end
  -- eval mode uses the running statistics when there are any
  local use_batch = self.training or not self.track_running_stats
  local rm, rv
  if not self.training or self.track_running_stats then rm, rv = self.running_mean, self.running_var end
  return (relu and U.F.batch_norm_relu or U.F.batch_norm)(x, rm, rv, {weight = self.weight, bias = self.bias,
                                                                      training = use_batch, momentum = factor,
                                                                      eps = self.eps})
end

function M.BatchNorm2d:forward(x) return bn_forward(self, x, false) end

--- bn:forward_relu(x): F.relu(bn(x)) as one op (F.batch_norm_relu: no
--- pass over memory for the ReLU, forward or backward, on a backend with
--- the fused kernels), with the same numbers, running-statistics update and
--- num_batches_tracked. It runs as calling bn does (errors name the module,
--- its autocast setting applies). A subclass that overrides forward (such
--- as nn.SyncBatchNorm) gets F.relu(bn(x)).
function M.BatchNorm2d:forward_relu(x)
  if self.forward ~= M.BatchNorm2d.forward then return U.F.relu(self(x)) end
  return Module._call_as_forward(self, bn_forward, x, true)
end

function M.BatchNorm2d:extra_repr()
  return string.format("%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s", self.num_features,
                       U.repr(self.eps), self.momentum == false and "None" or U.repr(self.momentum),
                       U.repr(self.affine), U.repr(self.track_running_stats))
end

return M
