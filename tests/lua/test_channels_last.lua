-- test_channels_last.lua — the channels-last (NHWC) memory format: the
-- format predicates and conversions (t:is_contiguous/contiguous/to with a
-- memory_format, lt.channels_last), the output-layout rule of elementwise
-- ops, conv2d / batch_norm / pooling / relu / residual add on channels-last
-- inputs giving the values of the NCHW computation with a channels-last
-- result, forward and backward, float64 gradchecks on channels-last inputs,
-- a ResNet18 in channels-last against the same model in NCHW (logits and
-- every gradient), model:to{memory_format=}, and the errors for bad format
-- names and non-4-D tensors.
--
-- It is also the body of test_channels_last_cuda.lua: there T.device() is
-- the GPU, the channels-last side runs there and is compared with the NCHW
-- computation on the CPU (float32 with TF32 off within 1e-5, bfloat16
-- within 1e-2), and the GPU results must stay channels-last.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional
local nn = lt.nn

lt.manual_seed(4242)

local DEV = T.device()
local DEVICE_RUN = T.is_device_run()
local CL = "channels_last"

-- tolerance of a channels-last result against the NCHW reference: on the
-- CPU both run the same kernels on the same values; on the GPU, the GPU tests' bounds
local function tol(dtype)
  if not DEVICE_RUN then return dtype == "float64" and 1e-12 or 1e-6 end
  return T.golden_tol(dtype)
end

local function strides(t) return table.concat(t:stride(), ",") end

-- a channels-last copy of t on the test device (a leaf when t requires grad)
local function cl_on_dev(t, requires_grad)
  local c = t:detach():to(DEV, {memory_format = CL})
  if requires_grad then c.requires_grad = true end
  return c
end

local function leaf(t)
  local c = t:detach():clone()
  c.requires_grad = true
  return c
end

local function is_cl(t) return t:is_contiguous(CL) end

T.test("format predicates and conversions", function()
  T.check(lt.channels_last == "channels_last" and lt.contiguous_format == "contiguous_format" and
          lt.preserve_format == "preserve_format", "format constants")
  local x = lt.randn(2, 3, 4, 5)
  T.check(x:is_contiguous() and x:is_contiguous("contiguous_format") and not x:is_contiguous(CL), "NCHW tensor")
  local c = x:contiguous(CL)
  T.check(strides(c) == "60,1,15,3", "channels-last strides, got " .. strides(c))
  T.check(c:is_contiguous(CL) and not c:is_contiguous(), "channels-last tensor is not NCHW-contiguous")
  T.tensor_equal(c, x, "channels-last copy keeps the values")
  T.check(rawequal(c:contiguous(CL), c), "contiguous(channels_last) of a channels-last tensor is itself")
  T.check(rawequal(x:contiguous("contiguous_format"), x), "contiguous(contiguous_format) of an NCHW tensor is itself")
  local back = c:contiguous()
  T.check(back:is_contiguous() and strides(back) == "60,20,5,1", "contiguous() converts back")
  T.tensor_equal(back, x, "round trip")
  -- dims of size 1 may have any stride: such tensors are in both formats
  local one = lt.randn(2, 1, 4, 5)
  T.check(one:is_contiguous(CL) and lt.randn(2, 3, 1, 1):is_contiguous(CL), "size-1 dims are free")
  -- such a tensor is kept by contiguous(channels_last), restrided by to{memory_format=}, as PyTorch
  T.check(rawequal(one:contiguous(CL), one), "contiguous(channels_last) keeps a tensor in both layouts")
  local r1 = one:to{memory_format = CL}
  T.check(not rawequal(r1, one) and strides(r1) == "20,1,5,1", "to{memory_format=} gives NHWC strides: " .. strides(r1))
  T.check(rawequal(r1:to{memory_format = CL}, r1), "and keeps them")
  T.check(lt.zeros(0, 3, 2, 2):is_contiguous(CL), "an empty tensor is in every format")
  -- a permuted NHWC tensor is a channels-last view
  local nhwc = lt.randn(2, 4, 5, 3)
  local v = nhwc:permute(1, 4, 2, 3)
  T.check(v:is_contiguous(CL) and lt.shares_storage(v, nhwc), "permute of an NHWC tensor is channels-last")
  T.check(not x:narrow(4, 1, 3):is_contiguous(CL), "a narrowed tensor is in neither format")
  T.check(not lt.randn(3, 4):is_contiguous(CL), "a 2-D tensor is never channels-last")
  -- to: memory_format alone, with a dtype, with a device
  T.check(x:to{memory_format = CL}:is_contiguous(CL), "to{memory_format=}")
  local d = x:to("float64", {memory_format = CL})
  T.check(d:dtype() == "float64" and d:is_contiguous(CL), "to(dtype, {memory_format=})")
  T.check(c:to{memory_format = "contiguous_format"}:is_contiguous(), "to{memory_format=contiguous_format}")
  T.check(rawequal(c:to{memory_format = "preserve_format"}, c), "preserve_format changes nothing")
  T.check(c:double():is_contiguous(CL), "a dtype conversion keeps channels-last")
  T.check(c:to(DEV):is_contiguous(CL), "a device move keeps channels-last")
  T.tensor_equal(c:to(DEV):cpu(), x, "device round trip of a channels-last tensor")
  -- the conversion is differentiable (identity gradient)
  local xl = leaf(x)
  local w = lt.randn(2, 3, 4, 5)
  local loss = (xl:contiguous(CL) * w):sum()
  loss:backward()
  T.tensor_equal(xl.grad, w, "gradient through contiguous(channels_last)")
end)

