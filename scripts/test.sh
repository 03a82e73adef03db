#!/usr/bin/env bash
# The project's test command (README): bash scripts/test.sh
#
# Installs the tools it needs itself (idempotent; re-runs skip what is already installed):
#   - Python tools from tools/requirements.txt into .tools/venv
#   - moto server from tools/moto-requirements.txt into its own .tools/moto-venv
#     (scripts/moto.sh; its pins conflict with the tools above)
#   - cfn-lint, cfn-lint-serverless and aws-sam-translator from
#     tools/cfn-lint-requirements.txt into .tools/cfn-lint-venv, and checkov from
#     tools/checkov-requirements.txt into .tools/checkov-venv (each its own: their pins
#     conflict with each other and with moto's)
#   - openapi-python-client from tools/clients-requirements.txt into .tools/clients-venv
#   - npm tools from tools/package-lock.json into tools/node_modules (npm ci): redocly,
#     openapi-typescript, openapi-fetch, typescript 5 (TypeScript 7 breaks openapi-typescript)
#   - cargo-deny (the version CARGO_DENY_VERSION pins) from crates.io into .tools/cargo
#     (cargo install --locked: minutes the first time, then only its version is checked)
#   - headless Chromium is not installed here (it is a system package; .ci/run installs it
#     on CI): it must be on PATH or named by $CHROMIUM, else the run stops at once saying how
#     to install it
# then runs every check, stopping at the first failure:
#   cargo fmt, cargo clippy, cargo test (incl. the generated-files freshness test, and the
#   eventpulse-aws tests against a moto server on an ephemeral loopback port, whose URL is
#   exported as EVENTPULSE_MOTO_ENDPOINT for the rest of the run) with, beside its run and
#   at a lower priority, cargo deny (licenses, bans, sources: deny.toml; advisories only
#   where the RustSec database can be fetched, see deny_advisories) and cargo doc --no-deps
#   with -D warnings, then cargo xtask compat (the
#   compatibility gate against the latest released version),
#   openapi-spec-validator, redocly lint, tools/check_examples.py, cfn-lint (with the
#   serverless rules), the SAM transform (tools/sam_transform.py) linted again, and checkov
#   on infra/template.yaml, and against a live
#   `eventpulse local` (ephemeral port, temp data dir, seeded with uploads by two users,
#   stopped with SIGTERM at the end and required to exit 0): schemathesis over the whole
#   API with every check, a Python (openapi-python-client) and a TypeScript (openapi-typescript
#   + openapi-fetch, tsc) client generated from openapi.yaml each running tools/clients/'s
#   scenario, and the /docs page rendered in headless Chromium.
#
# Only the live schemathesis run, on one backend, with any number of seeds (the test command
# runs each backend once, with one seed each):
#   bash scripts/test.sh --schemathesis-only embedded|aws [SEED...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ONLY=""
ONLY_SEEDS=()
if [[ ${1:-} == --schemathesis-only ]]; then
    ONLY=${2:-}
    if [[ $ONLY != embedded && $ONLY != aws ]]; then
        echo "usage: bash scripts/test.sh [--schemathesis-only embedded|aws [SEED...]]" >&2
        exit 2
    fi
    ONLY_SEEDS=("${@:3}")
fi

if [[ -n "${CI:-}" ]]; then
    export CARGO_TERM_COLOR=never
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

VENV=.tools/venv
PY=$VENV/bin/python
NODE_BIN=tools/node_modules/.bin
CFN_LINT_VENV=.tools/cfn-lint-venv
CHECKOV_VENV=.tools/checkov-venv
CLIENTS_VENV=.tools/clients-venv
# Where the third-party clients are generated at test time (ignored by git, never checked in;
# inside tools/ so that the TypeScript one resolves tools/node_modules).
CLIENTS_GEN=tools/clients/.generated

BIN=target/debug/eventpulse
# cargo-deny, pinned, installed by setup_cargo_deny.
CARGO_DENY_VERSION=0.20.2
CARGO_DENY_ROOT=.tools/cargo
CARGO_DENY=$CARGO_DENY_ROOT/bin/cargo-deny
# Why `cargo deny check advisories` was skipped, if it was (told again at the end).
ADVISORIES_SKIPPED=""

current=""
timings=()
script_start=$SECONDS

