-- A chat line may carry an id its client chose, so a line resent after a reconnect (its
-- acknowledgement was lost) is stored once: the resend finds the stored line and is
-- acknowledged with it.
ALTER TABLE room_messages ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX room_messages_client ON room_messages (participant_id, client_id)
    WHERE client_id IS NOT NULL;
