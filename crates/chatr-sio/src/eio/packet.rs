//! Engine.IO v4 packets: a type digit and its data in a text frame, raw bytes
//! in a binary frame; HTTP long-polling joins packets with the record
//! separator `\x1e` and carries binary ones as `b` + base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

/// One packet from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Close,
    /// `2probe` during an upgrade (clients send no other ping in v4).
    Ping(&'a str),
    Pong,
    Text(&'a str),
    Binary(&'a [u8]),
    Upgrade,
    Noop,
}

/// A packet that breaks the protocol; the session it came on is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Reads one text packet.
pub fn decode_text(text: &str) -> Result<Incoming<'_>, Malformed> {
    let mut chars = text.char_indices();
    let Some((_, kind)) = chars.next() else {
        return Err(Malformed);
    };
    let data = &text[kind.len_utf8()..];
    Ok(match kind {
        '1' => Incoming::Close,
        '2' => Incoming::Ping(data),
        '3' => Incoming::Pong,
        '4' => Incoming::Text(data),
        '5' => Incoming::Upgrade,
        '6' => Incoming::Noop,
        _ => return Err(Malformed),
    })
}

/// One packet of a long-polling POST body: text, or `b` + base64.
pub enum Polled<'a> {
    Packet(Incoming<'a>),
    Binary(Vec<u8>),
}

/// Splits a long-polling POST body into its packets.
pub fn decode_payload(body: &str) -> impl Iterator<Item = Result<Polled<'_>, Malformed>> {
    body.split('\u{1e}')
        .map(|packet| match packet.strip_prefix('b') {
            Some(b64) => STANDARD
                .decode(b64)
                .map(Polled::Binary)
                .map_err(|_| Malformed),
            None => decode_text(packet).map(Polled::Packet),
        })
}

/// A frame waiting to go to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole text packet, type digit included (`2`, `42[...]`).
    Text(Bytes),
    /// An Engine.IO binary message.
    Binary(Bytes),
}

impl Frame {
    pub const PING: Frame = Frame::Text(Bytes::from_static(b"2"));
    pub const NOOP: Frame = Frame::Text(Bytes::from_static(b"6"));
    pub const CLOSE: Frame = Frame::Text(Bytes::from_static(b"1"));
    pub const PROBE_ANSWER: Frame = Frame::Text(Bytes::from_static(b"3probe"));

    pub fn len(&self) -> usize {
        match self {
            Self::Text(b) | Self::Binary(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Appends frames to a long-polling response body.
pub fn encode_payload(out: &mut Vec<u8>, frames: impl IntoIterator<Item = Frame>) {
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(0x1e);
        }
        match frame {
            Frame::Text(text) => out.extend_from_slice(&text),
            Frame::Binary(bytes) => {
                out.push(b'b');
                let start = out.len();
                out.resize(start + bytes.len().div_ceil(3) * 4, 0);
                let written = STANDARD
                    .encode_slice(&bytes, &mut out[start..])
                    .unwrap_or(0);
                out.truncate(start + written);
            }
        }
    }
}

/// The open packet: `0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`.
pub fn open(
    sid: &str,
    upgrades: bool,
    ping_interval: u128,
    ping_timeout: u128,
    max_payload: usize,
) -> Bytes {
    let upgrades = if upgrades { r#"["websocket"]"# } else { "[]" };
    Bytes::from(format!(
        r#"0{{"sid":"{sid}","upgrades":{upgrades},"pingInterval":{ping_interval},"pingTimeout":{ping_timeout},"maxPayload":{max_payload}}}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_packets_decode_by_their_type_digit() {
        assert_eq!(decode_text("4hello"), Ok(Incoming::Text("hello")));
        assert_eq!(decode_text("2probe"), Ok(Incoming::Ping("probe")));
        assert_eq!(decode_text("3"), Ok(Incoming::Pong));
        assert_eq!(decode_text("5"), Ok(Incoming::Upgrade));
        for bad in ["", "abc", "7", "é"] {
            assert_eq!(decode_text(bad), Err(Malformed), "{bad}");
        }
    }

    #[test]
    fn polling_payloads_split_and_carry_binary_as_base64() {
        let got: Vec<_> = decode_payload("4hello\u{1e}bAQIDBA==")
            .map(|p| match p {
                Ok(Polled::Packet(Incoming::Text(t))) => format!("text {t}"),
                Ok(Polled::Binary(b)) => format!("bin {b:?}"),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(got, ["text hello", "bin [1, 2, 3, 4]"]);
        assert!(decode_payload("b!!").all(|p| p.is_err()));
        let mut out = Vec::new();
        encode_payload(
            &mut out,
            [
                Frame::Text(Bytes::from_static(b"4hello")),
                Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            ],
        );
        assert_eq!(out, b"4hello\x1ebAQIDBA==");
    }
}
