#!/usr/bin/env bash
# scripts/venv.sh [test] - create .venv (Python >= 3.11) with the project installed
# editable; `test` adds the test extra. Idempotent: reinstalls only when setup.py changed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRA=""
[ "${1:-}" = "test" ] && EXTRA="[test]"

python=""
for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[ -n "$python" ] || { echo "[venv] Python >= 3.11 is required" >&2; exit 1; }

[ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
stamp="$VENV/.installed$EXTRA"
want="$(sha256sum "$ROOT/setup.py" | cut -c1-64)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[venv] installing zun-cqrs$EXTRA into $VENV" >&2
    timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT$EXTRA"
    echo "$want" >"$stamp"
fi
