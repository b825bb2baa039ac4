"""The migration database: what the scheduler submits and the workers claim.

- `models`: the schema (SQLAlchemy declarative) and the enums stored in it; `alembic/` migrates it.
- `urls` / `engine`: `datasources.default.url` (SQLAlchemy or JDBC form) to a tuned Engine.
- `records`: the frozen values and errors the repository speaks in.
- `repository.MigrationRepository`: all SQL - catalogue, backends, and the job queue.
- `crypto` / `keys`: AES-256-GCM wrapping of source passwords; storage keys from files or PKCS#12.
"""
