"""Server-sent event streams with exact resume, fanned out from one upstream consumer per log."""
