#!/usr/bin/env bash
# moto server, for the eventpulse-aws tests (adapters/aws/tests), which read
# EVENTPULSE_MOTO_ENDPOINT and fail when it is unset. scripts/test.sh uses this itself; by
# hand:
#
#   eval "$(bash scripts/moto.sh start [--aws-env])"
#                                          # installs moto if needed, starts it on a free
#                                          # loopback port, exports EVENTPULSE_MOTO_ENDPOINT
#                                          # and EVENTPULSE_MOTO_PID (with --aws-env also
#                                          # AWS_ENDPOINT_URL and test credentials, for
#                                          # `eventpulse local --backend aws`)
#   cargo test -p eventpulse-aws           # (or cargo test --workspace)
#   bash scripts/moto.sh stop              # stops the server $EVENTPULSE_MOTO_PID names
#
#   bash scripts/moto.sh install           # only installs or updates the venv
#   bash scripts/moto.sh stop PID          # stops that server (it must be a moto_server)
#
# moto gets its own venv, .tools/moto-venv, from the pinned tools/moto-requirements.txt:
# its dependencies conflict with the other Python tools (.tools/venv). `start` prints only
# the shell commands to evaluate on stdout; everything else goes to stderr.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
VENV=.tools/moto-venv
PY=$VENV/bin/python
REQUIREMENTS=tools/moto-requirements.txt

sha() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# The same scheme as test.sh's setup_python: recreate a missing or broken venv, reinstall
# when the requirements changed since the last install.
install() {
    if ! "$PY" -c 'import sys' >/dev/null 2>&1; then
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    local want stamp=$VENV/.requirements.sha256
    want=$(sha "$REQUIREMENTS")
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" || ! -x $VENV/bin/moto_server ]]; then
        "$PY" -m pip install --quiet -r "$REQUIREMENTS"
        echo "$want" >"$stamp"
        echo "moto installed ($VENV)"
    else
        echo "moto up to date ($VENV)"
    fi
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

answers() {
    "$PY" -c '
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1).read()
except Exception:
    sys.exit(1)
' "$1"
}

start() {
    install >&2
    local attempt port pid log url i
    # The port is free when picked but not reserved: should another process take it first,
    # moto exits at once, and another port is tried.
    for attempt in 1 2 3; do
        port=$(free_port)
        url=http://127.0.0.1:$port
        log=${TMPDIR:-/tmp}/eventpulse-moto.$port.log
        # Output to a file, never to our stdout: `$(moto.sh start)` would wait for moto.
        # One request at a time (tools/moto_serial.py): moto's conditional writes are not
        # atomic across its request threads, DynamoDB's are.
        "$PY" tools/moto_serial.py -H 127.0.0.1 -p "$port" </dev/null >"$log" 2>&1 &
        pid=$!
        for i in $(seq 150); do
            if answers "$url"; then
                echo "moto server (pid $pid) is answering at $url; log: $log" >&2
                echo "export EVENTPULSE_MOTO_ENDPOINT=$url EVENTPULSE_MOTO_PID=$pid"
                if [[ ${1:-} == --aws-env ]]; then
                    # For the AWS SDK of anything started from this shell (eventpulse
                    # provision, eventpulse local --backend aws): moto, with test keys.
                    echo "export AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
                fi
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            echo "moto server did not answer at $url within 30 s; its log ($log):" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        echo "moto server exited at start (attempt $attempt); its log ($log):" >&2
        tail -n 5 "$log" >&2
    done
    return 1
}

stop() {
    local pid=${1:-${EVENTPULSE_MOTO_PID:-}} i
    if [[ -z $pid ]]; then
        echo "moto.sh stop: no PID given and EVENTPULSE_MOTO_PID is not set" >&2
        return 1
    fi
    # Only ever a moto server: a stale PID may have been reused by another process.
    if ! ps -p "$pid" -o command= 2>/dev/null | grep -q moto_serial; then
        echo "moto.sh stop: no moto server runs as pid $pid (already stopped?)" >&2
    else
        kill -TERM "$pid"
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        echo "moto server (pid $pid) stopped" >&2
    fi
    echo "unset EVENTPULSE_MOTO_ENDPOINT EVENTPULSE_MOTO_PID"
    if [[ ${AWS_ENDPOINT_URL:-} == "${EVENTPULSE_MOTO_ENDPOINT:-none}" ]]; then
        echo "unset AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION"
    fi
}

case ${1:-} in
install) install ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*)
    echo "usage: bash scripts/moto.sh install | start [--aws-env] | stop [PID]" >&2
    exit 2
    ;;
esac
