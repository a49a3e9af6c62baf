-- lt.save under a crash: a child luatrain process (this file run with
-- --writer) saves an 8 MB checkpoint to one path over and over, each version
-- filled with its version number, and reports each completed save on stdout.
-- The test SIGKILLs it at random moments, several times, and after every kill
-- checks that the file at the path is a complete, loadable checkpoint of the
-- latest reported version or of the one being written when the kill came
-- (never a truncated file, never an older one), and that the only other
-- files are the killed writer's temporary "<path>.tmp.<pid>.<n>". A
-- completed save (lt.save) then removes the temporaries of dead writers but
-- keeps those of live processes and unrelated files. Not here: the checkpoint
-- contents and resume (test_checkpoint.lua).
local T = require "luatrain.testing"
local lt = require "luatrain"

local NUMEL = 2 * 1024 * 1024

if arg and arg[1] == "--writer" then
  local path, first = arg[2], math.tointeger(tonumber(arg[3]))
  local data = lt.zeros(NUMEL)
  for v = first, first + 100000 do
    data:fill_(v)
    lt.save(path, {version = v, data = data, info = {v = v, note = string.rep("x", 200)}})
    io.stdout:write("v ", v, "\n")
    io.stdout:flush()
  end
  os.exit(0)
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- the luatrain program: the most negative index of `arg`
local prog
if arg then
  local i = -1
  while arg[i] ~= nil do prog = arg[i]; i = i - 1 end
end
if not prog or not arg[0] then
  print("skipped: cannot tell which program runs this script (no arg[-1])")
  os.exit(77)
end
local script = arg[0]

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. q(dir)), "could not create " .. dir)
local path = dir .. "/ckpt.safetensors"
local base = "ckpt.safetensors"

