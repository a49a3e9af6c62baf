-- bf16 mixed precision (lt.autocast): which ops compute in bfloat16 and which
-- in float32, batch_norm in its input's dtype with float32 parameters and
-- statistics (mixed batch norm, also checked alone against float32 in both
-- layouts), that float32 parameters get float32 gradients close to the
-- float32-only ones, that the state is restored on return and on error, that
-- a tiny model trains under it, and the ResNet18 golden logits in a bf16
-- forward; the model-level setting (model:autocast) against lt.autocast.
-- Tolerances: 1e-2 relative for bf16 results (tests/golden/README.md and the
-- GPU tests' bf16 bound, T.golden_tol), 3e-2 for the 18-layer forward (measured: 2.08e-2
-- with batch norm in bf16, 2.0e-2 when it ran in float32; loss 8.1e-4).
-- tests/lua/test_autocast_cuda.lua checks the same on the GPU.
local T = require "luatrain.testing"
local lt = require "luatrain"
local nn, F = lt.nn, lt.nn.functional

local relerr = T.relerr
local function bf16(fn, ...) return lt.autocast("bf16", fn, ...) end

T.test("conv2d, linear and the products compute in bfloat16", function()
  lt.manual_seed(1)
  local x, w, b = lt.randn(2, 3, 8, 8), lt.randn(4, 3, 3, 3), lt.randn(4)
  local y = bf16(function() return F.conv2d(x, w, b, {padding = 1}) end)
  T.check(y:dtype() == "bfloat16", "conv2d output dtype " .. y:dtype())
  T.check(relerr(y, F.conv2d(x, w, b, {padding = 1})) < 1e-2, "conv2d close to float32")

  local xl, wl, bl = lt.randn(5, 7), lt.randn(3, 7), lt.randn(3)
  local yl = bf16(F.linear, xl, wl, bl)
  T.check(yl:dtype() == "bfloat16", "linear output dtype " .. yl:dtype())
  T.check(relerr(yl, F.linear(xl, wl, bl)) < 1e-2, "linear close to float32")

  local a, m = lt.randn(2, 4, 6), lt.randn(6, 5)
  local r = bf16(lt.matmul, a, m)
  T.check(r:dtype() == "bfloat16" and relerr(r, lt.matmul(a, m)) < 1e-2, "matmul (batched x matrix)")
  local a2, b2 = lt.randn(4, 6), lt.randn(6, 3)
  r = bf16(lt.mm, a2, b2)
  T.check(r:dtype() == "bfloat16" and relerr(r, lt.mm(a2, b2)) < 1e-2, "mm")
  local a3, b3 = lt.randn(3, 4, 6), lt.randn(3, 6, 2)
  r = bf16(lt.bmm, a3, b3)
  T.check(r:dtype() == "bfloat16" and relerr(r, lt.bmm(a3, b3)) < 1e-2, "bmm")
  -- a method call goes through the same wrapper
  r = bf16(function() return a2:matmul(b2) end)
  T.check(r:dtype() == "bfloat16", "t:matmul under autocast")
  -- the inputs themselves are left float32
  T.check(x:dtype() == "float32" and w:dtype() == "float32", "inputs not modified")
  -- float64 is never cast (as in PyTorch)
  local yd = bf16(F.linear, xl:double(), wl:double())
  T.check(yd:dtype() == "float64", "float64 linear stays float64, got " .. yd:dtype())
end)

