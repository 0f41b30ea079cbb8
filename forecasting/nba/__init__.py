"""NBA home win: pre-game features and model, per-quarter in-play model, training from the feed."""
