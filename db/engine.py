"""The process-wide SQLAlchemy engine: DATABASE_URL or the embedded PostgreSQL."""

from __future__ import annotations

import os
import threading

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from db import embedded

_lock = threading.Lock()
_engine: Engine | None = None


class DatabaseIndisponivel(RuntimeError):
    """The database cannot be reached (message is safe to show: no credentials)."""


def usando_embutido() -> bool:
    """True when no DATABASE_URL is set and the embedded PostgreSQL is used."""
    return not os.environ.get("DATABASE_URL")


def url_do_banco() -> str:
    """The SQLAlchemy URL: DATABASE_URL (normalised to psycopg 3) or the embedded server's."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return embedded.iniciar(embedded.diretorio_dados() / "pg")
    for prefixo in ("postgresql://", "postgres://"):
        if url.startswith(prefixo):
            return "postgresql+psycopg://" + url.removeprefix(prefixo)
    return url


def obter_engine() -> Engine:
    """Return the engine shared by every page, webhook and CLI command of this process."""
    global _engine
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            _engine = create_engine(
                url_do_banco(),
                pool_pre_ping=True,  # a connection lost to a restart is replaced, not raised
                pool_size=5,
                max_overflow=10,
                pool_recycle=1800,
                connect_args={"connect_timeout": 5, "application_name": "terceiriza-cs"},
            )
            if usando_embutido():
                event.listen(_engine, "do_connect", _antes_de_conectar)
    return _engine


def _antes_de_conectar(_dialect, _registro, _cargs, _cparams) -> None:
    """Embedded mode: a server that died under this process is started again (after a grace)."""
    embedded.garantir_rodando()


def descartar_engine() -> None:
    """Dispose of the engine (tests and shutdown); the next call builds a new one."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.dispose()
            _engine = None


def verificar_conexao(engine: Engine | None = None) -> None:
    """Run ``SELECT 1``; raise DatabaseIndisponivel with a safe reason when it fails."""
    try:
        with (engine or obter_engine()).connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise DatabaseIndisponivel(motivo_seguro(exc)) from exc


def motivo_seguro(exc: DBAPIError) -> str:
    """First line of the driver's message, without the URL or password."""
    original = getattr(exc, "orig", None) or exc
    primeira = (
        str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
    )
    return primeira[:200]
