"""Pre-match forecasting: event-time features, the football 1X2 model and its scoring rules."""
