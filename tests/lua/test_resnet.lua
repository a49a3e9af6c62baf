-- Tests of lt.models.resnet: parameter counts of ResNet18/34/50 (CIFAR
-- variants, checked against the counts PyTorch gives for the same
-- architecture), the reference recipe's state_dict names and shapes against the golden
-- file's, forward output shapes, and the errors a wrong input produces.
local T = require "luatrain.testing"
local lt = require "luatrain"
local models = lt.models

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local GOLDEN = here .. "/../golden/resnet18_w16_golden.safetensors"

T.test("parameter counts", function()
  -- 3x3 stem (1,728 + BN 128), BasicBlocks 2-2-2-2 at 64/128/256/512, three
  -- projection shortcuts, Linear(512, 10): 11,173,962 as PyTorch's CIFAR ResNet18
  T.check(models.resnet18{num_classes = 10, width = 64}:num_parameters() == 11173962, "resnet18")
  T.check(models.resnet34{num_classes = 10}:num_parameters() == 21282122, "resnet34")
  local r50 = models.resnet50{num_classes = 10}
  T.check(r50:num_parameters() == 23520842, "resnet50")
  T.check(r50.classifer.in_features == 2048, "resnet50 classifier input is 8w*4")
  T.check(r50.layer1[1].shortcut[1] ~= nil, "resnet50: first bottleneck projects 64 -> 256")
  T.check(#r50.layer3 == 6 and r50.layer3[1].conv2.stride[1] == 2, "resnet50: stride on the 3x3 conv")
  T.check(models.resnet18{width = 16}:num_parameters() == 701466, "resnet18 width 16")
  local r = models.resnet18{num_classes = 100, in_channels = 1, width = 8}
  T.check(r.conv1[1].in_channels == 1 and r.classifer.out_features == 100, "options")
end)

T.test("state_dict names match the reference recipe's (golden file)", function()
  local g = lt.load(GOLDEN)
  local model = models.resnet18{num_classes = 10, width = 16}
  local sd, keys = model:state_dict()
  local golden_keys = 0
  for k, v in pairs(g) do
    if k ~= "input" and k ~= "target" and not k:match("^step1%.") then
      golden_keys = golden_keys + 1
      local mine = sd[k]
      T.check(mine ~= nil, "model has golden key " .. k)
      if mine then
        T.check(table.concat(mine:shape(), ",") == table.concat(v:shape(), ","), "shape of " .. k)
      end
    end
  end
  -- the model has exactly those keys plus BN's num_batches_tracked (which the
  -- golden file leaves out; PyTorch's state_dict has it)
  local extra = 0
  for _, k in ipairs(keys) do
    if g[k] == nil then
      T.check(k:match("%.num_batches_tracked$") ~= nil, "unexpected model key " .. k)
      extra = extra + 1
    end
  end
  T.check(golden_keys == 102 and #keys == 102 + extra and extra == 20, "key counts: " .. golden_keys .. ", " .. #keys)
  T.check(keys[1] == "conv1.0.weight" and keys[#keys] == "classifer.bias", "order: " .. keys[1] .. " .. " .. keys[#keys])
  -- the golden weights load strictly (num_batches_tracked may be absent)
  local weights = {}
  for k, v in pairs(g) do if sd[k] then weights[k] = v end end
  local r = model:load_state_dict(weights)
  T.check(#r.missing_keys == 0 and #r.unexpected_keys == 0, "strict load of the golden weights")
  T.check((model.layer2[1].shortcut[2].running_var - g["layer2.0.shortcut.1.running_var"]):abs():max():item() == 0,
          "values loaded")
end)

T.test("structure", function()
  local m = models.resnet18{width = 16}
  T.check(m.layer1[1].shortcut:_get_name() == "Sequential" and #m.layer1[1].shortcut == 0, "identity shortcut: empty")
  T.check(#m.layer2[1].shortcut == 2 and m.layer2[1].shortcut[1].stride[1] == 2, "projection shortcut, stride 2")
  T.check(m.layer4[2].conv1.in_channels == 128, "layer4 width 8w")
  local s = tostring(m)
  T.check(s:find("(classifer): Linear(in_features=128, out_features=10, bias=True)", 1, true) ~= nil, "classifer printed")
  T.check(s:find("  (conv1): Sequential(\n    (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), " ..
                 "bias=False)", 1, true) == 9, "stem printed first")
  T.checkerr("ResNet: unknown option 'classes'", function() models.resnet18{classes = 10} end)
  T.checkerr("ResNet: width must be a positive integer, got 0", function() models.resnet18{width = 0} end)
end)

T.test("forward", function()
  lt.manual_seed(0)
  local m = models.resnet18{num_classes = 10, width = 8}
  local y = m(lt.randn(2, 3, 32, 32))
  T.check(table.concat(y:shape(), ",") == "2,10", "logits [2,10]")
  local m1 = models.resnet18{num_classes = 7, width = 8, in_channels = 1}
  T.check(table.concat(m1(lt.randn(3, 1, 16, 16)):shape(), ",") == "3,7", "1 channel, 16x16")
  m1:eval()
  T.check(table.concat(m1(lt.randn(1, 1, 8, 8)):shape(), ",") == "1,7", "eval, batch 1")
  -- a wrong input names the module path and both shapes
  local ok, err = pcall(m1, lt.randn(2, 3, 16, 16))
  err = tostring(err)
  T.check(not ok and err:find("^conv1%.0 %(Conv2d%): ") ~= nil, "path of the failing layer: " .. err)
  T.check(err:find("[2,3,16,16]", 1, true) ~= nil and err:find("[8,1,3,3]", 1, true) ~= nil,
          "both shapes in the message: " .. err)
  -- an unbatched [C,H,W] input passes Conv2d (as in PyTorch) and stops at BatchNorm2d, which wants 4-D
  ok, err = pcall(m, lt.randn(3, 32, 32))
  T.check(not ok and tostring(err):find("^conv1%.1 %(BatchNorm2d%): ") ~= nil, "3-D input: " .. tostring(err))
end)

os.exit(T.done())
