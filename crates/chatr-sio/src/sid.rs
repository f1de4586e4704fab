//! Session and socket ids: 16 random bytes, written as 22 base64url characters.
//! An Engine.IO session id authorises every long-polling request of its
//! session, so it comes from a cryptographic generator.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 16]);

impl Sid {
    /// A fresh random id (uuid's v4 generator: a ChaCha-based CSPRNG, no
    /// system call per id).
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().into_bytes())
    }

    /// The id written as [`Display`](fmt::Display) writes it; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 22 {
            return None;
        }
        let mut out = [0u8; 18];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
            Ok(16) => {
                let mut id = [0u8; 16];
                id.copy_from_slice(&out[..16]);
                Some(Self(id))
            }
            _ => None,
        }
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A stable 64-bit digest for sharding.
    pub(crate) fn shard(self, shards: usize) -> usize {
        let mut x = [0u8; 8];
        x.copy_from_slice(&self.0[..8]);
        (u64::from_le_bytes(x) % shards as u64) as usize
    }
}

impl Default for Sid {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 24];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text() {
        let id = Sid::new();
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(Sid::parse(&text), Some(id));
        assert_ne!(Sid::new(), id);
    }

    #[test]
    fn other_text_is_no_id() {
        for bad in [
            "",
            "abc",
            "../../etc/passwd",
            &"A".repeat(23),
            "!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(Sid::parse(bad), None, "{bad}");
        }
    }
}
