//! Reading fields out of untrusted JSON. Every failure is an `Error::Invalid`
//! that names the field, so HTTP bodies and Socket.IO payloads report bad input
//! the same way and nothing downstream ever sees a half-valid value.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A JSON object received from a client.
pub struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub fn of(value: &'a Value) -> Result<Self> {
        value
            .as_object()
            .map(Fields)
            .ok_or_else(|| Error::invalid("payload must be a JSON object"))
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &'static str) -> Result<&'a str> {
        match self.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(Error::invalid_field(
                name,
                format!("{name} must be a string"),
            )),
            None => Err(Error::invalid_field(name, format!("{name} is required"))),
        }
    }

    pub fn opt_str(&self, name: &'static str) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::invalid_field(
                name,
                format!("{name} must be a string"),
            )),
        }
    }

    /// An optional id: absent or null is `None`; anything else must be a UUID.
    pub fn opt_uuid(&self, name: &'static str) -> Result<Option<Uuid>> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => parse_uuid(s)
                .map(Some)
                .ok_or_else(|| Error::invalid_field(name, format!("{name} must be a UUID"))),
        }
    }

    pub fn uuid(&self, name: &'static str) -> Result<Uuid> {
        parse_uuid(self.str(name)?)
            .ok_or_else(|| Error::invalid_field(name, format!("{name} must be a UUID")))
    }
}

/// Accepts only the canonical lowercase hyphenated form the contract uses, so
/// that an id always has exactly one spelling in the database.
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Uuid::try_parse(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_objects_are_refused() {
        for v in [json!(null), json!("x"), json!([1]), json!(3)] {
            assert!(Fields::of(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn wrong_types_and_missing_fields_name_the_field() {
        let v = json!({ "a": 1 });
        let f = Fields::of(&v).ok();
        let f = f.as_ref().map(|f| (f.str("a").err(), f.str("b").err()));
        let msgs = f.map(|(a, b)| (a.map(|e| e.to_string()), b.map(|e| e.to_string())));
        assert_eq!(
            msgs,
            Some((
                Some("a must be a string".into()),
                Some("b is required".into())
            ))
        );
    }

    #[test]
    fn only_canonical_uuids_are_accepted() {
        assert!(parse_uuid("0b7e4b9e-6a8f-4b7a-9d3c-2f1e0a9b8c7d").is_some());
        assert!(parse_uuid("0B7E4B9E-6A8F-4B7A-9D3C-2F1E0A9B8C7D").is_none());
        assert!(parse_uuid("0b7e4b9e6a8f4b7a9d3c2f1e0a9b8c7d").is_none());
        assert!(parse_uuid("../etc/passwd").is_none());
    }
}
