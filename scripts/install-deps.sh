#!/usr/bin/env bash
# Installs the Debian packages luatrain builds and runs with. Idempotent: when
# everything is already there it prints nothing and touches nothing. The CUDA
# toolkit and cuDNN are not Debian packages; they come with the machine (see
# third_party/README.md), and the build leaves the CUDA backend out without them.
#   bash scripts/install-deps.sh        what `make build`, `make test` and `make demo` need
#   bash scripts/install-deps.sh fuzz   and what `make fuzz` needs
#   bash scripts/install-deps.sh bench  and what `make bench` compares against:
#                                       Debian's PyTorch (CPU) for bench/cpu_twin.sh
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liblua5.4-dev          # Lua 5.4, linked statically (liblua5.4.a)
  libopenblas-dev        # CPU GEMM (cblas)
  libdnnl-dev            # oneDNN's headers: CPU convolutions; libdnnl2 is dlopen()ed at the first convolution
  libedit-dev            # REPL line editing, BSD licence, linked statically
  libbsd-dev             # libedit's static link needs libbsd
  libncurses-dev         # ... and a terminfo library
  zlib1g-dev             # gzipped IDX files
  libcjson-dev           # safetensors JSON header
  libturbojpeg0-dev      # JPEG decoding and encoding (libjpeg-turbo), linked statically
  libpng-dev             # PNG decoding and encoding (libpng 1.6), linked statically
  libopenmpi-dev         # multi-process training on CPUs: the plugin luatrain_mpi.so links Open MPI
  openmpi-bin            # ... and mpirun, which starts the processes (and the tests in tests/dist)
  lua5.4                 # tests: the Lua module (require "luatrain") in Debian's interpreter
  luarocks               # tests: the rockspec (luarocks make)
  lintian                # tests: checks the .deb (make deb)
  man-db                 # tests: the man page (man -l)
  file                   # dpkg-shlibdeps, for make deb
  dataset-fashion-mnist  # the default data set that needs no download
  gnuplot-nox            # luatrain plot
  libmicrohttpd-dev      # luatrain board: the HTTP server's header; libmicrohttpd12 is dlopen()ed when a board starts
  libjs-dygraphs         # luatrain board: the plotting library its page loads (/static/dygraph.min.js)
  curl                   # tests: luatrain board's HTTP API (tests/host/test_board.sh)
  chromium               # tests: the board page in a real browser (tests/host/test_board_browser.sh)
)

if [ "${1:-}" = fuzz ]; then
  packages+=(
    clang                # libFuzzer targets, built with clang 14
    libclang-rt-14-dev   # ... its fuzzer and sanitizer runtimes
    libomp-14-dev        # ... and LLVM's OpenMP, for the core library built with clang
  )
fi

if [ "${1:-}" = bench ]; then
  packages+=(
    python3-torch        # bench/torch_cpu_twin.py: PyTorch on the CPU, the twin of each luatrain workload
    python3-torchvision  # ... its DataLoader transforms (RandomCrop, Normalize)
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
