"""The projector's adapters and wiring: event logs over JetStream, the runner, the CLI."""
