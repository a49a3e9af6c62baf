-- luatrain.models — `lt.models`: ready-made networks built from lt.nn.
-- For now the reference recipe's CIFAR ResNets (models/resnet.lua).
local resnet = require "luatrain.models.resnet"

local M = {}
for k, v in pairs(resnet) do M[k] = v end

return M
