//! Messages: sending (text over a socket, attachments over REST), the status
//! lifecycle of receipts, and waveforms. One path stores and announces every
//! new message.

use std::sync::Arc;

use uuid::Uuid;

use super::lifecycle::{self, Receipt};
use super::limits::{Action, Limiter};
use super::notice::{Announcer, Notice, Origin};
use super::profiles::{Profile, Profiles};
use super::relations::Relations;
use super::validate;
use crate::clock;
use crate::error::{Error, Result};
use crate::media::Storage;
use crate::model::{Edit, Message, MessageType, Outgoing, Reaction, ReplyTo, Status};
use crate::store::{
    Store,
    writer::{Change, Changed, Facts, Insert, Receipted},
};

/// Where the outcome of a write goes: called exactly once, right after the
/// commit (or as soon as the write is refused), where the writer runs. It
/// must not block.
pub type Answer<T> = Box<dyn FnOnce(Result<T>) + Send>;

/// Bounds of a client-computed waveform (`PATCH …/waveform`).
pub const MAX_WAVEFORM_VALUES: usize = 256;

/// A text message as a client asked to send it, already validated.
#[derive(Debug, PartialEq, Eq)]
pub struct SendText {
    pub recipient_id: Uuid,
    pub content: String,
    pub client_message_id: Option<String>,
    pub reply_to_id: Option<Uuid>,
}

/// How long after sending a message may still be edited.
pub const EDIT_WINDOW: time::Duration = time::Duration::hours(24);

/// Checks the reaction a client chose: one emoji (one grapheme cluster of at
/// most 32 bytes that looks like an emoji), or `None` to remove theirs.
pub fn reaction(emoji: Option<&str>) -> Result<Option<String>> {
    use unicode_segmentation::UnicodeSegmentation;
    let Some(emoji) = emoji else { return Ok(None) };
    let invalid = || Error::invalid_field("emoji", "emoji must be one emoji, or null");
    let mut graphemes = emoji.graphemes(true);
    let (Some(first), None) = (graphemes.next(), graphemes.next()) else {
        return Err(invalid());
    };
    if first.len() > 32 || !first.chars().any(is_emoji_char) {
        return Err(invalid());
    }
    Ok(Some(first.to_owned()))
}

/// Characters that are emoji or build one (pictographs, symbols, flags,
/// keycaps); a reaction must contain one.
fn is_emoji_char(c: char) -> bool {
    matches!(
        c,
        '\u{1F000}'..='\u{1FAFF}'
            | '\u{2300}'..='\u{23FF}'
            | '\u{2460}'..='\u{24FF}'
            | '\u{25A0}'..='\u{27BF}'
            | '\u{2900}'..='\u{297F}'
            | '\u{2B00}'..='\u{2BFF}'
            | '\u{3030}'
            | '\u{303D}'
            | '\u{3297}'
            | '\u{3299}'
            | '\u{00A9}'
            | '\u{00AE}'
            | '\u{203C}'
            | '\u{2049}'
            | '\u{2122}'
            | '\u{2139}'
            | '\u{2194}'..='\u{21AA}'
            | '\u{20E3}'
    )
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
    pub reply_to_id: Option<Uuid>,
}

/// The rule of `message:edit`: the sender, a message not unsent, within
/// [`EDIT_WINDOW`] of sending; a text keeps the content rules of a send (an
/// attachment's caption may become empty).
pub fn may_edit(f: &Facts, actor: Uuid, content: &str, now: time::OffsetDateTime) -> Result<()> {
    if f.sender_id != actor {
        return Err(Error::forbidden("only the sender may edit a message"));
    }
    if f.deleted {
        return Err(Error::forbidden("an unsent message cannot be edited"));
    }
    let sent = clock::parse(&f.created_at).ok_or_else(|| Error::internal("malformed time"))?;
    if now - sent > EDIT_WINDOW {
        return Err(Error::forbidden(
            "messages can be edited for 24 hours after sending",
        ));
    }
    if f.kind == MessageType::Text {
        validate::content(content)?;
    }
    Ok(())
}

