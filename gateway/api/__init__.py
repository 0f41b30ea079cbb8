"""The public REST API (``/v1``): one router per resource, reading the PostgreSQL read models."""
