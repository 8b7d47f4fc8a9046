"""GET|POST /webhooks/meta: the verification handshake, signed events stored raw, then applied."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import unicodedata

from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from db.uow import UnidadeDeTrabalho
from services import config, consentimento, webhooks, whatsapp, whatsapp_status
from services.cripto import ChaveSecretaErro

_log = logging.getLogger(__name__)
LIMITE_CORPO = 1_048_576


# ---- handshake ----------------------------------------------------------------------------


def verificar(modo: str | None, token: str | None, desafio: str | None) -> tuple[int, str]:
    """hub.mode=subscribe and the verify token (constant time) → (200, challenge) else 403."""
    try:
        with UnidadeDeTrabalho() as uow:
            esperado = config.obter(uow.session, "meta_verify_token")
    except ChaveSecretaErro:
        return 403, "credencial indisponível"
    if (
        modo == "subscribe"
        and esperado
        and token is not None
        and hmac.compare_digest(token.encode(), esperado.encode())
        and desafio is not None
    ):
        return 200, desafio
    return 403, "verificação recusada"


async def webhook_meta_get(request: Request) -> Response:
    """Meta's verification handshake: the challenge as text/plain, or 403."""
    q = request.query_params
    codigo, corpo = await run_in_threadpool(
        verificar, q.get("hub.mode"), q.get("hub.verify_token"), q.get("hub.challenge")
    )
    return PlainTextResponse(corpo, codigo)


# ---- events --------------------------------------------------------------------------------


def _normalizar_texto(texto: str) -> str:
    sem_acento = unicodedata.normalize("NFKD", texto).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Z0-9 ]", "", sem_acento.upper()).strip()


def variantes_telefone(wa_id: str) -> list[str]:
    """A Brazilian wa_id and its twin with/without the mobile ninth digit (reference §A6)."""
    digitos = re.sub(r"\D", "", wa_id or "")
    variantes = [digitos]
    if digitos.startswith("55") and len(digitos) == 12 and digitos[4] in "6789":
        variantes.append(digitos[:4] + "9" + digitos[4:])
    if digitos.startswith("55") and len(digitos) == 13 and digitos[4] == "9":
        variantes.append(digitos[:4] + digitos[5:])
    return variantes


def _optout(session: Session, mensagens: list[dict], contatos: list[dict]) -> int:
    if not mensagens:
        return 0  # a status delivery: no setting to read
    palavras = {
        _normalizar_texto(p)
        for p in (config.obter(session, "optout_palavras") or "").split(",")
        if p.strip()
    }
    revogados = 0
    for mensagem in mensagens:
        if not isinstance(mensagem, dict):
            continue
        corpo = ""
        if mensagem.get("type") == "text":
            corpo = str(_objeto(mensagem.get("text")).get("body") or "")
        elif mensagem.get("type") == "button":
            botao = _objeto(mensagem.get("button"))
            corpo = str(botao.get("payload") or botao.get("text") or "")
        if _normalizar_texto(corpo) not in palavras:
            continue
        ids = list(
            session.execute(
                text("SELECT id FROM alunos WHERE celular = ANY(:v)"),
                {"v": variantes_telefone(str(mensagem.get("from") or ""))},
            ).scalars()
        )
        revogados += consentimento.registrar(
            session,
            aluno_ids=ids,
            concedido=False,
            origem="optout_whatsapp",
            detalhes=f"Resposta no WhatsApp: {corpo[:50]}",
        )
    return revogados


def _mudancas(payload: dict):
    """(field, value) of every change of a delivery whose value is an object. Items of an
    unexpected JSON type are skipped one by one: a malformed item must not stop the good statuses
    of the same delivery (Meta sends each delivery once it is answered)."""
    for entrada in _lista(payload.get("entry")):
        for mudanca in _lista(_objeto(entrada).get("changes")):
            campo, valor = _objeto(mudanca).get("field"), _objeto(mudanca).get("value")
            if isinstance(valor, dict):
                yield campo, valor


def _statuses(valor: dict) -> list[dict]:
    """The statuses of a ``messages`` change we track, normalised."""
    normalizados = (
        whatsapp_status.normalizar(s) for s in _lista(valor.get("statuses")) if isinstance(s, dict)
    )
    return [n for n in normalizados if n]


def _template_alterado(campo: object, valor: dict) -> bool:
    return campo == "message_template_status_update" and isinstance(valor.get("event"), str)


def aplicar(session: Session, payload: dict) -> dict[str, int]:
    """Every entry, change and status of one webhook delivery."""
    statuses, resultado = [], {"optout": 0, "templates": 0}
    for campo, valor in _mudancas(payload):
        if campo == "messages":
            statuses += _statuses(valor)
            resultado["optout"] += _optout(
                session, _lista(valor.get("messages")), _lista(valor.get("contacts"))
            )
        elif _template_alterado(campo, valor):
            ident = valor.get("message_template_id")
            resultado["templates"] += whatsapp.atualizar_status_template(
                session,
                meta_id=str(ident)[:50] if isinstance(ident, str | int) else None,
                nome=_texto(valor.get("message_template_name")),
                idioma=_texto(valor.get("message_template_language")),
                status=valor["event"],
            )
    resultado.update(whatsapp_status.aplicar(session, statuses))
    return resultado


def somente_status(payload: dict) -> list[dict] | None:
    """The normalised statuses of a delivery that carries nothing else ``aplicar`` acts on (no
    inbound message, no template update), else None: such deliveries may be written in a group
    (services.gravacao_em_grupo) with the same effect as ``aplicar``."""
    statuses = []
    for campo, valor in _mudancas(payload):
        if campo == "messages":
            if _lista(valor.get("messages")):
                return None
            statuses += _statuses(valor)
        elif _template_alterado(campo, valor):
            return None
    return statuses


