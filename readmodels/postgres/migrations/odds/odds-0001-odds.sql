-- depends: tracking-0001-position
-- One row per odds book (fixture, market, source): its latest quote, null until the first.
CREATE TABLE IF NOT EXISTS odds_latest (
    book_id             uuid PRIMARY KEY,
    fixture_id          uuid NOT NULL,
    market              text NOT NULL,
    source              text NOT NULL,
    quoted_at           timestamptz,
    stage               text,
    price_format        text,
    raw_prices          text[],
    decimal_prices      double precision[],
    overround           double precision,
    margin_method       text,
    probabilities       double precision[],
    quotes              integer NOT NULL DEFAULT 0,
    position            bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS odds_latest_by_fixture ON odds_latest (fixture_id, market, source);

-- Every quote, in log order.
CREATE TABLE IF NOT EXISTS odds_history (
    position            bigint PRIMARY KEY,
    book_id             uuid NOT NULL,
    fixture_id          uuid NOT NULL,
    quoted_at           timestamptz NOT NULL,
    stage               text,
    price_format        text NOT NULL,
    raw_prices          text[] NOT NULL,
    decimal_prices      double precision[] NOT NULL,
    overround           double precision NOT NULL,
    margin_method       text NOT NULL,
    probabilities       double precision[] NOT NULL
);
CREATE INDEX IF NOT EXISTS odds_history_by_fixture ON odds_history (fixture_id, book_id, position);
