// The intake benchmark, shared by `../intake.rs` (the system allocator, as the processor Lambda
// runs) and `../intake_mimalloc.rs` (mimalloc, for comparison).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eventpulse_handlers::intake::{Intake, Verdict};
use serde_json::{Value, json};

/// An order with enough items to weigh about 1 KB once serialised (1,023 bytes; every event
/// of every object the same size, so that the per-event figures compare across object sizes).
fn order(i: usize) -> Value {
    let items: Vec<Value> = (0..20)
        .map(|k| json!({"sku": format!("SKU-{i:06}-{k:02}-XL"), "quantity": k + 1}))
        .collect();
    json!({"eventId": format!("order-{i:08}"), "type": "order.placed", "occurredAt": "2026-11-27T10:15:00.125+01:00",
           "source": "checkout-service.eu-west-1", "data": {"orderId": format!("A-{i:08}"), "currency": "EUR",
           "amountMinor": 45980 + i, "items": items}})
}

fn bench(c: &mut Criterion) {
    let intake = Intake::new(16 * 1024 * 1024, 100).expect("schema compiles");
    let one = serde_json::to_vec(&order(0)).unwrap();
    eprintln!("event size: {} bytes", one.len());
    let mut g = c.benchmark_group("intake");
    for n in [1usize, 100, 1000] {
        let doc = if n == 1 {
            one.clone()
        } else {
            serde_json::to_vec(&(0..n).map(order).collect::<Vec<_>>()).unwrap()
        };
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("valid_events", n), &doc, |b, doc| {
            b.iter(|| match intake.check(doc) {
                Verdict::Accepted(e) => assert_eq!(e.len(), n),
                Verdict::Rejected(r) => panic!("{r:?}"),
            })
        });
    }
    // The refusal path: every event breaks one constraint.
    let bad: Vec<Value> = (0..1000)
        .map(|i| {
            let mut o = order(i);
            o["data"]["currency"] = json!("eur");
            o
        })
        .collect();
    let bad = serde_json::to_vec(&bad).unwrap();
    g.throughput(Throughput::Elements(1000));
    g.bench_function("invalid_events/1000", |b| {
        b.iter(|| assert!(matches!(intake.check(&bad), Verdict::Rejected(_))))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