local function listdir()
  local h = assert(io.popen("ls -A " .. q(dir)))
  local names = {}
  for l in h:lines() do names[#names + 1] = l end
  h:close()
  table.sort(names)
  return names
end

local read_file = T.read_file

-- Loads the checkpoint and checks it is one complete version; returns it.
local function check_complete(what)
  local ok, ck = pcall(lt.load, path)
  T.check(ok, what .. ": the checkpoint loads (" .. tostring(not ok and ck or "") .. ")")
  if not ok then return nil end
  local v = ck.version
  T.check(math.type(v) == "integer", what .. ": the version is an integer")
  T.check(ck.info and ck.info.v == v and ck.info.note == string.rep("x", 200), what .. ": the metadata is whole")
  T.check(ck.data and ck.data:numel() == NUMEL, what .. ": all " .. NUMEL .. " elements are there")
  if ck.data and ck.data:numel() == NUMEL then
    T.check(ck.data:min():item() == v and ck.data:max():item() == v, what .. ": every element holds version " .. tostring(v))
  end
  return v
end

math.randomseed(os.time())
-- at least MIN_ROUNDS kills; more (up to MAX_ROUNDS) until two of them have
-- come in the middle of a save (a third to two thirds do: the rest land in
-- the folder fsync after the rename, or between saves)
local MIN_ROUNDS, MAX_ROUNDS = 6, 30
local last -- latest version known to be in the file
local killed_mid_save = 0
local dead_pids = {}

T.test("SIGKILL during lt.save never leaves a broken checkpoint", function()
  local round = 0
  while round < MIN_ROUNDS or (killed_mid_save < 2 and round < MAX_ROUNDS) do
    round = round + 1
    local first = round * 1000000
    local errf = dir .. "/writer.err"
    local h = assert(io.popen(string.format("%s %s --writer %s %d 2>%s & echo pid $!; wait", q(prog), q(script), q(path),
                                            first, q(errf))))
    local pid, reported = nil, {}
    -- the pid, then wait until the writer has finished its first save, so that
    -- the kill lands in the save loop rather than during start-up
    while true do
      local l = h:read("l")
      if not l then break end
      local p = l:match("^pid (%d+)$")
      if p then pid = p end
      local v = math.tointeger(tonumber(l:match("^v (%d+)$")))
      if v then reported[#reported + 1] = v end
      if pid and #reported > 0 then break end
    end
    if not (pid and #reported > 0) then
      h:close()
      T.check(false, "round " .. round .. ": the writer started and saved once (stderr: " .. tostring(read_file(errf)) .. ")")
      return
    end
    os.execute(string.format("sleep %.3f", math.random() * 0.4))
    os.execute("kill -9 " .. pid)
    for l in h:lines() do
      local v = math.tointeger(tonumber(l:match("^v (%d+)$")))
      if v then reported[#reported + 1] = v end
    end
    h:close() -- the shell has waited for (reaped) the writer
    dead_pids[#dead_pids + 1] = pid
    local what = string.format("round %d (killed after %d saves)", round, #reported)
    -- the last reported save is in place, or the one after it if the kill
    -- came between its rename and its report
    local newest = reported[#reported]
    local v = check_complete(what)
    T.check(v == newest or v == newest + 1,
            string.format("%s: the file holds version %s, expected %d or %d", what, tostring(v), newest, newest + 1))
    for i = 2, #reported do
      T.check(reported[i] == reported[i - 1] + 1, what .. ": versions reported in order")
    end
    last = v
    -- besides the checkpoint, only the killed writer's temporary
    for _, n in ipairs(listdir()) do
      if n ~= base and n ~= "writer.err" then
        local p, k = n:match("^ckpt%.safetensors%.tmp%.(%d+)%.(%d+)$")
        T.check(p == pid and k ~= nil,
                string.format("%s: unexpected file '%s' (expected only %s.tmp.%s.<n>)", what, n, base, pid))
        if p == pid then killed_mid_save = killed_mid_save + 1 end
      end
    end
  end
  -- most kills land in the middle of a save (it is most of the loop's
  -- time); if none did, the test did not test what it claims
  T.check(killed_mid_save >= 1, string.format("at least one of %d kills came mid-save (left a temporary), got none",
                                              round))
  print(string.format("%d of %d kills left a temporary file (killed mid-save)", killed_mid_save, round))
end)

T.test("a completed save removes the temporaries of dead writers only", function()
  -- decoys: a live process's temporary (pid 1 always exists), another
  -- path's temporary and names that only look similar
  local keep = {base .. ".tmp.1.0", "other.safetensors.tmp." .. (dead_pids[1] or "999999") .. ".0", base .. ".tmp.x",
                base .. ".tmp.12.3.4", base .. ".tmp"}
  for _, n in ipairs(keep) do
    local f = assert(io.open(dir .. "/" .. n, "wb"))
    f:write("decoy")
    f:close()
  end
  local dead = base .. ".tmp." .. (dead_pids[#dead_pids] or "999999") .. ".77"
  local f = assert(io.open(dir .. "/" .. dead, "wb"))
  f:write("half a checkpoint")
  f:close()
  os.remove(dir .. "/writer.err")

  local data = lt.zeros(NUMEL)
  for v = 1, 3 do
    data:fill_(v)
    lt.save(path, {version = v, data = data, info = {v = v, note = string.rep("x", 200)}})
    T.check(check_complete("in-process save " .. v) == v, "in-process save " .. v .. " is in place")
  end
  local names = listdir()
  local expect = {base}
  for _, n in ipairs(keep) do expect[#expect + 1] = n end
  table.sort(expect)
  T.check(table.concat(names, " ") == table.concat(expect, " "),
          "after completed saves only the checkpoint and the decoys remain: got " .. table.concat(names, " "))
  for _, n in ipairs(keep) do
    T.check(read_file(dir .. "/" .. n) == "decoy", "decoy " .. n .. " untouched")
  end
end)

os.execute("rm -rf " .. q(dir))
os.exit(T.done())
