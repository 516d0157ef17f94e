"""Alembic migrations of the acquis database (shipped inside the package as acquis.migrations)."""
