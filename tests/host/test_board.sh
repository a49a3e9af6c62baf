#!/usr/bin/env bash
# test_board.sh — `luatrain board`, the read-only HTTP server of training
# runs, driven with curl: a real short training run makes the runs folder;
# the board runs in the background on a port the kernel picks (--port 0,
# read back from the URL it prints). Checked: the run list (config, states
# from status.json, runs appearing and disappearing), the metrics of a file
# that grows (a cut line held back, then returned; a truncated file answered
# from 0 with X-Reset), config.json, the page and the dygraphs files; and
# the safety rules: traversal through "..", %2e%2e and %2f, run folders and
# files that are symlinks out of the runs folder, FIFOs, other methods,
# bodies, long targets, foreign Host headers; 8 clients at once; the port in
# use; SIGINT and SIGTERM end it with status 0.
#
#   tests/host/test_board.sh path/to/build/luatrain
#
# Skipped (77) when libmicrohttpd or curl is missing. JSON is checked with
# luatrain's own lt.json (no python needed).
set -u
BIN=${1:?usage: test_board.sh path/to/build/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
TMP=$(cd "$TMP" && pwd -P)
BOARDS=()
cleanup() {
  for p in "${BOARDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || exit 1
unset LUATRAIN_PATH LUA_INIT LUA_INIT_5_4

command -v curl >/dev/null || { echo "skipped: curl is not installed"; exit 77; }
why=$("$BIN" -e 'local ok, why = require("luatrain.board_server").available()
  if not ok then io.write(why) os.exit(77) end' 2>&1)
[ $? = 77 ] && { echo "skipped: $why"; exit 77; }

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }
same() {   # same NAME GOT WANT
  if [ "$2" = "$3" ]; then pass; else fail "$1: got [$2], want [$3]"; fi
}
has() {    # has NAME TEXT NEEDLE
  case "$2" in *"$3"*) pass ;; *) fail "$1: [$3] not in [$(printf '%s' "$2" | head -c 600)]" ;; esac
}
lacks() {  # lacks NAME TEXT NEEDLE
  case "$2" in *"$3"*) fail "$1: [$3] found in [$(printf '%s' "$2" | head -c 600)]" ;; *) pass ;; esac
}

