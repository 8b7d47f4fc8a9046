"""Dispatch: approved queue items → Meta, at most once, behind every brake.

Workers claim items with ``FOR UPDATE SKIP LOCKED`` (any number of workers never take the same
item) and mark them ``enviando`` with their worker key. Each worker holds a session advisory
lock on that key while it runs, so an item still ``enviando`` whose worker lock is gone was
claimed by a worker that died: it may or may not have reached Meta, so it becomes
``verificar`` for a person — never re-sent automatically. Each claimed batch is guarded, sent
(several sends in flight behind one token bucket) and recorded by ``services.disparo_lote``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text

from db.engine import obter_engine
from db.uow import UnidadeDeTrabalho
from services import config, regras, whatsapp
from services import disparo_lote as lote_

_log = logging.getLogger(__name__)
CLASSE_LOCK = 7311  # advisory lock class of dispatch workers (pg_locks.classid)
MAX_TENTATIVAS = lote_.MAX_TENTATIVAS
PARALELOS = 8  # sends in flight per worker (the token bucket still sets the rate)
# Items claimed and recorded together. Their outcomes (log rows) are committed once per batch, so
# a worker killed mid-batch leaves at most this many items 'verificar' (never re-sent): 25 keeps
# that small while the per-batch statements stay cheap (small bench: 16 → ~590/s, 50 → ~840/s).
LOTE = 25


class Balde:
    """Token bucket: at most ``taxa`` sends per second. It starts with a single token, so the
    first second cannot burst to twice the limit (a full bucket sent 160 in the first second
    at 80/s: measured by ``make bench``)."""

    def __init__(self, taxa: float, *, relogio=time.monotonic, sleep=time.sleep) -> None:
        self.taxa = max(0.1, float(taxa))
        self._relogio, self._sleep = relogio, sleep
        self._fichas = 1.0
        self._ultimo = relogio()
        self._lock = threading.Lock()  # one bucket for all the sends a worker has in flight

    def aguardar(self) -> None:
        """Block until a token is available, then take it (thread-safe: callers queue)."""
        with self._lock:
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


def _reivindicar(session, chave: int, n: int) -> list[int]:
    """Claim up to n due approved items for this worker (marked 'enviando', attempt counted)."""
    return list(
        session.execute(
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
            {"w": chave, "n": n},
        ).scalars()
    )


def _contar(contagem: dict, desfechos: list[lote_.Desfecho]) -> None:
    for d in desfechos:
        if d.status == "aprovado":
            if d.amanha or d.espera_s is not None:
                contagem["adiados"] += 1
        else:
            chave = {"enviado": "enviados", "cancelado": "cancelados", "erro": "erros"}
            contagem[chave.get(d.status, d.status)] += 1


def despachar(
    *,
    cliente_fabrica: Callable[[], Any] | None = None,
    lote: int = 50,
    paralelos: int = PARALELOS,
    limite: int | None = None,
    relogio=time.monotonic,
    sleep=time.sleep,
    agora: Callable[[], datetime] | None = None,
    progresso: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Send approved items until none is left (or ``limite``); returns counts and why it stopped.

    Each claimed batch is guarded in one query, sent with up to ``paralelos`` sends in flight
    (all behind one token bucket) and recorded in one statement.
    """
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
            envios = lote_.Envios(cliente, balde, paralelos)
            try:
                while limite is None or processados < limite:
                    with UnidadeDeTrabalho() as uow:
                        if config.obter_booleano(uow.session, "disparo_pausado"):
                            contagem["parada"] = "disparos pausados em Configurações"
                            break
                        if regras.fora_da_janela(uow.session, agora() if agora else None):
                            contagem["parada"] = "fora da janela de envio"
                            break
                        n = lote if limite is None else min(lote, limite - processados)
                        ids = _reivindicar(uow.session, chave, n)
                        if not ids:
                            break
                        a_enviar, decididos = lote_.triar(uow.session, ids, limite_dia)
                        lote_.registrar(uow.session, decididos)
                        uow.commit()
                    desfechos = envios.enviar(a_enviar)
                    with UnidadeDeTrabalho() as uow:
                        lote_.registrar(uow.session, desfechos)
                        uow.commit()
                    _contar(contagem, decididos + desfechos)
                    processados += len(ids)
                    if progresso:
                        progresso(min(99, processados), f"{contagem['enviados']} enviados")
                    if envios.parada:
                        contagem["parada"] = envios.parada
                        break
            finally:
                envios.fechar()
    finally:
        try:
            conn_lock.execute(
                text("SELECT pg_advisory_unlock(:c, :k)"), {"c": CLASSE_LOCK, "k": chave}
            )
            conn_lock.commit()
        finally:
            conn_lock.close()
    return contagem


def executar_disparo(*, iniciado_por: str | None, observador=None):
    """Dispatch as the 'disparo' job (the sidebar's "Disparar aprovados" and the CLI)."""
    from services import jobs

    return jobs.executar(
        "disparo",
        lambda e: despachar(progresso=e.progresso),
        iniciado_por=iniciado_por,
        observador=observador,
    )
