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
///
/// Read through a table, every digit at a place known in advance: every
/// message and receipt names two or three ids, and checking the case and
/// then parsing walked each id twice (docs/benchmarks.md, round 31).
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    // Where each byte's two digits start; the hyphens lie between.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
    if [b[8], b[13], b[18], b[23]] != [b'-'; 4] {
        return None;
    }
    let mut bytes = [0u8; 16];
    // Any digit that is not one has its high bits set here.
    let mut wrong = 0u8;
    for (byte, at) in bytes.iter_mut().zip(AT) {
        let (high, low) = (
            LOWER_HEX[usize::from(b[at])],
            LOWER_HEX[usize::from(b[at + 1])],
        );
        wrong |= high | low;
        *byte = (high << 4) | low;
    }
    (wrong < 16).then(|| Uuid::from_bytes(bytes))
}

/// A lowercase hexadecimal digit's value, or 0xff.
const LOWER_HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut c = 0;
    while c < 10 {
        table[b'0' as usize + c] = c as u8;
        c += 1;
    }
    while c < 16 {
        table[b'a' as usize + c - 10] = c as u8;
        c += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_read_as_the_uuid_crate_reads_their_lowercase_form() {
        let id = "0b7e4b9e-6a8f-4b7a-9d3c-2f1e0a9b8c7d";
        assert_eq!(parse_uuid(id), Uuid::try_parse(id).ok());
        assert!(parse_uuid(id).is_some());
        // Every one-byte change of a valid id, and a few other shapes.
        let mut inputs = vec![
            id.to_uppercase(),
            format!("{{{id}}}"),
            id.replace('-', ""),
            format!("urn:uuid:{id}"),
            String::new(),
        ];
        for at in 0..id.len() {
            for c in ['0', '9', 'a', 'f', 'g', 'A', 'F', '-', ' ', 'é'] {
                let mut s = id.to_owned();
                s.replace_range(at..at + 1, c.encode_utf8(&mut [0; 4]));
                inputs.push(s);
            }
        }
        for s in &inputs {
            let by_crate = Uuid::try_parse(s)
                .ok()
                .filter(|_| s.len() == 36 && !s.bytes().any(|b| b.is_ascii_uppercase()));
            assert_eq!(parse_uuid(s), by_crate, "{s}");
        }
    }

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
