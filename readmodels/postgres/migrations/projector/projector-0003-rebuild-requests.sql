-- depends: projector-0002-positions-elsewhere
-- Rebuilds asked of a process that holds a projection's rows outside PostgreSQL (the analytics
-- projection's DuckDB file, which one process may open): the command adds a row, the holder
-- takes it, reports its progress here and its end (docs/adr/0035).
CREATE TABLE IF NOT EXISTS rebuild_requests (
    id            bigserial PRIMARY KEY,
    projection    text NOT NULL,
    state         text NOT NULL DEFAULT 'requested',
    requested_at  timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    events        bigint NOT NULL DEFAULT 0,
    positions     jsonb NOT NULL DEFAULT '{}',
    detail        text
);
CREATE INDEX IF NOT EXISTS rebuild_requests_open ON rebuild_requests (projection, id)
    WHERE state IN ('requested', 'building');
