-- depends: projector-0001-failures
-- Projections whose rows live outside PostgreSQL (the analytics projection's DuckDB file): where
-- each stands per stream, copied here after its own commits so `sportcast projections status`
-- and /readyz in any process see it. Not in the transaction of its rows: it may trail them.
CREATE TABLE IF NOT EXISTS positions_elsewhere (
    projection  text NOT NULL,
    stream      text NOT NULL,
    position    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, stream)
);