T.test("errors", function()
  local x = lt.randn(2, 3, 4, 5)
  T.checkerr("bad argument #2 to 'contiguous' (unknown memory format 'nhwc' (expected 'contiguous_format', " ..
             "'channels_last'))", function() return x:contiguous("nhwc") end)
  T.checkerr("bad argument #2 to 'is_contiguous' (unknown memory format 'NHWC'", function() return x:is_contiguous("NHWC") end)
  T.checkerr("bad argument #2 to 'is_contiguous' (memory_format must be a string such as 'channels_last', got number)",
             function() return x:is_contiguous(3) end)
  T.checkerr("bad argument #2 to 'to' (unknown memory format 'cl' (expected 'contiguous_format', 'channels_last' or " ..
             "'preserve_format'))", function() return x:to{memory_format = "cl"} end)
  T.checkerr("bad argument #3 to 'to' (memory_format must be a string such as 'channels_last', got number)",
             function() return x:to("float64", {memory_format = 1}) end)
  T.checkerr("bad argument #1 to 'contiguous' (channels_last needs a 4-D tensor [N,C,H,W], got a 3-D tensor)",
             function() return lt.randn(3, 4, 5):contiguous(CL) end)
  T.checkerr("bad argument #2 to 'to' (channels_last needs a 4-D tensor [N,C,H,W], got a 2-D tensor)",
             function() return lt.randn(3, 4):to{memory_format = CL} end)
  T.checkerr("bad argument #2 to 'to' (unknown option 'memory_formats'",
             function() return x:to{memory_formats = CL} end)
  local m = nn.Conv2d(3, 4, 3)
  T.checkerr("to: unknown memory format 'nchw' (expected 'contiguous_format', 'channels_last' or 'preserve_format')",
             function() m:to{memory_format = "nchw"} end)
  T.checkerr("to: unknown option 'format' (allowed: device, dtype, memory_format)", function() m:to{format = CL} end)
end)

