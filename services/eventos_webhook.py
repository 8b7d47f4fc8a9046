"""Applying stored webhook events, at delivery and again later (issue #8).

At delivery an event is stored raw in the same transaction that applies it; when the apply
fails, that transaction is rolled back and the raw row is stored again on its own with the
error (``gravar_e_aplicar``). When reprocessing, each event of a batch is applied inside a
savepoint (``processar_registrado``). A failure of the payload (an ``EventoInvalido``, a value
PostgreSQL refuses) is permanent: the reason is kept and the event is never tried again. Any
other failure (a lost connection, a deadlock, a bug that a deploy fixes) queues the event for
reprocessing with a growing wait (``webhooks.ESPERA_MINUTOS``) until
``webhooks.MAXIMO_TENTATIVAS``. ``reprocessar`` runs the queued events through the same code,
each at most once at a time (``FOR UPDATE SKIP LOCKED``), so two runs never apply one twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from db.uow import UnidadeDeTrabalho
from services import hotmart_postback, webhooks

_log = logging.getLogger(__name__)

LIMITE_PADRAO = 500  # events per run (cron runs it again in a few minutes)
LOTE = 50  # events per transaction: bounded locks, one commit for many events
ESPERA_SEM_PROCESSAR = "1 minute"  # a row never processed younger than this may be in flight
SEM_PAYLOAD = "evento sem JSON legível armazenado; não há o que reprocessar"


@dataclass(frozen=True)
class Desfecho:
    """What applying one stored event did."""

    resultado: dict[str, Any] | None  # the apply's summary when it succeeded
    erro: str | None = None
    permanente: bool = False  # True: the payload itself is at fault, never retried
    ultima_tentativa: bool = False  # True: a transient failure that will not be retried


def aplicar_evento(session: Session, origem: str, payload: Any) -> dict[str, Any]:
    """Run one parsed event through its provider's apply, in the caller's transaction."""
    if not isinstance(payload, dict):
        raise hotmart_postback.EventoInvalido(SEM_PAYLOAD)
    if origem == "meta":
        from services import webhook_meta  # imports this module

        return webhook_meta.aplicar(session, payload)
    if origem == "hotmart":
        hotmart_postback.aplicar(session, payload)
        return {}
    raise hotmart_postback.EventoInvalido(f"origem desconhecida: {origem}")


def classificar(exc: Exception) -> tuple[str, bool]:
    """(reason to store, permanent?) for an exception raised while applying an event."""
    if isinstance(exc, hotmart_postback.EventoInvalido):
        return str(exc), True
    motivo = hotmart_postback.motivo_de_dados(exc)
    if motivo is not None:
        return motivo, True
    return f"{type(exc).__name__}: {exc}", False


def processar_registrado(session: Session, *, origem: str, registro: int, payload: Any) -> Desfecho:
    """Apply a stored event inside a savepoint and record the outcome on its raw row, all in
    the caller's transaction (which the caller commits)."""
    try:
        with session.begin_nested():
            resultado = aplicar_evento(session, origem, payload)
    except Exception as exc:  # noqa: BLE001 - every outcome is recorded on the raw row
        erro, permanente = classificar(exc)
        if permanente:
            webhooks.marcar(session, registro, erro)
            return Desfecho(None, erro, True)
        _log.exception("Falha ao aplicar o evento %s (%s)", registro, origem)
        de_novo = webhooks.marcar_falha_transitoria(session, registro, erro)
        return Desfecho(None, erro, False, ultima_tentativa=not de_novo)
    webhooks.marcar(session, registro)
    return Desfecho(resultado)


def gravar_e_aplicar(
    uow: UnidadeDeTrabalho, *, origem: str, evento_id: str, tipo: str | None, payload: dict
) -> Desfecho | None:
    """A delivery: store the raw event and apply it in the unit of work's transaction, one
    commit; None when the event is a duplicate.

    When the apply fails, everything is rolled back and the raw event is stored again on its
    own with the error (queued for reprocessing when the failure is transient). No savepoint on
    this hot path: the failure path pays for the second insert instead.
    """
    session = uow.session
    dados = {"origem": origem, "evento_id": evento_id, "tipo": tipo, "payload": payload}
    if webhooks.gravar(session, **dados) is None:
        return None
    try:
        resultado = aplicar_evento(session, origem, payload)
        uow.commit()
        return Desfecho(resultado)
    except Exception as exc:  # noqa: BLE001 - recorded on the raw row below
        uow.rollback()
        erro, permanente = classificar(exc)
        if not permanente:
            _log.exception("Falha ao aplicar o evento %s de %s", evento_id, origem)
    if webhooks.gravar(session, **dados, erro=erro, transitorio=not permanente) is None:
        return None  # a redelivery stored it meanwhile: its outcome stands
    uow.commit()
    return Desfecho(None, erro, permanente)


