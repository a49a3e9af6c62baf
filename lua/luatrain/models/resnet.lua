-- luatrain.models.resnet — the reference recipe's CIFAR ResNet (a 3x3 stride-1 stem and
-- no max-pool, so 32x32 images keep their resolution into layer1), with the
-- reference recipe's PyTorch parameter names so its state_dicts load unchanged:
--   conv1.0.weight, conv1.1.{weight,bias,running_mean,running_var,num_batches_tracked}
--   layer1.0.conv1.weight, layer1.0.bn1.*, ..., layer2.0.shortcut.0.weight,
--   layer2.0.shortcut.1.*, ..., classifer.{weight,bias}   ("classifer" sic)
-- Each convolution runs with the batch norm after it through
-- conv:forward_bn: in training the batch norm and its ReLU are one op
-- (BatchNorm2d:forward_relu); in evaluation under lt.no_grad the
-- convolution, batch norm, residual and ReLU are one (F.conv2d_bn_eval),
-- with the numbers of the layers called one by one (up to the order in
-- which the convolution sums its products). Not here:
-- ImageNet-style ResNets (7x7 stem, max-pool).
local nn = require "luatrain.nn"
local U = require "luatrain.nn.layers.util"

local M = {}

--- BasicBlock(in_planes, planes, stride): two 3x3 convs with BN, plus the
--- identity or a 1x1-conv projection shortcut. Output channels: planes.
local BasicBlock = nn.Module:extend("BasicBlock")
BasicBlock.expansion = 1

local function shortcut(in_planes, out_planes, stride)
  if stride ~= 1 or in_planes ~= out_planes then
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, {stride = stride, bias = false}),
                         nn.BatchNorm2d(out_planes))
  end
  return nn.Sequential() -- the identity; kept as an (empty) child as in the reference recipe
end

function BasicBlock:__init(in_planes, planes, stride)
  nn.Module.__init(self)
  stride = stride or 1
  self.conv1 = nn.Conv2d(in_planes, planes, 3, {stride = stride, padding = 1, bias = false})
  self.bn1 = nn.BatchNorm2d(planes)
  self.conv2 = nn.Conv2d(planes, planes, 3, {stride = 1, padding = 1, bias = false})
  self.bn2 = nn.BatchNorm2d(planes)
  self.shortcut = shortcut(in_planes, planes, stride)
end

-- The projection shortcut Sequential(conv, bn) as one conv:forward_bn; the
-- identity, or a shortcut changed to something else, called as it is.
local function run_shortcut(seq, x)
  local conv, bn = seq[1], seq[2]
  if #seq == 2 and conv.forward_bn and seq:get_autocast() == nil then return conv:forward_bn(bn, x) end
  return seq(x)
end

function BasicBlock:forward(x)
  local out = self.conv1:forward_bn(self.bn1, x, {relu = true})
  return self.conv2:forward_bn(self.bn2, out, {residual = run_shortcut(self.shortcut, x), relu = true})
end

--- Bottleneck(in_planes, planes, stride): 1x1 reduce, 3x3 (strided), 1x1
--- expand to 4·planes, each with BN, plus the shortcut.
local Bottleneck = nn.Module:extend("Bottleneck")
Bottleneck.expansion = 4

function Bottleneck:__init(in_planes, planes, stride)
  nn.Module.__init(self)
  stride = stride or 1
  local out_planes = planes * Bottleneck.expansion
  self.conv1 = nn.Conv2d(in_planes, planes, 1, {bias = false})
  self.bn1 = nn.BatchNorm2d(planes)
  self.conv2 = nn.Conv2d(planes, planes, 3, {stride = stride, padding = 1, bias = false})
  self.bn2 = nn.BatchNorm2d(planes)
  self.conv3 = nn.Conv2d(planes, out_planes, 1, {bias = false})
  self.bn3 = nn.BatchNorm2d(out_planes)
  self.shortcut = shortcut(in_planes, out_planes, stride)
end

function Bottleneck:forward(x)
  local out = self.conv1:forward_bn(self.bn1, x, {relu = true})
  out = self.conv2:forward_bn(self.bn2, out, {relu = true})
  return self.conv3:forward_bn(self.bn3, out, {residual = run_shortcut(self.shortcut, x), relu = true})
end

--- ResNet(block, num_blocks, {num_classes=10, width=64, in_channels=3}):
--- stem, four stages of widths w, 2w, 4w, 8w (strides 1, 2, 2, 2; the first
--- block of a stage carries the stride), global average pool, linear.
local ResNet = nn.Module:extend("ResNet")

local function check_opts(fname, o)
  o = U.opts(fname, o, {"num_classes", "width", "in_channels"}, 4)
  return U.int(fname, "num_classes", o.num_classes or 10, false, 4), U.int(fname, "width", o.width or 64, false, 4),
         U.int(fname, "in_channels", o.in_channels or 3, false, 4)
end

function ResNet:__init(block, num_blocks, opts)
  nn.Module.__init(self)
  if block ~= BasicBlock and block ~= Bottleneck then
    error("ResNet: block must be models.BasicBlock or models.Bottleneck", 3)
  end
  if type(num_blocks) ~= "table" or #num_blocks ~= 4 then
    error("ResNet: num_blocks must be an array of 4 block counts, e.g. {2, 2, 2, 2}", 3)
  end
  for i = 1, 4 do U.int("ResNet", "num_blocks[" .. i .. "]", num_blocks[i], false, 3) end
  local num_classes, width, in_channels = check_opts("ResNet", opts)
  self.conv1 = nn.Sequential(nn.Conv2d(in_channels, width, 3, {stride = 1, padding = 1, bias = false}),
                             nn.BatchNorm2d(width), nn.ReLU())
  local in_planes = width
  local function make_layer(planes, n, stride)
    local layer = nn.Sequential()
    for i = 1, n do
      layer:append(block(in_planes, planes, i == 1 and stride or 1))
      in_planes = planes * block.expansion
    end
    return layer
  end
  self.layer1 = make_layer(width, num_blocks[1], 1)
  self.layer2 = make_layer(2 * width, num_blocks[2], 2)
  self.layer3 = make_layer(4 * width, num_blocks[3], 2)
  self.layer4 = make_layer(8 * width, num_blocks[4], 2)
  self.avg_pool = nn.AdaptiveAvgPool2d({1, 1})
  self.classifer = nn.Linear(8 * width * block.expansion, num_classes)
end

-- The stem Sequential(conv, bn, ReLU) as one conv:forward_bn, unless it
-- has been changed to something else or given its own autocast.
local function stem(seq, x)
  local conv, bn, act = seq[1], seq[2], seq[3]
  if #seq == 3 and conv.forward_bn and act:_get_name() == "ReLU" and seq:get_autocast() == nil then
    return conv:forward_bn(bn, x, {relu = true})
  end
  return seq(x)
end

function ResNet:forward(x)
  local out = stem(self.conv1, x)
  out = self.layer1(out)
  out = self.layer2(out)
  out = self.layer3(out)
  out = self.layer4(out)
  out = self.avg_pool(out)
  return self.classifer(out:flatten(2))
end

M.BasicBlock, M.Bottleneck, M.ResNet = BasicBlock, Bottleneck, ResNet

--- resnet18{num_classes=10, width=64, in_channels=3}, resnet34{...}, resnet50{...}
function M.resnet18(opts) return ResNet(BasicBlock, {2, 2, 2, 2}, opts) end
function M.resnet34(opts) return ResNet(BasicBlock, {3, 4, 6, 3}, opts) end
function M.resnet50(opts) return ResNet(Bottleneck, {3, 4, 6, 3}, opts) end

return M
