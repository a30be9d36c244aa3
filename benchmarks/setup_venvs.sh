#!/usr/bin/env bash
# Create the two virtual environments the benchmark needs besides the dash-ws one:
#   - upstream: Dash 4.4.1 with its FastAPI backend (its own WebSocket callbacks)
#   - client:   the load generator (websockets, aiohttp, uvloop, orjson)
# and, when run.py asks for them (environment variables below), the optional ones:
#   - BENCH_DASHWS_UVLOOP_VENV: dash-ws (editable) + uvloop + httptools (--stack uvloop)
#   - BENCH_UPSTREAM45_VENV:    Dash 4.5.0rc2 with its FastAPI backend (side upstream45)
#   - BENCH_FLASK_VENV:         plain Dash 4.4.1 on Flask + gunicorn (side flask)
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

ensure_pkg() {  # dir, module, requirement: add one package to an existing venv
    local dir="$1" module="$2" requirement="$3"
    if ! "$dir/bin/python" -c "import $module" 2>/dev/null; then
        echo "adding $requirement to $dir ..."
        "$dir/bin/pip" install --quiet "$requirement" 2> >(grep -v "is ignored" >&2)
    fi
}

make_venv "$UPSTREAM_VENV" "dash, fastapi, uvicorn, uvloop, websockets" \
    "dash[fastapi]==4.4.1" "uvicorn[standard]"
ensure_pkg "$UPSTREAM_VENV" wsproto "wsproto>=1.2,<2"  # for run.py --ws wsproto
make_venv "$CLIENT_VENV" "websockets, aiohttp, uvloop, orjson" \
    "websockets>=13" aiohttp uvloop orjson

# Only for `run.py --stack uvloop`: dash-ws (editable, from this checkout) with uvloop + httptools,
# so both servers can run on the same uvloop stack. The repository .venv is left untouched.
if [ -n "${BENCH_DASHWS_UVLOOP_VENV:-}" ]; then
    REPO="$(cd "$(dirname "$0")/.." && pwd)"
    make_venv "$BENCH_DASHWS_UVLOOP_VENV" "dash_ws, uvloop, httptools" -e "$REPO" uvloop httptools
    ensure_pkg "$BENCH_DASHWS_UVLOOP_VENV" wsproto "wsproto>=1.2,<2"
fi

# Only for the side upstream45: the newest Dash pre-release (streaming callbacks), served like upstream.
if [ -n "${BENCH_UPSTREAM45_VENV:-}" ]; then
    make_venv "$BENCH_UPSTREAM45_VENV" "dash, fastapi, uvicorn, uvloop, websockets" \
        "dash[fastapi]==4.5.0rc2" "uvicorn[standard]"
    ensure_pkg "$BENCH_UPSTREAM45_VENV" wsproto "wsproto>=1.2,<2"
fi

# Only for the side flask: the same app as plain Dash on Flask, served the usual way
# (gunicorn, one worker, 16 threads). dash[async] (asgiref) as in dash-ws's venv, so the
# async callbacks run as Flask runs them; orjson as there, for Dash's JSON encoding.
if [ -n "${BENCH_FLASK_VENV:-}" ]; then
    make_venv "$BENCH_FLASK_VENV" "dash, gunicorn, asgiref, orjson" \
        "dash==4.4.1" "asgiref>=3.6,<4" orjson "gunicorn>=23,<28"
fi
