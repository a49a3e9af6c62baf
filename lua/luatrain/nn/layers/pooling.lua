-- luatrain.nn.layers.pooling — MaxPool2d, AvgPool2d, AdaptiveAvgPool2d as
-- modules (settings, printing as PyTorch, a call into lt.nn.functional).
-- Inputs are [N,C,H,W] or unbatched [C,H,W], as PyTorch's.
local Module = require "luatrain.nn.module"
local U = require "luatrain.nn.layers.util"

local M = {}

-- An integer or a pair, kept as given (PyTorch prints what it was given).
local function size_arg(fn, what, v, allow_zero)
  U.pair(fn, what, v, allow_zero, 4) -- validates
  if type(v) == "table" then return {v[1], v[2]} end
  return v
end

--- nn.MaxPool2d(kernel_size, {stride=kernel_size, padding=0, dilation=1, ceil_mode=false})
M.MaxPool2d = Module:extend("MaxPool2d")

function M.MaxPool2d:__init(kernel_size, opts)
  Module.__init(self)
  local fn = "nn.MaxPool2d"
  local o = U.opts(fn, opts, {"stride", "padding", "dilation", "ceil_mode"})
  if kernel_size == nil then error("nn.MaxPool2d: kernel_size is required (argument #1)", 3) end
  self.kernel_size = size_arg(fn, "kernel_size", kernel_size)
  self.stride = size_arg(fn, "stride", o.stride == nil and kernel_size or o.stride)
  self.padding = size_arg(fn, "padding", o.padding or 0, true)
  self.dilation = size_arg(fn, "dilation", o.dilation or 1)
  self.ceil_mode = U.bool(fn, "ceil_mode", o.ceil_mode, false)
  local k, p = U.pair(fn, "", self.kernel_size), U.pair(fn, "", self.padding, true)
  if p[1] > k[1] // 2 or p[2] > k[2] // 2 then
    error(string.format("nn.MaxPool2d: padding %s should be at most half of kernel_size %s", U.repr(self.padding),
                        U.repr(self.kernel_size)), 3)
  end
end

function M.MaxPool2d:forward(x)
  return U.F.max_pool2d(x, self.kernel_size, {stride = self.stride, padding = self.padding,
                                              dilation = self.dilation, ceil_mode = self.ceil_mode})
end

function M.MaxPool2d:extra_repr()
  return string.format("kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s", U.repr(self.kernel_size),
                       U.repr(self.stride), U.repr(self.padding), U.repr(self.dilation), U.repr(self.ceil_mode))
end

--- nn.AvgPool2d(kernel_size, {stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true})
M.AvgPool2d = Module:extend("AvgPool2d")

function M.AvgPool2d:__init(kernel_size, opts)
  Module.__init(self)
  local fn = "nn.AvgPool2d"
  local o = U.opts(fn, opts, {"stride", "padding", "ceil_mode", "count_include_pad"})
  if kernel_size == nil then error("nn.AvgPool2d: kernel_size is required (argument #1)", 3) end
  self.kernel_size = size_arg(fn, "kernel_size", kernel_size)
  self.stride = size_arg(fn, "stride", o.stride == nil and kernel_size or o.stride)
  self.padding = size_arg(fn, "padding", o.padding or 0, true)
  self.ceil_mode = U.bool(fn, "ceil_mode", o.ceil_mode, false)
  self.count_include_pad = U.bool(fn, "count_include_pad", o.count_include_pad, true)
  local k, p = U.pair(fn, "", self.kernel_size), U.pair(fn, "", self.padding, true)
  if p[1] > k[1] // 2 or p[2] > k[2] // 2 then
    error(string.format("nn.AvgPool2d: padding %s should be at most half of kernel_size %s", U.repr(self.padding),
                        U.repr(self.kernel_size)), 3)
  end
end

function M.AvgPool2d:forward(x)
  return U.F.avg_pool2d(x, self.kernel_size, {stride = self.stride, padding = self.padding,
                                              ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad})
end

function M.AvgPool2d:extra_repr()
  return string.format("kernel_size=%s, stride=%s, padding=%s", U.repr(self.kernel_size), U.repr(self.stride),
                       U.repr(self.padding))
end

--- nn.AdaptiveAvgPool2d(output_size): an integer or a pair {h, w}.
M.AdaptiveAvgPool2d = Module:extend("AdaptiveAvgPool2d")

function M.AdaptiveAvgPool2d:__init(output_size)
  Module.__init(self)
  if output_size == nil then error("nn.AdaptiveAvgPool2d: output_size is required (argument #1)", 3) end
  self.output_size = size_arg("nn.AdaptiveAvgPool2d", "output_size", output_size)
end

function M.AdaptiveAvgPool2d:forward(x) return U.F.adaptive_avg_pool2d(x, self.output_size) end

function M.AdaptiveAvgPool2d:extra_repr() return "output_size=" .. U.repr(self.output_size) end

return M
