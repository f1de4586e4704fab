//! The status lifecycle of contract §4: who may move a message, and where to.
//! Every status event goes through [`next_status`]; nothing else decides.

use crate::error::{Error, Result};
use crate::model::{MessageType, Status, Step, Stored};
use uuid::Uuid;

/// What a recipient's client reported about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    Delivered,
    Read,
    Listening,
    Listened,
}

impl Receipt {
    pub fn event(self) -> &'static str {
        match self {
            Self::Delivered => "message:delivered",
            Self::Read => "message:read",
            Self::Listening => "audio:listening",
            Self::Listened => "audio:listened",
        }
    }

    /// Whether this receipt stamps `readAt` (the first time only).
    pub fn sets_read_at(self) -> bool {
        matches!(self, Self::Read | Self::Listened)
    }
}

fn rank(kind: MessageType, status: Status) -> Option<u8> {
    let steps: &[Status] = if kind.is_audio() {
        &[
            Status::Sent,
            Status::Delivered,
            Status::Listening,
            Status::Listened,
        ]
    } else {
        &[Status::Sent, Status::Delivered, Status::Read]
    };
    steps.iter().position(|s| *s == status).map(|p| p as u8)
}

/// Checks who sent the receipt and returns the status to store, or `None` when
/// the receipt is a repeated or backward step (or `read` on an audio message,
/// whose status the audio events own): such receipts change nothing.
pub fn next_status(
    message: &Stored,
    actor: Uuid,
    claimed_sender: Uuid,
    receipt: Receipt,
) -> Result<Option<Status>> {
    if message.recipient_id != actor {
        return Err(Error::forbidden(
            "only the recipient may acknowledge this message",
        ));
    }
    if message.sender_id != claimed_sender {
        return Err(Error::forbidden("senderId does not match the message"));
    }
    let target = match receipt {
        Receipt::Delivered => Status::Delivered,
        Receipt::Read if message.kind.is_audio() => return Ok(None),
        Receipt::Read => Status::Read,
        Receipt::Listening | Receipt::Listened if !message.kind.is_audio() => {
            return Err(Error::invalid(format!(
                "{} only applies to audio and voice messages",
                receipt.event()
            )));
        }
        Receipt::Listening => Status::Listening,
        Receipt::Listened => Status::Listened,
    };
    let (Some(from), Some(to)) = (
        rank(message.kind, message.status),
        rank(message.kind, target),
    ) else {
        return Ok(None);
    };
    Ok((to > from).then_some(target))
}

