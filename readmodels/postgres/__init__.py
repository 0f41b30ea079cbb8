"""readmodels/postgres"""
