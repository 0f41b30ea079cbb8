"""The forecaster: the process application that follows the feed and issues forecasts with the
models of the `forecasting` package."""
