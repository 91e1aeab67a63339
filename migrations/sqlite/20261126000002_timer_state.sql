-- The server-authoritative pomodoro timer: its state (JSON), when the running phase ends
-- (indexed, so the phase-end poll reads only due rooms), and a version for compare-and-set
-- updates so exactly one instance applies (and announces) each change.
ALTER TABLE rooms ADD COLUMN timer_state TEXT;
ALTER TABLE rooms ADD COLUMN timer_ends_at BIGINT;
ALTER TABLE rooms ADD COLUMN timer_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX rooms_timer_ends_at ON rooms (timer_ends_at) WHERE timer_ends_at IS NOT NULL;
