-- test_nn_gradcheck.lua — every differentiable function of lt.nn.functional
-- against central finite differences in float64 (lt.autograd.gradcheck: the
-- full Jacobian, one backward per output element), on random shapes that
-- reach every kernel path: stride 2, padding 0, 1x1 kernels (the direct GEMM
-- path), groups, dilation, odd sizes, batches that split into multi-image
-- chunks; batch norm in training and eval mode; every loss with each
-- reduction, label smoothing, class weights and ignore_index.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional
local gradcheck = lt.autograd.gradcheck

lt.manual_seed(1234)

local function p(shape, scale)
  local t = lt.randn(shape, {dtype = "float64"})
  if scale then t = t:mul(scale) end
  t.requires_grad = true
  return t
end

-- gradcheck, counted as one check with the case name in the failure
local function gc(what, fn, inputs, opts)
  local ok, err = pcall(gradcheck, fn, inputs, opts)
  T.check(ok, what .. ": " .. tostring(err))
end

T.test("conv2d", function()
  local cases = {
    {"3x3 stride 1 padding 1, bias", {2, 3, 5, 5}, {4, 3, 3, 3}, true, {padding = 1}},
    {"stride 2, padding 0, odd sizes", {1, 2, 7, 6}, {3, 2, 3, 2}, false, {stride = 2}},
    {"1x1, stride 1 (direct path)", {3, 4, 3, 5}, {2, 4, 1, 1}, true, {}},
    {"1x1, one image", {1, 4, 3, 3}, {3, 4, 1, 1}, false, {}},
    {"1x1 stride 2", {2, 3, 5, 5}, {2, 3, 1, 1}, false, {stride = 2}},
    {"groups 2", {2, 4, 5, 4}, {6, 2, 3, 3}, true, {padding = 1, groups = 2}},
    {"depthwise", {2, 3, 4, 4}, {3, 1, 3, 3}, false, {padding = 1, groups = 3}},
    {"dilation 2", {1, 2, 7, 7}, {2, 2, 3, 3}, true, {padding = 2, dilation = 2}},
    {"asymmetric stride, padding, dilation", {2, 2, 6, 7}, {3, 2, 2, 3}, false,
     {stride = {2, 1}, padding = {1, 0}, dilation = {1, 2}}},
    {"batch of 5 tiny planes (multi-image chunks)", {5, 3, 2, 3}, {2, 3, 2, 2}, true, {padding = {1, 0}}},
  }
  for _, c in ipairs(cases) do
    local x, w = p(c[2]), p(c[3])
    local b = c[4] and p({c[3][1]}) or nil
    local opts = c[5]
    if b then
      gc("conv2d " .. c[1], function(a, k, bb) return F.conv2d(a, k, bb, opts) end, {x, w, b})
    else
      gc("conv2d " .. c[1], function(a, k) return F.conv2d(a, k, nil, opts) end, {x, w})
    end
  end
  -- only the weight needs a gradient (frozen input path)
  local x = lt.randn({2, 3, 4, 4}, {dtype = "float64"})
  gc("conv2d weight only", function(k) return F.conv2d(x, k, nil, {padding = 1}) end, {p({2, 3, 3, 3})})
end)

T.test("batch_norm", function()
  for _, shape in ipairs{{5, 3}, {3, 2, 4}, {2, 3, 3, 2}} do
    local C = shape[2]
    local rm, rv = lt.randn({C}, {dtype = "float64"}), lt.rand({C}, {dtype = "float64"}):add(0.5)
    local s = "[" .. table.concat(shape, ",") .. "]"
    gc("batch_norm train " .. s, function(x, w, b) return F.batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5) end,
       {p(shape, 2), p({C}), p({C})})
    gc("batch_norm eval " .. s, function(x, w, b) return F.batch_norm(x, rm, rv, w, b, false, 0.1, 1e-5) end,
       {p(shape, 2), p({C}), p({C})})
  end
  gc("batch_norm train, no affine, no running stats", function(x) return F.batch_norm(x, nil, nil, nil, nil, true) end,
     {p({4, 2, 3})})
  local rm, rv = lt.zeros({2}, {dtype = "float64"}), lt.ones({2}, {dtype = "float64"})
  gc("batch_norm eval, input only", function(x) return F.batch_norm(x, rm, rv, {training = false}) end, {p({3, 2, 2})})
