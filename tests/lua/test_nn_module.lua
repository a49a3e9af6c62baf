-- Tests of lt.nn's Module machinery and layers: registration and naming,
-- state_dict round trips and strict-load errors, train/eval, printing in
-- PyTorch's format, `to`, containers, error paths, nn.init statistics, and
-- the layers' forward passes and shape errors.
local T = require "luatrain.testing"
local lt = require "luatrain"
local nn = lt.nn
local init = nn.init

local function maxdiff(a, b) return (a:double() - b:double()):abs():max():item() end

local function names_of(iter)
  local out = {}
  for name in iter do out[#out + 1] = name end
  return table.concat(out, " ")
end

-- A small nested model written the way users write theirs.
local Net = nn.Module:extend("Net")
function Net:__init(cin)
  nn.Module.__init(self)
  self.features = nn.Sequential(nn.Conv2d(cin, 4, 3, {padding = 1, bias = false}), nn.BatchNorm2d(4), nn.ReLU())
  self.scale = nn.Parameter(lt.ones(4))
  self.head = nn.Linear(4, 2)
  self:register_buffer("steps", lt.zeros(1))
  self.note = "plain field"
end
function Net:forward(x)
  local h = self.features(x):mean(4):mean(3) * self.scale
  return self.head(h)
end

T.test("classes and construction", function()
  local m = Net(3)
  T.check(nn.Module.is_module(m), "an instance is a module")
  T.check(m:_get_name() == "Net", "class name")
  T.check(m.note == "plain field", "plain fields read back")
  T.check(m.training == true, "training by default")
  local Sub = Net:extend("SubNet")
  function Sub:__init() Net.__init(self, 1); self.extra = nn.Identity() end
  local s = Sub()
  T.check(s:_get_name() == "SubNet" and s.features ~= nil and s.extra ~= nil, "subclass of a subclass")
  T.check(s.forward == Net.forward, "methods are inherited")
  T.checkerr("expected a class name", function() nn.Module:extend("not a name") end)
  T.checkerr("has no forward function", function() nn.Module()(lt.ones(1)) end)
end)

T.test("registration order and names", function()
  local m = Net(3)
  T.check(names_of(m:named_parameters()) ==
          "scale features.0.weight features.1.weight features.1.bias head.weight head.bias",
          "named_parameters: " .. names_of(m:named_parameters()))
  T.check(names_of(m:named_buffers()) ==
          "steps features.1.running_mean features.1.running_var features.1.num_batches_tracked",
          "named_buffers: " .. names_of(m:named_buffers()))
  T.check(names_of(m:named_children()) == "features head", "named_children")
  T.check(names_of(m:named_modules()) == " features features.0 features.1 features.2 head",
          "named_modules: " .. names_of(m:named_modules()))
  T.check(#m:parameters() == 6 and #m:buffers() == 4 and #m:children() == 2 and #m:modules() == 6, "counts")
  T.check(m:parameters()[1] == m.scale and m:parameters()[6] == m.head.bias, "parameters() are the tensors")
  T.check(m:num_parameters() == 4 + 4 * 3 * 9 + 8 + 8 + 2, "num_parameters")
  T.check(m:get_submodule("features.1") == m.features[2], "get_submodule")
  T.checkerr("has no child 'x'", function() m:get_submodule("features.x") end)
  -- a shared module's parameters count once
  local lin = nn.Linear(3, 3)
  local shared = nn.Sequential(lin, lin)
  T.check(#shared:parameters() == 2, "shared parameters appear once")
  local sd = shared:state_dict()
  T.check(sd["0.weight"] ~= nil and sd["1.weight"] ~= nil, "state_dict names a shared module under both paths")
end)

T.test("assignment rules", function()
  local m = Net(1)
  m.cache = lt.zeros(3) -- no requires_grad: a plain field
  T.check(m.cache ~= nil and #m:parameters() == 6 and #m:buffers() == 4, "plain tensor is not state")
  m.extra = nn.Parameter(lt.zeros(2))
  T.check(#m:parameters() == 7 and names_of(m:named_parameters()):match("^scale extra "),
          "a Parameter assigned later is registered after the earlier ones")
  local old = m.scale
  m.scale = lt.full({4}, 2.0) -- replacing a registered parameter keeps its place
  T.check(m.scale ~= old and m:parameters()[1] == m.scale, "parameter replaced in place")
  m.steps = lt.ones(1) -- replacing a buffer
  T.check(m:buffers()[1]:item() == 1, "buffer replaced")
  m.head = nil
  T.check(m.head == nil and #m:children() == 1 and #m:parameters() == 5, "nil removes a child")
  T.checkerr("cannot assign a number to parameter 'scale'", function() m.scale = 3 end)
  T.checkerr("cannot assign a number to buffer 'steps'", function() m.steps = 3 end)
  T.checkerr("cannot assign a tensor to 'features'", function() m.features = lt.zeros(1) end)
  T.checkerr("already a child", function() m:register_buffer("features", lt.zeros(1)) end)
  T.checkerr("expected a non-empty name without '.'", function() m:register_parameter("a.b", lt.zeros(1)) end)
  T.checkerr("expected a tensor or nil", function() m:register_buffer("b", 5) end)
  m:register_buffer("tmp", lt.zeros(2), false)
  T.check(m:state_dict().tmp == nil and #m:buffers() == 5, "non-persistent buffer: a buffer, not saved")
  -- an activation with autograd history is never registered
  local w = nn.Parameter(lt.ones(2))
  local y = w * 2
  if y.grad_fn ~= nil then
    m.last = y
    T.check(#m:parameters() == 5, "non-leaf tensor stays a plain field")
  end
end)

T.test("Parameter", function()
  local p = nn.Parameter(lt.zeros(3))
  T.check(p.requires_grad == true, "requires_grad set")
  T.check(nn.Parameter(lt.zeros(3), false).requires_grad == false, "frozen parameter")
  T.checkerr("nn.Parameter: expected a tensor", function() nn.Parameter(3) end)
end)

T.test("train and eval", function()
  local m = Net(1)
  T.check(m:eval() == m, "eval returns the module")
  for _, sub in ipairs(m:modules()) do T.check(sub.training == false, "eval reaches every submodule") end
  m:train()
  for _, sub in ipairs(m:modules()) do T.check(sub.training == true, "train reaches every submodule") end
  m.features:train(false)
  T.check(m.training and not m.features[2].training and not m.features.training, "train(false) on a subtree")
  T.checkerr("train: expected a boolean", function() m:train("yes") end)
end)

T.test("state_dict and load_state_dict", function()
  lt.manual_seed(1)
  local a = Net(3)
  lt.manual_seed(2)
  local b = Net(3)
  local sd, keys = a:state_dict()
  T.check(table.concat(keys, " ") == "scale steps features.0.weight features.1.weight features.1.bias " ..
          "features.1.running_mean features.1.running_var features.1.num_batches_tracked head.weight head.bias",
          "state_dict keys in PyTorch's order: " .. table.concat(keys, " "))
  T.check(sd["features.1.num_batches_tracked"]:dtype() == "int64", "num_batches_tracked is int64")
  T.check(sd["features.1.num_batches_tracked"]:dim() == 0, "num_batches_tracked is a scalar")
  T.check(lt.shares_storage(sd["head.weight"], a.head.weight), "state_dict shares storage")
  T.check(maxdiff(a.head.weight, b.head.weight) > 0, "different seeds give different weights")
  local w_before = b.head.weight
  local r = b:load_state_dict(sd)
  T.check(#r.missing_keys == 0 and #r.unexpected_keys == 0, "nothing missing or unexpected")
  T.check(b.head.weight == w_before, "load copies into the existing tensors")
  for _, k in ipairs(keys) do T.check(maxdiff(b:state_dict()[k], sd[k]) == 0, "loaded " .. k) end

  -- strict errors name the keys; nothing is copied when loading fails
  lt.manual_seed(3)
  local c = Net(3)
  local c_w = c.head.weight:clone()
  local bad = {}
  for k, v in pairs(sd) do bad[k] = v end
  bad["head.bias"] = nil
  bad["head.gamma"] = lt.zeros(2)
  bad["features.0.weight"] = lt.zeros(4, 1, 3, 3)
  local ok, err = pcall(c.load_state_dict, c, bad)
  T.check(not ok, "strict load fails")
  err = tostring(err)
  T.check(err:find("Error(s) in loading state_dict for Net", 1, true) ~= nil, "names the model: " .. err)
  T.check(err:find('Missing key(s) in state_dict: "head.bias".', 1, true) ~= nil, "missing key: " .. err)
  T.check(err:find('Unexpected key(s) in state_dict: "head.gamma".', 1, true) ~= nil, "unexpected key: " .. err)
  T.check(err:find("size mismatch for features.0.weight: copying a param with shape [4,1,3,3] from checkpoint, " ..
                   "the shape in current model is [4,3,3,3]", 1, true) ~= nil, "shape mismatch: " .. err)
  T.check(maxdiff(c.head.weight, c_w) == 0, "a failed load copies nothing")

  -- non-strict: missing/unexpected reported, shape mismatches still fatal
  bad["features.0.weight"] = sd["features.0.weight"]
  local r2 = c:load_state_dict(bad, {strict = false})
  T.check(#r2.missing_keys == 1 and r2.missing_keys[1] == "head.bias", "missing_keys")
  T.check(#r2.unexpected_keys == 1 and r2.unexpected_keys[1] == "head.gamma", "unexpected_keys")
  T.check(maxdiff(c.head.weight, a.head.weight) == 0, "non-strict load copied the rest")
  bad["features.0.weight"] = lt.zeros(1)
  T.checkerr("size mismatch for features.0.weight", c.load_state_dict, c, bad, {strict = false})
  T.checkerr("unknown option 'strct'", c.load_state_dict, c, sd, {strct = true})
  T.checkerr("value for head.bias is a number", c.load_state_dict, c, {["head.bias"] = 1}, {strict = false})

  -- BatchNorm tolerates a missing num_batches_tracked (PyTorch does too)
  local no_nbt = {}
  for k, v in pairs(sd) do if not k:match("num_batches_tracked$") then no_nbt[k] = v end end
  local r3 = c:load_state_dict(no_nbt)
  T.check(#r3.missing_keys == 0, "num_batches_tracked may be missing")
  -- dtype conversion on load (a float64 checkpoint into a float32 model)
  local sd64 = {}
  for k, v in pairs(sd) do sd64[k] = v:is_floating_point() and v:double() or v end
  c:load_state_dict(sd64)
  T.check(c.head.weight:dtype() == "float32" and maxdiff(c.head.weight, a.head.weight) < 1e-7, "converted on load")
end)

T.test("tostring as PyTorch prints", function()
  local m = nn.Sequential(
    nn.Conv2d(3, 64, 3, {padding = 1, bias = false}), nn.BatchNorm2d(64), nn.ReLU({inplace = true}),
    nn.MaxPool2d(3, {stride = 2, padding = 1}), nn.Conv2d(64, 8, {1, 3}, {stride = 2, groups = 8, dilation = 2}),
    nn.AdaptiveAvgPool2d({1, 1}), nn.Flatten(), nn.Dropout(0.25), nn.Linear(8, 10),
    nn.Sequential(), nn.LeakyReLU(), nn.GELU(), nn.SiLU(), nn.Identity(), nn.AvgPool2d(2),
    nn.BatchNorm2d(8, {eps = 1e-3, momentum = false, affine = false}))
  local expected = table.concat({
    "Sequential(",
    "  (0): Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)",
    "  (1): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
    "  (2): ReLU(inplace=True)",
    "  (3): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)",
    "  (4): Conv2d(64, 8, kernel_size=(1, 3), stride=(2, 2), dilation=(2, 2), groups=8)",
    "  (5): AdaptiveAvgPool2d(output_size=(1, 1))",
    "  (6): Flatten(start_dim=2, end_dim=-1)",
    "  (7): Dropout(p=0.25, inplace=False)",
    "  (8): Linear(in_features=8, out_features=10, bias=True)",
    "  (9): Sequential()",
    "  (10): LeakyReLU(negative_slope=0.01)",
    "  (11): GELU(approximate='none')",
    "  (12): SiLU()",
    "  (13): Identity()",
    "  (14): AvgPool2d(kernel_size=2, stride=2, padding=0)",
    "  (15): BatchNorm2d(8, eps=0.001, momentum=None, affine=False, track_running_stats=True)",
    ")"}, "\n")
  T.check(tostring(m) == expected, "Sequential repr:\n" .. tostring(m))
  -- nested custom module: children indented, extra_repr of one line inline
  local expected_net = table.concat({
    "Net(",
    "  (features): Sequential(",
    "    (0): Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)",
    "    (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
    "    (2): ReLU()",
    "  )",
    "  (head): Linear(in_features=4, out_features=2, bias=True)",
    ")"}, "\n")
  T.check(tostring(Net(2)) == expected_net, "Net repr:\n" .. tostring(Net(2)))
  -- ModuleList compresses runs of identical children, as PyTorch 2 does
  local ml = nn.ModuleList({nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU()})
  local expected_ml = table.concat({
    "ModuleList(",
    "  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)",
    "  (3): ReLU()",
    ")"}, "\n")
  T.check(tostring(ml) == expected_ml, "ModuleList repr:\n" .. tostring(ml))
  T.check(tostring(nn.ModuleList()) == "ModuleList()", "empty ModuleList")
  local E = nn.Module:extend("Multi")
  function E:extra_repr() return "a=1\nb=2" end
  T.check(tostring(E()) == "Multi(\n  a=1\n  b=2\n)", "multi-line extra_repr")
  T.check(tostring(nn.CrossEntropyLoss()) == "CrossEntropyLoss()", "loss repr")
  T.check(tostring(nn.Linear(3, 1, {bias = false})) == "Linear(in_features=3, out_features=1, bias=False)", "no bias")
  T.check(tostring(nn.Conv2d(1, 1, 3, {padding = "same"})) ==
          "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=same)", "padding='same'")
end)

T.test("containers", function()
  local a, b, c = nn.ReLU(), nn.Identity(), nn.SiLU()
  local s = nn.Sequential(a, b)
  T.check(s[1] == a and s[2] == b and s[-1] == b and s[3] == nil and #s == 2, "1-based indexing")
  T.check(names_of(s:named_children()) == "0 1", "children named 0, 1")
  local seen = {}
  for i, m in ipairs(s) do seen[i] = m end
  T.check(#seen == 2 and seen[1] == a, "ipairs walks the children")
  s:insert(1, c)
  T.check(s[1] == c and s[2] == a and names_of(s:named_children()) == "0 1 2", "insert renumbers")
  T.check(s:pop(1) == c and s[1] == a and #s == 2, "pop")
  s:append(c)
  T.check(s[3] == c and names_of(s:named_children()) == "0 1 2", "append")
  s[2] = nn.GELU()
  T.check(s[2]:_get_name() == "GELU", "assignment by index")
  s[2] = nil
  T.check(#s == 2 and s[2] == c and names_of(s:named_children()) == "0 1", "removal by index renumbers")
  T.checkerr("index must be an integer", function() return s[1.5] end)
  T.checkerr("argument #2 must be a Module", function() nn.Sequential(nn.ReLU(), 3) end)
  T.checkerr("out of range", function() s:insert(9, nn.ReLU()) end)
  T.check(nn.Sequential({a, b})[2] == b, "Sequential from an array")
  local ml = nn.ModuleList()
  ml:append(nn.Linear(2, 3)):extend({nn.Linear(3, 4)})
  T.check(#ml == 2 and names_of(ml:named_parameters()) == "0.weight 0.bias 1.weight 1.bias", "ModuleList names")
  T.checkerr("ModuleList has no forward", function() ml(lt.ones(2)) end)
  local MySeq = nn.Sequential:extend("MySeq")
  T.check(tostring(MySeq(nn.ReLU())) == "MySeq(\n  (0): ReLU()\n)", "a container class can be subclassed")
  local x = lt.randn(2, 3)
  T.check(nn.Identity()(x) == x and nn.Sequential()(x) == x, "Identity and empty Sequential return the input")
end)

T.test("apply, zero_grad, requires_grad_", function()
  local m = Net(1)
  local n = 0
  m:apply(function(sub) if sub:_get_name() == "Conv2d" then n = n + 1; init.zeros_(sub.weight) end end)
  T.check(n == 1 and m.features[1].weight:abs():sum():item() == 0, "apply visits every module")
  local order = {}
  m:apply(function(sub) order[#order + 1] = sub:_get_name() end)
  T.check(table.concat(order, " ") == "Conv2d BatchNorm2d ReLU Sequential Linear Net", "apply: children first")
  m:requires_grad_(false)
  T.check(m.head.weight.requires_grad == false and m:num_parameters(true) == 0, "requires_grad_(false)")
  m:requires_grad_()
  T.check(m:num_parameters(true) == m:num_parameters(), "requires_grad_()")
  m:zero_grad()
  T.check(m.head.weight.grad == nil, "zero_grad sets grads to nil")
end)

T.test("to", function()
  local m = Net(1)
  local nbt = m.features[2].num_batches_tracked
  T.check(m:to("float64") == m, "to returns the module")
  T.check(m.head.weight:dtype() == "float64" and m.features[2].running_var:dtype() == "float64", "floats converted")
  T.check(m.head.weight.requires_grad == true, "requires_grad kept")
  T.check(m.features[2].num_batches_tracked == nbt and nbt:dtype() == "int64", "integer buffers untouched")
  local p = m.head.weight
  m:to("cpu")
  T.check(m.head.weight == p, "a no-op move keeps the same tensors")
  m:double()
  T.check(m.head.weight == p, "double() on float64 is a no-op")
  m:to{dtype = "float32"}
  T.check(m.head.weight:dtype() == "float32", "options table")
  T.checkerr("to: unknown option 'dev'", function() m:to{dev = "cpu"} end)
  T.checkerr("to:", function() m:to("tpu") end)
end)

T.test("errors in forward name the module path", function()
  local Bad = nn.Module:extend("Bad")
  function Bad:forward() error("boom", 0) end
  local Outer = nn.Module:extend("Outer")
  function Outer:__init()
    self.block = nn.Sequential(nn.Identity(), Bad())
  end
  function Outer:forward(x) return self.block(x) end
  local ok, err = pcall(Outer(), lt.ones(1))
  T.check(not ok and err == "block.1 (Bad): boom", "path of the failing module: " .. tostring(err))
  ok, err = pcall(Bad(), lt.ones(1))
  T.check(not ok and err == "Bad: boom", "a root module names its class: " .. tostring(err))
  -- after an error, the next error is reported afresh
  local Bad2 = nn.Module:extend("Bad2")
  function Bad2:forward() error("bang", 0) end
  ok, err = pcall(nn.Sequential(Bad2()), lt.ones(1))
  T.check(err == "0 (Bad2): bang", "fresh error: " .. tostring(err))
  -- an error a forward catches itself does not stick to the next one
  local Catch = nn.Module:extend("Catch")
  function Catch:__init() self.bad = Bad(); self.bad2 = Bad2() end
  function Catch:forward(x) pcall(self.bad, x); return self.bad2(x) end
  ok, err = pcall(Catch(), lt.ones(1))
  T.check(err == "bad2 (Bad2): bang", "caught inner error forgotten: " .. tostring(err))
  -- non-string errors pass through untouched
  local Tab = nn.Module:extend("Tab")
  local e = {}
  function Tab:forward() error(e) end
  ok, err = pcall(nn.Sequential(Tab()), 1)
  T.check(err == e, "table errors pass through")
end)

T.test("layer argument checks", function()
  T.checkerr("nn.Conv2d: unknown option 'strid' (allowed: bias, device, dilation, dtype, groups, padding, padding_mode, stride)",
             function() nn.Conv2d(3, 8, 3, {strid = 2}) end)
  T.checkerr("nn.Conv2d: in_channels must be a positive integer, got 0", function() nn.Conv2d(0, 8, 3) end)
  T.checkerr("nn.Conv2d: in_channels (3) must be divisible by groups (2)", function() nn.Conv2d(3, 8, 3, {groups = 2}) end)
  T.checkerr("nn.Conv2d: kernel_size must be an integer or a pair", function() nn.Conv2d(3, 8, {1, 2, 3}) end)
  T.checkerr("nn.Conv2d: kernel_size is required", function() nn.Conv2d(3, 8) end)
  T.checkerr("padding_mode 'reflect' is not supported", function() nn.Conv2d(3, 8, 3, {padding_mode = "reflect"}) end)
  T.checkerr("nn.BatchNorm2d: momentum must be a number in [0, 1]", function() nn.BatchNorm2d(3, {momentum = 2}) end)
  T.checkerr("nn.Linear: bias must be a boolean", function() nn.Linear(3, 3, {bias = 1}) end)
  T.checkerr("nn.Dropout: p must be a number in [0, 1]", function() nn.Dropout(1.5) end)
  T.checkerr("nn.MaxPool2d: padding 2 should be at most half of kernel_size 3", function() nn.MaxPool2d(3, {padding = 2}) end)
  T.checkerr("nn.CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none'", function() nn.CrossEntropyLoss{reduction = "avg"} end)
  T.checkerr("nn.GELU: approximate must be 'none' or 'tanh'", function() nn.GELU{approximate = "fast"} end)
  -- errors point at the caller's line, not into the library
  local ok, err = pcall(function() nn.Conv2d(3, 8, 3, {strid = 2}) end)
  T.check(not ok and tostring(err):find("test_nn_module.lua", 1, true) ~= nil, "error position is the caller: " .. tostring(err))
end)

T.test("default initialisation as PyTorch", function()
  lt.manual_seed(0)
  local conv = nn.Conv2d(16, 32, 3)
  local bound = 1 / math.sqrt(16 * 9)
  T.check(conv.weight:abs():max():item() <= bound and conv.weight:abs():max():item() > 0.95 * bound,
          "conv weight in U(-1/sqrt(fan_in), 1/sqrt(fan_in))")
  T.check(conv.bias:abs():max():item() <= bound and conv.bias:abs():max():item() > 0.5 * bound, "conv bias bound")
  T.check(conv.weight:shape()[2] == 16 and #conv.weight:shape() == 4, "weight [out, in/groups, kh, kw]")
  T.check(nn.Conv2d(8, 16, 3, {groups = 4}).weight:size(2) == 2, "grouped weight shape")
  local lin = nn.Linear(100, 50)
  T.check(lin.weight:abs():max():item() <= 0.1 and lin.weight:abs():max():item() > 0.095, "linear weight bound")
  T.close(lin.weight:std():item(), 0.1 / math.sqrt(3), 0.05, "linear weight std")
  local bn = nn.BatchNorm2d(5)
  T.check(bn.weight:eq(1):all():item() and bn.bias:eq(0):all():item(), "BN weight 1, bias 0")
  T.check(bn.running_mean:eq(0):all():item() and bn.running_var:eq(1):all():item(), "BN running stats 0/1")
  T.check(bn.num_batches_tracked:item() == 0, "num_batches_tracked 0")
  local bn2 = nn.BatchNorm2d(5, {affine = false, track_running_stats = false})
  T.check(#bn2:parameters() == 0 and #bn2:buffers() == 0, "BN without affine or running stats")
  T.check(nn.Linear(3, 3, {dtype = "float64"}).weight:dtype() == "float64", "dtype option")
end)

T.test("nn.init", function()
  lt.manual_seed(42)
  local w = lt.empty(256, 128, 3, 3)
  local fan_in, fan_out = 128 * 9, 256 * 9
  local function stats(t) return t:mean():item(), t:std():item(), t:min():item(), t:max():item() end
  local _

  init.kaiming_uniform_(w, {a = math.sqrt(5)})
  local mean, std, lo, hi = stats(w)
  local bound = 1 / math.sqrt(fan_in)
  T.check(lo >= -bound and hi <= bound and hi > 0.999 * bound and lo < -0.999 * bound, "kaiming_uniform_ bounds")
  T.close(std, bound / math.sqrt(3), 0.01, "kaiming_uniform_ std")
  T.check(math.abs(mean) < 0.01 * bound, "kaiming_uniform_ mean ~ 0")

  init.kaiming_uniform_(w) -- a=0, leaky_relu: bound sqrt(6/fan_in)
  _, _, lo, hi = stats(w)
  T.check(hi <= math.sqrt(6 / fan_in) and hi > 0.999 * math.sqrt(6 / fan_in), "kaiming_uniform_ a=0 bound")
  init.kaiming_uniform_(w, 0, "fan_out", "relu") -- positional form
  _, _, _, hi = stats(w)
  T.check(hi <= math.sqrt(6 / fan_out) and hi > 0.999 * math.sqrt(6 / fan_out), "positional mode/nonlinearity")

  init.kaiming_normal_(w, {mode = "fan_out", nonlinearity = "relu"})
  mean, std = stats(w)
  T.close(std, math.sqrt(2 / fan_out), 0.01, "kaiming_normal_ std (fan_out, relu)")
  T.check(math.abs(mean) < 0.01 * std, "kaiming_normal_ mean")

  init.xavier_uniform_(w, 2)
  _, std, lo, hi = stats(w)
  local a = 2 * math.sqrt(6 / (fan_in + fan_out))
  T.check(hi <= a and lo >= -a and hi > 0.999 * a, "xavier_uniform_ bounds with gain 2")
  init.xavier_normal_(w)
  _, std = stats(w)
  T.close(std, math.sqrt(2 / (fan_in + fan_out)), 0.01, "xavier_normal_ std")

  init.normal_(w, 3, 0.5)
  mean, std = stats(w)
  T.close(mean, 3, 0.002, "normal_ mean")
  T.close(std, 0.5, 0.01, "normal_ std")
  init.uniform_(w, -1, 3)
  mean, _, lo, hi = stats(w)
  T.check(lo >= -1 and hi <= 3 and lo < -0.99 and hi > 2.99, "uniform_ bounds")
  T.close(mean, 1, 0.005, "uniform_ mean")
  init.trunc_normal_(w, {std = 1, a = -0.5, b = 1})
  _, _, lo, hi = stats(w)
  T.check(lo >= -0.5 and hi <= 1 and lo < -0.49 and hi > 0.99, "trunc_normal_ within [a, b]")
  init.constant_(w, 0.25)
  T.check(w:eq(0.25):all():item(), "constant_")
  init.zeros_(w)
  T.check(w:eq(0):all():item(), "zeros_")
  init.ones_(w)
  T.check(w:eq(1):all():item(), "ones_")
  local w64 = init.normal_(lt.empty({1000}, {dtype = "float64"}))
  T.check(w64:dtype() == "float64", "keeps the dtype")

  T.close(init.calculate_gain("relu"), math.sqrt(2), 1e-12, "gain relu")
  T.close(init.calculate_gain("tanh"), 5 / 3, 1e-12, "gain tanh")
  T.close(init.calculate_gain("leaky_relu"), math.sqrt(2 / (1 + 0.01 ^ 2)), 1e-12, "gain leaky_relu")
  T.close(init.calculate_gain("leaky_relu", math.sqrt(5)), math.sqrt(1 / 3), 1e-12, "gain leaky_relu sqrt5")
  T.close(init.calculate_gain("conv2d"), 1, 0, "gain conv2d")
  T.close(init.calculate_gain("selu"), 0.75, 0, "gain selu")
  T.checkerr("unsupported nonlinearity swish", init.calculate_gain, "swish")
  T.checkerr("fewer than 2 dimensions", init.kaiming_uniform_, lt.empty(5))
  T.checkerr("mode fan_avg not supported", init.kaiming_normal_, w, {mode = "fan_avg"})
  T.checkerr("kaiming_normal_: unknown option 'mod'", init.kaiming_normal_, w, {mod = "fan_in"})
  T.checkerr("expected a floating-point tensor", init.uniform_, lt.zeros(3, {dtype = "int64"}))
  T.checkerr("uniform_: expected a <= b", init.uniform_, w, 2, 1)
end)

T.test("layer forwards", function()
  local F = nn.functional
  lt.manual_seed(5)
  local x = lt.randn(2, 3, 9, 9)
  local conv = nn.Conv2d(3, 6, 3, {stride = 2, padding = 1})
  local y = conv(x)
  T.check(table.concat(y:shape(), ",") == "2,6,5,5", "conv output shape")
  T.check(maxdiff(y, F.conv2d(x, conv.weight, conv.bias, {stride = 2, padding = 1})) == 0, "Conv2d = F.conv2d")
  local same = nn.Conv2d(3, 2, 3, {padding = "same", bias = false})
  T.check(table.concat(same(x):shape(), ",") == "2,2,9,9", "padding='same'")

  -- BatchNorm2d: batch statistics in training, running statistics updated
  -- with momentum 0.1 and the unbiased variance; eval uses them
  local bn = nn.BatchNorm2d(3)
  local z = bn(x)
  local mean = x:mean(4):mean(3):mean(1):reshape(3)
  T.check(maxdiff(bn.running_mean, mean * 0.1) < 1e-6, "running_mean after one batch")
  local n = 2 * 9 * 9
  local var = ((x - mean:view(1, 3, 1, 1)) ^ 2):sum(4):sum(3):sum(1):reshape(3) / (n - 1)
  T.check(maxdiff(bn.running_var, var * 0.1 + 0.9) < 1e-5, "running_var uses the unbiased variance")
  T.check(bn.num_batches_tracked:item() == 1, "num_batches_tracked incremented")
  T.check(z:mean():abs():item() < 1e-5 and math.abs(z:std():item() - 1) < 0.01, "normalised in training")
  bn:eval()
  local ze = bn(x)
  local expect = (x - bn.running_mean:view(1, 3, 1, 1)) / (bn.running_var:view(1, 3, 1, 1) + 1e-5):sqrt()
  T.check(maxdiff(ze, expect) < 1e-5, "eval uses the running statistics")
  T.check(bn.num_batches_tracked:item() == 1, "eval does not count batches")
  local cum = nn.BatchNorm2d(3, {momentum = false})
  local x2 = lt.randn(4, 3, 5, 5)
  cum(x); cum(x2)
  local m2 = x2:mean(4):mean(3):mean(1):reshape(3)
  T.check(maxdiff(cum.running_mean, (mean + m2) / 2) < 1e-6, "momentum=false: cumulative average")
  local nostats = nn.BatchNorm2d(3, {track_running_stats = false}):eval()
  T.check(nostats(x):mean():abs():item() < 1e-5, "no running stats: batch statistics even in eval")
  T.checkerr("BatchNorm2d: expected a 4-D input [N,C,H,W], got [3,9,9]", bn, lt.randn(3, 9, 9))
  T.checkerr("BatchNorm2d: expected 3 channels, got input of shape [2,4,9,9]", bn, lt.randn(2, 4, 9, 9))

  local lin = nn.Linear(5, 4)
  local v = lt.randn(7, 5)
  T.check(maxdiff(lin(v), v:matmul(lin.weight:t()) + lin.bias) < 1e-6, "Linear")
  T.check(maxdiff(nn.ReLU()(v), v:relu()) == 0, "ReLU")
  local r = v:clone()
  nn.ReLU({inplace = true})(r)
  T.check(maxdiff(r, v:relu()) == 0, "ReLU in place")
  T.check(maxdiff(nn.LeakyReLU(0.2)(v), F.leaky_relu(v, 0.2)) == 0, "LeakyReLU")
  T.check(maxdiff(nn.SiLU()(v), v * v:sigmoid()) < 1e-6, "SiLU")
  T.check(maxdiff(nn.GELU()(v), F.gelu(v)) == 0 and maxdiff(nn.GELU{approximate = "tanh"}(v), F.gelu(v, "tanh")) == 0,
          "GELU")
  local drop = nn.Dropout(0.5)
  local big = lt.ones(10000)
  local d = drop(big)
  local zeros = d:eq(0):sum():item()
  T.check(zeros > 4500 and zeros < 5500 and d:max():item() == 2, "Dropout in training")
  drop:eval()
  T.check(maxdiff(drop(big), big) == 0, "Dropout is the identity in eval")
  T.check(table.concat(nn.Flatten()(x):shape(), ",") == "2,243", "Flatten keeps the batch dim")
  T.check(table.concat(nn.Flatten(1)(x):shape(), ",") == "486", "Flatten(1) flattens all")
  T.check(table.concat(nn.MaxPool2d(3, {stride = 2, padding = 1})(x):shape(), ",") == "2,3,5,5", "MaxPool2d")
  T.check(table.concat(nn.AvgPool2d(2)(x):shape(), ",") == "2,3,4,4", "AvgPool2d")
  T.check(maxdiff(nn.AdaptiveAvgPool2d(1)(x):reshape(2, 3), x:mean(4):mean(3)) < 1e-6, "AdaptiveAvgPool2d")

  local logits, target = lt.randn(6, 4), lt.tensor{1, 4, 2, 2, 3, 1}
  T.check(maxdiff(nn.CrossEntropyLoss()(logits, target), F.cross_entropy(logits, target)) == 0, "CrossEntropyLoss")
  local cw = lt.tensor{1.0, 2.0, 0.5, 1.0}
  local ce = nn.CrossEntropyLoss{weight = cw, label_smoothing = 0.1, reduction = "sum"}
  T.check(ce.weight == cw and #ce:buffers() == 1, "class weights are a buffer")
  T.check(maxdiff(ce(logits, target), F.cross_entropy(logits, target, {weight = cw, label_smoothing = 0.1,
                                                                          reduction = "sum"})) == 0, "CE options")
  T.check(maxdiff(nn.MSELoss()(v, lin.weight:sum() * v), F.mse_loss(v, lin.weight:sum() * v)) == 0, "MSELoss")
end)

T.test("backward through a model, and error paths", function()
  local m = Net(1)
  local x = lt.randn(4, 1, 6, 6)
  local loss = nn.CrossEntropyLoss()(m(x), lt.tensor{1, 2, 2, 1})
  loss:backward()
  for name, p in m:named_parameters() do T.check(p.grad ~= nil, "gradient for " .. name) end
  m:zero_grad()
  T.check(m.head.weight.grad == nil, "zero_grad clears")
  -- a wrong input names the failing layer's path and both shapes
  local ok, err = pcall(m, lt.randn(4, 3, 6, 6))
  err = tostring(err)
  T.check(not ok and err:find("^features%.0 %(Conv2d%): ") ~= nil, "conv path: " .. err)
  T.check(err:find("[4,3,6,6]", 1, true) and err:find("[4,1,3,3]", 1, true), "both shapes: " .. err)
  local seq = nn.Sequential(nn.Flatten(), nn.Linear(36, 8), nn.ReLU(), nn.Linear(9, 2))
  ok, err = pcall(seq, x)
  err = tostring(err)
  T.check(not ok and err:find("^3 %(Linear%): ") ~= nil and err:find("[4,8]", 1, true) and err:find("[2,9]", 1, true),
          "linear size mismatch: " .. err)
end)

os.exit(T.done())
