#!/usr/bin/env bash
# test_embed.sh — tests of cmake/embed_lua.cmake, which turns lua/**/*.lua
# into the C table lt_embedded_modules (src/lua/lt_embedded.h).
#
#   tests/host/test_embed.sh [ignored]   (takes the binary path like the
#   other host tests, but needs only cmake and a C compiler)
#
# Builds small Lua trees, generates the C file, compiles it with a checker
# that prints every entry, and compares names, chunk names and bytes.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

embed() {   # embed LUA_DIR OUT.c
  timeout 60 cmake -DOUT="$2" -DROOT="$1" -P "$ROOT/cmake/embed_lua.cmake" 2>"$TMP/cmake.err"
}

cat >"$TMP/check.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "lt_embedded.h"
int main(int argc, char **argv) {
  printf("count %d\n", lt_embedded_module_count);
  for (int i = 0; i < lt_embedded_module_count; i++) {
    const lt_embedded_module *m = &lt_embedded_modules[i];
    printf("%s %s %zu %s\n", m->name, m->chunkname, m->length,
           m->source[m->length] == '\0' ? "nul" : "no-nul");
    if (argc > 1) {   /* dump the bytes to argv[1]/<name> */
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[1], m->name);
      FILE *f = fopen(path, "wb");
      if (f == NULL || fwrite(m->source, 1, m->length, f) != m->length) return 2;
      fclose(f);
    }
  }
  return 0;
}
C

build() {   # build GENERATED.c EXE
  $CC -std=c11 -Wall -Wextra -Werror -I"$ROOT/src/lua" "$TMP/check.c" "$1" -o "$2" 2>"$TMP/cc.err"
}

# ---- a tree with nested modules, init.lua files and awkward bytes
T=$TMP/tree/lua
mkdir -p "$T/luatrain/nn" "$T/luatrain/cli"
printf 'return {name = "root"}\n' >"$T/luatrain/init.lua"
printf 'return "nn"\n' >"$T/luatrain/nn/init.lua"
printf '%s' '-- sixteen bytes!' >"$T/luatrain/nn/conv.lua"              # 17 bytes
printf '0123456789abcdef' >"$T/luatrain/cli/sixteen.lua"              # exactly 16
printf 'a\000b\377\n"\\*/ ??=' >"$T/luatrain/cli/bytes.lua"            # NUL, 0xff, quotes, trigraph
: >"$T/luatrain/cli/empty.lua"
printf 'return 1\n' >"$T/top.lua"
head -c 300000 /dev/urandom >"$T/luatrain/big.lua"
printf 'not lua\n' >"$T/luatrain/README.md"

if embed "$T" "$TMP/gen.c"; then pass; else fail "embed failed: $(cat "$TMP/cmake.err")"; fi
if build "$TMP/gen.c" "$TMP/check"; then pass; else fail "generated C does not compile: $(head -5 "$TMP/cc.err")"; fi
mkdir -p "$TMP/dump"
got=$("$TMP/check" "$TMP/dump")
want="count 8
luatrain.big @lua/luatrain/big.lua 300000 nul
luatrain.cli.bytes @lua/luatrain/cli/bytes.lua 13 nul
luatrain.cli.empty @lua/luatrain/cli/empty.lua 0 nul
luatrain.cli.sixteen @lua/luatrain/cli/sixteen.lua 16 nul
luatrain @lua/luatrain/init.lua 23 nul
luatrain.nn.conv @lua/luatrain/nn/conv.lua 17 nul
luatrain.nn @lua/luatrain/nn/init.lua 12 nul
top @lua/top.lua 9 nul"
if [ "$got" = "$want" ]; then pass; else fail "entries:
$got
want:
$want"; fi
for pair in luatrain.big:luatrain/big.lua luatrain.cli.bytes:luatrain/cli/bytes.lua \
            luatrain.cli.empty:luatrain/cli/empty.lua luatrain.cli.sixteen:luatrain/cli/sixteen.lua \
            luatrain:luatrain/init.lua luatrain.nn.conv:luatrain/nn/conv.lua \
            luatrain.nn:luatrain/nn/init.lua top:top.lua; do
  name=${pair%%:*}
  file=${pair#*:}
  if cmp -s "$TMP/dump/$name" "$T/$file"; then pass; else fail "bytes of $name differ from lua/$file"; fi
done

# ---- regenerating an unchanged tree leaves the file alone (no rebuild)
touch -d '2000-01-01' "$TMP/gen.c"
before=$(stat -c %Y "$TMP/gen.c")
embed "$T" "$TMP/gen.c"
if [ "$(stat -c %Y "$TMP/gen.c")" = "$before" ]; then pass; else fail "unchanged tree rewrote the output"; fi
printf 'return 2\n' >"$T/top.lua"
embed "$T" "$TMP/gen.c"
if [ "$(stat -c %Y "$TMP/gen.c")" != "$before" ]; then pass; else fail "a changed file did not rewrite the output"; fi

# ---- an empty tree still compiles, with count 0
mkdir -p "$TMP/empty/lua"
embed "$TMP/empty/lua" "$TMP/empty.c" && build "$TMP/empty.c" "$TMP/check_empty" &&
  [ "$("$TMP/check_empty")" = "count 0" ] && pass || fail "empty tree: $(cat "$TMP/cmake.err" "$TMP/cc.err" 2>/dev/null)"

# ---- trees the script must refuse
refuse() {   # refuse NAME LUA_DIR PATTERN
  if embed "$2" "$TMP/bad.c"; then fail "$1: accepted"; return; fi
  if grep -q -- "$3" "$TMP/cmake.err"; then pass; else fail "$1: message was $(cat "$TMP/cmake.err")"; fi
}
mkdir -p "$TMP/dup/lua/a"
printf 'x' >"$TMP/dup/lua/a.lua"
printf 'y' >"$TMP/dup/lua/a/init.lua"
refuse "duplicate module" "$TMP/dup/lua" "two files define module 'a'"
mkdir -p "$TMP/top/lua"
printf 'x' >"$TMP/top/lua/init.lua"
refuse "top-level init.lua" "$TMP/top/lua" "has no module name"
mkdir -p "$TMP/space/lua"
printf 'x' >"$TMP/space/lua/a b.lua"
refuse "space in a file name" "$TMP/space/lua" "has characters other than"
refuse "missing root" "$TMP/nowhere" "is not a directory"

# ---- the project's own library embeds and compiles
if [ -d "$ROOT/lua" ]; then
  embed "$ROOT/lua" "$TMP/real.c" && build "$TMP/real.c" "$TMP/check_real" && "$TMP/check_real" >/dev/null &&
    pass || fail "embedding lua/: $(cat "$TMP/cmake.err" "$TMP/cc.err" 2>/dev/null)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
