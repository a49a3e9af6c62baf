#!/usr/bin/env bash
# device_check.sh — everything that needs a GPU machine, in one call that
# fits the limits of a borrowed one (at most 64 MiB of tree and carried files
# travel there, 8 files come back, about 15 minutes of device time in all,
# start-up included), failing fast at the first broken layer. The machine has
# the NVIDIA driver, cuDNN, PyTorch (in /opt/torch/.venv) and OpenBLAS but no
# Lua, so the binary is built on a development machine and carried there.
#
# On a development machine:
#   bash scripts/device_check.sh --prepare    builds build-gpu (CUDA, sm_90 code only, no -lineinfo),
#                                             stages what travels, adds up the payload, prints the calls
#   bash scripts/device_check.sh --dry-run    the same phases on the CPU, small: checks this script,
#                                             the smoke test, the test wrappers and the summary
# On the GPU machine (the call --prepare prints):
#   bash scripts/device_check.sh              the check (about 5 minutes): phases gpu version smoke
#                                             ctest bench train torch (profile when time is left)
#   PHASES=recipe bash scripts/device_check.sh   a second call: the 8-epoch Fashion-MNIST recipe
#                                             beside its PyTorch twin (carry the full data set)
#
# Phases, each with its own time cap, all within BUDGET seconds (default
# 330): a phase that would pass the budget gets what is left, or is skipped.
#   gpu      nvidia-smi: the GPU, its driver and memory
#   version  luatrain -v: CUDA runtime and driver, the cuDNN it loads and from where (stops the run if
#            cuDNN cannot be loaded)
#   smoke    scripts/device_smoke.lua: conv2d and linear forward+backward in float32 (TF32 off, on),
#            bf16 channels-last, a small ResNet18 step, against float64 on the CPU; stops the run when
#            a call raises an error
#   ctest    the `cuda`-labelled tests (tests/lua/test_*_cuda.lua), 8 at a time
#   bench    bench/bench_resnet18_gpu.lua: ResNet18 train step, fp32 / bf16-cl / graph-bf16
#   train    scripts/cifar_resnet18.lua on Fashion-MNIST: fp32, bf16 + channels-last, + CUDA graph
#   torch    bench/torch_resnet18.py: PyTorch's fp32 and bf16-cl eager steps (TORCH_MODES adds
#            compile-bf16, which may take 100-200 s to compile)
#   profile  nsys's kernel summary of luatrain's fp32 step, when nsys is there and 60 s are left
#   recipe   (only when named) 8 epochs, luatrain fp32 and bf16-cl+graph against PyTorch fp32 and
#            bf16-cl, full data
# Everything lands in $OUT: summary.txt (printed last, also when a phase
# times out or the run stops early) and logs.tar.gz (every log).
#
# Environment: OUT (/tmp/device_check), BUDGET (330), PHASES (gpu,version,smoke,ctest,bench,train,torch,
# profile), BATCHES (128,512), STEPS (30), LT_MODES (fp32,bf16-cl,graph-bf16), TORCH_MODES
# (fp32,bf16-cl), FASHION_MNIST (build-gpu/fmnist-20k), TRAIN_EPOCHS (2), RECIPE_EPOCHS (8),
# RECIPE_DATA (build-gpu/fmnist-full), MAX_PAYLOAD_MIB (60, for --prepare).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
STAGE=build-gpu/device         # the binary (gzip'ed), its libraries, the commit
SUBSET=build-gpu/fmnist-20k    # 20,000 training and 10,000 test images
FULL=build-gpu/fmnist-full     # all 60,000 + 10,000 (the recipe call)
FMNIST_SRC=/usr/share/datasets/fashion-mnist

# ---------------------------------------------------------------------------------------------
# --prepare (development machine)

