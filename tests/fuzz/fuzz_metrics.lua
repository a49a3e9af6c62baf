-- fuzz_metrics.lua — the harness of fuzz_metrics (see fuzz_lua.c): the input
-- is a metrics.jsonl file. Invariants: lt.train.read_metrics either gives a
-- list of tables (one per JSON object line; a cut last line skipped), or
-- refuses the file with a message naming it and the line.
local lt = require "luatrain"

-- the warning about a cut last line is expected: keep stderr quiet
io.stderr = setmetatable({}, {__index = {write = function(self) return self end, flush = function() end}})

return function(path)
  local ok, rows = pcall(lt.train.read_metrics, path)
  if not ok then
    local msg = tostring(rows)
    if not (msg:find(path, 1, true) and msg:find("line %d+")) then
      fuzz_fail("a refusal that does not name the file and the line: " .. msg)
    end
    return
  end
  for i, r in ipairs(rows) do
    if type(r) ~= "table" then fuzz_fail("record " .. i .. " is a " .. type(r)) end
  end
end
