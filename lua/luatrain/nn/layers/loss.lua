-- luatrain.nn.layers.loss — CrossEntropyLoss and MSELoss as modules (their
-- settings and a call into lt.nn.functional). Class targets are 1-based.
local Module = require "luatrain.nn.module"
local U = require "luatrain.nn.layers.util"
local lt = require "luatrain.core"

local M = {}

local function reduction_opt(fn, r)
  r = r or "mean"
  if r ~= "mean" and r ~= "sum" and r ~= "none" then
    error(string.format("%s: reduction must be 'mean', 'sum' or 'none', got %s", fn, tostring(r)), 4)
  end
  return r
end

--- nn.CrossEntropyLoss({weight=nil, reduction="mean", label_smoothing=0,
--- ignore_index=nil}): loss(logits [N,C], target [N] int64 in 1..C), or a
--- floating target [N,C] of class probabilities (see F.cross_entropy). The
--- class weight tensor is registered as a buffer, as in PyTorch.
M.CrossEntropyLoss = Module:extend("CrossEntropyLoss")

function M.CrossEntropyLoss:__init(opts)
  Module.__init(self)
  local fn = "nn.CrossEntropyLoss"
  local o = U.opts(fn, opts, {"weight", "reduction", "label_smoothing", "ignore_index"})
  if o.weight ~= nil and not lt.is_tensor(o.weight) then
    error("nn.CrossEntropyLoss: weight must be a tensor of class weights, got " .. type(o.weight), 3)
  end
  self:register_buffer("weight", o.weight)
  self.reduction = reduction_opt(fn, o.reduction)
  self.label_smoothing = U.number(fn, "label_smoothing", o.label_smoothing or 0.0, 0, 1)
  if o.ignore_index ~= nil and math.type(o.ignore_index) ~= "integer" then
    error("nn.CrossEntropyLoss: ignore_index must be an integer, got " .. tostring(o.ignore_index), 3)
  end
  self.ignore_index = o.ignore_index
end

function M.CrossEntropyLoss:forward(input, target)
  return U.F.cross_entropy(input, target, {weight = self.weight, reduction = self.reduction,
                                           label_smoothing = self.label_smoothing, ignore_index = self.ignore_index})
end

--- nn.MSELoss({reduction="mean"}): F.mse_loss (input and target broadcast and promote)
M.MSELoss = Module:extend("MSELoss")

function M.MSELoss:__init(opts)
  Module.__init(self)
  local o = U.opts("nn.MSELoss", opts, {"reduction"})
  self.reduction = reduction_opt("nn.MSELoss", o.reduction)
end

function M.MSELoss:forward(input, target) return U.F.mse_loss(input, target, {reduction = self.reduction}) end

return M
