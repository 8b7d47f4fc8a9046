"""ASGI entry: the Streamlit UI plus the health and webhook routes. ``streamlit run app.py``."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import streamlit as st
from starlette.concurrency import run_in_threadpool

from db import embedded
from db.engine import descartar_engine
from services import bootstrap
from services.rotas import ROTAS

_log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def lifespan(_app):
    """Prepare the database at start; stop the embedded PostgreSQL at shutdown.

    Under st.App a SIGTERM skips atexit, so the stop must happen here.
    """
    try:
        await run_in_threadpool(bootstrap.preparar)
    except Exception:  # noqa: BLE001 - /healthz reports it; pages retry on their next run
        _log.exception("Falha ao preparar o banco na partida; /healthz responderá 503")
    try:
        yield {}
    finally:
        descartar_engine()
        embedded.parar_todos()


app = st.App(Path(__file__).parent / "Home.py", routes=ROTAS, lifespan=lifespan)