end)

T.test("activations", function()
  gc("relu", F.relu, {p({3, 5})})
  gc("leaky_relu 0.2", function(x) return F.leaky_relu(x, 0.2) end, {p({3, 5})})
  gc("leaky_relu -0.5", function(x) return F.leaky_relu(x, -0.5) end, {p({3, 5})})
  gc("gelu", F.gelu, {p({3, 5}, 2)})
  gc("gelu tanh", function(x) return F.gelu(x, "tanh") end, {p({3, 5}, 2)})
  gc("silu", F.silu, {p({3, 5}, 3)})
  -- in place on a non-leaf: history moves onto the tensor
  gc("relu_ on a non-leaf", function(x) local y = x * 2; F.relu_(y); return y end, {p({4, 3})})
  gc("relu inplace option", function(x) local y = x * 1; return F.relu(y, {inplace = true}) end, {p({4, 3})})
  gc("leaky_relu_ on a non-leaf", function(x) local y = x + 0; F.leaky_relu_(y, 0.1); return y end, {p({4, 3})})
  gc("silu inplace", function(x) local y = x * 1; F.silu(y, true); return y * 3 end, {p({4, 3})})
end)

T.test("linear, dropout, flatten", function()
  gc("linear 2-D", F.linear, {p({4, 5}), p({3, 5}), p({3})})
  gc("linear 3-D input, no bias", function(x, w) return F.linear(x, w) end, {p({2, 3, 4}), p({2, 4})})
  gc("linear 1-D input", F.linear, {p({5}), p({3, 5}), p({3})})
  gc("dropout p=0.4", function(x) lt.manual_seed(99); return F.dropout(x, 0.4) end, {p({5, 6})})
  gc("dropout in place", function(x) lt.manual_seed(5); local y = x * 1; F.dropout(y, 0.5, true, true); return y end,
     {p({4, 4})})
  gc("dropout eval", function(x) return F.dropout(x, 0.4, false) * 2 end, {p({3})})
  gc("flatten", function(x) return F.flatten(x, 2) end, {p({2, 3, 2})})
end)

T.test("pooling", function()
  gc("max_pool2d 3x3 s2 p1", function(x) return F.max_pool2d(x, 3, {stride = 2, padding = 1}) end, {p({2, 2, 7, 7})})
  gc("max_pool2d 2x2", function(x) return F.max_pool2d(x, 2) end, {p({1, 3, 4, 6})})
  gc("max_pool2d dilation 2, ceil", function(x) return F.max_pool2d(x, {3, 2}, {stride = 2, padding = 1, dilation = 2,
                                                                                  ceil_mode = true}) end,
     {p({1, 2, 8, 7})})
  gc("avg_pool2d 2x2", function(x) return F.avg_pool2d(x, 2) end, {p({2, 2, 4, 4})})
  gc("avg_pool2d 3x3 s2 p1", function(x) return F.avg_pool2d(x, 3, {stride = 2, padding = 1}) end, {p({1, 2, 7, 6})})
  gc("avg_pool2d excluding padding, ceil", function(x)
    return F.avg_pool2d(x, 3, {stride = 2, padding = 1, ceil_mode = true, count_include_pad = false})
  end, {p({1, 2, 6, 6})})
  gc("avg_pool2d divisor_override", function(x) return F.avg_pool2d(x, 2, {stride = 1, divisor_override = 3}) end,
     {p({1, 1, 4, 3})})
  gc("adaptive_avg_pool2d to 1x1", function(x) return F.adaptive_avg_pool2d(x, 1) end, {p({2, 3, 4, 4})})
  gc("adaptive_avg_pool2d 7x5 -> 3x2", function(x) return F.adaptive_avg_pool2d(x, {3, 2}) end, {p({1, 2, 7, 5})})
end)

