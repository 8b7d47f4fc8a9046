"""HTTP routes served beside the UI by st.App: health now, webhooks as they land."""

from __future__ import annotations

import functools
import logging

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from db.engine import DatabaseIndisponivel, motivo_seguro, obter_engine, verificar_conexao
from db.schema import versao_schema
from services.webhook_hotmart import webhook_hotmart
from services.webhook_meta import webhook_meta_get, webhook_meta_post

_log = logging.getLogger(__name__)
# Hotmart and Meta deliver again when a postback is not answered 2xx: a clear 503 (with
# Retry-After) while the database is away makes them retry instead of counting a delivery.
ESPERA_SEM_BANCO_S = 30


def _saude() -> dict:
    engine = obter_engine()
    verificar_conexao(engine)
    return {"status": "ok", "database": "ok", "schema": versao_schema(engine)}


async def healthz(_request: Request) -> JSONResponse:
    """200 with the schema version when the database answers; 503 with a reason otherwise."""
    try:
        corpo = await run_in_threadpool(_saude)
    except DatabaseIndisponivel as exc:
        return JSONResponse({"status": "erro", "database": "indisponivel", "motivo": str(exc)}, 503)
    except SQLAlchemyError as exc:
        motivo = motivo_seguro(exc) if hasattr(exc, "orig") else type(exc).__name__
        return JSONResponse({"status": "erro", "database": "indisponivel", "motivo": motivo}, 503)
    except Exception as exc:  # noqa: BLE001 - e.g. the embedded server failing to start
        return JSONResponse(
            {"status": "erro", "database": "indisponivel", "motivo": type(exc).__name__}, 503
        )
    if corpo["schema"] is None:
        return JSONResponse({**corpo, "status": "erro", "motivo": "schema não aplicado"}, 503)
    return JSONResponse(corpo)


def sem_banco_503(rota):
    """A route whose database is unreachable answers 503 JSON (never a 500 with a traceback)."""

    @functools.wraps(rota)
    async def protegida(request: Request):
        try:
            return await rota(request)
        except (DatabaseIndisponivel, OperationalError, InterfaceError) as exc:
            motivo = str(exc) if isinstance(exc, DatabaseIndisponivel) else motivo_seguro(exc)
            _log.warning("%s %s sem banco de dados: %s", request.method, request.url.path, motivo)
            return JSONResponse(
                {"erro": "banco de dados indisponível; tente de novo", "database": "indisponivel"},
                503,
                headers={"Retry-After": str(ESPERA_SEM_BANCO_S)},
            )

    return protegida


ROTAS = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/webhooks/hotmart", sem_banco_503(webhook_hotmart), methods=["POST"]),
    Route("/webhooks/meta", sem_banco_503(webhook_meta_get), methods=["GET"]),
    Route("/webhooks/meta", sem_banco_503(webhook_meta_post), methods=["POST"]),
]


def rotas_do_app() -> list:
    """Every route the server exposes beside the UI: health, webhooks and the demo sandboxes."""
    from starlette.routing import Mount

    from services import demo, demo_whatsapp

    return [
        *ROTAS,
        Mount(demo.CAMINHO_MONTAGEM, app=demo.SandboxMontado()),
        Mount(demo_whatsapp.CAMINHO_META, app=demo_whatsapp.SANDBOX_META),
        Mount(demo_whatsapp.CAMINHO_CHATWOOT, app=demo_whatsapp.SANDBOX_CHATWOOT),
    ]