/// The step `receipt` usually takes, when `actor` acknowledges a message
/// from `claimed_sender`: delivered after sent, listening after delivered.
/// A store may try it in one statement before reading the message (round
/// 23 in docs/benchmarks.md); wherever it matches, [`next_status`] gives
/// the same answer, which the test `the_usual_step_is_what_the_rule_decides`
/// checks for every kind. Receipts that read (`read`, `listened`) have none:
/// they also take the message out of its recipient's unread count, which
/// depends on where the message lies, so the store reads it anyway.
pub fn usual_step(actor: Uuid, claimed_sender: Uuid, receipt: Receipt) -> Option<Step> {
    let (from, to, audio) = match receipt {
        Receipt::Delivered => (Status::Sent, Status::Delivered, None),
        Receipt::Listening => (Status::Delivered, Status::Listening, Some(true)),
        Receipt::Read | Receipt::Listened => return None,
    };
    Some(Step {
        sender_id: claimed_sender,
        recipient_id: actor,
        from,
        to,
        audio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(kind: MessageType, status: Status) -> (Stored, Uuid, Uuid) {
        let (sender, recipient) = (Uuid::new_v4(), Uuid::new_v4());
        (
            Stored {
                sender_id: sender,
                recipient_id: recipient,
                kind,
                status,
            },
            sender,
            recipient,
        )
    }

    #[test]
    fn text_moves_forward_and_may_skip_ahead() {
        let (m, s, r) = stored(MessageType::Text, Status::Sent);
        assert_eq!(
            next_status(&m, r, s, Receipt::Delivered).ok().flatten(),
            Some(Status::Delivered)
        );
        assert_eq!(
            next_status(&m, r, s, Receipt::Read).ok().flatten(),
            Some(Status::Read)
        );
    }

    #[test]
    fn repeated_or_backward_steps_change_nothing() {
        let (m, s, r) = stored(MessageType::Image, Status::Read);
        assert_eq!(
            next_status(&m, r, s, Receipt::Delivered).ok().flatten(),
            None
        );
        assert_eq!(next_status(&m, r, s, Receipt::Read).ok().flatten(), None);
        let (m, s, r) = stored(MessageType::Voice, Status::Listened);
        assert_eq!(
            next_status(&m, r, s, Receipt::Listening).ok().flatten(),
            None
        );
    }

    #[test]
    fn audio_goes_through_listening_and_ignores_read() {
        let (m, s, r) = stored(MessageType::Voice, Status::Delivered);
        assert_eq!(
            next_status(&m, r, s, Receipt::Listening).ok().flatten(),
            Some(Status::Listening)
        );
        assert_eq!(
            next_status(&m, r, s, Receipt::Listened).ok().flatten(),
            Some(Status::Listened)
        );
        assert_eq!(next_status(&m, r, s, Receipt::Read).ok().flatten(), None);
    }

    #[test]
    fn audio_receipts_on_a_text_message_are_invalid() {
        let (m, s, r) = stored(MessageType::Text, Status::Sent);
        let err = next_status(&m, r, s, Receipt::Listening).err();
        assert_eq!(err.map(|e| e.event_code()), Some("invalid_payload"));
    }

    #[test]
    fn only_the_recipient_may_acknowledge() {
        let (m, s, _) = stored(MessageType::Text, Status::Sent);
        let err = next_status(&m, s, s, Receipt::Delivered).err();
        assert_eq!(err.map(|e| e.event_code()), Some("forbidden"));
    }

    #[test]
    fn a_wrong_sender_id_is_forbidden() {
        let (m, _, r) = stored(MessageType::Text, Status::Sent);
        let err = next_status(&m, r, Uuid::new_v4(), Receipt::Delivered).err();
        assert_eq!(err.map(|e| e.event_code()), Some("forbidden"));
    }

    #[test]
    fn the_usual_step_is_what_the_rule_decides() {
        let kinds = [
            MessageType::Text,
            MessageType::Image,
            MessageType::File,
            MessageType::Audio,
            MessageType::Voice,
        ];
        let receipts = [
            Receipt::Delivered,
            Receipt::Read,
            Receipt::Listening,
            Receipt::Listened,
        ];
        let (sender, recipient) = (Uuid::new_v4(), Uuid::new_v4());
        for receipt in receipts {
            let Some(step) = usual_step(recipient, sender, receipt) else {
                assert!(receipt.sets_read_at(), "{receipt:?} has no usual step");
                continue;
            };
            assert!(
                !receipt.sets_read_at(),
                "{receipt:?} counts unread messages"
            );
            assert_eq!((step.sender_id, step.recipient_id), (sender, recipient));
            let mut matched = 0;
            for kind in kinds {
                if step.audio.is_some_and(|audio| audio != kind.is_audio()) {
                    continue;
                }
                matched += 1;
                let message = Stored {
                    sender_id: sender,
                    recipient_id: recipient,
                    kind,
                    status: step.from,
                };
                assert_eq!(
                    next_status(&message, recipient, sender, receipt).ok(),
                    Some(Some(step.to)),
                    "{receipt:?} on a {kind:?} message at {:?}",
                    step.from
                );
            }
            assert!(matched > 0, "{receipt:?}'s step matches no kind");
        }
    }
}
