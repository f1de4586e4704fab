//! Notifications for people who are away (issue 14): when a message is
//! stored for a user with no connected session anywhere in the cluster,
//! each of their browsers gets one push — the sender's name and a short
//! preview (or only "New message", as the user chose), the conversation,
//! and a tag per conversation so that a run of messages from one person
//! shows as one notification. It is decided after the message is stored
//! and acknowledged; a send never waits for it. The node that stored the
//! message is the one that pushes it, so a cluster pushes each message once.

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use super::sessions::Sessions;
use crate::model::{Message, MessageType};
use crate::push::{Notification, Pusher};
use crate::store::Store;

/// Characters of a text a preview shows.
const PREVIEW_CHARS: usize = 120;

#[derive(Clone)]
pub struct Notifications {
    sessions: Sessions,
    store: Store,
    push: Pusher,
}

/// The JSON the service worker receives.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    title: &'a str,
    body: &'a str,
    /// Notifications with one tag replace each other: one per conversation.
    tag: String,
    conversation_id: Uuid,
    message_id: Uuid,
    /// Where a click on the notification leads.
    url: String,
    sent_at: &'a str,
}

impl Notifications {
    pub fn new(sessions: Sessions, store: Store, push: Pusher) -> Self {
        Self {
            sessions,
            store,
            push,
        }
    }

    pub fn pusher(&self) -> &Pusher {
        &self.push
    }

    /// A new message was stored: push it if its recipient is nowhere online.
    pub fn stored(&self, message: &Arc<Message>) {
        // The common case costs one map lookup: the recipient is connected here.
        if self.sessions.connected_here(message.recipient_id) {
            return;
        }
        let this = self.clone();
        let message = message.clone();
        tokio::spawn(async move {
            let recipient = message.recipient_id;
            if this.sessions.connected_anywhere(recipient).await {
                return;
            }
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if !matches!(this.store.has_subscriptions(recipient, now).await, Ok(true)) {
                return;
            }
            let previews = match this.store.push_previews(recipient).await {
                Ok(on) => on,
                Err(e) => {
                    tracing::warn!(error = %e, "push: reading the preview setting");
                    false
                }
            };
            let body = if previews {
                preview(&message)
            } else {
                "New message".to_owned()
            };
            let title = if previews {
                message.sender_username.as_str()
            } else {
                "Chatr"
            };
            let payload = Payload {
                title,
                body: &body,
                tag: format!("chatr:{}", message.sender_id),
                conversation_id: message.sender_id,
                message_id: message.id,
                url: format!("/?c={}", message.sender_id),
                sent_at: &message.created_at,
            };
            let Ok(payload) = serde_json::to_vec(&payload) else {
                return;
            };
            let topic = this.push.topic(recipient, message.sender_id);
            this.push.notify(Notification {
                recipient,
                message: message.id,
                topic,
                payload,
            });
        });
    }
}

/// A line that says what the message is.
fn preview(m: &Message) -> String {
    let caption = m.content.trim();
    let text = match m.kind {
        MessageType::Text => caption.to_owned(),
        MessageType::Image => labelled("📷 Photo", caption),
        MessageType::Voice => "🎤 Voice message".to_owned(),
        MessageType::Audio => labelled("🎵 Audio", caption),
        MessageType::File => labelled(
            &format!("📎 {}", m.file_name.as_deref().unwrap_or("File")),
            caption,
        ),
    };
    let mut chars = text.chars();
    let mut cut: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        cut.push('…');
    }
    cut
}

fn labelled(label: &str, caption: &str) -> String {
    if caption.is_empty() {
        label.to_owned()
    } else {
        format!("{label}: {caption}")
    }
}
