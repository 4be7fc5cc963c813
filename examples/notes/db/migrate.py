"""Applies db/migrations/*.sql in name order, each once: the deployScript runs it on every deploy
(python3 db/migrate.py) against the environment's own database, DATABASE_URL.

Applied files are recorded in the table schema_migrations, so the next deploy skips them. All of
this run's migrations are one transaction: one that fails leaves the database as it was, and the
deploy fails with its name and PostgreSQL's error.
"""
import os
import sys
from contextlib import closing
from pathlib import Path

import psycopg2

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main():
    files = sorted(MIGRATIONS.glob("*.sql"))
    with closing(psycopg2.connect(os.environ["DATABASE_URL"])) as conn:
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            # One migrate at a time, should two deploys of this environment overlap.
            cur.execute("LOCK TABLE schema_migrations")
            cur.execute("SELECT name FROM schema_migrations")
            applied = {name for (name,) in cur.fetchall()}
            pending = [path for path in files if path.name not in applied]
            for path in pending:
                try:
                    cur.execute(path.read_text(encoding="utf-8"))
                except psycopg2.Error as error:
                    sys.exit(f"migration {path.name} failed: {error}")
                cur.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
                print(f"applied {path.name}")
    print(f"migrations: {len(pending)} applied, {len(files) - len(pending)} already in place")


if __name__ == "__main__":
    main()
