-- test_autograd.lua — the autograd engine and its Lua surface: accumulation,
-- retain_graph and freed graphs, detach, grad mode, non-leaf grads, diamonds,
-- version checks, in-place rules, the tensor properties, lt.autograd.grad /
-- backward, and custom Functions (see test_gradcheck.lua for the op
-- gradients themselves).
local T = require "luatrain.testing"

local f64 = {dtype = "float64"}
local function leaf(t) return lt.tensor(t, {dtype = "float64", requires_grad = true}) end
local function vals(t) return t:double():_flat_values() end
local function all_close(a, b, tol, what)
  local va = type(a) == "table" and a or vals(a)
  local vb = type(b) == "table" and b or vals(b)
  if #va ~= #vb then return T.check(false, (what or "all_close") .. ": sizes differ") end
  for i = 1, #va do
    if math.abs(va[i] - vb[i]) > (tol or 1e-10) * (1 + math.abs(vb[i])) then
      return T.check(false, string.format("%s: element %d is %.12g, expected %.12g", what or "all_close", i, va[i], vb[i]))
    end
  end
  return T.check(true)
end

T.test("basic backward and accumulation", function()
  local x = leaf{1, 2, 3}
  T.check(x.requires_grad and x.is_leaf and x.grad_fn == nil, "leaf properties")
  local y = (x * x):sum()
  T.check(y.grad_fn == "SumBackward" and not y.is_leaf and y.requires_grad, "non-leaf properties")
  y:backward(nil, {retain_graph = true})
  all_close(x.grad, {2, 4, 6}, 1e-12, "d sum(x^2)")
  local g1 = x.grad
  y:backward()
  all_close(x.grad, {4, 8, 12}, 1e-12, "accumulated")
  all_close(g1, {4, 8, 12}, 1e-12, "accumulated in place into the same tensor")
  T.checkerr("backward: the graph was freed by a previous backward (use retain_graph=true)", function() y:backward() end)
  -- a graph that saved nothing may run again, as in PyTorch
  local z = (x + 1):sum()
  z:backward(); z:backward()
  all_close(x.grad, {6, 10, 14}, 1e-12, "AddBackward twice")
  x.grad = nil
  T.check(x.grad == nil, "grad cleared")
end)

T.test("backward arguments", function()
  local x = leaf{1, 2, 3}
  local y = x * 2
  T.checkerr("a gradient is needed for a tensor of shape [3]", function() y:backward() end)
  T.checkerr("gradient of shape [2] does not match the tensor's shape [3]", function() y:backward(lt.ones(2, f64)) end)
  y:backward(lt.tensor({1, 10, 100}, f64))
  all_close(x.grad, {2, 20, 200}, 1e-12, "explicit gradient")
  T.checkerr("does not require grad", function() lt.ones(3):sum():backward() end)
  T.checkerr("unknown option 'retain'", function() (x * 2):sum():backward{retain = true} end)
  -- a leaf as the root
  local s = lt.tensor(3.0, {dtype = "float64", requires_grad = true})
  s:backward()
  all_close(s.grad, {1}, 0, "leaf root")
  -- float32 gradient into a float64 graph is cast
  local w = leaf{1, 2}
  ;(w * 3):backward(lt.ones(2))
  T.check(w.grad:dtype() == "float64", "grad dtype follows the tensor")
end)

T.test("non-leaf grads, diamonds, reuse", function()
  local x = leaf{0.5, -1}
  local a = x * 2
  local b, c = a:exp(), a:sin()
  ;(b + c):sum():backward()
  T.check(a.grad == nil, "non-leaf grad not stored")
  local xs = vals(x)
  all_close(x.grad, {2 * (math.exp(2 * xs[1]) + math.cos(2 * xs[1])), 2 * (math.exp(2 * xs[2]) + math.cos(2 * xs[2]))},
            1e-12, "diamond")
  local y = leaf{3, 4}
  ;(y * y + y):sum():backward()
  all_close(y.grad, {7, 9}, 1e-12, "used twice")
  -- only part of a graph depends on the leaf
  local k = leaf{1, 2}
  local const = lt.tensor({5, 6}, f64)
  ;(k * const + const):sum():backward()
  all_close(k.grad, {5, 6}, 1e-12, "constant branch")
end)

