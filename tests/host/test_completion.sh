#!/usr/bin/env bash
# test_completion.sh — the files `make install` puts beside the program for
# its users: the bash completion (dist/bash-completion/luatrain) and the
# manual page (dist/luatrain.1).
#
#   tests/host/test_completion.sh path/to/luatrain
#
# The completion runs as bash would run it on Tab: each check starts a fresh
# bash (with `set -u`) that sources the file, sets COMP_WORDS and COMP_CWORD
# for a command line and calls _luatrain; the check looks at COMPREPLY and
# requires that nothing was printed on stderr. The luatrain found on PATH is
# the one given (a symlink named luatrain in a temporary folder put first on
# PATH) and LUATRAIN_SCRIPTS is the repository's scripts/ folder; one check
# uses an installed layout instead (PREFIX/bin/luatrain and
# PREFIX/share/luatrain/scripts) with LUATRAIN_SCRIPTS unset. Needs no
# network; the manual page check needs groff and is skipped without it.
set -euo pipefail
BIN=${1:?usage: test_completion.sh path/to/luatrain}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COMPLETION=$ROOT/dist/bash-completion/luatrain
PAGE=$ROOT/dist/luatrain.1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$ROOT"
unset LUATRAIN_PATH

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

mkdir -p "$TMP/bin"
ln -s "$BIN" "$TMP/bin/luatrain"
export PATH="$TMP/bin:$PATH"
export LUATRAIN_SCRIPTS="$ROOT/scripts"

# complete WORD...: the completion of the command line WORD... (its last word
# is the one Tab completes). Sets $reply (one candidate a line) and $err.
complete_line() {
  # shellcheck disable=SC2016   # expanded by the inner bash
  local prog='set -u
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _luatrain
    printf "%s\n" "${COMPREPLY[@]}"'
  local rc=0
  reply=$(timeout 30 bash -c "$prog" completion "$COMPLETION" "$@" 2>"$TMP/stderr") || rc=$?
  err=$(cat "$TMP/stderr")
  if [ "$rc" -ne 0 ]; then err="exit status $rc; $err"; fi
}

# offers WHAT WORD... -- CANDIDATE...: the completion of WORD... includes
# every CANDIDATE and prints nothing on stderr.
offers() {
  local what=$1 words=() want c ok=1
  shift
  while [ "$1" != "--" ]; do words+=("$1"); shift; done
  shift
  complete_line "${words[@]}"
  if [ -n "$err" ]; then
    fail "$what: the completion printed on stderr: $err"
    return
  fi
  for want in "$@"; do
    c=0
    grep -qxF -- "$want" <<<"$reply" || c=$?
    if [ "$c" -ne 0 ]; then
      fail "$what: '${words[*]}<TAB>' does not offer $want; it offers: $(tr '\n' ' ' <<<"$reply")"
      ok=0
    fi
  done
  if [ "$ok" = 1 ]; then pass; fi
}

# offers_nothing WHAT WORD...: an empty completion and nothing on stderr.
offers_nothing() {
  local what=$1
  shift
  complete_line "$@"
  if [ -n "$err" ]; then fail "$what: the completion printed on stderr: $err"
  elif [ -n "$reply" ]; then fail "$what: '$*<TAB>' offers: $(tr '\n' ' ' <<<"$reply")"
  else pass; fi
}

# has_option HELP OPTION: the --help text lists OPTION at the start of a line.
has_option() { grep -qE -- "^ *$2( |$)" <<<"$1"; }

# --- the completion -------------------------------------------------------------------
if [ ! -f "$COMPLETION" ]; then
  fail "$COMPLETION is missing"
