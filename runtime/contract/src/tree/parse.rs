//! The fast path's own JSON reader: text → [`Node`] in one pass over the bytes.
//!
//! serde_json's deserializer, driven through serde's visitor traits, cost about a third of
//! intake (dispatch per value, a `Vec` grown by doubling per container). This reader walks
//! the bytes directly and sizes every container exactly, from a stack it reuses.
//!
//! It may only ever be stricter than serde_json, never more lenient or different: it reads
//! the common shapes itself (structure, `true`/`false`/`null`, strings without escapes,
//! short integers) and hands serde_json the rest, token by token (a string with an escape,
//! a fraction, an exponent, a long integer, `-0`), so every value it produces is the one
//! serde_json would. Anything else — any syntax error, a raw control character in a
//! string, a duplicate key, an object of more than [`MAX_FAST_MEMBERS`] members, nesting
//! deeper than [`MAX_FAST_DEPTH`], a spent budget — is declined (`None`), and the strict
//! parser then says what is wrong. The tests hold it to serde_json on crafted and
//! generated documents, and the `json_strict` fuzz property on every input.

use super::{Compact, MAX_FAST_MEMBERS, Node, Text, Top};
use crate::json::{MAX_CONTAINERS, MAX_VALUES};
use bumpalo::Bump;
use bumpalo::collections::Vec as ArenaVec;

/// Deepest nesting read here (serde_json's limit is 128): events are shallow, and deeper
/// documents go to the strict parser, which bounds them and explains.
pub const MAX_FAST_DEPTH: usize = 64;

/// An arena block big enough for a typical event's tree (about 3 KB for a 1 KB event).
const ARENA_START: usize = 8 * 1024;

/// Why a document is declined; the reason is not kept (the strict parser explains).
struct Declined;

type Read<T> = Result<T, Declined>;

/// The position in the text and the budgets: everything that outlives one element.
pub(super) struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    depth: usize,
    /// The same allowances as the strict parser's, spent on keys as well as values, so that
    /// the fast path declines whatever the strict parser would refuse for size.
    values: usize,
    containers: usize,
    /// The value being read, as compact JSON: serde_json's serialisation of it, written
    /// token by token as it is read (white space dropped, plain strings and short integers
    /// copied as they are spelled, which is how serde_json spells them).
    compact: String,
    /// Where serde_json's spelling of a re-read token is written first.
    spelled: Vec<u8>,
}

/// Where one element's tree is built: its arena, and the elements and members of the
/// containers still open (each container copies its own off the top, into a slice of
/// exactly its size, when it closes).
struct Build<'a> {
    arena: &'a Bump,
    items: ArenaVec<'a, Node<'a>>,
    members: ArenaVec<'a, (Text<'a>, Node<'a>)>,
}

impl<'a> Build<'a> {
    fn new(arena: &'a Bump) -> Self {
        Self {
            arena,
            items: ArenaVec::with_capacity_in(32, arena),
            members: ArenaVec::with_capacity_in(32, arena),
        }
    }
}