T.test("detach and grad mode", function()
  local x = leaf{1, 2}
  local d = x:detach()
  T.check(not d.requires_grad and d.grad_fn == nil and lt.shares_storage(d, x), "detach shares storage, no history")
  local y = x * 2
  y:detach_()
  T.check(not y.requires_grad and y.grad_fn == nil and y.is_leaf, "detach_")
  local a, b = lt.no_grad(function(u) return u * 2, u + 1 end, x)
  T.check(not a.requires_grad and not b.requires_grad, "no_grad results")
  T.check(lt.is_grad_enabled(), "mode restored")
  local e = lt.no_grad(function() return lt.enable_grad(function() return x * 2 end) end)
  T.check(e.requires_grad and e.grad_fn == "MulBackward", "enable_grad inside no_grad")
  local ok, err = pcall(lt.no_grad, function() error("boom") end)
  T.check(not ok and tostring(err):find("boom", 1, true), "error propagates")
  T.check(lt.is_grad_enabled(), "mode restored after an error")
  T.check(lt.set_grad_enabled(false) == true, "set_grad_enabled returns the previous mode")
  T.check(not (x * 2).requires_grad, "grad mode off")
  lt.set_grad_enabled(true)
  T.checkerr("bad argument #1 to 'no_grad' (expected a function, got number)", lt.no_grad, 3)
end)

T.test("properties", function()
  local x = lt.zeros(2, {requires_grad = true})
  T.check(x.requires_grad and x:dtype() == "float32", "zeros requires_grad")
  T.check(lt.randn(2, 2, {dtype = "float64", requires_grad = true}).requires_grad, "randn requires_grad")
  T.check(lt.ones_like(x, {requires_grad = true}).requires_grad, "ones_like requires_grad")
  T.check(not lt.ones(2).requires_grad, "default off")
  T.checkerr("only floating-point tensors can require gradients, got int64", lt.tensor, {1, 2}, {requires_grad = true})
  T.checkerr("only floating-point tensors can require gradients, got int64", function() lt.arange(3).requires_grad = true end)
  T.checkerr("requires_grad must be a boolean", lt.zeros, 2, {requires_grad = 1})
  local y = x * 2
  T.checkerr("requires_grad can only be changed on leaf tensors", function() y.requires_grad = false end)
  local z = lt.ones(2)
  T.check(z:requires_grad_() == z and z.requires_grad, "requires_grad_ returns self")
  z:requires_grad_(false)
  T.check(not z.requires_grad, "requires_grad_(false)")
  T.checkerr("assigned grad has shape [3], expected the tensor's shape [2]", function() x.grad = lt.zeros(3) end)
  T.checkerr("assigned grad is float64, expected the tensor's dtype float32", function() x.grad = lt.zeros(2, f64) end)
  x.grad = lt.ones(2)
  ;(x * 3):sum():backward()
  all_close(x.grad, {4, 4}, 0, "accumulates onto an assigned grad")
end)

T.test("non-differentiable ops", function()
  local x = leaf{1.5, -2.5}
  for _, r in ipairs{x:gt(0), x:eq(x), x:argmax(), x:long(), x:isnan()} do
    T.check(not r.requires_grad and r.grad_fn == nil, "no grad_fn on " .. r:dtype())
  end
  -- floor, round, sign, ceil: differentiable with a zero gradient, as PyTorch
  for _, name in ipairs{"floor", "round", "sign", "ceil"} do
    local r = x[name](x)
    T.check(r.requires_grad and r.grad_fn ~= nil, name .. " keeps a grad_fn")
    local g = lt.autograd.grad(r:sum(), x)
    all_close(g, {0, 0}, 0, name .. "'s gradient is zero")
  end
  local _, idx = x:max(1)
  T.check(not idx.requires_grad and idx:dtype() == "int64", "max indices")
  T.check(idx:item() == 1, "max index is 1-based")
end)

