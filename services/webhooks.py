"""Raw inbound webhook events: stored before processing, deduplicated per origin and event id."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from db.uow import UnidadeDeTrabalho

# Bodies up to this size may be decided on the event loop; larger ones (up to a route's limit)
# are parsed in a worker thread.
LIMITE_SEM_ESPERA = 65_536


def corpo_legivel(corpo: bytes, segredo: str | None = None) -> str:
    """The body as storable text (invalid UTF-8 escaped; NUL is not allowed in PostgreSQL text)."""
    texto = corpo.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    return texto.replace(segredo, "[segredo]") if segredo else texto


def _constante_invalida(nome: str) -> None:
    raise ValueError(f"{nome} não é JSON válido")


def ler_json(corpo: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, which Python accepts and jsonb refuses); ValueError or
    RecursionError (nesting deeper than the parser goes) when unreadable."""
    return json.loads(corpo, parse_constant=_constante_invalida)


def texto_seguro(texto: str) -> str:
    """Text PostgreSQL can store: NUL and lone surrogates (from JSON escapes) spelled out."""
    return texto.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


# The stored reason of an event kept raw because ``texto_invalido`` holds for it.
TEXTO_INVALIDO = "texto com caractere nulo (\\u0000) ou inválido no evento"


def resposta_texto_invalido(registro: int | None) -> tuple[int, dict]:
    """The answer to an event kept raw with TEXTO_INVALIDO, given ``armazenar``'s row id: a
    redelivery of one already stored is a duplicate; otherwise 400, saying it is stored."""
    if registro is None:
        return 200, {"status": "duplicado"}
    return 400, {"erro": TEXTO_INVALIDO, "armazenado": True}


def texto_invalido(valor: Any) -> bool:
    """True when a parsed JSON value holds a string (key or value) PostgreSQL cannot store:
    a NUL (\\u0000) or a lone surrogate (\\ud800)."""
    pilha = [valor]
    while pilha:
        atual = pilha.pop()
        if isinstance(atual, str):
            if texto_seguro(atual) != atual:
                return True
        elif isinstance(atual, dict):
            pilha.extend(atual.keys())
            pilha.extend(atual.values())
        elif isinstance(atual, list):
            pilha.extend(atual)
    return False


# After attempt n of an event that failed for a transient reason, the next try waits
# ESPERA_MINUTOS[n - 1] minutes; after the last attempt the event is left with its error.
ESPERA_MINUTOS = (0, 2, 4, 8, 16, 32, 60)
MAXIMO_TENTATIVAS = len(ESPERA_MINUTOS) + 1

_INSERIR = text(
    """
    INSERT INTO eventos_webhook (origem, evento_id, tipo, payload, corpo_bruto, erro,
                                 processado_em)
    VALUES (:origem, :evento_id, :tipo, CAST(:payload AS jsonb), :bruto, :erro,
            CASE WHEN CAST(:erro AS text) IS NOT NULL THEN now() END)
    ON CONFLICT (origem, evento_id) DO NOTHING
    RETURNING id
    """
)


def _parametros(
    origem: str,
    evento_id: str | None,
    tipo: str | None,
    payload: Any | None,
    corpo: bytes,
    erro: str | None,
    segredo: str | None,
) -> dict:
    return {
        "origem": origem,
        "evento_id": texto_seguro(evento_id)[:200] if evento_id else None,
        "tipo": texto_seguro(tipo)[:100] if isinstance(tipo, str) else None,
        "payload": json.dumps(payload) if payload is not None else None,
        "bruto": corpo_legivel(corpo, segredo) if payload is None else None,
        "erro": texto_seguro(erro)[:2000] if erro else None,
    }


_GRAVAR = text(
    """
    INSERT INTO eventos_webhook (origem, evento_id, tipo, payload, erro, processado_em,
                                 tentativas, reprocessar_em)
    VALUES (:origem, :evento_id, :tipo, CAST(:payload AS jsonb), :erro, now(), 1,
            CASE WHEN :transitorio THEN now() END)
    ON CONFLICT (origem, evento_id) DO NOTHING
    RETURNING id
    """
)