# The first n records of an IDX file (gzip'ed), with its count field made n:
# idx_head SRC.gz DST.gz N HEADER_BYTES RECORD_BYTES. (The readers of the
# pipes stop early, so their statuses say nothing: the result's length does.)
idx_head() {
  local src=$1 dst=$2 n=$3 header=$4 record=$5 count
  count=$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(((n >> 24) & 255)) $(((n >> 16) & 255)) $(((n >> 8) & 255)) $((n & 255)))
  {
    zcat "$src" | head -c 4
    printf '%b' "$count"
    zcat "$src" | head -c "$header" | tail -c $((header - 8))
    zcat "$src" | tail -c +$((header + 1)) | head -c $((n * record))
  } | gzip -9 > "$dst.tmp"
  if [ "$(zcat "$dst.tmp" | wc -c)" != $((header + n * record)) ]; then
    echo "device_check: $src holds fewer than $n records" >&2
    rm -f "$dst.tmp"
    return 1
  fi
  mv "$dst.tmp" "$dst"
}

# Bytes that travel with a call: the files git tracks or would track (the
# device tool copies the working tree, untracked files git does not ignore
# included), plus the carried paths.
payload_bytes() {
  local tree carried=0
  tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null |
    awk '{s += $1} END {print s + 0}')
  [ $# -gt 0 ] && carried=$(du -sb "$@" | awk '{s += $1} END {print s + 0}')
  echo $((tree + carried))
}

# stage_fmnist DST NTRAIN NTEST: Fashion-MNIST's first NTRAIN training and
# NTEST test images (0: all of them) in DST, gzip'ed IDX files as the
# training script reads them.
stage_fmnist() {
  local dst=$1 ntrain=$2 ntest=$3 split n
  mkdir -p "$dst"
  for split in train t10k; do
    n=$ntrain
    [ "$split" = t10k ] && n=$ntest
    if [ "$n" = 0 ]; then
      cp "$FMNIST_SRC/$split-images-idx3-ubyte.gz" "$FMNIST_SRC/$split-labels-idx1-ubyte.gz" "$dst/" || return 1
    else
      idx_head "$FMNIST_SRC/$split-images-idx3-ubyte.gz" "$dst/$split-images-idx3-ubyte.gz" "$n" 16 784 || return 1
      idx_head "$FMNIST_SRC/$split-labels-idx1-ubyte.gz" "$dst/$split-labels-idx1-ubyte.gz" "$n" 8 1 || return 1
    fi
  done
}

prepare() {
  set -e
  cmake -S . -B build-gpu -DLT_CUDA=ON -DLT_CUDA_LINEINFO=OFF -DCMAKE_CUDA_ARCHITECTURES=90-real \
    -DCMAKE_BUILD_TYPE=Release
  cmake --build build-gpu -j "$(nproc)" --target luatrain
  rm -rf "$STAGE"
  mkdir -p "$STAGE/lib"
  # Debug sections stripped (the symbol table stays for backtraces), then
  # compressed: 12 MB of mostly GPU code become about 3.
  strip --strip-debug -o "$STAGE/luatrain" build-gpu/luatrain
  gzip -9 "$STAGE/luatrain"
  # Not on the GPU machine's loader path, or maybe not there at all.
  cp "$(readlink -f /usr/lib/x86_64-linux-gnu/libcjson.so.1)" "$STAGE/lib/libcjson.so.1"
  cp "$(readlink -f /usr/lib/x86_64-linux-gnu/libgomp.so.1)" "$STAGE/lib/libgomp.so.1"
  local dirty=""
  git diff --quiet HEAD -- . 2>/dev/null || dirty=" (with uncommitted changes)"
  echo "$(git rev-parse --short HEAD)$dirty, built $(date -u '+%Y-%m-%d %H:%M UTC')" > "$STAGE/COMMIT"
  [ -f "$SUBSET/t10k-labels-idx1-ubyte.gz" ] || stage_fmnist "$SUBSET" 20000 0
  [ -f "$FULL/t10k-labels-idx1-ubyte.gz" ] || stage_fmnist "$FULL" 0 0
  set +e
  local limit=$((${MAX_PAYLOAD_MIB:-60} * 1048576)) check recipe status=0
  check=$(payload_bytes "$STAGE" "$SUBSET")
  recipe=$(payload_bytes "$STAGE" "$FULL")
  printf 'staged: %s\n' "$(cat "$STAGE/COMMIT")"
  du -sh "$STAGE" "$STAGE/luatrain.gz" "$SUBSET" "$FULL"
  printf 'payload of the check call:  %5.1f MiB (tree %s MiB + carried)\n' "$(echo "$check / 1048576" | bc -l)" \
    "$(($(payload_bytes) / 1048576))"
  printf 'payload of the recipe call: %5.1f MiB\n' "$(echo "$recipe / 1048576" | bc -l)"
  for b in "$check" "$recipe"; do
    if [ "$b" -gt "$limit" ]; then
      echo "device_check --prepare: a payload is over ${MAX_PAYLOAD_MIB:-60} MiB (the device tool takes 64 MiB at most)"
      status=1
    fi
  done
  echo "check call:  carry [\"$STAGE\", \"$SUBSET\"], command \"bash scripts/device_check.sh\", timeout_s 420"
  echo "recipe call: carry [\"$STAGE\", \"$FULL\"], command \"PHASES=recipe bash scripts/device_check.sh\", timeout_s 400"
  return $status
}

