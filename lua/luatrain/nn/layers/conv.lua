-- luatrain.nn.layers.conv — Conv2d: the module that owns a convolution's
-- weight and bias, initialises them as PyTorch does and calls
-- F.conv2d; conv:forward_bn, the convolution with the batch norm (and
-- residual and ReLU) after it, as one op in evaluation. The convolution
-- itself is in lt.nn.functional (C kernels).
local lt = require "luatrain.core"
local Module = require "luatrain.nn.module"
local init = require "luatrain.nn.init_fns"
local U = require "luatrain.nn.layers.util"
local norm = require "luatrain.nn.layers.norm"

local M = {}

--- nn.Conv2d(in_channels, out_channels, kernel_size, {stride=1, padding=0,
--- dilation=1, groups=1, bias=true, padding_mode="zeros", dtype=, device=}).
--- kernel_size, stride, padding and dilation are integers or pairs {h, w};
--- padding may also be "same" or "valid" ("same" with an even kernel pads the
--- extra row/column at the bottom/right, as PyTorch). weight: [out, in/groups,
--- kh, kw]. Input [N,C,H,W] or unbatched [C,H,W].
M.Conv2d = Module:extend("Conv2d")

local CONV_OPTS = {"stride", "padding", "dilation", "groups", "bias", "padding_mode", "dtype", "device"}

function M.Conv2d:__init(in_channels, out_channels, kernel_size, opts)
  Module.__init(self)
  local fn = "nn.Conv2d"
  local o = U.opts(fn, opts, CONV_OPTS)
  self.in_channels = U.int(fn, "in_channels", in_channels)
  self.out_channels = U.int(fn, "out_channels", out_channels)
  if kernel_size == nil then error("nn.Conv2d: kernel_size is required (argument #3)", 3) end
  self.kernel_size = U.pair(fn, "kernel_size", kernel_size)
  self.stride = U.pair(fn, "stride", o.stride or 1)
  if type(o.padding) == "string" then
    if o.padding ~= "same" and o.padding ~= "valid" then
      error("nn.Conv2d: padding must be an integer, a pair, 'same' or 'valid', got '" .. o.padding .. "'", 3)
    end
    if o.padding == "same" and (self.stride[1] ~= 1 or self.stride[2] ~= 1) then
      error("nn.Conv2d: padding='same' is not supported for strided convolutions", 3)
    end
    self.padding = o.padding
  else
    self.padding = U.pair(fn, "padding", o.padding or 0, true)
  end
  self.dilation = U.pair(fn, "dilation", o.dilation or 1)
  self.groups = U.int(fn, "groups", o.groups or 1)
  if self.in_channels % self.groups ~= 0 then
    error(string.format("nn.Conv2d: in_channels (%d) must be divisible by groups (%d)", self.in_channels, self.groups), 3)
  end
  if self.out_channels % self.groups ~= 0 then
    error(string.format("nn.Conv2d: out_channels (%d) must be divisible by groups (%d)", self.out_channels, self.groups), 3)
  end
  local mode = o.padding_mode or "zeros"
  if mode ~= "zeros" then
    error("nn.Conv2d: padding_mode '" .. tostring(mode) .. "' is not supported (only 'zeros')", 3)
  end
  self.padding_mode = mode
  local f = U.factory(o)
  local k = self.kernel_size
  self.weight = U.Parameter(lt.empty({self.out_channels, self.in_channels // self.groups, k[1], k[2]}, f))
  if U.bool(fn, "bias", o.bias, true) then
    self.bias = U.Parameter(lt.empty({self.out_channels}, f))
  else
    self:register_parameter("bias", nil)
  end
  self:reset_parameters()
end

--- PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight, which is
--- U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
function M.Conv2d:reset_parameters()
  init.kaiming_uniform_(self.weight, {a = math.sqrt(5)})
  if self.bias then
    local fan_in = init._calculate_fan_in_and_fan_out(self.weight)
    if fan_in ~= 0 then
      local bound = 1 / math.sqrt(fan_in)
      init.uniform_(self.bias, -bound, bound)
    end
  end
end

function M.Conv2d:forward(x)
  return U.F.conv2d(x, self.weight, self.bias, {stride = self.stride, padding = self.padding,
                                                dilation = self.dilation, groups = self.groups})
end

local FORWARD_BN_OPTS = {"residual", "relu"}

-- Whether conv:forward_bn(bn, ...) may run as one op: evaluation (no
-- gradient wanted, bn in eval mode with running statistics), both layers as
-- they are (not subclassed, no autocast setting of their own).
local function fusable(conv, bn)
  return not lt.is_grad_enabled() and getmetatable(bn) == norm.BatchNorm2d and not bn.training and
         bn.track_running_stats and conv.forward == M.Conv2d.forward and conv:get_autocast() == nil and
         bn:get_autocast() == nil
end

local function fused(self, bn, x, residual, relu)
  return U.F.conv2d_bn_eval(x, self.weight, self.bias, bn.running_mean, bn.running_var,
                            {stride = self.stride, padding = self.padding, dilation = self.dilation,
                             groups = self.groups, bn_weight = bn.weight, bn_bias = bn.bias, eps = bn.eps,
                             residual = residual, relu = relu})
end

--- conv:forward_bn(bn, x, {residual=, relu=false}): bn(conv(x)), plus
--- residual, then F.relu when relu: what a ResNet block computes. In
--- evaluation (under lt.no_grad, bn in eval mode) it is one op,
--- F.conv2d_bn_eval, which on the CPU applies the batch norm, the residual
--- and the ReLU as the convolution writes its output, with the layers'
--- numbers (up to the order in which the convolution sums its products);
--- otherwise the layers are called one by one (training records
--- them as usual; a bn other than nn.BatchNorm2d is simply called).
function M.Conv2d:forward_bn(bn, x, opts)
  local o = U.opts("Conv2d:forward_bn", opts, FORWARD_BN_OPTS)
  local residual, relu = o.residual, o.relu and true or false
  if fusable(self, bn) then return Module._call_as_forward(self, fused, bn, x, residual, relu) end
  if relu and not residual and bn.forward_relu then return bn:forward_relu(self(x)) end
  local y = bn(self(x))
  if residual then y = y + residual end
  if relu then y = U.F.relu(y) end
  return y
end

function M.Conv2d:extra_repr()
  local s = string.format("%d, %d, kernel_size=%s, stride=%s", self.in_channels, self.out_channels,
                          U.repr(self.kernel_size), U.repr(self.stride))
  local p = self.padding
  if type(p) == "string" then
    s = s .. ", padding=" .. p
  elseif p[1] ~= 0 or p[2] ~= 0 then
    s = s .. ", padding=" .. U.repr(p)
  end
  if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then s = s .. ", dilation=" .. U.repr(self.dilation) end
  if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
  if not self.bias then s = s .. ", bias=False" end
  return s
end

return M
