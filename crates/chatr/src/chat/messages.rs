//! Messages: sending (text over a socket, attachments over REST), the status
//! lifecycle of receipts, and waveforms. One path stores and announces every
//! new message.

use std::sync::Arc;

use uuid::Uuid;

use super::lifecycle::{self, Receipt};
use super::limits::{Action, Limiter};
use super::model::{Message, MessageType, Status};
use super::notice::{Announcer, Notice, Origin};
use super::profiles::{Profile, Profiles};
use super::relations::Relations;
use crate::clock;
use crate::error::{Error, Result};
use crate::store::{Store, writer::Inserted};

/// Bounds of a client-computed waveform (`PATCH …/waveform`).
pub const MAX_WAVEFORM_VALUES: usize = 256;

/// A text message as a client asked to send it, already validated.
#[derive(Debug, PartialEq, Eq)]
pub struct SendText {
    pub recipient_id: Uuid,
    pub content: String,
    pub client_message_id: Option<String>,
}

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

#[derive(Clone)]
pub struct Messages(Arc<Inner>);

struct Inner {
    store: Store,
    profiles: Arc<Profiles>,
    announce: Announcer,
    limiter: Limiter,
    relations: Relations,
    /// Bytes of files one user may have stored (0: no limit).
    storage_quota: u64,
}

impl Messages {
    pub fn new(
        store: Store,
        profiles: Arc<Profiles>,
        announce: Announcer,
        limiter: Limiter,
        relations: Relations,
        storage_quota: u64,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            profiles,
            announce,
            limiter,
            relations,
            storage_quota,
        }))
    }

    /// The other party of a conversation: must exist and not be `me`.
    pub async fn counterpart(&self, me: Uuid, other: Uuid) -> Result<Arc<Profile>> {
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

    /// `message:send`; `origin` is the sending session, left out of the announcement.
    pub async fn send_text(
        &self,
        sender: Uuid,
        input: SendText,
        origin: Origin,
    ) -> Result<Message> {
        self.0.limiter.check(sender, Action::Send).await?;
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

    /// Before an upload's body is read: one upload of the sender's budget,
    /// and (when the size is declared) its bytes, which must also fit in the
    /// sender's storage quota.
    pub async fn admit_upload(&self, sender: Uuid, declared: Option<u64>) -> Result<()> {
        self.0.limiter.check(sender, Action::Upload).await?;
        match declared {
            Some(bytes) => self.charge_bytes(sender, bytes).await,
            None => Ok(()),
        }
    }

    /// Refuses an attachment before its bytes are processed: the recipient must
    /// exist and not be the sender, and the sender must be within the send
    /// limit. `undeclared` is the size of a body that came without a length,
    /// charged now.
    pub async fn check_attachment(
        &self,
        sender: Uuid,
        recipient: Uuid,
        undeclared: Option<u64>,
    ) -> Result<()> {
        self.counterpart(sender, recipient).await?;
        self.0.limiter.check(sender, Action::Send).await?;
        match undeclared {
            Some(bytes) => self.charge_bytes(sender, bytes).await,
            None => Ok(()),
        }
    }

    /// Spends `bytes` of the sender's upload budget and checks that they fit
    /// in the sender's storage quota.
    async fn charge_bytes(&self, sender: Uuid, bytes: u64) -> Result<()> {
        let cost = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.0
            .limiter
            .check_n(sender, Action::UploadBytes, cost)
            .await?;
        let quota = self.0.storage_quota;
        if quota == 0 {
            return Ok(());
        }
        let used = u64::try_from(self.0.store.stored_bytes(sender).await?).unwrap_or(0);
        if used.saturating_add(bytes) > quota {
            return Err(Error::TooLarge(
                format!("storage quota exceeded: {used} of {quota} bytes used").into(),
            ));
        }
        Ok(())
    }

    /// `POST /api/messages/upload`: announced exactly like `message:send`, to
    /// every session of the sender (no sending session to leave out).
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

    /// Stores a new message (status `sent`) and announces it. A repeated
    /// `clientMessageId` returns the stored message and announces nothing.
    async fn store_and_announce(
        &self,
        message: Message,
        origin: Option<Origin>,
    ) -> Result<Message> {
        let (sender, recipient) = (message.sender_id, message.recipient_id);
        let known = self.0.relations.known_contacts(sender, recipient);
        let message = Arc::new(message);
        let seq = match self
            .0
            .store
            .writer()
            .insert_message(message.clone(), !known)
            .await?
        {
            Inserted::Existing(stored) => return Ok(*stored),
            Inserted::New { new_contact, seq } => {
                if !known {
                    self.0.relations.remember(sender, recipient);
                }
                if new_contact {
                    self.0
                        .announce
                        .announce(Notice::Contacts(sender, recipient));
                }
                seq
            }
        };
        self.0.announce.announce(Notice::Stored {
            message: message.clone(),
            seq,
            origin,
        });
        self.0.announce.announce(Notice::Status {
            sender,
            message_id: message.id,
            status: Status::Sent,
        });
        Ok(Arc::unwrap_or_clone(message))
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
        self.0.limiter.check(actor, Action::Receipt).await?;
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
                self.0.announce.announce(Notice::Status {
                    sender: done.stored.sender_id,
                    message_id,
                    status: next,
                });
                Ok(next)
            }
            None => Ok(done.stored.status),
        }
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
        self.0.announce.announce(Notice::Waveform {
            sender: message.sender_id,
            recipient: message.recipient_id,
            message_id: id,
            waveform: waveform.clone().into(),
            duration,
        });
        message.waveform = Some(waveform);
        message.duration = Some(duration);
        Ok(message)
    }

    /// Messages to `user` still `sent` with a position in `(after, upto]`,
    /// oldest first: one page of offline delivery.
    pub async fn pending_page(
        &self,
        user: Uuid,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Message)>> {
        self.0.store.pending_page(user, after, upto, limit).await
    }

    /// The highest message position in the store (a backlog's horizon).
    pub async fn horizon(&self) -> Result<i64> {
        self.0.store.max_seq().await
    }
}
