-- depends: tracking-0001-position
-- What settlement needs of each fixture (from the feed stream).
CREATE TABLE IF NOT EXISTS fixtures (
    fixture_id    uuid PRIMARY KEY,
    sport         text NOT NULL,
    competition   text NOT NULL,
    season        text NOT NULL
);

-- The result each forecast is scored against: the final score, or its latest correction.
CREATE TABLE IF NOT EXISTS results (
    fixture_id    uuid PRIMARY KEY,
    home          integer NOT NULL,
    away          integer NOT NULL,
    corrections   integer NOT NULL DEFAULT 0,
    position      bigint NOT NULL
);

-- Every forecast, scored once its fixture has a result (re-scored on a correction).
CREATE TABLE IF NOT EXISTS settled_forecasts (
    position              bigint PRIMARY KEY,
    fixture_id            uuid NOT NULL,
    model_kind            text NOT NULL,
    model_id              text NOT NULL,
    trigger               text NOT NULL,
    track                 text NOT NULL,
    outcomes              text[] NOT NULL,
    probabilities         double precision[] NOT NULL,
    market_probabilities  double precision[] NOT NULL,
    outcome               integer,
    rps                   double precision,
    log_loss              double precision,
    brier                 double precision,
    market_rps            double precision,
    market_log_loss       double precision,
    market_brier          double precision,
    result_position       bigint
);
CREATE INDEX IF NOT EXISTS settled_forecasts_by_fixture ON settled_forecasts (fixture_id);
CREATE INDEX IF NOT EXISTS settled_forecasts_by_model ON settled_forecasts (model_id, track) WHERE outcome IS NOT NULL;