# The live server (start_live_server): its temp dir, pid and base URL.
LIVE_DIR=""
LIVE_PID=""
LIVE_BASE=""
# Which backend the live server runs on (start_live_server).
LIVE_BACKEND=embedded
# The seed of the schemathesis run on the AWS backend (the embedded one uses the config's).
AWS_SCHEMATHESIS_SEED=20261202
# moto server (start_moto): its pid.
MOTO_PID=""
# The checks run beside the tests (start_beside_tests): their pid and output dir.
BESIDE_PID=""
BESIDE_DIR=""

on_exit() {
    local rc=$?
    if [[ -n $BESIDE_PID ]]; then
        # A step failed while the checks beside the tests ran: stop them and their cargo.
        pkill -TERM -P "$BESIDE_PID" 2>/dev/null || true
        kill -TERM "$BESIDE_PID" 2>/dev/null || true
        wait "$BESIDE_PID" 2>/dev/null || true
        BESIDE_PID=""
    fi
    if [[ -n $MOTO_PID ]]; then
        bash scripts/moto.sh stop "$MOTO_PID" >/dev/null || true
        MOTO_PID=""
    fi
    if [[ -n $LIVE_PID ]]; then
        # A step failed, or the run was interrupted, while the server was up: stop it anyway.
        kill -TERM "$LIVE_PID" 2>/dev/null || true
        local i
        for i in $(seq 100); do
            kill -0 "$LIVE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$LIVE_PID" 2>/dev/null || true
        wait "$LIVE_PID" 2>/dev/null || true
        LIVE_PID=""
    fi
    if [[ $rc -ne 0 && -n $current ]]; then
        echo >&2
        echo "test.sh: FAILED in step '$current' (exit $rc)" >&2
        if [[ -n $LIVE_DIR && -f $LIVE_DIR/server.log ]]; then
            echo "test.sh: last lines of the live server's log:" >&2
            tail -n 20 "$LIVE_DIR/server.log" >&2
            echo "test.sh: its data dir, whole log and the schemathesis inputs are in $LIVE_DIR" >&2
        fi
    elif [[ -n $LIVE_DIR ]]; then
        rm -rf "$LIVE_DIR"
    fi
}
trap on_exit EXIT
# On Ctrl-C or SIGTERM, leave through on_exit so that the live server is stopped too.
trap 'exit 130' INT
trap 'exit 143' TERM

# With --schemathesis-only: whether step NAME is part of that run.
wanted() {
    case $1 in
        "setup: python tools" | "setup: moto server" | moto:* | "seed "*) return 0 ;;
        *) return 1 ;;
    esac
}