T.test("batch_norm runs in its input's dtype with float32 parameters and statistics", function()
  lt.manual_seed(2)
  local xb = lt.randn(4, 3, 5, 5) * 2 + 1
  local rm, rv = lt.zeros(3), lt.ones(3)
  local wt, bs = (lt.rand(3) + 0.5):requires_grad_(), lt.randn(3):requires_grad_()
  local xh = xb:bfloat16():requires_grad_()
  local y = bf16(function() return F.batch_norm(xh, rm, rv, wt, bs, true) end)
  T.check(y:dtype() == "bfloat16", "batch_norm of a bf16 input is bf16 (not cast), got " .. y:dtype())
  T.check(rm:dtype() == "float32" and rv:dtype() == "float32", "running statistics stay float32")
  -- float32 on the same (bf16) values: the statistics are accumulated in
  -- double from the same numbers, so they match exactly
  local rm2, rv2 = lt.zeros(3), lt.ones(3)
  local xr = xh:detach():float():requires_grad_()
  local wr, br = wt:detach():clone():requires_grad_(), bs:detach():clone():requires_grad_()
  local ref = F.batch_norm(xr, rm2, rv2, wr, br, true)
  T.check(relerr(y, ref) < 1e-2, string.format("bf16 output within 1e-2 of float32: %.3g", relerr(y, ref)))
  T.tensor_equal(rm, rm2, "running_mean updated as in float32")
  T.tensor_equal(rv, rv2, "running_var updated as in float32")
  T.tensor_equal(y, F.batch_norm(xh:detach(), lt.zeros(3), lt.ones(3), wt:detach(), bs:detach(), true),
                 "autocast adds no cast: the plain mixed op gives the same")
  local g = lt.randn(4, 3, 5, 5):bfloat16():float()
  y:float():mul(g):sum():backward()
  ref:mul(g):sum():backward()
  T.check(xh.grad:dtype() == "bfloat16", "input gradient bf16, got " .. xh.grad:dtype())
  T.check(wt.grad:dtype() == "float32" and bs.grad:dtype() == "float32", "weight and bias gradients float32")
  T.check(relerr(xh.grad, xr.grad) < 1e-2, string.format("input gradient: %.3g", relerr(xh.grad, xr.grad)))
  T.check(relerr(wt.grad, wr.grad) < 1e-5, string.format("weight gradient: %.3g", relerr(wt.grad, wr.grad)))
  T.check(relerr(bs.grad, br.grad) < 1e-6, string.format("bias gradient: %.3g", relerr(bs.grad, br.grad)))
  -- a float32 input stays float32, eval mode reads the float32 statistics
  T.check(bf16(F.batch_norm, xb, rm, rv, wt, bs, true):dtype() == "float32", "float32 input stays float32")
  local ye = bf16(F.batch_norm, xh:detach(), rm, rv, wt, bs, false)
  T.check(ye:dtype() == "bfloat16", "eval: bf16 output")
  T.check(relerr(ye, F.batch_norm(xr:detach(), rm, rv, wt, bs, false)) < 1e-2, "eval close to float32")
end)

-- Mixed batch norm on its own (no autocast): a 16-bit input with float32
-- parameters against float32 on the same values, both layouts, training and
-- eval, forward and backward. Returns the errors for the caller to bound.
local function mixed_bn_case(dtype, layout, training)
  local x = lt.randn(6, 5, 4, 3) * 1.5 + 2
  if layout == "channels_last" then x = x:contiguous("channels_last") end
  local xh = x:to(dtype):requires_grad_()
  local w, b = (lt.rand(5) + 0.5):requires_grad_(), lt.randn(5):requires_grad_()
  local rm, rv = lt.randn(5) * 0.1, lt.rand(5) + 0.5
  local xr = xh:detach():float():requires_grad_()
  local wr, br = w:detach():clone():requires_grad_(), b:detach():clone():requires_grad_()
  local rmr, rvr = rm:clone(), rv:clone()
  local y = F.batch_norm(xh, rm, rv, w, b, training, 0.1, 1e-5)
  local ref = F.batch_norm(xr, rmr, rvr, wr, br, training, 0.1, 1e-5)
  local what = string.format("%s %s %s: ", dtype, layout, training and "training" or "eval")
  T.check(y:dtype() == dtype, what .. "output dtype " .. y:dtype())
  T.check(y:is_contiguous(layout) and xh:is_contiguous(layout), what .. "output keeps the input's layout")
  T.check(rm:dtype() == "float32" and rv:dtype() == "float32", what .. "statistics stay float32")
  -- statistics accumulate in double from the same values as float32's
  T.tensor_equal(rm, rmr, what .. "running_mean")
  T.tensor_equal(rv, rvr, what .. "running_var")
  local g = lt.randn(6, 5, 4, 3):to(dtype):float()
  y:float():mul(g):sum():backward()
  ref:mul(g):sum():backward()
  T.check(xh.grad:dtype() == dtype and w.grad:dtype() == "float32" and b.grad:dtype() == "float32",
          what .. "gradient dtypes")
  T.check(xh.grad:is_contiguous(layout), what .. "input gradient keeps the layout")
  return {y = relerr(y, ref), gx = relerr(xh.grad, xr.grad), gw = relerr(w.grad, wr.grad),
          gb = relerr(b.grad, br.grad)}, what