# get PATH [curl options...]: one request; sets $code, $body (file
# $TMP/body), $headers (text) and header() reads one header.
get() {
  local path=$1
  shift
  code=$(curl -s --max-time 10 -D "$TMP/headers" -o "$TMP/body" -w '%{http_code}' "$@" "${URL%/}$path")
  headers=$(tr -d '\r' < "$TMP/headers")
  body=$(cat "$TMP/body")
}
header() { printf '%s\n' "$headers" | sed -n "s/^$1: //Ip" | tail -1; }
# json NAME LUA: runs LUA with `j` = the decoded body and `null` = lt.json.null;
# it must return true (or a message, which fails the check).
json() {
  local out
  out=$("$BIN" -e "local f = assert(io.open('$TMP/body')); local j = lt.json.decode(f:read('a')); f:close()
    local null = lt.json.null
    local function run(name) for _, r in ipairs(j.runs or {}) do if r.name == name then return r end end end
    local ok = (function() $2 end)()
    if ok ~= true then io.write(tostring(ok)) os.exit(1) end" 2>&1)
  if [ $? = 0 ]; then pass; else fail "$1: $out (body: $(head -c 400 "$TMP/body"))"; fi
}

# start_board NAME ARGS...: starts a board in the background; waits for its
# URL (sets $URL, $PORT, $BPID). Its output goes to $TMP/NAME.out / .err.
start_board() {
  local name=$1
  shift
  "$BIN" board "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" &
  BPID=$!
  BOARDS+=("$BPID")
  URL=""
  for _ in $(seq 100); do
    URL=$(sed -n 's/^luatrain board: \(http:[^ ]*\) .*/\1/p' "$TMP/$name.out")
    [ -n "$URL" ] && break
    kill -0 "$BPID" 2>/dev/null || break
    sleep 0.1
  done
  PORT=$(printf '%s' "$URL" | sed -n 's/.*:\([0-9]*\)\/$/\1/p')
}
# stop_board PID SIGNAL: sends the signal; sets $rc (124 when still running
# after 5 s, then killed) and $stop_s.
stop_board() {
  local pid=$1 start
  start=$(date +%s%N)
  kill "-$2" "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"; wait "$pid" 2>/dev/null; rc=124
  else
    wait "$pid"; rc=$?
  fi
  stop_s=$(( ($(date +%s%N) - start) / 1000000 ))
}

# ---- a runs folder from a real (tiny) training run
out=$(timeout 300 "$BIN" "$ROOT/scripts/cifar_resnet18.lua" --dataset fashion-mnist --epochs 1 --limit-train 256 \
      --limit-test 128 --width 4 --quiet --name r1 2>&1)
if [ ! -s runs/r1/metrics.jsonl ] || [ ! -f runs/r1/config.json ]; then
  fail "the training run wrote no runs/r1/metrics.jsonl and config.json: $out"
  echo "$passed passed, $failed failed"; exit 1
fi

# ---- the command line
out=$("$BIN" board --help 2>&1); rc=$?
same "board --help status" "$rc" 0
has "board --help" "$out" "/api/runs/<name>/metrics?offset=N"
has "board --help" "$out" "--port"
has "board --help" "$out" "127.0.0.1"
out=$(timeout 10 "$BIN" board "$TMP/no_such_runs" 2>&1); rc=$?
same "a missing runs folder: status" "$rc" 1
has "a missing runs folder" "$out" "luatrain board: no runs folder '$TMP/no_such_runs'"
out=$(timeout 10 "$BIN" board runs --port 70000 2>&1); rc=$?
same "--port 70000: status" "$rc" 1
out=$(timeout 10 "$BIN" board runs --colour red 2>&1); rc=$?
same "an unknown option: status" "$rc" 1
has "an unknown option" "$out" "unknown option '--colour'"

# ---- the board
start_board main runs --port 0
MAIN=$BPID
if [ -z "$URL" ]; then
  fail "the board printed no URL: $(cat "$TMP/main.out" "$TMP/main.err")"
  echo "$passed passed, $failed failed"; exit 1
fi
same "the start line" "$(head -1 "$TMP/main.out")" \
  "luatrain board: http://127.0.0.1:$PORT/ (runs: $TMP/runs); Ctrl-C stops it"
same "no warning on 127.0.0.1" "$(cat "$TMP/main.err")" ""

# the page, embedded from src/host/board/index.html
get /
same "GET /" "$code" 200
same "GET / type" "$(header Content-Type)" "text/html; charset=utf-8"
if cmp -s "$TMP/body" "$ROOT/src/host/board/index.html"; then pass; else
  [ -f "$ROOT/src/host/board/index.html" ] && fail "GET / is not src/host/board/index.html (rebuild?)" || pass; fi
get / -I
same "HEAD /" "$code" 200
lacks "HEAD / has no body (curl -I writes the headers only)" "$body" "<"
# the dygraphs files (Debian's libjs-dygraphs)
for f in dygraph.min.js dygraph.min.css; do
  get "/static/$f"
  if [ -f "/usr/share/javascript/dygraphs/$f" ]; then
    same "GET /static/$f" "$code" 200
    cmp -s "$TMP/body" "/usr/share/javascript/dygraphs/$f" && pass || fail "/static/$f differs from the package's"
  else
    same "GET /static/$f without libjs-dygraphs" "$code" 404
    has "GET /static/$f without libjs-dygraphs" "$body" "libjs-dygraphs"
  fi
done
same "dygraph.min.js type" "$(get /static/dygraph.min.js; header Content-Type)" \
  "$([ -f /usr/share/javascript/dygraphs/dygraph.min.js ] && echo "text/javascript; charset=utf-8" || echo "text/plain; charset=utf-8")"

# the run list
get /api/runs
same "GET /api/runs" "$code" 200
same "GET /api/runs type" "$(header Content-Type)" "application/json"
size=$(stat -c %s runs/r1/metrics.jsonl)
mid=$(stat -c %d:%i runs/r1/metrics.jsonl)
json "/api/runs: r1" "local r = run('r1')
  if r.metrics_id ~= '$mid' then return 'metrics_id ' .. tostring(r.metrics_id) end
  if j.root ~= '$TMP/runs' then return 'root ' .. tostring(j.root) end
  if math.abs(j.now - os.time()) > 60 then return 'now ' .. tostring(j.now) end
  if #j.runs ~= 1 or not r then return 'runs: ' .. #j.runs end
  if r.metrics_size ~= $size then return 'metrics_size ' .. r.metrics_size end
  if math.abs(r.metrics_mtime - os.time()) > 600 then return 'metrics_mtime ' .. r.metrics_mtime end
  if r.state ~= 'finished' or r.status.state ~= 'finished' then return 'state ' .. tostring(r.state) end
  if r.config.options.width ~= 4 or r.config.run_dir ~= 'runs/r1' then return 'config' end
  return true"

# runs that appear, in every state, and folders that are not runs
DEAD=$(sh -c 'echo $$')   # a process that has ended
HOST=$(cat /proc/sys/kernel/hostname)
mkdir -p runs/live runs/dead runs/elsewhere runs/nostatus runs/badjson runs/empty runs/.hidden runs/a..b
printf '{"step":1}\n' > runs/live/metrics.jsonl
printf '{"state":"running","pid":%d,"host":"%s","started":1,"updated":2}\n' $$ "$HOST" > runs/live/status.json
printf '{"step":1}\n' > runs/dead/metrics.jsonl
printf '{"state":"running","pid":%d,"host":"%s","started":1,"updated":2}\n' "$DEAD" "$HOST" > runs/dead/status.json
printf '{"a":1}\n' > runs/elsewhere/config.json
printf '{"state":"running","pid":%d,"host":"not-%s","started":1,"updated":2}\n' "$DEAD" "$HOST" \
  > runs/elsewhere/status.json
printf '{"a":1}\n' > runs/nostatus/config.json
printf '{"a":' > runs/badjson/config.json
printf '{"state":"failed"}' > runs/badjson/status.json
printf '{"a":1}\n' > runs/.hidden/config.json
printf '{"a":1}\n' > runs/a..b/config.json
printf 'x' > runs/plainfile
get /api/runs
json "/api/runs: new runs and their states" "
  local names = {}
  for _, r in ipairs(j.runs) do names[#names + 1] = r.name end
  names = table.concat(names, ' ')
  if names ~= 'badjson dead elsewhere live nostatus r1' then return 'names: ' .. names end
  if run('live').state ~= 'running' then return 'live: ' .. run('live').state end
  if run('dead').state ~= 'interrupted' then return 'dead: ' .. run('dead').state end
  if run('dead').status.state ~= 'running' then return 'dead status changed' end
  if run('elsewhere').state ~= 'running' then return 'elsewhere: ' .. run('elsewhere').state end
  if run('nostatus').state ~= 'unknown' or run('nostatus').status ~= null then return 'nostatus' end
  if run('nostatus').metrics_size ~= 0 or run('nostatus').metrics_mtime ~= 0 then return 'nostatus metrics' end
  if run('live').config ~= null then return 'live has no config' end
  if run('badjson').config ~= null or run('badjson').state ~= 'failed' then return 'badjson' end
  return true"
rm -rf runs/live runs/dead
get /api/runs
json "/api/runs: runs that disappear" "
  return run('live') == nil and run('dead') == nil and run('r1') ~= nil or 'still listed'"

# ---- metrics: complete lines from an offset
get "/api/runs/r1/metrics?offset=0"
same "metrics from 0" "$code" 200
same "metrics type" "$(header Content-Type)" "text/plain; charset=utf-8"
cmp -s "$TMP/body" runs/r1/metrics.jsonl && pass || fail "metrics from 0 is not the whole file"
same "metrics X-Next-Offset" "$(header X-Next-Offset)" "$size"
same "metrics without X-Reset" "$(header X-Reset)" ""
get "/api/runs/r1/metrics"
same "metrics without offset" "$(header X-Next-Offset)" "$size"
get "/api/runs/r1/metrics?offset=$size"
same "metrics at the end: status" "$code" 200
same "metrics at the end: nothing" "$body" ""
same "metrics at the end: same offset" "$(header X-Next-Offset)" "$size"
# a line being written: held back until complete
printf '{"step":99,"train_lo' >> runs/r1/metrics.jsonl
get "/api/runs/r1/metrics?offset=$size"
same "a cut last line: nothing" "$body" ""
same "a cut last line: same offset" "$(header X-Next-Offset)" "$size"
printf 'ss":1.5}\n{"step":100,' >> runs/r1/metrics.jsonl
get "/api/runs/r1/metrics?offset=$size"
same "the completed line" "$body" '{"step":99,"train_loss":1.5}'
next=$(header X-Next-Offset)
same "the completed line's offset" "$next" "$((size + 29))"
printf '"train_loss":1.25}\n' >> runs/r1/metrics.jsonl
get "/api/runs/r1/metrics?offset=$next"
same "the next line" "$body" '{"step":100,"train_loss":1.25}'
# a file replaced by a shorter one: from 0, with X-Reset
printf '{"step":1}\n{"step":2}\n' > runs/r1/metrics.jsonl
get "/api/runs/r1/metrics?offset=$next"
same "a truncated file: status" "$code" 200
same "a truncated file: X-Reset" "$(header X-Reset)" "1"
same "a truncated file: from 0" "$body" '{"step":1}
{"step":2}'
same "a truncated file: next offset" "$(header X-Next-Offset)" 22
for bad in abc -1 "" 1e3 0x10 "12%20"; do
  get "/api/runs/r1/metrics?offset=$bad"
  same "offset=$bad" "$code" 400
done
# over 4 MiB: the response stops at the last complete line within 4 MiB
line=$(head -c 999 /dev/zero | tr '\0' x)
for _ in $(seq 5000); do printf '%s\n' "$line"; done > runs/big.tmp   # 5,000,000 bytes
mkdir -p runs/big && mv runs/big.tmp runs/big/metrics.jsonl
get "/api/runs/big/metrics?offset=0"
same "4 MiB at most: next offset" "$(header X-Next-Offset)" "$(( (4194304 / 1000) * 1000 ))"
same "4 MiB at most: size" "$(stat -c %s "$TMP/body")" "$(( (4194304 / 1000) * 1000 ))"
get "/api/runs/big/metrics?offset=$(( (4194304 / 1000) * 1000 ))"
same "the rest after 4 MiB" "$(header X-Next-Offset)" 5000000

# ---- config
get /api/runs/r1/config
same "config" "$code" 200
same "config type" "$(header Content-Type)" "application/json"
cmp -s "$TMP/body" runs/r1/config.json && pass || fail "config is not config.json as it is"
get /api/runs/big/config
same "a run without config.json" "$code" 404
get /api/runs/nosuch/config
same "no such run" "$code" 404
get /api/runs/nosuch/metrics
same "no such run's metrics" "$code" 404

# ---- safety: nothing outside the runs folder
mkdir -p outside && printf '{"secret":1}\n' > outside/config.json && printf '{"secret":1}\n' > outside/metrics.jsonl
ln -s "$TMP/outside" runs/escape
ln -s r1 runs/alias
mkdir -p runs/leak && printf '{"a":1}\n' > runs/leak/config.json && ln -s /etc/passwd runs/leak/metrics.jsonl
mkdir -p runs/leak2 && ln -s "$TMP/outside/config.json" runs/leak2/config.json && printf '{}\n' > runs/leak2/metrics.jsonl
mkdir -p runs/fifo && printf '{"a":1}\n' > runs/fifo/config.json && mkfifo runs/fifo/metrics.jsonl
mkdir -p runs/dir && mkdir runs/dir/metrics.jsonl runs/dir/config.json
get /api/runs/escape/config
same "a run folder linked outside: config" "$code" 403
lacks "a run folder linked outside: config" "$body" secret
get /api/runs/escape/metrics
same "a run folder linked outside: metrics" "$code" 403
get /api/runs/alias/config
same "a run folder linked inside is served" "$code" 200
get /api/runs/leak/metrics
same "metrics.jsonl linked to /etc/passwd" "$code" 403
lacks "metrics.jsonl linked to /etc/passwd" "$body" "root:"
get /api/runs/leak2/config
same "config.json linked outside" "$code" 403
get /api/runs/fifo/metrics
same "a FIFO for metrics.jsonl (no hang)" "$code" 403
get /api/runs/dir/metrics
same "a folder for metrics.jsonl" "$code" 403
get /api/runs
json "/api/runs lists no run outside" "
  if run('escape') then return 'escape listed' end
  if not run('alias') then return 'alias missing' end
  if run('leak').metrics_size ~= 0 then return 'leak: metrics_size ' .. run('leak').metrics_size end
  if run('leak2').config ~= null then return 'leak2: config read through a symlink' end
  if run('fifo').metrics_size ~= 0 then return 'fifo' end
  return true"
lacks "/api/runs leaks nothing" "$body" secret
for p in "/api/runs/../x" "/api/runs/../../etc/passwd" "/api/runs/r1/../../outside/config" "/api/runs/./r1/config" \
         "/api/runs/%2e%2e/config" "/api/runs/%2E%2E/metrics" "/api/runs/a%2fb/config" "/api/runs/..%2foutside/config" \
         "/api/runs/r1%2f..%2f..%2foutside/config" "/api/runs/%2e%2e%2foutside/config" "/api/runs/.hidden/config" \
         "/api/runs/a..b/config" "/api/runs/plainfile/config" "/api/runs/r1%00/config" "/api/runs//config" \
         "/static/../../../../etc/passwd" "/static/%2e%2e/%2e%2e/etc/passwd"; do
  get "$p" --path-as-is
  case "$code" in 403|404) pass ;; *) fail "$p: status $code (want 403 or 404): $(head -c 200 "$TMP/body")" ;; esac
  lacks "$p" "$body" "root:"
  lacks "$p" "$body" secret
