"""Group commit of webhook deliveries (issue #7).

Each delivery costs a few milliseconds of round trips and a commit when written alone. Most of
Meta's traffic is status callbacks that only touch ``logs_disparo``, and most of Hotmart's is
purchase events that go through the mirror's set-based upserts. So the requests hand such a
delivery to one writer thread per provider and process, and wait (``gravar`` from a worker
thread, ``gravar_async`` from the event loop, which holds no thread while it waits). The
writer takes every delivery waiting (up to ``MAXIMO_LOTE``, without waiting for more: under
load the queue fills while it writes), inserts their raw rows in one statement, applies them
set-based (Meta: all statuses in one update with the same rules as one at a time; Hotmart: one
pass of the mirror, ``hotmart_espelho.upsert_compras``), commits once, and only then wakes
every request, so "answered 200" still means "stored and applied". Deliveries that share a key
with an earlier one of the group (the same Hotmart transaction or subscription, whose
lifecycle rules compare with what is stored) are written on their own right after it. When the
group fails, each delivery of it is written again on its own
(``eventos_webhook.gravar_e_aplicar``), so one poisoned delivery never takes the others down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from db.engine import DatabaseIndisponivel, verificar_conexao
from db.uow import UnidadeDeTrabalho
from services import eventos_webhook, hotmart_postback, webhooks, whatsapp_status
from services.eventos_webhook import Desfecho

_log = logging.getLogger(__name__)
MAXIMO_LOTE = 200
ESPERA_MAXIMA_S = 60.0  # a request never waits longer for its group

_INSERIR_LOTE = text(
    """
    INSERT INTO eventos_webhook (origem, evento_id, tipo, payload, processado_em, tentativas)
    SELECT :origem, x.evento_id, x.tipo, x.payload, now(), 1
      FROM jsonb_to_recordset(CAST(:linhas AS jsonb))
           AS x(evento_id text, tipo text, payload jsonb)
    ON CONFLICT (origem, evento_id) DO NOTHING
    RETURNING evento_id
    """
)


@dataclass(eq=False)  # compared by identity
class _Pedido:
    evento_id: str
    tipo: str | None
    payload: dict
    dados: Any  # what the group's apply needs, prepared in the request's thread
    chaves: frozenset[str]
    pronto: threading.Event = field(default_factory=threading.Event)
    desfecho: Desfecho | None = None
    excecao: BaseException | None = None
    aviso: Callable[[], None] | None = None  # also told when done (an awaiting request)

    def resultado(self) -> Desfecho | None:
        if self.excecao is not None:
            raise self.excecao
        return self.desfecho

    def concluir(self) -> None:
        """Wake whoever waits for this delivery (once)."""
        if self.pronto.is_set():
            return
        self.pronto.set()
        if self.aviso is not None:
            self.aviso()


def _sem_resposta() -> DatabaseIndisponivel:
    # Answered 503: the provider delivers again, and a late commit makes that a duplicate.
    return DatabaseIndisponivel("gravação dos webhooks sem resposta do banco de dados")


def _resolver(futuro: asyncio.Future) -> None:
    if not futuro.done():  # not cancelled by a client that went away
        futuro.set_result(None)


class GravadorEmGrupo:
    """One writer thread that commits the deliveries of one provider waiting, together.

    ``aplicar_lote(session, pedidos)`` applies the new deliveries of a group in the caller's
    transaction and returns each one's result, in order.
    """

    def __init__(
        self,
        origem: str,
        aplicar_lote: Callable[[Session, list[_Pedido]], list[dict[str, Any]]],
        maximo: int = MAXIMO_LOTE,
        escritores: int = 1,
    ) -> None:
        self._origem = origem
        self._aplicar_lote = aplicar_lote
        self._maximo = maximo
        self._fila: queue.SimpleQueue[_Pedido] = queue.SimpleQueue()
        self._threads: list[threading.Thread | None] = [None] * escritores
        self._trava = threading.Lock()

    def gravar(
        self,
        *,
        evento_id: str,
        tipo: str | None,
        payload: dict,
        dados: Any,
        chaves: frozenset[str] = frozenset(),
    ) -> Desfecho | None:
        """Store and apply one delivery with whatever else is waiting; block until committed.
        None when it is a duplicate; a database failure is raised as it happened."""
        pedido = _Pedido(evento_id, tipo, payload, dados, chaves)
        self._iniciar()
        self._fila.put(pedido)
        if not pedido.pronto.wait(ESPERA_MAXIMA_S):
            raise _sem_resposta()
        return pedido.resultado()

    async def gravar_async(
        self,
        *,
        evento_id: str,
        tipo: str | None,
        payload: dict,
        dados: Any,
        chaves: frozenset[str] = frozenset(),
    ) -> Desfecho | None:
        """``gravar`` for a request handled on the event loop: it waits without holding a
        worker thread (one thread hop less per delivery, and 32 waiting requests are not 32
        threads contending with the writer for the interpreter)."""
        laco = asyncio.get_running_loop()
        pronto = laco.create_future()

        def avisar() -> None:
            try:
                laco.call_soon_threadsafe(_resolver, pronto)
            except RuntimeError:  # the loop closed (shutdown): nobody is waiting any more
                pass

        pedido = _Pedido(evento_id, tipo, payload, dados, chaves, aviso=avisar)
        self._iniciar()
        self._fila.put(pedido)
        try:
            await asyncio.wait_for(pronto, ESPERA_MAXIMA_S)
        except TimeoutError:
            raise _sem_resposta() from None
        return pedido.resultado()

    def gravar_ou_aplicar(
        self, uow: UnidadeDeTrabalho, pedido: dict | None, **evento
    ) -> Desfecho | None:
        """A delivery handled in a worker thread: ``pedido`` (a groupable one, ``gravar``'s
        arguments) waits for the next group after handing ``uow``'s connection back to the pool
        (32 waiting requests holding one each would starve the writer); without it, ``evento``
        (evento_id, tipo, payload) is stored and applied alone in ``uow``'s transaction."""
        if pedido is None:
            return eventos_webhook.gravar_e_aplicar(uow, origem=self._origem, **evento)
        uow.rollback()
        return self.gravar(**pedido)

    def _iniciar(self) -> None:
        if all(t is not None and t.is_alive() for t in self._threads):
            return
        with self._trava:
            for i, thread in enumerate(self._threads):
                if thread is None or not thread.is_alive():
                    self._threads[i] = threading.Thread(
                        target=self._laco, name=f"webhooks-{self._origem}-{i}", daemon=True
                    )
                    self._threads[i].start()

    def _laco(self) -> None:
        while True:
            lote = [self._fila.get()]
            while len(lote) < self._maximo:
                try:
                    lote.append(self._fila.get_nowait())
                except queue.Empty:
                    break
            try:
                adiados = self._gravar_lote(lote)
            except Exception as exc:  # noqa: BLE001 - fall back to one delivery at a time
                if _sem_banco(exc):  # every one of them would fail the same way: 503 at once
                    for pedido in lote:
                        pedido.excecao = exc
                    adiados = []
                else:
                    _log.warning("Gravação em grupo de %s webhooks falhou; um a um", len(lote))
                    adiados = lote
            try:
                for pedido in adiados:
                    self._gravar_um(pedido)
            finally:
                for pedido in lote:
                    pedido.concluir()

    def _gravar_lote(self, lote: list[_Pedido]) -> list[_Pedido]:
        """Write the group; return the deliveries left to write one at a time."""
        primeiros: dict[str, _Pedido] = {}
        grupo: list[_Pedido] = []
        adiados: list[_Pedido] = []
        chaves: set[str] = set()
        for pedido in lote:
            if pedido.evento_id in primeiros:  # the same event twice: the later one is a duplicate
                continue
            primeiros[pedido.evento_id] = pedido
            if pedido.chaves & chaves:
                adiados.append(pedido)
            else:
                chaves |= pedido.chaves
                grupo.append(pedido)
        linhas = [
            {
                "evento_id": p.evento_id,
                "tipo": webhooks.texto_seguro(p.tipo)[:100] if p.tipo else None,
                "payload": p.payload,
            }
            for p in grupo
        ]
        with UnidadeDeTrabalho() as uow:
            novos = set(
                uow.session.execute(
                    _INSERIR_LOTE, {"origem": self._origem, "linhas": json.dumps(linhas)}
                ).scalars()
            )
            aplicaveis = [p for p in grupo if p.evento_id in novos]
            resultados = self._aplicar_lote(uow.session, aplicaveis) if aplicaveis else []
            uow.commit()
        for pedido, resultado in zip(aplicaveis, resultados, strict=True):
            pedido.desfecho = Desfecho(resultado)
        for pedido in lote:  # duplicates (already stored, or twice in this group) keep None
            if pedido not in adiados:
                pedido.concluir()
        return adiados

    def _gravar_um(self, pedido: _Pedido) -> None:
        try:
            with UnidadeDeTrabalho() as uow:
                pedido.desfecho = eventos_webhook.gravar_e_aplicar(
                    uow,
                    origem=self._origem,
                    evento_id=pedido.evento_id,
                    tipo=pedido.tipo,
                    payload=pedido.payload,
                )
        except Exception as exc:  # noqa: BLE001 - raised again in the request's thread
            pedido.excecao = exc
        finally:
            pedido.concluir()


