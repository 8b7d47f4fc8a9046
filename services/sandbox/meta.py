"""WhatsApp Cloud API sandbox: template sends, template listing and signed webhooks.

Start it alone with
`python -m services.sandbox.meta --port 8602 --callback http://127.0.0.1:8501/webhooks/meta`.
Tests drive it through `app.state` (see `criar_app`).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from services.sandbox.meta_controle import (
    ErroMeta,
    Estado,
    Falhas,
    Vazao,
    autorizar,
    responder,
    validar_template,
)
from services.sandbox.meta_templates import LIMITE_MAXIMO, LIMITE_PADRAO, TEMPLATES_DEMO, Catalogo
from services.sandbox.meta_webhooks import (
    CENARIOS,
    Entrega,
    Entregador,
    assinar,
    corpo_inbound,
    corpo_status,
    corpo_status_template,
    planejar_statuses,
)

__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_APP_SECRET",
    "DEMO_PHONE_NUMBER_ID",
    "DEMO_TELEFONE",
    "DEMO_WABA_ID",
    "assinar",
    "corpo_inbound",
    "corpo_status",
    "corpo_status_template",
    "criar_app",
    "Entrega",
    "ErroMeta",
]

DEMO_ACCESS_TOKEN = "EAAG-demo-sandbox-token"  # not a secret: the sandbox's fixed demo token
DEMO_APP_SECRET = "demo-app-secret"  # not a secret either
DEMO_PHONE_NUMBER_ID = "106540352242922"
DEMO_WABA_ID = "102290129340398"
DEMO_TELEFONE = "551140028922"


def _agendar_statuses(estado: Estado, envio: dict[str, Any]) -> None:
    """Queue the seeded status webhooks of an accepted send (only with a callback)."""
    cenario_fixo = estado.cenarios_por_numero.get(envio["to"].lstrip("+"))
    cenario, passos = planejar_statuses(
        estado.seed, envio["ordinal"], estado.cenarios, cenario_fixo
    )
    envio["cenario"], envio["statuses"] = cenario, [p.status for p in passos]
    if not estado.callback_url:
        return
    base = int(estado.agora())
    for posicao, passo in enumerate(passos, start=1):
        corpo = corpo_status(
            waba_id=estado.waba_id,
            phone_number_id=estado.phone_number_id,
            telefone_exibicao=estado.telefone_exibicao,
            wamid=envio["wamid"],
            status=passo.status,
            timestamp=base + passo.apos_s,
            recipient_id=envio["wa_id"],
            categoria=envio["categoria"],
            conversa_id=hashlib.sha1(envio["wamid"].encode()).hexdigest(),
            expira_em=base + 86400 if passo.status == "sent" else None,
            codigo_erro=passo.codigo_erro,
        )
        estado.entregador.agendar(estado.callback_url, corpo, estado.atraso_status_s * posicao)


async def _mensagens(request: Request) -> Response:
    """POST /{version}/{phone_number_id}/messages: a template send."""
    estado: Estado = request.app.state.meta
    estado.requisicoes.append(f"POST {request.url.path}")
    autorizar(request, estado, estado.phone_number_id)
    try:
        pedido = await request.json()
    except ValueError:
        raise ErroMeta(100, "The request body must be valid JSON") from None
    if not isinstance(pedido, dict) or pedido.get("messaging_product") != "whatsapp":
        raise ErroMeta(
            100, "messaging_product must be 'whatsapp'", mensagem="(#100) Invalid parameter"
        )
    para = pedido.get("to")
    if not isinstance(para, str) or not para:
        raise ErroMeta(100, "The parameter to is required", mensagem="(#100) Invalid parameter")
    if not re.fullmatch(r"\+?[0-9]{8,15}", para):
        raise ErroMeta(
            100, f"Invalid parameter 'to': '{para}' is not a phone number in international format"
        )
    if pedido.get("type") != "template":
        raise ErroMeta(
            100, "Param type must be 'template' (the sandbox emulates template sends only)"
        )
    modelo, texto = validar_template(estado, pedido)
    digitos = para.lstrip("+")
    if digitos in estado.erros_por_numero:
        raise ErroMeta(estado.erros_por_numero[digitos], f"Recipient {digitos} refused")
    if digitos == estado.telefone_exibicao:
        raise ErroMeta(131021, "Recipient cannot be sender")
    if not estado.vazao.reservar():
        raise ErroMeta(
            130429, "Cloud API message throughput has been reached.", status=estado.http_limite
        )
    wa_id = estado.wa_id(para)
    with estado.lock:
        ordinal = len(estado.envios) + 1
        envio = {
            "ordinal": ordinal,
            "wamid": estado.wamid(wa_id, ordinal),
            "to": para,
            "wa_id": wa_id,
            "template": modelo["name"],
            "language": modelo["language"],
            "categoria": str(modelo.get("category", "utility")).lower(),
            "texto": texto,
        }
        estado.envios.append(envio)
        _agendar_statuses(estado, envio)
    corpo = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": para, "wa_id": wa_id}],
        "messages": [{"id": envio["wamid"], "message_status": "accepted"}],
    }
    return await responder(request, corpo)


async def _templates(request: Request) -> Response:
    """GET /{version}/{waba_id}/message_templates with Graph cursor paging."""
    estado: Estado = request.app.state.meta
    estado.requisicoes.append(f"GET {request.url.path}")
    autorizar(request, estado, estado.waba_id)
    consulta = request.query_params
    try:
        limite = int(consulta.get("limit") or LIMITE_PADRAO)
    except ValueError:
        raise ErroMeta(100, "limit must be an integer") from None
    if limite < 1:
        raise ErroMeta(100, "limit must be positive")
    limite = min(limite, LIMITE_MAXIMO)
    campos = [c.strip() for c in (consulta.get("fields") or "").split(",") if c.strip()]
    filtros = {
        c: consulta[c] for c in ("status", "category", "name", "language") if consulta.get(c)
    }
    try:
        dados, antes, depois, seguinte, anterior = estado.catalogo.pagina(
            limite=limite,
            depois=consulta.get("after"),
            antes=consulta.get("before"),
            filtros=filtros,
            campos=campos or None,
        )
    except ValueError:
        raise ErroMeta(100, "Invalid cursor", mensagem="(#100) Invalid cursor") from None
    corpo: dict[str, Any] = {"data": dados}
    if antes and depois:
        paging: dict[str, Any] = {"cursors": {"before": antes, "after": depois}}
        base = {k: v for k, v in consulta.items() if k not in ("after", "before")}
        if seguinte:
            paging["next"] = str(request.url.replace_query_params(**base, after=depois))
        if anterior:
            paging["previous"] = str(request.url.replace_query_params(**base, before=antes))
        corpo["paging"] = paging
    return await responder(request, corpo)


async def _erro_meta(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ErroMeta)
    return exc.resposta()


async def _erro_http(request: Request, exc: Exception) -> Response:
    """Unknown paths answer like Graph (400, code 2500); scripted bare failures as plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status in (404, 405):
        return ErroMeta(2500, mensagem=f"Unknown path components: {request.url.path}").resposta()
    return PlainTextResponse(f"{status} Sandbox upstream error", status_code=status)


