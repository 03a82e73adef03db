//! A compact JSON writer for responses: serde_json's output, except that an [`EventJson`]
//! is copied into it as the text it holds.
//!
//! Why not serde_json: it can write raw JSON only through its `RawValue`, and a `RawValue`
//! can be made only by parsing its text or by serialising into it; so a page of 50 stored
//! events was parsed again on every read, only to be copied out unchanged (9% of the server's
//! CPU per page, perf of the `local` bench's queries, 2026-12-07). The text was checked
//! against the schema when it was stored, and only EventPulse writes the table.
//!
//! The output is byte for byte what `serde_json::to_vec` writes for the same value (the unit
//! tests compare the two on every response type and on hostile strings); numbers are
//! formatted by serde_json's own formatter. [`EventJson`] tells this writer from any other
//! serializer by a flag this module sets while it writes, so under any other serializer it
//! still serialises as the JSON it holds (checked, through serde_json's `RawValue`).
//!
//! [`EventJson`]: crate::EventJson

use serde::ser::{self, Impossible, Serialize};
use serde_json::ser::{CompactFormatter, Formatter};
use std::cell::Cell;
use std::fmt::{self, Write as _};

/// The newtype-struct name [`EventJson`](crate::EventJson) serialises its text under when
/// this writer is active: the text is copied as it is.
pub(crate) const RAW_TEXT: &str = "$eventpulse::EventJson";

thread_local! {
    /// Set while [`to_vec`] runs on this thread (serialisation is synchronous, so nothing
    /// else runs on the thread meanwhile).
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the serializer now running on this thread is this module's.
pub(crate) fn active() -> bool {
    ACTIVE.with(Cell::get)
}

/// Why a value does not serialise: only maps with keys that are not strings or integers
/// (JSON keys are strings) and serialisers' own custom errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Appends the compact JSON of `value` to `out`. On error `out` holds a partial document.
pub fn write<T: ?Sized + Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ACTIVE.with(|a| a.set(self.0));
        }
    }
    let _reset = Reset(ACTIVE.with(|a| a.replace(true)));
    value.serialize(&mut Writer {
        out,
        raw_next: false,
    })
}

/// The compact JSON of `value`.
pub fn to_vec<T: ?Sized + Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128);
    write(&mut out, value)?;
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// The next string is an `EventJson`'s text: copy it as it is.
    raw_next: bool,
}

// Strings are escaped as serde_json escapes them by the tree's writer (one implementation).
use crate::tree::{write_escaped as escape, write_str};

/// `Display` output escaped as it is written (chrono's timestamps, for one), with no
/// intermediate `String`.
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(s, self.0);
        Ok(())
    }
}

// The formatter writes into a `Vec`, which cannot fail.
fn fmt_io(r: std::io::Result<()>) -> Result<(), Error> {
    r.map_err(|e| Error(e.to_string()))
}

macro_rules! integers {
    ($($method:ident $ty:ty => $write:ident),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<(), Error> {
            fmt_io(CompactFormatter.$write(self.out, v))
        })*
    };
}

impl<'a, 'b> ser::Serializer for &'b mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    integers! {
        serialize_i8 i8 => write_i8, serialize_i16 i16 => write_i16,
        serialize_i32 i32 => write_i32, serialize_i64 i64 => write_i64,
        serialize_i128 i128 => write_i128,
        serialize_u8 u8 => write_u8, serialize_u16 u16 => write_u16,
        serialize_u32 u32 => write_u32, serialize_u64 u64 => write_u64,
        serialize_u128 u128 => write_u128,
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if v.is_finite() {
            fmt_io(CompactFormatter.write_f32(self.out, v))
        } else {
            self.serialize_unit()
        }
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if v.is_finite() {
            fmt_io(CompactFormatter.write_f64(self.out, v))
        } else {
            self.serialize_unit()
        }
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(v.encode_utf8(&mut [0; 4]), self.out);
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        if std::mem::take(&mut self.raw_next) {
            self.out.extend_from_slice(v.as_bytes());
        } else {
            write_str(v, self.out);
        }
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // As serde_json: an array of numbers.
        use ser::SerializeSeq as _;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.raw_next = name == RAW_TEXT;
        let written = value.serialize(&mut *self);
        self.raw_next = false;
        written
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(variant, self.out);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            w: self,
            first: true,
            close: b"]",
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        write_str(variant, self.out);
        self.out.extend_from_slice(b":[");
        Ok(Compound {
            w: self,
            first: true,
            close: b"]}",
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            w: self,
            first: true,
            close: b"}",
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a, 'b>, Error> {
        // Names starting with `$` are serializers' private protocols (serde_json's
        // `RawValue` is one): written as a plain struct they would be wrong output, so fail.
        if name.starts_with('$') {
            return Err(Error(format!(
                "{name} is another serializer's private type"
            )));
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        write_str(variant, self.out);
        self.out.extend_from_slice(b":{");
        Ok(Compound {
            w: self,
            first: true,
            close: b"}}",
        })
    }

    fn collect_str<T: ?Sized + fmt::Display>(self, value: &T) -> Result<(), Error> {
        self.out.push(b'"');
        write!(Escaping(self.out), "{value}").map_err(|e| Error(e.to_string()))?;
        self.out.push(b'"');
        Ok(())
    }
}

struct Compound<'a, 'b> {
    w: &'b mut Writer<'a>,
    first: bool,
    close: &'static [u8],
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.w.out.push(b',');
        }
    }

    fn value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.w)
    }

    fn field<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.comma();
        write_str(key, self.w.out);
        self.w.out.push(b':');
        value.serialize(&mut *self.w)
    }

    fn close(self) -> Result<(), Error> {
        self.w.out.extend_from_slice(self.close);
        Ok(())
    }
}

