#!/usr/bin/env bash
# make uninstall: removes every file and link that `make install` listed
# (its copy of CMake's install manifest, build/installed_files.txt), then
# the folders luatrain owns (share/luatrain/..., share/doc/luatrain) once
# they are empty. Shared folders (bin, lib, lua/5.4, man/man1) stay. Files
# already gone are skipped.
#   bash scripts/uninstall.sh build/installed_files.txt
set -euo pipefail
manifest=${1:?usage: uninstall.sh path/to/installed_files.txt}
if [ ! -f "$manifest" ]; then
  echo "uninstall: $manifest not found: nothing was installed from this build folder (make install writes it)" >&2
  exit 1
fi
removed=0
declare -A folders=()
while IFS= read -r path || [ -n "$path" ]; do
  [ -n "$path" ] || continue
  if [ -e "$path" ] || [ -L "$path" ]; then
    rm -f -- "$path"
    removed=$((removed + 1))
  fi
  dir=$(dirname -- "$path")
  while [[ "$dir" == */luatrain || "$dir" == */luatrain/* ]]; do
    folders[$dir]=1
    dir=$(dirname -- "$dir")
  done
done < "$manifest"
# deepest first, so a folder is empty once its subfolders are gone
for dir in $(printf '%s\n' "${!folders[@]}" | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-); do
  rmdir -- "$dir" 2>/dev/null || true
done
echo "uninstall: removed $removed files listed in $manifest"
