#!/usr/bin/env bash
# The project's test command (README): bash scripts/test.sh
#
# Installs the tools it needs itself (idempotent; re-runs skip what is already installed):
#   - Python tools from tools/requirements.txt into .tools/venv
#   - npm tools from tools/package-lock.json into tools/node_modules (npm ci)
# then runs every check, stopping at the first failure:
#   cargo fmt, cargo clippy, cargo test (incl. the generated-files freshness test),
#   openapi-spec-validator, redocly lint, tools/check_examples.py.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${CI:-}" ]]; then
    export CARGO_TERM_COLOR=never
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

VENV=.tools/venv
PY=$VENV/bin/python
NODE_BIN=tools/node_modules/.bin

current=""
timings=()
script_start=$SECONDS

on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && -n $current ]]; then
        echo >&2
        echo "test.sh: FAILED in step '$current' (exit $rc)" >&2
    fi
}
trap on_exit EXIT

# step NAME COMMAND...: runs one check under a header and records how long it took.
step() {
    current=$1
    shift
    printf '\n==> %s\n' "$current"
    local start=$SECONDS
    "$@"
    echo "--- ok: $current ($((SECONDS - start))s)"
    timings+=("$current $((SECONDS - start))s")
    current=""
}

sha() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

setup_python() {
    # Recreate the venv when missing or broken (e.g. its interpreter went away).
    if ! "$PY" -c 'import sys' >/dev/null 2>&1; then
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    local want stamp=$VENV/.requirements.sha256
    want=$(sha tools/requirements.txt)
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
        "$PY" -m pip install --quiet -r tools/requirements.txt
        echo "$want" >"$stamp"
    else
        echo "python tools up to date ($VENV)"
    fi
}

setup_npm() {
    local want stamp=tools/node_modules/.package-lock.sha256
    want=$(sha tools/package.json tools/package-lock.json)
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" || ! -x $NODE_BIN/redocly ]]; then
        npm ci --prefix tools --no-audit --no-fund --loglevel=error
        echo "$want" >"$stamp"
    else
        echo "npm tools up to date (tools/node_modules)"
    fi
}

step "setup: python tools" setup_python
step "setup: npm tools" setup_npm
step "cargo fmt --all --check" cargo fmt --all --check
step "cargo clippy --workspace --all-targets -- -D warnings" \
    cargo clippy --workspace --all-targets -- -D warnings
step "cargo test --workspace" cargo test --workspace
step "openapi-spec-validator openapi.yaml" "$VENV/bin/openapi-spec-validator" openapi.yaml
step "redocly lint openapi.yaml" "$NODE_BIN/redocly" lint --config redocly.yaml openapi.yaml
step "tools/check_examples.py" "$PY" tools/check_examples.py

echo
echo "test.sh: all ${#timings[@]} steps passed in $((SECONDS - script_start))s" \
    "($(IFS=,; echo "${timings[*]}" | sed 's/,/, /g'))"
