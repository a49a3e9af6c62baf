-- luatrain.nn — `lt.nn`: Module (nn/module.lua), the layers (nn/layers/),
-- the initialisers as `nn.init` (nn/init_fns.lua) and `nn.functional`.
--
--   local nn = lt.nn
--   local net = nn.Sequential(nn.Conv2d(3, 16, 3, {padding = 1, bias = false}),
--                             nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
--                             nn.Flatten(), nn.Linear(16, 10))
--   local Block = nn.Module:extend("Block")   -- user layers: see nn/module.lua
local Module = require "luatrain.nn.module"

local M = {}

M.Module = Module
M.init = require "luatrain.nn.init_fns"

M.Parameter = require("luatrain.nn.layers.util").Parameter

for _, file in ipairs{"containers", "conv", "norm", "activation", "linear", "pooling", "loss", "parallel"} do
  for name, cls in pairs(require("luatrain.nn.layers." .. file)) do M[name] = cls end
end

M.functional = require "luatrain.nn.functional"

return M
