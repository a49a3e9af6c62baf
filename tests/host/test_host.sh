#!/usr/bin/env bash
# test_host.sh — tests of the luatrain program itself: options, scripts and
# `arg`, errors and exit status, stdin, commands (luatrain.cli.*), and the
# REPL (piped here; through a pseudo-terminal in repl_pty.py).
#
#   tests/host/test_host.sh path/to/luatrain
#
# Not a test of the library: the checks only assume that `lt` is a table.
# Every run is under `timeout`, so a hang fails a check instead of the suite.
set -u
BIN=${1:?usage: test_host.sh path/to/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
unset LUATRAIN_PATH LUA_INIT LUA_INIT_5_4
export HOME="$TMP/home"
mkdir -p "$HOME"

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

# run [args...]: runs the binary with stdin from $IN (default: nothing);
# sets $out, $err, $rc.
IN=/dev/null
# input FORMAT [ARGS...]: the next run's stdin, written with printf
input() {
  # shellcheck disable=SC2059
  printf "$@" >"$TMP/stdin"
  IN=$TMP/stdin
}
run() {
  out=$(timeout 10 "$BIN" "$@" <"$IN" 2>"$TMP/stderr")
  rc=$?
  err=$(cat "$TMP/stderr")
  IN=/dev/null
}
# check NAME WANT_RC WANT_STDOUT: exact stdout and exit status
check() {
  if [ "$rc" = "$2" ] && [ "$out" = "$3" ]; then pass; else
    fail "$1: rc=$rc (want $2), stdout=[$out] (want [$3]), stderr=[$err]"; fi
}
# has NAME TEXT PATTERN: grep -E PATTERN in TEXT
has() {
  if printf '%s\n' "$2" | grep -Eq -- "$3"; then pass; else
    fail "$1: [$2] does not match /$3/"; fi
}
status() {
  if [ "$rc" = "$2" ]; then pass; else fail "$1: exit status $rc, want $2 (stderr: $err)"; fi
}

# ---- -v, --help, bad options
run -v
check "-v" 0 "$out"
has "-v text" "$out" '^luatrain [0-9]+\.[0-9]+\.[0-9]+ \(Lua 5\.4\.[0-9]+\)$'
run --help
status "--help" 0
has "--help usage" "$out" '^usage: luatrain \[options\] \[script \[args\]\]'
has "--help -e" "$out" '^  -e code'
run -h
has "-h usage" "$out" '^usage: luatrain'
run -x
status "bad option" 1
has "bad option message" "$err" "^luatrain: unrecognized option '-x'"
run -e
status "-e without code" 1
has "-e without code message" "$err" "'-e' needs an argument"

# ---- -e, -l, the lt global
run -e 'print(1 + 1)'
check "-e" 0 "2"
run -e 'x = 20' -e 'print(x + 1)'
check "-e twice" 0 "21"
run -e'print("attached")'
check "-e attached" 0 "attached"
run -e 'print(type(lt))'
check "lt is a global table" 0 "table"
run -l string -e 'print(string == require "string")'
check "-l" 0 "true"
run -l s=string -e 'print(s.rep("ab", 3))'
check "-l g=mod" 0 "ababab"
# with no script the program is arg[0]; -e and its code follow it
run -e 'print(arg[1], arg[2], #arg)'
check "arg without script" 0 "$(printf -- '-e\tprint(arg[1], arg[2], #arg)\t2')"

# ---- scripts, arg and ...
cat >args.lua <<'LUA'
print(select('#', ...), ...)
print(arg[0], arg[1], arg[2], arg[3], #arg)
print(arg[-1], arg[-2], arg[-3] == nil and "none" or arg[-3])
LUA
run args.lua a "b c" d
check "script args" 0 "$(printf '3\ta\tb c\td\nargs.lua\ta\tb c\td\t3\n%s\tnil\tnone' "$BIN")"
run -e 'y = 1' args.lua a
check "arg with options" 0 "$(printf '1\ta\nargs.lua\ta\tnil\tnil\t1\ny = 1\t-e\t%s' "$BIN")"
run -- args.lua -v
check "-- ends options" 0 "$(printf '1\t-v\nargs.lua\t-v\tnil\tnil\t1\n--\t%s\tnone' "$BIN")"
printf '#!/usr/bin/env luatrain\nprint("shebang ok")\n' >shebang.lua
run shebang.lua
check "shebang line" 0 "shebang ok"
printf 'print("no extension")\n' >plainfile
run plainfile
check "bare-word script that is not a command" 0 "no extension"

# ---- errors: message, traceback, exit status
cat >err.lua <<'LUA'
local function inner() error("boom_marker") end
local function outer() inner() end
print("before")
outer()
print("not reached")
LUA
run err.lua
check "runtime error stdout" 1 "before"
has "error message" "$err" '^luatrain: err\.lua:1: boom_marker$'
has "traceback header" "$err" '^stack traceback:$'
has "traceback frame" "$err" "err\.lua:2: in (local|upvalue|function) '?outer'?"
printf 'x = = 1\n' >syntax.lua
run syntax.lua
status "syntax error status" 1
has "syntax error message" "$err" "^luatrain: syntax\.lua:1: unexpected symbol near '='"
run nosuch.lua
status "missing script status" 1
has "missing script message" "$err" '^luatrain: cannot open nosuch\.lua'
run -e 'error({})'
status "table error status" 1
has "table error message" "$err" '^luatrain: \(error object is a table value\)'
run -e 'error(setmetatable({}, {__tostring = function() return "custom_obj" end}))'
has "__tostring error message" "$err" '^luatrain: custom_obj$'
run -e 'error("in_e")' args.lua
status "-e error skips the script" 1
if [ -z "$out" ]; then pass; else fail "script ran after a failed -e: [$out]"; fi

# ---- os.exit
run -e 'os.exit(3)'
status "os.exit(3)" 3
run -e 'os.exit(true)'
status "os.exit(true)" 0
run -e 'os.exit(false)'
status "os.exit(false)" 1
run -e 'io.write("flushed"); os.exit(0, true)'
check "os.exit(0, true) closes the state" 0 "flushed"

# ---- stdin
input 'print(1 + 1)\nprint(arg[0])\n'
run
check "piped stdin" 0 "$(printf '2\n%s' "$BIN")"
input 'print(...)\nprint(arg[0])\n'
run - x y
check "- reads stdin" 0 "$(printf 'x\ty\n-')"
input 'error("piped_err")\n'
run
status "piped stdin error" 1
has "piped stdin error message" "$err" '^luatrain: stdin:1: piped_err'
input 'print("ignored")\n'
run -e 'print("only e")'
check "-e does not read stdin" 0 "only e"

# ---- -i with piped input: prompts, expression printing, multi-line, errors
input 'x = 5\nx * 2\n1, "two", nil\nfunction f(a)\nreturn a + 1\nend\nf(41)\nerror("repl_err")\nprint("after")\n\n'
run -i
status "-i piped status" 0
has "-i banner" "$out" '^luatrain [0-9.]+ \(Lua 5\.4[^)]*\)  lt is loaded'
has "-i expression" "$out" '^> > 10$'
has "-i several results" "$out" "$(printf '^> 1\ttwo\tnil$')"
has "-i multi-line" "$out" '^> >> >> > 42$'
has "-i error reported" "$err" '^luatrain: stdin:1: repl_err'
has "-i goes on after an error" "$out" '^> > after$'
printf 'script_global = 99\n' >setg.lua
input 'script_global + 1\n'
run -i setg.lua
has "-i after a script" "$out" '^> 100$'
input 'for i = 1, 2 do\n'
run -i
has "-i incomplete at end of input" "$err" "^luatrain: stdin:1: 'end' expected"

# ---- Ctrl-C while a script runs: the signal is sent once the script is
# running (it writes a file first), so a slow start-up (a sanitizer build on a
# busy machine) cannot make the signal arrive before the handler exists.
rm -f "$TMP/running"
LT_RUNNING_FILE="$TMP/running" "$BIN" -e 'io.open(os.getenv("LT_RUNNING_FILE"), "w"):close() while true do end' \
  2>"$TMP/stderr" </dev/null &
pid=$!
for _ in $(seq 1 300); do [ -e "$TMP/running" ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
rc=$?
err=$(cat "$TMP/stderr")
status "SIGINT in a script" 1
has "SIGINT message" "$err" '^luatrain: interrupted!$'

# ---- commands: luatrain <word> runs luatrain.cli.<word>.main(args)
mkdir -p cmds/luatrain/cli
cat >cmds/luatrain/cli/hello.lua <<'LUA'
return {main = function(args)
  print("hello", #args, args[1], args[2], arg[0])
  return 7
end}
LUA
printf 'return {main = function() error("cmd_failed") end}\n' >cmds/luatrain/cli/broken.lua
printf 'return {}\n' >cmds/luatrain/cli/nomain.lua
printf 'return {main = function() end}\n' >cmds/luatrain/cli/quiet.lua
printf 'return {main = function() return false end}\n' >cmds/luatrain/cli/false.lua
printf 'return {main = function() return 300 end}\n' >cmds/luatrain/cli/big.lua
export LUA_PATH="$TMP/cmds/?.lua;;"
run hello a "b c"
check "command" 7 "$(printf 'hello\t2\ta\tb c\thello')"
run quiet
check "command returning nothing" 0 ""
run false
status "command returning false" 1
run big
status "command returning 300" 1
run broken
status "failing command" 1
has "failing command message" "$err" 'cmd_failed'
has "failing command traceback" "$err" '^stack traceback:$'
run nomain
status "command without main" 1
has "command without main message" "$err" "module 'luatrain.cli.nomain' has no function 'main'"
run nosuchcmd
status "unknown command" 1
has "unknown command message" "$err" '^luatrain: cannot open nosuchcmd'
run -e 'print("e first")' hello
check "a command is only the first argument" 1 "e first"
unset LUA_PATH

# ---- REPL through a pseudo-terminal
if command -v python3 >/dev/null 2>&1; then
  repl_out=$(timeout 120 python3 "$HERE/repl_pty.py" "$BIN" 2>&1)
  printf '%s\n' "$repl_out" | grep '^FAIL' >&2
  p=$(printf '%s\n' "$repl_out" | grep -c '^PASS')
  f=$(printf '%s\n' "$repl_out" | grep -c '^FAIL')
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then fail "repl_pty.py ran no checks: $repl_out"; fi
else
  fail "python3 not found: the REPL checks need it"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