end

T.test("mixed batch_norm: 16-bit input, float32 parameters, against float32", function()
  lt.manual_seed(21)
  for _, dtype in ipairs({"bfloat16", "float16"}) do
    for _, layout in ipairs({"contiguous_format", "channels_last"}) do
      for _, training in ipairs({true, false}) do
        local e, what = mixed_bn_case(dtype, layout, training)
        local tol = dtype == "bfloat16" and 1e-2 or 2e-3
        for _, k in ipairs({"y", "gx"}) do
          T.check(e[k] < tol, string.format("%s%s relative error %.3g", what, k, e[k]))
        end
        -- parameter gradients: double sums of the same values, stored as float32
        T.check(e.gw < 1e-5 and e.gb < 1e-6, string.format("%sweight/bias gradients %.3g %.3g", what, e.gw, e.gb))
      end
    end
  end
  -- all-bfloat16 parameters work too (the statistics are float32 inside)
  local x = lt.randn(4, 3, 5, 5)
  local p = {lt.zeros(3), lt.ones(3), lt.rand(3) + 0.5, lt.randn(3)}
  local y = F.batch_norm(x:bfloat16(), p[1]:bfloat16(), p[2]:bfloat16(), p[3]:bfloat16(), p[4]:bfloat16(), true)
  T.check(y:dtype() == "bfloat16", "all-bf16 batch_norm output bf16")
  T.check(relerr(y, F.batch_norm(x:bfloat16():float(), p[1], p[2], p[3], p[4], true)) < 1e-2, "all-bf16 close")
end)

T.test("mixed batch_norm: argument errors", function()
  local xh, f = lt.randn(2, 3, 4, 4):bfloat16(), lt.ones(3)
  T.checkerr("bad argument #4 to 'batch_norm' (weight has dtype float64 but the input has bfloat16 (expected "
             .. "bfloat16 or float32))", F.batch_norm, xh, f, f, lt.ones(3):double(), f, true)
  T.checkerr("bias has dtype bfloat16 but running_mean has float32 (batch_norm's weight, bias and running "
             .. "statistics share one dtype)", F.batch_norm, xh, f, f, f, f:bfloat16(), true)
  T.checkerr("weight has dtype bfloat16 but running_mean has float32", F.batch_norm, xh, f, f, f:bfloat16(), nil, true)
  T.checkerr("running_var has dtype float16 but the input has bfloat16 (expected bfloat16 or float32)", F.batch_norm,
             xh, f, f:half(), nil, nil, true)
  -- a float32 input still takes float32 only
  T.checkerr("weight has dtype bfloat16 but the input has float32", F.batch_norm, lt.randn(2, 3, 4, 4), f, f,
             f:bfloat16(), f, true)
  T.checkerr("expected a floating-point input, got int64", F.batch_norm, lt.zeros(2, 3):long(), f, f, f, f, true)
  T.checkerr("weight [4] does not match the 3 channels", F.batch_norm, xh, f, f, lt.ones(4), f, true)
end)

T.test("softmax and the losses compute in float32", function()
  lt.manual_seed(12)

  local logits = lt.randn(6, 5):bfloat16()
  local target = lt.tensor({1, 2, 3, 4, 5, 1}):long()
  bf16(function()
    local s = F.softmax(logits, 2)
    T.check(s:dtype() == "float32", "softmax dtype " .. s:dtype())
    T.check(F.log_softmax(logits, 2):dtype() == "float32", "log_softmax dtype")
    local ce = F.cross_entropy(logits, target)
    T.check(ce:dtype() == "float32", "cross_entropy dtype " .. ce:dtype())
    T.close(ce:item(), F.cross_entropy(logits:float(), target):item(), 1e-6, "cross_entropy value")
    T.check(F.nll_loss(F.log_softmax(logits, 2), target):dtype() == "float32", "nll_loss dtype")
    local mse = F.mse_loss(logits, lt.zeros(6, 5))
    T.check(mse:dtype() == "float32", "mse_loss dtype " .. mse:dtype())
    T.check(F.l1_loss(logits, logits:float()):dtype() == "float32", "l1_loss dtype")
  end)
end)