# step NAME COMMAND...: runs one check under a header and records how long it took.
step() {
    if [[ -n $ONLY ]] && ! wanted "$1"; then
        return 0
    fi
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

# setup_venv VENV REQUIREMENTS: the scheme of setup_python for a tool's own venv.
setup_venv() {
    local venv=$1 requirements=$2 want stamp=$1/.requirements.sha256
    if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    want=$(sha "$requirements")
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
        "$venv/bin/python" -m pip install --quiet -r "$requirements"
        echo "$want" >"$stamp"
    else
        echo "up to date ($venv)"
    fi
}

setup_npm() {
    local want stamp=tools/node_modules/.package-lock.sha256
    want=$(sha tools/package.json tools/package-lock.json)
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" || ! -x $NODE_BIN/redocly || ! -x $NODE_BIN/openapi-typescript ]]; then
        npm ci --prefix tools --no-audit --no-fund --loglevel=error
        echo "$want" >"$stamp"
    else
        echo "npm tools up to date (tools/node_modules)"
    fi
}

setup_moto() {
    bash scripts/moto.sh install
}

# Started before cargo test, which needs it for adapters/aws/tests; stopped at the end (or
# by on_exit). scripts/moto.sh prints the exports to evaluate.
start_moto() {
    local exports
    exports=$(bash scripts/moto.sh start)
    eval "$exports"
    MOTO_PID=$EVENTPULSE_MOTO_PID
}

stop_moto() {
    local pid=$MOTO_PID
    MOTO_PID=""
    eval "$(bash scripts/moto.sh stop "$pid")"
}

# cargo-deny from crates.io, built into .tools/cargo (CI's machines have Rust and Python
# only); skipped when the pinned version is already there.
setup_cargo_deny() {
    if [[ "$("$CARGO_DENY" --version 2>/dev/null)" == "cargo-deny $CARGO_DENY_VERSION" ]]; then
        echo "cargo-deny $CARGO_DENY_VERSION up to date ($CARGO_DENY_ROOT)"
        return 0
    fi
    # A lint tool run for seconds: built quickly (no LTO, opt-level 1, many codegen units)
    # rather than to run fast; its release profile took ~270 s of a cold CI run.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 CARGO_PROFILE_RELEASE_DEBUG=false \
        CARGO_PROFILE_RELEASE_STRIP=true \
        cargo install --locked --force --root "$CARGO_DENY_ROOT" "cargo-deny@$CARGO_DENY_VERSION"
}

# `cargo deny check advisories` needs the RustSec advisory database, which cargo-deny clones
# from its git repository: machines that reach only the package registries cannot, and there
# it is skipped, saying why. EVENTPULSE_DENY_ADVISORIES=1 makes it required (a failed fetch
# then fails the run), =0 skips it; unset or `auto`: it runs whenever the fetch works.
deny_advisories() {
    local mode=${EVENTPULSE_DENY_ADVISORIES:-auto} out reason
    case $mode in
        0)
            ADVISORIES_SKIPPED="EVENTPULSE_DENY_ADVISORIES=0"
            echo "SKIPPED: cargo deny check advisories ($ADVISORIES_SKIPPED)"
            return 0
            ;;
        1) "$CARGO_DENY" check advisories ;;
        auto)
            if out=$(timeout 300 "$CARGO_DENY" fetch db 2>&1); then
                "$CARGO_DENY" --offline check advisories
            else
                # git's own message if there is one, else cargo-deny's.
                reason=$(awk '/^fatal:/ { f = $0 } /\[ERROR\]/ { e = $0 }
                    END { print (f != "" ? f : e) }' <<<"$out")
                ADVISORIES_SKIPPED="the RustSec advisory database could not be fetched:"
                ADVISORIES_SKIPPED+=" ${reason:-no answer in 300 s}"
                echo "SKIPPED: cargo deny check advisories: $ADVISORIES_SKIPPED"
                echo "(set EVENTPULSE_DENY_ADVISORIES=1 where it can be fetched to require it)"
            fi
            ;;
        *)
            echo "EVENTPULSE_DENY_ADVISORIES is '$mode': expected auto, 1 or 0" >&2
            return 1
            ;;
    esac
}

# Headless Chromium, for the /docs step. Looked for before anything slow, so that a machine
# without it learns so in seconds, not after the Rust build.
setup_chromium() {
    if [[ -n ${CHROMIUM:-} && ! -x $CHROMIUM ]]; then
        echo "test.sh: CHROMIUM=$CHROMIUM is not an executable file" >&2
        return 1
    fi
    CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
    if [[ -z $CHROMIUM ]]; then
        cat >&2 <<'MSG'
test.sh: headless Chromium is needed to check that the /docs page renders, and none was found
(looked for `chromium` and `chromium-browser` on PATH). Install it, then run this again:
    Debian/Ubuntu:  sudo apt-get update
                    sudo apt-get install -y --no-install-recommends chromium
    Fedora:         sudo dnf install chromium
    macOS:          brew install --cask chromium
                    export CHROMIUM=/Applications/Chromium.app/Contents/MacOS/Chromium
(or point $CHROMIUM at any Chromium or Chrome binary; .ci/run installs it on CI)
MSG
        return 1
    fi
    # Debian's wrapper script can print a shell warning first; the version is what matters.
    "$CHROMIUM" --version 2>/dev/null
}

step "setup: python tools" setup_python
step "setup: moto server" setup_moto
step "setup: cfn-lint" setup_venv "$CFN_LINT_VENV" tools/cfn-lint-requirements.txt
step "setup: checkov" setup_venv "$CHECKOV_VENV" tools/checkov-requirements.txt
step "setup: third-party client generators" setup_venv "$CLIENTS_VENV" tools/clients-requirements.txt
step "setup: npm tools" setup_npm
step "setup: headless chromium" setup_chromium
step "cargo fmt --all --check" cargo fmt --all --check
step "cargo clippy --workspace --all-targets -- -D warnings" \
    cargo clippy --workspace --all-targets -- -D warnings
# cargo test's own summary lines are kept to count the tests for the closing line.
CARGO_TEST_LOG=$(mktemp)
cargo_test() {
    cargo test --workspace 2>&1 | tee "$CARGO_TEST_LOG"
    return "${PIPESTATUS[0]}"
}