T.test("softmax, log_softmax", function()
  for _, dim in ipairs{1, 2, -1} do
    gc("softmax dim " .. dim, function(x) return F.softmax(x, dim) end, {p({2, 3, 4})})
    gc("log_softmax dim " .. dim, function(x) return F.log_softmax(x, dim) end, {p({2, 3, 4})})
  end
end)

T.test("cross_entropy, nll_loss", function()
  local target = lt.tensor({2, 5, 1, 3, 5, 4}, {dtype = "int64"})
  local w = lt.rand({5}, {dtype = "float64"}):add(0.5)
  for _, red in ipairs{"mean", "sum", "none"} do
    for _, ls in ipairs{0, 0.15} do
      for _, weighted in ipairs{false, true} do
        local opts = {reduction = red, label_smoothing = ls, weight = weighted and w or nil}
        gc(string.format("cross_entropy %s ls=%g weight=%s", red, ls, tostring(weighted)),
           function(x) return F.cross_entropy(x, target, opts) end, {p({6, 5})})
      end
    end
    gc("nll_loss " .. red, function(x) return F.nll_loss(x, target, {reduction = red, weight = w}) end, {p({6, 5})})
  end
  local ti = lt.tensor({2, 0, 1, 3, 0, 4}, {dtype = "int64"})
  gc("cross_entropy ignore_index", function(x)
    return F.cross_entropy(x, ti, {ignore_index = 0, weight = w, label_smoothing = 0.1})
  end, {p({6, 5})})
  local t3 = lt.tensor({{1, 3, 2}, {3, 3, 1}}, {dtype = "int64"})
  gc("cross_entropy [N,C,d]", function(x) return F.cross_entropy(x, t3, {label_smoothing = 0.1}) end, {p({2, 3, 3})})
  gc("cross_entropy 1-D", function(x) return F.cross_entropy(x, lt.tensor(2, {dtype = "int64"})) end, {p({4})})
end)

T.test("mse_loss, l1_loss, binary_cross_entropy_with_logits", function()
  for _, red in ipairs{"mean", "sum", "none"} do
    gc("mse_loss " .. red, function(x, y) return F.mse_loss(x, y, red) end, {p({3, 4}), p({3, 4})})
    gc("l1_loss " .. red, function(x, y) return F.l1_loss(x, y, {reduction = red}) end, {p({3, 4}), p({3, 4})})
    local t = lt.rand({3, 4}, {dtype = "float64"})
    t.requires_grad = true
    gc("bce_with_logits " .. red, function(x, y) return F.binary_cross_entropy_with_logits(x, y, red) end,
       {p({3, 4}, 3), t})
    local pw, wt = lt.tensor({0.5, 1, 2, 3}, {dtype = "float64"}), lt.tensor({{1}, {2}, {0.5}}, {dtype = "float64"})
    gc("bce_with_logits weighted " .. red, function(x, y)
      return F.binary_cross_entropy_with_logits(x, y, {reduction = red, pos_weight = pw, weight = wt})
    end, {p({3, 4}, 3), t})
  end
end)

T.test("a small network end to end", function()
  local target = lt.tensor({1, 3}, {dtype = "int64"})
  local rm, rv = lt.zeros({3}, {dtype = "float64"}), lt.ones({3}, {dtype = "float64"})
  gc("conv-bn-relu-pool-linear-ce", function(x, w, g, b, lw)
    local h = F.conv2d(x, w, nil, {padding = 1, stride = 2})
    h = F.relu(F.batch_norm(h, rm, rv, g, b, true))
    h = F.flatten(F.adaptive_avg_pool2d(h, 1), 2)
    return F.cross_entropy(F.linear(h, lw), target, {label_smoothing = 0.1})
  end, {p({2, 2, 5, 5}), p({3, 2, 3, 3}), p({3}), p({3}), p({4, 3})})
end)

os.exit(T.done())
