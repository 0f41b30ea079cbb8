"""The pure model of sportcast: aggregates, their events, value objects and domain errors.

Nothing here does I/O or imports another sportcast layer.
"""
