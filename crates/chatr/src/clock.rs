//! Wall-clock timestamps in the contract's format: ISO-8601 UTC, milliseconds, `Z`.

use time::{OffsetDateTime, format_description::FormatItem, macros::format_description};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The current time as the contract writes it, e.g. `2026-02-20T12:00:00.000Z`.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000Z"))
}

/// Reads a timestamp (as [`now`] writes it, or any RFC 3339 one).
pub fn parse(input: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(input, &time::format_description::well_known::Rfc3339).ok()
}

/// Parses any RFC 3339 timestamp and re-renders it in the contract's format,
/// so that it compares correctly with stored timestamps.
pub fn normalize(input: &str) -> Option<String> {
    OffsetDateTime::parse(input, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_millisecond_precision_and_a_z_suffix() {
        let t = now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
    }

    #[test]
    fn normalize_converts_offsets_to_utc() {
        assert_eq!(
            normalize("2026-02-20T13:00:00+01:00").as_deref(),
            Some("2026-02-20T12:00:00.000Z")
        );
        assert_eq!(normalize("not a time"), None);
    }
}
