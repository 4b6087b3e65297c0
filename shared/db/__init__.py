"""PostgreSQL access shared by training and serving: URL resolution, connections, migrations."""

from shared.db.connection import connect, database_url, sqlalchemy_url

__all__ = ["connect", "database_url", "sqlalchemy_url"]
