#!/usr/bin/env bash
# make demo: trains the main script in its demo configuration (--demo: a
# 8-wide ResNet18 on Fashion-MNIST from Debian's dataset-fashion-mnist
# package, a few epochs of OneCycle; see README, "Training"), then plots the
# curves and prints the test accuracy, the run folder and the plot files.
# On a machine with a GPU the same command uses it.
#
#   bash scripts/demo.sh [path/to/luatrain [more options for the script]]
set -euo pipefail
bin=${1:-build/luatrain}
shift || true
cd "$(dirname "$0")/.."
name="demo-$(date +%Y%m%d-%H%M%S)"
start=$SECONDS
"$bin" scripts/cifar_resnet18.lua --demo --name "$name" "$@"
elapsed=$((SECONDS - start))
echo
if ! plots=$("$bin" plot "runs/$name" 2>&1); then
  plots="  (no plots: $plots)"
fi
"$bin" -e "
  local rows = lt.train.read_metrics('runs/$name/metrics.jsonl')
  local last, best
  for _, r in ipairs(rows) do
    if r.val_acc1 then
      last = r
      if not best or r.val_acc1 > best.val_acc1 then best = r end
    end
  end
  if last then
    print(string.format('test accuracy: %.2f%% after %d epochs (best %.2f%%, epoch %d)',
                        last.val_acc1, last.epoch, best.val_acc1, best.epoch))
  end"
echo "time: $((elapsed / 60))m$((elapsed % 60))s"
echo "run folder: runs/$name"
echo "plots:"
echo "$plots"