T.test("elementwise ops follow ordinary promotion", function()
  local a, b = lt.randn(3):bfloat16(), lt.randn(3)
  bf16(function()
    T.check((a + a):dtype() == "bfloat16", "bf16 + bf16 is bf16")
    T.check((a + b):dtype() == "float32", "bf16 + f32 is f32")
    T.check(F.relu(a):dtype() == "bfloat16", "relu keeps bf16")
  end)
end)

-- conv -> bn -> relu -> pool -> linear, with float32 parameters
local function small_model()
  return nn.Sequential(nn.Conv2d(3, 8, 3, {padding = 1, bias = false}), nn.BatchNorm2d(8), nn.ReLU(),
                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
end

T.test("float32 parameters get float32 gradients close to the float32 run", function()
  lt.manual_seed(3)
  local w = (lt.randn(8, 3, 3, 3) * 0.2):requires_grad_()
  local gamma, beta = (lt.rand(8) + 0.5):requires_grad_(), (lt.randn(8) * 0.1):requires_grad_()
  local lw, lb = (lt.randn(4, 8) * 0.3):requires_grad_(), (lt.randn(4) * 0.1):requires_grad_()
  local params = {w = w, gamma = gamma, beta = beta, lw = lw, lb = lb}
  local x, y = lt.randn(16, 3, 6, 6), lt.randint(1, 5, {16}):long()
  local function forward(xx, ww)
    local h = F.conv2d(xx, ww, nil, {padding = 1})
    h = F.relu(F.batch_norm(h, nil, nil, gamma, beta, true))
    h = F.adaptive_avg_pool2d(h, {1, 1}):flatten(2)
    local out = F.linear(h, lw, lb)
    return out, F.cross_entropy(out, y)
  end
  local function grads(fn)
    for _, p in pairs(params) do p.grad = nil end
    fn()
    local g = {}
    for k, p in pairs(params) do g[k] = p.grad end
    return g
  end
  local ref = grads(function() select(2, forward(x, w)):backward() end)
  -- the same in float32 with the convolution's operands rounded to bf16
  -- first: the gradient of a conv weight is sensitive to that rounding (a few
  -- per cent here), so it is compared with what bf16 operands should give
  local ref_rounded = grads(function() select(2, forward(x:bfloat16():float(), w:bfloat16():float())):backward() end)
  local out, loss
  local g = grads(function()
    out, loss = bf16(forward, x, w)
    T.check(not lt.is_autocast_enabled(), "off again after autocast returns")
    loss:backward() -- outside autocast, as in PyTorch
  end)
  T.check(out:dtype() == "bfloat16", "logits from the bf16 linear, got " .. out:dtype())
  T.check(loss:dtype() == "float32", "loss is float32, got " .. loss:dtype())
  T.close(loss:item(), select(2, forward(x, w)):item(), 1e-2, "loss")
  for k, p in pairs(params) do
    T.check(p:dtype() == "float32", k .. " stays float32")
    T.check(g[k] ~= nil and g[k]:dtype() == "float32", k .. " gradient is float32")
    local e = relerr(g[k], k == "w" and ref_rounded[k] or ref[k])
    T.check(e < 1e-2, string.format("%s gradient: relative error %.3g", k, e))
  end
  -- and the conv weight's gradient still points the same way as float32's
  local e = relerr(g.w, ref.w)
  T.check(e < 3e-2, string.format("conv weight gradient vs pure float32: relative error %.3g", e))
end)

T.test("a module model under autocast: dtypes of outputs and gradients", function()
  lt.manual_seed(6)
  local model = small_model()
  local x, y = lt.randn(8, 3, 6, 6), lt.tensor({1, 2, 3, 4, 1, 2, 3, 4}):long()
  local loss = bf16(function() return F.cross_entropy(model(x), y) end)
  T.check(loss:dtype() == "float32", "loss float32")
  loss:backward()
  for name, p in model:named_parameters() do
    T.check(p.grad ~= nil and p.grad:dtype() == "float32", name .. " gradient is float32")
  end
  for name, b in model:named_buffers() do
    if name:match("running_") then T.check(b:dtype() == "float32", name .. " stays float32") end
  end
end)

T.test("bfloat16 conv2d and linear on the CPU without autocast (op layer)", function()
  lt.manual_seed(4)
  local x = lt.randn(2, 3, 5, 5):bfloat16():requires_grad_()
  local w = lt.randn(4, 3, 3, 3):bfloat16():requires_grad_()
  local y = F.conv2d(x, w, nil, {stride = 2})
  T.check(y:dtype() == "bfloat16", "conv2d bf16 output")
  y:sum():backward()
  T.check(x.grad:dtype() == "bfloat16" and w.grad:dtype() == "bfloat16", "bf16 gradients")
  local xf, wf = x:detach():float():requires_grad_(), w:detach():float():requires_grad_()
  F.conv2d(xf, wf, nil, {stride = 2}):sum():backward()
  T.check(relerr(x.grad, xf.grad) < 1e-2 and relerr(w.grad, wf.grad) < 1e-2, "bf16 conv gradients")
  local l = F.linear(lt.randn(3, 4):bfloat16(), lt.randn(2, 4):bfloat16(), lt.randn(2):bfloat16())
  T.check(l:dtype() == "bfloat16", "linear bf16 output")
  -- mixed dtypes outside autocast are still an error
  T.checkerr("weight has dtype float32 but the input has bfloat16", F.conv2d, x:detach(), lt.randn(4, 3, 3, 3))
  T.checkerr("weight has dtype float32 but the input has bfloat16", F.linear, lt.randn(3, 4):bfloat16(),
             lt.randn(2, 4))
end)

T.test("state is restored on return and on error; results and arguments pass through", function()
  T.check(lt.is_autocast_enabled() == false, "off by default")
  local a, b, c = lt.autocast("bf16", function(p, q)
    T.check(lt.is_autocast_enabled(), "on inside")
    return p + 1, q, "three"
  end, 1, "two")
  T.check(a == 2 and b == "two" and c == "three", "results and arguments")
  T.checkerr("boom", lt.autocast, "bf16", function() error("boom") end)
  T.check(lt.is_autocast_enabled() == false, "off after an error")
  -- nested autocast keeps it on until the outer one ends
  lt.autocast("bfloat16", function()
    lt.autocast("bf16", function() end)
    T.check(lt.is_autocast_enabled(), "still on after a nested autocast")
  end)
  T.check(not lt.is_autocast_enabled(), "off after the outer one")
end)

T.test("nesting with no_grad", function()
  local w = lt.randn(3, 4):requires_grad_()
  local x = lt.randn(2, 4)
  local y = lt.no_grad(function() return bf16(F.linear, x, w) end)
  T.check(y:dtype() == "bfloat16" and not y.requires_grad, "no_grad outside: bf16, no history")
  lt.autocast("bf16", function()
    local z = lt.no_grad(F.linear, x, w)
    T.check(z:dtype() == "bfloat16" and not z.requires_grad, "no_grad inside: still bf16, no history")
    T.check(lt.is_autocast_enabled() and lt.is_grad_enabled(), "both modes restored inside")
    local v = F.linear(x, w)
    T.check(v.requires_grad, "grad recorded again under autocast")
  end)
end)

T.test("a tiny model trains under autocast", function()
  lt.manual_seed(5)
  local model = small_model()
  local x = lt.randn(16, 3, 6, 6)
  local y = lt.tensor({1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}):long()
  local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
  local first, last
  for i = 1, 30 do
    local loss = bf16(function() return F.cross_entropy(model(x), y) end)
    opt:zero_grad()
    loss:backward()
    opt:step()
    if i == 1 then first = loss:item() end
    last = loss:item()
  end
  T.check(last < 0.85 * first, string.format("loss %.4f -> %.4f", first, last))
  for name, p in model:named_parameters() do T.check(p:dtype() == "float32", name .. " master weight float32") end
end)

T.test("bad arguments", function()
  T.checkerr("bad argument #1 to 'autocast' (autocast supports bfloat16 only ('bf16' or 'bfloat16', or false to turn "
             .. "it off), got float16)",
             lt.autocast, "float16", function() end)
  T.checkerr("got float32", lt.autocast, "float32", function() end)
  T.checkerr("got fp8", lt.autocast, "fp8", function() end)
  T.checkerr("got number", lt.autocast, 16, function() end)
  T.checkerr("got boolean", lt.autocast, true, function() end)
  T.checkerr("bad argument #2 to 'autocast' (expected a function, got no value)", lt.autocast, "bf16")
  T.checkerr("bad argument #2 to 'autocast' (expected a function, got table)", lt.autocast, "bf16", {})
  T.check(not lt.is_autocast_enabled(), "still off")
end)

-- --- the model-level setting ------------------------------------------------------------

-- two models with the same float32 weights
local function twin_models(seed)
  lt.manual_seed(seed)
  local a = small_model()
  local b = small_model()
  b:load_state_dict((a:state_dict()))
  return a, b
end

local function grads_equal(ma, mb, what)
  local gb = {}
  for name, p in mb:named_parameters() do gb[name] = p.grad end
  for name, p in ma:named_parameters() do
    T.check(p.grad ~= nil and p.grad:dtype() == "float32", what .. ": " .. name .. " has a float32 gradient")
    if p.grad and gb[name] then T.tensor_equal(p.grad, gb[name], what .. ": gradient of " .. name) end
  end
end

T.test("model:autocast('bf16') computes what lt.autocast computes", function()
  local ma, mb = twin_models(7)
  local x, y = lt.randn(8, 3, 6, 6), lt.tensor({1, 2, 3, 4, 1, 2, 3, 4}):long()
  T.check(ma:autocast("bf16") == ma, "autocast returns the module")
  T.check(ma:get_autocast() == "bfloat16" and mb:get_autocast() == nil, "get_autocast")
  local out = ma(x)
  T.check(not lt.is_autocast_enabled(), "off again after the call")
  -- the result leaves the bf16 region as float32, so the loss outside is float32
  T.check(out:dtype() == "float32", "output returned as float32, got " .. out:dtype())
  local loss_a = F.cross_entropy(out, y)
  T.check(loss_a:dtype() == "float32", "loss outside is float32")
  local ref, loss_b = bf16(function()
    local o = mb(x)
    return o, F.cross_entropy(o, y)
  end)
  T.check(ref:dtype() == "bfloat16", "lt.autocast leaves bf16 logits")
  T.tensor_equal(lt.autocast("bf16", mb:eval(), x), lt.autocast("bf16", function() return mb(x) end),
                 "a module itself passed to lt.autocast")
  mb:train()
  T.tensor_equal(out, ref:float(), "logits equal lt.autocast's")
  T.tensor_equal(loss_a, loss_b, "loss equals the one computed under lt.autocast")
  loss_a:backward()
  loss_b:backward()
  grads_equal(ma, mb, "model:autocast")
  for name, p in ma:named_parameters() do T.check(p:dtype() == "float32", name .. " stays a float32 master weight") end
  for name, buf in ma:named_buffers() do
    if name:match("running_") then
      T.check(buf:dtype() == "float32", name .. " stays float32")
      T.tensor_equal(buf, mb:get_submodule(name:match("^(.*)%.[^.]*$"))[name:match("([^.]*)$")],
                     name .. " updated as under lt.autocast")
    end
  end
  -- the same inside a caller's autocast region: no cast at the boundary
  local inside = bf16(function() return ma(x) end)
  T.check(inside:dtype() == "bfloat16", "inside lt.autocast the output stays bf16")
end)

T.test("model:autocast(false) and nil restore float32", function()
  local ma, mb = twin_models(8)
  local x = lt.randn(4, 3, 6, 6)
  ma:eval()
  mb:eval()
  local ref = mb(x)
  ma:autocast("bf16")
  T.check(relerr(ma(x), ref) > 0, "bf16 differs from float32 (the check below means something)")
  ma:autocast(nil)
  T.check(ma:get_autocast() == nil, "setting cleared")
  T.tensor_equal(ma(x), ref, "autocast(nil): float32 again")
  ma:autocast(false)
  T.check(ma:get_autocast() == false, "setting off")
  T.tensor_equal(ma(x), ref, "autocast(false): float32")
  local inside = bf16(function() return ma(x) end)
  T.check(inside:dtype() == "float32", "autocast(false) wins over a caller's autocast")
  T.tensor_equal(inside, ref, "autocast(false) inside lt.autocast: float32 results")
  -- a float32 head inside a bf16 model: batch norm is not cast, so the
  -- features reach the head in bf16; the head set to autocast(false) widens
  -- its inputs to float32 itself
  local net = nn.Sequential(ma[1], ma[2], ma[3], ma[4], ma[5], ma[6]:autocast(false)):autocast("bf16")
  local out = net(x)
  local feats = bf16(function()
    local h = x
    for i = 1, 5 do h = ma[i](h) end
    return h
  end)
  T.check(feats:dtype() == "bfloat16", "features after batch norm are bf16 (batch norm is not cast)")
  T.check(out:dtype() == "float32", "head output float32")
  T.tensor_equal(out, F.linear(feats:float(), ma[6].weight, ma[6].bias), "the head ran in float32")
  -- lt.autocast(false, fn) is the functional form
  lt.autocast("bf16", function()
    lt.autocast(false, function() T.check(not lt.is_autocast_enabled(), "off inside autocast(false)") end)
    T.check(lt.is_autocast_enabled(), "on again after autocast(false) returns")
  end)
end)

T.test("model:autocast leaves state_dict, parameters and errors alone", function()
  local ma = twin_models(9)
  local sd0, keys0 = ma:state_dict()
  ma:autocast("bf16")
  local sd1, keys1 = ma:state_dict()
  T.check(#keys0 == #keys1, "same number of state_dict keys")
  for i, k in ipairs(keys0) do
    T.check(keys1[i] == k, "state_dict key " .. k)
    T.check(sd1[k]:dtype() == sd0[k]:dtype(), k .. " keeps its dtype")
    T.tensor_equal(sd1[k], sd0[k], k .. " unchanged")
  end
  for k in pairs(sd1) do T.check(not k:find("autocast"), "no autocast entry in state_dict: " .. k) end
  -- a model loaded from it runs in float32: the setting is not state
  local _, mb = twin_models(9)
  mb:load_state_dict(sd1)
  T.check(mb:get_autocast() == nil, "not carried by load_state_dict")
  -- an error inside forward still names the module and leaves autocast off
  local bad = nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2)):autocast("bf16")
  local plain_ok, plain_err = pcall(nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2)), lt.randn(2, 4))
  T.check(not plain_ok and plain_err:find("^1 %(Linear%): ") ~= nil, "the plain model's error names the module")
  T.checkerr(plain_err, bad, lt.randn(2, 4))
  T.check(not lt.is_autocast_enabled(), "off after an error inside an autocast module")
  T.checkerr("autocast: expected 'bf16', 'bfloat16', false or nil, got 'float16'", ma.autocast, ma, "float16")
  T.checkerr("got true", ma.autocast, ma, true)
  T.check(ma:get_autocast() == "bfloat16", "a rejected setting changes nothing")
