-- luatrain.cli.board — `luatrain board [runs] [--port 6006] [--host 127.0.0.1]`:
-- serves the runs folder read-only over HTTP for watching training live in
-- a browser: a page (the curves of every run, as they grow) and a small
-- JSON API the page reads. This file is the command line only: the options,
-- the help, the checks that make a mistake a message, and the lines printed
-- at start. The server is C, in the program itself (src/host/lt_board.c,
-- the native module luatrain.board_server), and runs until Ctrl-C.
local server = require "luatrain.board_server"
local train = require "luatrain.train"

local M = {}

local SPEC = {
  {"port", 6006, "TCP port to listen on; 0 takes any free one (the URL printed says which)"},
  {"host", "127.0.0.1", "address to listen on; anything but a loopback address shows the runs to that network"},
  {"dygraphs", "", "folder holding dygraph.min.js and dygraph.min.css (default: " .. server.dygraphs_dir
    .. ", Debian's libjs-dygraphs)"},
}

local HELP = [[
usage: luatrain board [runs] [--port 6006] [--host 127.0.0.1]
Serves the training runs in the folder `runs` (default: runs) read-only over
HTTP, to watch them live in a browser; Ctrl-C stops it. A run is a subfolder
holding config.json or metrics.jsonl (what lt.train.Run writes).]]

local ROUTES = [[
routes (GET or HEAD; other methods get 405, other paths 404):
  /                                  the page
  /static/dygraph.min.js, .min.css   the plotting library (libjs-dygraphs)
  /api/runs                          JSON: {root, now, runs: [{name, metrics_size, metrics_mtime, metrics_id,
                                     state, status, config}]}, sorted by name
  /api/runs/<name>/metrics?offset=N  the complete lines of metrics.jsonl from byte N (at most
                                     4 MiB); header X-Next-Offset: where to ask next; X-Reset: 1
                                     when N was past the end (the file was replaced): read from 0
  /api/runs/<name>/config            config.json as it is
safety:
  listens on 127.0.0.1 unless --host says otherwise (then it warns), and on
  a loopback address answers only requests addressed to localhost, 127.0.0.1
  or [::1]; never writes; serves only files under the runs folder: run names
  [A-Za-z0-9_][A-Za-z0-9._-]{0,127} without "..", run folders that resolve
  inside it, regular files that are not symlinks; request targets over 2 KiB
  and request bodies refused; at most 64 connections (32 per address), idle
  ones dropped after 30 s.]]

-- The positional arguments apart from the options (every option takes a
-- value: "--port 6006" or "--port=6006").
local function split(args)
  local options, positional = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a:sub(1, 1) == "-" and a ~= "-" then
      options[#options + 1] = a
      if a:sub(1, 2) == "--" and not a:find("=", 1, true) and args[i + 1] ~= nil then
        options[#options + 1] = args[i + 1]
        i = i + 1
      end
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return options, positional
end

function M.main(args)
  for _, a in ipairs(args) do
    if a == "-h" or a == "--help" then
      print(HELP)
      print(train.usage(SPEC, "options:"))
      print(ROUTES)
      return 0
    end
  end
  local options, positional = split(args)
  local ok, opts = pcall(train.parse_args, options, SPEC)
  if not ok then
    io.stderr:write("luatrain board: ", tostring(opts), "\n")
    return 1
  end
  if #positional > 1 then
    io.stderr:write("luatrain board: one runs folder at most, got ", #positional,
                    " (luatrain board --help explains the options)\n")
    return 1
  end
  if opts.port < 0 or opts.port > 65535 then
    io.stderr:write("luatrain board: --port must be from 0 to 65535, got ", opts.port, "\n")
    return 1
  end
  local root = positional[1] or "runs"
  local probe = io.open(root .. "/.", "r")
  if not probe then
    io.stderr:write("luatrain board: no runs folder '", root, "'",
                    positional[1] and "" or " here (give the folder: luatrain board path/to/runs)", "\n")
    return 1
  end
  probe:close()

  local okserve, err = pcall(server.serve, {
    root = root,
    host = opts.host,
    port = opts.port,
    dygraphs = opts.dygraphs ~= "" and opts.dygraphs or nil,
    on_listen = function(info)
      if not info.loopback then
        io.stderr:write("luatrain board: warning: listening on ", opts.host, " (", info.host, "): the runs in ",
                        info.root, " are visible to every machine that reaches this address, with no password\n")
      end
      io.stdout:write("luatrain board: ", info.url, " (runs: ", info.root, "); Ctrl-C stops it\n")
      io.stdout:flush()
    end,
  })
  if not okserve then
    io.stderr:write("luatrain ", tostring(err), "\n")
    return 1
  end
  return 0
end

return M
