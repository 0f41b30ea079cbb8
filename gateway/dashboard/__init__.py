"""The dashboard: pages served by the gateway itself, fed by SSE and the named dashboard queries."""
