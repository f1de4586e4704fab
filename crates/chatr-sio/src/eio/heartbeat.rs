//! One timer for every session: a wheel of slots, one per tick, each holding
//! the sessions due for a ping, a pong check or a connect check at that tick.
//! A session costs a couple of weak pointers in the wheel and no timer of its
//! own. Deadlines are rounded down to a tick, so a ping or a timeout fires at
//! most one tick early and never late.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{CloseReason, EngineInner, Frame, Protocol, Session};
use crate::config::Config;

#[derive(Clone, Copy)]
enum Due {
    Ping,
    /// The pong to the last ping must have come by now.
    PongCheck,
    /// The protocol above must be ready by now.
    ConnectCheck,
}

pub(crate) struct Wheel<P: Protocol> {
    tick: Duration,
    slots: Vec<Vec<(Weak<Session<P>>, Due)>>,
    /// The slot processed last.
    current: usize,
    ping_interval: Duration,
    ping_timeout: Duration,
    connect_timeout: Option<Duration>,
}

impl<P: Protocol> Wheel<P> {
    pub(crate) fn new(config: &Config, connect_timeout: Option<Duration>) -> Self {
        let tick = config.tick();
        let longest = config
            .ping_interval
            .max(config.ping_timeout)
            .max(connect_timeout.unwrap_or_default());
        let len = (longest.as_nanos() / tick.as_nanos()) as usize + 2;
        Self {
            tick,
            slots: (0..len).map(|_| Vec::new()).collect(),
            current: 0,
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            connect_timeout,
        }
    }

    fn schedule(&mut self, after: Duration, session: Weak<Session<P>>, due: Due) {
        let ticks =
            ((after.as_nanos() / self.tick.as_nanos()) as usize).clamp(1, self.slots.len() - 1);
        let slot = (self.current + ticks) % self.slots.len();
        self.slots[slot].push((session, due));
    }

    fn advance(&mut self) -> Vec<(Weak<Session<P>>, Due)> {
        self.current = (self.current + 1) % self.slots.len();
        let slot = &mut self.slots[self.current];
        // Keep the slot's buffer unless it grew in a burst of connections.
        let keep = if slot.capacity() > 4 * slot.len().max(64) {
            0
        } else {
            slot.len()
        };
        std::mem::replace(slot, Vec::with_capacity(keep))
    }
}

fn wheel<P: Protocol>(engine: &EngineInner<P>) -> std::sync::MutexGuard<'_, Wheel<P>> {
    engine.wheel.lock().unwrap_or_else(|p| p.into_inner())
}

/// Puts a new session on the wheel: its first ping, and its connect deadline.
pub(crate) fn enrol<P: Protocol>(engine: &EngineInner<P>, session: &Arc<Session<P>>) {
    let mut w = wheel(engine);
    let interval = w.ping_interval;
    w.schedule(interval, Arc::downgrade(session), Due::Ping);
    if let Some(timeout) = w.connect_timeout {
        w.schedule(timeout, Arc::downgrade(session), Due::ConnectCheck);
    }
}

/// Runs the wheel until the engine is gone.
pub(crate) fn start<P: Protocol>(engine: &Arc<EngineInner<P>>) {
    let weak = Arc::downgrade(engine);
    let tick = wheel(engine).tick;
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(tick);
        timer.tick().await;
        loop {
            timer.tick().await;
            let Some(engine) = weak.upgrade() else { return };
            turn(&engine);
        }
    });
}

fn turn<P: Protocol>(engine: &EngineInner<P>) {
    let (due, interval, timeout) = {
        let mut w = wheel(engine);
        (w.advance(), w.ping_interval, w.ping_timeout)
    };
    let mut next = Vec::new();
    for (weak, kind) in due {
        let Some(session) = weak.upgrade() else {
            continue;
        };
        match kind {
            Due::Ping => {
                {
                    let mut s = session.lock();
                    if s.closing_now() {
                        // Marked closed (a slow consumer) with no transport
                        // left to finish it: finish it here.
                        drop(s);
                        session.close(CloseReason::ServerClose);
                        continue;
                    }
                    s.ping_pending = true;
                }
                session.send(Frame::PING);
                next.push((timeout, weak.clone(), Due::PongCheck));
                next.push((interval, weak, Due::Ping));
            }
            Due::PongCheck => {
                if session.lock().ping_pending {
                    session.close(CloseReason::PingTimeout);
                }
            }
            Due::ConnectCheck => {
                if !engine.protocol.ready(&session) {
                    session.close(CloseReason::ConnectTimeout);
                }
            }
        }
    }
    if !next.is_empty() {
        let mut w = wheel(engine);
        for (after, weak, kind) in next {
            w.schedule(after, weak, kind);
        }
    }
}
