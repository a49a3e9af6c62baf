#!/usr/bin/env bash
# test_lua_module.sh — luatrain as a library (include/luatrain.h): the Lua
# module in Debian's lua5.4 (the build's lua/5.4/luatrain.so, and the same
# installed by `luarocks make` from the rockspec), and the embedding example
# examples/embed/embed.c built against libluatrain. Each trains the same tiny
# model for the same seed and must print the loss the luatrain program prints,
# to the last bit.
#
#   tests/host/test_lua_module.sh path/to/build/luatrain
#
# Skipped (77) where the build has no libluatrain (sanitizer and fuzz builds)
# or lua5.4 / luarocks are missing (scripts/install-deps.sh installs them).
set -uo pipefail
BIN=${1:?usage: test_lua_module.sh path/to/build/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BUILD=$(dirname "$BIN")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
unset LUATRAIN_PATH LUA_INIT LUA_INIT_5_4 LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4

if [ ! -e "$BUILD/lua/5.4/luatrain.so" ]; then echo "skipped: $BUILD has no libluatrain (sanitizer build)"; exit 77; fi
for tool in lua5.4 luarocks cc; do
  command -v $tool > /dev/null || { echo "skipped: $tool is not installed (bash scripts/install-deps.sh)"; exit 77; }
done

passed=0
failed=0
check() {   # check NAME EXPECTED GOT
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected [$2], got [$3]" >&2; fi
}

# The same few steps of SGD, as a file any of them can run: it prints the
# loss and returns it (for the embedding example, which prints what it gets).
cat > "$TMP/steps.lua" <<'LUA'
local lt = require "luatrain"
lt.manual_seed(11)
local nn = lt.nn
local model = nn.Sequential(nn.Conv2d(1, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(),
                            nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
local opt = lt.optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4})
local x, y = lt.randn(8, 1, 6, 6), lt.randint(1, 4, {8})
local loss
for _ = 1, 4 do
  opt:zero_grad()
  loss = nn.functional.cross_entropy(model(x), y)
  loss:backward()
  opt:step()
end
print(string.format("loss after one step: %.17g", loss:item()))
return loss:item()
LUA
want=$(timeout 60 "$BIN" "$TMP/steps.lua")
case "$want" in "loss after one step: "[0-9]*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)); echo "FAIL the program's run printed [$want]" >&2 ;; esac

# 1. Debian's lua5.4 with the build's module.
got=$(cd "$TMP" && LUA_CPATH="$BUILD/lua/5.4/?.so" timeout 60 lua5.4 "$TMP/steps.lua" 2>&1)
check "lua5.4 with the build's module" "$want" "$got"
got=$(cd "$TMP" && LUA_CPATH="$BUILD/lua/5.4/?.so" timeout 60 lua5.4 -e '
  local lt = require "luatrain"
  assert(package.loaded.luatrain == lt and lt.Tensor and lt.nn.Module and lt.optim.SGD and lt.data.DataLoader and lt.train.Run)
  assert(rawget(_G, "lt") == nil, "require set a global")
  assert(require "luatrain" == lt, "a second require gave another table")
  local ok, err = pcall(lt.zeros, "x")
  assert(not ok and tostring(err):find("zeros", 1, true), tostring(err))
  print("ok")' 2>&1)
check "the module's table, no global, errors as Lua errors" "ok" "$got"
# a program that exits with live worker threads must exit cleanly (the library stays loaded)
got=$(cd "$TMP" && LUA_CPATH="$BUILD/lua/5.4/?.so" timeout 60 lua5.4 -e '
  local lt = require "luatrain"
  local ds = lt.data.TensorDataset(lt.randn(64, 3), lt.arange(1, 65))
  local loader = lt.data.DataLoader(ds, {batch_size = 8, num_workers = 2, shuffle = true})
  for i in loader:iter() do if i == 2 then break end end
  print(lt.matmul(lt.randn(200, 200), lt.randn(200, 200)):size(1))' 2>&1; echo "status $?")
check "lua5.4 exits cleanly after threads ran" "200
status 0" "$got"

# 2. luarocks make with the rockspec, into a scratch tree, reusing this build.
rockspec=$(ls "$ROOT"/luatrain-*.rockspec)
(cd "$ROOT" && LUATRAIN_ROCK_BUILD="$BUILD" timeout 600 luarocks --lua-version 5.4 --tree "$TMP/rocks" make "$rockspec") \
  > "$TMP/rock.log" 2>&1 || { tail -20 "$TMP/rock.log" >&2; }
got=$(cd "$TMP" && LUA_CPATH="$TMP/rocks/lib/lua/5.4/?.so" timeout 60 lua5.4 "$TMP/steps.lua" 2>&1)
check "lua5.4 with the module luarocks installed" "$want" "$got"

# 3. the embedding example, built against the build's libluatrain.
if cc -Wall -Wextra -Werror "$ROOT/examples/embed/embed.c" -I"$ROOT/include" -I/usr/include/lua5.4 \
      -L"$BUILD" -lluatrain -llua5.4 -Wl,-rpath,"$BUILD" -o "$TMP/embed" 2> "$TMP/cc.log"; then
  got=$(cd "$TMP" && timeout 60 ./embed 2>&1)
  case "$got" in "loss after one step: "[0-9]*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)); echo "FAIL embed printed [$got]" >&2 ;; esac
  got=$(cd "$TMP" && timeout 60 ./embed "$TMP/steps.lua" 2>&1 | tail -n 1)
  check "the embedding example running the same steps" "$want" "$got"
  printf 'error("planted")\n' > "$TMP/bad.lua"
  got=$(cd "$TMP" && timeout 60 ./embed "$TMP/bad.lua" 2>&1; echo "status $?")
  check "the embedding example reports a Lua error" "embed: $TMP/bad.lua:1: planted
status 1" "$got"
else
  failed=$((failed + 1)); echo "FAIL examples/embed/embed.c does not build:" >&2; cat "$TMP/cc.log" >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
