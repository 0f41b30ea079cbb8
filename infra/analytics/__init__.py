"""Running the analytics projection: reading the logs, the DuckDB store, the Kafka sink."""
