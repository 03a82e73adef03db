#!/usr/bin/env python3
"""What a test run did to the API, from the server's side: its audit log.

Usage: api_coverage.py OPENAPI SERVER_LOG [--from-line N]

`eventpulse local` logs one JSON audit line per request (`"kind":"request"`, with the
operationId and the status). This prints the statuses each operation of OPENAPI answered from
line N of SERVER_LOG on, and fails when an operation never answered with success (the run
never got past validation or authentication there, so it tested nothing behind them) or when
any request got a 5xx.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

import yaml

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def operation_ids(spec_path: str) -> list[str]:
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    return [
        op["operationId"]
        for item in spec["paths"].values()
        for method, op in item.items()
        if method in METHODS
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("openapi")
    ap.add_argument("server_log")
    ap.add_argument("--from-line", type=int, default=1, help="first log line to count (1-based)")
    ap.add_argument(
        "--no-success-expected",
        action="append",
        default=[],
        metavar="OPERATION",
        help="an operation that cannot succeed on this deployment (it must still never 5xx)",
    )
    args = ap.parse_args()

    ops = operation_ids(args.openapi)
    statuses: dict[str, collections.Counter[int]] = {op: collections.Counter() for op in ops}
    with open(args.server_log, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if number < args.from_line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("kind") != "request":
                continue
            # Requests no operation took (unknown path, method) are logged as `none`.
            statuses.setdefault(entry.get("operation", "none"), collections.Counter())[
                int(entry["status"])
            ] += 1

    width = max(map(len, statuses))
    print(f"{'operation':<{width}}  requests  statuses")
    for op, counts in statuses.items():
        detail = " ".join(f"{code}x{n}" for code, n in sorted(counts.items()))
        print(f"{op:<{width}}  {sum(counts.values()):>8}  {detail}")

    problems = [
        f"{op} never answered with a 2xx"
        for op in ops
        if op not in args.no_success_expected and not any(200 <= c < 300 for c in statuses[op])
    ]
    problems += [
        f"{op} answered {code} {n} time(s)"
        for op, counts in statuses.items()
        for code, n in sorted(counts.items())
        if code >= 500
    ]
    for p in problems:
        print(f"api_coverage: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
