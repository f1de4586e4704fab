//! The domain: sending messages, acknowledging them, indicators and presence.
//! REST handlers and Socket.IO handlers both call these functions and hold no
//! rules of their own.

pub mod handover;
pub mod lifecycle;
pub mod limits;
pub mod model;
pub mod presence;
pub mod profiles;
pub mod roster;
pub mod validate;

use std::collections::HashSet;
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use std::time::Duration;

use socketioxide::socket::{DisconnectReason, Sid};
use uuid::Uuid;

use crate::clock;
use crate::error::{Error, Result};
use crate::realtime::bus::{Bus, Io, Socket};
use crate::realtime::notify::{Indicator, Notify, Relay, catching_room, presence_room, user_room};
use crate::store::{Store, writer::Inserted};
use lifecycle::Receipt;
use limits::{Action, RateLimits};
use model::{Message, MessageType, Presence, PresenceStatus, Status, User, UserRecord};
use presence::PresenceRegistry;
use profiles::{Profile, Profiles};

/// An attachment message whose file is already stored (see `http::uploads`).
pub struct Attachment {
    pub recipient_id: Uuid,
    pub kind: MessageType,
    pub caption: String,
    pub file_url: String,
    pub file_name: String,
    pub file_size: i64,
    pub file_type: String,
    pub waveform: Option<Vec<f32>>,
    pub duration: Option<f64>,
    pub thumbnail_url: Option<String>,
}

/// Bounds of a client-computed waveform (`PATCH …/waveform`).
pub const MAX_WAVEFORM_VALUES: usize = 256;

/// A text message as a client asked to send it, already validated.
pub struct SendText {
    pub recipient_id: Uuid,
    pub content: String,
    pub client_message_id: Option<String>,
}

#[derive(Clone)]
pub struct Chat(Arc<Inner>);

struct Inner {
    store: Store,
    notify: Notify,
    presence: PresenceRegistry,
    handover: handover::Handover,
    profiles: Profiles,
    limits: RateLimits,
    /// Pairs (smaller id first) known to be contacts in the database, so that
    /// only a conversation's first message writes to `contacts`.
    contacts: Mutex<HashSet<(Uuid, Uuid)>>,
    /// Sessions started and not yet fully ended (their lastSeen written).
    open_sessions: AtomicUsize,
    /// Cluster-wide presence, with several nodes.
    roster: Option<roster::Roster>,
    /// Serialises one user's presence transitions on this node, so that the
    /// node's own first/last session reaches the roster in order.
    transitions: Vec<tokio::sync::Mutex<()>>,
}

/// When Redis does not answer, a node acts on its own view of a transition.
fn alone_if_unknown(cluster: Result<bool>) -> bool {
    cluster.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cluster presence unavailable");
        true
    })
}

fn view(user: UserRecord, viewer: Uuid, online: bool, now: &str) -> User {
    User {
        id: user.id,
        username: user.username,
        email: (user.id == viewer).then_some(user.email),
        profile_image: user.profile_image,
        last_seen: if online {
            Some(now.to_owned())
        } else {
            user.last_seen
        },
        created_at: user.created_at,
    }
}

fn pair(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a < b { (a, b) } else { (b, a) }
}

