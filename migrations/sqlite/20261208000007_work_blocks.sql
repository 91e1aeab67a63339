-- Co-working rituals on the shared timer. A work block is numbered per room (the timer state's
-- `block`, which never goes back, not even on reset). Each participant may set one goal for the
-- current or next block; when the block ends its goals are closed (`ended_at`) and their
-- setters asked to check in once (`outcome`: done, partly, not_done, with an optional note).
-- `work_blocks` records each block that ended after running, for the room's record of the day.
-- Both go with the room's chat: kept for the retention of a standing room, deleted when the
-- room ends or expires.
CREATE TABLE goals (
    room_id        TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    block          BIGINT NOT NULL,
    participant_id TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    body           TEXT NOT NULL,
    set_at         BIGINT NOT NULL,
    ended_at       BIGINT,
    outcome        TEXT CHECK (outcome IN ('done', 'partly', 'not_done')),
    note           TEXT,
    checked_in_at  BIGINT,
    PRIMARY KEY (room_id, block, participant_id)
);

CREATE TABLE work_blocks (
    room_id   TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    block     BIGINT NOT NULL,
    ended_at  BIGINT NOT NULL,
    -- 1: ran to its end; 0: the host moved on early (skip, or started a break).
    completed BIGINT NOT NULL,
    -- The display names of the people in the room when it ended (a JSON array): who worked
    -- through it, for the record of the day and a person's streak in a standing room.
    people    TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (room_id, block)
);
CREATE INDEX work_blocks_ended ON work_blocks (room_id, ended_at);