T.test("version counter", function()
  local x = leaf{1, 2}
  local y = x * 1
  local z = y * y -- saves y
  y:add_(1)
  T.checkerr("a tensor needed for backward (saved by MulBackward) was modified in place", function() z:sum():backward() end)
  local w = leaf{1, 2}
  local e = w:exp() -- saves its output
  lt.no_grad(function() e:mul_(2) end)
  T.checkerr("(saved by ExpBackward) was modified in place", function() e:sum():backward() end)
  -- a view used after its base was overwritten: its history follows the
  -- base's (PyTorch regenerates it), so the gradient sees the mul_
  local b = x * 1
  local v = b:narrow(1, 1, 1)
  b:mul_(2)
  v:sum():backward()
  all_close(x.grad, {2, 0}, 0, "a view of a base multiplied in place")
  x.grad = nil
  -- but a view saved for backward and then overwritten is still caught
  local b2 = x * 1
  local v2 = b2:narrow(1, 1, 1)
  local sq = v2 * v2 -- saves v2
  b2:mul_(2)
  T.checkerr("(saved by MulBackward) was modified in place", function() sq:sum():backward() end)
end)

T.test("in-place rules", function()
  local x = leaf{1, 4}
  T.checkerr("a leaf tensor that requires grad is used in an in-place operation (add_); use t:detach() or lt.no_grad",
             function() x:add_(1) end)
  T.checkerr("in-place operation (mul_)", function() x:mul_(2) end)
  T.checkerr("in-place operation (fill_)", function() x:fill_(0) end)
  T.checkerr("in-place operation (copy_)", function() x:copy_(lt.ones(2)) end)
  T.checkerr("in-place operation (exp_)", function() x:exp_() end)
  lt.no_grad(function() x:add_(1) end)
  all_close(x, {2, 5}, 0, "in-place under no_grad")
  -- non-leaves: history moves onto the in-place node
  local y = x * 1
  y:mul_(3)
  T.check(y.grad_fn == "MulBackward", "rebased grad_fn")
  y:log_()
  T.check(y.grad_fn == "LogBackward", "log_")
  y:relu_()
  T.check(y.grad_fn == "ReluBackward", "relu_")
  y:sum():backward()
  all_close(x.grad, {1 / 2, 1 / 5}, 1e-12, "mul_, log_, relu_ chain")
  -- relu_ saved its result: writing over it again breaks that node, as in PyTorch
  local q = x * 1
  q:relu_()
  q:log_()
  T.checkerr("(saved by ReluBackward) was modified in place", function() q:sum():backward() end)
  x.grad = nil
  -- a view of a tensor that requires grad: its base takes the history
  -- (CopySlices), as PyTorch; a view of a leaf that requires grad may not
  local h = x * 1
  local v = h:narrow(1, 1, 1)
  v:mul_(3)
  T.check(v.grad_fn == "AsStridedBackward" and h.grad_fn == "CopySlices", "a view's history moves onto its base")
  h:sum():backward()
  all_close(x.grad, {3, 1}, 0, "mul_ of a view, through its base")
  x.grad = nil
  T.checkerr("a view of a leaf tensor that requires grad is used in an in-place operation (add_)",
             function() x:narrow(1, 1, 1):add_(1) end)
  -- writing a tensor that requires grad into one that does not
  local buf = lt.zeros(2, f64)
  x.grad = nil
  buf:add_(x)
  T.check(buf.requires_grad and buf.grad_fn == "AddBackward", "a plain tensor picks up history")
  ;(buf * buf):sum():backward()
  all_close(x.grad, {4, 10}, 1e-12, "through add_ into a zero tensor")
  -- a slice of a plain buffer filled with a tensor that requires grad
  local base = lt.zeros(2, 2, f64)
  base:select(1, 1):copy_(x)
  T.check(base.requires_grad and base.grad_fn == "CopySlices", "the buffer takes the history")
  x.grad = nil
  ;(base * base):sum():backward()
  all_close(x.grad, {4, 10}, 1e-12, "through copy_ into a slice of a zero buffer")
  -- copy_: the gradient flows to the source
  x.grad = nil
  local dst = lt.zeros(2, f64)
  dst:copy_(x * 2)
  T.check(dst.grad_fn == "CopyBackward", "copy_ grad_fn")
  dst:sum():backward()
  all_close(x.grad, {2, 2}, 1e-12, "copy_ gradient")
  -- masked_fill_ and fill_ on non-leaves
  x.grad = nil
  local m = x * 1
  m:masked_fill_(lt.tensor{true, false}, 7)
  ;(m * 3):sum():backward()
  all_close(x.grad, {0, 3}, 1e-12, "masked_fill_ gradient")
  x.grad = nil
  local f = x * 1
  f:fill_(1)
  T.check(f.grad_fn == "FillBackward", "fill_ grad_fn")
  f:sum():backward()
  T.check(x.grad == nil, "fill_ cuts the gradient")
end)

