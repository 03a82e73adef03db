//! Strict JSON intake: bytes → `serde_json::Value`, refusing anything ambiguous.
//!
//! serde_json alone already refuses NaN/Infinity literals, trailing garbage and nesting
//! of 128 levels or more (without recursing further, so no stack overflow). This module adds
//! what it lets through: a size limit checked before parsing, a precise UTF-8 check, empty
//! input, a byte order mark, and duplicate object keys (which JSON parsers resolve
//! differently, so an object with one means different things to different readers).

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;

/// Default largest accepted document: 5 MiB.
pub const DEFAULT_MAX_BYTES: usize = 5 * 1024 * 1024;

/// Most JSON values (scalars, arrays and objects) one document may hold. The byte limit
/// alone does not bound memory: 5 MiB of `[[[…]]]` is 2.4 million arrays, about 100 bytes of
/// heap each once parsed. 1000 events of about 5 KB each hold some 250,000 values.
pub const MAX_VALUES: usize = 500_000;
/// Most arrays and objects one document may hold (each is a heap allocation); 1000 valid
/// events hold about 10,000.
pub const MAX_CONTAINERS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("the document is not valid UTF-8: invalid byte sequence at byte offset {offset}")]
    InvalidUtf8 { offset: usize },
    #[error("the document starts with a UTF-8 byte order mark; save it without one")]
    ByteOrderMark,
    #[error("duplicate key \"{key}\" in the object at {pointer}: the document is ambiguous")]
    DuplicateKey { pointer: String, key: String },
    #[error("the document holds more than {limit} JSON {what}")]
    TooManyValues { what: &'static str, limit: usize },
    #[error("the document nests too deeply: 127 levels at most (line {line}, column {column})")]
    TooDeep { line: usize, column: usize },
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
}

impl ParseError {
    /// The JSON pointer the error is about ("" for the whole document).
    pub fn pointer(&self) -> &str {
        match self {
            ParseError::DuplicateKey { pointer, .. } => pointer,
            _ => "",
        }
    }

    /// A short name for the failed check, used where a schema keyword would be.
    pub fn check(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::TooLarge { .. } => "maxSize",
            ParseError::TooManyValues { .. } => "maxValues",
            ParseError::InvalidUtf8 { .. } | ParseError::ByteOrderMark => "encoding",
            ParseError::DuplicateKey { .. } => "duplicateKey",
            ParseError::TooDeep { .. } => "maxDepth",
            ParseError::Syntax { .. } => "syntax",
        }
    }
}

/// Parses `bytes` as one strict JSON document of at most `max_bytes` bytes.
pub fn parse(bytes: &[u8], max_bytes: usize) -> Result<Value, ParseError> {
    let text = checked_text(bytes, max_bytes)?;
    // Fast pass without tracking where we are; only when it finds a duplicate key is the
    // document parsed again, tracking JSON pointers, to say where the duplicate is.
    match parse_text(text, None) {
        Err(ParseError::DuplicateKey { .. }) => parse_text(text, Some(String::new())),
        other => other,
    }
}

/// What [`parse_each`] read: the document was an array, whose elements went to the callback,
/// or something else, which is returned whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Top {
    /// An array of this many elements.
    Array(usize),
    Other(Value),
}

/// Parses like [`parse`], with the same checks, limits and errors, but hands each element of
/// a top-level array to `each` (with its index) as soon as it is parsed, instead of building
/// the array: whoever consumes the elements one by one does so while each is still in cache,
/// and an element it drops is freed at once.
///
/// `each` may have seen elements when an error comes later in the document; the error is
/// what counts, and the caller must discard what it made of them.
pub fn parse_each(
    bytes: &[u8],
    max_bytes: usize,
    mut each: impl FnMut(usize, Value),
) -> Result<Top, ParseError> {
    let text = checked_text(bytes, max_bytes)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let budget = Budget {
        values: Cell::new(MAX_VALUES),
        containers: Cell::new(MAX_CONTAINERS),
    };
    let top = Stream {
        each: &mut each,
        budget: &budget,
    }
    .deserialize(&mut de)
    .and_then(|top| de.end().map(|()| top));
    match top.map_err(classify) {
        // As in `parse`: only now is the document read again to say where the duplicate is.
        Err(first @ ParseError::DuplicateKey { .. }) => {
            Err(parse_text(text, Some(String::new())).err().unwrap_or(first))
        }
        other => other,
    }
}

/// The checks made before parsing: size, byte order mark, UTF-8, emptiness.
fn checked_text(bytes: &[u8], max_bytes: usize) -> Result<&str, ParseError> {
    if bytes.len() > max_bytes {
        return Err(ParseError::TooLarge {
            size: bytes.len() as u64,
            limit: max_bytes as u64,
        });
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(ParseError::ByteOrderMark);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(text)
}

/// The top level of [`parse_each`]: an array's elements go to `each`; anything else is built
/// by [`NoDuplicates`].
struct Stream<'b, F> {
    each: &'b mut F,
    budget: &'b Budget,
}

