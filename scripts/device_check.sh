#!/usr/bin/env bash
# device_check.sh — the checks that need the GPU machine (see ../shared/DEVICE.md),
# in one run that fits the lease: the GPU and driver (nvidia-smi), the binary's
# libraries, the CUDA test label (ctest -L cuda), then the ResNet18 training-step
# benchmark of luatrain and of PyTorch side by side, three short training runs
# of the main script (fp32, bf16 + channels-last, the same with --cuda-graph:
# their accuracies must agree), ending with one table.
# Full logs go to $OUT (nvidia-smi.txt, ctest.log, bench_luatrain.log,
# bench_torch.log, train_*.log, summary.txt). Whole run: under 6 minutes.
#
# The GPU machine has no Lua and cannot build luatrain: build here and carry
# the binary (Lua and libedit are linked statically; cJSON is found beside
# the binary, in lib/). `bash scripts/device_check.sh --prepare` does it here:
#   cmake -S . -B build-gpu -DLT_CUDA=ON && cmake --build build-gpu -j2 --target luatrain
#   mkdir -p build-gpu/lib && cp /usr/lib/x86_64-linux-gnu/libcjson.so.1 build-gpu/lib/
#   cp -r /usr/share/datasets/fashion-mnist build-gpu/   # the training runs' data (31 MB)
# then the device run: carry ["build-gpu/luatrain", "build-gpu/lib", "build-gpu/fashion-mnist"],
#   command "bash scripts/device_check.sh build-gpu/luatrain", timeout about 420 s.
#
# Usage: scripts/device_check.sh [path/to/luatrain]   (default build-gpu/luatrain)
#        scripts/device_check.sh --prepare             (on a development machine)
# Environment: OUT (log folder, default /tmp/device_check), BATCHES (128,512),
# STEPS (30), TORCH_MODES (fp32,bf16-cl,compile-bf16), LT_MODES
# (fp32,bf16-cl,graph-bf16), FASHION_MNIST (build-gpu/fashion-mnist),
# TRAIN_EPOCHS (2).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
if [ "${1:-}" = "--prepare" ]; then
  set -e
  cmake -S . -B build-gpu -DLT_CUDA=ON -DCMAKE_BUILD_TYPE=Release
  cmake --build build-gpu -j2 --target luatrain
  mkdir -p build-gpu/lib
  cp /usr/lib/x86_64-linux-gnu/libcjson.so.1 build-gpu/lib/
  rm -rf build-gpu/fashion-mnist
  cp -r /usr/share/datasets/fashion-mnist build-gpu/
  du -shc build-gpu/luatrain build-gpu/lib build-gpu/fashion-mnist
  echo 'carry: ["build-gpu/luatrain", "build-gpu/lib", "build-gpu/fashion-mnist"] (64 MiB at most)'
  echo 'command: bash scripts/device_check.sh build-gpu/luatrain'
  exit 0
fi
BIN=${1:-${LUATRAIN_BIN:-build-gpu/luatrain}}
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
BATCHES=${BATCHES:-128,512}
STEPS=${STEPS:-30}
TORCH_MODES=${TORCH_MODES:-fp32,bf16-cl,compile-bf16}
LT_MODES=${LT_MODES:-fp32,bf16-cl,graph-bf16}
FASHION_MNIST=${FASHION_MNIST:-build-gpu/fashion-mnist}
TRAIN_EPOCHS=${TRAIN_EPOCHS:-2}
export PATH="/opt/torch/.venv/bin:$PATH"
PY=python3
[ -x /opt/torch/.venv/bin/python ] && PY=/opt/torch/.venv/bin/python
T0=$(date +%s)
status=0

section() { printf '\n== %s (%ds)\n' "$1" $(( $(date +%s) - T0 )); }

section "GPU"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv 2>&1 | tee -a "$OUT/nvidia-smi.txt"
else
  echo "nvidia-smi not found" | tee "$OUT/nvidia-smi.txt"
  status=1
fi

section "binary"
if [ ! -x "$BIN" ]; then
  echo "no luatrain binary at $BIN (build it here and carry it; see the header of this script)"
  exit 1
fi
missing=$(ldd "$BIN" 2>&1 | grep "not found" || true)
if [ -n "$missing" ]; then
  echo "libraries not found:"
  echo "$missing"
  status=1
fi
ldd "$BIN" 2>&1 | grep -E "cudnn|cublas|cjson|openblas" | sed 's/^/  /'
cat > "$OUT/smoke.lua" <<'EOF'
print("cuda available:", lt.cuda.is_available(), lt.cuda.device_count() .. " GPU(s)")
if lt.cuda.is_available() then
  print("device:", lt.cuda.get_device_name())
  local x = lt.randn(1000, 1000, {device = "cuda"})
  print("smoke: sum of squares of a 1000x1000 normal ~ 1e6:", (x * x):sum():item())
end
EOF
timeout 60 "$BIN" "$OUT/smoke.lua" 2>&1 | tee "$OUT/smoke.txt" || status=1
rm -f "$OUT/smoke.lua"

