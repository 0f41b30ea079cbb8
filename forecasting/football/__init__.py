"""Football 1X2 before kick-off: inputs, event-time features, training rows, the model and its
walk-forward evaluation."""
