-- test_grad_hooks.lua — Lua code that runs during backward:
-- Tensor:register_post_accumulate_grad_hook (after a leaf's .grad has its
-- last contribution of the pass) and lt.autograd.queue_callback (after the
-- pass), which data-parallel training builds its gradient buckets on.
local T = require "luatrain.testing"

local function leaf(v) return lt.tensor(v, {dtype = "float64", requires_grad = true}) end

T.test("a hook fires once per pass, with the complete gradient", function()
  local a, b = leaf{1, 2, 3}, leaf{4, 5, 6}
  local seen = {}
  a:register_post_accumulate_grad_hook(function(p)
    seen[#seen + 1] = p.grad:_flat_values()
  end)
  -- a is used three times: the hook must see the sum of all three contributions
  local y = (a * 2):sum() + (a * b):sum() + (a * a):sum()
  y:backward()
  T.check(#seen == 1, "fired " .. #seen .. " times")
  local g = seen[1]
  T.check(g[1] == 2 + 4 + 2 and g[2] == 2 + 5 + 4 and g[3] == 2 + 6 + 6, "gradient when the hook ran")
  -- a second pass accumulates; the hook sees the accumulated .grad
  ;(a * 1):sum():backward()
  T.check(#seen == 2 and seen[2][1] == 9, "second pass: " .. tostring(seen[2] and seen[2][1]))
end)

T.test("order: hooks as gradients become ready, callbacks after every hook", function()
  local a, b = leaf{1}, leaf{2}
  local order = {}
  a:register_post_accumulate_grad_hook(function()
    order[#order + 1] = "a"
    lt.autograd.queue_callback(function()
      order[#order + 1] = "cb1"
      lt.autograd.queue_callback(function() order[#order + 1] = "cb2" end)
    end)
  end)
  b:register_post_accumulate_grad_hook(function() order[#order + 1] = "b" end)
  -- b's gradient is ready first: it is consumed nearer the root
  local y = (a * 3):exp():sum() * b
  y:sum():backward()
  T.check(table.concat(order, ",") == "b,a,cb1,cb2", table.concat(order, ","))
end)

T.test("two hooks on one tensor run in order; remove() drops one", function()
  local a = leaf{1, 2}
  local order = {}
  local h1 = a:register_post_accumulate_grad_hook(function() order[#order + 1] = 1 end)
  a:register_post_accumulate_grad_hook(function() order[#order + 1] = 2 end)
  a:sum():backward()
  h1:remove()
  h1:remove() -- twice is harmless
  a:sum():backward()
  T.check(table.concat(order, ",") == "1,2,2", table.concat(order, ","))
end)

T.test("lt.autograd.grad does not fire hooks; unused leaves do not fire", function()
  local a, c = leaf{1, 2}, leaf{3}
  local fired = 0
  a:register_post_accumulate_grad_hook(function() fired = fired + 1 end)
  c:register_post_accumulate_grad_hook(function() fired = fired + 100 end)
  lt.autograd.grad((a * a):sum(), a)
  T.check(fired == 0, "grad fired hooks: " .. fired)
  ;(a * 2):sum():backward()
  T.check(fired == 1, "an unused leaf's hook fired: " .. fired)
end)

T.test("errors", function()
  local a, b = leaf{1}, leaf{2}
  a:register_post_accumulate_grad_hook(function() error("planted hook error") end)
  local ran = false
  b:register_post_accumulate_grad_hook(function() lt.autograd.queue_callback(function() ran = true end) end)
  local ok, err = pcall(function() (a * b):sum():backward() end)
  T.check(not ok and tostring(err):find("backward: a post-accumulate-grad hook failed: ", 1, true)
          and tostring(err):find("planted hook error", 1, true), tostring(err))
  T.check(not ran, "a callback of a failed pass ran")
  T.check(a.grad ~= nil and b.grad ~= nil, "gradients of the failed pass were still accumulated")
  T.checkerr("queue_callback: only while a backward pass runs", lt.autograd.queue_callback, function() end)
  T.checkerr("only a leaf tensor that requires grad", function() (a * 2):register_post_accumulate_grad_hook(print) end)
  T.checkerr("only a leaf tensor that requires grad", function() lt.zeros(2):register_post_accumulate_grad_hook(print) end)
  local c = leaf{1}
  c:register_post_accumulate_grad_hook(function() lt.autograd.queue_callback(function() error("planted callback") end) end)
  ok, err = pcall(function() c:sum():backward() end)
  T.check(not ok and tostring(err):find("backward: a queued callback failed: ", 1, true)
          and tostring(err):find("planted callback", 1, true), tostring(err))
  -- the next pass is clean: nothing left over from the failed ones
  local d, n = leaf{1}, 0
  d:register_post_accumulate_grad_hook(function() n = n + 1 end)
  d:sum():backward()
  T.check(n == 1, "clean pass after failures")
end)

T.test("lt.autograd.backward runs hooks and callbacks too", function()
  local a = leaf{1, 2}
  local log = {}
  a:register_post_accumulate_grad_hook(function()
    log[#log + 1] = "hook"
    lt.autograd.queue_callback(function() log[#log + 1] = "cb" end)
  end)
  lt.autograd.backward({(a * a):sum()})
  T.check(table.concat(log, ",") == "hook,cb", table.concat(log, ","))
end)

os.exit(T.done())
