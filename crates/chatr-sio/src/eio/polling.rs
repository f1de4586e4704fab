//! HTTP long-polling: a GET waits for whatever is queued, a POST carries the
//! client's packets. Only one GET may wait at a time; a second one is a
//! broken client and ends the session, as in the reference server.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};

use super::packet::{self, Incoming, Polled};
use super::session::Transport;
use super::{
    BAD_REQUEST, Body, CloseReason, Dispatch, EngineInner, Handshake, Message, Protocol, Session,
    refuse,
};

fn text(body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=UTF-8")
        .body(Full::new(body.into()))
        .unwrap_or_default()
}

pub(super) fn handshake<P: Protocol>(
    engine: &Arc<EngineInner<P>>,
    handshake: Handshake,
) -> Response<Body> {
    let session = engine.open(Transport::Polling { waiting: false }, handshake);
    text(engine.open_packet(session.id(), true))
}

/// Clears the waiting mark of a GET that ends, however it ends (a client
/// that gives up drops the request).
struct Waiting<'a, P: Protocol>(&'a Session<P>);

impl<P: Protocol> Drop for Waiting<'_, P> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        if let Transport::Polling { waiting } = &mut s.transport {
            *waiting = false;
        }
    }
}

pub(super) async fn get<P: Protocol>(
    engine: &EngineInner<P>,
    session: Arc<Session<P>>,
) -> Response<Body> {
    {
        let mut s = session.lock();
        match &mut s.transport {
            Transport::WebSocket => return refuse(BAD_REQUEST.0, BAD_REQUEST.1),
            Transport::Polling { waiting: true } => {
                drop(s);
                session.close(CloseReason::TransportError);
                return refuse(BAD_REQUEST.0, BAD_REQUEST.1);
            }
            Transport::Polling { waiting } => *waiting = true,
            Transport::Upgrading => {}
        }
    }
    let _waiting = Waiting(&session);
    let wait = engine.config.poll_wait;
    let frames =
        tokio::time::timeout(wait, std::future::poll_fn(|cx| session.poll_frames(cx))).await;
    match frames {
        Ok(Some(frames)) => {
            let mut body = Vec::with_capacity(frames.iter().map(|f| f.len() + 1).sum());
            packet::encode_payload(&mut body, frames);
            text(body)
        }
        // Closed: the client's own close is answered with a noop, anything else with a close.
        Ok(None) => {
            let reason = session.closing();
            session.close(CloseReason::ServerClose);
            if reason == Some(CloseReason::ClientClose) {
                text(Frame6)
            } else {
                text(Bytes::from_static(b"1"))
            }
        }
        Err(_) => text(Frame6),
    }
}

#[allow(non_upper_case_globals)]
const Frame6: Bytes = Bytes::from_static(b"6");

/// The noop that ends a GET with nothing to say.
pub(super) fn noop() -> Response<Body> {
    text(Frame6)
}

pub(super) async fn post<P, B>(
    engine: &EngineInner<P>,
    session: Arc<Session<P>>,
    body: B,
) -> Response<Body>
where
    P: Protocol,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if session.lock().transport == Transport::WebSocket {
        return refuse(BAD_REQUEST.0, BAD_REQUEST.1);
    }
    let limit = engine.config.max_payload;
    let read =
        tokio::time::timeout(engine.config.poll_wait, Limited::new(body, limit).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            session.close(CloseReason::TooLarge);
            return status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        _ => {
            session.close(CloseReason::TransportError);
            return refuse(BAD_REQUEST.0, BAD_REQUEST.1);
        }
    };
    let Ok(body) = std::str::from_utf8(&bytes) else {
        session.close(CloseReason::ProtocolError);
        return refuse(BAD_REQUEST.0, BAD_REQUEST.1);
    };
    for packet in packet::decode_payload(body) {
        let outcome = match packet {
            Err(_) => Err(CloseReason::ProtocolError),
            Ok(Polled::Binary(bytes)) => engine.protocol.message(&session, Message::Binary(&bytes)),
            Ok(Polled::Packet(Incoming::Text(t))) => {
                engine.protocol.message(&session, Message::Text(t))
            }
            Ok(Polled::Packet(Incoming::Binary(b))) => {
                engine.protocol.message(&session, Message::Binary(b))
            }
            Ok(Polled::Packet(Incoming::Pong)) => {
                session.pong();
                Ok(Dispatch::Done)
            }
            Ok(Polled::Packet(Incoming::Noop)) => Ok(Dispatch::Done),
            Ok(Polled::Packet(Incoming::Close)) => {
                let waiting = matches!(
                    session.lock().transport,
                    Transport::Polling { waiting: true }
                );
                session.close(CloseReason::ClientClose);
                if !waiting {
                    engine.closed_by_client(session.id());
                }
                break;
            }
            Ok(Polled::Packet(Incoming::Ping(_) | Incoming::Upgrade)) => {
                Err(CloseReason::ProtocolError)
            }
        };
        match outcome {
            Ok(Dispatch::Done) => {}
            Ok(Dispatch::Run(work)) => {
                tokio::spawn(work);
            }
            // Spawned, then awaited: the work finishes even if the client
            // gives up on this request.
            Ok(Dispatch::Before(work)) => {
                let _ = tokio::spawn(work).await;
            }
            Err(reason) => {
                session.close(reason);
                return refuse(BAD_REQUEST.0, BAD_REQUEST.1);
            }
        }
    }
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html")
        .body(Full::new(Bytes::from_static(b"ok")))
        .unwrap_or_default()
}

fn status(code: StatusCode) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}
