-- luatrain.train — the pieces of a training loop that every script repeats:
-- meters, top-k accuracy, a progress display, metrics as JSON lines, run
-- folders, atomic checkpoints and command-line options. Scripts keep their
-- loop visible and call these; nothing here hides the loop.
local lt = require "luatrain.core"
local M = {}

-- AverageMeter: running average of a value weighted by counts (as the seed's).
local AverageMeter = {}
AverageMeter.__index = AverageMeter
function M.AverageMeter(name)
  return setmetatable({name = name, sum = 0, count = 0, avg = 0, val = 0}, AverageMeter)
end
function AverageMeter:update(val, n)
  n = n or 1
  if type(val) ~= "number" then error("AverageMeter:update: expected a number, got " .. type(val), 2) end
  self.val, self.sum, self.count = val, self.sum + val * n, self.count + n
  self.avg = self.sum / self.count
end
function AverageMeter:reset() self.sum, self.count, self.avg, self.val = 0, 0, 0, 0 end

-- Top-k accuracy in percent (not the error rate, unlike the seed's helper).
-- output [N, C] scores, target [N] 1-based labels; ks a list like {1, 5}.
-- Returns one number per k, in the order given.
function M.accuracy(output, target, ks)
  ks = ks or {1}
  if not lt.is_tensor(output) or output:dim() ~= 2 then
    error("bad argument #1 to 'accuracy' (expected scores [N, C])", 2)
  end
  if not lt.is_tensor(target) or target:dim() ~= 1 or target:size(1) ~= output:size(1) then
    error(string.format("bad argument #2 to 'accuracy' (expected labels [%d])", output:size(1)), 2)
  end
  local n, c = output:size(1), output:size(2)
  local maxk = 1
  for _, k in ipairs(ks) do
    if math.type(k) ~= "integer" or k < 1 then error("bad argument #3 to 'accuracy' (k must be a positive integer)", 2) end
    maxk = math.max(maxk, math.min(k, c))
  end
  local _, pred = output:topk(maxk, 2, true, true)                 -- [N, maxk], 1-based
  local correct = pred:eq(target:to(pred:device()):long():view(n, 1))  -- [N, maxk]
  local res = {}
  for i, k in ipairs(ks) do
    local kk = math.min(k, c)
    res[i] = correct:narrow(2, 1, kk):any(2):sum():item() * 100.0 / n
  end
  return table.unpack(res)
end

-- Formats seconds as 1h02m03s / 4m05s / 6s.
function M.format_time(s)
  s = math.floor(s + 0.5)
  local h, m = s // 3600, (s % 3600) // 60
  if h > 0 then return string.format("%dh%02dm%02ds", h, m, s % 60) end
  if m > 0 then return string.format("%dm%02ds", m, s % 60) end
  return string.format("%ds", s)
end

-- Progress: on a terminal, one line per epoch rewritten in place; otherwise
-- a plain line every `every` batches and at the end. quiet: nothing.
local Progress = {}
Progress.__index = Progress
function M.Progress(opts)
  opts = opts or {}
  local tty = opts.tty
  if tty == nil then tty = lt.isatty(1) end
  return setmetatable({tty = tty, quiet = opts.quiet, every = opts.every or 50, out = opts.out or io.stdout}, Progress)
end
-- fields: epoch, epochs, batch, batches, loss, acc, lr, ips (images/s), eta (s)
function Progress:update(f)
  if self.quiet then return end
  local line = string.format("epoch %d/%d  %d/%d  loss %.4f  top1 %.2f%%  lr %.5g  %.0f img/s  eta %s",
    f.epoch, f.epochs, f.batch, f.batches, f.loss, f.acc, f.lr, f.ips, M.format_time(f.eta or 0))
  if self.tty then
    self.out:write("\r\27[K" .. line)
    self.out:flush()
  elseif f.batch % self.every == 0 or f.batch == f.batches then
    self.out:write(line, "\n")
    self.out:flush()
  end
end
-- Ends the in-place line; the summary line is printed even when quiet.
function Progress:finish(summary)
  if self.tty and not self.quiet then self.out:write("\r\27[K") end
  if summary then self.out:write(summary, "\n") end
  self.out:flush()
end

-- Run folders: runs/<name>/ with config.json and metrics.jsonl.
local Run = {}
Run.__index = Run
function M.Run(dir, config, opts)
  opts = opts or {}
  os.execute(string.format("mkdir -p %q", dir))
  local f = io.open(dir .. "/.probe", "w")
  if not f then error("Run: cannot write into run folder '" .. dir .. "'", 2) end
  f:close()
  os.remove(dir .. "/.probe")
  local self = setmetatable({dir = dir, config = config}, Run)
  M.write_file_atomic(dir .. "/config.json", lt.json.encode(config, {indent = true}) .. "\n")
  self.metrics = io.open(dir .. "/metrics.jsonl", opts.resume and "a" or "w")
  return self
end
function Run:log(record)
  self.metrics:write(lt.json.encode(record), "\n")
  self.metrics:flush()
end
function Run:close()
  if self.metrics then self.metrics:close() end
  self.metrics = nil
end

-- Writes a small text file atomically (temporary file, then rename).
function M.write_file_atomic(path, text)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(text)
  f:close()
  assert(os.rename(tmp, path))
end

-- Reads metrics.jsonl back as a list of records.
function M.read_metrics(path)
  local rows = {}
  local f = io.open(path, "r")
  if not f then error("read_metrics: cannot open '" .. path .. "'", 2) end
  for line in f:lines() do
    if line:match("%S") then rows[#rows + 1] = lt.json.decode(line) end
  end
  f:close()
  return rows
end

-- Command-line options. spec: list of {name, default, help}; the type of the
-- default decides parsing (number, string, boolean flag). Unknown options are
-- an error listing the valid ones. Returns a table name -> value (dashes in
-- names become underscores: --cuda-graph -> cuda_graph) and the set of
-- options given explicitly.
function M.parse_args(argv, spec, usage)
  local by_name, opts, given = {}, {}, {}
  for _, s in ipairs(spec) do
    by_name[s[1]] = s
    opts[s[1]:gsub("-", "_")] = s[2]
  end
  local function valid()
    local names = {}
    for _, s in ipairs(spec) do names[#names + 1] = "--" .. s[1] end
    return table.concat(names, " ")
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      print(usage or "options:")
      for _, s in ipairs(spec) do
        print(string.format("  --%-14s %s (default: %s)", s[1], s[3] or "", tostring(s[2])))
      end
      os.exit(0)
    end
    local name, inline = a:match("^%-%-([%w%-_]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-_]+)$") end
    local s = name and by_name[name]
    if not s then
      error(string.format("unknown option '%s'; valid options: %s", a, valid()), 0)
    end
    local key = name:gsub("-", "_")
    given[key] = true
    if type(s[2]) == "boolean" then
      if inline then opts[key] = inline ~= "false" and inline ~= "0" else opts[key] = true end
    else
      local v = inline
      if not v then
        i = i + 1
        v = argv[i]
        if v == nil then error(string.format("option --%s needs a value", name), 0) end
      end
      if type(s[2]) == "number" then
        local n = tonumber(v)
        if not n then error(string.format("option --%s expects a number, got '%s'", name, v), 0) end
        opts[key] = n
      else
        opts[key] = v
      end
    end
    i = i + 1
  end
  return opts, given
end

return M
