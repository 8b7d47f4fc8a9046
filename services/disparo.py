"""Dispatch: approved queue items → Meta, at most once, behind every brake.

Workers claim items with ``FOR UPDATE SKIP LOCKED`` (any number of workers never take the same
item) and mark them ``enviando`` with their worker key. Each worker holds a session advisory
lock on that key while it runs, so an item still ``enviando`` whose worker lock is gone was
claimed by a worker that died: it may or may not have reached Meta, so it becomes
``verificar`` for a person — never re-sent automatically.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text

from db.engine import obter_engine
from db.uow import UnidadeDeTrabalho
from services import config, regras, whatsapp
from services.consentimento import SQL_SEM_CONSENTIMENTO
from services.regras_sql import AINDA_VALIDO, SP
from services.whatsapp_client import Acao, WhatsAppErro

_log = logging.getLogger(__name__)
CLASSE_LOCK = 7311  # advisory lock class of dispatch workers (pg_locks.classid)
MAX_TENTATIVAS = 3


class Balde:
    """Token bucket: at most ``taxa`` sends per second. It starts with a single token, so the
    first second cannot burst to twice the limit (a full bucket sent 160 in the first second
    at 80/s: measured by ``make bench``)."""

    def __init__(self, taxa: float, *, relogio=time.monotonic, sleep=time.sleep) -> None:
        self.taxa = max(0.1, float(taxa))
        self._relogio, self._sleep = relogio, sleep
        self._fichas = 1.0
        self._ultimo = relogio()

    def aguardar(self) -> None:
        """Block until a token is available, then take it."""
        while True:
            agora = self._relogio()
            self._fichas = min(self.taxa, self._fichas + (agora - self._ultimo) * self.taxa)
            self._ultimo = agora
            if self._fichas >= 1 - 1e-9:  # float refill may land a hair under 1
                self._fichas = max(0.0, self._fichas - 1)
                return
            self._sleep((1 - self._fichas) / self.taxa)


def recuperar_orfaos() -> int:
    """Items claimed by a worker whose lock is gone → 'verificar' (never an automatic resend)."""
    with UnidadeDeTrabalho() as uow:
        n = uow.session.execute(
            text(
                """
                UPDATE filas_disparo f SET status = 'verificar',
                       erro_mensagem = 'envio não confirmado: o processo de disparo parou'
                 WHERE f.status = 'enviando'
                   AND NOT EXISTS (SELECT 1 FROM pg_locks l
                                    WHERE l.locktype = 'advisory' AND l.granted
                                      AND l.classid = :classe AND l.objid = f.reservado_por
                                      AND l.objsubid = 2)
                """
            ),
            {"classe": CLASSE_LOCK},
        ).rowcount
        uow.commit()
    return n or 0


_SQL_GUARDAS = f"""
SELECT f.id, f.aluno_id, f.template_id, f.variaveis, f.tentativas, r.gatilho, f.produto_id,
       CASE
         WHEN t.id IS NULL OR t.status_meta <> 'APPROVED' OR t.removido_na_meta_em IS NOT NULL
           THEN 'template não aprovado na Meta'
         WHEN t.produto_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM matriculas m WHERE m.aluno_id = f.aluno_id
                   AND m.produto_id = t.produto_id)
           THEN 'o aluno não está matriculado no produto do template'
         WHEN {SQL_SEM_CONSENTIMENTO.format(aluno="f.aluno_id")} THEN 'sem consentimento'
         WHEN a.celular IS NULL THEN 'sem celular'
       END AS bloqueio,
       (SELECT count(*) FROM logs_disparo l WHERE l.aluno_id = f.aluno_id
          AND l.data_envio >= (date_trunc('day', now() AT TIME ZONE {SP}) AT TIME ZONE {SP}))
           AS enviados_hoje
  FROM filas_disparo f
  LEFT JOIN templates t ON t.id = f.template_id
  LEFT JOIN alunos a ON a.id = f.aluno_id
  LEFT JOIN regras_automacao r ON r.id = f.regra_id
 WHERE f.id = :id
