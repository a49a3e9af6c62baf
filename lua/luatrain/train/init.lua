-- luatrain.train (lt.train) — the pieces of a training loop that every script
-- repeats: meters, top-k accuracy, a progress display, metrics as JSON lines,
-- run folders, checkpoint helpers (checking a checkpoint before resuming
-- from it: luatrain/train/checkpoint.lua), a guard that makes a training step
-- immune to Ctrl-C half-way, and command-line options. Scripts keep their loop
-- visible and call these; nothing here hides or runs the loop.
--
--   local train = lt.train
--   local opt, given = train.parse_args(arg, spec, "usage: ...")
--   local run = train.Run("runs/x", config)         -- config.json, metrics.jsonl
--   local loss_m = train.AverageMeter()
--   local top1, top5 = train.accuracy(output, labels, {1, 5})   -- percent
--   train.atomic(function() ... one step ... end)   -- Ctrl-C waits for it
--   run:log{epoch = 1, step = 390, train_loss = 1.2, ...}
local lt = require "luatrain.core"
local M = {}

-- --- meters --------------------------------------------------------------------------

-- AverageMeter: running average of a value weighted by counts (as the reference recipe's).
local AverageMeter = {}
AverageMeter.__index = AverageMeter
function M.AverageMeter(name)
  return setmetatable({name = name, sum = 0.0, count = 0, avg = 0.0, val = 0.0}, AverageMeter)
end
function AverageMeter:update(val, n)
  n = n or 1
  if type(val) ~= "number" then error("bad argument #1 to 'update' (expected a number, got " .. type(val) .. ")", 2) end
  if type(n) ~= "number" or n < 0 then error("bad argument #2 to 'update' (expected a count >= 0)", 2) end
  self.val, self.sum, self.count = val, self.sum + val * n, self.count + n
  if self.count > 0 then self.avg = self.sum / self.count end
end
function AverageMeter:reset() self.sum, self.count, self.avg, self.val = 0.0, 0, 0.0, 0.0 end
-- The meter's numbers, for a checkpoint (floats are saved exactly).
function AverageMeter:state_dict() return {sum = self.sum, count = self.count, avg = self.avg, val = self.val} end
function AverageMeter:load_state_dict(sd)
  for _, k in ipairs{"sum", "count", "avg", "val"} do
    if type(sd) ~= "table" or type(sd[k]) ~= "number" then
      error("bad argument #1 to 'load_state_dict' (expected an AverageMeter state with a number '" .. k .. "')", 2)
    end
  end
  self.sum, self.count, self.avg, self.val = sd.sum, sd.count, sd.avg, sd.val
end
function AverageMeter:__tostring()
  return string.format("AverageMeter(%s: avg %.6g over %s)", tostring(self.name or "?"), self.avg, tostring(self.count))
end

-- --- accuracy --------------------------------------------------------------------------

-- Top-k accuracy in percent (the share of samples whose label is among the k
-- highest scores) — not the error rate the reference recipe's helper returns.
-- output [N, C] scores, target [N] 1-based labels; ks a list like {1, 5}
-- (a k above C counts as C). Returns one number per k, in the order given.
function M.accuracy(output, target, ks)
  ks = ks or {1}
  if not lt.is_tensor(output) or output:dim() ~= 2 then
    error("bad argument #1 to 'accuracy' (expected scores [N, C])", 2)
  end
  if not lt.is_tensor(target) or target:dim() ~= 1 or target:size(1) ~= output:size(1) then
    error(string.format("bad argument #2 to 'accuracy' (expected labels [%d])", output:size(1)), 2)
  end
  if type(ks) ~= "table" or #ks == 0 then error("bad argument #3 to 'accuracy' (expected a list of k, e.g. {1, 5})", 2) end
  local n, c = output:size(1), output:size(2)
  if n == 0 then error("bad argument #1 to 'accuracy' (no samples)", 2) end
  local maxk = 1
  for _, k in ipairs(ks) do
    if math.type(k) ~= "integer" or k < 1 then error("bad argument #3 to 'accuracy' (k must be a positive integer)", 2) end
    maxk = math.max(maxk, math.min(k, c))
  end
  local _, pred = output:topk(maxk, 2, true, true)                      -- [N, maxk], 1-based
  local correct = pred:eq(target:to(pred:device()):long():view(n, 1))  -- [N, maxk]
  local res = {}
  for i, k in ipairs(ks) do
    res[i] = correct:narrow(2, 1, math.min(k, c)):any(2):sum():item() * 100.0 / n
  end
  return table.unpack(res)
end

-- --- time ---------------------------------------------------------------------------------

-- Seconds on a monotonic wall clock (os.clock is processor time: wrong with
-- worker threads and while waiting for a GPU).
M.clock = (lt._bench and lt._bench.now) or os.time

-- Formats seconds as 1h02m03s / 4m05s / 6s.
function M.format_time(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(math.max(s, 0) + 0.5)
  local h, m = s // 3600, (s % 3600) // 60
  if h > 0 then return string.format("%dh%02dm%02ds", h, m, s % 60) end
  if m > 0 then return string.format("%dm%02ds", m, s % 60) end
  return string.format("%ds", s)
end

-- --- progress -------------------------------------------------------------------------------

-- Progress{quiet=, tty=, every=, out=}: on a terminal, one line per epoch
-- rewritten in place; otherwise a plain line every `every` batches and at
-- the epoch's last batch. quiet: nothing but the summaries given to finish.
local Progress = {}
Progress.__index = Progress
function M.Progress(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "quiet" and k ~= "tty" and k ~= "every" and k ~= "out" then
      error("bad argument #1 to 'Progress' (unknown option '" .. tostring(k) .. "' (valid: every, out, quiet, tty))", 2)
    end
  end
  local tty = opts.tty
  if tty == nil then tty = lt.isatty(1) end
  return setmetatable({tty = tty, quiet = opts.quiet, every = opts.every or 50, out = opts.out or io.stdout,
                       open = false}, Progress)
end

-- fields: epoch, epochs, batch, batches, loss, acc (top-1 %), lr, ips
-- (images/s), eta (s).
function Progress:line(f)
  return string.format("epoch %d/%d  %d/%d  loss %.4f  top1 %.2f%%  lr %.5g  %.0f img/s  eta %s",
    f.epoch, f.epochs, f.batch, f.batches, f.loss, f.acc, f.lr, f.ips or 0, M.format_time(f.eta or 0))
end

function Progress:update(f)
  if self.quiet then return end
  if self.tty then
    -- at most ~10 redraws a second: a fast GPU does hundreds of batches
    local now = M.clock()
    if self.open and f.batch ~= f.batches and now - (self.drawn or 0) < 0.1 then return end
    self.drawn = now
    self.out:write("\r\27[K", self:line(f))
    self.out:flush()
    self.open = true
  elseif f.batch % self.every == 0 or f.batch == f.batches then
    self.out:write(self:line(f), "\n")
    self.out:flush()
  end
end

-- Ends the in-place line; the summary line is printed even when quiet.
function Progress:finish(summary)
  if self.open then self.out:write("\r\27[K") self.open = false end
  if summary then self.out:write(summary, "\n") end
  self.out:flush()
end

-- --- run folders and metrics --------------------------------------------------------------

-- Writes a small text file atomically (temporary file, then rename).
function M.write_file_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then error("cannot write '" .. tmp .. "': " .. tostring(err), 2) end
  local ok, werr = f:write(text)
  f:close()
  if not ok then os.remove(tmp) error("cannot write '" .. tmp .. "': " .. tostring(werr), 2) end
  local rok, rerr = os.rename(tmp, path)
  if not rok then error("cannot rename '" .. tmp .. "' to '" .. path .. "': " .. tostring(rerr), 2) end
end

-- The records of a metrics file with their text: a list of {record, line}.
-- A last line without its newline that is not valid JSON was being written
-- when the run was killed: it is dropped with a warning on stderr. Any other
-- line that is not a JSON object is an error naming the file and the line.
-- (`fname` prefixes the messages.)
local function metric_lines(path, fname)
  local f = io.open(path, "rb")
  if not f then error(string.format("%s: cannot open '%s'", fname, path), 0) end
  local text = f:read("a")
  f:close()
  local rows, n, pos = {}, 0, 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or #text + 1) - 1)
    n = n + 1
    if line:match("%S") then
      local ok, rec = pcall(lt.json.decode, line)
      if ok and type(rec) == "table" then
        rows[#rows + 1] = {record = rec, line = line}
      elseif not nl then
        io.stderr:write(string.format("warning: '%s': its last line (line %d) is cut short, as when the run was "
                                      .. "stopped while writing it: skipped\n", path, n))
      else
        error(string.format("%s: '%s': line %d is not a JSON object: %s", fname, path, n,
                            ok and ("a " .. type(rec)) or tostring(rec):gsub("^json%.decode: ", "")), 0)
      end
    end
    if not nl then break end
    pos = nl + 1
  end
  return rows
end

-- Reads metrics.jsonl back as a list of records; a cut last line (a run
-- killed while writing it) is skipped with a warning.
function M.read_metrics(path)
  if type(path) ~= "string" then error("bad argument #1 to 'read_metrics' (expected a file name)", 2) end
  local rows = {}
  for i, r in ipairs(metric_lines(path, "read_metrics")) do rows[i] = r.record end
  return rows
end

-- Run(dir, config, {resume = false, keep_until_step = nil}): the run folder
-- runs/<name>/ with config.json (the full configuration, rewritten),
-- metrics.jsonl (one JSON object per line) and status.json, which says
-- whether the run is going: {"state": "running", "pid", "host", "started",
-- "updated"} until run:close(state) writes "finished", "interrupted" or
-- "failed" (`luatrain board` shows it, and tells a running state whose
-- process is gone as interrupted). A resumed run appends to the
-- metrics after rewriting them without a cut last line and, with
-- keep_until_step, without the records of steps after it (they were written
-- after the checkpoint the run resumes from). The metrics are read before
-- anything is written, so a corrupt file stops the run with the folder as it
-- was.
-- This process's id and the machine's name, for status.json (Linux's /proc).
local function process_id()
  local f = io.open("/proc/self/stat", "r")
  local pid = f and f:read("n")
  if f then f:close() end
  return math.tointeger(pid) or 0
end
local function host_name()
  local f = io.open("/proc/sys/kernel/hostname", "r")
  local name = f and f:read("l")
  if f then f:close() end
  return name or ""
end

local Run = {}
Run.__index = Run
function M.Run(dir, config, opts)
  opts = opts or {}
  if type(dir) ~= "string" or dir == "" then error("bad argument #1 to 'Run' (expected a folder name)", 2) end
  os.execute(string.format("mkdir -p '%s' 2>/dev/null", (dir:gsub("'", "'\\''"))))
  local probe = io.open(dir .. "/.probe", "w")
  if not probe then error("Run: cannot write into run folder '" .. dir .. "'", 2) end
  probe:close()
  os.remove(dir .. "/.probe")
  local self = setmetatable({dir = dir, config = config, metrics_path = dir .. "/metrics.jsonl"}, Run)
  local kept
  if opts.resume then
    local f = io.open(self.metrics_path, "r")
    if f then
      f:close()
      kept = {}
      for _, r in ipairs(metric_lines(self.metrics_path, "Run")) do
        local st = r.record.step
        if not opts.keep_until_step or (type(st) == "number" and st <= opts.keep_until_step) then
          kept[#kept + 1] = r.line .. "\n"
        end
      end
    end
  end
  M.write_file_atomic(dir .. "/config.json", lt.json.encode(config or {}, {indent = true}) .. "\n")
  if kept then M.write_file_atomic(self.metrics_path, table.concat(kept)) end
  local err
  self.metrics, err = io.open(self.metrics_path, opts.resume and "a" or "w")
  if not self.metrics then error("Run: cannot open '" .. self.metrics_path .. "': " .. tostring(err), 2) end
  self.status = {state = "running", pid = process_id(), host = host_name(), started = os.time()}
  self:_write_status()
  return self
end

function Run:_write_status()
  self.status.updated = os.time()
  M.write_file_atomic(self.dir .. "/status.json", lt.json.encode(self.status) .. "\n")
end
-- One JSON object per line, keys in a fixed order (the usual ones first,
-- then the others sorted) so that the file reads well and diffs cleanly.
local key_order = {"epoch", "step", "batch", "train_loss", "train_acc1", "val_loss", "val_acc1", "val_acc5", "lr",
                   "images_per_s", "wall_time"}
local key_rank = {}
for i, k in ipairs(key_order) do key_rank[k] = i end
function M.json_line(record)
  local keys = {}
  for k in pairs(record) do
    if type(k) ~= "string" then error("bad argument #1 to 'log' (record keys must be strings)", 3) end
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b)
    local ra, rb = key_rank[a] or math.huge, key_rank[b] or math.huge
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  local parts = {}
  for i, k in ipairs(keys) do
    local ok, v = pcall(lt.json.encode, record[k])
    if not ok then error(string.format("bad argument #1 to 'log' (field '%s': %s)", k, v), 3) end
    parts[i] = lt.json.encode(k) .. ":" .. v
  end
  return "{" .. table.concat(parts, ",") .. "}"
end
function Run:log(record)
  if type(record) ~= "table" then error("bad argument #1 to 'log' (expected a record table)", 2) end
  self.metrics:write(M.json_line(record), "\n")
  self.metrics:flush()
end
local END_STATES = {finished = true, interrupted = true, failed = true}
--- run:close(state = "finished"): closes the metrics and writes the final
--- state ("finished", "interrupted" or "failed") into status.json. Closing
--- twice keeps the first state.
function Run:close(state)
  state = state or "finished"
  if not END_STATES[state] then
    error("bad argument #1 to 'close' (state must be 'finished', 'interrupted' or 'failed', got '" .. tostring(state) .. "')", 2)
  end
  if not self.metrics then return end
  self.metrics:close()
  self.metrics = nil
  self.status.state, self.status.ended = state, os.time()
  self:_write_status()
end

-- --- checkpoints and safety --------------------------------------------------------------------

-- Whether every floating-point tensor in a (nested) table is free of NaN and
-- infinity: x * 0 is NaN exactly where x is not finite, so one sum per
-- tensor and a single read at the end tell.
function M.all_finite(tensors)
  local acc
  local function walk(v, depth)
    if lt.is_tensor(v) then
      if v:is_floating_point() and v:numel() > 0 then
        local s = (v * 0):sum():double()
        acc = acc and acc:to(s:device()) + s or s
      end
    elseif type(v) == "table" and depth < 32 then
      for _, x in pairs(v) do walk(x, depth + 1) end
    end
  end
  walk(tensors, 0)
  if acc == nil then return true end
  return acc:item() == 0
end

-- Runs fn(...) so that a Ctrl-C cannot stop it half-way: the host turns
-- SIGINT into a hook on the main Lua thread, and hooks belong to a thread,
-- so fn runs in a coroutine and "interrupted!" is raised on the main thread
-- only once fn has returned. A training step (forward, backward, update,
-- schedulers, counters) wrapped in it is either done or not started, which
-- is what makes a checkpoint taken after Ctrl-C resume exactly. Errors in fn
-- propagate (strings with fn's traceback, other values as they are).
function M.atomic(fn, ...)
  local co = coroutine.create(function(...)
    return table.pack(xpcall(fn, function(e)
      if type(e) == "string" then return debug.traceback(e, 2) end
      return e
    end, ...))
  end)
  local ok, res = coroutine.resume(co, ...)
  if not ok then error(res, 0) end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- --- command-line options ---------------------------------------------------------------------

-- Option spec: a list of {name, default, help, choices = {...}, hidden = true}.
-- The default's type decides parsing: a boolean is a flag (--quiet, or
-- --quiet=false), an integer takes an integer, a float any number, a string
-- any text (one of `choices` when given). Hidden options are accepted but
-- not listed (test hooks).

local function kind(default)
  if type(default) == "boolean" then return "flag" end
  if math.type(default) == "integer" then return "integer" end
  if type(default) == "number" then return "number" end
  return "string"
end

-- The help text: one line per visible option. An option whose text already
-- says its default ("... (default: the Debian package's)") keeps that one.
function M.usage(spec, usage)
  local lines = {usage or "options:"}
  for _, s in ipairs(spec) do
    if not s.hidden then
      local def = tostring(s[2])
      if s[2] == "" then def = "none" end
      local text = s[3] or ""
      if s.choices then text = text .. " [" .. table.concat(s.choices, "|") .. "]" end
      local says_default = text:find("(default:", 1, true) ~= nil
      lines[#lines + 1] = string.format("  --%-14s %s%s", s[1] .. (kind(s[2]) == "flag" and "" or " X"),
                                        text, says_default and "" or " (default: " .. def .. ")")
    end
  end
  return table.concat(lines, "\n")
end

-- parse_args(argv, spec[, usage]) -> opts, given. opts maps each option to
-- its value (dashes in names become underscores: --cuda-graph -> cuda_graph);
-- given is the set of options present on the command line. -h / --help
-- prints the usage and exits. Errors (raised without position, for the
-- script to print): an unknown option lists the valid ones; a value of the
-- wrong type or outside the choices says what was expected.
function M.parse_args(argv, spec, usage)
  if type(argv) ~= "table" then error("bad argument #1 to 'parse_args' (expected the argument list)", 2) end
  if type(spec) ~= "table" then error("bad argument #2 to 'parse_args' (expected a list of {name, default, help})", 2) end
  local by_name, opts, given = {}, {}, {}
  for i, s in ipairs(spec) do
    if type(s) ~= "table" or type(s[1]) ~= "string" or s[2] == nil then
      error(string.format("bad argument #2 to 'parse_args' (entry %d must be {name, default, help})", i), 2)
    end
    by_name[s[1]] = s
    opts[(s[1]:gsub("-", "_"))] = s[2]
  end
  local function valid()
    local names = {}
    for _, s in ipairs(spec) do if not s.hidden then names[#names + 1] = "--" .. s[1] end end
    return table.concat(names, " ")
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      print(M.usage(spec, usage))
      os.exit(0)
    end
    local name, inline = a:match("^%-%-([%w%-_]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-_]+)$") end
    local s = name and by_name[name]
    if not s then
      error(string.format("unknown option '%s'; valid options: %s (--help explains them)", a, valid()), 0)
    end
    local key = name:gsub("-", "_")
    given[key] = true
    local k = kind(s[2])
    if k == "flag" then
      if inline == nil or inline == "true" or inline == "1" then opts[key] = true
      elseif inline == "false" or inline == "0" then opts[key] = false
      else error(string.format("option --%s is a flag: give it alone, or =true / =false, not '%s'", name, inline), 0) end
    else
      local v = inline
      if v == nil then
        i = i + 1
        v = argv[i]
        if v == nil then error(string.format("option --%s needs a value", name), 0) end
      end
      if k == "integer" then
        local n = math.tointeger(tonumber(v))
        if not n then error(string.format("option --%s expects an integer, got '%s'", name, v), 0) end
        opts[key] = n
      elseif k == "number" then
        local n = tonumber(v)
        if not n or n ~= n then error(string.format("option --%s expects a number, got '%s'", name, v), 0) end
        opts[key] = n + 0.0
      else
        if s.choices then
          local okc = false
          for _, c in ipairs(s.choices) do if c == v then okc = true end end
          if not okc then
            error(string.format("option --%s must be one of %s, got '%s'", name, table.concat(s.choices, ", "), v), 0)
          end
        end
        opts[key] = v
      end
    end
    i = i + 1
  end
  return opts, given
end

-- check_options(values, spec) -> nil, or a message naming the first value
-- that parse_args could not have produced for its option (a checkpoint's
-- saved options, say): the wrong type, or not one of the choices. Keys the
-- spec does not know are left alone.
function M.check_options(values, spec)
  if type(values) ~= "table" then return "the options are a " .. type(values) .. ", expected a table" end
  for _, s in ipairs(spec) do
    local key = s[1]:gsub("-", "_")
    local v, k = values[key], kind(s[2])
    if v ~= nil then
      local want = k == "flag" and "a boolean" or k == "integer" and "an integer" or k == "number" and "a number" or "a string"
      local ok = (k == "flag" and type(v) == "boolean") or (k == "integer" and math.type(v) == "integer")
                 or (k == "number" and type(v) == "number") or (k == "string" and type(v) == "string")
      if not ok then return string.format("option '%s' is %s, expected %s", key, tostring(v), want) end
      if s.choices and k == "string" then
        local found = false
        for _, c in ipairs(s.choices) do found = found or c == v end
        if not found then
          return string.format("option '%s' is '%s', expected one of %s", key, v, table.concat(s.choices, ", "))
        end
      end
    end
  end
end

-- "name=value ..." for the visible options, in the spec's order (for the log).
function M.format_options(opts, spec)
  local shown = {}
  for _, s in ipairs(spec) do
    if not s.hidden then
      local v = opts[(s[1]:gsub("-", "_"))]
      shown[#shown + 1] = string.format("%s=%s", s[1], v == "" and "''" or tostring(v))
    end
  end
  return table.concat(shown, " ")
end

for k, v in pairs(require "luatrain.train.checkpoint") do M[k] = v end

return M
