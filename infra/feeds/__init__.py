"""Feed adapters: where events come from (datasets, the simulator, HTTP ingest)."""
