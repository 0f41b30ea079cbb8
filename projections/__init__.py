"""Projections: which events each read model handles and how it updates its view."""
