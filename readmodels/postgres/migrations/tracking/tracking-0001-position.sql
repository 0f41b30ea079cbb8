-- Where this schema's projection has got to in each stream it follows. Written in the same
-- transaction as the rows, so the rows and the position are always consistent.
CREATE TABLE IF NOT EXISTS projection_position (
    stream        text PRIMARY KEY,
    position      bigint NOT NULL DEFAULT 0,
    caught_up_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