"""


def _motivo_saida(session, item_id: int, gatilho: str | None) -> str | None:
    """Goal-based exit: the reason the item was queued for is gone."""
    if gatilho not in AINDA_VALIDO:
        return None
    predicado, motivo = AINDA_VALIDO[gatilho]
    valido = session.execute(
        text(f"SELECT {predicado} FROM filas_disparo f WHERE f.id = :id"), {"id": item_id}
    ).scalar()
    return None if valido else motivo


def _atualizar(session, item_id: int, **campos: Any) -> None:
    atribuicoes = ", ".join(f"{k} = :{k}" for k in campos)
    session.execute(
        text(f"UPDATE filas_disparo SET {atribuicoes} WHERE id = :id"), {**campos, "id": item_id}
    )


def despachar(
    *,
    cliente_fabrica: Callable[[], Any] | None = None,
    lote: int = 50,
    limite: int | None = None,
    relogio=time.monotonic,
    sleep=time.sleep,
    agora: Callable[[], datetime] | None = None,
    progresso: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Send approved items until none is left (or ``limite``); returns counts and why it stopped."""
    recuperar_orfaos()
    chave = random.randint(1, 2**31 - 1)
    conn_lock = obter_engine().connect()
    conn_lock.execute(text("SELECT pg_advisory_lock(:c, :k)"), {"c": CLASSE_LOCK, "k": chave})
    conn_lock.commit()
    contagem = {
        "enviados": 0,
        "cancelados": 0,
        "erros": 0,
        "adiados": 0,
        "verificar": 0,
        "parada": "fila vazia",
    }
    try:
        with UnidadeDeTrabalho() as uow:
            s = uow.session
            taxa = config.obter_inteiro(s, "disparo_max_por_segundo")
            limite_dia = config.obter_inteiro(s, "disparo_max_por_aluno_dia")
            cliente = cliente_fabrica() if cliente_fabrica else whatsapp.cliente_configurado(s)
        balde = Balde(taxa, relogio=relogio, sleep=sleep)
        processados = 0
        with cliente:
            while limite is None or processados < limite:
                with UnidadeDeTrabalho() as uow:
                    if config.obter_booleano(uow.session, "disparo_pausado"):
                        contagem["parada"] = "disparos pausados em Configurações"
                        break
                    if regras.fora_da_janela(uow.session, agora() if agora else None):
                        contagem["parada"] = "fora da janela de envio"
                        break
                    ids = (
                        uow.session.execute(
                            text(
                                """
                            UPDATE filas_disparo SET status = 'enviando', reservado_em = now(),
                                   reservado_por = :w, tentativas = coalesce(tentativas, 0) + 1
                             WHERE id IN (SELECT id FROM filas_disparo
                                           WHERE status = 'aprovado'
                                             AND (proxima_tentativa_em IS NULL
                                                  OR proxima_tentativa_em <= now())
                                           ORDER BY data_criacao, id LIMIT :n
                                             FOR UPDATE SKIP LOCKED)
                            RETURNING id
                            """
                            ),
                            {
                                "w": chave,
                                "n": lote if limite is None else min(lote, limite - processados),
                            },
                        )
                        .scalars()
                        .all()
                    )
                    uow.commit()
                if not ids:
                    break
                pendentes = sorted(ids)
                while pendentes:
                    item_id = pendentes.pop(0)
                    parar = _enviar_item(item_id, cliente, balde, limite_dia, contagem)
                    processados += 1
                    if progresso:
                        progresso(min(99, processados), f"{contagem['enviados']} enviados")
                    if parar:
                        contagem["parada"] = parar
                        _devolver(pendentes, chave)
                        break
                if contagem["parada"] != "fila vazia":
                    break
    finally:
        try:
            conn_lock.execute(
                text("SELECT pg_advisory_unlock(:c, :k)"), {"c": CLASSE_LOCK, "k": chave}
            )
            conn_lock.commit()
        finally:
            conn_lock.close()
    return contagem


def _devolver(ids: list[int], chave: int) -> None:
    """Claimed items this worker will not try after a stop go back to the approved queue."""
    if not ids:
        return
    with UnidadeDeTrabalho() as uow:
        uow.session.execute(
            text(
                "UPDATE filas_disparo SET status = 'aprovado', reservado_em = NULL, "
                "reservado_por = NULL, tentativas = tentativas - 1 "
                "WHERE id = ANY(:ids) AND status = 'enviando' AND reservado_por = :w"
            ),
            {"ids": ids, "w": chave},
        )
        uow.commit()


