-- Standing rooms: a team's own room. It never expires by idleness (ending it is explicit), may
-- have a readable link /r/<slug> (unique while the room or its tombstone exists, so a slug is
-- never reused while its tombstone holds it), a host link derived from the server's link key
-- and this generation (rotating bumps it; NULL: no host link), and keeps its chat for
-- retention_days.
ALTER TABLE rooms ADD COLUMN standing BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN slug TEXT;
ALTER TABLE rooms ADD COLUMN host_link_generation BIGINT;
ALTER TABLE rooms ADD COLUMN retention_days BIGINT;
CREATE UNIQUE INDEX rooms_slug ON rooms (slug) WHERE slug IS NOT NULL;
