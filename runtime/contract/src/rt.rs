//! Hand-written runtime types that generated code refers to (see `REPLACEMENTS` in
//! `xtask/src/types_gen.rs`). Not generated; small on purpose.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An RFC 3339 date-time with an explicit offset, kept exactly as written.
///
/// Equality and ordering are on the text; use [`OccurredAt::instant`] to compare instants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OccurredAt {
    text: String,
    instant: DateTime<FixedOffset>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not an RFC 3339 date-time with an offset, like 2026-11-27T09:30:00Z or 2026-11-27T10:30:00.250+01:00"
)]
pub struct InvalidTimestamp(pub String);

impl OccurredAt {
    pub fn instant(&self) -> DateTime<FixedOffset> {
        self.instant
    }
    pub fn utc(&self) -> DateTime<Utc> {
        self.instant.with_timezone(&Utc)
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::str::FromStr for OccurredAt {
    type Err = InvalidTimestamp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The schema's pattern: upper-case `T`, `Z` or `±hh:mm`. chrono alone would also take
        // `t`, a space or `z`, which the published schema rejects.
        let b = s.as_bytes();
        let well_formed = b.len() >= 20
            && b.get(10) == Some(&b'T')
            && !s.ends_with('z')
            && s.bytes()
                .all(|c| c.is_ascii_digit() || b"-:.+TZ".contains(&c));
        if !well_formed {
            return Err(InvalidTimestamp(s.to_string()));
        }
        let instant =
            DateTime::parse_from_rfc3339(s).map_err(|_| InvalidTimestamp(s.to_string()))?;
        Ok(Self {
            text: s.to_string(),
            instant,
        })
    }
}

impl TryFrom<&str> for OccurredAt {
    type Error = InvalidTimestamp;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for OccurredAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for OccurredAt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for OccurredAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_text_and_parses_the_instant() {
        let t: OccurredAt = "2026-11-27T10:30:00.250+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-27T10:30:00.250+01:00");
        assert_eq!(t.utc().to_rfc3339(), "2026-11-27T09:30:00.250+00:00");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-27T10:30:00.250+01:00\"");
        assert_eq!(serde_json::from_str::<OccurredAt>(&json).unwrap(), t);
    }

    #[test]
    fn rejects_what_the_schema_rejects() {
        for bad in [
            "2026-11-27t10:30:00Z",
            "2026-11-27 10:30:00Z",
            "2026-11-27T10:30:00z",
            "2026-11-27T10:30:00",
            "2026-11-27",
            "2026-13-27T10:30:00Z",
            "2026-02-30T10:30:00Z",
            "",
        ] {
            assert!(bad.parse::<OccurredAt>().is_err(), "{bad}");
        }
    }
}

/// One event as JSON text, exactly as the table holds it: validated at intake, then moved
/// from the table to a response or an export without being parsed again (a page of 50
/// events is written out as the stored text by [`crate::json_out`]; see ARCHITECTURE.md,
/// "Events pass through as text").
///
/// Owned, not shared: each event is read from the table once per page and moved into the
/// response; an `Arc` cost every row a second allocation and a copy of its text, for clones
/// nothing on a hot path makes. Equality is on the text. Serialises as the JSON it holds,
/// not as a string: copied by [`crate::json_out`], checked (through serde_json's `RawValue`)
/// by any other serializer.
#[derive(Clone)]
pub struct EventJson(Box<str>);

impl EventJson {
    /// Checks that `text` is one JSON value (syntax only; the schema was checked at intake).
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(Self::from_raw)
    }

    /// Text that EventPulse itself stored (the table's copy of what intake wrote), taken as
    /// it is: re-parsing it on every read cost 9% of a page. The one check is that it still
    /// reads as an object (`{` … `}`, no surrounding space, as intake writes it), which
    /// catches a truncated or emptied value; `None` otherwise.
    pub fn from_stored(text: String) -> Option<Self> {
        let b = text.as_bytes();
        (b.len() >= 2 && b[0] == b'{' && b[b.len() - 1] == b'}').then(|| Self(text.into()))
    }

    /// Text already known to be one JSON value (`serde_json::value::to_raw_value` wrote it).
    pub fn from_raw(raw: Box<serde_json::value::RawValue>) -> Self {
        Self(raw.into())
    }

    /// The compact JSON text intake's reader wrote of an event (`tree::Compact`: serde_json's
    /// bytes), copied once at its size.
    pub fn from_compact(text: crate::tree::Compact<'_>) -> Self {
        Self(text.as_str().into())
    }

    /// The compact JSON of `value`, keys in their order.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self::from_raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The event as a JSON value (for code that inspects it; the hot paths do not).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }
}

impl PartialEq for EventJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for EventJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for EventJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if crate::json_out::active() {
            s.serialize_newtype_struct(crate::json_out::RAW_TEXT, self.as_str())
        } else {
            serde_json::value::RawValue::from_string(self.as_str().to_owned())
                .map_err(serde::ser::Error::custom)?
                .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for EventJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(d).map(Self::from_raw)
    }
}

#[cfg(test)]
mod event_json_tests {
    use super::EventJson;
    use serde_json::json;

    #[test]
    fn stored_text_must_still_read_as_an_object() {
        assert!(EventJson::from_stored(r#"{"a":1}"#.into()).is_some());
        for bad in ["", "{", "}", r#"{"a":1"#, r#" {"a":1}"#, "[1]", "null"] {
            assert!(EventJson::from_stored(bad.into()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn passes_through_as_json_text() {
        let e = EventJson::from_text(r#"{"b":1,"a":[2.0,"x"]}"#.into()).unwrap();
        // Written as the JSON it holds, inside other JSON, spelling kept (`2.0`, key order).
        let page = serde_json::to_string(&json!({"items": [{"event": e.clone()}]})).unwrap();
        assert_eq!(page, r#"{"items":[{"event":{"b":1,"a":[2.0,"x"]}}]}"#);
        let direct = serde_json::to_string(&vec![e.clone()]).unwrap();
        assert_eq!(direct, r#"[{"b":1,"a":[2.0,"x"]}]"#);
        let back: Vec<EventJson> = serde_json::from_str(&direct).unwrap();
        assert_eq!(back, vec![e.clone()]);
        assert_eq!(e.to_value().unwrap(), json!({"b": 1, "a": [2.0, "x"]}));
        assert_eq!(
            EventJson::from_value(&json!({"b": 1, "a": [2.0]}))
                .unwrap()
                .as_str(),
            r#"{"b":1,"a":[2.0]}"#
        );
    }

    #[test]
    fn refuses_what_is_not_one_json_value() {
        for bad in ["", "{", r#"{"a":1} x"#, "nope"] {
            assert!(EventJson::from_text(bad.into()).is_err(), "{bad:?}");
        }
    }
}
