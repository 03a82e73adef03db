//! Domain purity, checked on the resolved dependency graph: `eventpulse-handlers` must never
//! link an HTTP server, however one would sneak in (directly, through `eventpulse-generated`,
//! through a feature). `cargo metadata` resolves the workspace; the test follows the normal
//! (non-dev, non-build) dependency edges of the `resolve` section from the domain crate and
//! fails naming the path to any forbidden package.

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Command;

/// Packages the domain must not reach: HTTP servers and the crates that wrap them for us.
const FORBIDDEN: &[&str] = &[
    "axum",
    "axum-core",
    "hyper",
    "hyper-util",
    "tower-http",
    "eventpulse-server-rt",
    "eventpulse-generated-router",
];

struct Graph {
    /// Package id → package name.
    names: BTreeMap<String, String>,
    /// Package id → ids of its normal dependencies.
    normal: BTreeMap<String, Vec<String>>,
}

fn metadata() -> Graph {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");

    let names = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let id = p["id"].as_str().expect("package id").to_string();
            (id, p["name"].as_str().expect("package name").to_string())
        })
        .collect();
    let normal = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes: cargo metadata resolved the graph")
        .iter()
        .map(|node| {
            let id = node["id"].as_str().expect("node id").to_string();
            let deps = node["deps"]
                .as_array()
                .expect("node deps")
                .iter()
                .filter(|d| {
                    // `kind` is null for a normal dependency, "dev" or "build" otherwise.
                    d["dep_kinds"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
                })
                .map(|d| d["pkg"].as_str().expect("dep pkg").to_string())
                .collect();
            (id, deps)
        })
        .collect();
    Graph { names, normal }
}

impl Graph {
    fn id(&self, name: &str) -> &str {
        let ids: Vec<&String> = self
            .names
            .iter()
            .filter(|(_, n)| *n == name)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids.len(), 1, "exactly one package named {name}: {ids:?}");
        ids[0]
    }

    /// Every package reachable from `root` over normal edges, with the path that reaches it
    /// first (breadth first, so the shortest).
    fn reachable(&self, root: &str) -> BTreeMap<String, Vec<String>> {
        let root = self.id(root).to_string();
        let mut paths = BTreeMap::from([(root.clone(), vec![self.names[&root].clone()])]);
        let mut queue = VecDeque::from([root]);
        while let Some(id) = queue.pop_front() {
            for dep in self.normal.get(&id).into_iter().flatten() {
                if !paths.contains_key(dep) {
                    let mut path = paths[&id].clone();
                    path.push(self.names[dep].clone());
                    paths.insert(dep.clone(), path);
                    queue.push_back(dep.clone());
                }
            }
        }
        paths
            .into_values()
            .map(|path| (path.last().cloned().unwrap_or_default(), path))
            .collect()
    }
}

#[test]
fn the_domain_links_no_http_server() {
    let graph = metadata();
    let reached = graph.reachable("eventpulse-handlers");

    // The walk is real: the domain does reach its contract crates.
    for expected in ["eventpulse-generated", "eventpulse-contract-rt", "serde"] {
        assert!(
            reached.contains_key(expected),
            "{expected} not reached: {:?}",
            reached.keys()
        );
    }
    let offending: Vec<String> = FORBIDDEN
        .iter()
        .filter_map(|f| reached.get(*f))
        .map(|path| path.join(" → "))
        .collect();
    assert!(
        offending.is_empty(),
        "the domain crate links an HTTP server (ARCHITECTURE.md, \"Domain purity\"):\n  {}\n\
         Keep axum/hyper and the server runtime out of eventpulse-handlers and of what it \
         depends on (eventpulse-generated, eventpulse-contract-rt).",
        offending.join("\n  ")
    );
}

#[test]
fn the_generated_crate_links_no_http_server_either() {
    // What the domain builds on: the generated types and API trait, without their router.
    let reached = metadata().reachable("eventpulse-generated");
    let offending: Vec<String> = FORBIDDEN
        .iter()
        .chain(&["http-body", "http-body-util"])
        .filter_map(|f| reached.get(*f))
        .map(|path| path.join(" → "))
        .collect();
    assert!(
        offending.is_empty(),
        "eventpulse-generated links an HTTP server:\n  {}\n\
         The router belongs in generated/router (eventpulse-generated-router); fix the \
         generator (xtask/src/crates_gen.rs, server_gen.rs) and run `cargo xtask codegen`.",
        offending.join("\n  ")
    );
}

#[test]
fn the_check_would_see_an_http_server() {
    // The same walk from the binary, which does serve HTTP, finds them: the test above
    // passing is not an artifact of the walk.
    let reached = metadata().reachable("eventpulse-cli");
    for f in [
        "axum",
        "hyper",
        "eventpulse-server-rt",
        "eventpulse-generated-router",
    ] {
        assert!(reached.contains_key(f), "{f} not reached from the cli");
    }
}

#[test]
fn the_processor_function_links_no_http_server() {
    // The Lambda runtime talks to its Runtime API with an HTTP *client* (hyper's), which is
    // allowed; what serves HTTP is not.
    let reached = metadata().reachable("eventpulse-processor");
    assert!(reached.contains_key("lambda_runtime"), "the walk is real");
    let offending: Vec<String> = [
        "axum",
        "axum-core",
        "tower-http",
        "lambda_http",
        "eventpulse-server-rt",
        "eventpulse-generated-router",
    ]
    .iter()
    .filter_map(|f| reached.get(*f))
    .map(|path| path.join(" → "))
    .collect();
    assert!(
        offending.is_empty(),
        "the processor function links an HTTP server:\n  {}",
        offending.join("\n  ")
    );
}
