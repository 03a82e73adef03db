#!/usr/bin/env python3
"""The whole-process comparison of README "Benchmarks": a Python user's best validator
(fastjsonschema, the bundle compiled once per process) against `eventpulse validate`, on
the same files, each process pinned to one core.

  gen DIR    writes the workload (deterministic): DIR/orders/ (order.placed events of
             about 850 bytes) and DIR/sensors/ (sensor.reading events of about 170 bytes),
             each 100 files of 100 events.
  run DIR... validates every *.json file under DIR (the whole process is what is timed:
             start-up, compiling the schema, reading, parsing, validating); prints the
             number of files, events and invalid files. Exit status 1 if any is invalid.

Set up and run (fastjsonschema pinned in tools/bench-requirements.txt):

  python3 -m venv .tools/bench-venv
  .tools/bench-venv/bin/pip install -r tools/bench-requirements.txt
  .tools/bench-venv/bin/python tools/bench_python_validator.py gen /tmp/ep-bench
  cargo build --release --bin eventpulse
  for d in orders sensors; do
    perf stat -r 10 taskset -c 0 .tools/bench-venv/bin/python \
        tools/bench_python_validator.py run /tmp/ep-bench/$d
    perf stat -r 10 taskset -c 0 target/release/eventpulse validate -q /tmp/ep-bench/$d
  done

The Python side does less than `eventpulse validate`: `json.loads` lets duplicate keys, NaN
and Infinity through, there is no value or depth budget beyond Python's recursion limit,
fastjsonschema supports drafts 4/6/7 only (the bundle's 2020-12 subset reads the same
there: `$defs` are reached by JSON pointer, no 2020-12-only keyword is used), and it stops
at the first error; so the comparison favours Python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "generated" / "schema" / "upload-object.bundle.json"
FILES = 100
EVENTS_PER_FILE = 100


def order(i: int) -> dict:
    items = [{"sku": f"SKU-{i:06d}-{k:02d}-XL", "quantity": k + 1} for k in range(16)]
    return {"eventId": f"order-{i:08d}", "type": "order.placed",
            "occurredAt": "2026-11-27T10:15:00.125+01:00", "source": "checkout-service.eu-west-1",
            "data": {"orderId": f"A-{i:08d}", "currency": "EUR", "amountMinor": 45980 + i,
                     "items": items}}


def sensor(i: int) -> dict:
    return {"eventId": f"s-{i:08d}", "type": "sensor.reading",
            "occurredAt": "2026-11-27T10:15:00Z", "source": "plant-7",
            "data": {"sensorId": f"t-{i % 50:03d}", "metric": "temperature",
                     "value": 20 + (i % 40) / 8, "unit": "C"}}


def gen(root: Path) -> None:
    for name, make in (("orders", order), ("sensors", sensor)):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        sizes = []
        for f in range(FILES):
            events = [make(f * EVENTS_PER_FILE + k) for k in range(EVENTS_PER_FILE)]
            text = json.dumps(events, separators=(",", ":"))
            (d / f"{f:04d}.json").write_text(text, encoding="utf-8")
            sizes.append(len(json.dumps(events[0], separators=(",", ":"))))
        print(f"{d}: {FILES} files x {EVENTS_PER_FILE} events, "
              f"{sum(sizes) / len(sizes):.0f} bytes per event")


def run(dirs: list[Path]) -> int:
    import fastjsonschema

    schema = json.loads(BUNDLE.read_text(encoding="utf-8"))
    # fastjsonschema knows drafts 4, 6 and 7; the bundle's subset means the same under 7.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    validate = fastjsonschema.compile(schema, formats={})
    files = events = invalid = 0
    for d in dirs:
        for path in sorted(d.rglob("*.json")):
            files += 1
            doc = json.loads(path.read_bytes())
            events += len(doc) if isinstance(doc, list) else 1
            try:
                validate(doc)
            except fastjsonschema.JsonSchemaException as e:
                invalid += 1
                print(f"{path}: {e.message}", file=sys.stderr)
    print(f"{files} files, {events} events, {invalid} invalid")
    return 1 if invalid else 0


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("gen", "run"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "gen":
        gen(Path(sys.argv[2]))
        return 0
    return run([Path(a) for a in sys.argv[2:]])


if __name__ == "__main__":
    sys.exit(main())
