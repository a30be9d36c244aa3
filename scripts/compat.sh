#!/usr/bin/env bash
# Runs the suite against each supported Dash release in turn: the unit and
# integration tests in full, and a representative set of browser tests on Flask.
# Each release gets its own virtual environment, .venv-dash-<version>.
#   bash scripts/compat.sh              # 3.0.4 3.4.0 4.1.0 4.4.1 4.5.0rc2
#   DASH_VERSIONS="3.1.1" bash scripts/compat.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS="${DASH_VERSIONS:-3.0.4 3.4.0 4.1.0 4.4.1 4.5.0rc2}"

# Browser tests by the Dash features they need (async callbacks came in 3.1,
# streamed Patch in 3.3, generator callbacks in 4.5); each release runs those
# its features allow.
PERSISTENT="live_price or game_of_life or ag_grid or interval_app"
ASYNC_EVENTS="countdown or greeting_reads or tab_ends_its_persistent_loop or cancels_its_running_event_callback"
PATCHES="2s_drop or price_streaming"
GENERATORS="yield or generator"

browser_subset() {
    local version="$1"
    local subset="$PERSISTENT"
    if [ "$(printf '%s\n3.1.0\n' "$version" | sort -V | head -1)" = "3.1.0" ]; then
        subset="$subset or $ASYNC_EVENTS"
    fi
    if [ "$(printf '%s\n3.3.0\n' "$version" | sort -V | head -1)" = "3.3.0" ]; then
        subset="$subset or $PATCHES"
    fi
    if [ "$(printf '%s\n4.5.0\n' "$version" | sort -V | head -1)" = "4.5.0" ]; then
        subset="$subset or $GENERATORS"
    fi
    echo "flask and ($subset)"
}

for version in $VERSIONS; do
    venv=".venv-dash-$version"
    echo "=== dash $version"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[test]" "dash==$version"
    "$venv/bin/python" -c "import dash; assert dash.__version__ == '$version', dash.__version__"
    "$venv/bin/python" -m pytest tests/unit tests/integration tests/security -q -p no:cacheprovider
    "$venv/bin/python" -m pytest tests/browser -q -p no:cacheprovider -k "$(browser_subset "$version")"
done
