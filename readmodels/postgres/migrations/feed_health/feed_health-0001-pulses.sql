-- depends: tracking-0001-position
-- The newest quote time per competition and source (staleness is now minus last_quote_at).
CREATE TABLE IF NOT EXISTS pulses (
    competition     text NOT NULL,
    source          text NOT NULL,
    last_quote_at   timestamptz NOT NULL,
    position        bigint NOT NULL,
    PRIMARY KEY (competition, source)
);

-- Each time a fixture close to kick-off went without odds (OddsWentStale).
CREATE TABLE IF NOT EXISTS stale_episodes (
    position              bigint PRIMARY KEY,
    fixture_id            uuid NOT NULL,
    competition           text NOT NULL,
    kickoff               timestamptz NOT NULL,
    last_quote_at         timestamptz,
    checked_at            timestamptz NOT NULL,
    stale_after_seconds   double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS stale_episodes_by_competition ON stale_episodes (competition, checked_at);