done
name128=$(head -c 128 /dev/zero | tr '\0' n)
mkdir -p "runs/$name128" && printf '{}\n' > "runs/$name128/config.json"
get "/api/runs/$name128/config"
same "a 128-character run name" "$code" 200
mkdir -p "runs/${name128}n" && printf '{}\n' > "runs/${name128}n/config.json"
get "/api/runs/${name128}n/config"
same "a 129-character run name" "$code" 404

# ---- routes, methods, bodies, targets, Host
for p in /nope /index.html /api /api/ /api/runs/ /api/runs/r1 /api/runs/r1/ /api/runs/r1/other /api/runs/r1/config/x \
         /static/ /static/dygraph.js /static/dygraph.min.js.map; do
  get "$p"
  same "unknown route $p" "$code" 404
done
get /api/nope
same "an API 404 is JSON" "$(header Content-Type)" "application/json"
json "an API 404 says why" "return type(j.error) == 'string' and j.error:find('board: ', 1, true) == 1 or j.error"
get /nope
same "a page 404 is text" "$(header Content-Type)" "text/plain; charset=utf-8"
for m in POST PUT DELETE PATCH OPTIONS; do
  get /api/runs -X "$m"
  same "$m" "$code" 405
  same "$m: Allow" "$(header Allow)" "GET, HEAD"
