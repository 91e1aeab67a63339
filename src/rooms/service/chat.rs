//! Chat through the room services: a line checked, stored once (a resend after a lost
//! acknowledgement finds the line stored earlier), counted against the sender's budget, and
//! told to the room.

use super::*;

/// A chat message as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub sender_id: Option<String>,
    pub sender_name: String,
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
}

impl From<&MessageRow> for MessageView {
    fn from(m: &MessageRow) -> Self {
        MessageView {
            id: m.id,
            sender_id: m.participant_id.clone(),
            sender_name: m.sender_name.clone(),
            message: m.body.clone(),
            kind: m.kind.clone(),
            created_at: rfc3339(m.created_at),
        }
    }
}

/// A chat line as [`App::store_chat`] left it.
#[derive(Debug)]
pub struct StoredChat {
    pub row: MessageRow,
    /// Stored now (false: a resend of a line stored earlier).
    pub fresh: bool,
}

impl App {
    /// Stores a participant's chat message and tells the room (within the participant's
    /// message budget).
    pub async fn post_message(
        &self,
        who: &AuthRow,
        text: &str,
        kind: crate::rooms::MessageType,
    ) -> Result<MessageRow, ApiError> {
        let stored = self.store_chat(who, text, kind, None).await?;
        self.live.publish(LiveEvent::Message {
            room_id: who.room_id.clone(),
            message: stored.row.clone(),
        });
        Ok(stored.row)
    }

    /// Checks and stores a chat line without telling the room (the caller does: a socket
    /// sends it itself, to learn whom it reached). With a `client_id` the sender already used,
    /// nothing is stored and the earlier line is returned (`fresh: false`): a resend after a
    /// lost acknowledgement, which the room has already been sent.
    pub async fn store_chat(
        &self,
        who: &AuthRow,
        text: &str,
        kind: crate::rooms::MessageType,
        client_id: Option<&str>,
    ) -> Result<StoredChat, ApiError> {
        if let Some(id) = client_id {
            crate::rooms::validate_client_id(id)?;
            if let Some(row) = self.earlier_line(who, id).await? {
                return Ok(StoredChat { row, fresh: false });
            }
        }
        let body = crate::rooms::chat_message(text, kind, self.config().rooms.message_max_chars)?;
        self.check_message_rate(&who.participant_id).await?;
        let stored = self
            .store_message(&NewMessage {
                room_id: &who.room_id,
                participant_id: Some(&who.participant_id),
                sender_name: &who.display_name,
                kind: kind.as_str(),
                body: &body,
                client_id,
            })
            .await;
        let row = match stored {
            Ok(row) => row,
            // The same line arrived twice at once (a resend racing the original): the first
            // stored it.
            Err(e) if client_id.is_some() && db::is_unique_violation(&e) => {
                let id = client_id.unwrap_or_default();
                return match self.earlier_line(who, id).await? {
                    Some(row) => Ok(StoredChat { row, fresh: false }),
                    None => Err(ApiError::from(e)),
                };
            }
            Err(e) => return Err(ApiError::from(e)),
        };
        Metrics::inc(&self.metrics.messages_posted);
        Ok(StoredChat { row, fresh: true })
    }

    /// The line `who` stored under `client_id`, in `who`'s room.
    async fn earlier_line(
        &self,
        who: &AuthRow,
        client_id: &str,
    ) -> Result<Option<MessageRow>, ApiError> {
        Ok(
            db::messages::by_client_id(&self.db, &who.participant_id, client_id)
                .await?
                .filter(|row| row.room_id == who.room_id),
        )
    }
}
