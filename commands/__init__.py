"""Commands, their handlers (application services) and the ports they need."""
