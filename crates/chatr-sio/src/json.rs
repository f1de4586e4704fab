//! Reading the JSON clients usually send without a general parser: flat
//! objects of plain strings. Each reader answers only for text it is sure
//! of, and `None` for anything else, even valid JSON; the caller then reads
//! that with serde_json, and so gets serde's answer either way.
//!
//! The engine locates an event's arguments with it (most events carry one
//! such object), and an application may read its payloads the same way.
//! serde_json's general machinery was most of the cost of reading a small
//! event, a few hundred bytes at most (docs/benchmarks.md in the Chatr
//! repository, round 31).

/// A value [`flat_object`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plain<'a> {
    /// A string with nothing to unescape, without its quotes.
    Str(&'a str),
    Null,
    Bool(bool),
}

/// Past JSON's white space from `i`.
pub fn skip_space(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The string that starts at `i`, and where it ends (past its closing
/// quote); `None` unless one starts there with no escape and no control
/// character in it (which JSON forbids raw).
pub fn plain_string(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let end = i + 1 + stop(&b[i + 1..])?;
    // `"` is ASCII, so both ends are on character boundaries.
    (b[end] == b'"').then(|| (&text[i + 1..end], end + 1))
}

/// The object that starts at `i`, if it is flat: `{`, then pairs of a
/// plain string and a plain string, `null`, `true` or `false`, with white
/// space between. Each pair goes to `each`, in order, which refuses the
/// object by answering `None`. Where the object ends (past its `}`).
pub fn flat_object<'a>(
    text: &'a str,
    i: usize,
    mut each: impl FnMut(&'a str, Plain<'a>) -> Option<()>,
) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut i = skip_space(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        let (key, after) = plain_string(text, i)?;
        i = skip_space(b, after);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_space(b, i + 1);
        let rest = &b[i..];
        let value = if rest.starts_with(b"null") {
            i += 4;
            Plain::Null
        } else if rest.starts_with(b"true") {
            i += 4;
            Plain::Bool(true)
        } else if rest.starts_with(b"false") {
            i += 5;
            Plain::Bool(false)
        } else {
            let (value, after) = plain_string(text, i)?;
            i = after;
            Plain::Str(value)
        };
        each(key, value)?;
        i = skip_space(b, i);
        match b.get(i) {
            Some(b',') => i = skip_space(b, i + 1),
            Some(b'}') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Where the first `"`, `\` or control character of `b` is. Eight bytes at
/// a time, as serde_json looks for the end of a string: a byte at a time
/// cost more than serde's reading of a whole payload.
fn stop(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `v` below `n`: exact up to the first such
    // byte, which is the one wanted (a borrow only disturbs bytes above it).
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let hits = below(v ^ (ONES * u64::from(b'"')), 1)
            | below(v ^ (ONES * u64::from(b'\\')), 1)
            | below(v, 0x20);
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_stops_where_a_byte_at_a_time_says() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        let mut x = 11u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let len = (x >> 58) as usize;
            // Mostly harmless bytes (some next to the stops: ! # [ ] \x1f
            // \x20 \x7f \x80 \xff), now and then a stop.
            let b: Vec<u8> = (0..len)
                .map(|k| {
                    let r = (x >> (k % 48)) as u8 ^ (k as u8).wrapping_mul(37);
                    [
                        b'a', b'!', b'#', b'[', b']', 0x1f, 0x20, 0x7f, 0x80, 0xff, b'"', b'\\', 0,
                    ][usize::from(r) % if r & 0xe0 == 0 { 13 } else { 10 }]
                })
                .collect();
            assert_eq!(stop(&b), naive(&b), "{b:?}");
        }
    }

    #[test]
    fn flat_objects_give_their_pairs_in_order() {
        let text = r#"x{ "a" : "b" ,"c":null,"d":true, "e":false,"f":"é"} "#;
        let mut pairs = Vec::new();
        let end = flat_object(text, 1, |k, v| {
            pairs.push((k, v));
            Some(())
        });
        assert_eq!(end, Some(text.len() - 1));
        assert_eq!(
            pairs,
            [
                ("a", Plain::Str("b")),
                ("c", Plain::Null),
                ("d", Plain::Bool(true)),
                ("e", Plain::Bool(false)),
                ("f", Plain::Str("é")),
            ]
        );
        assert_eq!(flat_object("{}", 0, |_, _| None), Some(2));
        assert_eq!(flat_object(r#"{"a":1}"#, 0, |_, _| Some(())), None);
        assert_eq!(flat_object(r#"{"a":"b"}"#, 0, |_, _| None), None);
        for not_flat in [
            r#"{"a":{}}"#,
            r#"{"a":"\n"}"#,
            r#"{"a" "b"}"#,
            r#"{"a":"b",}"#,
            r#"{"a":"b""#,
            "{",
        ] {
            assert_eq!(
                flat_object(not_flat, 0, |_, _| Some(())),
                None,
                "{not_flat}"
            );
        }
    }
}