macro_rules! sequence {
    ($($trait:ident $method:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
                self.value(value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        })*
    };
}

sequence!(SerializeSeq serialize_element, SerializeTuple serialize_element,
    SerializeTupleStruct serialize_field, SerializeTupleVariant serialize_field);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(MapKey(self.w.out))
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.w.out.push(b':');
        value.serialize(&mut *self.w)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

/// A map key: a string, or an integer, a bool or a char written as one (as serde_json does).
struct MapKey<'a>(&'a mut Vec<u8>);

fn key_must_be_a_string() -> Error {
    Error("key must be a string".into())
}

macro_rules! integer_keys {
    ($($method:ident $ty:ty => $write:ident),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<(), Error> {
            self.0.push(b'"');
            fmt_io(CompactFormatter.$write(self.0, v))?;
            self.0.push(b'"');
            Ok(())
        })*
    };
}

macro_rules! refused_keys {
    ($($method:ident($($arg:ident: $ty:ty)?)),* $(,)?) => {
        $(fn $method(self $(, $arg: $ty)?) -> Result<(), Error> {
            Err(key_must_be_a_string())
        })*
    };
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(v, self.0);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.serialize_str(if v { "true" } else { "false" })
    }

    integer_keys! {
        serialize_i8 i8 => write_i8, serialize_i16 i16 => write_i16,
        serialize_i32 i32 => write_i32, serialize_i64 i64 => write_i64,
        serialize_i128 i128 => write_i128,
        serialize_u8 u8 => write_u8, serialize_u16 u16 => write_u16,
        serialize_u32 u32 => write_u32, serialize_u64 u64 => write_u64,
        serialize_u128 u128 => write_u128,
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn collect_str<T: ?Sized + fmt::Display>(self, value: &T) -> Result<(), Error> {
        self.0.push(b'"');
        write!(Escaping(self.0), "{value}").map_err(|e| Error(e.to_string()))?;
        self.0.push(b'"');
        Ok(())
    }

    refused_keys! {
        serialize_f32(_v: f32), serialize_f64(_v: f64), serialize_bytes(_v: &[u8]),
        serialize_none(), serialize_unit(), serialize_unit_struct(_name: &'static str),
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    // The byte-for-byte comparisons with serde_json are in tests/json_out.rs.
    use super::{to_vec, write};
    use crate::EventJson;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    #[test]
    fn refuses_keys_json_cannot_have() {
        let mut m = BTreeMap::new();
        m.insert(vec![1u8], 1);
        assert!(to_vec(&m).is_err());
        assert!(serde_json::to_vec(&m).is_err());
    }

    #[test]
    fn copies_event_text_as_it_is_and_serde_json_agrees() {
        // Key order, number spelling and escapes as stored, which a parse and re-serialise
        // (`Value`) would not keep.
        let text = r#"{"b":1.50,"a":[2E3,"\u00e9\n"],"c":{}}"#;
        let e = EventJson::from_stored(text.into()).expect("an object");
        let page = json!({"items": [1]});
        let mut out = Vec::new();
        write(&mut out, &(&e, &page, "after")).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            format!(r#"[{text},{{"items":[1]}},"after"]"#)
        );
        // Under serde_json (exports, tests) the same text, checked on the way.
        assert_eq!(serde_json::to_string(&e).expect("serde_json"), text);
        let back: Value = serde_json::from_slice(&to_vec(&vec![e]).expect("ours")).expect("JSON");
        assert_eq!(back[0]["a"][1], "é\n");
    }

    #[test]
    fn refuses_serde_json_raw_values_instead_of_mangling_them() {
        let raw = serde_json::value::RawValue::from_string("{}".into()).expect("raw");
        assert!(to_vec(&raw).is_err());
    }

    #[test]
    fn is_off_again_after_it_returns() {
        let e = EventJson::from_stored(r#"{"a":1}"#.into()).expect("an object");
        to_vec(&e).expect("ours");
        assert!(!super::active());
        assert_eq!(serde_json::to_string(&e).expect("serde_json"), r#"{"a":1}"#);
    }
}
