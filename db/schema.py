"""Applying schema.sql (idempotent) and reading its version."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

ARQUIVO_SCHEMA = Path(__file__).resolve().parent.parent / "schema.sql"

# Any constant works; it only has to be the same in every process that applies the schema.
_CHAVE_LOCK_SCHEMA = 7_310_001


def aplicar_schema(engine: Engine) -> int:
    """Apply schema.sql in one transaction under an advisory lock; return the schema version."""
    ddl = ARQUIVO_SCHEMA.read_text(encoding="utf-8")
    with engine.begin() as conn:
        # Two processes starting together would otherwise race on CREATE ... IF NOT EXISTS.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAVE_LOCK_SCHEMA})
        conn.exec_driver_sql(ddl)
        return conn.execute(text("SELECT max(versao) FROM schema_versao")).scalar_one()


def versao_schema(engine: Engine) -> int | None:
    """The applied schema version, or None when the schema has not been applied."""
    with engine.connect() as conn:
        existe = conn.execute(text("SELECT to_regclass('schema_versao')")).scalar()
        if existe is None:
            return None
        return conn.execute(text("SELECT max(versao) FROM schema_versao")).scalar()
