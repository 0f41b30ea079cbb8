"""The read side's storage and queries (PostgreSQL views, analytics tables)."""