if [ "${1:-}" = "--prepare" ]; then
  prepare
  exit $?
fi

# ---------------------------------------------------------------------------------------------
# The run (GPU machine, or --dry-run here)
DRY=0
if [ "${1:-}" = "--dry-run" ]; then
  DRY=1
  shift
fi
OUT=${OUT:-/tmp/device_check}
LOGS="$OUT/logs"
rm -rf "$LOGS" "$OUT/summary.txt" "$OUT/logs.tar.gz" "$OUT/fmnist-dry"
mkdir -p "$LOGS"
BUDGET=${BUDGET:-330}
RESERVE=10  # seconds kept for the summary and the archive
T0=$(date +%s)
export PATH="/opt/torch/.venv/bin:$PATH"
# PyTorch: the GPU machine's venv; here, whichever python3 has it (Debian's python3-torch).
PY=python3
for p in /opt/torch/.venv/bin/python python3 /usr/bin/python3; do
  if "$p" -c "import torch" >/dev/null 2>&1; then
    PY=$p
    break
  fi
done
if [ "$DRY" = 1 ]; then
  # Small sizes and the CPU: the plumbing, not the figures.
  DEV=cpu
  BIN=${1:-${LUATRAIN_BIN:-build/luatrain}}
  PHASES=${PHASES:-gpu,version,smoke,ctest,bench,train,torch,profile,recipe}
  BATCHES=${BATCHES:-4}
  STEPS=${STEPS:-1}
  # A subset staged as --prepare stages the GPU machine's (1024 + 512 images).
  stage_fmnist "$OUT/fmnist-dry" 1024 512 || exit 1
  FASHION_MNIST=${FASHION_MNIST:-$OUT/fmnist-dry}
  RECIPE_DATA=${RECIPE_DATA:-$OUT/fmnist-dry}
  TRAIN_EPOCHS=${TRAIN_EPOCHS:-1}
  RECIPE_EPOCHS=${RECIPE_EPOCHS:-1}
  SIZE_ARGS=(--width 4)
  TORCH_SIZE_ARGS=(--width 4)
  export LUATRAIN_TEST_DEVICE=cpu LUATRAIN_BENCH_DEVICE=cpu
else
  DEV=cuda
  BIN=${1:-${LUATRAIN_BIN:-$STAGE/luatrain}}
  PHASES=${PHASES:-gpu,version,smoke,ctest,bench,train,torch,profile}
  BATCHES=${BATCHES:-128,512}
  STEPS=${STEPS:-30}
  FASHION_MNIST=${FASHION_MNIST:-$SUBSET}
  RECIPE_DATA=${RECIPE_DATA:-$FULL}
  TRAIN_EPOCHS=${TRAIN_EPOCHS:-2}
  RECIPE_EPOCHS=${RECIPE_EPOCHS:-8}
  SIZE_ARGS=()
  TORCH_SIZE_ARGS=()
fi
LT_MODES=${LT_MODES:-fp32,bf16-cl,graph-bf16}
TORCH_MODES=${TORCH_MODES:-fp32,bf16-cl}
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
# The CUDA tests and benchmarks use at most a few CPU threads each; 8 tests
# at once with 2 OpenMP threads each fill the GPU machine's 16 cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
PHASE_FILE="$LOGS/phases.txt"
: > "$PHASE_FILE"
STOPPED=""

