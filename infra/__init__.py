"""Adapters and wiring: settings, event store, connections, embedded stack, CLI."""
