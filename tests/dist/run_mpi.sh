#!/usr/bin/env bash
# run_mpi.sh — runs a command as an MPI job the way every multi-process test
# does (ctest's label "mpi": tests/dist/dist_*.c and tests/dist/test_*.lua).
# The one place mpirun's options live:
#   --oversubscribe          more ranks than cores (CI has 2 cores, tests use 3)
#   --bind-to none           each rank's OpenMP threads may use every core
#   --mca btl self,vader     shared memory between processes of one machine, no
#                            TCP probing of the container's interfaces
#   --mca btl_vader_single_copy_mechanism none
#                            no cross-memory attach (process_vm_readv), which
#                            containers without CAP_SYS_PTRACE refuse
#   --allow-run-as-root      when run as root (containers, CI)
#
#   tests/dist/run_mpi.sh [-np N] [--expect-fail REGEX] [--status N] [--within S] [--direct] COMMAND [ARGS...]
#
# Without --expect-fail: mpirun's exit status (77, ctest's skip, when mpirun
# is missing). With it, the job must fail: exit non-zero (exactly N with
# --status) within S seconds (default 30), and its output must match the
# extended regular expression REGEX (may be given more than once); prints
# the output and how long it took. Open MPI's own report of an MPI_Abort
# is not reliable (its help message sometimes fails to unpack), so tests
# match what luatrain prints. --direct runs COMMAND without mpirun (a
# singleton), with the same environment. LT_MPIRUN names the mpirun to use
# (CMake passes the one it found).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MPIRUN=${LT_MPIRUN:-mpirun}
np=2 within=30 direct=0 status=
expects=()
while [ $# -gt 0 ]; do
  case "$1" in
    -np) np=$2; shift 2 ;;
    --expect-fail) expects+=("$2"); shift 2 ;;
    --within) within=$2; shift 2 ;;
    --status) status=$2; shift 2 ;;
    --direct) direct=1; shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: run_mpi.sh [-np N] [--expect-fail REGEX] [--status N] [--within S] [--direct] COMMAND..." >&2; exit 2; }
if ! command -v "$MPIRUN" > /dev/null; then
  echo "run_mpi.sh: $MPIRUN not found (apt install openmpi-bin): skipped"
  exit 77
fi

opts=(--oversubscribe --bind-to none --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
if [ "$(id -u)" = 0 ]; then
  opts+=(--allow-run-as-root)
  # the same permission for a singleton (--direct), which starts no mpirun
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# Under AddressSanitizer (make asan) the leak check ignores Open MPI's own
# allocations, which it keeps until exit by design (tests/dist/lsan.supp);
# the slow unwinder finds libmpi's frames under the components it unloaded.
# (Harmless for programs built without sanitizers.)
export LSAN_OPTIONS="suppressions=$ROOT/tests/dist/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

if [ "$direct" = 1 ]; then run=(timeout -k 5 280 "$@"); else run=(timeout -k 5 280 "$MPIRUN" "${opts[@]}" -np "$np" "$@"); fi
if [ ${#expects[@]} -eq 0 ]; then
  "${run[@]}"
  exit $?
fi

start=$EPOCHREALTIME
out=$("${run[@]}" 2>&1)
rc=$?
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
printf '%s\n' "$out"
echo "run_mpi.sh: exit status $rc after $took s"
failed=0
if [ "$rc" = 0 ]; then echo "FAIL the job was expected to fail, and exited 0" >&2; failed=1; fi
if [ -n "$status" ] && [ "$rc" != "$status" ]; then echo "FAIL the job exited $rc, expected $status" >&2; failed=1; fi
if awk -v t="$took" -v w="$within" 'BEGIN { exit !(t > w) }'; then echo "FAIL the job took $took s, more than $within s" >&2; failed=1; fi
for re in "${expects[@]}"; do
  if ! printf '%s\n' "$out" | grep -Eq -- "$re"; then echo "FAIL the output does not match: $re" >&2; failed=1; fi
done
exit $failed
