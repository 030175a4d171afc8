"""Database tests: migrations, roles, upserts, rollups and retention on each backend."""
