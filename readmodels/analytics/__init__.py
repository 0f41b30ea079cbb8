"""readmodels/analytics"""
