//! WebSocket framing (RFC 6455), the server's side of it, written here rather
//! than taken from tungstenite for memory: an idle connection holds no read
//! or write buffer at all (reads go through a buffer on the stack, and only a
//! frame split across reads is carried on the heap), and the carry of a large
//! frame is freed as soon as the frame is consumed, where tungstenite keeps
//! its grown read buffer for the life of the connection. No extensions are
//! negotiated (permessage-deflate is declined by not answering it).

use sha1::{Digest, Sha1};

/// What one complete message (or control frame) from the client is.
#[derive(Debug, PartialEq, Eq)]
pub enum WsMessage<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
    /// A ping to answer with a pong carrying the same bytes.
    Ping(&'a [u8]),
    Pong,
    Close,
}

/// Why the connection must close, with the close code to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsError {
    /// 1002: the bytes break the framing rules.
    Protocol(&'static str),
    /// 1009: a message over the configured limit.
    TooBig,
    /// 1007: a text message that is not UTF-8.
    BadUtf8,
}

impl WsError {
    pub fn close_code(self) -> u16 {
        match self {
            Self::Protocol(_) => 1002,
            Self::TooBig => 1009,
            Self::BadUtf8 => 1007,
        }
    }
}

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Carried bytes are released once the frame that needed them is consumed
/// and their buffer has grown beyond this.
const KEEP_CARRY: usize = 4096;

struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    header_len: usize,
    len: usize,
}

/// Reads a frame header from the start of `buf`; `None` when more bytes are needed.
fn header(buf: &[u8], max: usize) -> Result<Option<Header>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol("reserved bits set"));
    }
    if b1 & 0x80 == 0 {
        return Err(WsError::Protocol("client frames must be masked"));
    }
    let opcode = b0 & 0x0F;
    let fin = b0 & 0x80 != 0;
    let (len, at) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode >= 0x8 && (!fin || len > 125) {
        return Err(WsError::Protocol("control frames are short and whole"));
    }
    if len > max as u64 {
        return Err(WsError::TooBig);
    }
    if buf.len() < at + 4 {
        return Ok(None);
    }
    let mut mask = [0u8; 4];
    mask.copy_from_slice(&buf[at..at + 4]);
    Ok(Some(Header {
        fin,
        opcode,
        mask,
        header_len: at + 4,
        len: len as usize,
    }))
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// Turns the bytes read from a connection into messages.
pub struct Decoder {
    max: usize,
    /// The start of a frame that has not arrived whole yet.
    carry: Vec<u8>,
    /// A fragmented message being assembled: its opcode and its bytes so far.
    assembling: Option<(u8, Vec<u8>)>,
}

/// What [`Decoder::feed`] stopped at.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    /// Everything complete was handed over; the rest waits for more bytes.
    NeedMore,
    /// The consumer asked to pause; call `feed` again (with no new bytes) later.
    Paused,
}

