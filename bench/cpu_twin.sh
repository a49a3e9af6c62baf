#!/usr/bin/env bash
# cpu_twin.sh — luatrain against PyTorch on this machine's CPU, workload by
# workload (part of `make bench`). Each luatrain workload and its PyTorch twin
# (bench/torch_cpu_twin.py, run by Debian's /usr/bin/python3) run in the same
# invocation, interleaved — luatrain, PyTorch, luatrain, PyTorch — and each
# side's best of its two runs counts. Both sides use 2 threads
# (OMP_NUM_THREADS=2 for luatrain, torch.set_num_threads(2) for PyTorch) and,
# where there is data loading, 2 loader workers. Per workload it prints both
# times and
#   ratio luatrain/torch = X
# luatrain's time divided by PyTorch's: below 1, luatrain is faster.
#
#   demo  what `make demo` trains (scripts/cifar_resnet18.lua --demo on the
#         CPU: ResNet18 width 8 on Fashion-MNIST, 3 epochs of OneCycle),
#         timing the training and validation loop, with both sides' last and
#         best test top-1. luatrain writes its run folder in a temporary
#         folder, removed afterwards.
#   step  one ResNet18 w64 batch-32 training step (bench/bench_resnet_cpu.lua);
#         step-winograd: the same with LUATRAIN_CPU_CONV=winograd.
#   eval  forward-only evaluation of the Fashion-MNIST test set with the
#         demo's model (bench/bench_eval_cpu.lua).
#
#   bash bench/cpu_twin.sh [path/to/luatrain]
#   BENCH_QUICK=1 bash bench/cpu_twin.sh     the demo's short form: 1 epoch on
#                                            12,800 training images (all 10k to validate)
#
# Without PyTorch (python3-torch and python3-torchvision; `bash
# scripts/install-deps.sh bench` installs them) it prints why and exits 0.
set -uo pipefail
bin=""
[ $# -ge 1 ] && bin=$(realpath "$1")   # a path from where this was started
cd "$(dirname "$0")/.."
root=$PWD
bin=${bin:-$root/build/luatrain}
py=/usr/bin/python3
export OMP_NUM_THREADS=2 PYTHONDONTWRITEBYTECODE=1

if ! "$py" -c "import torch, torchvision" 2> /dev/null; then
  echo "skipped: Debian's python3-torch is not installed (apt install python3-torch python3-torchvision)"
  exit 0
fi

demo_args=()
demo_form="the full demo (3 epochs, 60,000 training images)"
if [ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ]; then
  demo_args=(--epochs 1 --limit-train 12800)
  demo_form="the quick form (BENCH_QUICK: 1 epoch on 12,800 training images)"
fi

status=0
out=""   # the last side's RESULT line

# Runs one side, showing its output indented; keeps its RESULT line in $out.
side() {
  local log
  log=$(mktemp)
  "$@" 2>&1 | tee "$log" | sed 's/^/    /'
  local rc=${PIPESTATUS[0]}
  out=$(grep '^RESULT ' "$log" | tail -1)
  rm -f "$log"
  if [ "$rc" -ne 0 ] || [ -z "$out" ]; then
    echo "    (failed: exit status $rc${out:-, no RESULT line})"
    out=""
    return 1
  fi
}

# The luatrain side of the demo: the training script in a temporary folder,
# then its RESULT line from the run's metrics.jsonl (wall_time of the last
# epoch: the training and validation loop).
luatrain_demo() {
  local tmp rc
  tmp=$(mktemp -d)
  (cd "$tmp" && "$bin" "$root/scripts/cifar_resnet18.lua" --demo --device cpu --quiet --name twin "${demo_args[@]}")
  rc=$?
  if [ $rc -eq 0 ]; then
    "$bin" -e "
      local last, best
      for _, r in ipairs(lt.train.read_metrics('$tmp/runs/twin/metrics.jsonl')) do
        if r.val_acc1 then
          last = r
          best = math.max(best or 0, r.val_acc1)
        end
      end
      print(string.format('RESULT luatrain demo seconds %.2f acc %.2f best %.2f', last.wall_time, last.val_acc1, best))"
    rc=$?
  fi
  rm -rf "$tmp"
  return $rc
}

# field value: the number after `key` in a RESULT line
field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) {print $(i + 1); exit}}' <<< "$1"; }

