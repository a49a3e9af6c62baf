#!/usr/bin/env bash
# make demo: trains the main script in its demo configuration on the bundled
# default data (Fashion-MNIST from Debian's dataset-fashion-mnist package, or
# CIFAR-10 when data/cifar-10-batches-bin exists), then plots the curves.
# On a machine with a GPU the same command uses it.
set -euo pipefail
bin=${1:-build/luatrain}
cd "$(dirname "$0")/.."
name="demo-$(date +%Y%m%d-%H%M%S)"
"$bin" scripts/cifar_resnet18.lua --demo --name "$name"
echo
echo "plots:"
"$bin" plot "runs/$name"
