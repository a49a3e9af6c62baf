-- test_cross_entropy_fused.lua — the fused cross-entropy (one kernel forward,
-- one backward) against the composition it replaces, nll_loss(log_softmax(x)),
-- computed on the CPU in float64: values and gradients with class weights,
-- label smoothing and ignore_index, every reduction, spatial targets, 1-D
-- input, extreme and infinite logits; float64 finite-difference gradient
-- checks; and that cross_entropy records one CrossEntropyLossBackward node.
--
-- It is also the body of test_cross_entropy_fused_cuda.lua: there T.device()
-- is the GPU, the fused side runs there (float32 and float64, and bfloat16
-- against the float32 reference within 1e-2), and the reference stays on
-- the CPU.
local T = require "luatrain.testing"
local lt = require "luatrain"
local F = lt.nn.functional

local DEV = T.device()
local ON_DEV = T.is_device_run()
lt.manual_seed(4242)
if ON_DEV then lt.backends.allow_tf32(false) end

local function int64(t) return lt.tensor(t, {dtype = "int64"}) end

-- the unfused reference: log_softmax then nll_loss, float64 on the CPU
local function reference(x, target, opts)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  local ls = o.label_smoothing or 0
  o.label_smoothing = nil
  local xd = x:detach():cpu():double()
  xd.requires_grad = true
  local lp = F.log_softmax(xd, x:dim() == 1 and 1 or 2)
  if o.weight then o.weight = o.weight:cpu():double() end
  local t = target:cpu()
  -- smoothing as PyTorch defines it: (1-eps)*nll + eps/C * sum_c w[c]*(-logp[c]),
  -- over the same non-ignored elements and (for a mean) the same denominator
  local loss
  if ls == 0 then
    loss = F.nll_loss(lp, t, o)
  else
    local C = x:shape()[x:dim() == 1 and 1 or 2]
    local red = o.reduction or "mean"
    o.reduction = "none"
    local nll = F.nll_loss(lp, t, o)
    local cd = x:dim() == 1 and 1 or 2
    local wv = o.weight or lt.ones(C, {dtype = "float64"})
    local shape = {}
    for i = 1, x:dim() do shape[i] = i == cd and C or 1 end
    local smooth = -(lp * wv:view(table.unpack(shape))):sum(cd)
    local ign = o.ignore_index or -100
    local keep = t:ne(ign):double()
    local per = nll * (1 - ls) + smooth * keep * (ls / C)
    if red == "none" then loss = per
    elseif red == "sum" then loss = per:sum()
    else
      local tw = (wv:index_select(1, t:masked_fill(t:eq(ign), 1):reshape(-1)):view_as(keep) * keep):sum()
      loss = per:sum() / tw
    end
  end
  return loss, xd
end

-- fused on DEV in dtype dt vs the reference: loss and d(sum(loss*gw))/dx
local function compare(what, x, target, opts, dt, tol)
  local ref, xd = reference(x, target, opts)
  local o = {}
  for k, v in pairs(opts) do o[k] = (k == "weight") and v:to(DEV):to(dt) or v end
  local xf = x:detach():to(DEV):to(dt)
  xf.requires_grad = true
  local got = F.cross_entropy(xf, target:to(DEV), o)
  T.check(got.grad_fn == "CrossEntropyLossBackward", what .. ": grad_fn " .. tostring(got.grad_fn))
  T.check(got:dtype() == dt, what .. ": loss dtype " .. got:dtype())
  T.tensor_close(got, ref, tol, what .. " loss")
  -- a non-uniform upstream gradient for 'none'
  local gw = ref:numel() > 1 and lt.rand(ref:shape(), {dtype = "float64"}) + 0.5 or nil
  if gw then
    (ref * gw):sum():backward();
    (got * gw:to(DEV):to(dt)):sum():backward()
  else
    ref:backward()
    got:backward()
  end
  T.tensor_close(xf.grad, xd.grad, tol, what .. " grad")
end

local FLOATS = (ON_DEV and DEV ~= "cpu") and {"float64", "float32", "bfloat16"} or {"float64", "float32"}
local TOLS = {float64 = 1e-12, float32 = 1e-5, bfloat16 = 1e-2}