def gravar(
    session: Session,
    *,
    origem: str,
    evento_id: str | None,
    tipo: str | None,
    payload: Any,
    erro: str | None = None,
    transitorio: bool = False,
) -> int | None:
    """Store one parsed raw event in the caller's transaction as processed by this first
    attempt (with its error, queued for reprocessing when ``transitorio``); None when it is a
    duplicate.

    The caller applies the event in the same transaction, so the row commits with its effect
    or not at all. The payload must hold only text PostgreSQL can store (``texto_invalido``).
    A duplicate delivered while the first is still being applied waits on the unique key, so
    it is answered once the first is committed or rolled back.
    """
    parametros = _parametros(origem, evento_id, tipo, payload, b"", erro, None)
    parametros["transitorio"] = transitorio
    return session.execute(_GRAVAR, parametros).scalar()


def armazenar(
    *,
    origem: str,
    evento_id: str | None,
    tipo: str | None,
    payload: Any | None,
    corpo: bytes,
    erro: str | None = None,
    segredo: str | None = None,
) -> int | None:
    """Store one raw event in its own committed transaction; None when it is a duplicate.

    ``segredo`` (a shared secret the provider may echo in the body) is redacted from the text.
    """
    parametros = _parametros(origem, evento_id, tipo, payload, corpo, erro, segredo)
    try:
        with UnidadeDeTrabalho() as uow:
            novo = uow.session.execute(_INSERIR, parametros).scalar()
            uow.commit()
            return novo
    except DataError:
        # jsonb refuses \u0000, lone surrogates and NaN: keep the body as text, never lose it.
        parametros.update(payload=None, bruto=corpo_legivel(corpo, segredo))
        with UnidadeDeTrabalho() as uow:
            novo = uow.session.execute(_INSERIR, parametros).scalar()
            uow.commit()
            return novo


def marcar(session: Session, evento: int, erro: str | None = None) -> None:
    """Record that an event was processed (with the error, if it failed for good)."""
    session.execute(
        text(
            "UPDATE eventos_webhook SET processado_em = now(), erro = :erro, "
            "tentativas = tentativas + 1, reprocessar_em = NULL WHERE id = :id"
        ),
        {"id": evento, "erro": texto_seguro(erro)[:2000] if erro else None},
    )


def marcar_falha_transitoria(session: Session, evento: int, erro: str) -> bool:
    """Record a failed attempt that may succeed later; False when it was the last attempt."""
    ultima = session.execute(
        text(
            """
            UPDATE eventos_webhook
               SET processado_em = now(), erro = :erro, tentativas = tentativas + 1,
                   reprocessar_em = CASE WHEN tentativas + 1 < :maximo
                       THEN now() + make_interval(mins => (CAST(:esperas AS int[]))[tentativas + 1])
                   END
             WHERE id = :id
            RETURNING reprocessar_em IS NULL
            """
        ),
        {
            "id": evento,
            "erro": texto_seguro(erro)[:2000],
            "maximo": MAXIMO_TENTATIVAS,
            "esperas": list(ESPERA_MINUTOS),
        },
    ).scalar()
    return not ultima


def marcar_erro(evento: int, erro: str) -> None:
    """Record a transient processing error in its own transaction (the event's own work was
    rolled back); the event is queued for reprocessing."""
    with UnidadeDeTrabalho() as uow:
        marcar_falha_transitoria(uow.session, evento, erro)
        uow.commit()


async def receber(
    request: Request,
    *,
    limite: int,
    cabecalho: str,
    sem_espera: Callable[[bytes, str | None], dict | None],
    gravar: Callable[..., Awaitable[Any]],
    resposta: Callable[[Any], tuple[int, dict]],
    processar: Callable[[bytes, str | None], tuple[int, dict]],
) -> JSONResponse:
    """A webhook POST: at most ``limite`` bytes read (413 beyond). A body up to
    LIMITE_SEM_ESPERA that ``sem_espera`` accepts (credential cached, a well-formed groupable
    delivery: ``gravar``'s arguments) is handed to the group writer from the event loop and
    answered by ``resposta``; anything else goes to ``processar`` in a worker thread."""
    declarado = request.headers.get("content-length", "")
    if declarado.isdigit() and int(declarado) > limite:
        return JSONResponse({"erro": "corpo acima de 1 MB"}, 413)
    lido = bytearray()
    async for pedaco in request.stream():
        lido += pedaco
        if len(lido) > limite:
            return JSONResponse({"erro": "corpo acima de 1 MB"}, 413)
    corpo, credencial = bytes(lido), request.headers.get(cabecalho)
    pedido = sem_espera(corpo, credencial) if len(corpo) <= LIMITE_SEM_ESPERA else None
    if pedido is not None:
        codigo, conteudo = resposta(await gravar(**pedido))
    else:
        codigo, conteudo = await run_in_threadpool(processar, corpo, credencial)
    return JSONResponse(conteudo, codigo)
