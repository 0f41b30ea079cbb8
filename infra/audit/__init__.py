"""The auditor's tools: read the log without trusting the running system, and say what it holds."""
