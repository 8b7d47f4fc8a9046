"""ASGI entry: the Streamlit UI plus the health and webhook routes. ``streamlit run app.py``."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import streamlit as st
from starlette.concurrency import run_in_threadpool

from db import embedded
from db.engine import descartar_engine, usando_embutido
from services import bootstrap, demo, demo_whatsapp
from services.rotas import rotas_do_app

_log = logging.getLogger(__name__)


def _tcp_nodelay_nas_conexoes() -> None:
    """Streamlit binds its listening socket with proto 0, so asyncio never sets TCP_NODELAY on
    accepted connections, and with Nagle plus delayed ACK every keep-alive request after the
    first waits ~40 ms (shared/reference/streamlit-stack.md, trap 8; uvicorn issue #3149).
    Webhook senders keep connections alive, so we set it for every TCP stream socket."""
    import asyncio.base_events
    import socket

    def _set_nodelay(sock: socket.socket) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    asyncio.base_events._set_nodelay = _set_nodelay


_tcp_nodelay_nas_conexoes()
URL_APP = f"http://127.0.0.1:{st.config.get_option('server.port') or 8501}"
demo_whatsapp.definir_url_app(URL_APP)


def _carregar_demo_se_vazio() -> None:
    """Embedded default on an empty database: load the demo in a worker thread (never with
    DATABASE_URL, where only an explicit ``python -m services.cli demo`` does)."""
    if not usando_embutido() or not demo.deve_carregar_na_partida():
        return
    demo.em_segundo_plano(iniciado_por="sistema", url_app=URL_APP)


@contextlib.asynccontextmanager
async def lifespan(_app):
    """Prepare the database at start; stop the embedded PostgreSQL at shutdown.

    Under st.App a SIGTERM skips atexit, so the stop must happen here.
    """
    try:
        await run_in_threadpool(bootstrap.preparar)
        await run_in_threadpool(_carregar_demo_se_vazio)
    except Exception:  # noqa: BLE001 - /healthz reports it; pages retry on their next run
        _log.exception("Falha ao preparar o banco na partida; /healthz responderá 503")
    try:
        yield {}
    finally:
        descartar_engine()
        embedded.parar_todos()


app = st.App(
    Path(__file__).parent / "Home.py",
    routes=rotas_do_app(),
    lifespan=lifespan,
)
