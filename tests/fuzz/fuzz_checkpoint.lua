-- fuzz_checkpoint.lua — the harness of fuzz_checkpoint (see fuzz_lua.c): the
-- input is the luatrain metadata of a checkpoint of a small model (a Linear
-- 3 -> 2 with SGD momentum, a StepLR, a meter, the RNG, the epoch and step),
-- beside its tensors. Invariants: read_checkpoint and check_checkpoint
-- either refuse it with one message that begins with the checkpoint's name,
-- or it passes, and then restore_checkpoint fills every object and a
-- training step, a scheduler step and a meter update run without error.
local lt = require "luatrain"
local train, nn = lt.train, lt.nn

local function objects()
  local model = nn.Linear(3, 2)
  local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
  local sched = lt.optim.lr_scheduler.StepLR(opt, {step_size = 2})
  local meter = train.AverageMeter("loss")
  return {model = model, optimizer = opt, states = {scheduler = sched, ["meters.loss"] = meter}, rng = true,
          values = {epoch = "count", step = "count", best_acc = "number"}}
end

return function(path)
  local function named(err)
    if tostring(err):sub(1, #path + 2) ~= path .. ": " then
      fuzz_fail("a refusal that does not begin with the checkpoint's name: " .. tostring(err))
    end
  end
  local ok, ck = pcall(train.read_checkpoint, path)
  if not ok then return named(ck) end
  local parts = objects()
  local passed, err = pcall(train.check_checkpoint, path, ck, parts)
  if not passed then return named(err) end
  local rng = lt.get_rng_state()
  local fine, why = pcall(function()
    train.restore_checkpoint(ck, parts)
    local loss = parts.model(lt.randn(4, 3)):pow(2):mean()
    parts.optimizer:zero_grad()
    loss:backward()
    parts.optimizer:step()
    parts.states.scheduler:step()
    parts.states["meters.loss"]:update(loss:item(), 4)
  end)
  lt.set_rng_state(rng)
  if not fine then fuzz_fail("a checkpoint that passed the check does not restore and train: " .. tostring(why)) end
end