# run_side LABEL COMMAND VAR: one run of a side; VAR names the variable that
# holds the side's fastest RESULT line so far, replaced when this run is faster
run_side() {
  echo "  $1, run $rep:"
  if ! side eval "$2"; then
    status=1
    return
  fi
  local best=${!3}
  if [ -z "$best" ] || awk -v a="$(field "$out" seconds)" -v b="$(field "$best" seconds)" 'BEGIN {exit !(a < b)}'; then
    printf -v "$3" '%s' "$out"
  fi
}

# details NAME RESULT: what a workload's RESULT line adds to its time
details() {
  case $1 in
    demo) echo " (test top-1 last $(field "$2" acc) %, best $(field "$2" best) %)" ;;
    step | step-winograd) echo " (median $(field "$2" median) s)" ;;
  esac
}

# pair NAME "luatrain command" "torch command": the interleaved runs and the ratio
pair() {
  local name=$1 lcmd=$2 tcmd=$3 lres="" tres=""
  for rep in 1 2; do
    run_side luatrain "$lcmd" lres
    run_side PyTorch "$tcmd" tres
  done
  if [ -z "$lres" ] || [ -z "$tres" ]; then
    echo "$name: ratio luatrain/torch = n/a (a side failed)"
    return
  fi
  local lbest tbest
  lbest=$(field "$lres" seconds)
  tbest=$(field "$tres" seconds)
  echo "$name: luatrain $lbest s$(details "$name" "$lres"), PyTorch $tbest s$(details "$name" "$tres") (best of 2 each)"
  echo "$name: ratio luatrain/torch = $(awk -v a="$lbest" -v b="$tbest" 'BEGIN {printf "%.2f", a / b}')"
}

# The 1-minute load average, printed before and after: other work on the
# machine slows the two sides by very different amounts (PyTorch's training
# can take several times as long while another process keeps the cores
# busy), so the ratios hold for an otherwise idle machine only.
load() { cut -d' ' -f1 /proc/loadavg 2> /dev/null || echo "?"; }
echo "luatrain against PyTorch $("$py" -c 'import torch; print(torch.__version__)') on the CPU" \
     "($(nproc) cores, load average $(load) before), $OMP_NUM_THREADS threads each, interleaved, best of 2 runs each"

echo "== demo: $demo_form"
# (--demo trains in channels-last on the CPU, and so does the twin)
pair demo "luatrain_demo" "\"$py\" bench/torch_cpu_twin.py --workload demo --channels-last ${demo_args[*]}"

echo "== step: ResNet18 w64 batch 32, one SGD step (best of 5 after 1 warm-up)"
pair step "\"$bin\" bench/bench_resnet_cpu.lua 5" "\"$py\" bench/torch_cpu_twin.py --workload step --steps 5"

echo "== step-winograd: the same step with LUATRAIN_CPU_CONV=winograd (oneDNN's Winograd 3x3 kernels; PyTorch: direct)"
pair step-winograd "LUATRAIN_CPU_CONV=winograd \"$bin\" bench/bench_resnet_cpu.lua 5" \
  "\"$py\" bench/torch_cpu_twin.py --workload step --steps 5"

echo "== eval: ResNet18 w8, the 10k Fashion-MNIST test set, no_grad, batch 128 (best of 2 passes)"
pair eval "\"$bin\" bench/bench_eval_cpu.lua 2" "\"$py\" bench/torch_cpu_twin.py --workload eval --reps 2"

echo "load average after: $(load) (the ratios hold for an otherwise idle machine)"
exit $status
