#!/usr/bin/env bash
# Create the two virtual environments the benchmark needs besides the dash-ws one:
#   - upstream: Dash 4.4.1 with its FastAPI backend (its own WebSocket callbacks)
#   - client:   the load generator (websockets, aiohttp, uvloop, orjson)
# Re-running is cheap: an existing, complete venv is left alone.
set -euo pipefail
UPSTREAM_VENV="${BENCH_UPSTREAM_VENV:-/tmp/bench-upstream-venv}"
CLIENT_VENV="${BENCH_CLIENT_VENV:-/tmp/bench-client-venv}"
PYTHON="${PYTHON:-python3}"

make_venv() {  # dir, marker module, packages...
    local dir="$1" marker="$2"; shift 2
    if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import $marker" 2>/dev/null; then
        echo "ok: $dir"; return
    fi
    echo "creating $dir ..."
    "$PYTHON" -m venv "$dir"
    # (pip's warnings about this machine's unused local index paths are dropped)
    "$dir/bin/pip" install --quiet --upgrade pip 2> >(grep -v "is ignored" >&2)
    "$dir/bin/pip" install --quiet "$@" 2> >(grep -v "is ignored" >&2)
    echo "done: $dir"
}

make_venv "$UPSTREAM_VENV" "dash, fastapi, uvicorn, uvloop, websockets" \
    "dash[fastapi]==4.4.1" "uvicorn[standard]"
make_venv "$CLIENT_VENV" "websockets, aiohttp, uvloop, orjson" \
    "websockets>=13" aiohttp uvloop orjson

# Only for `run.py --stack uvloop`: dash-ws (editable, from this checkout) with uvloop + httptools,
# so both servers can run on the same uvloop stack. The repository .venv is left untouched.
if [ -n "${BENCH_DASHWS_UVLOOP_VENV:-}" ]; then
    REPO="$(cd "$(dirname "$0")/.." && pwd)"
    make_venv "$BENCH_DASHWS_UVLOOP_VENV" "dash_ws, uvloop, httptools" -e "$REPO" uvloop httptools
fi
