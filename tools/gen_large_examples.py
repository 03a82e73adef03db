#!/usr/bin/env python3
"""Writes the examples that are too long to write by hand (deterministic; re-run after
changing it and commit the result):

  valid/batch-1000-events.json    the largest array the schema accepts (1000 events)
  invalid/batch-1001-events.json  one event too many (breaks EventBatch maxItems only)
  invalid/order-items-101.json    one order line too many (breaks items maxItems only)

Events are written one per line to keep the files small and diffs readable.
"""

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "events"
TYPES = ("page.view", "order.placed", "sensor.reading")


def event(i: int) -> dict:
    kind = TYPES[i % 3]
    second, fraction = divmod(i, 10)
    at = f"2026-11-27T10:{second // 60:02d}:{second % 60:02d}.{fraction}00Z"
    if kind == "page.view":
        data = {"url": f"https://shop.example.com/p/{i}"}
    elif kind == "order.placed":
        data = {"orderId": f"A-{i:06d}", "currency": "EUR", "amountMinor": 100 + i,
                "items": [{"sku": f"SKU-{i % 7}", "quantity": 1 + i % 3}]}
    else:
        data = {"sensorId": f"s-{i % 5}", "metric": "temperature", "value": 20 + (i % 40) / 8}
    return {"eventId": f"ev-{i:04d}", "type": kind, "occurredAt": at, "source": "loadgen",
            "data": data}


def write_lines(path: Path, items: list) -> None:
    body = ",\n".join("  " + json.dumps(x, separators=(",", ":")) for x in items)
    path.write_text("[\n" + body + "\n]\n", encoding="utf-8")


def main() -> None:
    write_lines(EXAMPLES / "valid" / "batch-1000-events.json", [event(i) for i in range(1000)])
    write_lines(EXAMPLES / "invalid" / "batch-1001-events.json", [event(i) for i in range(1001)])
    order = {"eventId": "order-2026-000999", "type": "order.placed",
             "occurredAt": "2026-11-27T10:02:45+01:00", "source": "checkout-service",
             "data": {"orderId": "A-000999", "currency": "EUR", "amountMinor": 10100,
                      "items": [{"sku": f"SKU-{n:03d}", "quantity": 1} for n in range(101)]}}
    (EXAMPLES / "invalid" / "order-items-101.json").write_text(
        json.dumps(order, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
