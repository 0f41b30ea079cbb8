"""Who is calling and what they may see: API keys, OAuth2 bearer JWTs, scopes, entitlements,
rate and connection limits. Every refusal is 401/403/429 problem+json (gateway.access.refusals).
"""
