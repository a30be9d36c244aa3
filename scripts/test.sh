#!/usr/bin/env bash
# Runs the whole test suite: unit, in-process integration, and browser tests.
# Creates .venv on first use and installs what the tests need: the package with
# its test extras from PyPI, and Debian's chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2
        exit 1
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,fastapi,quart]"

# Playwright's sync API keeps an event loop running in the main thread once a
# browser is up, so the asyncio tests run in their own pytest process first.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    .venv/bin/python -m pytest tests/unit tests/integration tests/security "$@"
    exec .venv/bin/python -m pytest tests/browser "$@"
fi
exec .venv/bin/python -m pytest "$@"
