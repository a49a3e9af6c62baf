-- luatrain.nn.layers.containers — Sequential, ModuleList and Identity.
--
-- Indexing is 1-based as everywhere in Lua: seq[1] is the first child, seq[-1]
-- the last, #seq the count, ipairs(seq) walks them. The children's *names*
-- stay PyTorch's 0-based strings ("0", "1", ...) so that state_dict keys
-- ("features.0.weight") match a PyTorch model's: seq[1] is the child named "0".
local Module = require "luatrain.nn.module"

local M = {}

local function position(self, fname, i, n, allow_end)
  if math.type(i) == "float" and i == math.floor(i) then i = math.tointeger(i) end
  if math.type(i) ~= "integer" then error(string.format("%s: index must be an integer, got %s", fname, tostring(i)), 3) end
  local j = i < 0 and n + i + 1 or i
  if j < 1 or j > n + (allow_end and 1 or 0) then
    error(string.format("%s: index %d out of range for %s of %d module(s)", fname, i, self:_get_name(), n), 3)
  end
  return j
end

-- Children renamed "0".."n-1" in their current order (after insertions and
-- removals, as PyTorch keeps the numbering contiguous).
local function renumber(self, list)
  local r = self._modules
  r.names, r.map = {}, {}
  for i, m in ipairs(list) do
    r.names[i] = tostring(i - 1)
    r.map[tostring(i - 1)] = m
  end
end

-- level: the error level of the user's frame, seen from check_module's caller
local function check_module(fname, m, argn, level)
  if not Module.is_module(m) then
    error(string.format("%s: argument #%d must be a Module, got %s", fname, argn, type(m)), level + 1)
  end
end

-- The list-like behaviour both containers share.
local function listlike(cls, name)
  -- Out of range reads give nil, as for a Lua array (ipairs relies on it).
  function cls:_getitem(i)
    if math.type(i) == "float" and i == math.floor(i) then i = math.tointeger(i) end
    if math.type(i) ~= "integer" then
      error(string.format("%s[]: index must be an integer, got %s", name, tostring(i)), 2)
    end
    local r = self._modules
    local n = #r.names
    if i < 0 then i = n + i + 1 end
    local k = r.names[i]
    return k and r.map[k]
  end

  function cls:_setitem(i, m)
    local list = self:children()
    local j = position(self, name .. "[]=", i, #list)
    if m == nil then
      table.remove(list, j)
    else
      check_module(name .. "[]=", m, 3, 3)
      list[j] = m
    end
    renumber(self, list)
  end

  cls.__len = function(self) return #self._modules.names end

  function cls:append(m)
    check_module(name .. ":append", m, 1, 2)
    self:add_module(tostring(#self._modules.names), m)
    return self
  end

  -- On the class itself, extend still makes a subclass (nn.Sequential:extend("Name")).
  function cls:extend(mods)
    if rawget(self, "_parameters") == nil then return Module.extend(self, mods) end
    if type(mods) ~= "table" or Module.is_module(mods) and not mods._getitem then
      error(name .. ":extend: expected an array of modules or a container", 2)
    end
    local list = Module.is_module(mods) and mods:children() or mods
    for i, m in ipairs(list) do check_module(name .. ":extend", m, i, 2) end
    for _, m in ipairs(list) do self:append(m) end
    return self
  end

  --- insert(i, m): m becomes the i-th child (1-based; #self+1 appends).
  function cls:insert(i, m)
    local list = self:children()
    local j = position(self, name .. ":insert", i, #list, true)
    check_module(name .. ":insert", m, 2, 2)
    table.insert(list, j, m)
    renumber(self, list)
    return self
  end

  --- pop(i=-1): removes and returns the i-th child.
  function cls:pop(i)
    local list = self:children()
    local j = position(self, name .. ":pop", i or -1, #list)
    local m = table.remove(list, j)
    renumber(self, list)
    return m
  end
end

-- Children from varargs modules or one array of modules.
local function init_children(self, fname, ...)
  local list = {...}
  if select("#", ...) == 1 and type(list[1]) == "table" and not Module.is_module(list[1]) then list = list[1] end
  for i, m in ipairs(list) do check_module(fname, m, i, 4) end
  for i, m in ipairs(list) do self:add_module(tostring(i - 1), m) end
end

--- nn.Sequential(m1, m2, ...) or nn.Sequential{m1, m2, ...}: calls its
--- children in order, each on the previous one's output.
M.Sequential = Module:extend("Sequential")
listlike(M.Sequential, "Sequential")

function M.Sequential:__init(...)
  Module.__init(self)
  init_children(self, "nn.Sequential", ...)
end

function M.Sequential:forward(x, ...)
  local M_ = self._modules
  local names = M_.names
  if #names == 0 then return x, ... end
  x = M_.map[names[1]](x, ...)
  for i = 2, #names do x = M_.map[names[i]](x) end
  return x
end

--- nn.ModuleList(mods): holds modules (registered, so they are trained and
--- saved) without defining how they are called.
M.ModuleList = Module:extend("ModuleList")
listlike(M.ModuleList, "ModuleList")

function M.ModuleList:__init(mods)
  Module.__init(self)
  if mods ~= nil then
    if type(mods) ~= "table" or Module.is_module(mods) then
      error("nn.ModuleList: expected an array of modules, got " .. (Module.is_module(mods) and "a Module" or type(mods)), 3)
    end
    init_children(self, "nn.ModuleList", mods)
  end
end

function M.ModuleList:forward()
  error("ModuleList has no forward: iterate over it (for i, m in ipairs(list)) in the parent's forward", 2)
end

-- PyTorch prints runs of identical children once: "(0-2): 3 x Linear(...)".
function M.ModuleList:_repr()
  local list = self:children()
  if #list == 0 then return self:_get_name() .. "()" end
  local blocks = {}
  for i, m in ipairs(list) do
    local r = m:_repr()
    local last = blocks[#blocks]
    if last and last.repr == r then
      last.stop = i - 1
    else
      blocks[#blocks + 1] = {start = i - 1, stop = i - 1, repr = r}
    end
  end
  local lines = {}
  for _, b in ipairs(blocks) do
    local s
    if b.start == b.stop then
      s = string.format("(%d): %s", b.start, b.repr)
    else
      s = string.format("(%d-%d): %d x %s", b.start, b.stop, b.stop - b.start + 1, b.repr)
    end
    lines[#lines + 1] = Module._add_indent(s, 2)
  end
  return self:_get_name() .. "(\n  " .. table.concat(lines, "\n  ") .. "\n)"
end

--- nn.Identity(): returns its input (a placeholder where a layer is optional).
M.Identity = Module:extend("Identity")

function M.Identity:__init()
  Module.__init(self)
end

function M.Identity:forward(x) return x end

return M
