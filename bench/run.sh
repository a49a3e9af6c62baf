#!/usr/bin/env bash
# make bench: runs every CPU benchmark in bench/ with the given luatrain
# binary. Each prints its figure next to a reference measured in the same run
# (raw OpenBLAS, memcpy, ...) and the ratio. Then bench/cpu_twin.sh times
# three CPU workloads (the `make demo` training run, a ResNet18 training step,
# an evaluation pass) against their PyTorch twins, interleaved in the same run
# with 2 threads on each side, and prints `ratio luatrain/torch = X` for each
# (skipped without Debian's python3-torch; BENCH_QUICK=1 shortens the demo
# run to 1 epoch on 12,800 images). GPU benchmarks run from
# scripts/device_check.sh on the GPU machine.
set -uo pipefail
bin=${1:-build/luatrain}
cd "$(dirname "$0")/.."
status=0
for b in bench/bench_tensor.lua bench/bench_conv_cpu.lua bench/bench_resnet_cpu.lua bench/bench_loader.lua \
         bench/bench_imagefolder.lua; do
  [ -f "$b" ] || continue
  echo "== $b"
  "$bin" "$b" || status=1
done
# data-parallel scaling: drives mpirun itself (skipped without it)
if command -v mpirun > /dev/null && [ -f "$(dirname "$bin")/luatrain_mpi.so" ]; then
  echo "== bench/bench_ddp.lua"
  "$bin" bench/bench_ddp.lua || status=1
fi
# luatrain against PyTorch on the same CPU
echo "== bench/cpu_twin.sh"
bash bench/cpu_twin.sh "$bin" || status=1
exit $status
