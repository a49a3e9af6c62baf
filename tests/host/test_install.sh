#!/usr/bin/env bash
# test_install.sh — `make install` into a scratch prefix and back out: the
# installed program (linked against Debian's shared libraries) starts, runs
# a training script by its bare name from another folder, finds the user's
# own scripts through LUATRAIN_SCRIPTS, and says where it looked when a name
# is nowhere; the man page reads with man; the Lua module and libluatrain are
# where lua5.4 and the C compiler look; the uninstall script removes every
# installed file.
#
#   tests/host/test_install.sh path/to/build/luatrain
#
# CMake's install_manifest.txt in the build folder is put back afterwards.
set -uo pipefail
BIN=${1:?usage: test_install.sh path/to/build/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BUILD=$(dirname "$BIN")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
manifest="$BUILD/install_manifest.txt"
[ -f "$manifest" ] && cp "$manifest" "$TMP/manifest.saved"
restore() {
  if [ -f "$TMP/manifest.saved" ]; then cp "$TMP/manifest.saved" "$manifest"; else rm -f "$manifest"; fi
  rm -rf "$TMP"
}
trap restore EXIT
unset LUATRAIN_PATH LUATRAIN_SCRIPTS LUA_INIT LUA_INIT_5_4 LUA_CPATH LUA_CPATH_5_4
[ -f "$BUILD/cmake_install.cmake" ] || { echo "skipped: $BUILD is not a CMake build folder"; exit 77; }
if [ ! -e "$BUILD/lua/5.4/luatrain.so" ]; then echo "skipped: $BUILD has no libluatrain (sanitizer build)"; exit 77; fi

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*" >&2; }
has() {   # has NAME TEXT NEEDLE
  case "$2" in *"$3"*) ok ;; *) bad "$1: expected to find [$3] in:"; printf '%s\n' "$2" | tail -n 15 >&2 ;; esac
}

P="$TMP/prefix"
if ! cmake --install "$BUILD" --prefix "$P" > "$TMP/install.log" 2>&1; then
  bad "cmake --install failed:"; tail -20 "$TMP/install.log" >&2
  echo "$passed passed, $failed failed"; exit 1
fi
cp "$manifest" "$TMP/installed_files.txt"   # what make install keeps for make uninstall

for f in bin/luatrain share/luatrain/scripts/cifar_resnet18.lua share/luatrain/scripts/fashion_mnist.lua \
         share/luatrain/scripts/get_cifar10.sh share/luatrain/scripts/examples/warmup_scheduler.lua \
         share/man/man1/luatrain.1.gz share/bash-completion/completions/luatrain share/doc/luatrain/copyright \
         include/luatrain.h lib/libluatrain.so lib/lua/5.4/luatrain.so; do
  if [ -e "$P/$f" ]; then ok; else bad "not installed: $f"; fi
done
[ -x "$P/share/luatrain/scripts/get_cifar10.sh" ] && ok || bad "get_cifar10.sh installed without its execute bit"

# the installed program is linked as Debian links: Lua and the codecs shared
libs=$(ldd "$P/bin/luatrain")
has "installed program's libraries" "$libs" "liblua5.4.so"
has "installed program's libraries" "$libs" "libturbojpeg.so"
out=$("$P/bin/luatrain" -v 2>&1)
has "installed luatrain -v" "$out" "luatrain 0.1.0"

# a script by its bare name, from a folder that is not the source tree; it
# loads its example scheduler from beside itself and writes runs/ here
mkdir -p "$TMP/work" && cd "$TMP/work" || exit 1
out=$(timeout 120 "$P/bin/luatrain" cifar_resnet18 --epochs 1 --limit-train 128 --limit-test 64 --width 2 --batch 64 \
      --quiet --name installed 2>&1)