#[derive(Clone)]
pub struct Messages(Arc<Inner>);

struct Inner {
    store: Store,
    profiles: Arc<Profiles>,
    announce: Announcer,
    limiter: Limiter,
    relations: Relations,
    storage: Storage,
    /// Bytes of files one user may have stored (0: no limit).
    storage_quota: u64,
    notifications: super::Notifications,
}

impl Messages {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        profiles: Arc<Profiles>,
        announce: Announcer,
        limiter: Limiter,
        relations: Relations,
        storage: Storage,
        storage_quota: u64,
        notifications: super::Notifications,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            profiles,
            announce,
            limiter,
            relations,
            storage,
            storage_quota,
            notifications,
        }))
    }

    /// The other party of a conversation: must exist, not be `me`, and no
    /// block may stand between the two.
    pub async fn counterpart(&self, me: Uuid, other: Uuid) -> Result<Arc<Profile>> {
        if other == me {
            return Err(Error::invalid_field(
                "recipientId",
                "recipientId must be another user",
            ));
        }
        let profile = self
            .0
            .profiles
            .get(&self.0.store, other)
            .await?
            .ok_or_else(|| Error::not_found("recipient not found"))?;
        self.0.relations.graph().check_not_blocked(me, other)?;
        Ok(profile)
    }

    /// The snapshot of the message `id` replies to: it must be a message
    /// between `me` and `other` (else `not_found`).
    async fn reply_snapshot(&self, me: Uuid, other: Uuid, id: Uuid) -> Result<ReplyTo> {
        let not_found = || Error::not_found("the message replied to is not in this conversation");
        let m = self.0.store.message(id).await?.ok_or_else(not_found)?;
        let between = (m.sender_id == me && m.recipient_id == other)
            || (m.sender_id == other && m.recipient_id == me);
        if !between {
            return Err(not_found());
        }
        Ok(ReplyTo::of(
            m.id,
            m.sender_id,
            m.kind,
            &m.content,
            m.deleted_at.is_some(),
        ))
    }

    /// `message:send`; `origin` is the sending session, left out of the
    /// announcement. `answer` hears the stored message after the commit.
    pub async fn send_text(
        &self,
        sender: Uuid,
        input: SendText,
        origin: Origin,
        answer: Answer<Arc<Outgoing>>,
    ) {
        match self.text_message(sender, input).await {
            Ok(message) => self.store_and_announce(message, Some(origin), answer).await,
            Err(e) => answer(Err(e)),
        }
    }

    /// A send's future is allocated for every event, so it is kept to its
    /// common path: the rare step is boxed, and the message is built here,
    /// in a future of its own that is gone before the writer is asked.
    async fn text_message(&self, sender: Uuid, input: SendText) -> Result<Arc<Message>> {
        self.0.limiter.check(sender, Action::Send).await?;
        self.counterpart(sender, input.recipient_id).await?;
        let reply_to = match input.reply_to_id {
            Some(id) => Some(Box::pin(self.reply_snapshot(sender, input.recipient_id, id)).await?),
            None => None,
        };
        let mut message = self
            .draft(sender, input.recipient_id, MessageType::Text, input.content)
            .await?;
        message.client_message_id = input.client_message_id;
        message.reply_to = reply_to;
        Ok(Arc::new(message))
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
            sender_username: profile.username.clone(),
            sender_profile_image: profile.profile_image.clone(),
            ..Message::sent(sender, recipient, kind, content)
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

    /// An export of one's own data: heavy, so a few an hour.
    pub async fn admit_export(&self, user: Uuid) -> Result<()> {
        self.0.limiter.check(user, Action::Export).await
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
        if let Some(id) = a.reply_to_id {
            message.reply_to = Some(self.reply_snapshot(sender, a.recipient_id, id).await?);
        }
        let (tx, stored) = tokio::sync::oneshot::channel();
        let answer: Answer<Arc<Outgoing>> = Box::new(move |r| drop(tx.send(r)));
        self.store_and_announce(Arc::new(message), None, answer)
            .await;
        stored
            .await
            .map_err(|_| Error::internal("the writer dropped a write"))?
            .map(Outgoing::into_message)
    }

    /// Stores a new message (status `sent`), announces it, then answers
    /// with it. A repeated `clientMessageId` answers with the stored message
    /// and announces nothing.
    async fn store_and_announce(
        &self,
        message: Arc<Message>,
        origin: Option<Origin>,
        answer: Answer<Arc<Outgoing>>,
    ) {
        let (sender, recipient) = (message.sender_id, message.recipient_id);
        let known = self.0.relations.known_contacts(sender, recipient);
        // The frames and the sender's answer share one encoding of the message.
        let outgoing = Arc::new(Outgoing::new(message.clone()));
        let this = self.clone();
        let then = Box::new(move |inserted: Result<Insert>| match inserted {
            Ok(Insert::New { new_contact, seq }) => {
                this.stored(&outgoing, known, new_contact, seq, origin);
                answer(Ok(outgoing));
            }
            // Rare (a client sending again what it had sent), and a read:
            // not on the writer's turn.
            Ok(Insert::Duplicate) => {
                let client_id = outgoing.message.client_message_id.clone();
                tokio::spawn(async move {
                    let stored = this.0.store.message_by_client_id(sender, client_id).await;
                    answer(stored.and_then(|m| {
                        let m = m.ok_or_else(|| Error::internal("a duplicate message vanished"))?;
                        Ok(Arc::new(Outgoing::new(Arc::new(m))))
                    }));
                });
            }
            Err(e) => answer(Err(e)),
        });
        self.0
            .store
            .writer()
            .insert_message(message, !known, then)
            .await;
    }

    /// What follows the commit of a new message, before its sender hears.
    fn stored(
        &self,
        outgoing: &Arc<Outgoing>,
        known: bool,
        new_contact: bool,
        seq: i64,
        origin: Option<Origin>,
    ) {
        let message = &outgoing.message;
        let (sender, recipient) = (message.sender_id, message.recipient_id);
        crate::telemetry::messages_stored().increment(1);
        if !known {
            self.0.relations.remember(sender, recipient);
        }
        if new_contact {
            self.follow_each_other(sender, recipient);
        }
        self.0.announce.announce(Notice::Stored {
            message: outgoing.clone(),
            seq,
            origin,
        });
        self.0.announce.announce(Notice::Status {
            sender,
            message_id: message.id,
            status: Status::Sent,
        });
        self.0.notifications.stored(message);
    }

    /// `message:delivered`, `message:read`, `audio:listening`, `audio:listened`:
    /// returns the status stored after the receipt.
    pub async fn receipt(
        &self,
        actor: Uuid,
        message_id: Uuid,
        claimed_sender: Uuid,
        receipt: Receipt,
        answer: Answer<Status>,
    ) {
        if let Err(e) = self.0.limiter.check(actor, Action::Receipt).await {
            return answer(Err(e));
        }
        // The writer reads the message and applies the rule in the order the
        // receipts arrive, so concurrent receipts cannot race each other.
        let read_at = receipt.sets_read_at().then(clock::now);
        // The new status is announced right after the commit, before the
        // receipt's sender hears.
        let this = self.clone();
        let then = Box::new(move |done: Result<Receipted>| {
            if let Ok(done) = &done
                && let Some(next) = done.changed
            {
                if next == Status::Delivered {
                    crate::telemetry::messages_delivered().increment(1);
                }
                this.0.announce.announce(Notice::Status {
                    sender: done.sender_id,
                    message_id,
                    status: next,
                });
            }
            answer(done.map(|done| done.changed.unwrap_or(done.status)));
        });
        self.0
            .store
            .writer()
            .receipt(
                message_id,
                read_at,
                lifecycle::usual_step(actor, claimed_sender, receipt),
                Box::new(move |stored| {
                    lifecycle::next_status(stored, actor, claimed_sender, receipt)
                }),
                then,
            )
            .await;
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

    /// Two users just became contacts: each follows the other's presence,
    /// as far as the other's visibility lets them.
    fn follow_each_other(&self, a: Uuid, b: Uuid) {
        let graph = self.0.relations.graph();
        for (who, whom) in [(a, b), (b, a)] {
            if graph.sees(who, whom, true) {
                self.0.announce.announce(Notice::Follow {
                    who,
                    whom,
                    on: true,
                });
            }
        }
    }

    /// Reads message `id` for `actor`, who must be one of its two users.
    async fn participant_view(&self, actor: Uuid, id: Uuid) -> Result<Message> {
        let not_found = || Error::not_found("message not found");
        let mut m = self.0.store.message(id).await?.ok_or_else(not_found)?;
        if m.sender_id != actor && m.recipient_id != actor {
            return Err(not_found());
        }
        self.0
            .store
            .attach_reactions(std::slice::from_mut(&mut m))
            .await?;
        Ok(m)
    }

    /// `message:edit`: the sender, within a day of sending, of a message not
    /// unsent; the text (or an attachment's caption) changes, the earlier one
    /// goes to the edit history, both users hear `message:edited`.
    pub async fn edit(&self, actor: Uuid, id: Uuid, content: String) -> Result<Message> {
        self.0.limiter.check(actor, Action::Send).await?;
        let now = clock::now();
        let check = {
            let content = content.clone();
            Box::new(move |f: &Facts| may_edit(f, actor, &content, time::OffsetDateTime::now_utc()))
        };
        let content = if content.trim().is_empty() {
            String::new()
        } else {
            content.trim().to_owned()
        };
        let changed = self
            .0
            .store
            .writer()
            .change(
                id,
                Change::Edit {
                    content: content.clone(),
                    at: now.clone(),
                },
                check,
            )
            .await?;
        let message = self.participant_view(actor, id).await?;
        if changed == Changed::Edited {
            self.0.announce.announce(Notice::Edited {
                sender: message.sender_id,
                recipient: message.recipient_id,
                message_id: id,
                content,
                edited_at: message.edited_at.clone().unwrap_or(now),
            });
        }
        Ok(message)
    }

    /// `message:unsend` ("delete for everyone"): the sender, at any age. The
    /// text goes, the file and its preview are deleted from storage, the edit
    /// history and reactions go; the tombstone stays for both to see.
    pub async fn unsend(&self, actor: Uuid, id: Uuid) -> Result<Message> {
        self.0.limiter.check(actor, Action::Send).await?;
        let now = clock::now();
        let check = Box::new(move |f: &Facts| {
            if f.sender_id != actor {
                return Err(Error::forbidden("only the sender may unsend a message"));
            }
            Ok(())
        });
        let changed = self
            .0
            .store
            .writer()
            .change(id, Change::Unsend { at: now.clone() }, check)
            .await?;
        if let Changed::Unsent { files } = &changed {
            for url in files {
                self.0.storage.remove(url).await;
            }
        }
        let message = self.participant_view(actor, id).await?;
        if matches!(changed, Changed::Unsent { .. }) {
            self.0.announce.announce(Notice::Unsent {
                sender: message.sender_id,
                recipient: message.recipient_id,
                message_id: id,
                deleted_at: message.deleted_at.clone().unwrap_or(now),
            });
        }
        Ok(message)
    }

    /// `message:react`: either user, on a message not unsent, one emoji or
    /// none; one reaction per user (a new one replaces, the same one removes).
    pub async fn react(
        &self,
        actor: Uuid,
        id: Uuid,
        emoji: Option<String>,
    ) -> Result<Vec<Reaction>> {
        self.0.limiter.check(actor, Action::Receipt).await?;
        let relations = self.0.relations.clone();
        let check = Box::new(move |f: &Facts| {
            if f.sender_id != actor && f.recipient_id != actor {
                return Err(Error::not_found("message not found"));
            }
            if f.deleted {
                return Err(Error::forbidden("an unsent message cannot be reacted to"));
            }
            let other = if f.sender_id == actor {
                f.recipient_id
            } else {
                f.sender_id
            };
            relations.graph().check_not_blocked(actor, other)
        });
        let changed = self
            .0
            .store
            .writer()
            .change(
                id,
                Change::React {
                    user: actor,
                    emoji,
                    at: clock::now(),
                },
                check,
            )
            .await?;
        let Changed::Reactions(reactions) = changed else {
            return Err(Error::internal("a reaction changed nothing"));
        };
        let message = self.participant_view(actor, id).await?;
        self.0.announce.announce(Notice::Reactions {
            sender: message.sender_id,
            recipient: message.recipient_id,
            message_id: id,
            reactions: reactions.clone(),
        });
        Ok(reactions)
    }

    /// `GET /api/messages/:id/edits`: the earlier versions, for its two users.
    pub async fn edits(&self, actor: Uuid, id: Uuid) -> Result<Vec<Edit>> {
        self.participant_view(actor, id).await?;
        self.0.store.edits_of(id).await
    }

    /// `GET /api/messages/search`: `me`'s messages (with `with` only, when
    /// given) that contain every word of `q`, newest first.
    pub async fn search(
        &self,
        me: Uuid,
        q: &str,
        with: Option<Uuid>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Message>> {
        if q.chars().count() > 200 {
            return Err(Error::invalid_field("q", "q is at most 200 characters"));
        }
        self.0.limiter.check(me, Action::Search).await?;
        let before = match before {
            None => i64::MAX,
            Some(id) => self.0.store.position_for(me, id).await?.ok_or_else(|| {
                Error::invalid_field("before", "before must be a message of yours")
            })?,
        };
        let words = crate::store::search::words(q);
        self.0
            .store
            .search_messages(me, &words, with, before, limit)
            .await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(sender: Uuid, kind: MessageType, created_at: &str, deleted: bool) -> Facts {
        Facts {
            sender_id: sender,
            recipient_id: Uuid::new_v4(),
            kind,
            created_at: created_at.into(),
            deleted,
        }
    }

    #[test]
    fn only_the_sender_edits_within_a_day_and_never_a_tombstone() {
        let me = Uuid::new_v4();
        let sent = "2026-01-01T12:00:00.000Z";
        let now = clock::parse(sent).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let code = |r: Result<()>| r.err().map(|e| e.event_code());
        let text = facts(me, MessageType::Text, sent, false);
        assert_eq!(
            code(may_edit(
                &text,
                me,
                "fixed",
                now + time::Duration::hours(23)
            )),
            None
        );
        assert_eq!(
            code(may_edit(
                &text,
                me,
                "fixed",
                now + time::Duration::hours(25)
            )),
            Some("forbidden")
        );
        assert_eq!(
            code(may_edit(&text, Uuid::new_v4(), "fixed", now)),
            Some("forbidden")
        );
        assert_eq!(
            code(may_edit(
                &facts(me, MessageType::Text, sent, true),
                me,
                "x",
                now
            )),
            Some("forbidden")
        );
        assert_eq!(
            code(may_edit(&text, me, "  ", now)),
            Some("invalid_payload")
        );
        let image = facts(me, MessageType::Image, sent, false);
        assert_eq!(
            code(may_edit(&image, me, "", now)),
            None,
            "a caption may be removed"
        );
    }

    #[test]
    fn a_reaction_is_one_emoji_or_none() {
        for ok in ["👍", "❤️", "👍🏽", "🇫🇷", "👨‍👩‍👧", "1️⃣", "©️"]
        {
            assert_eq!(
                reaction(Some(ok)).ok().flatten().as_deref(),
                Some(ok),
                "{ok}"
            );
        }
        assert_eq!(reaction(None).ok(), Some(None));
        for bad in ["", "a", "👍👍", "ok", "a👍", "\u{200d}"] {
            assert!(reaction(Some(bad)).is_err(), "{bad}");
        }
    }
}
