#!/usr/bin/env bash
# test_dist_script.sh — the reference recipe's script under mpirun -np 2
# (tests/dist/run_mpi.sh): one run folder written by rank 0 alone; two
# identical runs give the same bits; a run stopped mid-epoch and resumed by
# 2 processes ends with the same bits as the uninterrupted one; resuming
# with another number of processes is refused; a rank that fails ends the
# job within 30 s, naming the rank. Skipped (77) without mpirun or without
# the MPI plugin in the build.
#
#   tests/host/test_dist_script.sh path/to/build/luatrain
set -uo pipefail
BIN=${1:?usage: test_dist_script.sh path/to/build/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN="$ROOT/tests/dist/run_mpi.sh"
SCRIPT="$ROOT/scripts/cifar_resnet18.lua"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
unset LUATRAIN_PATH LUA_INIT LUA_INIT_5_4
command -v mpirun > /dev/null || { echo "skipped: mpirun is not installed (bash scripts/install-deps.sh)"; exit 77; }
[ -f "$(dirname "$BIN")/luatrain_mpi.so" ] || { echo "skipped: the build has no MPI plugin (luatrain_mpi.so)"; exit 77; }
cd "$TMP" || exit 1

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

# 2 epochs of 4 batches of 64 per process on Fashion-MNIST (the Debian package)
OPTS=(--dataset fashion-mnist --epochs 2 --limit-train 512 --limit-test 256 --width 4 --batch 64 --quiet)
train() {   # train NAME [more options]: 2 processes; the status, output in NAME.log
  local name=$1; shift
  bash "$RUN" -np 2 "$BIN" "$SCRIPT" "${OPTS[@]}" --name "$name" "$@" > "$name.log" 2>&1
}
# same_model A B: the models of two checkpoints hold the same bits
same_model() {
  "$BIN" -e "
    local a, b = lt.load('$1').model, lt.load('$2').model
    local n = 0
    for k, v in pairs(a) do
      n = n + 1
      assert(b[k] and v:eq(b[k]):all():item(), 'tensor ' .. k .. ' differs')
    end
    for k in pairs(b) do assert(a[k], 'extra tensor ' .. k) end
    assert(n > 50, 'only ' .. n .. ' tensors')" 2>&1
}

if train full; then ok; else bad "the 2-process run failed:"; tail -20 full.log >&2; fi
runs=$(ls runs)
[ "$runs" = full ] && ok || bad "run folders: $runs (expected only 'full')"
for f in config.json metrics.jsonl last.safetensors best.safetensors; do
  [ -f "runs/full/$f" ] && ok || bad "runs/full/$f missing"
done
grep -q '"world_size":	2' runs/full/config.json && ok || bad "config.json does not say world_size 2"
n=$(grep -c "^epoch 2/2" full.log)
[ "$n" = 1 ] && ok || bad "the epoch summary was printed $n times (rank 0 alone prints)"
grep -q "data parallel: 2 processes" full.log && ok || bad "no data-parallel line in the output"

if train again; then ok; else bad "the second run failed"; fi
out=$(same_model runs/full/last.safetensors runs/again/last.safetensors) && ok || bad "two identical runs differ: $out"

# stopped after 6 batches (epoch 2, batch 2 of 4), then resumed by 2 processes
train part --stop-after-batches 6
rc=$?
[ "$rc" = 130 ] && ok || { bad "the interrupted run exited $rc, expected 130:"; tail -20 part.log >&2; }
grep -q "resume with: mpirun -np 2" part.log && ok || bad "the interrupted run did not say how to resume"
if bash "$RUN" -np 2 "$BIN" "$SCRIPT" --resume runs/part/last.safetensors > resume.log 2>&1; then ok
else bad "the resumed run failed:"; tail -20 resume.log >&2; fi
out=$(same_model runs/full/last.safetensors runs/part/last.safetensors) && ok || bad "resumed run differs: $out"

# another number of processes
out=$("$BIN" "$SCRIPT" --resume runs/full/last.safetensors 2>&1; echo "status $?")
case "$out" in *"written by a run of 2 processes, this one has 1"*"status 2"*) ok ;; *) bad "resume by 1 process: $out" ;; esac

# a rank that fails mid-step ends the job, naming itself
fail_rank1='if lt.distributed.env().rank == 1 then lt.nn.CrossEntropyLoss.forward = function() error("planted failure") end end'
if bash "$RUN" -np 2 --within 30 --expect-fail "planted failure" --expect-fail "rank 1: aborting the job" \
     "$BIN" -e "$fail_rank1" "$SCRIPT" "${OPTS[@]}" --name failing > failing.log 2>&1; then ok
else bad "a failing rank:"; tail -20 failing.log >&2; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
