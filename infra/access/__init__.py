"""Access control's storage: API keys in PostgreSQL, and the wiring of the access gate."""