# The checks that need only the CPU: cargo-deny (built the first time) and cargo doc. They run
# beside the tests (start_beside_tests), which mostly wait on moto: one Python process
# serving one request at a time leaves the second core idle for most of their ~8 minutes.
checks_beside_tests() {
    step "setup: cargo-deny" setup_cargo_deny
    # deny.toml: the licenses allowed (each justified there), crates.io as the only source,
    # no wildcard requirement. Duplicate versions are warnings, listed without their
    # inclusion graphs.
    step "cargo deny check licenses bans sources" \
        "$CARGO_DENY" check --hide-inclusion-graph licenses bans sources
    step "cargo deny check advisories (where the RustSec database can be fetched)" deny_advisories
    step "cargo doc --workspace --no-deps (RUSTDOCFLAGS=-D warnings)" \
        env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
}

# Starts checks_beside_tests in the background, at a lower CPU priority than the tests and
# moto (so that they only take what the tests leave), its output kept for
# wait_beside_tests.
start_beside_tests() {
    BESIDE_DIR=$(mktemp -d)
    (
        renice -n 10 -p "$BASHPID" >/dev/null
        timings=()
        trap 'rc=$?; [[ $rc -ne 0 ]] && echo "test.sh: FAILED in step '"'"'$current'"'"' (exit $rc)"
              printf "%s\n" "${timings[@]}" >"$BESIDE_DIR/timings"
              printf "%s" "$ADVISORIES_SKIPPED" >"$BESIDE_DIR/advisories-skipped"' EXIT
        checks_beside_tests
    ) </dev/null >"$BESIDE_DIR/log" 2>&1 &
    BESIDE_PID=$!
    echo "started beside the tests (pid $BESIDE_PID): cargo-deny and cargo doc"
}

# Waits for checks_beside_tests, shows their output, and fails if one of them failed.
wait_beside_tests() {
    local status=0 pid=$BESIDE_PID
    wait "$pid" || status=$?
    BESIDE_PID=""
    cat "$BESIDE_DIR/log"
    local t
    while IFS= read -r t; do
        [[ -n $t ]] && timings+=("$t (beside the tests)")
    done <"$BESIDE_DIR/timings"
    ADVISORIES_SKIPPED=$(cat "$BESIDE_DIR/advisories-skipped")
    rm -rf "$BESIDE_DIR"
    BESIDE_DIR=""
    return "$status"
}

# The tests are built first, on both cores, so that what runs beside them overlaps only
# their run.
step "cargo test --workspace --no-run" cargo test --workspace --no-run
[[ -z $ONLY ]] && start_beside_tests
step "moto: start server on a free loopback port" start_moto
step "cargo test --workspace" cargo_test
step "wait for the checks beside the tests (cargo-deny and cargo doc)" wait_beside_tests
# The compatibility gate: the current contract against the latest version under released/
# (BACKWARD for uploads and requests, FORWARD for responses); one line per breaking change.
step "cargo xtask compat" cargo xtask compat
step "openapi-spec-validator openapi.yaml" "$VENV/bin/openapi-spec-validator" openapi.yaml
step "redocly lint openapi.yaml" "$NODE_BIN/redocly" lint --config redocly.yaml openapi.yaml
step "tools/check_examples.py" "$PY" tools/check_examples.py
# The SAM template: 0 errors and 0 warnings (each exception is justified in the template's
# Metadata), and 0 failed security checks (each skip carries its reason there too).
# `--` ends cfn-lint's list of rule modules, which would otherwise take the template too.
step "cfn-lint infra/template.yaml (serverless rules)" \
    "$CFN_LINT_VENV/bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- infra/template.yaml
# The template as CloudFormation runs it (the API definition included, then the SAM
# transform), linted again as plain CloudFormation: what SAM generates (the REST API with
# the generated definition as its body, the stage, the deployment) is checked too.
sam_transform_and_lint() {
    local out
    out=$(mktemp --suffix=.json)
    "$CFN_LINT_VENV/bin/python" tools/sam_transform.py infra/template.yaml "$out"
    "$CFN_LINT_VENV/bin/cfn-lint" -- "$out"
    rm -f "$out"
}
step "SAM transform of infra/template.yaml + cfn-lint on the result" sam_transform_and_lint
step "checkov infra/template.yaml" \
    "$CHECKOV_VENV/bin/checkov" -f infra/template.yaml --framework cloudformation \
    --skip-download --compact --quiet

# ---------------------------------------------------------------------------------------------
# Against a live server: `eventpulse local` as a user runs it, on an ephemeral port.