T.test("fused cross_entropy matches log_softmax + nll_loss", function()
  local N, C = 7, 6
  local x = lt.randn(N, C, {dtype = "float64"}) * 3
  local target = int64({1, 6, 3, 3, 2, 5, 4})
  local ti = int64({1, 6, 3, 3, 2, 5, 4})
  ti[3] = 2 -- ignored below
  local w = lt.rand(C, {dtype = "float64"}) + 0.3
  for _, dt in ipairs(FLOATS) do
    local tol = TOLS[dt]
    for _, red in ipairs({"mean", "sum", "none"}) do
      for _, ls in ipairs({0, 0.2}) do
        for _, weighted in ipairs({false, true}) do
          local opts = {reduction = red, label_smoothing = ls, weight = weighted and w or nil}
          compare(string.format("%s %s ls=%g weight=%s", dt, red, ls, tostring(weighted)), x, target, opts, dt, tol)
          opts.ignore_index = 2
          compare(string.format("%s %s ls=%g weight=%s ignore", dt, red, ls, tostring(weighted)), x, ti, opts, dt,
                  tol)
        end
      end
    end
    -- spatial [N,C,H,W] (the column kernels), 1-D input, one long row (the block-per-row path
    -- on the GPU), a row length that no 16-byte vector divides
    local xs = lt.randn(2, 5, 3, 4, {dtype = "float64"})
    local ts = lt.randint(1, 6, {2, 3, 4}, {dtype = "int64"})
    ts[1][2][3] = -100
    compare(dt .. " spatial", xs, ts, {label_smoothing = 0.1, weight = lt.rand(5, {dtype = "float64"}) + 0.5}, dt, tol)
    compare(dt .. " spatial none", xs, ts, {reduction = "none"}, dt, tol)
    compare(dt .. " 1-D", lt.randn(9, {dtype = "float64"}), int64(4), {label_smoothing = 0.3}, dt, tol)
    compare(dt .. " long rows", lt.randn(3, 2000, {dtype = "float64"}) * 4, int64({1, 2000, 777}),
            {label_smoothing = 0.05}, dt, tol)
    compare(dt .. " odd row length", lt.randn(5, 7, {dtype = "float64"}), int64({7, 1, 2, 3, 4}),
            {weight = lt.rand(7, {dtype = "float64"}) + 0.1, label_smoothing = 0.1, reduction = "sum"}, dt, tol)
  end
end)

T.test("fused cross_entropy: extreme and infinite logits", function()
  -- large logits: no overflow, same values as the reference
  local big = lt.tensor({{1e4, -1e4, 5e3}, {-3e3, 2e3, 2e3 + 1}}, {dtype = "float64"})
  compare("large logits", big, int64({2, 3}), {label_smoothing = 0.1}, "float64", 1e-12)
  local l = F.cross_entropy(big:to(DEV), int64({2, 3}):to(DEV), {reduction = "none"}):cpu()
  T.close(l[1]:item(), 2e4, 1e-12, "loss of a -1e4 logit against a 1e4 one")
  T.close(l[2]:item(), math.log(1 + math.exp(-1)), 1e-12, "loss of two close large logits")
  -- an all -inf row gives NaN (as log_softmax + nll_loss), a -inf non-target class is fine
  local x = lt.tensor({{-1 / 0, -1 / 0, -1 / 0}, {0, -1 / 0, 1}}, {dtype = "float64"})
  local r = F.cross_entropy(x:to(DEV), int64({1, 3}):to(DEV), {reduction = "none"}):cpu()
  T.check(r[1]:item() ~= r[1]:item(), "all -inf row: NaN, got " .. r[1]:item())
  T.close(r[2]:item(), math.log(1 + math.exp(-1)), 1e-12, "-inf non-target class")
  -- every target ignored: a mean over no weight is 0/0, as nll_loss gives
  local m = F.cross_entropy(lt.randn(3, 4):to(DEV), int64({-100, -100, -100}):to(DEV)):item()
  T.check(m ~= m, "mean over no targets is NaN, got " .. m)
end)

