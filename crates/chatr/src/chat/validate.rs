//! The contract's rules for user-supplied account data and message content.

use crate::error::{Error, Result};

pub const MAX_CONTENT_CHARS: usize = 10_000;
pub const MAX_CLIENT_MESSAGE_ID_CHARS: usize = 64;

pub fn username(s: &str) -> Result<()> {
    let ok =
        (3..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(()).ok_or_else(|| {
        Error::invalid_field(
            "username",
            "username must be 3-20 characters: letters, digits, underscore",
        )
    })
}

pub fn email(s: &str) -> Result<()> {
    let invalid = || Error::invalid_field("email", "a valid email address is required");
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(invalid());
    }
    Ok(())
}

pub fn password(s: &str) -> Result<()> {
    let long_enough = (8..=1024).contains(&s.chars().count());
    let has_upper = s.chars().any(|c| c.is_uppercase());
    let has_digit_or_special = s.chars().any(|c| !c.is_alphabetic());
    if long_enough && has_upper && has_digit_or_special {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "password",
            "password needs at least 8 characters, an uppercase letter and a digit or special character",
        ))
    }
}

/// Characters that take no room when shown: zero-width spaces and joiners,
/// the byte-order mark, directional marks and isolates, variation selectors.
/// A message or a file name made only of them would look empty, and
/// directional overrides can make `report\u{202e}gpj.exe` read "reportexe.jpg".
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061c}'
            | '\u{feff}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{180e}'
    )
}

/// Trims the content and checks its length (in characters, as users count
/// them); content with nothing visible in it is empty.
pub fn content(s: &str) -> Result<&str> {
    let trimmed = s.trim();
    let n = trimmed.chars().count();
    if n == 0
        || n > MAX_CONTENT_CHARS
        || trimmed
            .chars()
            .all(|c| is_invisible(c) || c.is_whitespace())
    {
        return Err(Error::invalid_field(
            "content",
            "content must be 1-10,000 characters after trimming",
        ));
    }
    Ok(trimmed)
}

pub fn client_message_id(s: &str) -> Result<&str> {
    let n = s.chars().count();
    if n == 0 || n > MAX_CLIENT_MESSAGE_ID_CHARS {
        return Err(Error::invalid_field(
            "clientMessageId",
            "clientMessageId must be 1-64 characters",
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("bob_42").is_ok());
        for bad in ["ab", "a".repeat(21).as_str(), "bob smith", "bób", "bob-1"] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(email("a@b.co").is_ok());
        for bad in ["a@b", "@b.co", "a b@c.de", "a@@b.co", "a@b..co", "plain"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("Secret123").is_ok());
        assert!(password("Secret!!").is_ok());
        for bad in ["Short1", "alllower1", "NoDigitsHere"] {
            assert!(password(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_is_trimmed_and_bounded() {
        assert_eq!(content("  hi  ").ok(), Some("hi"));
        assert!(content("   ").is_err());
        assert!(content(&"x".repeat(10_000)).is_ok());
        assert!(content(&"x".repeat(10_001)).is_err());
        assert!(
            content(&"é".repeat(10_000)).is_ok(),
            "counted in characters, not bytes"
        );
        assert!(
            content("\u{200b}\u{200d} \u{feff}").is_err(),
            "nothing visible"
        );
        assert!(content("a\u{200d}b").is_ok());
    }
}
