//! A borrowed JSON tree for intake's fast path, and the writers that turn it back into JSON.
//!
//! `serde_json::Value` (with `preserve_order`) costs an index map, a hash of every key and
//! an owned `String` per key and string value: about half of intake's time. A [`Node`]
//! borrows every string that has no escape from the uploaded text and keeps object members
//! in a `Vec`, in document order. Its reader (`parse.rs`) reads the common shapes itself and
//! leaves every other token to serde_json, the parser of [`crate::json::parse`], so numbers
//! and escapes read identically.
//!
//! The fast path may only ever be stricter than the strict parser, never more lenient: every
//! document [`parse_each`] accepts, [`crate::json::parse_each`] accepts with the same values.
//! Whatever it declines (`None`: syntax errors, duplicate keys, budgets, objects with many
//! keys) goes to the strict parser, which says precisely what is wrong.

use std::fmt;
use std::ops::Deref;

mod parse;
pub use parse::MAX_FAST_DEPTH;

/// One JSON value; numbers as `serde_json` reads them (non-negative integers `U64`,
/// negative ones `I64`, anything else `F64`). Containers are slices in an [`Arena`], so a
/// tree is freed all at once with its arena, and nothing in it has a destructor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Text<'a>),
    Array(&'a [Node<'a>]),
    /// Members in document order; keys are unique.
    Object(&'a [(Text<'a>, Node<'a>)]),
}

/// A string of the tree (a value or a key), read as `str`. One the document spelled without
/// an escape is borrowed from it and, since JSON text holds no raw control character or
/// unescaped quote, is written back as it is; one spelled with an escape was decoded (into
/// the arena) and is escaped again when written.
#[derive(Clone, Copy)]
pub struct Text<'a> {
    text: &'a str,
    escaped: bool,
}

impl<'a> Text<'a> {
    /// A string spelled without escapes in the document.
    pub fn plain(text: &'a str) -> Self {
        Self {
            text,
            escaped: false,
        }
    }
    pub fn as_str(&self) -> &'a str {
        self.text
    }
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.text
    }
}

/// Equal when they are the same string, however the document spelled them (`"a"` and
/// `"\u0061"` are one key).
impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.text, f)
    }
}

/// Where a tree's containers and decoded strings live (a bump allocator: one block, freed or
/// reused at once, instead of an allocation per container).
#[derive(Default)]
pub struct Arena(bumpalo::Bump);

impl Arena {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<'a> Node<'a> {
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Node::Str(s) => Some(s.text),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&'a [(Text<'a>, Node<'a>)]> {
        match *self {
            Node::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&'a [Node<'a>]> {
        match *self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&'a Node<'a>> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| v)
    }
    /// The value of an integer, as JSON Schema's `integer` type and `minimum`/`maximum`
    /// compare it. `None` for floats, even integral ones (`2.0`): the fast path leaves those
    /// to the full validator.
    pub fn as_integer(&self) -> Option<i128> {
        match *self {
            Node::U64(n) => Some(n.into()),
            Node::I64(n) => Some(n.into()),
            _ => None,
        }
    }
    pub fn is_number(&self) -> bool {
        matches!(self, Node::U64(_) | Node::I64(_) | Node::F64(_))
    }
}

/// Most members an object may have on the fast path: duplicates are looked for by a linear
/// scan, which stays cheap only for small objects (events have a handful of keys). Larger
/// objects go to the strict parser.
pub const MAX_FAST_MEMBERS: usize = 32;

/// The compact JSON text of a value [`parse_each`] read, written while it was read: byte for
/// byte serde_json's serialisation of its tree (members in document order). Only the reader
/// makes one.
#[derive(Debug, Clone, Copy)]
pub struct Compact<'a>(&'a str);

impl<'a> Compact<'a> {
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// What [`parse_each`] read at the top: an array of this many elements, or one other value;
/// either way every value went to the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Top {
    Array(usize),
    One,
}