has "installed cifar_resnet18 by name" "$out" "done: best val top-1"
[ -f "$TMP/work/runs/installed/last.safetensors" ] && ok || bad "the installed script wrote no runs/installed/last.safetensors"
out=$(timeout 60 "$P/bin/luatrain" fashion_mnist.lua --help 2>&1)
has "installed fashion_mnist.lua --help" "$out" "--epochs"
# the user's own folder comes first, and arg[0] is the path found
mkdir -p "$TMP/mine"
printf 'print("mine", arg[0], ...)\n' > "$TMP/mine/cifar_resnet18.lua"
out=$(LUATRAIN_SCRIPTS="$TMP/nowhere:$TMP/mine" timeout 60 "$P/bin/luatrain" cifar_resnet18 a b 2>&1)
has "LUATRAIN_SCRIPTS first" "$out" "mine	$TMP/mine/cifar_resnet18.lua	a	b"
# a file of that name here wins over both
printf 'print("here")\n' > "$TMP/work/fashion_mnist.lua"
out=$(timeout 60 "$P/bin/luatrain" fashion_mnist.lua 2>&1)
has "a file in the current folder first" "$out" "here"
out=$(timeout 60 "$P/bin/luatrain" no_such_script 2>&1; echo "status $?")
has "a name found nowhere" "$out" "cannot open no_such_script: no such file, command or installed script"
has "a name found nowhere" "$out" "$P/share/luatrain/scripts"
has "a name found nowhere" "$out" "status 1"

# the MPI plugin where the installed program looks for it: a 2-process job
if [ -f "$BUILD/luatrain_mpi.so" ] && command -v mpirun > /dev/null; then
  [ -f "$P/lib/luatrain/luatrain_mpi.so" ] && ok || bad "the MPI plugin is not in lib/luatrain"
  printf 'lt.distributed.init_process_group{backend = "mpi"}\nlocal t = lt.ones(2)\nlt.distributed.all_reduce(t)\nlt.distributed.print(t:sum():item())\n' > "$TMP/two.lua"
  out=$(bash "$ROOT/tests/dist/run_mpi.sh" -np 2 "$P/bin/luatrain" "$TMP/two.lua" 2>&1)
  has "a 2-process job of the installed program" "$out" "4.0"
fi

# the man page
if command -v man > /dev/null; then
  out=$(MANWIDTH=80 man -P cat -l "$P/share/man/man1/luatrain.1.gz" 2>&1)
  has "man -l luatrain.1.gz" "$out" "LUATRAIN_SCRIPTS"
else
  echo "note: man is not installed; the page was not read (bash scripts/install-deps.sh)"
fi
# the Lua module where lua5.4 looks under the prefix, and the library a C program links
if command -v lua5.4 > /dev/null; then
  out=$(LUA_CPATH="$P/lib/lua/5.4/?.so" timeout 60 lua5.4 -e 'print(require("luatrain").version)' 2>&1)
  has "lua5.4 with the installed module" "$out" "0.1.0"
fi
if cc "$ROOT/examples/embed/embed.c" -I"$P/include" -I/usr/include/lua5.4 -L"$P/lib" -lluatrain -llua5.4 \
     -Wl,-rpath,"$P/lib" -o "$TMP/embed" 2> "$TMP/cc.log"; then
  out=$(timeout 60 "$TMP/embed" 2>&1)
  has "the embedding example against the installed library" "$out" "loss after one step"
else
  bad "examples/embed/embed.c does not build against the installed header and library:"; cat "$TMP/cc.log" >&2
fi

# uninstall: nothing of luatrain's is left
out=$(bash "$ROOT/scripts/uninstall.sh" "$TMP/installed_files.txt" 2>&1)
has "uninstall" "$out" "uninstall: removed"
left=$(find "$P" -type f -o -type l)
[ -z "$left" ] && ok || bad "files left after uninstall: $left"
[ ! -e "$P/share/luatrain" ] && ok || bad "share/luatrain left after uninstall"
out=$(bash "$ROOT/scripts/uninstall.sh" "$TMP/no_manifest.txt" 2>&1; echo "status $?")
has "uninstall without a manifest" "$out" "nothing was installed from this build folder"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