# start_live_server [embedded|aws]: `eventpulse local` on the embedded default, or on the AWS
# adapters against the moto server of this run (`--backend aws --provision`).
start_live_server() {
    LIVE_BACKEND=${1:-embedded}
    # `cargo test` built the binary (cli/tests run it); build only if it is missing or older
    # than something it is made from.
    local newer=""
    if [[ -x $BIN ]]; then
        newer=$(find Cargo.toml Cargo.lock openapi.yaml schema docs generated/schema \
            generated/src generated/router/src runtime/contract/src runtime/server/src \
            client/src handlers/src adapters/embedded/src adapters/aws/src \
            functions/processor/src cli/src \
            generated/Cargo.toml generated/router/Cargo.toml runtime/contract/Cargo.toml \
            runtime/server/Cargo.toml client/Cargo.toml handlers/Cargo.toml \
            adapters/embedded/Cargo.toml adapters/aws/Cargo.toml functions/processor/Cargo.toml \
            cli/Cargo.toml \
            -type f -newer "$BIN" -print 2>/dev/null | head -n 1)
    fi
    if [[ ! -x $BIN || -n $newer ]]; then
        echo "$BIN is ${newer:+older than $newer}${newer:-missing}: building it"
        cargo build -p eventpulse-cli
    else
        echo "using $BIN as cargo test built it"
    fi

    LIVE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/eventpulse-live.XXXXXX")
    local backend_args=() aws_env=()
    if [[ $LIVE_BACKEND == aws ]]; then
        # A deployment of its own on this run's moto server, with test keys and no profile.
        : >"$LIVE_DIR/empty-aws-profile"
        local suffix=${LIVE_DIR##*.}
        backend_args=(--backend aws --provision --prefix "live-${suffix,,}")
        aws_env=(AWS_ENDPOINT_URL="$EVENTPULSE_MOTO_ENDPOINT" AWS_ACCESS_KEY_ID=testing
            AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
            AWS_CONFIG_FILE="$LIVE_DIR/empty-aws-profile"
            AWS_SHARED_CREDENTIALS_FILE="$LIVE_DIR/empty-aws-profile")
    fi
    # Settings a developer may have exported must not leak in: a webhook would receive the
    # notifications, and another JWT secret would refuse the tokens minted below.
    # schemathesis subscribes whatever endpoints it makes up: --webhooks-loopback-only keeps
    # every delivery on this machine.
    env -u EVENTPULSE_JWT_SECRET -u EVENTPULSE_WEBHOOK -u EVENTPULSE_ALLOW_LOOPBACK_WEBHOOKS \
        "${aws_env[@]}" EVENTPULSE_LOG_FORMAT=json \
        EVENTPULSE_LOG=info "$BIN" local --addr 127.0.0.1:0 --quiet --webhooks-loopback-only \
        "${backend_args[@]}" \
        --data-dir "$LIVE_DIR/data" >"$LIVE_DIR/server.stdout" 2>"$LIVE_DIR/server.log" &
    LIVE_PID=$!
    local addr="" i
    for i in $(seq 600); do
        addr=$(sed -n 's/.*"message":"eventpulse local is listening".*"addr":"\([^"]*\)".*/\1/p' \
            "$LIVE_DIR/server.log" | head -n 1)
        [[ -n $addr ]] && break
        if ! kill -0 "$LIVE_PID" 2>/dev/null; then
            echo "eventpulse local exited before listening" >&2
            return 1
        fi
        sleep 0.1
    done
    if [[ -z $addr ]]; then
        echo "eventpulse local did not log that it was listening within 60 s" >&2
        return 1
    fi
    LIVE_BASE=http://$addr
    echo "eventpulse local ($LIVE_BACKEND backend, pid $LIVE_PID) is listening at $LIVE_BASE; data in $LIVE_DIR/data"
}

token() {
    env -u EVENTPULSE_JWT_SECRET "$BIN" token --user "$1" --data-dir "$LIVE_DIR/data"
}

# upload_expect STATE DICT FILE...: uploads the files with the CLI (as $EVENTPULSE_TOKEN),
# waits for their outcome, checks that each ended STATE, and appends their upload ids to DICT
# (a schemathesis dictionary: one JSON string a line).
upload_expect() {
    local want=$1 dict=$2 out
    shift 2
    # Exit 1 is also how `upload --wait` says that something was quarantined; the outcome of
    # every file is checked below either way.
    out=$("$BIN" upload --json --wait "$@") || [[ $want == quarantined ]]
    "$PY" -c '
import json, sys
want, path = sys.argv[1], sys.argv[2]
results = json.load(sys.stdin)
wrong = [r for r in results if (r.get("status") or {}).get("status") != want]
if wrong or not results:
    sys.exit(f"expected every upload to end {want}, got: {json.dumps(results, indent=2)}")
with open(path, "a") as f:
    f.writelines(json.dumps(r["uploadId"]) + "\n" for r in results)
print(f"{want}: " + ", ".join(r["file"] for r in results))
' "$want" "$dict" <<<"$out"
}

# Quarantined uploads of alice's for DELETE.
seed_deletable_quarantine() {
    local st=$LIVE_DIR/schemathesis i=examples/events/invalid m=examples/events/malformed
    : >"$st/deletable-ids.dict"
    EVENTPULSE_API=$LIVE_BASE upload_expect quarantined "$st/deletable-ids.dict" \
        $i/data-null.json $i/event-id-empty.json $i/envelope-missing-type.json \
        $m/truncated.json $m/trailing-comma.json
}

# Something for every operation to read: alice gets stored events, quarantined uploads (some
# set aside for DELETE), their notifications and a finished export; bob gets a little of his
# own, and is the second user schemathesis needs to check that alice's objects are hers alone.
seed_live_server() {
    local st=$LIVE_DIR/schemathesis alice bob
    local v=examples/events/valid i=examples/events/invalid m=examples/events/malformed
    mkdir -p "$st"
    alice=$(token alice)
    bob=$(token bob)
    export EVENTPULSE_API=$LIVE_BASE
    EVENTPULSE_TOKEN=$alice upload_expect stored "$st/upload-ids.dict" \
        $v/order-placed.json $v/batch-mixed-types.json $v/page-view-full.json \
        $v/sensor-reading-non-ascii.json
    EVENTPULSE_TOKEN=$alice upload_expect quarantined "$st/quarantined-ids.dict" \
        $i/batch-one-bad-event.json $i/order-currency-lowercase.json \
        $m/duplicate-key.json $m/invalid-utf8.json
    EVENTPULSE_TOKEN=$alice seed_deletable_quarantine
    cat "$st/quarantined-ids.dict" "$st/deletable-ids.dict" >>"$st/upload-ids.dict"
    EVENTPULSE_TOKEN=$bob upload_expect stored /dev/null $v/page-view-minimal.json
    EVENTPULSE_TOKEN=$bob upload_expect quarantined /dev/null $i/order-amount-negative.json
    EVENTPULSE_TOKEN=$alice "$BIN" events list --all --json | "$PY" -c '
import json, sys
for e in json.load(sys.stdin):
    print(json.dumps(e["event"]["eventId"]))
' >"$st/event-ids.dict"
    EVENTPULSE_TOKEN=$alice "$BIN" exports create --wait --json | "$PY" -c '
import json, sys
e = json.load(sys.stdin)
if e["status"] != "done":
    sys.exit(f"the export did not finish: {e}")
print(json.dumps(e["exportId"]))
' >"$st/export-ids.dict"
    # Subscriptions (email: delivered to the data dir's mailbox, nothing leaves the machine):
    # two that stay, two for DELETE, and the confirmation tokens their mails carry. On the
    # AWS backend SNS confirms its own subscriptions (moto sends no mail), so there are no
    # tokens: the confirmation operation answers 404 to any, which is what it must do there.
    "$PY" - "$BIN" "$alice" "$st" "$LIVE_DIR/data/mailbox" "$LIVE_BACKEND" <<'PYEOF'
import json, os, re, secrets, subprocess, sys, time
bin_, token, st, mailbox, backend = sys.argv[1:6]
env = dict(os.environ, EVENTPULSE_TOKEN=token)
def add(addr):
    out = subprocess.run([bin_, "subscriptions", "add", "--protocol", "email", addr, "--json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["subscriptionId"]
keep = [add(f"st-keep-{i}@example.com") for i in (1, 2)]
delete = [add(f"st-del-{i}@example.com") for i in (1, 2)]
for name, ids in (("subscription-ids", keep), ("deletable-subscription-ids", delete)):
    with open(f"{st}/{name}.dict", "w") as f:
        f.writelines(json.dumps(i) + "\n" for i in ids)
tokens = [secrets.token_hex(32)] if backend == "aws" else []
for _ in range(300 if backend != "aws" else 0):  # the deliverer mails them within moments
    text = open(mailbox).read() if os.path.exists(mailbox) else ""
    tokens = re.findall(r"/v1/subscription-confirmations/([0-9a-f]{64})", text)
    if len(tokens) >= 4:
        break
    time.sleep(0.1)
if len(tokens) < 4 and backend != "aws":
    sys.exit(f"expected 4 confirmation mails in {mailbox}, found {len(tokens)}")
with open(f"{st}/confirmation-tokens.dict", "w") as f:
    f.writelines(json.dumps(t) + "\n" for t in tokens)
print(f"subscriptions: {len(keep)} kept, {len(delete)} deletable, {len(tokens)} confirmation tokens")
PYEOF
    unset EVENTPULSE_API
    # The released major versions (GET /v1/schemas/event/{version}).
    local f n
    for f in released/upload-object.v*.bundle.json; do
        n=${f#released/upload-object.v}
        printf '"%s"\n' "${n%.bundle.json}"
    done >"$st/released-versions.dict"
    echo "$(wc -l <"$st/event-ids.dict") stored event(s) of alice; export $(cat "$st/export-ids.dict") done"
    # The Web Fuzzing Commons auth file that tools/schemathesis.toml names.
    "$PY" -c '
import json, sys
users = {"alice": sys.argv[1], "bob": sys.argv[2]}
auth = [{"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for name, token in users.items()]
json.dump({"auth": auth}, sys.stdout)
' "$alice" "$bob" >"$st/auth.json"
    cp tools/schemathesis.toml "$st/schemathesis.toml"
    if [[ $LIVE_BACKEND == aws ]]; then
        # Every confirmation token is unknown there (above): 404s are the right answer, and
        # schemathesis's "mostly 404" warning says nothing about the API for this operation.
        printf '\n[[operations]]\ninclude-operation-id = "confirm_subscription"\nwarnings = false\n' \
            >>"$st/schemathesis.toml"
    fi
}

# run_schemathesis [SEED...]: one run per seed (none: the seed of tools/schemathesis.toml).
# run_schemathesis [SEED]: the seed of tools/schemathesis.toml unless one is given.
run_schemathesis() {
    local st=$LIVE_DIR/schemathesis root=$PWD first_line seed=${1:-}
    first_line=$(($(wc -l <"$LIVE_DIR/server.log") + 1))
    echo "schemathesis on the $LIVE_BACKEND backend, seed ${seed:-of tools/schemathesis.toml}"
    # From the temp dir, so that nothing schemathesis writes lands in the work tree.
    (
        cd "$st"
        EVENTPULSE_ST_DIR=$st EVENTPULSE_ST_BACKEND=$LIVE_BACKEND \
            SCHEMATHESIS_HOOKS=$root/tools/schemathesis_hooks.py \
            "$root/$VENV/bin/schemathesis" --config-file schemathesis.toml \
            run "$LIVE_BASE/openapi.yaml" --checks all --no-color ${seed:+--seed "$seed"}
    )
    # The server's own account of the run (its audit log): every operation must have
    # succeeded at least once, or the run never got past validation or authentication there.
    # On AWS SNS confirms subscriptions itself: the confirmation operation can only 404 there.
    local exempt=()
    [[ $LIVE_BACKEND == aws ]] && exempt=(--no-success-expected confirm_subscription)
    "$PY" tools/api_coverage.py openapi.yaml "$LIVE_DIR/server.log" --from-line "$first_line" \
        "${exempt[@]}"
}

# Clients a third party would generate from openapi.yaml alone, each running the scenario of
# tools/clients/ against the live server as a user of its own (carol): openapi-python-client,
# and openapi-typescript + openapi-fetch type-checked by tsc. Generated into $CLIENTS_GEN.
run_thirdparty_clients() {
    local carol log
    carol=$(token carol)
    rm -rf "$CLIENTS_GEN"
    mkdir -p "$CLIENTS_GEN/python"
    log=$CLIENTS_GEN/openapi-python-client.log
    # Its formatting hook runs ruff, which the venv holds.
    if ! PATH="$PWD/$CLIENTS_VENV/bin:$PATH" "$CLIENTS_VENV/bin/openapi-python-client" generate \
        --path openapi.yaml --output-path "$CLIENTS_GEN/python/eventpulse_api" --meta none \
        >"$log" 2>&1; then
        cat "$log" >&2
        return 1
    fi
    # One warning is expected: it reads no YAML bodies, so GET /openapi.yaml has no parsed
    # response there (GET /openapi.json is the same document as JSON). Any other fails.
    if grep 'WARNING' "$log" | grep -v -q 'GET /openapi.yaml'; then
        cat "$log" >&2
        echo "openapi-python-client warned about more than GET /openapi.yaml" >&2
        return 1
    fi
    PYTHONPATH=$CLIENTS_GEN/python "$CLIENTS_VENV/bin/python" tools/clients/scenario.py \
        "$LIVE_BASE" "$carol"
    "$NODE_BIN/openapi-typescript" openapi.yaml -o "$CLIENTS_GEN/schema.d.ts"
    "$NODE_BIN/tsc" -p tools/clients
    node "$CLIENTS_GEN/out/scenario.mjs" "$LIVE_BASE" "$carol"
}

check_docs_page() {
    "$PY" tools/check_docs_page.py --chromium "$CHROMIUM" --openapi openapi.yaml \
        --base "$LIVE_BASE" --screenshot target/docs-page.png
}

stop_live_server() {
    local pid=$LIVE_PID status=0
    LIVE_PID=""
    if ! kill -TERM "$pid" 2>/dev/null; then
        wait "$pid" || status=$?
        echo "eventpulse local was no longer running (exit status $status)" >&2
        return 1
    fi
    wait "$pid" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "eventpulse local exited with status $status after SIGTERM; expected 0" >&2
        return 1
    fi
    if ! grep -q '"message":"stopped"' "$LIVE_DIR/server.log"; then
        echo "eventpulse local exited 0 without logging that it drained and stopped" >&2
        return 1
    fi
    echo "eventpulse local drained its queue and exited 0 after SIGTERM"
    rm -rf "$LIVE_DIR"
    LIVE_DIR=""
}

# --schemathesis-only: a fresh server and data dir for each seed (the seeded ids, one-use
# confirmation tokens and deletable uploads included), so that every seed starts alike.
if [[ -n $ONLY ]]; then
    for seed in "${ONLY_SEEDS[@]:-}"; do
        step "seed ${seed:-of the config}: start eventpulse local ($ONLY)" start_live_server "$ONLY"
        step "seed ${seed:-of the config}: seed data as alice and bob" seed_live_server
        step "seed ${seed:-of the config}: schemathesis" run_schemathesis "$seed"
        step "seed ${seed:-of the config}: stop with SIGTERM and expect exit 0" stop_live_server
    done
    step "moto: stop server" stop_moto
    rm -f "$CARGO_TEST_LOG"
    echo "test.sh: schemathesis on the $ONLY backend passed with every seed ($((SECONDS - script_start))s)"
    exit 0
fi

# (No commas in step names: the closing summary joins them with commas.)
step "live server: start eventpulse local" start_live_server embedded
step "live server: seed data as alice and bob" seed_live_server
step "schemathesis: the whole API with every check" run_schemathesis
step "third-party clients: openapi-python-client and openapi-typescript scenarios" \
    run_thirdparty_clients
step "docs page: /docs in headless chromium" check_docs_page
step "live server: stop with SIGTERM and expect exit 0" stop_live_server
# The same run on the AWS adapters (moto), with a seed of its own, so that the two backends
# also see different inputs.
step "live server (aws backend on moto): start" start_live_server aws
step "live server (aws backend on moto): seed data as alice and bob" seed_live_server
step "schemathesis (aws backend on moto): the whole API with every check" \
    run_schemathesis "$AWS_SCHEMATHESIS_SEED"
step "live server (aws backend on moto): stop with SIGTERM and expect exit 0" stop_live_server
step "moto: stop server" stop_moto

echo
if [[ -n $ADVISORIES_SKIPPED ]]; then
    echo "test.sh: note: cargo deny check advisories was skipped ($ADVISORIES_SKIPPED)"
fi
echo "test.sh: all ${#timings[@]} steps passed in $((SECONDS - script_start))s" \
    "($(IFS=,; echo "${timings[*]}" | sed 's/,/, /g'))"
# The plain closing line: Rust tests counted from cargo's summaries (schemathesis and the
# other checks above are steps that passed as a whole).
rust_passed=$(grep -E '^test result: ' "$CARGO_TEST_LOG" | awk '{s += $4} END {print s + 0}')
rm -f "$CARGO_TEST_LOG"
echo "tests: $rust_passed passed, 0 failed"
