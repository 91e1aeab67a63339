-- FlowSync initial schema (SQLite). Kept in lockstep with migrations/postgres.
-- Times are unix epoch milliseconds. Ids are opaque text made by the application.

CREATE TABLE rooms (
    id               TEXT PRIMARY KEY,
    code             TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    password_hash    TEXT,
    max_participants BIGINT NOT NULL,
    timer_settings   TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended', 'expired')),
    created_at       BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    closed_at        BIGINT,
    tombstone_until  BIGINT
);
CREATE INDEX rooms_status_expires ON rooms (status, expires_at);

CREATE TABLE participants (
    id             TEXT PRIMARY KEY,
    room_id        TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('host', 'guest')),
    device_id      TEXT,
    token_hash     TEXT NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    -- A participant holds a seat while last_seen_at is within the reconnect grace; a
    -- connected participant has last_seen_at = 9223372036854775807 (i64::MAX).
    last_seen_at   BIGINT NOT NULL,
    connections    BIGINT NOT NULL DEFAULT 0,
    left_at        BIGINT,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX participants_room ON participants (room_id);
-- Seat counting reads only live participants, however many have come and gone.
CREATE INDEX participants_seats ON participants (room_id, last_seen_at)
    WHERE revoked_at IS NULL AND left_at IS NULL;
CREATE INDEX participants_kicked ON participants (room_id, device_id)
    WHERE revoked_reason = 'kicked';

CREATE TABLE room_messages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id        TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    participant_id TEXT,
    sender_name    TEXT NOT NULL,
    type           TEXT NOT NULL CHECK (type IN ('text', 'emoji', 'system')),
    body           TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX room_messages_room_id ON room_messages (room_id, id);

CREATE TABLE room_sessions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id        TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL,
    joined_at      BIGINT NOT NULL,
    left_at        BIGINT
);
CREATE INDEX room_sessions_room ON room_sessions (room_id);

-- Server-generated keys (e.g. for signed download links), shared by every instance.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
