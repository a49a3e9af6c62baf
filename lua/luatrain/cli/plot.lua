-- luatrain.cli.plot — `luatrain plot runs/<name>`: renders the training
-- curves of a run (loss, accuracy, learning rate) from its metrics.jsonl to
-- PNG files in the run folder with gnuplot, and prints their names.
local train = require "luatrain.train"

local M = {}

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function column(rows, key)
  for _, r in ipairs(rows) do if r[key] ~= nil then return true end end
  return false
end

-- Writes "x y1 y2 ..." lines (NaN for missing values) for the given keys.
local function data_file(path, rows, xkey, keys)
  local lines = {}
  for _, r in ipairs(rows) do
    if r[xkey] ~= nil then
      local cols = {tostring(r[xkey])}
      for _, k in ipairs(keys) do
        local v = r[k]
        cols[#cols + 1] = type(v) == "number" and string.format("%.10g", v) or "NaN"
      end
      lines[#lines + 1] = table.concat(cols, " ")
    end
  end
  write(path, table.concat(lines, "\n") .. "\n")
end

function M.plot(dir)
  local metrics = dir .. "/metrics.jsonl"
  local rows = train.read_metrics(metrics)
  if #rows == 0 then error("plot: '" .. metrics .. "' holds no records", 0) end
  if os.execute("command -v gnuplot >/dev/null 2>&1") ~= true then
    error("plot: gnuplot is not installed (apt-get install gnuplot-nox, or run scripts/install-deps.sh)", 0)
  end
  -- epoch-level records carry val_acc1; step-level ones carry train_loss only
  local epochs = {}
  for _, r in ipairs(rows) do if r.val_acc1 ~= nil then epochs[#epochs + 1] = r end end
  local data = dir .. "/plot_epochs.dat"
  data_file(data, epochs, "epoch", {"train_loss", "val_loss", "train_acc1", "val_acc1", "val_acc5", "lr"})
  local steps = {}
  for _, r in ipairs(rows) do if r.step ~= nil and r.lr ~= nil then steps[#steps + 1] = r end end
  local sdata = dir .. "/plot_steps.dat"
  data_file(sdata, steps, "step", {"lr", "train_loss"})
  local files = {loss = dir .. "/loss.png", accuracy = dir .. "/accuracy.png", lr = dir .. "/lr.png"}
  local script = {
    "set terminal pngcairo size 900,540 noenhanced",
    "set grid",
    "set key outside right",
    string.format("set output '%s'", files.loss),
    "set title 'loss'; set xlabel 'epoch'; set ylabel 'cross-entropy'",
    string.format("plot '%s' using 1:2 with linespoints title 'train', '' using 1:3 with linespoints title 'validation'", data),
    string.format("set output '%s'", files.accuracy),
    "set title 'accuracy'; set xlabel 'epoch'; set ylabel 'percent'",
    string.format("plot '%s' using 1:4 with linespoints title 'train top-1', '' using 1:5 with linespoints title 'val top-1', '' using 1:6 with linespoints title 'val top-5'", data),
    string.format("set output '%s'", files.lr),
    "set title 'learning rate'; set ylabel 'lr'",
  }
  if #steps > 0 then
    script[#script + 1] = "set xlabel 'step'"
    script[#script + 1] = string.format("plot '%s' using 1:2 with lines title 'lr'", sdata)
  else
    script[#script + 1] = "set xlabel 'epoch'"
    script[#script + 1] = string.format("plot '%s' using 1:7 with linespoints title 'lr'", data)
  end
  local gp = dir .. "/plot.gnuplot"
  write(gp, table.concat(script, "\n") .. "\n")
  local ok = os.execute(string.format("gnuplot %q 2>%q", gp, dir .. "/plot.log"))
  if ok ~= true then
    local f = io.open(dir .. "/plot.log")
    local log = f and f:read("a") or ""
    if f then f:close() end
    error("plot: gnuplot failed: " .. log, 0)
  end
  return files
end

function M.main(args)
  local dir = args[1]
  if not dir or dir == "-h" or dir == "--help" then
    print("usage: luatrain plot runs/<name>   (writes loss.png, accuracy.png, lr.png there)")
    return dir and 0 or 1
  end
  dir = dir:gsub("/+$", "")
  local files = M.plot(dir)
  print(files.loss)
  print(files.accuracy)
  print(files.lr)
  return 0
end

return M
