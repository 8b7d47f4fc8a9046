"""POST /webhooks/hotmart: hottok check, raw storage first, then the mirror's upserts."""

from __future__ import annotations

import functools
import hmac
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from db.uow import UnidadeDeTrabalho
from services import config, gravacao_em_grupo, hotmart_postback, webhooks
from services.cripto import ChaveSecretaErro

_log = logging.getLogger(__name__)
LIMITE_CORPO = 1_048_576  # 1 MB; Hotmart postbacks are a few KB
LIMITE_ID = 200  # eventos_webhook.evento_id; Hotmart's ids are UUIDs


def _resposta(codigo: int, **corpo) -> tuple[int, dict]:
    return codigo, corpo


def _id_valido(evento_id: object) -> bool:
    """A usable event id: non-blank text that fits the column and PostgreSQL can store (a
    longer one would be cut and could collide with another event's)."""
    return (
        isinstance(evento_id, str)
        and bool(evento_id.strip())
        and len(evento_id) <= LIMITE_ID
        and webhooks.texto_seguro(evento_id) == evento_id
    )


def _hottok(cabecalho: str | None, payload: object) -> str | None:
    """The header's hottok; some deliveries carry it in the body instead."""
    if not cabecalho and isinstance(payload, dict) and isinstance(payload.get("hottok"), str):
        return payload["hottok"]
    return cabecalho


def _confere(hottok: str | None, esperado: str) -> bool:
    # surrogatepass: a body hottok may hold a lone surrogate (a JSON escape); it just mismatches.
    return bool(hottok) and hmac.compare_digest(
        hottok.encode("utf-8", "surrogatepass"), esperado.encode()
    )


def processar(corpo: bytes, hottok_cabecalho: str | None) -> tuple[int, dict]:
    """The whole postback handling, synchronous (run in a worker thread by the route): the raw
    event is stored and applied in one transaction (purchase events in a group with others); a
    failing apply still keeps the raw row, with its error."""
    try:
        payload = webhooks.ler_json(corpo)
    except (ValueError, RecursionError):
        payload = None
    hottok = _hottok(hottok_cabecalho, payload)
    with UnidadeDeTrabalho() as uow:
        try:
            esperado = config.obter_recente(uow.session, "hotmart_hottok")
        except ChaveSecretaErro:
            _log.error("Hottok ilegível: TERCEIRIZA_SECRET_KEY não decifra a credencial")
            return _resposta(503, erro="credencial indisponível")
        if not esperado:
            return _resposta(401, erro="hottok não configurado")
        if not _confere(hottok, esperado):
            return _resposta(401, erro="hottok inválido ou ausente")

        if isinstance(payload, dict):
            payload.pop("hottok", None)  # a secret: never stored with the event
        # A refused event is still stored raw, with the reason (nothing a provider sends is lost).
        guardar_recusado = functools.partial(
            webhooks.armazenar, origem="hotmart", corpo=corpo, segredo=esperado
        )
        if payload is None:
            guardar_recusado(evento_id=None, tipo=None, payload=None, erro="JSON malformado")
            return _resposta(400, erro="JSON malformado")
        evento_id = payload.get("id") if isinstance(payload, dict) else None
        if not _id_valido(evento_id):
            guardar_recusado(evento_id=None, tipo=None, payload=payload, erro="evento sem id")
            return _resposta(400, erro=f"o evento precisa de um campo id (texto até {LIMITE_ID})")
        tipo = payload.get("event")
        if webhooks.texto_invalido(payload):  # kept raw; applying it would fail in PostgreSQL
            return webhooks.resposta_texto_invalido(
                guardar_recusado(
                    evento_id=evento_id, tipo=tipo, payload=payload, erro=webhooks.TEXTO_INVALIDO
                )
            )
        desfecho = gravacao_em_grupo.GRAVADOR_HOTMART.gravar_ou_aplicar(
            uow,
            _pedido_de_compra(payload, evento_id, tipo),
            evento_id=evento_id,
            tipo=tipo,
            payload=payload,
        )
    return _resposta_do_desfecho(desfecho)


def _pedido_de_compra(payload: dict, evento_id: str, tipo: object) -> dict | None:
    """The group writer's arguments for a purchase event (None for any other event): the keys
    are its transaction and subscription (two events of one are not written in one group)."""
    compra = hotmart_postback.preparar_compra(payload)
    if compra is None:
        return None
    transacao = compra["venda"]
    chaves = {f"t:{transacao['id']}"}
    if transacao["subscriber_code"]:
        chaves.add(f"s:{transacao['subscriber_code']}")
    return {
        "evento_id": evento_id,
        "tipo": tipo,
        "payload": payload,
        "dados": compra,
        "chaves": frozenset(chaves),
    }


def _resposta_do_desfecho(desfecho) -> tuple[int, dict]:
    if desfecho is None:
        return _resposta(200, status="duplicado")
    if desfecho.permanente:
        return _resposta(400, erro=desfecho.erro, armazenado=True)
    if desfecho.erro:
        return _resposta(202, status="armazenado", erro="falha ao processar; será reprocessado")
    return _resposta(200, status="processado")


def _compra_sem_espera(corpo: bytes, hottok_cabecalho: str | None) -> dict | None:
    """The common case decided on the event loop, without a worker thread: the hottok known
    (``config.em_cache``) and right, and a well-formed purchase event. None sends the request
    down ``processar``, which answers every other case (and stores what it refuses)."""
    achado, esperado = config.em_cache("hotmart_hottok")
    if not achado or not esperado:
        return None
    try:
        payload = webhooks.ler_json(corpo)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict) or not _confere(_hottok(hottok_cabecalho, payload), esperado):
        return None
    evento_id = payload.get("id")
    if not _id_valido(evento_id) or webhooks.texto_invalido(payload):
        return None
    payload.pop("hottok", None)  # a secret: never stored with the event
    return _pedido_de_compra(payload, evento_id, payload.get("event"))


async def webhook_hotmart(request: Request) -> JSONResponse:
    """At most 1 MB; a purchase event with a known hottok goes straight to the group writer,
    anything else to ``processar`` in a worker thread (``webhooks.receber``)."""
    return await webhooks.receber(
        request,
        limite=LIMITE_CORPO,
        cabecalho="x-hotmart-hottok",
        sem_espera=_compra_sem_espera,
        gravar=gravacao_em_grupo.GRAVADOR_HOTMART.gravar_async,
        resposta=_resposta_do_desfecho,
        processar=processar,
    )
