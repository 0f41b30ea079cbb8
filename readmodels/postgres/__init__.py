"""The PostgreSQL read models: schemas, migrations, bulk writes, positions and query functions.

Each projection owns one schema (``rm_<projection>``) holding its tables and its position; the
gateway reads them through the query functions here (asyncpg), never through the projections.
"""
