#!/usr/bin/env bash
# test_layers.sh — the layer rule of docs/ARCHITECTURE.md, checked three ways:
#   1. the build refuses an upward or sideways include: the probes of
#      CMakeLists.txt ("probes") are built in the test's build folder; a
#      core file including a core header builds, a core file including the
#      glue's lt_lua.h and a CPU-backend file including autograd's header
#      fail, each for the missing header;
#   2. no source file includes a header of a layer it may not use (the
#      include graph of src/ and cuda/ against the layer order; the same
#      check on a copy with one violation planted must report it);
#   3. no library calls a function of a layer it may not use (nm of the
#      liblt_<layer>.a files in the build folder).
#
#   tests/host/test_layers.sh path/to/build/luatrain
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$(dirname "$1")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

# The layers a layer may use (itself always), and the folder of each.
declare -A USES=(
  [core]="core"
  [cpu]="cpu core" [cuda]="cuda core" [autograd]="autograd core" [data]="data core" [io]="io core"
  [dist]="dist core"
  [lua]="lua cpu cuda autograd data io dist core"
  [host]="host lua cpu cuda autograd data io dist core"
  [module]="module lua cpu cuda autograd data io dist core"
)
declare -A DIR=([core]=src/core [cpu]=src/cpu [cuda]=cuda [autograd]=src/autograd [data]=src/data [io]=src/io
                [dist]=src/dist [lua]=src/lua [host]=src/host [module]=src/module)

# --- 1. the build refuses ------------------------------------------------------------------
probe() {   # probe NAME: builds lt_probe_NAME, output in $TMP/NAME.log; returns cmake's status
  timeout 300 cmake --build "$BUILD" --target "lt_probe_$1" > "$TMP/$1.log" 2>&1
}
if probe core_includes_core; then pass; else fail "a core file including a core header did not build:"; tail -5 "$TMP/core_includes_core.log" >&2; fi
for p in core_includes_glue:lt_lua.h cpu_includes_autograd:lt_autograd.h; do
  name=${p%%:*} header=${p#*:}
  if probe "$name"; then
    fail "the build accepted $name (a file including $header from a layer that may not use it)"
  elif grep -q "$header: No such file" "$TMP/$name.log"; then
    pass
  else
    fail "$name failed, but not for the missing $header:"; tail -5 "$TMP/$name.log" >&2
  fi
done

# --- 2. the include graph --------------------------------------------------------------------
# include_violations ROOT: one line per quoted include that resolves to a
# header of a layer its file may not use (same folder first, then the folders
# of the layers, as the compiler would find it on a full include path).
include_violations() {
  local root=$1 layer file inc owner l
  for layer in "${!DIR[@]}"; do
    local files=("$root/${DIR[$layer]}"/*.[ch] "$root/${DIR[$layer]}"/*.cu "$root/${DIR[$layer]}"/*.cuh)
    [ "$layer" = host ] && files+=("$root/src/main.c")
    for file in "${files[@]}"; do
      [ -f "$file" ] || continue
      while read -r inc; do
        [ -f "$(dirname "$file")/$inc" ] && continue
        owner=""
        for l in "${!DIR[@]}"; do [ -f "$root/${DIR[$l]}/$inc" ] && owner=$l; done
        [ -z "$owner" ] && continue   # not one of ours (generated, or a library's)
        case " ${USES[$layer]} " in *" $owner "*) ;; *) echo "${file#"$root"/} ($layer) includes $inc ($owner)" ;; esac
      done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
    done
  done
}
include_violations "$ROOT" > "$TMP/includes.txt"
if [ -s "$TMP/includes.txt" ]; then fail "includes against the layer rule:"; cat "$TMP/includes.txt" >&2; else pass; fi
# the check itself: a copy with one upward include must be reported
mkdir -p "$TMP/tree"
for layer in "${!DIR[@]}"; do mkdir -p "$TMP/tree/${DIR[$layer]}" && cp "$ROOT/${DIR[$layer]}"/*.h "$TMP/tree/${DIR[$layer]}/" 2>/dev/null; done
printf '#include "lt_tensor.h"\n#include "lt_dataloader.h"\n' > "$TMP/tree/src/autograd/lt_planted.c"
if include_violations "$TMP/tree" | grep -q "src/autograd/lt_planted.c (autograd) includes lt_dataloader.h (data)"; then
  pass
else
  fail "the include check missed a planted autograd -> data include"
fi

# --- 3. the calls ----------------------------------------------------------------------------
# call_violations DIR: one line per undefined symbol of a liblt_<layer>.a in
# DIR that another of them defines, in a layer the first may not use. The
# number of symbols the libraries define goes to $TMP/defined.
call_violations() {
  local dir=$1 layer lib sym obj owner
  local -A owner_of=()
  for layer in "${!DIR[@]}"; do
    lib="$dir/liblt_$layer.a"
    [ -f "$lib" ] || continue
    while read -r sym; do owner_of[$sym]=$layer; done < <(nm --defined-only -g "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }')
  done
  echo "${#owner_of[@]}" > "$TMP/defined"
  for layer in "${!DIR[@]}"; do
    lib="$dir/liblt_$layer.a"
    [ -f "$lib" ] || continue
    while read -r obj sym; do
      owner=${owner_of[$sym]:-}
      [ -z "$owner" ] && continue
      case " ${USES[$layer]} " in *" $owner "*) ;; *) echo "$layer: $obj calls $sym ($owner)" ;; esac
    done < <(nm -A -u "$lib" 2>/dev/null | sed -n 's/^[^:]*:\([^:]*\): *U \(.*\)$/\1 \2/p')
  done
}
for layer in core cpu autograd data io dist lua host; do
  [ -f "$BUILD/liblt_$layer.a" ] || fail "no $BUILD/liblt_$layer.a"
done
call_violations "$BUILD" > "$TMP/calls.txt"
if [ -s "$TMP/calls.txt" ]; then fail "calls against the layer rule:"; cat "$TMP/calls.txt" >&2; else pass; fi
[ "$(cat "$TMP/defined")" -gt 500 ] && pass || fail "nm found only $(cat "$TMP/defined") symbols in the libraries of $BUILD"
# the check itself: a core library calling a function of the glue must be reported
mkdir -p "$TMP/libs"
printf 'int lt_planted_glue(void);\nint lt_planted_core(void) { return lt_planted_glue(); }\n' > "$TMP/libs/core.c"
printf 'int lt_planted_glue(void) { return 1; }\n' > "$TMP/libs/lua.c"
for l in core lua; do
  ${CC:-cc} -c "$TMP/libs/$l.c" -o "$TMP/libs/$l.o" && ar rcs "$TMP/libs/liblt_$l.a" "$TMP/libs/$l.o"
done
if call_violations "$TMP/libs" | grep -q "core: core.o calls lt_planted_glue (lua)"; then
  pass
else
  fail "the call check missed a planted core -> glue call"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
