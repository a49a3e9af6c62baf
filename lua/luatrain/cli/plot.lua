-- luatrain.cli.plot — `luatrain plot runs/<name>`: renders the training
-- curves of a run from its metrics.jsonl to PNG files in the run folder with
-- gnuplot (Debian's gnuplot-nox), and prints their names:
--   loss.png      train and validation loss per epoch (per logged step when
--                 no epoch has finished yet)
--   accuracy.png  train top-1, validation top-1 and top-5 per epoch
--   lr.png        the learning rate per logged step (per epoch without steps)
-- The data and the gnuplot script stay beside them (plot_*.dat,
-- plot.gnuplot), to tweak and rerun by hand. Not here: reading checkpoints.
local train = require "luatrain.train"

local M = {}

local function write(path, text)
  local f, err = io.open(path, "w")
  if not f then error("plot: cannot write '" .. path .. "': " .. tostring(err), 0) end
  f:write(text)
  f:close()
end

-- Writes "x y1 y2 ..." lines (NaN for missing values) for the given keys.
local function data_file(path, rows, xkey, keys)
  local lines = {}
  for _, r in ipairs(rows) do
    local cols = {string.format("%.10g", r[xkey])}
    for _, k in ipairs(keys) do
      local v = r[k]
      cols[#cols + 1] = type(v) == "number" and string.format("%.10g", v) or "NaN"
    end
    lines[#lines + 1] = table.concat(cols, " ")
  end
  write(path, table.concat(lines, "\n") .. "\n")
end

-- a gnuplot string, and a shell word
local function quote(s) return "'" .. s:gsub("'", "''") .. "'" end
local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- plot(dir) -> list of the PNG files written.
function M.plot(dir)
  local metrics = dir .. "/metrics.jsonl"
  local f = io.open(metrics, "r")
  if not f then error("plot: no metrics in '" .. dir .. "' (expected " .. metrics .. ")", 0) end
  f:close()
  local rows = train.read_metrics(metrics)
  -- epoch records carry val_acc1; step records (every --log-every batches) do not
  local epochs, steps = {}, {}
  for _, r in ipairs(rows) do
    if type(r) == "table" then
      if type(r.epoch) == "number" and type(r.val_acc1) == "number" then epochs[#epochs + 1] = r
      elseif type(r.step) == "number" then steps[#steps + 1] = r end
    end
  end
  if #epochs == 0 and #steps == 0 then error("plot: '" .. metrics .. "' holds no records", 0) end
  if os.execute("command -v gnuplot >/dev/null 2>&1") ~= true then
    error("plot: gnuplot is not installed (apt-get install gnuplot-nox, or run scripts/install-deps.sh)", 0)
  end

  local edata, sdata = dir .. "/plot_epochs.dat", dir .. "/plot_steps.dat"
  data_file(edata, epochs, "epoch", {"train_loss", "val_loss", "train_acc1", "val_acc1", "val_acc5", "lr"})
  data_file(sdata, steps, "step", {"train_loss", "lr"})
  -- points as well as lines: a run of one epoch is a single point
  local style = "with linespoints pointtype 7 pointsize 0.6"
  local files = {}
  local script = {"set terminal pngcairo size 900,540 noenhanced", "set grid", "set key outside right"}
  local function add(name, lines)
    local path = dir .. "/" .. name
    files[#files + 1] = path
    script[#script + 1] = "set output " .. quote(path)
    for _, l in ipairs(lines) do script[#script + 1] = l end
  end
  if #epochs > 0 then
    add("loss.png", {"set title 'loss'", "set xlabel 'epoch'", "set ylabel 'cross-entropy'",
      string.format("plot %s using 1:2 %s title 'train', '' using 1:3 %s title 'validation'", quote(edata), style, style)})
    add("accuracy.png", {"set title 'accuracy'", "set xlabel 'epoch'", "set ylabel 'percent'",
      string.format("plot %s using 1:4 %s title 'train top-1', '' using 1:5 %s title 'validation top-1', "
        .. "'' using 1:6 %s title 'validation top-5'", quote(edata), style, style, style)})
  else
    add("loss.png", {"set title 'training loss (no epoch finished yet)'", "set xlabel 'step'", "set ylabel 'cross-entropy'",
      string.format("plot %s using 1:2 %s title 'train (batch)'", quote(sdata), style)})
  end
  if #steps > 0 then
    add("lr.png", {"set title 'learning rate'", "set xlabel 'step'", "set ylabel 'lr'",
      string.format("plot %s using 1:3 %s title 'lr'", quote(sdata), style)})
  else
    add("lr.png", {"set title 'learning rate'", "set xlabel 'epoch'", "set ylabel 'lr'",
      string.format("plot %s using 1:7 %s title 'lr (last batch of the epoch)'", quote(edata), style)})
  end

  local gp = dir .. "/plot.gnuplot"
  write(gp, table.concat(script, "\n") .. "\n")
  local log = dir .. "/plot.log"
  local ok = os.execute(string.format("gnuplot %s 2>%s", shq(gp), shq(log)))
  if ok ~= true then
    local lf = io.open(log)
    local text = lf and lf:read("a") or ""
    if lf then lf:close() end
    error("plot: gnuplot failed on " .. gp .. ": " .. text, 0)
  end
  return files
end

function M.main(args)
  local dir = args[1]
  local usage = "usage: luatrain plot runs/<name>   (writes loss.png, accuracy.png and lr.png there)\n"
  if dir == "-h" or dir == "--help" then
    io.stdout:write(usage)
    return 0
  end
  if not dir or #args > 1 then
    io.stderr:write(usage)
    return 1
  end
  dir = dir:gsub("/+$", "")
  -- a user's mistake (no such run, no gnuplot) is a message, not a traceback
  local ok, files = pcall(M.plot, dir)
  if not ok then
    io.stderr:write("luatrain ", tostring(files), "\n")
    return 1
  end
  for _, file in ipairs(files) do print(file) end
  return 0
end

return M
