-- fuzz_metadata.lua — the harness of fuzz_metadata (see fuzz_lua.c): the
-- input is a checkpoint's luatrain metadata (tagged JSON, lt_lua_io.c)
-- beside a few tensors. Invariants: lt.load either refuses the file with a
-- message naming it, or gives a value that lt.save writes and lt.load reads
-- back unchanged (tensors, integers, floats including NaN and infinities,
-- strings, booleans, nesting), except for the few tables lt.save refuses by
-- design (a dotted name given twice, text that is not UTF-8, nesting over
-- 64 levels, a tensor without a name).
local lt = require "luatrain"

local save_refusals = {"appears twice", "not valid UTF-8", "nested too deeply", "a tensor needs a name",
                       "cannot be called '__metadata__'"}

-- Where a and b differ, or nil.
local function differ(a, b, at)
  if lt.is_tensor(a) then
    if not lt.is_tensor(b) or a:dtype() ~= b:dtype() or table.concat(a:shape(), ",") ~= table.concat(b:shape(), ",") then
      return at .. ": tensor kind"
    end
    local fa, fb = a:reshape(-1):tolist(), b:reshape(-1):tolist()
    for i = 1, #fa do
      if fa[i] ~= fb[i] and not (fa[i] ~= fa[i] and fb[i] ~= fb[i]) then return at .. ": tensor values" end
    end
    return nil
  end
  if type(a) ~= type(b) or math.type(a) ~= math.type(b) then return at .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" then
    if a ~= b and not (a ~= a and b ~= b) then return at .. ": " .. tostring(a) .. " vs " .. tostring(b) end
  elseif type(a) == "table" then
    for k, v in pairs(a) do
      local d = differ(v, b[k], at .. "." .. tostring(k))
      if d then return d end
    end
    for k in pairs(b) do if a[k] == nil then return at .. "." .. tostring(k) .. ": added" end end
  elseif a ~= b then
    return at .. ": values"
  end
end

return function(path)
  local ok, v = pcall(lt.load, path)
  if not ok then
    if not tostring(v):find(path, 1, true) then fuzz_fail("a refusal that does not name the file: " .. tostring(v)) end
    return
  end
  if type(v) ~= "table" then return end
  local copy = path .. ".copy"
  local saved, err = pcall(lt.save, copy, v)
  if not saved then
    for _, r in ipairs(save_refusals) do if tostring(err):find(r, 1, true) then return end end
    fuzz_fail("what lt.load gave cannot be saved: " .. tostring(err))
  end
  local d = differ(v, lt.load(copy), "")
  if d then fuzz_fail("changed by lt.save and lt.load: " .. d) end
end