_PENDENTES = f"""
SELECT id, origem, payload
  FROM eventos_webhook
 WHERE id > :depois
   AND (reprocessar_em <= now()
        OR (processado_em IS NULL AND recebido_em < now() - interval '{ESPERA_SEM_PROCESSAR}'))
 ORDER BY id
 LIMIT :n
 FOR UPDATE SKIP LOCKED
"""


def contar_pendentes(session: Session) -> dict[str, int]:
    """Events due now, waiting for a later attempt, and failed for good (for operators)."""
    linha = session.execute(
        text(
            f"""
            SELECT count(*) FILTER (WHERE reprocessar_em <= now()
                       OR (processado_em IS NULL
                           AND recebido_em < now() - interval '{ESPERA_SEM_PROCESSAR}'))
                       AS prontos,
                   count(*) FILTER (WHERE reprocessar_em > now()) AS aguardando
              FROM eventos_webhook
             WHERE reprocessar_em IS NOT NULL OR processado_em IS NULL
            """
        )
    ).one()
    return {"prontos": linha.prontos, "aguardando": linha.aguardando}


def reprocessar(
    *, limite: int = LIMITE_PADRAO, progresso: Callable[[float, str], None] | None = None
) -> dict[str, int]:
    """Apply up to ``limite`` due events again (transient failures whose wait is over, and rows
    stored but never processed); return how many were applied, failed again, given up or found
    invalid."""
    if limite < 1:
        raise ValueError("o limite precisa ser um número inteiro maior que zero.")
    contagem = {"aplicados": 0, "falharam": 0, "desistidos": 0, "invalidos": 0}
    feitos, ultimo_id = 0, 0
    while feitos < limite:
        with UnidadeDeTrabalho() as uow:
            linhas = uow.session.execute(
                text(_PENDENTES), {"depois": ultimo_id, "n": min(LOTE, limite - feitos)}
            ).all()
            if not linhas:
                break
            for linha in linhas:
                desfecho = processar_registrado(
                    uow.session, origem=linha.origem, registro=linha.id, payload=linha.payload
                )
                if desfecho.erro is None:
                    contagem["aplicados"] += 1
                elif desfecho.permanente:
                    contagem["invalidos"] += 1
                elif desfecho.ultima_tentativa:
                    contagem["desistidos"] += 1
                else:
                    contagem["falharam"] += 1
            uow.commit()
        # Ids only grow: an event that failed again in this run is not picked up twice.
        feitos += len(linhas)
        ultimo_id = linhas[-1].id
        if progresso:
            progresso(100 * feitos / limite, f"{feitos} eventos reprocessados")
    return contagem


def executar_reprocessamento(
    *, iniciado_por: str | None, limite: int = LIMITE_PADRAO, observador=None
):
    """Reprocess as the 'webhooks_reprocessar' job (cron, CLI): one run at a time. The same
    run deletes Meta statuses parked for longer than their retention
    (``estacionados_expirados`` in the result)."""
    from services import jobs, whatsapp_status

    if limite < 1:
        raise ValueError("o limite precisa ser um número inteiro maior que zero.")

    def executar(execucao: jobs.ExecucaoJob) -> dict[str, int]:
        resultado = reprocessar(limite=limite, progresso=execucao.progresso)
        with UnidadeDeTrabalho() as uow:
            resultado["estacionados_expirados"] = whatsapp_status.expirar_estacionados(uow.session)
            uow.commit()
        return resultado

    return jobs.executar(
        "webhooks_reprocessar",
        executar,
        iniciado_por=iniciado_por,
        parametros={"limite": limite},
        observador=observador,
    )
