//! The compatibility gate: the current contract against the latest released one.
//!
//! Two directions, named as Confluent Schema Registry names them:
//!
//! - **BACKWARD** (uploaders, and API clients' requests): whatever the released version
//!   accepted, the current one still accepts. The published bundle is compared root to root,
//!   and every request parameter and body of `openapi.yaml` the same way.
//! - **FORWARD** (API readers): a client generated from the released version still reads
//!   every response of the current one. Such clients are *tolerant readers* (the project's
//!   own is generated from [`crate::reader`]): they ignore properties they do not know and
//!   read an event of a type they do not know as an `UnknownEvent`, so a new response
//!   property and a new event type pass; a removed property, a property no longer required, a
//!   new enum value, a wider bound or a changed pattern does not.
//!
//! One comparison serves both: [`Position::Accept`] checks that the new schema accepts
//! everything the old one did, [`Position::Read`] that everything the new one allows is
//! readable by the old one. Patterns and formats cannot be compared in general, so any
//! change to one counts as breaking (the message says so), unless it only makes the accepting
//! side looser by removing it.

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The folder of released versions: `upload-object.v{N}.bundle.json` and `openapi.v{N}.yaml`
/// for each released major version `N`, frozen.
pub const RELEASED_DIR: &str = "released";

/// The oneOf whose readers tolerate unknown variants: the event union, read by the reader
/// types through their `UnknownEvent` fallback.
pub const TOLERANT_UNIONS: &[&str] = &["/components/schemas/Event"];

/// Which way a schema is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// Validated by EventPulse (uploads, request parameters and bodies): BACKWARD.
    Accept,
    /// Produced by EventPulse and read by clients (responses): FORWARD.
    Read,
}

impl Position {
    pub fn direction(self) -> &'static str {
        match self {
            Position::Accept => "BACKWARD",
            Position::Read => "FORWARD",
        }
    }
}

/// One breaking change: where (a document and a JSON pointer into it) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    pub direction: &'static str,
    /// `file#/json/pointer`: in the current document, or in the released one for what was
    /// removed.
    pub at: String,
    pub why: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.direction, self.at, self.why)
    }
}

/// Escapes one JSON pointer segment.
pub fn seg(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

struct Walker<'a> {
    old: &'a Value,
    new: &'a Value,
    old_name: &'a str,
    new_name: &'a str,
    seen: HashSet<(String, String, Position)>,
    out: Vec<Break>,
}

const LOWER: &[&str] = &[
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
];
const UPPER: &[&str] = &[
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
];
/// Keywords that cannot be compared but by equality.
const OPAQUE: &[&str] = &["pattern", "format", "multipleOf", "not"];

/// Follows `$ref`s (local ones, `#/...`) to the schema they name, and its pointer.
fn resolve<'v>(doc: &'v Value, node: &'v Value, ptr: &str) -> Result<(&'v Value, String)> {
    let mut node = node;
    let mut ptr = ptr.to_string();
    for _ in 0..64 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let target = r
                    .strip_prefix('#')
                    .with_context(|| format!("{ptr}: only local $refs are supported, not {r}"))?;
                node = doc
                    .pointer(target)
                    .with_context(|| format!("{ptr}: $ref {r} points to nothing"))?;
                ptr = target.to_string();
            }
            None => return Ok((node, ptr)),
        }
    }
    bail!("{ptr}: $ref chain too long")
}

fn types_of(v: &Value) -> Option<BTreeSet<String>> {
    match v.get("type")? {
        Value::String(s) => Some([s.clone()].into()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
        ),
        _ => None,
    }
}

fn type_accepts(wide: &BTreeSet<String>, t: &str) -> bool {
    wide.contains(t) || (t == "integer" && wide.contains("number"))
}

fn show(v: &Value) -> String {
    v.to_string()
}

fn show_types(t: &BTreeSet<String>) -> String {
    t.iter().cloned().collect::<Vec<_>>().join("|")
}

/// The name a oneOf/anyOf variant is matched by: its `$ref` target, or its index.
fn variant_key(v: &Value, i: usize) -> String {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r.rsplit('/').next().unwrap_or(r).to_string(),
        None => format!("#{i}"),
    }
}