T.test("elementwise ops keep the layout of their inputs", function()
  local x = lt.randn(2, 3, 4, 5)
  local c = cl_on_dev(x)
  local r = c:relu()
  T.check(is_cl(r) and strides(r) == strides(c), "relu of channels-last is channels-last")
  T.tensor_close(r, x:relu(), tol("float32"), "relu values")
  local s = c + c
  T.check(is_cl(s), "add of two channels-last tensors")
  T.tensor_close(s, x + x, tol("float32"), "add values")
  local bias = lt.randn(1, 3, 1, 1):to(DEV)
  local b = c * bias + 1
  T.check(is_cl(b), "a broadcast operand does not count: channels-last result")
  T.tensor_close(b, x * bias:cpu() + 1, tol("float32"), "broadcast values")
  T.check(is_cl(c:sigmoid()) and is_cl(c:mul(2)) and is_cl(lt.where(c:gt(0), c, -c)), "sigmoid, mul, where")
  -- inputs of the output's shape in different layouts: the first operand's
  -- layout, as PyTorch's TensorIterator
  local mixed = c + x:to(DEV)
  T.check(is_cl(mixed), "channels-last + NCHW gives channels-last")
  T.tensor_close(mixed, x + x, tol("float32"), "mixed-layout values")
  local mixed2 = x:to(DEV) + c
  T.check(mixed2:is_contiguous(), "NCHW + channels-last gives NCHW")
  T.tensor_close(mixed2, x + x, tol("float32"), "mixed-layout values, the other order")
  -- the rule is general: any dense layout carries over (a transposed one too)
  local a = lt.randn(3, 4):t()
  T.check(strides(a:exp()) == strides(a) and strides(a + a) == strides(a), "transposed layout carries over")
  T.tensor_close(a + a, a:contiguous() * 2, 1e-6, "transposed values")
  -- in-place ops on channels-last tensors
  local ci = c:clone():contiguous(CL)
  ci:add_(1):mul_(2)
  T.tensor_close(ci, (x + 1) * 2, tol("float32"), "in-place add_/mul_")
  -- views follow the stride rules; reshape and flatten copy when needed
  T.checkerr("use reshape", function() return c:view(2, 60) end)
  T.tensor_equal(c:reshape(2, 60):cpu(), x:reshape(2, 60), "reshape of channels-last copies")
  T.tensor_equal(c:flatten(2):cpu(), x:flatten(2), "flatten of channels-last copies")
  local pooled = F.adaptive_avg_pool2d(c, 1)
  T.check(pooled:is_contiguous() and pooled:is_contiguous(CL), "[N,C,1,1] is in both formats")
  local flat = pooled:flatten(2)
  T.check(table.concat(flat:shape(), ",") == "2,3", "global pool then flatten gives [N,C]")
  T.tensor_close(flat, F.adaptive_avg_pool2d(x, 1):flatten(2), tol("float32"), "pooled values")
end)

-- Runs fn on NCHW CPU inputs and on channels-last inputs on the test
-- device; compares the outputs and the gradients of every input, and that
-- the channels-last side's activation-shaped results are channels-last.
-- inputs: list of {tensor, requires_grad, convert_to_cl}
local function compare(name, fn, inputs, dtype)
  dtype = dtype or "float32"
  local ref_in, cl_in = {}, {}
  for i, spec in ipairs(inputs) do
    local t = spec[1]:to(dtype)
    ref_in[i] = spec[2] and leaf(t) or t
    local d = t:detach():to(DEV)
    if spec[3] then d = d:to{memory_format = CL} end
    if spec[2] then d.requires_grad = true end
    cl_in[i] = d
  end
  local y_ref = fn(table.unpack(ref_in))
  local y = fn(table.unpack(cl_in))
  T.tensor_close(y, y_ref, tol(dtype), name .. ": forward")
  if y:dim() == 4 then T.check(is_cl(y), name .. ": output is channels-last, strides " .. strides(y)) end
  local gy = lt.randn(y_ref:shape()):to(dtype)
  y_ref:backward(gy)
  y:backward(gy:to(DEV):contiguous(y:dim() == 4 and CL or "contiguous_format"))
  for i, spec in ipairs(inputs) do
    if spec[2] then
      T.tensor_close(cl_in[i].grad, ref_in[i].grad, tol(dtype), name .. ": gradient of input " .. i)
      if spec[3] then T.check(is_cl(cl_in[i].grad), name .. ": gradient of input " .. i .. " is channels-last") end
    end
  end
end