T.test("index assignment", function()
  local x = leaf{1, 2, 3}
  local buf = lt.zeros(2, 3, f64)
  buf[1] = x
  buf[2] = x * 2
  T.check(buf.grad_fn == "CopySlices", "t[i] = x records CopySlices")
  ;(buf * buf):sum():backward()
  all_close(x.grad, {10, 20, 30}, 1e-12, "t[i] = x gradient")
  x.grad = nil
  local y = x:view(1, 3):expand(2, 3) * 1
  y[1] = 0
  y:sum():backward()
  all_close(x.grad, {1, 1, 1}, 1e-12, "t[i] = 0 on a non-leaf")
  local w = leaf{{1, 2}, {3, 4}}
  T.checkerr("a leaf tensor that requires grad is used in an in-place operation (index assignment)",
             function() w[1] = 0 end)
end)

T.test("conversions keep the graph", function()
  local x = leaf{1, 2}
  local y = x:float()
  T.check(y.grad_fn == "ToCopyBackward", "to dtype records")
  ;(y * y):sum():backward()
  T.check(x.grad:dtype() == "float64", "gradient cast back")
  all_close(x.grad, {2, 4}, 1e-6, "through float32")
  T.check(x:double() == x or lt.shares_storage(x:double(), x), "no-op conversion returns the tensor")
end)

T.test("lt.autograd.grad and backward", function()
  local x, w = leaf{1, 2}, leaf{3, 4}
  local y = (x * w):sum()
  local gx, gw = table.unpack(lt.autograd.grad(y, {x, w}, nil, {retain_graph = true}))
  all_close(gx, {3, 4}, 0, "grad x")
  all_close(gw, {1, 2}, 0, "grad w")
  T.check(x.grad == nil and w.grad == nil, "grad does not touch .grad")
  local g = lt.autograd.grad(y, x, nil, {retain_graph = true})
  T.check(lt.is_tensor(g), "a single input gives a single tensor")
  local u = leaf{5}
  T.checkerr("input 2 was not used to compute the outputs", lt.autograd.grad, y, {x, u}, nil, {retain_graph = true})
  local r = lt.autograd.grad(y, {x, u}, nil, {retain_graph = true, allow_unused = true})
  T.check(r[1] ~= nil and r[2] == nil, "allow_unused gives nil")
  -- grad w.r.t. an intermediate
  local h = x * 3
  local z = (h * h):sum()
  all_close(lt.autograd.grad(z, h), {6, 12}, 0, "grad of an intermediate")
  -- several outputs with grad_outputs
  local a, b = x * 2, x * 3
  all_close(lt.autograd.grad({a, b}, {x}, {lt.ones(2, f64), lt.full({2}, 2.0, f64)})[1], {8, 8}, 0, "two outputs")
  lt.autograd.backward({(x * 2):sum(), (x * 5):sum()})
  all_close(x.grad, {7, 7}, 0, "autograd.backward")
  T.checkerr("create_graph=true (double backward) is not supported", lt.autograd.grad, (x * 1):sum(), x, nil,
             {create_graph = true})
end)

T.test("deep graph", function()
  local x = leaf{1}
  local y = x
  for _ = 1, 20000 do y = y * 1.0001 end
  y:backward()
  T.close(x.grad:item(), 1.0001 ^ 20000, 1e-9, "long chain")
end)

-- --- custom functions ---------------------------------------------------------------

local MyRelu = lt.autograd.Function{
  name = "MyRelu",
  forward = function(ctx, x)
    ctx:save_for_backward(x)
    return x:clamp(0)
  end,
  backward = function(ctx, g)
    local x = table.unpack(ctx.saved_tensors)
    return g * x:gt(0):to(g:dtype())
  end,
}

T.test("Function basics", function()
  local x = leaf{-1, 2, 3}
  local y = MyRelu(x)
  T.check(y.grad_fn == "MyReluBackward", "grad_fn name")
  all_close(y, {0, 2, 3}, 0, "forward")
  ;(y * y):sum():backward()
  all_close(x.grad, {0, 4, 6}, 1e-12, "backward")
  local y2 = MyRelu:apply(lt.tensor({1, -1}, f64))
  T.check(not y2.requires_grad, "no input requires grad: no node")
  local y3 = lt.no_grad(function() return MyRelu(x) end)
  T.check(not y3.requires_grad, "no_grad: no node")
end)