elapsed() { echo $(($(date +%s) - T0)); }
wanted() { case ",$PHASES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
record() { printf '%-8s %-40s %4ss\n' "$1" "$2" "$3" >> "$PHASE_FILE"; }
section() { printf '\n== %s (%ss of %ss)\n' "$1" "$(elapsed)" "$BUDGET"; }

# capped NAME CAP LOG COMMAND...: runs the command with its output in LOG,
# for at most CAP seconds and never past the budget (the limit it got is
# left in CAP_USED); returns its status (124 when cut off, 125 when skipped
# for lack of time).
CAP_USED=0
capped() {
  local name=$1 cap=$2 log=$3 left rc
  shift 3
  left=$((BUDGET - RESERVE - $(elapsed)))
  [ "$left" -lt "$cap" ] && cap=$left
  CAP_USED=$cap
  if [ "$cap" -lt 5 ]; then
    echo "skipped: out of time" >> "$log"
    return 125
  fi
  timeout -k 5 "$cap" "$@" >> "$log" 2>&1
  rc=$?
  [ "$rc" = 124 ] && echo "device_check: stopped after ${cap}s (its cap)" >> "$log"
  return "$rc"
}

# phase NAME CAP COMMAND...: one capped step whose outcome is a row of the summary.
phase() {
  local name=$1 cap=$2 t rc what
  shift 2
  t=$(date +%s)
  capped "$name" "$cap" "$LOGS/$name.log" "$@"
  rc=$?
  case $rc in
    0) what="ok" ;;
    124) what="TIMED OUT (cap ${CAP_USED}s)" ;;
    125) what="skipped: out of time" ;;
    *) what="FAILED (status $rc)" ;;
  esac
  record "$name" "$what" $(($(date +%s) - t))
  return $rc
}

# Summary and archive: written however the run ends.
finish() {
  trap - EXIT INT TERM
  section "summary"
  {
    echo "device_check $([ "$DRY" = 1 ] && echo "DRY RUN on the CPU" || echo "on the GPU machine"), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "binary: $(cat "$(dirname "$BIN")/COMMIT" 2>/dev/null || echo "$BIN (no COMMIT file: not staged by --prepare)")"
    echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)"
    echo "versions: $(grep -m1 "CUDA" "$LOGS/version.log" 2>/dev/null || echo "n/a")"
    [ -n "$STOPPED" ] && echo "STOPPED EARLY: $STOPPED"
    echo "phases:"
    sed 's/^/  /' "$PHASE_FILE"
    if [ -f "$LOGS/smoke.log" ]; then
      echo "smoke:"
      grep -E "^(ok|OFF|ERROR) |^device_smoke" "$LOGS/smoke.log" | cut -c1-160 | sed 's/^/  /'
    fi
    if [ -f "$LOGS/ctest.log" ]; then
      echo "ctest: $(grep -E "tests passed|tests failed" "$LOGS/ctest.log" | tail -1)"
      grep -E "^\s*[0-9]+/[0-9]+ Test .*(Failed|Timeout|Not Run|Exception)|\*\*\*" "$LOGS/ctest.log" | head -20 | sed 's/^/  /'
      grep -hE "^FAIL " "$LOGS/ctest.log" | head -15 | cut -c1-200 | sed 's/^/  /'
    fi
    if ls "$LOGS"/bench_*.log >/dev/null 2>&1; then
      printf '%-9s %-14s %6s %10s %10s %9s\n' impl mode batch ms/step img/s "peak MiB"
      grep -h "^RESULT" "$LOGS"/bench_luatrain.log "$LOGS"/bench_torch.log 2>/dev/null | sort -k5,5n -s |
        awk '{ b = $5; sub(":", "", b)
               if ($6 == "n/a") { r = $0; sub(/.*: n\/a /, "", r); printf "%-9s %-14s %6s %s\n", $2, $3, b, "n/a " substr(r, 1, 90); next }
               printf "%-9s %-14s %6s %10s %10s %9s\n", $2, $3, b, $6, $8, $11 }'
    fi
    [ -f "$LOGS/train_summary.txt" ] && { echo "training (Fashion-MNIST, $TRAIN_EPOCHS epochs):"; sed 's/^/  /' "$LOGS/train_summary.txt"; }
    [ -f "$LOGS/recipe_summary.txt" ] && { echo "recipe ($RECIPE_EPOCHS epochs, $RECIPE_DATA):"; sed 's/^/  /' "$LOGS/recipe_summary.txt"; }
    [ -f "$LOGS/profile_top.txt" ] && { echo "profile (nsys, luatrain fp32 step, top kernels):"; sed 's/^/  /' "$LOGS/profile_top.txt"; }
    echo "elapsed: $(elapsed) s of a ${BUDGET} s budget"
  } > "$OUT/summary.txt" 2>&1
  # 0 only when every phase that ran passed and none was cut short
  local status=0
  [ -n "$STOPPED" ] && status=1
  grep -qE "FAILED|TIMED OUT|out of time" "$PHASE_FILE" && status=1
  cp "$OUT/summary.txt" "$LOGS/summary.txt"
  tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$LOGS"
  rm -rf "$OUT/fmnist-dry"
  cat "$OUT/summary.txt"
  echo "files: $OUT/summary.txt, $OUT/logs.tar.gz; status $status"
  exit $status
}
trap finish EXIT
trap 'STOPPED="interrupted by a signal"; exit 130' INT TERM

