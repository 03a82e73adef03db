"""Schemathesis hooks for the live-server step of scripts/test.sh (see tools/schemathesis.toml).

`positive_data_acceptance` fails a schema-valid request that the server rejects. Two rules of
the API cannot be written as OpenAPI 3.0 schemas (openapi.yaml states them in the parameters'
descriptions), so schema-valid requests can break them, and the server is right to answer 400:

- `from` must be before `to` (GET /v1/events query, POST /v1/exports body): a rule across two
  fields. The server answers 400 with one error {pointer: .../to, keyword: "range"}.
- a `cursor` must be one this server issued, for this caller and query (it is HMAC-signed):
  a schema-valid string it never issued is answered 400 with one error
  {pointer: /query/cursor, keyword: "cursor"}.
- a subscription's `endpoint` must be one the server delivers to: the server under test runs
  with --webhooks-loopback-only (so nothing it is fuzzed with is ever sent off the machine),
  which accepts only loopback http(s) URLs and email addresses, and queue ARNs (`sqs`) only
  on AWS, where plain `http` is refused (EVENTPULSE_ST_BACKEND says which backend runs). The
  server answers 400 with one error {pointer: /body/endpoint, keyword: "endpoint"} or
  {pointer: /body/protocol, keyword: "protocol"}; a refusal of a loopback URL or of a plain
  address is kept as a failure. So that most generated subscriptions still reach the code
  behind the refusal (schemathesis warns when an operation mostly rejects generated data),
  `map_body` below gives three in four of them an endpoint the server delivers to: a
  loopback URL on the discard port, or an address at example.com (email goes to the data
  dir's mailbox). Only a string endpoint within the schema's length is replaced, so a case
  generated to break the schema stays broken.

Rather than allowing 400 for every schema-valid request of those operations (which would hide
any other wrong rejection), `filter_failure` below drops a positive-data failure only when the
problem lists nothing but these errors and the request really breaks the rule: the instants
compare as from >= to, or the cursor was never returned as `nextCursor` in this run. Every
other failure, of this check or any other, is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import schemathesis

# Every `nextCursor` the server returned in this run.
_issued_cursors: set[str] = set()
_lock = threading.Lock()


@schemathesis.hook
def after_call(context, case, response) -> None:
    if response.status_code != 200:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        return
    if isinstance(body, dict) and isinstance(body.get("nextCursor"), str):
        with _lock:
            _issued_cursors.add(body["nextCursor"])


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _instant(value: object) -> datetime | None:
    """An RFC 3339 date-time as an aware datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    text = _FRACTION.sub(r"\1", value.strip())  # Python keeps microseconds
    text = re.sub(r"[zZ]$", "+00:00", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _sent_query(response) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)


def _sent_body(response) -> object:
    body = response.request.body
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _one(values: list[str] | None) -> str | None:
    return values[0] if values and len(values) == 1 else None


def _range_broken(response, pointer: str) -> bool:
    """Whether the request sent `from` >= `to` where `pointer` says the server found them."""
    if pointer == "/query/to":
        query = _sent_query(response)
        start, end = _one(query.get("from")), _one(query.get("to"))
    elif pointer == "/body/to":
        body = _sent_body(response)
        if not isinstance(body, dict):
            return False
        start, end = body.get("from"), body.get("to")
    else:
        return False
    start_at, end_at = _instant(start), _instant(end)
    return start_at is not None and end_at is not None and start_at >= end_at


def _cursor_unissued(response, pointer: str) -> bool:
    if pointer != "/query/cursor":
        return False
    cursor = _one(_sent_query(response).get("cursor"))
    with _lock:
        return cursor is not None and cursor not in _issued_cursors


_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# The backend under test (scripts/test.sh sets it): the protocol it does not deliver to is
# plain `http` on AWS (SNS would send it unencrypted) and `sqs` on the embedded default.
_BACKEND = os.environ.get("EVENTPULSE_ST_BACKEND", "embedded")
_UNDELIVERED_PROTOCOL = "http" if _BACKEND == "aws" else "sqs"