def _sem_banco(exc: Exception) -> bool:
    """The database is unreachable (not a failure of one delivery, nor a deadlock)."""
    if isinstance(exc, DatabaseIndisponivel):
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    try:
        verificar_conexao()
    except Exception:  # noqa: BLE001 - any failure to reach it
        return True
    return False


def _aplicar_status(session: Session, pedidos: list[_Pedido]) -> list[dict[str, Any]]:
    """Meta: every status of the group in one set-based update (``whatsapp_status``)."""
    statuses = [s for p in pedidos for s in p.dados]
    atualizados, estacionados = whatsapp_status.aplicar_detalhado(session, statuses)
    atualizados, estacionados = set(atualizados), set(estacionados)
    resultados = []
    for pedido in pedidos:
        wamids = {s["wamid"] for s in pedido.dados}
        resultados.append(
            {
                "optout": 0,
                "templates": 0,
                "aplicados": len(wamids & atualizados),
                "estacionados": len(wamids & estacionados),
            }
        )
    return resultados


def _aplicar_compras(session: Session, pedidos: list[_Pedido]) -> list[dict[str, Any]]:
    """Hotmart: the purchase events of the group through one call of each mirror upsert."""
    hotmart_postback.gravar_compras(session, [p.dados for p in pedidos])
    return [{} for _ in pedidos]


GRAVADOR_META = GravadorEmGrupo("meta", _aplicar_status)
# Two writers: one group's round trips overlap the other's. Two groups in flight may hold the
# same sale: the mirror's upsert waits for the other's row and applies its lifecycle rule to it.
GRAVADOR_HOTMART = GravadorEmGrupo("hotmart", _aplicar_compras, escritores=2)