section "ctest -L cuda"
# The build folder's own CTestTestfile names this machine's paths, not the
# development machine's: describe the CUDA tests afresh, as CMakeLists.txt does.
CT="$OUT/ctest-dir"
mkdir -p "$CT"
: > "$CT/CTestTestfile.cmake"
for f in tests/lua/test_*_cuda.lua; do
  [ -f "$f" ] || continue
  n=$(basename "$f" .lua)
  {
    echo "add_test(lua_$n \"$BIN\" \"$ROOT/$f\")"
    echo "set_tests_properties(lua_$n PROPERTIES LABELS \"lua;cuda\" WORKING_DIRECTORY \"$ROOT\" SKIP_RETURN_CODE 77 TIMEOUT 150)"
  } >> "$CT/CTestTestfile.cmake"
done
if command -v ctest >/dev/null; then
  (cd "$CT" && timeout 240 ctest -j 6 -L cuda -V) > "$OUT/ctest.log" 2>&1 || status=1
else
  echo "ctest not found; running the test files directly" > "$OUT/ctest.log"
  for f in tests/lua/test_*_cuda.lua; do timeout 150 "$BIN" "$f" >> "$OUT/ctest.log" 2>&1 || status=1; done
fi
rm -rf "$CT"
grep -E "tests passed|tests failed|Passed|Failed|\*\*\*|FAIL|skipped|passed, .* failed" "$OUT/ctest.log" | head -40

section "luatrain ResNet18 step"
timeout 120 "$BIN" bench/bench_resnet18_gpu.lua "$BATCHES" "$STEPS" "$LT_MODES" > "$OUT/bench_luatrain.log" 2>&1 || status=1
tail -n 8 "$OUT/bench_luatrain.log"

section "PyTorch ResNet18 step"
timeout 150 "$PY" bench/torch_resnet18.py --batches "$BATCHES" --steps "$STEPS" --modes "$TORCH_MODES" \
  > "$OUT/bench_torch.log" 2>&1 || status=1
tail -n 8 "$OUT/bench_torch.log"

section "training runs (Fashion-MNIST, $TRAIN_EPOCHS epochs, ResNet18 width 64, OneCycle)"
if [ -f "$FASHION_MNIST/train-images-idx3-ubyte.gz" ]; then
  for run in "fp32|" "bf16-cl|--amp bf16 --channels-last" "graph-bf16|--amp bf16 --channels-last --cuda-graph"; do
    name=${run%%|*}
    # shellcheck disable=SC2086  # the options are meant to split
    timeout 90 "$BIN" scripts/cifar_resnet18.lua --device cuda --dataset fashion-mnist --data "$FASHION_MNIST" --epochs "$TRAIN_EPOCHS" \
      --sched onecycle --warmup 0 --wd 5e-4 --optim nesterov --quiet --name "device-check-$name" ${run#*|} \
      > "$OUT/train_$name.log" 2>&1 || status=1
    printf '%-11s %s | %s\n' "$name" "$(grep -o 'done: best val top-1 [0-9.]*%' "$OUT/train_$name.log" || echo "no result")" \
      "$(grep -o '[0-9]* img/s' "$OUT/train_$name.log" | tail -1)"
    grep -h "notice" "$OUT/train_$name.log" | head -2
    grep -q "done: best" "$OUT/train_$name.log" || tail -n 3 "$OUT/train_$name.log" | sed 's/^/    /'
  done | tee "$OUT/train_summary.txt"
  rm -rf runs/device-check-*
else
  echo "no Fashion-MNIST at $FASHION_MNIST (carry it: see the header of this script)" | tee "$OUT/train_summary.txt"
fi

section "summary"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')   commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo unknown)"
  echo "tests: $(grep -E "tests passed|tests failed" "$OUT/ctest.log" | tail -1);" \
       "skipped: $(grep -c "(Skipped)" "$OUT/ctest.log");" \
       "checks: $(grep -hoE "[0-9]+ passed, [0-9]+ failed" "$OUT/ctest.log" | tail -1)"
  printf '%-9s %-14s %6s %12s %10s %11s\n' impl mode batch ms/step img/s "peak MiB"
  grep -h "^RESULT" "$OUT/bench_luatrain.log" "$OUT/bench_torch.log" | sort -k5,5n -s |
    awk '{
      impl = $2; mode = $3; batch = $5; sub(":", "", batch)
      if ($6 == "n/a") { printf "%-9s %-14s %6s %12s %10s %11s\n", impl, mode, batch, "n/a", "", ""; next }
      printf "%-9s %-14s %6s %12s %10s %11s\n", impl, mode, batch, $6, $8, $11
    }'
  echo "training (best val top-1 | last epoch's speed):"
  sed 's/^/  /' "$OUT/train_summary.txt"
  echo "elapsed: $(( $(date +%s) - T0 )) s, status $status"
} | tee "$OUT/summary.txt"
exit $status
