#!/usr/bin/env bash
# test_deb.sh — the Debian packages (make deb): luatrain, and luatrain-mpi
# (the MPI plugin) where the build has it, built with cpack from this build
# folder into a scratch folder, their files and control fields read with
# dpkg-deb, lintian run on them (no error or warning that the overrides in
# dist/ do not justify), and, where this machine allows it (root, dpkg,
# luatrain not already installed), installed with dpkg, used (a two-process
# job through the packaged plugin), and purged without a trace.
# LUATRAIN_TEST_DEB_INSTALL=0 leaves out the install.
#
#   tests/host/test_deb.sh path/to/build/luatrain
set -uo pipefail
BIN=${1:?usage: test_deb.sh path/to/build/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BUILD=$(dirname "$BIN")
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
manifest="$BUILD/install_manifest.txt"
[ -f "$manifest" ] && cp "$manifest" "$TMP/manifest.saved"
restore() {   # cpack rewrites CMake's install manifest: put it back
  if [ -f "$TMP/manifest.saved" ]; then cp "$TMP/manifest.saved" "$manifest"; else rm -f "$manifest"; fi
  rm -rf "$TMP"
}
trap restore EXIT
[ -f "$BUILD/CPackConfig.cmake" ] || { echo "skipped: $BUILD has no CPack configuration"; exit 77; }
if [ ! -e "$BUILD/lua/5.4/luatrain.so" ]; then echo "skipped: $BUILD has no libluatrain (sanitizer build)"; exit 77; fi
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
  command -v $tool > /dev/null || { echo "skipped: $tool is not installed (bash scripts/install-deps.sh)"; exit 77; }
done

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*" >&2; }
has() {   # has NAME TEXT NEEDLE
  case "$2" in *"$3"*) ok ;; *) bad "$1: expected to find [$3] in:"; printf '%s\n' "$2" | tail -n 25 >&2 ;; esac
}

if ! (cd "$BUILD" && timeout 300 cpack -G DEB -B "$TMP/pkg" -D CPACK_OUTPUT_FILE_PREFIX="$TMP/pkg") > "$TMP/cpack.log" 2>&1; then
  bad "cpack failed:"; tail -20 "$TMP/cpack.log" >&2
  echo "$passed passed, $failed failed"; exit 1
fi
deb=$(ls "$TMP"/pkg/luatrain_*.deb 2> /dev/null | head -n 1)
mpi_deb=$(ls "$TMP"/pkg/luatrain-mpi_*.deb 2> /dev/null | head -n 1)
if [ -f "$(dirname "$BIN")/luatrain_mpi.so" ]; then
  [ -n "$mpi_deb" ] && ok || bad "the build has the MPI plugin but cpack wrote no luatrain-mpi_*.deb"
fi
[ -n "$deb" ] && ok || { bad "cpack wrote no luatrain_*.deb:"; tail "$TMP/cpack.log" >&2; echo "$passed passed, $failed failed"; exit 1; }
case "$(basename "$deb")" in luatrain_0.1.0_*.deb) ok ;; *) bad "package file name $(basename "$deb")" ;; esac

files=$(dpkg-deb -c "$deb")
for f in ./usr/bin/luatrain ./usr/share/luatrain/scripts/cifar_resnet18.lua ./usr/share/man/man1/luatrain.1.gz \
         ./usr/share/bash-completion/completions/luatrain ./usr/share/doc/luatrain/copyright \
         ./usr/share/doc/luatrain/changelog.gz ./usr/lib/libluatrain.so.0.1.0 ./usr/lib/lua/5.4/luatrain.so \
         ./usr/include/luatrain.h ./usr/share/lintian/overrides/luatrain; do
  has "dpkg-deb -c" "$files" " $f"
done
info=$(dpkg-deb -I "$deb")
has "control" "$info" "Package: luatrain"
has "control" "$info" "Version: 0.1.0"
has "control" "$info" "Architecture: $(dpkg --print-architecture)"
for dep in libopenblas0 libcjson1 zlib1g liblua5.4-0 libturbojpeg0 libpng16-16; do
  depends=$(printf '%s\n' "$info" | grep '^ Depends:')
  has "Depends" "$depends" "$dep"