done
get /api/runs -X POST -d 'x=1'
same "POST with a body" "$code" 405
get /api/runs -X GET --data-binary 'body'
same "GET with a body" "$code" 413
get /api/runs -X GET -H 'Transfer-Encoding: chunked' --data-binary 'body'
same "GET with a chunked body" "$code" 413
long=$(head -c 3000 /dev/zero | tr '\0' a)
get "/$long"
same "a 3000-byte target" "$code" 414
get "/api/runs/r1/metrics?offset=0&pad=$long"
same "a 3000-byte query" "$code" 414
get "/$(head -c 100000 /dev/zero | tr '\0' a)"
case "$code" in 414|431|400) pass ;; *) fail "a 100 kB target: status $code" ;; esac
get /api/runs -H "Host: evil.example:$PORT"
same "a foreign Host (DNS rebinding)" "$code" 403
get /api/runs -H "Host: localhost:$PORT"
same "Host: localhost" "$code" 200
get /api/runs -H "Host: [::1]:$PORT"
same "Host: [::1]" "$code" 200
get /api/runs -H "Host: 127.0.0.1.evil.example"
same "Host: 127.0.0.1.evil.example" "$code" 403

# ---- 8 clients at once
clients=()
for i in $(seq 8); do
  curl -s --max-time 20 -o "$TMP/c$i.body" -w '%{http_code}' "${URL}api/runs/big/metrics?offset=0" > "$TMP/c$i.code" &
  clients+=($!)