/// Parses `text` (already checked: size, UTF-8, byte order mark, emptiness) handing each
/// element of a top-level array (with its index), or the one top-level value (`None`), to
/// `each` as soon as it is read, with its [`Compact`] text; `each` returns `false` to stop. Each element's tree lives only for
/// its call: its arena is reused for the next one, so memory follows the largest element,
/// not the document. `None` when the document is declined (any error, a budget spent, a
/// large object) or `each` stopped: the caller then takes the strict path.
pub fn parse_each(
    text: &str,
    mut each: impl FnMut(Option<usize>, Node<'_>, Compact<'_>) -> bool,
) -> Option<Top> {
    parse::Reader::new(text).document_each(&mut each)
}

/// Parses one whole document like [`parse_each`], without streaming, into `arena`.
pub fn parse<'a>(text: &'a str, arena: &'a Arena) -> Option<Node<'a>> {
    parse::Reader::new(text).document(&arena.0)
}

/// Written by serde_json itself, members in document order: `serde_json::to_string` of a
/// `Node` is byte for byte that of the `Value` (with `preserve_order`) the strict parser
/// builds from the same text. The reader's [`Compact`] text is held to this by the tests and
/// the `json_strict` fuzz property.
impl serde::Serialize for Node<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::U64(n) => s.serialize_u64(*n),
            Node::I64(n) => s.serialize_i64(*n),
            Node::F64(f) => s.serialize_f64(*f),
            Node::Str(t) => s.serialize_str(t),
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items.iter() {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Node::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members.iter() {
                    map.serialize_entry(&**k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Appends `node` as canonical JSON: keys sorted by their UTF-8 bytes, no white space, every
/// scalar spelled as `serde_json` spells it (the content hash is taken of this, so it must
/// stay byte for byte what intake has always hashed).
pub fn write_canonical(node: &Node<'_>, out: &mut Vec<u8>) {
    match node {
        Node::Object(members) => {
            out.push(b'{');
            let mut order = [0u8; MAX_FAST_MEMBERS];
            for (i, &m) in sorted(members, &mut order).iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let (k, v) = &members[usize::from(m)];
                write_text(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Node::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// The positions of an object's members sorted by key (keys are unique, so an unstable sort
/// is exact), in `order`, without allocating. The tree never holds more than
/// [`MAX_FAST_MEMBERS`] members in one object.
pub fn sorted<'o>(
    members: &[(Text<'_>, Node<'_>)],
    order: &'o mut [u8; MAX_FAST_MEMBERS],
) -> &'o [u8] {
    let order = &mut order[..members.len().min(MAX_FAST_MEMBERS)];
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i as u8;
    }
    order.sort_unstable_by(|&a, &b| {
        members[usize::from(a)]
            .0
            .as_bytes()
            .cmp(members[usize::from(b)].0.as_bytes())
    });
    order
}

/// A string of the tree as JSON: one spelled without an escape in the document is copied as
/// it is ([`Text`]), one decoded from escapes is escaped as serde_json escapes.
pub fn write_text(s: &Text<'_>, out: &mut Vec<u8>) {
    if s.escaped {
        write_str(s.text, out);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.text.as_bytes());
        out.push(b'"');
    }
}

fn write_scalar(node: &Node<'_>, out: &mut Vec<u8>) {
    match *node {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(true) => out.extend_from_slice(b"true"),
        Node::Bool(false) => out.extend_from_slice(b"false"),
        Node::U64(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        Node::I64(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        // serde_json's own float spelling (`1e300`, not ryu's `1e+300`); writing to memory
        // cannot fail.
        Node::F64(f) => {
            let _ = serde_json::to_writer(&mut *out, &f);
        }
        Node::Str(ref s) => write_text(s, out),
        Node::Array(_) | Node::Object(_) => {}
    }
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes: `"` and `\`, the short
/// escapes `\b \f \n \r \t`, other control characters as `\u00xx` (lowercase hex), nothing
/// else.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    write_escaped(s, out);
    out.push(b'"');
}

/// Appends the inside of `s` as a JSON string (escaped as [`write_str`] does, no quotes).
pub fn write_escaped(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0C => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1F => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xF)],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`parse`] into an arena of its own, leaked: these are tests.
    fn parse(text: &str) -> Option<Node<'_>> {
        super::parse(text, Box::leak(Box::new(Arena::new())))
    }

    fn compact_like_serde(text: &str) {
        let node = parse(text).expect("fast path takes it");
        let value: serde_json::Value = serde_json::from_str(text).expect("json");
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            value.to_string(),
            "{text}"
        );
        // The reader's compact text of each element (or of the one value), put back together.
        let mut parts = Vec::new();
        let top = parse_each(text, |_, _, compact| {
            parts.push(compact.as_str().to_owned());
            true
        });
        let whole = match top {
            Some(Top::Array(_)) => format!("[{}]", parts.join(",")),
            _ => parts.concat(),
        };
        assert_eq!(
            whole,
            value.to_string(),
            "{text}: the reader's compact text"
        );
        let mut canonical = Vec::new();
        write_canonical(&node, &mut canonical);
        let sorted: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
        assert_eq!(
            sorted, value,
            "{text}: canonical JSON reads as the same value"
        );
    }

    #[test]
    fn writes_what_serde_json_writes() {
        for text in [
            r#"{"b":1,"a":[true,false,null,-3,1.5,1e2,2.0,1E-7,1e300,-2.5e-300,0.1,123456789012345678901234567890]}"#,
            r#"{"s":"plain","e":"esc \" \\ \/ \b\f\n\r\t \u0001 \u001f \u007f é \ud83d\ude00"}"#,
            r#"{"\u00e9\n":"key with escapes","k":-0,"f":-0.0,"big":18446744073709551615}"#,
            r#"[1, 2 ,{ "x" : [ ] , "y" : { } }]"#,
            r#""top""#,
            "12",
        ] {
            compact_like_serde(text);
        }
    }

    #[test]
    fn every_control_character_is_escaped_like_serde_json() {
        for c in (0u8..0x80).map(char::from) {
            let s = format!("a{c}b");
            let mut out = Vec::new();
            write_str(&s, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&s).unwrap()
            );
        }
    }

    #[test]
    fn canonical_sorts_keys_by_bytes() {
        let node = parse(r#"{"b":{"z":1,"é":2,"a":3},"a":[{"y":1,"x":2}],"B":0}"#).unwrap();
        let mut out = Vec::new();
        write_canonical(&node, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"B":0,"a":[{"x":2,"y":1}],"b":{"a":3,"z":1,"é":2}}"#
        );
    }

    #[test]
    fn declines_what_the_strict_parser_refuses() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1} x"#,
            "[1,]",
            "NaN",
            "1e400",
            &"[".repeat(200),
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
        let many: String = format!(
            "{{{}}}",
            (0..=MAX_FAST_MEMBERS)
                .map(|i| format!("\"k{i}\":0"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(
            parse(&many).is_none(),
            "large objects go to the strict parser"
        );
    }

    #[test]
    fn streams_top_level_arrays_and_stops_when_told() {
        let mut seen = Vec::new();
        let top = parse_each(r#"[{"a":1},{"a":2},{"a":3}]"#, |i, n, _| {
            let i = i.expect("an element");
            seen.push((i, n.get("a").and_then(Node::as_integer)));
            true
        });
        assert_eq!(top, Some(Top::Array(3)));
        assert_eq!(seen, [(0, Some(1)), (1, Some(2)), (2, Some(3))]);
        assert_eq!(parse_each("[1,2,3]", |i, _, _| i < Some(1)), None);
        let mut whole = None;
        let top = parse_each(r#"{"a":"b"}"#, |i, n, _| {
            whole = Some((i, n.get("a").and_then(Node::as_str).map(str::to_owned)));
            true
        });
        assert_eq!(top, Some(Top::One));
        assert_eq!(whole, Some((None, Some("b".to_owned()))));
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let text = r#"{"key":"value","esc":"a\nb"}"#;
        let node = parse(text).unwrap();
        let m = node.as_object().unwrap();
        let borrowed = |t: &Text<'_>| {
            !t.escaped
                && text
                    .as_bytes()
                    .as_ptr_range()
                    .contains(&t.as_str().as_ptr())
        };
        assert!(borrowed(&m[0].0));
        assert!(matches!(m[0].1, Node::Str(t) if borrowed(&t)));
        assert!(matches!(m[1].1, Node::Str(t) if t.escaped && t.as_str() == "a\nb"));
    }
}
