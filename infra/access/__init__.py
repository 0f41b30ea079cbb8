"""Access control's storage: API keys in PostgreSQL."""
