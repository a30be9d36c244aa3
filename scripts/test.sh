#!/usr/bin/env bash
# Runs the whole test suite: unit, in-process integration, and browser tests.
# Creates .venv on first use and installs what the tests need: the package with
# its test extras from PyPI, Debian's chromium for the browser tests and Node.js
# for the browser client's unit tests, its chromedriver for the tests that
# run dash-ws apps under Dash's own dash_duo fixture, and redis-server for the
# tests of topics and of pages served by several workers.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "the tests need Debian's$missing: sudo apt-get install$missing" >&2
        exit 1
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,fastapi,quart]"

# Playwright's sync API keeps an event loop running in the main thread once a
# browser is up, so the asyncio tests run in their own pytest processes first.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    # Exit status 5 is a selection (-k) that matches nothing in that process.
    .venv/bin/python -m pytest tests/unit tests/integration tests/security "$@" || [ $? -eq 5 ]
    .venv/bin/python -m pytest tests/dash_duo "$@" || [ $? -eq 5 ]
    exec .venv/bin/python -m pytest tests/browser "$@"
fi
exec .venv/bin/python -m pytest "$@"
