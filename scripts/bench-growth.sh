#!/usr/bin/env bash
# How cost grows (issue 10, part 4): runs the `local` bench (cli/benches/local.rs) once per
# configuration and prints one summary line each. A benchmark, not a test: it asserts
# nothing about time (the bench itself still checks every count, so a broken run fails).
#
#   bash scripts/bench-growth.sh pages     # GET /v1/events over 20k, 200k and 1M events of one user
#   bash scripts/bench-growth.sh ingest    # ingest of 1-, 10-, 100- and 1000-event objects
#   bash scripts/bench-growth.sh all
#
# Full logs go to ${EP_GROWTH_LOGS:-target/bench-growth}/. Every other EP_BENCH_* variable
# is passed through (e.g. EP_BENCH_SECONDS for a longer query run).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
logs="${EP_GROWTH_LOGS:-target/bench-growth}"
mkdir -p "$logs"

cargo bench -q -p eventpulse-cli --bench local --no-run

run() { # label objects events
    local label="$1" log="$logs/$1.log"
    EP_BENCH_OBJECTS="$2" EP_BENCH_EVENTS="$3" \
        cargo bench -q -p eventpulse-cli --bench local >"$log" 2>&1 || {
        echo "$label: the bench failed, see $log" >&2
        tail -20 "$log" >&2
        return 1
    }
    echo "$log"
}

field() { # log pattern: the first line matching, trimmed
    grep -m1 -- "$2" "$1" | sed 's/^ *//'
}

pages() {
    printf '%s\n' "## GET /v1/events, limit 50, one user's N events (16 clients, ${EP_BENCH_SECONDS:-10} s)"
    for cfg in "20k 200 100" "200k 200 1000" "1M 1000 1000"; do
        # shellcheck disable=SC2086
        set -- $cfg
        local log
        log="$(run "pages-$1" "$2" "$3")"
        echo "- $1 events:"
        echo "    $(field "$log" 'requests:')"
        echo "    $(field "$log" 'client latency, all')"
        echo "    $(field "$log" 'client latency, next page')"
        echo "    $(field "$log" 'server-side latency')"
        echo "    $(grep 'CPU over' "$log" | tail -1 | sed 's/^ *//')"
    done
}

ingest() {
    printf '%s\n' "## ingest until every upload is final, by events per object (the server's default --workers)"
    for cfg in "1 4000 1" "10 2000 10" "100 400 100" "1000 60 1000"; do
        # shellcheck disable=SC2086
        set -- $cfg
        local log
        log="$(run "ingest-$1" "$2" "$3")"
        echo "- $2 objects × $1 events:"
        echo "    $(field "$log" 'ingest only')"
        echo "    $(field "$log" 'server: per-object processing')"
        echo "    $(grep 'CPU over' "$log" | head -1 | sed 's/^ *//')"
    done
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(date -u +%FT%TZ), $(git rev-parse --short HEAD)"
case "$what" in
pages) pages ;;
ingest) ingest ;;
all) pages && ingest ;;
*) echo "usage: $0 pages|ingest|all" >&2 && exit 2 ;;
esac
