#!/usr/bin/env bash
# test_board_browser.sh — the board's page (src/host/board/index.html) in a
# real browser: two short training runs with different learning rates,
# `luatrain board` serving their folder, and headless Chromium loading the
# page with the polls it makes in the first seconds: the run table lists both
# runs by name, finished, with their metrics read (epochs 3 / 3, a best
# validation top-1), and every chart container holds a dygraph drawn on a
# canvas. Then a screenshot, board.png in the build folder (docs/board.png
# is one), at least 10 KB.
#
#   tests/host/test_board_browser.sh path/to/build/luatrain
#
# Skipped (77) without chromium (bash scripts/install-deps.sh), when it cannot
# start headless, when this luatrain has no board command or cannot serve
# (libmicrohttpd), or without curl or python3 (the DOM is read with html.parser).
set -uo pipefail
BIN=${1:?usage: test_board_browser.sh path/to/build/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BUILD=$(dirname "$BIN")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2> /dev/null; wait "$server" 2> /dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
unset LUATRAIN_PATH LUATRAIN_SCRIPTS LUA_INIT LUA_INIT_5_4

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "skipped: chromium is not installed (bash scripts/install-deps.sh)"; exit 77; }
# root needs --no-sandbox; a profile of its own keeps ~/.config out of it
chrome() {
  timeout 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$TMP/profile" "$@" 2>> "$TMP/chromium.log"
}
if ! chrome --dump-dom about:blank | grep -q '<body'; then
  echo "skipped: chromium does not start headless:"; grep -v dbus "$TMP/chromium.log" | tail -n 5
  exit 77
fi
"$BIN" board --help > /dev/null 2>&1 || { echo "skipped: $BIN has no board command"; exit 77; }
why=$("$BIN" -e 'local ok, why = require("luatrain.board_server").available()
  if not ok then io.write(why) os.exit(77) end' 2>&1)
[ $? = 77 ] && { echo "skipped: $why"; exit 77; }
for tool in curl python3; do
  command -v "$tool" > /dev/null || { echo "skipped: $tool is not installed"; exit 77; }
done

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*" >&2; }
t0=$SECONDS

# two runs of a few seconds each
mkdir -p "$TMP/work" && cd "$TMP/work" || exit 1
for lr in 0.05 0.2; do
  if ! timeout 300 "$BIN" "$ROOT/scripts/cifar_resnet18.lua" --dataset fashion-mnist --epochs 3 --limit-train 1024 \
       --limit-test 256 --width 4 --log-every 2 --quiet --lr "$lr" --name "lr-$lr" > "$TMP/train-$lr.log" 2>&1; then
    bad "the training run lr-$lr:"; tail -n 15 "$TMP/train-$lr.log" >&2
  fi
done
if [ ! -s runs/lr-0.05/metrics.jsonl ] || [ ! -s runs/lr-0.2/metrics.jsonl ]; then
  bad "the training runs wrote no metrics.jsonl"; echo "$passed passed, $failed failed"; exit 1
fi

# the board on a port the kernel picks (it prints the URL), until it answers
"$BIN" board runs --port 0 > "$TMP/board.log" 2>&1 &
server=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's|^luatrain board: \(http://[^ ]*\)/ .*|\1|p' "$TMP/board.log")
  [ -n "$url" ] && curl -sf "$url/api/runs" > /dev/null 2>&1 && break
  kill -0 "$server" 2> /dev/null || break
  sleep 0.1
done
if [ -z "$url" ] || ! curl -sf "$url/api/runs" > /dev/null 2>&1; then
  bad "luatrain board runs --port 0 does not answer${url:+ at $url}:"; cat "$TMP/board.log" >&2
  echo "$passed passed, $failed failed"; exit 1
fi
curl -sf "$url/static/dygraph.min.js" > /dev/null && ok || bad "$url/static/dygraph.min.js is not served (libjs-dygraphs)"

# the page after its first polls (virtual time: the 2-second polls run at once)
chrome --virtual-time-budget=8000 --dump-dom "$url/" > "$TMP/dom.html"
out=$(python3 - "$TMP/dom.html" << 'EOF'
# Prints one line per problem found in the page's DOM, nothing when it is right.
import sys
from html.parser import HTMLParser
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CHARTS = ["chart-train-loss", "chart-val-acc", "chart-val-loss", "chart-lr", "chart-ips"]
class Page(HTMLParser):   # chromium's --dump-dom is serialized DOM: every element but the void ones closes
    def __init__(self):
        super().__init__()
        self.stack, self.ids, self.rows, self.canvases = [], set(), {}, {c: 0 for c in CHARTS}
        self.row, self.cell = None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"): self.ids.add(a["id"])
        if tag == "canvas":
            for i in self.stack:
                if i in self.canvases: self.canvases[i] += 1
        if tag == "tr" and "data-run" in a and "runs" in self.stack: self.row = a["data-run"]; self.rows[self.row] = []
        if tag == "td" and self.row is not None: self.cell = []
        if tag not in VOID: self.stack.append(a.get("id"))
    def handle_endtag(self, tag):
        if tag not in VOID and self.stack: self.stack.pop()
        if tag == "td" and self.cell is not None: self.rows[self.row].append(" ".join("".join(self.cell).split())); self.cell = None
        if tag == "tr": self.row = None
    def handle_data(self, data):
        if self.cell is not None: self.cell.append(data)
p = Page()
p.feed(open(sys.argv[1], encoding="utf-8").read())
if "runs" not in p.ids: print("no table#runs")
for name in ("lr-0.05", "lr-0.2"):
    cells = p.rows.get(name)
    if cells is None: print(f"no row tr[data-run={name}] in table#runs (rows: {sorted(p.rows)})"); continue
    text = " | ".join(cells)
    if name not in text: print(f"row {name} does not show its name: {text}")
    if "finished" not in text: print(f"row {name} does not show the state finished: {text}")
    if "3 / 3" not in text: print(f"row {name} does not show epochs 3 / 3: {text}")
    if not any(c.endswith("%") and c[0].isdigit() for c in cells): print(f"row {name} shows no best val top-1: {text}")
    if "cifar_resnet18.lua" not in text: print(f"row {name} does not show its command: {text}")
for c, n in p.canvases.items():
    if c not in p.ids: print(f"no chart container #{c}")
    elif n == 0: print(f"#{c} holds no canvas (no dygraph drawn)")
EOF
)
if [ -z "$out" ]; then ok; else bad "the page in chromium:"; printf '%s\n' "$out" >&2; fi

# the screenshot
rm -f "$BUILD/board.png"
chrome --virtual-time-budget=8000 --window-size=1400,1000 --hide-scrollbars --screenshot="$BUILD/board.png" "$url/" > /dev/null
size=$(stat -c %s "$BUILD/board.png" 2> /dev/null || echo 0)
if [ "$size" -gt 10240 ]; then ok; echo "screenshot: $BUILD/board.png ($size bytes)"; else bad "no screenshot over 10 KB at $BUILD/board.png ($size bytes)"; fi
kill -0 "$server" 2> /dev/null && ok || { bad "the board exited:"; cat "$TMP/board.log" >&2; }

echo "$passed passed, $failed failed ($((SECONDS - t0)) s)"
[ "$failed" = 0 ]
