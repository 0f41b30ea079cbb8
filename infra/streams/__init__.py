"""The SSE hub's upstream: JetStream streams read as stream events (gateway.ports.EventLog)."""