T.test("fused cross_entropy: errors", function()
  local x = lt.randn(4, 5):to(DEV)
  if DEV == "cpu" then
    T.checkerr("bad argument #2 to 'cross_entropy' (target 6 at position 3 is out of range 1..5)", F.cross_entropy, x,
               int64({1, 2, 6, 1}))
    T.checkerr("(target 0 at position 1 is out of range 1..5)", F.cross_entropy, x, int64({0, 2, 3, 1}))
  else
    -- the GPU reports a bad label at the next synchronisation
    local ok, err = pcall(function()
      local l = F.cross_entropy(x, int64({1, 2, 6, 1}):to(DEV))
      return l:item()
    end)
    T.check(not ok and tostring(err):find("target 6 at position 3 is out of range 1..5", 1, true) ~= nil,
            "bad label on the GPU: " .. tostring(err))
    T.check(tostring(err):find("cross_entropy", 1, true) ~= nil, "the error names cross_entropy: " .. tostring(err))
  end
  T.checkerr("weight [3] does not match the 5 classes of input [4,5]", F.cross_entropy, x, int64({1, 2, 3, 1}):to(DEV),
             {weight = lt.ones(3):to(DEV)})
end)

if not ON_DEV then
  T.test("fused cross_entropy on the CPU is bit for bit log_softmax + nll_loss", function()
    -- so training runs on the CPU did not change when the fused kernels came
    local x = lt.randn(9, 11) * 4
    local t = lt.randint(1, 12, {9}, {dtype = "int64"})
    t[4] = 5
    local w = lt.rand(11) + 0.5
    for _, red in ipairs({"mean", "sum", "none"}) do
      for _, opts in ipairs({{reduction = red}, {reduction = red, weight = w, ignore_index = 5}}) do
        local a, b = x:clone(), x:clone()
        a.requires_grad, b.requires_grad = true, true
        local fused = F.cross_entropy(a, t, opts)
        local chain = F.nll_loss(F.log_softmax(b, 2), t, opts)
        T.tensor_equal(fused, chain, "float32 loss " .. red)
        local g = lt.rand(chain:shape()) + 0.5
        fused:backward(g)
        chain:backward(g)
        T.tensor_equal(a.grad, b.grad, "float32 gradient " .. red)
      end
    end
  end)

  T.test("fused cross_entropy: float64 gradient checks", function()
    local gradcheck = lt.autograd.gradcheck
    local w = lt.rand(5, {dtype = "float64"}) + 0.5
    local t = int64({1, 5, 3, 3, 2, 4})
    t[2] = 3 -- ignore_index below
    for _, red in ipairs({"mean", "sum", "none"}) do
      local x = lt.randn(6, 5, {dtype = "float64"})
      x.requires_grad = true
      local ok, err = pcall(gradcheck, function(xx)
        return F.cross_entropy(xx, t, {weight = w, label_smoothing = 0.15, ignore_index = 3, reduction = red})
      end, {x})
      T.check(ok, "gradcheck " .. red .. ": " .. tostring(err))
    end
    local xs = lt.randn(2, 4, 3, 2, {dtype = "float64"})
    xs.requires_grad = true
    local ts = lt.randint(1, 5, {2, 3, 2}, {dtype = "int64"})
    ts[2][1][2] = 2
    local ok, err = pcall(gradcheck, function(xx)
      return F.cross_entropy(xx, ts, {weight = w:narrow(1, 1, 4), label_smoothing = 0.2, ignore_index = 2})
    end, {xs})
    T.check(ok, "gradcheck spatial: " .. tostring(err))
    -- second-order use: the loss's gradient flows into an earlier layer
    local h = lt.randn(4, 3, {dtype = "float64"})
    h.requires_grad = true
    local lw = lt.randn(5, 3, {dtype = "float64"})
    lw.requires_grad = true
    ok, err = pcall(gradcheck, function(hh, ww)
      return F.cross_entropy(F.linear(hh, ww), int64({1, 2, 5, 4}), {label_smoothing = 0.1, weight = w})
    end, {h, lw})
    T.check(ok, "gradcheck through linear: " .. tostring(err))
  end)
end

os.exit(T.done())
