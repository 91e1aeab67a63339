-- Opening and closing a participant's session record looks it up by participant: without this
-- index every connect and disconnect scanned all of room_sessions (quadratic over a server's
-- life; found with `flowsync bench`, where 19,000 connects took a whole core).
CREATE INDEX room_sessions_participant ON room_sessions (participant_id);