end)

T.test("ResNet18 width 16 golden logits in a bf16 forward", function()
  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  local g = lt.load(here .. "/../golden/resnet18_w16_golden.safetensors")
  local model = lt.models.resnet18{num_classes = 10, width = 16, in_channels = 3}
  local weights, sd = {}, model:state_dict()
  for k, v in pairs(g) do if sd[k] then weights[k] = v end end
  model:load_state_dict(weights)
  model:train()
  local logits, loss = bf16(function()
    local out = model(g.input)
    return out, F.cross_entropy(out, g.target + 1)
  end)
  T.check(logits:dtype() == "bfloat16", "bf16 logits")
  local e = relerr(logits, g["step1.logits"])
  T.check(e < 3e-2, string.format("logits: relative error %.3g", e))
  e = relerr(loss, g["step1.loss"])
  T.check(loss:dtype() == "float32" and e < 3e-2, string.format("float32 loss: relative error %.3g", e))
  loss:backward()
  for name, p in model:named_parameters() do
    if not (p.grad and p.grad:dtype() == "float32") then T.check(false, name .. " float32 gradient") end
  end
  -- the model-level setting gives the same logits (returned as float32)
  local m2 = lt.models.resnet18{num_classes = 10, width = 16, in_channels = 3}
  m2:load_state_dict(weights)
  m2:train()
  m2:autocast("bf16")
  T.tensor_equal(m2(g.input), logits:float(), "model:autocast('bf16') logits equal lt.autocast's")
end)

os.exit(T.done())
