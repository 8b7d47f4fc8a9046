"""Start-up of any process (app, CLI, tests): database reachable, schema applied, first admin."""

from __future__ import annotations

import logging
import os
import sys
import threading

from db.engine import obter_engine
from db.schema import garantir_schema
from db.uow import UnidadeDeTrabalho
from services import usuarios

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_pronto: int | None = None


def preparar() -> int:
    """Once per process: start/attach the database, apply the schema, create the first admin.

    Returns the schema version.
    """
    global _pronto
    if _pronto is not None:
        return _pronto
    with _lock:
        if _pronto is None:
            engine = obter_engine()
            versao = garantir_schema(engine)
            with UnidadeDeTrabalho(engine) as uow:
                gerada = usuarios.garantir_admin_inicial(
                    uow.session, os.environ.get("TERCEIRIZA_ADMIN_PASSWORD") or None
                )
                uow.commit()
            if gerada:
                _anunciar_senha_inicial(gerada)
            _pronto = versao
    return _pronto


def _anunciar_senha_inicial(senha: str) -> None:
    # Deliberately the only place a credential reaches the console: shown once, on the first
    # start, so the operator can log in; it is never logged or stored in plain text.
    print(
        "\n"
        "==============================================================\n"
        " Primeiro acesso: usuário 'admin' criado.\n"
        f" Senha gerada (mostrada só desta vez): {senha}\n"
        " Troque-a em Configurações > Usuários após entrar.\n"
        "==============================================================\n",
        file=sys.stderr,
        flush=True,
    )


def esquecer() -> None:
    """Forget that start-up ran (tests that reset the database)."""
    global _pronto
    with _lock:
        _pronto = None
