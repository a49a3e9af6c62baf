-- luatrain.nn.layers.linear — Linear, Dropout and Flatten: the modules of a
-- classifier head. The maths is in lt.nn.functional.
local lt = require "luatrain.core"
local Module = require "luatrain.nn.module"
local init = require "luatrain.nn.init_fns"
local U = require "luatrain.nn.layers.util"

local M = {}

--- nn.Linear(in_features, out_features, {bias=true, dtype=, device=}):
--- y = x·weightᵀ + bias, weight [out, in]; PyTorch's default initialisation.
M.Linear = Module:extend("Linear")

function M.Linear:__init(in_features, out_features, opts)
  Module.__init(self)
  local fn = "nn.Linear"
  local o = U.opts(fn, opts, {"bias", "dtype", "device"})
  self.in_features = U.int(fn, "in_features", in_features, true)
  self.out_features = U.int(fn, "out_features", out_features, true)
  local f = U.factory(o)
  self.weight = U.Parameter(lt.empty({self.out_features, self.in_features}, f))
  if U.bool(fn, "bias", o.bias, true) then
    self.bias = U.Parameter(lt.empty({self.out_features}, f))
  end
  self:reset_parameters()
end

function M.Linear:reset_parameters()
  if self.weight:numel() > 0 then init.kaiming_uniform_(self.weight, {a = math.sqrt(5)}) end
  if self.bias then
    local fan_in = self.in_features
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(self.bias, -bound, bound)
  end
end

function M.Linear:forward(x) return U.F.linear(x, self.weight, self.bias) end

function M.Linear:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=%s", self.in_features, self.out_features,
                       U.repr(self.bias ~= nil))
end

--- nn.Dropout(p=0.5, {inplace=false}): zeroes elements with probability p in
--- training mode and scales the rest by 1/(1-p); the identity in eval mode.
M.Dropout = Module:extend("Dropout")

function M.Dropout:__init(p, opts)
  Module.__init(self)
  if type(p) == "table" then p, opts = p.p, {inplace = p.inplace} end
  local o = U.opts("nn.Dropout", opts, {"inplace"})
  self.p = U.number("nn.Dropout", "p", p == nil and 0.5 or p, 0, 1)
  self.inplace = U.bool("nn.Dropout", "inplace", o.inplace, false)
end

function M.Dropout:forward(x) return U.F.dropout(x, {p = self.p, training = self.training, inplace = self.inplace}) end

function M.Dropout:extra_repr() return string.format("p=%s, inplace=%s", U.repr(self.p), U.repr(self.inplace)) end

--- nn.Flatten(start_dim=2, end_dim=-1): dims are 1-based as everywhere in
--- luatrain, so the default keeps the batch dim (PyTorch's start_dim=1).
M.Flatten = Module:extend("Flatten")

function M.Flatten:__init(start_dim, end_dim)
  Module.__init(self)
  if type(start_dim) == "table" then
    local o = U.opts("nn.Flatten", start_dim, {"start_dim", "end_dim"})
    start_dim, end_dim = o.start_dim, o.end_dim
  end
  start_dim, end_dim = start_dim or 2, end_dim or -1
  if math.type(start_dim) ~= "integer" or math.type(end_dim) ~= "integer" or start_dim == 0 or end_dim == 0 then
    error("nn.Flatten: start_dim and end_dim must be non-zero integers (1-based, negative from the end)", 3)
  end
  self.start_dim, self.end_dim = start_dim, end_dim
end

function M.Flatten:forward(x) return U.F.flatten(x, self.start_dim, self.end_dim) end

function M.Flatten:extra_repr() return string.format("start_dim=%d, end_dim=%d", self.start_dim, self.end_dim) end

return M
