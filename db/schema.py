"""Applying schema.sql (idempotent) and reading its version."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import Connection, Engine, text

ARQUIVO_SCHEMA = Path(__file__).resolve().parent.parent / "schema.sql"

# Any constant works; it only has to be the same in every process that applies the schema.
_CHAVE_LOCK_SCHEMA = 7_310_001
# The comment on schema_versao names the exact schema.sql text last applied to this database.
_PREFIXO_MARCA = "schema.sql sha256 "


def aplicar_schema(engine: Engine) -> int:
    """Apply schema.sql in one transaction under an advisory lock; return the schema version.

    Always runs the whole file (``migrate``, tests, the benchmark's index rebuild). Its
    ``CREATE INDEX IF NOT EXISTS`` still takes a SHARE lock on every table, so on a database in
    use prefer :func:`garantir_schema`."""
    return _aplicar(engine, *_ler(), sempre=True)


def garantir_schema(engine: Engine) -> int:
    """Apply schema.sql only when this database has not had this exact text applied yet.

    Start-up of the app, workers and every CLI command use this: re-running the DDL takes table
    locks in the file's order while the app's writers take theirs in another order, which
    PostgreSQL resolves by killing one side ("deadlock detected")."""
    ddl, marca = _ler()
    with engine.connect() as conn:
        versao = _versao_se_marcada(conn, marca)
    if versao is not None:
        return versao
    return _aplicar(engine, ddl, marca, sempre=False)


def versao_schema(engine: Engine) -> int | None:
    """The applied schema version, or None when the schema has not been applied."""
    with engine.connect() as conn:
        existe = conn.execute(text("SELECT to_regclass('schema_versao')")).scalar()
        if existe is None:
            return None
        return conn.execute(text("SELECT max(versao) FROM schema_versao")).scalar()


def _ler() -> tuple[str, str]:
    ddl = ARQUIVO_SCHEMA.read_text(encoding="utf-8")
    return ddl, _PREFIXO_MARCA + hashlib.sha256(ddl.encode("utf-8")).hexdigest()


def _versao_se_marcada(conn: Connection, marca: str) -> int | None:
    """The schema version when ``marca`` is the last schema.sql applied here, else None."""
    if conn.execute(text("SELECT to_regclass('schema_versao')")).scalar() is None:
        return None
    linha = conn.execute(
        text(
            "SELECT obj_description('schema_versao'::regclass, 'pg_class') AS marca, "
            "(SELECT max(versao) FROM schema_versao) AS versao"
        )
    ).one()
    return linha.versao if linha.marca == marca else None


def _aplicar(engine: Engine, ddl: str, marca: str, *, sempre: bool) -> int:
    with engine.begin() as conn:
        # Two processes starting together would otherwise race on CREATE ... IF NOT EXISTS.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAVE_LOCK_SCHEMA})
        if not sempre:
            # Another process may have applied it while this one waited for the lock.
            versao = _versao_se_marcada(conn, marca)
            if versao is not None:
                return versao
        conn.exec_driver_sql(ddl)
        # A hex digest and a fixed prefix: nothing to quote (COMMENT takes no parameters).
        conn.exec_driver_sql(f"COMMENT ON TABLE schema_versao IS '{marca}'")
        return conn.execute(text("SELECT max(versao) FROM schema_versao")).scalar_one()
