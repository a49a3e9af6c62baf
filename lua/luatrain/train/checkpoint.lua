-- luatrain.train.checkpoint — resuming from a checkpoint that may be
-- damaged, truncated or foreign: everything is checked against the objects
-- it is about to fill before anything is filled or written, and every
-- problem is one message "<checkpoint>: <part>: <what is wrong>". Part of
-- lt.train (lt.train.read_checkpoint, check_checkpoint, restore_checkpoint).
--
--   local ck = train.read_checkpoint(path)            -- lt.load; the metadata must be a table
--   local parts = {
--     model = model,                                  -- ck.model: names, tensors, shapes
--     optimizer = optimizer,                          -- ck.optimizer: as load_state_dict checks it
--     states = {scheduler = sched, ["meters.loss"] = meter},  -- ck[k]: obj:state_dict()'s layout
--     rng = true,                                     -- ck.rng: lt.get_rng_state()'s layout
--     values = {epoch = "count", step = "count", best_acc = "number", config = "table"},
--   }
--   train.check_checkpoint(path, ck, parts)           -- raises "<path>: ..." on the first problem
--   train.restore_checkpoint(ck, parts)               -- fills them; cannot fail after the check
--
-- Keys may be dotted paths into nested tables ("meters.loss"). Value kinds:
-- "count" (an integer >= 0), "integer", "number", "boolean", "string",
-- "table"; a kind ending in "?" may be missing. `explain(key, saved_shape,
-- model_shape)` may turn a model shape mismatch into a message in the
-- script's own terms ("model width 8 does not match --width 4").
--
-- The optimizer is checked by running its own load_state_dict on a stand-in
-- that reads the optimizer's fields and keeps what it would assign, so the
-- rule lives in one place (lt.optim checks everything before it assigns).
-- Schedulers and other objects with state_dict/load_state_dict are compared
-- with their current state_dict(): the same keys, values of the same types,
-- nested tables alike (a scheduler's load_state_dict checks only the keys);
-- then a scheduler's state takes one step() on a stand-in that holds a copy
-- of it and of its optimizer's parameter groups, since a value of the right
-- type can still stop the schedule (a step_size of 0). The RNG state is
-- tried with lt.set_rng_state, and the generator put back.
local lt = require "luatrain.core"

local M = {}

local function is_tensor(v) return lt.is_tensor(v) end

local function typename(v)
  if is_tensor(v) then return "tensor" end
  if math.type(v) == "float" then return "number (" .. tostring(v) .. ")" end
  if type(v) == "string" then return string.format("string (%q)", #v > 40 and v:sub(1, 40) .. "..." or v) end
  return type(v)
end

local function shape_str(t) return "[" .. table.concat(t:shape(), ",") .. "]" end

-- The value at a dotted path, or nil (and the first missing part).
local function get(ck, key)
  local v = ck
  for part in key:gmatch("[^.]+") do
    if type(v) ~= "table" or is_tensor(v) then return nil end
    v = v[part]
  end
  return v
end

local kinds = {
  count = {"an integer >= 0", function(v) return math.type(v) == "integer" and v >= 0 end},
  integer = {"an integer", function(v) return math.type(v) == "integer" end},
  number = {"a number", function(v) return type(v) == "number" end},
  boolean = {"a boolean", function(v) return type(v) == "boolean" end},
  string = {"a string", function(v) return type(v) == "string" end},
  table = {"a table", function(v) return type(v) == "table" and not is_tensor(v) end},
}

local function check_values(ck, values)
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = k end
  table.sort(keys) -- "config" before "config.options"
  for _, key in ipairs(keys) do
    local kind = values[key]
    local optional = kind:sub(-1) == "?"
    if optional then kind = kind:sub(1, -2) end
    local want = kinds[kind]
    if not want then error(string.format("bad argument #3 to 'check_checkpoint' (unknown kind '%s' for '%s')", kind, key), 3) end
    local v = get(ck, key)
    if v == nil then
      if not optional then return string.format("'%s' missing", key) end
    elseif not want[2](v) then
      return string.format("'%s' is a %s, expected %s", key, typename(v), want[1])
    end
  end
end

-- Whether the saved model state fits `model`: the same names, tensors of
-- the same shapes (dtypes are converted on loading).
local function check_model(saved, model, explain)
  if type(saved) ~= "table" or is_tensor(saved) then
    return string.format("model state is a %s, expected a table of tensors", typename(saved))
  end
  local own, keys = model:state_dict()
  local missing = {}
  for _, key in ipairs(keys) do
    local t, mine = saved[key], own[key]
    if t == nil then
      local prefix, name = key:match("^(.*)%.([^.]+)$")
      local owner = prefix and model:get_submodule(prefix) or model
      if not owner:_optional_state(name or key) then missing[#missing + 1] = key end
    elseif not is_tensor(t) then
      return string.format("model: '%s' is a %s, expected a tensor", key, typename(t))
    elseif shape_str(t) ~= shape_str(mine) then
      local why = explain and explain(key, t:shape(), mine:shape())
      return why or string.format("model: '%s' has shape %s in the checkpoint, %s in the model", key, shape_str(t),
                                  shape_str(mine))
    end
  end
  if #missing > 0 then
    return string.format("model state lacks '%s'%s (a checkpoint of another model?)", missing[1],
                         #missing > 1 and string.format(" and %d more", #missing - 1) or "")
  end
  local extra = {}
  for k in pairs(saved) do
    if own[k] == nil then extra[#extra + 1] = tostring(k) end
  end
  table.sort(extra)
  if #extra > 0 then
    return string.format("model state has '%s'%s, which this model does not (a checkpoint of another model?)", extra[1],
                         #extra > 1 and string.format(" and %d more entries", #extra - 1) or "")
  end
end

-- "bad argument #1 to 'load_state_dict' (why)" from lt.optim -> "why"
local function reason(err)
  err = tostring(err):gsub("^[^\n]-:%d+: ", "")
  return err:match("^bad argument #%d+ to '[^']+' %((.*)%)$") or err
end

local function check_optimizer(saved, optimizer)
  if type(saved) ~= "table" or is_tensor(saved) then
    return string.format("optimizer state is a %s, expected a table", typename(saved))
  end
  local standin = setmetatable({}, {__index = optimizer})
  local ok, err = pcall(optimizer.load_state_dict, standin, saved)
  if not ok then return "optimizer state does not fit this " .. tostring(optimizer.__name) .. ": " .. reason(err) end
  -- load_state_dict copies values it does not know as they are; the state
  -- its step() reads as tensors must be tensors
  if not optimizer.state_keys then return nil end
  for gi, g in ipairs(standin.param_groups) do
    for j, p in ipairs(g.params) do
      local st = standin.state[p]
      if st and next(st) ~= nil then
        for _, k in ipairs(optimizer:state_keys(g)) do
          if not optimizer.scalar_state[k] and not is_tensor(st[k]) then
            return string.format("optimizer state '%s' of parameter %d of group %d is a %s, expected a tensor", k, j, gi,
                                 typename(st[k]))
          end
        end
      end
    end
  end
end

-- Where `saved` differs from `own` (a state_dict) in layout, or nil.
local function layout_diff(saved, own, where)
  if is_tensor(own) then
    if not is_tensor(saved) then return string.format("%s is a %s, expected a tensor", where, typename(saved)) end
    if shape_str(saved) ~= shape_str(own) then
      return string.format("%s has shape %s, expected %s", where, shape_str(saved), shape_str(own))
    end
    return nil
  end
  if type(own) ~= "table" then
    if type(saved) ~= type(own) then return string.format("%s is a %s, expected a %s", where, typename(saved), type(own)) end
    return nil
  end
  if type(saved) ~= "table" or is_tensor(saved) then
    return string.format("%s is a %s, expected a table", where, typename(saved))
  end
  local keys = {}
  for k in pairs(own) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local at = where .. "." .. tostring(k)
    if saved[k] == nil then return at .. " missing" end
    local d = layout_diff(saved[k], own[k], at)
    if d then return d end
  end
  for k in pairs(saved) do
    if own[k] == nil then return string.format("%s has an unexpected entry '%s'", where, tostring(k)) end
  end
end

local function copy(v)
  if type(v) ~= "table" or is_tensor(v) then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

-- One step() of a scheduler with state `saved`, on a stand-in (see the
-- header); nil, or why it failed.
local function try_scheduler(saved, sched)
  local groups = {}
  for i, g in ipairs(sched.optimizer.param_groups) do
    groups[i] = {}
    for k, v in pairs(g) do groups[i][k] = v end
  end
  local probe = setmetatable({}, {__index = sched})
  for k, v in pairs(saved) do probe[k] = copy(v) end
  probe.optimizer = setmetatable({param_groups = groups}, {__index = sched.optimizer})
  local ok, err = pcall(probe.step, probe)
  if not ok then return "a step fails: " .. reason(err) end
end

--- read_checkpoint(path) -> the table lt.load gives (on the CPU), or an
--- error "<path>: <problem>".
function M.read_checkpoint(path)
  if type(path) ~= "string" then error("bad argument #1 to 'read_checkpoint' (expected a file name)", 2) end
  local ok, ck = pcall(lt.load, path, {map_location = "cpu"})
  if not ok then error(string.format("%s: cannot read it: %s", path, tostring(ck):gsub("^load: ", "")), 0) end
  if type(ck) ~= "table" then
    error(string.format("%s: its luatrain metadata is a %s, not a table (not a training checkpoint)", path, typename(ck)), 0)
  end
  return ck
end

--- check_checkpoint(path, ck, parts): see the header. Raises the first
--- problem as "<path>: <problem>"; returns ck.
function M.check_checkpoint(path, ck, parts)
  if type(parts) ~= "table" then error("bad argument #3 to 'check_checkpoint' (expected a table of parts)", 2) end
  local function fail(msg) error(string.format("%s: %s", path, msg), 0) end
  if type(ck) ~= "table" then fail("the checkpoint is a " .. typename(ck) .. ", not a table") end
  local problem = parts.values and check_values(ck, parts.values)
  if problem then fail(problem) end
  if parts.model then
    if ck.model == nil then fail("model state missing") end
    problem = check_model(ck.model, parts.model, parts.explain)
    if problem then fail(problem) end
  end
  if parts.optimizer then
    if ck.optimizer == nil then fail("optimizer state missing") end
    problem = check_optimizer(ck.optimizer, parts.optimizer)
    if problem then fail(problem) end
  end
  local names = {}
  for k in pairs(parts.states or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local saved = get(ck, k)
    if saved == nil then fail(k .. " state missing") end
    local obj = parts.states[k]
    problem = layout_diff(saved, obj:state_dict(), k)
    if not problem and obj.optimizer and obj.step then problem = try_scheduler(saved, obj) end
    if problem then fail(k .. " state does not fit: " .. problem) end
  end
  if parts.rng then
    if ck.rng == nil then fail("RNG state missing") end
    local now = lt.get_rng_state()
    problem = layout_diff(ck.rng, now, "rng")
    if not problem then
      local ok, err = pcall(lt.set_rng_state, ck.rng)
      lt.set_rng_state(now)
      if not ok then problem = reason(err) end
    end
    if problem then fail("RNG state does not fit: " .. problem) end
  end
  return ck
end

--- restore_checkpoint(ck, parts): loads the checked parts into their
--- objects (the model, the optimizer, every state, the RNG).
function M.restore_checkpoint(ck, parts)
  if parts.model then parts.model:load_state_dict(ck.model) end
  if parts.optimizer then parts.optimizer:load_state_dict(ck.optimizer) end
  for k, obj in pairs(parts.states or {}) do obj:load_state_dict(get(ck, k)) end
  if parts.rng then lt.set_rng_state(ck.rng) end
end

return M
