#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for a while each, one after the other, each in one
# process on one core (no -jobs: libFuzzer would fork a child that logs to fuzz-N.log), and
# prints per target how long it ran, its executions, exec/s, coverage, corpus and findings.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Each run
# starts from the checked-in seed corpus fuzz/corpus/<target>/ and adds what it finds to a
# scratch corpus under fuzz/runs/<target>/ (not checked in), so the checked-in one stays
# small; `cargo fuzz cmin` and copying by hand promote inputs worth keeping. A crash is saved
# under fuzz/artifacts/<target>/ and must become a regression test (a unit test with the exact
# input) plus a corpus file. The corpus is replayed on stable by `cargo test` (handlers'
# `fuzz_props` tests, cli's `presign` tests): this script is not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
shift || true
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

for t in "${targets[@]}"; do
    CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo +nightly fuzz build -O "$t"
done

summary=()
status=0
for t in "${targets[@]}"; do
    mkdir -p "runs/$t" "artifacts/$t"
    log="runs/$t.log"
    echo "== $t: ${seconds}s"
    rc=0
    # The scratch corpus first (where new inputs go), then the seeds.
    cargo +nightly fuzz run -O "$t" "runs/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1 || rc=$?
    # libFuzzer's final stats: stat::number_of_executed_units, stat::average_exec_per_sec.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
    corpus=$(find "runs/$t" "corpus/$t" -type f | wc -l)
    crashes=$(find "artifacts/$t" -type f | wc -l)
    line="$t: ${seconds}s, ${execs:-?} executions, ${rate:-?} exec/s, coverage ${cov:-?}, corpus ${corpus} files, ${crashes} crash/leak/timeout artifact(s), exit ${rc}"
    echo "$line"
    if [[ $rc -ne 0 ]]; then
        status=1
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 5 || true
    fi
    summary+=("$line")
done
echo
printf '%s\n' "${summary[@]}"
exit "$status"
