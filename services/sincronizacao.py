"""The sidebar's "Sincronizar": Hotmart, then WhatsApp templates, then Chatwoot labels."""

from __future__ import annotations

import logging

from db.uow import UnidadeDeTrabalho
from services import config, jobs

_log = logging.getLogger(__name__)


def _configurado(*chaves: str) -> bool:
    with UnidadeDeTrabalho() as uow:
        return all(config.obter(uow.session, chave) for chave in chaves)


def sincronizar_tudo(*, iniciado_por: str | None) -> dict[str, str]:
    """Run each configured provider's sync as its own job; one failing does not stop the next.

    Returns each provider's outcome ("concluido", "não configurado" or the error).
    """
    from services import chatwoot_sync, whatsapp
    from services.hotmart_conexao import executar_sync

    etapas = [
        (
            "hotmart",
            ("hotmart_client_id", "hotmart_client_secret"),
            lambda: executar_sync(iniciado_por=iniciado_por),
        ),
        (
            "templates",
            ("meta_access_token", "meta_waba_id"),
            lambda: whatsapp.executar_sync_templates(iniciado_por=iniciado_por),
        ),
        (
            "chatwoot",
            ("chatwoot_base_url", "chatwoot_api_token", "chatwoot_account_id"),
            lambda: chatwoot_sync.executar_sync_chatwoot(iniciado_por=iniciado_por),
        ),
    ]
    resultado = {}
    for nome, chaves, executar in etapas:
        if not _configurado(*chaves):
            resultado[nome] = "não configurado"
            continue
        try:
            resultado[nome] = executar().status
        except jobs.JobEmAndamento as exc:
            resultado[nome] = str(exc)
        except Exception as exc:  # noqa: BLE001 - recorded on the job; the next provider runs
            _log.warning("Sincronização de %s falhou: %s", nome, exc)
            resultado[nome] = f"erro: {exc}"
    return resultado
