-- A projection that failed on an event: what failed, where, and when. Kept apart from the
-- projections' own schemas so a rebuild does not erase it.
CREATE TABLE IF NOT EXISTS failures (
    projection  text PRIMARY KEY,
    stream      text NOT NULL,
    position    bigint NOT NULL,
    error       text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
