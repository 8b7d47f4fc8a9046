"""The Hotmart client built from Configurações, and the sync as a job."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.uow import UnidadeDeTrabalho
from services import config, jobs, saude_instantaneo
from services.hotmart_client import HotmartClient
from services.hotmart_sync import Sincronizacao

_log = logging.getLogger(__name__)


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
        resultado = Sincronizacao(
            cliente,
            desde=desde,
            progresso=lambda p, m: execucao.progresso(base + p * escala, m),
            cursor=execucao.cursor,
            salvar_cursor=execucao.salvar_cursor,
        ).executar()
    # New sales and lessons change the health score Home shows: refresh its snapshot now.
    execucao.progresso(base + 99 * escala, "Saúde dos alunos")
    try:
        resultado["saude_atualizada"] = saude_instantaneo.atualizar_se_antigo(
            iniciado_por="sincronização", idade_maxima_min=None
        )
    except Exception:  # noqa: BLE001 - the sync itself succeeded; the 'saude' job shows the error
        _log.exception("Falha ao atualizar a saúde dos alunos após a sincronização")
        resultado["saude_atualizada"] = False
    return resultado


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
