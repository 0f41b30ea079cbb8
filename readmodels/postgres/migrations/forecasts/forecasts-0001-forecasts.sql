-- depends: tracking-0001-position
-- Every forecast issued, keyed by its position in the forecasts stream.
CREATE TABLE IF NOT EXISTS forecasts (
    position              bigint PRIMARY KEY,
    fixture_id            uuid NOT NULL,
    version               integer NOT NULL,
    model_kind            text NOT NULL,
    issued_at             timestamptz NOT NULL,
    kickoff               timestamptz NOT NULL,
    trigger               text NOT NULL,
    model_id              text NOT NULL,
    artifact_hash         text NOT NULL,
    market                text NOT NULL,
    outcomes              text[] NOT NULL,
    probabilities         double precision[] NOT NULL,
    market_probabilities  double precision[] NOT NULL,
    edge                  double precision[] NOT NULL,
    as_of_position        bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS forecasts_by_fixture ON forecasts (fixture_id, position);

-- The newest forecast per fixture and model kind (same columns).
CREATE TABLE IF NOT EXISTS latest_forecasts (
    fixture_id            uuid NOT NULL,
    model_kind            text NOT NULL,
    position              bigint NOT NULL,
    version               integer NOT NULL,
    issued_at             timestamptz NOT NULL,
    kickoff               timestamptz NOT NULL,
    trigger               text NOT NULL,
    model_id              text NOT NULL,
    artifact_hash         text NOT NULL,
    market                text NOT NULL,
    outcomes              text[] NOT NULL,
    probabilities         double precision[] NOT NULL,
    market_probabilities  double precision[] NOT NULL,
    edge                  double precision[] NOT NULL,
    as_of_position        bigint NOT NULL,
    PRIMARY KEY (fixture_id, model_kind)
);
CREATE INDEX IF NOT EXISTS latest_forecasts_by_kickoff ON latest_forecasts (kickoff);
