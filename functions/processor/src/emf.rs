//! CloudWatch Embedded Metric Format: one JSON line on stdout per measurement, which Lambda
//! ships to CloudWatch Logs and CloudWatch turns into metrics (no API call, no latency).

use eventpulse_handlers::processor::Outcome;
use serde_json::{Value, json};
use std::time::Duration;

pub const NAMESPACE: &str = "EventPulse";

/// One EMF document: `metrics` (name, unit, value) under `dimensions`.
pub fn document(dimensions: &[(&str, String)], metrics: &[(&str, &str, f64)]) -> Value {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut doc = json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }]
        }
    });
    for (k, v) in dimensions {
        doc[*k] = json!(v);
    }
    for (name, _, value) in metrics {
        doc[*name] = json!(value);
    }
    doc
}

fn emit(doc: Value) {
    // stdout, one line: the Lambda log agent reads EMF from there.
    println!("{doc}");
}

/// The metrics of one processed object.
pub fn outcome(o: &Outcome, took: Duration) -> Value {
    let ms = took.as_secs_f64() * 1000.0;
    let doc = match o {
        Outcome::Stored {
            events, duplicates, ..
        } => document(
            &[("Function", "processor".into())],
            &[
                ("ObjectsStored", "Count", 1.0),
                ("EventsStored", "Count", *events as f64),
                ("Duplicates", "Count", *duplicates as f64),
                ("ProcessingDuration", "Milliseconds", ms),
            ],
        ),
        Outcome::Quarantined { reason, .. } => document(
            &[
                ("Function", "processor".into()),
                ("ReasonCode", reason.to_string()),
            ],
            &[
                ("ObjectsQuarantined", "Count", 1.0),
                ("ProcessingDuration", "Milliseconds", ms),
            ],
        ),
        Outcome::Skipped { .. } => document(
            &[("Function", "processor".into())],
            &[("ObjectsSkipped", "Count", 1.0)],
        ),
    };
    emit(doc.clone());
    doc
}

pub fn cold_start() {
    emit(document(
        &[("Function", "processor".into())],
        &[("ColdStart", "Count", 1.0)],
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_emf_specification() {
        let d = outcome(
            &Outcome::Quarantined {
                owner: "alice".into(),
                upload_id: "u".into(),
                reason: eventpulse_generated::types::ReasonCode::SchemaViolation,
                errors: 2,
            },
            Duration::from_millis(12),
        );
        let m = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], NAMESPACE);
        assert_eq!(m["Dimensions"], json!([["Function", "ReasonCode"]]));
        // Every dimension and metric named in the directive is a top-level member.
        for dim in m["Dimensions"][0].as_array().unwrap() {
            assert!(d.get(dim.as_str().unwrap()).is_some(), "{dim}");
        }
        for metric in m["Metrics"].as_array().unwrap() {
            assert!(d[metric["Name"].as_str().unwrap()].is_number(), "{metric}");
        }
        assert_eq!(d["ReasonCode"], "schema_violation");
        assert!(d["_aws"]["Timestamp"].is_i64());
    }
}