def _lista(valor: object) -> list:
    """A JSON array of the payload, or [] when the field is missing or of another type."""
    return valor if isinstance(valor, list) else []


def _objeto(valor: object) -> dict:
    """A JSON object of the payload, or {} when the field is missing or of another type."""
    return valor if isinstance(valor, dict) else {}


def _texto(valor: object) -> str | None:
    """A JSON string of the payload, or None."""
    return valor if isinstance(valor, str) else None


def _assinatura_valida(corpo: bytes, cabecalho: str | None, segredo: str) -> bool:
    esperado = "sha256=" + hmac.new(segredo.encode(), corpo, hashlib.sha256).hexdigest()
    return bool(cabecalho) and hmac.compare_digest(cabecalho.encode(), esperado.encode())


def processar(corpo: bytes, assinatura: str | None) -> tuple[int, dict]:
    """Signature over the raw body, then the raw event stored (deduplicated by the body's hash)
    and applied in one transaction (status-only deliveries in a group with others); a failing
    apply still keeps the raw row, with its error (queued for reprocessing when transient)."""
    from services import gravacao_em_grupo  # imports this module

    with UnidadeDeTrabalho() as uow:
        try:
            segredo = config.obter_recente(uow.session, "meta_app_secret")
        except ChaveSecretaErro:
            _log.error("App secret ilegível: TERCEIRIZA_SECRET_KEY não decifra a credencial")
            return 503, {"erro": "credencial indisponível"}
        if not segredo:
            return 401, {"erro": "app secret não configurado"}
        if not _assinatura_valida(corpo, assinatura, segredo):
            return 401, {"erro": "assinatura inválida ou ausente"}
        evento_id = hashlib.sha256(corpo).hexdigest()  # Meta sends no event id: the body is one
        try:
            payload = webhooks.ler_json(corpo)
        except (ValueError, RecursionError):
            payload, erro = None, "JSON malformado"
        else:
            erro = None if isinstance(payload, dict) else "o corpo deve ser um objeto JSON"
        # A refused event is still stored raw, with the reason (nothing a provider sends is lost).
        guardar_recusado = functools.partial(
            webhooks.armazenar, origem="meta", evento_id=evento_id, payload=payload, corpo=corpo
        )
        if erro:
            guardar_recusado(tipo=None, erro=erro)
            return 400, {"erro": erro}
        campos = _campos(payload)
        if webhooks.texto_invalido(payload):  # kept raw; applying it would fail in PostgreSQL
            return webhooks.resposta_texto_invalido(
                guardar_recusado(tipo=campos, erro=webhooks.TEXTO_INVALIDO)
            )
        desfecho = gravacao_em_grupo.GRAVADOR_META.gravar_ou_aplicar(
            uow,
            _pedido_de_status(payload, evento_id, campos),
            evento_id=evento_id,
            tipo=campos,
            payload=payload,
        )
    return _resposta_do_desfecho(desfecho)


def _campos(payload: dict) -> str:
    """The event's kind as stored: its changes' fields, sorted and comma-separated."""
    return ",".join(
        sorted(
            {
                str(m.get("field"))
                for e in _lista(payload.get("entry"))
                if isinstance(e, dict)
                for m in _lista(e.get("changes"))
                if isinstance(m, dict)
            }
        )
    )


def _pedido_de_status(payload: dict, evento_id: str, campos: str) -> dict | None:
    """The group writer's arguments for a status-only delivery (None for any other)."""
    statuses = somente_status(payload)
    if statuses is None:
        return None
    return {"evento_id": evento_id, "tipo": campos, "payload": payload, "dados": statuses}


def _resposta_do_desfecho(desfecho) -> tuple[int, dict]:
    if desfecho is None:
        return 200, {"status": "duplicado"}
    if desfecho.permanente:
        # 200: Meta would deliver the same invalid body again on any other answer.
        return 200, {"status": "armazenado", "erro": f"evento inválido: {desfecho.erro}"}
    if desfecho.erro:
        return 200, {"status": "armazenado", "erro": "falha ao processar; será reprocessado"}
    return 200, {"status": "processado", **desfecho.resultado}


def _status_sem_espera(corpo: bytes, assinatura: str | None) -> dict | None:
    """The common case decided on the event loop, without a worker thread: the app secret known
    (``config.em_cache``), the signature right and a well-formed status-only delivery. None
    sends the request down ``processar``, which answers every other case."""
    achado, segredo = config.em_cache("meta_app_secret")
    if not achado or not segredo:
        return None
    if not _assinatura_valida(corpo, assinatura, segredo):
        return None
    try:
        payload = webhooks.ler_json(corpo)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict) or webhooks.texto_invalido(payload):
        return None
    evento_id = hashlib.sha256(corpo).hexdigest()
    return _pedido_de_status(payload, evento_id, _campos(payload))


async def webhook_meta_post(request: Request) -> JSONResponse:
    """At most 1 MB; a status-only delivery with a known app secret goes straight to the group
    writer, anything else to ``processar`` in a worker thread (``webhooks.receber``)."""
    from services import gravacao_em_grupo  # imports this module

    return await webhooks.receber(
        request,
        limite=LIMITE_CORPO,
        cabecalho="x-hub-signature-256",
        sem_espera=_status_sem_espera,
        gravar=gravacao_em_grupo.GRAVADOR_META.gravar_async,
        resposta=_resposta_do_desfecho,
        processar=processar,
    )
