#!/usr/bin/env bash
# install_torch.sh — installs Debian's PyTorch (python3-torch, CPU) for
# `make golden`, which regenerates the differential suite's cases with it
# (tests/torch_diff/gen.py). Nothing else needs PyTorch: `make test` reads the
# committed case files. Quiet when PyTorch is already there; apt only.
set -euo pipefail

if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  exit 0
fi
echo "install_torch: installing python3-torch (Debian's PyTorch, CPU) for make golden"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends python3-torch python3-numpy >/dev/null
/usr/bin/python3 -c "import torch; print('install_torch: PyTorch', torch.__version__)"