def criar_app(
    *,
    access_token: str,
    app_secret: str,
    phone_number_id: str,
    waba_id: str,
    templates: Iterable[dict[str, Any]] | None = None,
    callback_url: str | None = None,
    msg_por_segundo: float | None = None,
    relogio: Callable[[], float] = time.monotonic,
    agora: Callable[[], float] = time.time,
    seed: int = 0,
    atraso_status_s: float = 0.02,
    cenarios: dict[str, float] | None = None,
    cenarios_por_numero: dict[str, str] | None = None,
    erros_por_numero: dict[str, int] | None = None,
    telefone_exibicao: str = DEMO_TELEFONE,
    fracao_wa_id_sem_nove: float = 0.0,
    http_limite: int = 400,
    max_tentativas_webhook: int = 3,
) -> Starlette:
    """The sandbox app. `relogio` drives the throughput window, `agora` the webhook timestamps.

    Test handles on app.state: `aguardar_entregas(timeout) -> bool`, `postados` (every webhook
    attempt, an `Entrega`), `envios` (accepted sends with their seeded `cenario`), `catalogo`
    (the templates), `remover_template`, `mudar_status_template`, `enviar_inbound`,
    `expirar_token`, `falhas` (scripted errors) and `requisicoes` (method and path, no token).
    `cenarios` weighs the delivery scenarios (meta_webhooks.CENARIOS); `cenarios_por_numero`
    forces one per recipient; `erros_por_numero` makes a recipient's send fail synchronously
    with a Meta code; 130429 answers with HTTP `http_limite` (the reference says "mostly 400").
    """
    entregador = Entregador(app_secret, max_tentativas=max_tentativas_webhook)
    estado = Estado(
        access_token=access_token,
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        callback_url=callback_url,
        seed=seed,
        agora=agora,
        atraso_status_s=atraso_status_s,
        cenarios=cenarios or CENARIOS,
        cenarios_por_numero={k.lstrip("+"): v for k, v in (cenarios_por_numero or {}).items()},
        erros_por_numero={k.lstrip("+"): v for k, v in (erros_por_numero or {}).items()},
        telefone_exibicao=telefone_exibicao,
        fracao_wa_id_sem_nove=fracao_wa_id_sem_nove,
        http_limite=http_limite,
        catalogo=Catalogo(TEMPLATES_DEMO if templates is None else templates),
        vazao=Vazao(msg_por_segundo, relogio),
        falhas=Falhas(),
        entregador=entregador,
        requisicoes=deque(maxlen=10_000),
    )

    @asynccontextmanager
    async def ciclo(_: Starlette) -> AsyncIterator[None]:
        yield
        entregador.fechar()

    rotas = [
        Route("/{versao}/{objeto}/messages", _mensagens, methods=["POST"]),
        Route("/{versao}/{objeto}/message_templates", _templates, methods=["GET"]),
    ]
    manipuladores = {ErroMeta: _erro_meta, HTTPException: _erro_http}
    app = Starlette(routes=rotas, exception_handlers=manipuladores, lifespan=ciclo)
    s = app.state
    s.meta = estado
    s.catalogo, s.envios, s.falhas = estado.catalogo, estado.envios, estado.falhas
    s.requisicoes, s.postados = estado.requisicoes, entregador.postadas
    s.aguardar_entregas = entregador.aguardar
    s.expirar_token = lambda: setattr(estado, "token_expirado", True)
    s.remover_template = lambda nome, idioma=None, **kw: _remover(estado, nome, idioma, **kw)
    s.mudar_status_template = lambda nome, status, **kw: _mudar_status(estado, nome, status, **kw)
    s.enviar_inbound = lambda de, texto="SAIR", **kw: _inbound(estado, de, texto, **kw)
    return app


