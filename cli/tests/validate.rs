//! `eventpulse validate`, run as a user would: the real binary on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventpulse"))
        .arg("validate")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run eventpulse")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn valid_examples_pass() {
    let o = validate(&["examples/events/valid"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("(1000 events)"));
}

#[test]
fn every_invalid_example_fails_with_a_pointer() {
    for entry in std::fs::read_dir(root().join("examples/events/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let o = validate(&[path.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
        let err = stderr(&o);
        let name = path.display().to_string();
        assert!(err.contains(&format!("{name}: invalid (")), "{err}");
        assert!(
            err.lines().any(|l| l.starts_with(&format!("{name}:/"))
                || l.starts_with(&format!("{name}:(document)"))),
            "{err}"
        );
    }
}

#[test]
fn errors_name_the_field_inside_a_batch() {
    let o = validate(&["examples/events/invalid/batch-one-bad-event.json"]);
    assert!(
        stderr(&o).contains("batch-one-bad-event.json:/1/data/currency: [pattern]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn malformed_examples_fail_cleanly() {
    let o = validate(&["examples/events/malformed"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn hostile_inputs_get_a_clear_error_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "deep.json",
            "[".repeat(100_000).into_bytes(),
            "nests too deeply",
        ),
        ("big.json", vec![b' '; 6 * 1024 * 1024], "too_large"),
        (
            "trailing.json",
            br#"{"a":1} x"#.to_vec(),
            "trailing characters",
        ),
        ("nan.json", br#"{"a": NaN}"#.to_vec(), "invalid_json"),
        (
            "dup.json",
            br#"{"a":1,"a":2}"#.to_vec(),
            "duplicate key \"a\"",
        ),
        (
            "latin1.json",
            b"{\"a\": \"caf\xe9\"}".to_vec(),
            "invalid_encoding",
        ),
        ("empty.json", Vec::new(), "empty_object"),
        ("scalar.json", b"42".to_vec(), "is not an event object"),
    ];
    for (name, bytes, expected) in &cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let o = validate(&[path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expected),
            "{name}: expected {expected:?} in {}",
            stderr(&o)
        );
    }
}

#[test]
fn max_bytes_is_configurable() {
    let o = validate(&[
        "--max-bytes",
        "100",
        "examples/events/valid/order-placed.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("too_large"), "{}", stderr(&o));
}

#[test]
fn unreadable_file_is_exit_2() {
    let o = validate(&["does/not/exist.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does/not/exist.json: cannot read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn json_output_is_machine_readable() {
    let o = validate(&[
        "--json",
        "examples/events/valid/order-placed.json",
        "examples/events/invalid/batch-one-bad-event.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[1]["reasonCode"], "schema_violation");
    assert_eq!(files[1]["errors"][0]["pointer"], "/1/data/currency");
    assert_eq!(files[1]["errors"][0]["index"], 1);
}