T.test("nn ops on channels-last inputs, forward and backward", function()
  T.with_tf32(false, function()
    local x = lt.randn(2, 4, 7, 6)
    local w = lt.randn(8, 4, 3, 3):mul(0.2)
    local b = lt.randn(8)
    compare("conv2d 3x3 pad 1 bias", function(x_, w_, b_) return F.conv2d(x_, w_, b_, {padding = 1}) end,
            {{x, true, true}, {w, true, true}, {b, true, false}})
    compare("conv2d stride 2, NCHW weight", function(x_, w_) return F.conv2d(x_, w_, nil, {stride = 2, padding = 1}) end,
            {{x, true, true}, {w, true, false}})
    compare("conv2d, channels-last weight only", function(x_, w_) return F.conv2d(x_, w_, nil, {padding = 1}) end,
            {{x, true, false}, {w, true, true}})
    compare("conv2d groups 2, 1x1", function(x_, w_) return F.conv2d(x_, w_, nil, {groups = 2}) end,
            {{x, true, true}, {lt.randn(6, 2, 1, 1), true, true}})
    local g, beta = lt.rand(4):add(0.5), lt.randn(4)
    compare("batch_norm training", function(x_, g_, b_)
      return F.batch_norm(x_, lt.zeros(4):to(x_:device()), lt.ones(4):to(x_:device()), g_, b_, true, 0.1, 1e-5)
    end, {{x, true, true}, {g, true, false}, {beta, true, false}})
    compare("batch_norm eval", function(x_, g_, b_)
      local rm, rv = lt.tensor{0.1, -0.2, 0.3, 0}:to(x_:device()), lt.tensor{1.5, 0.5, 2, 1}:to(x_:device())
      return F.batch_norm(x_, rm, rv, g_, b_, false, 0.1, 1e-5)
    end, {{x, true, true}, {g, true, false}, {beta, true, false}})
    compare("max_pool2d 3/2 pad 1", function(x_) return F.max_pool2d(x_, 3, {stride = 2, padding = 1}) end,
            {{x, true, true}})
    compare("max_pool2d 2 ceil_mode", function(x_) return F.max_pool2d(x_, 2, {ceil_mode = true}) end, {{x, true, true}})
    compare("avg_pool2d 3/2 pad 1", function(x_) return F.avg_pool2d(x_, 3, {stride = 2, padding = 1}) end,
            {{x, true, true}})
    compare("avg_pool2d count_include_pad=false", function(x_)
      return F.avg_pool2d(x_, 2, {padding = 1, count_include_pad = false})
    end, {{x, true, true}})
    compare("adaptive_avg_pool2d 3x2", function(x_) return F.adaptive_avg_pool2d(x_, {3, 2}) end, {{x, true, true}})
    compare("adaptive_avg_pool2d 1", function(x_) return F.adaptive_avg_pool2d(x_, 1) end, {{x, true, true}})
    -- layouts that coincide: one input channel, a 1x1 input, an output larger than the input
    compare("conv2d of a 1-channel input", function(x_, w_) return F.conv2d(x_, w_, nil, {padding = 1}) end,
            {{lt.randn(2, 1, 5, 5), true, true}, {lt.randn(4, 1, 3, 3), true, true}})
    compare("conv2d 1x1 kernel on 1x1 input", function(x_, w_) return F.conv2d(x_, w_) end,
            {{lt.randn(3, 4, 1, 1), true, true}, {lt.randn(5, 4, 1, 1), true, true}})
    compare("max_pool2d of a 1x1 input, padded", function(x_) return F.max_pool2d(x_, 2, {stride = 1, padding = 1}) end,
            {{lt.randn(2, 4, 1, 1), true, true}})
    compare("adaptive_avg_pool2d up to 3x3", function(x_) return F.adaptive_avg_pool2d(x_, 3) end,
            {{lt.randn(2, 4, 2, 2), true, true}})
    compare("relu", function(x_) return F.relu(x_) end, {{x, true, true}})
    compare("residual add", function(x_, y_) return F.relu(x_ + y_) end, {{x, true, true}, {lt.randn(2, 4, 7, 6), true, true}})
    -- the running statistics are updated alike
    local rm1, rv1 = lt.zeros(4), lt.ones(4)
    local rm2, rv2 = lt.zeros(4):to(DEV), lt.ones(4):to(DEV)
    F.batch_norm(x, rm1, rv1, nil, nil, true, 0.1, 1e-5)
    F.batch_norm(cl_on_dev(x), rm2, rv2, nil, nil, true, 0.1, 1e-5)
    T.tensor_close(rm2, rm1, tol("float32"), "running_mean from a channels-last batch")
    T.tensor_close(rv2, rv1, tol("float32"), "running_var from a channels-last batch")
    -- max_pool2d indices follow the output's layout and hold the same positions
    local _, i1 = F.max_pool2d(x, 2, {return_indices = true})
    local _, i2 = F.max_pool2d(cl_on_dev(x), 2, {return_indices = true})
    T.tensor_equal(i2, i1, "max_pool2d indices")
  end)
end)