impl Walker<'_> {
    fn at_new(&self, ptr: &str) -> String {
        format!("{}#{ptr}", self.new_name)
    }
    fn at_old(&self, ptr: &str) -> String {
        format!("{}#{ptr}", self.old_name)
    }
    fn brk(&mut self, pos: Position, at: String, why: impl Into<String>) {
        self.out.push(Break {
            direction: pos.direction(),
            at,
            why: why.into(),
        });
    }

    fn walk(&mut self, old: &Value, old_ptr: &str, new: &Value, new_ptr: &str, pos: Position) {
        let (old, old_ptr) = match resolve(self.old, old, old_ptr) {
            Ok(r) => r,
            Err(e) => {
                let at = self.at_old(old_ptr);
                return self.brk(pos, at, format!("the released document is broken: {e:#}"));
            }
        };
        let (new, new_ptr) = match resolve(self.new, new, new_ptr) {
            Ok(r) => r,
            Err(e) => {
                let at = self.at_new(new_ptr);
                return self.brk(pos, at, format!("{e:#}"));
            }
        };
        if !self.seen.insert((old_ptr.clone(), new_ptr.clone(), pos)) {
            return;
        }
        let (old_ptr, new_ptr) = (old_ptr.as_str(), new_ptr.as_str());
        let here = self.at_new(new_ptr);

        // Boolean schemas: `true` accepts everything, `false` nothing.
        if old.is_boolean() || new.is_boolean() {
            let ok = match pos {
                Position::Accept => new == &Value::Bool(true) || old == &Value::Bool(false),
                Position::Read => old == &Value::Bool(true) || new == &Value::Bool(false),
            };
            if !ok && old != new {
                self.brk(
                    pos,
                    here,
                    format!("schema changed from {} to {}", show(old), show(new)),
                );
            }
            return;
        }
        // `wide` must accept everything `narrow` allows.
        let (wide, narrow) = match pos {
            Position::Accept => (new, old),
            Position::Read => (old, new),
        };
        let reader = "a client generated from the released version cannot read it";

        // type
        if let Some(wt) = types_of(wide) {
            match types_of(narrow) {
                None => self.brk(
                    pos,
                    here.clone(),
                    match pos {
                        Position::Accept => format!("`type` {} added", show_types(&wt)),
                        Position::Read => format!("`type` {} removed; {reader}", show_types(&wt)),
                    },
                ),
                Some(nt) if !nt.iter().all(|t| type_accepts(&wt, t)) => self.brk(
                    pos,
                    here.clone(),
                    format!(
                        "`type` changed from {} to {}",
                        show_types(types_of(old).as_ref().unwrap_or(&nt)),
                        show_types(types_of(new).as_ref().unwrap_or(&wt)),
                    ),
                ),
                _ => {}
            }
        }

        // enum
        if let Some(we) = wide.get("enum").and_then(Value::as_array) {
            match narrow.get("enum").and_then(Value::as_array) {
                None => self.brk(
                    pos,
                    here.clone(),
                    match pos {
                        Position::Accept => {
                            "`enum` added: values accepted before are refused now".to_string()
                        }
                        Position::Read => format!("`enum` removed; {reader}"),
                    },
                ),
                Some(ne) => {
                    for v in ne.iter().filter(|v| !we.contains(v)) {
                        let why = match pos {
                            Position::Accept => format!("`enum` value {} removed", show(v)),
                            Position::Read => format!("`enum` value {} added; {reader}", show(v)),
                        };
                        self.brk(pos, here.clone(), why);
                    }
                }
            }
        }

        // bounds
        for (keywords, lower) in [(LOWER, true), (UPPER, false)] {
            for &k in keywords {
                let Some(wb) = wide.get(k) else { continue };
                let nb = narrow.get(k);
                let tighter_or_equal = match (wb.as_f64(), nb.and_then(Value::as_f64)) {
                    (Some(w), Some(n)) => {
                        if lower {
                            n >= w
                        } else {
                            n <= w
                        }
                    }
                    // OpenAPI 3.0's boolean exclusiveMinimum/Maximum: equal or nothing.
                    _ => nb == Some(wb),
                };
                if !tighter_or_equal {
                    let (o, n) = (old.get(k), new.get(k));
                    let why = match (o, n) {
                        (Some(o), Some(n)) => format!("`{k}` changed from {o} to {n}"),
                        (None, Some(n)) => format!("`{k}` {n} added"),
                        (Some(o), None) => format!("`{k}` {o} removed"),
                        (None, None) => continue,
                    };
                    let why = match pos {
                        Position::Accept => {
                            format!("{why}: values accepted before are refused now")
                        }
                        Position::Read => format!("{why}; {reader}"),
                    };
                    self.brk(pos, here.clone(), why);
                }
            }
        }

        // Keywords only equality can compare.
        for &k in OPAQUE {
            let Some(w) = wide.get(k) else { continue };
            if narrow.get(k) != Some(w) {
                let why = match (old.get(k), new.get(k)) {
                    (Some(o), Some(n)) => format!("`{k}` changed from {o} to {n}"),
                    (None, Some(n)) => format!("`{k}` {n} added"),
                    (Some(o), None) => format!("`{k}` {o} removed"),
                    (None, None) => continue,
                };
                let why = match pos {
                    Position::Accept => format!(
                        "{why}: whether every value accepted before still is cannot be decided, so it counts as breaking"
                    ),
                    Position::Read => format!(
                        "{why}: whether the released version reads every new value cannot be decided, so it counts as breaking"
                    ),
                };
                self.brk(pos, here.clone(), why);
            }
        }

        // uniqueItems narrows; nullable widens.
        if wide.get("uniqueItems") == Some(&Value::Bool(true))
            && narrow.get("uniqueItems") != Some(&Value::Bool(true))
        {
            self.brk(pos, here.clone(), "`uniqueItems` changed");
        }
        if narrow.get("nullable") == Some(&Value::Bool(true))
            && wide.get("nullable") != Some(&Value::Bool(true))
        {
            self.brk(pos, here.clone(), "`nullable` changed");
        }

        self.object(old, old_ptr, new, new_ptr, pos);

        // items
        match (old.get("items"), new.get("items")) {
            (Some(o), Some(n)) => self.walk(
                o,
                &format!("{old_ptr}/items"),
                n,
                &format!("{new_ptr}/items"),
                pos,
            ),
            (None, Some(_)) if pos == Position::Accept => {
                self.brk(pos, here.clone(), "`items` constrained")
            }
            (Some(_), None) if pos == Position::Read => self.brk(
                pos,
                here.clone(),
                format!("`items` unconstrained; {reader}"),
            ),
            _ => {}
        }

        for k in ["oneOf", "anyOf"] {
            self.union(k, old, old_ptr, new, new_ptr, pos);
        }
        match (
            old.get("allOf").and_then(Value::as_array),
            new.get("allOf").and_then(Value::as_array),
        ) {
            (None, None) => {}
            (Some(o), Some(n)) if o.len() == n.len() => {
                for (i, (o, n)) in o.iter().zip(n).enumerate() {
                    self.walk(
                        o,
                        &format!("{old_ptr}/allOf/{i}"),
                        n,
                        &format!("{new_ptr}/allOf/{i}"),
                        pos,
                    );
                }
            }
            _ => self.brk(
                pos,
                here,
                "`allOf` changed: cannot be compared, so it counts as breaking",
            ),
        }
    }

    fn object(&mut self, old: &Value, old_ptr: &str, new: &Value, new_ptr: &str, pos: Position) {
        let props = |v: &Value| -> serde_json::Map<String, Value> {
            v.get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let required = |v: &Value| -> BTreeSet<String> {
            v.get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (op, np) = (props(old), props(new));
        let (or, nr) = (required(old), required(new));
        let (oa, na) = (
            old.get("additionalProperties"),
            new.get("additionalProperties"),
        );
        let closed = |a: Option<&Value>| a == Some(&Value::Bool(false));
        let here = self.at_new(new_ptr);

        match pos {
            Position::Accept => {
                for p in nr.difference(&or) {
                    self.brk(
                        pos,
                        self.at_new(&format!("{new_ptr}/properties/{}", seg(p))),
                        format!("new required property `{p}`: values without it are refused now"),
                    );
                }
                for (p, o) in &op {
                    let old_at = format!("{old_ptr}/properties/{}", seg(p));
                    match np.get(p) {
                        Some(n) => self.walk(
                            o,
                            &old_at,
                            n,
                            &format!("{new_ptr}/properties/{}", seg(p)),
                            pos,
                        ),
                        None if closed(na) => self.brk(
                            pos,
                            self.at_old(&old_at),
                            format!("property `{p}` removed while `additionalProperties` is false: values carrying it are refused now"),
                        ),
                        None => {
                            if let Some(n @ Value::Object(_)) = na {
                                self.walk(
                                    o,
                                    &old_at,
                                    n,
                                    &format!("{new_ptr}/additionalProperties"),
                                    pos,
                                );
                            }
                        }
                    }
                }
                for (p, n) in &np {
                    if op.contains_key(p) || closed(oa) {
                        continue; // compared above, or new to a closed schema: additive
                    }
                    let new_at = format!("{new_ptr}/properties/{}", seg(p));
                    match oa {
                        Some(o @ Value::Object(_)) => self.walk(
                            o,
                            &format!("{old_ptr}/additionalProperties"),
                            n,
                            &new_at,
                            pos,
                        ),
                        _ if old.get("properties").is_some() || old.get("type") == Some(&Value::String("object".into())) => self.brk(
                            pos,
                            self.at_new(&new_at),
                            format!("property `{p}` added to an open schema: values it held before may be refused now"),
                        ),
                        _ => {}
                    }
                }
                if closed(na) && !closed(oa) {
                    self.brk(
                        pos,
                        here,
                        "`additionalProperties: false` added: properties accepted before are refused now",
                    );
                } else if let (Some(o @ Value::Object(_)), Some(n @ Value::Object(_))) = (oa, na) {
                    self.walk(
                        o,
                        &format!("{old_ptr}/additionalProperties"),
                        n,
                        &format!("{new_ptr}/additionalProperties"),
                        pos,
                    );
                }
            }
            Position::Read => {
                for (p, o) in &op {
                    let old_at = format!("{old_ptr}/properties/{}", seg(p));
                    match np.get(p) {
                        Some(n) => {
                            let new_at = format!("{new_ptr}/properties/{}", seg(p));
                            if or.contains(p) && !nr.contains(p) {
                                self.brk(
                                    pos,
                                    self.at_new(&new_at),
                                    format!("property `{p}` is no longer required: a client generated from the released version expects it"),
                                );
                            }
                            self.walk(o, &old_at, n, &new_at, pos);
                        }
                        None => self.brk(
                            pos,
                            self.at_old(&old_at),
                            format!("response property `{p}` removed (or renamed): a client generated from the released version expects it"),
                        ),
                    }
                }
                // New properties: tolerant readers ignore them. Maps compare their values.
                if let (Some(o @ Value::Object(_)), Some(n @ Value::Object(_))) = (oa, na) {
                    self.walk(
                        o,
                        &format!("{old_ptr}/additionalProperties"),
                        n,
                        &format!("{new_ptr}/additionalProperties"),
                        pos,
                    );
                }
            }
        }
    }

    fn union(
        &mut self,
        k: &str,
        old: &Value,
        old_ptr: &str,
        new: &Value,
        new_ptr: &str,
        pos: Position,
    ) {
        let (ov, nv) = (
            old.get(k).and_then(Value::as_array),
            new.get(k).and_then(Value::as_array),
        );
        let (ov, nv) = match (ov, nv) {
            (None, None) => return,
            (Some(o), Some(n)) => (o, n),
            (Some(_), None) if pos == Position::Accept => return, // the union is gone: wider
            (None, Some(_)) if pos == Position::Read => return,
            _ => {
                let at = self.at_new(new_ptr);
                return self.brk(
                    pos,
                    at,
                    format!("`{k}` changed: cannot be compared, so it counts as breaking"),
                );
            }
        };
        let keyed = |vs: &[Value]| -> BTreeMap<String, (usize, Value)> {
            vs.iter()
                .enumerate()
                .map(|(i, v)| (variant_key(v, i), (i, v.clone())))
                .collect()
        };
        let (ok, nk) = (keyed(ov), keyed(nv));
        for (key, (i, o)) in &ok {
            match nk.get(key) {
                Some((j, n)) => self.walk(
                    o,
                    &format!("{old_ptr}/{k}/{i}"),
                    n,
                    &format!("{new_ptr}/{k}/{j}"),
                    pos,
                ),
                None if pos == Position::Accept => {
                    let what = match self.event_type(o) {
                        Some(t) => format!(
                            "event type `{t}` removed (variant `{key}` of `{k}`): its uploads are refused now"
                        ),
                        None => format!(
                            "variant `{key}` of `{k}` removed: values it accepted may be refused now"
                        ),
                    };
                    let at = self.at_old(&format!("{old_ptr}/{k}/{i}"));
                    self.brk(pos, at, what);
                }
                None => {}
            }
        }
        if pos == Position::Read && !TOLERANT_UNIONS.contains(&new_ptr) {
            for (key, (j, _)) in nk.iter().filter(|(key, _)| !ok.contains_key(*key)) {
                let at = self.at_new(&format!("{new_ptr}/{k}/{j}"));
                self.brk(
                    pos,
                    at,
                    format!("new variant `{key}` of `{k}`: a client generated from the released version cannot read it"),
                );
            }
        }
    }

    /// The event type a variant of the event union stands for (its `type` is one name).
    fn event_type(&self, variant: &Value) -> Option<String> {
        let (v, _) = resolve(self.old, variant, "").ok()?;
        let e = v.pointer("/properties/type/enum")?.as_array()?;
        match e.as_slice() {
            [Value::String(t)] => Some(t.clone()),
            _ => None,
        }
    }
}

/// The breaking changes between two schemas (each document its own `$ref` root), used as
/// `pos` says.
pub fn schema_breaks(old: &Value, new: &Value, pos: Position) -> Vec<Break> {
    let mut w = Walker {
        old,
        new,
        old_name: "released",
        new_name: "current",
        seen: HashSet::new(),
        out: Vec::new(),
    };
    w.walk(old, "", new, "", pos);
    w.out
}

/// BACKWARD for uploaders: every upload valid under the released bundle stays valid.
pub fn bundle_breaks(old: &Value, old_name: &str, new: &Value, new_name: &str) -> Vec<Break> {
    let mut w = Walker {
        old,
        new,
        old_name,
        new_name,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    w.walk(old, "", new, "", Position::Accept);
    w.out
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Parameters of an operation (path-level ones, overridden by the operation's), keyed by
/// `in:name`, each with its pointer.
fn parameters<'v>(
    doc: &'v Value,
    path_item: &'v Value,
    op: &'v Value,
    item_ptr: &str,
    op_ptr: &str,
) -> BTreeMap<String, (&'v Value, String)> {
    let mut out = BTreeMap::new();
    for (list, ptr) in [(path_item, item_ptr), (op, op_ptr)] {
        if let Some(ps) = list.get("parameters").and_then(Value::as_array) {
            for (i, p) in ps.iter().enumerate() {
                let at = format!("{ptr}/parameters/{i}");
                let Ok((p, at)) = resolve(doc, p, &at) else {
                    continue;
                };
                let key = format!(
                    "{}:{}",
                    p.get("in").and_then(Value::as_str).unwrap_or("?"),
                    p.get("name").and_then(Value::as_str).unwrap_or("?")
                );
                out.insert(key, (p, at));
            }
        }
    }
    out
}

fn is_true(v: &Value, k: &str) -> bool {
    v.get(k) == Some(&Value::Bool(true))
}

/// BACKWARD (requests) and FORWARD (responses) for API clients, operation by operation.
pub fn openapi_breaks(old: &Value, old_name: &str, new: &Value, new_name: &str) -> Vec<Break> {
    let mut w = Walker {
        old,
        new,
        old_name,
        new_name,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    let empty = serde_json::Map::new();
    let old_paths = old
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new_paths = new
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let null = Value::Null;
    for (path, old_item) in old_paths {
        let item_ptr = format!("/paths/{}", seg(path));
        let new_item = new_paths.get(path).unwrap_or(&null);
        for &m in METHODS {
            let Some(old_op) = old_item.get(m) else {
                continue;
            };
            let op_ptr = format!("{item_ptr}/{m}");
            let old_id = old_op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let Some(new_op) = new_item.get(m) else {
                let at = w.at_old(&op_ptr);
                w.brk(
                    Position::Read,
                    at,
                    format!("operation `{old_id}` ({} {path}) removed", m.to_uppercase()),
                );
                continue;
            };
            let new_id = new_op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or("?");
            if new_id != old_id {
                let at = w.at_new(&format!("{op_ptr}/operationId"));
                w.brk(
                    Position::Read,
                    at,
                    format!("operation `{old_id}` renamed to `{new_id}`: generated clients call it by name"),
                );
            }
            request(
                &mut w, old_item, old_op, new_item, new_op, &item_ptr, &op_ptr,
            );
            responses(&mut w, old_op, new_op, &op_ptr);
        }
    }
    w.out
}

fn request(
    w: &mut Walker<'_>,
    old_item: &Value,
    old_op: &Value,
    new_item: &Value,
    new_op: &Value,
    item_ptr: &str,
    op_ptr: &str,
) {
    let pos = Position::Accept;
    let op_params = parameters(w.old, old_item, old_op, item_ptr, op_ptr);
    let np_params = parameters(w.new, new_item, new_op, item_ptr, op_ptr);
    for (key, (o, o_at)) in &op_params {
        match np_params.get(key) {
            None => {
                let at = w.at_old(o_at);
                w.brk(
                    pos,
                    at,
                    format!("parameter `{key}` removed (or renamed): requests carrying it are refused now"),
                );
            }
            Some((n, n_at)) => {
                if is_true(n, "required") && !is_true(o, "required") {
                    let at = w.at_new(n_at);
                    w.brk(pos, at, format!("parameter `{key}` became required"));
                }
                if let (Some(os), Some(ns)) = (o.get("schema"), n.get("schema")) {
                    w.walk(
                        os,
                        &format!("{o_at}/schema"),
                        ns,
                        &format!("{n_at}/schema"),
                        pos,
                    );
                }
            }
        }
    }
    for (key, (n, n_at)) in &np_params {
        if !op_params.contains_key(key) && is_true(n, "required") {
            let at = w.at_new(n_at);
            w.brk(
                pos,
                at,
                format!("new required parameter `{key}`: requests without it are refused now"),
            );
        }
    }

    let body_ptr = format!("{op_ptr}/requestBody");
    let ob = old_op
        .get("requestBody")
        .and_then(|b| resolve(w.old, b, &body_ptr).ok());
    let nb = new_op
        .get("requestBody")
        .and_then(|b| resolve(w.new, b, &body_ptr).ok());
    match (ob, nb) {
        (None, None) => {}
        (None, Some((n, n_at))) => {
            if is_true(n, "required") {
                let at = w.at_new(&n_at);
                w.brk(pos, at, "a required request body added");
            }
        }
        (Some((_, o_at)), None) => {
            let at = w.at_old(&o_at);
            w.brk(
                pos,
                at,
                "request body removed: requests carrying one are refused now",
            );
        }
        (Some((o, o_at)), Some((n, n_at))) => {
            if is_true(n, "required") && !is_true(o, "required") {
                let at = w.at_new(&n_at);
                w.brk(pos, at, "the request body became required");
            }
            let empty = serde_json::Map::new();
            let oc = o
                .get("content")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let nc = n
                .get("content")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (media, om) in oc {
                let o_m = format!("{o_at}/content/{}", seg(media));
                match nc.get(media) {
                    None => {
                        let at = w.at_old(&o_m);
                        w.brk(pos, at, format!("request media type `{media}` removed"));
                    }
                    Some(nm) => {
                        if let (Some(os), Some(ns)) = (om.get("schema"), nm.get("schema")) {
                            let n_m = format!("{n_at}/content/{}", seg(media));
                            w.walk(
                                os,
                                &format!("{o_m}/schema"),
                                ns,
                                &format!("{n_m}/schema"),
                                pos,
                            );
                        }
                    }
                }
            }
        }
    }
}

fn responses(w: &mut Walker<'_>, old_op: &Value, new_op: &Value, op_ptr: &str) {
    let pos = Position::Read;
    let empty = serde_json::Map::new();
    let or = old_op
        .get("responses")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let nr = new_op
        .get("responses")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (status, o) in or {
        let ptr = format!("{op_ptr}/responses/{}", seg(status));
        let Some(n) = nr.get(status) else {
            let at = w.at_old(&ptr);
            w.brk(
                pos,
                at,
                format!("response status {status} removed: clients handling it get something else"),
            );
            continue;
        };
        let (Ok((o, o_at)), Ok((n, n_at))) = (resolve(w.old, o, &ptr), resolve(w.new, n, &ptr))
        else {
            continue;
        };
        let oc = o
            .get("content")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let nc = n
            .get("content")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (media, om) in oc {
            let o_m = format!("{o_at}/content/{}", seg(media));
            match nc.get(media) {
                None => {
                    let at = w.at_old(&o_m);
                    w.brk(
                        pos,
                        at,
                        format!("response media type `{media}` of {status} removed"),
                    );
                }
                // A body of a non-JSON media type whose released schema is plain text is read
                // as text by a client generated from the released version, whatever the new
                // schema says about the parsed document (e.g. YAML described as an object):
                // the bytes are still that media type's text.
                Some(_) if !is_json_media(media) && is_plain_text(w.old, om.get("schema")) => {}
                Some(nm) => {
                    if let (Some(os), Some(ns)) = (om.get("schema"), nm.get("schema")) {
                        let n_m = format!("{n_at}/content/{}", seg(media));
                        w.walk(
                            os,
                            &format!("{o_m}/schema"),
                            ns,
                            &format!("{n_m}/schema"),
                            pos,
                        );
                    }
                }
            }
        }
    }
}

fn is_json_media(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// Whether a body schema is `type: string` and nothing more (no `format: binary`).
fn is_plain_text(doc: &Value, schema: Option<&Value>) -> bool {
    let Some(Ok((s, _))) = schema.map(|s| resolve(doc, s, "")) else {
        return false;
    };
    s.get("type").and_then(Value::as_str) == Some("string") && s.get("format").is_none()
}

/// Whether a FORWARD break is a `format` that `cargo xtask codegen` left out of an OpenAPI
/// component beside its `pattern` (`openapi::to_oas30`), while the component's source in the
/// upload schema still asserts that format with the same pattern. Every value a response
/// carries of such a component passed the upload validator, format included, so the values
/// a client generated from the released version reads are the same; only the document no
/// longer invites generators to turn the text into a native type.
fn format_kept_by_the_upload_schema(b: &Break, bundle: &Value, spec: &Value) -> bool {
    let Some(name) = b.at.strip_prefix("openapi.yaml#/components/schemas/") else {
        return false;
    };
    let (Some(def), Some(component)) = (
        bundle.get("$defs").and_then(|d| d.get(name)),
        spec.pointer(&format!("/components/schemas/{name}")),
    ) else {
        return false;
    };
    let format = def.get("format").and_then(Value::as_str);
    b.direction == Position::Read.direction()
        && format.is_some_and(|f| b.why.starts_with(&format!("`format` \"{f}\" removed")))
        && component.get("format").is_none()
        && component.get("pattern").is_some()
        && component.get("pattern") == def.get("pattern")
}

// ---------------------------------------------------------------------------------------
// Released versions on disk.

/// The released file names of major version `n`.
pub fn bundle_file(n: u64) -> String {
    format!("upload-object.v{n}.bundle.json")
}
pub fn openapi_file(n: u64) -> String {
    format!("openapi.v{n}.yaml")
}

/// The released major versions under `root/released/`, ascending. Each must have both files.
pub fn released_versions(root: &Path) -> Result<Vec<u64>> {
    let dir = root.join(RELEASED_DIR);
    let mut bundles = BTreeSet::new();
    let mut specs = BTreeSet::new();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let num = |s: &str| s.parse::<u64>().ok().filter(|n| *n > 0);
        if let Some(n) = name
            .strip_prefix("upload-object.v")
            .and_then(|s| s.strip_suffix(".bundle.json"))
            .and_then(num)
        {
            bundles.insert(n);
        } else if let Some(n) = name
            .strip_prefix("openapi.v")
            .and_then(|s| s.strip_suffix(".yaml"))
            .and_then(num)
        {
            specs.insert(n);
        } else {
            bail!(
                "{RELEASED_DIR}/{name} is not a released contract file (upload-object.vN.bundle.json or openapi.vN.yaml)"
            );
        }
    }
    ensure!(
        bundles == specs,
        "{RELEASED_DIR}/ must hold both files of every released version: bundles {bundles:?}, specs {specs:?}"
    );
    Ok(bundles.into_iter().collect())
}

pub fn released_path(file: &str) -> PathBuf {
    Path::new(RELEASED_DIR).join(file)
}

/// The major version of `info.version` of a spec.
pub fn major_of(spec: &Value) -> Result<u64> {
    let v = spec
        .pointer("/info/version")
        .and_then(Value::as_str)
        .context("openapi.yaml has no info.version")?;
    v.split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .filter(|m| *m > 0)
        .with_context(|| format!("info.version `{v}` is not MAJOR.MINOR.PATCH"))
}

/// The verdict of `cargo xtask compat`.
pub struct Verdict {
    pub released: Option<u64>,
    pub breaks: Vec<Break>,
    /// Whether the current sources equal the latest released files.
    pub unchanged: bool,
    pub problems: Vec<String>,
}

/// The current contract against the latest released version.
pub fn check(root: &Path) -> Result<Verdict> {
    let current = crate::contract(root)?;
    let versions = released_versions(root)?;
    let Some(&latest) = versions.last() else {
        return Ok(Verdict {
            released: None,
            breaks: Vec::new(),
            unchanged: false,
            problems: vec![format!(
                "nothing is released yet: run `cargo xtask release` to freeze version {}",
                major_of(&current.spec)?
            )],
        });
    };
    let bundle_name = released_path(&bundle_file(latest));
    let spec_name = released_path(&openapi_file(latest));
    let bundle_text = std::fs::read_to_string(root.join(&bundle_name))
        .with_context(|| format!("reading {}", bundle_name.display()))?;
    let spec_text = std::fs::read_to_string(root.join(&spec_name))
        .with_context(|| format!("reading {}", spec_name.display()))?;
    let old_bundle: Value = serde_json::from_str(&bundle_text)
        .with_context(|| format!("{} is not JSON", bundle_name.display()))?;
    let old_spec: Value = serde_yaml::from_str(&spec_text)
        .with_context(|| format!("{} is not YAML", spec_name.display()))?;

    let mut problems = Vec::new();
    let major = major_of(&current.spec)?;
    if major != latest {
        problems.push(format!(
            "openapi.yaml says version {major} but the latest released version is {latest}: only `cargo xtask release --major` changes the major version"
        ));
    }
    let mut breaks = bundle_breaks(
        &old_bundle,
        &bundle_name.display().to_string(),
        &current.bundle,
        crate::BUNDLE_PATH,
    );
    breaks.extend(
        openapi_breaks(
            &old_spec,
            &spec_name.display().to_string(),
            &current.spec,
            "openapi.yaml",
        )
        .into_iter()
        .filter(|b| !format_kept_by_the_upload_schema(b, &current.bundle, &current.spec)),
    );
    Ok(Verdict {
        released: Some(latest),
        breaks,
        unchanged: bundle_text == current.bundle_text && spec_text == current.spec_text,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_format_left_to_the_upload_schema_is_no_break_and_nothing_else_is() {
        let pattern = "^[0-9]{4}$";
        let old = json!({"openapi": "3.0.3", "paths": {"/x": {"get": {"operationId": "x",
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/At"}}}}}}}},
            "components": {"schemas": {"At": {"type": "string", "format": "date-time",
                "pattern": pattern}}}});
        let mut new = old.clone();
        new["components"]["schemas"]["At"] = json!({"type": "string", "pattern": pattern});
        let breaks = openapi_breaks(&old, "v1.yaml", &new, "openapi.yaml");
        assert_eq!(breaks.len(), 1, "{breaks:?}");
        let kept =
            json!({"$defs": {"At": {"type": "string", "format": "date-time", "pattern": pattern}}});
        assert!(format_kept_by_the_upload_schema(&breaks[0], &kept, &new));
        // The upload schema dropped the format too, or has another pattern: a break.
        let dropped = json!({"$defs": {"At": {"type": "string", "pattern": pattern}}});
        assert!(!format_kept_by_the_upload_schema(
            &breaks[0], &dropped, &new
        ));
        let other =
            json!({"$defs": {"At": {"type": "string", "format": "date-time", "pattern": "^x$"}}});
        assert!(!format_kept_by_the_upload_schema(&breaks[0], &other, &new));
        // A component that is not in the upload schema at all: a break.
        assert!(!format_kept_by_the_upload_schema(
            &breaks[0],
            &json!({"$defs": {}}),
            &new
        ));
    }
}