done
has "control" "$info" "Recommends: gnuplot-nox, dataset-fashion-mnist"
has "control files" "$info" "triggers"
case "$info" in *openmpi*) bad "luatrain depends on Open MPI (the plugin belongs to luatrain-mpi)" ;; *) ok ;; esac
case "$files" in *luatrain_mpi.so*) bad "luatrain holds the MPI plugin" ;; *) ok ;; esac
if [ -n "$mpi_deb" ]; then
  mfiles=$(dpkg-deb -c "$mpi_deb")
  has "luatrain-mpi files" "$mfiles" "./usr/lib/luatrain/luatrain_mpi.so"
  has "luatrain-mpi files" "$mfiles" "./usr/share/doc/luatrain-mpi/copyright"
  minfo=$(dpkg-deb -I "$mpi_deb")
  has "luatrain-mpi control" "$minfo" "Package: luatrain-mpi"
  has "luatrain-mpi Depends" "$(printf '%s\n' "$minfo" | grep '^ Depends:')" "luatrain (= 0.1.0)"
  has "luatrain-mpi Depends" "$(printf '%s\n' "$minfo" | grep '^ Depends:')" "libopenmpi3"
fi

if command -v lintian > /dev/null; then
  timeout 300 lintian --pedantic "$deb" $mpi_deb > "$TMP/lintian.log" 2>&1
  findings=$(grep -E '^[EW]: ' "$TMP/lintian.log")
  [ -z "$findings" ] && ok || bad "lintian found: $findings"
else
  echo "note: lintian is not installed; the package was not checked (bash scripts/install-deps.sh)"
fi

if [ "${LUATRAIN_TEST_DEB_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v dpkg > /dev/null \
   && ! dpkg-query -W -f='${Status}' luatrain 2> /dev/null | grep -q "ok installed"; then
  if dpkg -i "$deb" $mpi_deb > "$TMP/dpkg.log" 2>&1; then
    ok
    out=$(cd "$TMP" && timeout 60 /usr/bin/luatrain -v 2>&1)
    has "the packaged luatrain -v" "$out" "luatrain 0.1.0"
    out=$(cd "$TMP" && timeout 60 /usr/bin/luatrain fashion_mnist --help 2>&1)
    has "the packaged scripts by name" "$out" "--epochs"
    if command -v lua5.4 > /dev/null; then
      out=$(cd "$TMP" && timeout 60 lua5.4 -e 'print(require("luatrain").version)' 2>&1)
      has "lua5.4 with the packaged module" "$out" "0.1.0"
    fi
    if [ -n "$mpi_deb" ] && command -v mpirun > /dev/null; then
      printf 'lt.distributed.init_process_group{backend = "mpi"}\nlocal t = lt.ones(3)\nlt.distributed.all_reduce(t)\nlt.distributed.print(t:sum():item())\n' > "$TMP/two.lua"
      out=$(cd "$TMP" && bash "$HERE/../dist/run_mpi.sh" -np 2 /usr/bin/luatrain "$TMP/two.lua" 2>&1)
      has "a 2-process job through the packaged plugin" "$out" "6.0"
    fi
    dpkg --purge luatrain-mpi luatrain > "$TMP/purge.log" 2>&1 && ok || { bad "dpkg --purge failed:"; cat "$TMP/purge.log" >&2; }
    left=$(for f in /usr/bin/luatrain /usr/lib/libluatrain.so.0 /usr/lib/lua/5.4/luatrain.so /usr/share/luatrain /usr/lib/luatrain \
                    /usr/share/doc/luatrain /usr/share/man/man1/luatrain.1.gz; do [ -e "$f" ] && echo "$f"; done)
    [ -z "$left" ] && ok || bad "left after dpkg --purge: $left"
  else
    bad "dpkg -i failed:"; tail -20 "$TMP/dpkg.log" >&2
    dpkg --purge luatrain-mpi luatrain > /dev/null 2>&1
  fi
else
  echo "note: the package was not installed (needs root, dpkg, and no luatrain package installed already)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