impl<'t> Reader<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            values: MAX_VALUES,
            containers: MAX_CONTAINERS,
            compact: String::with_capacity(2048),
            spelled: Vec::new(),
        }
    }

    /// The whole document as one value, built in `arena`.
    pub(super) fn document<'a>(mut self, arena: &'a Bump) -> Option<Node<'a>>
    where
        't: 'a,
    {
        let node = self.value(&mut Build::new(arena)).ok()?;
        self.end().ok()?;
        Some(node)
    }

    /// The whole document, a top-level array's elements (or the one other value) handed to
    /// `each` one by one with their compact text, each built in the arena the one before it
    /// used.
    pub(super) fn document_each(
        mut self,
        each: &mut impl FnMut(Option<usize>, Node<'_>, Compact<'_>) -> bool,
    ) -> Option<Top> {
        let mut arena = Bump::with_capacity(ARENA_START);
        self.skip_ws();
        let top = if self.peek() == Some(b'[') {
            self.pos += 1;
            self.enter().ok()?;
            let mut n = 0;
            self.skip_ws();
            if self.peek() == Some(b']') {
                self.pos += 1;
            } else {
                loop {
                    self.compact.clear();
                    let more = {
                        let v = self.value(&mut Build::new(&arena)).ok()?;
                        each(Some(n), v, Compact(&self.compact))
                    };
                    if !more {
                        return None;
                    }
                    arena.reset();
                    n += 1;
                    if !self.after_element(b']').ok()? {
                        break;
                    }
                }
            }
            self.depth -= 1;
            Top::Array(n)
        } else {
            self.compact.clear();
            let v = self.value(&mut Build::new(&arena)).ok()?;
            if !each(None, v, Compact(&self.compact)) {
                return None;
            }
            Top::One
        };
        self.end().ok()?;
        Some(top)
    }

    /// Nothing but white space may follow the top-level value.
    fn end(&mut self) -> Read<()> {
        self.skip_ws();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(Declined)
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// JSON's four white-space bytes, exactly (serde_json's set).
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn spend_value(&mut self) -> Read<()> {
        self.values = self.values.checked_sub(1).ok_or(Declined)?;
        Ok(())
    }

    /// Opens an array or object: a value and a container spent, one level deeper.
    fn enter(&mut self) -> Read<()> {
        self.spend_value()?;
        self.containers = self.containers.checked_sub(1).ok_or(Declined)?;
        self.depth += 1;
        if self.depth > MAX_FAST_DEPTH {
            return Err(Declined);
        }
        Ok(())
    }

    /// After an element or member: `,` (another follows: `true`) or `close` (`false`),
    /// written to the compact text, except the top-level array's own separators and end,
    /// which belong to no element's text.
    fn after_element(&mut self, close: u8) -> Read<bool> {
        self.skip_ws();
        let another = match self.peek() {
            Some(b',') => true,
            Some(b) if b == close => false,
            _ => return Err(Declined),
        };
        self.pos += 1;
        if self.depth > 1 || close != b']' {
            self.compact.push(char::from(self.bytes[self.pos - 1]));
        }
        Ok(another)
    }

    fn value<'a>(&mut self, b: &mut Build<'a>) -> Read<Node<'a>>
    where
        't: 'a,
    {
        self.skip_ws();
        match self.peek().ok_or(Declined)? {
            b'{' => {
                self.pos += 1;
                self.compact.push('{');
                self.object(b)
            }
            b'[' => {
                self.pos += 1;
                self.compact.push('[');
                self.array(b)
            }
            b'"' => {
                self.spend_value()?;
                Ok(Node::Str(self.string(b.arena)?))
            }
            b't' => self.literal("true", Node::Bool(true)),
            b'f' => self.literal("false", Node::Bool(false)),
            b'n' => self.literal("null", Node::Null),
            b'-' | b'0'..=b'9' => {
                self.spend_value()?;
                self.number()
            }
            _ => Err(Declined),
        }
    }

    fn literal<'a>(&mut self, word: &str, node: Node<'a>) -> Read<Node<'a>> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            self.spend_value()?;
            self.compact.push_str(word);
            Ok(node)
        } else {
            Err(Declined)
        }
    }

    // `array` and `object` share their shape on purpose: one loop for both, taking a closure
    // per element, measured 3–5% slower over the whole of intake (2026-12-08).
    fn array<'a>(&mut self, b: &mut Build<'a>) -> Read<Node<'a>>
    where
        't: 'a,
    {
        self.enter()?;
        let base = b.items.len();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.compact.push(']');
        } else {
            loop {
                let v = self.value(b)?;
                b.items.push(v);
                if !self.after_element(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let items = b.arena.alloc_slice_copy(&b.items[base..]);
        b.items.truncate(base);
        Ok(Node::Array(items))
    }

    fn object<'a>(&mut self, b: &mut Build<'a>) -> Read<Node<'a>>
    where
        't: 'a,
    {
        self.enter()?;
        let base = b.members.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.compact.push('}');
        } else {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(Declined);
                }
                let key = self.string(b.arena)?;
                self.spend_value()?;
                let mine = &b.members[base..];
                if mine.len() == MAX_FAST_MEMBERS || mine.iter().any(|(k, _)| *k == key) {
                    return Err(Declined);
                }
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(Declined);
                }
                self.pos += 1;
                self.compact.push(':');
                let v = self.value(b)?;
                b.members.push((key, v));
                if !self.after_element(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let members = b.arena.alloc_slice_copy(&b.members[base..]);
        b.members.truncate(base);
        Ok(Node::Object(members))
    }

    /// A string token, at its opening quote. Without an escape it is borrowed from the
    /// text as it is; with one, serde_json decodes the token (surrogates, `\u` spellings)
    /// into the arena. A raw control character is declined: JSON forbids it and serde_json
    /// refuses it.
    fn string<'a>(&mut self, arena: &'a Bump) -> Read<Text<'a>>
    where
        't: 'a,
    {
        let start = self.pos;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            match *self.bytes.get(i).ok_or(Declined)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    // The escaped byte is skipped whatever it is: serde_json judges it.
                    i += 2;
                }
                0x00..=0x1F => return Err(Declined),
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        // The quotes are ASCII, so both ends are on character boundaries.
        let token = self.text.get(start..=i).ok_or(Declined)?;
        if escaped {
            let decoded = serde_json::from_str::<String>(token).map_err(|_| Declined)?;
            self.spelled.clear();
            super::write_str(&decoded, &mut self.spelled);
            self.push_spelled()?;
            Ok(Text {
                text: arena.alloc_str(&decoded),
                escaped: true,
            })
        } else {
            self.compact.push_str(token);
            Ok(Text::plain(&token[1..token.len() - 1]))
        }
    }

    /// A number token. Integers of up to 18 digits (the common case) are read here; any
    /// other spelling that JSON's grammar allows is read by serde_json from the token alone,
    /// so it gets serde_json's own value (`-0` and overlong integers as floats, its float
    /// conversion), and whatever the grammar refuses is declined.
    fn number<'a>(&mut self) -> Read<Node<'a>> {
        let start = self.pos;
        let negative = self.bytes[start] == b'-';
        let digits_start = start + usize::from(negative);
        let mut i = digits_start;
        let mut n: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.bytes.get(i) {
            n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            i += 1;
        }
        let digits = i - digits_start;
        let leading_zero = digits > 1 && self.bytes[digits_start] == b'0';
        if digits == 0 || leading_zero {
            return Err(Declined);
        }
        let simple = digits <= 18 && !matches!(self.bytes.get(i), Some(b'.' | b'e' | b'E'));
        if simple && !(negative && n == 0) {
            self.pos = i;
            // Without a leading zero, the digits as written are how serde_json spells them.
            self.compact.push_str(&self.text[start..i]);
            return Ok(if negative {
                // At most 18 digits: well inside i64.
                Node::I64(-(n as i64))
            } else {
                Node::U64(n)
            });
        }
        // The rest of the token: fraction and exponent, by JSON's grammar.
        if self.bytes.get(i) == Some(&b'.') {
            i = self.digits(i + 1)?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = self.bytes.get(i) {
                i += 1;
            }
            i = self.digits(i)?;
        }
        self.pos = i;
        let token = self.text.get(start..i).ok_or(Declined)?;
        let number: serde_json::Number = serde_json::from_str(token).map_err(|_| Declined)?;
        let node = if let Some(u) = number.as_u64() {
            Node::U64(u)
        } else if let Some(s) = number.as_i64() {
            Node::I64(s)
        } else {
            Node::F64(number.as_f64().ok_or(Declined)?)
        };
        self.spelled.clear();
        super::write_scalar(&node, &mut self.spelled);
        self.push_spelled()?;
        Ok(node)
    }

    /// The end of the run of digits at `from`, which must hold at least one.
    fn digits(&self, from: usize) -> Read<usize> {
        let mut i = from;
        while let Some(b'0'..=b'9') = self.bytes.get(i) {
            i += 1;
        }
        if i == from { Err(Declined) } else { Ok(i) }
    }

    /// Appends what [`Self::spelled`] holds (written by the tree's own writers: UTF-8).
    fn push_spelled(&mut self) -> Read<()> {
        let text = std::str::from_utf8(&self.spelled).map_err(|_| Declined)?;
        self.compact.push_str(text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, parse_each};
    use super::*;

    /// The reader's verdict on `text` against serde_json's (through the strict parser, as
    /// intake's full path reads it): declining is always allowed; accepting is allowed only
    /// where serde_json accepts, and then with the very same value (serialised alike, so a
    /// `U64` is not an `F64`), and `parse_each` reads the same.
    fn agrees_with_serde_json(text: &str) -> bool {
        let strict = crate::json::parse(text.as_bytes(), usize::MAX);
        let arena = super::super::Arena::new();
        let Some(node) = parse(text, &arena) else {
            return false;
        };
        let value = strict.unwrap_or_else(|e| panic!("accepted {text:?}, which is refused: {e}"));
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            value.to_string(),
            "{text:?}"
        );
        // parse_each hands over the same values (compared as text: its trees are gone
        // once handed over).
        let mut elements = Vec::new();
        let top = parse_each(text, |i, n, compact| {
            let serialised = serde_json::to_string(&n).unwrap();
            assert_eq!(compact.as_str(), serialised, "{text:?}: the compact text");
            elements.push((i, serialised));
            true
        });
        match (&node, top) {
            (Node::Array(items), Some(Top::Array(n))) => {
                assert_eq!(n, items.len(), "{text:?}");
                for (k, (i, e)) in elements.iter().enumerate() {
                    assert_eq!(*i, Some(k), "{text:?}");
                    assert_eq!(*e, serde_json::to_string(&items[k]).unwrap(), "{text:?}");
                }
            }
            (_, Some(Top::One)) => {
                assert_eq!(elements, [(None, serde_json::to_string(&node).unwrap())]);
            }
            (_, top) => panic!("{text:?}: parse read {node:?}, parse_each {top:?}"),
        }
        true
    }

    #[test]
    fn reads_every_token_as_serde_json_does() {
        let accepted = [
            "0",
            "-1",
            "7",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "12345678901234567890",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "-0",
            "-0.0",
            "0.0",
            "1.5",
            "-2.5e-3",
            "1e2",
            "1E+2",
            "1e-2",
            "2.0",
            "1e308",
            "5e-324",
            "1e-400",
            "0.1",
            "3.141592653589793",
            r#""""#,
            r#""plain""#,
            r#""é ü 😀""#,
            r#""\"\\\/\b\f\n\r\t""#,
            r#""\u0000\u001f""#,
            r#""\ud83d\ude00""#,
            r#""a\u00e9b""#,
            "true",
            "false",
            "null",
            "[]",
            "{}",
            " [ 1 , { \"a\" : [ ] } ] ",
            "\t\n\r{\"k\":null}\n",
            r#"{"a":{"b":{"c":[1,[2,[3]]]}}}"#,
            r#"{"\u0061":1,"b":2}"#,
            r#"[1,2,3]"#,
            r#"{"a":"x","ab":"y","":"z"}"#,
        ];
        for text in accepted {
            assert!(agrees_with_serde_json(text), "declined {text:?}");
        }
        // Declined: refused by serde_json, or left to the strict parser on purpose.
        let declined = [
            "",
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "1.5.2",
            "0x10",
            "1e400",
            "-1e400",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "True",
            r#""unterminated"#,
            r#""\x""#,
            r#""\u12""#,
            r#""\ud800""#,
            "\"tab\there\"",
            "\"nl\nhere\"",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{,}",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"\u0061":1,"a":2}"#,
            "[1] [2]",
            "{} x",
            "\u{feff}{}",
            "[1]]",
            "{\"a\":[}",
            "1 2",
            "[\"a\\",
        ];
        for text in declined {
            assert!(!agrees_with_serde_json(text), "accepted {text:?}");
        }
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_FAST_DEPTH + 1),
            "]".repeat(MAX_FAST_DEPTH + 1)
        );
        assert!(!agrees_with_serde_json(&deep), "deeper than the fast depth");
        let shallow = format!(
            "{}{}",
            "[".repeat(MAX_FAST_DEPTH),
            "]".repeat(MAX_FAST_DEPTH)
        );
        assert!(agrees_with_serde_json(&shallow));
    }

    /// Every document made by cutting, repeating and splicing the bytes of some valid ones
    /// (a few hundred thousand, deterministic): never accepted unless serde_json accepts
    /// it, and then read identically.
    #[test]
    fn mutated_documents_agree_with_serde_json() {
        let seeds: &[&[u8]] = &[
            br#"{"eventId":"e-1","type":"order.placed","occurredAt":"2026-11-27T10:15:00.125+01:00","data":{"amountMinor":-45980,"rate":1.5e-3,"items":[{"sku":"A\u00e9\n","q":1},{"sku":"B","q":18446744073709551616}],"ok":true,"none":null}}"#,
            br#"[ {"a" : [ 1 , -0 , 2.50 , "x\"y" ] } , {"b":{}} , [] ]"#,
        ];
        let tokens: &[&[u8]] = &[
            b"\"",
            b"\\",
            b",",
            b":",
            b"[",
            b"]",
            b"{",
            b"}",
            b"-",
            b"0",
            b"1",
            b".",
            b"e",
            b"+",
            b" ",
            b"\n",
            b"\x01",
            b"\\u",
            b"d83d",
            b"true",
            b"null",
            "é".as_bytes(),
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let (mut accepted, mut total) = (0, 0);
        for _ in 0..200_000 {
            let mut doc = seeds[next(seeds.len())].to_vec();
            for _ in 0..1 + next(3) {
                let at = next(doc.len() + 1);
                match next(3) {
                    0 if at < doc.len() => {
                        doc.remove(at);
                    }
                    1 => {
                        let t = tokens[next(tokens.len())];
                        doc.splice(at..at, t.iter().copied());
                    }
                    _ => {
                        let to = (at + next(8)).min(doc.len());
                        let piece = doc[at..to].to_vec();
                        doc.splice(at..at, piece);
                    }
                }
            }
            if let Ok(text) = std::str::from_utf8(&doc) {
                total += 1;
                accepted += usize::from(agrees_with_serde_json(text));
            }
        }
        // The mutations must reach both verdicts often, or the test proves little.
        assert!(
            accepted > total / 50 && accepted < total,
            "{accepted} of {total} accepted"
        );
    }
}