stop() {
  STOPPED=$1
  echo "device_check: $1"
  exit 1
}

# --- the phases ------------------------------------------------------------------------------
if [ ! -x "$BIN" ] && [ -f "$BIN.gz" ]; then
  gunzip -c "$BIN.gz" > "$BIN.tmp" && chmod +x "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
fi
[ -f "$BIN" ] && [ ! -x "$BIN" ] && chmod +x "$BIN"
[ -x "$BIN" ] || stop "no luatrain binary at $BIN (run --prepare on a development machine and carry $STAGE)"

if wanted gpu; then
  section "gpu"
  if command -v nvidia-smi >/dev/null; then
    phase gpu 15 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv
    nvidia-smi >> "$LOGS/gpu.log" 2>&1
  else
    echo "nvidia-smi not found" > "$LOGS/gpu.log"
    record gpu "$([ "$DRY" = 1 ] && echo "no nvidia-smi (dry run)" || echo "FAILED: no nvidia-smi")" 0
  fi
  head -3 "$LOGS/gpu.log"
fi

if wanted version; then
  section "version"
  missing=$(ldd "$BIN" 2>&1 | grep "not found" || true)
  [ -n "$missing" ] && { echo "libraries not found: $missing" | tee -a "$LOGS/version.log"; stop "the binary's libraries are missing: $missing"; }
  phase version 30 "$BIN" -v
  cat "$LOGS/version.log"
  if [ "$DRY" = 0 ]; then
    grep -q "cuDNN [0-9]" "$LOGS/version.log" || stop "no GPU or cuDNN not loadable: $(tr '\n' ' ' < "$LOGS/version.log")"
  fi
fi

if wanted smoke; then
  section "smoke"
  phase smoke 60 "$BIN" scripts/device_smoke.lua "$DEV"
  rc=$?
  cat "$LOGS/smoke.log"
  [ "$rc" = 125 ] && stop "out of time before the smoke test"
  [ "$rc" = 0 ] || [ "$rc" = 2 ] || stop "the smoke test could not run (status $rc); see smoke above"
fi

