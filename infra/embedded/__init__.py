"""infra/embedded"""
