"""Alembic migrations of the OneMap database (frozen SQL: no imports of application code)."""
