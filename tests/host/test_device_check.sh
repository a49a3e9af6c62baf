#!/usr/bin/env bash
# test_device_check.sh — scripts/device_check.sh, which runs on the GPU
# machine only rarely and for minutes, must work the first time: this runs
# its dry run (every phase on the CPU, small) and checks what a run on the
# GPU machine relies on:
#   - the run ends with status 0 and leaves exactly summary.txt and
#     logs.tar.gz in $OUT (the device tool brings back 8 files at most);
#   - the summary has a row per phase, the smoke lines, the ctest result, the
#     benchmark rows and the training rows; the archive holds every log;
#   - the Fashion-MNIST subset it stages (as --prepare does) is read by the
#     training script with the asked-for image counts;
#   - a smoke test that cannot run stops the run, and the summary says so;
#   - a phase that outlives its share of the budget is cut off, the phases
#     after it are skipped, and the summary is still written.
#
#   tests/host/test_device_check.sh path/to/luatrain
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$ROOT" || exit 1

passed=0
failed=0
check() {   # check "what" command...
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $what" >&2; fi
}
has() { grep -qE -- "$2" "$1"; }

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "skipped: Debian's dataset-fashion-mnist is not installed"
  exit 77
fi

# --- the whole dry run -----------------------------------------------------------------------
OUT="$TMP/out" timeout 600 bash scripts/device_check.sh --dry-run "$BIN" > "$TMP/run.txt" 2>&1
rc=$?
check "dry run exits 0 (got $rc; output in run.txt below)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -40 "$TMP/run.txt" >&2
check "only summary.txt and logs.tar.gz come back: $(ls "$TMP/out" | tr '\n' ' ')" \
  [ "$(ls "$TMP/out" | tr '\n' ' ')" = "logs.tar.gz summary.txt " ]
S="$TMP/out/summary.txt"
for p in version smoke ctest bench train recipe; do
  check "summary row '$p ok'" has "$S" "^  $p +(ok|done)"
done
check "summary: the gpu row says the dry run has no nvidia-smi" has "$S" "^  gpu +no nvidia-smi \(dry run\)"
check "summary: every smoke check ok" has "$S" "device_smoke on cpu: 0 error\(s\), 0 result\(s\) outside"
check "summary: seven smoke lines" [ "$(grep -cE "^  ok +" "$S")" = 7 ]
check "summary: the CUDA-labelled tests all passed on the CPU" has "$S" "^ctest: 100% tests passed, 0 tests failed out of [1-9]"
check "summary: luatrain's fp32 step row" has "$S" "^luatrain +fp32 +4 +[0-9.]+ +[0-9]+"
check "summary: the graph mode is n/a on the CPU" has "$S" "^luatrain +graph-bf16 +4 n/a \(CUDA graphs need the GPU\)"
check "summary: training rows for fp32 and bf16-cl" \
  [ "$(grep -cE "^  luatrain (fp32|bf16-cl) +top-1 [0-9.]+% .*status 0$" "$S")" = 2 ]
check "summary: the status line" has "$TMP/run.txt" "status 0$"
tar -xzf "$TMP/out/logs.tar.gz" -C "$TMP"
for f in phases.txt version.log smoke.log ctest.log bench_luatrain.log train_fp32.log train_bf16-cl.log \
         train_fp32.metrics.jsonl train_summary.txt recipe_summary.txt summary.txt; do
  check "logs.tar.gz holds logs/$f" [ -f "$TMP/logs/$f" ]
done
check "the staged subset gave 1024 training and 512 test images" \
  has "$TMP/logs/train_fp32.log" "fashion-mnist: 1024 train / 512 test images"
check "no run folder is left behind" [ -z "$(ls -d runs/device-check-* 2>/dev/null)" ]

# --- a smoke test that cannot run stops the run -------------------------------------------------
# A stand-in binary: the real one, except that the smoke test fails as a
# GPU without working cuDNN would.
FAKE="$TMP/fake"
mkdir -p "$FAKE"
cat > "$FAKE/luatrain" <<EOF
#!/usr/bin/env bash
case "\${1:-}" in
  scripts/device_smoke.lua) echo "ERROR conv2d fwd+bwd float32, TF32 off  cuDNN error: CUDNN_STATUS_NOT_INITIALIZED"; exit 1 ;;
  -v) [ -n "\${SLOW_VERSION:-}" ] && sleep 60 ;;
esac
exec "$BIN" "\$@"
EOF
chmod +x "$FAKE/luatrain"
OUT="$TMP/out2" timeout 120 bash scripts/device_check.sh --dry-run "$FAKE/luatrain" > "$TMP/run2.txt" 2>&1
rc=$?
S2="$TMP/out2/summary.txt"
check "a failing smoke test: status 1 (got $rc)" [ "$rc" = 1 ]
check "a failing smoke test: the summary says the run stopped" has "$S2" "^STOPPED EARLY: the smoke test could not run"
check "a failing smoke test: the smoke error is in the summary" has "$S2" "ERROR conv2d fwd\+bwd float32.*CUDNN_STATUS_NOT_INITIALIZED"
check "a failing smoke test: no later phase ran" bash -c "! grep -qE '^  (ctest|bench|train) ' '$S2'"
check "a failing smoke test: the archive is there" [ -f "$TMP/out2/logs.tar.gz" ]

# --- the budget: a phase cut off at its share, the rest skipped, the summary written ---------
OUT="$TMP/out3" BUDGET=17 SLOW_VERSION=1 timeout 120 bash scripts/device_check.sh --dry-run "$FAKE/luatrain" \
  > "$TMP/run3.txt" 2>&1
rc=$?
S3="$TMP/out3/summary.txt"
check "over budget: status 1 (got $rc)" [ "$rc" = 1 ]
check "over budget: the slow phase is cut off at what was left" has "$S3" "^  version +TIMED OUT \(cap [5-7]s\)"
check "over budget: a later phase is skipped" has "$S3" "^  (smoke|ctest|bench) +skipped: out of time"
check "over budget: the summary reports the elapsed time within the budget" has "$S3" "^elapsed: ([0-9]|1[0-7]) s of a 17 s budget"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