T.test("bfloat16 on channels-last inputs", function()
  -- the reference in float32 on the CPU; bf16 operands of the same values
  local x = lt.randn(2, 8, 6, 6):bfloat16():float()
  local w = lt.randn(8, 8, 3, 3):mul(0.1):bfloat16():float()
  local y_ref = F.relu(F.batch_norm(F.conv2d(x, w, nil, {padding = 1}), nil, nil, nil, nil, true, 0.1, 1e-5))
  local xb, wb = cl_on_dev(x:bfloat16()), w:to(DEV):bfloat16():contiguous(CL)
  local conv = F.conv2d(xb, wb, nil, {padding = 1})
  T.check(conv:dtype() == "bfloat16" and is_cl(conv), "bf16 conv output is channels-last")
  local y = F.relu(F.batch_norm(conv:float(), nil, nil, nil, nil, true, 0.1, 1e-5))
  T.check(is_cl(y), "bn/relu of a bf16 conv stay channels-last")
  T.tensor_close(y, y_ref, 1e-2, "bf16 conv + bn + relu")
  local p = F.max_pool2d(xb, 2)
  T.check(is_cl(p), "bf16 max_pool2d output is channels-last")
  T.tensor_close(p:float(), F.max_pool2d(x, 2), 1e-2, "bf16 max_pool2d")
end)

T.test("float64 gradcheck on channels-last inputs", function()
  local function p(...)
    local t = lt.randn(...):double():contiguous(CL)
    t.requires_grad = true
    return t
  end
  local function gc(what, fn, inputs)
    local ok, err = pcall(lt.autograd.gradcheck, fn, inputs)
    T.check(ok, what .. ": " .. tostring(err))
  end
  local x = p(2, 3, 5, 4)
  gc("conv2d", function(a, w) return F.conv2d(a, w, nil, {padding = 1, stride = 2}) end, {x, p(4, 3, 3, 3)})
  local g = lt.rand(3, {dtype = "float64"}):add(0.5)
  g.requires_grad = true
  gc("batch_norm", function(a, w) return F.batch_norm(a, nil, nil, w, nil, true, 0.1, 1e-5) end, {x, g})
  gc("max_pool2d", function(a) return F.max_pool2d(a, 2, {stride = 1}) end, {x})
  gc("avg_pool2d", function(a) return F.avg_pool2d(a, 3, {stride = 2, padding = 1}) end, {x})
  gc("adaptive_avg_pool2d", function(a) return F.adaptive_avg_pool2d(a, {2, 3}) end, {x})
  gc("relu(a + b)", function(a, b) return F.relu(a + b) end, {x, p(2, 3, 5, 4)})
end)

-- A parameter-for-parameter copy of model m (same values, own storage).
local function twin(m, make)
  local t = make()
  local sd = {}
  for k, v in pairs(m:state_dict()) do sd[k] = v:clone() end
  t:load_state_dict(sd)
  return t
end

T.test("ResNet18 in channels-last matches NCHW", function()
  T.with_tf32(false, function()
    local function make() return lt.models.resnet18{num_classes = 10, width = 8} end
    local ref = make()
    local model = twin(ref, make):to(DEV, {memory_format = CL})
    for name, prm in pairs(model:state_dict()) do
      if prm:dim() == 4 then T.check(prm:is_contiguous(CL), name .. " is channels-last after model:to") end
    end
    local x = lt.randn(4, 3, 16, 16)
    local y = lt.tensor{1, 5, 10, 3}
    local logits_ref = ref(x)
    local logits = model(cl_on_dev(x))
    -- 20 layers of float32: on another device; on the CPU, through oneDNN's
    -- nhwc kernels against its blocked NCHW ones (other summation orders)
    local tl = DEVICE_RUN and 1e-4 or 1e-5
    T.tensor_close(logits, logits_ref, tl, "logits")
    F.cross_entropy(logits_ref, y):backward()
    F.cross_entropy(logits, y:to(DEV)):backward()
    local got = {}
    for name, prm in model:named_parameters() do got[name] = prm end
    local n = 0
    for name, prm in ref:named_parameters() do
      local mine = got[name]
      T.tensor_close(mine.grad, prm.grad, tl, "gradient of " .. name)
      if prm:dim() == 4 then T.check(mine.grad:is_contiguous(CL), "gradient of " .. name .. " is channels-last") end
      n = n + 1
    end
    T.check(n > 60, "every parameter compared")
    -- running statistics agree after the training-mode forward
    local rs = model:state_dict()
    for k, v in pairs(ref:state_dict()) do
      if k:match("running_") then T.tensor_close(rs[k], v, tl, k) end
    end
    -- activations stay channels-last through the stem and a block
    local stem = model.conv1(cl_on_dev(x))
    T.check(is_cl(stem), "stem output is channels-last")
    T.check(is_cl(model.layer1(stem)), "layer1 output is channels-last")
    -- an optimizer step keeps the layout of the weights
    local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 1e-4})
    opt:step()
    T.check(model.conv1[1].weight:is_contiguous(CL), "SGD step keeps channels-last weights")
  end)
