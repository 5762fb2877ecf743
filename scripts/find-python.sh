#!/usr/bin/env sh
# Print the path of a Python >= 3.12 interpreter, or explain what to install and exit 1.
# On machines with pyenv, `python3.12` may be a shim that answers "command not found" unless a version is
# selected, so pyenv's own version directories are searched first and every candidate is actually run.
ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

for c in "${PYTHON:-}"; do
  [ -n "$c" ] && ok "$c" && { command -v "$c" 2>/dev/null || echo "$c"; exit 0; }
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root 2>/dev/null)
else
  root="${PYENV_ROOT:-$HOME/.pyenv}"
fi
for v in 3.12 3.13 3.14; do
  for d in $(ls -d "$root"/versions/"$v"* 2>/dev/null | sort -V -r); do
    for exe in "$d/bin/python$v" "$d/bin/python3"; do
      [ -x "$exe" ] && ok "$exe" && { echo "$exe"; exit 0; }
    done
  done
done
for c in python3.12 python3.13 python3.14 python3; do
  p=$(command -v "$c" 2>/dev/null) || continue
  ok "$p" && { echo "$p"; exit 0; }
done
echo "error: no Python >= 3.12 with the venv module found. Install one (Debian: apt-get install python3.12 python3.12-venv; or pyenv install 3.12) or set PYTHON=/path/to/python3.12" >&2
exit 1
