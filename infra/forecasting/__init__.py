"""Forecasting processes and model lifecycle: wiring to the event store."""
