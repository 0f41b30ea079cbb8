"""Modelling as pure computation: features, training sets, CatBoost training, calibration,
walk-forward evaluation, metrics and oblivious-tree scoring for every kind of model.

numpy and CatBoost only, no I/O of its own (rows and bytes in, numbers and bytes out). It imports
only `domain`; the application layer (`commands/`) and the adapters (`infra/`) call it.
"""