done
for p in "${clients[@]}"; do wait "$p"; done
for i in $(seq 8); do
  same "client $i of 8" "$(cat "$TMP/c$i.code")" 200
  same "client $i of 8: body" "$(stat -c %s "$TMP/c$i.body")" "$(( (4194304 / 1000) * 1000 ))"
done

# ---- the port in use, another host, a missing dygraphs folder
out=$(timeout 10 "$BIN" board runs --port "$PORT" 2>&1); rc=$?
same "the port in use: status" "$rc" 1
has "the port in use" "$out" "luatrain board: cannot listen on 127.0.0.1:$PORT: address in use (another board? use --port)"
out=$(timeout 10 "$BIN" board runs --host no-such-host.invalid --port 0 2>&1); rc=$?
same "a host that does not resolve: status" "$rc" 1
has "a host that does not resolve" "$out" "luatrain board: cannot listen on no-such-host.invalid:0"
mkdir -p empty_runs empty_dygraphs
start_board wide empty_runs --host 0.0.0.0 --port 0 --dygraphs "$TMP/empty_dygraphs"
WIDE=$BPID
has "--host 0.0.0.0 warns" "$(cat "$TMP/wide.err")" "luatrain board: warning: listening on 0.0.0.0"
get "/static/dygraph.min.js"
same "a missing dygraphs file" "$code" 404
has "a missing dygraphs file names the package" "$body" "libjs-dygraphs"
has "a missing dygraphs file names the file" "$body" "$TMP/empty_dygraphs/dygraph.min.js"
get /api/runs -H "Host: some.name.example:$PORT"
same "a non-loopback board takes any Host" "$code" 200
stop_board "$WIDE" TERM
same "SIGTERM: status" "$rc" 0

# ---- Ctrl-C
stop_board "$MAIN" INT
same "SIGINT: status" "$rc" 0
[ "$stop_s" -lt 5000 ] && pass || fail "SIGINT took ${stop_s} ms to stop the board"
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "${URL}api/runs")
same "nothing listens after SIGINT" "$code" "000"
same "the board's stderr" "$(cat "$TMP/main.err")" ""

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