def _remover(
    estado: Estado, nome: str, idioma: str | None = None, *, notificar: bool = False
) -> list[dict[str, Any]]:
    """Delete a template; with `notificar`, post a PENDING_DELETION status update."""
    removidos = estado.catalogo.remover(nome, idioma)
    if notificar:
        for template in removidos:
            _notificar_template(estado, template, "PENDING_DELETION", None)
    return removidos


def _mudar_status(
    estado: Estado,
    nome: str,
    status: str,
    *,
    idioma: str = "pt_BR",
    motivo: str | None = None,
    notificar: bool = True,
) -> dict[str, Any]:
    """Change a template's status and (by default) post the signed status-update webhook."""
    template = estado.catalogo.mudar_status(nome, status, idioma, motivo)
    if notificar:
        _notificar_template(estado, template, status, motivo)
    return template


def _notificar_template(
    estado: Estado, template: dict[str, Any], evento: str, motivo: str | None
) -> None:
    if estado.callback_url:
        corpo = corpo_status_template(
            waba_id=estado.waba_id,
            template=template,
            evento=evento,
            timestamp=int(estado.agora()),
            motivo=motivo,
        )
        estado.entregador.agendar(estado.callback_url, corpo)


def _inbound(
    estado: Estado,
    de: str,
    texto: str = "SAIR",
    *,
    nome: str = "Aluno",
    responde_a: str | None = None,
    botao_payload: str | None = None,
) -> dict[str, Any]:
    """Post a student's inbound message (text, or a quick-reply tap); returns the body."""
    if not estado.callback_url:
        raise RuntimeError("sandbox Meta sem callback_url: não há para onde enviar o webhook")
    with estado.lock:
        estado.inbound += 1
        wamid = estado.wamid(de, -estado.inbound)  # negative ordinals: never a send's wamid
    contexto = {"from": estado.telefone_exibicao, "id": responde_a} if responde_a else None
    corpo = corpo_inbound(
        waba_id=estado.waba_id,
        phone_number_id=estado.phone_number_id,
        telefone_exibicao=estado.telefone_exibicao,
        de=de,
        texto=texto,
        wamid=wamid,
        timestamp=int(estado.agora()),
        nome=nome,
        contexto=contexto,
        botao_payload=botao_payload,
    )
    estado.entregador.agendar(estado.callback_url, corpo)
    return corpo


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox on a fixed port until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Sandbox da WhatsApp Cloud API (Meta)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8602)
    parser.add_argument("--callback", default=None, help="URL que recebe os webhooks assinados")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--msg-por-segundo", type=float, default=None)
    parser.add_argument("--atraso-status", type=float, default=0.5, help="segundos entre status")
    args = parser.parse_args(argv)
    app = criar_app(
        access_token=DEMO_ACCESS_TOKEN,
        app_secret=DEMO_APP_SECRET,
        phone_number_id=DEMO_PHONE_NUMBER_ID,
        waba_id=DEMO_WABA_ID,
        callback_url=args.callback,
        msg_por_segundo=args.msg_por_segundo,
        seed=args.seed,
        atraso_status_s=args.atraso_status,
    )
    base = f"http://{args.host}:{args.port}"
    print(f"Sandbox Meta (WhatsApp Cloud API) em {base}", flush=True)
    print(f"  meta_api_base        = {base}", flush=True)
    print(f"  meta_phone_number_id = {DEMO_PHONE_NUMBER_ID}", flush=True)
    print(f"  meta_waba_id         = {DEMO_WABA_ID}", flush=True)
    print(f"  webhooks para        = {args.callback or '(nenhum: sem --callback)'}", flush=True)
    print("  token e app secret de demonstração: services.sandbox.meta", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
