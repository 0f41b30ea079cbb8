"""HTTP ingest for feed providers: fixtures, odds and match events."""