else
  src_err=$(bash -c 'set -u; source "$1"' sourcing "$COMPLETION" 2>&1) || src_err="exit status $?; $src_err"
  if [ -z "$src_err" ]; then pass; else fail "sourcing the completion printed: $src_err"; fi

  offers "an installed script's name" luatrain ci -- cifar_resnet18
  offers "the options" luatrain - -- -e --help
  offers "a command" luatrain pl -- plot
  offers "an installed script's name after luatrain's options" luatrain -i ci -- cifar_resnet18
  offers_nothing "no command after luatrain's options" luatrain -i pl
  offers "a Lua file" luatrain scripts/cifar_res -- scripts/cifar_resnet18.lua
  offers "a folder after plot" luatrain plot scrip -- scripts
  offers "the board command" luatrain bo -- board
  offers "board's options" luatrain board --p -- --port

  # the options the checks below complete, as the scripts' --help prints them
  r18_help=$(timeout 30 luatrain scripts/cifar_resnet18.lua --help 2>&1) || true
  for o in --epochs --limit-train --limit-test --resume; do
    if has_option "$r18_help" "$o"; then pass; else fail "cifar_resnet18.lua --help does not list $o: $r18_help"; fi
  done
  offers "a script's options, by its name" luatrain cifar_resnet18 --ep -- --epochs
  offers "a script's options, by its file" luatrain scripts/cifar_resnet18.lua --li -- --limit-train --limit-test
  offers "a script's options after luatrain's" luatrain -i scripts/cifar_resnet18.lua --re -- --resume
  offers "a script's options, by NAME.lua" luatrain cifar_resnet18.lua --ep -- --epochs

  offers_nothing "an option of a script that does not exist" luatrain no_such_script --e
  offers_nothing "an option of a file that does not exist" luatrain no/such/file.lua --e
  offers_nothing "after -e (Lua code)" luatrain -e pr

  # a script that does not mention --help is never run to ask it
  printf 'io.open("%s", "w"):close()\n' "$TMP/ran" >"$TMP/trap.lua"
  offers_nothing "the options of a script without --help" luatrain "$TMP/trap.lua" --
  if [ -e "$TMP/ran" ]; then fail "Tab ran a script that does not handle --help"; else pass; fi

  # the installed layout: PREFIX/bin/luatrain (a program, not a symlink to
  # the build) and PREFIX/share/luatrain/scripts, no LUATRAIN_SCRIPTS
  P=$TMP/prefix
  mkdir -p "$P/bin" "$P/share/luatrain/scripts"
  printf '#!/bin/sh\nexec %q "$@"\n' "$BIN" >"$P/bin/luatrain"
  chmod +x "$P/bin/luatrain"
  cp "$ROOT/scripts/fashion_mnist.lua" "$P/share/luatrain/scripts/"
  fm_help=$(timeout 30 luatrain scripts/fashion_mnist.lua --help 2>&1) || true
  if has_option "$fm_help" --limit-test; then pass; else fail "fashion_mnist.lua --help does not list --limit-test: $fm_help"; fi
  (
    export PATH="$P/bin:$PATH"
    unset LUATRAIN_SCRIPTS
    offers "a script in PREFIX/share/luatrain/scripts" luatrain fa -- fashion_mnist
    offers "its options" luatrain fashion_mnist --limit -- --limit --limit-test
    echo "$passed $failed" >"$TMP/counts"
  )
  read -r passed failed <"$TMP/counts"
fi

# --- the manual page ------------------------------------------------------------------------
if [ ! -f "$PAGE" ]; then
  fail "$PAGE is missing"
else
  if command -v groff >/dev/null; then
    warnings=$(groff -man -ww -z "$PAGE" 2>&1) || warnings="exit status $?; $warnings"
    if [ -z "$warnings" ]; then pass; else fail "groff -man -ww -z $PAGE: $warnings"; fi
  else
    echo "skipped: groff is not installed, the manual page is not rendered"
  fi
  # every option of `luatrain --help` is in the page's OPTIONS section: the
  # dash words that start its lines ("  -h, --help show this help")
  usage=$(timeout 30 luatrain --help 2>&1) || true
  options=$(sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$PAGE" | sed 's/\\-/-/g')
  n=0
  while read -r -a words; do
    for w in "${words[@]}"; do
      w=${w%,}
      case $w in -*) ;; *) break ;; esac
      n=$((n + 1))
      if grep -qE -- "(^|[ \"])$w([ ,\"]|\$)" <<<"$options"; then pass
      else fail "the option $w of luatrain --help is not in the OPTIONS section of $PAGE"; fi
    done
  done < <(grep -E '^ +-' <<<"$usage")
  if [ "$n" -ge 6 ]; then pass; else fail "found only $n options in luatrain --help: $usage"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