end)

T.test("model:to(memory_format)", function()
  local m = nn.Sequential(nn.Conv2d(3, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 5 * 5, 2))
  local w0 = m[1].weight:clone()
  m[1].weight.grad = lt.randn(4, 3, 3, 3)
  local g0 = m[1].weight.grad:clone()
  T.check(rawequal(m:to{memory_format = CL}, m), "to returns the module")
  T.check(m[1].weight:is_contiguous(CL) and not m[1].weight:is_contiguous(), "conv weight converted")
  T.check(m[1].weight.requires_grad, "requires_grad carried over")
  T.check(m[1].weight.grad:is_contiguous(CL), "its gradient converted too")
  T.tensor_equal(m[1].weight, w0, "values kept")
  T.tensor_equal(m[1].weight.grad, g0, "gradient values kept")
  T.check(m[1].bias:is_contiguous() and m[5].weight:is_contiguous(), "1-D and 2-D tensors untouched")
  T.check(m[2].num_batches_tracked:dtype() == "int64", "integer buffers untouched")
  local x = lt.randn(2, 3, 5, 5)
  T.check(m(x:contiguous(CL)):is_contiguous(), "flatten + linear after channels-last activations")
  -- saving writes logical (NCHW) order; loading into a channels-last model keeps the values
  local path = os.tmpname()
  lt.save(path, m:state_dict())
  local loaded = lt.load(path)
  os.remove(path)
  T.tensor_equal(loaded["0.weight"], w0, "saved channels-last weight")
  local m2 = nn.Sequential(nn.Conv2d(3, 4, 3, {padding = 1})):to{memory_format = CL}
  m2:load_state_dict({["0.weight"] = loaded["0.weight"], ["0.bias"] = loaded["0.bias"]})
  T.tensor_equal(m2[1].weight, w0, "loaded into a channels-last model")
  m:to("cpu", {memory_format = "contiguous_format"})
  T.check(m[1].weight:is_contiguous(), "back to contiguous_format")
  m:to(DEV, {memory_format = CL})
  T.check(m[1].weight:is_contiguous(CL) and m[1].weight:device() == T.device_name(), "device and format at once")
end)

if DEVICE_RUN then
  T.test("device results stay channels-last (no transpose)", function()
    local x = cl_on_dev(lt.randn(4, 16, 8, 8))
    local w = lt.randn(16, 16, 3, 3):to(DEV):contiguous(CL)
    local y = F.conv2d(x, w, nil, {padding = 1})
    T.check(is_cl(y) and not y:is_contiguous(), "conv2d output")
    T.check(is_cl(F.batch_norm(y, nil, nil, nil, nil, true, 0.1, 1e-5)), "batch_norm output")
    T.check(is_cl(F.max_pool2d(y, 2)) and is_cl(F.avg_pool2d(y, 2)), "pooling outputs")
    T.check(is_cl(F.adaptive_avg_pool2d(y, 2)), "adaptive pooling output")
    -- the channels-last path of the kernels on shapes that vectorise and that don't
    for _, C in ipairs{3, 5, 8, 64} do
      local xc = lt.randn(3, C, 5, 7)
      local r = F.batch_norm(cl_on_dev(xc), nil, nil, nil, nil, true, 0.1, 1e-5)
      T.tensor_close(r, F.batch_norm(xc, nil, nil, nil, nil, true, 0.1, 1e-5), tol("float32"), "batch_norm C=" .. C)
    end
  end)
end

os.exit(T.done())
