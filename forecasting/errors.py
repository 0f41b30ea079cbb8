"""Inputs the modelling package refuses, shared by every kind of model."""

from __future__ import annotations


class ForecastingInputError(ValueError):
    """An input the feature builder cannot accept; `code` is stable, the message says why."""

    code = "forecasting-input"


class ForecastTooLateError(ForecastingInputError):
    code = "forecast-too-late"
