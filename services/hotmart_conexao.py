"""The Hotmart client built from Configurações, and the sync as a job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.uow import UnidadeDeTrabalho
from services import config, jobs
from services.hotmart_client import HotmartClient
from services.hotmart_sync import Sincronizacao


class HotmartNaoConfigurada(RuntimeError):
    """Credentials missing (message in pt-BR)."""


def cliente_configurado(session: Session) -> HotmartClient:
    """A client from the stored credentials; a clear pt-BR error when they are missing."""
    client_id = config.obter(session, "hotmart_client_id")
    client_secret = config.obter(session, "hotmart_client_secret")
    if not client_id or not client_secret:
        raise HotmartNaoConfigurada(
            "Configure o Client ID e o Client Secret da Hotmart em Configurações."
        )
    return HotmartClient(
        client_id=client_id,
        client_secret=client_secret,
        basic_token=config.obter(session, "hotmart_basic_token"),
        api_base=config.obter(session, "hotmart_api_base"),
        auth_url=config.obter(session, "hotmart_auth_url"),
    )


def sincronizar(
    execucao: jobs.ExecucaoJob,
    *,
    desde: datetime | None = None,
    base: float = 0,
    escala: float = 1.0,
) -> dict[str, Any]:
    """Run a sync inside a job; its 0–100 progress is scaled into [base, base + 100 × escala]."""
    with UnidadeDeTrabalho() as uow:
        cliente = cliente_configurado(uow.session)
    with cliente:
        return Sincronizacao(
            cliente,
            desde=desde,
            progresso=lambda p, m: execucao.progresso(base + p * escala, m),
            cursor=execucao.cursor,
            salvar_cursor=execucao.salvar_cursor,
        ).executar()


def executar_sync(
    *,
    iniciado_por: str | None,
    desde: datetime | None = None,
    observador: Callable[[float, str], None] | None = None,
) -> jobs.Job:
    """Sync as the 'sync_hotmart' job; resumes the steps of a failed run with the same window."""
    parametros = {"desde": desde.isoformat() if desde else None}
    anterior = jobs.ultimo("sync_hotmart")
    cursor = None
    if anterior and anterior.status in ("erro", "interrompido") and anterior.cursor:
        if (anterior.parametros or {}) == parametros:
            cursor = anterior.cursor
    return jobs.executar(
        "sync_hotmart",
        lambda execucao: sincronizar(execucao, desde=desde),
        iniciado_por=iniciado_por,
        parametros=parametros,
        cursor_inicial=cursor,
        observador=observador,
    )
