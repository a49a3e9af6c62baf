-- luatrain.nn.functional — `lt.nn.functional` (F): the stateless neural-network
-- functions, with PyTorch's names and argument names. Each is a C function
-- (src/lua/lt_lua_nn.c -> src/autograd/lt_ag_nn.c -> the backend's nn kernels),
-- differentiable through autograd. Not here: layers with parameters (lt.nn).
--
-- Lua conventions: dims are 1-based (negative counts from the end) and class
-- labels are 1..C (int64). Options go in a table; where PyTorch has plain
-- trailing flags they may also be given positionally.
--
--   F.conv2d(input, weight, bias, {stride=1, padding=0, dilation=1, groups=1})
--       input [N,C,H,W], or unbatched [C,H,W] (output [Cout,OH,OW]);
--       stride/padding/dilation: an integer or {h, w}; padding also 'same'/'valid'
--       ('same' with stride 1: an even kernel extent pads one more row/column at
--       the bottom/right, as PyTorch)
--   F.batch_norm(input, running_mean, running_var, weight, bias, training=false,
--                momentum=0.1, eps=1e-5)
--   F.batch_norm(input, running_mean, running_var, {weight=, bias=, training=,
--                momentum=, eps=})
--       training: batch statistics (biased variance), running stats updated in
--       place with the unbiased variance; eval: the running statistics
--   F.relu(input, inplace=false)   F.relu_(input)
--   F.leaky_relu(input, negative_slope=0.01, inplace=false)   F.leaky_relu_(input, slope)
--   F.gelu(input, approximate='none')   ('none': exact erf form, or 'tanh')
--   F.silu(input, inplace=false)
--       (each also takes its options as a table: F.relu(x, {inplace=true}))
--   F.linear(input, weight, bias)          input [*, in], weight [out, in]
--   F.dropout(input, p=0.5, training=true, inplace=false)   or {p=, training=, inplace=}
--   (the poolings take [N,C,H,W] or unbatched [C,H,W] inputs)
--   F.max_pool2d(input, kernel_size, {stride=kernel_size, padding=0, dilation=1,
--                ceil_mode=false, return_indices=false})
--       return_indices: also returns the 1-based position of each maximum
--       within its [H*W] plane
--   F.avg_pool2d(input, kernel_size, {stride=kernel_size, padding=0,
--                ceil_mode=false, count_include_pad=true, divisor_override=nil})
--   F.adaptive_avg_pool2d(input, output_size)   (an integer or {h, w})
--   F.flatten(input, start_dim=1, end_dim=-1)
--   F.softmax(input, dim)   F.log_softmax(input, dim)   (also t:softmax(dim))
--   F.cross_entropy(input, target, {weight=nil, ignore_index=-100,
--                   reduction='mean', label_smoothing=0})
--       input [N,C] (or [N,C,d...], or [C]), target int64 labels 1..C of
--       shape [N] ([N,d...], or 0-d); the weighted mean divides by the sum
--       of the targets' weights, as PyTorch. Or a floating target of class
--       probabilities of the input's shape: per element -sum_c w_c t_c
--       log_softmax(input)_c with t smoothed to t(1-ls) + ls/C; 'mean' divides
--       by the number of elements (N times the spatial size), not by the
--       weights; ignore_index must then be below 1 (no class)
--   F.nll_loss(input, target, {weight=nil, ignore_index=-100, reduction='mean'})
--   F.mse_loss(input, target, reduction='mean')   F.l1_loss(input, target, reduction)
--       (or {reduction=}); input and target broadcast together and promote, as
--       PyTorch's; a target of another size prints PyTorch's UserWarning
--       ("Using a target size ... that is different to the input size ...")
--       once to stderr
--   F.binary_cross_entropy_with_logits(input, target, {weight=nil,
--                   reduction='mean', pos_weight=nil})
local core = require "luatrain.core"

local F = {}
for name, fn in pairs(core._nn) do F[name] = fn end

return F