impl Decoder {
    /// `max`: the largest message accepted, in bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            carry: Vec::new(),
            assembling: None,
        }
    }

    /// Whether bytes of an unfinished frame are held.
    pub fn has_carry(&self) -> bool {
        !self.carry.is_empty()
    }

    /// Hands every complete message in what was carried plus `input` to `on`,
    /// in order, until `on` returns false (pause). Incomplete bytes are kept.
    pub fn feed(
        &mut self,
        input: &mut [u8],
        on: &mut dyn FnMut(WsMessage<'_>) -> bool,
    ) -> Result<Fed, WsError> {
        let mut carry = std::mem::take(&mut self.carry);
        let (fed, need) = if carry.is_empty() {
            let (used, fed, need) = self.parse(input, on)?;
            carry.extend_from_slice(&input[used..]);
            (fed, need)
        } else {
            carry.extend_from_slice(input);
            let (used, fed, need) = self.parse(&mut carry, on)?;
            carry.drain(..used);
            (fed, need)
        };
        if !carry.is_empty() {
            // A large frame's buffer goes once the frame is consumed; the next
            // incomplete frame gets room for exactly itself.
            if carry.capacity() > KEEP_CARRY.max(need) {
                carry.shrink_to(need.max(carry.len()));
            }
            carry.reserve_exact(need.saturating_sub(carry.len()));
            self.carry = carry;
        }
        Ok(fed)
    }

    /// Parses whole frames from `buf`: how many bytes were consumed, why it
    /// stopped, and the size of the incomplete frame it stopped at (0 if unknown).
    fn parse(
        &mut self,
        buf: &mut [u8],
        on: &mut dyn FnMut(WsMessage<'_>) -> bool,
    ) -> Result<(usize, Fed, usize), WsError> {
        let mut pos = 0;
        loop {
            let Some(h) = header(&buf[pos..], self.max)? else {
                return Ok((pos, Fed::NeedMore, 0));
            };
            let total = h.header_len + h.len;
            if buf.len() - pos < total {
                return Ok((pos, Fed::NeedMore, total));
            }
            let payload = &mut buf[pos + h.header_len..pos + total];
            unmask(payload, h.mask);
            pos += total;
            if !self.frame(h.fin, h.opcode, payload, on)? {
                return Ok((pos, Fed::Paused, 0));
            }
        }
    }

    /// One whole frame: a message, a part of one, or a control frame.
    fn frame(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: &[u8],
        on: &mut dyn FnMut(WsMessage<'_>) -> bool,
    ) -> Result<bool, WsError> {
        match opcode {
            OP_PING => Ok(on(WsMessage::Ping(payload))),
            OP_PONG => Ok(on(WsMessage::Pong)),
            OP_CLOSE => Ok(on(WsMessage::Close)),
            OP_TEXT | OP_BINARY if self.assembling.is_some() => {
                Err(WsError::Protocol("a new message inside a fragmented one"))
            }
            OP_TEXT | OP_BINARY if fin => Self::message(opcode, payload, on),
            OP_TEXT | OP_BINARY => {
                self.assembling = Some((opcode, payload.to_vec()));
                Ok(true)
            }
            OP_CONTINUATION => {
                let Some((first, mut bytes)) = self.assembling.take() else {
                    return Err(WsError::Protocol("a continuation of nothing"));
                };
                if bytes.len() + payload.len() > self.max {
                    return Err(WsError::TooBig);
                }
                bytes.extend_from_slice(payload);
                if fin {
                    Self::message(first, &bytes, on)
                } else {
                    self.assembling = Some((first, bytes));
                    Ok(true)
                }
            }
            _ => Err(WsError::Protocol("unknown opcode")),
        }
    }

    fn message(
        opcode: u8,
        bytes: &[u8],
        on: &mut dyn FnMut(WsMessage<'_>) -> bool,
    ) -> Result<bool, WsError> {
        if opcode == OP_TEXT {
            let text = std::str::from_utf8(bytes).map_err(|_| WsError::BadUtf8)?;
            Ok(on(WsMessage::Text(text)))
        } else {
            Ok(on(WsMessage::Binary(bytes)))
        }
    }
}

/// Appends one unmasked server frame.
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// A close frame with its code.
pub fn encode_close(out: &mut Vec<u8>, code: u16) {
    encode(out, OP_CLOSE, &code.to_be_bytes());
}

/// The `Sec-WebSocket-Accept` answer to a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    use base64::Engine as _;
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn collect(d: &mut Decoder, input: &[u8]) -> Result<Vec<String>, WsError> {
        let mut got = Vec::new();
        let mut bytes = input.to_vec();
        d.feed(&mut bytes, &mut |m| {
            got.push(match m {
                WsMessage::Text(t) => format!("text:{t}"),
                WsMessage::Binary(b) => format!("bin:{b:?}"),
                WsMessage::Ping(p) => format!("ping:{p:?}"),
                WsMessage::Pong => "pong".into(),
                WsMessage::Close => "close".into(),
            });
            true
        })?;
        Ok(got)
    }

    #[test]
    fn the_rfc_example_of_a_masked_hello_decodes() {
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            collect(&mut Decoder::new(100), &frame),
            Ok(vec!["text:Hello".into()])
        );
    }

    #[test]
    fn frames_split_across_reads_are_carried_and_then_released() {
        let big = "x".repeat(70_000);
        let mut all = masked(OP_TEXT, true, big.as_bytes());
        all.extend(masked(OP_BINARY, true, &[1, 2, 3]));
        let mut d = Decoder::new(100_000);
        let mut got = Vec::new();
        for chunk in all.chunks(4096) {
            got.extend(collect(&mut d, chunk).expect("valid frames"));
        }
        assert_eq!(got, vec![format!("text:{big}"), "bin:[1, 2, 3]".into()]);
        assert!(!d.has_carry());
        assert!(d.carry.capacity() <= KEEP_CARRY, "{}", d.carry.capacity());
    }

    #[test]
    fn fragments_are_assembled_around_control_frames() {
        let mut input = masked(OP_TEXT, false, b"Hel");
        input.extend(masked(OP_PING, true, b"p"));
        input.extend(masked(OP_CONTINUATION, true, b"lo"));
        assert_eq!(
            collect(&mut Decoder::new(100), &input),
            Ok(vec!["ping:[112]".into(), "text:Hello".into()])
        );
    }

    #[test]
    fn oversize_unmasked_and_malformed_frames_are_refused() {
        assert_eq!(
            collect(&mut Decoder::new(10), &masked(OP_TEXT, true, &[b'a'; 11])),
            Err(WsError::TooBig)
        );
        // The limit is checked from the header alone, before any payload arrives.
        let header_only = &masked(OP_BINARY, true, &vec![0; 2_000_000])[..14];
        assert_eq!(
            collect(&mut Decoder::new(1_000_000), header_only),
            Err(WsError::TooBig)
        );
        assert!(matches!(
            collect(&mut Decoder::new(10), &[0x81, 0x01, b'a']),
            Err(WsError::Protocol(_))
        ));
        assert!(matches!(
            collect(&mut Decoder::new(10), &masked(OP_CONTINUATION, true, b"a")),
            Err(WsError::Protocol(_))
        ));
        assert_eq!(
            collect(&mut Decoder::new(10), &masked(OP_TEXT, true, &[0xff, 0xfe])),
            Err(WsError::BadUtf8)
        );
        let mut fragmented = masked(OP_TEXT, false, b"123456");
        fragmented.extend(masked(OP_CONTINUATION, true, b"78901"));
        assert_eq!(
            collect(&mut Decoder::new(10), &fragmented),
            Err(WsError::TooBig)
        );
    }

    #[test]
    fn a_paused_consumer_gets_the_rest_on_the_next_feed() {
        let mut input = masked(OP_TEXT, true, b"a");
        input.extend(masked(OP_TEXT, true, b"b"));
        let mut d = Decoder::new(10);
        let mut got = Vec::new();
        let fed = d.feed(&mut input, &mut |m| {
            got.push(format!("{m:?}"));
            false
        });
        assert_eq!(fed, Ok(Fed::Paused));
        let fed = d.feed(&mut [], &mut |m| {
            got.push(format!("{m:?}"));
            true
        });
        assert_eq!(fed, Ok(Fed::NeedMore));
        assert_eq!(got, vec!["Text(\"a\")", "Text(\"b\")"]);
    }

    #[test]
    fn server_frames_use_the_shortest_length() {
        let mut out = Vec::new();
        encode(&mut out, OP_TEXT, b"hi");
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        out.clear();
        encode(&mut out, OP_BINARY, &[0; 300]);
        assert_eq!(&out[..4], &[0x82, 126, 1, 44]);
    }

    #[test]
    fn the_accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
