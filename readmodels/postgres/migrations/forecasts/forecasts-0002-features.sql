-- depends: forecasts-0001-forecasts
-- The feature vector each forecast was computed from, as its ForecastIssued event recorded it
-- (name -> value). Rows projected before this column existed hold NULL until the forecasts
-- projection is rebuilt (`sportcast projections rebuild forecasts`).
ALTER TABLE forecasts ADD COLUMN IF NOT EXISTS features jsonb;