impl Chat {
    /// `peers` is the bus to the other nodes (with `roster`), none for a lone node.
    pub fn new(
        store: Store,
        io: Io,
        peers: Option<Bus>,
        roster: Option<roster::Roster>,
        rate_limits: bool,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            notify: Notify::new(io, peers),
            roster,
            transitions: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
            presence: PresenceRegistry::default(),
            handover: handover::Handover::default(),
            profiles: Profiles::default(),
            limits: RateLimits::new(rate_limits),
            contacts: Mutex::default(),
            open_sessions: AtomicUsize::new(0),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn profiles(&self) -> &Profiles {
        &self.0.profiles
    }

    pub fn limits(&self) -> &RateLimits {
        &self.0.limits
    }

    fn known_contacts(&self) -> std::sync::MutexGuard<'_, HashSet<(Uuid, Uuid)>> {
        self.0.contacts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Users as `viewer` may see them: `email` only for themself, `lastSeen`
    /// = now while they are visibly online (anywhere in the cluster).
    pub async fn user_views(&self, users: Vec<UserRecord>, viewer: Uuid) -> Vec<User> {
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let visible = self.visible(&ids).await;
        let now = clock::now();
        users
            .into_iter()
            .zip(visible)
            .map(|(user, shown)| view(user, viewer, shown.is_some(), &now))
            .collect()
    }

    pub async fn user_view(&self, user: UserRecord, viewer: Uuid) -> User {
        let shown = self.visible(&[user.id]).await.first().copied().flatten();
        view(user, viewer, shown.is_some(), &clock::now())
    }

    /// The status each of `ids` shows, `None` for offline: this node's view,
    /// or the cluster's. Should Redis not answer, this node's view stands in.
    async fn visible(&self, ids: &[Uuid]) -> Vec<Option<PresenceStatus>> {
        if let Some(roster) = &self.0.roster {
            match tokio::try_join!(roster.online(ids), roster.chosen(ids)) {
                Ok((online, chosen)) => {
                    return online
                        .into_iter()
                        .zip(chosen)
                        .map(|(on, chosen)| {
                            (on && chosen != PresenceStatus::Offline).then_some(chosen)
                        })
                        .collect();
                }
                Err(e) => tracing::warn!(error = %e, "cluster presence unavailable"),
            }
        }
        ids.iter()
            .map(|id| self.0.presence.visible_status(*id))
            .collect()
    }

    /// Rate limits: this node's buckets, and with several nodes the cluster's
    /// budget too, so that reconnecting elsewhere does not reset them. Should
    /// Redis not answer, the node's own limits still hold.
    async fn check_limit(&self, user: Uuid, action: Action) -> Result<()> {
        self.0.limits.check(user, action)?;
        let (true, Some(roster)) = (self.0.limits.enabled(), &self.0.roster) else {
            return Ok(());
        };
        let (name, limit, window) = RateLimits::shared_budget(action);
        match roster.spend(&format!("{name}:{user}"), limit, window).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::RateLimited),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limits unavailable");
                Ok(())
            }
        }
    }

    fn transition_lock(&self, user: Uuid) -> &tokio::sync::Mutex<()> {
        let shard = (user.as_u128() % self.0.transitions.len() as u128) as usize;
        &self.0.transitions[shard]
    }

    /// The other party of a conversation: must exist and not be `me`.
    async fn counterpart(&self, me: Uuid, other: Uuid) -> Result<Arc<Profile>> {
        if other == me {
            return Err(Error::invalid_field(
                "recipientId",
                "recipientId must be another user",
            ));
        }
        self.0
            .profiles
            .get(&self.0.store, other)
            .await?
            .ok_or_else(|| Error::not_found("recipient not found"))
    }

    /// `message:send`.
    pub async fn send_text(
        &self,
        sender: Uuid,
        input: SendText,
        origin: &Socket,
    ) -> Result<Message> {
        self.check_limit(sender, Action::Send).await?;
        self.counterpart(sender, input.recipient_id).await?;
        let mut message = self
            .draft(sender, input.recipient_id, MessageType::Text, input.content)
            .await?;
        message.client_message_id = input.client_message_id;
        self.store_and_announce(message, Some(origin)).await
    }

    /// A new message from `sender` (status `sent`, now), carrying the sender's
    /// current profile from the cache.
    async fn draft(
        &self,
        sender: Uuid,
        recipient: Uuid,
        kind: MessageType,
        content: String,
    ) -> Result<Message> {
        let profile = self
            .0
            .profiles
            .get(&self.0.store, sender)
            .await?
            .ok_or_else(|| Error::forbidden("unknown sender"))?;
        Ok(Message {
            id: Uuid::now_v7(),
            sender_id: sender,
            sender_username: profile.username.clone(),
            sender_profile_image: profile.profile_image.clone(),
            recipient_id: recipient,
            content,
            kind,
            status: Status::Sent,
            created_at: clock::now(),
            read_at: None,
            file_url: None,
            file_name: None,
            file_size: None,
            file_type: None,
            waveform: None,
            duration: None,
            client_message_id: None,
            thumbnail_url: None,
        })
    }

    /// Refuses an attachment before its bytes are processed: the recipient must
    /// exist and not be the sender, and the sender must be within the send limit.
    pub async fn check_attachment(&self, sender: Uuid, recipient: Uuid) -> Result<()> {
        self.counterpart(sender, recipient).await?;
        self.check_limit(sender, Action::Send).await
    }

    /// `POST /api/messages/upload`: announced exactly like `message:send`, to
    /// every session of the sender (no sending socket to leave out).
    pub async fn send_attachment(&self, sender: Uuid, a: Attachment) -> Result<Message> {
        let mut message = self
            .draft(sender, a.recipient_id, a.kind, a.caption)
            .await?;
        message.file_url = Some(a.file_url);
        message.file_name = Some(a.file_name);
        message.file_size = Some(a.file_size);
        message.file_type = Some(a.file_type);
        message.waveform = a.waveform;
        message.duration = a.duration;
        message.thumbnail_url = a.thumbnail_url;
        self.store_and_announce(message, None).await
    }

    /// `PATCH /api/messages/:id/waveform`: the sender's own waveform for a voice
    /// or audio message; both sides get `audio:waveform`.
    pub async fn set_waveform(
        &self,
        actor: Uuid,
        id: Uuid,
        waveform: Vec<f32>,
        duration: f64,
    ) -> Result<Message> {
        if waveform.is_empty()
            || waveform.len() > MAX_WAVEFORM_VALUES
            || waveform
                .iter()
                .any(|v| !v.is_finite() || !(0.0..=1.0).contains(v))
        {
            return Err(Error::invalid_field(
                "waveform",
                "waveform must be 1-256 numbers between 0 and 1",
            ));
        }
        if !duration.is_finite() || duration <= 0.0 {
            return Err(Error::invalid_field(
                "duration",
                "duration must be a number of seconds above 0",
            ));
        }
        let mut message = self
            .0
            .store
            .message(id)
            .await?
            .ok_or_else(|| Error::not_found("message not found"))?;
        if message.sender_id != actor {
            return Err(Error::forbidden("only the sender may set the waveform"));
        }
        if !message.kind.is_audio() {
            return Err(Error::invalid(
                "only audio and voice messages have a waveform",
            ));
        }
        self.0.store.set_waveform(id, &waveform, duration).await?;
        self.0.notify.waveform(&message, &waveform, duration).await;
        message.waveform = Some(waveform);
        message.duration = Some(duration);
        Ok(message)
    }

    /// Sets or clears a profile image; returns the previous one (for its files
    /// to be removed). New messages carry the new image at once.
    pub async fn set_profile_image(
        &self,
        user: Uuid,
        url: Option<String>,
    ) -> Result<Option<String>> {
        let profile = self
            .0
            .profiles
            .get(&self.0.store, user)
            .await?
            .ok_or_else(|| Error::not_found("user not found"))?;
        let previous = self.0.store.set_profile_image(user, url.as_deref()).await?;
        self.0.profiles.put(
            user,
            Profile {
                username: profile.username.clone(),
                profile_image: url.clone(),
            },
        );
        self.0
            .notify
            .relay(Relay::Profile {
                user,
                username: profile.username.clone(),
                profile_image: url,
            })
            .await;
        Ok(previous)
    }

    /// Stores a new message (status `sent`) and announces it; the one path for
    /// socket sends and uploads. A repeated `clientMessageId` returns the stored
    /// message and announces nothing.
    pub async fn store_and_announce(
        &self,
        message: Message,
        origin: Option<&Socket>,
    ) -> Result<Message> {
        let (sender, recipient) = (message.sender_id, message.recipient_id);
        let known = self.known_contacts().contains(&pair(sender, recipient));
        let message = Arc::new(message);
        match self
            .0
            .store
            .writer()
            .insert_message(message.clone(), !known)
            .await?
        {
            Inserted::Existing(stored) => return Ok(*stored),
            Inserted::New { new_contact } => {
                if !known {
                    self.known_contacts().insert(pair(sender, recipient));
                }
                if new_contact {
                    self.0.notify.introduce(sender, recipient).await;
                }
            }
        }
        self.deliver_live(origin, &message).await;
        self.0.notify.relay_received(&message).await;
        self.0.notify.status(sender, message.id, Status::Sent).await;
        Ok(Arc::unwrap_or_clone(message))
    }

    /// `message:received` to the sessions on this node of the recipient and
    /// of the sender (less `origin`), once to those catching up (see `handover`).
    pub async fn deliver_live(&self, origin: Option<&Socket>, message: &Message) {
        let recipient = message.recipient_id;
        let _delivering = self.0.handover.delivering(recipient).await;
        let catching = self.0.handover.claim_live(recipient, message.id);
        self.0
            .notify
            .message_received(origin, message, catching.is_some())
            .await;
        for sid in catching.unwrap_or_default() {
            self.0.notify.message_received_by(sid, message);
        }
    }

    /// What another node relayed (`notify::RELAY_CHANNEL`).
    pub async fn on_relay(&self, bytes: &[u8]) {
        match self.0.notify.relayed(bytes) {
            Some(Relay::Received { message }) => self.deliver_live(None, &message).await,
            Some(Relay::Profile {
                user,
                username,
                profile_image,
            }) => {
                self.0.profiles.put(
                    user,
                    Profile {
                        username,
                        profile_image,
                    },
                );
            }
            None => {}
        }
    }

    /// `message:delivered`, `message:read`, `audio:listening`, `audio:listened`:
    /// returns the status stored after the receipt.
    pub async fn receipt(
        &self,
        actor: Uuid,
        message_id: Uuid,
        claimed_sender: Uuid,
        receipt: Receipt,
    ) -> Result<Status> {
        // The writer reads the message and applies the rule in the order the
        // receipts arrive, so concurrent receipts cannot race each other.
        let read_at = receipt.sets_read_at().then(clock::now);
        let done = self
            .0
            .store
            .writer()
            .receipt(
                message_id,
                read_at,
                Box::new(move |stored| {
                    lifecycle::next_status(stored, actor, claimed_sender, receipt)
                }),
            )
            .await?;
        match done.changed {
            Some(next) => {
                self.0
                    .notify
                    .status(done.stored.sender_id, message_id, next)
                    .await;
                Ok(next)
            }
            None => Ok(done.stored.status),
        }
    }

    /// `typing:*` and `recording:*`.
    pub async fn indicator(
        &self,
        actor: Uuid,
        recipient: Uuid,
        kind: Indicator,
        on: bool,
    ) -> Result<()> {
        self.check_limit(actor, Action::Indicator).await?;
        self.counterpart(actor, recipient).await?;
        self.0.notify.indicator(kind, recipient, actor, on).await;
        Ok(())
    }

    /// Clears an indicator left on by a session that went away (no limits, no checks).
    pub async fn clear_indicator(&self, actor: Uuid, recipient: Uuid, kind: Indicator) {
        self.0.notify.indicator(kind, recipient, actor, false).await;
    }

    /// Counts a session that passed authentication, before the client learns
    /// it is connected, so that a session closing at the same moment cannot
    /// make the user look offline. Must be paired with [`Chat::session_ended`].
    pub async fn session_opened(&self, user: Uuid) {
        self.0.open_sessions.fetch_add(1, Ordering::SeqCst);
        let first = {
            let _order = self.transition_lock(user).lock().await;
            self.0.presence.connect(user) && self.cluster_arrived(user).await
        };
        if first {
            self.0
                .notify
                .presence(Presence {
                    user_id: user,
                    status: PresenceStatus::Online,
                    last_seen: Some(clock::now()),
                })
                .await;
        }
    }

    /// After this node's first session of `user`: whether it is the cluster's first.
    async fn cluster_arrived(&self, user: Uuid) -> bool {
        match &self.0.roster {
            Some(roster) => alone_if_unknown(roster.arrived(user).await),
            None => true,
        }
    }

    /// After this node's last session of `user`: whether it was the cluster's last.
    async fn cluster_left(&self, user: Uuid) -> bool {
        match &self.0.roster {
            Some(roster) => alone_if_unknown(roster.left(user).await),
            None => true,
        }
    }

    /// Joins a new session to its user's room and its contacts' presence
    /// rooms; it catches up until [`Chat::deliver_backlog`] is done with it.
    pub async fn join_rooms(&self, socket: &Socket, user: Uuid) -> Result<()> {
        let contacts = self.0.store.contacts_of(user).await?;
        {
            let _changing = self.0.handover.changing(user).await;
            socket.join([user_room(user), catching_room(user)]);
            self.0.handover.start(user, socket.id);
        }
        socket.join(
            contacts
                .iter()
                .map(|c| presence_room(*c))
                .collect::<Vec<_>>(),
        );
        self.known_contacts()
            .extend(contacts.iter().map(|c| pair(user, *c)));
        Ok(())
    }

    /// Offline delivery: every message to `user` still `sent`, oldest first,
    /// except those this session already got live since it joined its room.
    pub async fn deliver_backlog(&self, socket: &Socket, user: Uuid) -> Result<()> {
        let sid = socket.id;
        let pending = self.0.store.pending_for(user).await;
        let mut brought = HashSet::new();
        for message in pending.as_deref().unwrap_or_default() {
            if !self.0.handover.claim_backlog(user, sid, message.id) {
                continue;
            }
            if !deliver_to(socket, message).await {
                break;
            }
            brought.insert(message.id);
        }
        if self.0.handover.backlog_done(user, sid, brought) {
            let chat = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(handover::GRACE).await;
                chat.stop_catching_up(user, sid).await;
            });
        } else {
            self.stop_catching_up(user, sid).await;
        }
        pending.map(drop)
    }

    /// The session gets live messages with the user's other sessions again.
    async fn stop_catching_up(&self, user: Uuid, sid: Sid) {
        let _changing = self.0.handover.changing(user).await;
        if let Some(socket) = self.0.notify.socket(sid) {
            socket.leave(catching_room(user));
        }
        self.0.handover.stop(user, sid);
    }

    /// A session closed: on the user's last one, write `lastSeen` and announce `offline`.
    pub async fn session_ended(&self, user: Uuid, reason: Option<DisconnectReason>) {
        tracing::debug!(%user, ?reason, "session ended");
        self.end_session(user).await;
        self.0.open_sessions.fetch_sub(1, Ordering::SeqCst);
    }

    /// Forgets a session that is gone, whether or not it was still catching up.
    pub fn abandon_backlog(&self, user: Uuid, sid: Sid) {
        self.0.handover.stop(user, sid);
    }

    async fn end_session(&self, user: Uuid) {
        let last = {
            let _order = self.transition_lock(user).lock().await;
            self.0.presence.disconnect(user) && self.cluster_left(user).await
        };
        if last {
            self.announce_gone(user, clock::now()).await;
        }
    }

    /// Writes `lastSeen` and tells the user's followers they went offline,
    /// unless they came back meanwhile.
    async fn announce_gone(&self, user: Uuid, at: String) {
        if let Err(e) = self.0.store.writer().set_last_seen(user, at.clone()).await {
            tracing::error!(error = %e, "writing lastSeen");
        }
        if self
            .visible(&[user])
            .await
            .first()
            .copied()
            .flatten()
            .is_some()
            || self.0.presence.is_connected(user)
        {
            return;
        }
        self.0
            .notify
            .presence(Presence {
                user_id: user,
                status: PresenceStatus::Offline,
                last_seen: Some(at),
            })
            .await;
    }

    /// Refreshes this node's lease and reaps nodes that died; a no-op alone.
    pub async fn cluster_tick(&self) {
        let Some(roster) = &self.0.roster else { return };
        if let Err(e) = roster.heartbeat().await {
            tracing::warn!(error = %e, "refreshing this node's lease");
        }
        match roster.reap().await {
            Ok(departed) => {
                for gone in departed {
                    self.announce_gone(gone.user, gone.last_seen).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reaping dead nodes"),
        }
    }

    /// Leaves the cluster at a graceful stop.
    pub async fn retire(&self) {
        if let Some(roster) = &self.0.roster {
            roster.retire().await;
        }
    }

    /// Waits (at most `limit`) until every session has finished ending.
    pub async fn sessions_drained(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.0.open_sessions.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `presence:update`.
    pub async fn choose_presence(&self, user: Uuid, status: PresenceStatus) -> Result<()> {
        let changed = self.0.presence.choose(user, status);
        let changed = match &self.0.roster {
            Some(roster) => roster.choose(user, status).await?,
            None => changed,
        };
        if !changed {
            return Ok(());
        }
        let at = clock::now();
        if status == PresenceStatus::Offline {
            self.0
                .store
                .writer()
                .set_last_seen(user, at.clone())
                .await?;
        }
        self.0
            .notify
            .presence(Presence {
                user_id: user,
                status,
                last_seen: Some(at),
            })
            .await;
        Ok(())
    }

    /// `presence:request`: the presence of each id (unknown ids: offline, no
    /// lastSeen), and the ids that are real users.
    pub async fn presence_of(&self, ids: &[Uuid]) -> Result<(Vec<Presence>, Vec<Uuid>)> {
        let known = self.0.store.last_seen_of(ids).await?;
        let visible = self.visible(ids).await;
        let now = clock::now();
        let mut statuses = Vec::with_capacity(ids.len());
        let mut users = Vec::with_capacity(known.len());
        for (id, shown) in ids.iter().zip(visible) {
            let presence = match known.get(id) {
                None => Presence {
                    user_id: *id,
                    status: PresenceStatus::Offline,
                    last_seen: None,
                },
                Some(last_seen) => {
                    users.push(*id);
                    match shown {
                        Some(status) => Presence {
                            user_id: *id,
                            status,
                            last_seen: Some(now.clone()),
                        },
                        None => Presence {
                            user_id: *id,
                            status: PresenceStatus::Offline,
                            last_seen: last_seen.clone(),
                        },
                    }
                }
            };
            statuses.push(presence);
        }
        Ok((statuses, users))
    }
}

/// Emits one backlog message to one socket, waiting while its buffer is full.
/// False when the socket is gone.
async fn deliver_to(socket: &Socket, message: &Message) -> bool {
    use socketioxide::{SendError, SocketError};
    for _ in 0..500 {
        match socket.emit("message:received", message) {
            Ok(()) => return true,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => {
                tracing::debug!(error = %e, "offline delivery stopped");
                return false;
            }
        }
    }
    false
}