T.test("Function with several inputs, outputs and non-tensor args", function()
  local Affine = lt.autograd.Function{
    forward = function(ctx, x, w, scale, tag)
      assert(type(scale) == "number" and tag == "t", "non-tensor args pass through")
      assert(not lt.is_grad_enabled(), "forward runs with grad mode off")
      ctx.scale = scale
      ctx:save_for_backward(x, w)
      local out = x * w * scale
      return out, out:sum(), "meta"
    end,
    backward = function(ctx, g_out, g_sum, g_meta)
      assert(g_meta == nil, "non-tensor outputs get nil")
      local x, w = ctx:saved_tensors()
      local g = (g_out + g_sum) * ctx.scale
      return g * w, g * x, nil, nil
    end,
  }
  local x, w = leaf{1, 2}, leaf{3, 4}
  local out, s, meta = Affine(x, w, 2, "t")
  T.check(meta == "meta", "non-tensor output")
  T.check(out.grad_fn == "FunctionBackward" and s.grad_fn == "FunctionBackward", "both outputs recorded")
  ;(out:sum() + s * 10):backward()
  all_close(x.grad, {3 * 2 * 11, 4 * 2 * 11}, 1e-12, "grad x")
  all_close(w.grad, {1 * 2 * 11, 2 * 2 * 11}, 1e-12, "grad w")
  -- only one output used: the other gets zeros
  x.grad, w.grad = nil, nil
  local o2 = Affine(x, w, 1, "t")
  o2:sum():backward()
  all_close(x.grad, {3, 4}, 1e-12, "unused output")
  T.check(lt.autograd.gradcheck(Affine, {leaf{0.5, -1.5}, leaf{2, 0.25}, 3, "t"}), "gradcheck of Affine")
end)

T.test("Function edge cases", function()
  local Ident = lt.autograd.Function{forward = function(ctx, x) return x end, backward = function(ctx, g) return g * 2 end}
  local x = leaf{1, 2}
  local y = Ident(x)
  T.check(y ~= x and x.is_leaf and y.grad_fn == "FunctionBackward", "an input returned as is becomes a new tensor")
  y:sum():backward()
  all_close(x.grad, {2, 2}, 0, "identity function backward")
  local Idx = lt.autograd.Function{
    forward = function(ctx, x)
      local v, i = x:max(1)
      ctx:mark_non_differentiable(i)
      ctx.i = i
      return v, i
    end,
    backward = function(ctx, g) return lt.zeros(2, f64) + g end,
  }
  local v, i = Idx(leaf{1, 5})
  T.checkerr("output 1 of KeepBackward is stored in ctx.out; keep outputs with ctx:save_for_backward", function()
    lt.autograd.Function{name = "Keep", forward = function(ctx, a) ctx.out = a * 2; return ctx.out end,
                         backward = function(ctx, g) return g end}(leaf{1})
  end)
  T.check(v.requires_grad and not i.requires_grad, "mark_non_differentiable")
  local SaveOut = lt.autograd.Function{
    forward = function(ctx, x) local y = x:exp(); ctx:save_for_backward(y); return y end,
    backward = function(ctx, g) local y = ctx:saved_tensors(); return g * y end,
  }
  local z = leaf{0.5}
  SaveOut(z):backward()
  T.close(z.grad:item(), math.exp(0.5), 1e-12, "saving an output")
  T.checkerr("bad argument #1 to 'Function' (field 'backward' must be a function, got nil)", lt.autograd.Function,
             {forward = function() end})
  T.checkerr("unknown field 'forwrd'", lt.autograd.Function, {forwrd = 1, forward = print, backward = print})
  T.checkerr("bad argument #1 to 'save_for_backward' (expected a tensor, got number)", function()
    lt.autograd.Function{forward = function(ctx, x) ctx:save_for_backward(1); return x end, backward = print}(leaf{1})
  end)
  -- the graph of a Function is freed too
  local q = leaf{2}
  local r = MyRelu(q)
  r:backward()
  T.checkerr("the graph was freed by a previous backward", function() r:backward() end)
end)

