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
