-- luatrain.nn.layers.activation — ReLU, LeakyReLU, GELU, SiLU as modules
-- (settings plus a call into lt.nn.functional; no state).
local Module = require "luatrain.nn.module"
local U = require "luatrain.nn.layers.util"

local M = {}

local function inplace_opt(fn, opts)
  local o = U.opts(fn, opts, {"inplace"}, 4)
  return U.bool(fn, "inplace", o.inplace, false, 4)
end

--- nn.ReLU({inplace=false})
M.ReLU = Module:extend("ReLU")
function M.ReLU:__init(opts)
  Module.__init(self)
  self.inplace = inplace_opt("nn.ReLU", opts)
end
function M.ReLU:forward(x) return U.F.relu(x, {inplace = self.inplace}) end
function M.ReLU:extra_repr() return self.inplace and "inplace=True" or "" end

--- nn.LeakyReLU(negative_slope=0.01, {inplace=false}), or nn.LeakyReLU{negative_slope=, inplace=}
M.LeakyReLU = Module:extend("LeakyReLU")
function M.LeakyReLU:__init(slope, opts)
  Module.__init(self)
  if type(slope) == "table" then slope, opts = nil, slope end
  local o = U.opts("nn.LeakyReLU", opts, {"negative_slope", "inplace"})
  if slope == nil then slope = o.negative_slope end
  if slope == nil then slope = 0.01 end
  self.negative_slope = U.number("nn.LeakyReLU", "negative_slope", slope, -math.huge, math.huge)
  self.inplace = U.bool("nn.LeakyReLU", "inplace", o.inplace, false)
end
function M.LeakyReLU:forward(x)
  return U.F.leaky_relu(x, {negative_slope = self.negative_slope, inplace = self.inplace})
end
function M.LeakyReLU:extra_repr()
  return "negative_slope=" .. U.repr(self.negative_slope) .. (self.inplace and ", inplace=True" or "")
end

--- nn.GELU({approximate="none"}) ("none": the exact erf form; "tanh": the approximation)
M.GELU = Module:extend("GELU")
function M.GELU:__init(opts)
  Module.__init(self)
  local o = U.opts("nn.GELU", opts, {"approximate"})
  local a = o.approximate or "none"
  if a ~= "none" and a ~= "tanh" then
    error("nn.GELU: approximate must be 'none' or 'tanh', got " .. tostring(a), 3)
  end
  self.approximate = a
end
function M.GELU:forward(x) return U.F.gelu(x, {approximate = self.approximate}) end
function M.GELU:extra_repr() return "approximate=" .. U.repr(self.approximate) end

--- nn.SiLU({inplace=false}): x * sigmoid(x)
M.SiLU = Module:extend("SiLU")
function M.SiLU:__init(opts)
  Module.__init(self)
  self.inplace = inplace_opt("nn.SiLU", opts)
end
function M.SiLU:forward(x) return U.F.silu(x, {inplace = self.inplace}) end
function M.SiLU:extra_repr() return self.inplace and "inplace=True" or "" end

return M