def _queue_arn(endpoint: str) -> bool:
    """`handlers::subscriptions::check_queue_arn`: arn:{partition}:sqs:{region}:{account}:{queue}."""
    parts = endpoint.split(":")
    if len(parts) != 6:
        return False
    arn, partition, service, region, account, queue = parts
    name = queue[: -len(".fifo")] if queue.endswith(".fifo") else queue
    return (
        arn == "arn"
        and partition in ("aws", "aws-cn", "aws-us-gov")
        and service == "sqs"
        and re.fullmatch(r"[a-z0-9-]+", region) is not None
        and re.fullmatch(r"[0-9]{12}", account) is not None
        and 1 <= len(queue) <= 80
        and re.fullmatch(r"[A-Za-z0-9_-]*", name) is not None
    )


def _endpoint_undeliverable(response, pointer: str, keyword: str) -> bool:
    body = _sent_body(response)
    if not isinstance(body, dict):
        return False
    protocol, endpoint = body.get("protocol"), body.get("endpoint")
    if not isinstance(endpoint, str):
        return False
    if keyword == "protocol":
        return pointer == "/body/protocol" and protocol == _UNDELIVERED_PROTOCOL
    if protocol == "sqs":
        return pointer == "/body/endpoint" and not _queue_arn(endpoint)
    if pointer != "/body/endpoint":
        return False
    if protocol == "email":
        local, at, domain = endpoint.rpartition("@")
        plain = re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", domain) is not None
        return not (at and local and "@" not in local and len(local) <= 64 and plain)
    try:
        url = urlsplit(endpoint)
        host = url.hostname
        url.port  # raises on a bad port
    except ValueError:
        return True
    plain = (
        url.scheme == protocol
        and host in _LOOPBACK_HOSTS
        and not url.username
        and not url.password
        and not url.fragment
        and "#" not in endpoint
        and re.search(r"[\s\x00-\x1f\x7f]", endpoint) is None
    )
    return not plain


def _justified(response, error: object) -> bool:
    if not isinstance(error, dict):
        return False
    keyword, pointer = error.get("keyword"), error.get("pointer")
    if keyword == "range":
        return _range_broken(response, pointer)
    if keyword == "cursor":
        return _cursor_unissued(response, pointer)
    if keyword in ("endpoint", "protocol"):
        return _endpoint_undeliverable(response, pointer, keyword)
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a positive-data rejection that the rules above justify."""
    if getattr(failure, "code", None) != "ST202" or response.status_code != 400:
        return True
    try:
        problem = json.loads(response.content)
    except ValueError:
        return True
    errors = problem.get("errors") if isinstance(problem, dict) else None
    if not isinstance(errors, list) or not errors:
        return True
    return not all(_justified(response, e) for e in errors)


_DELIVERABLE = {
    "https": "https://127.0.0.1:9/st/{n}",
    "http": "http://127.0.0.1:9/st/{n}",
    "email": "st{n}@example.com",
    # Only AWS delivers to queues; moto takes any queue ARN.
    "sqs": "arn:aws:sqs:us-east-1:123456789012:st-{n}",
}


@schemathesis.hook("map_body").apply_to(method="POST", path="/v1/subscriptions")
def deliverable_endpoints(context, body):
    if not isinstance(body, dict):
        return body
    endpoint, protocol = body.get("endpoint"), body.get("protocol")
    template = _DELIVERABLE.get(protocol) if isinstance(protocol, str) else None
    if template is None or not isinstance(endpoint, str) or not 1 <= len(endpoint) <= 2048:
        return body
    # Deterministic (the run has a fixed seed): a digest of what was generated decides.
    n = int(hashlib.sha256(endpoint.encode()).hexdigest()[:8], 16)
    if n % 4 == 0:
        return body
    return {**body, "endpoint": template.format(n=n % 100_000)}
