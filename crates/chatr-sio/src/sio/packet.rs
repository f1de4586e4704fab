//! Socket.IO v5 packets inside Engine.IO messages:
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`.

use std::io::Write as _;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

/// A packet the client sent, borrowing its text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    pub kind: Kind,
    pub attachments: usize,
    pub nsp: &'a str,
    pub id: Option<u64>,
    pub data: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Reads the packet header; the data is checked by the caller for its kind.
pub(crate) fn parse(text: &str, max_attachments: usize) -> Result<Parsed<'_>, Malformed> {
    let bytes = text.as_bytes();
    let kind = match bytes.first() {
        Some(b'0') => Kind::Connect,
        Some(b'1') => Kind::Disconnect,
        Some(b'2') => Kind::Event,
        Some(b'3') => Kind::Ack,
        Some(b'4') => Kind::ConnectError,
        Some(b'5') => Kind::BinaryEvent,
        Some(b'6') => Kind::BinaryAck,
        _ => return Err(Malformed),
    };
    let mut i = 1;
    let mut attachments = 0;
    if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 4 || bytes.get(i) != Some(&b'-') {
            return Err(Malformed);
        }
        attachments = text[start..i].parse().map_err(|_| Malformed)?;
        if attachments == 0 || attachments > max_attachments {
            return Err(Malformed);
        }
        i += 1;
    }
    let mut nsp = "/";
    if bytes.get(i) == Some(&b'/') {
        let start = i;
        while i < bytes.len() && bytes[i] != b',' {
            i += 1;
        }
        nsp = &text[start..i];
        if i < bytes.len() {
            i += 1;
        }
    }
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let id = if i > start {
        // Ids above 2^53 do not survive a JavaScript client anyway.
        Some(
            text[start..i]
                .parse::<u64>()
                .ok()
                .filter(|n| *n < (1 << 53))
                .ok_or(Malformed)?,
        )
    } else {
        None
    };
    Ok(Parsed {
        kind,
        attachments,
        nsp,
        id,
        data: &text[i..],
    })
}

/// An event's arguments as the client sent them: the JSON array, the
/// event's name, and where each further argument lies in the text.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct EventArgs {
    pub text: String,
    pub name: String,
    pub args: Box<[(u32, u32)]>,
}

/// Event names the reference parser refuses: they are the library's own.
const RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Checks that `data` is a JSON array whose first item names the event,
/// and locates the further items: by hand for the usual shape, by serde
/// for everything else.
pub(crate) fn event_args(data: &str) -> Result<EventArgs, Malformed> {
    flat_event(data).map_or_else(|| event_args_by_serde(data), Ok)
}

/// What clients nearly always send, read by hand: `["name"]` or
/// `["name",{…}]` with a plain name and a flat object (`crate::json`), and
/// no white space outside the object. `None` for anything else, which
/// serde then reads: where this answers, its answer is serde's (a unit
/// test holds it to that).
fn flat_event(data: &str) -> Option<EventArgs> {
    let b = data.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let (name, after) = json::plain_string(data, 1)?;
    if RESERVED.contains(&name) {
        return None;
    }
    let (args, close) = match b.get(after) {
        Some(b']') => (Vec::new(), after),
        Some(b',') => {
            let end = json::flat_object(data, after + 1, |_, _| Some(()))?;
            (vec![(after as u32 + 1, end as u32)], end)
        }
        _ => return None,
    };
    (b.get(close) == Some(&b']') && close + 1 == b.len()).then(|| EventArgs {
        text: data.to_owned(),
        name: name.to_owned(),
        args: args.into_boxed_slice(),
    })
}

/// For the fuzz harness: where the hand reading answers, serde's reading
/// is the same.
pub(crate) fn hand_reading_agrees(data: &str) -> bool {
    flat_event(data).is_none_or(|by_hand| {
        event_args_by_serde(data).is_ok_and(|by_serde| {
            (by_hand.text, by_hand.name, by_hand.args)
                == (by_serde.text, by_serde.name, by_serde.args)
        })
    })
}

/// One pass: the name is read as it is met and each further argument only
/// located (and checked) where it lies, with no list of them built first
/// and no name read twice; a chat message's events are small, so these
/// fixed costs were most of an event's parse (docs/benchmarks.md, round 23).
fn event_args_by_serde(data: &str) -> Result<EventArgs, Malformed> {
    let mut de = serde_json::Deserializer::from_str(data);
    let (name, args) = serde::Deserializer::deserialize_seq(&mut de, Items { text: data })
        .map_err(|_| Malformed)?;
    de.end().map_err(|_| Malformed)?;
    Ok(EventArgs {
        text: data.to_owned(),
        name,
        args: args.into_boxed_slice(),
    })
}

/// Reads an event's array: its name, and where each further item lies in `text`.
struct Items<'a> {
    text: &'a str,
}

impl<'de> serde::de::Visitor<'de> for Items<'de> {
    type Value = (String, Vec<(u32, u32)>);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array whose first item names the event")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Name(name) = seq
            .next_element()?
            .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
        if RESERVED.contains(&name.as_str()) {
            return Err(serde::de::Error::custom("a reserved event name"));
        }
        let base = self.text.as_ptr() as usize;
        let mut args = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            let start = raw.get().as_ptr() as usize - base;
            args.push((start as u32, (start + raw.get().len()) as u32));
        }
        Ok((name, args))
    }
}

/// An event's name: a string, or a number as the reference parser prints it.
struct Name(String);

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Name;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a number")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(Name(v.to_owned()))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Name, E> {
                Ok(Name(serde_json::Number::from(v).to_string()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Name, E> {
                Ok(Name(serde_json::Number::from(v).to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Name, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| Name(n.to_string()))
                    .ok_or_else(|| E::custom("not a finite number"))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `true` when `data` is a JSON array (the arguments of an ack).
pub(crate) fn is_array(data: &str) -> bool {
    serde_json::from_str::<Vec<&RawValue>>(data).is_ok()
}

/// The text of an outgoing packet, Engine.IO message type included.
fn header(out: &mut Vec<u8>, kind: Kind, attachments: usize, nsp: &str, id: Option<u64>) {
    out.push(b'4');
    out.push(b'0' + kind as u8);
    if attachments > 0 {
        let _ = write!(out, "{attachments}-");
    }
    if nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        let _ = write!(out, "{id}");
    }
}

/// `42[/nsp,]["event",…args]`, `args` being the arguments' JSON joined by commas.
pub(crate) fn event_raw(nsp: &str, event: &str, args: &str, attachments: usize) -> Bytes {
    let kind = if attachments > 0 {
        Kind::BinaryEvent
    } else {
        Kind::Event
    };
    let mut out = Vec::with_capacity(8 + nsp.len() + event.len() + args.len());
    header(&mut out, kind, attachments, nsp, None);
    out.push(b'[');
    let _ = serde_json::to_writer(&mut out, event);
    if !args.is_empty() {
        out.push(b',');
        out.extend_from_slice(args.as_bytes());
    }
    out.push(b']');
    Bytes::from(out)
}

/// `42[/nsp,]["event",data]`: one argument, serialised once.
/// Room for a typical event or ack with an object in it, so that encoding
/// it grows the buffer once or not at all (a chat message is ~500 bytes).
const SERIALISED: usize = 640;

pub(crate) fn event<T: Serialize + ?Sized>(
    nsp: &str,
    event: &str,
    data: &T,
) -> Result<Bytes, serde_json::Error> {
    let mut out = Vec::with_capacity(SERIALISED);
    header(&mut out, Kind::Event, 0, nsp, None);
    out.push(b'[');
    serde_json::to_writer(&mut out, event)?;
    out.push(b',');
    serde_json::to_writer(&mut out, data)?;
    out.push(b']');
    Ok(Bytes::from(out))
}

/// `43[/nsp,]<id>[…args]`.
pub(crate) fn ack_raw(nsp: &str, id: u64, args: &str, attachments: usize) -> Bytes {
    let kind = if attachments > 0 {
        Kind::BinaryAck
    } else {
        Kind::Ack
    };
    let mut out = Vec::with_capacity(8 + nsp.len() + args.len());
    header(&mut out, kind, attachments, nsp, Some(id));
    out.push(b'[');
    out.extend_from_slice(args.as_bytes());
    out.push(b']');
    Bytes::from(out)
}

pub(crate) fn ack<T: Serialize + ?Sized>(
    nsp: &str,
    id: u64,
    data: &T,
) -> Result<Bytes, serde_json::Error> {
    let mut out = Vec::with_capacity(SERIALISED);
    header(&mut out, Kind::Ack, 0, nsp, Some(id));
    out.push(b'[');
    serde_json::to_writer(&mut out, data)?;
    out.push(b']');
    Ok(Bytes::from(out))
}

/// `40[/nsp,]{"sid":…[,"pid":…]}`.
pub(crate) fn connected(nsp: &str, sid: &str, pid: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(64);
    header(&mut out, Kind::Connect, 0, nsp, None);
    let _ = match pid {
        Some(pid) => write!(out, r#"{{"sid":"{sid}","pid":"{pid}"}}"#),
        None => write!(out, r#"{{"sid":"{sid}"}}"#),
    };
    Bytes::from(out)
}

/// `44[/nsp,]{"message":…[,"data":…]}`.
pub(crate) fn connect_error(nsp: &str, message: &str, data: Option<&serde_json::Value>) -> Bytes {
    #[derive(Serialize)]
    struct Body<'a> {
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a serde_json::Value>,
    }
    let mut out = Vec::with_capacity(64);
    header(&mut out, Kind::ConnectError, 0, nsp, None);
    let _ = serde_json::to_writer(&mut out, &Body { message, data });
    Bytes::from(out)
}

/// `41[/nsp,]`.
pub(crate) fn disconnect(nsp: &str) -> Bytes {
    let mut out = Vec::with_capacity(8 + nsp.len());
    header(&mut out, Kind::Disconnect, 0, nsp, None);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_as_the_reference_parser_reads_them() {
        let p = parse(r#"2["a",1]"#, 4).expect("event");
        assert_eq!(
            (p.kind, p.nsp, p.id, p.data),
            (Kind::Event, "/", None, r#"["a",1]"#)
        );
        let p = parse(r#"2/custom,17["a"]"#, 4).expect("namespaced with an ack id");
        assert_eq!((p.nsp, p.id, p.data), ("/custom", Some(17), r#"["a"]"#));
        let p = parse("0/random", 4).expect("a namespace without a comma");
        assert_eq!(p.nsp, "/random");
        let p = parse(r#"52-789["m",{"_placeholder":true,"num":0}]"#, 4).expect("binary");
        assert_eq!(
            (p.kind, p.attachments, p.id),
            (Kind::BinaryEvent, 2, Some(789))
        );
        for bad in [
            "",
            "abc",
            "7",
            "5-[]",
            "59-[]",
            "50-[]",
            "2999999999999999999[]",
        ] {
            assert_eq!(parse(bad, 4), Err(Malformed), "{bad}");
        }
    }

    #[test]
    fn the_hand_reading_of_an_event_answers_only_as_serde_does() {
        let names = [
            r#""message:send""#,
            r#""a\"b""#,
            r#""connect""#,
            "5",
            r#""""#,
            r#""é""#,
        ];
        let args = [
            "",
            ",{}",
            r#",{"a":"b","c":null,"d":true}"#,
            r#", {"a":"b"}"#,
            r#",{"a":"b"} "#,
            r#",{ "a" : "b" }"#,
            ",1",
            r#",{"a":1}"#,
            r#",{"a":"b"},{"c":"d"}"#,
            r#",{"a":"\n"}"#,
            r#",{"a":"b""#,
            ",{",
            r#",{"a":"b",}"#,
            ",[]",
        ];
        let ends = ["]", "] ", "", "]]", "]x"];
        let mut answered = 0;
        for n in names {
            for a in args {
                for e in ends {
                    for start in ["[", " ["] {
                        let data = format!("{start}{n}{a}{e}");
                        if let Some(by_hand) = flat_event(&data) {
                            answered += 1;
                            assert_eq!(Ok(by_hand), event_args_by_serde(&data), "{data}");
                        }
                    }
                }
            }
        }
        assert!(answered >= 10, "only {answered} read by hand");
        let by_hand = flat_event(r#"["message:send",{"content":"hi","to":null}]"#);
        assert_eq!(by_hand.map(|e| e.args), Some(Box::from([(16, 42)])));
    }

    #[test]
    fn event_arguments_are_located_in_the_text() {
        let e = event_args(r#"["message",1,"2",{"3":[true]}]"#).expect("an event");
        assert_eq!(e.name, "message");
        let args: Vec<&str> = e
            .args
            .iter()
            .map(|(a, b)| &e.text[*a as usize..*b as usize])
            .collect();
        assert_eq!(args, ["1", r#""2""#, r#"{"3":[true]}"#]);
        let e = event_args(r#" [ 42.5 , "x\u0041" ] "#).expect("a numbered event");
        assert_eq!(e.name, "42.5");
        assert_eq!(
            &e.text[e.args[0].0 as usize..e.args[0].1 as usize],
            r#""x\u0041""#
        );
        assert_eq!(
            event_args(r#"["a\u0062c"]"#).expect("an escaped name").name,
            "abc"
        );
        assert_eq!(event_args("[7]").expect("a number").name, "7");
        for bad in [
            "{}",
            "[]",
            "[1",
            "[{}]",
            "abc",
            "[null]",
            "[true]",
            r#"["connect"]"#,
            r#"["a",]"#,
            r#"["a",x]"#,
            r#"["a"] x"#,
            r#"["a","\q"]"#,
        ] {
            assert!(event_args(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outgoing_packets_carry_the_namespace_and_the_ack_id() {
        assert_eq!(
            &event("/", "auth", &serde_json::json!({})).expect("serialisable")[..],
            br#"42["auth",{}]"#
        );
        assert_eq!(
            &event_raw("/custom", "auth", "{}", 0)[..],
            br#"42/custom,["auth",{}]"#
        );
        assert_eq!(&ack_raw("/", 456, r#"1,"2""#, 0)[..], br#"43456[1,"2"]"#);
        assert_eq!(&ack_raw("/", 789, "{}", 2)[..], br#"462-789[{}]"#);
        assert_eq!(
            &connect_error("/random", "Invalid namespace", None)[..],
            br#"44/random,{"message":"Invalid namespace"}"#
        );
        assert_eq!(&disconnect("/")[..], b"41");
    }
}