def _enviar_item(
    item_id: int, cliente, balde: Balde, limite_dia: int, contagem: dict
) -> str | None:
    """Guards, goal exit, rate limit, send; one transaction. Returns a reason to stop, or None."""
    with UnidadeDeTrabalho() as uow:
        s = uow.session
        item = s.execute(text(_SQL_GUARDAS), {"id": item_id}).first()
        if item.bloqueio:
            _atualizar(s, item_id, status="cancelado", motivo_cancelamento=item.bloqueio)
            uow.commit()
            contagem["cancelados"] += 1
            return None
        if item.enviados_hoje >= limite_dia:
            # The daily cap postpones to tomorrow's window; it is not a failure.
            s.execute(
                text(
                    f"UPDATE filas_disparo SET status = 'aprovado', tentativas = tentativas - 1, "
                    f"proxima_tentativa_em = ((date_trunc('day', now() AT TIME ZONE {SP}) "
                    f"+ interval '1 day') AT TIME ZONE {SP}) WHERE id = :id"
                ),
                {"id": item_id},
            )
            uow.commit()
            contagem["adiados"] += 1
            return None
        saida = _motivo_saida(s, item_id, item.gatilho)
        if saida:
            _atualizar(s, item_id, status="cancelado", motivo_cancelamento=saida)
            uow.commit()
            contagem["cancelados"] += 1
            return None
        balde.aguardar()
        try:
            whatsapp.enviar(
                s,
                cliente,
                aluno_id=item.aluno_id,
                template_id=item.template_id,
                parametros=list(item.variaveis or []),
                fila_id=item_id,
                produto_id=item.produto_id,
            )
        except whatsapp.EnvioRecusado as exc:
            s.rollback()
            _atualizar(s, item_id, status="cancelado", motivo_cancelamento=str(exc))
            uow.commit()
            contagem["cancelados"] += 1
            return None
        except WhatsAppErro as exc:
            s.rollback()
            return _falha(s, uow, item_id, item.tentativas, exc, contagem)
        s.execute(
            text("UPDATE filas_disparo SET status = 'enviado', enviado_em = now() WHERE id = :id"),
            {"id": item_id},
        )
        uow.commit()
        contagem["enviados"] += 1
    return None


def _falha(s, uow, item_id: int, tentativas: int, exc: WhatsAppErro, contagem: dict):
    mensagem = (exc.title or exc.message or str(exc))[:1000]
    if exc.talvez_enviado:
        _atualizar(s, item_id, status="verificar", erro_codigo=exc.code, erro_mensagem=mensagem)
        contagem["verificar"] += 1
    elif exc.acao == Acao.STOP_EVERYTHING:
        _atualizar(s, item_id, status="aprovado", erro_codigo=exc.code, erro_mensagem=mensagem)
        s.execute(
            text("UPDATE filas_disparo SET tentativas = tentativas - 1 WHERE id = :id"),
            {"id": item_id},
        )
        uow.commit()
        return f"Meta recusou o envio (código {exc.code}): disparo interrompido — {mensagem}"
    elif exc.acao == Acao.RETRY_LATER and tentativas < MAX_TENTATIVAS:
        espera = exc.espera_s or 30 * 2 ** (tentativas - 1)
        s.execute(
            text(
                "UPDATE filas_disparo SET status = 'aprovado', erro_codigo = :c, "
                "erro_mensagem = :m, proxima_tentativa_em = now() "
                "+ make_interval(secs => :e) WHERE id = :id"
            ),
            {"c": exc.code, "m": mensagem, "e": float(espera), "id": item_id},
        )
        contagem["adiados"] += 1
    else:
        _atualizar(s, item_id, status="erro", erro_codigo=exc.code, erro_mensagem=mensagem)
        contagem["erros"] += 1
    uow.commit()
    return None


def executar_disparo(*, iniciado_por: str | None, observador=None):
    """Dispatch as the 'disparo' job (the sidebar's "Disparar aprovados" and the CLI)."""
    from services import jobs

    return jobs.executar(
        "disparo",
        lambda e: despachar(progresso=e.progresso),
        iniciado_por=iniciado_por,
        observador=observador,
    )
