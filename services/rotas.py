"""HTTP routes served beside the UI by st.App: health now, webhooks as they land."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from db.engine import DatabaseIndisponivel, motivo_seguro, obter_engine, verificar_conexao
from db.schema import versao_schema
from services.webhook_hotmart import webhook_hotmart
from services.webhook_meta import webhook_meta_get, webhook_meta_post


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


ROTAS = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/webhooks/hotmart", webhook_hotmart, methods=["POST"]),
    Route("/webhooks/meta", webhook_meta_get, methods=["GET"]),
    Route("/webhooks/meta", webhook_meta_post, methods=["POST"]),
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
