-- test_scripts.lua — the smaller scripts run for a few steps each, in child
-- processes of the luatrain binary ($LUATRAIN_BIN, or the one running this
-- file): scripts/fashion_mnist.lua and every scripts/examples/*.lua.
-- The main script has its own test (test_e2e_script.lua).
local T = require "luatrain.testing"

local shq = T.shell_quote
local bin, root = T.luatrain_paths()
local env = T.child_env()

-- runs a script from the repository root; returns its output and exit status
local function run(script, args)
  local p = io.popen(string.format("cd %s && %s%s %s %s 2>&1; echo \"<rc=$?>\"", shq(root), env, shq(bin),
                                   shq(script), args or ""))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("<rc=(%d+)>%s*$"))
  return out:gsub("<rc=%d+>%s*$", ""), rc
end

local has_fashion = io.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "rb")
if has_fashion then has_fashion:close() end

T.test("fashion_mnist.lua, one short epoch", function()
  local out, rc = run("scripts/fashion_mnist.lua", "--epoch 1")
  T.check(rc == 2 and out:find("fashion_mnist: unknown option '--epoch'; valid options: --epochs", 1, true),
          "unknown option:\n" .. out)
  if not has_fashion then print("skipped: dataset-fashion-mnist is not installed") return end
  out, rc = run("scripts/fashion_mnist.lua", "--limit 512 --limit-test 500 --epochs 1 --quiet")
  T.check(rc == 0, "exit status 0, got " .. tostring(rc) .. ":\n" .. out)
  T.check(out:find("421834 parameters; 512 training images", 1, true), "model and data:\n" .. out)
  local loss, top1, acc = out:match("epoch 1: train loss ([%d.]+), train top%-1 ([%d.]+)%%, test accuracy ([%d.]+)%%")
  T.check(loss and tonumber(loss) < 2.3 and tonumber(acc) > 30, "it learns (loss below ln 10, test accuracy above 30%): "
          .. tostring(loss) .. " " .. tostring(acc))
  T.check(top1 and tonumber(top1) > 10, "train top-1 above chance")
end)

T.test("examples/custom_activation.lua", function()
  local out, rc = run("scripts/examples/custom_activation.lua", "60")
  T.check(rc == 0, "exit status 0:\n" .. out)
  T.check(out:find("gradcheck: squareplus backward matches finite differences", 1, true), "gradcheck passes")
  local first, last = out:match("loss fell from ([%d.]+) to ([%d.]+)")
  T.check(first and tonumber(last) < tonumber(first), "the loss falls")
end)

T.test("examples/custom_augmentation.lua", function()
  local out, rc = run("scripts/examples/custom_augmentation.lua", "1 512")
  T.check(rc == 0, "exit status 0:\n" .. out)
  T.check(out:find("same augmented batch with 0 and 2 workers: true", 1, true), "reproducible augmentation")
  local acc = out:match("epoch 1  train loss [%d.]+  test accuracy ([%d.]+)%%")
  T.check(acc and tonumber(acc) > 15, "trains: test accuracy " .. tostring(acc))
end)

T.test("examples/lua_optimizer.lua", function()
  local out, rc = run("scripts/examples/lua_optimizer.lua")
  T.check(rc == 0, "exit status 0:\n" .. out)
  T.check(out:find("resumed with momentum of shape [8,1]", 1, true), "Lion converges and its state reloads")
end)

T.test("examples/warmup_scheduler.lua", function()
  local out, rc = run("scripts/examples/warmup_scheduler.lua")
  T.check(rc == 0, "exit status 0:\n" .. out)
  for i = 0, 5 do
    local lr = tonumber(out:match("iteration " .. i .. ": lr ([%d.e%-]+)"))
    T.check(lr and math.abs(lr - 0.1 * i / 5) < 1e-6, string.format("iteration %d: lr %s, expected %g", i, tostring(lr), 0.1 * i / 5))
  end
end)

T.test("every example has a test here", function()
  local tested = {["custom_activation.lua"] = true, ["custom_augmentation.lua"] = true, ["lua_optimizer.lua"] = true,
                  ["warmup_scheduler.lua"] = true}
  local p = io.popen("ls " .. shq(root .. "/scripts/examples"))
  local n = 0
  for name in p:lines() do
    if name:find("%.lua$") then
      n = n + 1
      T.check(tested[name], "scripts/examples/" .. name .. " has no test in tests/lua/test_scripts.lua")
    end
  end
  p:close()
  T.check(n >= 4, "the examples are there")
end)

os.exit(T.done())