T.test("Function errors", function()
  local Bad = lt.autograd.Function{
    name = "Bad",
    forward = function(ctx, x) return x * 2 end,
    backward = function(ctx, g) error("deliberate failure in backward") end,
  }
  local x = leaf{1}
  local y = Bad(x)
  local ok, err = pcall(function() y:backward() end)
  T.check(not ok, "error raised")
  err = tostring(err)
  T.check(err:find("backward: error in the backward of BadBackward", 1, true) ~= nil, "names the function: " .. err)
  T.check(err:find("deliberate failure in backward", 1, true) ~= nil, "keeps the message")
  T.check(err:find("stack traceback", 1, true) ~= nil, "keeps the traceback")
  local TooMany = lt.autograd.Function{forward = function(ctx, x) return x * 1 end,
                                       backward = function(ctx, g) return g, g end}
  T.checkerr("returned 2 gradients, expected at most 1", function() TooMany(leaf{1}):backward() end)
  local WrongShape = lt.autograd.Function{forward = function(ctx, x) return x * 1 end,
                                          backward = function(ctx, g) return lt.ones(3, f64) end}
  T.checkerr("FunctionBackward returned a gradient of shape [3] for input 1 of shape [2]",
             function() WrongShape(leaf{1, 2}):sum():backward() end)
  local NotTensor = lt.autograd.Function{forward = function(ctx, x) return x * 1 end,
                                         backward = function(ctx, g) return "oops" end}
  T.checkerr("returned a string for argument 1", function() NotTensor(leaf{1}):backward() end)
  -- the engine is usable after all of these
  local z = leaf{3}
  ;(z * z):backward()
  T.close(z.grad:item(), 6, 0, "engine still works")
end)

T.test("gradcheck catches a wrong backward", function()
  local Wrong = lt.autograd.Function{
    forward = function(ctx, x) ctx:save_for_backward(x); return x * x end,
    backward = function(ctx, g) local x = ctx:saved_tensors(); return g * x * 3 end, -- should be 2x
  }
  local x = lt.randn(4, {dtype = "float64", requires_grad = true})
  T.checkerr("gradcheck: d(output 1{1})/d(input 1{1}) is wrong: analytical", lt.autograd.gradcheck, Wrong, {x})
  T.check(lt.autograd.gradcheck(MyRelu, {lt.tensor({-1.5, 0.5, 2}, {dtype = "float64", requires_grad = true})}),
          "gradcheck passes MyRelu")
  T.checkerr("gradcheck: input 1 is float32", lt.autograd.gradcheck, MyRelu, {lt.randn(2, {requires_grad = true})})
  T.checkerr("gradcheck: no input requires grad", lt.autograd.gradcheck, MyRelu, {lt.randn(2, f64)})
  T.checkerr("unknown option 'tol'", lt.autograd.gradcheck, MyRelu, {x}, {tol = 1})
end)

T.test("graphs are freed", function()
  -- nodes, saved tensors and Function contexts must not keep each other
  -- alive: after dropping every tensor, the bytes in use return to where
  -- they were
  collectgarbage(); collectgarbage()
  local before = lt.memory_stats().cpu_bytes
  do
    local x = leaf{1, 2, 3}
    local y = x:exp():narrow(1, 1, 2):sum()
    y:backward{retain_graph = true}
    local SaveOut = lt.autograd.Function{
      forward = function(ctx, a) local r = a:exp(); ctx:save_for_backward(r, a); ctx.n = 1; return r end,
      backward = function(ctx, g) local r = ctx:saved_tensors(); return g * r end,
    }
    local z = SaveOut(x)
    local kept = z * 2 -- z's graph stays referenced until the block ends
    z:sum():backward{retain_graph = true}
    local Bad = lt.autograd.Function{forward = function(ctx, a) ctx:save_for_backward(a); return a * 1 end,
                                     backward = function(ctx, g) error("no") end}
    pcall(function() Bad(x):sum():backward() end)
    local g = lt.autograd.grad((x * x):sum(), x)
    local w = x * 1
    w:log_()
    local buf = lt.zeros(2, 3, f64)
    buf[1] = x
    local _ = kept, g, buf
  end
  collectgarbage(); collectgarbage()
  T.check(lt.memory_stats().cpu_bytes == before,
          string.format("bytes in use: %d before, %d after", before, lt.memory_stats().cpu_bytes))
end)

os.exit(T.done())
