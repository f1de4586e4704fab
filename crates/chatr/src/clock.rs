//! Wall-clock timestamps in the contract's format: ISO-8601 UTC, milliseconds, `Z`.

use time::{OffsetDateTime, format_description::FormatItem, macros::format_description};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The current time as the contract writes it, e.g. `2026-02-20T12:00:00.000Z`.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Every message and receipt stamps a time, so the common case is written
/// digit by digit: `time`'s general formatter walks its format description
/// for each one, several times the cost (docs/benchmarks.md, round 13).
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return by_description(t);
    }
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (at..at + digits).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year.unsigned_abs(), 4);
    put(5, u8::from(t.month()).into(), 2);
    put(8, t.day().into(), 2);
    put(11, t.hour().into(), 2);
    put(14, t.minute().into(), 2);
    put(17, t.second().into(), 2);
    put(20, t.millisecond().into(), 3);
    // Digits and ASCII punctuation: always valid UTF-8, copied at once
    // rather than pushed a character at a time.
    String::from_utf8_lossy(&out).into_owned()
}

fn by_description(t: OffsetDateTime) -> String {
    t.format(FORMAT)
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
    fn the_quick_format_writes_what_the_format_description_does() {
        // Milliseconds from 1970 to the end of 9999.
        const SPAN: i64 = 253_402_300_800_000;
        let mut x = 1u64;
        // A spread of years and milliseconds, and every field's carries.
        for step in 0..100_000i64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let spread = ((x >> 11) % SPAN as u64) as i64;
            for ms in [spread, step * 86_399_999, step * 999] {
                let t = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms);
                assert_eq!(format(t), by_description(t), "{t}");
            }
        }
        let offset = time::macros::offset!(+5:30);
        let local = OffsetDateTime::UNIX_EPOCH.to_offset(offset);
        assert_eq!(format(local), "1970-01-01T00:00:00.000Z");
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
