// A third party's scenario, on a TypeScript client made by openapi-typescript (types) and
// openapi-fetch from openapi.yaml alone (scripts/test.sh, step "third-party clients"):
//
//   openapi-typescript ../openapi.yaml -o clients/.generated/schema.d.ts
//   tsc -p clients && node clients/.generated/out/scenario.mjs BASE_URL TOKEN
//
// The same checks as scenario.py: a valid and an invalid upload through presigned URLs,
// events listed with a filter following every cursor, the quarantine report, errors as typed
// problems, and events read back and uploaded again unchanged (stored, not conflicting).
// Type-checked strictly first, so a change of the spec that breaks these calls fails here.
import createClient from "openapi-fetch";
import type { components, paths } from "./.generated/schema.js";

type Event = components["schemas"]["Event"];
type UploadStatus = components["schemas"]["UploadStatus"];

const [base, token] = process.argv.slice(2);
if (!base || !token) {
    throw new Error("usage: scenario.mjs BASE_URL TOKEN");
}
const client = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });
const run = Math.random().toString(16).slice(2, 14);

function check(ok: boolean, what: string): void {
    if (!ok) {
        console.error(`typescript client scenario: ${what}`);
        process.exit(1);
    }
    console.log(`ok: ${what}`);
}

async function upload(document: unknown): Promise<UploadStatus> {
    const body = JSON.stringify(document);
    const contentLength = Buffer.byteLength(body);
    const { data: ticket, response } = await client.POST("/v1/uploads", { body: { contentLength } });
    check(ticket !== undefined, `create_upload gives a ticket (${response.status})`);
    if (ticket === undefined) throw new Error("unreachable");
    check(!!response.headers.get("x-request-id"), "create_upload carries x-request-id");
    const put = await fetch(ticket.url, { method: ticket.method, headers: ticket.headers, body });
    check(put.status === 200, `the presigned PUT is 200 (${put.status} ${(await put.text()).slice(0, 200)})`);
    // Poll until the upload is final: a bounded number of attempts, not a clock.
    for (let i = 0; i < 600; i++) {
        const { data } = await client.GET("/v1/uploads/{uploadId}", {
            params: { path: { uploadId: ticket.uploadId } },
        });
        if (data !== undefined && data.status !== "pending") return data;
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`upload ${ticket.uploadId} stayed pending`);
}

const times = ["2026-11-27T10:15:00.123456789+01:00", "2026-11-27T10:16:00Z", "2026-11-27T10:17:00.5-05:30"];
const events: Event[] = times.map((occurredAt, i) => ({
    eventId: `ts-${run}-${i}`,
    type: "order.placed",
    occurredAt,
    source: "ts-client",
    data: { orderId: `${run}-${i}`, currency: "EUR", amountMinor: 100 + i, items: [{ sku: "TSHIRT-M", quantity: 1 }] },
}));

const spec = await client.GET("/openapi.json");
check(spec.data?.["openapi"] === "3.0.3", "GET /openapi.json");

let s = await upload(events);
check(s.status === "stored" && s.eventCount === 3, `a valid object is stored (${s.status})`);

const first = events[0];
if (first?.type !== "order.placed") throw new Error("unreachable");
s = await upload({ ...first, eventId: `ts-${run}-bad`, data: { ...first.data, currency: "eur" } });
check(s.status === "quarantined" && s.reasonCode === "schema_violation", `an invalid object is quarantined (${s.status})`);
const report = await client.GET("/v1/quarantine/{uploadId}", { params: { path: { uploadId: s.uploadId } } });
check(
    report.data !== undefined && report.data.errors.some((e) => e.pointer === "/data/currency"),
    "the quarantine report names /data/currency",
);

// A filter, a small page, every cursor followed.
const seen: Event[] = [];
let cursor: string | undefined;
let pages = 0;
for (;;) {
    const { data: page } = await client.GET("/v1/events", {
        params: { query: { type: "order.placed", limit: 2, ...(cursor ? { cursor } : {}) } },
    });
    if (page === undefined) throw new Error("list_events failed");
    pages += 1;
    seen.push(...page.items.map((item) => item.event));
    if (page.nextCursor === undefined) break;
    cursor = page.nextCursor;
}
const ours = new Map(seen.filter((e) => e.eventId.startsWith(`ts-${run}-`)).map((e) => [e.eventId, e]));
check(pages >= 2 && ours.size === 3, `list_events with type=order.placed, limit=2 followed ${pages} pages to every event`);
check(seen.every((e) => e.type === "order.placed"), "the filter held on every page");
check(events.every((e) => ours.get(e.eventId)?.occurredAt === e.occurredAt), "occurredAt is the uploaded text");

// Errors are typed problems.
const missing = await client.GET("/v1/events/{eventId}", { params: { path: { eventId: `ts-${run}-missing` } } });
check(missing.response.status === 404 && missing.error?.status === 404, "a missing event is a typed 404 problem");
const bad = await client.GET("/v1/events", {
    params: { query: { limit: 0 } },
    headers: { "x-request-id": `ts-${run}` },
});
check(
    bad.response.status === 400 && (bad.error?.errors ?? []).some((e) => e.pointer === "/query/limit"),
    "limit=0 is a typed 400 problem naming /query/limit",
);
check(
    bad.response.headers.get("x-request-id") === `ts-${run}` && bad.error?.requestId === `ts-${run}`,
    "x-request-id is echoed in the header and the problem",
);

// Read an event and upload it again unchanged: the same event, so stored, not conflicting.
const stored = await client.GET("/v1/events/{eventId}", { params: { path: { eventId: `ts-${run}-0` } } });
if (stored.data === undefined) throw new Error("get_event failed");
s = await upload(stored.data.event);
check(s.status === "stored", `a read event uploaded unchanged is stored (${s.status} ${s.reasonCode ?? ""})`);
s = await upload({ ...events[1], occurredAt: "2026-11-27T10:16:00.000+00:00" });
check(s.status === "stored", `the same event with +00:00 for Z is stored (${s.status} ${s.reasonCode ?? ""})`);
s = await upload({ ...events[1], occurredAt: "2026-11-27T11:16:00+01:00" });
check(
    s.status === "quarantined" && s.reasonCode === "event_id_conflict",
    `the same instant at another offset is event_id_conflict (${s.status} ${s.reasonCode ?? ""})`,
);
console.log("typescript client scenario: all checks passed");
