"""Alembic migrations of the operational database (applied with `epicity.db.migrate`)."""