if wanted ctest; then
  section "ctest -L cuda"
  # The build folder's CTestTestfile names the development machine's paths:
  # describe the CUDA tests afresh, as CMakeLists.txt does.
  CT="$OUT/ctest-dir"
  rm -rf "$CT"
  mkdir -p "$CT"
  for f in tests/lua/test_*_cuda.lua; do
    n=$(basename "$f" .lua)
    echo "add_test(lua_$n \"$BIN\" \"$ROOT/$f\")"
    echo "set_tests_properties(lua_$n PROPERTIES LABELS \"lua;cuda\" WORKING_DIRECTORY \"$ROOT\" SKIP_RETURN_CODE 77 TIMEOUT 90)"
  done > "$CT/CTestTestfile.cmake"
  if command -v ctest >/dev/null; then
    phase ctest 150 bash -c "cd '$CT' && ctest -j 8 -L cuda --output-on-failure"
  else
    # Without ctest: the same files, 8 at a time, the whole set capped; a
    # file fails on an exit status other than 0 and 77 (skipped).
    echo "ctest not found; running the test files directly" > "$LOGS/ctest.log"
    phase ctest 150 bash -c 'ls tests/lua/test_*_cuda.lua |
      xargs -P 8 -I{} sh -c '"'"'"$1" "$2" > "$3/$(basename "$2").log" 2>&1; echo "$2: exit $?"'"'"' sh "$0" {} "$1" |
      tee "$1/status.txt"; cat "$1"/*.lua.log; ! grep -qvE "exit (0|77)$" "$1/status.txt"' "$BIN" "$CT"
  fi
  rm -rf "$CT"
  grep -E "tests passed|tests failed|\*\*\*|Failed|Timeout" "$LOGS/ctest.log" | head -20
fi

if wanted bench; then
  section "luatrain ResNet18 step"
  phase bench 45 "$BIN" bench/bench_resnet18_gpu.lua "$BATCHES" "$STEPS" "$LT_MODES"
  mv "$LOGS/bench.log" "$LOGS/bench_luatrain.log"
  grep "^RESULT" "$LOGS/bench_luatrain.log"
fi

# train_run LOGNAME DATA EPOCHS CAP [options...]: one run of the training
# script; prints a row "name | best top-1 | last epoch's speed | seconds".
train_run() {
  local name=$1 data=$2 epochs=$3 cap=$4 t acc speed wall
  shift 4
  t=$(date +%s)
  capped "train_$name" "$cap" "$LOGS/train_$name.log" "$BIN" scripts/cifar_resnet18.lua --device "$DEV" \
    --dataset fashion-mnist --data "$data" --epochs "$epochs" --sched onecycle --warmup 0 --wd 5e-4 \
    --optim nesterov --quiet --name "device-check-$name" "${SIZE_ARGS[@]}" "$@"
  local rc=$?
  acc=$(grep -o 'best val top-1 [0-9.]*%' "$LOGS/train_$name.log" | grep -o '[0-9.]*%' || echo "no result")
  speed=$(grep -o '[0-9]* img/s' "$LOGS/train_$name.log" | tail -1)
  wall=$(grep -o '"wall_time":[0-9.]*' "runs/device-check-$name/metrics.jsonl" 2>/dev/null | tail -1 | cut -d: -f2)
  cp "runs/device-check-$name/metrics.jsonl" "$LOGS/train_$name.metrics.jsonl" 2>/dev/null
  rm -rf "runs/device-check-$name"
  printf 'luatrain %-11s top-1 %-8s %-12s train %6.1f s  process %4d s  status %s\n' "$name" "$acc" "$speed" \
    "${wall:-0}" $(($(date +%s) - t)) "$rc"
  grep -h "notice" "$LOGS/train_$name.log" | head -2 | sed 's/^/    /'
  [ "$rc" = 0 ] || tail -n 3 "$LOGS/train_$name.log" | sed 's/^/    /'
  return $rc
}

if wanted train; then
  section "training runs (Fashion-MNIST, $TRAIN_EPOCHS epochs, OneCycle)"
  if [ -f "$FASHION_MNIST/train-images-idx3-ubyte.gz" ]; then
    t=$(date +%s)
    st=0
    {
      train_run fp32 "$FASHION_MNIST" "$TRAIN_EPOCHS" 40 || st=1
      train_run bf16-cl "$FASHION_MNIST" "$TRAIN_EPOCHS" 40 --amp bf16 --channels-last || st=1
      if [ "$DEV" = cuda ]; then
        train_run graph-bf16 "$FASHION_MNIST" "$TRAIN_EPOCHS" 40 --amp bf16 --channels-last --cuda-graph || st=1
      fi
    } > "$LOGS/train_summary.txt"
    cat "$LOGS/train_summary.txt"
    record train "$([ $st = 0 ] && echo ok || echo "FAILED (see training rows)")" $(($(date +%s) - t))
  else
    echo "no Fashion-MNIST at $FASHION_MNIST (carry $SUBSET: see --prepare)" | tee "$LOGS/train_summary.txt"
    record train "FAILED: no data at $FASHION_MNIST" 0
  fi
fi

have_torch() { "$PY" -c "import torch" >/dev/null 2>&1; }

if wanted torch; then
  section "PyTorch ResNet18 step"
  if have_torch; then
    phase torch 60 "$PY" bench/torch_resnet18.py --batches "$BATCHES" --steps "$STEPS" --modes "$TORCH_MODES" --device "$DEV"
    mv "$LOGS/torch.log" "$LOGS/bench_torch.log"
    grep "^RESULT" "$LOGS/bench_torch.log"
  else
    echo "PyTorch not found ($PY)" | tee "$LOGS/bench_torch.log"
    record torch "skipped: no PyTorch" 0
  fi
fi

if wanted profile; then
  section "profile"
  if [ "$DRY" = 0 ] && command -v nsys >/dev/null && [ $((BUDGET - RESERVE - $(elapsed))) -ge 60 ]; then
    phase profile 60 nsys profile --stats=false -o "$LOGS/step" --force-overwrite true \
      "$BIN" bench/bench_resnet18_gpu.lua 128 20 fp32
    capped profile 30 "$LOGS/profile.log" nsys stats --report cuda_gpu_kern_sum --format csv \
      --output "$LOGS/step" "$LOGS/step.nsys-rep"
    # the ten kernels with the most GPU time: share, total ms, calls, name
    awk -F'","' 'FNR > 1 && NF > 8 { gsub(/"/, "", $1); gsub(/"/, "", $9)
      printf "%5.1f%% %9.2f ms %6d  %s\n", $1, $2 / 1e6, $3, substr($9, 1, 90) }' \
      "$LOGS"/step*_kern_sum*.csv 2>/dev/null | head -10 > "$LOGS/profile_top.txt"
    [ -s "$LOGS/profile_top.txt" ] || grep -v "^$" "$LOGS/profile.log" | head -12 > "$LOGS/profile_top.txt"
    cat "$LOGS/profile_top.txt"
  else
    why="no nsys"
    [ "$DRY" = 1 ] && why="dry run"
    [ "$DRY" = 0 ] && command -v nsys >/dev/null && why="under 60 s left"
    echo "skipped: $why" | tee "$LOGS/profile.log"
    record profile "skipped: $why" 0
  fi
fi

if wanted recipe; then
  section "recipe: $RECIPE_EPOCHS epochs of Fashion-MNIST, luatrain and PyTorch"
  if [ -f "$RECIPE_DATA/train-images-idx3-ubyte.gz" ]; then
    t=$(date +%s)
    {
      train_run recipe-fp32 "$RECIPE_DATA" "$RECIPE_EPOCHS" 120
      if [ "$DEV" = cuda ]; then
        train_run recipe-graph-bf16 "$RECIPE_DATA" "$RECIPE_EPOCHS" 100 --amp bf16 --channels-last --cuda-graph
      else
        train_run recipe-bf16-cl "$RECIPE_DATA" "$RECIPE_EPOCHS" 100 --amp bf16 --channels-last
      fi
      if have_torch; then
        for mode in fp32 bf16-cl; do
          capped recipe_torch 120 "$LOGS/recipe_torch_$mode.log" "$PY" bench/torch_train_fashion.py --data "$RECIPE_DATA" \
            --epochs "$RECIPE_EPOCHS" --mode "$mode" --device "$DEV" "${TORCH_SIZE_ARGS[@]}"
          grep "^RESULT" "$LOGS/recipe_torch_$mode.log" || echo "torch $mode: no result ($(tail -1 "$LOGS/recipe_torch_$mode.log"))"
        done
      fi
    } > "$LOGS/recipe_summary.txt"
    cat "$LOGS/recipe_summary.txt"
    record recipe "done (rows in the summary)" $(($(date +%s) - t))
  else
    echo "no Fashion-MNIST at $RECIPE_DATA (carry $FULL: see --prepare)" | tee "$LOGS/recipe_summary.txt"
    record recipe "FAILED: no data at $RECIPE_DATA" 0
  fi
fi
exit 0