impl<'de, F: FnMut(usize, Value)> DeserializeSeed<'de> for Stream<'_, F> {
    type Value = Top;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(usize, Value)> Visitor<'de> for Stream<'_, F> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        self.budget.container()?;
        let mut n = 0;
        while let Some(v) = seq.next_element_seed(self.elements())? {
            (self.each)(n, v);
            n += 1;
        }
        Ok(Top::Array(n))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Top, A::Error> {
        self.elements().visit_map(map).map(Top::Other)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Top, E> {
        self.elements().visit_bool(v).map(Top::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Top, E> {
        self.elements().visit_i64(v).map(Top::Other)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Top, E> {
        self.elements().visit_u64(v).map(Top::Other)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Top, E> {
        self.elements().visit_f64(v).map(Top::Other)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Top, E> {
        self.elements().visit_str(v).map(Top::Other)
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Top, E> {
        self.elements().visit_string(v).map(Top::Other)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Top, E> {
        self.elements().visit_unit().map(Top::Other)
    }
}

impl<F> Stream<'_, F> {
    fn elements(&self) -> NoDuplicates<'_> {
        NoDuplicates {
            pointer: None,
            budget: self.budget,
        }
    }
}

fn parse_text(text: &str, pointer: Option<String>) -> Result<Value, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let budget = Budget {
        values: Cell::new(MAX_VALUES),
        containers: Cell::new(MAX_CONTAINERS),
    };
    let value = NoDuplicates {
        pointer,
        budget: &budget,
    }
    .deserialize(&mut de)
    .map_err(classify)?;
    de.end().map_err(classify)?;
    Ok(value)
}

const DUPLICATE_MARK: &str = "\u{0}duplicate\u{0}";
const VALUES_MARK: &str = "\u{0}values\u{0}";
const CONTAINERS_MARK: &str = "\u{0}containers\u{0}";

/// What is left of a document's allowance, spent as values are built, so that memory stays
/// bounded whatever the shape: parsing stops at the first value over the limit.
struct Budget {
    values: Cell<usize>,
    containers: Cell<usize>,
}

impl Budget {
    fn value<E: serde::de::Error>(&self) -> Result<(), E> {
        spend(&self.values, VALUES_MARK)
    }
    fn container<E: serde::de::Error>(&self) -> Result<(), E> {
        spend(&self.values, VALUES_MARK)?;
        spend(&self.containers, CONTAINERS_MARK)
    }
}

fn spend<E: serde::de::Error>(left: &Cell<usize>, mark: &str) -> Result<(), E> {
    match left.get().checked_sub(1) {
        Some(n) => {
            left.set(n);
            Ok(())
        }
        None => Err(E::custom(mark)),
    }
}

fn classify(e: serde_json::Error) -> ParseError {
    let (line, column) = (e.line(), e.column());
    let message = e.to_string();
    if let Some(rest) = message.strip_prefix(DUPLICATE_MARK) {
        // "<pointer>\0<key>\0 at line..." as built in `visit_map`.
        let mut parts = rest.splitn(3, '\u{0}');
        let pointer = parts.next().unwrap_or_default().to_string();
        let key = parts.next().unwrap_or_default().to_string();
        return ParseError::DuplicateKey { pointer, key };
    }
    if message.starts_with(VALUES_MARK) {
        return ParseError::TooManyValues {
            what: "values",
            limit: MAX_VALUES,
        };
    }
    if message.starts_with(CONTAINERS_MARK) {
        return ParseError::TooManyValues {
            what: "arrays and objects",
            limit: MAX_CONTAINERS,
        };
    }
    if message.starts_with("recursion limit exceeded") {
        return ParseError::TooDeep { line, column };
    }
    // serde_json appends " at line L column C"; we report those separately.
    let message = message
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_string())
        .unwrap_or(message);
    ParseError::Syntax {
        line,
        column,
        message,
    }
}

/// The same document with every integral float written as an integer (`2.0` → `2`,
/// `1e3` → `1000`).
///
/// JSON Schema counts `2.0` as an integer, so the validator (and every independent one)
/// accepts it where the schema says `integer`; the generated types read integers into `u64`,
/// which refuses `2.0`. Both spell the same number, so this only changes the spelling the
/// typed view sees. Callers store the uploader's spelling and type this normalised copy.
pub fn integral_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(integral_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, integral_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Escapes one reference token for a JSON pointer (RFC 6901).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Builds a `Value` like serde_json does, but fails on a repeated object key. With a
/// `pointer`, it tracks where it is so that the error can say where the duplicate is.
struct NoDuplicates<'b> {
    pointer: Option<String>,
    budget: &'b Budget,
}

impl<'de> DeserializeSeed<'de> for NoDuplicates<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.value()?;
        Ok(v.into())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.value()?;
        Ok(v.into())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.value()?;
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.container()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(NoDuplicates {
            pointer: self.pointer.as_ref().map(|p| format!("{p}/{}", out.len())),
            budget: self.budget,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.budget.container()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One lookup per key: the vacant entry holds the slot the value goes into.
            let slot = match out.entry(key) {
                Entry::Vacant(slot) => slot,
                Entry::Occupied(dup) => {
                    let at = match self.pointer.as_deref() {
                        Some("") | None => "/",
                        Some(p) => p,
                    };
                    return Err(A::Error::custom(format!(
                        "{DUPLICATE_MARK}{at}\u{0}{}\u{0}",
                        dup.key()
                    )));
                }
            };
            let child = self
                .pointer
                .as_ref()
                .map(|p| format!("{p}/{}", escape_token(slot.key())));
            let value = map.next_value_seed(NoDuplicates {
                pointer: child,
                budget: self.budget,
            })?;
            slot.insert(value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> ParseError {
        parse(bytes, 1024 * 1024).unwrap_err()
    }

    #[test]
    fn accepts_plain_json() {
        assert_eq!(
            parse(br#" {"a": [1, 2.5, "x", null, true]} "#, 100).unwrap()["a"][1],
            2.5
        );
    }

    #[test]
    fn refuses_empty_and_blank() {
        assert_eq!(err(b""), ParseError::Empty);
        assert_eq!(err(b" \n\t "), ParseError::Empty);
    }

    #[test]
    fn refuses_oversized_before_parsing() {
        let e = parse(&[b' '; 11], 10).unwrap_err();
        assert_eq!(
            e,
            ParseError::TooLarge {
                size: 11,
                limit: 10
            }
        );
    }

    #[test]
    fn refuses_bad_utf8_and_bom() {
        assert_eq!(
            err(b"{\"a\": \"\xff\"}"),
            ParseError::InvalidUtf8 { offset: 7 }
        );
        assert_eq!(err(b"\xEF\xBB\xBF{}"), ParseError::ByteOrderMark);
    }

    #[test]
    fn refuses_duplicate_keys_with_their_place() {
        assert_eq!(
            err(br#"[{"a": {"b": 1, "b": 2}}]"#),
            ParseError::DuplicateKey {
                pointer: "/0/a".into(),
                key: "b".into()
            }
        );
        assert_eq!(err(br#"{"k": 1, "k": 1}"#).pointer(), "/");
    }

    #[test]
    fn refuses_nan_trailing_garbage_and_truncation() {
        assert!(matches!(err(br#"{"v": NaN}"#), ParseError::Syntax { .. }));
        assert!(matches!(
            err(br#"{"v": Infinity}"#),
            ParseError::Syntax { .. }
        ));
        assert!(matches!(err(br#"{} {}"#), ParseError::Syntax { .. }));
        assert!(matches!(err(br#"{"a": 1"#), ParseError::Syntax { .. }));
        assert!(matches!(err(br#"{"v": 1e400}"#), ParseError::Syntax { .. }));
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing_the_stack() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(matches!(err(deep.as_bytes()), ParseError::TooDeep { .. }));
        let deep_objects = r#"{"a":"#.repeat(100_000);
        assert!(matches!(
            err(deep_objects.as_bytes()),
            ParseError::TooDeep { .. }
        ));
    }

    /// Memory is bounded by what the document holds, not only by its size: 4.8 MB of
    /// nested arrays, or 5 MB of tiny numbers, are refused as soon as the allowance is spent.
    #[test]
    fn refuses_documents_with_too_many_values() {
        let nested = format!(
            "[{}]",
            vec!["[".repeat(120) + &"]".repeat(120); 20_000].join(",")
        );
        assert_eq!(
            parse(nested.as_bytes(), DEFAULT_MAX_BYTES).unwrap_err(),
            ParseError::TooManyValues {
                what: "arrays and objects",
                limit: MAX_CONTAINERS
            }
        );
        let numbers = format!("[{}]", vec!["1"; MAX_VALUES].join(","));
        assert!(numbers.len() < DEFAULT_MAX_BYTES);
        assert_eq!(
            parse(numbers.as_bytes(), DEFAULT_MAX_BYTES).unwrap_err(),
            ParseError::TooManyValues {
                what: "values",
                limit: MAX_VALUES
            }
        );
        // Exactly at the limits is fine.
        let at_limit = format!("[{}]", vec!["1"; MAX_VALUES - 1].join(","));
        assert!(parse(at_limit.as_bytes(), DEFAULT_MAX_BYTES).is_ok());
        let arrays = format!("[{}]", vec!["[]"; MAX_CONTAINERS - 1].join(","));
        assert!(parse(arrays.as_bytes(), DEFAULT_MAX_BYTES).is_ok());
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(
            err(br#"{"a/b~c": {"x": 1, "x": 2}}"#),
            ParseError::DuplicateKey {
                pointer: "/a~1b~0c".into(),
                key: "x".into()
            }
        );
    }
}
