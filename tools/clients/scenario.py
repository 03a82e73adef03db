"""A third party's scenario, on a Python client that openapi-python-client generated from
openapi.yaml alone (scripts/test.sh, step "third-party clients").

    python tools/clients/scenario.py BASE_URL TOKEN   (the generated package `eventpulse_api`
                                                       on PYTHONPATH)

Uploads a valid and an invalid object through presigned URLs, lists events with a filter
following every cursor, reads the quarantine report, gets errors as typed problems, and
uploads events it read back unchanged: they must be stored again, not conflicting (the text
of `occurredAt` survives the generated types), as must the same event with `+00:00` for `Z`.
Every run uses event ids of its own. Exits non-zero, saying why, on the first failure.
"""

import json
import sys
import time
import uuid

import httpx

from eventpulse_api import AuthenticatedClient
from eventpulse_api.api.events import get_event, list_events
from eventpulse_api.api.public import get_openapi_json
from eventpulse_api.api.quarantine import get_quarantine
from eventpulse_api.api.uploads import create_upload, get_upload
from eventpulse_api.models import (
    EventPage,
    EventType,
    OpenApiDocument,
    Problem,
    QuarantineReport,
    ReasonCode,
    StoredEvent,
    UploadRequest,
    UploadState,
    UploadStatus,
    UploadTicket,
)


def check(ok, what):
    if not ok:
        sys.exit(f"python client scenario: {what}")
    print(f"ok: {what}")


def upload(client, document):
    """Presigned upload of one object (the PUT the spec documents), then its outcome."""
    body = json.dumps(document).encode()
    r = create_upload.sync_detailed(client=client, body=UploadRequest(content_length=len(body)))
    check(isinstance(r.parsed, UploadTicket), f"create_upload is a typed ticket ({r.status_code})")
    check(bool(r.headers.get("x-request-id")), "create_upload carries x-request-id")
    ticket = r.parsed
    put = httpx.request(
        str(ticket.method), ticket.url, headers=ticket.headers.additional_properties, content=body
    )
    check(put.status_code == 200, f"the presigned PUT is 200 ({put.status_code} {put.text[:200]})")
    # Poll until the upload is final: a bounded number of attempts, not a clock.
    for _ in range(600):
        s = get_upload.sync(client=client, upload_id=ticket.upload_id)
        check(isinstance(s, UploadStatus), "get_upload is a typed status") if _ == 0 else None
        if s.status != UploadState.PENDING:
            return s
        time.sleep(0.05)
    sys.exit(f"python client scenario: upload {ticket.upload_id} stayed pending")


def main():
    base, token = sys.argv[1], sys.argv[2]
    run = uuid.uuid4().hex[:12]
    client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)

    doc = get_openapi_json.sync(client=client)
    check(isinstance(doc, OpenApiDocument) and doc["openapi"] == "3.0.3", "GET /openapi.json")

    # Nanoseconds, an offset, Z: texts a native date type would change.
    times = ["2026-11-27T10:15:00.123456789+01:00", "2026-11-27T10:16:00Z", "2026-11-27T10:17:00.5-05:30"]
    events = [
        {"eventId": f"py-{run}-{i}", "type": "order.placed", "occurredAt": at, "source": "py-client",
         "data": {"orderId": f"{run}-{i}", "currency": "EUR", "amountMinor": 100 + i,
                  "items": [{"sku": "TSHIRT-M", "quantity": 1}]}}
        for i, at in enumerate(times)
    ]
    s = upload(client, events)
    check(s.status == UploadState.STORED and s.event_count == 3, f"a valid object is stored ({s.status})")

    bad = dict(events[0], eventId=f"py-{run}-bad", data=dict(events[0]["data"], currency="eur"))
    s = upload(client, bad)
    check(s.status == UploadState.QUARANTINED and s.reason_code == ReasonCode.SCHEMA_VIOLATION,
          f"an invalid object is quarantined ({s.status}, {s.reason_code or '-'})")
    report = get_quarantine.sync(client=client, upload_id=s.upload_id)
    check(isinstance(report, QuarantineReport) and report.error_count >= 1
          and any(e.pointer == "/data/currency" for e in report.errors),
          "the quarantine report names /data/currency")

    # A filter, a small page, every cursor followed.
    seen, cursor, pages = [], None, 0
    while True:
        kwargs = {"cursor": cursor} if cursor else {}
        page = list_events.sync(client=client, type_=EventType.ORDER_PLACED, limit=2, **kwargs)
        check(isinstance(page, EventPage), "list_events is a typed page") if pages == 0 else None
        pages += 1
        seen += [item.event for item in page.items]
        if not isinstance(page.next_cursor, str):
            break
        cursor = page.next_cursor
    ours = {e.event_id: e for e in seen if e.event_id.startswith(f"py-{run}-")}
    check(pages >= 2 and set(ours) == {e["eventId"] for e in events},
          f"list_events with type=order.placed, limit=2 followed {pages} pages to every event")
    check(all(str(e.type_) == "order.placed" for e in seen), "the filter held on every page")
    check([ours[e["eventId"]].occurred_at for e in events] == times, "occurredAt is the uploaded text")

    # Errors are typed problems.
    r = get_event.sync_detailed(client=client, event_id=f"py-{run}-missing")
    check(r.status_code == 404 and isinstance(r.parsed, Problem) and r.parsed.status == 404,
          "a missing event is a typed 404 problem")
    r = list_events.sync_detailed(client=client.with_headers({"x-request-id": f"py-{run}"}), limit=0)
    check(r.status_code == 400 and isinstance(r.parsed, Problem)
          and any(e.pointer == "/query/limit" for e in r.parsed.errors),
          "limit=0 is a typed 400 problem naming /query/limit")
    check(r.headers.get("x-request-id") == f"py-{run}" and r.parsed.request_id == f"py-{run}",
          "x-request-id is echoed in the header and the problem")

    # Read an event and upload it again unchanged: the same event, so stored, not conflicting.
    stored = get_event.sync(client=client, event_id=f"py-{run}-0")
    check(isinstance(stored, StoredEvent), "get_event is a typed stored event")
    s = upload(client, stored.event.to_dict())
    check(s.status == UploadState.STORED, f"a read event uploaded unchanged is stored ({s.status}, {s.reason_code or '-'})")
    # The same instant and offset spelled differently is the same event too.
    again = dict(events[1], occurredAt="2026-11-27T10:16:00.000+00:00")
    s = upload(client, again)
    check(s.status == UploadState.STORED, f"the same event with +00:00 for Z is stored ({s.status}, {s.reason_code or '-'})")
    # The same instant at another offset is other content.
    other = dict(events[1], occurredAt="2026-11-27T11:16:00+01:00")
    s = upload(client, other)
    check(s.status == UploadState.QUARANTINED and s.reason_code == ReasonCode.EVENT_ID_CONFLICT,
          f"the same instant at another offset is event_id_conflict ({s.status}, {s.reason_code or '-'})")
    print("python client scenario: all checks passed")


if __name__ == "__main__":
    main()
