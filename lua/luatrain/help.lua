-- luatrain.help — `lt.help()` in the REPL: where things are, in one screen.
-- `lt.help(x)` lists the functions of a module table (lt.nn, lt.optim, ...)
-- or the methods of a tensor. It only reads tables; it runs nothing.
local core = require "luatrain.core"
local M = {}

local overview = [[
luatrain — tensors, autograd, nn, optim and data in Lua (PyTorch's names, 1-based indices)
  lt.tensor{{1,2},{3,4}}  lt.zeros(2,3)  lt.randn{8,3,32,32}  lt.arange(1,7)   create
  x:view(2,-1) x:narrow(1,1,2) x[1] x:sum(2) x:max(2) lt.matmul(a,b)           compute
  x.requires_grad = true; loss:backward(); x.grad; lt.no_grad(fn)             autograd
  lt.nn (Module, Conv2d, ...), lt.nn.functional, lt.models.resnet18{...}      models
  lt.optim.SGD(params, {lr=0.1}), lt.optim.lr_scheduler.MultiStepLR(...)      optimise
  lt.data.FashionMNIST{train=true}, lt.data.DataLoader(ds, {...}), lt.transforms
  lt.save(path, tbl), lt.load(path), lt.train (meters, accuracy, progress)
  x:cuda() model:to("cuda") lt.cuda.synchronize() lt.cuda.graph(step, inputs)  GPU
  lt.autocast("bf16", fn) model:autocast("bf16") x:to{memory_format="channels_last"}
  lt.help(lt.nn) lists a module's contents; lt.help(x) a tensor's methods.
  Scripts: scripts/cifar_resnet18.lua (--help), scripts/examples/. Docs: README.md.]]

local function names(t)
  local out = {}
  for k in pairs(t) do
    if type(k) == "string" and not k:match("^_") then out[#out + 1] = k end
  end
  table.sort(out)
  return out
end

-- Prints the overview, or the sorted public names of a table or a tensor.
function M.help(x)
  if x == nil then
    print(overview)
    return
  end
  local t = x
  if core.is_tensor(x) then t = getmetatable(x).__methods end
  if type(t) ~= "table" then
    error("bad argument #1 to 'help' (expected a module table or a tensor, got " .. type(x) .. ")", 2)
  end
  local list = names(t)
  if #list == 0 then print("(no public names)") return end
  local width, line, lines = 0, {}, {}
  for _, n in ipairs(list) do width = math.max(width, #n) end
  local per = math.max(1, 80 // (width + 2))
  for i, n in ipairs(list) do
    line[#line + 1] = string.format("%-" .. width .. "s", n)
    if #line == per or i == #list then
      lines[#lines + 1] = table.concat(line, "  "):gsub("%s+$", "")
      line = {}
    end
  end
  print(table.concat(lines, "\n"))
end

return M
